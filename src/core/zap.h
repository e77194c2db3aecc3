/*  =========================================================================
    zap.h - who may connect: the process's ZAP handler, and each server's connections

    libzmq asks a ZAP handler (RFC 27), bound at inproc://zeromq.zap.01 in the socket's
    context, about every connection a CURVE or PLAIN server socket accepts. One handler
    serves every zgm server of the process (CZMQ gives them one context); each server socket
    has its own ZAP domain with its own rules:
      - the mechanism must be the server's (CURVE, or PLAIN when insecure); NULL never is;
      - a PLAIN user name must be a public key's text (it becomes the connection's key);
      - while the server has max_connections connections, new ones are refused.
    The reply names the connection by its key (User-Id), which every message then carries.

    The handler runs from the first zap_register of the process to its exit. An application
    that runs a ZAP handler of its own (CZMQ's zauth) in the same process cannot also run
    zgm servers: the handler's address is taken (zap_register says so), and once zgm's runs,
    other CURVE and PLAIN server sockets of CZMQ's context are refused (no domain of zgm's).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_ZAP_H
#define ZGM_CORE_ZAP_H

#include "core/security.h"

#include <atomic>
#include <czmq.h>
#include <memory>
#include <string>

namespace zgm {

//  A server's admission rules and counts, shared with the ZAP handler's thread.
struct ZapDomain {
    std::string name;
    Security security = Security::kCurve;
    std::atomic<int> max_connections{0}; //  0: no limit
    std::atomic<int> connections{0};     //  live connections, counted by the handler
    std::atomic<uint64_t> admitted{0};
    std::atomic<uint64_t> refused_full{0};      //  at max_connections
    std::atomic<uint64_t> refused_mechanism{0}; //  NULL, or the other mechanism
    std::atomic<uint64_t> refused_identity{0};  //  a PLAIN user name that is not a key
    std::atomic<uint64_t> failed_handshakes{0}; //  any other handshake that failed
};

//  Adds a domain for a server socket to the process's ZAP handler, starting the handler if
//  it is not running (it then runs until the process exits: live_finally), and counts the
//  socket's live connections into domain->connections (through a socket monitor the
//  handler's thread reads, so the count is current when it decides). Call from the thread
//  that owns server, before binding it. NULL with *error set if the handler cannot start.
std::shared_ptr<ZapDomain> zap_register(zsock_t* server, Security security, int max_connections,
                                        std::string* error);
//  Closes *server, then removes its domain. zmq_close is asynchronous: libzmq may still end a
//  handshake on the socket a moment later. The handler outlives it (it stops at the process's
//  exit, after every server) and answers such a handshake 300, which closes the connection
//  without an ERROR: the client tries again, as after a server that went away. (Stopped with
//  the last domain, it left the closing socket with no handler, and libzmq 4.3 lets a CURVE
//  handshake through when none answers: ZMQ_ZAP_ENFORCE_DOMAIN, which would refuse it, is a
//  draft option that Debian's libzmq does not build.) Call from the thread that owns server.
void zap_close(zsock_t** server, std::shared_ptr<ZapDomain>* domain);

} // namespace zgm

#endif
