/*  =========================================================================
    link.cc - a user's connection to one server

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/link.h"

#include "core/clock.h"
#include "net/sockets.h"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace zgm {

namespace {

std::atomic<uint64_t> s_next_monitor(1);
//  Links open in this process, of every user: each takes 3 of libzmq's sockets (1,023 in
//  all, and CZMQ aborts the process when one more cannot be made). Past kMaxLinks a link
//  is refused, and its call says so.
std::atomic<int> s_open_links(0);
constexpr int kMaxLinks = 300;

constexpr int kProbeTimeoutMs = 300;
constexpr int kReopenMs = 500;

} // namespace

Link::~Link() {
    close();
}

void Link::close() {
    if (socket_) s_open_links--;
    if (socket_) zmq_socket_monitor(zsock_resolve(socket_), nullptr, 0);
    zsock_destroy(&monitor_);
    zsock_destroy(&socket_);
    reached_ = reached();
    up_ = false;
}

bool Link::reopen_if_refused() {
    if (!reopen_ms_ || mono_ms() < reopen_ms_) return false;
    reopen_ms_ = 0;
    close();
    std::string why;
    int64_t opened = opened_ms_;
    open(keys_, security_, &why);
    opened_ms_ = opened; //  still the same link, trying since then
    return true;
}

bool Link::open(const KeyPair& keys, Security security, std::string* why) {
    opened_ms_ = mono_ms();
    keys_ = keys;
    security_ = security;
    *why = endpoint_problem(endpoint_);
    if (!why->empty()) return false;
    if (s_open_links >= kMaxLinks) {
        *why = "this process has " + std::to_string(kMaxLinks) +
               " connections to servers open, its most";
        return false;
    }
    //  Immediate: a request waits in the user (which knows whether it went out) rather than
    //  in a queue for a connection that may never come.
    socket_ = new_client_socket(endpoint_, true, keys, security, key_, false);
    if (!socket_) {
        *why = "cannot create a socket";
        return false;
    }
    s_open_links++;
    std::string address = "inproc://zgm-link-" + std::to_string(s_next_monitor++);
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED |
                 ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(zsock_resolve(socket_), address.c_str(), events) == 0) {
        monitor_ = zsock_new(ZMQ_PAIR);
        if (monitor_ && zsock_connect(monitor_, "%s", address.c_str()) != 0)
            zsock_destroy(&monitor_);
    }
    //  Connect only once the monitor listens: a handshake done before would go unseen, and
    //  the link would never count as up.
    if (zmq_connect(zsock_resolve(socket_), endpoint_.c_str()) != 0) {
        *why = "not an endpoint: '" + endpoint_ + "': " + zmq_strerror(zmq_errno());
        close();
        return false;
    }
    return true;
}

proto::DecodeError Link::receive(proto::Message* message) {
    if (!socket_) {
        errno = EAGAIN;
        return proto::DecodeError::kNoFrame;
    }
    proto::DecodeError result =
        proto::recv(zsock_resolve(socket_), false, nullptr, message, ZMQ_DONTWAIT, nullptr, true);
    if (result != proto::DecodeError::kNoFrame) reached_ = true;
    return result;
}

bool Link::reached() const {
    return reached_ || (up_ && mono_ms() - up_since_ms_ >= kSettledMs);
}

bool Link::handle_monitor() {
    if (!monitor_) return true;
    for (int i = 0; i < 1000; i++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zsock_resolve(monitor_), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return true;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&frame) >= 2) memcpy(&event, zmq_msg_data(&frame), 2);
        if (zmq_msg_size(&frame) >= 6) memcpy(&value, (uint8_t*)zmq_msg_data(&frame) + 2, 4);
        while (zmq_msg_more(&frame) && zmq_msg_recv(&frame, zsock_resolve(monitor_), 0) >= 0) {
        }
        zmq_msg_close(&frame);
        bool was_up = up_;
        //  A connection that stayed up long enough reached its server, whatever ends it.
        if (up_ && event != ZMQ_EVENT_HANDSHAKE_SUCCEEDED && reached()) reached_ = true;
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            up_ = true;
            up_since_ms_ = mono_ms();
            handshake_failures_ = 0;
            refused_ = false;
            mismatch_ = false;
            probed_.clear();
            break;
        case ZMQ_EVENT_DISCONNECTED:
            up_ = false;
            break;
        case ZMQ_EVENT_CLOSED:
            //  A connection attempt that failed (libzmq's connecter closed it): nothing
            //  listens now, so a refusal heard before, by a server that was stopping, is
            //  no longer the reason (a call went on waiting for it to its timeout).
            up_ = false;
            refused_ = false;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            //  libzmq will not try this connection again: a new socket will, soon.
            reopen_ms_ = mono_ms() + kReopenMs;
            refused_ = true;
            up_ = false;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            //  libzmq gives a connection up after a protocol error too (a self-connection
            //  to a free loopback port makes one).
            reopen_ms_ = mono_ms() + kReopenMs;
            mismatch_ = value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
            handshake_failures_++;
            up_ = false;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            handshake_failures_++;
            up_ = false;
            break;
        default:
            break;
        }
        if (was_up && !up_) downs_++;
    }
    return false;
}

bool Link::send(const proto::Message& message) {
    if (!socket_) return false;
    sent_ = true;
    return proto::send(zsock_resolve(socket_), "", message, ZMQ_DONTWAIT) == 0;
}

std::string Link::unreachable_reason() {
    if (up_) return "";
    if (refused_) return "the server refused the connection (it has too many, or it is stopping)";
    //  One failed handshake may be a server going down mid-way; again and again, it is not.
    if (handshake_failures_ >= 3 && mismatch_)
        return "the server speaks another security mechanism (--insecure on one side only)";
    //  Which, libzmq does not say: a PLAIN hello to a CURVE server fails as a wrong key does.
    if (handshake_failures_ >= 3)
        return security_ == Security::kInsecure
                   ? "the handshake fails (a server that was not started --insecure?)"
                   : "the handshake fails (a wrong key for the server, or a server started "
                     "--insecure?)";
    int64_t now = mono_ms();
    if (now - probed_ms_ >= 1000) {
        probed_ = probe();
        probed_ms_ = now;
    }
    return probed_;
}

//  Tries the endpoint the way libzmq would, to learn what stops it.
std::string Link::probe() const {
    if (endpoint_.compare(0, 6, "ipc://") == 0) {
        //  A file left by a server that stopped (libzmq leaves it) refuses the connection.
        //  "@name" is Linux's abstract namespace: no file, its first byte 0.
        struct sockaddr_un address = {};
        std::string path = endpoint_.substr(6);
        if (path.empty() || path.size() >= sizeof address.sun_path) return "";
        bool abstract = path[0] == '@';
        struct stat info;
        if (!abstract && stat(path.c_str(), &info) == 0 && !S_ISSOCK(info.st_mode))
            return "not a socket file: " + path;
        address.sun_family = AF_UNIX;
        memcpy(address.sun_path, path.data(), path.size());
        if (abstract) address.sun_path[0] = '\0';
        socklen_t length = abstract
                               ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path.size())
                               : (socklen_t)sizeof address;
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return "";
        int error = ::connect(fd, (struct sockaddr*)&address, length) == 0 ? 0 : errno;
        ::close(fd);
        if (error == ENOENT) return "no such socket file";
        if (error == ECONNREFUSED)
            return abstract ? "connection refused (nothing listens on that abstract name)"
                            : "connection refused (no process listens on the file)";
        if (error == EACCES || error == ENOTDIR)
            return std::string("cannot connect to the file: ") + strerror(error);
        return "";
    }
    if (endpoint_.compare(0, 6, "tcp://") != 0) return "";
    std::string address = endpoint_.substr(6);
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return "no port in the endpoint";
    std::string host = address.substr(0, colon), port = address.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    struct addrinfo hints = {}, *found = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) return "cannot resolve '" + host + "': " + gai_strerror(rc);
    std::string reason;
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(found);
        return "";
    }
    rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
    int error = rc == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
        struct pollfd item = {fd, POLLOUT, 0};
        if (poll(&item, 1, kProbeTimeoutMs) <= 0) {
            reason = "no answer from the host within " + std::to_string(kProbeTimeoutMs) + " ms";
            error = -1;
        } else {
            socklen_t length = sizeof error;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        }
    }
    if (error > 0) reason = strerror(error);
    ::close(fd);
    freeaddrinfo(found);
    if (!reason.empty()) {
        for (char& c : reason)
            c = (char)tolower((unsigned char)c);
    }
    return reason;
}

} // namespace zgm
