/*  =========================================================================
    sockets.cc - the ZeroMQ sockets of every role

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "net/sockets.h"

#include "core/limits.h"
#include "core/names.h"
#include "core/zap.h"

#include <arpa/inet.h>
#include <cerrno>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace zgm {

namespace {

void set_heartbeats(zsock_t* socket) {
    zsock_set_heartbeat_ivl(socket, 1000);
    zsock_set_heartbeat_timeout(socket, 5000);
    zsock_set_heartbeat_ttl(socket, 6000);
}

} // namespace

zsock_t* new_server_socket(uint32_t max_frame, int read_ahead) {
    zsock_t* socket = zsock_new(ZMQ_ROUTER);
    if (!socket) return nullptr;
    zsock_set_router_mandatory(socket, 1);
    zsock_set_sndhwm(socket, 10000);
    zsock_set_rcvhwm(socket, read_ahead);
    zsock_set_linger(socket, 0);
    zsock_set_handshake_ivl(socket, 5000);
    zsock_set_maxmsgsize(socket, (int)max_frame);
    set_heartbeats(socket);
    return socket;
}

zsock_t* new_client_socket(const std::string& endpoint, bool immediate, const KeyPair& keys,
                           Security security, const Key& server_key, bool connect) {
    zsock_t* socket = zsock_new(ZMQ_DEALER);
    if (!socket) return nullptr;
    zsock_set_immediate(socket, immediate ? 1 : 0);
    zsock_set_sndhwm(socket, 10000);
    zsock_set_rcvhwm(socket, 10000);
    zsock_set_linger(socket, 0);
    zsock_set_reconnect_ivl(socket, 100);
    zsock_set_reconnect_ivl_max(socket, 2000);
    //  What a server sends stays within the protocol's frame, whoever the server is.
    zsock_set_maxmsgsize(socket, (int)(4 * 1024 * 1024 + 4096));
    set_heartbeats(socket);
    secure_client_socket(socket, keys, security, server_key);
    if (connect && zmq_connect(zsock_resolve(socket), endpoint.c_str()) != 0) {
        int error = zmq_errno();
        zsock_destroy(&socket);
        errno = error;
        return nullptr;
    }
    return socket;
}

int bind_server_socket(zsock_t* socket, const std::string& endpoint, std::string* bound) {
    if (zmq_bind(zsock_resolve(socket), endpoint.c_str()) != 0) return -1;
    char last[256] = "";
    size_t size = sizeof last;
    zmq_getsockopt(zsock_resolve(socket), ZMQ_LAST_ENDPOINT, last, &size);
    *bound = last[0] ? last : endpoint;
    return endpoint_port(*bound);
}

std::string endpoint_address(const std::string& endpoint) {
    const std::string tcp = "tcp://";
    if (endpoint.compare(0, tcp.size(), tcp) == 0) return endpoint.substr(tcp.size());
    return endpoint;
}

int socket_fd(zsock_t* socket) {
    int fd = -1;
    size_t size = sizeof fd;
    if (!socket || zmq_getsockopt(zsock_resolve(socket), ZMQ_FD, &fd, &size) != 0) return -1;
    return fd;
}

std::string route_address(const std::string& host, const std::string& port) {
    struct addrinfo hints = {}, *found = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return "";
    std::string local;
    int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {};
    socklen_t length = sizeof address;
    char text[INET_ADDRSTRLEN];
    if (probe >= 0 && ::connect(probe, found->ai_addr, found->ai_addrlen) == 0 &&
        getsockname(probe, (struct sockaddr*)&address, &length) == 0 &&
        inet_ntop(AF_INET, &address.sin_addr, text, sizeof text))
        local = text;
    if (probe >= 0) close(probe);
    freeaddrinfo(found);
    return local;
}

std::string outward_address() {
    //  192.0.2.1 (TEST-NET-1) is nobody's: only a default route leads there.
    std::string routed = route_address("192.0.2.1", "9");
    if (!routed.empty() && routed.compare(0, 4, "127.") != 0) return routed;
    struct ifaddrs* interfaces = nullptr;
    if (getifaddrs(&interfaces) != 0) return "";
    std::string found;
    for (struct ifaddrs* at = interfaces; at && found.empty(); at = at->ifa_next) {
        if (!at->ifa_addr || at->ifa_addr->sa_family != AF_INET || !(at->ifa_flags & IFF_UP) ||
            (at->ifa_flags & IFF_LOOPBACK))
            continue;
        char text[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &((struct sockaddr_in*)at->ifa_addr)->sin_addr, text, sizeof text))
            found = text;
    }
    freeifaddrs(interfaces);
    return found;
}

int endpoint_port(const std::string& endpoint) {
    long port = tcp_port(endpoint);
    return port < 0 ? 0 : (int)port;
}

zsock_t* open_server_socket(const KeyPair& keys, Security security, uint32_t max_connections,
                            uint32_t max_frame, int read_ahead, std::shared_ptr<ZapDomain>* domain,
                            int* code, std::string* why) {
    *code = 0;
    Key check;
    if (keys.public_txt.empty() || !Key::parse(keys.secret_txt, &check)) {
        *why = "no key pair is set";
        return nullptr;
    }
    if (!reserve_descriptors(max_connections, why)) {
        *code = EMFILE;
        return nullptr;
    }
    zsock_t* socket = new_server_socket(max_frame, read_ahead);
    if (socket) {
        secure_server_socket(socket, keys, security, "");
        *domain = zap_register(socket, security, (int)max_connections, why);
        if (*domain) zsock_set_zap_domain(socket, (*domain)->name.c_str());
    }
    if (!socket || !*domain) {
        zsock_destroy(&socket);
        release_descriptors(max_connections);
        if (why->empty()) *why = "cannot create a socket";
        return nullptr;
    }
    return socket;
}

} // namespace zgm
