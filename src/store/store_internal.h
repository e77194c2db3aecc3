/*  =========================================================================
    store_internal.h - what the memory and SQLite stores share: a group's state, and the
    arithmetic of retention and of fetch queries over a gapless, time-ordered log

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_STORE_STORE_INTERNAL_H
#define ZGM_STORE_STORE_INTERNAL_H

#include "store/store.h"

#include <algorithm>

namespace zgm {
namespace store_internal {

//  The part of a group's state that an append or a trim changes, and that a failed
//  transaction must put back. The retained messages are always the contiguous range
//  (trimmed_seq, last_seq]: seqs are gapless and retention removes the oldest first. Their
//  timestamps never decrease along seq, so every time bound of a query is a seq bound too.
struct LogState {
    uint64_t last_seq = 0;          //  newest seq ever stored; survives trimming
    uint64_t last_timestamp = 0;    //  its timestamp
    uint64_t trimmed_seq = 0;       //  newest seq removed by retention; 0 when none was
    uint64_t trimmed_timestamp = 0; //  its timestamp: no trimmed message is newer
    uint64_t first_timestamp = 0;   //  the oldest retained message's timestamp; 0 when none
    uint64_t bytes = 0;             //  body bytes of the retained messages
};

//  What a store keeps in memory about each group.
struct GroupState {
    std::string name;
    Uuid id;
    uint64_t created_us = 0;
    Key owner;
    Policy policy = Policy::kOpen;
    Retention retention;
    uint64_t member_count = 0;
    LogState log;
};

inline bool valid_policy(Policy policy) {
    return policy == Policy::kOpen || policy == Policy::kMembers;
}

inline uint64_t retained_count(const LogState& log) {
    return log.last_seq - log.trimmed_seq;
}

inline uint64_t first_retained_seq(const LogState& log) {
    return log.last_seq > log.trimmed_seq ? log.trimmed_seq + 1 : 0;
}

//  True if max_age_us retention no longer keeps a message of this timestamp.
inline bool too_old(uint64_t timestamp, const Retention& retention, uint64_t now_us) {
    return retention.max_age_us && now_us > timestamp && now_us - timestamp > retention.max_age_us;
}

//  The retention a group is trimmed by: its own, each limit bounded by the store's ceiling
//  (Store::set_retention_ceiling) where that one is set.
inline Retention bounded(const Retention& own, const Retention& ceiling) {
    auto bound = [](uint64_t value, uint64_t limit) {
        return limit && (value == 0 || value > limit) ? limit : value;
    };
    Retention result;
    result.max_count = bound(own.max_count, ceiling.max_count);
    result.max_bytes = bound(own.max_bytes, ceiling.max_bytes);
    result.max_age_us = bound(own.max_age_us, ceiling.max_age_us);
    return result;
}

//  True while retention asks for the oldest retained message to go.
inline bool over_retention(const LogState& log, const Retention& retention, uint64_t now_us) {
    if (retained_count(log) == 0) return false;
    return (retention.max_count && retained_count(log) > retention.max_count) ||
           (retention.max_bytes && log.bytes > retention.max_bytes) ||
           too_old(log.first_timestamp, retention, now_us);
}

//  The timestamp of the group's next message: the clock, but never behind the last one.
inline uint64_t next_timestamp(const LogState& log, uint64_t now_us) {
    return std::max(now_us, log.last_timestamp);
}

//  The retained seqs a query's seq bounds select, [*first, *last]; false (and [1, 0]) when
//  none, or when its time bounds leave no room.
inline bool seq_bounds(const LogState& log, const FetchQuery& query, uint64_t* first,
                       uint64_t* last) {
    //  after_seq is the peer's: any value, UINT64_MAX too (none after it, not seq 0).
    uint64_t after = std::max(query.after_seq, log.trimmed_seq);
    *first = after < log.last_seq ? after + 1 : 1;
    *last = after < log.last_seq ? log.last_seq : 0;
    if (query.before_seq) *last = std::min(*last, query.before_seq - 1);
    if (query.until_us && query.until_us <= query.since_us) *last = 0;
    if (*first <= *last) return true;
    *first = 1;
    *last = 0;
    return false;
}

//  True if the query's time bounds can leave out a retained message in [first, last]: only
//  then does a store need to look up timestamps.
inline bool since_applies(const LogState& log, const FetchQuery& query) {
    return query.since_us > log.first_timestamp;
}

inline bool until_applies(const LogState& log, const FetchQuery& query) {
    return query.until_us && query.until_us <= log.last_timestamp;
}

//  How many trimmed messages lie within the query's bounds (see FetchSummary::missed):
//  exact for seq bounds, an upper bound where a time bound reaches into the trimmed range.
inline uint64_t trimmed_within(const LogState& log, const FetchQuery& query) {
    uint64_t last = log.trimmed_seq;
    if (query.before_seq) last = std::min(last, query.before_seq - 1);
    if (last <= query.after_seq) return 0;
    if (query.until_us && query.until_us <= query.since_us) return 0;
    //  No trimmed message is newer than trimmed_timestamp.
    if (query.since_us > log.trimmed_timestamp) return 0;
    return last - query.after_seq;
}

//  Of the messages [first, last] a query selects, the ones a limit lets it take; max_bytes
//  needs the body sizes and is each store's own walk.
inline void apply_limit(const FetchQuery& query, uint64_t* first, uint64_t* last) {
    if (!query.limit || *last - *first < query.limit) return;
    if (query.newest)
        *first = *last - query.limit + 1;
    else
        *last = *first + query.limit - 1;
}

//  more and missed, once a fetch knows the range [first, last] it selected and the range
//  [from, to] it returned (from > to: none).
inline void summarize(const LogState& log, const FetchQuery& query, uint64_t first, uint64_t last,
                      uint64_t from, uint64_t to, FetchSummary* summary) {
    bool returned = from <= to;
    summary->more = returned && (query.newest ? from > first : to < last);
    summary->missed = !query.newest || !summary->more ? trimmed_within(log, query) : 0;
    summary->first_seq = first_retained_seq(log);
    summary->last_seq = log.last_seq;
}

inline GroupInfo group_info_of(const GroupState& group) {
    GroupInfo info;
    info.name = group.name;
    info.id = group.id;
    info.created_us = group.created_us;
    info.first_seq = first_retained_seq(group.log);
    info.last_seq = group.log.last_seq;
    info.last_timestamp = group.log.last_timestamp;
    info.message_count = retained_count(group.log);
    info.bytes = group.log.bytes;
    info.member_count = group.member_count;
    info.owner = group.owner;
    info.policy = group.policy;
    info.retention = group.retention;
    return info;
}

inline Status no_such_group(const std::string& name) {
    return Status::error(Status::kNotFound, "store: no group '" + name + "'");
}

inline Status invalid_group_name() {
    return Status::error(Status::kInvalid, "store: a group name cannot be empty");
}

inline Status invalid_policy(Policy policy) {
    return Status::error(Status::kInvalid,
                         "store: " + std::to_string((int)policy) + " is not a group policy");
}

inline Status nil_key_not_allowed() {
    return Status::error(Status::kInvalid, "store: the nil key cannot be allowed into a group");
}

inline Status group_exists(const std::string& name) {
    return Status::error(Status::kExists, "store: group '" + name + "' already exists");
}

inline Status member_exists(const std::string& group, const Key& user) {
    return Status::error(Status::kExists,
                         "store: " + user.str() + " is already a member of '" + group + "'");
}

inline Status no_such_member(const std::string& group, const Key& user) {
    return Status::error(Status::kNotFound,
                         "store: " + user.str() + " is not a member of '" + group + "'");
}

inline Status not_allowed(const std::string& group, const Key& key) {
    return Status::error(Status::kNotFound,
                         "store: " + key.str() + " is not allowed into '" + group + "'");
}

//  A message id used by another sender of the group: the message is not stored.
inline Status another_senders_id(const Uuid& msg_id) {
    return Status::error(Status::kExists,
                         "store: message id " + msg_id.str() + " is another sender's");
}

} // namespace store_internal
} // namespace zgm

#endif
