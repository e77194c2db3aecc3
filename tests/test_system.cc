/*  =========================================================================
    test_system.cc - the whole system in one process, through the C API: users in groups
    on two group servers, restarts of a group server and of the registry, a user who was
    away catching up

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

#include <map>

namespace {

zgm_group_t* start_group_server(const char* data_dir, const char* group, const std::string& bind,
                                const std::string& registry, int* port = nullptr) {
    zgm_group_t* server = zgm_group_new(data_dir);
    assert_non_null(server);
    zgm_group_set_heartbeat(server, 100);
    if (group) assert_int_equal(zgm_group_add(server, group), 0);
    //  A port just released by a stopped server can take a moment to be free again.
    int bound = -1;
    assert_true(
        test::eventually([&] { return (bound = zgm_group_bind(server, bind.c_str())) > 0; }));
    if (port) *port = bound;
    assert_int_equal(zgm_group_connect_registry(server, registry.c_str()), 0);
    return server;
}

zgm_user_t* start_user(const char* name, const std::string& registry, const char* id = nullptr) {
    zgm_user_t* user = zgm_user_new_with_id(name, id);
    assert_non_null(user);
    assert_int_equal(zgm_user_connect(user, registry.c_str()), 0);
    return user;
}

void send_text(zgm_user_t* user, const char* group, const std::string& text) {
    assert_int_equal(zgm_user_send(user, group, text.data(), text.size(), NULL, NULL), 0);
}

//  Receives exactly `count` messages and checks they are seq first..first+count-1 of group.
void expect_messages(zgm_user_t* user, const char* group, uint64_t first, int count) {
    for (int i = 0; i < count; i++) {
        zgm_msg_t* msg = zgm_user_recv(user, 8000);
        assert_non_null(msg);
        assert_string_equal(zgm_msg_group(msg), group);
        assert_int_equal(zgm_msg_seq(msg), first + i);
        zgm_msg_destroy(&msg);
    }
}

void test_user_in_groups_on_two_group_servers(void** state) {
    (void)state;
    zgm_registry_t* registry = zgm_registry_new();
    std::string endpoint = test::local_endpoint(zgm_registry_bind(registry, "tcp://127.0.0.1:*"));
    zgm_group_t* one = start_group_server(NULL, "north", "tcp://127.0.0.1:*", endpoint);
    zgm_group_t* two = start_group_server(NULL, "south", "tcp://127.0.0.1:*", endpoint);
    zgm_user_t* alice = start_user("alice", endpoint);
    zgm_user_t* bob = start_user("bob", endpoint);
    for (const char* group : {"north", "south"}) {
        assert_int_equal(zgm_user_join(alice, group), 0);
        assert_int_equal(zgm_user_join(bob, group), 0);
    }
    send_text(alice, "north", "up here");
    send_text(alice, "south", "down there");
    std::map<std::string, std::string> got;
    for (int i = 0; i < 2; i++) {
        zgm_msg_t* msg = zgm_user_recv(bob, 5000);
        assert_non_null(msg);
        got[zgm_msg_group(msg)] = std::string((const char*)zgm_msg_body(msg), zgm_msg_size(msg));
        zgm_msg_destroy(&msg);
    }
    assert_string_equal(got["north"].c_str(), "up here");
    assert_string_equal(got["south"].c_str(), "down there");

    //  The registry lists both, on different servers, with their member counts.
    assert_true(test::eventually([&] {
        size_t count = 0;
        zgm_group_info_t* groups = zgm_user_groups(bob, &count);
        bool ok = groups && count == 2 && groups[0].members == 2 && groups[1].members == 2 &&
                  strcmp(groups[0].endpoint, groups[1].endpoint) != 0;
        free(groups);
        return ok;
    }));
    //  A clean stop deregisters at once.
    zgm_group_destroy(&two);
    size_t count = 0;
    zgm_group_info_t* groups = zgm_user_groups(bob, &count);
    assert_int_equal(count, 1);
    assert_string_equal(groups[0].name, "north");
    free(groups);

    zgm_user_destroy(&alice);
    zgm_user_destroy(&bob);
    zgm_group_destroy(&one);
    zgm_registry_destroy(&registry);
}

void test_group_server_restart_keeps_history_membership_and_sequence(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    zgm_registry_t* registry = zgm_registry_new();
    std::string endpoint = test::local_endpoint(zgm_registry_bind(registry, "tcp://127.0.0.1:*"));
    int port = 0;
    zgm_group_t* server =
        start_group_server(dir.c_str(), "durable", "tcp://127.0.0.1:*", endpoint, &port);
    zgm_user_t* alice = start_user("alice", endpoint);
    zgm_user_t* bob = start_user("bob", endpoint);
    assert_int_equal(zgm_user_join(alice, "durable"), 0);
    assert_int_equal(zgm_user_join(bob, "durable"), 0);
    for (int i = 1; i <= 5; i++)
        send_text(alice, "durable", "before " + std::to_string(i));
    expect_messages(bob, "durable", 1, 5);

    zgm_group_destroy(&server);
    server = start_group_server(dir.c_str(), NULL, test::local_endpoint(port), endpoint);

    //  The sequence goes on, bob gets the new messages once, membership is intact.
    for (int i = 6; i <= 10; i++) {
        uint64_t seq = 0;
        std::string text = "after " + std::to_string(i);
        assert_int_equal(zgm_user_send(alice, "durable", text.data(), text.size(), &seq, NULL), 0);
        assert_int_equal(seq, i);
    }
    expect_messages(bob, "durable", 6, 5);
    assert_null(zgm_user_recv(bob, 1500));
    size_t members = 0;
    char** list = zgm_user_members(bob, "durable", &members);
    assert_int_equal(members, 2);
    free(list);
    zgm_msglist_t* history = zgm_user_fetch(bob, "durable", 0, 0, 0);
    assert_int_equal(zgm_msglist_size(history), 10);
    assert_memory_equal(zgm_msg_body(zgm_msglist_get(history, 0)), "before 1", 8);
    zgm_msglist_destroy(&history);

    zgm_user_destroy(&alice);
    zgm_user_destroy(&bob);
    zgm_group_destroy(&server);
    zgm_registry_destroy(&registry);
    test::remove_tree(dir);
}

void test_restarted_registry_refills_its_list(void** state) {
    (void)state;
    zgm_registry_t* registry = zgm_registry_new();
    int port = zgm_registry_bind(registry, "tcp://127.0.0.1:*");
    std::string endpoint = test::local_endpoint(port);
    zgm_group_t* server = start_group_server(NULL, "phoenix", "tcp://127.0.0.1:*", endpoint);
    zgm_user_t* user = start_user("watcher", endpoint);
    zgm_user_set_timeout(user, 500);

    zgm_registry_destroy(&registry);
    registry = zgm_registry_new();
    //  libzmq releases a listening port shortly after the socket closes.
    assert_true(
        test::eventually([&] { return zgm_registry_bind(registry, endpoint.c_str()) == port; }));
    assert_true(test::eventually([&] {
        size_t count = 0;
        zgm_group_info_t* groups = zgm_user_groups(user, &count);
        bool ok = groups && count == 1 && strcmp(groups[0].name, "phoenix") == 0;
        free(groups);
        return ok;
    }));
    zgm_user_destroy(&user);
    zgm_group_destroy(&server);
    zgm_registry_destroy(&registry);
}

void test_user_away_catches_up_exactly_once(void** state) {
    (void)state;
    zgm_registry_t* registry = zgm_registry_new();
    std::string endpoint = test::local_endpoint(zgm_registry_bind(registry, "tcp://127.0.0.1:*"));
    zgm_group_t* server = start_group_server(NULL, "news", "tcp://127.0.0.1:*", endpoint);
    zgm_user_t* alice = start_user("alice", endpoint);
    zgm_user_t* bob = start_user("bob", endpoint);
    std::string bob_id = zgm_user_id(bob);
    assert_int_equal(zgm_user_join(alice, "news"), 0);
    assert_int_equal(zgm_user_join(bob, "news"), 0);
    for (int i = 0; i < 3; i++)
        send_text(alice, "news", "seen");
    expect_messages(bob, "news", 1, 3);
    uint64_t last = zgm_user_last_seq(bob, "news");
    assert_int_equal(last, 3);
    zgm_user_destroy(&bob); //  away

    for (int i = 0; i < 20; i++)
        send_text(alice, "news", "missed");
    bob = start_user("bob", endpoint, bob_id.c_str()); //  back, same id
    assert_int_equal(zgm_user_follow(bob, "news", last), 0);
    expect_messages(bob, "news", 4, 20);
    send_text(alice, "news", "live again");
    expect_messages(bob, "news", 24, 1);
    assert_null(zgm_user_recv(bob, 500));

    //  Following from now skips the past.
    zgm_user_t* late = start_user("bob", endpoint, bob_id.c_str());
    assert_int_equal(zgm_user_follow(late, "news", ZGM_FOLLOW_NOW), 0);
    send_text(alice, "news", "only this");
    expect_messages(late, "news", 25, 1);
    zgm_user_destroy(&late);

    zgm_user_destroy(&alice);
    zgm_user_destroy(&bob);
    zgm_group_destroy(&server);
    zgm_registry_destroy(&registry);
}

std::string listed_endpoint(zgm_user_t* user, const char* group) {
    std::string endpoint;
    test::eventually([&] {
        size_t count = 0;
        zgm_group_info_t* groups = zgm_user_groups(user, &count);
        for (size_t i = 0; groups && i < count; i++)
            if (strcmp(groups[i].name, group) == 0) endpoint = groups[i].endpoint;
        free(groups);
        return !endpoint.empty();
    });
    return endpoint;
}

void test_advertised_endpoint_is_reachable_address_or_the_override(void** state) {
    (void)state;
    zgm_registry_t* registry = zgm_registry_new();
    std::string endpoint = test::local_endpoint(zgm_registry_bind(registry, "tcp://127.0.0.1:*"));
    //  Bound to every interface: users are told the address that reaches the registry.
    int port = 0;
    zgm_group_t* wildcard = start_group_server(NULL, "everywhere", "tcp://*:*", endpoint, &port);
    zgm_group_t* named = zgm_group_new(NULL);
    zgm_group_add(named, "elsewhere");
    zgm_group_bind(named, "tcp://127.0.0.1:*");
    zgm_group_set_advertise(named, "tcp://zgm.example:7000");
    assert_int_equal(zgm_group_connect_registry(named, endpoint.c_str()), 0);

    zgm_user_t* user = start_user("looker", endpoint);
    assert_string_equal(listed_endpoint(user, "everywhere").c_str(),
                        test::local_endpoint(port).c_str());
    assert_string_equal(listed_endpoint(user, "elsewhere").c_str(), "tcp://zgm.example:7000");
    assert_int_equal(zgm_user_join(user, "everywhere"), 0); //  and it is reachable
    zgm_user_destroy(&user);
    zgm_group_destroy(&named);
    zgm_group_destroy(&wildcard);
    zgm_registry_destroy(&registry);
}

void test_calls_fail_clearly_without_servers(void** state) {
    (void)state;
    zgm_user_t* user = zgm_user_new("alone");
    size_t count = 1;
    assert_null(zgm_user_groups(user, &count));
    assert_int_equal(zgm_errno(), ZGM_ENOTCONNECTED);
    assert_int_equal(count, 0);
    //  A registry endpoint where nobody listens: a timeout, not a hang.
    assert_int_equal(zgm_user_connect(user, "tcp://127.0.0.1:1"), 0);
    zgm_user_set_timeout(user, 300);
    int64_t start = zgm::mono_ms();
    assert_int_equal(zgm_user_join(user, "general"), -1);
    assert_int_equal(zgm_errno(), ZGM_ETIMEOUT);
    assert_true(zgm::mono_ms() - start < 3000);
    assert_non_null(strstr(zgm_strerror(), "registry"));
    assert_null(zgm_user_new_with_id("x", "not-hex"));
    assert_int_equal(zgm_errno(), ZGM_EINVAL);
    zgm_user_destroy(&user);
    zgm_user_destroy(&user); //  safe twice
    assert_null(zgm_group_new("/proc/no/such/dir"));
    assert_int_equal(zgm_errno(), ZGM_ESTORAGE);

    //  A port in use: the reason is the bind's own, not a stale errno of another thread.
    zgm_registry_t* first = zgm_registry_new();
    int port = zgm_registry_bind(first, "tcp://127.0.0.1:*");
    zgm_registry_t* second = zgm_registry_new();
    assert_int_equal(zgm_registry_bind(second, test::local_endpoint(port).c_str()), -1);
    assert_int_equal(zgm_errno(), ZGM_EINVAL);
    assert_non_null(strstr(zgm_strerror(), "in use"));
    assert_int_equal(zgm_registry_bind(second, "bogus://x"), -1);
    assert_non_null(strstr(zgm_strerror(), "cannot bind bogus://x"));
    zgm_registry_destroy(&second);
    zgm_registry_destroy(&first);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_in_groups_on_two_group_servers),
        cmocka_unit_test(test_group_server_restart_keeps_history_membership_and_sequence),
        cmocka_unit_test(test_restarted_registry_refills_its_list),
        cmocka_unit_test(test_user_away_catches_up_exactly_once),
        cmocka_unit_test(test_advertised_endpoint_is_reachable_address_or_the_override),
        cmocka_unit_test(test_calls_fail_clearly_without_servers),
    };
    return cmocka_run_group_tests_name("system", tests, NULL, NULL);
}
