/*  =========================================================================
    test_found.cc - bugs the fault harness found in code it may not change (the user
    client, the group server, the registry), each as the test that shows it

    Run with the name of one case; meson registers each as its own test with
    `should_fail: true` while the bug is open, so the suite stays green and the test turns
    into an unexpected pass the day it is fixed: then drop should_fail.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "tcpproxy.h"
#include "testutil.h"

using test::Cluster;
using test::expect_messages;
using test::send_text;

namespace {

//  Found by the soak's registry SIGKILL cycles: a group server restarted on its store
//  serves its groups but never registers them, so once the registry forgets the old
//  instance (expiry, or a registry restart) nobody can resolve them again.
void test_a_restarted_group_server_registers_its_stored_groups(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    std::string key = dir + "/server.cert";
    bool resolved = false;
    {
        Cluster cluster;
        zgm_registry_set_expiry(cluster.registry(), 500);
        zgm_server_t* server = cluster.add_server(dir.c_str(), {"kept"}, false, "tcp://127.0.0.1:*",
                                                  nullptr, key.c_str());
        cluster.stop(&server);
        //  The same store and key; the group named again, as `zgm server --group` does.
        cluster.add_server(dir.c_str(), {"kept"}, false, "tcp://127.0.0.1:*", nullptr, key.c_str());
        zgm_user_t* newcomer = cluster.user("newcomer");
        zclock_sleep(1500); //  past the registry's expiry of the first instance
        zgm_group_t info;
        resolved =
            test::eventually([&] { return zgm_user_resolve(newcomer, "kept", &info) == 0; }, 5000);
    }
    test::remove_tree(dir);
    assert_true(resolved); //  after the cluster is gone: a failure must not leave actors behind
}

//  Found by the fault listener: zgm_user_follow (g, 0) right after zgm_user_join (g) hands
//  over again the messages the join's own follow had already queued.
void test_follow_from_the_start_after_join_delivers_each_message_once(void** state) {
    (void)state;
    std::vector<uint64_t> seqs;
    {
        Cluster cluster;
        cluster.add_server(NULL, {"busy"});
        zgm_user_t* alice = cluster.user("alice");
        zgm_user_t* bob = cluster.user("bob");
        assert_ok(zgm_user_join(alice, "busy"));
        send_text(alice, "busy", "before bob");
        assert_ok(zgm_user_join(bob, "busy"));
        for (int i = 0; i < 5; i++)
            send_text(alice, "busy", "while bob joins");
        //  The five are pushed to bob's follow and queued for his calls: his actor has handed
        //  over up to seq 6 (zgm_user_last_seq answers what it put in his queue, read or not).
        assert_true(test::eventually([&] { return zgm_user_last_seq(bob, "busy") == 6; }));
        assert_ok(zgm_user_follow(bob, "busy", 0));
        while (zgm_msg_t* msg = zgm_user_recv(bob, 1500)) {
            seqs.push_back(zgm_msg_seq(msg));
            zgm_msg_destroy(&msg);
            if (seqs.size() > 100) break;
        }
    }
    //  Whatever a follow from 0 means for what was queued before it, each message comes at
    //  most once, in order, and the last one comes.
    std::string got;
    for (uint64_t seq : seqs)
        got += std::to_string(seq) + " ";
    for (size_t i = 1; i < seqs.size(); i++)
        if (seqs[i] <= seqs[i - 1]) fail_msg("received seqs %s", got.c_str());
    assert_false(seqs.empty());
    assert_int_equal(seqs.back(), 6);
}

//  Found by the soak (CPU starvation: the group server of a test stopped serving): when the
//  registry stays silent for a few heartbeats while the connection is up, RegistryLink::tick
//  opens a new socket and destroys the old one - which the group server's loop has already
//  put in its zmq_poll items (src/server/server.cc, GroupServer::run). zmq_poll fails with
//  ENOTSOCK and the loop ends: the process lives on, serving nobody.
void test_a_silent_registry_does_not_stop_the_group_server(void** state) {
    (void)state;
    bool sent = false;
    std::string why;
    {
        Cluster cluster;
        test::TcpProxy proxy(atoi(strrchr(cluster.endpoint().c_str(), ':') + 1));
        zgm_server_t* server = zgm_server_new(NULL);
        zgm_registry_trust(cluster.registry(), zgm_server_key(server));
        zgm_server_set_heartbeat(server, 100);
        assert_ok(zgm_server_add(server, "quiet", NULL, ZGM_POLICY_OPEN));
        assert_true(zgm_server_bind(server, "tcp://127.0.0.1:*") > 0);
        assert_ok(zgm_server_connect(server, proxy.endpoint().c_str(), cluster.key()));
        zgm_user_t* alice = cluster.user("alice");
        assert_ok(zgm_user_join(alice, "quiet"));
        //  The registry's answers are lost for a second: ten heartbeats go unanswered.
        proxy.set_mode(test::TcpProxy::Mode::kSwallow);
        zclock_sleep(1000);
        proxy.set_mode(test::TcpProxy::Mode::kPass);
        zgm_user_set_timeout(alice, 3000);
        sent = zgm_user_send(alice, "quiet", "still there?", 12, NULL, NULL, NULL) == 0;
        why = zgm_strerror();
        zgm_server_destroy(&server);
    }
    if (!sent) fail_msg("the group server no longer serves: %s", why.c_str());
}

} // namespace

int main(int argc, char** argv) {
    zsys_set_max_sockets(0); //  hundreds of users in one process
    if (getenv("ZGM_VERBOSE")) zgm_set_verbose(1);
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_a_restarted_group_server_registers_its_stored_groups),
        cmocka_unit_test(test_follow_from_the_start_after_join_delivers_each_message_once),
        cmocka_unit_test(test_a_silent_registry_does_not_stop_the_group_server),
    };
    //  One case by name (argv[1]), or all.
    for (const CMUnitTest& one : all) {
        if (argc > 1 && strcmp(argv[1], one.name) != 0) continue;
        const struct CMUnitTest only[] = {one};
        int failed = _cmocka_run_group_tests(one.name, only, 1, NULL, NULL);
        if (argc > 1) return failed;
    }
    return argc > 1 ? 2 : 0;
}
