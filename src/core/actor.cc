/*  =========================================================================
    actor.cc - what every role's actor shares

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/actor.h"

#include "core/limits.h"
#include "core/zap.h"

#include <unistd.h>

#include <cstdlib>

#include <mutex>
#include <vector>

namespace zgm {

namespace {

struct Live {
    void* object;
    void (*destroy)(void*);
    pid_t pid;
};
//  Never freed: the exit handler may run after static destructors have.
std::mutex* s_live_lock = new std::mutex;
std::vector<Live>* s_live = new std::vector<Live>;

//  Newest first: users before the servers and the registry they talk to.
void destroy_live() {
    std::vector<Live> live;
    {
        std::lock_guard<std::mutex> lock(*s_live_lock);
        live.swap(*s_live);
    }
    pid_t self = getpid();
    for (auto it = live.rbegin(); it != live.rend(); ++it)
        if (it->pid == self) it->destroy(it->object);
}

} // namespace

void start_czmq() {
    static std::once_flag once;
    //  zsys_init registers CZMQ's exit handler; this one, registered after it, runs before.
    std::call_once(once, [] {
        zsys_init();
        atexit(destroy_live);
    });
}

void live_add(void* object, void (*destroy)(void*)) {
    std::lock_guard<std::mutex> lock(*s_live_lock);
    s_live->push_back({object, destroy, getpid()});
}

void live_remove(void* object) {
    std::lock_guard<std::mutex> lock(*s_live_lock);
    for (auto it = s_live->begin(); it != s_live->end(); ++it)
        if (it->object == object) {
            s_live->erase(it);
            return;
        }
}

static void set_heartbeats(zsock_t* socket) {
    zsock_set_heartbeat_ivl(socket, 1000);
    zsock_set_heartbeat_timeout(socket, 5000);
    zsock_set_heartbeat_ttl(socket, 6000);
}

zsock_t* new_server_socket(uint32_t max_frame) {
    zsock_t* socket = zsock_new(ZMQ_ROUTER);
    if (!socket) return nullptr;
    zsock_set_router_mandatory(socket, 1);
    zsock_set_sndhwm(socket, 10000);
    zsock_set_rcvhwm(socket, 10000);
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

int endpoint_port(const std::string& endpoint) {
    if (endpoint.compare(0, 6, "tcp://") != 0) return 0;
    size_t colon = endpoint.rfind(':');
    if (colon == std::string::npos) return 0;
    return atoi(endpoint.c_str() + colon + 1);
}

zsock_t* open_server_socket(const KeyPair& keys, Security security, uint32_t max_connections,
                            uint32_t max_frame, std::shared_ptr<ZapDomain>* domain, int* code,
                            std::string* why) {
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
    zsock_t* socket = new_server_socket(max_frame);
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
