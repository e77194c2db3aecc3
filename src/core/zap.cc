/*  =========================================================================
    zap.cc - the process's ZAP handler, and each server's connection count

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/zap.h"

#include "core/actor.h"
#include "core/log.h"

#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace zgm {

namespace {

const char* const kZapEndpoint = "inproc://zeromq.zap.01";
//  A domain's name: this and a number, counted from 1 (Handler::next_domain).
const char kDomainPrefix[] = "zgm-";

//  A domain as the handler's thread sees it: the rules, and the monitor of its socket.
struct Watched {
    std::shared_ptr<ZapDomain> domain;
    zsock_t* events = nullptr;
    std::set<int> open; //  descriptors of accepted connections not yet closed
};

struct Handler {
    std::mutex pipe_mutex;    //  guards actor: its start, stop and every use of its pipe
    std::mutex domains_mutex; //  guards domains (the handler's thread reads it too)
    std::map<std::string, std::shared_ptr<ZapDomain>> domains;
    zactor_t* actor = nullptr;
    pid_t pid = 0;            //  the process whose thread actor is
    uint64_t next_domain = 1; //  guarded by domains_mutex; read by the handler's thread
};

Handler& handler() {
    static Handler* instance = new Handler(); //  never destroyed: outlives every server
    return *instance;
}

std::string frame_text(zframe_t* frame) {
    return frame ? std::string((const char*)zframe_data(frame), zframe_size(frame)) : "";
}

std::string monitor_endpoint(const std::string& domain) {
    return "inproc://zgm-monitor-" + domain;
}

//  Reads every waiting event of one monitored socket.
void read_events(Watched* watched) {
    for (int i = 0; i < 100000; i++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zsock_resolve(watched->events), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            break;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&frame) >= 6) {
            memcpy(&event, zmq_msg_data(&frame), 2);
            memcpy(&value, (uint8_t*)zmq_msg_data(&frame) + 2, 4);
        }
        //  The second frame, the endpoint, is not needed.
        while (zmq_msg_more(&frame) &&
               zmq_msg_recv(&frame, zsock_resolve(watched->events), 0) >= 0) {
        }
        zmq_msg_close(&frame);
        if (event == ZMQ_EVENT_ACCEPTED)
            watched->open.insert((int)value);
        else if (event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CLOSED)
            watched->open.erase((int)value);
        //  A client of another mechanism (NULL, or CURVE to PLAIN and back) fails in the
        //  greeting, before any ZAP request; a refusal of this handler's (AUTH, with its ZAP
        //  status) was counted by its reason when it was decided.
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
                 value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            watched->domain->refused_mechanism++;
        else if (event != 0 && event != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            watched->domain->failed_handshakes++;
    }
    watched->domain->connections = (int)watched->open.size();
}

//  Whether name is a domain this handler gave out, and no longer has.
bool closed_domain(const std::string& name) {
    const size_t prefix = sizeof kDomainPrefix - 1;
    if (name.compare(0, prefix, kDomainPrefix) != 0) return false;
    char* end = nullptr;
    const char* number = name.c_str() + prefix;
    uint64_t n = strtoull(number, &end, 10);
    if (end == number || *end != '\0') return false;
    std::lock_guard<std::mutex> lock(handler().domains_mutex);
    return n > 0 && n < handler().next_domain && !handler().domains.count(name);
}

//  The decision on one ZAP request (RFC 27): status code, text, user id.
void decide(zmsg_t* request, std::map<std::string, Watched>& watched, std::string* status,
            std::string* text, std::string* user_id) {
    *status = "400";
    *text = "malformed ZAP request";
    if (zmsg_size(request) < 6 || frame_text(zmsg_first(request)) != "1.0") return;
    zmsg_next(request); //  request id
    std::string domain_name = frame_text(zmsg_next(request));
    zmsg_next(request); //  address
    zmsg_next(request); //  routing id
    std::string mechanism = frame_text(zmsg_next(request));
    auto found = watched.find(domain_name);
    if (found == watched.end()) {
        //  A domain given out here and closed since: its socket is closing, and libzmq may
        //  still end a handshake on it. 300 (temporary): the connection is closed without an
        //  ERROR, so its client tries again, as after a server that went away, rather than
        //  reporting a refusal.
        if (closed_domain(domain_name)) {
            *status = "300";
            *text = "the server is closing";
            return;
        }
        *text = "unknown ZAP domain";
        return;
    }
    read_events(&found->second); //  the connection asking is counted by now
    ZapDomain* domain = found->second.domain.get();
    const char* wanted = domain->security == Security::kCurve ? "CURVE" : "PLAIN";
    //  Each refusal here is counted by its reason: libzmq's AUTH event for it is not.
    if (mechanism != wanted) { //  libzmq refuses another mechanism first, in the greeting
        domain->refused_mechanism++;
        *text = std::string("this server speaks ") + wanted;
        return;
    }
    if (domain->security == Security::kCurve) {
        zframe_t* key = zmsg_next(request);
        if (!key || zframe_size(key) != kKeySize) {
            domain->failed_handshakes++;
            *text = "no client key";
            return;
        }
        *user_id = Key::from_bytes(zframe_data(key)).str();
    } else {
        std::string name = frame_text(zmsg_next(request));
        Key key;
        if (!Key::parse(name, &key)) {
            domain->refused_identity++;
            *text = "the PLAIN user name must be a public key";
            return;
        }
        *user_id = name;
    }
    int max = domain->max_connections.load();
    if (max > 0 && domain->connections.load() > max) {
        domain->refused_full++;
        //  400, not 300 ("temporary"): with 300 libzmq closes the connection without a
        //  word and the client's libzmq retries every 100 ms, so a flood of refused
        //  connections keeps the server busy with handshakes, and a user is not told why.
        //  With 400 the client is sent an ERROR (its monitor: HANDSHAKE_FAILED_AUTH, which
        //  the user's link reports as "refused" and retries after a pause of its own).
        *status = "400";
        *text = "too many connections";
        user_id->clear();
        return;
    }
    domain->admitted++;
    *status = "200";
    *text = "OK";
}

//  Pipe commands: WATCH domain (connects a PAIR to the domain's monitor) and FORGET domain,
//  each answered with a signal.
void zap_actor(zsock_t* pipe, void* args) {
    std::atomic<bool>* started = (std::atomic<bool>*)args;
    zsock_t* zap = zsock_new(ZMQ_REP);
    //  A handler stopped a moment ago may still hold the address while libzmq closes its
    //  socket: try for a while.
    bool bound = false;
    for (int i = 0; zap && i < 200 && !bound; i++) {
        bound = zsock_bind(zap, "%s", kZapEndpoint) == 0;
        if (!bound) zclock_sleep(10);
    }
    started->store(bound);
    if (!bound) {
        zsock_destroy(&zap);
        zsock_signal(pipe, 1);
        return;
    }
    zsock_signal(pipe, 0);
    std::map<std::string, Watched> watched;
    while (true) {
        std::vector<zmq_pollitem_t> items = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
                                             {zsock_resolve(zap), 0, ZMQ_POLLIN, 0}};
        for (auto& entry : watched)
            items.push_back({zsock_resolve(entry.second.events), 0, ZMQ_POLLIN, 0});
        if (zmq_poll(items.data(), (int)items.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (auto& entry : watched)
            read_events(&entry.second);
        if (items[0].revents & ZMQ_POLLIN) {
            char* command = nullptr;
            char* name = nullptr;
            zstr_recvx(pipe, &command, &name, NULL);
            bool term = !command || streq(command, "$TERM");
            if (command && streq(command, "WATCH") && name) {
                std::lock_guard<std::mutex> lock(handler().domains_mutex);
                Watched& entry = watched[name];
                entry.domain = handler().domains[name];
                entry.events = zsock_new(ZMQ_PAIR);
                zsock_connect(entry.events, "%s", monitor_endpoint(name).c_str());
                zsock_signal(pipe, 0);
            } else if (command && streq(command, "FORGET") && name) {
                auto found = watched.find(name);
                if (found != watched.end()) {
                    zsock_destroy(&found->second.events);
                    watched.erase(found);
                }
                zsock_signal(pipe, 0);
            }
            zstr_free(&command);
            zstr_free(&name);
            if (term) break;
        }
        if (!(items[1].revents & ZMQ_POLLIN)) continue;
        zmsg_t* request = zmsg_recv(zap);
        if (!request) continue;
        std::string status, text, user_id;
        decide(request, watched, &status, &text, &user_id);
        zframe_t* request_id = zmsg_size(request) >= 2 ? zmsg_first(request) : nullptr;
        if (request_id) request_id = zmsg_next(request);
        zmsg_t* reply = zmsg_new();
        zmsg_addstr(reply, "1.0");
        if (request_id)
            zmsg_addmem(reply, zframe_data(request_id), zframe_size(request_id));
        else
            zmsg_addstr(reply, "");
        zmsg_addstr(reply, status.c_str());
        zmsg_addstr(reply, text.c_str());
        zmsg_addstr(reply, user_id.c_str());
        zmsg_addmem(reply, "", 0);
        zmsg_send(&reply, zap);
        zmsg_destroy(&request);
    }
    for (auto& entry : watched)
        zsock_destroy(&entry.second.events);
    zsock_destroy(&zap);
}

//  Whether h's actor is a thread of this process (a child forked since has none). Under
//  h.pipe_mutex.
bool running_here(const Handler& h) {
    return h.actor && h.pid == getpid();
}

//  At exit, once every server of the process is gone (live_finally).
void stop_handler() {
    Handler& h = handler();
    std::lock_guard<std::mutex> pipe_lock(h.pipe_mutex);
    if (running_here(h)) zactor_destroy(&h.actor);
    h.actor = nullptr;
}

} // namespace

std::shared_ptr<ZapDomain> zap_register(zsock_t* server, Security security, int max_connections,
                                        std::string* error) {
    Handler& h = handler();
    std::lock_guard<std::mutex> pipe_lock(h.pipe_mutex);
    if (!running_here(h)) {
        std::atomic<bool> started(false);
        h.actor = zactor_new(zap_actor, &started);
        if (h.actor && !started) zactor_destroy(&h.actor);
        if (!h.actor) {
            *error = "cannot start the ZAP handler: another one is bound to " +
                     std::string(kZapEndpoint) + " in this process";
            return nullptr;
        }
        h.pid = getpid();
        live_finally(stop_handler);
    }
    auto domain = std::make_shared<ZapDomain>();
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    {
        std::lock_guard<std::mutex> lock(h.domains_mutex);
        domain->name = kDomainPrefix + std::to_string(h.next_domain++);
        domain->security = security;
        domain->max_connections = max_connections;
        h.domains[domain->name] = domain;
    }
    if (zmq_socket_monitor(zsock_resolve(server), monitor_endpoint(domain->name).c_str(), events) !=
        0) {
        *error = std::string("cannot monitor the server socket: ") + zmq_strerror(errno);
        std::lock_guard<std::mutex> lock(h.domains_mutex);
        h.domains.erase(domain->name);
        return nullptr;
    }
    zstr_sendx(h.actor, "WATCH", domain->name.c_str(), NULL);
    zsock_wait(h.actor);
    return domain;
}

void zap_close(zsock_t** server, std::shared_ptr<ZapDomain>* domain) {
    if (*server && domain && *domain) zmq_socket_monitor(zsock_resolve(*server), nullptr, 0);
    zsock_destroy(server);
    if (!domain || !*domain) return;
    Handler& h = handler();
    std::lock_guard<std::mutex> pipe_lock(h.pipe_mutex);
    {
        //  Before FORGET: once the handler drops the domain, closed_domain finds it gone and
        //  a handshake on the closing socket is answered 300 (until then, as before).
        std::lock_guard<std::mutex> lock(h.domains_mutex);
        h.domains.erase((*domain)->name);
    }
    if (running_here(h)) {
        zstr_sendx(h.actor, "FORGET", (*domain)->name.c_str(), NULL);
        zsock_wait(h.actor);
    }
    domain->reset();
}

} // namespace zgm
