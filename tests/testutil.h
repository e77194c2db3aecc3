/*  =========================================================================
    testutil.h - what the cmocka tests share: temporary directories, a raw zgm_proto
    client for talking to a server message by message, waiting for a condition

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TESTUTIL_H
#define ZGM_TESTUTIL_H

#include <algorithm>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
//  cmocka 1.1 declares its functions without extern "C".
extern "C" {
#include <cmocka.h>
}

#include "child.h"
#include "core/clock.h"
#include "core/security.h"
#include "core/zap.h"
#include "proto/proto.h"
#include "zgm.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <ftw.h>
#include <netinet/in.h>
#include <string>
#include <vector>

//  Asserts that a zgm call returned 0, and says why not.
#define assert_ok(call)                                                                            \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_msg("%s failed: %s (zgm_errno %d)", #call, zgm_strerror(), zgm_errno());          \
    } while (0)

namespace test {

//  127.0.0.1:port (0: any free port, when binding).
inline struct sockaddr_in loopback(int port) {
    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

//  How much longer things take: ZGM_TEST_SLOWDOWN when set (4 under ThreadSanitizer, 8 under
//  AddressSanitizer's debug build), else 4 under an emulator (ZGM_EXE_WRAPPER), else 1.
//  Time limits in tests are multiplied by it.
inline int slowdown() {
    const char* factor = getenv("ZGM_TEST_SLOWDOWN");
    if (factor && atoi(factor) > 0) return atoi(factor);
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    return wrapper && *wrapper ? 4 : 1;
}

//  A fresh directory under /tmp; remove_tree removes it and all below it.
inline std::string make_temp_dir() {
    char path[] = "/tmp/zgm-test-XXXXXX";
    assert_non_null(mkdtemp(path));
    return path;
}

//  Without a child process: under qemu-user a fork beside the threads of libzmq is the one
//  wait a test could not bound.
inline void remove_tree(const std::string& path) {
    if (path.size() <= 5 || path.compare(0, 5, "/tmp/") != 0) return;
    auto remove_one = [](const char* file, const struct stat*, int, struct FTW*) {
        return remove(file);
    };
    assert_int_equal(nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

//  Waits up to timeout_ms for condition() to hold, checking every 20 ms.
template <typename Condition>
bool eventually(Condition condition, int timeout_ms = 5000) {
    int64_t deadline = zgm::mono_ms() + timeout_ms;
    while (zgm::mono_ms() < deadline) {
        if (condition()) return true;
        zclock_sleep(20);
    }
    return condition();
}

//  Waits until user can resolve group: a group added to a group server that is already
//  running is in the registry once the server's next REGISTER has reached it.
inline void wait_listed(zgm_user_t* user, const char* group) {
    assert_true(eventually([&] {
        zgm_group_t info;
        return zgm_user_resolve(user, group, &info) == 0;
    }));
}

//  The /proc/self/task/TID directories of the threads of this process named NAME.
inline std::vector<std::string> threads_named(const char* name) {
    std::vector<std::string> found;
    DIR* tasks = opendir("/proc/self/task");
    if (!tasks) return found;
    while (struct dirent* entry = readdir(tasks)) {
        if (entry->d_name[0] == '.') continue;
        std::string dir = std::string("/proc/self/task/") + entry->d_name;
        char comm[32] = "";
        FILE* file = fopen((dir + "/comm").c_str(), "r");
        if (!file) continue;
        if (fgets(comm, sizeof comm, file) && strncmp(comm, name, strlen(name)) == 0)
            found.push_back(dir);
        fclose(file);
    }
    closedir(tasks);
    return found;
}

//  A DEALER that speaks zgm_proto one message at a time, for tests that need to send
//  what the C API never would (malformed frames, other versions, impostor servers). It
//  speaks CURVE with a key pair of its own to the server holding server_key, or PLAIN
//  (insecure) stating its key, or nothing at all (NULL, with an empty server_key).
class RawClient {
public:
    RawClient(const std::string& endpoint, const std::string& server_key,
              zgm::KeyPair keys = zgm::KeyPair::generate(), bool insecure = false)
        : keys_(keys) {
        socket_ = zsock_new(ZMQ_DEALER);
        assert_non_null(socket_);
        zsock_set_rcvtimeo(socket_, 3000 * slowdown());
        zsock_set_linger(socket_, 0);
        if (insecure || !server_key.empty()) {
            zgm::Key key;
            zgm::Key::parse(server_key, &key);
            zgm::secure_client_socket(
                socket_, keys_, insecure ? zgm::Security::kInsecure : zgm::Security::kCurve, key);
        }
        assert_int_equal(zsock_connect(socket_, "%s", endpoint.c_str()), 0);
    }
    ~RawClient() { zsock_destroy(&socket_); }

    void send(zgm::proto::Message& message) {
        message.request_id = ++request_id_;
        assert_int_equal(zgm::proto::send(zsock_resolve(socket_), "", message), 0);
    }
    //  An attacker's send: without waiting, and whether or not it can leave. A connection
    //  whose handshake was refused may have no pipe left to send on: under an emulator the
    //  refusal can come before the send, which failed (stop 37's armhf run).
    void send_if_connected(zgm::proto::Message& message) {
        message.request_id = ++request_id_;
        zgm::proto::send(zsock_resolve(socket_), "", message, ZMQ_DONTWAIT);
    }
    void send_raw(const std::string& bytes) {
        assert_int_equal(zmq_send(zsock_resolve(socket_), bytes.data(), bytes.size(), 0),
                         (int)bytes.size());
    }
    //  The next message, a MARK apart (returned, as zgm's users do when they have read that
    //  far); fails the test if none arrives within 3 s (times the slowdown) or it is
    //  malformed.
    zgm::proto::Message recv() {
        while (true) {
            zgm::proto::Message message;
            zgm::proto::DecodeError rc =
                zgm::proto::recv(zsock_resolve(socket_), false, nullptr, &message);
            assert_int_equal((int)rc, (int)zgm::proto::DecodeError::kOk);
            if (!returned_mark(&message)) return message;
        }
    }
    //  True if a message arrives within timeout_ms (it is then in *message); a MARK is
    //  returned, as by recv.
    bool try_recv(zgm::proto::Message* message, int timeout_ms) {
        int64_t deadline = zgm::mono_ms() + timeout_ms;
        while (true) {
            zmq_pollitem_t item = {zsock_resolve(socket_), 0, ZMQ_POLLIN, 0};
            long left = (long)std::max<int64_t>(deadline - zgm::mono_ms(), 0);
            if (zmq_poll(&item, 1, left) <= 0) return false;
            if (zgm::proto::recv(zsock_resolve(socket_), false, nullptr, message) !=
                zgm::proto::DecodeError::kOk)
                return false;
            if (!returned_mark(message)) return true;
        }
    }
    //  Sends and returns the reply to it (skipping pushes).
    zgm::proto::Message call(zgm::proto::Message& message) {
        send(message);
        while (true) {
            zgm::proto::Message reply = recv();
            if (reply.id != zgm::proto::kDeliver) {
                assert_int_equal(reply.request_id, message.request_id);
                return reply;
            }
        }
    }
    zsock_t* socket() { return socket_; }
    //  True if message was a MARK, which it returned in a RECEIPT.
    bool returned_mark(zgm::proto::Message* message) {
        return zgm::proto::return_mark(zsock_resolve(socket_), *message);
    }
    uint32_t last_request_id() const { return request_id_; }
    const zgm::KeyPair& keys() const { return keys_; }
    std::string key() const { return keys_.public_txt; }

private:
    zgm::KeyPair keys_;
    zsock_t* socket_;
    uint32_t request_id_ = 0;
};

//  Joins client's key to each group as name, 500 JOINs in flight at a time; fails the test
//  unless each is JOINED.
inline void join_all(RawClient& client, const std::vector<std::string>& groups,
                     const std::string& name) {
    for (size_t sent = 0; sent < groups.size();) {
        size_t batch = std::min<size_t>(500, groups.size() - sent);
        for (size_t i = 0; i < batch; i++) {
            zgm::proto::Message join;
            join.id = zgm::proto::kJoin;
            join.group = groups[sent + i];
            join.name = name;
            client.send(join);
        }
        for (size_t i = 0; i < batch; i++)
            assert_int_equal(client.recv().id, zgm::proto::kJoined);
        sent += batch;
    }
}

//  "tcp://127.0.0.1:PORT" for a port a zgm_*_bind returned.
inline std::string local_endpoint(int port) {
    return "tcp://127.0.0.1:" + std::to_string(port);
}

//  A ROUTER that answers as a group server with keys would (CURVE, zgm's ZAP handler), bound
//  to a free port of 127.0.0.1 (*port): a scripted server. Close it with zgm::zap_close.
inline zsock_t* scripted_server_socket(const zgm::KeyPair& keys,
                                       std::shared_ptr<zgm::ZapDomain>* domain, int* port) {
    zsock_t* router = zsock_new(ZMQ_ROUTER);
    zgm::secure_server_socket(router, keys, zgm::Security::kCurve, "");
    std::string why;
    *domain = zgm::zap_register(router, zgm::Security::kCurve, 100, &why);
    assert_non_null(domain->get());
    zsock_set_zap_domain(router, (*domain)->name.c_str());
    *port = zsock_bind(router, "tcp://127.0.0.1:*");
    assert_true(*port > 0);
    return router;
}

//  Waits until the registry at endpoint knows every group, as a probe user's list is
//  complete: a registry just started does once every group server it trusts has registered
//  all its groups, or else one expiry interval (3 s) later (a trusted server not started
//  yet). A test whose first request is a CREATE waits for this first, or that CREATE may
//  have 2 of its 5 s left.
inline void wait_until_registry_complete(const std::string& endpoint, const char* key,
                                         bool insecure = false) {
    zgm_user_t* probe = zgm_user_new("probe");
    assert_non_null(probe);
    assert_int_equal(zgm_user_set_insecure(probe, insecure), 0);
    assert_int_equal(zgm_user_connect(probe, endpoint.c_str(), key), 0);
    zgm_user_set_timeout(probe, 30000);
    size_t count = 0;
    zgm_group_t* groups = zgm_user_groups(probe, &count);
    assert_non_null(groups);
    free(groups);
    zgm_user_destroy(&probe);
}

//  A registry in this process, over tcp loopback, and group servers it trusts. Servers and
//  users it makes are destroyed with it (those the test destroys first, it forgets).
class Cluster {
public:
    //  registry_key_file: the registry's certificate, for a test that restarts it.
    explicit Cluster(const char* registry_key_file = nullptr) {
        registry_ = zgm_registry_new();
        assert_non_null(registry_);
        if (registry_key_file)
            assert_int_equal(zgm_registry_set_key(registry_, registry_key_file), 0);
        port_ = zgm_registry_bind(registry_, "tcp://127.0.0.1:*");
        assert_true(port_ > 0);
        endpoint_ = local_endpoint(port_);
        key_ = zgm_registry_key(registry_);
    }
    ~Cluster() {
        for (zgm_user_t*& user : users_)
            zgm_user_destroy(&user);
        for (zgm_server_t*& server : servers_)
            zgm_server_destroy(&server);
        zgm_registry_destroy(&registry_);
    }
    const std::string& endpoint() const { return endpoint_; }
    const char* key() const { return key_.c_str(); }
    zgm_registry_t* registry() { return registry_; }
    void wait_until_complete() { wait_until_registry_complete(endpoint_, key()); }

    //  A group server hosting `groups`, bound (retrying a port just released) and
    //  registered. key_file: its certificate, so a restart keeps its names; data_dir NULL:
    //  memory.
    zgm_server_t* add_server(const char* data_dir, const std::vector<std::string>& groups,
                             bool accept_new = false, const std::string& bind = "tcp://127.0.0.1:*",
                             int* port = nullptr, const char* key_file = nullptr) {
        zgm_server_t* server = zgm_server_new(data_dir);
        assert_non_null(server);
        if (key_file) assert_int_equal(zgm_server_set_key(server, key_file), 0);
        assert_int_equal(zgm_registry_trust(registry_, zgm_server_key(server)), 0);
        zgm_server_set_heartbeat(server, 100);
        zgm_server_set_accept_new(server, accept_new);
        for (const std::string& group : groups)
            assert_int_equal(zgm_server_add(server, group.c_str(), NULL, ZGM_POLICY_OPEN), 0);
        int bound = -1;
        assert_true(
            eventually([&] { return (bound = zgm_server_bind(server, bind.c_str())) > 0; }));
        if (port) *port = bound;
        assert_int_equal(zgm_server_connect(server, endpoint_.c_str(), key_.c_str()), 0);
        servers_.push_back(server);
        return server;
    }
    //  A group server hosting group (in memory), and users named a and b, both members.
    void two_members(const char* group, const char* a, zgm_user_t** first, const char* b,
                     zgm_user_t** second) {
        add_server(NULL, {group});
        *first = user(a);
        *second = user(b);
        assert_int_equal(zgm_user_join(*first, group), 0);
        assert_int_equal(zgm_user_join(*second, group), 0);
    }
    //  Destroys a server the cluster made.
    void stop(zgm_server_t** server) {
        for (zgm_server_t*& known : servers_)
            if (known == *server) known = nullptr;
        zgm_server_destroy(server);
    }
    //  A user connected to the registry; key_file: its certificate (NULL: a new key pair).
    zgm_user_t* user(const char* name, const char* key_file = nullptr) {
        zgm_user_t* user = key_file ? zgm_user_new_with_key(name, key_file) : zgm_user_new(name);
        assert_non_null(user);
        assert_int_equal(zgm_user_connect(user, endpoint_.c_str(), key_.c_str()), 0);
        users_.push_back(user);
        return user;
    }
    void forget(zgm_user_t* user) {
        for (zgm_user_t*& known : users_)
            if (known == user) known = nullptr;
    }
    //  Stops the registry and starts a new one on the same port with the same key pair
    //  (key_file, as given to the constructor), trusting the same servers.
    //  also_trusted: keys it trusts beside the servers' (a server that is down).
    void restart_registry(const char* key_file, const std::vector<std::string>& also_trusted = {}) {
        stop_registry();
        start_registry(key_file, also_trusted);
    }
    //  The registry gone (its port free), until start_registry brings it back on that port.
    void stop_registry() { zgm_registry_destroy(&registry_); }
    void start_registry(const char* key_file, const std::vector<std::string>& also_trusted = {}) {
        std::vector<std::string> trusted = also_trusted;
        for (zgm_server_t* server : servers_)
            if (server) trusted.push_back(zgm_server_key(server));
        registry_ = zgm_registry_new();
        assert_int_equal(zgm_registry_set_key(registry_, key_file), 0);
        for (const std::string& key : trusted)
            zgm_registry_trust(registry_, key.c_str());
        assert_true(
            eventually([&] { return zgm_registry_bind(registry_, endpoint_.c_str()) == port_; }));
    }

private:
    zgm_registry_t* registry_ = nullptr;
    int port_ = 0;
    std::string endpoint_;
    std::string key_;
    std::vector<zgm_server_t*> servers_;
    std::vector<zgm_user_t*> users_;
};

//  The value of the figure scope/name in a STATS report's text (-1: none).
inline long long report_figure(const std::string& report, const std::string& scope,
                               const std::string& name) {
    std::string line = "\n" + scope + "\t" + name + "\t";
    size_t at = ("\n" + report).find(line);
    return at == std::string::npos ? -1 : atoll(report.c_str() + at + line.size() - 1);
}

//  Sends text and checks it was stored.
inline void send_text(zgm_user_t* user, const char* group, const std::string& text,
                      uint64_t* seq = nullptr) {
    assert_int_equal(zgm_user_send(user, group, text.data(), text.size(), NULL, seq, NULL), 0);
}

//  Receives exactly `count` messages and checks they are seq first..first+count-1 of group.
inline void expect_messages(zgm_user_t* user, const char* group, uint64_t first, int count) {
    for (int i = 0; i < count; i++) {
        zgm_msg_t* msg = zgm_user_recv(user, 8000);
        if (!msg)
            fail_msg("message %d of %d (seq %llu) did not come: %s", i + 1, count,
                     (unsigned long long)(first + i), zgm_strerror());
        assert_string_equal(zgm_msg_group(msg), group);
        assert_int_equal(zgm_msg_seq(msg), first + i);
        zgm_msg_destroy(&msg);
    }
}

//  Runs `chosen` as group `name`. A known fault's case (named known_fault_*: what zgm should
//  do and does not yet) runs only with ZGM_TEST_KNOWN_FAULTS set: it fails today, and meson
//  reads a skipped case as failed.
inline int run_chosen(const char* name, const std::vector<CMUnitTest>& chosen) {
    bool known_faults = getenv("ZGM_TEST_KNOWN_FAULTS") != nullptr;
    std::vector<CMUnitTest> run;
    for (const CMUnitTest& test : chosen)
        if (known_faults || strncmp(test.name, "known_fault_", 12) != 0) run.push_back(test);
    return _cmocka_run_group_tests(name, run.data(), run.size(), nullptr, nullptr);
}

//  Runs the tests of group `name`, or, with ZGM_TEST_SHARD=K/N (1 <= K <= N), every Nth of
//  them from the Kth: meson runs a long program as N tests beside each other (its tests
//  mostly wait for processes and timeouts, not for the CPU).
template <size_t kCount>
int run_shard(const char* name, const CMUnitTest (&tests)[kCount]) {
    unsigned shard = 1, shards = 1;
    if (const char* spec = getenv("ZGM_TEST_SHARD"))
        if (sscanf(spec, "%u/%u", &shard, &shards) != 2 || shard < 1 || shard > shards) {
            fprintf(stderr, "ZGM_TEST_SHARD=%s: not K/N with 1 <= K <= N\n", spec);
            return 2;
        }
    std::vector<CMUnitTest> chosen;
    for (size_t i = shard - 1; i < kCount; i += shards)
        chosen.push_back(tests[i]);
    return run_chosen(name, chosen);
}

//  Runs the tests of group `name` that may run beside other programs (ZGM_TEST_PART=beside),
//  those that must run alone, for they measure a server's memory, descriptors, log lines or
//  latency (ZGM_TEST_PART=alone), or, unset, both: meson runs them as two tests, the second
//  not in parallel with any other.
template <size_t kBeside, size_t kAlone>
int run_parts(const char* name, const CMUnitTest (&beside)[kBeside],
              const CMUnitTest (&alone)[kAlone]) {
    const char* part = getenv("ZGM_TEST_PART");
    if (part && strcmp(part, "beside") != 0 && strcmp(part, "alone") != 0) {
        fprintf(stderr, "ZGM_TEST_PART=%s: not beside or alone\n", part);
        return 2;
    }
    std::vector<CMUnitTest> chosen;
    if (!part || strcmp(part, "beside") == 0) chosen.insert(chosen.end(), beside, beside + kBeside);
    if (!part || strcmp(part, "alone") == 0) chosen.insert(chosen.end(), alone, alone + kAlone);
    return run_chosen(name, chosen);
}

} // namespace test

#endif
