/*  =========================================================================
    test_group.cc - the group server alone: membership rules, sequence and time, fetch
    boundaries, batching, bad input, a full disk; and the user's catch-up after dropped
    pushes, against a scripted group server that drops them on purpose

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

#include <sys/mount.h>
#include <vector>

using namespace zgm;
using test::RawClient;

namespace {

struct Fixture {
    zgm_registry_t* registry = nullptr;
    zgm_group_t* server = nullptr;
    std::string registry_endpoint;
    std::string server_endpoint;
    zgm_user_t* alice = nullptr;
    zgm_user_t* bob = nullptr;
};

//  A registry and a group server hosting "general" in memory; alice is a member, bob not.
int setup(void** state) {
    Fixture* f = new Fixture();
    f->registry = zgm_registry_new();
    f->registry_endpoint =
        test::local_endpoint(zgm_registry_bind(f->registry, "tcp://127.0.0.1:*"));
    f->server = zgm_group_new(NULL);
    if (zgm_group_add(f->server, "general") != 0) return -1;
    f->server_endpoint = test::local_endpoint(zgm_group_bind(f->server, "tcp://127.0.0.1:*"));
    if (zgm_group_connect_registry(f->server, f->registry_endpoint.c_str()) != 0) return -1;
    f->alice = zgm_user_new("alice");
    f->bob = zgm_user_new("bob");
    zgm_user_connect(f->alice, f->registry_endpoint.c_str());
    zgm_user_connect(f->bob, f->registry_endpoint.c_str());
    if (zgm_user_join(f->alice, "general") != 0) return -1;
    *state = f;
    return 0;
}

int teardown(void** state) {
    Fixture* f = (Fixture*)*state;
    zgm_user_destroy(&f->alice);
    zgm_user_destroy(&f->bob);
    zgm_group_destroy(&f->server);
    zgm_registry_destroy(&f->registry);
    delete f;
    return 0;
}

proto::Message send_message(zgm_user_t* user, const char* group, const std::string& body,
                            const Uuid& msg_id) {
    proto::Message message;
    message.id = proto::kSend;
    Uuid::parse(zgm_user_id(user), &message.user);
    message.group = group;
    message.msg_id = msg_id;
    message.body = body;
    return message;
}

void test_membership_rules(void** state) {
    Fixture* f = (Fixture*)*state;
    assert_int_equal(zgm_user_join(f->bob, "nosuchgroup"), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTFOUND);
    assert_int_equal(zgm_user_join(f->alice, "general"), -1);
    assert_int_equal(zgm_errno(), ZGM_EALREADY);
    assert_int_equal(zgm_user_leave(f->bob, "general"), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    assert_int_equal(zgm_user_send(f->bob, "general", "x", 1, NULL, NULL), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    assert_null(zgm_user_fetch(f->bob, "general", 0, 0, 0));
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    size_t count = 0;
    assert_null(zgm_user_members(f->bob, "general", &count));
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);

    assert_int_equal(zgm_user_join(f->bob, "general"), 0);
    char** members = zgm_user_members(f->bob, "general", &count);
    assert_non_null(members);
    assert_int_equal(count, 2);
    bool found_alice = false;
    for (size_t i = 0; i < count; i++)
        found_alice |= strcmp(members[2 * i], zgm_user_id(f->alice)) == 0 &&
                       strcmp(members[2 * i + 1], "alice") == 0;
    assert_true(found_alice);
    free(members);

    assert_int_equal(zgm_user_leave(f->bob, "general"), 0);
    assert_int_equal(zgm_user_send(f->bob, "general", "x", 1, NULL, NULL), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    //  Harmless: alice's history is untouched by bob's comings and goings.
    assert_int_equal(zgm_user_send(f->alice, "general", "still here", 10, NULL, NULL), 0);
}

void test_send_stamps_gapless_seq_and_monotone_time(void** state) {
    Fixture* f = (Fixture*)*state;
    uint64_t previous_ts = 0;
    uint64_t before = now_us();
    for (uint64_t i = 1; i <= 50; i++) {
        uint64_t seq = 0, ts = 0;
        assert_int_equal(zgm_user_send(f->alice, "general", "m", 1, &seq, &ts), 0);
        assert_int_equal(seq, i);
        assert_true(ts >= previous_ts);
        assert_true(ts >= before - 1000000 && ts <= now_us() + 1000000);
        previous_ts = ts;
    }
}

void test_repeated_message_id_is_stored_once(void** state) {
    Fixture* f = (Fixture*)*state;
    RawClient client(f->server_endpoint);
    Uuid msg_id = Uuid::random();
    proto::Message first = send_message(f->alice, "general", "once", msg_id);
    proto::Message reply1 = client.call(first);
    proto::Message again = send_message(f->alice, "general", "once", msg_id);
    proto::Message reply2 = client.call(again);
    assert_int_equal(reply1.id, proto::kSent);
    assert_int_equal(reply2.id, proto::kSent);
    assert_int_equal(reply1.seq, reply2.seq);
    assert_int_equal(reply1.ts_us, reply2.ts_us);
    zgm_msglist_t* list = zgm_user_fetch(f->alice, "general", 0, 0, 0);
    assert_non_null(list);
    assert_int_equal(zgm_msglist_size(list), 1);
    zgm_msglist_destroy(&list);
}

void test_oversize_body_is_refused_with_413(void** state) {
    Fixture* f = (Fixture*)*state;
    //  The API refuses before sending...
    std::string big(ZGM_MAX_BODY + 1, 'x');
    assert_int_equal(zgm_user_send(f->alice, "general", big.data(), big.size(), NULL, NULL), -1);
    assert_int_equal(zgm_errno(), ZGM_ETOOLARGE);
    //  ...and the server refuses a peer that does not: encode the largest body, then
    //  grow it by one byte and patch its length.
    proto::Message message =
        send_message(f->alice, "general", std::string(ZGM_MAX_BODY, 'x'), Uuid::random());
    std::string bytes;
    assert_true(proto::encode(message, &bytes));
    bytes.push_back('x');
    size_t length_at = bytes.size() - (ZGM_MAX_BODY + 1) - 4;
    uint32_t length = ZGM_MAX_BODY + 1;
    for (int i = 0; i < 4; i++)
        bytes[length_at + i] = (char)(length >> (24 - 8 * i));
    RawClient client(f->server_endpoint);
    client.send_raw(bytes);
    proto::Message reply = client.recv();
    assert_int_equal(reply.id, proto::kError);
    assert_int_equal(reply.status, proto::kTooLarge);
    //  The largest body is fine.
    assert_int_equal(zgm_user_send(f->alice, "general", big.data(), ZGM_MAX_BODY, NULL, NULL), 0);
}

void test_fetch_since_is_inclusive_and_after_seq_continues(void** state) {
    Fixture* f = (Fixture*)*state;
    uint64_t ts[11] = {};
    for (int i = 1; i <= 10; i++) {
        std::string body = "m" + std::to_string(i);
        assert_int_equal(zgm_user_send(f->alice, "general", body.data(), body.size(), NULL, &ts[i]),
                         0);
    }
    //  Since the 5th message's own timestamp: it is included.
    zgm_msglist_t* since = zgm_user_fetch(f->alice, "general", ts[5], 0, 0);
    assert_non_null(since);
    assert_true(zgm_msglist_size(since) >= 6);
    uint64_t first = zgm_msg_seq(zgm_msglist_get(since, 0));
    assert_true(first <= 5);
    for (size_t i = 0; i < zgm_msglist_size(since); i++) {
        const zgm_msg_t* msg = zgm_msglist_get(since, i);
        assert_int_equal(zgm_msg_seq(msg), first + i);
        assert_true(zgm_msg_timestamp(msg) >= ts[5]);
    }
    zgm_msglist_destroy(&since);

    zgm_msglist_t* after = zgm_user_fetch(f->alice, "general", 0, 7, 0);
    assert_int_equal(zgm_msglist_size(after), 3);
    assert_int_equal(zgm_msg_seq(zgm_msglist_get(after, 0)), 8);
    assert_memory_equal(zgm_msg_body(zgm_msglist_get(after, 2)), "m10", 3);
    zgm_msglist_destroy(&after);

    zgm_msglist_t* limited = zgm_user_fetch(f->alice, "general", 0, 2, 3);
    assert_int_equal(zgm_msglist_size(limited), 3);
    assert_int_equal(zgm_msg_seq(zgm_msglist_get(limited, 2)), 5);
    zgm_msglist_destroy(&limited);

    //  A timestamp after the last message: nothing, and no error.
    zgm_msglist_t* none = zgm_user_fetch(f->alice, "general", ts[10] + 1, 0, 0);
    assert_non_null(none);
    assert_int_equal(zgm_msglist_size(none), 0);
    zgm_msglist_destroy(&none);
}

void test_large_fetch_arrives_in_batches(void** state) {
    Fixture* f = (Fixture*)*state;
    const int count = 1500;
    std::string body(1000, 'b');
    RawClient client(f->server_endpoint);
    for (int i = 0; i < count; i++) { //  pipelined, then the replies
        proto::Message message = send_message(f->alice, "general", body, Uuid::random());
        client.send(message);
    }
    for (int i = 0; i < count; i++)
        assert_int_equal(client.recv().id, proto::kSent);

    proto::Message fetch;
    fetch.id = proto::kFetch;
    Uuid::parse(zgm_user_id(f->alice), &fetch.user);
    fetch.group = "general";
    proto::Message batch = client.call(fetch);
    assert_int_equal(batch.id, proto::kMessages);
    assert_int_equal(batch.more, 1); //  1.5 MB does not come in one frame
    assert_true(batch.messages.size() < (size_t)count);
    assert_true(batch.messages.size() * body.size() <= proto::kBatchBytes + proto::kMaxBody);

    zgm_msglist_t* all = zgm_user_fetch(f->alice, "general", 0, 0, 0);
    assert_non_null(all);
    assert_int_equal(zgm_msglist_size(all), count);
    for (int i = 0; i < count; i++)
        assert_int_equal(zgm_msg_seq(zgm_msglist_get(all, i)), i + 1);
    zgm_msglist_destroy(&all);
}

void test_live_messages_arrive_once_and_in_order(void** state) {
    Fixture* f = (Fixture*)*state;
    assert_int_equal(zgm_user_join(f->bob, "general"), 0);
    for (int i = 1; i <= 200; i++) {
        std::string body = std::to_string(i);
        assert_int_equal(zgm_user_send(f->alice, "general", body.data(), body.size(), NULL, NULL),
                         0);
    }
    for (uint64_t i = 1; i <= 200; i++) {
        zgm_msg_t* msg = zgm_user_recv(f->bob, 5000);
        assert_non_null(msg);
        assert_int_equal(zgm_msg_seq(msg), i);
        assert_string_equal(zgm_msg_group(msg), "general");
        assert_string_equal(zgm_msg_sender(msg), zgm_user_id(f->alice));
        assert_string_equal(zgm_msg_sender_name(msg), "alice");
        zgm_msg_destroy(&msg);
    }
    assert_null(zgm_user_recv(f->bob, 300));
    assert_int_equal(zgm_errno(), ZGM_ETIMEOUT);
    assert_int_equal(zgm_user_last_seq(f->bob, "general"), 200);
}

void test_malformed_requests_get_errors_and_the_server_carries_on(void** state) {
    Fixture* f = (Fixture*)*state;
    RawClient client(f->server_endpoint);
    client.send_raw(std::string("\xAA\xA1\x21", 3)); //  a header cut short
    assert_int_equal(client.recv().status, proto::kBadRequest);
    client.send_raw(std::string(64, '\0'));
    assert_int_equal(client.recv().status, proto::kBadRequest);
    proto::Message unknown;
    unknown.id = proto::kRegister; //  a registry message, to a group server
    assert_int_equal(client.call(unknown).status, proto::kBadRequest);
    proto::Message fetch;
    fetch.id = proto::kFetch;
    fetch.group = "general";
    std::string bytes;
    assert_true(proto::encode(fetch, &bytes));
    bytes[3] = 2; //  version 2
    client.send_raw(bytes);
    assert_int_equal(client.recv().status, proto::kBadVersion);
    //  A peer that vanishes mid-request.
    for (int i = 0; i < 20; i++) {
        RawClient gone(f->server_endpoint);
        proto::Message message = send_message(f->alice, "general", "from a ghost", Uuid::random());
        gone.send(message);
    }
    //  Still serving, and the ghosts' messages were stored (they were members' messages).
    zgm_msglist_t* list = zgm_user_fetch(f->alice, "general", 0, 0, 0);
    assert_non_null(list);
    assert_true(zgm_msglist_size(list) <= 20);
    zgm_msglist_destroy(&list);
    assert_int_equal(zgm_user_send(f->alice, "general", "ok", 2, NULL, NULL), 0);
}

//  -----------------------------------------------------------------------------------------
//  Catch-up, against a group server that drops pushes as told.

//  Pipe commands: "LAST n" (messages 1..n exist), "PUSH seq" (push that one message),
//  "FETCHES" -> "i" (how many FETCHes it answered). Answers FOLLOW and FETCH.
void lossy_server(zsock_t* pipe, void* args) {
    zsock_t* socket = (zsock_t*)args;
    zsock_signal(pipe, 0);
    uint64_t last = 0;
    int fetches = 0;
    std::string follower;
    zpoller_t* poller = zpoller_new(pipe, socket, NULL);
    auto record = [](uint64_t seq) {
        proto::MessageRecord r;
        r.seq = seq;
        r.ts_us = 1000 + seq;
        r.sender_name = "lossy";
        r.body = "m" + std::to_string(seq);
        return r;
    };
    while (void* which = zpoller_wait(poller, -1)) {
        if (which == pipe) {
            char *command = nullptr, *value = nullptr;
            zsock_recv(pipe, "ss", &command, &value);
            std::string cmd = command ? command : "$TERM";
            uint64_t n = value ? strtoull(value, NULL, 10) : 0;
            zstr_free(&command);
            zstr_free(&value);
            if (cmd == "$TERM") break;
            if (cmd == "LAST")
                last = n;
            else if (cmd == "FETCHES")
                zsock_send(pipe, "i", fetches);
            else if (cmd == "PUSH") {
                proto::Message deliver;
                deliver.id = proto::kDeliver;
                deliver.group = "lossy";
                deliver.messages.push_back(record(n));
                proto::send(zsock_resolve(socket), follower, deliver);
            }
            continue;
        }
        std::string from;
        proto::Message request, reply;
        if (proto::recv(zsock_resolve(socket), true, &from, &request) != proto::DecodeError::kOk)
            continue;
        if (request.id == proto::kFollow) {
            follower = from;
            reply.id = proto::kFollowing;
            reply.group = "lossy";
            reply.last_seq = last;
        } else if (request.id == proto::kFetch) {
            fetches++;
            reply.id = proto::kMessages;
            reply.group = "lossy";
            reply.first_seq = 1;
            reply.last_seq = last;
            for (uint64_t seq = request.after_seq + 1; seq <= last; seq++)
                reply.messages.push_back(record(seq));
        } else {
            continue;
        }
        reply.request_id = request.request_id;
        proto::send(zsock_resolve(socket), from, reply);
    }
    zpoller_destroy(&poller);
}

uint64_t recv_seq(zgm_user_t* user, int timeout_ms) {
    zgm_msg_t* msg = zgm_user_recv(user, timeout_ms);
    if (!msg) return 0;
    uint64_t seq = zgm_msg_seq(msg);
    assert_memory_equal(zgm_msg_body(msg), ("m" + std::to_string(seq)).c_str(), zgm_msg_size(msg));
    zgm_msg_destroy(&msg);
    return seq;
}

void test_member_catches_up_after_dropped_pushes(void** state) {
    Fixture* f = (Fixture*)*state;
    zsock_t* socket = zsock_new(ZMQ_ROUTER);
    int port = zsock_bind(socket, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    zactor_t* lossy = zactor_new(lossy_server, socket);
    //  Register the scripted server with the registry, as a group server would.
    RawClient registrar(f->registry_endpoint);
    proto::Message reg;
    reg.id = proto::kRegister;
    reg.server = Uuid::random();
    reg.group_id = Uuid::random();
    reg.group = "lossy";
    reg.endpoint = test::local_endpoint(port);
    assert_int_equal(registrar.call(reg).id, proto::kOk);

    assert_int_equal(zgm_user_follow(f->bob, "lossy", 0), 0);
    //  Messages 1 to 3 exist; only 1 and 3 are pushed.
    zstr_sendx(lossy, "LAST", "3", NULL);
    zstr_sendx(lossy, "PUSH", "1", NULL);
    zstr_sendx(lossy, "PUSH", "3", NULL);
    assert_int_equal(recv_seq(f->bob, 3000), 1);
    assert_int_equal(recv_seq(f->bob, 3000), 2);
    assert_int_equal(recv_seq(f->bob, 3000), 3);
    //  4 and 5 are never pushed at all: the next FOLLOW says the group is at 5.
    zstr_sendx(lossy, "LAST", "5", NULL);
    assert_int_equal(recv_seq(f->bob, 4000), 4);
    assert_int_equal(recv_seq(f->bob, 3000), 5);
    //  Late and repeated pushes are not delivered twice.
    zstr_sendx(lossy, "PUSH", "4", NULL);
    zstr_sendx(lossy, "PUSH", "5", NULL);
    assert_int_equal(recv_seq(f->bob, 1500), 0);
    zstr_sendx(lossy, "FETCHES", "0", NULL);
    int fetches = 0;
    zsock_recv(lossy, "i", &fetches);
    assert_true(fetches >= 2);

    zactor_destroy(&lossy);
    zsock_destroy(&socket);
}

//  -----------------------------------------------------------------------------------------
//  A full disk

void test_full_disk_refuses_sends_with_507_and_keeps_stored_messages(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=512k") != 0) {
        test::remove_tree(dir);
        skip(); //  needs root and mount(2)
    }
    zgm_registry_t* registry = zgm_registry_new();
    std::string registry_endpoint =
        test::local_endpoint(zgm_registry_bind(registry, "tcp://127.0.0.1:*"));
    zgm_group_t* server = zgm_group_new(dir.c_str());
    assert_non_null(server);
    assert_int_equal(zgm_group_add(server, "full"), 0);
    zgm_group_bind(server, "tcp://127.0.0.1:*");
    assert_int_equal(zgm_group_connect_registry(server, registry_endpoint.c_str()), 0);
    zgm_user_t* user = zgm_user_new("filler");
    zgm_user_connect(user, registry_endpoint.c_str());
    assert_int_equal(zgm_user_join(user, "full"), 0);

    std::string body(8000, 'f');
    uint64_t stored = 0;
    int error = ZGM_OK;
    for (int i = 0; i < 200 && error == ZGM_OK; i++) {
        uint64_t seq = 0;
        if (zgm_user_send(user, "full", body.data(), body.size(), &seq, NULL) == 0)
            stored = seq;
        else
            error = zgm_errno();
    }
    assert_int_equal(error, ZGM_ESTORAGE);
    assert_true(stored > 0);
    //  Every acknowledged message is there, and the server still answers.
    zgm_msglist_t* list = zgm_user_fetch(user, "full", 0, 0, 0);
    assert_non_null(list);
    assert_int_equal(zgm_msglist_size(list), stored);
    assert_int_equal(zgm_msg_seq(zgm_msglist_get(list, stored - 1)), stored);
    zgm_msglist_destroy(&list);

    zgm_user_destroy(&user);
    zgm_group_destroy(&server);
    zgm_registry_destroy(&registry);
    umount(dir.c_str());
    test::remove_tree(dir);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_membership_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_stamps_gapless_seq_and_monotone_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repeated_message_id_is_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_body_is_refused_with_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_since_is_inclusive_and_after_seq_continues,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_fetch_arrives_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_messages_arrive_once_and_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_requests_get_errors_and_the_server_carries_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_catches_up_after_dropped_pushes, setup,
                                        teardown),
        cmocka_unit_test(test_full_disk_refuses_sends_with_507_and_keeps_stored_messages),
    };
    return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
