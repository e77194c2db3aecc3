/*  =========================================================================
    registry.cc - the registry actor

    Keeps, for each live group, its id, name, the endpoint of the group server serving it,
    that server's id and the member count. Group servers REGISTER each group and send
    HEARTBEATs; a server silent for the expiry interval is dropped with its groups. A
    HEARTBEAT from a server the registry does not know (say, after a registry restart) is
    answered 404, and the server registers its groups again.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "registry/registry.h"

#include "core/actor.h"
#include "core/clock.h"
#include "core/names.h"
#include "proto/proto.h"

#include <map>
#include <string>

namespace zgm {

namespace {

struct ServerEntry {
    std::string routing_id;
    std::string endpoint;
    bool accept_new = false;
    int64_t last_seen_ms = 0;
    uint32_t groups = 0; //  groups registered by this server
};

struct GroupEntry {
    Uuid id;
    std::string name;
    Uuid server;
    uint32_t members = 0;
};

//  A CREATE waiting for the group server's answer to HOST.
struct PendingCreate {
    std::string user_routing_id;
    uint32_t user_request_id = 0;
    std::string group;
    Uuid server;
    int64_t deadline_ms = 0;
};

constexpr int kCreateTimeoutMs = 5000;

class Registry {
public:
    explicit Registry(zsock_t* pipe) : pipe_(pipe), socket_(new_server_socket()) {}
    ~Registry() { zsock_destroy(&socket_); }

    void run();

private:
    bool handle_pipe();
    void handle_socket();
    void handle(const std::string& from, const proto::Message& request);
    void on_register(const std::string& from, const proto::Message& request);
    void on_heartbeat(const std::string& from, const proto::Message& request);
    void on_deregister(const std::string& from, const proto::Message& request);
    void on_list(const std::string& from, const proto::Message& request);
    void on_create(const std::string& from, const proto::Message& request);
    void on_host_reply(const proto::Message& reply);
    void expire();
    void drop_server(const Uuid& server, const char* why);

    void reply(const std::string& to, proto::Message& message, uint32_t request_id);
    void error(const std::string& to, uint32_t request_id, uint16_t status, const std::string& why);

    zsock_t* pipe_;
    zsock_t* socket_;
    int expiry_ms_ = 3000;
    uint32_t next_request_id_ = 1;
    std::map<Uuid, ServerEntry> servers_;
    std::map<std::string, GroupEntry> groups_;  //  by name
    std::map<uint32_t, PendingCreate> creates_; //  by HOST request id
    uint64_t malformed_ = 0;
};

//  zmq_poll rather than zpoller: a zpoller gives up on CZMQ's interrupt flag, and an
//  application's Ctrl-C must not stop the registry under its zgm_registry_t.
void Registry::run() {
    zsock_signal(pipe_, 0);
    if (!socket_) return;
    int64_t next_expiry = mono_ms() + expiry_ms_ / 3;
    while (true) {
        zmq_pollitem_t items[2] = {{zsock_resolve(pipe_), 0, ZMQ_POLLIN, 0},
                                   {zsock_resolve(socket_), 0, ZMQ_POLLIN, 0}};
        int64_t wait = next_expiry - mono_ms();
        if (zmq_poll(items, 2, wait > 0 ? (long)wait : 0) < 0 && errno != EINTR) break;
        if ((items[0].revents & ZMQ_POLLIN) && !handle_pipe()) break;
        if (items[1].revents & ZMQ_POLLIN) handle_socket();
        if (mono_ms() >= next_expiry) {
            expire();
            next_expiry = mono_ms() + (expiry_ms_ / 3 > 10 ? expiry_ms_ / 3 : 10);
        }
    }
}

bool Registry::handle_pipe() {
    zmsg_t* msg = zmsg_recv(pipe_);
    if (!msg) return false;
    char* command = zmsg_popstr(msg);
    bool alive = true;
    if (!command || streq(command, "$TERM")) {
        alive = false;
    } else if (streq(command, "BIND")) {
        char* endpoint = zmsg_popstr(msg);
        int port = endpoint ? zsock_bind(socket_, "%s", endpoint) : -1;
        int error = port < 0 ? zmq_errno() : 0;
        if (port >= 0) {
            char* last = zsock_last_endpoint(socket_);
            ZGM_LOG("registry: listening on %s", last ? last : endpoint);
            zstr_free(&last);
        }
        zsock_send(pipe_, "ii", port, error);
        zstr_free(&endpoint);
    } else if (streq(command, "EXPIRY")) {
        char* value = zmsg_popstr(msg);
        if (value && atoi(value) > 0) expiry_ms_ = atoi(value);
        zstr_free(&value);
    }
    zstr_free(&command);
    zmsg_destroy(&msg);
    return alive;
}

void Registry::handle_socket() {
    //  Take what is waiting, but bounded, so the pipe and timers are not starved.
    for (int i = 0; i < 1000; i++) {
        std::string from;
        proto::Message request;
        proto::DecodeError rc =
            proto::recv(zsock_resolve(socket_), true, &from, &request, ZMQ_DONTWAIT);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return;
        if (rc != proto::DecodeError::kOk) {
            malformed_++;
            ZGM_WARN("registry: malformed message (%s), %llu so far", proto::decode_error_text(rc),
                     (unsigned long long)malformed_);
            if (!from.empty())
                error(from, request.request_id, proto::error_status(rc),
                      proto::decode_error_text(rc));
            continue;
        }
        handle(from, request);
    }
}

void Registry::handle(const std::string& from, const proto::Message& request) {
    switch (request.id) {
    case proto::kRegister:
        return on_register(from, request);
    case proto::kHeartbeat:
        return on_heartbeat(from, request);
    case proto::kDeregister:
        return on_deregister(from, request);
    case proto::kList:
        return on_list(from, request);
    case proto::kCreate:
        return on_create(from, request);
    case proto::kOk:
    case proto::kError:
        return on_host_reply(request);
    default:
        error(from, request.request_id, proto::kBadRequest,
              std::string("the registry does not take ") + proto::message_name(request.id));
    }
}

void Registry::on_register(const std::string& from, const proto::Message& request) {
    if (!valid_name(request.group) || request.endpoint.empty() || request.server.is_nil())
        return error(from, request.request_id, proto::kInvalid,
                     "REGISTER needs a valid group name, an endpoint and a server id");
    auto existing = groups_.find(request.group);
    if (existing != groups_.end() && existing->second.server != request.server) {
        //  The same group (same id, so the same store) may move: a group server restarted
        //  with its data takes over at once. Another group of the same name may not.
        if (existing->second.id != request.group_id) {
            const ServerEntry& owner = servers_[existing->second.server];
            return error(from, request.request_id, proto::kConflict,
                         "group '" + request.group + "' is already served by " + owner.endpoint);
        }
        servers_[existing->second.server].groups--;
        groups_.erase(existing);
        existing = groups_.end();
    }
    ServerEntry& server = servers_[request.server];
    bool new_server = server.endpoint.empty();
    server.routing_id = from;
    server.endpoint = request.endpoint;
    server.accept_new = request.accept_new != 0;
    server.last_seen_ms = mono_ms();
    if (existing == groups_.end()) {
        ZGM_LOG("JOIN REQUEST FROM %s", endpoint_address(request.endpoint).c_str());
        ZGM_LOG("registry: group '%s' served by %s%s", request.group.c_str(),
                request.endpoint.c_str(), new_server ? " (new group server)" : "");
        GroupEntry& group = groups_[request.group];
        group.name = request.group;
        group.server = request.server;
        server.groups++;
        existing = groups_.find(request.group);
    }
    existing->second.id = request.group_id;
    existing->second.members = request.count;
    proto::Message ok;
    ok.id = proto::kOk;
    reply(from, ok, request.request_id);
}

void Registry::on_heartbeat(const std::string& from, const proto::Message& request) {
    auto server = servers_.find(request.server);
    //  A server hosting no group yet is known by its heartbeats alone (it may accept new
    //  groups); one whose groups the registry does not all know registers them again.
    if (server == servers_.end() && request.count == 0 && !request.endpoint.empty())
        server = servers_.emplace(request.server, ServerEntry()).first;
    if (server == servers_.end() || server->second.groups != request.count)
        return error(from, request.request_id, proto::kNotFound,
                     "unknown group server or groups: register again");
    server->second.last_seen_ms = mono_ms();
    server->second.routing_id = from;
    server->second.endpoint = request.endpoint;
    server->second.accept_new = request.accept_new != 0;
    proto::Message ok;
    ok.id = proto::kOk;
    reply(from, ok, request.request_id);
}

void Registry::on_deregister(const std::string& from, const proto::Message& request) {
    drop_server(request.server, "deregistered");
    proto::Message ok;
    ok.id = proto::kOk;
    reply(from, ok, request.request_id);
}

void Registry::on_list(const std::string& from, const proto::Message& request) {
    ZGM_LOG("GROUP LIST REQUEST FROM %s", request.user.str().c_str());
    proto::Message groups;
    groups.id = proto::kGroups;
    for (const auto& entry : groups_) {
        if (groups.groups.size() == proto::kMaxList) break;
        proto::GroupRecord record;
        record.id = entry.second.id;
        record.name = entry.second.name;
        record.endpoint = servers_[entry.second.server].endpoint;
        record.members = entry.second.members;
        groups.groups.push_back(record);
    }
    reply(from, groups, request.request_id);
}

void Registry::on_create(const std::string& from, const proto::Message& request) {
    ZGM_LOG("CREATE REQUEST FROM %s: '%s'", request.user.str().c_str(), request.group.c_str());
    if (!valid_name(request.group))
        return error(from, request.request_id, proto::kInvalid, invalid_name_reason());
    if (groups_.count(request.group))
        return error(from, request.request_id, proto::kConflict,
                     "group '" + request.group + "' already exists");
    for (const auto& pending : creates_)
        if (pending.second.group == request.group)
            return error(from, request.request_id, proto::kConflict,
                         "group '" + request.group + "' is being created");
    //  The accepting server with the fewest groups takes it.
    const ServerEntry* chosen = nullptr;
    Uuid chosen_id;
    for (const auto& server : servers_)
        if (server.second.accept_new && (!chosen || server.second.groups < chosen->groups)) {
            chosen = &server.second;
            chosen_id = server.first;
        }
    if (!chosen)
        return error(from, request.request_id, proto::kUnavailable,
                     "no group server accepts new groups");
    proto::Message host;
    host.id = proto::kHost;
    host.group = request.group;
    uint32_t host_id = next_request_id_++;
    reply(chosen->routing_id, host, host_id);
    PendingCreate& pending = creates_[host_id];
    pending.user_routing_id = from;
    pending.user_request_id = request.request_id;
    pending.group = request.group;
    pending.server = chosen_id;
    pending.deadline_ms = mono_ms() + kCreateTimeoutMs;
}

void Registry::on_host_reply(const proto::Message& reply_msg) {
    auto found = creates_.find(reply_msg.request_id);
    if (found == creates_.end()) return;
    PendingCreate pending = found->second;
    creates_.erase(found);
    if (reply_msg.id == proto::kError)
        return error(pending.user_routing_id, pending.user_request_id, reply_msg.status,
                     reply_msg.reason);
    auto group = groups_.find(pending.group);
    if (group == groups_.end())
        return error(pending.user_routing_id, pending.user_request_id, proto::kInternal,
                     "the group server did not register the new group");
    proto::Message created;
    created.id = proto::kCreated;
    created.group_id = group->second.id;
    created.group = group->second.name;
    created.endpoint = servers_[group->second.server].endpoint;
    reply(pending.user_routing_id, created, pending.user_request_id);
}

void Registry::expire() {
    int64_t now = mono_ms();
    for (auto it = servers_.begin(); it != servers_.end();) {
        auto next = std::next(it);
        if (now - it->second.last_seen_ms > expiry_ms_) drop_server(it->first, "silent");
        it = next;
    }
    for (auto it = creates_.begin(); it != creates_.end();) {
        if (now >= it->second.deadline_ms) {
            error(it->second.user_routing_id, it->second.user_request_id, proto::kUnavailable,
                  "the group server did not answer in time");
            it = creates_.erase(it);
        } else {
            ++it;
        }
    }
}

void Registry::drop_server(const Uuid& server, const char* why) {
    auto entry = servers_.find(server);
    if (entry == servers_.end()) return;
    for (auto it = groups_.begin(); it != groups_.end();) {
        if (it->second.server == server) {
            ZGM_LOG("registry: group '%s' dropped (%s, %s)", it->first.c_str(),
                    entry->second.endpoint.c_str(), why);
            it = groups_.erase(it);
        } else {
            ++it;
        }
    }
    servers_.erase(entry);
}

void Registry::reply(const std::string& to, proto::Message& message, uint32_t request_id) {
    message.request_id = request_id;
    //  A peer that vanished or cannot take more gets nothing; it retries or times out.
    proto::send(zsock_resolve(socket_), to, message, ZMQ_DONTWAIT);
}

void Registry::error(const std::string& to, uint32_t request_id, uint16_t status,
                     const std::string& why) {
    proto::send_error(zsock_resolve(socket_), to, request_id, status, why);
}

} // namespace

void registry_actor(zsock_t* pipe, void*) {
    Registry registry(pipe);
    registry.run();
}

} // namespace zgm
