/*  =========================================================================
    roles.cc - zgm_test_roles: a registry and a group server in a process of their own

    For the tests that measure what an attacker makes a server hold (its RSS, its
    descriptors, its log lines) without the test's own clients in the figure. Built from
    the public C API only.

    Usage: zgm_test_roles [--insecure] [--verbose] [--nofile N] [--data DIR]
                          [--no-registry] [--no-server] [--group NAME[,OWNER]]...
                          [--registry-limit NAME=VALUE]... [--server-limit NAME=VALUE]...
           zgm_test_roles --flood ENDPOINT SERVER_KEY CURVE TCP
    NAME is rate, connections, frame, groups, groups-per-owner, members, follows,
    follower-bytes, recent-bytes, unread-bytes or unread-total (zgm_limit_t). The group server hosts
   the open groups named, each with the owner key given after a comma or with none; with a registry
   it trusts the server and the server registers there. Prints "registry ENDPOINT KEY" and "server
   ENDPOINT KEY" for what it runs, then "ready", and runs until SIGTERM or SIGINT.

    With --flood it is an attacker instead: CURVE connections with key pairs of their own
    that never send anything (one the server refuses is made again 100 ms later, with a new
    key), and TCP connections that never say anything (made again when the server closes
    one), to ENDPOINT. It prints "flooding",
    holds them until SIGTERM, printing "refused N" (the handshakes the server refused so
    far) each time that count grows, so the last such line holds even if it is killed.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "zgm.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

int limit_of(const std::string& name) {
    const std::pair<const char*, zgm_limit_t> names[] = {
        {"rate", ZGM_LIMIT_RATE},
        {"connections", ZGM_LIMIT_CONNECTIONS},
        {"frame", ZGM_LIMIT_FRAME},
        {"groups", ZGM_LIMIT_GROUPS},
        {"groups-per-owner", ZGM_LIMIT_GROUPS_PER_OWNER},
        {"members", ZGM_LIMIT_MEMBERS},
        {"follows", ZGM_LIMIT_FOLLOWS},
        {"follower-bytes", ZGM_LIMIT_FOLLOWER_BYTES},
        {"recent-bytes", ZGM_LIMIT_RECENT_BYTES},
        {"unread-bytes", ZGM_LIMIT_UNREAD_BYTES},
        {"unread-total", ZGM_LIMIT_UNREAD_TOTAL},
    };
    for (const auto& entry : names)
        if (name == entry.first) return entry.second;
    return -1;
}

//  "NAME=VALUE" into a limit and its value; false if it is not one.
bool parse_limit(const char* text, zgm_limit_t* limit, uint64_t* value) {
    const char* equals = strchr(text, '=');
    if (!equals) return false;
    int found = limit_of(std::string(text, equals - text));
    if (found < 0) return false;
    *limit = (zgm_limit_t)found;
    *value = strtoull(equals + 1, nullptr, 10);
    return true;
}

int usage(const char* why) {
    fprintf(stderr, "zgm_test_roles: %s\n", why);
    return 2;
}

int failed(const char* what) {
    fprintf(stderr, "zgm_test_roles: %s: %s\n", what, zgm_strerror());
    return 1;
}

//  One connection of a flood, and the monitor that says when the server refused it.
struct FloodSocket {
    zsock_t* dealer = nullptr;
    zsock_t* monitor = nullptr;
    int64_t again_at = 0; //  refused: when to connect a fresh one (0: not refused)
};

bool open_flood_socket(FloodSocket* socket, const std::string& endpoint, const char* server_key) {
    static int counter = 0;
    socket->dealer = zsock_new(ZMQ_DEALER);
    zcert_t* cert = zcert_new();
    if (!socket->dealer || !cert) return false;
    zsock_set_linger(socket->dealer, 0);
    zcert_apply(cert, socket->dealer);
    zcert_destroy(&cert);
    zsock_set_curve_serverkey(socket->dealer, server_key);
    std::string address = "inproc://flood-" + std::to_string(++counter);
    zmq_socket_monitor(zsock_resolve(socket->dealer), address.c_str(),
                       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    socket->monitor = zsock_new(ZMQ_PAIR);
    zsock_connect(socket->monitor, "%s", address.c_str());
    zsock_connect(socket->dealer, "%s", endpoint.c_str());
    socket->again_at = 0;
    return true;
}

void close_flood_socket(FloodSocket* socket) {
    if (socket->dealer) zmq_socket_monitor(zsock_resolve(socket->dealer), nullptr, 0);
    zsock_destroy(&socket->monitor);
    zsock_destroy(&socket->dealer);
}

//  A TCP connection that will say nothing.
int silent_connection(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0) connect(fd, (struct sockaddr*)&address, sizeof address);
    return fd;
}

//  Holds the flood until stop comes: a CURVE connection the server refuses is made again
//  (with a fresh key) 100 ms later, as libzmq's own retry would. Prints how many handshakes
//  were refused each time that grows (stdout is line-buffered: under qemu-user SIGTERM does
//  not reach it, and the SIGKILL that follows leaves no last word).
int flood(const std::string& endpoint, const char* server_key, int curve, int tcp, sigset_t* stop) {
    //  Each connection is three sockets (a DEALER, its monitor, ours), and those closed
    //  linger a while in libzmq: as many as the system allows.
    zsys_set_max_sockets(0);
    std::vector<FloodSocket> sockets(curve);
    for (FloodSocket& socket : sockets)
        if (!open_flood_socket(&socket, endpoint, server_key)) return failed("flood socket");
    int port = atoi(endpoint.c_str() + endpoint.rfind(':') + 1);
    std::vector<int> silent;
    for (int i = 0; i < tcp; i++)
        silent.push_back(silent_connection(port));
    printf("flooding\n");
    uint64_t refused = 0;
    struct timespec no_wait = {0, 0};
    while (sigtimedwait(stop, nullptr, &no_wait) < 0) {
        std::vector<zmq_pollitem_t> items;
        for (FloodSocket& socket : sockets)
            items.push_back({socket.monitor ? zsock_resolve(socket.monitor) : nullptr, 0,
                             (short)(socket.monitor ? ZMQ_POLLIN : 0), 0});
        for (int fd : silent)
            items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
        zmq_poll(items.data(), (int)items.size(), 20);
        //  A silent connection the server closed (after its handshake time) is made again.
        for (size_t i = 0; i < silent.size(); i++)
            if (items[sockets.size() + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
                char byte;
                if (read(silent[i], &byte, 1) > 0) continue; //  its greeting: stay silent
                close(silent[i]);
                silent[i] = silent_connection(port);
            }
        int64_t now = zclock_mono();
        uint64_t refused_before = refused;
        for (size_t i = 0; i < sockets.size(); i++) {
            FloodSocket& socket = sockets[i];
            if (items[i].revents & ZMQ_POLLIN) {
                zmsg_t* event = zmsg_recv(socket.monitor);
                zmsg_destroy(&event);
                refused++;
                close_flood_socket(&socket);
                socket.again_at = now + 100;
            } else if (socket.again_at && now >= socket.again_at) {
                open_flood_socket(&socket, endpoint, server_key);
            }
        }
        if (refused != refused_before) printf("refused %llu\n", (unsigned long long)refused);
    }
    for (int fd : silent)
        close(fd);
    for (FloodSocket& socket : sockets)
        close_flood_socket(&socket);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    bool insecure = false, verbose = false, registry_on = true, server_on = true;
    const char* data = nullptr;
    long nofile = 0;
    std::vector<std::string> groups;
    std::vector<std::pair<zgm_limit_t, uint64_t>> registry_limits, server_limits;
    std::string flood_endpoint, flood_key;
    int flood_curve = 0, flood_tcp = 0;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        bool has_value = i + 1 < argc;
        zgm_limit_t limit;
        uint64_t value;
        if (arg == "--insecure") {
            insecure = true;
        } else if (arg == "--verbose") {
            verbose = true;
        } else if (arg == "--no-registry") {
            registry_on = false;
        } else if (arg == "--no-server") {
            server_on = false;
        } else if (arg == "--flood" && i + 4 < argc) {
            flood_endpoint = argv[++i];
            flood_key = argv[++i];
            flood_curve = atoi(argv[++i]);
            flood_tcp = atoi(argv[++i]);
        } else if (arg == "--nofile" && has_value) {
            nofile = atol(argv[++i]);
        } else if (arg == "--data" && has_value) {
            data = argv[++i];
        } else if (arg == "--group" && has_value) {
            groups.push_back(argv[++i]);
        } else if (arg == "--registry-limit" && has_value &&
                   parse_limit(argv[++i], &limit, &value)) {
            registry_limits.push_back({limit, value});
        } else if (arg == "--server-limit" && has_value && parse_limit(argv[++i], &limit, &value)) {
            server_limits.push_back({limit, value});
        } else {
            return usage(("bad argument " + arg).c_str());
        }
    }
    setvbuf(stdout, nullptr, _IOLBF, 0);
    if (nofile > 0) {
        struct rlimit limit;
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = (rlim_t)nofile;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return usage("cannot set RLIMIT_NOFILE");
    }
    //  Every thread CZMQ starts inherits this mask, so the signals come to sigwait below.
    zsys_handler_set(NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    zgm_set_verbose(verbose ? 1 : 0);
    if (!flood_endpoint.empty())
        return flood(flood_endpoint, flood_key.c_str(), flood_curve, flood_tcp, &stop);

    zgm_registry_t* registry = nullptr;
    zgm_server_t* server = nullptr;
    int rc = 0;
    std::string registry_endpoint;
    if (registry_on) {
        registry = zgm_registry_new();
        if (!registry) return failed("registry");
        zgm_registry_set_insecure(registry, insecure);
        for (const auto& entry : registry_limits)
            if (zgm_registry_set_limit(registry, entry.first, entry.second) != 0)
                return failed("registry limit");
        int port = zgm_registry_bind(registry, "tcp://127.0.0.1:*");
        if (port <= 0) return failed("registry bind");
        registry_endpoint = "tcp://127.0.0.1:" + std::to_string(port);
        printf("registry %s %s\n", registry_endpoint.c_str(), zgm_registry_key(registry));
    }
    if (server_on) {
        server = zgm_server_new(data);
        if (!server) return failed("group server");
        zgm_server_set_insecure(server, insecure);
        for (const auto& entry : server_limits)
            if (zgm_server_set_limit(server, entry.first, entry.second) != 0)
                return failed("group server limit");
        for (const std::string& group : groups) {
            //  NAME, or NAME,OWNER (a public key: Z85 has no comma).
            size_t comma = group.find(',');
            std::string name = group.substr(0, comma);
            std::string owner = comma == std::string::npos ? "" : group.substr(comma + 1);
            if (zgm_server_add(server, name.c_str(), owner.empty() ? NULL : owner.c_str(),
                               ZGM_POLICY_OPEN) != 0)
                return failed("group");
        }
        int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
        if (port <= 0) return failed("group server bind");
        if (registry) {
            zgm_registry_trust(registry, zgm_server_key(server));
            if (zgm_server_connect(server, registry_endpoint.c_str(),
                                   insecure ? NULL : zgm_registry_key(registry)) != 0)
                return failed("group server connect");
        }
        printf("server tcp://127.0.0.1:%d %s\n", port, zgm_server_key(server));
    }
    printf("ready\n");
    int signal = 0;
    sigwait(&stop, &signal);
    zgm_server_destroy(&server);
    zgm_registry_destroy(&registry);
    return rc;
}
