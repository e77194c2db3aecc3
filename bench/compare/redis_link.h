/*  =========================================================================
    redis_link.h - a pipelining Redis connection for zgm-bench-peers, plain or TLS

    Plain: hiredis's redisContext, as the plain rows have always used it. TLS: Debian 12's
    hiredis is 0.14, which has no TLS (hiredis_ssl came with 1.0), so the TLS link is a
    socket of its own with OpenSSL (SSL_write / SSL_read, non-blocking) around hiredis's
    command formatter (redisvFormatCommand) and reply parser (redisReader). Both are driven
    the same way by the benchmark, so the TLS rows differ from the plain ones by TLS alone.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_BENCH_REDIS_LINK_H
#define ZGM_BENCH_REDIS_LINK_H

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace bench {

class RedisLink {
public:
    virtual ~RedisLink() = default;

    //  Connects to 127.0.0.1:port; with tls (a client context that verifies the server),
    //  over TLS, the server's certificate checked for the IP address 127.0.0.1. Null on
    //  failure, with *error saying why.
    static std::unique_ptr<RedisLink> connect(int port, SSL_CTX* tls, std::string* error);

    //  Queues a command (hiredis's format: "XADD %s * b %b", ...) for write_all.
    bool append(const char* format, ...);
    //  Writes out everything queued; false on a connection error.
    virtual bool write_all() = 0;
    //  Hands every reply that arrives within timeout_ms (and those already read) to
    //  on_reply; the reply is freed after. False on a connection or protocol error.
    template <typename OnReply>
    bool read(int timeout_ms, OnReply on_reply) {
        if (!drain(on_reply)) return false;
        if (!fill(timeout_ms)) return false;
        return drain(on_reply);
    }
    //  Sends one command and waits up to 10 s for its reply (caller frees it), or null.
    redisReply* command(const char* format, ...);
    //  What went wrong, after a false or null.
    virtual std::string error() const = 0;
    //  "TLSv1.3 TLS_AES_256_GCM_SHA384", or "plain".
    virtual std::string protocol() const = 0;

protected:
    virtual bool append_formatted(const char* command, size_t size) = 0;
    //  Reads what arrives within timeout_ms into the reply parser.
    virtual bool fill(int timeout_ms) = 0;
    //  The next parsed reply, or *reply null; false on a protocol error.
    virtual bool next_reply(void** reply) = 0;

private:
    template <typename OnReply>
    bool drain(OnReply& on_reply) {
        while (true) {
            void* reply = nullptr;
            if (!next_reply(&reply)) return false;
            if (!reply) return true;
            on_reply((redisReply*)reply);
            freeReplyObject(reply);
        }
    }
};

} // namespace bench

#endif
