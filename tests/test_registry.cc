/*  =========================================================================
    test_registry.cc - the registry alone: registration, duplicate names, expiry,
    heartbeats, creation, and what it does with bad input

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

using namespace zgm;
using test::RawClient;

namespace {

struct Fixture {
    zgm_registry_t* registry;
    std::string endpoint;
};

int setup(void** state) {
    Fixture* fixture = new Fixture();
    fixture->registry = zgm_registry_new();
    int port = zgm_registry_bind(fixture->registry, "tcp://127.0.0.1:*");
    if (port <= 0) return -1;
    fixture->endpoint = test::local_endpoint(port);
    *state = fixture;
    return 0;
}

int teardown(void** state) {
    Fixture* fixture = (Fixture*)*state;
    zgm_registry_destroy(&fixture->registry);
    delete fixture;
    return 0;
}

proto::Message register_message(const Uuid& server, const Uuid& group_id, const char* group,
                                const char* endpoint, uint32_t members = 0) {
    proto::Message message;
    message.id = proto::kRegister;
    message.server = server;
    message.group_id = group_id;
    message.group = group;
    message.endpoint = endpoint;
    message.count = members;
    return message;
}

std::vector<proto::GroupRecord> list(RawClient& client) {
    proto::Message message;
    message.id = proto::kList;
    message.user = Uuid::random();
    proto::Message reply = client.call(message);
    assert_int_equal(reply.id, proto::kGroups);
    return reply.groups;
}

void test_registered_group_is_listed_with_endpoint_and_members(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient server(fixture->endpoint), user(fixture->endpoint);
    Uuid group_id = Uuid::random();
    proto::Message reg =
        register_message(Uuid::random(), group_id, "general", "tcp://10.0.0.1:6000", 7);
    assert_int_equal(server.call(reg).id, proto::kOk);

    std::vector<proto::GroupRecord> groups = list(user);
    assert_int_equal(groups.size(), 1);
    assert_string_equal(groups[0].name.c_str(), "general");
    assert_string_equal(groups[0].endpoint.c_str(), "tcp://10.0.0.1:6000");
    assert_int_equal(groups[0].members, 7);
    assert_true(groups[0].id == group_id);
}

void test_name_served_by_another_live_server_is_refused(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient first(fixture->endpoint), second(fixture->endpoint), user(fixture->endpoint);
    proto::Message reg =
        register_message(Uuid::random(), Uuid::random(), "general", "tcp://10.0.0.1:6000");
    assert_int_equal(first.call(reg).id, proto::kOk);

    proto::Message other =
        register_message(Uuid::random(), Uuid::random(), "general", "tcp://10.0.0.2:6000");
    proto::Message reply = second.call(other);
    assert_int_equal(reply.id, proto::kError);
    assert_int_equal(reply.status, proto::kConflict);
    assert_non_null(strstr(reply.reason.c_str(), "tcp://10.0.0.1:6000"));
    //  The first registration stands.
    std::vector<proto::GroupRecord> groups = list(user);
    assert_int_equal(groups.size(), 1);
    assert_string_equal(groups[0].endpoint.c_str(), "tcp://10.0.0.1:6000");
}

void test_same_group_from_restarted_server_takes_over_at_once(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient before(fixture->endpoint), after(fixture->endpoint), user(fixture->endpoint);
    Uuid group_id = Uuid::random(); //  the group's id lives in its store
    proto::Message reg =
        register_message(Uuid::random(), group_id, "general", "tcp://10.0.0.1:6000");
    assert_int_equal(before.call(reg).id, proto::kOk);
    proto::Message again = register_message(Uuid::random(), group_id, "general",
                                            "tcp://10.0.0.1:6001"); //  a new process
    assert_int_equal(after.call(again).id, proto::kOk);
    std::vector<proto::GroupRecord> groups = list(user);
    assert_int_equal(groups.size(), 1);
    assert_string_equal(groups[0].endpoint.c_str(), "tcp://10.0.0.1:6001");
}

void test_silent_server_expires_and_heartbeating_one_stays(void** state) {
    Fixture* fixture = (Fixture*)*state;
    zgm_registry_set_expiry(fixture->registry, 400);
    RawClient silent(fixture->endpoint), alive(fixture->endpoint), user(fixture->endpoint);
    Uuid alive_id = Uuid::random();
    proto::Message reg_silent =
        register_message(Uuid::random(), Uuid::random(), "quiet", "tcp://10.0.0.1:6000");
    proto::Message reg_alive = register_message(alive_id, Uuid::random(), "busy", "tcp://h:1");
    assert_int_equal(silent.call(reg_silent).id, proto::kOk);
    assert_int_equal(alive.call(reg_alive).id, proto::kOk);
    assert_int_equal(list(user).size(), 2);

    //  1.2 s: three expiry intervals, with a heartbeat from one server every 100 ms.
    for (int i = 0; i < 12; i++) {
        proto::Message heartbeat;
        heartbeat.id = proto::kHeartbeat;
        heartbeat.server = alive_id;
        heartbeat.count = 1;
        assert_int_equal(alive.call(heartbeat).id, proto::kOk);
        zclock_sleep(100);
    }
    std::vector<proto::GroupRecord> groups = list(user);
    assert_int_equal(groups.size(), 1);
    assert_string_equal(groups[0].name.c_str(), "busy");
}

void test_heartbeat_from_unknown_server_asks_it_to_register(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient server(fixture->endpoint);
    proto::Message heartbeat;
    heartbeat.id = proto::kHeartbeat;
    heartbeat.server = Uuid::random();
    heartbeat.count = 2;
    proto::Message reply = server.call(heartbeat);
    assert_int_equal(reply.id, proto::kError);
    assert_int_equal(reply.status, proto::kNotFound);
}

void test_deregister_removes_the_servers_groups(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient server(fixture->endpoint), user(fixture->endpoint);
    Uuid server_id = Uuid::random();
    proto::Message a = register_message(server_id, Uuid::random(), "a", "tcp://h:1");
    proto::Message b = register_message(server_id, Uuid::random(), "b", "tcp://h:1");
    assert_int_equal(server.call(a).id, proto::kOk);
    assert_int_equal(server.call(b).id, proto::kOk);
    assert_int_equal(list(user).size(), 2);
    proto::Message deregister;
    deregister.id = proto::kDeregister;
    deregister.server = server_id;
    assert_int_equal(server.call(deregister).id, proto::kOk);
    assert_int_equal(list(user).size(), 0);
}

void test_create_without_accepting_server_is_unavailable(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient user(fixture->endpoint);
    proto::Message create;
    create.id = proto::kCreate;
    create.user = Uuid::random();
    create.group = "newgroup";
    proto::Message reply = user.call(create);
    assert_int_equal(reply.id, proto::kError);
    assert_int_equal(reply.status, proto::kUnavailable);
}

void test_create_places_group_on_accepting_server(void** state) {
    Fixture* fixture = (Fixture*)*state;
    zgm_group_t* server = zgm_group_new(NULL);
    assert_non_null(server);
    zgm_group_set_accept_new(server, 1);
    assert_true(zgm_group_bind(server, "tcp://127.0.0.1:*") > 0);
    assert_int_equal(zgm_group_connect_registry(server, fixture->endpoint.c_str()), 0);

    zgm_user_t* user = zgm_user_new("creator");
    assert_int_equal(zgm_user_connect(user, fixture->endpoint.c_str()), 0);
    assert_int_equal(zgm_user_create(user, "fresh"), 0);
    //  Creating it again is refused: the name is taken.
    assert_int_equal(zgm_user_create(user, "fresh"), -1);
    assert_int_equal(zgm_errno(), ZGM_EEXISTS);
    //  A bad name is refused before anything is sent.
    assert_int_equal(zgm_user_create(user, "no spaces"), -1);
    assert_int_equal(zgm_errno(), ZGM_EINVAL);

    size_t count = 0;
    zgm_group_info_t* groups = zgm_user_groups(user, &count);
    assert_non_null(groups);
    assert_int_equal(count, 1);
    assert_string_equal(groups[0].name, "fresh");
    free(groups);
    //  The creator can use it at once.
    assert_int_equal(zgm_user_join(user, "fresh"), 0);
    assert_int_equal(zgm_user_send(user, "fresh", "hi", 2, NULL, NULL), 0);
    zgm_user_destroy(&user);
    zgm_group_destroy(&server);
}

void test_malformed_messages_get_errors_and_the_registry_carries_on(void** state) {
    Fixture* fixture = (Fixture*)*state;
    RawClient client(fixture->endpoint);

    client.send_raw("garbage, not zgm_proto");
    proto::Message reply = client.recv();
    assert_int_equal(reply.id, proto::kError);
    assert_int_equal(reply.status, proto::kBadRequest);

    //  Another protocol version: 426, with the request id echoed.
    proto::Message list_msg;
    list_msg.id = proto::kList;
    list_msg.request_id = 77;
    std::string bytes;
    assert_true(proto::encode(list_msg, &bytes));
    bytes[3] = 9;
    client.send_raw(bytes);
    reply = client.recv();
    assert_int_equal(reply.status, proto::kBadVersion);
    assert_int_equal(reply.request_id, 77);

    //  A message the registry does not take.
    proto::Message join;
    join.id = proto::kJoin;
    join.group = "general";
    reply = client.call(join);
    assert_int_equal(reply.status, proto::kBadRequest);

    //  Two frames where one is allowed.
    assert_true(proto::encode(list_msg, &bytes));
    zmq_send(zsock_resolve(client.socket()), bytes.data(), bytes.size(), ZMQ_SNDMORE);
    zmq_send(zsock_resolve(client.socket()), "extra", 5, 0);
    reply = client.recv();
    assert_int_equal(reply.status, proto::kBadRequest);

    //  Still serving.
    assert_int_equal(list(client).size(), 0);
}

void test_user_vanishing_mid_request_does_not_disturb_the_registry(void** state) {
    Fixture* fixture = (Fixture*)*state;
    for (int i = 0; i < 20; i++) {
        RawClient gone(fixture->endpoint);
        proto::Message message;
        message.id = proto::kList;
        gone.send(message);
    } //  each closes before its reply
    RawClient user(fixture->endpoint);
    assert_int_equal(list(user).size(), 0);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registered_group_is_listed_with_endpoint_and_members,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_served_by_another_live_server_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_group_from_restarted_server_takes_over_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_server_expires_and_heartbeating_one_stays,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_from_unknown_server_asks_it_to_register,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deregister_removes_the_servers_groups, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_without_accepting_server_is_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_places_group_on_accepting_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_messages_get_errors_and_the_registry_carries_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_user_vanishing_mid_request_does_not_disturb_the_registry, setup, teardown),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
