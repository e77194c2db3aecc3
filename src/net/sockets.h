/*  =========================================================================
    sockets.h - the ZeroMQ sockets of every role: a server's ROUTER, a client's DEALER,
    binding, endpoints

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_NET_SOCKETS_H
#define ZGM_NET_SOCKETS_H

#include "core/limits.h"
#include "core/security.h"

#include <czmq.h>
#include <memory>
#include <string>

namespace zgm {

struct ZapDomain;

//  A ROUTER for a server: replies to vanished peers fail (EHOSTUNREACH) instead of vanishing
//  silently, queues are bounded, ZeroMQ heartbeats detect dead connections, a handshake
//  must finish within 5 s, and libzmq cuts off (and disconnects) a frame over max_frame
//  before buffering it; read_ahead: how many requests of a connection libzmq reads ahead of
//  the server (core/limits.h). Security is set with secure_server_socket before binding.
zsock_t* new_server_socket(uint32_t max_frame, int read_ahead = kReadAheadRequests);
//  A role's server socket, made once before its first bind: the key pair checked,
//  descriptors reserved for max_connections (core/limits.h), a ROUTER as new_server_socket
//  makes, secured with keys and registered with ZAP (core/zap.h), which admits at most
//  max_connections. NULL, with *code (EMFILE when descriptors are short, else 0) and *why,
//  if it could not; then nothing is held. The caller gives the descriptors back
//  (release_descriptors) when it destroys the socket.
zsock_t* open_server_socket(const KeyPair& keys, Security security, uint32_t max_connections,
                            uint32_t max_frame, int read_ahead, std::shared_ptr<ZapDomain>* domain,
                            int* code, std::string* why);
//  A DEALER for a client of a server, speaking CURVE to the holder of server_key (or PLAIN),
//  with ZeroMQ heartbeats. With `immediate`, nothing queues for a connection that is not up
//  (sends fail with EAGAIN instead). NULL, with zmq_errno () set, if the endpoint is bad.
//  With connect false, the caller connects (zmq_connect) when it is ready - after setting up a
//  socket monitor, say, which would miss a handshake done before it listens.
zsock_t* new_client_socket(const std::string& endpoint, bool immediate, const KeyPair& keys,
                           Security security, const Key& server_key, bool connect = true);
//  Binds a server socket: a wildcard port ("tcp://*:*") is a free one the kernel picks (not
//  CZMQ's counting from 49152, which hands a port just given up by a stopped server to the
//  next one). Returns the bound TCP port, 0 for other transports, or -1 with zmq_errno ().
//  *bound gets the endpoint as bound.
int bind_server_socket(zsock_t* socket, const std::string& endpoint, std::string* bound);
//  "host:port" of a tcp:// endpoint (the endpoint itself for other transports).
std::string endpoint_address(const std::string& endpoint);
//  The TCP port of a bound endpoint ("tcp://0.0.0.0:41234" -> 41234), or 0.
int endpoint_port(const std::string& endpoint);
//  A socket's ZMQ_FD, to poll(2) beside others (-1 without a socket).
int socket_fd(zsock_t* socket);
//  The local IPv4 address this host reaches host:port from (the route's source address; a
//  UDP connect, which sends nothing), or "" when there is no route or host does not resolve.
std::string route_address(const std::string& host, const std::string& port);
//  An IPv4 address other machines may reach this host at: the source address of its default
//  route, else the first address of an interface that is up and not loopback; "" when it
//  has none.
std::string outward_address();

} // namespace zgm

#endif
