/*  =========================================================================
    link.h - a user's connection to one server (the registry or a group server)

    A DEALER that queues nothing while it is not connected (so a request either went out
    on a live connection or did not go at all), and a socket monitor that says whether the
    connection is up, was ever up, and why it cannot be made: connection refused, no route,
    a name that does not resolve, or a handshake the server refused (a wrong key, or
    --insecure on one side only).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_USER_LINK_H
#define ZGM_USER_LINK_H

#include "core/names.h"
#include "core/security.h"
#include "net/sockets.h"
#include "proto/proto.h"

#include <czmq.h>
#include <string>

namespace zgm {

class Link {
public:
    Link(const std::string& endpoint, const Key& server_key)
        : endpoint_(endpoint), key_(server_key) {}
    ~Link();
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    //  Creates the socket and starts connecting. False with *why for a bad endpoint (with a
    //  hint when it lacks a transport, like "localhost:5570").
    bool open(const KeyPair& keys, Security security, std::string* why);
    void close();
    const std::string& endpoint() const { return endpoint_; }
    const Key& key() const { return key_; }
    //  The ZMQ_FD of its socket and of its monitor (-1 when there is none), to poll. A
    //  socket's ZMQ_FD is edge-triggered: read it to the end (EAGAIN), and read it again
    //  after a send (take_sent), which may have taken the signal of a message come in.
    int socket_fd() const { return zgm::socket_fd(socket_); }
    int monitor_fd() const { return zgm::socket_fd(monitor_); }
    //  The next message of the server, without waiting; its records views into its frame.
    //  kNoFrame with errno EAGAIN when there is none.
    proto::DecodeError receive(proto::Message* message);

    //  Reads the monitor's events. True if it read them all (EAGAIN).
    bool handle_monitor();
    //  A server that refused the handshake (ZAP: too many connections, or going away) makes
    //  libzmq give the connection up for good; the link then opens a new socket after a
    //  pause. Call now and then; true if it did (the old socket is gone).
    bool reopen_if_refused();
    int64_t reopen_ms() const { return reopen_ms_; } //  0: not waiting to reopen
    //  The handshake succeeded and the connection has not dropped since.
    bool up() const { return up_; }
    //  The server was reached since open: a message came from it, or a connection stayed up
    //  kSettledMs. A handshake alone is not enough: a server closing its socket may let one
    //  through and drop it a moment later (libzmq admits a CURVE handshake when no ZAP
    //  handler answers: zgm's answers until its process exits, zap.h; another's may not).
    bool reached() const;
    static constexpr int64_t kSettledMs = 1000;
    //  How many times the connection went down: it may go down and up again between two
    //  reads of the monitor, and what was in flight on it is lost all the same.
    uint64_t downs() const { return downs_; }
    //  The server's handshake refused the last attempt (it has too many connections, or it
    //  is stopping): a passing state, worth waiting out.
    bool refused() const { return refused_; }
    //  When it was opened (mono_ms).
    int64_t opened_ms() const { return opened_ms_; }
    //  Why the server cannot be reached, found by looking (a TCP connect of its own, at most
    //  once a second): "" when nothing is wrong that can be seen (the server may just be
    //  slow). Call when up() has been false for a while.
    std::string unreachable_reason();

    //  Sends one message; false (EAGAIN) when the connection is not up.
    bool send(const proto::Message& message);
    //  Whether send was called since the last time this was asked (a send passes over the
    //  socket's commands, which may take the signal of a message come in).
    bool take_sent() {
        bool sent = sent_;
        sent_ = false;
        return sent;
    }

private:
    std::string probe() const;

    std::string endpoint_;
    Key key_;
    zsock_t* socket_ = nullptr;
    zsock_t* monitor_ = nullptr;
    bool up_ = false;
    int64_t up_since_ms_ = 0; //  when the handshake that made it up succeeded
    bool reached_ = false;
    uint64_t downs_ = 0;
    int handshake_failures_ = 0; //  in a row, since the last success
    bool refused_ = false;       //  the last handshake was refused by the server's ZAP
    bool mismatch_ = false;      //  the last one failed on the mechanism (CURVE against PLAIN)
    int64_t opened_ms_ = 0;
    int64_t probed_ms_ = 0;
    std::string probed_;
    KeyPair keys_;
    Security security_ = Security::kCurve;
    int64_t reopen_ms_ = 0; //  when to open a new socket after a refused handshake (0: no)
    bool sent_ = false;
};

} // namespace zgm

#endif
