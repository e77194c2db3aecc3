/*  =========================================================================
    zgm_bench.cc - zgm-bench: measured performance of zgm through its public API, and the
    side-by-side table

    Usage: zgm-bench [--json] [--inproc] [--only SETS] [--quick] [--security LIST]
                     [--zgm PATH] [--random-ids] [--base DIR] [--scale F]
                     [--time-scale F] [--rate N] [--verbose]
           zgm-bench --report FILE... [--round FILE...]...

    Every zgm figure is measured as a user's program gets it: zgm_user_t objects calling
    include/zgm.h, against servers started as a deployment starts them - a `zgm registry`
    and one `zgm server` process per workload over tcp loopback (or, with --inproc, the
    same objects inside this process). Each workload runs with CURVE (system "zgm-curve",
    the default of every role) and then with the roles insecure (system "zgm", PLAIN: no
    encryption), one right after the other. The servers run with no per-key request rate
    (--max-rate 0): their default, 1,000 requests/s per key, would throttle a sender that
    sends messages one at a time at 5,000/s. With 100-byte bodies it measures:

      durable   1 user object on one thread, and 8 each on its own thread, sending with
                zgm_user_send_async and reading each outcome as it comes (zgm_user_sent),
                as many in flight as the library lets through, zgm_user_flush at the end;
                stored messages/s, `full` store (an fsync per commit). The same with
                `normal` (nofsync), and zgm_user_send one at a time (sync).
      fanout    1 sender (as above), 1, 10 and 100 members, each a zgm_user_t read with
                zgm_user_recv; deliveries/s counted at the members, every member checked
                to get every seq exactly once.
      latency   5,000 msgs/s to 10 members; p50, p99, p99.9 from zgm_user_send_async to
                zgm_user_recv; `full`, `normal` and the memory store.
      fetch     zgm_user_fetch since a timestamp over 200,000 stored messages, into one list:
                from a group server with its default --max-recent-bytes (8 MiB), then with
                64 MiB (fetch_since_recent: all of them in memory).
      footprint RSS of an idle group server hosting 10 groups of 100 members (1,000 joins
                by distinct keys through the API); code size.
      protocol  the protocol's limit, not the API: a raw DEALER speaking zgm_proto (CURVE
                or PLAIN) that keeps 4 SENDs of 1,000 messages in flight, as the user actor
                batches them; stored messages/s. Labelled "protocol limit" in the table.

    Every load is bounded in count and in time. It prints a table, or with --json one
    JSON object per figure: {"workload","system","value","unit","params"}. --report reads
    such lines (from zgm-bench and zgm-bench-peers) and prints the side-by-side table with
    zgm's ratio to the best peer and the targets of the issue. Each --round names the files of
    another round that ran the target workloads again: a table of each target's ratio round by
    round follows, with the median as the verdict. Then the secure section (secure_report.cc):
    zgm-curve beside the peers with TLS.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "benchutil.h"
#include "secure_report.h"

#include "zgm.h"

//  Only the protocol-limit rows reach inside: a raw client speaks zgm_proto itself.
#include "core/security.h"
#include "proto/proto.h"

#include <czmq.h>

//  Under `valgrind --tool=callgrind --instr-atstart=no`, only the measured windows are
//  counted (setup, joins and teardown are not): run one workload and one --security mode
//  at a time, with --separate-threads=yes to see each thread. Elsewhere these are no-ops.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define PROFILE_START() CALLGRIND_START_INSTRUMENTATION
#define PROFILE_STOP() CALLGRIND_STOP_INSTRUMENTATION
#else
#define PROFILE_START()
#define PROFILE_STOP()
#endif

#include <climits>
#include <map>

#include <poll.h>
#include <sys/resource.h>
#include <memory>
#include <thread>

using namespace bench;

namespace {

//  ---------------------------------------------------------------------------------------
//  Options and output

enum class Mode { kCurve, kInsecure };

struct Options {
    bool inproc = false;
    std::string zgm;  //  the zgm program
    std::string base; //  where data directories and keys go
    std::vector<Mode> modes = {Mode::kCurve, Mode::kInsecure};
    bool random_ids = false;                      //  the caller gives random message ids
    uint64_t latency_rate = 5000;                 //  messages/s of the latency workloads
    std::vector<std::vector<std::string>> report; //  --report files, round by round
};

Options g_options;

const char* system_of(Mode mode) {
    return mode == Mode::kCurve ? "zgm-curve" : "zgm";
}

const char* security_of(Mode mode) {
    return mode == Mode::kCurve ? "curve" : "insecure (PLAIN)";
}

const char* mode_name() {
    return g_options.inproc ? "in-process" : "processes";
}

//  The params every zgm figure carries.
Params base_params(Mode mode) {
    return Params()
        .add("security", security_of(mode))
        .add("servers", mode_name())
        .add("max_rate", "0 (no per-key request rate)");
}

//  A fast generator for --random-ids: 32 hex digits, all random (the library's own ids
//  start with the time, which keeps the store's index append-only).
struct RandomIds {
    uint64_t state;
    explicit RandomIds(uint64_t seed) : state(seed * 0x9e3779b97f4a7c15ull + 1) {}
    uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
    void fill(char* id) {
        static const char digits[] = "0123456789abcdef";
        uint64_t a = next(), b = next();
        for (int i = 0; i < 16; i++) {
            id[i] = digits[(a >> (4 * i)) & 15];
            id[16 + i] = digits[(b >> (4 * i)) & 15];
        }
        id[32] = '\0';
    }
};

//  ---------------------------------------------------------------------------------------
//  Servers: a registry per security mode for the whole run, a fresh group server per
//  workload. Key pairs are made with zgm_keygen in the run's directory: the registry's,
//  and one for every group server, which the registry trusts.

struct Registry {
    pid_t pid = 0;                    //  the zgm registry process (0 in-process)
    zgm_registry_t* inproc = nullptr; //  the in-process registry
    std::string endpoint;             //  where users reach it
    std::string key;                  //  its public key (users need it with CURVE)
};

struct GroupServer {
    Mode mode = Mode::kCurve;
    pid_t pid = 0;                  //  the zgm server process (0 in-process)
    zgm_server_t* inproc = nullptr; //  the in-process group server
    std::string endpoint;           //  where users reach it
    std::string key;                //  its public key
    std::string data_dir;           //  empty: memory store
};

class Servers {
public:
    ~Servers() { stop(); }

    bool make_keys() {
        std::string dir = g_options.base + "/keys";
        mkdir(dir.c_str(), 0700);
        //  The names hold a '_', which is not a Z85 character: zgm_key_read takes any 40
        //  characters of Z85 for a key's text, so a path of exactly 40 such characters
        //  ("/tmp/zgm-bench-XXXXXX/keys/registry.cert") would be read as a key, not a file.
        registry_cert_ = dir + "/registry_key.cert";
        server_cert_ = dir + "/server_key.cert";
        char key[ZGM_KEY_SIZE];
        if (zgm_keygen(registry_cert_.c_str(), "zgm-bench registry") != 0 ||
            zgm_keygen(server_cert_.c_str(), "zgm-bench group server") != 0 ||
            zgm_key_read(server_cert_.c_str(), key) != 0) {
            fprintf(stderr, "zgm-bench: cannot make key pairs: %s\n", zgm_strerror());
            return false;
        }
        server_key_ = key;
        if (zgm_key_read(registry_cert_.c_str(), key) != 0) return false;
        registry_key_ = key;
        return true;
    }

    //  The registry of a mode, started the first time it is needed.
    const Registry* registry(Mode mode) {
        Registry& registry = registries_[(int)mode];
        if (!registry.endpoint.empty()) return &registry;
        if (!start_registry(mode, &registry)) return nullptr;
        return &registry;
    }

    //  A group server hosting groups; data_dir empty: the memory store; recent_bytes: its
    //  --max-recent-bytes (0: the default). On failure nothing is left of it.
    bool start_server(Mode mode, const std::vector<std::string>& groups, const char* durability,
                      const std::string& data_dir, GroupServer* server, uint64_t recent_bytes = 0) {
        if (start_server_once(mode, groups, durability, data_dir, server, recent_bytes))
            return true;
        stop_server(server);
        return false;
    }

    void stop_server(GroupServer* server) {
        if (server->inproc) zgm_server_destroy(&server->inproc);
        if (server->pid) stop_child(server->pid);
        server->pid = 0;
        if (!server->data_dir.empty()) remove_tree(server->data_dir);
    }

    void stop() {
        for (Registry& registry : registries_) {
            if (registry.inproc) zgm_registry_destroy(&registry.inproc);
            if (registry.pid) stop_child(registry.pid);
            registry = Registry();
        }
    }

private:
    bool start_server_once(Mode mode, const std::vector<std::string>& groups,
                           const char* durability, const std::string& data_dir, GroupServer* server,
                           uint64_t recent_bytes) {
        const Registry* registry = this->registry(mode);
        if (!registry) return false;
        server->mode = mode;
        server->data_dir = data_dir;
        server->key = server_key_;
        bool insecure = mode == Mode::kInsecure;
        if (g_options.inproc) {
            zgm_server_t* made = zgm_server_new(data_dir.empty() ? nullptr : data_dir.c_str());
            server->inproc = made;
            if (!made || zgm_server_set_key(made, server_cert_.c_str()) != 0 ||
                zgm_server_set_insecure(made, insecure) != 0 ||
                zgm_server_set_limit(made, ZGM_LIMIT_RATE, 0) != 0 ||
                (recent_bytes &&
                 zgm_server_set_limit(made, ZGM_LIMIT_RECENT_BYTES, recent_bytes)) ||
                (!data_dir.empty() && zgm_server_set_durability(made, durability) != 0))
                return fail("group server: %s", zgm_strerror()), false;
            for (const std::string& group : groups)
                if (zgm_server_add(made, group.c_str(), nullptr, ZGM_POLICY_OPEN) != 0)
                    return fail("group server: add %s: %s", group.c_str(), zgm_strerror()), false;
            int port = zgm_server_bind(made, "tcp://127.0.0.1:*");
            if (port <= 0) return fail("group server: bind: %s", zgm_strerror()), false;
            server->endpoint = "tcp://127.0.0.1:" + std::to_string(port);
            if (zgm_server_connect(made, registry->endpoint.c_str(),
                                   insecure ? nullptr : registry->key.c_str()) != 0)
                return fail("group server: connect: %s", zgm_strerror()), false;
            return true;
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = free_port();
            std::string bind = "tcp://127.0.0.1:" + std::to_string(port);
            std::vector<std::string> args = {
                g_options.zgm, "server",     "--registry", registry->endpoint,
                "--key",       server_cert_, "--bind",     bind,
                "--max-rate",  "0",          "--quiet"};
            if (insecure) {
                args.push_back("--insecure");
            } else {
                args.push_back("--registry-key");
                args.push_back(registry_key_);
            }
            for (const std::string& group : groups) {
                args.push_back("--group");
                args.push_back(group);
            }
            if (recent_bytes) {
                args.push_back("--max-recent-bytes");
                args.push_back(std::to_string(recent_bytes));
            }
            if (data_dir.empty()) {
                args.push_back("--memory");
            } else {
                args.push_back("--durability");
                args.push_back(durability);
                args.push_back("--data");
                args.push_back(data_dir);
            }
            //  A log of its own: the text waited for must be this process's.
            std::string log = g_options.base + "/server-" + groups[0] + "-" + system_of(mode) +
                              "-" + std::to_string(attempt) + ".log";
            unlink(log.c_str());
            server->pid = spawn(args, log);
            if (server->pid > 0 && wait_for_text(log, "zgm server: serving", 15000, server->pid)) {
                server->endpoint = bind;
                return true;
            }
            stop_child(server->pid);
            server->pid = 0;
            note("zgm server did not start (attempt %d); its log, %s:\n%s", attempt + 1,
                 log.c_str(), read_file(log).c_str());
        }
        return false;
    }

    bool start_registry(Mode mode, Registry* registry) {
        bool insecure = mode == Mode::kInsecure;
        registry->key = registry_key_;
        if (g_options.inproc) {
            registry->inproc = zgm_registry_new();
            zgm_registry_t* made = registry->inproc;
            if (!made || zgm_registry_set_key(made, registry_cert_.c_str()) != 0 ||
                zgm_registry_set_insecure(made, insecure) != 0 ||
                zgm_registry_set_limit(made, ZGM_LIMIT_RATE, 0) != 0 ||
                zgm_registry_trust(made, server_key_.c_str()) != 0)
                return fail("registry: %s", zgm_strerror()), false;
            int port = zgm_registry_bind(made, "tcp://127.0.0.1:*");
            if (port <= 0) return fail("registry: bind: %s", zgm_strerror()), false;
            registry->endpoint = "tcp://127.0.0.1:" + std::to_string(port);
            return true;
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = free_port();
            std::string log = g_options.base + "/registry-" + system_of(mode) + "-" +
                              std::to_string(attempt) + ".log";
            unlink(log.c_str());
            std::string bind = "tcp://127.0.0.1:" + std::to_string(port);
            std::vector<std::string> args = {
                g_options.zgm, "registry",  "--bind",     bind, "--key",  registry_cert_,
                "--trust",     server_key_, "--max-rate", "0",  "--quiet"};
            if (insecure) args.push_back("--insecure");
            registry->pid = spawn(args, log);
            if (registry->pid > 0 && wait_for_text(log, "listening on", 5000, registry->pid)) {
                registry->endpoint = bind;
                return true;
            }
            stop_child(registry->pid);
            registry->pid = 0;
            note("zgm registry did not start (attempt %d); its log, %s:\n%s", attempt + 1,
                 log.c_str(), read_file(log).c_str());
        }
        return false;
    }

    Registry registries_[2];
    std::string registry_cert_, server_cert_;
    std::string registry_key_, server_key_;
};

Servers* g_servers = nullptr;

//  A fresh data directory for one workload's group server.
std::string data_dir(const std::string& name) {
    std::string dir = g_options.base + "/" + name;
    mkdir(dir.c_str(), 0755);
    return dir;
}

//  ---------------------------------------------------------------------------------------
//  Users, as a program makes them

//  A user connected to the mode's registry, or NULL (the run fails).
zgm_user_t* new_user(Mode mode, const std::string& name, int timeout_ms = 10000) {
    const Registry* registry = g_servers->registry(mode);
    zgm_user_t* user = zgm_user_new(name.c_str());
    if (!registry || !user) {
        fail("user %s: %s", name.c_str(), registry ? zgm_strerror() : "no registry");
        zgm_user_destroy(&user);
        return nullptr;
    }
    zgm_user_set_timeout(user, timeout_ms);
    bool insecure = mode == Mode::kInsecure;
    if (zgm_user_set_insecure(user, insecure) != 0 ||
        zgm_user_connect(user, registry->endpoint.c_str(),
                         insecure ? nullptr : registry->key.c_str()) != 0) {
        fail("user %s: connect: %s", name.c_str(), zgm_strerror());
        zgm_user_destroy(&user);
    }
    return user;
}

//  A user that joined the group, to send to it: it stops following it (a sender that does
//  not read its own messages), so the group server pushes only to the members measured.
zgm_user_t* new_sender(Mode mode, const std::string& name, const std::string& group) {
    zgm_user_t* user = new_user(mode, name);
    if (!user) return nullptr;
    if (zgm_user_join(user, group.c_str()) != 0 || zgm_user_unfollow(user, group.c_str()) != 0) {
        fail("%s: join %s: %s", name.c_str(), group.c_str(), zgm_strerror());
        zgm_user_destroy(&user);
    }
    return user;
}

//  What one sender's asynchronous sends came to.
struct SendStats {
    uint64_t handed = 0; //  zgm_user_send_async returned 0
    uint64_t stored = 0; //  outcomes with error 0
    uint64_t failed = 0; //  any other outcome
    uint64_t seq1_timestamp = 0;
    uint64_t last_outcome_ns = 0;
    std::string first_failure;
};

//  Reads every outcome waiting, without waiting.
void take_outcomes(zgm_user_t* user, SendStats* stats) {
    zgm_sent_t sent;
    while (zgm_user_sent(user, &sent, 0) == 0) {
        if (sent.error == 0) {
            stats->stored++;
            if (sent.seq == 1) stats->seq1_timestamp = sent.timestamp;
        } else if (stats->failed++ == 0) {
            stats->first_failure = std::string("outcome ") + std::to_string(sent.error) + ": " +
                                   sent.reason + " (message id " + sent.msg_id + ")";
        }
        stats->last_outcome_ns = mono_ns();
    }
}

//  Sends 100-byte bodies with zgm_user_send_async until `count` were handed over or the
//  clock reaches stop_ns, reading each outcome as it comes; then waits for the rest
//  (zgm_user_flush, up to 30 s). The body's first 8 bytes carry the send time.
void send_async_loop(zgm_user_t* user, const std::string& group, uint64_t count, uint64_t stop_ns,
                     uint64_t seed, SendStats* stats) {
    char body[kBodySize];
    memset(body, 'x', sizeof body);
    RandomIds ids(seed);
    char id[ZGM_MSG_ID_SIZE];
    while (stats->handed < count) {
        uint64_t now = mono_ns();
        if (now >= stop_ns) break;
        stamp_body(body, now);
        if (g_options.random_ids) ids.fill(id);
        if (zgm_user_send_async(user, group.c_str(), body, sizeof body,
                                g_options.random_ids ? id : nullptr) != 0) {
            if (stats->failed++ == 0)
                stats->first_failure = std::string("zgm_user_send_async: ") + zgm_strerror();
            break;
        }
        stats->handed++;
        take_outcomes(user, stats);
    }
    if (zgm_user_flush(user, 30000) != 0 && stats->failed++ == 0)
        stats->first_failure = std::string("zgm_user_flush: ") + zgm_strerror();
    take_outcomes(user, stats);
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
    std::vector<struct pollfd> items;
    for (Member* member : members)
        items.push_back({zgm_user_fd(member->user), POLLIN, 0});
    std::vector<uint64_t>& latencies = readers->latencies[index];
    uint64_t last_ns = 0;
    while (!readers->stop.load()) {
        uint64_t expected = readers->expected.load();
        bool done = true;
        for (Member* member : members)
            done = done && member->count >= expected;
        if (done) break;
        if (poll(items.data(), items.size(), 20) <= 0) continue;
        for (size_t i = 0; i < members.size(); i++) {
            if (!(items[i].revents & POLLIN)) continue;
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
    bool create(Mode mode, size_t count, const std::string& group) {
        for (size_t i = 0; i < count; i++) {
            std::unique_ptr<Member> member(new Member());
            member->user = new_user(mode, "member" + std::to_string(i));
            if (!member->user) return false;
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
        if (!threads_.empty()) {
            readers_.stop.store(true);
            for (std::thread& thread : threads_)
                thread.join();
        }
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
    //  to timeout_s). True if every member got seq 1..expected, each once, in order.
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

//  ---------------------------------------------------------------------------------------
//  Workloads through the API

//  `users` user objects, each on its own thread, sending into one group.
void bench_send(Mode mode, const char* workload, int users, const char* durability) {
    std::string group = std::string("send-") + durability + "-" + std::to_string(users);
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, durability, data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    std::vector<zgm_user_t*> senders;
    for (int i = 0; i < users; i++) {
        zgm_user_t* user = new_sender(mode, "sender" + std::to_string(i), group);
        if (!user) break;
        senders.push_back(user);
    }
    uint64_t count = scaled(400000);
    double max_s = scaled_s(5);
    if ((int)senders.size() == users) {
        std::vector<SendStats> stats(users);
        std::vector<std::thread> threads;
        PROFILE_START();
        uint64_t start = mono_ns() + 5000000ull; //  every thread starts at once
        uint64_t stop = start + (uint64_t)(max_s * 1e9);
        for (int i = 0; i < users; i++)
            threads.emplace_back([&, i] {
                sleep_until_ns(start);
                send_async_loop(senders[i], group, count / users + (i < (int)(count % users)), stop,
                                1000 + i, &stats[i]);
            });
        for (std::thread& thread : threads)
            thread.join();
        PROFILE_STOP();
        SendStats total;
        for (const SendStats& part : stats) {
            total.handed += part.handed;
            total.stored += part.stored;
            total.failed += part.failed;
            total.last_outcome_ns = std::max(total.last_outcome_ns, part.last_outcome_ns);
            if (total.first_failure.empty()) total.first_failure = part.first_failure;
        }
        if (total.failed || total.stored != total.handed)
            fail("%s (%s): %llu handed over, %llu stored, %llu failed; %s", workload,
                 system_of(mode), (unsigned long long)total.handed,
                 (unsigned long long)total.stored, (unsigned long long)total.failed,
                 total.first_failure.c_str());
        double seconds =
            total.last_outcome_ns > start ? (double)(total.last_outcome_ns - start) / 1e9 : 0;
        record(workload, system_of(mode), seconds > 0 ? total.stored / seconds : 0, "msg/s",
               base_params(mode)
                   .add("users", users)
                   .add("threads", users)
                   .add("api", "zgm_user_send_async + zgm_user_sent(0) after each + "
                               "zgm_user_flush")
                   .add("window", "the library's (10,000 sends or 16 MiB in flight)")
                   .add("msg_ids", g_options.random_ids ? "random, given by the caller"
                                                        : "the library's (time-ordered)")
                   .add("durability", durability)
                   .add("store", "sqlite")
                   .add("stored", total.stored)
                   .add("failed", total.failed)
                   .add("seconds", seconds)
                   .add("max_messages", count)
                   .add("body", (int)kBodySize));
    }
    for (zgm_user_t*& user : senders)
        zgm_user_destroy(&user);
    g_servers->stop_server(&server);
}

//  zgm_user_send, one message at a time: each waits for its commit.
void bench_send_sync(Mode mode) {
    const char* workload = "durable_send_sync";
    std::string group = "send-sync";
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, "full", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    zgm_user_t* user = new_sender(mode, "sync-sender", group);
    if (user) {
        char body[kBodySize];
        memset(body, 'x', sizeof body);
        uint64_t count = scaled(5000), sent = 0;
        PROFILE_START();
        uint64_t start = mono_ns();
        uint64_t stop = start + (uint64_t)(scaled_s(2) * 1e9);
        while (sent < count && mono_ns() < stop) {
            if (zgm_user_send(user, group.c_str(), body, sizeof body, nullptr, nullptr, nullptr) !=
                0) {
                fail("%s: %s", workload, zgm_strerror());
                break;
            }
            sent++;
        }
        double seconds = (double)(mono_ns() - start) / 1e9;
        PROFILE_STOP();
        record(workload, system_of(mode), sent / seconds, "msg/s",
               base_params(mode)
                   .add("users", 1)
                   .add("api", "zgm_user_send")
                   .add("durability", "full")
                   .add("stored", sent)
                   .add("seconds", seconds));
    }
    zgm_user_destroy(&user);
    g_servers->stop_server(&server);
}

//  One sender, `members_count` member objects.
void bench_fanout(Mode mode, size_t members_count, uint64_t count) {
    std::string workload = "fanout_" + std::to_string(members_count);
    std::string group = "fanout-" + std::to_string(members_count);
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, "full", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload.c_str());
    {
        MemberSet members;
        zgm_user_t* sender = nullptr;
        if (members.create(mode, members_count, group) &&
            (sender = new_sender(mode, "sender", group)) != nullptr) {
            members.start_readers(members_count >= 10 ? 2 : 1, false);
            SendStats sent;
            PROFILE_START();
            uint64_t start = mono_ns();
            send_async_loop(sender, group, count, start + (uint64_t)(scaled_s(5) * 1e9), 77, &sent);
            if (sent.failed)
                fail("%s (%s): %llu sends failed: %s", workload.c_str(), system_of(mode),
                     (unsigned long long)sent.failed, sent.first_failure.c_str());
            bool complete = sent.failed == 0 && members.finish(sent.stored, scaled_s(20));
            PROFILE_STOP();
            double seconds = (double)(members.last_delivery_ns() - start) / 1e9;
            double send_seconds = (double)(sent.last_outcome_ns - start) / 1e9;
            double rate = seconds > 0 ? (double)members.deliveries() / seconds : 0;
            record(workload, system_of(mode), rate, "deliveries/s",
                   base_params(mode)
                       .add("members", (int)members_count)
                       .add("messages", sent.stored)
                       .add("deliveries", members.deliveries())
                       .add("every_member_got_every_seq_once", complete)
                       .add("send_rate", send_seconds > 0 ? sent.stored / send_seconds : 0)
                       .add("seconds", seconds)
                       .add("durability", "full")
                       .add("sender", "zgm_user_send_async, outcomes read as they come")
                       .add("members_read_by", "zgm_user_recv(0) when zgm_user_fd is readable")
                       .add("reader_threads", members_count >= 10 ? 2 : 1)
                       .add("max_sockets", "zsys_set_max_sockets(4096): each zgm_user_t "
                                           "holds 8 libzmq sockets"));
        } else {
            fail("%s: setup failed", workload.c_str());
        }
        zgm_user_destroy(&sender);
    }
    g_servers->stop_server(&server);
}

//  5,000 msgs/s to 10 members, on an absolute schedule; latency from the sender's stamp
//  (just before zgm_user_send_async) to the member's zgm_user_recv.
void bench_latency(Mode mode, const char* prefix, const char* durability, bool memory) {
    const size_t kMembers = 10;
    const uint64_t kRate = g_options.latency_rate;
    uint64_t count = scaled(15000);
    std::string group = std::string("latency-") + (memory ? "memory" : durability);
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, durability, memory ? "" : data_dir(group), &server))
        return fail("%s: cannot start a group server", prefix);
    {
        MemberSet members;
        zgm_user_t* sender = nullptr;
        if (members.create(mode, kMembers, group) &&
            (sender = new_sender(mode, "sender", group)) != nullptr) {
            members.start_readers(kMembers, true);
            PROFILE_START();
            uint64_t period = 1000000000ull / kRate;
            uint64_t start = mono_ns() + 10000000ull;
            uint64_t stop = start + (uint64_t)(scaled_s(10) * 1e9);
            char body[kBodySize];
            memset(body, 'x', sizeof body);
            SendStats sent;
            for (uint64_t i = 0; i < count; i++) {
                uint64_t at = start + i * period;
                if (at > stop) break;
                sleep_until_ns(at);
                stamp_body(body, mono_ns());
                if (zgm_user_send_async(sender, group.c_str(), body, sizeof body, nullptr) != 0) {
                    fail("%s: zgm_user_send_async: %s", prefix, zgm_strerror());
                    break;
                }
                sent.handed++;
                take_outcomes(sender, &sent);
            }
            if (zgm_user_flush(sender, 30000) != 0)
                fail("%s: zgm_user_flush: %s", prefix, zgm_strerror());
            take_outcomes(sender, &sent);
            if (sent.failed)
                fail("%s (%s): %llu sends failed: %s", prefix, system_of(mode),
                     (unsigned long long)sent.failed, sent.first_failure.c_str());
            bool complete = sent.failed == 0 && sent.stored == sent.handed &&
                            members.finish(sent.stored, scaled_s(20));
            PROFILE_STOP();
            std::vector<uint64_t> latencies = members.latencies();
            struct {
                const char* suffix;
                double quantile;
            } points[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}};
            for (auto& point : points)
                record(std::string(prefix) + "_" + point.suffix, system_of(mode),
                       (double)percentile(latencies, point.quantile) / 1000.0, "us",
                       base_params(mode)
                           .add("rate", (int)kRate)
                           .add("members", (int)kMembers)
                           .add("messages", sent.stored)
                           .add("samples", (uint64_t)latencies.size())
                           .add("max_us", latencies.empty() ? 0.0 : latencies.back() / 1000.0)
                           .add("every_member_got_every_seq_once", complete)
                           .add("durability", memory ? "none" : durability)
                           .add("store", memory ? "memory" : "sqlite")
                           .add("from", "before zgm_user_send_async")
                           .add("to", "zgm_user_recv returned (one reader thread per member)"));
        } else {
            fail("%s: setup failed", prefix);
        }
        zgm_user_destroy(&sender);
    }
    g_servers->stop_server(&server);
}

//  The group server's --max-recent-bytes in fetch_since_recent: the 200,000 messages (about
//  190 bytes each, counted as allocated) all stay in memory.
const uint64_t kFetchRecentBytes = 64u << 20;

//  zgm_user_fetch since a timestamp over 200,000 stored messages, into one list, from a group
//  server that keeps recent_bytes of the newest in memory (0: its default, 8 MiB).
void fetch_since(Mode mode, const char* workload, uint64_t recent_bytes) {
    uint64_t count = scaled(200000);
    std::string group = "fetch";
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, "normal", data_dir(group), &server, recent_bytes))
        return fail("%s: cannot start a group server", workload);
    zgm_user_t* loader = new_sender(mode, "loader", group);
    zgm_user_t* reader = nullptr;
    if (loader) {
        SendStats loaded;
        send_async_loop(loader, group, count, mono_ns() + 120000000000ull, 55, &loaded);
        reader = new_user(mode, "reader", 30000);
        if (loaded.stored != count || loaded.failed || loaded.seq1_timestamp == 0) {
            fail("%s: loaded %llu of %llu messages (%s)", workload,
                 (unsigned long long)loaded.stored, (unsigned long long)count,
                 loaded.first_failure.c_str());
        } else if (!reader || zgm_user_join(reader, group.c_str()) != 0 ||
                   zgm_user_unfollow(reader, group.c_str()) != 0) {
            fail("%s: join: %s", workload, zgm_strerror());
        } else {
            zgm_fetch_t query = {};
            query.since_us = loaded.seq1_timestamp;
            struct rusage before, after;
            getrusage(RUSAGE_SELF, &before);
            PROFILE_START();
            uint64_t start = mono_ns();
            zgm_msglist_t* list = zgm_user_fetch(reader, group.c_str(), &query);
            double seconds = (double)(mono_ns() - start) / 1e9;
            PROFILE_STOP();
            getrusage(RUSAGE_SELF, &after);
            //  CPU time of the whole benchmark process during the fetch: with --inproc the
            //  group server's threads too. Far below the wall-clock, the fetch waits.
            auto cpu = [](const struct rusage& usage) {
                return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
            };
            size_t size = list ? zgm_msglist_size(list) : 0;
            bool ordered = size == count;
            for (size_t i = 0; ordered && i < size; i++) {
                const zgm_msg_t* msg = zgm_msglist_get(list, i);
                ordered = zgm_msg_seq(msg) == i + 1 && zgm_msg_size(msg) == kBodySize;
            }
            if (!list) fail("%s: %s", workload, zgm_strerror());
            if (!ordered)
                fail("%s: got %zu messages, not seq 1..%llu", workload, size,
                     (unsigned long long)count);
            zgm_msglist_destroy(&list);
            record(workload, system_of(mode), seconds > 0 ? size / seconds : 0, "msg/s",
                   base_params(mode)
                       .add("stored", count)
                       .add("received", (uint64_t)size)
                       .add("all_in_order", ordered)
                       .add("seconds", seconds)
                       .add("process_cpu_seconds", cpu(after) - cpu(before))
                       .add("minor_faults", (uint64_t)(after.ru_minflt - before.ru_minflt))
                       .add("context_switches", (uint64_t)(after.ru_nvcsw - before.ru_nvcsw +
                                                           after.ru_nivcsw - before.ru_nivcsw))
                       .add("api", "zgm_user_fetch(since_us), one list")
                       .add("loaded_with", "zgm_user_send_async, durability normal")
                       .add("max_recent_bytes",
                            recent_bytes ? std::to_string(recent_bytes) : "the default"));
        }
    }
    zgm_user_destroy(&reader);
    zgm_user_destroy(&loader);
    g_servers->stop_server(&server);
}

void bench_fetch(Mode mode) {
    fetch_since(mode, "fetch_since", 0);
    fetch_since(mode, "fetch_since_recent", kFetchRecentBytes);
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

//  1,000 users join 10 groups (100 each) through the API, `threads` at a time, each user
//  leaving (destroyed) once it has joined. Returns how many joined.
int join_many(Mode mode, const std::vector<std::string>& groups, int per_group, int threads) {
    std::atomic<int> next{0}, joined{0};
    std::atomic<bool> failed{false};
    int total = (int)groups.size() * per_group;
    uint64_t deadline = mono_ns() + 120000000000ull;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++)
        workers.emplace_back([&] {
            int i;
            while (!failed.load() && mono_ns() < deadline && (i = next++) < total) {
                zgm_user_t* user = new_user(mode, "user" + std::to_string(i));
                if (user && zgm_user_join(user, groups[i / per_group].c_str()) == 0)
                    joined++;
                else if (!failed.exchange(true))
                    fail("footprint: user %d cannot join: %s", i, zgm_strerror());
                zgm_user_destroy(&user);
            }
        });
    for (std::thread& worker : workers)
        worker.join();
    return joined.load();
}

void bench_footprint(Mode mode) {
    const int kGroups = 10, kMembers = 100;
    if (!g_options.inproc) {
        std::vector<std::string> groups;
        for (int i = 0; i < kGroups; i++)
            groups.push_back("idle" + std::to_string(i));
        GroupServer server;
        if (!g_servers->start_server(mode, groups, "normal", data_dir("idle"), &server))
            return fail("footprint: cannot start a group server");
        uint64_t start = mono_ns();
        int joined = join_many(mode, groups, kMembers, 4);
        double join_s = (double)(mono_ns() - start) / 1e9;
        if (joined != kGroups * kMembers)
            fail("footprint: %d of %d users joined", joined, kGroups * kMembers);
        sleep_ms(1000);
        long rss = proc_status_kb(server.pid, "VmRSS");
        record("rss_idle", system_of(mode), (double)rss, "KiB",
               base_params(mode)
                   .add("groups", kGroups)
                   .add("members_per_group", kMembers)
                   .add("members_joined", joined)
                   .add("joined_by", "1,000 zgm_user_t (distinct keys), 4 threads, each "
                                     "destroyed after zgm_user_join")
                   .add("join_seconds", join_s)
                   .add("rss_anon_kib", (double)proc_status_kb(server.pid, "RssAnon"))
                   .add("rss_file_kib", (double)proc_status_kb(server.pid, "RssFile"))
                   .add("pss_kib", (double)proc_smaps_kb(server.pid, "Pss"))
                   .add("rss_kib_by_mapping", rss_by_mapping(server.pid, 12))
                   .add("threads", (double)proc_status_kb(server.pid, "Threads"))
                   .add("process", "zgm server --data DIR --durability normal")
                   .add("idle_s", 1));
        g_servers->stop_server(&server);
    }
}

void bench_code_size(const std::string& build_src) {
    struct {
        const char* workload;
        std::string path;
    } binaries[] = {{"code_size_libzgm", build_src + "/libzgm.so"},
                    {"code_size_zgm", g_options.zgm}};
    for (auto& binary : binaries) {
        if (access(binary.path.c_str(), R_OK) != 0) {
            note("%s: no %s (not built)", binary.workload, binary.path.c_str());
            continue;
        }
        char resolved[PATH_MAX];
        std::string path = realpath(binary.path.c_str(), resolved) ? resolved : binary.path;
        uint64_t text = 0, data = 0, bss = 0;
        if (!code_size(path, &text, &data, &bss)) {
            fail("%s: cannot read the size of %s", binary.workload, path.c_str());
            continue;
        }
        struct stat info;
        record(
            binary.workload, "zgm", (double)text, "bytes",
            Params()
                .add("file", path.substr(path.rfind('/') + 1))
                .add("text", text)
                .add("data", data)
                .add("bss", bss)
                .add("file_bytes", (uint64_t)(stat(path.c_str(), &info) == 0 ? info.st_size : 0)));
    }
}

//  ---------------------------------------------------------------------------------------
//  The protocol's limit: a raw DEALER speaking zgm_proto (as tests/testutil.h's
//  RawClient), with CURVE or PLAIN as the mode says. Not what a user gets: what the group
//  server, its store and the transport allow.

namespace proto = zgm::proto;

class ProtoClient {
public:
    ProtoClient(Mode mode, const GroupServer& server) {
        socket_ = zsock_new(ZMQ_DEALER);
        zsock_set_sndhwm(socket_, 0);
        zsock_set_rcvhwm(socket_, 0);
        zsock_set_linger(socket_, 0);
        zgm::Key server_key;
        zgm::Key::parse(server.key, &server_key);
        zgm::secure_client_socket(
            socket_, zgm::KeyPair::generate(),
            mode == Mode::kCurve ? zgm::Security::kCurve : zgm::Security::kInsecure, server_key);
        zsock_connect(socket_, "%s", server.endpoint.c_str());
    }
    ~ProtoClient() { zsock_destroy(&socket_); }
    void* socket() { return zsock_resolve(socket_); }

    //  One request and its reply (skipping pushes), or false after timeout_ms.
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

    bool join(const std::string& group) {
        proto::Message join, reply;
        join.id = proto::kJoin;
        join.name = "raw";
        join.group = group;
        return call(join, &reply) && reply.id == proto::kJoined;
    }

    //  One SEND of `batch` messages, without waiting.
    bool send(const std::string& group, uint32_t batch, std::vector<std::string>* bodies) {
        proto::Message message;
        message.id = proto::kSend;
        message.group = group;
        message.request_id = next_request_id_++;
        bodies->resize(batch, std::string(kBodySize, 'x'));
        for (uint32_t i = 0; i < batch; i++)
            message.sends.push_back({zgm::Uuid::time_ordered(), (*bodies)[i]});
        if (proto::send(socket(), "", message, ZMQ_DONTWAIT) != 0) return false;
        in_flight_++;
        return true;
    }

    //  Reads every reply waiting.
    void drain() {
        proto::Message reply;
        while (proto::recv(socket(), false, nullptr, &reply, ZMQ_DONTWAIT) ==
               proto::DecodeError::kOk) {
            if (reply.id == proto::kDeliver) continue;
            if (proto::return_mark(socket(), reply)) continue; //  as zgm's users do
            if (in_flight_) in_flight_--;
            if (reply.id != proto::kSent) {
                failed_++;
                continue;
            }
            for (const proto::SentRecord& record : reply.sent)
                (record.status == proto::kStatusOk ? stored_ : failed_)++;
            last_ack_ns_ = mono_ns();
        }
    }

    uint64_t in_flight() const { return in_flight_; }
    uint64_t stored() const { return stored_; }
    uint64_t failed() const { return failed_; }
    uint64_t last_ack_ns() const { return last_ack_ns_; }

private:
    zsock_t* socket_;
    uint32_t next_request_id_ = 1;
    uint64_t in_flight_ = 0, stored_ = 0, failed_ = 0, last_ack_ns_ = 0;
};

void bench_protocol_limit(Mode mode) {
    const char* workload =
        mode == Mode::kCurve ? "limit_protocol_send_curve" : "limit_protocol_send";
    const char* system = mode == Mode::kCurve ? "zgm-curve-protocol" : "zgm-protocol";
    const uint32_t kBatch = 1000, kWindow = 16; //  as the user actor: kSendBatch, kSendsInFlight
    std::string group = "protocol-limit";
    GroupServer server;
    if (!g_servers->start_server(mode, {group}, "full", data_dir(group), &server))
        return fail("%s: cannot start a group server", workload);
    {
        ProtoClient client(mode, server);
        if (!client.join(group)) {
            fail("%s: JOIN failed", workload);
        } else {
            uint64_t count = scaled(400000), sent = 0;
            std::vector<std::string> bodies;
            PROFILE_START();
            uint64_t start = mono_ns();
            uint64_t stop = start + (uint64_t)(scaled_s(5) * 1e9);
            uint64_t give_up = stop + 10000000000ull;
            while (mono_ns() < give_up) {
                bool sending = sent < count && mono_ns() < stop;
                while (sending && client.in_flight() < kWindow && sent < count) {
                    if (!client.send(group, kBatch, &bodies)) break;
                    sent += kBatch;
                }
                if (!sending && client.in_flight() == 0) break;
                zmq_pollitem_t item = {client.socket(), 0, ZMQ_POLLIN, 0};
                zmq_poll(&item, 1, 100);
                client.drain();
            }
            if (client.failed() || client.in_flight() || client.stored() != sent)
                fail("%s: %llu sent, %llu stored, %llu failed, %llu SENDs unanswered", workload,
                     (unsigned long long)sent, (unsigned long long)client.stored(),
                     (unsigned long long)client.failed(), (unsigned long long)client.in_flight());
            PROFILE_STOP();
            double seconds = (double)(client.last_ack_ns() - start) / 1e9;
            record(workload, system, seconds > 0 ? client.stored() / seconds : 0, "msg/s",
                   base_params(mode)
                       .add("client", "raw DEALER speaking zgm_proto, not the API")
                       .add("messages_per_send", (int)kBatch)
                       .add("sends_in_flight", (int)kWindow)
                       .add("durability", "full")
                       .add("stored", client.stored())
                       .add("seconds", seconds));
        }
    }
    g_servers->stop_server(&server);
}

//  ---------------------------------------------------------------------------------------
//  The table

void print_own_table() {
    printf("\nzgm-bench: servers %s, %zu-byte bodies, tcp 127.0.0.1\n\n", mode_name(), kBodySize);
    printf("| %-24s | %-18s | %14s | %-13s | %s\n", "workload", "system", "value", "unit",
           "params");
    printf("|%s|%s|%s|%s|%s\n", std::string(26, '-').c_str(), std::string(20, '-').c_str(),
           std::string(16, '-').c_str(), std::string(15, '-').c_str(), "-----");
    for (const Figure& figure : g_run.figures)
        printf("| %-24s | %-18s | %14s | %-13s | %s\n", figure.workload.c_str(),
               figure.system.c_str(), format_value(figure.value).c_str(), figure.unit.c_str(),
               figure.params.c_str());
}

//  --report: the side-by-side table from JSON lines of zgm-bench and zgm-bench-peers.

enum Column { kCurve, kZgm, kNats, kRedis, kMosquitto, kLimit, kColumns };
const char* const kColumnNames[kColumns] = {"zgm-curve", "zgm",       "NATS",
                                            "Redis",     "Mosquitto", "limit"};

int column_of(const std::string& system) {
    if (system == "zgm-curve") return kCurve;
    if (system == "zgm") return kZgm;
    //  The -tls peers have a section of their own (secure_report.cc).
    if (is_secure_system(system)) return -1;
    if (system.compare(0, 4, "nats") == 0) return kNats;
    if (system.compare(0, 5, "redis") == 0) return kRedis;
    if (system == "mosquitto") return kMosquitto;
    if (system == "libzmq" || system == "sqlite" || system == "disk" ||
        system.compare(0, 4, "zgm-") == 0)
        return kLimit;
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
     "durable send, 1 user object, async (zgm full: fsync/commit; NATS JetStream file, "
     "async publish; Redis XADD appendfsync always)",
     false, nullptr, 1u << kNats, 1.2},
    {"durable_send_8", "durable send, 8 user objects on 8 threads (same systems)", false, nullptr,
     1u << kNats, 1.2},
    {"send_nofsync_1", "send, no fsync per commit, 1 user object (zgm normal; Redis everysec)",
     false, nullptr, 0, 0},
    {"send_nofsync_8", "send, no fsync per commit, 8 user objects", false, nullptr, 0, 0},
    {"durable_send_sync", "durable send, one at a time (zgm_user_send)", false, nullptr, 0, 0},
    {"fanout_1", "fan-out 1 -> 1, deliveries/s (zgm stores each)", false, nullptr, 0, 0},
    {"fanout_10", "fan-out 1 -> 10, deliveries/s (zgm stores each)", false, nullptr,
     (1u << kNats) | (1u << kRedis), 1.0},
    {"fanout_100", "fan-out 1 -> 100, deliveries/s (zgm stores each)", false, nullptr, 0, 0},
    {"latency_p50", "latency p50, 5,000/s to 10 (zgm full: fsync/commit), us", true, nullptr, 0, 0},
    {"latency_p99", "latency p99, 5,000/s to 10 (zgm full: fsync/commit), us", true, nullptr,
     1u << kNats, 1.0},
    {"latency_p999", "latency p99.9, 5,000/s to 10 (zgm full: fsync/commit), us", true, nullptr, 0,
     0},
    {"latency_nofsync_p50", "latency p50, 5,000/s to 10 (zgm normal), us", true, "latency_p50", 0,
     0},
    {"latency_nofsync_p99", "latency p99, 5,000/s to 10 (zgm normal), us", true, "latency_p99", 0,
     0},
    {"latency_nofsync_p999", "latency p99.9, 5,000/s to 10 (zgm normal), us", true, "latency_p999",
     0, 0},
    {"latency_memory_p50", "latency p50, 5,000/s to 10 (zgm memory store), us", true, "latency_p50",
     0, 0},
    {"latency_memory_p99", "latency p99, 5,000/s to 10 (zgm memory store), us", true, "latency_p99",
     1u << kRedis, 1.0},
    {"latency_memory_p999", "latency p99.9, 5,000/s to 10 (zgm memory store), us", true,
     "latency_p999", 0, 0},
    {"fetch_since",
     "fetch since timestamp, 200,000 stored, msg/s (JetStream by start time; "
     "Redis XRANGE)",
     false, nullptr, 1u << kRedis, 2.0},
    {"fetch_since_recent",
     "fetch since timestamp, the same, zgm with --max-recent-bytes 64 MiB (all 200,000 in "
     "memory), msg/s",
     false, "fetch_since", 1u << kRedis, 2.0},
    {"rss_idle", "idle server RSS, KiB (zgm: 10 groups x 100 members)", true, nullptr,
     1u << kMosquitto, 1.0},
    {"code_size_libzgm", "code size libzgm.so (text), bytes", true, nullptr, 0, 0},
    {"code_size_zgm", "code size zgm program (text), bytes", true, nullptr, 0, 0},
    {"limit_protocol_send",
     "protocol limit, not the API: raw DEALER, SENDs of 1,000, 16 in flight, zgm full, "
     "PLAIN, msg/s",
     false, nullptr, 0, 0},
    {"limit_protocol_send_curve", "protocol limit, the same with CURVE, msg/s", false, nullptr, 0,
     0},
    {"limit_zmq_pushpull", "limit: libzmq PUSH/PULL tcp, msg/s", false, nullptr, 0, 0},
    {"limit_zmq_relay_p50",
     "limit: latency p50, 5,000/s to 10 through a bare libzmq relay (DEALER -> ROUTER -> 10 "
     "DEALERs, nothing stored), us",
     true, nullptr, 0, 0},
    {"limit_zmq_relay_p99", "limit: latency p99, the same, us", true, nullptr, 0, 0},
    {"limit_zmq_relay_p999", "limit: latency p99.9, the same, us", true, nullptr, 0, 0},
    {"limit_fdatasync_p50",
     "limit: fdatasync of a 4 KiB append, 1,000/s, in the benchmark's directory, p50, us", true,
     nullptr, 0, 0},
    {"limit_fdatasync_p99", "limit: fdatasync, the same, p99, us", true, nullptr, 0, 0},
    {"limit_fdatasync_p999", "limit: fdatasync, the same, p99.9, us", true, nullptr, 0, 0},
    {"limit_sqlite_insert", "limit: SQLite WAL insert, 1000-row tx, synchronous FULL, rows/s",
     false, nullptr, 0, 0},
    {"limit_sqlite_insert_uuid",
     "limit: same with a random 16-byte unique index (as zgm's msg_id), rows/s", false, nullptr, 0,
     0},
};

//  (workload, column) -> value and system, from JSON lines of one round.
using Cells = std::map<std::pair<std::string, int>, std::pair<double, std::string>>;

//  The column of a peer with TLS ("nats-tls", "redis-always-tls", ...): its plain peer's.
int tls_column_of(const std::string& system) {
    const std::string suffix = "-tls";
    if (system.size() <= suffix.size() ||
        system.compare(system.size() - suffix.size(), suffix.size(), suffix) != 0)
        return -1;
    int column = column_of(system.substr(0, system.size() - suffix.size()));
    return column >= kNats && column <= kMosquitto ? column : -1;
}

//  With tls, only the peers with TLS, each in its plain peer's column (and zgm-curve).
Cells read_cells(const std::vector<std::string>& files, bool tls = false) {
    Cells cells;
    for (const std::string& file : files) {
        std::string text = read_file(file);
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            Figure figure;
            bool ok = figure_from_json(text.substr(start, end - start), &figure);
            start = end + 1;
            int column = !ok                                   ? -1
                         : tls && figure.system != "zgm-curve" ? tls_column_of(figure.system)
                                                               : column_of(figure.system);
            if (column < 0 || (tls && column == kZgm)) continue;
            cells[{figure.workload, column}] = {figure.value, figure.system};
        }
    }
    return cells;
}

//  zgm's columns and the limits' show a row's own workload; the peers' may show another's.
bool own_column(int c) {
    return c == kCurve || c == kZgm || c == kLimit;
}

//  A row's figure in each column (-1: none): zgm's and the limits' from the row's own
//  workload, the peers' from peers_from.
void row_values(const Row& row, const Cells& cells, double values[kColumns],
                const std::string* systems[kColumns]) {
    std::string peers = row.peers_from ? row.peers_from : row.workload;
    for (int c = 0; c < kColumns; c++) {
        auto found = cells.find({own_column(c) ? row.workload : peers, c});
        values[c] = found != cells.end() ? found->second.first : -1;
        systems[c] = found != cells.end() ? &found->second.second : nullptr;
    }
}

//  ours against peer: >= 1 means zgm is as good or better.
double ratio_to(const Row& row, double ours, double peer) {
    return row.lower_better ? peer / ours : ours / peer;
}

//  The best figure among the peers in mask (-1: none).
double best_peer(const Row& row, const double values[kColumns], unsigned mask) {
    double best = -1;
    for (int c = kNats; c <= kMosquitto; c++)
        if ((mask & (1u << c)) && values[c] > 0 &&
            (best < 0 || (row.lower_better ? values[c] < best : values[c] > best)))
            best = values[c];
    return best;
}

//  The peers a row's target compares with, as "NATS/Redis".
std::string target_names(const Row& row) {
    std::string names;
    for (int c = kNats; c <= kMosquitto; c++)
        if (row.target_columns & (1u << c))
            names += std::string(names.empty() ? "" : "/") + kColumnNames[c];
    return names;
}

const unsigned kEveryPeer = (1u << kNats) | (1u << kRedis) | (1u << kMosquitto);

//  The table of one round: every system's figure on each row, zgm's ratio to the best peer
//  and to the target's.
void print_table(const Cells& cells) {
    printf("| workload | zgm-curve | zgm | NATS | Redis | Mosquitto | limit | zgm-curve / best "
           "peer | zgm / best peer | target |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for (const Row& row : kRows) {
        double values[kColumns];
        const std::string* systems[kColumns];
        row_values(row, cells, values, systems);
        bool any = false;
        for (int c = 0; c < kColumns; c++)
            any = any || (systems[c] && (own_column(c) || !row.peers_from));
        if (!any) continue;
        std::string line = std::string("| ") + row.label + " |";
        for (int c = 0; c < kColumns; c++) {
            std::string cell = values[c] >= 0 ? format_value(values[c]) : "";
            if (values[c] >= 0 && !own_column(c) &&
                (*systems[c] == "nats-js" || *systems[c] == "redis-always" ||
                 *systems[c] == "redis-everysec"))
                cell += " (" + *systems[c] + ")";
            if (values[c] >= 0 && c == kLimit) cell += " (" + *systems[c] + ")";
            line += " " + cell + " |";
        }
        double best = best_peer(row, values, kEveryPeer);
        for (int c : {kCurve, kZgm}) {
            char ratio[64] = "";
            if (best > 0 && values[c] > 0)
                snprintf(ratio, sizeof ratio, "%.2f", ratio_to(row, values[c], best));
            line += std::string(" ") + ratio + " |";
        }
        std::string target;
        if (row.target > 0 && (values[kZgm] > 0 || values[kCurve] > 0)) {
            double against = best_peer(row, values, row.target_columns);
            if (against > 0) {
                char text[96];
                snprintf(text, sizeof text, "needs >= %.1f vs %s:", row.target,
                         target_names(row).c_str());
                target = text;
                for (int c : {kCurve, kZgm}) {
                    if (values[c] <= 0) continue;
                    double ratio = ratio_to(row, values[c], against);
                    snprintf(text, sizeof text, " %s %.2f **%s**", kColumnNames[c], ratio,
                             ratio >= row.target ? "met" : "missed");
                    target += text;
                }
            } else {
                target = "no " + target_names(row) + " figure";
            }
        }
        line += " " + target + " |";
        printf("%s\n", line.c_str());
    }
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

//  The targets round by round: each round ran zgm and the peers one right after the other,
//  so each round's ratio compares figures measured minutes apart; the median of the
//  rounds' ratios is the verdict. With tls (cells read with TLS), the same targets for
//  zgm-curve against the same peers with TLS: encrypted against encrypted.
void print_rounds(const std::vector<Cells>& rounds, bool tls) {
    if (tls)
        printf("\nThe same targets like for like, zgm-curve against the target's peer with TLS "
               "(the rows that have one):\n\n");
    else
        printf("\nThe targets over %zu rounds, zgm-curve / zgm against the target's peer in "
               "each round (round 1: the table above):\n\n",
               rounds.size());
    std::vector<int> columns = tls ? std::vector<int>{kCurve} : std::vector<int>{kCurve, kZgm};
    std::string header = "| target |", rule = "|---|";
    for (size_t r = 0; r < rounds.size(); r++) {
        header += " round " + std::to_string(r + 1) + " |";
        rule += "--:|";
    }
    printf("%s median | verdict (median) |\n%s--:|---|\n", header.c_str(), rule.c_str());
    for (const Row& row : kRows) {
        if (row.target <= 0) continue;
        char text[160];
        snprintf(text, sizeof text, "| %s: >= %.1f x %s%s |", row.workload, row.target,
                 target_names(row).c_str(), tls ? " with TLS" : "");
        std::string line = text;
        std::vector<double> ratios[kColumns];
        for (const Cells& cells : rounds) {
            double values[kColumns];
            const std::string* systems[kColumns];
            row_values(row, cells, values, systems);
            double against = best_peer(row, values, row.target_columns);
            std::string cell;
            for (int c : columns) {
                if (!cell.empty()) cell += " / ";
                if (against > 0 && values[c] > 0) {
                    double ratio = ratio_to(row, values[c], against);
                    ratios[c].push_back(ratio);
                    snprintf(text, sizeof text, "%.2f", ratio);
                    cell += text;
                } else {
                    cell += "-";
                }
            }
            line += " " + cell + " |";
        }
        bool any = false;
        for (int c : columns)
            any = any || !ratios[c].empty();
        if (!any) continue;
        std::string medians, verdict;
        for (int c : columns) {
            if (!medians.empty()) medians += " / ";
            if (ratios[c].empty()) {
                medians += "-";
                continue;
            }
            double m = median(ratios[c]);
            snprintf(text, sizeof text, "%.2f", m);
            medians += text;
            snprintf(text, sizeof text, "%s%s **%s**", verdict.empty() ? "" : "; ", kColumnNames[c],
                     m >= row.target ? "met" : "missed");
            verdict += text;
            if (ratios[c].size() < rounds.size()) {
                snprintf(text, sizeof text, " (%zu of %zu rounds)", ratios[c].size(),
                         rounds.size());
                verdict += text;
            }
        }
        printf("%s %s | %s |\n", line.c_str(), medians.c_str(), verdict.c_str());
    }
}

//  rounds[0]: the files of the full run; the rounds after it ran the target workloads again.
int report(const std::vector<std::vector<std::string>>& rounds) {
    std::vector<Cells> cells, tls_cells;
    for (const std::vector<std::string>& files : rounds) {
        cells.push_back(read_cells(files));
        tls_cells.push_back(read_cells(files, true));
    }
    print_table(cells[0]);
    if (cells.size() > 1) {
        print_rounds(cells, false);
        print_rounds(tls_cells, true);
    }
    print_secure_report(rounds[0]);
    return 0;
}

//  ---------------------------------------------------------------------------------------

void usage() {
    fprintf(stderr,
            "Usage: zgm-bench [--json] [--inproc] [--only SETS] [--quick] [--security LIST]\n"
            "                 [--zgm PATH] [--random-ids] [--base DIR] [--scale F]\n"
            "                 [--time-scale F] [--rate N] [--verbose]\n"
            "       zgm-bench --report FILE... [--round FILE...]...\n"
            "--scale F, --time-scale F: counts and time bounds times F (for profiling: under\n"
            "      callgrind --instr-atstart=no only the measured windows are counted)\n"
            "--rate N: the latency workloads' send rate (default 5000 msgs/s)\n"
            "SETS: comma-separated durable (or durable1,durable8), nofsync (or nofsync1,\n"
            "      nofsync8), sync, fanout (or fanout1,fanout10,fanout100),\n"
            "      latency (or latency_full,latency_normal,latency_memory),fetch,footprint,\n"
            "      protocol\n"
            "LIST: curve,insecure (the default: both, each workload with CURVE then insecure)\n");
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
        else if (arg == "--verbose")
            zgm_set_verbose(1);
        else if (arg == "--only") {
            if (!value(&g_run.only)) return false;
        } else if (arg == "--security") {
            if (!value(&text)) return false;
            g_options.modes.clear();
            std::string list = "," + text + ",";
            if (list.find(",curve,") != std::string::npos) g_options.modes.push_back(Mode::kCurve);
            if (list.find(",insecure,") != std::string::npos)
                g_options.modes.push_back(Mode::kInsecure);
            if (g_options.modes.empty()) return false;
        } else if (arg == "--scale" || arg == "--time-scale") {
            if (!value(&text) || atof(text.c_str()) <= 0) return false;
            (arg == "--scale" ? g_run.count_scale : g_run.time_scale) = atof(text.c_str());
        } else if (arg == "--rate") {
            if (!value(&text) || atoi(text.c_str()) <= 0) return false;
            g_options.latency_rate = (uint64_t)atoi(text.c_str());
        } else if (arg == "--zgm") {
            if (!value(&g_options.zgm)) return false;
        } else if (arg == "--base") {
            if (!value(&g_options.base)) return false;
        } else if (arg == "--report") {
            //  FILE... [--round FILE...]...: each --round starts the files of another round.
            g_options.report.emplace_back();
            for (i++; i < argc; i++) {
                if (strcmp(argv[i], "--round") == 0) {
                    if (g_options.report.back().empty()) return false;
                    g_options.report.emplace_back();
                } else {
                    g_options.report.back().push_back(argv[i]);
                }
            }
            return !g_options.report.back().empty();
        } else
            return false;
    }
    return true;
}

//  Runs a workload once per security mode, CURVE first, back to back.
template <typename Workload>
void each_mode(Workload workload) {
    for (Mode mode : g_options.modes)
        workload(mode);
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
    //  Each zgm_user_t holds about 10 libzmq sockets (its actor's pipe, the events pipe,
    //  a DEALER and a monitor to the registry and to each group server), so 101 of them
    //  (fan-out to 100) pass CZMQ's default of 1,024 sockets per process. Before any socket.
    zsys_set_max_sockets(4096);
    //  Our handlers stop the servers; CZMQ's would only set zsys_interrupted.
    zsys_handler_set(nullptr);
    //  build/bench/zgm-bench -> build/src/zgm and build/src/libzgm.so
    char self[PATH_MAX];
    ssize_t size = readlink("/proc/self/exe", self, sizeof self - 1);
    std::string path = size > 0 ? std::string(self, (size_t)size) : argv[0];
    path = path.substr(0, path.rfind('/'));
    std::string build_src = path.substr(0, path.rfind('/')) + "/src";
    if (g_options.zgm.empty()) g_options.zgm = build_src + "/zgm";
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
    fprintf(stderr, "zgm-bench: %s, servers %s, data in %s\n", g_options.zgm.c_str(), mode_name(),
            g_options.base.c_str());

    {
        Servers servers;
        g_servers = &servers;
        if (!servers.make_keys()) {
            remove_tree(g_options.base);
            return 1;
        }
        if (selected("durable") || selected("durable1"))
            each_mode([](Mode mode) { bench_send(mode, "durable_send_1", 1, "full"); });
        if (selected("durable") || selected("durable8"))
            each_mode([](Mode mode) { bench_send(mode, "durable_send_8", 8, "full"); });
        if (selected("nofsync") || selected("nofsync1"))
            each_mode([](Mode mode) { bench_send(mode, "send_nofsync_1", 1, "normal"); });
        if (selected("nofsync") || selected("nofsync8"))
            each_mode([](Mode mode) { bench_send(mode, "send_nofsync_8", 8, "normal"); });
        if (selected("sync")) each_mode(bench_send_sync);
        if (selected("fanout") || selected("fanout1"))
            each_mode([](Mode mode) { bench_fanout(mode, 1, scaled(200000)); });
        //  200,000, as zgm-bench-peers sends to 10 subscribers of NATS and Redis: 50,000
        //  (0.17 s) measured the start as much as the steady rate.
        if (selected("fanout") || selected("fanout10"))
            each_mode([](Mode mode) { bench_fanout(mode, 10, scaled(200000)); });
        if (selected("fanout") || selected("fanout100"))
            each_mode([](Mode mode) { bench_fanout(mode, 100, scaled(10000)); });
        if (selected("latency") || selected("latency_full"))
            each_mode([](Mode mode) { bench_latency(mode, "latency", "full", false); });
        if (selected("latency") || selected("latency_normal"))
            each_mode([](Mode mode) { bench_latency(mode, "latency_nofsync", "normal", false); });
        if (selected("latency") || selected("latency_memory"))
            each_mode([](Mode mode) { bench_latency(mode, "latency_memory", "normal", true); });
        if (selected("fetch")) each_mode(bench_fetch);
        if (selected("footprint")) {
            each_mode(bench_footprint);
            bench_code_size(build_src);
        }
        if (selected("protocol")) each_mode(bench_protocol_limit);
        servers.stop();
        g_servers = nullptr;
    }
    if (!g_run.json) print_own_table();
    zsys_shutdown();
    remove_tree(g_options.base);
    return g_run.failed ? 1 : 0;
}
