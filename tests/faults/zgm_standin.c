/*  =========================================================================
    zgm_standin.c - the registry, group server and keygen roles of the zgm program, with
    the flags of the v2 program, over the C API alone

    The fault harness (tests/faults/harness.py) starts every role through one function,
    which runs either this program or the real `zgm`: the stand-in serves while the zgm
    program is being ported to the v2 API, and keeps the harness honest about what it
    needs from the program (the flags below, a line on stdout once serving, SIGTERM to
    stop). It does nothing the zgm program does not.

        zgm_standin keygen FILE
        zgm_standin registry [--bind EP] [--key FILE] [--trust DIR|KEY|FILE]... [--expiry MS]
                             [--insecure] [--max-connections N] [--quiet]
        zgm_standin server [--registry EP] [--registry-key KEY|FILE] [--key FILE]
                           [--group NAME]... [--bind EP] [--advertise EP] [--data DIR |
                           --memory] [--accept-new] [--durability full|normal]
                           [--heartbeat MS] [--insecure] [--max-connections N]
                           [--max-follower-bytes N] [--max-rate N] [--quiet]

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "zgm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>

#define MAX_VALUES 64

typedef struct {
    const char* name;
    const char* values[MAX_VALUES];
    int count;
    int flag; //  takes no value
} option_t;

static option_t* find(option_t* options, const char* name) {
    for (option_t* option = options; option->name; option++)
        if (strcmp(option->name, name) == 0) return option;
    return NULL;
}

static const char* value(option_t* options, const char* name, const char* fallback) {
    option_t* option = find(options, name);
    return option && option->count ? option->values[option->count - 1] : fallback;
}

static int given(option_t* options, const char* name) {
    option_t* option = find(options, name);
    return option && option->count > 0;
}

//  Reads --name VALUE and --flag arguments into options; 2 on a usage error.
static int parse(option_t* options, int argc, char** argv, const char* command) {
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "zgm %s: unexpected argument '%s'\n", command, argv[i]);
            return 2;
        }
        option_t* option = find(options, argv[i] + 2);
        if (!option) {
            fprintf(stderr, "zgm %s: unknown option '%s'\n", command, argv[i]);
            return 2;
        }
        if (option->count == MAX_VALUES) return 2;
        if (option->flag) {
            option->values[option->count++] = "1";
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "zgm %s: %s needs a value\n", command, argv[i]);
            return 2;
        }
        option->values[option->count++] = argv[++i];
    }
    return 0;
}

//  Blocks SIGTERM and SIGINT in every thread (actors inherit the mask), so the main
//  thread takes them with sigwait.
static void block_stop_signals(sigset_t* set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void wait_for_stop(sigset_t* set) {
    int signo = 0;
    sigwait(set, &signo);
}

static int is_directory(const char* path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static int keygen_main(int argc, char** argv) {
    if (argc != 1) {
        fprintf(stderr, "usage: zgm keygen FILE\n");
        return 2;
    }
    if (zgm_keygen(argv[0], NULL) != 0) {
        fprintf(stderr, "zgm keygen: %s\n", zgm_strerror());
        return 1;
    }
    char key[ZGM_KEY_SIZE];
    zgm_key_read(argv[0], key);
    printf("%s\n", key);
    return 0;
}

static int registry_main(int argc, char** argv) {
    option_t options[] = {{"bind", {0}, 0, 0},     {"key", {0}, 0, 0},
                          {"trust", {0}, 0, 0},    {"expiry", {0}, 0, 0},
                          {"insecure", {0}, 0, 1}, {"max-connections", {0}, 0, 0},
                          {"quiet", {0}, 0, 1},    {NULL, {0}, 0, 0}};
    int rc = parse(options, argc, argv, "registry");
    if (rc) return rc;
    sigset_t stop;
    block_stop_signals(&stop);
    zgm_set_verbose(!given(options, "quiet"));
    zgm_registry_t* registry = zgm_registry_new();
    if (!registry) return 1;
    if (given(options, "insecure")) zgm_registry_set_insecure(registry, 1);
    const char* key = value(options, "key", NULL);
    if (key && zgm_registry_set_key(registry, key) != 0) {
        fprintf(stderr, "zgm registry: --key %s: %s\n", key, zgm_strerror());
        zgm_registry_destroy(&registry);
        return 1;
    }
    option_t* trust = find(options, "trust");
    for (int i = 0; i < trust->count; i++) {
        const char* what = trust->values[i];
        rc = is_directory(what) ? zgm_registry_trust_dir(registry, what)
                                : zgm_registry_trust(registry, what);
        if (rc != 0) {
            fprintf(stderr, "zgm registry: --trust %s: %s\n", what, zgm_strerror());
            zgm_registry_destroy(&registry);
            return 1;
        }
    }
    if (given(options, "expiry"))
        zgm_registry_set_expiry(registry, atoi(value(options, "expiry", "3000")));
    if (given(options, "max-connections"))
        zgm_registry_set_limit(registry, ZGM_LIMIT_CONNECTIONS,
                               strtoull(value(options, "max-connections", "0"), NULL, 10));
    const char* bind = value(options, "bind", ZGM_REGISTRY_BIND);
    int port = zgm_registry_bind(registry, bind);
    if (port < 0) {
        fprintf(stderr, "zgm registry: %s\n", zgm_strerror());
        zgm_registry_destroy(&registry);
        return 1;
    }
    printf("zgm registry: listening on %s (port %d)\n", bind, port);
    printf("zgm registry: key %s (%s)\n", zgm_registry_key(registry), key ? key : "none");
    fflush(stdout);
    wait_for_stop(&stop);
    zgm_registry_destroy(&registry);
    return 0;
}

static int server_main(int argc, char** argv) {
    option_t options[] = {{"registry", {0}, 0, 0},
                          {"registry-key", {0}, 0, 0},
                          {"key", {0}, 0, 0},
                          {"group", {0}, 0, 0},
                          {"bind", {0}, 0, 0},
                          {"advertise", {0}, 0, 0},
                          {"data", {0}, 0, 0},
                          {"memory", {0}, 0, 1},
                          {"accept-new", {0}, 0, 1},
                          {"durability", {0}, 0, 0},
                          {"heartbeat", {0}, 0, 0},
                          {"insecure", {0}, 0, 1},
                          {"max-connections", {0}, 0, 0},
                          {"max-follower-bytes", {0}, 0, 0},
                          {"max-rate", {0}, 0, 0},
                          {"quiet", {0}, 0, 1},
                          {NULL, {0}, 0, 0}};
    int rc = parse(options, argc, argv, "server");
    if (rc) return rc;
    option_t* groups = find(options, "group");
    if (groups->count == 0 && !given(options, "accept-new")) {
        fprintf(stderr, "zgm server: name a --group to host, or --accept-new\n");
        return 2;
    }
    if (given(options, "memory") == given(options, "data")) {
        fprintf(stderr, "zgm server: --data DIR or --memory (the stand-in has no default)\n");
        return 2;
    }
    sigset_t stop;
    block_stop_signals(&stop);
    zgm_set_verbose(!given(options, "quiet"));
    const char* data = value(options, "data", NULL);
    if (data) mkdir(data, 0700);
    zgm_server_t* server = zgm_server_new(data);
    if (!server) {
        fprintf(stderr, "zgm server: cannot open the store in %s: %s\n", data ? data : "memory",
                zgm_strerror());
        return 1;
    }
    int insecure = given(options, "insecure");
    if (insecure) zgm_server_set_insecure(server, 1);
    const char* key = value(options, "key", NULL);
    if (key && zgm_server_set_key(server, key) != 0) {
        fprintf(stderr, "zgm server: --key %s: %s\n", key, zgm_strerror());
        zgm_server_destroy(&server);
        return 1;
    }
    if (given(options, "durability") &&
        zgm_server_set_durability(server, value(options, "durability", "full")) != 0) {
        fprintf(stderr, "zgm server: --durability: %s\n", zgm_strerror());
        zgm_server_destroy(&server);
        return 1;
    }
    if (given(options, "heartbeat"))
        zgm_server_set_heartbeat(server, atoi(value(options, "heartbeat", "1000")));
    zgm_server_set_accept_new(server, given(options, "accept-new"));
    struct {
        const char* option;
        zgm_limit_t limit;
    } limits[] = {{"max-connections", ZGM_LIMIT_CONNECTIONS},
                  {"max-follower-bytes", ZGM_LIMIT_FOLLOWER_BYTES},
                  {"max-rate", ZGM_LIMIT_RATE}};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (given(options, limits[i].option) &&
            zgm_server_set_limit(server, limits[i].limit,
                                 strtoull(value(options, limits[i].option, "0"), NULL, 10)) != 0) {
            fprintf(stderr, "zgm server: --%s: %s\n", limits[i].option, zgm_strerror());
            zgm_server_destroy(&server);
            return 1;
        }
    for (int i = 0; i < groups->count; i++)
        if (zgm_server_add(server, groups->values[i], NULL, ZGM_POLICY_OPEN) != 0) {
            fprintf(stderr, "zgm server: cannot host %s: %s\n", groups->values[i], zgm_strerror());
            zgm_server_destroy(&server);
            return 1;
        }
    const char* bind = value(options, "bind", "tcp://*:*");
    int port = zgm_server_bind(server, bind);
    if (port < 0) {
        fprintf(stderr, "zgm server: %s\n", zgm_strerror());
        zgm_server_destroy(&server);
        return 1;
    }
    const char* advertise = value(options, "advertise", NULL);
    if (advertise) zgm_server_set_advertise(server, advertise);
    const char* registry = value(options, "registry", getenv("ZGM_REGISTRY"));
    if (!registry) registry = ZGM_REGISTRY_ENDPOINT;
    char registry_key[ZGM_KEY_SIZE] = "";
    const char* key_arg = value(options, "registry-key", getenv("ZGM_REGISTRY_KEY"));
    if (!insecure && (!key_arg || zgm_key_read(key_arg, registry_key) != 0)) {
        fprintf(stderr, "zgm server: --registry-key: %s\n",
                key_arg ? zgm_strerror() : "needed (the stand-in has no default)");
        zgm_server_destroy(&server);
        return 2;
    }
    rc = zgm_server_connect(server, registry, insecure ? NULL : registry_key);
    if (rc != 0 && zgm_errno() == ZGM_EDENIED) {
        //  A trusted directory is read again at most once a second.
        struct timespec pause = {1, 200000000};
        nanosleep(&pause, NULL);
        rc = zgm_server_connect(server, registry, insecure ? NULL : registry_key);
    }
    if (rc != 0 && zgm_errno() != ZGM_ETIMEOUT) {
        fprintf(stderr, "zgm server: %s\n", zgm_strerror());
        zgm_server_destroy(&server);
        return 1;
    }
    if (rc != 0)
        fprintf(stderr, "zgm server: the registry at %s is not reachable yet; trying on\n",
                registry);
    printf("zgm server: serving %d groups on %s (port %d)\n", groups->count, bind, port);
    printf("zgm server: key %s (%s)\n", zgm_server_key(server), key ? key : "none");
    fflush(stdout);
    wait_for_stop(&stop);
    zgm_server_destroy(&server);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: zgm_standin keygen|registry|server [OPTIONS]\n");
        return 2;
    }
    if (strcmp(argv[1], "keygen") == 0) return keygen_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "registry") == 0) return registry_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "server") == 0) return server_main(argc - 2, argv + 2);
    fprintf(stderr, "zgm_standin: no role '%s'\n", argv[1]);
    return 2;
}
