/*  =========================================================================
    sqlite_schemas.cc - what a row costs SQLite in zgm's messages table, and in others

    Usage: sqlite_schemas [BASE_DIR]   (default /tmp; removed at the end)

    Appends 200,000 messages of 100 bytes to one group, 1,000 per transaction (WAL,
    synchronous OFF: SQLite's CPU, not the disk), with ids made as zgm_user_send makes them
    (the time first), through each table below in turn, three rounds; prints each one's
    median rows per second and CPU microseconds per row. The first is the store's schema 2,
    the second its schema 3 (src/store/sqlite_store.cc, since schema 2 was measured here);
    then a variant of it, and two bounds without the unique index that deduplicates retried
    sends, which zgm needs.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "benchutil.h"

#include <sqlite3.h>

using namespace bench;

namespace {

const int kRows = 200000;
const int kRowsPerTransaction = 1000;
const int kRounds = 3;

struct Schema {
    const char* name;
    const char* create;
    const char* insert; //  ?1 group, ?2 seq, ?3 ts_us, ?4 sender, ?5 name, ?6 msg_id, ?7 body,
                        //  ?8 / ?9 the msg_id's first / last 8 bytes as integers
};

const Schema kSchemas[] = {
    {"schema 2: (group, seq) without rowid, unique (group, msg_id)",
     "CREATE TABLE messages (group_key INTEGER NOT NULL, seq INTEGER NOT NULL, ts_us INTEGER "
     "NOT NULL, sender BLOB NOT NULL, sender_name TEXT NOT NULL, msg_id BLOB, body BLOB NOT "
     "NULL, PRIMARY KEY (group_key, seq)) WITHOUT ROWID; CREATE UNIQUE INDEX messages_msg_id ON "
     "messages (group_key, msg_id) WHERE msg_id IS NOT NULL;",
     "INSERT INTO messages VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {"schema 3: rowid (group << 44) + seq, unique (group, msg_id)",
     "CREATE TABLE messages (group_seq INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, sender BLOB "
     "NOT NULL, sender_name TEXT NOT NULL, msg_id BLOB, body BLOB NOT NULL); CREATE UNIQUE INDEX "
     "messages_msg_id ON messages (group_seq >> 44, msg_id) WHERE msg_id IS NOT NULL;",
     "INSERT INTO messages VALUES (?1 << 44 | ?2, ?3, ?4, ?5, ?6, ?7)"},
    {"rowid (group << 44) + seq, msg_id as 2 integers, unique (id_hi, id_lo, group)",
     "CREATE TABLE messages (key INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, sender BLOB NOT "
     "NULL, sender_name TEXT NOT NULL, id_hi INTEGER, id_lo INTEGER, body BLOB NOT NULL); "
     "CREATE UNIQUE INDEX messages_msg_id ON messages (id_hi, id_lo, key >> 44) WHERE id_hi IS "
     "NOT NULL;",
     "INSERT INTO messages VALUES (?1 << 44 | ?2, ?3, ?4, ?5, ?8, ?9, ?7)"},
    {"bound: schema 2 without the msg_id index (no deduplication)",
     "CREATE TABLE messages (group_key INTEGER NOT NULL, seq INTEGER NOT NULL, ts_us INTEGER "
     "NOT NULL, sender BLOB NOT NULL, sender_name TEXT NOT NULL, msg_id BLOB, body BLOB NOT "
     "NULL, PRIMARY KEY (group_key, seq)) WITHOUT ROWID;",
     "INSERT INTO messages VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {"bound: rowid (group << 44) + seq without an index (no deduplication)",
     "CREATE TABLE messages (key INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, sender BLOB NOT "
     "NULL, sender_name TEXT NOT NULL, msg_id BLOB, body BLOB NOT NULL);",
     "INSERT INTO messages VALUES (?1 << 44 | ?2, ?3, ?4, ?5, ?6, ?7)"},
};
const size_t kSchemaCount = sizeof kSchemas / sizeof kSchemas[0];

double cpu_now_s() {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool exec(sqlite3* db, const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return true;
    fprintf(stderr, "sqlite_schemas: %s: %s\n", sql, error ? error : "?");
    sqlite3_free(error);
    return false;
}

struct Result {
    double rows_per_s = 0;
    double cpu_us_per_row = 0;
};

//  One pass of kRows appends through schema in a new database at path; false on an error.
bool measure(const Schema& schema, const std::string& path, uint64_t* random, Result* result) {
    sqlite3* db = nullptr;
    bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
              exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;") &&
              exec(db, schema.create);
    sqlite3_stmt* insert = nullptr;
    ok = ok && sqlite3_prepare_v2(db, schema.insert, -1, &insert, nullptr) == SQLITE_OK;
    unsigned char sender[32], id[16];
    char body[kBodySize];
    memset(sender, 7, sizeof sender);
    memset(body, 'b', sizeof body);
    uint64_t start_ns = mono_ns();
    double start_cpu = cpu_now_s();
    for (int row = 0; ok && row < kRows; row++) {
        if (row % kRowsPerTransaction == 0) ok = exec(db, "BEGIN");
        //  As Uuid::time_ordered: the microseconds first, then random bytes.
        uint64_t now_us = wall_ns() / 1000;
        *random ^= *random << 13, *random ^= *random >> 7, *random ^= *random << 17;
        for (int i = 0; i < 8; i++)
            id[i] = (unsigned char)(now_us >> (56 - 8 * i));
        memcpy(id + 8, random, 8);
        int64_t high = (int64_t)now_us, low = 0;
        memcpy(&low, id + 8, 8);
        sqlite3_bind_int64(insert, 1, 1);
        sqlite3_bind_int64(insert, 2, row + 1);
        sqlite3_bind_int64(insert, 3, (int64_t)now_us);
        sqlite3_bind_blob(insert, 4, sender, sizeof sender, SQLITE_STATIC);
        sqlite3_bind_text(insert, 5, "bench", -1, SQLITE_STATIC);
        sqlite3_bind_blob(insert, 6, id, sizeof id, SQLITE_STATIC);
        sqlite3_bind_blob(insert, 7, body, sizeof body, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 8, high);
        sqlite3_bind_int64(insert, 9, low);
        ok = ok && sqlite3_step(insert) == SQLITE_DONE;
        sqlite3_reset(insert);
        if (ok && (row + 1) % kRowsPerTransaction == 0) ok = exec(db, "COMMIT");
    }
    double seconds = (double)(mono_ns() - start_ns) / 1e9;
    double cpu = cpu_now_s() - start_cpu;
    if (!ok) fprintf(stderr, "sqlite_schemas: %s: %s\n", schema.name, sqlite3_errmsg(db));
    sqlite3_finalize(insert);
    sqlite3_close(db);
    result->rows_per_s = kRows / seconds;
    result->cpu_us_per_row = cpu * 1e6 / kRows;
    return ok;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    std::string dir = make_temp_dir("zgm-sqlite-schemas", argc > 1 ? argv[1] : "");
    if (dir.empty()) return 1;
    std::vector<std::vector<Result>> results(kSchemaCount);
    uint64_t random = 0x9e3779b97f4a7c15ull;
    bool ok = true;
    //  The schemas in turn in each round, so that a load that comes and goes falls on all.
    for (int round = 0; ok && round < kRounds; round++)
        for (size_t i = 0; ok && i < kSchemaCount; i++) {
            Result result;
            std::string path = dir + "/" + std::to_string(round) + "-" + std::to_string(i) + ".db";
            ok = measure(kSchemas[i], path, &random, &result);
            results[i].push_back(result);
        }
    remove_tree(dir);
    if (!ok) return 1;
    printf("%d rows of %zu bytes, %d a transaction, WAL, synchronous OFF; medians of %d "
           "rounds\n\n| table | rows/s | CPU us/row |\n|---|--:|--:|\n",
           kRows, kBodySize, kRowsPerTransaction, kRounds);
    for (size_t i = 0; i < kSchemaCount; i++) {
        std::vector<double> rates, cpus;
        for (const Result& result : results[i]) {
            rates.push_back(result.rows_per_s);
            cpus.push_back(result.cpu_us_per_row);
        }
        printf("| %s | %s | %.2f |\n", kSchemas[i].name, format_value(median(rates)).c_str(),
               median(cpus));
    }
    return 0;
}
