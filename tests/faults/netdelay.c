/*  =========================================================================
    netdelay.c - holds every packet of an NFQUEUE queue for a fixed time, then lets it go

    The stand-in for `tc qdisc ... netem delay` on a kernel built without sch_netem (the
    one here: CONFIG_NET_SCH_NETEM is not set, and no other qdisc delays). iptables sends
    a link's packets to the queue (-j NFQUEUE --queue-num N --queue-bypass); this program
    accepts each one --delay-ms after it arrived, in arrival order, so the link keeps its
    order, as netem does without jitter. Loss is iptables' own (-m statistic).

        netdelay --queue N --delay-ms MS

    Runs until SIGTERM; with --queue-bypass on the rules, packets pass undelayed once it is
    gone.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAPACITY 65536

typedef struct {
    uint32_t id;
    int64_t release_us;
} held_t;

static held_t s_held[CAPACITY];
static size_t s_head, s_count;
static int64_t s_delay_us;
static volatile sig_atomic_t s_stop;
static unsigned long s_passed;

static int64_t mono_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void on_stop(int signo) {
    (void)signo;
    s_stop = 1;
}

static int on_packet(struct nfq_q_handle* queue, struct nfgenmsg* message, struct nfq_data* data,
                     void* arg) {
    (void)message;
    (void)arg;
    struct nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
    if (!header) return 0;
    uint32_t id = ntohl(header->packet_id);
    if (s_count == CAPACITY) //  full: let it go now rather than hold the kernel's queue
        return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
    s_held[(s_head + s_count) % CAPACITY] = (held_t){id, mono_us() + s_delay_us};
    s_count++;
    return 0;
}

static void release_due(struct nfq_q_handle* queue, int64_t now, int all) {
    while (s_count && (all || s_held[s_head].release_us <= now)) {
        nfq_set_verdict(queue, s_held[s_head].id, NF_ACCEPT, 0, NULL);
        s_head = (s_head + 1) % CAPACITY;
        s_count--;
        s_passed++;
    }
}

int main(int argc, char** argv) {
    int queue_number = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--queue") == 0) queue_number = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--delay-ms") == 0) s_delay_us = atoll(argv[i + 1]) * 1000;
    }
    if (queue_number < 0 || s_delay_us <= 0) {
        fprintf(stderr, "usage: netdelay --queue N --delay-ms MS\n");
        return 2;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    struct nfq_handle* handle = nfq_open();
    if (!handle) {
        fprintf(stderr, "netdelay: nfq_open: %s\n", strerror(errno));
        return 1;
    }
    struct nfq_q_handle* queue = nfq_create_queue(handle, (uint16_t)queue_number, on_packet, NULL);
    if (!queue || nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0) {
        fprintf(stderr, "netdelay: queue %d: %s\n", queue_number, strerror(errno));
        return 1;
    }
    nfq_set_queue_maxlen(queue, CAPACITY);
    int fd = nfq_fd(handle);
    printf("netdelay: queue %d, %lld ms\n", queue_number, (long long)(s_delay_us / 1000));
    fflush(stdout);
    char buffer[65536] __attribute__((aligned));
    while (!s_stop) {
        int64_t now = mono_us();
        release_due(queue, now, 0);
        int timeout = s_count ? (int)((s_held[s_head].release_us - now + 999) / 1000) : 100;
        if (timeout < 0) timeout = 0;
        struct pollfd item = {fd, POLLIN, 0};
        if (poll(&item, 1, timeout) <= 0) continue;
        ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got > 0) nfq_handle_packet(handle, buffer, (int)got);
    }
    release_due(queue, 0, 1);
    nfq_destroy_queue(queue);
    nfq_close(handle);
    printf("netdelay: passed %lu packets\n", s_passed);
    return 0;
}
