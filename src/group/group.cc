/*  =========================================================================
    group.cc - the group server actor

    One event loop over the command pipe, the users' ROUTER and the registry DEALER. Each
    pass takes every request waiting on the ROUTER (bounded); the SENDs among them are
    appended to the store in one transaction (group commit), answered SENT once it has
    committed, and pushed to the groups' followers as one DELIVER per group, encoded once.
    A follower that cannot take a push loses the push, never the message: it catches up
    with FETCH from its last sequence number.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "group/group.h"

#include "zgm.h"
#include "core/actor.h"
#include "core/clock.h"
#include "core/names.h"
#include "proto/proto.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <map>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace zgm {

namespace {

constexpr int kConnectTimeoutMs = 5000;
constexpr int kRegisterRetryMs = 250;
constexpr int kMaxRequestsPerPass = 1000;

struct Follower {
    Uuid user;
};

struct Group {
    std::string name;
    Uuid id;
    uint64_t last_seq = 0;
    std::unordered_map<Uuid, std::string, UuidHash> members; //  id -> display name
    std::map<std::string, Follower> followers;               //  by routing id
    bool registered = false;                                 //  the registry accepted it
    std::string refused; //  why the registry refused it, if it did
};

//  A SEND waiting for the pass's commit.
struct PendingSend {
    std::string from;
    uint32_t request_id;
};

//  What a request to the registry was, to match its reply.
struct RegistryRequest {
    uint8_t id;
    std::string group;
};

class GroupServer {
public:
    GroupServer(zsock_t* pipe, const char* data_dir)
        : pipe_(pipe), data_dir_(data_dir ? data_dir : ""), users_(new_server_socket()) {
        //  A frame far over the protocol's limit is cut off by libzmq before it is buffered.
        if (users_) zsock_set_maxmsgsize(users_, (int)proto::kMaxFrame + 4096);
        server_id_ = Uuid::random();
        open_store(Durability::kFull);
    }
    ~GroupServer() {
        zsock_destroy(&registry_);
        zsock_destroy(&users_);
    }

    void run();

private:
    //  Commands
    bool handle_pipe();
    void open_store(Durability durability);
    int add_group(const std::string& name, std::string* reason);
    void reply_status(int code, const std::string& reason);
    void connect_registry(const char* endpoint);
    void finish_connect(bool timed_out);
    void deregister();

    //  Users
    void handle_users();
    void handle_request(const std::string& from, proto::Message& request,
                        std::vector<AppendRequest>* batch, std::vector<PendingSend>* sends);
    Group* member_group(const std::string& from, const proto::Message& request);
    void on_join(const std::string& from, const proto::Message& request);
    void on_leave(const std::string& from, const proto::Message& request);
    void on_fetch(const std::string& from, const proto::Message& request);
    void on_members(const std::string& from, const proto::Message& request);
    void on_follow(const std::string& from, const proto::Message& request);
    void commit(std::vector<AppendRequest>& batch, std::vector<PendingSend>& sends);
    void deliver(Group& group, const std::vector<proto::MessageRecord>& records);
    void push(Group& group, zmq_msg_t* frame);

    //  Registry
    void handle_registry();
    void on_host(const proto::Message& request);
    void send_register(Group& group);
    void send_heartbeat();
    void registry_tick();
    std::string advertised();

    void reply(const std::string& to, proto::Message& message, uint32_t request_id);
    void error(const std::string& to, uint32_t request_id, uint16_t status, const std::string& why);
    void to_registry(proto::Message& message, const std::string& group = "");

    zsock_t* pipe_;
    std::string data_dir_;
    zsock_t* users_;
    zsock_t* registry_ = nullptr;
    std::unique_ptr<Store> store_;
    Status store_status_;
    Uuid server_id_;
    std::map<std::string, Group> groups_;

    std::string bound_;
    std::string advertise_;
    std::string registry_endpoint_;
    bool accept_new_ = false;
    int heartbeat_ms_ = 1000;
    int64_t next_heartbeat_ms_ = 0;
    int64_t next_register_ms_ = 0;
    uint32_t next_request_id_ = 1;
    std::map<uint32_t, RegistryRequest> registry_requests_;
    bool connect_pending_ = false;
    bool known_ = false; //  the registry acknowledged a REGISTER or HEARTBEAT of ours
    int64_t connect_deadline_ms_ = 0;
    bool terminated_ = false;

    uint64_t malformed_ = 0;
    uint64_t dropped_pushes_ = 0;
};

void GroupServer::open_store(Durability durability) {
    store_.reset();
    if (data_dir_.empty()) {
        store_ = open_memory_store();
        store_status_ = Status::ok();
    } else {
        store_status_ = open_sqlite_store(data_dir_, durability, &store_);
    }
    groups_.clear();
    if (!store_status_.is_ok()) return;
    //  Groups and members already in the store are served again.
    std::vector<GroupInfo> infos;
    store_status_ = store_->list_groups(&infos);
    for (const GroupInfo& info : infos) {
        Group& group = groups_[info.name];
        group.name = info.name;
        group.id = info.id;
        group.last_seq = info.last_seq;
        std::vector<Member> members;
        if (store_->members(info.name, &members).is_ok())
            for (const Member& member : members)
                group.members[member.id] = member.name;
    }
}

void GroupServer::run() {
    zsock_signal(pipe_, 0);
    if (!users_) return;
    while (!terminated_) {
        zmq_pollitem_t items[3] = {
            {zsock_resolve(pipe_), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(users_), 0, ZMQ_POLLIN, 0},
            {registry_ ? zsock_resolve(registry_) : nullptr, 0, ZMQ_POLLIN, 0},
        };
        long timeout = -1;
        if (registry_) {
            int64_t next = next_heartbeat_ms_;
            if (next_register_ms_ && next_register_ms_ < next) next = next_register_ms_;
            if (connect_pending_ && connect_deadline_ms_ < next) next = connect_deadline_ms_;
            timeout = next > mono_ms() ? (long)(next - mono_ms()) : 0;
        }
        int rc = zmq_poll(items, registry_ ? 3 : 2, timeout);
        if (rc < 0 && errno != EINTR) break;
        if (items[0].revents & ZMQ_POLLIN && !handle_pipe()) break;
        if (items[1].revents & ZMQ_POLLIN) handle_users();
        if (registry_ && (items[2].revents & ZMQ_POLLIN)) handle_registry();
        if (registry_) registry_tick();
    }
    deregister();
}

//  ---------------------------------------------------------------------------------------
//  Commands from the pipe

bool GroupServer::handle_pipe() {
    zmsg_t* msg = zmsg_recv(pipe_);
    if (!msg) return false;
    char* command = zmsg_popstr(msg);
    char* argument = zmsg_popstr(msg);
    std::string arg = argument ? argument : "";
    bool alive = true;
    if (!command || streq(command, "$TERM")) {
        alive = false;
    } else if (streq(command, "STATUS")) {
        reply_status(store_status_.is_ok() ? 0 : ZGM_ESTORAGE, store_status_.message());
    } else if (streq(command, "DURABILITY")) {
        if (arg != "full" && arg != "normal")
            reply_status(ZGM_EINVAL, "durability is 'full' or 'normal'");
        else {
            open_store(arg == "full" ? Durability::kFull : Durability::kNormal);
            reply_status(store_status_.is_ok() ? 0 : ZGM_ESTORAGE, store_status_.message());
        }
    } else if (streq(command, "ADD")) {
        std::string reason;
        int code = add_group(arg, &reason);
        reply_status(code, reason);
    } else if (streq(command, "BIND")) {
        int port = zsock_bind(users_, "%s", arg.c_str());
        int error = port < 0 ? zmq_errno() : 0;
        if (port >= 0) {
            char* last = zsock_last_endpoint(users_);
            bound_ = last ? last : arg;
            zstr_free(&last);
            ZGM_LOG("group server: listening on %s", bound_.c_str());
        }
        zsock_send(pipe_, "ii", port, error);
    } else if (streq(command, "ADVERTISE")) {
        advertise_ = arg;
    } else if (streq(command, "ACCEPT_NEW")) {
        accept_new_ = arg == "1";
    } else if (streq(command, "HEARTBEAT")) {
        if (atoi(arg.c_str()) > 0) heartbeat_ms_ = atoi(arg.c_str());
    } else if (streq(command, "CONNECT")) {
        connect_registry(arg.c_str());
    }
    zstr_free(&command);
    zstr_free(&argument);
    zmsg_destroy(&msg);
    return alive;
}

void GroupServer::reply_status(int code, const std::string& reason) {
    zsock_send(pipe_, "is", code, reason.c_str());
}

int GroupServer::add_group(const std::string& name, std::string* reason) {
    if (!store_status_.is_ok()) {
        *reason = store_status_.message();
        return ZGM_ESTORAGE;
    }
    if (!valid_name(name)) {
        *reason = invalid_name_reason();
        return ZGM_EINVAL;
    }
    if (groups_.count(name)) return 0;
    Uuid id = Uuid::random();
    Status status = store_->create_group(name, id);
    if (!status.is_ok()) {
        *reason = status.message();
        return ZGM_ESTORAGE;
    }
    Group& group = groups_[name];
    group.name = name;
    group.id = id;
    ZGM_LOG("group server: hosting '%s'", name.c_str());
    if (registry_) send_register(group);
    return 0;
}

void GroupServer::connect_registry(const char* endpoint) {
    if (bound_.empty() && advertise_.empty())
        return reply_status(ZGM_EINVAL, "bind the group server before connecting");
    zsock_destroy(&registry_);
    registry_endpoint_ = endpoint;
    registry_ = new_client_socket(endpoint, true);
    if (!registry_) return reply_status(ZGM_EINVAL, std::string("cannot connect to ") + endpoint);
    for (auto& entry : groups_) {
        entry.second.registered = false;
        entry.second.refused.clear();
    }
    connect_pending_ = true;
    known_ = false;
    connect_deadline_ms_ = mono_ms() + kConnectTimeoutMs;
    next_register_ms_ = mono_ms();
    next_heartbeat_ms_ = mono_ms();
    registry_tick();
}

//  Answers a pending CONNECT once every group is registered or refused, or at the deadline.
void GroupServer::finish_connect(bool timed_out) {
    if (!connect_pending_) return;
    if (!known_ && !timed_out) return;
    std::string refused;
    for (const auto& entry : groups_) {
        if (!entry.second.refused.empty())
            refused = entry.second.refused;
        else if (!entry.second.registered && !timed_out)
            return;
    }
    connect_pending_ = false;
    if (!refused.empty())
        reply_status(ZGM_EEXISTS, refused);
    else if (timed_out)
        reply_status(ZGM_ETIMEOUT,
                     "the registry at " + registry_endpoint_ + " did not answer; still trying");
    else
        reply_status(0, "");
}

void GroupServer::deregister() {
    if (!registry_) return;
    proto::Message message;
    message.id = proto::kDeregister;
    message.server = server_id_;
    to_registry(message);
    //  Wait briefly for the OK so the DEREGISTER is not lost with the socket.
    int timeout = 500; //  zmq_setsockopt, not zsock_set_*, which asserts after zsys_shutdown
    zmq_setsockopt(zsock_resolve(registry_), ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    proto::Message reply_msg;
    int64_t deadline = mono_ms() + 500;
    while (mono_ms() < deadline) {
        if (proto::recv(zsock_resolve(registry_), false, nullptr, &reply_msg) ==
                proto::DecodeError::kNoFrame &&
            errno == EAGAIN)
            break;
        if (reply_msg.request_id == message.request_id) break;
    }
}

//  ---------------------------------------------------------------------------------------
//  Users

void GroupServer::handle_users() {
    std::vector<AppendRequest> batch;
    std::vector<PendingSend> sends;
    for (int i = 0; i < kMaxRequestsPerPass; i++) {
        std::string from;
        proto::Message request;
        proto::DecodeError rc =
            proto::recv(zsock_resolve(users_), true, &from, &request, ZMQ_DONTWAIT);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) break;
        if (rc != proto::DecodeError::kOk) {
            malformed_++;
            ZGM_WARN("group server: malformed request (%s), %llu so far",
                     proto::decode_error_text(rc), (unsigned long long)malformed_);
            if (!from.empty())
                error(from, request.request_id, proto::error_status(rc),
                      proto::decode_error_text(rc));
            continue;
        }
        handle_request(from, request, &batch, &sends);
    }
    if (!batch.empty()) commit(batch, sends);
}

void GroupServer::handle_request(const std::string& from, proto::Message& request,
                                 std::vector<AppendRequest>* batch,
                                 std::vector<PendingSend>* sends) {
    switch (request.id) {
    case proto::kJoin:
        return on_join(from, request);
    case proto::kLeave:
        return on_leave(from, request);
    case proto::kFetch:
        return on_fetch(from, request);
    case proto::kMembers:
        return on_members(from, request);
    case proto::kFollow:
        return on_follow(from, request);
    case proto::kSend: {
        ZGM_LOG("MESSAGE SEND FROM %s", request.user.str().c_str());
        Group* group = member_group(from, request);
        if (!group) return;
        AppendRequest append;
        append.group = request.group;
        append.sender = request.user;
        append.sender_name = group->members[request.user]; //  the name it joined with
        append.msg_id = request.msg_id;
        append.body.swap(request.body);
        batch->push_back(std::move(append));
        sends->push_back({from, request.request_id});
        return;
    }
    default:
        error(from, request.request_id, proto::kBadRequest,
              std::string("a group server does not take ") + proto::message_name(request.id));
    }
}

//  The request's group if the user is a member; otherwise answers the error and is null.
Group* GroupServer::member_group(const std::string& from, const proto::Message& request) {
    auto found = groups_.find(request.group);
    if (found == groups_.end()) {
        error(from, request.request_id, proto::kNotFound, "no group '" + request.group + "' here");
        return nullptr;
    }
    if (!found->second.members.count(request.user)) {
        error(from, request.request_id, proto::kNotMember,
              "not a member of '" + request.group + "'");
        return nullptr;
    }
    return &found->second;
}

void GroupServer::on_join(const std::string& from, const proto::Message& request) {
    ZGM_LOG("JOIN REQUEST FROM %s", request.user.str().c_str());
    auto found = groups_.find(request.group);
    if (found == groups_.end())
        return error(from, request.request_id, proto::kNotFound,
                     "no group '" + request.group + "' here");
    Group& group = found->second;
    if (group.members.count(request.user))
        return error(from, request.request_id, proto::kConflict,
                     "already a member of '" + request.group + "'");
    Member member;
    member.id = request.user;
    member.name = request.name;
    member.joined_us = now_us();
    Status status = store_->add_member(group.name, member);
    if (!status.is_ok() && status.code() != Status::kExists)
        return error(from, request.request_id, proto::kStorage, status.message());
    group.members[request.user] = request.name;
    if (registry_ && group.registered) send_register(group);
    proto::Message joined;
    joined.id = proto::kJoined;
    joined.group_id = group.id;
    joined.last_seq = group.last_seq;
    reply(from, joined, request.request_id);
}

void GroupServer::on_leave(const std::string& from, const proto::Message& request) {
    ZGM_LOG("LEAVE REQUEST FROM %s", request.user.str().c_str());
    Group* group = member_group(from, request);
    if (!group) return;
    Status status = store_->remove_member(group->name, request.user);
    if (!status.is_ok() && status.code() != Status::kNotFound)
        return error(from, request.request_id, proto::kStorage, status.message());
    group->members.erase(request.user);
    for (auto it = group->followers.begin(); it != group->followers.end();)
        it = it->second.user == request.user ? group->followers.erase(it) : std::next(it);
    if (registry_ && group->registered) send_register(*group);
    proto::Message ok;
    ok.id = proto::kOk;
    reply(from, ok, request.request_id);
}

void GroupServer::on_fetch(const std::string& from, const proto::Message& request) {
    ZGM_LOG("MESSAGE REQUEST FROM %s", request.user.str().c_str());
    Group* group = member_group(from, request);
    if (!group) return;
    FetchQuery query;
    query.group = group->name;
    query.since_us = request.since_us;
    query.after_seq = request.after_seq;
    query.limit =
        request.limit && request.limit < proto::kMaxList ? request.limit : proto::kMaxList;
    query.max_bytes = proto::kBatchBytes;
    FetchResult result;
    Status status = store_->fetch(query, &result);
    if (!status.is_ok()) return error(from, request.request_id, proto::kStorage, status.message());
    proto::Message messages;
    messages.id = proto::kMessages;
    messages.group = group->name;
    messages.first_seq = result.first_seq;
    messages.last_seq = result.last_seq;
    messages.more = result.more ? 1 : 0;
    messages.truncated = result.truncated ? 1 : 0;
    messages.messages.resize(result.messages.size());
    for (size_t i = 0; i < result.messages.size(); i++) {
        StoredMessage& stored = result.messages[i];
        proto::MessageRecord& record = messages.messages[i];
        record.seq = stored.seq;
        record.ts_us = stored.ts_us;
        record.sender = stored.sender;
        record.sender_name.swap(stored.sender_name);
        record.body.swap(stored.body);
    }
    reply(from, messages, request.request_id);
}

void GroupServer::on_members(const std::string& from, const proto::Message& request) {
    Group* group = member_group(from, request);
    if (!group) return;
    std::vector<Member> members;
    Status status = store_->members(group->name, &members);
    if (!status.is_ok()) return error(from, request.request_id, proto::kStorage, status.message());
    proto::Message list;
    list.id = proto::kMemberList;
    for (const Member& member : members) {
        if (list.members.size() == proto::kMaxList) break;
        list.members.push_back({member.id, member.name});
    }
    reply(from, list, request.request_id);
}

void GroupServer::on_follow(const std::string& from, const proto::Message& request) {
    Group* group = member_group(from, request);
    if (!group) return;
    group->followers[from].user = request.user;
    proto::Message following;
    following.id = proto::kFollowing;
    following.group = group->name;
    following.last_seq = group->last_seq;
    reply(from, following, request.request_id);
}

void GroupServer::commit(std::vector<AppendRequest>& batch, std::vector<PendingSend>& sends) {
    std::vector<AppendResult> results;
    Status status = store_->append(batch, now_us(), &results);
    if (!status.is_ok() || results.size() != batch.size()) {
        ZGM_ERROR("group server: store failed, %zu messages refused: %s", batch.size(),
                  status.message().c_str());
        for (const PendingSend& send : sends)
            error(send.from, send.request_id, proto::kStorage, "not stored: " + status.message());
        return;
    }
    std::map<std::string, std::vector<proto::MessageRecord>> fresh;
    for (size_t i = 0; i < batch.size(); i++) {
        const AppendResult& result = results[i];
        if (!result.status.is_ok()) {
            error(sends[i].from, sends[i].request_id, proto::kStorage, result.status.message());
            continue;
        }
        proto::Message sent;
        sent.id = proto::kSent;
        sent.seq = result.seq;
        sent.ts_us = result.ts_us;
        reply(sends[i].from, sent, sends[i].request_id);
        if (result.duplicate) continue;
        proto::MessageRecord record;
        record.seq = result.seq;
        record.ts_us = result.ts_us;
        record.sender = batch[i].sender;
        record.sender_name = batch[i].sender_name;
        record.body.swap(batch[i].body);
        fresh[batch[i].group].push_back(std::move(record));
    }
    for (auto& entry : fresh) {
        Group& group = groups_[entry.first];
        group.last_seq = entry.second.back().seq;
        deliver(group, entry.second);
    }
}

//  Pushes new messages to the group's followers: one DELIVER per kBatchBytes, encoded once
//  and shared (zmq_msg_copy) by every follower.
void GroupServer::deliver(Group& group, const std::vector<proto::MessageRecord>& records) {
    if (group.followers.empty()) return;
    proto::Message deliver;
    deliver.id = proto::kDeliver;
    deliver.group = group.name;
    size_t bytes = 0;
    for (size_t i = 0; i < records.size(); i++) {
        deliver.messages.push_back(records[i]);
        bytes += records[i].body.size();
        if (bytes < proto::kBatchBytes && deliver.messages.size() < proto::kMaxList &&
            i + 1 < records.size())
            continue;
        size_t size = proto::encoded_size(deliver);
        zmq_msg_t frame;
        if (size && zmq_msg_init_size(&frame, size) == 0) {
            proto::encode_into(deliver, (uint8_t*)zmq_msg_data(&frame), size);
            push(group, &frame);
            zmq_msg_close(&frame);
        }
        deliver.messages.clear();
        bytes = 0;
    }
}

void GroupServer::push(Group& group, zmq_msg_t* frame) {
    void* socket = zsock_resolve(users_);
    for (auto it = group.followers.begin(); it != group.followers.end();) {
        const std::string& to = it->first;
        if (zmq_send(socket, to.data(), to.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            if (errno == EHOSTUNREACH) { //  gone: it follows again when it comes back
                it = group.followers.erase(it);
                continue;
            }
            dropped_pushes_++; //  full: it catches up with FETCH
            ++it;
            continue;
        }
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, frame);
        if (zmq_msg_send(&copy, socket, ZMQ_DONTWAIT) < 0) zmq_msg_close(&copy);
        ++it;
    }
}

//  ---------------------------------------------------------------------------------------
//  Registry

void GroupServer::handle_registry() {
    for (int i = 0; i < kMaxRequestsPerPass; i++) {
        proto::Message message;
        proto::DecodeError rc =
            proto::recv(zsock_resolve(registry_), false, nullptr, &message, ZMQ_DONTWAIT);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return;
        if (rc != proto::DecodeError::kOk) {
            malformed_++;
            continue;
        }
        if (message.id == proto::kHost) {
            on_host(message);
            continue;
        }
        auto found = registry_requests_.find(message.request_id);
        if (found == registry_requests_.end()) continue;
        RegistryRequest request = found->second;
        registry_requests_.erase(found);
        if (request.id == proto::kRegister) {
            auto group = groups_.find(request.group);
            if (group == groups_.end()) continue;
            if (message.id == proto::kOk) {
                known_ = true;
                if (!group->second.registered)
                    ZGM_LOG("group server: '%s' registered", request.group.c_str());
                group->second.registered = true;
                group->second.refused.clear();
            } else if (message.id == proto::kError && message.status == proto::kConflict) {
                if (group->second.refused.empty())
                    ZGM_ERROR("group server: registry refused '%s': %s", request.group.c_str(),
                              message.reason.c_str());
                group->second.refused = message.reason;
            }
            finish_connect(false);
        } else if (request.id == proto::kHeartbeat && message.id == proto::kOk) {
            known_ = true;
            finish_connect(false);
        } else if (request.id == proto::kHeartbeat && message.id == proto::kError) {
            //  The registry does not know us (it restarted, or expired us): register again.
            ZGM_LOG("group server: registry lost our groups, registering again");
            for (auto& entry : groups_)
                entry.second.registered = false;
            next_register_ms_ = mono_ms();
        }
    }
}

void GroupServer::on_host(const proto::Message& request) {
    proto::Message answer;
    std::string reason;
    int code = groups_.count(request.group) ? ZGM_EEXISTS : add_group(request.group, &reason);
    if (code == 0) {
        answer.id = proto::kOk; //  after the REGISTER that add_group sent
    } else {
        answer.id = proto::kError;
        answer.status = code == ZGM_EEXISTS  ? proto::kConflict
                        : code == ZGM_EINVAL ? proto::kInvalid
                                             : proto::kStorage;
        answer.reason = code == ZGM_EEXISTS ? "group '" + request.group + "' exists" : reason;
    }
    answer.request_id = request.request_id;
    proto::send(zsock_resolve(registry_), "", answer, ZMQ_DONTWAIT);
}

void GroupServer::send_register(Group& group) {
    proto::Message message;
    message.id = proto::kRegister;
    message.server = server_id_;
    message.endpoint = advertised();
    message.accept_new = accept_new_ ? 1 : 0;
    message.group_id = group.id;
    message.group = group.name;
    message.count = (uint32_t)group.members.size();
    to_registry(message, group.name);
}

void GroupServer::send_heartbeat() {
    proto::Message message;
    message.id = proto::kHeartbeat;
    message.server = server_id_;
    message.endpoint = advertised();
    message.accept_new = accept_new_ ? 1 : 0;
    for (const auto& entry : groups_)
        message.count += entry.second.registered ? 1 : 0;
    to_registry(message);
}

//  Timers: registering what is not yet registered, heartbeats, the CONNECT deadline.
void GroupServer::registry_tick() {
    int64_t now = mono_ms();
    if (next_register_ms_ && now >= next_register_ms_) {
        bool pending = false;
        for (auto& entry : groups_)
            if (!entry.second.registered && entry.second.refused.empty()) {
                send_register(entry.second);
                pending = true;
            }
        next_register_ms_ = pending ? now + kRegisterRetryMs : 0;
    }
    if (now >= next_heartbeat_ms_) {
        //  Refused groups try again now and then: the other server may be gone.
        for (auto& entry : groups_)
            if (!entry.second.refused.empty()) send_register(entry.second);
        send_heartbeat();
        next_heartbeat_ms_ = now + heartbeat_ms_;
        //  Forget requests the registry never answered (it was down).
        if (registry_requests_.size() > 10000) registry_requests_.clear();
    }
    if (connect_pending_ && now >= connect_deadline_ms_) finish_connect(true);
}

//  The endpoint users are told: --advertise, else the bound one with a wildcard host
//  replaced by the local address of the interface that reaches the registry.
std::string GroupServer::advertised() {
    if (!advertise_.empty()) return advertise_;
    std::string host_port = endpoint_address(bound_);
    if (bound_.compare(0, 6, "tcp://") != 0) return bound_;
    size_t colon = host_port.rfind(':');
    std::string host = host_port.substr(0, colon);
    if (host != "0.0.0.0" && host != "*" && host != "[::]") return bound_;
    std::string local = "127.0.0.1";
    std::string registry = endpoint_address(registry_endpoint_);
    size_t registry_colon = registry.rfind(':');
    if (registry_endpoint_.compare(0, 6, "tcp://") == 0 && registry_colon != std::string::npos) {
        std::string registry_host = registry.substr(0, registry_colon);
        std::string registry_port = registry.substr(registry_colon + 1);
        struct addrinfo hints = {}, *found = nullptr;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_DGRAM;
        if (getaddrinfo(registry_host.c_str(), registry_port.c_str(), &hints, &found) == 0) {
            int probe = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in address = {};
            socklen_t length = sizeof address;
            //  A UDP connect sends nothing; it only picks the route and the local address.
            if (probe >= 0 && connect(probe, found->ai_addr, found->ai_addrlen) == 0 &&
                getsockname(probe, (struct sockaddr*)&address, &length) == 0) {
                char text[INET_ADDRSTRLEN];
                if (inet_ntop(AF_INET, &address.sin_addr, text, sizeof text)) local = text;
            }
            if (probe >= 0) close(probe);
            freeaddrinfo(found);
        }
    }
    return "tcp://" + local + host_port.substr(colon);
}

void GroupServer::reply(const std::string& to, proto::Message& message, uint32_t request_id) {
    message.request_id = request_id;
    //  A user that vanished mid-request, or cannot take more, loses only the reply.
    proto::send(zsock_resolve(users_), to, message, ZMQ_DONTWAIT);
}

void GroupServer::error(const std::string& to, uint32_t request_id, uint16_t status,
                        const std::string& why) {
    proto::send_error(zsock_resolve(users_), to, request_id, status, why);
}

void GroupServer::to_registry(proto::Message& message, const std::string& group) {
    message.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (proto::send(zsock_resolve(registry_), "", message, ZMQ_DONTWAIT) == 0)
        registry_requests_[message.request_id] = {message.id, group};
}

} // namespace

void group_actor(zsock_t* pipe, void* args) {
    GroupServer server(pipe, (const char*)args);
    server.run();
}

} // namespace zgm
