/*  =========================================================================
    user.cc - the user actor

    The actor matches replies to requests by request id, so it can have requests of its own
    in flight beside the caller's: every followed group sends FOLLOW now and then (which
    also tells it the group's last seq), and a gap in the pushes, or a FOLLOWING beyond what
    it has delivered, starts a catch-up FETCH from the last delivered seq. A group server
    that stops answering is looked up again in the registry, in case it moved.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/user.h"

#include "core/actor.h"
#include "core/clock.h"

#include <map>
#include <memory>
#include <string>

namespace zgm {

namespace {

constexpr int kFollowIntervalMs = 1000;
constexpr int kInternalTimeoutMs = 3000;
constexpr uint64_t kFollowNow = UINT64_MAX;

enum class Purpose {
    kCaller,  //  the API's request: the reply goes back on the pipe
    kRefresh, //  FOLLOW keep-alive
    kCatchUp, //  FETCH of what the pushes missed
    kResolve, //  LIST after a group server stopped answering
};

struct Pending {
    Purpose purpose;
    std::string group;
    uint8_t request;        //  the request's message id
    uint64_t after_seq = 0; //  FOLLOW's after_seq
    int64_t deadline_ms = 0;
};

struct Followed {
    uint64_t last_seq = 0; //  delivered on the events pipe
    uint64_t seen_seq = 0; //  the highest seq heard of
    bool catching_up = false;
    bool refreshing = false;
    int64_t next_refresh_ms = 0;
    int silent_refreshes = 0; //  FOLLOWs in a row that timed out
};

class User {
public:
    User(zsock_t* pipe, UserArgs* args) : pipe_(pipe), id_(args->id), events_(args->events) {}
    ~User() {
        zsock_destroy(&registry_);
        for (auto& server : servers_)
            zsock_destroy(&server.second);
        zsock_destroy(&events_);
    }
    void run();

private:
    bool handle_pipe();
    void on_request(const std::string& group, int timeout_ms, proto::Message* request);
    void handle_socket(zsock_t* socket);
    void on_reply(const Pending& pending, proto::Message* reply);
    void on_deliver(proto::Message& deliver);
    void tick();

    zsock_t* connect_server(const std::string& endpoint);
    zsock_t* socket_for(const std::string& group);
    bool send(zsock_t* socket, proto::Message& message, Purpose purpose, const std::string& group,
              int timeout_ms);
    void reply_pipe(const char* status, proto::Message* reply);

    void follow(const std::string& group, uint64_t after_seq, uint64_t last_seq);
    void refresh(const std::string& group, Followed& followed);
    void catch_up(const std::string& group, Followed& followed);
    //  Hands one message to the caller if it is the next one; false if it is not, or the
    //  caller's pipe is full.
    bool emit(const std::string& group, Followed& followed,
              std::vector<proto::MessageRecord>& records, bool truncated);
    void resolve();

    zsock_t* pipe_;
    Uuid id_;
    zsock_t* events_;
    zsock_t* registry_ = nullptr;
    std::map<std::string, zsock_t*> servers_;   //  by endpoint
    std::map<std::string, std::string> routes_; //  group -> endpoint
    std::map<std::string, Followed> followed_;
    std::map<uint32_t, Pending> pending_;
    uint32_t next_request_id_ = 1;
    bool resolving_ = false;
    bool terminated_ = false;
};

void User::run() {
    zsock_signal(pipe_, 0);
    while (!terminated_) {
        std::vector<zmq_pollitem_t> items;
        std::vector<zsock_t*> sockets;
        items.push_back({zsock_resolve(pipe_), 0, ZMQ_POLLIN, 0});
        sockets.push_back(pipe_);
        if (registry_) {
            items.push_back({zsock_resolve(registry_), 0, ZMQ_POLLIN, 0});
            sockets.push_back(registry_);
        }
        for (auto& server : servers_) {
            items.push_back({zsock_resolve(server.second), 0, ZMQ_POLLIN, 0});
            sockets.push_back(server.second);
        }
        long timeout = pending_.empty() && followed_.empty() ? -1 : 100;
        if (zmq_poll(items.data(), (int)items.size(), timeout) < 0 && errno != EINTR) break;
        if ((items[0].revents & ZMQ_POLLIN) && !handle_pipe()) break;
        for (size_t i = 1; i < items.size(); i++)
            if (items[i].revents & ZMQ_POLLIN) handle_socket(sockets[i]);
        tick();
    }
}

bool User::handle_pipe() {
    char* command = nullptr;
    char* group = nullptr;
    char* argument = nullptr;
    void* pointer = nullptr;
    zmsg_t* msg = zmsg_recv(pipe_);
    if (!msg) return false;
    command = zmsg_popstr(msg);
    bool alive = true;
    if (!command || streq(command, "$TERM")) {
        alive = false;
    } else if (streq(command, "CONNECT")) {
        argument = zmsg_popstr(msg);
        zsock_destroy(&registry_);
        registry_ = argument ? new_client_socket(argument, false) : nullptr;
        zsock_send(pipe_, "i", registry_ ? 0 : -1);
    } else if (streq(command, "ROUTE")) {
        group = zmsg_popstr(msg);
        argument = zmsg_popstr(msg);
        bool ok = group && argument && connect_server(argument);
        if (ok) routes_[group] = argument;
        zsock_send(pipe_, "i", ok ? 0 : -1);
    } else if (streq(command, "WHERE")) {
        group = zmsg_popstr(msg);
        auto route = group ? routes_.find(group) : routes_.end();
        zsock_send(pipe_, "s", route != routes_.end() ? route->second.c_str() : "");
    } else if (streq(command, "LAST")) {
        group = zmsg_popstr(msg);
        auto found = group ? followed_.find(group) : followed_.end();
        zsock_send(pipe_, "8", found != followed_.end() ? found->second.last_seq : 0);
    } else if (streq(command, "REQUEST")) {
        group = zmsg_popstr(msg);
        argument = zmsg_popstr(msg);
        zframe_t* frame = zmsg_pop(msg);
        if (frame && zframe_size(frame) == sizeof(void*))
            memcpy(&pointer, zframe_data(frame), sizeof(void*));
        zframe_destroy(&frame);
        on_request(group ? group : "", argument ? atoi(argument) : 0, (proto::Message*)pointer);
    }
    zstr_free(&command);
    zstr_free(&group);
    zstr_free(&argument);
    zmsg_destroy(&msg);
    return alive;
}

void User::on_request(const std::string& group, int timeout_ms, proto::Message* request) {
    std::unique_ptr<proto::Message> owned(request);
    if (!request) return reply_pipe("NOROUTE", nullptr);
    zsock_t* socket = group.empty() ? registry_ : socket_for(group);
    if (!socket) return reply_pipe("NOROUTE", nullptr);
    if (!send(socket, *request, Purpose::kCaller, group, timeout_ms))
        return reply_pipe("TIMEOUT", nullptr);
}

zsock_t* User::connect_server(const std::string& endpoint) {
    auto found = servers_.find(endpoint);
    if (found != servers_.end()) return found->second;
    zsock_t* socket = new_client_socket(endpoint.c_str(), false);
    if (socket) servers_[endpoint] = socket;
    return socket;
}

zsock_t* User::socket_for(const std::string& group) {
    auto route = routes_.find(group);
    if (route == routes_.end()) return nullptr;
    auto server = servers_.find(route->second);
    return server != servers_.end() ? server->second : nullptr;
}

bool User::send(zsock_t* socket, proto::Message& message, Purpose purpose, const std::string& group,
                int timeout_ms) {
    message.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (proto::send(zsock_resolve(socket), "", message, ZMQ_DONTWAIT) != 0) return false;
    Pending& pending = pending_[message.request_id];
    pending.purpose = purpose;
    pending.group = group;
    pending.request = message.id;
    pending.after_seq = message.after_seq;
    pending.deadline_ms = mono_ms() + timeout_ms;
    return true;
}

void User::reply_pipe(const char* status, proto::Message* reply) {
    zsock_send(pipe_, "sp", status, (void*)reply);
}

void User::handle_socket(zsock_t* socket) {
    for (int i = 0; i < 1000; i++) {
        std::unique_ptr<proto::Message> message(new proto::Message());
        proto::DecodeError rc =
            proto::recv(zsock_resolve(socket), false, nullptr, message.get(), ZMQ_DONTWAIT);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return;
        if (rc != proto::DecodeError::kOk) {
            //  A malformed reply: fail the request it answers, if it says which.
            auto found = pending_.find(message->request_id);
            if (found != pending_.end() && found->second.purpose == Purpose::kCaller) {
                message->id = proto::kError;
                message->status = proto::kBadRequest;
                message->reason = std::string("malformed reply: ") + proto::decode_error_text(rc);
                pending_.erase(found);
                reply_pipe("REPLY", message.release());
            }
            continue;
        }
        if (message->id == proto::kDeliver) {
            on_deliver(*message);
            continue;
        }
        auto found = pending_.find(message->request_id);
        if (found == pending_.end()) continue; //  late reply to a request that timed out
        Pending pending = found->second;
        pending_.erase(found);
        on_reply(pending, message.release());
    }
}

void User::on_reply(const Pending& pending, proto::Message* reply) {
    std::unique_ptr<proto::Message> owned(reply);
    auto followed = followed_.find(pending.group);
    if (pending.request == proto::kFollow && reply->id == proto::kFollowing) {
        if (pending.purpose == Purpose::kCaller)
            follow(pending.group, pending.after_seq, reply->last_seq);
        else if (followed != followed_.end()) {
            followed->second.refreshing = false;
            followed->second.silent_refreshes = 0;
            if (reply->last_seq > followed->second.seen_seq)
                followed->second.seen_seq = reply->last_seq;
            catch_up(pending.group, followed->second);
        }
    } else if (pending.request == proto::kFollow && pending.purpose == Purpose::kRefresh &&
               followed != followed_.end()) {
        followed->second.refreshing = false;
        if (reply->id == proto::kError && reply->status == proto::kNotMember)
            followed_.erase(followed); //  left elsewhere: nothing more to follow
    } else if (pending.request == proto::kLeave && reply->id == proto::kOk) {
        followed_.erase(pending.group);
    } else if (pending.purpose == Purpose::kCatchUp && followed != followed_.end()) {
        Followed& state = followed->second;
        state.catching_up = false;
        if (reply->id == proto::kMessages) {
            if (reply->last_seq > state.seen_seq) state.seen_seq = reply->last_seq;
            //  Stalled (the caller is not reading): the next tick tries again.
            if (emit(pending.group, state, reply->messages, reply->truncated))
                catch_up(pending.group, state);
        }
    } else if (pending.purpose == Purpose::kResolve) {
        resolving_ = false;
        if (reply->id == proto::kGroups)
            for (const proto::GroupRecord& group : reply->groups) {
                auto route = routes_.find(group.name);
                if (route != routes_.end() && route->second != group.endpoint &&
                    connect_server(group.endpoint))
                    route->second = group.endpoint;
            }
    }
    if (pending.purpose == Purpose::kCaller) reply_pipe("REPLY", owned.release());
}

void User::follow(const std::string& group, uint64_t after_seq, uint64_t last_seq) {
    Followed& followed = followed_[group];
    followed.last_seq = after_seq == kFollowNow ? last_seq : after_seq;
    followed.seen_seq = last_seq;
    followed.catching_up = false;
    followed.refreshing = false;
    followed.next_refresh_ms = mono_ms() + kFollowIntervalMs;
    catch_up(group, followed);
}

void User::on_deliver(proto::Message& deliver) {
    auto found = followed_.find(deliver.group);
    if (found == followed_.end()) return;
    Followed& followed = found->second;
    for (const proto::MessageRecord& record : deliver.messages)
        if (record.seq > followed.seen_seq) followed.seen_seq = record.seq;
    //  While a catch-up fetch is on its way, it brings these too.
    if (!followed.catching_up) emit(deliver.group, followed, deliver.messages, false);
    catch_up(deliver.group, followed);
}

//  Hands the caller, as one DELIVER frame, the records that come next (seq last_seq + 1,
//  + 2, ...); with `truncated`, a jump over messages trimmed by retention is allowed. The
//  records are moved out. False if it stopped short: at a gap, or because the caller's pipe
//  is full (then nothing was handed over, and a later fetch brings them again).
bool User::emit(const std::string& group, Followed& followed,
                std::vector<proto::MessageRecord>& records, bool truncated) {
    proto::Message batch;
    batch.id = proto::kDeliver;
    batch.group = group;
    uint64_t last = followed.last_seq;
    bool complete = true;
    for (proto::MessageRecord& record : records) {
        if (truncated && record.seq > last + 1) last = record.seq - 1;
        if (record.seq <= last) continue;
        if (record.seq != last + 1) {
            complete = false;
            break;
        }
        last = record.seq;
        batch.messages.push_back(std::move(record));
    }
    if (batch.messages.empty()) return complete;
    if (proto::send(zsock_resolve(events_), "", batch, ZMQ_DONTWAIT) != 0) return false;
    followed.last_seq = last;
    return complete;
}

//  Fetches what has not been delivered yet, unless a fetch is already on its way.
void User::catch_up(const std::string& group, Followed& followed) {
    if (followed.catching_up || followed.seen_seq <= followed.last_seq) return;
    zsock_t* socket = socket_for(group);
    if (!socket) return;
    proto::Message fetch;
    fetch.id = proto::kFetch;
    fetch.user = id_;
    fetch.group = group;
    fetch.after_seq = followed.last_seq;
    followed.catching_up = send(socket, fetch, Purpose::kCatchUp, group, kInternalTimeoutMs);
}

void User::refresh(const std::string& group, Followed& followed) {
    zsock_t* socket = socket_for(group);
    if (!socket || followed.refreshing) return;
    proto::Message message;
    message.id = proto::kFollow;
    message.user = id_;
    message.group = group;
    message.after_seq = followed.last_seq;
    followed.refreshing = send(socket, message, Purpose::kRefresh, group, kInternalTimeoutMs);
}

void User::resolve() {
    if (resolving_ || !registry_) return;
    proto::Message list;
    list.id = proto::kList;
    list.user = id_;
    resolving_ = send(registry_, list, Purpose::kResolve, "", kInternalTimeoutMs);
}

void User::tick() {
    int64_t now = mono_ms();
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (now < it->second.deadline_ms) {
            ++it;
            continue;
        }
        Pending pending = it->second;
        it = pending_.erase(it);
        auto followed = followed_.find(pending.group);
        switch (pending.purpose) {
        case Purpose::kCaller:
            reply_pipe("TIMEOUT", nullptr);
            break;
        case Purpose::kRefresh:
            if (followed != followed_.end()) {
                followed->second.refreshing = false;
                //  The group server is silent: it may have moved; ask the registry.
                if (++followed->second.silent_refreshes >= 2) resolve();
            }
            break;
        case Purpose::kCatchUp:
            if (followed != followed_.end()) followed->second.catching_up = false;
            break;
        case Purpose::kResolve:
            resolving_ = false;
            break;
        }
    }
    for (auto& entry : followed_)
        if (now >= entry.second.next_refresh_ms) {
            entry.second.next_refresh_ms = now + kFollowIntervalMs;
            refresh(entry.first, entry.second);
            catch_up(entry.first, entry.second);
        }
}

} // namespace

void user_actor(zsock_t* pipe, void* args) {
    User user(pipe, (UserArgs*)args);
    user.run();
}

} // namespace zgm
