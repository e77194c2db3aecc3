/*  =========================================================================
    server.cc - the group server actor

    One event loop over the command pipe, the users' ROUTER and the registry link. Each
    pass takes every request waiting on the ROUTER (bounded); the SENDs among them are
    appended to the store in one transaction (group commit), answered SENT once it has
    committed, and pushed to the groups' followers as one DELIVER per group, encoded once.
    A follower that cannot take a push, or is further behind than it may be, loses the
    push, never the message: it catches up with FETCH from its last sequence number.

    Who sent a request is the key of its connection (proto::recv's peer), never a field.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "server/server.h"

#include "core/clock.h"
#include "core/errors.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/names.h"
#include "core/report.h"
#include "core/zap.h"
#include "net/listener.h"
#include "net/responder.h"
#include "proto/proto.h"
#include "server/push_window.h"
#include "server/registry_link.h"
#include "store/store.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace zgm {

namespace {

constexpr int kMaxRequestsPerPass = 1000;
//  Nor longer than this, however few: a storm of requests that each write (a thousand users
//  joining at once) must not starve the heartbeats to the registry, which would drop the
//  server's groups as fallen silent (found by the soak).
constexpr int64_t kMaxPassMs = 100;
//  Messages committed in one pass at most: a pass must stay short, or heartbeats to the
//  registry and answers to everyone else wait behind it.
constexpr size_t kMaxMessagesPerPass = 8192;
constexpr int kFollowLapseMs = 10000; //  a follow not refreshed this long lapses
constexpr int kSweepMs = 1000;
constexpr int kStoreErrorsMs = 10000; //  store failures are logged at most this often
constexpr int kTrimPassMs = 50;       //  a sweep's trimming, at most

//  The answer to a request the store failed: 504 (in doubt, ZGM_EINDOUBT) when what it
//  wrote may be stored (its sync failed), else 507 (nothing of it stored).
uint16_t storage_status(const Status& status) {
    return status.code() == Status::kInDoubt ? proto::kInDoubt : proto::kStorage;
}

//  One connection following one group.
struct Follower {
    uint64_t acked_seq = 0; //  the last seq it said it has
    int64_t refreshed_ms = 0;
};

//  A group's followers by key, then by routing id (a connection of that key): a key's
//  follows of a group are found without looking at the others'.
using Followers = std::map<std::pair<Key, std::string>, Follower>;

struct Group {
    std::string name;
    Uuid id;
    uint64_t last_seq = 0;
    Key owner;
    Policy policy = Policy::kOpen;
    std::unordered_map<Key, std::string, KeyHash> members; //  key -> display name
    std::set<Key> allowed;                                 //  keys the owner added, by key
    Followers followers;
    PushWindow pushed;           //  what was pushed lately, to know how far behind a follower is
    uint64_t sends = 0;          //  messages stored in it since the start
    uint64_t fetches = 0;        //  FETCHes answered
    uint64_t catch_ups = 0;      //  of them, from a follower's cursor
    uint64_t push_count = 0;     //  DELIVERs sent to followers
    uint64_t delivered = 0;      //  messages those DELIVERs carried, once per follower
    uint64_t dropped_pushes = 0; //  DELIVERs a follower missed (it catches up by FETCH)
};

//  A SEND waiting for the pass's commit: its records are batch[first, first + count).
struct PendingSend {
    std::string from;
    uint32_t request_id;
    size_t first;
    size_t count;
};

//  Counters for the log and for stats.
struct Counters {
    uint64_t sends = 0;      //  messages stored
    uint64_t duplicates = 0; //  repeated msg_ids answered with the original
    uint64_t fetches = 0;
    uint64_t catch_ups = 0; //  fetches from a follower's cursor
    uint64_t pushes = 0;
    uint64_t delivered = 0;      //  messages pushed, once per follower
    uint64_t dropped_pushes = 0; //  queue full or follower too far behind
};

//  Hands each fetched row to a MESSAGES frame, straight from the store's buffers. Once a
//  row does not fit, it takes no more: the batch must end before a gap in seq, and the
//  reply says there is more.
class FrameFiller : public FetchVisitor {
public:
    explicit FrameFiller(proto::MessagesWriter* writer) : writer_(writer) {}
    void message(const MessageView& row) override {
        if (full_) return;
        Uuid msg_id; //  none (all-zero) for a message sent without one, or stored by 0.1
        if (row.msg_id) memcpy(msg_id.bytes, row.msg_id, 16);
        if (!writer_->add(row.seq, row.timestamp, row.sender, msg_id,
                          std::string_view(row.sender_name, row.sender_name_size),
                          std::string_view((const char*)row.body, row.body_size)))
            full_ = true;
    }
    bool full() const { return full_; }

private:
    proto::MessagesWriter* writer_;
    bool full_ = false;
};

class GroupServer : public RegistryLinkOwner {
public:
    GroupServer(zsock_t* pipe, const char* data_dir)
        : pipe_(pipe), data_dir_(data_dir ? data_dir : ""), link_(this) {
        started_ms_ = mono_ms();
        rates_.set_rate(limits_.rate);
        open_store(Durability::kFull);
    }
    ~GroupServer() { listener_.close(); }

    void run();
    uint16_t host_group(const std::string& name, const Key& owner, uint8_t policy,
                        std::string* why) override;
    bool has_room() const override { return groups_.size() < limits_.groups; }

private:
    //  The groups here whose owner is key (what --max-groups-per-owner counts).
    uint32_t groups_owned_by(const Key& key) const;
    void set_owner(Group& group, const Key& owner);
    //  Commands
    bool handle_pipe();
    Error set(const std::string& name, const std::string& value, std::string* why);
    void open_store(Durability durability);
    Error add_group(const std::string& name, const Key& owner, Policy policy, std::string* why);
    Error retain(const std::string& group, const Retention& wanted, std::string* why);
    void bind(const std::string& endpoint);
    void reply_status(Error code, const std::string& why);

    //  Users
    void handle_users();
    void handle_request(const std::string& from, const Key& peer, proto::Message& request,
                        std::vector<proto::Message>* held, std::vector<AppendRequest>* batch,
                        std::vector<PendingSend>* sends);
    Group* find_group(const std::string& from, const proto::Message& request);
    void refuse_non_member(const std::string& from, const proto::Message& request); //  403
    //  The request's group if peer is a member (or, with owner_too, its owner, joined or
    //  not); else answers 404 or 403 and returns nullptr.
    Group* member_group(const std::string& from, const Key& peer, const proto::Message& request,
                        bool owner_too = false);
    Group* owned_group(const std::string& from, const Key& peer, const proto::Message& request);
    void on_join(const std::string& from, const Key& peer, const proto::Message& request);
    void on_leave(const std::string& from, const Key& peer, const proto::Message& request);
    void on_fetch(const std::string& from, const Key& peer, const proto::Message& request);
    void on_members(const std::string& from, const Key& peer, const proto::Message& request);
    void on_follow(const std::string& from, const Key& peer, const proto::Message& request);
    void on_unfollow(const std::string& from, const Key& peer, const proto::Message& request);
    void on_memberships(const std::string& from, const Key& peer, const proto::Message& request);
    void on_owner_request(const std::string& from, const Key& peer, const proto::Message& request);
    void on_stats(const std::string& from, const Key& peer, const proto::Message& request);
    void on_send(const std::string& from, const Key& peer, proto::Message& request,
                 std::vector<proto::Message>* held, std::vector<AppendRequest>* batch,
                 std::vector<PendingSend>* sends);
    bool holds(const Group& group, const std::string& from, const Key& sender, const Uuid& msg_id,
               const std::vector<AppendRequest>& batch);
    bool repeats_answered(const std::string& from, const Key& peer, const Group& group,
                          const proto::Message& request);
    void store_error(const std::string& why);
    void commit(std::vector<AppendRequest>& batch, std::vector<PendingSend>& sends);
    void deliver(Group& group, const std::vector<proto::MessageRecord>& records);
    void push(Group& group, zmq_msg_t* frame, uint64_t last_seq, size_t bytes, size_t messages);
    void end_follows(Group& group, const Key& key);
    void remove_follower(Group& group, Followers::iterator it);
    bool move_follow(Group& group, const Key& key);
    void sweep();
    void summary_changed(const Group& group);

    zsock_t* pipe_;
    std::string data_dir_;
    std::unique_ptr<Store> store_;
    Status store_status_;
    std::map<std::string, Group> groups_;
    RegistryLink link_;
    bool connect_waiting_ = false; //  a CONNECT waits for its outcome on the pipe
    bool serving_ = false;         //  a group was added, retention set, or an endpoint bound

    ServerLimits limits_;
    RateLimiter rates_;
    Responder responder_{"group server"};
    Listener listener_{"group server", kMinServerFrame, &limits_, &rates_, &responder_};
    std::unordered_map<Key, uint32_t, KeyHash> follows_by_key_;
    std::unordered_map<Key, uint32_t, KeyHash> owned_by_key_; //  groups each owner has here
    //  The last message each connection put into this pass's batch, per group, and where
    //  in the batch: a SEND whose after_msg_id is still to be committed finds it here (by
    //  connection, so that two processes with one key do not hide each other's).
    struct Staged {
        Uuid msg_id;
        size_t index;
    };
    std::map<std::pair<std::string, std::string>, Staged> staged_last_;
    Counters counters_;
    int64_t started_ms_ = 0;
    int64_t next_sweep_ms_ = 0;
    int64_t next_store_error_ms_ = 0;  //  a store failure is logged at most every kStoreErrorsMs
    uint64_t store_errors_unsaid_ = 0; //  failures since the last such line
    bool terminated_ = false;
};

void GroupServer::open_store(Durability durability) {
    store_.reset();
    if (data_dir_.empty()) {
        store_ = open_memory_store();
        store_status_ = Status::ok();
    } else {
        store_status_ =
            open_sqlite_store(data_dir_, durability, &store_, [](const std::string& line) {
                ZGM_LOG("group server: %s", line.c_str());
            });
    }
    groups_.clear();
    owned_by_key_.clear();
    if (!store_status_.is_ok()) return;
    store_->set_recent_limit(limits_.recent_bytes);
    //  Groups and members already in the store are served again.
    std::vector<GroupInfo> infos;
    store_status_ = store_->list_groups(&infos);
    for (const GroupInfo& info : infos) {
        Group& group = groups_[info.name];
        group.name = info.name;
        group.id = info.id;
        group.last_seq = info.last_seq;
        group.pushed.restart(info.last_seq);
        set_owner(group, info.owner);
        group.policy = info.policy;
        std::vector<Member> members;
        if (store_->members(info.name, &members).is_ok())
            for (const Member& member : members)
                group.members[member.key] = member.name;
        std::vector<Key> allowed;
        if (store_->allowed(info.name, &allowed).is_ok())
            group.allowed.insert(allowed.begin(), allowed.end());
        summary_changed(group); //  registered with the registry too, as new groups are
    }
}

void GroupServer::run() {
    zsock_signal(pipe_, 0);
    while (!terminated_) {
        int64_t next = link_.tick(); //  first: it may replace the registry socket
        zsock_t* users = listener_.socket();
        //  Only the sockets there are: an item of no socket would be file descriptor 0.
        zmq_pollitem_t items[3] = {{zsock_resolve(pipe_), 0, ZMQ_POLLIN, 0}};
        int count = 1, users_at = -1, link_at = -1;
        if (users) {
            users_at = count;
            items[count++] = {zsock_resolve(users), 0, ZMQ_POLLIN, 0};
        }
        if (link_.socket()) {
            link_at = count;
            items[count++] = {zsock_resolve(link_.socket()), 0, ZMQ_POLLIN, 0};
        }
        if (users && next_sweep_ms_ < next) next = next_sweep_ms_;
        int64_t now = mono_ms();
        long timeout = next == INT64_MAX ? -1 : next > now ? (long)(next - now) : 0;
        if (zmq_poll(items, count, timeout) < 0 && errno != EINTR) break;
        if ((items[0].revents & ZMQ_POLLIN) && !handle_pipe()) break;
        if (users_at > 0 && (items[users_at].revents & ZMQ_POLLIN)) handle_users();
        if (link_at > 0 && (items[link_at].revents & ZMQ_POLLIN)) link_.handle();
        if (users && mono_ms() >= next_sweep_ms_) sweep();
        Error outcome;
        std::string why;
        if (connect_waiting_ && link_.connect_outcome(&outcome, &why)) {
            connect_waiting_ = false;
            reply_status(outcome, why);
        }
    }
    link_.deregister();
}

//  ---------------------------------------------------------------------------------------
//  Commands from the pipe

void GroupServer::reply_status(Error code, const std::string& why) {
    zsock_send(pipe_, "is", (int)code, why.c_str());
}

bool GroupServer::handle_pipe() {
    zmsg_t* msg = zmsg_recv(pipe_);
    if (!msg) return false;
    char* command = zmsg_popstr(msg);
    std::vector<std::string> args;
    while (char* arg = zmsg_popstr(msg)) {
        args.push_back(arg);
        zstr_free(&arg);
    }
    args.resize(4);
    bool alive = true;
    std::string why;
    if (!command || streq(command, "$TERM")) {
        alive = false;
    } else if (streq(command, "STATUS")) {
        reply_status(store_status_.is_ok() ? Error::kOk : Error::kStorage, store_status_.message());
    } else if (streq(command, "SET")) {
        Error code = set(args[0], args[1], &why);
        reply_status(code, why);
    } else if (streq(command, "ADD")) {
        Key owner;
        Error code = Error::kOk;
        if (!args[1].empty() && !Key::parse(args[1], &owner)) {
            code = Error::kInvalid;
            why = "the owner is not a key (40 Z85 characters)";
        }
        if (code == Error::kOk)
            code =
                add_group(args[0], owner, args[2] == "1" ? Policy::kMembers : Policy::kOpen, &why);
        serving_ = serving_ || code == Error::kOk;
        reply_status(code, why);
    } else if (streq(command, "RETAIN")) {
        Retention wanted;
        wanted.max_count = strtoull(args[1].c_str(), nullptr, 10);
        wanted.max_bytes = strtoull(args[2].c_str(), nullptr, 10);
        wanted.max_age_us = ms_to_us(strtoull(args[3].c_str(), nullptr, 10));
        Error code = retain(args[0], wanted, &why);
        serving_ = serving_ || code == Error::kOk;
        reply_status(code, why);
    } else if (streq(command, "BIND")) {
        bind(args[0]);
    } else if (streq(command, "CONNECT")) {
        Key registry_key;
        if (listener_.security() == Security::kCurve && !Key::parse(args[1], &registry_key)) {
            reply_status(Error::kInvalid, "the registry's public key is needed (40 Z85 "
                                          "characters), or insecure mode");
        } else if (!link_.connect(args[0], registry_key, listener_.keys(), listener_.security(),
                                  &why)) {
            reply_status(Error::kInvalid, why);
        } else {
            connect_waiting_ = true;
        }
    } else if (streq(command, "KEY")) {
        zsock_send(pipe_, "s", listener_.keys().public_txt.c_str());
    }
    zstr_free(&command);
    zmsg_destroy(&msg);
    return alive;
}

Error GroupServer::set(const std::string& name, const std::string& value, std::string* why) {
    Error code = Error::kOk;
    if (listener_.set(name, value, &code, why)) return code;
    if (name == "durability") {
        if (value != "full" && value != "normal") {
            *why = "durability is 'full' or 'normal'";
            return Error::kInvalid;
        }
        //  It opens the store again: a memory store would lose every group and message, a
        //  SQLite one its followers.
        if (serving_) {
            *why = "durability must be set before the group server adds a group, sets a retention "
                   "or binds";
            return Error::kInvalid;
        }
        open_store(value == "full" ? Durability::kFull : Durability::kNormal);
        if (!store_status_.is_ok()) {
            *why = store_status_.message();
            return Error::kStorage;
        }
    } else if (name == "advertise") {
        *why = advertised_endpoint_problem(value);
        if (!why->empty()) return Error::kInvalid;
        link_.set_advertise(value);
    } else if (name == "accept-new") {
        link_.set_accept_new(value == "1");
    } else if (!set_number(
                   {{"heartbeat", 1, UINT32_MAX,
                     [this](uint64_t n) { link_.set_heartbeat((int)n); }},
                    {"max-groups", 1, UINT32_MAX,
                     [this](uint64_t n) { limits_.groups = (uint32_t)n; }},
                    {"max-groups-per-owner", 1, UINT32_MAX,
                     [this](uint64_t n) { limits_.groups_per_owner = (uint32_t)n; }},
                    {"max-members", 1, UINT32_MAX,
                     [this](uint64_t n) { limits_.members = (uint32_t)n; }},
                    {"max-follows", 1, UINT32_MAX,
                     [this](uint64_t n) { limits_.follows = (uint32_t)n; }},
                    {"max-follower-bytes", proto::kBatchBytes, UINT32_MAX,
                     [this](uint64_t n) { limits_.follower_bytes = n; }},
                    //  Past the address space (armhf), it is no bound: the store takes SIZE_MAX.
                    {"max-recent-bytes", 0, UINT64_MAX,
                     [this](uint64_t n) {
                         limits_.recent_bytes = n;
                         if (store_) store_->set_recent_limit(n);
                     }}},
                   name, value, &code, why)) {
        *why = "no group server setting '" + name + "'";
        return Error::kInvalid;
    }
    return code;
}

Error GroupServer::retain(const std::string& name, const Retention& wanted, std::string* why) {
    if (!store_status_.is_ok()) {
        *why = store_status_.message();
        return Error::kStorage;
    }
    if (!name.empty() && !groups_.count(name)) {
        *why = "no group '" + name + "' here";
        return Error::kNotFound;
    }
    //  The default bounds every group's own, those there now and those to come; a group's
    //  own is kept as asked, so that a default raised or removed later lets it be.
    Status status = name.empty() ? store_->set_retention_ceiling(wanted, now_us())
                                 : store_->set_retention(name, wanted, now_us());
    if (!status.is_ok()) {
        *why = status.message();
        return Error::kStorage;
    }
    return Error::kOk;
}

Error GroupServer::add_group(const std::string& name, const Key& owner, Policy policy,
                             std::string* why) {
    if (!store_status_.is_ok()) {
        *why = store_status_.message();
        return Error::kStorage;
    }
    if (!valid_name(name)) {
        *why = invalid_name_reason();
        return Error::kInvalid;
    }
    auto existing = groups_.find(name);
    if (existing != groups_.end()) {
        //  A group the configuration names keeps the owner named there.
        if (!owner.is_nil() && existing->second.owner != owner) {
            Status status = store_->set_owner(name, owner);
            if (!status.is_ok()) {
                *why = status.message();
                return Error::kStorage;
            }
            set_owner(existing->second, owner);
        }
        return Error::kOk;
    }
    if (!has_room()) {
        *why = "this group server hosts its maximum of " + std::to_string(limits_.groups) +
               " groups (--max-groups)";
        return Error::kLimit;
    }
    Uuid id = Uuid::random();
    Status status = store_->create_group(name, id, owner, policy);
    if (!status.is_ok()) {
        *why = status.message();
        return Error::kStorage;
    }
    Group& group = groups_[name];
    group.name = name;
    group.id = id;
    set_owner(group, owner);
    group.policy = policy;
    ZGM_LOG("group server: hosting '%s'%s%s", name.c_str(), owner.is_nil() ? "" : ", owner ",
            owner.is_nil() ? "" : owner.str().c_str());
    summary_changed(group);
    return Error::kOk;
}

//  Counted as owners change, not by a look at every group: a GIVE and a HOST ask it.
uint32_t GroupServer::groups_owned_by(const Key& key) const {
    auto found = owned_by_key_.find(key);
    return found == owned_by_key_.end() ? 0 : found->second;
}

//  The one place a group's owner changes (the all-zero key: none).
void GroupServer::set_owner(Group& group, const Key& owner) {
    if (!group.owner.is_nil()) {
        auto owned = owned_by_key_.find(group.owner);
        if (owned != owned_by_key_.end() && --owned->second == 0) owned_by_key_.erase(owned);
    }
    group.owner = owner;
    if (!owner.is_nil()) owned_by_key_[owner]++;
}

uint16_t GroupServer::host_group(const std::string& name, const Key& owner, uint8_t policy,
                                 std::string* why) {
    auto existing = groups_.find(name);
    if (existing != groups_.end()) {
        //  Asked again for the same owner (the registry did not hear the answer): it is here.
        if (!owner.is_nil() && existing->second.owner == owner) return proto::kStatusOk;
        *why = "group '" + name + "' exists" + (owner.is_nil() ? "" : ", not this key's");
        return proto::kConflict;
    }
    if (!owner.is_nil() && groups_owned_by(owner) >= limits_.groups_per_owner) {
        *why = "this key owns its maximum of " + std::to_string(limits_.groups_per_owner) +
               " groups here (--max-groups-per-owner)";
        return proto::kLimitReached;
    }
    Error code = add_group(name, owner, policy ? Policy::kMembers : Policy::kOpen, why);
    switch (code) {
    case Error::kOk:
        return proto::kStatusOk;
    case Error::kInvalid:
        return proto::kInvalid;
    case Error::kLimit:
        return proto::kLimitReached;
    default:
        return proto::kStorage;
    }
}

void GroupServer::bind(const std::string& endpoint) {
    bool opening = !listener_.socket();
    std::string bound;
    int port = listener_.bind(pipe_, endpoint, &bound);
    if (opening && listener_.socket()) next_sweep_ms_ = mono_ms() + kSweepMs;
    if (port < 0) return;
    serving_ = true;
    link_.set_bound(bound);
}

void GroupServer::summary_changed(const Group& group) {
    GroupSummary summary;
    summary.id = group.id;
    summary.policy = (uint8_t)group.policy;
    summary.members = (uint32_t)group.members.size();
    link_.update(group.name, summary);
}

//  ---------------------------------------------------------------------------------------
//  Users

void GroupServer::handle_users() {
    std::vector<proto::Message> held; //  SENDs whose bodies the batch points into
    std::vector<AppendRequest> batch;
    std::vector<PendingSend> sends;
    held.reserve(kMaxRequestsPerPass);
    int64_t started = mono_ms();
    for (int i = 0; i < kMaxRequestsPerPass && batch.size() < kMaxMessagesPerPass &&
                    mono_ms() - started < kMaxPassMs;
         i++) {
        std::string from;
        Key peer;
        proto::Message request;
        Responder::Received received = responder_.next(&from, &peer, &request);
        if (received == Responder::kNone) break;
        if (received == Responder::kRequest)
            handle_request(from, peer, request, &held, &batch, &sends);
    }
    if (!batch.empty()) commit(batch, sends);
    staged_last_.clear();
}

void GroupServer::handle_request(const std::string& from, const Key& peer, proto::Message& request,
                                 std::vector<proto::Message>* held,
                                 std::vector<AppendRequest>* batch,
                                 std::vector<PendingSend>* sends) {
    //  A connection that proved no key was refused by the responder; one that states the
    //  all-zero key (insecure mode) has none either: it would own every group without one.
    if (peer.is_nil())
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "no key on this connection", peer);
    //  Requests are counted, a SEND as one whatever it carries: its size is bounded by
    //  --max-frame, and batching is what keeps a busy sender cheap.
    uint32_t retry_ms = 0;
    if (!rates_.admit(peer, 1, mono_ms(), &retry_ms))
        return responder_.refuse(
            from, request.request_id, proto::kRateLimited,
            "too many requests: try again in " + std::to_string(retry_ms) + " ms", peer, retry_ms);
    switch (request.id) {
    case proto::kJoin:
        return on_join(from, peer, request);
    case proto::kLeave:
        return on_leave(from, peer, request);
    case proto::kFetch:
        return on_fetch(from, peer, request);
    case proto::kMembers:
        return on_members(from, peer, request);
    case proto::kFollow:
        return on_follow(from, peer, request);
    case proto::kUnfollow:
        return on_unfollow(from, peer, request);
    case proto::kMemberships:
        return on_memberships(from, peer, request);
    case proto::kAdd:
    case proto::kRemove:
    case proto::kGive:
    case proto::kPolicy:
    case proto::kRetain:
        return on_owner_request(from, peer, request);
    case proto::kSend:
        return on_send(from, peer, request, held, batch, sends);
    case proto::kStats:
        return on_stats(from, peer, request);
    default:
        responder_.refuse(
            from, request.request_id, proto::kBadRequest,
            std::string("a group server does not take ") + proto::message_name(request.id), peer);
    }
}

Group* GroupServer::find_group(const std::string& from, const proto::Message& request) {
    if (!valid_name(request.group)) {
        responder_.error(from, request.request_id, proto::kInvalid, invalid_name_reason());
        return nullptr;
    }
    auto found = groups_.find(request.group);
    if (found == groups_.end()) {
        responder_.error(from, request.request_id, proto::kNotFound,
                         "no group '" + request.group + "' here");
        return nullptr;
    }
    return &found->second;
}

Group* GroupServer::member_group(const std::string& from, const Key& peer,
                                 const proto::Message& request, bool owner_too) {
    Group* group = find_group(from, request);
    bool owner = owner_too && group && !group->owner.is_nil() && group->owner == peer;
    if (group && !owner && !group->members.count(peer)) {
        refuse_non_member(from, request);
        return nullptr;
    }
    return group;
}

void GroupServer::refuse_non_member(const std::string& from, const proto::Message& request) {
    responder_.error(from, request.request_id, proto::kNotMember,
                     "not a member of '" + request.group + "'");
}

Group* GroupServer::owned_group(const std::string& from, const Key& peer,
                                const proto::Message& request) {
    Group* group = find_group(from, request);
    if (group && (group->owner.is_nil() || group->owner != peer)) {
        responder_.refuse(from, request.request_id, proto::kDenied,
                          group->owner.is_nil()
                              ? "group '" + request.group + "' has no owner"
                              : "only the owner of '" + request.group + "' may do that",
                          peer);
        return nullptr;
    }
    return group;
}

void GroupServer::on_join(const std::string& from, const Key& peer, const proto::Message& request) {
    ZGM_REQUEST(responder_, "JOIN REQUEST FROM %s", peer.str().c_str());
    Group* group = find_group(from, request);
    if (!group) return;
    if (group->members.count(peer))
        return responder_.error(from, request.request_id, proto::kConflict,
                                "already a member of '" + request.group + "'");
    if (!valid_display_name(request.name))
        return responder_.error(from, request.request_id, proto::kInvalid,
                                invalid_display_name_reason());
    if (group->policy == Policy::kMembers && group->owner != peer && !group->allowed.count(peer))
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "'" + request.group + "' takes only members its owner added",
                                 peer);
    if (group->members.size() >= limits_.members)
        return responder_.refuse(from, request.request_id, proto::kLimitReached,
                                 "'" + request.group + "' has its maximum of " +
                                     std::to_string(limits_.members) + " members (--max-members)",
                                 peer);
    //  A join follows the group on this connection: one this key could not follow is not
    //  made (a member that never gets the group's messages live, and is not told).
    bool following = group->followers.count({peer, from}) != 0;
    auto follows = follows_by_key_.find(peer);
    if (!following && follows != follows_by_key_.end() && follows->second >= limits_.follows)
        return responder_.refuse(from, request.request_id, proto::kLimitReached,
                                 "this key follows its maximum of " +
                                     std::to_string(limits_.follows) +
                                     " groups here (--max-follows)",
                                 peer);
    Member member;
    member.key = peer;
    member.name = request.name;
    member.joined_us = now_us();
    Status status = store_->add_member(group->name, member);
    if (!status.is_ok() && status.code() != Status::kExists)
        return responder_.error(from, request.request_id, storage_status(status), status.message());
    group->members[peer] = request.name;
    summary_changed(*group);
    //  Joining follows the group on this connection (the user confirms with FOLLOW).
    if (!following) {
        follows_by_key_[peer]++;
        Follower& follower = group->followers[{peer, from}];
        follower.acked_seq = group->last_seq;
        follower.refreshed_ms = mono_ms();
    }
    proto::Message joined;
    joined.id = proto::kJoined;
    joined.group_id = group->id;
    joined.last_seq = group->last_seq;
    responder_.reply(from, joined, request.request_id);
}

void GroupServer::on_leave(const std::string& from, const Key& peer,
                           const proto::Message& request) {
    ZGM_REQUEST(responder_, "LEAVE REQUEST FROM %s", peer.str().c_str());
    Group* group = member_group(from, peer, request);
    if (!group) return;
    Status status = store_->remove_member(group->name, peer);
    if (!status.is_ok() && status.code() != Status::kNotFound)
        return responder_.error(from, request.request_id, storage_status(status), status.message());
    group->members.erase(peer);
    end_follows(*group, peer);
    summary_changed(*group);
    proto::Message ok;
    ok.id = proto::kOk;
    responder_.reply(from, ok, request.request_id);
}

void GroupServer::on_fetch(const std::string& from, const Key& peer,
                           const proto::Message& request) {
    ZGM_REQUEST(responder_, "MESSAGE REQUEST FROM %s", peer.str().c_str());
    Group* group = member_group(from, peer, request);
    if (!group) return;
    counters_.fetches++;
    group->fetches++;
    auto follower = group->followers.find({peer, from});
    if (follower != group->followers.end() && request.after_seq && !request.newest) {
        counters_.catch_ups++;
        group->catch_ups++;
    }
    FetchQuery query;
    query.group = group->name;
    query.since_us = request.since_us;
    query.until_us = request.until_us;
    query.after_seq = request.after_seq;
    query.before_seq = request.before_seq;
    query.limit =
        request.limit && request.limit < proto::kMaxList ? request.limit : proto::kMaxList;
    //  A page within what the connection may be sent now (--max-unread-bytes and -total):
    //  smaller, not refused, so that a reader goes on while others do not read.
    query.max_bytes = std::min<uint64_t>(proto::kFetchBytes, responder_.receipts().room(from));
    query.newest = request.newest != 0;
    proto::MessagesWriter writer(request.request_id, group->name);
    FrameFiller filler(&writer);
    FetchSummary summary;
    Status status = store_->fetch(query, &filler, &summary);
    if (!status.is_ok()) //  a read: nothing of it can be in doubt
        return responder_.error(from, request.request_id, proto::kStorage, status.message());
    //  Newest first, a limit asks for that many: of what retention dropped below the page,
    //  the messages asked for are at most the ones the limit left unfilled.
    uint64_t missed = summary.missed;
    if (query.newest && request.limit)
        missed = std::min<uint64_t>(missed, request.limit - writer.count()); //  count <= limit
    zmq_msg_t frame;
    //  A row the frame refused although it was empty cannot be sent at all.
    if ((filler.full() && writer.count() == 0) ||
        !writer.finish(summary.first_seq, summary.last_seq, summary.more || filler.full(), missed,
                       &frame))
        return responder_.error(from, request.request_id, proto::kInternal,
                                "a stored message of '" + group->name + "' cannot be sent");
    responder_.send(from, &frame);
}

//  Where a MEMBER_LIST page ends, for the next MEMBERS: after the member who joined at
//  joined_us with key ("m<joined_us>:<key>"), or after the added key ("a<key>"). Members come
//  by (joined_us, key), the keys added that have not joined after them, by key.
struct MembersCursor {
    bool added = false;
    uint64_t joined_us = 0;
    Key key;
    std::string text() const {
        return added ? "a" + key.str() : "m" + std::to_string(joined_us) + ":" + key.str();
    }
    bool parse(const std::string& text) {
        if (text.size() > 1 && text[0] == 'a') {
            added = true;
            return Key::parse(text.substr(1), &key);
        }
        size_t colon = text.find(':');
        if (text.size() < 2 || text[0] != 'm' || colon == std::string::npos) return false;
        return parse_number(text.substr(1, colon - 1), UINT64_MAX, &joined_us) &&
               Key::parse(text.substr(colon + 1), &key);
    }
};

void GroupServer::on_members(const std::string& from, const Key& peer,
                             const proto::Message& request) {
    //  Its members, and its owner, who may not have joined: the keys it added are its to see.
    Group* group = member_group(from, peer, request, true);
    if (!group) return;
    MembersCursor after;
    bool from_start = request.after.empty();
    if (!from_start && !after.parse(request.after))
        return responder_.error(from, request.request_id, proto::kBadRequest,
                                "MEMBERS: 'after' is not a place this server gave");
    //  Read from where the page starts, one more than a page holds (so that a full page
    //  knows whether more follow): not the whole group.
    std::vector<Member> members;
    if (from_start || !after.added) {
        MemberPlace place{after.joined_us, after.key};
        Status status = store_->members(group->name, from_start ? nullptr : &place,
                                        proto::kMembersPage + 1, &members);
        if (!status.is_ok()) //  a read
            return responder_.error(from, request.request_id, proto::kStorage, status.message());
    }
    proto::Message list;
    list.id = proto::kMemberList;
    list.key = group->owner;
    list.policy = (uint8_t)group->policy;
    //  A page within what the connection may be sent now (and kMembersPage records): cut
    //  short, not refused, so that a member goes on while others do not read.
    Responder::Page page = responder_.page(from, proto::encoded_size(list) + 64, //  and `after`
                                           proto::kMembersPage);
    MembersCursor last;
    auto add = [&](const Key& id, const std::string& name, uint8_t role) {
        proto::MemberRecord record{id, name, role};
        if (!page.take(list.members.size(), proto::encoded_size(record))) return false;
        list.members.push_back(std::move(record));
        return true;
    };
    bool full = false;
    for (const Member& member : members) {
        if (!add(member.key, member.name,
                 member.key == group->owner ? proto::kRoleOwner : proto::kRoleMember)) {
            full = true;
            break;
        }
        last.added = false;
        last.joined_us = member.joined_us;
        last.key = member.key;
    }
    if (!full) {
        auto key = from_start || !after.added ? group->allowed.begin()
                                              : group->allowed.upper_bound(after.key);
        for (; key != group->allowed.end(); ++key) {
            if (group->members.count(*key)) continue;
            if (!add(*key, "", proto::kRoleAllowed)) {
                full = true;
                break;
            }
            last.added = true;
            last.key = *key;
        }
    }
    list.more = full ? 1 : 0;
    if (full) list.after = last.text();
    responder_.reply(from, list, request.request_id, peer);
}

void GroupServer::on_follow(const std::string& from, const Key& peer,
                            const proto::Message& request) {
    proto::Message following;
    following.id = proto::kFollowing;
    int64_t now = mono_ms();
    bool refused = false; //  a record at --max-follows: noted once a request
    for (const proto::FollowRecord& record : request.follows) {
        proto::FollowRecord answer;
        answer.group = record.group;
        auto found = groups_.find(record.group);
        if (!valid_name(record.group)) {
            answer.status = proto::kInvalid;
        } else if (found == groups_.end()) {
            answer.status = proto::kNotFound;
        } else if (!found->second.members.count(peer)) {
            answer.status = proto::kNotMember;
        } else {
            Group& group = found->second;
            auto follower = group.followers.find({peer, from});
            if (follower == group.followers.end()) {
                if (follows_by_key_[peer] >= limits_.follows && !move_follow(group, peer)) {
                    answer.status = proto::kLimitReached;
                    refused = true;
                    following.follows.push_back(answer);
                    continue;
                }
                follows_by_key_[peer]++;
                follower = group.followers.emplace(std::make_pair(peer, from), Follower()).first;
            }
            //  What the follower says it has, but never beyond what exists.
            follower->second.acked_seq = std::min(record.seq, group.last_seq);
            follower->second.refreshed_ms = now;
            answer.status = proto::kStatusOk;
            answer.seq = group.last_seq;
        }
        following.follows.push_back(answer);
    }
    if (refused) responder_.refusals().note("430 follows per key", "from " + peer.str(), now);
    responder_.reply(from, following, request.request_id);
}

//  The follows of this connection end at once (not when they lapse): no more pushes for
//  them, and they no longer count toward the key's --max-follows.
void GroupServer::on_unfollow(const std::string& from, const Key& peer,
                              const proto::Message& request) {
    for (const proto::FollowRecord& record : request.follows)
        if (!valid_name(record.group))
            return responder_.error(from, request.request_id, proto::kInvalid,
                                    invalid_name_reason());
    proto::Message ok;
    ok.id = proto::kOk;
    for (const proto::FollowRecord& record : request.follows) {
        auto found = groups_.find(record.group);
        if (found == groups_.end()) continue;
        auto follower = found->second.followers.find({peer, from});
        if (follower != found->second.followers.end()) remove_follower(found->second, follower);
    }
    responder_.reply(from, ok, request.request_id);
}

void GroupServer::on_memberships(const std::string& from, const Key& peer,
                                 const proto::Message& request) {
    if (!request.after.empty() && !valid_name(request.after))
        return responder_.error(from, request.request_id, proto::kBadRequest,
                                "MEMBERSHIPS: 'after' is not a group name");
    proto::Message list;
    list.id = proto::kMembershipList;
    //  By name, after the last group of the page before; a page within what the connection
    //  may be sent now (and kMembershipsPage records): cut short, not refused.
    Responder::Page page =
        responder_.page(from, proto::encoded_size(list) + 1 + kMaxName, proto::kMembershipsPage);
    auto entry = request.after.empty() ? groups_.begin() : groups_.upper_bound(request.after);
    for (; entry != groups_.end(); ++entry) {
        if (!entry->second.members.count(peer)) continue;
        proto::FollowRecord record{entry->first, proto::kStatusOk, entry->second.last_seq};
        if (!page.take(list.follows.size(), proto::encoded_size(record))) {
            list.more = 1;
            list.after = list.follows.back().group;
            break;
        }
        list.follows.push_back(std::move(record));
    }
    responder_.reply(from, list, request.request_id, peer);
}

void GroupServer::on_owner_request(const std::string& from, const Key& peer,
                                   const proto::Message& request) {
    Group* group = owned_group(from, peer, request);
    if (!group) return;
    if ((request.id == proto::kAdd || request.id == proto::kRemove || request.id == proto::kGive) &&
        request.key.is_nil())
        return responder_.error(from, request.request_id, proto::kInvalid,
                                "the all-zero key is no key");
    Status status;
    switch (request.id) {
    case proto::kAdd:
        if (group->allowed.count(request.key)) break;
        if (group->allowed.size() >= limits_.members)
            return responder_.refuse(from, request.request_id, proto::kLimitReached,
                                     "'" + group->name + "' has its maximum of " +
                                         std::to_string(limits_.members) +
                                         " added keys (--max-members)",
                                     peer);
        status = store_->allow(group->name, request.key);
        if (status.is_ok()) group->allowed.insert(request.key);
        break;
    case proto::kRemove:
        if (request.key == group->owner)
            return responder_.refuse(
                from, request.request_id, proto::kDenied,
                "the owner cannot remove itself: give the group to another key first", peer);
        //  Two steps, each kept as the store has it: a 507 after the first leaves the key
        //  not allowed but still a member, here as after a restart (the REMOVE repeated
        //  ends it).
        status = store_->disallow(group->name, request.key);
        if (status.code() == Status::kNotFound) status = Status::ok();
        if (status.is_ok()) group->allowed.erase(request.key);
        if (status.is_ok() && group->members.count(request.key)) {
            status = store_->remove_member(group->name, request.key);
            if (status.code() == Status::kNotFound) status = Status::ok();
        }
        if (status.is_ok()) {
            group->members.erase(request.key);
            end_follows(*group, request.key);
            summary_changed(*group);
        }
        break;
    case proto::kGive:
        if (request.key == group->owner) break;
        //  Only to a key that joined: a group is not put on a key that did not ask for it
        //  (nor does it fill that key's --max-groups-per-owner, which its own CREATEs need).
        if (!group->members.count(request.key))
            return responder_.refuse(from, request.request_id, proto::kNotMember,
                                     "the key is not a member of '" + group->name +
                                         "': a group is given only to a key that joined it",
                                     peer);
        if (groups_owned_by(request.key) >= limits_.groups_per_owner)
            return responder_.refuse(from, request.request_id, proto::kLimitReached,
                                     "the key owns its maximum of " +
                                         std::to_string(limits_.groups_per_owner) +
                                         " groups here (--max-groups-per-owner)",
                                     peer);
        status = store_->set_owner(group->name, request.key);
        if (status.is_ok()) set_owner(*group, request.key);
        break;
    case proto::kPolicy:
        status = store_->set_policy(group->name, request.policy ? Policy::kMembers : Policy::kOpen);
        if (status.is_ok()) {
            group->policy = request.policy ? Policy::kMembers : Policy::kOpen;
            summary_changed(*group);
        }
        break;
    case proto::kRetain: {
        Retention wanted;
        wanted.max_count = request.max_count;
        wanted.max_bytes = request.max_bytes;
        wanted.max_age_us = ms_to_us(request.max_age_ms);
        std::string why;
        if (retain(group->name, wanted, &why) != Error::kOk)
            return responder_.error(from, request.request_id, proto::kStorage, why);
        break;
    }
    }
    if (!status.is_ok())
        return responder_.error(from, request.request_id, storage_status(status), status.message());
    //  Within the budget of request lines: an owner may repeat its requests at its rate.
    ZGM_REQUEST(responder_, "group server: %s of '%s' by its owner",
                proto::message_name(request.id), group->name.c_str());
    proto::Message ok;
    ok.id = proto::kOk;
    responder_.reply(from, ok, request.request_id);
}

//  The server's figures, and a page of its groups': for its own key and its admins only.
void GroupServer::on_stats(const std::string& from, const Key& peer,
                           const proto::Message& request) {
    if (!listener_.admin(peer))
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "STATS is for the group server's own key and its --admin keys",
                                 peer);
    Report report;
    report.add("server", "key", listener_.keys().public_txt);
    report.add("server", "endpoint", link_.advertised());
    report.add("server", "uptime_s", (uint64_t)((mono_ms() - started_ms_) / 1000));
    report.add("server", "rss_kib", resident_kib());
    uint64_t disk = 0;
    if (store_status_.is_ok()) store_->disk_size(&disk);
    report.add("server", "store_bytes", disk);
    report.add("server", "recent_bytes", store_status_.is_ok() ? store_->recent_bytes() : 0);
    report.add("server", "groups", (uint64_t)groups_.size());
    ZapDomain* domain = listener_.domain();
    report.add("server", "connections", domain ? (uint64_t)domain->connections.load() : 0);
    report.add("server", "unread_bytes", responder_.receipts().total());
    report.add("server", "sends", counters_.sends);
    report.add("server", "duplicates", counters_.duplicates);
    report.add("server", "fetches", counters_.fetches);
    report.add("server", "catch_ups", counters_.catch_ups);
    report.add("server", "pushes", counters_.pushes);
    report.add("server", "delivered", counters_.delivered);
    report.add("server", "dropped_pushes", counters_.dropped_pushes);
    add_refusals(&report, "server", domain, responder_.refusals(),
                 responder_.malformed().by_reason());
    uint32_t limit = request.limit && request.limit < 1000 ? request.limit : 100;
    auto it = request.after.empty() ? groups_.begin() : groups_.upper_bound(request.after);
    uint32_t count = 0;
    for (; it != groups_.end() && count < limit && report.size() < proto::kMaxBody / 2;
         ++it, count++) {
        const Group& group = it->second;
        std::string scope = "group/" + group.name;
        GroupInfo info;
        if (store_->group_info(group.name, &info).is_ok()) {
            report.add(scope, "messages", info.message_count);
            report.add(scope, "bytes", info.bytes);
            report.add(scope, "first_seq", info.first_seq);
        }
        report.add(scope, "last_seq", group.last_seq);
        report.add(scope, "members", (uint64_t)group.members.size());
        report.add(scope, "followers", (uint64_t)group.followers.size());
        report.add(scope, "sends", group.sends);
        report.add(scope, "fetches", group.fetches);
        report.add(scope, "catch_ups", group.catch_ups);
        report.add(scope, "pushes", group.push_count);
        report.add(scope, "delivered", group.delivered);
        report.add(scope, "dropped_pushes", group.dropped_pushes);
        report.add(scope, "policy", group.policy == Policy::kMembers ? "members" : "open");
        report.add(scope, "owner", group.owner.is_nil() ? "" : group.owner.str());
    }
    proto::Message answer;
    answer.id = proto::kStatsReport;
    answer.more = it != groups_.end() ? 1 : 0;
    answer.report = report.text();
    responder_.reply(from, answer, request.request_id);
}

void GroupServer::on_send(const std::string& from, const Key& peer, proto::Message& request,
                          std::vector<proto::Message>* held, std::vector<AppendRequest>* batch,
                          std::vector<PendingSend>* sends) {
    ZGM_REQUEST(responder_, "MESSAGE SEND FROM %s", peer.str().c_str());
    Group* group = find_group(from, request);
    if (!group) return;
    if (!group->members.count(peer)) {
        if (!repeats_answered(from, peer, *group, request)) refuse_non_member(from, request);
        return;
    }
    if (request.sends.empty()) { //  nothing to commit: answered now (no SentRecord), not never
        proto::Message sent;
        sent.id = proto::kSent;
        responder_.reply(from, sent, request.request_id);
        return;
    }
    if (!request.after_msg_id.is_nil() &&
        !holds(*group, from, peer, request.after_msg_id, *batch)) {
        //  Stored now, it would come before an earlier message of the sender's that may
        //  still be (a refused or lost request, a slow link): the sender sends it again once
        //  that one has its outcome.
        return responder_.error(from, request.request_id, proto::kTooEarly,
                                "not stored: the message before it (" + request.after_msg_id.str() +
                                    ") is not stored in '" + group->name +
                                    "'; send again once it has its outcome");
    }
    const std::string& name = group->members[peer];
    PendingSend pending{from, request.request_id, batch->size(), request.sends.size()};
    for (const proto::SendRecord& record : request.sends) {
        AppendRequest append;
        append.group = group->name;
        append.sender = peer;
        append.sender_name = name;
        append.msg_id = record.msg_id;
        append.body.assign(record.body.data(), record.body.size());
        batch->push_back(std::move(append));
    }
    staged_last_[{group->name, from}] = {request.sends.back().msg_id, batch->size() - 1};
    sends->push_back(pending);
    held->push_back(std::move(request));
}

//  A SEND from a key that is not a member, every message of which that key stored while it
//  was one (a send in doubt, sent again after the owner removed it): answered as repeats are,
//  with their seqs, so that its sender can settle it. Anything else from it is refused (403),
//  after one lookup for a new message.
bool GroupServer::repeats_answered(const std::string& from, const Key& peer, const Group& group,
                                   const proto::Message& request) {
    if (request.sends.empty()) return false;
    proto::Message sent;
    sent.id = proto::kSent;
    for (const proto::SendRecord& record : request.sends) {
        Store::Holder holder = Store::Holder::kNone;
        AppendResult original;
        if (record.msg_id.is_nil() ||
            !store_->holder(group.name, peer, record.msg_id, &holder, &original).is_ok() ||
            holder != Store::Holder::kSender)
            return false;
        proto::SentRecord answer;
        answer.seq = original.seq;
        answer.timestamp = original.timestamp;
        sent.sent.push_back(answer);
    }
    counters_.duplicates += sent.sent.size();
    responder_.reply(from, sent, request.request_id);
    return true;
}

//  Whether the sender's message msg_id is in the group, or will be once the batch about to be
//  committed is: the last that connection from put in it, unless the commit will refuse it
//  (another sender's message has that id, stored or earlier in the batch).
bool GroupServer::holds(const Group& group, const std::string& from, const Key& sender,
                        const Uuid& msg_id, const std::vector<AppendRequest>& batch) {
    auto staged = staged_last_.find({group.name, from});
    bool is_staged = staged != staged_last_.end() && staged->second.msg_id == msg_id;
    Store::Holder holder = Store::Holder::kNone;
    Status status = store_->holder(group.name, sender, msg_id, &holder, nullptr);
    if (!status.is_ok()) {
        //  The store is failing: this batch's commit will answer 507, not 425.
        store_error(status.message());
        return is_staged;
    }
    if (holder != Store::Holder::kNone || !is_staged) return holder == Store::Holder::kSender;
    //  The commit stores the first record of an id; a later one with it is a repeat of the
    //  same sender's (it holds it), or another sender's (409).
    for (size_t i = 0; i < staged->second.index; i++)
        if (batch[i].msg_id == msg_id && batch[i].group == group.name)
            return batch[i].sender == sender;
    return true;
}

//  The store failed (a full disk fails every commit while senders go on): logged as an
//  error once per kStoreErrorsMs, with how many more failed meanwhile; sweep() says the rest.
void GroupServer::store_error(const std::string& why) {
    int64_t now = mono_ms();
    if (now < next_store_error_ms_) {
        store_errors_unsaid_++;
        return;
    }
    ZGM_ERROR("group server: store failed: %s", why.c_str());
    next_store_error_ms_ = now + kStoreErrorsMs;
}

void GroupServer::commit(std::vector<AppendRequest>& batch, std::vector<PendingSend>& sends) {
    std::vector<AppendResult> results;
    Status status = store_->append(batch, now_us(), &results);
    if (!status.is_ok() || results.size() != batch.size()) {
        bool in_doubt = status.code() == Status::kInDoubt;
        store_error(std::to_string(batch.size()) + " messages " +
                    (in_doubt ? "in doubt" : "refused") + ": " + status.message());
        for (const PendingSend& send : sends)
            responder_.error(send.from, send.request_id, storage_status(status),
                             in_doubt ? "may be stored: " + status.message() +
                                            "; send it again with the same id to settle it"
                                      : "not stored: " + status.message());
        return;
    }
    for (const PendingSend& send : sends) {
        proto::Message sent;
        sent.id = proto::kSent;
        for (size_t i = send.first; i < send.first + send.count; i++) {
            const AppendResult& result = results[i];
            proto::SentRecord record;
            if (result.status.is_ok()) {
                record.seq = result.seq;
                record.timestamp = result.timestamp;
            } else {
                record.status =
                    result.status.code() == Status::kExists ? proto::kConflict : proto::kStorage;
            }
            sent.sent.push_back(record);
        }
        responder_.reply(send.from, sent, send.request_id);
    }
    //  The fresh messages of each group, in seq order, pointing into the batch.
    std::map<std::string, std::vector<proto::MessageRecord>> fresh;
    for (size_t i = 0; i < batch.size(); i++) {
        const AppendResult& result = results[i];
        if (!result.status.is_ok()) continue;
        if (result.duplicate) {
            counters_.duplicates++;
            continue;
        }
        counters_.sends++;
        proto::MessageRecord record;
        record.seq = result.seq;
        record.timestamp = result.timestamp;
        record.sender = batch[i].sender;
        record.msg_id = batch[i].msg_id;
        record.sender_name = batch[i].sender_name;
        record.body = batch[i].body;
        fresh[batch[i].group].push_back(record);
    }
    for (auto& entry : fresh) {
        Group& group = groups_[entry.first];
        group.last_seq = entry.second.back().seq;
        group.sends += entry.second.size();
        deliver(group, entry.second);
    }
}

//  Pushes new messages to the group's followers: DELIVER frames cut at kDeliverBytes
//  (deliver_frame_end), each encoded once and shared (zmq_msg_copy) by every follower.
void GroupServer::deliver(Group& group, const std::vector<proto::MessageRecord>& records) {
    if (group.followers.empty()) {
        //  Nobody to push to: nothing to encode, and no window of pushes to keep (it held up
        //  to --max-follower-bytes of entries in every group written to). A follower that
        //  comes starts at the group's end, or further back and catches up by FETCH.
        group.pushed.restart(records.back().seq);
        return;
    }
    proto::Message deliver;
    deliver.id = proto::kDeliver;
    deliver.group = group.name;
    for (size_t begin = 0, end; begin < records.size(); begin = end) {
        end = proto::deliver_frame_end(records, begin);
        deliver.messages.assign(records.begin() + begin, records.begin() + end);
        size_t size = proto::encoded_size(deliver);
        zmq_msg_t frame;
        if (size && zmq_msg_init_size(&frame, size) == 0) {
            proto::encode_into(deliver, (uint8_t*)zmq_msg_data(&frame), size);
            push(group, &frame, deliver.messages.back().seq, size, deliver.messages.size());
            zmq_msg_close(&frame);
        }
    }
}

void GroupServer::push(Group& group, zmq_msg_t* frame, uint64_t last_seq, size_t bytes,
                       size_t messages) {
    //  Account the push first: a follower's backlog includes it.
    group.pushed.pushed(last_seq, bytes, limits_.follower_bytes);
    //  The followers it goes to: too far behind by its acknowledgements, or by what it has
    //  shown it read, one catches up by FETCH. Each is charged its share of the one frame.
    std::vector<Followers::iterator> to_push;
    to_push.reserve(group.followers.size());
    for (auto it = group.followers.begin(); it != group.followers.end(); ++it) {
        if (group.pushed.behind(it->second.acked_seq) > limits_.follower_bytes ||
            responder_.holds_pushes(it->first.second)) {
            counters_.dropped_pushes++;
            group.dropped_pushes++;
        } else {
            to_push.push_back(it);
        }
    }
    for (size_t place = 0; place < to_push.size(); place++) {
        auto it = to_push[place];
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, frame);
        if (!responder_.send(it->first.second, &copy, to_push.size(), place)) {
            if (errno == EHOSTUNREACH) { //  gone: it follows again when it comes back
                remove_follower(group, it);
                continue;
            }
            counters_.dropped_pushes++; //  full: it catches up with FETCH
            group.dropped_pushes++;
            continue;
        }
        counters_.pushes++;
        counters_.delivered += messages;
        group.push_count++;
        group.delivered += messages;
    }
}

void GroupServer::remove_follower(Group& group, Followers::iterator it) {
    auto count = follows_by_key_.find(it->first.first);
    if (count != follows_by_key_.end() && --count->second == 0) follows_by_key_.erase(count);
    group.followers.erase(it);
}

//  At its --max-follows, a key that follows the group on another connection follows it on
//  this one instead: a client that restarted and follows its groups again is not refused for
//  the follows of its closed connection until they lapse. Two live connections of one key
//  at the limit take the follow from each other at each refresh; each catches up by FETCH.
bool GroupServer::move_follow(Group& group, const Key& key) {
    auto it = group.followers.lower_bound({key, std::string()});
    if (it == group.followers.end() || !(it->first.first == key)) return false;
    remove_follower(group, it);
    return true;
}

//  Every follow of the key in the group ends (it left, or was removed).
void GroupServer::end_follows(Group& group, const Key& key) {
    auto it = group.followers.lower_bound({key, std::string()});
    while (it != group.followers.end() && it->first.first == key)
        remove_follower(group, it++);
}

//  Follows that were not refreshed lapse; idle rate buckets go; refusal counts are logged.
void GroupServer::sweep() {
    int64_t now = mono_ms();
    for (auto& entry : groups_) {
        Group& group = entry.second;
        for (auto it = group.followers.begin(); it != group.followers.end();) {
            auto next = std::next(it);
            if (now - it->second.refreshed_ms > kFollowLapseMs) remove_follower(group, it);
            it = next;
        }
    }
    rates_.sweep(now);
    responder_.tick(now);
    if (store_status_.is_ok()) {
        //  What retention no longer keeps (by age as time passes, or after a RETAIN, or what
        //  a write left): a part at a time (the store's bound), for kTrimPassMs at most, and
        //  what is left at the next sweep, so that requests are served meanwhile.
        int64_t started = mono_ms();
        bool more = true;
        while (more && mono_ms() - started < kTrimPassMs)
            if (!store_->trim(now_us(), nullptr, &more).is_ok()) more = false;
    }
    if (store_errors_unsaid_ && now >= next_store_error_ms_) {
        ZGM_ERROR("group server: store failed %" PRIu64 " more times in the last %d s",
                  store_errors_unsaid_, kStoreErrorsMs / 1000);
        store_errors_unsaid_ = 0;
        next_store_error_ms_ = now + kStoreErrorsMs;
    }
    listener_.give_back_memory();
    next_sweep_ms_ = now + kSweepMs;
}

} // namespace

void server_actor(zsock_t* pipe, void* args) {
    GroupServer server(pipe, (const char*)args);
    server.run();
}

} // namespace zgm
