/*  =========================================================================
    redis_link.cc - a pipelining Redis connection for zgm-bench-peers, plain or TLS

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "redis_link.h"
#include "tls.h"
#include "../benchutil.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <netinet/tcp.h>
#include <poll.h>

namespace bench {

namespace {

//  hiredis's redisContext, as the plain rows have always used it.
class PlainLink : public RedisLink {
public:
    explicit PlainLink(redisContext* context) : context_(context) {}
    ~PlainLink() override { redisFree(context_); }
    bool write_all() override {
        int done = 0;
        while (!done)
            if (redisBufferWrite(context_, &done) != REDIS_OK) return false;
        return true;
    }
    std::string error() const override { return context_->errstr; }
    std::string protocol() const override { return "plain"; }

protected:
    bool append_formatted(const char* command, size_t size) override {
        return redisAppendFormattedCommand(context_, command, size) == REDIS_OK;
    }
    bool fill(int timeout_ms) override {
        struct pollfd item = {context_->fd, POLLIN, 0};
        if (poll(&item, 1, timeout_ms) <= 0) return true;
        return redisBufferRead(context_) == REDIS_OK;
    }
    bool next_reply(void** reply) override {
        return redisGetReplyFromReader(context_, reply) == REDIS_OK;
    }

private:
    redisContext* context_;
};

//  A TCP socket with OpenSSL on it, non-blocking after the handshake; hiredis's reader
//  parses what SSL_read returns.
class TlsLink : public RedisLink {
public:
    TlsLink() : reader_(redisReaderCreate()) {}
    ~TlsLink() override {
        if (ssl_) {
            SSL_shutdown(ssl_); //  one close_notify, not waited for
            SSL_free(ssl_);
        }
        if (fd_ >= 0) close(fd_);
        redisReaderFree(reader_);
    }

    bool open(int port, SSL_CTX* context) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return failed("socket: " + std::string(strerror(errno)));
        //  As hiredis does on its own connections.
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        //  The connect and the handshake block, for 5 s at most.
        struct timeval timeout = {5, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        struct sockaddr_in address;
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons((uint16_t)port);
        if (::connect(fd_, (struct sockaddr*)&address, sizeof address) != 0)
            return failed("connect: " + std::string(strerror(errno)));
        ssl_ = SSL_new(context);
        if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return failed("SSL_new: " + tls_errors());
        //  The certificate must name the address we connect to.
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1") != 1)
            return failed("X509_VERIFY_PARAM_set1_ip_asc: " + tls_errors());
        if (SSL_connect(ssl_) != 1) {
            long verify = SSL_get_verify_result(ssl_);
            return failed("TLS handshake: " + tls_errors() +
                          (verify != X509_V_OK ? std::string(" (certificate: ") +
                                                     X509_verify_cert_error_string(verify) + ")"
                                               : std::string()));
        }
        int flags = fcntl(fd_, F_GETFL, 0);
        if (fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0)
            return failed("fcntl: " + std::string(strerror(errno)));
        return true;
    }

    bool write_all() override {
        while (out_at_ < out_.size()) {
            size_t left = out_.size() - out_at_;
            int written =
                SSL_write(ssl_, out_.data() + out_at_, (int)std::min<size_t>(left, INT_MAX));
            if (written > 0) {
                out_at_ += (size_t)written;
                continue;
            }
            //  Retried with the same arguments, as OpenSSL asks.
            int code = SSL_get_error(ssl_, written);
            if (code == SSL_ERROR_WANT_WRITE) {
                if (!wait(POLLOUT, 10000)) return failed("write: no progress in 10 s");
            } else if (code == SSL_ERROR_WANT_READ) {
                if (!wait(POLLIN, 10000)) return failed("write: no progress in 10 s");
            } else {
                return failed("SSL_write: " + tls_errors());
            }
        }
        out_.clear();
        out_at_ = 0;
        return true;
    }
    std::string error() const override { return error_; }
    std::string protocol() const override {
        return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
    }

protected:
    bool append_formatted(const char* command, size_t size) override {
        out_.append(command, size);
        return true;
    }

    bool fill(int timeout_ms) override {
        //  Bytes OpenSSL already holds do not show on the socket.
        if (!SSL_has_pending(ssl_)) {
            struct pollfd item = {fd_, POLLIN, 0};
            int ready = poll(&item, 1, timeout_ms);
            if (ready == 0 || (ready < 0 && errno == EINTR)) return true;
            if (ready < 0) return failed("poll: " + std::string(strerror(errno)));
        }
        //  At most 64 records (1 MiB) at a time, so the caller gets to look at them.
        for (int i = 0; i < 64; i++) {
            char buffer[16384];
            int size = SSL_read(ssl_, buffer, sizeof buffer);
            if (size > 0) {
                if (redisReaderFeed(reader_, buffer, (size_t)size) != REDIS_OK)
                    return failed("reader: " + std::string(reader_->errstr));
                continue;
            }
            int code = SSL_get_error(ssl_, size);
            if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
            if (code == SSL_ERROR_ZERO_RETURN) return failed("connection closed by the server");
            return failed("SSL_read: " + tls_errors());
        }
        return true;
    }

    bool next_reply(void** reply) override {
        if (redisReaderGetReply(reader_, reply) == REDIS_OK) return true;
        return failed("reply: " + std::string(reader_->errstr));
    }

private:
    bool failed(const std::string& what) {
        if (error_.empty()) error_ = what;
        return false;
    }
    bool wait(short events, int timeout_ms) {
        struct pollfd item = {fd_, events, 0};
        int ready;
        do
            ready = poll(&item, 1, timeout_ms);
        while (ready < 0 && errno == EINTR);
        return ready > 0;
    }

    int fd_ = -1;
    SSL* ssl_ = nullptr;
    redisReader* reader_;
    std::string out_;   //  formatted commands not yet written
    size_t out_at_ = 0; //  how much of out_ is written
    std::string error_;
};

} // namespace

std::unique_ptr<RedisLink> RedisLink::connect(int port, SSL_CTX* tls, std::string* error) {
    if (tls) {
        std::unique_ptr<TlsLink> link(new TlsLink());
        if (!link->open(port, tls)) {
            *error = link->error();
            return nullptr;
        }
        return link;
    }
    struct timeval timeout = {5, 0};
    redisContext* context = redisConnectWithTimeout("127.0.0.1", port, timeout);
    if (!context || context->err) {
        *error = context ? context->errstr : "out of memory";
        if (context) redisFree(context);
        return nullptr;
    }
    return std::unique_ptr<RedisLink>(new PlainLink(context));
}

bool RedisLink::append(const char* format, ...) {
    va_list args;
    va_start(args, format);
    char* command = nullptr;
    int size = redisvFormatCommand(&command, format, args);
    va_end(args);
    if (size < 0) return false;
    bool ok = append_formatted(command, (size_t)size);
    redisFreeCommand(command);
    return ok;
}

redisReply* RedisLink::command(const char* format, ...) {
    va_list args;
    va_start(args, format);
    char* command = nullptr;
    int size = redisvFormatCommand(&command, format, args);
    va_end(args);
    if (size < 0) return nullptr;
    bool ok = append_formatted(command, (size_t)size) && write_all();
    redisFreeCommand(command);
    uint64_t deadline = mono_ns() + 10000000000ull;
    while (ok && mono_ns() < deadline) {
        void* reply = nullptr;
        if (!next_reply(&reply)) return nullptr;
        if (reply) return (redisReply*)reply;
        ok = fill(100);
    }
    return nullptr;
}

} // namespace bench
