/*  =========================================================================
    registry.cc - the registry actor

    Keeps, for each live group, its id, name, policy, member count, and the group server
    that serves it: that server's key and endpoint. Group servers, known by the key of their
    connection and trusted by it, REGISTER each group and send HEARTBEATs; a name belongs to
    the key that registered it until that server deregisters or falls silent for the expiry
    interval. A HEARTBEAT from a server the registry does not know (say, after a registry
    restart) is answered 404, and the server registers its groups again; until every
    trusted server has said, in a HEARTBEAT, that the registry holds all its groups, or
    else one expiry interval has passed since the start with no group server's requests
    left waiting in its input for two check intervals (they may be REGISTERs), LIST says
    the list may be incomplete and RESOLVE answers a miss with 503 rather than 404. A
    CREATE goes to a group server as HOST; one not answered in time is in doubt (504), and
    its name kept for its creator a while.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "registry/registry.h"

#include "core/clock.h"
#include "core/errors.h"
#include "core/limits.h"
#include "core/names.h"
#include "core/report.h"
#include "core/zap.h"
#include "net/listener.h"
#include "net/responder.h"
#include "net/sockets.h"
#include "proto/proto.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace zgm {

namespace {

constexpr int kCreateTimeoutMs = 5000;
//  How long a CREATE whose group server did not answer HOST in time stays in doubt while that
//  server is live: its name is kept for its creator (504), whose CREATE asks that server
//  again. While the server is away, as long as an away group.
constexpr int64_t kInDoubtMs = 10 * 60 * 1000;
//  Requests taken in one pass over the socket before the registry looks at its pipe and its
//  clock again; a pass that leaves a trusted group server's requests waiting is behind.
constexpr int kRequestsPerPass = 1000;
//  Requests of a connection libzmq reads ahead of the registry: more than a pass takes, so
//  that a backlog shows in what a pass leaves (held in TCP instead, every pass found its input
//  empty, and a server whose heartbeats waited there was dropped). Its requests are small (it
//  handles a malformed frame of its 64 KiB at once); a group server reads kReadAheadRequests
//  ahead (core/limits.h).
constexpr int kReadAhead = 2 * kRequestsPerPass;
//  CREATEs of one key under way or in doubt at once, at most.
constexpr size_t kMaxCreatesPerKey = 16;
//  CREATEs repeated by their creator that wait for one HOST's outcome (past them: 503).
constexpr size_t kMaxWaitersPerCreate = 16;
//  How long a group whose server left stays known as "away" rather than "no such group".
constexpr int64_t kAwayMs = 24 * 3600 * 1000;
constexpr uint32_t kPageSize = 1000;
constexpr int kTrustCacheMs = 1000;  //  a key not known reads the trusted directories again
constexpr int kTrustRereadMs = 5000; //  and so does time: a certificate rewritten in place

struct ServerEntry {
    std::string routing_id;
    std::string endpoint;
    bool accept_new = false;
    int64_t last_seen_ms = 0;
    uint32_t groups = 0;                     //  groups registered by this server
    int64_t host_timed_out_ms = -kInDoubtMs; //  when a HOST to it last went unanswered
    int64_t since_ms = 0;                    //  when the registry last began to know it
    //  Its last HEARTBEAT that the registry accepted said the registry holds every group
    //  it hosts (hosted_count equal to group_count).
    bool all_known = false;
};

struct GroupEntry {
    Uuid id;
    std::string name;
    Key server;
    uint8_t policy = 0;
    uint32_t member_count = 0;
    Key creator; //  the key whose CREATE its server answered OK (nil for groups a server
                 //  hosts itself, and until that OK)
};

//  A group whose server left (stopped, or fell silent): its name is free for a trusted group
//  server's REGISTER, not for a user's CREATE (409), and a user asking for it is told its
//  server is away, not that there is no such group.
struct AwayGroup {
    std::string endpoint;
    int64_t since_ms; //  when its server was last heard from
    const char* why;  //  "stopped", "fell silent", ...: a phrase that follows "its server"
    Key server;
};

//  Why a group is dropped when its server's HEARTBEAT hosts fewer groups than the registry
//  holds for its key and has refused to it (on_heartbeat); such a group is forgotten once
//  those held and those refused are as many as the server hosts.
const char* const kStartedWithout = "was started again without it";

//  A CREATE whose group server did not answer HOST in time: it may yet create the group. Its
//  REGISTER of the name does not settle it (an operator may have added the group there for
//  another owner); its OK to a HOST for the creator does.
struct DoubtfulCreate {
    Key server;
    Key creator;
    uint32_t host_id = 0;
    int64_t since_ms = 0;
};

//  A requester waiting for a CREATE.
struct Waiter {
    std::string routing_id;
    uint32_t request_id = 0;
    uint8_t policy = 0; //  the policy its CREATE asked for
};

//  A CREATE waiting for the group server's answer to HOST.
struct PendingCreate {
    std::vector<Waiter> waiters;
    std::string group;
    Key server;
    Key creator;
    int64_t deadline_ms = 0;
};

class Registry {
public:
    explicit Registry(zsock_t* pipe) : pipe_(pipe), limits_(registry_default_limits()) {
        started_ms_ = mono_ms();
        rates_.set_rate(limits_.rate);
    }
    ~Registry() { listener_.close(); }

    void run();

private:
    bool handle_pipe();
    Error set(const std::string& name, const std::string& value, std::string* why);
    //  Takes up to 1,000 requests; false if it left some waiting behind a group server's.
    bool handle_socket();
    void handle(const std::string& from, const Key& peer, proto::Message& request);
    bool trusted(const Key& key);
    void read_trust_dirs();
    void say_trust_notes(const std::vector<std::string>& notes, bool every_dir);
    std::string trust_dirs_stamp() const;
    void on_register(const std::string& from, const Key& peer, const proto::Message& request);
    void on_heartbeat(const std::string& from, const Key& peer, const proto::Message& request);
    bool connection_open(const std::string& routing_id);
    bool key_held_elsewhere(const std::string& from, const Key& peer, const std::string& endpoint);
    void refuse_key_held(const std::string& from, const Key& peer, uint32_t request_id);
    void on_deregister(const std::string& from, const Key& peer, const proto::Message& request);
    void on_list(const std::string& from, const Key& peer, const proto::Message& request);
    void on_resolve(const std::string& from, const proto::Message& request);
    void on_create(const std::string& from, const Key& peer, const proto::Message& request);
    void on_host_reply(const Key& peer, const proto::Message& reply);
    void on_stats(const std::string& from, const Key& peer, const proto::Message& request);
    void send_group(const std::string& to, uint32_t request_id, const GroupEntry& group);
    std::string away_reason(const std::string& group, const AwayGroup& away) const;
    std::string in_doubt_reason(const std::string& group, const Key& server,
                                const char* what) const;
    //  HOST asks server to create group for creator with the waiter's policy.
    bool send_host(const std::string& group, const Key& server, const Key& creator,
                   const Waiter& waiter);
    void settle(uint32_t host_id, const PendingCreate& pending, bool answered);
    size_t creates_of(const Key& creator) const;
    //  Answers a CREATE over kMaxCreatesPerKey: 430.
    void refuse_creates(const std::string& from, const proto::Message& request, const Key& peer);
    //  Names listed, being created, or in doubt and not registered: what --max-groups counts.
    size_t names_held() const;
    bool choose_server(int64_t now, const std::set<Key>& tried, Key* chosen);
    //  The CREATE under way for group (at most one), or nullptr.
    PendingCreate* pending_create(const std::string& group);
    //  Whether the registry knows every live group: learned_ is set at the first check
    //  after one expiry interval from the start that follows two whole check intervals in
    //  which no pass left a group server's request waiting, or before that by learn_early.
    bool complete() const { return learned_; }
    //  Sets learned_ once every group server the registry trusts has said, in a HEARTBEAT
    //  it accepted, that the registry holds all its groups (ServerEntry::all_known).
    void learn_early();
    //  When a request answered "still learning" may come back: the registry may know every
    //  group at any heartbeat (learn_early), and does at the first check an expiry interval
    //  after its start that ends two intervals caught up (the next check, if not).
    uint32_t learning_retry_ms() const {
        int64_t left_ms = expiry_ms_ - (mono_ms() - started_ms_);
        return (uint32_t)(left_ms > 10 ? std::min<int64_t>(left_ms, check_ms()) : check_ms());
    }
    //  How often expire() runs: a third of the expiry interval, at least every 10 ms and at
    //  most every second, which is also when a CREATE's 5 s for its HOST are checked.
    int check_ms() const { return std::min(std::max(expiry_ms_ / 3, 10), 1000); }
    void expire();
    void drop_server(const Key& server, const char* why);
    //  Forgets the groups dropped kStartedWithout from server: gone, not away.
    void forget_started_without(const Key& server);

    zsock_t* pipe_;
    ServerLimits limits_;
    RateLimiter rates_;
    Responder responder_{"registry"};
    Listener listener_{"registry", kMinRegistryFrame, &limits_, &rates_, &responder_, kReadAhead};
    std::set<Key> trusted_keys_;
    std::vector<std::string> trust_dirs_;
    std::set<Key> dir_keys_;            //  the keys in trust_dirs_ at the last reading
    std::set<std::string> trust_notes_; //  what that reading warned of (files skipped)
    int64_t read_dirs_ms_ = 0;          //  when they were read
    std::string dirs_stamp_;            //  and their modification times then
    bool dirs_unread_ = false;          //  one of them could not be read then
    int expiry_ms_ = 3000;
    int64_t next_expiry_ms_ = 0; //  when expire() runs next
    int64_t started_ms_ = 0;
    uint64_t lists_ = 0, resolves_ = 0, creates_taken_ = 0; //  users' requests taken, by kind
    bool learned_ = false;
    bool behind_ = false;     //  a pass since the last check left a server's requests waiting
    bool was_behind_ = false; //  one in the interval before it did
    uint32_t next_request_id_ = 1;
    std::map<Key, ServerEntry> servers_;
    std::map<std::string, GroupEntry> groups_; //  by name, in name order for LIST
    std::map<std::string, AwayGroup> away_;    //  by name; at most max-groups, for kAwayMs
    std::set<Key> started_without_;            //  keys with groups away as kStartedWithout
    //  The names refused to each trusted key (409, 430) since it last registered them or
    //  was dropped (it sends them again at each heartbeat); at most max-groups a key.
    std::map<Key, std::set<std::string>> refused_names_;
    std::map<uint32_t, PendingCreate> creates_;      //  by HOST request id
    std::map<std::string, DoubtfulCreate> doubtful_; //  by name, for kInDoubtMs
};

//  zmq_poll rather than zpoller: a zpoller gives up on CZMQ's interrupt flag, and an
//  application's Ctrl-C must not stop the registry under its zgm_registry_t.
void Registry::run() {
    zsock_signal(pipe_, 0);
    next_expiry_ms_ = mono_ms() + check_ms();
    while (true) {
        zsock_t* socket = listener_.socket();
        zmq_pollitem_t items[2] = {{zsock_resolve(pipe_), 0, ZMQ_POLLIN, 0},
                                   {socket ? zsock_resolve(socket) : nullptr, 0, ZMQ_POLLIN, 0}};
        int64_t wait = next_expiry_ms_ - mono_ms();
        if (zmq_poll(items, socket ? 2 : 1, wait > 0 ? (long)wait : 0) < 0 && errno != EINTR) break;
        if ((items[0].revents & ZMQ_POLLIN) && !handle_pipe()) break;
        //  Whether a pass over the socket since the last check left a group server's
        //  requests waiting. A pass that finds the input empty says little when the passes
        //  before it did not: libzmq's I/O thread may just not have refilled it yet.
        if (socket && (items[1].revents & ZMQ_POLLIN) && !handle_socket()) behind_ = true;
        int64_t now = mono_ms();
        if (now >= next_expiry_ms_) {
            //  A registry behind on its input may hold the very heartbeats it would miss
            //  (the soak saw a whole server dropped and registered again in one second), and
            //  one that has just caught up may find its input empty while what followed
            //  them is still on its way (an interval with no request at all, between two
            //  behind, dropped a server in about 1 of 60 runs of test_registry's backlog test):
            //  silence is judged only after a whole interval caught up.
            bool caught_up = !behind_ && !was_behind_;
            if (caught_up) expire();
            //  Nor has it learned its groups yet: REGISTERs may wait in that input too.
            if (caught_up && now - started_ms_ >= expiry_ms_) learned_ = true;
            was_behind_ = behind_;
            behind_ = false;
            rates_.sweep(now);
            responder_.tick(now);
            listener_.give_back_memory();
            next_expiry_ms_ = now + check_ms();
        }
    }
}

bool Registry::handle_pipe() {
    zmsg_t* msg = zmsg_recv(pipe_);
    if (!msg) return false;
    char* command = zmsg_popstr(msg);
    char* name = zmsg_popstr(msg);
    char* value = zmsg_popstr(msg);
    bool alive = true;
    if (!command || streq(command, "$TERM")) {
        alive = false;
    } else if (streq(command, "SET")) {
        std::string why;
        Error code = set(name ? name : "", value ? value : "", &why);
        zsock_send(pipe_, "is", (int)code, why.c_str());
    } else if (streq(command, "BIND")) {
        std::string bound;
        listener_.bind(pipe_, name ? name : "", &bound);
    } else if (streq(command, "KEY")) {
        zsock_send(pipe_, "s", listener_.keys().public_txt.c_str());
    }
    zstr_free(&command);
    zstr_free(&name);
    zstr_free(&value);
    zmsg_destroy(&msg);
    return alive;
}

Error Registry::set(const std::string& name, const std::string& value, std::string* why) {
    Error code = Error::kOk;
    if (listener_.set(name, value, &code, why)) return code;
    if (name == "trust") {
        Key key;
        if (!Key::parse(value, &key)) {
            *why = "trust: not a key (40 Z85 characters)";
            return Error::kInvalid;
        }
        trusted_keys_.insert(key);
    } else if (name == "trust-dir") {
        std::vector<Key> keys;
        std::vector<std::string> notes;
        if (!read_public_keys_in(value, &keys, why, &notes)) return Error::kSystem;
        trust_dirs_.push_back(value);
        dir_keys_.insert(keys.begin(), keys.end());
        say_trust_notes(notes, false);
    } else if (!set_number({{"expiry", 1, UINT32_MAX,
                             [this](uint64_t n) {
                                 expiry_ms_ = (int)n;
                                 //  A shorter interval counts from now, not from the check
                                 //  the longer one planned.
                                 next_expiry_ms_ =
                                     std::min(next_expiry_ms_, mono_ms() + check_ms());
                             }},
                            {"max-groups", 1, UINT32_MAX,
                             [this](uint64_t n) { limits_.groups = (uint32_t)n; }}},
                           name, value, &code, why)) {
        *why = "no registry setting '" + name + "'";
        return Error::kInvalid;
    }
    return code;
}

//  Takes what is waiting, but bounded, so the pipe and timers are not starved. Returns
//  false if requests were left waiting.
bool Registry::handle_socket() {
    //  A group server's heartbeat waits only behind what its own connection sent before it
    //  (libzmq takes a message from each connection in turn): a pass that left requests
    //  waiting is behind only if a trusted key's were among them. Others' floods of
    //  requests, refusals or malformed frames do not hold off the expiry of silent servers.
    bool from_a_server = false;
    for (int i = 0; i < kRequestsPerPass; i++) {
        std::string from;
        Key peer;
        proto::Message request;
        Responder::Received received = responder_.next(&from, &peer, &request);
        if (received == Responder::kNone) return true;
        if (received != Responder::kRequest) continue;
        //  The trusted keys as last read (trusted() may read the directories again: not
        //  for every request).
        from_a_server = from_a_server || trusted_keys_.count(peer) || dir_keys_.count(peer);
        handle(from, peer, request);
    }
    return !from_a_server;
}

void Registry::handle(const std::string& from, const Key& peer, proto::Message& request) {
    //  A connection that proved no key was refused by the responder; one that states the
    //  all-zero key has none either.
    if (peer.is_nil())
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "no key on this connection", peer);
    //  Trusted group servers are bounded by trust; users by their rate, and so is a key
    //  that sends what a group server would without being trusted.
    bool server_message = request.id == proto::kRegister || request.id == proto::kHeartbeat ||
                          request.id == proto::kDeregister || request.id == proto::kOk ||
                          request.id == proto::kError;
    uint32_t retry_ms = 0;
    if (!(server_message && trusted(peer)) && !rates_.admit(peer, 1, mono_ms(), &retry_ms))
        return responder_.refuse(
            from, request.request_id, proto::kRateLimited,
            "too many requests: try again in " + std::to_string(retry_ms) + " ms", peer, retry_ms);
    switch (request.id) {
    case proto::kRegister:
        return on_register(from, peer, request);
    case proto::kHeartbeat:
        return on_heartbeat(from, peer, request);
    case proto::kDeregister:
        return on_deregister(from, peer, request);
    case proto::kList:
        lists_++;
        return on_list(from, peer, request);
    case proto::kResolve:
        resolves_++;
        return on_resolve(from, request);
    case proto::kCreate:
        creates_taken_++;
        return on_create(from, peer, request);
    case proto::kStats:
        return on_stats(from, peer, request);
    case proto::kOk:
    case proto::kError:
        return on_host_reply(peer, request);
    default:
        responder_.refuse(
            from, request.request_id, proto::kBadRequest,
            std::string("the registry does not take ") + proto::message_name(request.id), peer);
    }
}

//  Trusted: given by key, or with a certificate in a trusted directory. The directories are
//  read again at once when one of them changed (a file added, removed or renamed: a server
//  whose certificate was removed is refused at its next request), for a key not known when a
//  second has passed (a certificate just copied in), and every kTrustRereadMs (one rewritten
//  in place), so trust changes without a restart. A stat(2) a directory per server request.
bool Registry::trusted(const Key& key) {
    if (trusted_keys_.count(key)) return true;
    if (trust_dirs_.empty()) return false;
    if (trust_dirs_stamp() != dirs_stamp_ ||
        (!dir_keys_.count(key) && mono_ms() - read_dirs_ms_ >= kTrustCacheMs))
        read_trust_dirs();
    return dir_keys_.count(key) > 0;
}

//  The modification times of the trusted directories, which change when a file is added,
//  removed or renamed in them.
std::string Registry::trust_dirs_stamp() const {
    std::string stamp;
    for (const std::string& dir : trust_dirs_) {
        struct stat info;
        if (stat(dir.c_str(), &info) == 0)
            stamp += std::to_string(info.st_mtim.tv_sec) + "." +
                     std::to_string(info.st_mtim.tv_nsec) + " ";
        else
            stamp += "- ";
    }
    return stamp;
}

void Registry::read_trust_dirs() {
    read_dirs_ms_ = mono_ms();
    dirs_stamp_ = trust_dirs_stamp();
    dirs_unread_ = false;
    std::set<Key> keys;
    std::vector<std::string> notes;
    for (const std::string& dir : trust_dirs_) {
        std::vector<Key> found;
        std::string why;
        if (read_public_keys_in(dir, &found, &why, &notes)) {
            keys.insert(found.begin(), found.end());
        } else {
            ZGM_WARN("registry: %s", why.c_str());
            dirs_unread_ = true;
        }
    }
    dir_keys_.swap(keys);
    say_trust_notes(notes, true);
}

//  Warns of each file of the trusted directories skipped, once while it stays
//  (the directories are read again every few seconds). every_dir: notes is of all of them,
//  and replaces what was said; else of one more directory.
void Registry::say_trust_notes(const std::vector<std::string>& notes, bool every_dir) {
    std::set<std::string> now(notes.begin(), notes.end());
    for (const std::string& note : now)
        if (!trust_notes_.count(note)) ZGM_WARN("registry: trusted directory: %s", note.c_str());
    if (every_dir)
        trust_notes_.swap(now);
    else
        trust_notes_.insert(now.begin(), now.end());
}

//  Whether another live group server has this key: the registry heard from it within the
//  expiry, at another endpoint, on another connection that is still open. (A server
//  restarted in place comes back at its endpoint: a live one would still hold that port. One
//  killed and started again elsewhere has had its connection closed by its system.) Two
//  processes with one key would otherwise take each other's groups in turns.
bool Registry::key_held_elsewhere(const std::string& from, const Key& peer,
                                  const std::string& endpoint) {
    auto found = servers_.find(peer);
    if (found == servers_.end()) return false;
    const ServerEntry& server = found->second;
    if (server.endpoint.empty() || server.routing_id == from || server.endpoint == endpoint ||
        mono_ms() - server.last_seen_ms >= expiry_ms_)
        return false;
    return connection_open(server.routing_id);
}

//  The ROUTER refuses a send to a connection that closed (EHOSTUNREACH): the probe is an OK
//  with request id 0, which answers no request and which a group server drops.
bool Registry::connection_open(const std::string& routing_id) {
    proto::Message probe;
    probe.id = proto::kOk;
    return responder_.reply(routing_id, probe, 0) || zmq_errno() != EHOSTUNREACH;
}

void Registry::refuse_key_held(const std::string& from, const Key& peer, uint32_t request_id) {
    const ServerEntry& server = servers_[peer];
    responder_.refuse(from, request_id, proto::kConflict,
                      "another live group server has this key, at " + server.endpoint +
                          " (one key for two group servers?); a group server that stopped "
                          "without saying so is dropped " +
                          std::to_string(expiry_ms_) + " ms after it fell silent",
                      peer);
}

void Registry::on_register(const std::string& from, const Key& peer,
                           const proto::Message& request) {
    if (!trusted(peer))
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "not a trusted group server: " + peer.str(), peer);
    if (!valid_name(request.group) || request.endpoint.empty())
        return responder_.refuse(from, request.request_id, proto::kInvalid,
                                 "REGISTER needs a valid group name and an endpoint", peer);
    //  Users would be given it: one they cannot connect to would only send them back here.
    std::string unusable = advertised_endpoint_problem(request.endpoint);
    if (!unusable.empty())
        return responder_.refuse(from, request.request_id, proto::kInvalid, unusable, peer);
    if (key_held_elsewhere(from, peer, request.endpoint))
        return refuse_key_held(from, peer, request.request_id);
    auto existing = groups_.find(request.group);
    uint16_t refusal = proto::kStatusOk;
    std::string why;
    if (existing != groups_.end() && existing->second.server != peer) {
        //  A name belongs to the key that holds it while that server is live.
        refusal = proto::kConflict;
        why = "group '" + request.group + "' is already served by " +
              servers_[existing->second.server].endpoint;
    } else if (existing == groups_.end()) {
        //  A name being created, or in doubt, belongs to the server asked to host it.
        auto doubtful = doubtful_.find(request.group);
        PendingCreate* pending = pending_create(request.group);
        if ((doubtful != doubtful_.end() && doubtful->second.server != peer) ||
            (pending && pending->server != peer)) {
            refusal = proto::kConflict;
            why = "group '" + request.group + "' is being created on another group server";
        } else if (groups_.size() >= limits_.groups) {
            refusal = proto::kLimitReached;
            why = "the registry lists its maximum of " + std::to_string(limits_.groups) +
                  " groups (--max-groups)";
        }
    }
    std::set<std::string>& refused = refused_names_[peer];
    if (refusal != proto::kStatusOk) {
        if (refused.size() < limits_.groups) refused.insert(request.group);
        return responder_.refuse(from, request.request_id, refusal, why, peer);
    }
    refused.erase(request.group);
    ServerEntry& server = servers_[peer];
    bool new_server = server.endpoint.empty();
    if (server.since_ms == 0) server.since_ms = mono_ms();
    server.routing_id = from;
    server.endpoint = request.endpoint;
    server.accept_new = request.accept_new != 0;
    server.last_seen_ms = mono_ms();
    if (existing == groups_.end()) {
        away_.erase(request.group);
        //  A CREATE in doubt stays so: the group's REGISTER does not say for whom it was
        //  made; the server's OK to the creator's HOST does.
        ZGM_REQUEST(responder_, "JOIN REQUEST FROM %s", endpoint_address(request.endpoint).c_str());
        ZGM_LOG("registry: group '%s' served by %s%s", request.group.c_str(),
                request.endpoint.c_str(), new_server ? " (new group server)" : "");
        GroupEntry& group = groups_[request.group];
        group.name = request.group;
        group.server = peer;
        server.groups++;
        existing = groups_.find(request.group);
    }
    existing->second.id = request.group_id;
    existing->second.policy = request.policy;
    existing->second.member_count = request.member_count;
    proto::Message ok;
    ok.id = proto::kOk;
    responder_.reply(from, ok, request.request_id);
}

void Registry::on_heartbeat(const std::string& from, const Key& peer,
                            const proto::Message& request) {
    if (!trusted(peer)) {
        drop_server(peer, "lost the registry's trust");
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "not a trusted group server: " + peer.str(), peer);
    }
    std::string unusable =
        request.endpoint.empty() ? "" : advertised_endpoint_problem(request.endpoint);
    if (!unusable.empty())
        return responder_.refuse(from, request.request_id, proto::kInvalid, unusable, peer);
    if (key_held_elsewhere(from, peer, request.endpoint))
        return refuse_key_held(from, peer, request.request_id);
    auto server = servers_.find(peer);
    //  It hosts fewer groups than the registry holds for its key, or has refused to it: some
    //  are no longer its own (a group server started again with another store, within the
    //  expiry). Kept, they would stay listed, and every heartbeat would be answered 404
    //  below, each refreshing the server by its REGISTERs. Its REGISTERs say again which
    //  are its own; the others are forgotten once they and the refused ones are all it
    //  hosts. Only from the connection the registry last heard the server on, or when that
    //  one has closed (a server started again that hosts no group the registry takes):
    //  one given up by a reconnect may still deliver an older HEARTBEAT, counting fewer
    //  groups than were added since.
    auto refused = refused_names_.find(peer);
    size_t accounted = (server != servers_.end() ? server->second.groups : 0) +
                       (refused != refused_names_.end() ? refused->second.size() : 0);
    if (server != servers_.end() && accounted > request.hosted_count &&
        (server->second.routing_id == from || !connection_open(server->second.routing_id))) {
        drop_server(peer, kStartedWithout);
        started_without_.insert(peer);
        server = servers_.end();
        accounted = 0;
    }
    //  A server hosting no group yet is known by its heartbeats alone (it may accept new
    //  groups); one whose groups the registry does not all know registers them again.
    if (server == servers_.end() && request.group_count == 0 && !request.endpoint.empty())
        server = servers_.emplace(peer, ServerEntry()).first;
    if (server != servers_.end() && server->second.since_ms == 0)
        server->second.since_ms = mono_ms();
    if (server == servers_.end() || server->second.groups != request.group_count) {
        if (server != servers_.end()) server->second.all_known = false;
        return responder_.error(from, request.request_id, proto::kNotFound,
                                "unknown group server or groups: register again");
    }
    server->second.last_seen_ms = mono_ms();
    server->second.routing_id = from;
    server->second.endpoint = request.endpoint;
    server->second.accept_new = request.accept_new != 0;
    server->second.all_known = request.hosted_count == request.group_count;
    if (accounted == request.hosted_count && started_without_.count(peer))
        forget_started_without(peer);
    if (!learned_ && server->second.all_known) learn_early();
    proto::Message ok;
    ok.id = proto::kOk;
    responder_.reply(from, ok, request.request_id);
}

//  The registry has read every REGISTER a server sent before its HEARTBEAT (one
//  connection keeps order), and accepts the HEARTBEAT only when it holds as many of its
//  groups as it counts registered or sent (group_count): equal to hosted_count, none is
//  left to come. (Groups it holds that are no longer the server's own were dropped first:
//  with them, those held and the names refused are more than hosted_count.) A trusted
//  server not heard from yet (down, or still connecting), or a trusted directory that
//  could not be read, leaves learning to the expiry interval.
void Registry::learn_early() {
    if (!trust_dirs_.empty() && trust_dirs_stamp() != dirs_stamp_) read_trust_dirs();
    if (dirs_unread_) return;
    auto holds_all = [this](const Key& key) {
        auto server = servers_.find(key);
        return server != servers_.end() && server->second.all_known;
    };
    for (const std::set<Key>* keys : {&trusted_keys_, &dir_keys_})
        for (const Key& key : *keys)
            if (!holds_all(key)) return;
    learned_ = true;
    ZGM_LOG("registry: knows every group %lld ms after its start (each group server it "
            "trusts has registered all its groups)",
            (long long)(mono_ms() - started_ms_));
}

void Registry::on_deregister(const std::string& from, const Key& peer,
                             const proto::Message& request) {
    if (!trusted(peer))
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "not a trusted group server: " + peer.str(), peer);
    //  A second server started with a live one's key, refused, says it stops as it exits:
    //  that is not the live server stopping (its groups were dropped until its next
    //  heartbeat).
    if (key_held_elsewhere(from, peer, request.endpoint))
        return refuse_key_held(from, peer, request.request_id);
    drop_server(peer, "stopped");
    proto::Message ok;
    ok.id = proto::kOk;
    responder_.reply(from, ok, request.request_id);
}

void Registry::on_list(const std::string& from, const Key& peer, const proto::Message& request) {
    ZGM_REQUEST(responder_, "GROUP LIST REQUEST FROM %s", peer.str().c_str());
    proto::Message page;
    page.id = proto::kGroups;
    page.complete = complete() ? 1 : 0;
    uint32_t limit = request.limit && request.limit < kPageSize ? request.limit : kPageSize;
    auto it = request.after.empty() ? groups_.begin() : groups_.upper_bound(request.after);
    //  Within what the connection may be sent now (--max-unread-bytes and -total): a page cut
    //  short, not refused, so that a reader goes on while others do not read.
    Responder::Page room = responder_.page(from, proto::encoded_size(page), limit);
    for (; it != groups_.end(); ++it) {
        const GroupEntry& group = it->second;
        proto::GroupRecord record;
        record.id = group.id;
        record.name = group.name;
        record.endpoint = servers_[group.server].endpoint;
        record.server_key = group.server;
        record.policy = group.policy;
        record.member_count = group.member_count;
        if (!room.take(page.groups.size(), proto::encoded_size(record))) break;
        page.groups.push_back(std::move(record));
    }
    page.more = it != groups_.end() ? 1 : 0;
    responder_.reply(from, page, request.request_id, peer);
}

void Registry::send_group(const std::string& to, uint32_t request_id, const GroupEntry& group) {
    proto::Message message;
    message.id = proto::kGroup;
    message.group_id = group.id;
    message.group = group.name;
    message.endpoint = servers_[group.server].endpoint;
    message.key = group.server;
    message.policy = group.policy;
    message.member_count = group.member_count;
    responder_.reply(to, message, request_id);
}

void Registry::on_resolve(const std::string& from, const proto::Message& request) {
    if (!valid_name(request.group))
        return responder_.error(from, request.request_id, proto::kInvalid, invalid_name_reason());
    auto found = groups_.find(request.group);
    if (found != groups_.end()) return send_group(from, request.request_id, found->second);
    auto away = away_.find(request.group);
    if (away != away_.end())
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                away_reason(request.group, away->second), 1000);
    if (!complete())
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                proto::kStillLearning, learning_retry_ms());
    //  A CREATE under way or in doubt holds the name: its group server may yet create it (a
    //  JOIN right after an unanswered CREATE was told there is no such group).
    if (pending_create(request.group) || doubtful_.count(request.group))
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                "group '" + request.group +
                                    "' is being created, and its group server has not said "
                                    "yet whether it was",
                                1000);
    responder_.error(from, request.request_id, proto::kNotFound,
                     "no group '" + request.group + "' in the registry");
}

void Registry::on_create(const std::string& from, const Key& peer, const proto::Message& request) {
    ZGM_REQUEST(responder_, "CREATE REQUEST FROM %s: '%s'", peer.str().c_str(),
                request.group.c_str());
    if (!valid_name(request.group))
        return responder_.error(from, request.request_id, proto::kInvalid, invalid_name_reason());
    //  A CREATE under way repeated by its creator waits for the same outcome (also once the
    //  group is registered, its server's OK to HOST still on its way).
    if (PendingCreate* pending = pending_create(request.group)) {
        if (pending->creator != peer)
            return responder_.error(
                from, request.request_id, proto::kConflict,
                "group '" + request.group +
                    (groups_.count(request.group) ? "' already exists" : "' is being created"));
        //  Each waiter is held until the HOST's outcome: a creator repeating its CREATE
        //  faster than that is told to ask again, not held without end.
        if (pending->waiters.size() >= kMaxWaitersPerCreate)
            return responder_.error(
                from, request.request_id, proto::kUnavailable,
                "group '" + request.group + "' is being created; ask again for the outcome", 1000);
        pending->waiters.push_back({from, request.request_id, request.policy});
        return;
    }
    //  A CREATE repeated by its creator (its reply was lost) asks the group's server again,
    //  which answers OK while it holds the group for this key: the creator may have given
    //  it away since (a GIVE goes to the group server, not here).
    auto existing = groups_.find(request.group);
    if (existing != groups_.end() && existing->second.creator == peer) {
        //  Each asks its server (a HOST under way): as many as a new group's.
        if (creates_of(peer) >= kMaxCreatesPerKey) return refuse_creates(from, request, peer);
        if (send_host(request.group, existing->second.server, peer,
                      {from, request.request_id, request.policy}))
            return;
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                "the group server of '" + request.group +
                                    "' cannot be asked now whether this key still owns it",
                                500);
    }
    //  A CREATE in doubt keeps its name: its group server may yet create the group (or has
    //  registered it, for whom it does not say). Its creator's CREATE asks that server again
    //  (one holding the group for this owner answers OK, for another 409), or is told it is
    //  still in doubt when the server cannot be asked now.
    auto doubtful = doubtful_.find(request.group);
    if (doubtful != doubtful_.end() && doubtful->second.creator == peer) {
        DoubtfulCreate entry = doubtful->second;
        doubtful_.erase(doubtful);
        if (send_host(request.group, entry.server, peer,
                      {from, request.request_id, request.policy}))
            return;
        doubtful_[request.group] = entry;
        return responder_.error(
            from, request.request_id, proto::kInDoubt,
            in_doubt_reason(request.group, entry.server, "cannot be asked again now"));
    }
    if (existing != groups_.end())
        return responder_.error(from, request.request_id, proto::kConflict,
                                "group '" + request.group + "' already exists");
    if (doubtful != doubtful_.end())
        return responder_.error(from, request.request_id, proto::kConflict,
                                "group '" + request.group + "' is being created");
    //  A group whose server is away is not made again elsewhere: that server holds its
    //  messages and registers it when it comes back.
    auto away = away_.find(request.group);
    if (away != away_.end())
        return responder_.error(from, request.request_id, proto::kConflict,
                                "group '" + request.group +
                                    "' exists: " + away_reason(request.group, away->second));
    //  A group the registry could not list is not created (creations under way count).
    if (names_held() >= limits_.groups)
        return responder_.refuse(from, request.request_id, proto::kLimitReached,
                                 "the registry lists its maximum of " +
                                     std::to_string(limits_.groups) + " groups (--max-groups)",
                                 peer);
    if (creates_of(peer) >= kMaxCreatesPerKey) return refuse_creates(from, request, peer);
    //  Nor is a name made while the registry may not know every group: a group server that
    //  has not registered again since a restart may hold it.
    if (!complete())
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                proto::kStillLearning, learning_retry_ms());
    //  The chosen server takes it; one that cannot be sent the HOST (its connection gone,
    //  its queue full) is marked as one that did not answer, and the next is tried.
    int64_t now = mono_ms();
    std::set<Key> tried;
    Key chosen;
    if (!choose_server(now, tried, &chosen))
        return responder_.error(from, request.request_id, proto::kUnavailable,
                                "no group server accepts new groups");
    do {
        if (send_host(request.group, chosen, peer, {from, request.request_id, request.policy}))
            return;
        servers_[chosen].host_timed_out_ms = now;
        tried.insert(chosen);
    } while (choose_server(now, tried, &chosen));
    responder_.error(from, request.request_id, proto::kUnavailable,
                     "no group server that accepts new groups can be reached now; nothing was "
                     "created",
                     500);
}

//  The accepting trusted server with the fewest groups, not among `tried` (its HOST could
//  not go just now); one that left a HOST unanswered in the last kInDoubtMs only when no
//  other accepts. False if there is none.
bool Registry::choose_server(int64_t now, const std::set<Key>& tried, Key* chosen_key) {
    const ServerEntry* chosen = nullptr;
    auto better = [&](const ServerEntry& server) {
        if (!chosen) return true;
        bool late = now - server.host_timed_out_ms < kInDoubtMs;
        bool chosen_late = now - chosen->host_timed_out_ms < kInDoubtMs;
        if (late != chosen_late) return !late;
        return server.groups < chosen->groups;
    };
    for (const auto& server : servers_)
        if (server.second.accept_new && !server.second.routing_id.empty() &&
            !tried.count(server.first) && better(server.second) && trusted(server.first)) {
            chosen = &server.second;
            *chosen_key = server.first;
        }
    return chosen != nullptr;
}

PendingCreate* Registry::pending_create(const std::string& group) {
    for (auto& pending : creates_)
        if (pending.second.group == group) return &pending.second;
    return nullptr;
}

//  Sends HOST for group to server and waits for its answer on behalf of waiter. False when
//  the HOST could not go (the server's connection is gone or full): nothing is under way.
bool Registry::send_host(const std::string& group, const Key& server, const Key& creator,
                         const Waiter& waiter) {
    auto entry = servers_.find(server);
    if (entry == servers_.end() || entry->second.routing_id.empty() || !trusted(server))
        return false;
    proto::Message host;
    host.id = proto::kHost;
    host.group = group;
    host.key = creator;
    host.policy = waiter.policy;
    uint32_t host_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (!responder_.reply(entry->second.routing_id, host, host_id)) return false;
    PendingCreate& pending = creates_[host_id];
    pending.waiters.push_back(waiter);
    pending.group = group;
    pending.server = server;
    pending.creator = creator;
    pending.deadline_ms = mono_ms() + kCreateTimeoutMs;
    return true;
}

void Registry::refuse_creates(const std::string& from, const proto::Message& request,
                              const Key& peer) {
    responder_.refuse(from, request.request_id, proto::kLimitReached,
                      "this key has " + std::to_string(kMaxCreatesPerKey) +
                          " CREATEs under way or in doubt",
                      peer);
}

size_t Registry::creates_of(const Key& creator) const {
    size_t count = 0;
    for (const auto& pending : creates_)
        count += pending.second.creator == creator ? 1 : 0;
    //  (One whose server is away is not the creator's doing, one whose group is registered
    //  no longer under way: neither counts.)
    for (const auto& doubtful : doubtful_)
        count += doubtful.second.creator == creator && servers_.count(doubtful.second.server) &&
                 !groups_.count(doubtful.first);
    return count;
}

size_t Registry::names_held() const {
    size_t count = groups_.size();
    for (const auto& pending : creates_)
        count += groups_.count(pending.second.group) ? 0 : 1;
    for (const auto& doubtful : doubtful_)
        count += groups_.count(doubtful.first) ? 0 : 1;
    return count;
}

std::string Registry::away_reason(const std::string& group, const AwayGroup& away) const {
    int64_t seconds = (mono_ms() - away.since_ms) / 1000;
    return "the group server of '" + group + "' (" + away.endpoint + ") " + away.why + " " +
           std::to_string(seconds) + " s ago and has not come back";
}

std::string Registry::in_doubt_reason(const std::string& group, const Key& server,
                                      const char* what) const {
    auto entry = servers_.find(server);
    std::string endpoint = entry != servers_.end() ? entry->second.endpoint : server.str();
    return "the group server at " + endpoint + " " + what + "; it may yet create '" + group +
           "': create it again to see";
}

//  A CREATE whose HOST ran out of time, or was answered OK: created if the server asked
//  answered OK and registered the group (GROUP to every waiter, and the group is the
//  creator's); else in doubt (504) until that server answers the creator's HOST or refuses,
//  or the time of doubtful_ passes. A group registered without the OK is not taken for the
//  creator's: the server may hold it for another owner.
void Registry::settle(uint32_t host_id, const PendingCreate& pending, bool answered) {
    auto group = groups_.find(pending.group);
    bool registered = group != groups_.end() && group->second.server == pending.server;
    bool created = answered && registered;
    if (created) group->second.creator = pending.creator;
    const char* why = answered     ? "answered without registering the group"
                      : registered ? "registered the group but did not answer in time"
                                   : "did not answer in time";
    for (const Waiter& waiter : pending.waiters) {
        //  (Made with another policy than this CREATE's: a repeat by the creator that did
        //  not make the group it asks for.)
        if (created && group->second.policy != waiter.policy)
            responder_.error(
                waiter.routing_id, waiter.request_id, proto::kConflict,
                "group '" + pending.group + "' exists already, made by this key " +
                    (group->second.policy ? "members-only (not open)" : "open (not members-only)") +
                    ": its owner may change its policy");
        else if (created)
            send_group(waiter.routing_id, waiter.request_id, group->second);
        else
            responder_.error(waiter.routing_id, waiter.request_id, proto::kInDoubt,
                             in_doubt_reason(pending.group, pending.server, why));
    }
    if (!created) doubtful_[pending.group] = {pending.server, pending.creator, host_id, mono_ms()};
}

void Registry::on_host_reply(const Key& peer, const proto::Message& answer) {
    if (!servers_.count(peer)) return; //  only a group server asked may answer
    auto found = creates_.find(answer.request_id);
    if (found == creates_.end()) {
        //  A late answer settles a CREATE in doubt: a refusal, not created; an OK, the
        //  creator's if the group is registered (its REGISTER goes before the OK).
        for (auto it = doubtful_.begin(); it != doubtful_.end(); ++it)
            if (it->second.host_id == answer.request_id && it->second.server == peer) {
                auto group = groups_.find(it->first);
                bool created = answer.id != proto::kError && group != groups_.end() &&
                               group->second.server == peer;
                if (created) group->second.creator = it->second.creator;
                if (answer.id == proto::kError || created) doubtful_.erase(it);
                break;
            }
        return;
    }
    //  Only the server that was asked may answer.
    if (found->second.server != peer) return;
    PendingCreate pending = found->second;
    uint32_t host_id = found->first;
    creates_.erase(found);
    if (answer.id != proto::kError) return settle(host_id, pending, true);
    //  A refused repeat of a CREATE: the group is no longer its creator's (given away).
    auto group = groups_.find(pending.group);
    if (group != groups_.end() && group->second.creator == pending.creator)
        group->second.creator = Key();
    //  The refusals a group server answers HOST with go to the creator as they are; any
    //  other status is that server's fault, not something the creator can act on.
    uint16_t status = answer.status;
    std::string reason = answer.reason;
    if (status != proto::kConflict && status != proto::kInvalid && status != proto::kLimitReached &&
        status != proto::kStorage) {
        reason =
            "the group server answered HOST with status " + std::to_string(status) + ": " + reason;
        status = proto::kInternal;
    }
    for (const Waiter& waiter : pending.waiters)
        responder_.error(waiter.routing_id, waiter.request_id, status,
                         reason.substr(0, proto::kMaxString), 0);
}

//  The registry's figures and its group servers: for its own key and its admins only.
void Registry::on_stats(const std::string& from, const Key& peer, const proto::Message& request) {
    if (!listener_.admin(peer))
        return responder_.refuse(from, request.request_id, proto::kDenied,
                                 "STATS is for the registry's own key and its --admin keys", peer);
    Report report;
    int64_t now = mono_ms();
    report.add("registry", "key", listener_.keys().public_txt);
    report.add("registry", "uptime_s", (uint64_t)((now - started_ms_) / 1000));
    report.add("registry", "rss_kib", resident_kib());
    report.add("registry", "groups", (uint64_t)groups_.size());
    report.add("registry", "servers", (uint64_t)servers_.size());
    ZapDomain* domain = listener_.domain();
    report.add("registry", "connections", domain ? (uint64_t)domain->connections.load() : 0);
    report.add("registry", "unread_bytes", responder_.receipts().total());
    report.add("registry", "complete", complete() ? "yes" : "no");
    report.add("registry", "lists", lists_);
    report.add("registry", "resolves", resolves_);
    report.add("registry", "creates", creates_taken_);
    add_refusals(&report, "registry", domain, responder_.refusals(),
                 responder_.malformed().by_reason());
    //  Its group servers, a page at a time (after the key of the last one sent), as a
    //  group server pages its groups.
    uint32_t limit = request.limit && request.limit < 1000 ? request.limit : 100;
    Key after;
    auto it = request.after.empty() || !Key::parse(request.after, &after)
                  ? servers_.begin()
                  : servers_.upper_bound(after);
    for (uint32_t count = 0;
         it != servers_.end() && count < limit && report.size() < proto::kMaxBody / 2;
         ++it, count++) {
        std::string scope = "server/" + it->first.str();
        report.add(scope, "endpoint", it->second.endpoint);
        report.add(scope, "groups", it->second.groups);
        report.add(scope, "accept_new", it->second.accept_new ? "yes" : "no");
        report.add(scope, "silent_ms", (uint64_t)(now - it->second.last_seen_ms));
    }
    proto::Message answer;
    answer.id = proto::kStatsReport;
    answer.report = report.text();
    answer.more = it != servers_.end() ? 1 : 0;
    responder_.reply(from, answer, request.request_id);
}

void Registry::expire() {
    int64_t now = mono_ms();
    for (auto it = servers_.begin(); it != servers_.end();) {
        auto next = std::next(it);
        if (now - it->second.last_seen_ms > expiry_ms_) drop_server(it->first, "fell silent");
        it = next;
    }
    for (auto it = creates_.begin(); it != creates_.end();) {
        if (now >= it->second.deadline_ms) {
            auto server = servers_.find(it->second.server);
            if (server != servers_.end()) server->second.host_timed_out_ms = now;
            settle(it->first, it->second, false);
            it = creates_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = doubtful_.begin(); it != doubtful_.end();) {
        //  10 minutes of the server being here; as long as an away group while it is not.
        //  One whose group that server registered lasts as long as the group is listed: the
        //  creator's repeat settles it whenever it comes.
        auto server = servers_.find(it->second.server);
        int64_t age = now - it->second.since_ms;
        auto group = groups_.find(it->first);
        bool registered = group != groups_.end() && group->second.server == it->second.server;
        bool settled = !registered && server != servers_.end() &&
                       now - std::max(it->second.since_ms, server->second.since_ms) >= kInDoubtMs;
        it = settled || (!registered && age >= kAwayMs) ? doubtful_.erase(it) : std::next(it);
    }
    if (!trust_dirs_.empty() && now - read_dirs_ms_ >= kTrustRereadMs) read_trust_dirs();
    for (auto it = away_.begin(); it != away_.end();)
        it = now - it->second.since_ms > kAwayMs ? away_.erase(it) : std::next(it);
}

void Registry::forget_started_without(const Key& server) {
    started_without_.erase(server);
    for (auto it = away_.begin(); it != away_.end();) {
        bool gone = it->second.server == server && it->second.why == kStartedWithout;
        if (gone)
            ZGM_LOG("registry: group '%s' forgotten (its group server %s)", it->first.c_str(),
                    kStartedWithout);
        it = gone ? away_.erase(it) : std::next(it);
    }
}

void Registry::drop_server(const Key& server, const char* why) {
    refused_names_.erase(server);
    auto entry = servers_.find(server);
    if (entry == servers_.end()) return;
    for (auto it = groups_.begin(); it != groups_.end();) {
        if (it->second.server == server) {
            ZGM_LOG("registry: group '%s' dropped (%s, %s)", it->first.c_str(),
                    entry->second.endpoint.c_str(), why);
            //  Away since it was last heard from (a silent one, an expiry interval before).
            if (away_.size() < limits_.groups)
                away_[it->first] = {entry->second.endpoint, entry->second.last_seen_ms, why,
                                    server};
            //  A CREATE in doubt whose group this server registered: the group is away now,
            //  its name free for a trusted server's REGISTER, as any away group's.
            auto doubtful = doubtful_.find(it->first);
            if (doubtful != doubtful_.end() && doubtful->second.server == server)
                doubtful_.erase(doubtful);
            it = groups_.erase(it);
        } else {
            ++it;
        }
    }
    servers_.erase(entry);
}

} // namespace

void registry_actor(zsock_t* pipe, void*) {
    Registry registry(pipe);
    registry.run();
}

} // namespace zgm
