/*  =========================================================================
    store.h - the message store: groups, members and messages of one group server

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_STORE_STORE_H
#define ZGM_STORE_STORE_H

#include "core/key.h"
#include "core/status.h"
#include "core/uuid.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace zgm {

//  Who may join a group.
enum class Policy : uint8_t {
    kOpen = 0,    //  any authenticated user
    kMembers = 1, //  only keys the owner allowed (and the owner)
};

//  A message as stored: the group server stamps seq and timestamp when it appends.
struct StoredMessage {
    uint64_t seq = 0;       //  gapless per group, from 1
    uint64_t timestamp = 0; //  UTC microseconds, never lower than the previous message's
    Key sender;             //  the sending user's public key
    std::string sender_name;
    Uuid msg_id; //  the client's message id; a repeat is stored once
    std::string body;
};

//  One message handed to Store::append.
struct AppendRequest {
    std::string group;
    Key sender;
    std::string sender_name;
    Uuid msg_id;
    std::string body;
};

//  What append made of one request, in the order of the requests.
struct AppendResult {
    Status status;          //  kNotFound for an unknown group, kInvalid for a message too large
                            //  for the store (SQLite: ~1 GB), kExists for a msg_id another
                            //  sender used; the rest of the batch still goes
    uint64_t seq = 0;       //  the message's seq (the original one for a duplicate)
    uint64_t timestamp = 0; //  the message's timestamp (the original one for a duplicate)
    bool duplicate = false; //  msg_id was seen before in this group from the same sender;
                            //  nothing new was stored
};

struct Member {
    Key key; //  any key, nil included: the store does not judge who joins
    std::string name;
    uint64_t joined_us = 0;
};

//  Where a page of members starts: after the member with this key who joined at joined_us.
struct MemberPlace {
    uint64_t joined_us = 0;
    Key key;
};

//  Oldest-first trimming per group; 0 means no limit.
struct Retention {
    uint64_t max_count = 0;
    uint64_t max_bytes = 0;  //  sum of body sizes
    uint64_t max_age_us = 0; //  a message goes once now_us - timestamp > max_age_us (at append,
                             //  set_retention and trim(), with the now_us they are given)
};

struct GroupInfo {
    std::string name;
    Uuid id;
    uint64_t created_us = 0;
    uint64_t first_seq = 0; //  oldest retained message; 0 when the group has none retained
    uint64_t last_seq = 0;  //  newest message ever stored; 0 when none
    uint64_t last_timestamp = 0;
    uint64_t message_count = 0; //  retained messages
    uint64_t bytes = 0;         //  body bytes of the retained messages
    uint64_t member_count = 0;
    Key owner; //  nil: no owner
    Policy policy = Policy::kOpen;
    Retention retention;
};

//  Selects messages with after_seq < seq < before_seq and since_us <= timestamp < until_us
//  (before_seq 0 and until_us 0: no upper bound), in seq order. Of those, the first
//  `limit` (oldest first), or with `newest` the last `limit` - still returned in seq order;
//  and at most about `max_bytes` of bodies, counted from the same end (always at least one
//  message when one matches). 0 for limit or max_bytes means no limit.
struct FetchQuery {
    std::string group;
    uint64_t since_us = 0;
    uint64_t until_us = 0;
    uint64_t after_seq = 0;
    uint64_t before_seq = 0;
    uint32_t limit = 0;
    uint64_t max_bytes = 0;
    bool newest = false;
};

//  What a fetch found besides the messages themselves.
//
//  missed counts the messages within the query's bounds that retention had trimmed (the
//  trimmed ones are always the oldest): reported by every oldest-first query, since they
//  would have come first, and by a `newest` query only once it reached the oldest retained
//  match (more is false), since before that they lie beyond what it took. Exact for bounds
//  by seq; with since_us (or an until_us at or below the newest trimmed message's time) an
//  upper bound, since the trimmed messages' own timestamps are gone - but 0 whenever
//  since_us is after every trimmed message.
struct FetchSummary {
    bool more = false;      //  more messages match beyond the returned ones, on the side the
                            //  query takes from: newer ones (oldest first) or older ones
                            //  (newest); false when nothing was returned
    uint64_t missed = 0;    //  see above
    uint64_t first_seq = 0; //  the group's oldest retained seq (0 if none)
    uint64_t last_seq = 0;  //  the group's newest seq (0 if none)
};

//  One message of a fetch, as the store hands it over: the pointers are valid only during
//  the call, so the caller can encode rows straight from the store's buffers. No pointer
//  is NULL except msg_id (for a message stored without one).
struct MessageView {
    uint64_t seq;
    uint64_t timestamp;
    const uint8_t* sender; //  kKeySize bytes
    const char* sender_name;
    size_t sender_name_size;
    const uint8_t* msg_id; //  16 bytes (a Uuid), or NULL: the client gave none
    const void* body;
    size_t body_size;
};

class FetchVisitor {
public:
    virtual ~FetchVisitor() = default;
    virtual void message(const MessageView& message) = 0;
};

struct FetchResult {
    std::vector<StoredMessage> messages;
    FetchSummary summary;
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

    //  Creates a group; kExists if the name is taken, kInvalid for an empty name or a policy
    //  that is not one of Policy's. owner may be nil (no owner).
    virtual Status create_group(const std::string& name, const Uuid& id, const Key& owner,
                                Policy policy) = 0;
    virtual Status list_groups(std::vector<GroupInfo>* groups) = 0;
    virtual Status group_info(const std::string& name, GroupInfo* info) = 0;
    //  Sets the group's own retention and trims at once (max_age_us against now_us).
    virtual Status set_retention(const std::string& group, const Retention& retention,
                                 uint64_t now_us) = 0;
    //  The group server's retention (its defaults): each limit set bounds that limit of every
    //  group's own, which is kept as it was set (a ceiling raised or removed later lets each
    //  group have what it asked for). Not stored: the server sets it at each start. Trims
    //  every group at once.
    virtual Status set_retention_ceiling(const Retention& ceiling, uint64_t now_us) = 0;
    //  owner may be nil (no owner). set_policy: kInvalid for a value not one of Policy's.
    virtual Status set_owner(const std::string& group, const Key& owner) = 0;
    virtual Status set_policy(const std::string& group, Policy policy) = 0;

    //  The keys the owner allowed to join (what Policy::kMembers admits), listed in byte
    //  order of the keys. allow is idempotent and kInvalid for the nil key; disallow of a
    //  key not allowed is kNotFound.
    virtual Status allow(const std::string& group, const Key& key) = 0;
    virtual Status disallow(const std::string& group, const Key& key) = 0;
    virtual Status allowed(const std::string& group, std::vector<Key>* keys) = 0;

    //  kExists if already a member (the stored name is then left as it was).
    virtual Status add_member(const std::string& group, const Member& member) = 0;
    //  kNotFound if not a member.
    virtual Status remove_member(const std::string& group, const Key& user) = 0;
    //  A page of the members in the order they joined: by joined_us, then by id among equal
    //  joined_us; those after `after` (nullptr: from the first), at most `limit`. A page is
    //  read from where it starts, whatever the group's size.
    virtual Status members(const std::string& group, const MemberPlace* after, size_t limit,
                           std::vector<Member>* members) = 0;
    //  All of them.
    Status members(const std::string& group, std::vector<Member>* all) {
        return members(group, nullptr, SIZE_MAX, all);
    }

    //  Appends every request in one transaction: each new message gets its group's next
    //  seq and timestamp = max(now_us, the group's last timestamp). Retention trims in the same
    //  transaction. Returns only after the commit returned; if the commit fails the
    //  status says why, results is left empty, and nothing of the batch is stored.
    virtual Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                          std::vector<AppendResult>* results) = 0;

    //  Who sent the group's message with this msg_id: this sender (Holder::kSender), another
    //  (kAnother), or none (kNone: an unknown id, or one retention has trimmed). kNotFound: no
    //  such group. For kSender, *original (if not NULL) gets its seq and timestamp.
    enum class Holder { kNone, kSender, kAnother };
    virtual Status holder(const std::string& group, const Key& sender, const Uuid& msg_id,
                          Holder* holder, AppendResult* original) = 0;

    //  Hands every selected message to the visitor, in seq order. If it fails, the visitor
    //  may have seen some of the messages; *summary is then left as it was.
    virtual Status fetch(const FetchQuery& query, FetchVisitor* visitor, FetchSummary* summary) = 0;
    //  The same, into owned messages (tests, tools); on failure result is left empty.
    Status fetch(const FetchQuery& query, FetchResult* result);

    //  Removes what retention no longer keeps (max_age_us as time passes; any of it after a
    //  change), in every group, a bounded number at a time: *trimmed (may be NULL) is how
    //  many messages went, *more (may be NULL) whether a group still holds more than its
    //  retention keeps, for a later call. set_retention, set_retention_ceiling and append
    //  trim within the same bound.
    virtual Status trim(uint64_t now_us, uint64_t* trimmed, bool* more) = 0;
    Status trim(uint64_t now_us, uint64_t* trimmed) { return trim(now_us, trimmed, nullptr); }
    //  Bytes the store takes on disk (database and its WAL; 0 for memory).
    virtual Status disk_size(uint64_t* bytes) = 0;
    //  Bytes of the newest messages kept in memory beside the database for fetches (at most
    //  what set_recent_limit said; 0 for the memory store, which keeps everything there).
    virtual uint64_t recent_bytes() const { return 0; }
    //  Keeps at most this many bytes of them (0: none), counted as allocated; the oldest go
    //  at once when they are over it. The group server's --max-recent-bytes.
    virtual void set_recent_limit(uint64_t bytes) { (void)bytes; }
};

//  The key a zgm 0.1 user id (16 bytes) becomes where a migrated store keeps it as a message's
//  sender: 16 zero bytes, then the old id (a real CURVE key starts so with a chance of 2^-128).
inline Key legacy_user_key(const Uuid& user) {
    Key key;
    memcpy(key.bytes + kKeySize - sizeof user.bytes, user.bytes, sizeof user.bytes);
    return key;
}

inline Status Store::fetch(const FetchQuery& query, FetchResult* result) {
    struct Collect : FetchVisitor {
        std::vector<StoredMessage>* messages;
        void message(const MessageView& view) override {
            messages->emplace_back();
            StoredMessage& stored = messages->back();
            stored.seq = view.seq;
            stored.timestamp = view.timestamp;
            stored.sender = Key::from_bytes(view.sender);
            stored.sender_name.assign(view.sender_name, view.sender_name_size);
            if (view.msg_id) memcpy(stored.msg_id.bytes, view.msg_id, sizeof stored.msg_id.bytes);
            stored.body.assign((const char*)view.body, view.body_size);
        }
    } collect;
    result->messages.clear();
    result->summary = FetchSummary();
    collect.messages = &result->messages;
    Status status = fetch(query, &collect, &result->summary);
    if (!status.is_ok()) result->messages.clear();
    return status;
}

//  Volatile store for tests and --memory.
std::unique_ptr<Store> open_memory_store();

//  SQLite in WAL mode: one database, `zgm.db`, in data_dir (created if missing), held
//  under an exclusive lock on `zgm.lock` for as long as the store is open: a second
//  store on the same directory, in this process or another, fails with kBusy and a message
//  naming the process that holds it. A database of schema 1 (zgm 0.1) is migrated in one
//  transaction (see sqlite_store.cc); a database of a newer schema is refused with kCorrupt.
//  say (may be empty) is given each line worth logging about what the open does beyond
//  opening, as it goes: that a migration starts (before its copy, which takes a while on a
//  big store), and what it kept and dropped once done. Nothing is said of an open that only
//  opens.
//  max_pages, when not 0, caps the database size (PRAGMA max_page_count) - for tests of a
//  full disk. The newest messages, ServerLimits' recent_bytes of them across groups until
//  set_recent_limit says otherwise, are also kept in memory as they are appended, and a fetch
//  of them reads no SQLite row (recent_rows.h).
using StoreSay = std::function<void(const std::string& line)>;
Status open_sqlite_store(const std::string& data_dir, Durability durability,
                         std::unique_ptr<Store>* store, const StoreSay& say = nullptr,
                         uint32_t max_pages = 0);

} // namespace zgm

#endif
