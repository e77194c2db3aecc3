/*  =========================================================================
    bench_store.cc - measured append and fetch rates of the message store

    Usage: bench_store [BASE_DIR]   (default /tmp; the database goes in a fresh directory
    under it, removed at the end, so BASE_DIR picks the disk that is measured)

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/store.h"
#include "core/clock.h"

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ftw.h>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace zgm;

namespace {

const char* const kGroup = "bench";
const size_t kBodySize = 100;
const int64_t kCaseMs = 3000;       //  each append case stops after this long...
const uint64_t kCaseRows = 1000000; //  ...or after this many rows
const uint64_t kFetchRows = 200000;
const uint32_t kFetchPage = 1000;

//  A fast generator for random ids.
uint64_t next_random(uint64_t* state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

Uuid random_id(uint64_t* state) {
    Uuid uuid;
    uint64_t a = next_random(state);
    uint64_t b = next_random(state);
    memcpy(uuid.bytes, &a, 8);
    memcpy(uuid.bytes + 8, &b, 8);
    return uuid;
}

//  Message ids as zgm_user_send makes them (Uuid::time_ordered): the time first, so the
//  dedup index grows at its right edge.
Uuid time_ordered_id(uint64_t* state) {
    Uuid uuid = random_id(state);
    uint64_t now = now_us();
    for (int i = 0; i < 8; i++)
        uuid.bytes[i] = (uint8_t)(now >> (56 - 8 * i));
    return uuid;
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
    return remove(path);
}

struct Measured {
    uint64_t rows = 0;
    double seconds = 0;
    bool ok = true;
    double rate() const { return seconds > 0 ? rows / seconds : 0; }
};

std::unique_ptr<Store> open_or_die(const char* kind, const std::string& dir,
                                   Durability durability) {
    std::unique_ptr<Store> store;
    if (strcmp(kind, "memory") == 0) return open_memory_store();
    Status status = open_sqlite_store(dir, durability, &store);
    if (!status.is_ok()) {
        fprintf(stderr, "bench_store: %s\n", status.message().c_str());
        exit(1);
    }
    return store;
}

//  Appends batches of batch_size until max_rows or max_ms, whichever comes first.
Measured measure_append(Store* store, size_t batch_size, uint64_t max_rows, int64_t max_ms) {
    static uint64_t random_state = 0x9e3779b97f4a7c15ull;
    std::vector<AppendRequest> batch(batch_size);
    for (AppendRequest& request : batch) {
        request.group = kGroup;
        request.sender = random_id(&random_state);
        request.sender_name = "bench";
        request.body.assign(kBodySize, 'b');
    }
    std::vector<AppendResult> results;
    Measured measured;
    int64_t start = mono_ms();
    uint64_t start_us = now_us();
    while (measured.rows < max_rows && mono_ms() - start < max_ms) {
        for (AppendRequest& request : batch)
            request.msg_id = time_ordered_id(&random_state);
        Status status = store->append(batch, now_us(), &results);
        if (!status.is_ok()) {
            fprintf(stderr, "bench_store: append failed: %s\n", status.message().c_str());
            measured.ok = false;
            break;
        }
        measured.rows += batch_size;
    }
    measured.seconds = (double)(now_us() - start_us) / 1e6;
    return measured;
}

//  Reads the whole group from the start in pages, as a user catching up does.
Measured measure_fetch(Store* store) {
    FetchQuery query;
    query.group = kGroup;
    query.limit = kFetchPage;
    FetchResult page;
    Measured measured;
    uint64_t start_us = now_us();
    do {
        Status status = store->fetch(query, &page);
        if (!status.is_ok()) {
            fprintf(stderr, "bench_store: fetch failed: %s\n", status.message().c_str());
            measured.ok = false;
            break;
        }
        measured.rows += page.messages.size();
        if (!page.messages.empty()) query.after_seq = page.messages.back().seq;
    } while (page.more);
    measured.seconds = (double)(now_us() - start_us) / 1e6;
    return measured;
}

void print_row(const char* operation, const char* kind, const char* durability, const char* batch,
               const Measured& measured) {
    printf("%-8s %-7s %-10s %6s %10llu %9.3f %12.0f%s\n", operation, kind, durability, batch,
           (unsigned long long)measured.rows, measured.seconds, measured.rate(),
           measured.ok ? "" : "  (failed)");
}

std::string make_case_dir(const std::string& base, const char* name) {
    std::string dir = base + "/" + name;
    mkdir(dir.c_str(), 0755);
    return dir;
}

} // namespace

int main(int argc, char** argv) {
    std::string base_template = std::string(argc > 1 ? argv[1] : "/tmp") + "/zgm-bench-XXXXXX";
    std::vector<char> buffer(base_template.begin(), base_template.end());
    buffer.push_back('\0');
    if (!mkdtemp(buffer.data())) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    std::string base = buffer.data();

    printf("zgm store benchmark: %zu-byte bodies, one group, time-ordered message ids, SQLite %s\n",
           kBodySize, sqlite3_libversion());
    printf("append cases stop after %lld ms or %llu rows; data in %s\n\n", (long long)kCaseMs,
           (unsigned long long)kCaseRows, base.c_str());
    printf("%-8s %-7s %-10s %6s %10s %9s %12s\n", "op", "store", "durability", "batch", "rows",
           "seconds", "rows/s");

    struct AppendCase {
        const char* kind;
        Durability durability;
        const char* durability_name;
        size_t batch;
    };
    const AppendCase cases[] = {
        {"sqlite", Durability::kFull, "full", 1},
        {"sqlite", Durability::kFull, "full", 100},
        {"sqlite", Durability::kFull, "full", 1000},
        {"sqlite", Durability::kNormal, "normal", 1},
        {"sqlite", Durability::kNormal, "normal", 100},
        {"sqlite", Durability::kNormal, "normal", 1000},
        {"memory", Durability::kFull, "-", 1000},
    };
    int case_number = 0;
    bool ok = true;
    for (const AppendCase& c : cases) {
        std::string dir = make_case_dir(base, ("append" + std::to_string(case_number++)).c_str());
        std::unique_ptr<Store> store = open_or_die(c.kind, dir, c.durability);
        store->create_group(kGroup, Uuid());
        Measured measured = measure_append(store.get(), c.batch, kCaseRows, kCaseMs);
        ok = ok && measured.ok;
        print_row("append", c.kind, c.durability_name, std::to_string(c.batch).c_str(), measured);
        fflush(stdout);
    }

    //  Fetch: fill a group, reopen it (a cold SQLite page cache, a warm OS cache), read it
    //  all in pages.
    for (const char* kind : {"sqlite", "memory"}) {
        std::string dir = make_case_dir(base, (std::string("fetch-") + kind).c_str());
        std::unique_ptr<Store> store = open_or_die(kind, dir, Durability::kNormal);
        store->create_group(kGroup, Uuid());
        Measured filled = measure_append(store.get(), 1000, kFetchRows, 60000);
        if (strcmp(kind, "sqlite") == 0) store = open_or_die(kind, dir, Durability::kNormal);
        Measured measured = filled.ok ? measure_fetch(store.get()) : filled;
        ok = ok && measured.ok && measured.rows == kFetchRows;
        print_row("fetch", kind, "-", std::to_string(kFetchPage).c_str(), measured);
        fflush(stdout);
    }

    nftw(base.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return ok ? 0 : 1;
}
