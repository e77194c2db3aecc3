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
#include <sys/resource.h>
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
const int kFetchPasses = 5; //  each fetch case reads the whole group this many times

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

Key random_key(uint64_t* state) {
    Key key;
    for (size_t i = 0; i < kKeySize; i += 8) {
        uint64_t value = next_random(state);
        memcpy(key.bytes + i, &value, 8);
    }
    return key;
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
    return remove(path);
}

//  User and system CPU time of this process so far, in seconds: on a shared machine it
//  varies far less than the wall clock with what else runs.
double cpu_seconds() {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Measured {
    uint64_t rows = 0;
    double seconds = 0;
    double cpu = 0; //  seconds of CPU time
    bool ok = true;
    double rate() const { return seconds > 0 ? rows / seconds : 0; }
    double cpu_rate() const { return cpu > 0 ? rows / cpu : 0; }
};

//  Replaces *store (closed first: one store per directory) with a new one.
void open_or_die(const char* kind, const std::string& dir, Durability durability,
                 std::unique_ptr<Store>* store) {
    store->reset();
    if (strcmp(kind, "memory") == 0) {
        *store = open_memory_store();
        return;
    }
    Status status = open_sqlite_store(dir, durability, store);
    if (!status.is_ok()) {
        fprintf(stderr, "bench_store: %s\n", status.message().c_str());
        exit(1);
    }
}

//  Appends batches of batch_size until max_rows or max_ms, whichever comes first.
Measured measure_append(Store* store, size_t batch_size, uint64_t max_rows, int64_t max_ms) {
    static uint64_t random_state = 0x9e3779b97f4a7c15ull;
    std::vector<AppendRequest> batch(batch_size);
    for (AppendRequest& request : batch) {
        request.group = kGroup;
        request.sender = random_key(&random_state);
        request.sender_name = "bench";
        request.body.assign(kBodySize, 'b');
    }
    std::vector<AppendResult> results;
    Measured measured;
    int64_t start = mono_ms();
    uint64_t start_us = now_us();
    double start_cpu = cpu_seconds();
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
    measured.cpu = cpu_seconds() - start_cpu;
    return measured;
}

//  What a group server does with each row of a fetch: copies it into the reply it encodes.
//  One buffer serves every page (start() begins the next); nothing is allocated per row.
struct EncodingVisitor : FetchVisitor {
    std::vector<uint8_t> frame;
    size_t used = 0;
    uint64_t rows = 0;
    uint64_t first_seq = 0;
    void start() {
        used = 0;
        rows = 0;
        first_seq = 0;
    }
    void message(const MessageView& view) override {
        size_t size = 16 + kKeySize + view.sender_name_size + view.body_size;
        if (frame.size() < used + size) frame.resize(2 * (used + size));
        uint8_t* out = frame.data() + used;
        memcpy(out, &view.seq, 8);
        memcpy(out + 8, &view.timestamp, 8);
        memcpy(out + 16, view.sender, kKeySize);
        memcpy(out + 16 + kKeySize, view.sender_name, view.sender_name_size);
        memcpy(out + 16 + kKeySize + view.sender_name_size, view.body, view.body_size);
        used += size;
        if (rows++ == 0) first_seq = view.seq;
    }
};

enum class FetchWay {
    kVisitor,      //  oldest first in pages, rows handed to a visitor
    kOwned,        //  the same into FetchResult: a copy of every row
    kNewestPaging, //  newest first, paging back with before_seq, to a visitor
};

//  Reads the whole group `passes` times in pages: from the start, as a user catching up
//  does, or from the newest back to seq 1, as a chat scrolling up does.
Measured measure_fetch(Store* store, FetchWay way, int passes = kFetchPasses) {
    Measured measured;
    EncodingVisitor visitor;
    FetchResult page; //  reused, as the encode buffer is: its vector keeps its capacity
    uint64_t start_us = now_us();
    double start_cpu = cpu_seconds();
    for (int pass = 0; pass < passes && measured.ok; pass++) {
        FetchQuery query;
        query.group = kGroup;
        query.limit = kFetchPage;
        query.newest = way == FetchWay::kNewestPaging;
        bool more = true;
        while (more) {
            Status status;
            uint64_t rows = 0;
            uint64_t first = 0;
            uint64_t last = 0;
            if (way == FetchWay::kOwned) {
                status = store->fetch(query, &page);
                more = page.summary.more;
                rows = page.messages.size();
                if (rows) first = page.messages.front().seq;
                if (rows) last = page.messages.back().seq;
            } else {
                visitor.start();
                FetchSummary summary;
                status = store->fetch(query, &visitor, &summary);
                more = summary.more;
                rows = visitor.rows;
                first = visitor.first_seq;
                last = first + rows - 1;
            }
            if (!status.is_ok()) {
                fprintf(stderr, "bench_store: fetch failed: %s\n", status.message().c_str());
                measured.ok = false;
                break;
            }
            measured.rows += rows;
            if (query.newest)
                query.before_seq = first;
            else
                query.after_seq = last;
            more = more && rows > 0;
        }
    }
    measured.seconds = (double)(now_us() - start_us) / 1e6;
    measured.cpu = cpu_seconds() - start_cpu;
    return measured;
}

void print_row(const char* operation, const char* kind, const char* durability, const char* batch,
               const Measured& measured) {
    printf("%-10s %-7s %-10s %6s %10llu %9.3f %12.0f %8.3f %12.0f%s\n", operation, kind, durability,
           batch, (unsigned long long)measured.rows, measured.seconds, measured.rate(),
           measured.cpu, measured.cpu_rate(), measured.ok ? "" : "  (failed)");
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
    printf("append cases stop after %lld ms or %llu rows; data in %s\n", (long long)kCaseMs,
           (unsigned long long)kCaseRows, base.c_str());
    printf("fetch cases read a group of %llu rows %d times in pages of %u (batch): fetch oldest\n"
           "first to a visitor that encodes each row, fetch-own into owned copies (FetchResult),\n"
           "fetch-new newest first paging back with before_seq, to the visitor\n",
           (unsigned long long)kFetchRows, kFetchPasses, kFetchPage);
    printf("seconds and rows/s by the wall clock; cpu-s and rows/cpu-s by this process's CPU time\n"
           "(user and system; fsync waits are not CPU time)\n\n");
    printf("%-10s %-7s %-10s %6s %10s %9s %12s %8s %12s\n", "op", "store", "durability", "batch",
           "rows", "seconds", "rows/s", "cpu-s", "rows/cpu-s");

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
        std::unique_ptr<Store> store;
        open_or_die(c.kind, dir, c.durability, &store);
        store->create_group(kGroup, Uuid(), Key(), Policy::kOpen);
        Measured measured = measure_append(store.get(), c.batch, kCaseRows, kCaseMs);
        ok = ok && measured.ok;
        print_row("append", c.kind, c.durability_name, std::to_string(c.batch).c_str(), measured);
        fflush(stdout);
    }

    //  Fetch: fill a group, reopen it (a cold SQLite page cache, a warm OS cache), read it
    //  all in pages, each way.
    uint64_t disk_bytes = 0;
    for (const char* kind : {"sqlite", "memory"}) {
        std::string dir = make_case_dir(base, (std::string("fetch-") + kind).c_str());
        std::unique_ptr<Store> store;
        open_or_die(kind, dir, Durability::kNormal, &store);
        store->create_group(kGroup, Uuid(), Key(), Policy::kOpen);
        Measured filled = measure_append(store.get(), 1000, kFetchRows, 60000);
        if (strcmp(kind, "sqlite") == 0) {
            open_or_die(kind, dir, Durability::kNormal, &store);
            ok = ok && store->disk_size(&disk_bytes).is_ok();
        }
        //  One pass unmeasured, so that every case starts from the same caches.
        if (filled.ok) ok = ok && measure_fetch(store.get(), FetchWay::kVisitor, 1).ok;
        const struct {
            const char* name;
            FetchWay way;
        } ways[] = {{"fetch", FetchWay::kVisitor},
                    {"fetch-own", FetchWay::kOwned},
                    {"fetch-new", FetchWay::kNewestPaging}};
        for (const auto& way : ways) {
            Measured measured = filled.ok ? measure_fetch(store.get(), way.way) : filled;
            ok = ok && measured.ok && measured.rows == kFetchRows * kFetchPasses;
            print_row(way.name, kind, "-", std::to_string(kFetchPage).c_str(), measured);
            fflush(stdout);
        }
    }
    printf("\nsqlite database and WAL after %llu rows: %llu bytes\n",
           (unsigned long long)kFetchRows, (unsigned long long)disk_bytes);

    nftw(base.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return ok ? 0 : 1;
}
