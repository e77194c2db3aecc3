/*  =========================================================================
    store_internal.h - what the memory and SQLite stores share: a group's state

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
//  (trimmed_seq, last_seq]: seqs are gapless and retention removes the oldest first.
struct LogState {
    uint64_t last_seq = 0;      //  newest seq ever stored; survives trimming
    uint64_t last_ts_us = 0;    //  its timestamp
    uint64_t trimmed_seq = 0;   //  newest seq removed by retention; 0 when none was
    uint64_t trimmed_ts_us = 0; //  its timestamp: no trimmed message is newer
    uint64_t bytes = 0;         //  body bytes of the retained messages
};

//  What a store keeps in memory about each group.
struct GroupState {
    std::string name;
    Uuid id;
    uint64_t created_us = 0;
    Retention retention;
    uint64_t member_count = 0;
    LogState log;
};

inline uint64_t retained_count(const LogState& log) {
    return log.last_seq - log.trimmed_seq;
}

inline uint64_t first_retained_seq(const LogState& log) {
    return log.last_seq > log.trimmed_seq ? log.trimmed_seq + 1 : 0;
}

//  True while retention asks for the oldest retained message to go.
inline bool over_retention(const LogState& log, const Retention& retention) {
    if (retained_count(log) == 0) return false;
    return (retention.max_count && retained_count(log) > retention.max_count) ||
           (retention.max_bytes && log.bytes > retention.max_bytes);
}

//  The timestamp of the group's next message: the clock, but never behind the last one.
inline uint64_t next_timestamp(const LogState& log, uint64_t now_us) {
    return std::max(now_us, log.last_ts_us);
}

//  The first seq a query can return, before its since_us is applied.
inline uint64_t first_candidate_seq(const LogState& log, const FetchQuery& query) {
    return std::max(query.after_seq, log.trimmed_seq) + 1;
}

//  True if retention removed a message the query asks for. The newest trimmed message is
//  also the newest in time, so checking it alone is exact.
inline bool fetch_truncated(const LogState& log, const FetchQuery& query) {
    return log.trimmed_seq > query.after_seq && log.trimmed_ts_us >= query.since_us;
}

inline GroupInfo group_info_of(const GroupState& group) {
    GroupInfo info;
    info.name = group.name;
    info.id = group.id;
    info.created_us = group.created_us;
    info.first_seq = first_retained_seq(group.log);
    info.last_seq = group.log.last_seq;
    info.last_ts_us = group.log.last_ts_us;
    info.member_count = group.member_count;
    info.retention = group.retention;
    return info;
}

inline Status no_such_group(const std::string& name) {
    return Status::error(Status::kNotFound, "store: no group '" + name + "'");
}

inline Status invalid_group_name() {
    return Status::error(Status::kInvalid, "store: a group name cannot be empty");
}

inline Status group_exists(const std::string& name) {
    return Status::error(Status::kExists, "store: group '" + name + "' already exists");
}

inline Status member_exists(const std::string& group, const Uuid& user) {
    return Status::error(Status::kExists,
                         "store: " + user.str() + " is already a member of '" + group + "'");
}

inline Status no_such_member(const std::string& group, const Uuid& user) {
    return Status::error(Status::kNotFound,
                         "store: " + user.str() + " is not a member of '" + group + "'");
}

inline bool orders_before(const Member& a, const Member& b) {
    return a.joined_us != b.joined_us ? a.joined_us < b.joined_us : a.id < b.id;
}

} // namespace store_internal
} // namespace zgm

#endif
