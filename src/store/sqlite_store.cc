/*  =========================================================================
    sqlite_store.cc - the message store in one SQLite database, WAL mode

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/store.h"
#include "store/checkpointer.h"
#include "store/recent_rows.h"
#include "store/store_internal.h"
#include "core/clock.h"
#include "core/limits.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zgm {

using namespace store_internal;

namespace {

//  The schema this code reads and writes, kept in PRAGMA user_version. Schemas 1 (zgm 0.1)
//  and 2 are migrated at open; any other version is refused rather than guessed at.
const int kSchemaVersion = 3;
const int kSchemaVersionV1 = 1;
const int kSchemaVersionV2 = 2;

//  A message's row is keyed by group_seq: its group's key above the kSeqBits bits of its
//  seq. The SQL below spells the 44 out: the number is schema 3's, kept in every store.
const int kSeqBits = 44;
//  The most messages a group can store, and the most groups a store can hold.
const uint64_t kMaxSeq = (1ull << kSeqBits) - 1;
const int64_t kMaxGroupKey = (1ll << (63 - kSeqBits)) - 1;

int64_t group_seq(int64_t group_key, uint64_t seq) {
    return (int64_t)(((uint64_t)group_key << kSeqBits) | seq);
}

uint64_t seq_of(int64_t group_seq) {
    return (uint64_t)group_seq & kMaxSeq;
}

//  The most messages, and bytes of them, one transaction trims of what retention no longer
//  keeps (of all groups; a batch appended to a group trims as much more as it added): a
//  group's history is trimmed a part at a time, after a retention lowered or a long pause,
//  not in one transaction that holds the server's thread. About 20 ms here for small
//  messages: 100,000 trimmed at once took 548 ms of CPU, 300,000 stalled a group server 2 s.
const uint64_t kTrimmedPerTransaction = 4096;
const uint64_t kTrimmedBytesPerTransaction = 16 << 20;

//  A generous bound on what a message row holds besides its body and sender name.
const uint64_t kRowOverhead = 256;

//  groups: one row per group; the LogState columns are rewritten in every transaction that
//  appends to or trims the group, so last_seq survives even when every message is trimmed.
//  The columns after `bytes` came with schema 2, in the order the migration adds them, so
//  a migrated database and a new one have the same tables. owner is NULL for no owner.
//  members: read in pages by when they joined, then by key (kSchemaIndexes).
//  allowed: the keys the owner let in, per group.
//  messages (schema 3): keyed by group_seq, the rowid, so an append is an integer seek at
//  the end of its group's range in the table b-tree, plus the msg_id index; schema 2 keyed
//  it by (group_key, seq) without a rowid; SQLite takes 14 % less CPU a row appended with
//  group_seq (bench/sqlite_schemas). The unique index on (group, msg_id) is what deduplicates; a
//  message without an id stores NULL and is left out of it. Retention deletes rows, so
//  deduplication covers the retained messages only: a repeat of a trimmed message is
//  stored again as a new one. Time bounds of a fetch need no index: timestamps never
//  decrease along seq, so a binary search over group_seq finds them.
const char* const kSchemaGroups = R"sql(
CREATE TABLE groups (
    key INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    id BLOB NOT NULL,
    created_us INTEGER NOT NULL,
    max_count INTEGER NOT NULL DEFAULT 0,
    max_bytes INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_ts_us INTEGER NOT NULL DEFAULT 0,
    trimmed_seq INTEGER NOT NULL DEFAULT 0,
    trimmed_ts_us INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    max_age_us INTEGER NOT NULL DEFAULT 0,
    owner BLOB,
    policy INTEGER NOT NULL DEFAULT 0
);
)sql";

//  The messages table of schema 3; created by a new database and by the migration alike.
const char* const kSchemaMessages = R"sql(
CREATE TABLE messages (
    group_seq INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    sender BLOB NOT NULL,
    sender_name TEXT NOT NULL,
    msg_id BLOB,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX messages_msg_id ON messages (group_seq >> 44, msg_id)
    WHERE msg_id IS NOT NULL;
)sql";

//  The tables schema 2 made new; created by a new database and by the migration alike.
const char* const kSchemaNewInV2 = R"sql(
CREATE TABLE members (
    group_key INTEGER NOT NULL,
    user BLOB NOT NULL,
    name TEXT NOT NULL,
    joined_us INTEGER NOT NULL,
    UNIQUE (group_key, user)
);
CREATE TABLE allowed (
    group_key INTEGER NOT NULL,
    key BLOB NOT NULL,
    PRIMARY KEY (group_key, key)
) WITHOUT ROWID;
)sql";

//  Indexes that a store of schema 3 may lack (made before them) are made at open: an index
//  changes no row's meaning, and an older zgm of schema 3 keeps it up to date too.
//  members_by_joined: a page of MEMBERS is read from where it starts, not sorted from all
//  of the group's members.
const char* const kSchemaIndexes = R"sql(
CREATE INDEX IF NOT EXISTS members_by_joined ON members (group_key, joined_us, user);
)sql";

//  From zgm 0.1 (schema 1): user ids were 16-byte UUIDs a client chose, which prove
//  nothing, and are now 32-byte CURVE keys that the ZAP handler proves. A message keeps its
//  sender as legacy_user_key(old id), so the history still tells its senders apart (their
//  names are kept as they were); the members of 0.1 cannot be carried over as keys, so they
//  are dropped and join again. Groups get no owner and the open policy, as in 0.1.
const char* const kMigrateFromV1 = R"sql(
ALTER TABLE groups ADD COLUMN max_age_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN owner BLOB;
ALTER TABLE groups ADD COLUMN policy INTEGER NOT NULL DEFAULT 0;
DROP TABLE members;
UPDATE messages SET sender = zgm_legacy_user_key(sender);
)sql";

//  From schema 2: the messages move to the table of schema 3 (kSchemaMessages, made after
//  this), keyed by group_seq, kMigrateChunk at a time: each chunk is copied, then deleted
//  from the old table, whose freed pages the next chunks take, so the file does not grow by
//  a second copy of the history.
const char* const kMigrateFromV2 = R"sql(
DROP INDEX messages_msg_id;
ALTER TABLE messages RENAME TO messages_v2;
)sql";
const int kMigrateChunk = 10000;
const char* const kMigrateChunkCopy =
    "INSERT INTO messages (group_seq, ts_us, sender, sender_name, msg_id, body)"
    " SELECT (group_key << 44) | seq, ts_us, sender, sender_name, msg_id, body"
    " FROM messages_v2 ORDER BY group_key, seq LIMIT ?1";
//  ?1 the last group_seq copied.
const char* const kMigrateChunkDelete =
    "DELETE FROM messages_v2 WHERE (group_key, seq) <= (?1 >> 44, ?1 & ((1 << 44) - 1))";

//  Every statement the store runs after opening, prepared once for the store's life.
enum StatementId {
    kBegin,
    kCommit,
    kRollback,
    kInsertGroup,
    kUpdateRetention,
    kUpdateOwner,
    kUpdatePolicy,
    kSaveLog,
    kInsertAllowed,
    kDeleteAllowed,
    kSelectAllowed,
    kInsertMember,
    kDeleteMember,
    kSelectMembers,
    kInsertMessage,
    kSelectByMsgId,
    kSelectTimestamp,
    kSelectMessages,
    kSelectSizesBackward,
    kSelectOldest,
    kDeleteMessages,
    kStatementCount
};

const char* const kStatements[kStatementCount] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO groups (name, id, created_us, owner, policy, key)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "UPDATE groups SET max_count = ?2, max_bytes = ?3, max_age_us = ?4 WHERE key = ?1",
    "UPDATE groups SET owner = ?2 WHERE key = ?1",
    "UPDATE groups SET policy = ?2 WHERE key = ?1",
    "UPDATE groups SET last_seq = ?2, last_ts_us = ?3, trimmed_seq = ?4, trimmed_ts_us = ?5,"
    " bytes = ?6 WHERE key = ?1",
    "INSERT OR IGNORE INTO allowed (group_key, key) VALUES (?1, ?2)",
    "DELETE FROM allowed WHERE group_key = ?1 AND key = ?2",
    "SELECT key FROM allowed WHERE group_key = ?1 ORDER BY key",
    "INSERT INTO members (group_key, user, name, joined_us) VALUES (?1, ?2, ?3, ?4)",
    "DELETE FROM members WHERE group_key = ?1 AND user = ?2",
    "SELECT user, name, joined_us FROM members WHERE group_key = ?1"
    " AND (joined_us, user) > (?2, ?3) ORDER BY joined_us, user LIMIT ?4",
    //  Seqs are bound and read as group_seq (group_seq () and seq_of ()); the msg_id look-up
    //  names the index's expression as the index does.
    "INSERT INTO messages (group_seq, ts_us, sender, sender_name, msg_id, body)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "SELECT group_seq, ts_us, sender FROM messages"
    " WHERE group_seq >> 44 = ?1 AND msg_id = ?2",
    "SELECT ts_us FROM messages WHERE group_seq = ?1",
    "SELECT group_seq, ts_us, sender, sender_name, msg_id, body FROM messages"
    " WHERE group_seq >= ?1 AND group_seq <= ?2 ORDER BY group_seq",
    //  length() of a blob column reads the record header, not the body.
    "SELECT group_seq, length(body) FROM messages WHERE group_seq >= ?1 AND group_seq <= ?2"
    " ORDER BY group_seq DESC",
    "SELECT group_seq, ts_us, length(body) FROM messages WHERE group_seq > ?1 AND group_seq <= ?2"
    " ORDER BY group_seq",
    "DELETE FROM messages WHERE group_seq > ?1 AND group_seq <= ?2",
};

Status::Code code_of(int rc) {
    //  A sync that failed after the writes went through (a commit's sync of the WAL): the
    //  transaction may be found whole by the recovery after a crash. (Every other failure of
    //  a commit stops before its last frame is written, and a later commit writes over it.)
    if (rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR_DIR_FSYNC) return Status::kInDoubt;
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return Status::kFull;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return Status::kReadOnly;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return Status::kCorrupt;
    default:
        return Status::kIo;
    }
}

Status::Code code_of_errno(int error) {
    switch (error) {
    case EROFS:
    case EACCES:
    case EPERM:
        return Status::kReadOnly;
    case ENOSPC:
    case EDQUOT:
        return Status::kFull;
    default:
        return Status::kIo;
    }
}

//  Creates dir and its missing parents, like mkdir -p.
Status make_directories(const std::string& dir) {
    for (size_t end = 1; end != std::string::npos && end <= dir.size();) {
        end = dir.find('/', end);
        std::string path = dir.substr(0, end);
        if (end != std::string::npos) end++;
        if (mkdir(path.c_str(), 0755) == 0) continue;
        int error = errno;
        struct stat info;
        if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) continue;
        //  Something else by that name (a file): said as such, not "File exists".
        if (error == EEXIST)
            return Status::error(Status::kIo, "store: " + path + " is not a directory");
        return Status::error(code_of_errno(error), "store: cannot create data directory " + path +
                                                       ": " + strerror(error));
    }
    return Status::ok();
}

std::string plural(uint64_t count, const char* one, const char* many) {
    return std::to_string(count) + " " + (count == 1 ? one : many);
}

//  This process's command line, arguments joined by spaces, on one line and cut short.
std::string command_line() {
    std::string line;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return line;
    char buffer[512];
    ssize_t size;
    while (line.size() < 300 && (size = read(fd, buffer, sizeof buffer)) > 0)
        line.append(buffer, (size_t)size);
    close(fd);
    if (line.size() > 300) line = line.substr(0, 297) + "...";
    while (!line.empty() && line.back() == '\0')
        line.pop_back();
    for (char& c : line)
        if (c == '\0' || c == '\n' || c == '\r') c = ' ';
    return line;
}

//  The one-store-per-directory lock: flock on DIR/zgm.lock, which holds the PID and command
//  line of its holder for the message another opener gets. flock belongs to the open file
//  description, so a second open in the same process is refused as surely as one from
//  another process; the kernel drops the lock when its holder exits, however it exits.
//  The file itself stays: removing it would race with the next opener.
class DirectoryLock {
public:
    DirectoryLock() = default;
    ~DirectoryLock() {
        if (fd_ >= 0) close(fd_);
    }
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

    Status acquire(const std::string& dir) {
        std::string path = dir + "/zgm.lock";
        int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int error = errno;
            return Status::error(code_of_errno(error),
                                 "store: cannot open " + path + ": " + strerror(error));
        }
        int rc;
        do
            rc = flock(fd, LOCK_EX | LOCK_NB);
        while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            int error = errno;
            std::string holder = error == EWOULDBLOCK ? holder_of(fd) : std::string();
            close(fd);
            if (error != EWOULDBLOCK)
                return Status::error(Status::kIo,
                                     "store: cannot lock " + path + ": " + strerror(error));
            return Status::error(
                Status::kBusy,
                "store: the store in " + dir + " is in use by " +
                    (holder.empty() ? "another process (it holds " + path + ")" : holder));
        }
        fd_ = fd;
        //  Who holds it, for the message of the next opener. A failure to write (a full
        //  disk) leaves that message vaguer but the lock as good.
        std::string content = std::to_string((long long)getpid()) + "\n" + command_line() + "\n";
        bool written = ftruncate(fd, 0) == 0 &&
                       pwrite(fd, content.data(), content.size(), 0) == (ssize_t)content.size();
        (void)written;
        return Status::ok();
    }

private:
    //  "process 1234 (zgm group --data DIR)", from what the holder wrote; empty if nothing.
    static std::string holder_of(int fd) {
        char buffer[512];
        ssize_t size = pread(fd, buffer, sizeof buffer - 1, 0);
        if (size <= 0) return std::string();
        std::string content(buffer, (size_t)size);
        size_t end = content.find('\n');
        if (end == std::string::npos || end == 0) return std::string();
        std::string pid = content.substr(0, end);
        if (pid.find_first_not_of("0123456789") != std::string::npos) return std::string();
        std::string command = content.substr(end + 1);
        command = command.substr(0, command.find('\n'));
        std::string holder = "process " + pid;
        if (!command.empty()) holder += " (" + command + ")";
        if (pid == std::to_string((long long)getpid())) holder += ", this very process";
        return holder;
    }

    int fd_ = -1;
};

//  Resets a cached statement when it goes out of scope, ready for its next use.
class ResetOnExit {
public:
    explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~ResetOnExit() { sqlite3_reset(stmt_); }
    ResetOnExit(const ResetOnExit&) = delete;
    ResetOnExit& operator=(const ResetOnExit&) = delete;

private:
    sqlite3_stmt* stmt_;
};

//  The bound values must outlive the statement's step: every caller binds from memory it
//  holds until the statement is reset.
void bind_u64(sqlite3_stmt* stmt, int index, uint64_t value) {
    sqlite3_bind_int64(stmt, index, (sqlite3_int64)value);
}

void bind_i64(sqlite3_stmt* stmt, int index, int64_t value) {
    sqlite3_bind_int64(stmt, index, (sqlite3_int64)value);
}

void bind_uuid(sqlite3_stmt* stmt, int index, const Uuid& uuid) {
    sqlite3_bind_blob(stmt, index, uuid.bytes, sizeof uuid.bytes, SQLITE_STATIC);
}

void bind_key(sqlite3_stmt* stmt, int index, const Key& key) {
    sqlite3_bind_blob(stmt, index, key.bytes, sizeof key.bytes, SQLITE_STATIC);
}

//  A nil key is stored as NULL: no owner.
void bind_key_or_null(sqlite3_stmt* stmt, int index, const Key& key) {
    if (key.is_nil())
        sqlite3_bind_null(stmt, index);
    else
        bind_key(stmt, index, key);
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
    sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void bind_bytes(sqlite3_stmt* stmt, int index, const std::string& bytes) {
    sqlite3_bind_blob64(stmt, index, bytes.data(), bytes.size(), SQLITE_STATIC);
}

uint64_t column_u64(sqlite3_stmt* stmt, int index) {
    return (uint64_t)sqlite3_column_int64(stmt, index);
}

std::string column_bytes(sqlite3_stmt* stmt, int index) {
    const void* data = sqlite3_column_blob(stmt, index);
    int size = sqlite3_column_bytes(stmt, index);
    return data && size > 0 ? std::string((const char*)data, (size_t)size) : std::string();
}

//  A NULL or a value of the wrong size reads as the nil id.
Uuid column_uuid(sqlite3_stmt* stmt, int index) {
    Uuid uuid;
    const void* data = sqlite3_column_blob(stmt, index);
    if (data && sqlite3_column_bytes(stmt, index) == (int)sizeof uuid.bytes)
        memcpy(uuid.bytes, data, sizeof uuid.bytes);
    return uuid;
}

//  False for a value that is not a key (NULL reads as the nil key when null_is_nil).
bool column_key(sqlite3_stmt* stmt, int index, Key* key, bool null_is_nil = false) {
    *key = Key();
    if (null_is_nil && sqlite3_column_type(stmt, index) == SQLITE_NULL) return true;
    const void* data = sqlite3_column_blob(stmt, index);
    if (!data || sqlite3_column_bytes(stmt, index) != (int)kKeySize) return false;
    *key = Key::from_bytes(data);
    return true;
}

//  zgm_legacy_user_key(id): the migration's SQL function, legacy_user_key of a 16-byte id.
void legacy_user_key_function(sqlite3_context* context, int, sqlite3_value** values) {
    const void* data = sqlite3_value_blob(values[0]);
    if (!data || sqlite3_value_bytes(values[0]) != (int)sizeof(Uuid::bytes)) {
        sqlite3_result_error(context, "a sender is not a zgm 0.1 user id (16 bytes)", -1);
        return;
    }
    Uuid user;
    memcpy(user.bytes, data, sizeof user.bytes);
    Key key = legacy_user_key(user);
    sqlite3_result_blob(context, key.bytes, sizeof key.bytes, SQLITE_TRANSIENT);
}

//  After each commit, with the pages in the WAL.
int on_commit(void* checkpointer, sqlite3* db, const char*, int wal_pages) {
    ((Checkpointer*)checkpointer)->committed(db, wal_pages);
    return SQLITE_OK;
}

//  Groups, members, allowed keys and messages in one SQLite database in WAL mode. Each
//  append is one transaction; the per-group state is cached in memory and put back when a
//  transaction fails, so the cache always matches what is committed.
class SqliteStore : public Store {
public:
    using Store::fetch;

    ~SqliteStore() override;
    Status open(const std::string& data_dir, Durability durability, uint32_t max_pages,
                const StoreSay& say);

    Status create_group(const std::string& name, const Uuid& id, const Key& owner,
                        Policy policy) override;
    Status list_groups(std::vector<GroupInfo>* groups) override;
    Status group_info(const std::string& name, GroupInfo* info) override;
    Status set_retention(const std::string& group, const Retention& retention,
                         uint64_t now_us) override;
    Status set_retention_ceiling(const Retention& ceiling, uint64_t now_us) override;
    Status set_owner(const std::string& group, const Key& owner) override;
    Status set_policy(const std::string& group, Policy policy) override;

    Status allow(const std::string& group, const Key& key) override;
    Status disallow(const std::string& group, const Key& key) override;
    Status allowed(const std::string& group, std::vector<Key>* keys) override;

    Status add_member(const std::string& group, const Member& member) override;
    Status remove_member(const std::string& group, const Key& user) override;
    Status members(const std::string& group, const MemberPlace* after, size_t limit,
                   std::vector<Member>* members) override;

    Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                  std::vector<AppendResult>* results) override;
    Status holder(const std::string& group, const Key& sender, const Uuid& msg_id, Holder* holder,
                  AppendResult* original) override;
    Status fetch(const FetchQuery& query, FetchVisitor* visitor, FetchSummary* summary) override;
    Status trim(uint64_t now_us, uint64_t* trimmed, bool* more) override;
    Status disk_size(uint64_t* bytes) override;
    uint64_t recent_bytes() const override { return recent_.bytes(); }
    void set_recent_limit(uint64_t bytes) override {
        recent_.set_max_bytes((size_t)std::min<uint64_t>(bytes, SIZE_MAX));
    }

private:
    struct Group {
        int64_t key = 0;
        GroupState state;
    };

    Group* find(const std::string& name) {
        auto it = groups_.find(name);
        return it == groups_.end() ? nullptr : &it->second;
    }
    Status failure(int rc, const std::string& what) const;
    Status corrupt(const std::string& what) const;
    Status exec(const char* sql, const std::string& what);
    Status run(StatementId id, const std::string& what);
    //  The rows of statement id for the group named: its ?1 is the group's key, and bind
    //  binds the rest.
    template <typename Row, typename Bind, typename ReadRow>
    Status group_rows(const std::string& name, StatementId id, const char* rows_are,
                      const char* row_is, const char* flaw, std::vector<Row>* rows, Bind bind,
                      ReadRow read_row);
    Status check_schema();
    Status count_before_migrating(int version, const char* sql, uint64_t* counts, int count);
    Status migrate_from_v1();
    Status migrate_from_v2(bool say_so);
    Status copy_messages_v2();
    void say(const std::string& line) {
        if (say_) say_(line);
    }
    Status load_groups();
    Status begin();
    Status commit();
    void rollback();
    Status insert_message(Group* group, const AppendRequest& request, uint64_t now_us,
                          AppendResult* result);
    Status lookup_msg_id(const Group& group, const Key& sender, const Uuid& msg_id, Holder* holder,
                         AppendResult* original);
    Status find_original(Group* group, const AppendRequest& request, AppendResult* result);
    //  What a transaction may still trim.
    struct TrimBudget {
        uint64_t messages;
        uint64_t bytes;
    };
    Status trim(Group* group, uint64_t now_us, TrimBudget* budget, uint64_t* trimmed);
    Status save_log(const Group& group);
    Status timestamp_of(const Group& group, uint64_t seq, uint64_t* timestamp);
    Status seek_timestamp(const Group& group, uint64_t timestamp, uint64_t* first, uint64_t last);
    Status bytes_from_newest(const Group& group, const FetchQuery& query, uint64_t* from,
                             uint64_t to);

    DirectoryLock lock_; //  released after the destructor closed the database
    sqlite3* db_ = nullptr;
    std::unique_ptr<Checkpointer> checkpointer_; //  closed before db_
    std::string dir_;
    std::string path_;
    StoreSay say_;             //  during open only
    std::string trimmed_last_; //  the group trim (now_us) trimmed last: the next starts after it
    std::string migrated_;     //  what a migration kept, said once it is committed
    uint64_t max_row_bytes_ = 0;
    sqlite3_stmt* stmts_[kStatementCount] = {};
    std::map<std::string, Group> groups_;
    int64_t max_key_ = 0; //  the highest group key in the groups table
    Retention ceiling_;   //  set_retention_ceiling's
    RecentRows recent_{ServerLimits().recent_bytes};
};

SqliteStore::~SqliteStore() {
    checkpointer_.reset();
    for (sqlite3_stmt* stmt : stmts_)
        sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
}

Status SqliteStore::failure(int rc, const std::string& what) const {
    const char* reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return Status::error(code_of(rc), "store: " + what + ": " + reason + " (" + path_ + ")");
}

Status SqliteStore::corrupt(const std::string& what) const {
    return Status::error(Status::kCorrupt, "store: " + what + " (" + path_ + ")");
}

Status SqliteStore::exec(const char* sql, const std::string& what) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::ok() : failure(rc, what);
}

Status SqliteStore::run(StatementId id, const std::string& what) {
    sqlite3_stmt* stmt = stmts_[id];
    ResetOnExit reset(stmt);
    int rc = sqlite3_step(stmt);
    return rc == SQLITE_DONE ? Status::ok() : failure(rc, what);
}

Status SqliteStore::begin() {
    return run(kBegin, "cannot begin a transaction");
}

Status SqliteStore::commit() {
    return run(kCommit, "cannot commit");
}

//  SQLite may already have rolled back on its own (after SQLITE_FULL, for example).
void SqliteStore::rollback() {
    if (!sqlite3_get_autocommit(db_)) run(kRollback, "cannot roll back");
}

Status SqliteStore::open(const std::string& data_dir, Durability durability, uint32_t max_pages,
                         const StoreSay& say) {
    say_ = say;
    //  SQLite counts the memory it allocates under a global mutex, on every allocation
    //  (several per message stored); zgm reads none of those counts. Turned off before SQLite
    //  starts: once it has started (a store opened before, or the process's own use of
    //  SQLite), the call fails and changes nothing, and the process keeps its setting.
    //  Durable send: about 1,040 instructions fewer a message (BENCHMARKS.md). The mutex:
    //  sqlite3_config is not thread-safe, and group servers open their stores on their own
    //  threads.
    {
        static std::mutex configuring;
        std::lock_guard<std::mutex> hold(configuring);
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    }
    dir_ = data_dir;
    path_ = data_dir + "/zgm.db";
    Status status = lock_.acquire(data_dir);
    if (!status.is_ok()) return status;
    int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return failure(rc, "cannot open the database");
    sqlite3_extended_result_codes(db_, 1);
    max_row_bytes_ = (uint64_t)sqlite3_limit(db_, SQLITE_LIMIT_LENGTH, -1);
    if (sqlite3_db_readonly(db_, "main") == 1)
        return Status::error(Status::kReadOnly,
                             "store: the database can only be opened read-only (" + path_ + ")");
    sqlite3_busy_timeout(db_, 5000);

    //  The first statement reads the file header: a file that is not a database fails here.
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &stmt, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    std::string mode = rc == SQLITE_ROW ? column_bytes(stmt, 0) : std::string();
    status = rc == SQLITE_ROW ? Status::ok() : failure(rc, "cannot open the database");
    sqlite3_finalize(stmt);
    if (!status.is_ok()) return status;
    if (mode != "wal")
        return Status::error(Status::kIo, "store: cannot switch to WAL mode, journal mode is " +
                                              mode + " (" + path_ + ")");
    //  Checkpoints beside this thread, not in its commits (checkpointer.h). The hook replaces
    //  SQLite's own checkpoint rule.
    checkpointer_.reset(new Checkpointer(path_, durability == Durability::kFull));
    sqlite3_wal_hook(db_, on_commit, checkpointer_.get());

    status = exec(durability == Durability::kNormal ? "PRAGMA synchronous = NORMAL"
                                                    : "PRAGMA synchronous = FULL",
                  "cannot set the durability");
    if (status.is_ok())
        status = exec("PRAGMA journal_size_limit = 16777216", "cannot limit the WAL size");
    //  The cap comes after a migration, which copies the messages once: a store near its cap
    //  can still be migrated (SQLite keeps a cap below the file's size at that size).
    if (status.is_ok()) status = check_schema();
    if (status.is_ok() && max_pages) {
        std::string sql = "PRAGMA max_page_count = " + std::to_string(max_pages);
        status = exec(sql.c_str(), "cannot cap the database size");
    }
    for (int id = 0; status.is_ok() && id < kStatementCount; id++) {
        rc = sqlite3_prepare_v3(db_, kStatements[id], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[id],
                                nullptr);
        if (rc != SQLITE_OK) status = failure(rc, std::string("cannot prepare ") + kStatements[id]);
    }
    if (status.is_ok()) status = load_groups();
    say_ = nullptr;
    return status;
}

//  Creates the schema in an empty database, migrates one of zgm 0.1, or checks that an
//  existing one is of this version - in one transaction.
Status SqliteStore::check_schema() {
    Status status = exec("BEGIN IMMEDIATE", "cannot read the schema");
    if (!status.is_ok()) return status;
    int version = -1;
    int tables = -1;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(
        db_, "SELECT (SELECT user_version FROM pragma_user_version), count(*) FROM sqlite_master",
        -1, &stmt, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        version = sqlite3_column_int(stmt, 0);
        tables = sqlite3_column_int(stmt, 1);
    } else {
        status = failure(rc, "cannot read the schema version");
    }
    sqlite3_finalize(stmt);
    std::string set_version = "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";\n";
    if (status.is_ok()) {
        if (version == 0 && tables == 0) {
            std::string sql =
                std::string(kSchemaGroups) + kSchemaMessages + kSchemaNewInV2 + set_version;
            status = exec(sql.c_str(), "cannot create the schema");
        } else if (version == 0) {
            status = corrupt("the database is not a zgm store (it has tables but no schema "
                             "version)");
        } else if (version == kSchemaVersionV1 || version == kSchemaVersionV2) {
            if (version == kSchemaVersionV1) status = migrate_from_v1();
            if (status.is_ok()) status = migrate_from_v2(version == kSchemaVersionV2);
            if (status.is_ok()) status = exec(set_version.c_str(), "cannot migrate the store");
        } else if (version > kSchemaVersion) {
            status = corrupt("the database has schema version " + std::to_string(version) +
                             ", newer than this zgm knows (" + std::to_string(kSchemaVersion) +
                             "): a newer zgm wrote it, and an older one cannot read it. Run a "
                             "zgm of that version or newer on " +
                             dir_ + ", or move that directory aside to start an empty store");
        } else if (version != kSchemaVersion) {
            status = corrupt("the database has schema version " + std::to_string(version) +
                             ", which no zgm writes");
        }
    }
    if (status.is_ok()) status = exec(kSchemaIndexes, "cannot create the store's indexes");
    if (status.is_ok()) status = exec("COMMIT", "cannot create the schema");
    if (!status.is_ok() && !sqlite3_get_autocommit(db_))
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (status.is_ok() && !migrated_.empty()) say(migrated_);
    return status;
}

//  What a migration reads first: the one row of `count` integers of sql, run on a store of
//  schema `version` (?1 is kMaxGroupKey and ?2 kMaxSeq where sql has them).
Status SqliteStore::count_before_migrating(int version, const char* sql, uint64_t* counts,
                                           int count) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        Status status = corrupt("the database has schema version " + std::to_string(version) +
                                " but not its tables: " + sqlite3_errmsg(db_));
        sqlite3_finalize(stmt);
        return status;
    }
    if (sqlite3_bind_parameter_count(stmt) >= 2) {
        bind_i64(stmt, 1, kMaxGroupKey);
        bind_u64(stmt, 2, kMaxSeq);
    }
    rc = sqlite3_step(stmt);
    for (int i = 0; i < count; i++)
        counts[i] = column_u64(stmt, i);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? Status::ok() : failure(rc, "cannot read the store to migrate it");
}

//  Schema 1 to 2, inside check_schema's transaction (see kMigrateFromV1).
Status SqliteStore::migrate_from_v1() {
    uint64_t counts[4] = {};
    Status status = count_before_migrating(kSchemaVersionV1,
                                           "SELECT (SELECT count(*) FROM groups), (SELECT count(*)"
                                           " FROM messages), (SELECT count(*) FROM members),"
                                           " (SELECT count(*) FROM messages WHERE length(sender)"
                                           " != 16)",
                                           counts, 4);
    if (!status.is_ok()) return status;
    uint64_t groups = counts[0];
    uint64_t messages = counts[1];
    uint64_t members = counts[2];
    uint64_t odd_senders = counts[3];
    if (odd_senders)
        return corrupt(
            "cannot migrate from zgm 0.1: " + plural(odd_senders, "message has", "messages have") +
            " a sender that is not a 0.1 user id");
    say("migrating the store in " + dir_ + " from zgm 0.1: " + plural(groups, "group", "groups") +
        ", " + plural(messages, "message", "messages") + "; nothing is served until it is done");
    int rc = sqlite3_create_function(db_, "zgm_legacy_user_key", 1,
                                     SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                     nullptr, legacy_user_key_function, nullptr, nullptr);
    if (rc != SQLITE_OK) return failure(rc, "cannot migrate the store from zgm 0.1");
    std::string sql = std::string(kMigrateFromV1) + kSchemaNewInV2;
    status = exec(sql.c_str(), "cannot migrate the store from zgm 0.1");
    if (!status.is_ok()) return status;
    migrated_ = "migrated the store in " + dir_ +
                " from zgm 0.1: " + plural(groups, "group", "groups") + ", " +
                plural(messages, "message", "messages") + " kept, " +
                plural(members, "member", "members") +
                " dropped (0.1 user ids are not keys; members join again)";
    return Status::ok();
}

//  Schema 2 to 3, inside check_schema's transaction (see kMigrateFromV2); with say_so it
//  says what it does (a store of 0.1 has said so already).
Status SqliteStore::migrate_from_v2(bool say_so) {
    uint64_t counts[4] = {};
    Status status = count_before_migrating(
        kSchemaVersionV2,
        "SELECT (SELECT count(*) FROM groups), (SELECT count(*) FROM messages), (SELECT"
        " count(*) FROM messages WHERE group_key < 1 OR group_key > ?1 OR seq < 1 OR seq > ?2),"
        " (SELECT count(*) FROM groups WHERE key < 1 OR key > ?1)",
        counts, 4);
    if (!status.is_ok()) return status;
    uint64_t groups = counts[0];
    uint64_t messages = counts[1];
    uint64_t beyond = counts[2];
    uint64_t groups_beyond = counts[3];
    if (beyond || groups_beyond)
        return corrupt(
            "cannot migrate the store to schema 3: " +
            (beyond ? plural(beyond, "message has", "messages have") + " a group key or a seq"
                    : plural(groups_beyond, "group has", "groups have") + " a key") +
            " beyond what schema 3 keys");
    if (say_so)
        say("migrating the store in " + dir_ +
            " from schema 2 to 3: " + plural(groups, "group", "groups") + ", " +
            plural(messages, "message", "messages") + "; nothing is served until it is done");
    std::string sql = std::string(kMigrateFromV2) + kSchemaMessages;
    status = exec(sql.c_str(), "cannot migrate the store to schema 3");
    if (status.is_ok()) status = copy_messages_v2();
    if (status.is_ok()) status = exec("DROP TABLE messages_v2", "cannot migrate the store");
    if (!status.is_ok()) return status;
    if (say_so)
        migrated_ = "migrated the store in " + dir_ +
                    " from schema 2 to 3: " + plural(groups, "group", "groups") + ", " +
                    plural(messages, "message", "messages") + " kept";
    return Status::ok();
}

//  migrate_from_v2's copy, a chunk at a time (see kMigrateFromV2).
Status SqliteStore::copy_messages_v2() {
    sqlite3_stmt* copy = nullptr;
    sqlite3_stmt* last = nullptr;
    sqlite3_stmt* remove = nullptr;
    int rc = sqlite3_prepare_v2(db_, kMigrateChunkCopy, -1, &copy, nullptr);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db_, "SELECT max(group_seq) FROM messages", -1, &last, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db_, kMigrateChunkDelete, -1, &remove, nullptr);
    while (rc == SQLITE_OK) {
        sqlite3_bind_int(copy, 1, kMigrateChunk);
        rc = sqlite3_step(copy);
        sqlite3_reset(copy);
        if (rc != SQLITE_DONE || sqlite3_changes(db_) == 0) break;
        rc = sqlite3_step(last);
        int64_t copied = sqlite3_column_int64(last, 0);
        sqlite3_reset(last);
        if (rc != SQLITE_ROW) break;
        bind_i64(remove, 1, copied);
        rc = sqlite3_step(remove);
        sqlite3_reset(remove);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(copy);
    sqlite3_finalize(last);
    sqlite3_finalize(remove);
    return rc == SQLITE_DONE ? Status::ok() : failure(rc, "cannot migrate the store to schema 3");
}

//  The group_seqs of group `key`, from seq 0 to kMaxSeq: (key + 1) << bits would overflow
//  for the last key.
#define GROUP_RANGE "group_seq >= key << 44 AND group_seq <= (key << 44) | ((1 << 44) - 1)"

//  Fills the cache from the groups table and checks that each group's messages are the
//  range its metadata says.
Status SqliteStore::load_groups() {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(
        db_,
        "SELECT key, name, id, created_us, max_count, max_bytes, max_age_us, owner, policy,"
        " last_seq, last_ts_us, trimmed_seq, trimmed_ts_us, bytes,"
        " (SELECT count(*) FROM members WHERE group_key = key),"
        " (SELECT group_seq FROM messages WHERE " GROUP_RANGE " ORDER BY group_seq LIMIT 1),"
        " (SELECT group_seq FROM messages WHERE " GROUP_RANGE " ORDER BY group_seq DESC LIMIT 1),"
        " (SELECT ts_us FROM messages WHERE " GROUP_RANGE " ORDER BY group_seq LIMIT 1)"
        " FROM groups",
        -1, &stmt, nullptr);
    Status status;
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt)) {
        Group group;
        group.key = sqlite3_column_int64(stmt, 0);
        max_key_ = std::max(max_key_, group.key);
        GroupState& state = group.state;
        state.name = column_bytes(stmt, 1);
        state.id = column_uuid(stmt, 2);
        state.created_us = column_u64(stmt, 3);
        state.retention.max_count = column_u64(stmt, 4);
        state.retention.max_bytes = column_u64(stmt, 5);
        state.retention.max_age_us = column_u64(stmt, 6);
        bool owner_ok = column_key(stmt, 7, &state.owner, true);
        int64_t policy = sqlite3_column_int64(stmt, 8);
        state.policy = (Policy)policy;
        state.log.last_seq = column_u64(stmt, 9);
        state.log.last_timestamp = column_u64(stmt, 10);
        state.log.trimmed_seq = column_u64(stmt, 11);
        state.log.trimmed_timestamp = column_u64(stmt, 12);
        state.log.bytes = column_u64(stmt, 13);
        state.member_count = column_u64(stmt, 14);
        uint64_t min_seq = seq_of(sqlite3_column_int64(stmt, 15));
        uint64_t max_seq = seq_of(sqlite3_column_int64(stmt, 16));
        state.log.first_timestamp = column_u64(stmt, 17);
        if (group.key < 1 || group.key > kMaxGroupKey) {
            status = corrupt("group '" + state.name + "' has a key beyond what schema 3 keys");
            break;
        }
        if (!owner_ok || policy < 0 || policy > 255 || !valid_policy(state.policy)) {
            status = corrupt("group '" + state.name +
                             "' has an owner or a policy zgm does not "
                             "know");
            break;
        }
        if (state.log.trimmed_seq > state.log.last_seq ||
            min_seq != first_retained_seq(state.log) ||
            max_seq != (min_seq ? state.log.last_seq : 0)) {
            status = corrupt("the messages of group '" + state.name +
                             "' do not match its metadata (seq " + std::to_string(min_seq) + ".." +
                             std::to_string(max_seq) + ", expected " +
                             std::to_string(first_retained_seq(state.log)) + ".." +
                             std::to_string(state.log.last_seq) + ")");
            break;
        }
        groups_[state.name] = group;
    }
    if (status.is_ok() && rc != SQLITE_DONE) status = failure(rc, "cannot load the groups");
    sqlite3_finalize(stmt);
    return status;
}

Status SqliteStore::create_group(const std::string& name, const Uuid& id, const Key& owner,
                                 Policy policy) {
    if (name.empty()) return invalid_group_name();
    if (!valid_policy(policy)) return invalid_policy(policy);
    if (find(name)) return group_exists(name);
    //  Groups are never deleted: keys go 1, 2, 3... up to what a group_seq can hold.
    if (max_key_ >= kMaxGroupKey)
        return Status::error(Status::kFull, "store: the store holds the most groups it can (" +
                                                std::to_string(kMaxGroupKey) + ")");
    Group group;
    group.state.name = name;
    group.state.id = id;
    group.state.created_us = zgm::now_us();
    group.state.owner = owner;
    group.state.policy = policy;
    sqlite3_stmt* stmt = stmts_[kInsertGroup];
    ResetOnExit reset(stmt);
    bind_text(stmt, 1, name);
    bind_uuid(stmt, 2, id);
    bind_u64(stmt, 3, group.state.created_us);
    bind_key_or_null(stmt, 4, owner);
    bind_u64(stmt, 5, (uint64_t)policy);
    bind_i64(stmt, 6, max_key_ + 1);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return failure(rc, "cannot create group '" + name + "'");
    group.key = max_key_ + 1;
    max_key_ = group.key;
    groups_[name] = group;
    return Status::ok();
}

Status SqliteStore::list_groups(std::vector<GroupInfo>* groups) {
    groups->clear();
    for (const auto& entry : groups_)
        groups->push_back(group_info_of(entry.second.state));
    return Status::ok();
}

Status SqliteStore::group_info(const std::string& name, GroupInfo* info) {
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    *info = group_info_of(group->state);
    return Status::ok();
}

Status SqliteStore::save_log(const Group& group) {
    sqlite3_stmt* stmt = stmts_[kSaveLog];
    const LogState& log = group.state.log;
    bind_u64(stmt, 1, group.key);
    bind_u64(stmt, 2, log.last_seq);
    bind_u64(stmt, 3, log.last_timestamp);
    bind_u64(stmt, 4, log.trimmed_seq);
    bind_u64(stmt, 5, log.trimmed_timestamp);
    bind_u64(stmt, 6, log.bytes);
    return run(kSaveLog, "cannot update group '" + group.state.name + "'");
}

//  Deletes the oldest messages while retention asks for it and *budget lasts, takes them
//  from it, and adds how many went to *trimmed. Changes the cached LogState: the caller
//  saves it, or puts it back if the transaction fails.
Status SqliteStore::trim(Group* group, uint64_t now_us, TrimBudget* budget, uint64_t* trimmed) {
    LogState& log = group->state.log;
    const Retention retention = bounded(group->state.retention, ceiling_);
    if (budget->messages == 0 || budget->bytes == 0 || !over_retention(log, retention, now_us))
        return Status::ok();
    LogState after = log;
    uint64_t freed = 0;
    {
        //  Walks from the oldest message until one is kept (it is the new oldest).
        sqlite3_stmt* stmt = stmts_[kSelectOldest];
        ResetOnExit reset(stmt);
        bind_i64(stmt, 1, group_seq(group->key, log.trimmed_seq));
        bind_i64(stmt, 2, group_seq(group->key, kMaxSeq));
        for (;;) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE) {
                if (retained_count(after) != 0)
                    return corrupt("messages of group '" + group->state.name + "' are missing");
                after.first_timestamp = 0;
                break;
            }
            if (rc != SQLITE_ROW)
                return failure(rc, "cannot trim group '" + group->state.name + "'");
            if (seq_of(sqlite3_column_int64(stmt, 0)) != after.trimmed_seq + 1)
                return corrupt("the messages of group '" + group->state.name + "' have a gap");
            after.first_timestamp = column_u64(stmt, 1);
            if (!over_retention(after, retention, now_us)) break;
            if (after.trimmed_seq - log.trimmed_seq >= budget->messages || freed >= budget->bytes)
                break; //  the rest later
            uint64_t size = column_u64(stmt, 2);
            freed += size;
            after.trimmed_seq++;
            after.trimmed_timestamp = after.first_timestamp;
            after.bytes -= std::min(size, after.bytes);
        }
    }
    sqlite3_stmt* stmt = stmts_[kDeleteMessages];
    bind_i64(stmt, 1, group_seq(group->key, log.trimmed_seq));
    bind_i64(stmt, 2, group_seq(group->key, after.trimmed_seq));
    Status status = run(kDeleteMessages, "cannot trim group '" + group->state.name + "'");
    if (!status.is_ok()) return status;
    uint64_t count = after.trimmed_seq - log.trimmed_seq;
    *trimmed += count;
    budget->messages -= count;
    budget->bytes -= std::min(freed, budget->bytes);
    log = after;
    return Status::ok();
}

Status SqliteStore::set_retention(const std::string& name, const Retention& retention,
                                  uint64_t now_us) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    const Retention saved_retention = group->state.retention;
    const LogState saved_log = group->state.log;
    Status status = begin();
    if (!status.is_ok()) return status;
    sqlite3_stmt* stmt = stmts_[kUpdateRetention];
    bind_u64(stmt, 1, group->key);
    bind_u64(stmt, 2, retention.max_count);
    bind_u64(stmt, 3, retention.max_bytes);
    bind_u64(stmt, 4, retention.max_age_us);
    status = run(kUpdateRetention, "cannot set the retention of '" + name + "'");
    group->state.retention = retention;
    uint64_t trimmed = 0;
    TrimBudget budget{kTrimmedPerTransaction, kTrimmedBytesPerTransaction};
    if (status.is_ok()) status = trim(group, now_us, &budget, &trimmed);
    if (status.is_ok()) status = save_log(*group);
    if (status.is_ok()) status = commit();
    if (!status.is_ok()) {
        rollback();
        group->state.retention = saved_retention;
        group->state.log = saved_log;
        return status;
    }
    recent_.kept_from(group->key, group->state.log.trimmed_seq + 1);
    return status;
}

Status SqliteStore::set_retention_ceiling(const Retention& ceiling, uint64_t now_us) {
    ceiling_ = ceiling;
    return trim(now_us, nullptr, nullptr);
}

Status SqliteStore::set_owner(const std::string& name, const Key& owner) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kUpdateOwner];
    bind_u64(stmt, 1, group->key);
    bind_key_or_null(stmt, 2, owner);
    Status status = run(kUpdateOwner, "cannot set the owner of '" + name + "'");
    if (status.is_ok()) group->state.owner = owner;
    return status;
}

Status SqliteStore::set_policy(const std::string& name, Policy policy) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (!valid_policy(policy)) return invalid_policy(policy);
    sqlite3_stmt* stmt = stmts_[kUpdatePolicy];
    bind_u64(stmt, 1, group->key);
    bind_u64(stmt, 2, (uint64_t)policy);
    Status status = run(kUpdatePolicy, "cannot set the policy of '" + name + "'");
    if (status.is_ok()) group->state.policy = policy;
    return status;
}

Status SqliteStore::allow(const std::string& name, const Key& key) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (key.is_nil()) return nil_key_not_allowed();
    sqlite3_stmt* stmt = stmts_[kInsertAllowed];
    bind_u64(stmt, 1, group->key);
    bind_key(stmt, 2, key);
    return run(kInsertAllowed, "cannot allow a key into '" + name + "'");
}

Status SqliteStore::disallow(const std::string& name, const Key& key) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kDeleteAllowed];
    bind_u64(stmt, 1, group->key);
    bind_key(stmt, 2, key);
    Status status = run(kDeleteAllowed, "cannot disallow a key from '" + name + "'");
    if (!status.is_ok()) return status;
    if (sqlite3_changes(db_) == 0) return not_allowed(name, key);
    return Status::ok();
}

//  The rows statement id selects for group name's key (its parameter 1), read into *rows
//  (emptied first, and again on failure) by read_row (stmt, &row), which is false for a
//  corrupt row. The errors say "cannot read <rows_are> of 'name'" and "<row_is> of 'name'
//  <flaw>".
template <typename Row, typename Bind, typename ReadRow>
Status SqliteStore::group_rows(const std::string& name, StatementId id, const char* rows_are,
                               const char* row_is, const char* flaw, std::vector<Row>* rows,
                               Bind bind, ReadRow read_row) {
    rows->clear();
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[id];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind(stmt);
    int rc;
    Status status;
    while (status.is_ok() && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        rows->emplace_back();
        if (!read_row(stmt, &rows->back()))
            status = corrupt(std::string(row_is) + " of '" + name + "' " + flaw);
    }
    if (status.is_ok() && rc != SQLITE_DONE)
        status = failure(rc, std::string("cannot read ") + rows_are + " of '" + name + "'");
    if (!status.is_ok()) rows->clear();
    return status;
}

Status SqliteStore::allowed(const std::string& name, std::vector<Key>* keys) {
    return group_rows(
        name, kSelectAllowed, "the allowed keys", "an allowed key", "is not a key", keys,
        [](sqlite3_stmt*) {},
        [](sqlite3_stmt* stmt, Key* key) { return column_key(stmt, 0, key); });
}

Status SqliteStore::add_member(const std::string& name, const Member& member) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kInsertMember];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind_key(stmt, 2, member.key);
    bind_text(stmt, 3, member.name);
    bind_u64(stmt, 4, member.joined_us);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) return member_exists(name, member.key);
    if (rc != SQLITE_DONE) return failure(rc, "cannot add a member to '" + name + "'");
    group->state.member_count++;
    return Status::ok();
}

Status SqliteStore::remove_member(const std::string& name, const Key& user) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kDeleteMember];
    bind_u64(stmt, 1, group->key);
    bind_key(stmt, 2, user);
    Status status = run(kDeleteMember, "cannot remove a member from '" + name + "'");
    if (!status.is_ok()) return status;
    if (sqlite3_changes(db_) == 0) return no_such_member(name, user);
    group->state.member_count--;
    return Status::ok();
}

Status SqliteStore::members(const std::string& name, const MemberPlace* after, size_t limit,
                            std::vector<Member>* members) {
    //  Timestamps are stored as SQLite's signed integers: none is after one past them.
    if (after && after->joined_us > (uint64_t)INT64_MAX) {
        members->clear();
        return find(name) ? Status::ok() : no_such_group(name);
    }
    auto bind = [&](sqlite3_stmt* stmt) {
        //  From the first: after joined_us -1 and the empty id, before every member.
        bind_i64(stmt, 2, after ? (int64_t)after->joined_us : -1);
        if (after)
            bind_key(stmt, 3, after->key);
        else
            sqlite3_bind_zeroblob(stmt, 3, 0);
        bind_i64(stmt, 4, limit > (size_t)INT64_MAX ? -1 : (int64_t)limit); //  -1: no limit
    };
    return group_rows(name, kSelectMembers, "the members", "a member",
                      "has an id that is not a key", members, bind,
                      [](sqlite3_stmt* stmt, Member* member) {
                          member->name = column_bytes(stmt, 1);
                          member->joined_us = column_u64(stmt, 2);
                          return column_key(stmt, 0, &member->key);
                      });
}

Status SqliteStore::holder(const std::string& name, const Key& sender, const Uuid& msg_id,
                           Holder* holder, AppendResult* original) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    return lookup_msg_id(*group, sender, msg_id, holder, original);
}

//  holder's answer for a group found: one look-up in the msg_id index.
Status SqliteStore::lookup_msg_id(const Group& group, const Key& sender, const Uuid& msg_id,
                                  Holder* holder, AppendResult* original) {
    sqlite3_stmt* stmt = stmts_[kSelectByMsgId];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group.key);
    bind_uuid(stmt, 2, msg_id);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failure(rc, "cannot look up message " + msg_id.str());
    *holder = rc != SQLITE_ROW ? Holder::kNone
              : sqlite3_column_bytes(stmt, 2) == (int)kKeySize &&
                      memcmp(sqlite3_column_blob(stmt, 2), sender.bytes, kKeySize) == 0
                  ? Holder::kSender
                  : Holder::kAnother;
    if (original && *holder == Holder::kSender) {
        original->seq = seq_of(sqlite3_column_int64(stmt, 0));
        original->timestamp = column_u64(stmt, 1);
        original->duplicate = true;
    }
    return Status::ok();
}

//  Looks up the message a repeated msg_id first stored.
Status SqliteStore::find_original(Group* group, const AppendRequest& request,
                                  AppendResult* result) {
    Holder holder = Holder::kNone;
    Status status = lookup_msg_id(*group, request.sender, request.msg_id, &holder, result);
    if (!status.is_ok()) return status;
    if (holder == Holder::kNone)
        return corrupt("message " + request.msg_id.str() + " in '" + group->state.name +
                       "' is both there and missing");
    //  A repeat is one only from the same sender: another's id is not its to reuse.
    if (holder == Holder::kAnother) result->status = another_senders_id(request.msg_id);
    return Status::ok();
}

//  Inserts one message, or finds its original when its msg_id is a repeat: the unique
//  index rejects the insert, which costs nothing extra for the common, new message.
Status SqliteStore::insert_message(Group* group, const AppendRequest& request, uint64_t now_us,
                                   AppendResult* result) {
    LogState& log = group->state.log;
    uint64_t seq = log.last_seq + 1;
    if (seq > kMaxSeq) {
        //  A repeat is still answered with its seq: it was stored before the group filled.
        Holder holder = Holder::kNone;
        Status status = request.msg_id.is_nil() ? Status::ok()
                                                : lookup_msg_id(*group, request.sender,
                                                                request.msg_id, &holder, result);
        if (!status.is_ok() || holder == Holder::kSender) return status;
        result->status =
            holder == Holder::kAnother
                ? another_senders_id(request.msg_id)
                : Status::error(Status::kFull, "store: group '" + group->state.name +
                                                   "' has stored the most messages a group can (" +
                                                   std::to_string(kMaxSeq) + ")");
        return Status::ok();
    }
    uint64_t timestamp = next_timestamp(log, now_us);
    sqlite3_stmt* stmt = stmts_[kInsertMessage];
    int rc;
    {
        ResetOnExit reset(stmt);
        bind_i64(stmt, 1, group_seq(group->key, seq));
        bind_u64(stmt, 2, timestamp);
        bind_key(stmt, 3, request.sender);
        bind_text(stmt, 4, request.sender_name);
        if (request.msg_id.is_nil())
            sqlite3_bind_null(stmt, 5);
        else
            bind_uuid(stmt, 5, request.msg_id);
        bind_bytes(stmt, 6, request.body);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT_UNIQUE)
            return failure(rc, "cannot store a message in '" + group->state.name + "'");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) return find_original(group, request, result);
    if (retained_count(log) == 0) log.first_timestamp = timestamp;
    log.last_seq = seq;
    log.last_timestamp = timestamp;
    log.bytes += request.body.size();
    result->seq = seq;
    result->timestamp = timestamp;
    return Status::ok();
}

Status SqliteStore::append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                           std::vector<AppendResult>* results) {
    results->clear();
    if (batch.empty()) return Status::ok();
    std::vector<AppendResult> done(batch.size());
    //  The cached state of every group the batch touches, as it was before.
    std::vector<std::pair<Group*, LogState>> saved;
    Status status = begin();
    if (!status.is_ok()) return status;
    Group* group = nullptr;
    for (size_t i = 0; i < batch.size() && status.is_ok(); i++) {
        const AppendRequest& request = batch[i];
        if (!group || group->state.name != request.group) group = find(request.group);
        if (!group) {
            done[i].status = no_such_group(request.group);
            continue;
        }
        //  SQLite caps the size of a row; a message over it is refused on its own.
        uint64_t size = request.body.size() + request.sender_name.size();
        if (size + kRowOverhead > max_row_bytes_) {
            done[i].status =
                Status::error(Status::kInvalid, "store: a message of " + std::to_string(size) +
                                                    " bytes is too large to store");
            continue;
        }
        bool seen = false;
        for (const auto& entry : saved)
            seen = seen || entry.first == group;
        if (!seen) saved.emplace_back(group, group->state.log);
        status = insert_message(group, request, now_us, &done[i]);
    }
    //  Trimming waits for the end of the batch, so a repeat later in the batch still finds
    //  its original. Each group trims what the batch added to it, and a part more of what it
    //  held past its retention before.
    uint64_t trimmed = 0;
    for (size_t i = 0; i < saved.size() && status.is_ok(); i++) {
        const LogState& before = saved[i].second;
        const LogState& now = saved[i].first->state.log;
        TrimBudget budget{kTrimmedPerTransaction + (now.last_seq - before.last_seq),
                          kTrimmedBytesPerTransaction + (now.bytes - before.bytes)};
        status = trim(saved[i].first, now_us, &budget, &trimmed);
        if (status.is_ok()) status = save_log(*saved[i].first);
    }
    if (status.is_ok()) status = commit();
    if (!status.is_ok()) {
        rollback();
        for (const auto& entry : saved)
            entry.first->state.log = entry.second;
        return status;
    }
    //  Committed: the new messages are the newest of their groups in memory too.
    group = nullptr;
    for (size_t i = 0; i < batch.size(); i++) {
        const AppendRequest& request = batch[i];
        if (!done[i].status.is_ok() || done[i].duplicate) continue;
        if (!group || group->state.name != request.group) group = find(request.group);
        recent_.add(group->key, done[i].seq, done[i].timestamp, request.sender, request.sender_name,
                    request.msg_id, request.body);
    }
    for (const auto& entry : saved)
        recent_.kept_from(entry.first->key, entry.first->state.log.trimmed_seq + 1);
    *results = std::move(done);
    return Status::ok();
}

Status SqliteStore::trim(uint64_t now_us, uint64_t* trimmed, bool* more) {
    if (trimmed) *trimmed = 0;
    if (more) *more = false;
    auto over = [&](const Group& group) {
        return over_retention(group.state.log, bounded(group.state.retention, ceiling_), now_us);
    };
    //  The groups over their retention, from the one after the group last trimmed here and
    //  round: one with a long history past it does not hold the others back.
    std::vector<Group*> over_groups;
    auto start = groups_.upper_bound(trimmed_last_);
    for (auto entry = start; entry != groups_.end(); ++entry)
        if (over(entry->second)) over_groups.push_back(&entry->second);
    for (auto entry = groups_.begin(); entry != start; ++entry)
        if (over(entry->second)) over_groups.push_back(&entry->second);
    if (over_groups.empty()) return Status::ok();
    Status status = begin();
    if (!status.is_ok()) return status;
    std::vector<std::pair<Group*, LogState>> saved; //  the groups trimmed, as they were
    uint64_t count = 0;
    TrimBudget budget{kTrimmedPerTransaction, kTrimmedBytesPerTransaction};
    for (size_t i = 0; i < over_groups.size() && status.is_ok() && budget.messages && budget.bytes;
         i++) {
        saved.emplace_back(over_groups[i], over_groups[i]->state.log);
        status = trim(over_groups[i], now_us, &budget, &count);
        if (status.is_ok()) status = save_log(*over_groups[i]);
    }
    if (status.is_ok()) status = commit();
    if (!status.is_ok()) {
        rollback();
        for (const auto& entry : saved)
            entry.first->state.log = entry.second;
        return status;
    }
    for (const auto& entry : saved)
        recent_.kept_from(entry.first->key, entry.first->state.log.trimmed_seq + 1);
    trimmed_last_ = saved.back().first->state.name;
    if (more)
        for (const Group* group : over_groups)
            *more = *more || over(*group);
    if (trimmed) *trimmed = count;
    return Status::ok();
}

Status SqliteStore::disk_size(uint64_t* bytes) {
    *bytes = 0;
    for (const std::string& path : {path_, path_ + "-wal"}) {
        struct stat info;
        if (stat(path.c_str(), &info) == 0) {
            *bytes += (uint64_t)info.st_size;
        } else if (errno != ENOENT) {
            int error = errno;
            *bytes = 0;
            return Status::error(Status::kIo,
                                 "store: cannot stat " + path + ": " + strerror(error));
        }
    }
    return Status::ok();
}

Status SqliteStore::timestamp_of(const Group& group, uint64_t seq, uint64_t* timestamp) {
    sqlite3_stmt* stmt = stmts_[kSelectTimestamp];
    ResetOnExit reset(stmt);
    bind_i64(stmt, 1, group_seq(group.key, seq));
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return corrupt("message " + std::to_string(seq) + " of group '" + group.state.name +
                       "' is missing");
    if (rc != SQLITE_ROW) return failure(rc, "cannot read group '" + group.state.name + "'");
    *timestamp = column_u64(stmt, 0);
    return Status::ok();
}

//  Moves *first forward to the first message in [*first, last] at or after timestamp, or to
//  last + 1 if there is none. Timestamps never decrease along seq and the retained seqs
//  have no gaps, so a binary search over seq finds it without an index on time.
Status SqliteStore::seek_timestamp(const Group& group, uint64_t timestamp, uint64_t* first,
                                   uint64_t last) {
    uint64_t low = *first;
    uint64_t high = last + 1; //  the answer is in [low, high]
    while (low < high) {
        uint64_t middle = low + (high - low) / 2;
        uint64_t middle_ts = 0;
        Status status = timestamp_of(group, middle, &middle_ts);
        if (!status.is_ok()) return status;
        if (middle_ts >= timestamp)
            high = middle;
        else
            low = middle + 1;
    }
    *first = low;
    return Status::ok();
}

//  For a newest-first query with max_bytes: moves *from up to the oldest message that still
//  fits, walking sizes back from `to` (length() does not read the bodies).
Status SqliteStore::bytes_from_newest(const Group& group, const FetchQuery& query, uint64_t* from,
                                      uint64_t to) {
    sqlite3_stmt* stmt = stmts_[kSelectSizesBackward];
    ResetOnExit reset(stmt);
    bind_i64(stmt, 1, group_seq(group.key, *from));
    bind_i64(stmt, 2, group_seq(group.key, to));
    uint64_t bytes = 0;
    uint64_t expected = to;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uint64_t seq = seq_of(sqlite3_column_int64(stmt, 0));
        uint64_t size = column_u64(stmt, 1);
        if (seq != expected)
            return corrupt("message " + std::to_string(expected) + " of group '" +
                           group.state.name + "' is missing");
        if (seq < to && bytes + size > query.max_bytes) {
            *from = seq + 1;
            return Status::ok();
        }
        bytes += size;
        expected--;
    }
    if (rc != SQLITE_DONE)
        return failure(rc, "cannot read the messages of '" + group.state.name + "'");
    if (expected + 1 != *from)
        return corrupt("message " + std::to_string(expected) + " of group '" + group.state.name +
                       "' is missing");
    return Status::ok();
}

Status SqliteStore::fetch(const FetchQuery& query, FetchVisitor* visitor, FetchSummary* summary) {
    const Group* group = find(query.group);
    if (!group) return no_such_group(query.group);
    const LogState& log = group->state.log;
    uint64_t first = 1;
    uint64_t last = 0;
    if (seq_bounds(log, query, &first, &last)) {
        Status status;
        if (since_applies(log, query))
            status = seek_timestamp(*group, query.since_us, &first, last);
        if (status.is_ok() && first <= last && until_applies(log, query)) {
            uint64_t end = first;
            status = seek_timestamp(*group, query.until_us, &end, last);
            last = end - 1;
        }
        if (!status.is_ok()) return status;
    }
    uint64_t from = first;
    uint64_t to = last;
    if (from <= to) {
        apply_limit(query, &from, &to);
        if (query.max_bytes && query.newest) {
            Status status = bytes_from_newest(*group, query, &from, to);
            if (!status.is_ok()) return status;
        }
        uint64_t bytes = 0;
        uint64_t expected = from;
        //  The rows, until a page by bytes is full (oldest first: the first row always).
        auto take = [&](const MessageView& view) {
            if (query.max_bytes && !query.newest && view.seq > from &&
                bytes + view.body_size > query.max_bytes) {
                to = view.seq - 1;
                return false;
            }
            bytes += view.body_size;
            visitor->message(view);
            expected++;
            return true;
        };
        //  The newest messages are in memory: no SQLite row is read.
        if (recent_.covers(group->key, from, to)) {
            recent_.read(group->key, from, to, take);
            summarize(log, query, first, last, from, to, summary);
            return Status::ok();
        }
        sqlite3_stmt* stmt = stmts_[kSelectMessages];
        ResetOnExit reset(stmt);
        bind_i64(stmt, 1, group_seq(group->key, from));
        bind_i64(stmt, 2, group_seq(group->key, to));
        static const char kEmpty[1] = "";
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            MessageView view;
            view.seq = seq_of(sqlite3_column_int64(stmt, 0));
            view.timestamp = column_u64(stmt, 1);
            view.sender = (const uint8_t*)sqlite3_column_blob(stmt, 2);
            int sender_size = sqlite3_column_bytes(stmt, 2);
            view.sender_name = (const char*)sqlite3_column_text(stmt, 3);
            view.sender_name_size = (size_t)sqlite3_column_bytes(stmt, 3);
            view.msg_id = (const uint8_t*)sqlite3_column_blob(stmt, 4);
            int msg_id_size = sqlite3_column_bytes(stmt, 4);
            view.body = sqlite3_column_blob(stmt, 5);
            view.body_size = (size_t)sqlite3_column_bytes(stmt, 5);
            //  An empty body or name reads as NULL; so does any value when SQLite runs out
            //  of memory.
            if ((!view.sender || !view.sender_name || !view.body) &&
                sqlite3_errcode(db_) == SQLITE_NOMEM)
                return failure(SQLITE_NOMEM, "cannot read the messages of '" + query.group + "'");
            if (!view.sender_name) view.sender_name = kEmpty;
            if (!view.body) view.body = kEmpty;
            if (view.seq != expected || sender_size != (int)kKeySize ||
                (view.msg_id && msg_id_size != (int)sizeof(Uuid::bytes)))
                return corrupt("message " + std::to_string(expected) + " of group '" + query.group +
                               "' is missing or damaged");
            if (!take(view)) break;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return failure(rc, "cannot read the messages of '" + query.group + "'");
        if (rc == SQLITE_DONE && expected != to + 1)
            return corrupt("message " + std::to_string(expected) + " of group '" + query.group +
                           "' is missing");
    }
    summarize(log, query, first, last, from, to, summary);
    return Status::ok();
}

} // namespace

Status open_sqlite_store(const std::string& data_dir, Durability durability,
                         std::unique_ptr<Store>* store, const StoreSay& say, uint32_t max_pages) {
    store->reset();
    if (data_dir.empty())
        return Status::error(Status::kInvalid, "store: the data directory cannot be empty");
    Status status = make_directories(data_dir);
    if (!status.is_ok()) return status;
    struct stat info;
    if (stat(data_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
        return Status::error(Status::kIo, "store: " + data_dir + " is not a directory");
    //  SQLite needs to create its -wal and -shm files next to the database.
    if (access(data_dir.c_str(), W_OK) != 0) {
        int error = errno;
        return Status::error(code_of_errno(error), "store: cannot write to data directory " +
                                                       data_dir + ": " + strerror(error));
    }
    std::unique_ptr<SqliteStore> sqlite(new SqliteStore());
    status = sqlite->open(data_dir, durability, max_pages, say);
    if (!status.is_ok()) return status;
    *store = std::move(sqlite);
    return Status::ok();
}

} // namespace zgm
