/*  =========================================================================
    sqlite_store.cc - the message store in one SQLite database, WAL mode

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/store.h"
#include "store/store_internal.h"
#include "core/clock.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace zgm {

using namespace store_internal;

namespace {

//  The schema this code reads and writes, kept in PRAGMA user_version. A database with
//  any other version is refused rather than guessed at.
const int kSchemaVersion = 1;

//  A generous bound on what a message row holds besides its body and sender name.
const uint64_t kRowOverhead = 256;

//  groups: one row per group; the LogState columns are rewritten in every transaction that
//  appends to or trims the group, so last_seq survives even when every message is trimmed.
//  messages: keyed by (group, seq) without a rowid, so an append touches one table b-tree
//  plus the msg_id index. The unique index on (group, msg_id) is what deduplicates; a
//  message without an id stores NULL and is left out of it. Retention deletes rows, so
//  deduplication covers the retained messages only: a repeat of a trimmed message is
//  stored again as a new one.
const char* const kSchema = R"sql(
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
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE members (
    group_key INTEGER NOT NULL,
    user BLOB NOT NULL,
    name TEXT NOT NULL,
    joined_us INTEGER NOT NULL,
    PRIMARY KEY (group_key, user)
) WITHOUT ROWID;
CREATE TABLE messages (
    group_key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ts_us INTEGER NOT NULL,
    sender BLOB NOT NULL,
    sender_name TEXT NOT NULL,
    msg_id BLOB,
    body BLOB NOT NULL,
    PRIMARY KEY (group_key, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_msg_id ON messages (group_key, msg_id) WHERE msg_id IS NOT NULL;
)sql";

//  Every statement the store runs after opening, prepared once for the store's life.
enum StatementId {
    kBegin,
    kCommit,
    kRollback,
    kInsertGroup,
    kUpdateRetention,
    kSaveLog,
    kInsertMember,
    kDeleteMember,
    kSelectMembers,
    kSelectMember,
    kInsertMessage,
    kSelectByMsgId,
    kSelectTimestamp,
    kSelectMessages,
    kSelectOldest,
    kDeleteMessages,
    kStatementCount
};

const char* const kStatements[kStatementCount] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO groups (name, id, created_us) VALUES (?1, ?2, ?3)",
    "UPDATE groups SET max_count = ?2, max_bytes = ?3 WHERE key = ?1",
    "UPDATE groups SET last_seq = ?2, last_ts_us = ?3, trimmed_seq = ?4, trimmed_ts_us = ?5,"
    " bytes = ?6 WHERE key = ?1",
    "INSERT INTO members (group_key, user, name, joined_us) VALUES (?1, ?2, ?3, ?4)",
    "DELETE FROM members WHERE group_key = ?1 AND user = ?2",
    "SELECT user, name, joined_us FROM members WHERE group_key = ?1 ORDER BY joined_us, user",
    "SELECT 1 FROM members WHERE group_key = ?1 AND user = ?2",
    "INSERT INTO messages (group_key, seq, ts_us, sender, sender_name, msg_id, body)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "SELECT seq, ts_us FROM messages WHERE group_key = ?1 AND msg_id = ?2",
    "SELECT ts_us FROM messages WHERE group_key = ?1 AND seq = ?2",
    "SELECT seq, ts_us, sender, sender_name, msg_id, body FROM messages"
    " WHERE group_key = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
    "SELECT seq, ts_us, length(body) FROM messages WHERE group_key = ?1 AND seq > ?2"
    " ORDER BY seq",
    "DELETE FROM messages WHERE group_key = ?1 AND seq > ?2 AND seq <= ?3",
};

Status::Code code_of(int rc) {
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
        return Status::error(code_of_errno(error), "store: cannot create data directory " + path +
                                                       ": " + strerror(error));
    }
    return Status::ok();
}

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

void bind_uuid(sqlite3_stmt* stmt, int index, const Uuid& uuid) {
    sqlite3_bind_blob(stmt, index, uuid.bytes, sizeof uuid.bytes, SQLITE_STATIC);
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

//  Groups, members and messages in one SQLite database in WAL mode. Each append is one
//  transaction; the per-group LogState is cached in memory and put back when a
//  transaction fails, so the cache always matches what is committed.
class SqliteStore : public Store {
public:
    ~SqliteStore() override;
    Status open(const std::string& data_dir, Durability durability, uint32_t max_pages);

    Status create_group(const std::string& name, const Uuid& id) override;
    Status list_groups(std::vector<GroupInfo>* groups) override;
    Status group_info(const std::string& name, GroupInfo* info) override;
    Status set_retention(const std::string& group, const Retention& retention) override;

    Status add_member(const std::string& group, const Member& member) override;
    Status remove_member(const std::string& group, const Uuid& user) override;
    Status members(const std::string& group, std::vector<Member>* members) override;
    Status is_member(const std::string& group, const Uuid& user, bool* is_member) override;

    Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                  std::vector<AppendResult>* results) override;
    Status fetch(const FetchQuery& query, FetchResult* result) override;

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
    Status check_schema();
    Status load_groups();
    Status begin();
    Status commit();
    void rollback();
    Status insert_message(Group* group, const AppendRequest& request, uint64_t now_us,
                          AppendResult* result);
    Status find_original(Group* group, const Uuid& msg_id, AppendResult* result);
    Status trim(Group* group);
    Status save_log(const Group& group);
    Status timestamp_of(const Group& group, uint64_t seq, uint64_t* ts_us);
    Status seek_timestamp(const Group& group, uint64_t since_us, uint64_t* seq);

    sqlite3* db_ = nullptr;
    std::string path_;
    uint64_t max_row_bytes_ = 0;
    sqlite3_stmt* stmts_[kStatementCount] = {};
    std::map<std::string, Group> groups_;
};

SqliteStore::~SqliteStore() {
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

Status SqliteStore::open(const std::string& data_dir, Durability durability, uint32_t max_pages) {
    path_ = data_dir + "/zgm.db";
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
    Status status = rc == SQLITE_ROW ? Status::ok() : failure(rc, "cannot open the database");
    sqlite3_finalize(stmt);
    if (!status.is_ok()) return status;
    if (mode != "wal")
        return Status::error(Status::kIo, "store: cannot switch to WAL mode, journal mode is " +
                                              mode + " (" + path_ + ")");

    status = exec(durability == Durability::kNormal ? "PRAGMA synchronous = NORMAL"
                                                    : "PRAGMA synchronous = FULL",
                  "cannot set the durability");
    if (status.is_ok())
        status = exec("PRAGMA journal_size_limit = 16777216", "cannot limit the WAL size");
    if (status.is_ok() && max_pages) {
        std::string sql = "PRAGMA max_page_count = " + std::to_string(max_pages);
        status = exec(sql.c_str(), "cannot cap the database size");
    }
    if (status.is_ok()) status = check_schema();
    for (int id = 0; status.is_ok() && id < kStatementCount; id++) {
        rc = sqlite3_prepare_v3(db_, kStatements[id], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[id],
                                nullptr);
        if (rc != SQLITE_OK) status = failure(rc, std::string("cannot prepare ") + kStatements[id]);
    }
    if (status.is_ok()) status = load_groups();
    return status;
}

//  Creates the schema in an empty database, or checks the version of an existing one.
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
    if (status.is_ok()) {
        if (version == 0 && tables == 0) {
            std::string sql = kSchema;
            sql += "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";\n";
            status = exec(sql.c_str(), "cannot create the schema");
        } else if (version == 0)
            status = corrupt("the database is not a zgm store (it has tables but no schema "
                             "version)");
        else if (version != kSchemaVersion)
            status = corrupt("the database has schema version " + std::to_string(version) +
                             ", this zgm knows version " + std::to_string(kSchemaVersion));
    }
    if (status.is_ok()) status = exec("COMMIT", "cannot create the schema");
    if (!status.is_ok() && !sqlite3_get_autocommit(db_))
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
}

//  Fills the cache from the groups table and checks that each group's messages are the
//  range its metadata says.
Status SqliteStore::load_groups() {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_,
                                "SELECT key, name, id, created_us, max_count, max_bytes,"
                                " last_seq, last_ts_us, trimmed_seq, trimmed_ts_us, bytes,"
                                " (SELECT count(*) FROM members WHERE group_key = key),"
                                " (SELECT min(seq) FROM messages WHERE group_key = key),"
                                " (SELECT max(seq) FROM messages WHERE group_key = key)"
                                " FROM groups",
                                -1, &stmt, nullptr);
    Status status;
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt)) {
        Group group;
        group.key = sqlite3_column_int64(stmt, 0);
        GroupState& state = group.state;
        state.name = column_bytes(stmt, 1);
        state.id = column_uuid(stmt, 2);
        state.created_us = column_u64(stmt, 3);
        state.retention.max_count = column_u64(stmt, 4);
        state.retention.max_bytes = column_u64(stmt, 5);
        state.log.last_seq = column_u64(stmt, 6);
        state.log.last_ts_us = column_u64(stmt, 7);
        state.log.trimmed_seq = column_u64(stmt, 8);
        state.log.trimmed_ts_us = column_u64(stmt, 9);
        state.log.bytes = column_u64(stmt, 10);
        state.member_count = column_u64(stmt, 11);
        uint64_t min_seq = column_u64(stmt, 12);
        uint64_t max_seq = column_u64(stmt, 13);
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

Status SqliteStore::create_group(const std::string& name, const Uuid& id) {
    if (name.empty()) return invalid_group_name();
    if (find(name)) return group_exists(name);
    Group group;
    group.state.name = name;
    group.state.id = id;
    group.state.created_us = zgm::now_us();
    sqlite3_stmt* stmt = stmts_[kInsertGroup];
    ResetOnExit reset(stmt);
    bind_text(stmt, 1, name);
    bind_uuid(stmt, 2, id);
    bind_u64(stmt, 3, group.state.created_us);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return failure(rc, "cannot create group '" + name + "'");
    group.key = sqlite3_last_insert_rowid(db_);
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
    bind_u64(stmt, 3, log.last_ts_us);
    bind_u64(stmt, 4, log.trimmed_seq);
    bind_u64(stmt, 5, log.trimmed_ts_us);
    bind_u64(stmt, 6, log.bytes);
    return run(kSaveLog, "cannot update group '" + group.state.name + "'");
}

//  Deletes the oldest messages while the group is over its retention. Changes the cached
//  LogState: the caller puts it back if the transaction fails.
Status SqliteStore::trim(Group* group) {
    LogState& log = group->state.log;
    if (!over_retention(log, group->state.retention)) return Status::ok();
    LogState after = log;
    {
        sqlite3_stmt* stmt = stmts_[kSelectOldest];
        ResetOnExit reset(stmt);
        bind_u64(stmt, 1, group->key);
        bind_u64(stmt, 2, log.trimmed_seq);
        while (over_retention(after, group->state.retention)) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE)
                return corrupt("messages of group '" + group->state.name + "' are missing");
            if (rc != SQLITE_ROW)
                return failure(rc, "cannot trim group '" + group->state.name + "'");
            if (column_u64(stmt, 0) != after.trimmed_seq + 1)
                return corrupt("the messages of group '" + group->state.name + "' have a gap");
            uint64_t size = column_u64(stmt, 2);
            after.trimmed_seq++;
            after.trimmed_ts_us = column_u64(stmt, 1);
            after.bytes -= std::min(size, after.bytes);
        }
    }
    sqlite3_stmt* stmt = stmts_[kDeleteMessages];
    bind_u64(stmt, 1, group->key);
    bind_u64(stmt, 2, log.trimmed_seq);
    bind_u64(stmt, 3, after.trimmed_seq);
    Status status = run(kDeleteMessages, "cannot trim group '" + group->state.name + "'");
    if (status.is_ok()) log = after;
    return status;
}

Status SqliteStore::set_retention(const std::string& name, const Retention& retention) {
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
    status = run(kUpdateRetention, "cannot set the retention of '" + name + "'");
    group->state.retention = retention;
    if (status.is_ok()) status = trim(group);
    if (status.is_ok()) status = save_log(*group);
    if (status.is_ok()) status = commit();
    if (!status.is_ok()) {
        rollback();
        group->state.retention = saved_retention;
        group->state.log = saved_log;
    }
    return status;
}

Status SqliteStore::add_member(const std::string& name, const Member& member) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kInsertMember];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind_uuid(stmt, 2, member.id);
    bind_text(stmt, 3, member.name);
    bind_u64(stmt, 4, member.joined_us);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return member_exists(name, member.id);
    if (rc != SQLITE_DONE) return failure(rc, "cannot add a member to '" + name + "'");
    group->state.member_count++;
    return Status::ok();
}

Status SqliteStore::remove_member(const std::string& name, const Uuid& user) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kDeleteMember];
    bind_u64(stmt, 1, group->key);
    bind_uuid(stmt, 2, user);
    Status status = run(kDeleteMember, "cannot remove a member from '" + name + "'");
    if (!status.is_ok()) return status;
    if (sqlite3_changes(db_) == 0) return no_such_member(name, user);
    group->state.member_count--;
    return Status::ok();
}

Status SqliteStore::members(const std::string& name, std::vector<Member>* members) {
    members->clear();
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kSelectMembers];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        Member member;
        member.id = column_uuid(stmt, 0);
        member.name = column_bytes(stmt, 1);
        member.joined_us = column_u64(stmt, 2);
        members->push_back(member);
    }
    if (rc != SQLITE_DONE) {
        members->clear();
        return failure(rc, "cannot read the members of '" + name + "'");
    }
    return Status::ok();
}

Status SqliteStore::is_member(const std::string& name, const Uuid& user, bool* is_member) {
    *is_member = false;
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    sqlite3_stmt* stmt = stmts_[kSelectMember];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind_uuid(stmt, 2, user);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failure(rc, "cannot read the members of '" + name + "'");
    *is_member = rc == SQLITE_ROW;
    return Status::ok();
}

//  Looks up the message a repeated msg_id first stored.
Status SqliteStore::find_original(Group* group, const Uuid& msg_id, AppendResult* result) {
    sqlite3_stmt* stmt = stmts_[kSelectByMsgId];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind_uuid(stmt, 2, msg_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return corrupt("message " + msg_id.str() + " in '" + group->state.name +
                       "' is both there and missing");
    if (rc != SQLITE_ROW) return failure(rc, "cannot look up message " + msg_id.str());
    result->seq = column_u64(stmt, 0);
    result->ts_us = column_u64(stmt, 1);
    result->duplicate = true;
    return Status::ok();
}

//  Inserts one message, or finds its original when its msg_id is a repeat: the unique
//  index rejects the insert, which costs nothing extra for the common, new message.
Status SqliteStore::insert_message(Group* group, const AppendRequest& request, uint64_t now_us,
                                   AppendResult* result) {
    LogState& log = group->state.log;
    uint64_t seq = log.last_seq + 1;
    uint64_t ts_us = next_timestamp(log, now_us);
    sqlite3_stmt* stmt = stmts_[kInsertMessage];
    int rc;
    {
        ResetOnExit reset(stmt);
        bind_u64(stmt, 1, group->key);
        bind_u64(stmt, 2, seq);
        bind_u64(stmt, 3, ts_us);
        bind_uuid(stmt, 4, request.sender);
        bind_text(stmt, 5, request.sender_name);
        if (request.msg_id.is_nil())
            sqlite3_bind_null(stmt, 6);
        else
            bind_uuid(stmt, 6, request.msg_id);
        bind_bytes(stmt, 7, request.body);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT_UNIQUE)
            return failure(rc, "cannot store a message in '" + group->state.name + "'");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) return find_original(group, request.msg_id, result);
    log.last_seq = seq;
    log.last_ts_us = ts_us;
    log.bytes += request.body.size();
    result->seq = seq;
    result->ts_us = ts_us;
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
    //  its original.
    for (size_t i = 0; i < saved.size() && status.is_ok(); i++) {
        status = trim(saved[i].first);
        if (status.is_ok()) status = save_log(*saved[i].first);
    }
    if (status.is_ok()) status = commit();
    if (!status.is_ok()) {
        rollback();
        for (const auto& entry : saved)
            entry.first->state.log = entry.second;
        return status;
    }
    *results = std::move(done);
    return Status::ok();
}

Status SqliteStore::timestamp_of(const Group& group, uint64_t seq, uint64_t* ts_us) {
    sqlite3_stmt* stmt = stmts_[kSelectTimestamp];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group.key);
    bind_u64(stmt, 2, seq);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return corrupt("message " + std::to_string(seq) + " of group '" + group.state.name +
                       "' is missing");
    if (rc != SQLITE_ROW) return failure(rc, "cannot read group '" + group.state.name + "'");
    *ts_us = column_u64(stmt, 0);
    return Status::ok();
}

//  Moves *seq forward to the first message at or after since_us. Timestamps never decrease
//  along seq and the retained seqs have no gaps, so a binary search over seq finds it
//  without an index on time.
Status SqliteStore::seek_timestamp(const Group& group, uint64_t since_us, uint64_t* seq) {
    const LogState& log = group.state.log;
    if (log.last_ts_us < since_us) {
        *seq = log.last_seq + 1;
        return Status::ok();
    }
    uint64_t low = *seq;
    uint64_t high = log.last_seq; //  the last message matches
    while (low < high) {
        uint64_t middle = low + (high - low) / 2;
        uint64_t ts_us = 0;
        Status status = timestamp_of(group, middle, &ts_us);
        if (!status.is_ok()) return status;
        if (ts_us >= since_us)
            high = middle;
        else
            low = middle + 1;
    }
    *seq = low;
    return Status::ok();
}

Status SqliteStore::fetch(const FetchQuery& query, FetchResult* result) {
    result->messages.clear();
    result->more = false;
    const Group* group = find(query.group);
    if (!group) return no_such_group(query.group);
    const LogState& log = group->state.log;
    result->first_seq = first_retained_seq(log);
    result->last_seq = log.last_seq;
    result->truncated = fetch_truncated(log, query);

    uint64_t seq = first_candidate_seq(log, query);
    if (seq <= log.last_seq && query.since_us) {
        Status status = seek_timestamp(*group, query.since_us, &seq);
        if (!status.is_ok()) return status;
    }
    if (seq > log.last_seq) return Status::ok();

    sqlite3_stmt* stmt = stmts_[kSelectMessages];
    ResetOnExit reset(stmt);
    bind_u64(stmt, 1, group->key);
    bind_u64(stmt, 2, seq);
    sqlite3_bind_int64(stmt, 3, query.limit ? (sqlite3_int64)query.limit : -1);
    uint64_t bytes = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uint64_t size = (uint64_t)sqlite3_column_bytes(stmt, 5);
        if (query.max_bytes && !result->messages.empty() && bytes + size > query.max_bytes) break;
        bytes += size;
        result->messages.emplace_back();
        StoredMessage& message = result->messages.back();
        message.seq = column_u64(stmt, 0);
        message.ts_us = column_u64(stmt, 1);
        message.sender = column_uuid(stmt, 2);
        message.sender_name = column_bytes(stmt, 3);
        message.msg_id = column_uuid(stmt, 4);
        message.body = column_bytes(stmt, 5);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        result->messages.clear();
        return failure(rc, "cannot read the messages of '" + query.group + "'");
    }
    //  Timestamps never decrease, so every message after one that matched matches too.
    result->more = !result->messages.empty() && result->messages.back().seq < log.last_seq;
    return Status::ok();
}

} // namespace

Status open_sqlite_store(const std::string& data_dir, Durability durability,
                         std::unique_ptr<Store>* store, uint32_t max_pages) {
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
    status = sqlite->open(data_dir, durability, max_pages);
    if (!status.is_ok()) return status;
    *store = std::move(sqlite);
    return Status::ok();
}

} // namespace zgm
