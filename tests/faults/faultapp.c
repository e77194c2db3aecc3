/*  =========================================================================
    faultapp.c - the applications of the fault harness, over the public C API

    One program, one role per run, each writing what it saw to a log the harness reads
    (tests/faults/harness.py checks the logs against each other):

      send      sends asynchronously with message ids, at a rate, a window of sends
                outstanding; a send in doubt, or not sent, goes again with its id until it
                is stored. Logs every acknowledgement (A), every failed attempt (R), what
                is refused for good (F) and, at the end, what is not settled (U).
      listen    joins and follows groups from their first message; logs every message (M)
                and every seq that is not the next one (E); --slow-ms reads slowly.
      fetch     the whole stored history of a group (S lines).
      probe     asks the registry until it resolves a group (or lists N groups); prints
                the milliseconds it took.
      load      many users in one process, each a member of one group, sending at a total
                rate and receiving; one line of figures per interval (L).
      conns     users with keys from a pool that connect, join and vanish, many at a time;
                a JOIN answered in doubt is tried again (counted apart: in_doubt).
      malformed a CURVE connection that sends frames no codec would make; counts replies.
      stats     a server's figures (zgm_user_stats), with its own key.
      integrity PRAGMA integrity_check of a store.

    Common options: --registry EP --registry-key KEY|FILE [--insecure] [--identity FILE]
    [--name NAME] [--timeout MS] [--log FILE]. Times in logs are CLOCK_MONOTONIC ms, the
    same clock in every process (and network namespace) of the machine. SIGTERM stops a
    role: `send` then settles what is outstanding, for at most --drain-ms.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "zgm.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

//  ---------------------------------------------------------------------------------------
//  Options

#define MAX_VALUES 128

typedef struct {
    const char* name;
    const char* values[MAX_VALUES];
    int count;
} option_t;

static option_t s_options[64];
static int s_option_count;
static const char* s_args[MAX_VALUES];
static int s_arg_count;

//  --name VALUE pairs and positional arguments. Flags: the names listed in `flags`.
static int parse(int argc, char** argv, const char* const* flags) {
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            if (s_arg_count < MAX_VALUES) s_args[s_arg_count++] = argv[i];
            continue;
        }
        const char* name = argv[i] + 2;
        int flag = 0;
        for (const char* const* f = flags; *f; f++)
            flag |= strcmp(*f, name) == 0;
        option_t* option = NULL;
        for (int j = 0; j < s_option_count; j++)
            if (strcmp(s_options[j].name, name) == 0) option = &s_options[j];
        if (!option) {
            if (s_option_count == 64) return -1;
            option = &s_options[s_option_count++];
            option->name = name;
        }
        if (option->count == MAX_VALUES) return -1;
        if (flag) {
            option->values[option->count++] = "1";
        } else if (i + 1 < argc) {
            option->values[option->count++] = argv[++i];
        } else {
            fprintf(stderr, "faultapp: %s needs a value\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

static const char* opt(const char* name, const char* fallback) {
    for (int j = 0; j < s_option_count; j++)
        if (strcmp(s_options[j].name, name) == 0 && s_options[j].count)
            return s_options[j].values[s_options[j].count - 1];
    return fallback;
}

static long long opt_int(const char* name, long long fallback) {
    const char* text = opt(name, NULL);
    return text ? strtoll(text, NULL, 10) : fallback;
}

//  ---------------------------------------------------------------------------------------
//  Time, stop, log

static int64_t mono_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int64_t mono_ms(void) {
    return mono_us() / 1000;
}

static volatile sig_atomic_t s_stop = 0;

static void on_stop(int signo) {
    (void)signo;
    s_stop = 1;
}

static FILE* s_log;

static void open_log(void) {
    const char* path = opt("log", NULL);
    s_log = path ? fopen(path, "a") : stdout;
    if (!s_log) {
        fprintf(stderr, "faultapp: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static void logf_(const char* format, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char* format, ...) {
    va_list args;
    va_start(args, format);
    vfprintf(s_log, format, args);
    va_end(args);
}

static void sleep_ms(int msecs) {
    struct timespec pause = {msecs / 1000, (long)(msecs % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

//  ---------------------------------------------------------------------------------------
//  Users

//  A user connected to the registry of the common options; NULL after saying why.
static zgm_user_t* new_user(const char* name, const char* identity) {
    zgm_user_t* user = identity ? zgm_user_new_with_key(name, identity) : zgm_user_new(name);
    if (!user) {
        fprintf(stderr, "faultapp: cannot make a user: %s\n", zgm_strerror());
        return NULL;
    }
    zgm_user_set_timeout(user, (int)opt_int("timeout", 5000));
    int insecure = opt("insecure", NULL) != NULL;
    if (insecure) zgm_user_set_insecure(user, 1);
    char key[ZGM_KEY_SIZE] = "";
    const char* key_arg = opt("registry-key", NULL);
    if (!insecure && (!key_arg || zgm_key_read(key_arg, key) != 0)) {
        fprintf(stderr, "faultapp: --registry-key: %s\n", key_arg ? zgm_strerror() : "needed");
        zgm_user_destroy(&user);
        return NULL;
    }
    const char* registry = opt("registry", ZGM_REGISTRY_ENDPOINT);
    if (zgm_user_connect(user, registry, insecure ? NULL : key) != 0) {
        fprintf(stderr, "faultapp: connect %s: %s\n", registry, zgm_strerror());
        zgm_user_destroy(&user);
        return NULL;
    }
    return user;
}

//  Joins a group, retrying what may pass (a registry or server still starting) until the
//  deadline. Already a member is success.
static int join(zgm_user_t* user, const char* group, int64_t deadline_ms) {
    while (1) {
        if (zgm_user_join(user, group) == 0 || zgm_errno() == ZGM_EALREADY) return 0;
        int error = zgm_errno();
        if (error == ZGM_EINVAL || error == ZGM_EDENIED || mono_ms() >= deadline_ms || s_stop) {
            fprintf(stderr, "faultapp: join %s: %s\n", group, zgm_strerror());
            return -1;
        }
        sleep_ms(200);
    }
}

//  ---------------------------------------------------------------------------------------
//  A map from message id to the send it belongs to (chained, fixed buckets).

typedef struct send_s {
    char id[ZGM_MSG_ID_SIZE];
    int group;
    uint64_t counter;
    int64_t first_ms;
    int64_t retry_ms; //  when to send again; 0 while outstanding
    int attempts;
    struct send_s* next;      //  in its bucket
    struct send_s* next_wait; //  in the retry list
} send_t;

#define BUCKETS 65536

static send_t* s_buckets[BUCKETS];

static unsigned bucket_of(const char* id) {
    unsigned hash = 2166136261u;
    for (const char* c = id; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 16777619u;
    return hash % BUCKETS;
}

static void map_put(send_t* send) {
    unsigned b = bucket_of(send->id);
    send->next = s_buckets[b];
    s_buckets[b] = send;
}

static send_t* map_take(const char* id) {
    send_t** link = &s_buckets[bucket_of(id)];
    for (; *link; link = &(*link)->next)
        if (strcmp((*link)->id, id) == 0) {
            send_t* found = *link;
            *link = found->next;
            return found;
        }
    return NULL;
}

static int permanent(int error) {
    return error == ZGM_EINVAL || error == ZGM_ETOOLARGE || error == ZGM_ENOTMEMBER ||
           error == ZGM_EDENIED || error == ZGM_EEXISTS || error == ZGM_EPROTO;
}

static void make_body(char* body, size_t size, const char* name, uint64_t counter) {
    int length = snprintf(body, size + 1, "%s:%" PRIu64 ":%" PRId64 ":", name, counter, mono_us());
    for (size_t i = (size_t)length; i < size; i++)
        body[i] = (char)('a' + i % 26);
    if ((size_t)length > size) body[size] = 0;
}

static int send_main(void) {
    const char* name = opt("name", "sender");
    zgm_user_t* user = new_user(name, opt("identity", NULL));
    if (!user) return 2;
    int groups = s_arg_count;
    if (groups == 0) {
        fprintf(stderr, "faultapp send: name the groups\n");
        return 2;
    }
    int64_t deadline = mono_ms() + opt_int("join-ms", 60000);
    for (int g = 0; g < groups; g++) {
        if (join(user, s_args[g], deadline) != 0) return 1;
        logf_("J %" PRId64 " %s\n", mono_ms(), s_args[g]);
    }
    fflush(s_log);
    double rate = (double)opt_int("rate", 50);
    long long count = opt_int("count", 0); //  0: until stopped
    long long duration = opt_int("duration-ms", 0);
    int window = (int)opt_int("window", 64);
    size_t size = (size_t)opt_int("size", 64);
    if (size < 48) size = 48;
    int64_t drain_ms = opt_int("drain-ms", 30000);
    char* body = malloc(size + 1);
    int64_t start = mono_ms(), drain_until = 0;
    uint64_t created = 0, acked = 0, failed_attempts = 0, refused = 0;
    int outstanding = 0, waiting = 0;
    send_t* retries = NULL; //  waiting to go again, in no order
    while (1) {
        int64_t now = mono_ms();
        int ending = s_stop || (count && (long long)created >= count) ||
                     (duration && now - start >= duration);
        if (ending && !drain_until) drain_until = now + drain_ms;
        if (ending && (outstanding + waiting == 0 || now >= drain_until)) break;
        //  Retries whose time has come.
        for (send_t** link = &retries; *link;) {
            send_t* send = *link;
            if (send->retry_ms > now || outstanding >= window) {
                link = &send->next_wait;
                continue;
            }
            *link = send->next_wait;
            waiting--;
            make_body(body, size, name, send->counter);
            send->retry_ms = 0;
            send->attempts++;
            if (zgm_user_send_async(user, s_args[send->group], body, size, send->id) == 0) {
                outstanding++;
            } else {
                send->retry_ms = now + 200;
                send->next_wait = retries;
                retries = send;
                waiting++;
                link = &retries;
            }
        }
        //  New ones, at the rate, within the window.
        while (!ending && outstanding < window && (!count || (long long)created < count) &&
               (double)created < rate * (double)(now - start) / 1000.0) {
            send_t* send = calloc(1, sizeof *send);
            send->group = (int)(created % (uint64_t)groups);
            send->counter = created++;
            send->first_ms = now;
            send->attempts = 1;
            make_body(body, size, name, send->counter);
            if (zgm_user_send_async(user, s_args[send->group], body, size, send->id) != 0) {
                fprintf(stderr, "faultapp: send_async: %s\n", zgm_strerror());
                return 2;
            }
            map_put(send);
            outstanding++;
        }
        //  Outcomes.
        zgm_sent_t sent;
        int wait = 10;
        while (zgm_user_sent(user, &sent, wait) == 0) {
            wait = 0;
            send_t* send = map_take(sent.msg_id);
            if (!send) {
                logf_("X %" PRId64 " %s %s unknown outcome\n", mono_ms(), sent.group, sent.msg_id);
                continue;
            }
            outstanding--;
            now = mono_ms();
            if (sent.error == 0) {
                acked++;
                logf_("A %" PRId64 " %s %s %" PRIu64 " %" PRId64 " %" PRIu64 " %d\n", now,
                      sent.group, sent.msg_id, sent.seq, now - send->first_ms, send->counter,
                      send->attempts);
                free(send);
            } else if (permanent(sent.error)) {
                refused++;
                logf_("F %" PRId64 " %s %s %d %s\n", now, sent.group, sent.msg_id, sent.error,
                      sent.reason);
                free(send);
            } else {
                failed_attempts++;
                logf_("R %" PRId64 " %s %s %d %s\n", now, sent.group, sent.msg_id, sent.error,
                      sent.reason);
                map_put(send);
                send->retry_ms = now + 200;
                send->next_wait = retries;
                retries = send;
                waiting++;
            }
        }
        fflush(s_log);
    }
    //  What never settled: stored or not, nobody knows. Never acknowledged, so never lost.
    uint64_t unsettled = 0;
    for (int b = 0; b < BUCKETS; b++)
        for (send_t* send = s_buckets[b]; send; send = send->next) {
            logf_("U %s %s %" PRIu64 "\n", s_args[send->group], send->id, send->counter);
            unsettled++;
        }
    logf_("END %" PRId64 " created %" PRIu64 " acked %" PRIu64 " failed_attempts %" PRIu64
          " refused %" PRIu64 " unsettled %" PRIu64 "\n",
          mono_ms(), created, acked, failed_attempts, refused, unsettled);
    fflush(s_log);
    free(body);
    zgm_user_destroy(&user);
    return refused ? 1 : 0;
}

//  ---------------------------------------------------------------------------------------
//  listen

#define MAX_GROUPS 64

static int listen_main(void) {
    const char* name = opt("name", "listener");
    const char* identity = opt("identity", NULL);
    int groups = s_arg_count;
    if (groups == 0 || groups > MAX_GROUPS || !identity) {
        fprintf(stderr, "faultapp listen: --identity FILE and 1 to %d groups\n", MAX_GROUPS);
        return 2;
    }
    int slow_ms = (int)opt_int("slow-ms", 0);
    uint64_t last[MAX_GROUPS] = {0};
    int64_t deadline = mono_ms() + opt_int("join-ms", 60000);
    //  One user joins (a join follows from the group's end), another with the same key
    //  follows from the first message: in one user, what the join's follow had queued
    //  would come again from the second follow.
    zgm_user_t* joiner = new_user(name, identity);
    if (!joiner) return 2;
    for (int g = 0; g < groups; g++)
        if (join(joiner, s_args[g], deadline) != 0) return 1;
    zgm_user_destroy(&joiner);
    zgm_user_t* user = new_user(name, identity);
    if (!user) return 2;
    for (int g = 0; g < groups; g++) {
        //  From the first message: the whole history is checked.
        while (zgm_user_follow(user, s_args[g], 0) != 0) {
            if (mono_ms() >= deadline || s_stop) {
                fprintf(stderr, "faultapp: follow %s: %s\n", s_args[g], zgm_strerror());
                return 1;
            }
            sleep_ms(200);
        }
        logf_("J %" PRId64 " %s\n", mono_ms(), s_args[g]);
    }
    fflush(s_log);
    uint64_t received = 0, errors = 0;
    while (!s_stop) {
        zgm_msg_t* msg = zgm_user_recv(user, 200);
        if (!msg) {
            fflush(s_log);
            continue;
        }
        int64_t now = mono_us();
        const char* group = zgm_msg_group(msg);
        int g = 0;
        while (g < groups && strcmp(s_args[g], group) != 0)
            g++;
        uint64_t seq = zgm_msg_seq(msg);
        char text[96];
        size_t size = zgm_msg_size(msg) < sizeof text - 1 ? zgm_msg_size(msg) : sizeof text - 1;
        memcpy(text, zgm_msg_body(msg), size);
        text[size] = 0;
        //  name:counter:sent_us:
        char* sent_at = strchr(text, ':');
        sent_at = sent_at ? strchr(sent_at + 1, ':') : NULL;
        int64_t latency_us = sent_at ? now - strtoll(sent_at + 1, NULL, 10) : -1;
        if (sent_at) *sent_at = 0;
        for (char* c = text; *c; c++)
            if (*c == ' ' || *c < 32) *c = '_';
        if (g == groups) {
            logf_("E %" PRId64 " %s unexpected-group %" PRIu64 "\n", now / 1000, group, seq);
            errors++;
        } else if (seq != last[g] + 1 && !(zgm_msg_missed(msg) && seq > last[g])) {
            logf_("E %" PRId64 " %s %s %" PRIu64 " %" PRIu64 "\n", now / 1000, group,
                  seq <= last[g] ? "duplicate" : "gap", last[g] + 1, seq);
            errors++;
        }
        if (g < groups && seq > last[g]) last[g] = seq;
        logf_("M %" PRId64 " %s %" PRIu64 " %s %s %" PRId64 " %" PRIu64 "\n", now / 1000, group,
              seq, zgm_msg_id(msg), text, latency_us, zgm_msg_missed(msg));
        received++;
        zgm_msg_destroy(&msg);
        if (slow_ms) {
            fflush(s_log);
            sleep_ms(slow_ms);
        }
    }
    logf_("END %" PRId64 " received %" PRIu64 " errors %" PRIu64 "\n", mono_ms(), received, errors);
    fflush(s_log);
    zgm_user_destroy(&user);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  fetch, probe, stats

static int fetch_main(void) {
    if (s_arg_count != 1) return 2;
    zgm_user_t* user = new_user(opt("name", "fetcher"), opt("identity", NULL));
    if (!user) return 2;
    const char* group = s_args[0];
    int64_t deadline = mono_ms() + opt_int("deadline-ms", 60000);
    if (join(user, group, deadline) != 0) return 1;
    zgm_fetch_t query = {0};
    query.limit = 1000;
    uint64_t total = 0;
    while (1) {
        zgm_msglist_t* list = zgm_user_fetch(user, group, &query);
        if (!list) {
            if (mono_ms() >= deadline) {
                fprintf(stderr, "faultapp fetch %s: %s\n", group, zgm_strerror());
                return 1;
            }
            sleep_ms(200);
            continue;
        }
        size_t size = zgm_msglist_size(list);
        for (size_t i = 0; i < size; i++) {
            const zgm_msg_t* msg = zgm_msglist_get(list, i);
            char text[96];
            size_t length =
                zgm_msg_size(msg) < sizeof text - 1 ? zgm_msg_size(msg) : sizeof text - 1;
            memcpy(text, zgm_msg_body(msg), length);
            text[length] = 0;
            char* cut = strchr(text, ':');
            cut = cut ? strchr(cut + 1, ':') : NULL;
            if (cut) *cut = 0;
            for (char* c = text; *c; c++)
                if (*c == ' ' || *c < 32) *c = '_';
            logf_("S %s %" PRIu64 " %s %s\n", group, zgm_msg_seq(msg), zgm_msg_id(msg), text);
            query.after_seq = zgm_msg_seq(msg);
            total++;
        }
        int more = zgm_msglist_more(list);
        zgm_msglist_destroy(&list);
        if (!more || size == 0) break;
    }
    logf_("END %" PRId64 " fetched %" PRIu64 "\n", mono_ms(), total);
    fflush(s_log);
    zgm_user_destroy(&user);
    return 0;
}

//  Resolves a group (optionally until it is at an endpoint), or lists N groups, until the
//  deadline; prints the milliseconds it took.
static int probe_main(void) {
    zgm_user_t* user = new_user(opt("name", "probe"), opt("identity", NULL));
    if (!user) return 2;
    int64_t start = mono_ms(), deadline = start + opt_int("deadline-ms", 60000);
    const char* endpoint = opt("endpoint", NULL);
    long long groups = opt_int("groups", 0);
    while (!s_stop) {
        int ok = 0;
        if (groups) {
            size_t count = 0;
            zgm_group_t* list = zgm_user_groups(user, &count);
            ok = list && (long long)count >= groups;
            free(list);
        } else if (s_arg_count == 1) {
            zgm_group_t info;
            ok = zgm_user_resolve(user, s_args[0], &info) == 0 &&
                 (!endpoint || strcmp(info.endpoint, endpoint) == 0);
        }
        if (ok) {
            printf("%" PRId64 "\n", mono_ms() - start);
            zgm_user_destroy(&user);
            return 0;
        }
        if (mono_ms() >= deadline) break;
        sleep_ms(50);
    }
    fprintf(stderr, "faultapp probe: not within the deadline: %s\n", zgm_strerror());
    zgm_user_destroy(&user);
    return 1;
}

static int stats_main(void) {
    zgm_user_t* user = new_user(opt("name", "operator"), opt("identity", NULL));
    if (!user) return 2;
    char* report = zgm_user_stats(user, opt("endpoint", ""), opt("key", ""));
    zgm_user_destroy(&user);
    if (!report) {
        fprintf(stderr, "faultapp stats: %s\n", zgm_strerror());
        return 1;
    }
    fputs(report, stdout);
    free(report);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  load: many users in one process

typedef struct {
    zgm_user_t* user;
    char group[ZGM_MAX_NAME + 1];
    uint64_t last_seq;
} load_user_t;

static int compare_i64(const void* a, const void* b) {
    int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
    return x < y ? -1 : x > y;
}

static int load_main(void) {
    int users = (int)opt_int("users", 100);
    int groups = (int)opt_int("groups", 10);
    int first_group = (int)opt_int("first-group", 0);
    const char* prefix = opt("group-prefix", "steady");
    double rate = (double)opt_int("rate", 50);
    size_t size = (size_t)opt_int("size", 100);
    if (size < 48) size = 48;
    int interval = (int)opt_int("interval-ms", 5000);
    long long duration = opt_int("duration-ms", 0);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets(0);
    load_user_t* all = calloc((size_t)users, sizeof *all);
    int64_t deadline = mono_ms() + opt_int("join-ms", 120000);
    for (int i = 0; i < users && !s_stop; i++) {
        char name[32];
        snprintf(name, sizeof name, "load%d", i);
        all[i].user = new_user(name, NULL);
        if (!all[i].user) return 2;
        zgm_user_set_timeout(all[i].user, (int)opt_int("timeout", 10000));
        snprintf(all[i].group, sizeof all[i].group, "%s%d", prefix, first_group + i % groups);
        if (join(all[i].user, all[i].group, deadline) != 0) {
            for (int j = 0; j <= i; j++) //  users left to exit would trip CZMQ at exit
                zgm_user_destroy(&all[j].user);
            free(all);
            return 1;
        }
    }
    logf_("J %" PRId64 " %d users in %d groups\n", mono_ms(), users, groups);
    fflush(s_log);
    zmq_pollitem_t* items = calloc((size_t)users, sizeof *items);
    for (int i = 0; i < users; i++) {
        items[i].fd = zgm_user_fd(all[i].user);
        items[i].events = ZMQ_POLLIN;
    }
    size_t capacity = 1 << 20;
    int64_t* samples = malloc(capacity * sizeof *samples);
    size_t sampled = 0;
    char* body = malloc(size + 1);
    uint64_t sent = 0, acked = 0, errors = 0, deliveries = 0, gaps = 0, duplicates = 0;
    uint64_t total_deliveries = 0, total_acked = 0;
    int64_t start = mono_ms(), next_report = start + interval, interval_start = start;
    int next_sender = 0;
    while (!s_stop && !(duration && mono_ms() - start >= duration)) {
        int64_t now = mono_ms();
        while ((double)sent < rate * (double)(now - start) / 1000.0) {
            load_user_t* from = &all[next_sender];
            next_sender = (next_sender + 1) % users;
            make_body(body, size, "load", sent);
            zgm_user_send_async(from->user, from->group, body, size, NULL);
            sent++;
        }
        //  Until the next send is due (at most 100 ms): no busy loop over the users' sockets.
        long until_next =
            rate > 0 ? (long)(((double)sent + 1) * 1000.0 / rate) - (mono_ms() - start) : 100;
        zmq_poll(items, users, until_next < 1 ? 1 : until_next > 100 ? 100 : until_next);
        for (int i = 0; i < users; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            zgm_msg_t* msg;
            while ((msg = zgm_user_recv(all[i].user, 0)) != NULL) {
                int64_t at = mono_us();
                char text[64];
                size_t length =
                    zgm_msg_size(msg) < sizeof text - 1 ? zgm_msg_size(msg) : sizeof text - 1;
                memcpy(text, zgm_msg_body(msg), length);
                text[length] = 0;
                char* sent_at = strchr(text, ':');
                sent_at = sent_at ? strchr(sent_at + 1, ':') : NULL;
                if (sent_at && sampled < capacity)
                    samples[sampled++] = at - strtoll(sent_at + 1, NULL, 10);
                uint64_t seq = zgm_msg_seq(msg);
                if (all[i].last_seq && seq <= all[i].last_seq) duplicates++;
                if (all[i].last_seq && seq > all[i].last_seq + 1) gaps++;
                if (seq > all[i].last_seq) all[i].last_seq = seq;
                deliveries++;
                zgm_msg_destroy(&msg);
            }
            zgm_sent_t outcome;
            while (zgm_user_sent(all[i].user, &outcome, 0) == 0) {
                if (outcome.error == 0)
                    acked++;
                else
                    errors++;
            }
        }
        now = mono_ms();
        if (now >= next_report) {
            qsort(samples, sampled, sizeof *samples, compare_i64);
            double seconds = (double)(now - interval_start) / 1000.0;
            int64_t p50 = sampled ? samples[sampled / 2] : 0;
            int64_t p99 = sampled ? samples[sampled * 99 / 100] : 0;
            int64_t max = sampled ? samples[sampled - 1] : 0;
            logf_("L %" PRId64 " deliveries_per_s %.1f p50_us %" PRId64 " p99_us %" PRId64
                  " max_us %" PRId64 " acked %" PRIu64 " errors %" PRIu64 " gaps %" PRIu64
                  " duplicates %" PRIu64 "\n",
                  now, (double)deliveries / seconds, p50, p99, max, acked, errors, gaps,
                  duplicates);
            fflush(s_log);
            total_deliveries += deliveries;
            total_acked += acked;
            deliveries = acked = 0;
            sampled = 0;
            interval_start = now;
            next_report = now + interval;
        }
    }
    logf_("END %" PRId64 " sent %" PRIu64 " acked %" PRIu64 " deliveries %" PRIu64
          " errors %" PRIu64 " gaps %" PRIu64 " duplicates %" PRIu64 "\n",
          mono_ms(), sent, total_acked + acked, total_deliveries + deliveries, errors, gaps,
          duplicates);
    fflush(s_log);
    for (int i = 0; i < users; i++)
        zgm_user_destroy(&all[i].user);
    free(items);
    free(all);
    free(samples);
    free(body);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  conns: connections that join and vanish

typedef struct {
    int index;
    int threads;
    long long count;
    int pool;
    const char* dir;
    const char* group;
    uint64_t ok;
    uint64_t failed;
    uint64_t in_doubt; //  JOINs answered in doubt at first (each tried again)
    char why[256];
    char doubt[256]; //  what the last one in doubt was told
} conns_t;

//  How many times a JOIN answered in doubt is tried again, as an application would (a
//  JOIN repeated finds the membership: ZGM_EALREADY).
#define CONNS_DOUBT_RETRIES 3

static void* conns_thread(void* arg) {
    conns_t* self = (conns_t*)arg;
    for (long long i = self->index; i < self->count && !s_stop; i += self->threads) {
        char path[512];
        snprintf(path, sizeof path, "%s/pool%lld.cert", self->dir, i % self->pool);
        zgm_user_t* user = new_user("vanishing", path);
        if (!user) {
            self->failed++;
            continue;
        }
        int joined = zgm_user_join(user, self->group) == 0 || zgm_errno() == ZGM_EALREADY;
        if (!joined && zgm_errno() == ZGM_EINDOUBT) {
            //  No answer in time, and it may have taken effect: the user cannot know, an
            //  application asks again. Counted apart, and served only if a retry says so.
            self->in_doubt++;
            snprintf(self->doubt, sizeof self->doubt, "%s", zgm_strerror());
            for (int retry = 0; retry < CONNS_DOUBT_RETRIES && !joined && !s_stop; retry++) {
                joined = zgm_user_join(user, self->group) == 0 || zgm_errno() == ZGM_EALREADY;
                if (!joined && zgm_errno() != ZGM_EINDOUBT) break;
            }
        }
        if (joined) {
            self->ok++;
        } else {
            self->failed++;
            snprintf(self->why, sizeof self->why, "%s", zgm_strerror());
        }
        zgm_user_destroy(&user); //  no LEAVE: it vanishes
    }
    return NULL;
}

static int conns_main(void) {
    if (s_arg_count != 1) return 2;
    int threads = (int)opt_int("parallel", 16);
    long long count = opt_int("count", 1000);
    int pool = (int)opt_int("pool", 100);
    const char* dir = opt("keys", "/tmp");
    zsys_set_max_sockets(0);
    //  The pool's key files, made once by one thread (two makers would race).
    for (int i = 0; i < pool && i < count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/pool%d.cert", dir, i);
        if (zgm_keygen(path, NULL) != 0 && zgm_errno() != ZGM_EEXISTS) {
            fprintf(stderr, "faultapp conns: keygen %s: %s\n", path, zgm_strerror());
            return 2;
        }
    }
    conns_t* work = calloc((size_t)threads, sizeof *work);
    pthread_t* ids = calloc((size_t)threads, sizeof *ids);
    int64_t start = mono_ms();
    for (int i = 0; i < threads; i++) {
        work[i] = (conns_t){i, threads, count, pool, dir, s_args[0], 0, 0, 0, "", ""};
        pthread_create(&ids[i], NULL, conns_thread, &work[i]);
    }
    uint64_t ok = 0, failed = 0, in_doubt = 0;
    const char* why = "";
    const char* doubt = "";
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        ok += work[i].ok;
        failed += work[i].failed;
        in_doubt += work[i].in_doubt;
        if (work[i].why[0]) why = work[i].why;
        if (work[i].doubt[0]) doubt = work[i].doubt;
    }
    //  The reasons last, one a line: the harness reads the first line as pairs.
    printf("conns %lld ok %" PRIu64 " failed %" PRIu64 " in_doubt %" PRIu64 " elapsed_ms %" PRId64
           "\nlast_failure %s\nlast_doubt %s\n",
           count, ok, failed, in_doubt, mono_ms() - start, why, doubt);
    free(work);
    free(ids);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  malformed: frames no codec would make, over a proper CURVE connection

static int malformed_main(void) {
    const char* endpoint = opt("endpoint", NULL);
    long long count = opt_int("count", 1000);
    char server_key[ZGM_KEY_SIZE] = "";
    if (!endpoint || zgm_key_read(opt("server-key", ""), server_key) != 0) {
        fprintf(stderr, "faultapp malformed: --endpoint and --server-key\n");
        return 2;
    }
    zsock_t* socket = zsock_new(ZMQ_DEALER);
    zcert_t* cert = zcert_new();
    zcert_apply(cert, socket);
    zsock_set_curve_serverkey(socket, server_key);
    zsock_set_sndtimeo(socket, 5000);
    zsock_set_linger(socket, 0);
    if (zsock_connect(socket, "%s", endpoint) != 0) return 2;
    void* handle = zsock_resolve(socket);
    uint64_t replies = 0, sent = 0;
    unsigned seed = 12345;
    uint8_t frame[64];
    int64_t start = mono_ms();
    for (long long i = 0; i < count && !s_stop; i++) {
        size_t size = 8;
        //  header: signature 0xAAA1, id, version, request id
        frame[0] = 0xAA;
        frame[1] = 0xA1;
        frame[2] = 33; //  SEND
        frame[3] = 2;
        uint32_t request = (uint32_t)i + 1;
        frame[4] = (uint8_t)(request >> 24);
        frame[5] = (uint8_t)(request >> 16);
        frame[6] = (uint8_t)(request >> 8);
        frame[7] = (uint8_t)request;
        int more = 0;
        switch (i % 8) {
        case 0: //  noise
            size = 1 + rand_r(&seed) % 40;
            for (size_t b = 0; b < size; b++)
                frame[b] = (uint8_t)rand_r(&seed);
            break;
        case 1: //  an id nobody knows
            frame[2] = 0xEE;
            break;
        case 2: //  a string longer than what follows
            frame[8] = 200;
            frame[9] = 'g';
            size = 10;
            break;
        case 3: //  another version
            frame[3] = 3;
            break;
        case 4: //  nothing
            size = 0;
            break;
        case 5: //  a second frame
            frame[8] = 1;
            frame[9] = 'g';
            size = 10;
            more = 1;
            break;
        case 6: //  a list that says it holds four billion records
            frame[8] = 1;
            frame[9] = 'g';
            memset(frame + 10, 0xFF, 4);
            size = 14;
            break;
        default: //  one byte
            size = 1;
            break;
        }
        if (zmq_send(handle, frame, size, more ? ZMQ_SNDMORE : 0) < 0) break;
        if (more && zmq_send(handle, "x", 1, 0) < 0) break;
        sent++;
        char reply[512];
        while (zmq_recv(handle, reply, sizeof reply, ZMQ_DONTWAIT) >= 0)
            replies++;
    }
    int64_t wait_until = mono_ms() + opt_int("wait-ms", 5000);
    char reply[512];
    zsock_set_rcvtimeo(socket, 100);
    while (replies < sent && mono_ms() < wait_until && !s_stop)
        if (zmq_recv(handle, reply, sizeof reply, 0) >= 0) replies++;
    printf("malformed sent %" PRIu64 " replies %" PRIu64 " elapsed_ms %" PRId64 "\n", sent, replies,
           mono_ms() - start);
    zcert_destroy(&cert);
    zsock_destroy(&socket);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  integrity

static int integrity_callback(void* ok, int columns, char** values, char** names) {
    (void)names;
    for (int i = 0; i < columns; i++) {
        printf("%s\n", values[i] ? values[i] : "NULL");
        if (!values[i] || strcmp(values[i], "ok") != 0) *(int*)ok = 0;
    }
    return 0;
}

static int integrity_main(void) {
    if (s_arg_count != 1) return 2;
    sqlite3* db = NULL;
    if (sqlite3_open_v2(s_args[0], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "faultapp integrity: %s\n", db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return 1;
    }
    int ok = 1;
    char* error = NULL;
    if (sqlite3_exec(db, "PRAGMA integrity_check", integrity_callback, &ok, &error) != SQLITE_OK) {
        fprintf(stderr, "faultapp integrity: %s\n", error);
        sqlite3_free(error);
        ok = 0;
    }
    sqlite3_close(db);
    return ok ? 0 : 1;
}

//  ---------------------------------------------------------------------------------------

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: faultapp send|listen|fetch|probe|load|conns|malformed|stats|"
                        "integrity [OPTIONS] [ARGS]\n");
        return 2;
    }
    static const char* const flags[] = {"insecure", NULL};
    if (parse(argc - 2, argv + 2, flags) != 0) return 2;
    //  Our own SIGTERM and SIGINT handler: CZMQ installs its own at its first socket unless
    //  told not to, and would take the signals from us.
    setenv("ZSYS_SIGHANDLER", "false", 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    open_log();
    const char* role = argv[1];
    int rc = 2;
    if (strcmp(role, "send") == 0)
        rc = send_main();
    else if (strcmp(role, "listen") == 0)
        rc = listen_main();
    else if (strcmp(role, "fetch") == 0)
        rc = fetch_main();
    else if (strcmp(role, "probe") == 0)
        rc = probe_main();
    else if (strcmp(role, "load") == 0)
        rc = load_main();
    else if (strcmp(role, "conns") == 0)
        rc = conns_main();
    else if (strcmp(role, "malformed") == 0)
        rc = malformed_main();
    else if (strcmp(role, "stats") == 0)
        rc = stats_main();
    else if (strcmp(role, "integrity") == 0)
        rc = integrity_main();
    else
        fprintf(stderr, "faultapp: no role '%s'\n", role);
    if (s_log && s_log != stdout) fclose(s_log);
    return rc;
}
