/*  =========================================================================
    zgm_bench.cc - zgm-bench: measured performance of zgm, and the side-by-side table

    Usage: zgm-bench [--json] [--inproc] [--only SETS] [--quick] [--zgm PATH] [--window N]
                     [--random-ids] [--base DIR]
           zgm-bench --report FILE...

    Starts its own servers - a `zgm registry` and one `zgm server` process per workload,
    over tcp loopback (or, with --inproc, the same objects inside this process) - and
    measures, with 100-byte bodies:

      durable   1 and 8 users pipelining SENDs into one group, `full` store (an fsync per
                commit); acknowledged messages/s. Also without fsync (`normal`), and
                zgm_user_send one at a time, for reference.
      fanout    1 sender, 1, 10 and 100 members (zgm_user_t objects); deliveries/s counted
                at the members, and every member checked to get every seq exactly once.
      latency   5,000 msgs/s to 10 members; p50, p99, p99.9 from send to delivery.
      fetch     "since timestamp" over 200,000 stored messages (zgm_user_fetch).
      footprint RSS of an idle group server hosting 10 groups of 100 members; code size.

    Every load is bounded in count and in time. It prints a table, or with --json one
    JSON object per figure: {"workload","system","value","unit","params"}. --report reads
    such lines (from zgm-bench and zgm-bench-peers) and prints the side-by-side table with
    zgm's ratio to the best peer and the targets of the issue, then the secure section
    (secure_report.cc): zgm-curve beside the peers with TLS.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "benchutil.h"
#include "secure_report.h"

#include "zgm.h"
#include "core/clock.h"
#include "proto/proto.h"

#include <czmq.h>

#include <climits>
#include <map>
#include <memory>
#include <thread>

using namespace bench;
using zgm::Uuid;
namespace proto = zgm::proto;

namespace {

//  ---------------------------------------------------------------------------------------
//  Options and output

struct Options {
    bool inproc = false;
    std::string zgm;                 //  the zgm program
    std::string base;                //  where data directories go
    uint32_t window = 0;             //  SENDs in flight per pipelining user; 0: per workload
    bool random_ids = false;         //  random message ids instead of time-ordered ones
    std::vector<std::string> report; //  --report files
};

Options g_options;

//  Every zgm figure is the system "zgm".
void record(const std::string& workload, double value, const char* unit, const Params& params) {
    record(workload, "zgm", value, unit, params);
}

//  A fast generator of ids. User ids are random; message ids are made as zgm_user_send makes
//  them (Uuid::time_ordered: the time in microseconds, big-endian, then random bytes), or,
//  with --random-ids, all random, to show what a client with random ids costs the store.
struct IdSource {
    uint64_t state;
    explicit IdSource(uint64_t seed)
        : state(seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull) {}
    uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
    Uuid uuid() {
        Uuid id;
        uint64_t a = next(), b = next();
        memcpy(id.bytes, &a, 8);
        memcpy(id.bytes + 8, &b, 8);
        return id;
    }
    Uuid msg_id() {
        Uuid id = uuid();
        if (g_options.random_ids) return id;
        uint64_t now = zgm::now_us();
        for (int i = 0; i < 8; i++)
            id.bytes[i] = (uint8_t)(now >> (56 - 8 * i));
        return id;
    }
};

//  ---------------------------------------------------------------------------------------
//  Servers: a registry for the whole run, a fresh group server per workload.

struct GroupServer {
    pid_t pid = 0;                 //  the zgm server process (0 in-process)
    zgm_group_t* inproc = nullptr; //  the in-process group server
    std::string endpoint;          //  where users reach it
    std::string data_dir;          //  empty: memory store
};

class Servers {
public:
    ~Servers() { stop(); }

    bool start_registry() {
        if (g_options.inproc) {
            registry_ = zgm_registry_new();
            int port = registry_ ? zgm_registry_bind(registry_, "tcp://127.0.0.1:*") : -1;
            if (port <= 0) return false;
            registry_endpoint_ = "tcp://127.0.0.1:" + std::to_string(port);
            return true;
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = free_port();
            std::string log = g_options.base + "/registry.log";
            std::string bind = "tcp://127.0.0.1:" + std::to_string(port);
            registry_pid_ = spawn({g_options.zgm, "registry", "--bind", bind, "--quiet"}, log);
            if (registry_pid_ > 0 && wait_for_text(log, "listening on", 5000, registry_pid_)) {
                registry_endpoint_ = bind;
                return true;
            }
            stop_child(registry_pid_);
            registry_pid_ = 0;
        }
        return false;
    }

    //  A group server hosting groups; data_dir empty: the memory store.
    bool start_group(const std::vector<std::string>& groups, const char* durability,
                     const std::string& data_dir, GroupServer* server) {
        server->data_dir = data_dir;
        if (g_options.inproc) {
            server->inproc = zgm_group_new(data_dir.empty() ? nullptr : data_dir.c_str());
            if (!server->inproc) return false;
            if (zgm_group_set_durability(server->inproc, durability) != 0) return false;
            for (const std::string& group : groups)
                if (zgm_group_add(server->inproc, group.c_str()) != 0) return false;
            int port = zgm_group_bind(server->inproc, "tcp://127.0.0.1:*");
            if (port <= 0) return false;
            server->endpoint = "tcp://127.0.0.1:" + std::to_string(port);
            return zgm_group_connect_registry(server->inproc, registry_endpoint_.c_str()) == 0;
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = free_port();
            std::string bind = "tcp://127.0.0.1:" + std::to_string(port);
            std::vector<std::string> args = {g_options.zgm,      "server",   "--registry",
                                             registry_endpoint_, "--bind",   bind,
                                             "--durability",     durability, "--quiet"};
            for (const std::string& group : groups) {
                args.push_back("--group");
                args.push_back(group);
            }
            if (data_dir.empty()) {
                args.push_back("--memory");
            } else {
                args.push_back("--data");
                args.push_back(data_dir);
            }
            std::string log = g_options.base + "/group-" + groups[0] + ".log";
            server->pid = spawn(args, log);
            if (server->pid > 0 && wait_for_text(log, "zgm server: serving", 15000, server->pid)) {
                server->endpoint = bind;
                return true;
            }
            stop_child(server->pid);
            server->pid = 0;
        }
        return false;
    }

    void stop_group(GroupServer* server) {
        if (server->inproc) zgm_group_destroy(&server->inproc);
        if (server->pid) stop_child(server->pid);
        server->pid = 0;
        if (!server->data_dir.empty()) remove_tree(server->data_dir);
    }

    void stop() {
        if (registry_) zgm_registry_destroy(&registry_);
        if (registry_pid_) stop_child(registry_pid_);
        registry_pid_ = 0;
    }

    const std::string& registry_endpoint() const { return registry_endpoint_; }

private:
    zgm_registry_t* registry_ = nullptr;
    pid_t registry_pid_ = 0;
    std::string registry_endpoint_;
};

Servers* g_servers = nullptr;

//  A fresh data directory for one workload's group server.
std::string data_dir(const std::string& name) {
    std::string dir = g_options.base + "/" + name;
    mkdir(dir.c_str(), 0755);
    return dir;
}

//  ---------------------------------------------------------------------------------------
//  A pipelining client: a DEALER speaking zgm_proto, as RawClient in the tests does, that
//  keeps many SENDs in flight, each with its own msg_id.

class ProtoClient {
public:
    ProtoClient(const std::string& endpoint, uint64_t seed) : ids_(seed) {
        socket_ = zsock_new(ZMQ_DEALER);
        zsock_set_sndhwm(socket_, 0);
        zsock_set_rcvhwm(socket_, 0);
        zsock_set_linger(socket_, 0);
        zsock_connect(socket_, "%s", endpoint.c_str());
        user_ = ids_.uuid();
        send_.id = proto::kSend;
        send_.user = user_;
        send_.body.assign(kBodySize, 'x');
    }
    ~ProtoClient() { zsock_destroy(&socket_); }

    void* socket() { return zsock_resolve(socket_); }

    //  One request and its reply (skipping anything else), or false after timeout_ms.
    bool call(proto::Message& request, proto::Message* reply, int timeout_ms = 10000) {
        request.request_id = next_request_id_++;
        if (proto::send(socket(), "", request) != 0) return false;
        uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
        while (mono_ns() < deadline) {
            zmq_pollitem_t item = {socket(), 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, 100) <= 0) continue;
            if (proto::recv(socket(), false, nullptr, reply, ZMQ_DONTWAIT) !=
                proto::DecodeError::kOk)
                continue;
            if (reply->request_id == request.request_id) return true;
        }
        return false;
    }

    bool join(const std::string& group, const char* name) {
        proto::Message join, reply;
        join.id = proto::kJoin;
        join.user = user_;
        join.name = name;
        join.group = group;
        if (!call(join, &reply)) return false;
        return reply.id == proto::kJoined ||
               (reply.id == proto::kError && reply.status == proto::kConflict);
    }

    //  Sends one SEND without waiting; the body's first 8 bytes carry stamp_ns.
    bool send(const std::string& group, uint64_t stamp_ns) {
        if (send_.group != group) send_.group = group;
        send_.msg_id = ids_.msg_id();
        send_.request_id = next_request_id_++;
        stamp_body(&send_.body[0], stamp_ns);
        if (proto::send(socket(), "", send_, ZMQ_DONTWAIT) != 0) return false;
        sent_++;
        inflight_++;
        return true;
    }

    //  Reads every reply waiting; returns how many were read.
    int drain() {
        int count = 0;
        while (true) {
            if (proto::recv(socket(), false, nullptr, &reply_, ZMQ_DONTWAIT) ==
                    proto::DecodeError::kNoFrame &&
                errno == EAGAIN)
                break;
            count++;
            if (reply_.id == proto::kDeliver) continue;
            if (inflight_) inflight_--;
            if (reply_.id == proto::kSent) {
                acked_++;
                if (reply_.seq == 1) first_ts_us_ = reply_.ts_us;
                if (reply_.seq > last_seq_) last_seq_ = reply_.seq;
                last_ack_ns_ = mono_ns();
            } else {
                failed_++;
                if (failed_ == 1)
                    fail("SEND answered %s %u %s", proto::message_name(reply_.id),
                         (unsigned)reply_.status, reply_.reason.c_str());
            }
        }
        return count;
    }

    const Uuid& user() const { return user_; }
    uint64_t sent() const { return sent_; }
    uint64_t acked() const { return acked_; }
    uint64_t failed() const { return failed_; }
    uint64_t inflight() const { return inflight_; }
    uint64_t first_ts_us() const { return first_ts_us_; }
    uint64_t last_seq() const { return last_seq_; }
    uint64_t last_ack_ns() const { return last_ack_ns_; }
    uint32_t next_request_id() { return next_request_id_++; }

private:
    zsock_t* socket_;
    IdSource ids_;
    Uuid user_;
    proto::Message send_;
    proto::Message reply_;
    uint32_t next_request_id_ = 1;
    uint64_t sent_ = 0, acked_ = 0, failed_ = 0, inflight_ = 0;
    uint64_t first_ts_us_ = 0, last_seq_ = 0, last_ack_ns_ = 0;
};

struct PipelineResult {
    uint64_t sent = 0;
    uint64_t acked = 0;
    uint64_t failed = 0;
    double seconds = 0; //  first send to last acknowledgement
    double rate() const { return seconds > 0 ? (double)acked / seconds : 0; }
};

//  Every client keeps `window` SENDs in flight until `count` were sent in all or max_s
//  passed; then waits (up to 10 s more) for the outstanding replies.
PipelineResult run_pipeline(std::vector<std::unique_ptr<ProtoClient>>& clients,
                            const std::string& group, uint64_t count, double max_s,
                            uint32_t window) {
    PipelineResult result;
    std::vector<zmq_pollitem_t> items;
    for (auto& client : clients)
        items.push_back({client->socket(), 0, ZMQ_POLLIN, 0});
    uint64_t start = mono_ns();
    uint64_t stop_sending = start + (uint64_t)(max_s * 1e9);
    uint64_t give_up = stop_sending + 10000000000ull;
    uint64_t sent = 0;
    while (true) {
        uint64_t now = mono_ns();
        bool sending = sent < count && now < stop_sending;
        if (sending)
            for (auto& client : clients)
                while (client->inflight() < window && sent < count) {
                    if (!client->send(group, now)) break;
                    sent++;
                }
        uint64_t inflight = 0;
        for (auto& client : clients)
            inflight += client->inflight();
        if (!sending && inflight == 0) break;
        if (now > give_up) {
            fail("%llu SENDs unanswered after 10 s", (unsigned long long)inflight);
            break;
        }
        if (zmq_poll(items.data(), (int)items.size(), 100) < 0 && errno != EINTR) break;
        for (size_t i = 0; i < clients.size(); i++)
            if (items[i].revents & ZMQ_POLLIN) clients[i]->drain();
    }
    uint64_t last = start;
    for (auto& client : clients) {
        result.sent += client->sent();
        result.acked += client->acked();
        result.failed += client->failed();
        last = std::max(last, client->last_ack_ns());
    }
    result.seconds = (double)(last - start) / 1e9;
    return result;
}

//  ---------------------------------------------------------------------------------------
//  Members: zgm_user_t objects following a group, read by a few threads that check every
//  seq arrives exactly once, in order, and record latencies where asked.

struct Member {
    zgm_user_t* user = nullptr;
    uint64_t count = 0;
    uint64_t last_seq = 0;
    uint64_t gaps = 0;
    uint64_t repeats = 0;
};

struct Readers {
    std::atomic<uint64_t> expected{UINT64_MAX}; //  every member's final count, once known
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> last_delivery_ns{0};
    bool latency = false;
    std::vector<std::vector<uint64_t>> latencies; //  per reader thread
};

void read_members(Readers* readers, std::vector<Member*> members, size_t index) {
    std::vector<zmq_pollitem_t> items;
    for (Member* member : members)
        items.push_back({zsock_resolve(zgm_user_socket(member->user)), 0, ZMQ_POLLIN, 0});
    std::vector<uint64_t>& latencies = readers->latencies[index];
    uint64_t last_ns = 0;
    while (!readers->stop.load()) {
        uint64_t expected = readers->expected.load();
        bool done = true;
        for (Member* member : members)
            done = done && member->count >= expected;
        if (done) break;
        if (zmq_poll(items.data(), (int)items.size(), 20) <= 0) continue;
        for (size_t i = 0; i < members.size(); i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            Member* member = members[i];
            zgm_msg_t* msg;
            while ((msg = zgm_user_recv(member->user, 0)) != nullptr) {
                uint64_t now = mono_ns();
                uint64_t seq = zgm_msg_seq(msg);
                if (seq == member->last_seq + 1)
                    member->last_seq = seq;
                else if (seq <= member->last_seq)
                    member->repeats++;
                else {
                    member->gaps++;
                    member->last_seq = seq;
                }
                member->count++;
                if (readers->latency)
                    latencies.push_back(now - body_stamp(zgm_msg_body(msg), zgm_msg_size(msg)));
                zgm_msg_destroy(&msg);
                last_ns = now;
            }
        }
    }
    uint64_t seen = readers->last_delivery_ns.load();
    while (last_ns > seen && !readers->last_delivery_ns.compare_exchange_weak(seen, last_ns)) {
    }
}

//  Members of a group, each a zgm_user_t that joined (and so follows) it.
class MemberSet {
public:
    bool create(size_t count, const std::string& group) {
        for (size_t i = 0; i < count; i++) {
            std::unique_ptr<Member> member(new Member());
            member->user = zgm_user_new(("member" + std::to_string(i)).c_str());
            if (!member->user) return false;
            zgm_user_set_timeout(member->user, 10000);
            zgm_user_connect(member->user, g_servers->registry_endpoint().c_str());
            if (zgm_user_join(member->user, group.c_str()) != 0) {
                fail("member %zu cannot join %s: %s", i, group.c_str(), zgm_strerror());
                zgm_user_destroy(&member->user);
                return false;
            }
            members_.push_back(std::move(member));
        }
        return true;
    }
    ~MemberSet() {
        for (auto& member : members_)
            zgm_user_destroy(&member->user);
    }

    void start_readers(size_t threads, bool latency) {
        threads = std::max<size_t>(1, std::min(threads, members_.size()));
        readers_.latency = latency;
        readers_.latencies.resize(threads);
        for (size_t t = 0; t < threads; t++) {
            std::vector<Member*> share;
            for (size_t i = t; i < members_.size(); i += threads)
                share.push_back(members_[i].get());
            threads_.emplace_back(read_members, &readers_, share, t);
        }
    }

    //  Tells the readers how many messages every member must get, then waits for them (up
    //  to timeout_s). True if every member got all.
    bool finish(uint64_t expected, double timeout_s) {
        readers_.expected.store(expected);
        uint64_t deadline = mono_ns() + (uint64_t)(timeout_s * 1e9);
        while (mono_ns() < deadline) {
            bool done = true;
            for (auto& member : members_)
                done = done && member->count >= expected;
            if (done) break;
            sleep_ms(5);
        }
        readers_.stop.store(true);
        for (std::thread& thread : threads_)
            thread.join();
        threads_.clear();
        bool ok = true;
        for (size_t i = 0; i < members_.size(); i++) {
            const Member& member = *members_[i];
            if (member.count != expected || member.last_seq != expected || member.gaps ||
                member.repeats) {
                if (ok)
                    fail("member %zu: %llu messages, last seq %llu, %llu gaps, %llu repeats; "
                         "expected seq 1..%llu once each",
                         i, (unsigned long long)member.count, (unsigned long long)member.last_seq,
                         (unsigned long long)member.gaps, (unsigned long long)member.repeats,
                         (unsigned long long)expected);
                ok = false;
            }
        }
        return ok;
    }

    uint64_t deliveries() const {
        uint64_t total = 0;
        for (auto& member : members_)
            total += member->count;
        return total;
    }
    uint64_t last_delivery_ns() const { return readers_.last_delivery_ns.load(); }
    std::vector<uint64_t> latencies() const {
        std::vector<uint64_t> all;
        for (const auto& part : readers_.latencies)
            all.insert(all.end(), part.begin(), part.end());
        std::sort(all.begin(), all.end());
        return all;
    }

private:
    std::vector<std::unique_ptr<Member>> members_;
    Readers readers_;
    std::vector<std::thread> threads_;
};

const char* mode() {
    return g_options.inproc ? "in-process" : "processes";
}

//  ---------------------------------------------------------------------------------------
//  Workloads

//  N users pipelining SENDs into one group.
void bench_send(const char* workload, int users, const char* durability) {
    std::string group = std::string("send-") + durability + "-" + std::to_string(users);
    GroupServer server;
    if (!g_servers->start_group({group}, durability, data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    std::vector<std::unique_ptr<ProtoClient>> clients;
    bool joined = true;
    for (int i = 0; i < users; i++) {
        clients.emplace_back(new ProtoClient(server.endpoint, 1000 + i));
        joined = joined && clients.back()->join(group, ("sender" + std::to_string(i)).c_str());
    }
    uint32_t window = g_options.window ? g_options.window : users == 1 ? 1000 : 250;
    uint64_t count = scaled(400000);
    double max_s = scaled_s(5);
    if (!joined) {
        fail("%s: JOIN failed", workload);
    } else {
        PipelineResult result = run_pipeline(clients, group, count, max_s, window);
        record(workload, result.rate(), "msg/s",
               Params()
                   .add("users", users)
                   .add("window", (int)window)
                   .add("msg_ids", g_options.random_ids ? "random" : "time-ordered")
                   .add("durability", durability)
                   .add("store", "sqlite")
                   .add("acked", result.acked)
                   .add("failed", result.failed)
                   .add("seconds", result.seconds)
                   .add("max_messages", count)
                   .add("body", (int)kBodySize)
                   .add("mode", mode()));
    }
    clients.clear();
    g_servers->stop_group(&server);
}

//  zgm_user_send, one message at a time: each waits for its commit.
void bench_send_sync() {
    const char* workload = "durable_send_sync";
    std::string group = "send-sync";
    GroupServer server;
    if (!g_servers->start_group({group}, "full", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    zgm_user_t* user = zgm_user_new("sync-sender");
    zgm_user_set_timeout(user, 10000);
    zgm_user_connect(user, g_servers->registry_endpoint().c_str());
    if (zgm_user_join(user, group.c_str()) != 0) {
        fail("%s: join: %s", workload, zgm_strerror());
    } else {
        char body[kBodySize];
        memset(body, 'x', sizeof body);
        uint64_t count = scaled(5000), sent = 0;
        uint64_t start = mono_ns();
        uint64_t stop = start + (uint64_t)(scaled_s(2) * 1e9);
        while (sent < count && mono_ns() < stop) {
            if (zgm_user_send(user, group.c_str(), body, sizeof body, nullptr, nullptr) != 0) {
                fail("%s: %s", workload, zgm_strerror());
                break;
            }
            sent++;
        }
        double seconds = (double)(mono_ns() - start) / 1e9;
        record(workload, sent / seconds, "msg/s",
               Params()
                   .add("users", 1)
                   .add("api", "zgm_user_send")
                   .add("durability", "full")
                   .add("acked", sent)
                   .add("seconds", seconds)
                   .add("mode", mode()));
    }
    zgm_user_destroy(&user);
    g_servers->stop_group(&server);
}

//  One pipelining sender, `members` zgm_user_t members.
void bench_fanout(size_t members_count, uint64_t count) {
    std::string workload = "fanout_" + std::to_string(members_count);
    std::string group = "fanout-" + std::to_string(members_count);
    GroupServer server;
    if (!g_servers->start_group({group}, "full", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload.c_str());
    {
        MemberSet members;
        std::vector<std::unique_ptr<ProtoClient>> senders;
        senders.emplace_back(new ProtoClient(server.endpoint, 77));
        if (!members.create(members_count, group) || !senders[0]->join(group, "sender")) {
            fail("%s: setup failed", workload.c_str());
        } else {
            members.start_readers(members_count >= 10 ? 2 : 1, false);
            uint64_t start = mono_ns();
            uint32_t window = g_options.window ? g_options.window : 1000;
            PipelineResult sent = run_pipeline(senders, group, count, scaled_s(5), window);
            bool complete = sent.failed == 0 && members.finish(sent.acked, scaled_s(20));
            double seconds = (double)(members.last_delivery_ns() - start) / 1e9;
            double rate = seconds > 0 ? (double)members.deliveries() / seconds : 0;
            record(workload, rate, "deliveries/s",
                   Params()
                       .add("members", (int)members_count)
                       .add("messages", sent.acked)
                       .add("deliveries", members.deliveries())
                       .add("every_member_got_every_seq_once", complete)
                       .add("send_rate", sent.rate())
                       .add("seconds", seconds)
                       .add("durability", "full")
                       .add("sender_window", (int)window)
                       .add("mode", mode()));
        }
    }
    g_servers->stop_group(&server);
}

//  5,000 msgs/s to 10 members, on an absolute schedule; latency from the sender's stamp to
//  the member's zgm_user_recv.
void bench_latency(const char* prefix, const char* durability, bool memory) {
    const size_t kMembers = 10;
    const uint64_t kRate = 5000;
    uint64_t count = scaled(15000);
    std::string group = std::string("latency-") + (memory ? "memory" : durability);
    GroupServer server;
    if (!g_servers->start_group({group}, durability, memory ? "" : data_dir(group), &server))
        return fail("%s: cannot start a group server", prefix);
    {
        MemberSet members;
        ProtoClient sender(server.endpoint, 99);
        if (!members.create(kMembers, group) || !sender.join(group, "sender")) {
            fail("%s: setup failed", prefix);
        } else {
            members.start_readers(kMembers, true);
            uint64_t period = 1000000000ull / kRate;
            uint64_t start = mono_ns() + 10000000ull;
            uint64_t stop = start + (uint64_t)(scaled_s(10) * 1e9);
            uint64_t sent = 0;
            for (uint64_t i = 0; i < count; i++) {
                uint64_t at = start + i * period;
                if (at > stop) break;
                sleep_until_ns(at);
                if (!sender.send(group, mono_ns())) break;
                sent++;
                sender.drain();
            }
            uint64_t deadline = mono_ns() + 10000000000ull;
            while (sender.inflight() && mono_ns() < deadline) {
                zmq_pollitem_t item = {sender.socket(), 0, ZMQ_POLLIN, 0};
                zmq_poll(&item, 1, 50);
                sender.drain();
            }
            bool complete = sender.failed() == 0 && members.finish(sender.acked(), scaled_s(20));
            std::vector<uint64_t> latencies = members.latencies();
            struct {
                const char* suffix;
                double quantile;
            } points[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}};
            for (auto& point : points)
                record(std::string(prefix) + "_" + point.suffix,
                       (double)percentile(latencies, point.quantile) / 1000.0, "us",
                       Params()
                           .add("rate", (int)kRate)
                           .add("members", (int)kMembers)
                           .add("messages", sent)
                           .add("samples", (uint64_t)latencies.size())
                           .add("max_us", latencies.empty() ? 0.0 : latencies.back() / 1000.0)
                           .add("every_member_got_every_seq_once", complete)
                           .add("durability", durability)
                           .add("store", memory ? "memory" : "sqlite")
                           .add("mode", mode()));
        }
    }
    g_servers->stop_group(&server);
}

//  Fetch since a timestamp over 200,000 stored messages.
void bench_fetch() {
    const char* workload = "fetch_since";
    uint64_t count = scaled(200000);
    std::string group = "fetch";
    GroupServer server;
    if (!g_servers->start_group({group}, "normal", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    {
        std::vector<std::unique_ptr<ProtoClient>> loaders;
        loaders.emplace_back(new ProtoClient(server.endpoint, 55));
        zgm_user_t* reader = nullptr;
        if (!loaders[0]->join(group, "loader")) {
            fail("%s: JOIN failed", workload);
        } else {
            PipelineResult loaded = run_pipeline(loaders, group, count, 60, 1000);
            reader = zgm_user_new("reader");
            zgm_user_set_timeout(reader, 20000);
            zgm_user_connect(reader, g_servers->registry_endpoint().c_str());
            if (loaded.acked != count || loaders[0]->first_ts_us() == 0) {
                fail("%s: loaded %llu of %llu messages", workload, (unsigned long long)loaded.acked,
                     (unsigned long long)count);
            } else if (zgm_user_join(reader, group.c_str()) != 0) {
                fail("%s: join: %s", workload, zgm_strerror());
            } else {
                uint64_t since = loaders[0]->first_ts_us();
                uint64_t start = mono_ns();
                zgm_msglist_t* list = zgm_user_fetch(reader, group.c_str(), since, 0, 0);
                double seconds = (double)(mono_ns() - start) / 1e9;
                size_t size = list ? zgm_msglist_size(list) : 0;
                bool ordered = size == count;
                for (size_t i = 0; ordered && i < size; i++)
                    ordered = zgm_msg_seq(zgm_msglist_get(list, i)) == i + 1;
                if (!list) fail("%s: %s", workload, zgm_strerror());
                if (!ordered)
                    fail("%s: got %zu messages, not seq 1..%llu", workload, size,
                         (unsigned long long)count);
                zgm_msglist_destroy(&list);
                record(workload, size / seconds, "msg/s",
                       Params()
                           .add("stored", count)
                           .add("received", (uint64_t)size)
                           .add("all_in_order", ordered)
                           .add("seconds", seconds)
                           .add("api", "zgm_user_fetch(since_us)")
                           .add("loaded_with", "durability normal, pipelined")
                           .add("mode", mode()));
            }
        }
        zgm_user_destroy(&reader);
    }
    g_servers->stop_group(&server);
}

//  The text, data and bss of a binary, from `size`.
bool code_size(const std::string& path, uint64_t* text, uint64_t* data, uint64_t* bss) {
    std::string command = "size '" + path + "' 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return false;
    char line[512];
    bool ok = false;
    while (fgets(line, sizeof line, pipe)) {
        unsigned long long t, d, b;
        if (sscanf(line, " %llu %llu %llu", &t, &d, &b) == 3) {
            *text = t;
            *data = d;
            *bss = b;
            ok = true;
        }
    }
    pclose(pipe);
    return ok;
}

void bench_footprint() {
    const int kGroups = 10, kMembers = 100;
    if (!g_options.inproc) {
        std::vector<std::string> groups;
        for (int i = 0; i < kGroups; i++)
            groups.push_back("idle" + std::to_string(i));
        GroupServer server;
        if (!g_servers->start_group(groups, "normal", data_dir("idle"), &server))
            return fail("footprint: cannot start a group server");
        //  1,000 JOINs with distinct user ids, pipelined on one connection.
        ProtoClient client(server.endpoint, 4242);
        IdSource ids(31337);
        std::map<uint32_t, bool> waiting;
        for (int g = 0; g < kGroups; g++)
            for (int m = 0; m < kMembers; m++) {
                proto::Message join;
                join.id = proto::kJoin;
                join.user = ids.uuid();
                join.name = "user" + std::to_string(g * kMembers + m);
                join.group = groups[g];
                join.request_id = client.next_request_id();
                if (proto::send(client.socket(), "", join) == 0) waiting[join.request_id] = true;
            }
        int joined = 0;
        uint64_t deadline = mono_ns() + 30000000000ull;
        while (!waiting.empty() && mono_ns() < deadline) {
            zmq_pollitem_t item = {client.socket(), 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, 100) <= 0) continue;
            proto::Message reply;
            while (proto::recv(client.socket(), false, nullptr, &reply, ZMQ_DONTWAIT) ==
                   proto::DecodeError::kOk) {
                waiting.erase(reply.request_id);
                joined += reply.id == proto::kJoined;
            }
        }
        if (joined != kGroups * kMembers)
            fail("footprint: %d of %d JOINs answered JOINED", joined, kGroups * kMembers);
        sleep_ms(1000);
        long rss = proc_status_kb(server.pid, "VmRSS");
        record("rss_idle", (double)rss, "KiB",
               Params()
                   .add("groups", kGroups)
                   .add("members_per_group", kMembers)
                   .add("members_joined", joined)
                   .add("rss_anon_kib", (double)proc_status_kb(server.pid, "RssAnon"))
                   .add("rss_file_kib", (double)proc_status_kb(server.pid, "RssFile"))
                   .add("pss_kib", (double)proc_smaps_kb(server.pid, "Pss"))
                   .add("rss_kib_by_mapping", rss_by_mapping(server.pid, 12))
                   .add("threads", (double)proc_status_kb(server.pid, "Threads"))
                   .add("process", "zgm server --data DIR --durability normal")
                   .add("idle_s", 1));
        g_servers->stop_group(&server);
    }
    std::string dir = g_options.zgm.substr(0, g_options.zgm.rfind('/') + 1);
    struct {
        const char* workload;
        std::string path;
    } binaries[] = {{"code_size_libzgm", dir + "libzgm.so"}, {"code_size_zgm", g_options.zgm}};
    for (auto& binary : binaries) {
        char resolved[PATH_MAX];
        std::string path = realpath(binary.path.c_str(), resolved) ? resolved : binary.path;
        uint64_t text = 0, data = 0, bss = 0;
        if (!code_size(path, &text, &data, &bss)) {
            fail("%s: cannot read the size of %s", binary.workload, path.c_str());
            continue;
        }
        struct stat info;
        record(
            binary.workload, (double)text, "bytes",
            Params()
                .add("file", path.substr(path.rfind('/') + 1))
                .add("text", text)
                .add("data", data)
                .add("bss", bss)
                .add("file_bytes", (uint64_t)(stat(path.c_str(), &info) == 0 ? info.st_size : 0)));
    }
}

//  ---------------------------------------------------------------------------------------
//  The table

void print_own_table() {
    printf("\nzgm-bench: %s, %zu-byte bodies, tcp 127.0.0.1\n\n", mode(), kBodySize);
    printf("| %-24s | %16s | %-13s | %s\n", "workload", "value", "unit", "params");
    printf("|%s|%s|%s|%s\n", std::string(26, '-').c_str(), std::string(18, '-').c_str(),
           std::string(15, '-').c_str(), "-----");
    for (const Figure& figure : g_run.figures)
        printf("| %-24s | %16s | %-13s | %s\n", figure.workload.c_str(),
               format_value(figure.value).c_str(), figure.unit.c_str(), figure.params.c_str());
}

//  --report: the side-by-side table from JSON lines of zgm-bench and zgm-bench-peers.

std::string json_string(const std::string& line, const char* key) {
    std::string pattern = std::string("\"") + key + "\":\"";
    size_t at = line.find(pattern);
    if (at == std::string::npos) return "";
    std::string value;
    for (size_t i = at + pattern.size(); i < line.size() && line[i] != '"'; i++) {
        if (line[i] == '\\' && i + 1 < line.size()) i++;
        value += line[i];
    }
    return value;
}

bool json_number(const std::string& line, const char* key, double* value) {
    std::string pattern = std::string("\"") + key + "\":";
    size_t at = line.find(pattern);
    if (at == std::string::npos) return false;
    char* end = nullptr;
    *value = strtod(line.c_str() + at + pattern.size(), &end);
    return end != line.c_str() + at + pattern.size();
}

enum Column { kZgm, kNats, kRedis, kMosquitto, kLimit, kColumns };
const char* const kColumnNames[kColumns] = {"zgm", "NATS", "Redis", "Mosquitto", "limit"};

int column_of(const std::string& system) {
    //  zgm-curve and the -tls peers have a section of their own (secure_report.cc).
    if (is_secure_system(system)) return -1;
    if (system == "zgm") return kZgm;
    if (system.compare(0, 4, "nats") == 0) return kNats;
    if (system.compare(0, 5, "redis") == 0) return kRedis;
    if (system == "mosquitto") return kMosquitto;
    if (system == "libzmq" || system == "sqlite") return kLimit;
    return -1;
}

struct Row {
    const char* workload;
    const char* label;
    bool lower_better;
    const char* peers_from;  //  the workload whose peer figures this row shows (null: same)
    unsigned target_columns; //  bit per column: the peers the target compares with
    double target;           //  the ratio the target asks for; 0: no target
};

const Row kRows[] = {
    {"durable_send_1",
     "durable send, 1 sender (zgm fsync/commit; NATS JetStream file, "
     "async publish; Redis XADD appendfsync always)",
     false, nullptr, 1u << kNats, 1.2},
    {"durable_send_8", "durable send, 8 senders (same systems)", false, nullptr, 1u << kNats, 1.2},
    {"send_nofsync_1", "send, no fsync per commit, 1 sender (zgm normal; Redis everysec)", false,
     nullptr, 0, 0},
    {"send_nofsync_8", "send, no fsync per commit, 8 senders", false, nullptr, 0, 0},
    {"durable_send_sync", "durable send, one at a time (zgm_user_send)", false, nullptr, 0, 0},
    {"fanout_1", "fan-out 1 -> 1, deliveries/s (zgm stores each)", false, nullptr, 0, 0},
    {"fanout_10", "fan-out 1 -> 10, deliveries/s (zgm stores each)", false, nullptr,
     (1u << kNats) | (1u << kRedis), 1.0},
    {"fanout_100", "fan-out 1 -> 100, deliveries/s (zgm stores each)", false, nullptr, 0, 0},
    {"latency_p50", "latency p50, 5,000/s to 10 (zgm fsync/commit), us", true, nullptr, 0, 0},
    {"latency_p99", "latency p99, 5,000/s to 10 (zgm fsync/commit), us", true, nullptr,
     1u << kRedis, 1.0},
    {"latency_p999", "latency p99.9, 5,000/s to 10 (zgm fsync/commit), us", true, nullptr, 0, 0},
    {"latency_nofsync_p50", "latency p50, 5,000/s to 10 (zgm normal), us", true, "latency_p50", 0,
     0},
    {"latency_nofsync_p99", "latency p99, 5,000/s to 10 (zgm normal), us", true, "latency_p99",
     1u << kRedis, 1.0},
    {"latency_nofsync_p999", "latency p99.9, 5,000/s to 10 (zgm normal), us", true, "latency_p999",
     0, 0},
    {"latency_memory_p99", "latency p99, 5,000/s to 10 (zgm memory store), us", true, "latency_p99",
     1u << kRedis, 1.0},
    {"fetch_since",
     "fetch since timestamp, 200,000 stored, msg/s (JetStream by start time; "
     "Redis XRANGE)",
     false, nullptr, 1u << kRedis, 2.0},
    {"rss_idle", "idle server RSS, KiB (zgm: 10 groups x 100 members)", true, nullptr,
     1u << kMosquitto, 1.0},
    {"code_size_libzgm", "code size libzgm.so (text), bytes", true, nullptr, 0, 0},
    {"code_size_zgm", "code size zgm program (text), bytes", true, nullptr, 0, 0},
    {"limit_zmq_pushpull", "limit: libzmq PUSH/PULL tcp, msg/s", false, nullptr, 0, 0},
    {"limit_sqlite_insert", "limit: SQLite WAL insert, 1000-row tx, synchronous FULL, rows/s",
     false, nullptr, 0, 0},
    {"limit_sqlite_insert_uuid",
     "limit: same with a random 16-byte unique index (as zgm's msg_id), rows/s", false, nullptr, 0,
     0},
};

int report(const std::vector<std::string>& files) {
    //  (workload, column) -> value and system
    std::map<std::pair<std::string, int>, std::pair<double, std::string>> cells;
    for (const std::string& file : files) {
        std::string text = read_file(file);
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::string line = text.substr(start, end - start);
            start = end + 1;
            double value;
            std::string workload = json_string(line, "workload");
            std::string system = json_string(line, "system");
            int column = column_of(system);
            if (workload.empty() || column < 0 || !json_number(line, "value", &value)) continue;
            cells[{workload, column}] = {value, system};
        }
    }
    printf("| workload | zgm | NATS | Redis | Mosquitto | limit | zgm / best peer | target |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|---|\n");
    for (const Row& row : kRows) {
        bool any = false;
        for (int c = 0; c < kColumns; c++)
            any = any || cells.count({row.workload, c});
        if (!any) continue;
        std::string peers = row.peers_from ? row.peers_from : row.workload;
        double values[kColumns];
        std::string line = std::string("| ") + row.label + " |";
        for (int c = 0; c < kColumns; c++) {
            auto found = cells.find({c == kZgm || c == kLimit ? row.workload : peers, c});
            values[c] = found != cells.end() ? found->second.first : -1;
            std::string cell = values[c] >= 0 ? format_value(values[c]) : "";
            if (values[c] >= 0 && c != kZgm && c != kLimit &&
                (found->second.second == "nats-js" || found->second.second == "redis-always" ||
                 found->second.second == "redis-everysec"))
                cell += " (" + found->second.second + ")";
            if (values[c] >= 0 && c == kLimit) cell += " (" + found->second.second + ")";
            line += " " + cell + " |";
        }
        //  zgm's ratio to the best peer: >= 1 means zgm is as good or better.
        double best = -1;
        for (int c = kNats; c <= kMosquitto; c++)
            if (values[c] > 0 &&
                (best < 0 || (row.lower_better ? values[c] < best : values[c] > best)))
                best = values[c];
        auto ratio_to = [&](double peer) {
            return row.lower_better ? peer / values[kZgm] : values[kZgm] / peer;
        };
        char ratio[64] = "";
        if (best > 0 && values[kZgm] > 0) snprintf(ratio, sizeof ratio, "%.2f", ratio_to(best));
        line += std::string(" ") + ratio + " |";
        std::string target;
        if (row.target > 0 && values[kZgm] > 0) {
            double against = -1;
            std::string names;
            for (int c = kNats; c <= kMosquitto; c++)
                if (row.target_columns & (1u << c)) {
                    names += std::string(names.empty() ? "" : "/") + kColumnNames[c];
                    if (values[c] > 0 && (against < 0 || (row.lower_better ? values[c] < against
                                                                           : values[c] > against)))
                        against = values[c];
                }
            char text[160];
            if (against > 0)
                snprintf(text, sizeof text, "%.2f vs %s, needs >= %.1f: **%s**", ratio_to(against),
                         names.c_str(), row.target,
                         ratio_to(against) >= row.target ? "met" : "missed");
            else
                snprintf(text, sizeof text, "no %s figure", names.c_str());
            target = text;
        }
        line += " " + target + " |";
        printf("%s\n", line.c_str());
    }
    print_secure_report(files);
    return 0;
}

//  ---------------------------------------------------------------------------------------

void usage() {
    fprintf(stderr,
            "Usage: zgm-bench [--json] [--inproc] [--only SETS] [--quick] [--zgm PATH]\n"
            "                 [--window N] [--random-ids] [--base DIR]\n"
            "       zgm-bench --report FILE...\n"
            "SETS: comma-separated durable,nofsync,sync,fanout (or fanout1,fanout10,fanout100),\n"
            "      latency,fetch,footprint\n");
}

bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        auto value = [&](std::string* out) {
            if (i + 1 >= argc) return false;
            *out = argv[++i];
            return true;
        };
        std::string text;
        if (arg == "--json")
            g_run.json = true;
        else if (arg == "--inproc")
            g_options.inproc = true;
        else if (arg == "--quick")
            g_run.quick = true;
        else if (arg == "--random-ids")
            g_options.random_ids = true;
        else if (arg == "--only") {
            if (!value(&g_run.only)) return false;
        } else if (arg == "--zgm") {
            if (!value(&g_options.zgm)) return false;
        } else if (arg == "--base") {
            if (!value(&g_options.base)) return false;
        } else if (arg == "--window") {
            if (!value(&text)) return false;
            g_options.window = (uint32_t)atoi(text.c_str());
        } else if (arg == "--report") {
            for (i++; i < argc; i++)
                g_options.report.push_back(argv[i]);
            return !g_options.report.empty();
        } else
            return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    install_cleanup();
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage();
        return 0;
    }
    if (!parse(argc, argv)) {
        usage();
        return 2;
    }
    if (!g_options.report.empty()) return report(g_options.report);
    //  Our handlers stop the servers; CZMQ's would only set zsys_interrupted.
    zsys_handler_set(nullptr);
    if (g_options.zgm.empty()) {
        //  build/bench/zgm-bench -> build/src/zgm
        char self[PATH_MAX];
        ssize_t size = readlink("/proc/self/exe", self, sizeof self - 1);
        std::string path = size > 0 ? std::string(self, (size_t)size) : argv[0];
        path = path.substr(0, path.rfind('/'));
        g_options.zgm = path.substr(0, path.rfind('/')) + "/src/zgm";
    }
    if (!g_options.inproc && access(g_options.zgm.c_str(), X_OK) != 0) {
        fprintf(stderr, "zgm-bench: no zgm program at %s (--zgm PATH, or --inproc)\n",
                g_options.zgm.c_str());
        return 1;
    }
    g_options.base = make_temp_dir("zgm-bench", g_options.base);
    if (g_options.base.empty()) {
        perror("zgm-bench: mkdtemp");
        return 1;
    }
    set_cleanup_dir(g_options.base);
    fprintf(stderr, "zgm-bench: %s, servers %s, data in %s\n", g_options.zgm.c_str(), mode(),
            g_options.base.c_str());

    Servers servers;
    g_servers = &servers;
    if (!servers.start_registry()) {
        fprintf(stderr, "zgm-bench: cannot start a registry (%s)\n", g_options.zgm.c_str());
        remove_tree(g_options.base);
        return 1;
    }
    if (selected("durable")) {
        bench_send("durable_send_1", 1, "full");
        bench_send("durable_send_8", 8, "full");
    }
    if (selected("nofsync")) {
        bench_send("send_nofsync_1", 1, "normal");
        bench_send("send_nofsync_8", 8, "normal");
    }
    if (selected("sync")) bench_send_sync();
    if (selected("fanout") || selected("fanout1")) bench_fanout(1, scaled(200000));
    if (selected("fanout") || selected("fanout10")) bench_fanout(10, scaled(50000));
    if (selected("fanout") || selected("fanout100")) bench_fanout(100, scaled(10000));
    if (selected("latency")) {
        bench_latency("latency", "full", false);
        bench_latency("latency_nofsync", "normal", false);
        bench_latency("latency_memory", "normal", true);
    }
    if (selected("fetch")) bench_fetch();
    if (selected("footprint")) bench_footprint();
    servers.stop();
    if (!g_run.json) print_own_table();
    zsys_shutdown();
    remove_tree(g_options.base);
    return g_run.failed ? 1 : 0;
}
