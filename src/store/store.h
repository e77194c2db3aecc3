/*  =========================================================================
    store.h - the message store: groups, members and messages of one group server

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_STORE_STORE_H
#define ZGM_STORE_STORE_H

#include "core/status.h"
#include "core/uuid.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zgm {

//  A message as stored: the group server stamps seq and ts_us when it appends.
struct StoredMessage {
    uint64_t seq = 0;   //  gapless per group, from 1
    uint64_t ts_us = 0; //  UTC microseconds, never lower than the previous message's
    Uuid sender;        //  the sending user's id
    std::string sender_name;
    Uuid msg_id; //  the client's message id; a repeat is stored once
    std::string body;
};

//  One message handed to Store::append.
struct AppendRequest {
    std::string group;
    Uuid sender;
    std::string sender_name;
    Uuid msg_id;
    std::string body;
};

//  What append made of one request, in the order of the requests.
struct AppendResult {
    Status status;          //  kNotFound for an unknown group, kInvalid for a message too large
                            //  for the store (SQLite: ~1 GB); the rest of the batch still goes
    uint64_t seq = 0;       //  the message's seq (the original one for a duplicate)
    uint64_t ts_us = 0;     //  the message's timestamp (the original one for a duplicate)
    bool duplicate = false; //  msg_id was seen before in this group; nothing new was stored
};

struct Member {
    Uuid id;
    std::string name;
    uint64_t joined_us = 0;
};

//  Oldest-first trimming per group; 0 means no limit.
struct Retention {
    uint64_t max_count = 0;
    uint64_t max_bytes = 0; //  sum of body sizes
};

struct GroupInfo {
    std::string name;
    Uuid id;
    uint64_t created_us = 0;
    uint64_t first_seq = 0; //  oldest retained message; 0 when the group has none retained
    uint64_t last_seq = 0;  //  newest message ever stored; 0 when none
    uint64_t last_ts_us = 0;
    uint64_t member_count = 0;
    Retention retention;
};

//  Selects messages with seq > after_seq and ts_us >= since_us, in seq order, at most
//  `limit` of them and at most about `max_bytes` of bodies (always at least one message
//  when one matches). 0 for limit or max_bytes means no limit.
struct FetchQuery {
    std::string group;
    uint64_t since_us = 0;
    uint64_t after_seq = 0;
    uint32_t limit = 0;
    uint64_t max_bytes = 0;
};

struct FetchResult {
    std::vector<StoredMessage> messages;
    bool more = false;      //  more messages match after the last one returned
    bool truncated = false; //  the query reached below the retained range: messages it
                            //  asked for (seq <= first_seq - 1, > after_seq) were trimmed
    uint64_t first_seq = 0; //  the group's oldest retained seq (0 if none)
    uint64_t last_seq = 0;  //  the group's newest seq (0 if none)
};

enum class Durability {
    kFull,   //  fsync every commit (the default)
    kNormal, //  WAL without fsync on commit: survives a process crash, maybe not power loss
};

//  One store per group server. Not thread-safe: the group server's actor owns it.
//  Every call returns a Status; a failed call changes nothing that a later call can see.
class Store {
public:
    virtual ~Store() = default;

    //  Creates a group; kExists if the name is taken.
    virtual Status create_group(const std::string& name, const Uuid& id) = 0;
    virtual Status list_groups(std::vector<GroupInfo>* groups) = 0;
    virtual Status group_info(const std::string& name, GroupInfo* info) = 0;
    //  Sets the group's retention and trims at once.
    virtual Status set_retention(const std::string& group, const Retention& retention) = 0;

    //  kExists if already a member (the stored name is then left as it was).
    virtual Status add_member(const std::string& group, const Member& member) = 0;
    //  kNotFound if not a member.
    virtual Status remove_member(const std::string& group, const Uuid& user) = 0;
    virtual Status members(const std::string& group, std::vector<Member>* members) = 0;
    //  Sets *is_member; kNotFound only for an unknown group.
    virtual Status is_member(const std::string& group, const Uuid& user, bool* is_member) = 0;

    //  Appends every request in one transaction: each new message gets its group's next
    //  seq and ts_us = max(now_us, the group's last ts_us). Retention trims in the same
    //  transaction. Returns only after the commit returned; if the commit fails the
    //  status says why, results is left empty, and nothing of the batch is stored.
    virtual Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                          std::vector<AppendResult>* results) = 0;

    virtual Status fetch(const FetchQuery& query, FetchResult* result) = 0;
};

//  Volatile store for tests and --memory.
std::unique_ptr<Store> open_memory_store();

//  SQLite in WAL mode: one database, `zgm.db`, in data_dir (created if missing).
//  max_pages, when not 0, caps the database size (PRAGMA max_page_count) - for tests of a
//  full disk.
Status open_sqlite_store(const std::string& data_dir, Durability durability,
                         std::unique_ptr<Store>* store, uint32_t max_pages = 0);

} // namespace zgm

#endif
