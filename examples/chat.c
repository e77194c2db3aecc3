/*  =========================================================================
    chat.c - all three roles of zgm in one process, through the public C API

    A registry, a group server hosting "general" (in memory, or in DATA_DIR if given), and
    two users, alice and bob. Alice writes; bob receives it live and fetches the history.
    Exits 0 when everything arrived as it should.

    Build:  cc chat.c $(pkg-config --cflags --libs zgm) -o chat
    Run:    ./chat [DATA_DIR]

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include <zgm.h>

#include <stdio.h>
#include <string.h>

#define CHECK(expression)                                                                          \
    do {                                                                                           \
        if (!(expression)) {                                                                       \
            fprintf(stderr, "chat: %s failed: %s\n", #expression, zgm_strerror());                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int run(zgm_user_t* alice, zgm_user_t* bob) {
    CHECK(zgm_user_join(alice, "general") == 0);
    CHECK(zgm_user_join(bob, "general") == 0);

    const char* lines[] = {"hello bob", "how are you?", "bye"};
    for (int i = 0; i < 3; i++) {
        uint64_t seq = 0;
        CHECK(zgm_user_send(alice, "general", lines[i], strlen(lines[i]), NULL, &seq, NULL) == 0);
        printf("alice sent #%llu: %s\n", (unsigned long long)seq, lines[i]);
    }
    for (int i = 0; i < 3; i++) {
        zgm_msg_t* msg = zgm_user_recv(bob, 5000);
        CHECK(msg != NULL);
        printf("bob got #%llu from %s: %.*s\n", (unsigned long long)zgm_msg_seq(msg),
               zgm_msg_sender_name(msg), (int)zgm_msg_size(msg), (const char*)zgm_msg_body(msg));
        int expected = zgm_msg_size(msg) == strlen(lines[i]) &&
                       memcmp(zgm_msg_body(msg), lines[i], strlen(lines[i])) == 0;
        zgm_msg_destroy(&msg);
        CHECK(expected);
    }
    zgm_msglist_t* history = zgm_user_fetch(bob, "general", NULL);
    CHECK(history != NULL);
    printf("bob fetched %zu messages\n", zgm_msglist_size(history));
    size_t fetched = zgm_msglist_size(history);
    zgm_msglist_destroy(&history);
    CHECK(fetched >= 3);
    return 0;
}

int main(int argc, char* argv[]) {
    //  Every connection is CURVE: the registry trusts the group server's key, and users
    //  connect with the registry's key. (inproc:// has no handshake, so no keys: servers
    //  are reached over tcp:// or ipc://, even inside one process.)
    zgm_registry_t* registry = zgm_registry_new();
    CHECK(registry != NULL);
    int registry_port = zgm_registry_bind(registry, "tcp://127.0.0.1:*");
    CHECK(registry_port > 0);
    char registry_endpoint[64];
    snprintf(registry_endpoint, sizeof registry_endpoint, "tcp://127.0.0.1:%d", registry_port);

    zgm_server_t* server = zgm_server_new(argc > 1 ? argv[1] : NULL);
    CHECK(server != NULL);
    CHECK(zgm_registry_trust(registry, zgm_server_key(server)) == 0);
    CHECK(zgm_server_add(server, "general", NULL, ZGM_POLICY_OPEN) == 0);
    CHECK(zgm_server_bind(server, "tcp://127.0.0.1:*") > 0);
    CHECK(zgm_server_connect(server, registry_endpoint, zgm_registry_key(registry)) == 0);

    zgm_user_t* alice = zgm_user_new("alice");
    zgm_user_t* bob = zgm_user_new("bob");
    CHECK(alice && bob);
    CHECK(zgm_user_connect(alice, registry_endpoint, zgm_registry_key(registry)) == 0);
    CHECK(zgm_user_connect(bob, registry_endpoint, zgm_registry_key(registry)) == 0);

    int rc = run(alice, bob);

    zgm_user_destroy(&bob);
    zgm_user_destroy(&alice);
    zgm_server_destroy(&server);
    zgm_registry_destroy(&registry);
    printf(rc == 0 ? "chat: ok\n" : "chat: FAILED\n");
    return rc;
}
