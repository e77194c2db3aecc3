/*  =========================================================================
    limits.h - what a server lets one peer make it hold, and how it refuses

    Every resource a peer can make a server hold has a limit with a default (ServerLimits),
    a flag, and its own refusal. RateLimiter keeps each key to its requests per second;
    RefusalLog turns a flood of refusals or malformed input into one log line per interval.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_LIMITS_H
#define ZGM_CORE_LIMITS_H

#include "core/key.h"

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

namespace zgm {

//  A server's limits; 0 means "no limit" where a field says so. docs/security.md lists
//  them with their flags.
struct ServerLimits {
    uint32_t rate = 1000;               //  requests per second per key (bursts of twice that)
    uint32_t connections = 1000;        //  concurrent connections
    uint32_t frame = 512 * 1024;        //  bytes in one frame read (libzmq cuts bigger ones)
    uint32_t groups = 10000;            //  groups a group server hosts, or the registry lists
    uint32_t groups_per_owner = 100;    //  groups one key may own on a group server
    uint32_t members = 10000;           //  members (and, apart, allowed keys) per group
    uint32_t follows = 1000;            //  groups one key may follow on a group server
    uint64_t follower_bytes = 4u << 20; //  bytes pushed to a follower beyond its last ack
    uint64_t recent_bytes = 8u << 20;   //  the newest messages kept in memory for fetches
    uint64_t unread_bytes = 16u << 20;  //  sent to one connection and not shown read
    uint64_t unread_total = 64u << 20;  //  the same, all connections together
};

//  The least --max-unread-bytes: the largest frame a server sends (zgm_proto's kMaxFrame),
//  so that no one answer puts a connection over the limit on its own (net/receipts.h).
constexpr uint64_t kMinUnreadBytes = 4u << 20;
//  The least --max-unread-total: the same.
constexpr uint64_t kMinUnreadTotal = kMinUnreadBytes;

//  The registry's defaults differ: its requests are small and it lists many groups.
inline ServerLimits registry_default_limits() {
    ServerLimits limits;
    limits.frame = 64 * 1024;
    limits.groups = 100000;
    return limits;
}

//  Why setting name refused value: under its least ("max-frame: at least 4096, not 100").
inline std::string under_least(const std::string& name, uint64_t least, const std::string& value) {
    return name + ": at least " + std::to_string(least) + ", not " + value;
}

//  The requests of one connection that libzmq reads ahead of a group server (its receive
//  high-water mark, which counts requests, not bytes: up to 5 GiB of 512 KiB frames). Far
//  more than a zgm user has in flight on a connection, also while a stalled server leaves
//  its sends unanswered (16 a group, sent again as their attempts lapse), so that a user's
//  connection never stops being read: libzmq 4.3.4 aborts the process when a connection
//  whose input stopped goes (Assertion failed: !_io_error, stream_engine_base.cpp:331).
//  With 32, a group server stalled under a user's sends aborted when the user went
//  (test_a_group_server_stalled_under_a_users_sends_goes_on_when_it_wakes). Past them, the
//  rest waits in TCP, which stops the sender. A peer that pipelines past them with heartbeats
//  of its own and then goes still makes libzmq abort (4 of 5 runs, insecure; a known fault:
//  known_fault_a_peer_gone_past_the_read_ahead_of_a_stalled_server_leaves_it_serving); 0,
//  unbounded, never aborts but lets a peer fill memory (docs/security.md).
constexpr int kReadAheadRequests = 10000;

//  The smallest --max-frame a group server accepts: a user's SEND batch must fit.
constexpr uint32_t kMinServerFrame = 320 * 1024;
//  The smallest --max-frame the registry accepts.
constexpr uint32_t kMinRegistryFrame = 4 * 1024;

//  Reserves descriptors for a server's max_connections (plus a margin for its own files and
//  sockets) out of the process's limit, raising the soft limit toward the hard one when it
//  must. False with *why (what to raise or lower) if the limit cannot hold them all.
bool reserve_descriptors(uint32_t connections, std::string* why);
//  Gives back what reserve_descriptors took.
void release_descriptors(uint32_t connections);

//  A token bucket per key: `rate` tokens a second, holding at most 2 x rate. A request of
//  cost N is admitted while the bucket holds any token and may take it below zero, so a
//  large batch is never refused for ever; the debt is paid before the next one. A refusal
//  says when to come back, and until then every request of that key is refused too, though
//  a part of a token came in the meantime: of a client's pipelined requests, those that
//  follow a refused one are refused with it (none is stored before it) and the retry time
//  it was told is the one that holds.
class RateLimiter {
public:
    void set_rate(uint32_t per_second) { rate_ = per_second; }
    //  True if key may go on; else false and *retry_ms says when it may.
    bool admit(const Key& key, uint32_t cost, int64_t now_ms, uint32_t* retry_ms);
    //  Forgets the keys whose bucket has filled up again (idle ones). Call now and then.
    void sweep(int64_t now_ms);
    size_t size() const { return buckets_.size(); }

private:
    struct Bucket {
        double tokens;
        int64_t at_ms;
        int64_t refused_until_ms = 0; //  the last refusal's retry time
    };
    static constexpr size_t kMaxKeys = 100000;
    double refill(Bucket& bucket, int64_t now_ms) const;
    uint32_t rate_ = 0;
    std::unordered_map<Key, Bucket, KeyHash> buckets_;
};

//  Counts refusals and malformed input by reason; logs the first of a quiet spell at once
//  and the rest as one line of counts per interval, so a flood cannot fill the log.
class RefusalLog {
public:
    explicit RefusalLog(const char* who, int interval_ms = 10000)
        : who_(who), interval_ms_(interval_ms) {}
    //  Reasons counted apart at most; the refusals of any other reason count as "other".
    static constexpr size_t kMaxReasons = 64;
    //  One refusal: reason is what is counted ("429 rate limited"), with any name in quotes
    //  in it left out ("401 group '…' has no owner": a peer cannot add a reason per name);
    //  the name, and detail (the key, the decode error), only show in the line logged at
    //  once.
    void note(const std::string& reason, const std::string& detail, int64_t now_ms);
    //  Logs the counts of an interval that has ended. Call now and then.
    void tick(int64_t now_ms);
    //  Every refusal since the start, by reason.
    const std::map<std::string, uint64_t>& totals() const { return totals_; }

private:
    const char* who_;
    int interval_ms_;
    int64_t interval_end_ms_ = 0; //  0: quiet (nothing logged in the current interval)
    std::map<std::string, uint64_t> pending_;
    std::map<std::string, uint64_t> totals_;
};

//  A budget of log lines for requests: at most per_second lines a second; the rest are
//  counted and said once per interval, so a peer's flood of requests cannot flood the log.
class LineBudget {
public:
    explicit LineBudget(const char* who, int per_second = 50, int interval_ms = 10000)
        : who_(who), per_second_(per_second), interval_ms_(interval_ms) {}
    //  True if one more request line may be logged now.
    bool take(int64_t now_ms);
    //  Says how many lines were held back, once an interval has passed. Call now and then.
    void tick(int64_t now_ms);

private:
    const char* who_;
    int per_second_;
    int interval_ms_;
    int64_t second_ms_ = 0;
    int used_ = 0;
    uint64_t held_back_ = 0;
    int64_t report_ms_ = 0;
};

} // namespace zgm

#endif
