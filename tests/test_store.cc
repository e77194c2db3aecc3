/*  =========================================================================
    test_store.cc - the message store's behaviour, against both implementations

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
extern "C" {
#include <cmocka.h>
}

#include "child.h"
#include "store/checkpointer.h"
#include "store/recent_rows.h"
#include "store/store.h"
#include "core/clock.h"
#include "core/limits.h"
#include "wrapped_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <ftw.h>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace zgm;

namespace {

//  How a test gets its store: every behaviour test runs once per kind.
struct StoreKind {
    const char* name;
    bool persistent;
};

StoreKind memory_kind = {"memory", false};
StoreKind sqlite_kind = {"sqlite", true};

struct Fixture {
    StoreKind* kind = nullptr;
    std::string dir;     //  a fresh directory under /tmp, removed after the test
    std::string mounted; //  a tmpfs a test mounted, unmounted after the test
    std::unique_ptr<Store> store;
    struct rlimit files = {}; //  the descriptor limit, put back after a test that lowered it
    bool lowered = false;
    bool gated = false; //  the test installed the sync gate: opened and removed after it
};

#define assert_ok(expr)                                                                            \
    do {                                                                                           \
        Status status_ = (expr);                                                                   \
        if (!status_.is_ok()) fail_msg("%s failed: %s", #expr, status_.message().c_str());         \
    } while (0)

#define assert_status(expr, expected)                                                              \
    do {                                                                                           \
        Status status_ = (expr);                                                                   \
        if (status_.code() != (expected))                                                          \
            fail_msg("%s returned %d (%s), expected %s", #expr, (int)status_.code(),               \
                     status_.message().c_str(), #expected);                                        \
    } while (0)

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
    return remove(path);
}

void remove_tree(const std::string& dir) {
    if (!dir.empty()) nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

std::string make_temp_dir() {
    char path[] = "/tmp/zgm-test-store-XXXXXX";
    return mkdtemp(path) ? std::string(path) : std::string();
}

//  What a store's open said, its lines joined by line ends ("" for nothing).
struct Said {
    std::string text;
    StoreSay to() {
        text.clear();
        return [this](const std::string& line) { text += (text.empty() ? "" : "\n") + line; };
    }
};

//  Opens (or reopens) the fixture's store; the old one is closed first.
Status reopen(Fixture* fixture, Durability durability = Durability::kFull, uint32_t max_pages = 0,
              Said* said = nullptr) {
    fixture->store.reset();
    if (!fixture->kind->persistent) {
        fixture->store = open_memory_store();
        return Status::ok();
    }
    return open_sqlite_store(fixture->dir, durability, &fixture->store,
                             said ? said->to() : StoreSay(), max_pages);
}

int setup(void** state) {
    Fixture* fixture = new Fixture;
    fixture->kind = (StoreKind*)*state;
    fixture->dir = make_temp_dir();
    *state = fixture;
    if (fixture->dir.empty()) return -1;
    Status status = reopen(fixture);
    if (!status.is_ok()) {
        print_error("cannot open the store: %s\n", status.message().c_str());
        return -1;
    }
    return 0;
}

void set_sync_gate(bool closed);
void remove_sync_gate();

int teardown(void** state) {
    Fixture* fixture = (Fixture*)*state;
    if (fixture->lowered) setrlimit(RLIMIT_NOFILE, &fixture->files);
    if (fixture->gated) set_sync_gate(false);
    fixture->store.reset();
    if (fixture->gated) remove_sync_gate();
    if (!fixture->mounted.empty()) umount2(fixture->mounted.c_str(), MNT_DETACH);
    remove_tree(fixture->dir);
    delete fixture;
    return 0;
}

Fixture* fixture_of(void** state) {
    return (Fixture*)*state;
}

//  A key no other n gives; its last byte tells it from a make_uuid() padded into a key.
Key make_key(uint64_t n) {
    Key key;
    for (int i = 0; i < 8; i++)
        key.bytes[i] = (uint8_t)(n >> (8 * i));
    key.bytes[kKeySize - 1] = 0x5c;
    return key;
}

Uuid make_uuid(uint64_t n) {
    Uuid uuid;
    for (int i = 0; i < 8; i++)
        uuid.bytes[i] = (uint8_t)(n >> (8 * i));
    uuid.bytes[15] = 0xa5;
    return uuid;
}

AppendRequest make_request(const std::string& group, const std::string& body,
                           const Uuid& msg_id = Uuid()) {
    AppendRequest request;
    request.group = group;
    request.sender = make_key(1000);
    request.sender_name = "alice";
    request.msg_id = msg_id;
    request.body = body;
    return request;
}

//  The sender of the message of group "chat" that has msg_id.
Key chat_sender_of(Store* store, const Uuid& msg_id) {
    FetchQuery query;
    query.group = "chat";
    FetchResult result;
    assert_true(store->fetch(query, &result).is_ok());
    for (const StoredMessage& message : result.messages)
        if (message.msg_id == msg_id) return message.sender;
    fail_msg("no message with that id in chat");
    return Key();
}

std::vector<AppendResult> append_ok(Store* store, const std::vector<AppendRequest>& batch,
                                    uint64_t now) {
    std::vector<AppendResult> results;
    assert_ok(store->append(batch, now, &results));
    assert_int_equal(results.size(), batch.size());
    return results;
}

//  Appends count messages one batch at a time, bodies "<prefix><i>", with fresh ids.
void append_many(Store* store, const std::string& group, int count, uint64_t now,
                 const std::string& prefix = "m", size_t body_size = 0) {
    static uint64_t next_id = 1ull << 40; //  apart from the small ids tests pick
    std::vector<AppendRequest> batch;
    for (int i = 0; i < count; i++) {
        std::string body = prefix + std::to_string(i);
        if (body_size) body.resize(body_size, 'x');
        batch.push_back(make_request(group, body, make_uuid(next_id++)));
    }
    std::vector<AppendResult> results = append_ok(store, batch, now);
    for (const AppendResult& result : results)
        assert_true(result.status.is_ok());
}

FetchResult fetch_ok(Store* store, const std::string& group, uint64_t after_seq,
                     uint64_t since_us = 0, uint32_t limit = 0, uint64_t max_bytes = 0) {
    FetchQuery query;
    query.group = group;
    query.after_seq = after_seq;
    query.since_us = since_us;
    query.limit = limit;
    query.max_bytes = max_bytes;
    FetchResult result;
    assert_ok(store->fetch(query, &result));
    return result;
}

void assert_seqs(const FetchResult& result, uint64_t first, uint64_t last) {
    assert_int_equal(result.messages.size(), last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < result.messages.size(); i++)
        assert_int_equal(result.messages[i].seq, first + i);
}

GroupInfo info_ok(Store* store, const std::string& group) {
    GroupInfo info;
    assert_ok(store->group_info(group, &info));
    return info;
}

Member make_member(uint64_t n, const std::string& name, uint64_t joined_us) {
    Member member;
    member.key = make_key(n);
    member.name = name;
    member.joined_us = joined_us;
    return member;
}

//  ------------------------------------------------------------------------------------
//  Groups

void test_create_group_then_list_groups_shows_it(void** state) {
    Store* store = fixture_of(state)->store.get();
    uint64_t before = now_us();
    assert_ok(store->create_group("beta", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->create_group("alpha", make_uuid(1), Key(), Policy::kOpen));
    std::vector<GroupInfo> groups;
    assert_ok(store->list_groups(&groups));
    assert_int_equal(groups.size(), 2);
    assert_string_equal(groups[0].name.c_str(), "alpha");
    assert_string_equal(groups[1].name.c_str(), "beta");
    assert_true(groups[0].id == make_uuid(1));
    assert_true(groups[1].id == make_uuid(2));
    assert_true(groups[0].created_us >= before && groups[0].created_us <= now_us());
    assert_int_equal(groups[0].first_seq, 0);
    assert_int_equal(groups[0].last_seq, 0);
    assert_int_equal(groups[0].member_count, 0);
    assert_int_equal(groups[0].retention.max_count, 0);
    assert_int_equal(groups[0].retention.max_bytes, 0);
}

void test_create_group_with_a_taken_name_returns_exists(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("alpha", make_uuid(1), Key(), Policy::kOpen));
    assert_status(store->create_group("alpha", make_uuid(2), Key(), Policy::kOpen),
                  Status::kExists);
    assert_true(info_ok(store, "alpha").id == make_uuid(1));
}

void test_create_group_with_an_empty_name_is_invalid(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_status(store->create_group("", make_uuid(1), Key(), Policy::kOpen), Status::kInvalid);
}

void test_unknown_group_is_not_found_everywhere(void** state) {
    Store* store = fixture_of(state)->store.get();
    GroupInfo info;
    assert_status(store->group_info("nope", &info), Status::kNotFound);
    assert_status(store->set_retention("nope", Retention(), 1000), Status::kNotFound);
    assert_status(store->add_member("nope", make_member(1, "a", 1)), Status::kNotFound);
    assert_status(store->remove_member("nope", make_key(1)), Status::kNotFound);
    std::vector<Member> members(1);
    assert_status(store->members("nope", &members), Status::kNotFound);
    assert_true(members.empty());
    assert_status(store->set_owner("nope", make_key(1)), Status::kNotFound);
    assert_status(store->set_policy("nope", Policy::kMembers), Status::kNotFound);
    assert_status(store->allow("nope", make_key(1)), Status::kNotFound);
    assert_status(store->disallow("nope", make_key(1)), Status::kNotFound);
    std::vector<Key> keys(1);
    assert_status(store->allowed("nope", &keys), Status::kNotFound);
    assert_true(keys.empty());
    FetchQuery query;
    query.group = "nope";
    FetchResult result;
    assert_status(store->fetch(query, &result), Status::kNotFound);
}

//  ------------------------------------------------------------------------------------
//  Appending

void test_append_assigns_gapless_seq_from_one(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    uint64_t expected = 1;
    for (int size : {1, 5, 3, 100}) {
        std::vector<AppendRequest> batch;
        for (int i = 0; i < size; i++)
            batch.push_back(make_request("g", "body"));
        std::vector<AppendResult> results = append_ok(store, batch, 1000);
        for (const AppendResult& result : results) {
            assert_true(result.status.is_ok());
            assert_false(result.duplicate);
            assert_int_equal(result.seq, expected++);
        }
    }
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 1);
    assert_int_equal(info.last_seq, 109);
    assert_seqs(fetch_ok(store, "g", 0), 1, 109);
}

void test_append_keeps_a_separate_seq_per_group(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    std::vector<AppendRequest> batch = {make_request("a", "1"), make_request("b", "2"),
                                        make_request("a", "3"), make_request("b", "4"),
                                        make_request("b", "5")};
    std::vector<AppendResult> results = append_ok(store, batch, 1000);
    uint64_t expected[] = {1, 1, 2, 2, 3};
    for (size_t i = 0; i < results.size(); i++)
        assert_int_equal(results[i].seq, expected[i]);
    assert_int_equal(info_ok(store, "a").last_seq, 2);
    assert_int_equal(info_ok(store, "b").last_seq, 3);
    FetchResult b = fetch_ok(store, "b", 0);
    assert_seqs(b, 1, 3);
    assert_string_equal(b.messages[2].body.c_str(), "5");
}

void test_append_to_an_unknown_group_reports_not_found_and_stores_the_rest(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    std::vector<AppendRequest> batch = {make_request("g", "one"), make_request("nope", "x"),
                                        make_request("g", "two")};
    std::vector<AppendResult> results = append_ok(store, batch, 1000);
    assert_true(results[0].status.is_ok());
    assert_int_equal(results[0].seq, 1);
    assert_int_equal(results[1].status.code(), Status::kNotFound);
    assert_int_equal(results[1].seq, 0);
    assert_true(results[2].status.is_ok());
    assert_int_equal(results[2].seq, 2);
    assert_seqs(fetch_ok(store, "g", 0), 1, 2);
}

void test_append_of_an_empty_batch_is_ok(void** state) {
    Store* store = fixture_of(state)->store.get();
    std::vector<AppendResult> results(3);
    assert_ok(store->append({}, 1000, &results));
    assert_true(results.empty());
}

void test_timestamp_never_goes_backwards_when_the_clock_does(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_int_equal(append_ok(store, {make_request("g", "a")}, 5000)[0].timestamp, 5000);
    assert_int_equal(append_ok(store, {make_request("g", "b")}, 3000)[0].timestamp, 5000);
    assert_int_equal(info_ok(store, "g").last_timestamp, 5000);
    assert_int_equal(append_ok(store, {make_request("g", "c")}, 7000)[0].timestamp, 7000);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_int_equal(all.messages.size(), 3);
    for (size_t i = 1; i < all.messages.size(); i++)
        assert_true(all.messages[i].timestamp >= all.messages[i - 1].timestamp);
}

void test_append_results_follow_the_order_of_the_batch(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    std::vector<AppendRequest> batch;
    for (int i = 0; i < 1000; i++)
        batch.push_back(make_request("g", "body " + std::to_string(i), make_uuid(i + 1)));
    std::vector<AppendResult> results = append_ok(store, batch, 42);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, 1000);
    for (size_t i = 0; i < results.size(); i++) {
        assert_int_equal(results[i].seq, i + 1);
        assert_int_equal(results[i].timestamp, 42);
        assert_string_equal(all.messages[i].body.c_str(), batch[i].body.c_str());
    }
}

//  ------------------------------------------------------------------------------------
//  Deduplication

void test_duplicate_msg_id_across_batches_returns_the_original(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    AppendResult first = append_ok(store, {make_request("g", "hello", make_uuid(7))}, 100)[0];
    append_many(store, "g", 3, 200);
    AppendResult again = append_ok(store, {make_request("g", "retry", make_uuid(7))}, 900)[0];
    assert_true(again.status.is_ok());
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first.seq);
    assert_int_equal(again.timestamp, 100);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.last_seq, 4);
    assert_int_equal(info.last_timestamp, 200);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, 4);
    assert_string_equal(all.messages[0].body.c_str(), "hello");
}

//  Message ids are visible to every member: one member reusing another's id must not make
//  the other's message pass for a repeat of its own (it would be answered stored, and lost).
void test_a_msg_id_another_sender_used_is_refused_not_taken_for_a_repeat(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    AppendRequest mallory = make_request("g", "first", make_uuid(9));
    mallory.sender = make_key(666);
    assert_true(append_ok(store, {mallory}, 100)[0].status.is_ok());
    AppendResult alice = append_ok(store, {make_request("g", "mine", make_uuid(9))}, 200)[0];
    assert_int_equal(alice.status.code(), Status::kExists);
    assert_false(alice.duplicate);
    assert_int_equal(info_ok(store, "g").last_seq, 1);
}

void test_duplicate_msg_id_within_one_batch_returns_the_original(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    std::vector<AppendRequest> batch = {make_request("g", "x", make_uuid(1)),
                                        make_request("g", "y", make_uuid(2)),
                                        make_request("g", "x again", make_uuid(1))};
    std::vector<AppendResult> results = append_ok(store, batch, 100);
    assert_false(results[0].duplicate);
    assert_false(results[1].duplicate);
    assert_true(results[2].duplicate);
    assert_true(results[2].status.is_ok());
    assert_int_equal(results[2].seq, 1);
    assert_int_equal(results[2].timestamp, results[0].timestamp);
    assert_int_equal(info_ok(store, "g").last_seq, 2);
    //  The next new message follows without a gap.
    assert_int_equal(append_ok(store, {make_request("g", "z", make_uuid(3))}, 100)[0].seq, 3);
}

void test_nil_msg_id_is_never_deduplicated(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    std::vector<AppendResult> results =
        append_ok(store, {make_request("g", "a"), make_request("g", "a")}, 100);
    assert_false(results[0].duplicate);
    assert_false(results[1].duplicate);
    results = append_ok(store, {make_request("g", "a")}, 100);
    assert_false(results[0].duplicate);
    assert_int_equal(results[0].seq, 3);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, 3);
    assert_true(all.messages[0].msg_id.is_nil());
}

void test_same_msg_id_in_two_groups_is_stored_in_each(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    std::vector<AppendResult> results = append_ok(
        store, {make_request("a", "x", make_uuid(9)), make_request("b", "x", make_uuid(9))}, 100);
    assert_false(results[0].duplicate);
    assert_false(results[1].duplicate);
    assert_int_equal(info_ok(store, "a").last_seq, 1);
    assert_int_equal(info_ok(store, "b").last_seq, 1);
}

void test_dedup_covers_only_retained_messages(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_count = 2;
    assert_ok(store->set_retention("g", retention, 1000));
    append_ok(store, {make_request("g", "x", make_uuid(7))}, 100);
    append_many(store, "g", 2, 100);
    assert_int_equal(info_ok(store, "g").first_seq, 2);
    AppendResult again = append_ok(store, {make_request("g", "x", make_uuid(7))}, 100)[0];
    assert_false(again.duplicate);
    assert_int_equal(again.seq, 4);
}

//  holder: what a SEND naming the message before it (after_msg_id) is checked against, and
//  a non-member's repeat of its own messages answered with their seqs.
void test_holder_finds_the_sender_of_a_retained_message_by_its_id(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 2, 100);
    AppendRequest request = make_request("g", "x", make_uuid(7));
    Store::Holder holder = Store::Holder::kSender;
    AppendResult original;
    assert_ok(store->holder("g", request.sender, make_uuid(7), &holder, &original));
    assert_true(holder == Store::Holder::kNone); //  not yet
    AppendResult stored = append_ok(store, {request}, 100)[0];
    assert_ok(store->holder("g", request.sender, make_uuid(7), &holder, &original));
    assert_true(holder == Store::Holder::kSender);
    assert_int_equal(original.seq, 3);
    assert_int_equal(original.timestamp, stored.timestamp);
    assert_true(original.duplicate);
    AppendResult untouched;
    assert_ok(store->holder("g", make_key(666), make_uuid(7), &holder, &untouched));
    assert_true(holder == Store::Holder::kAnother);
    assert_int_equal(untouched.seq, 0); //  another's message: nothing of it
    assert_ok(store->holder("g", request.sender, make_uuid(8), &holder, nullptr));
    assert_true(holder == Store::Holder::kNone);
    assert_status(store->holder("nope", request.sender, make_uuid(7), &holder, nullptr),
                  Status::kNotFound);
    //  Trimmed by retention: no longer held.
    Retention retention;
    retention.max_count = 1;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 1, 100);
    assert_ok(store->holder("g", request.sender, make_uuid(7), &holder, nullptr));
    assert_true(holder == Store::Holder::kNone);
}

//  ------------------------------------------------------------------------------------
//  Fetching

//  Four messages at 100, 200, 200 and 300 microseconds.
void append_four_timed(Store* store) {
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_ok(store, {make_request("g", "a")}, 100);
    append_ok(store, {make_request("g", "b"), make_request("g", "c")}, 200);
    append_ok(store, {make_request("g", "d")}, 300);
}

void test_fetch_since_timestamp_is_inclusive(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_four_timed(store);
    FetchResult result = fetch_ok(store, "g", 0, 200);
    assert_seqs(result, 2, 4);
    assert_false(result.summary.more);
    assert_int_equal(result.summary.missed, 0);
    assert_seqs(fetch_ok(store, "g", 0, 199), 2, 4);
    assert_seqs(fetch_ok(store, "g", 0, 201), 4, 4);
    assert_seqs(fetch_ok(store, "g", 0, 300), 4, 4);
    assert_seqs(fetch_ok(store, "g", 0, 0), 1, 4);
    assert_seqs(fetch_ok(store, "g", 0, 100), 1, 4);
}

void test_fetch_since_a_timestamp_after_the_last_message_returns_nothing(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_four_timed(store);
    FetchResult result = fetch_ok(store, "g", 0, 301);
    assert_true(result.messages.empty());
    assert_false(result.summary.more);
    assert_int_equal(result.summary.first_seq, 1);
    assert_int_equal(result.summary.last_seq, 4);
}

void test_fetch_since_timestamp_and_after_seq_both_apply(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_four_timed(store);
    assert_seqs(fetch_ok(store, "g", 2, 200), 3, 4);
    assert_seqs(fetch_ok(store, "g", 1, 300), 4, 4);
    assert_seqs(fetch_ok(store, "g", 3, 100), 4, 4);
}

void test_fetch_after_seq_returns_later_messages_in_order(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100);
    FetchResult result = fetch_ok(store, "g", 7);
    assert_seqs(result, 8, 10);
    assert_false(result.summary.more);
    assert_int_equal(result.summary.first_seq, 1);
    assert_int_equal(result.summary.last_seq, 10);
    assert_string_equal(result.messages[0].body.c_str(), "m7");
    result = fetch_ok(store, "g", 10);
    assert_true(result.messages.empty());
    assert_false(result.summary.more);
    assert_true(fetch_ok(store, "g", 99).messages.empty());
    //  A peer's after_seq may be any number: the largest is "none after it", not seq 0
    //  (the memory store read before its messages, the SQLite store said it was damaged).
    result = fetch_ok(store, "g", UINT64_MAX);
    assert_true(result.messages.empty());
    assert_false(result.summary.more);
    assert_int_equal(result.summary.missed, 0);
}

void test_fetch_with_a_limit_continues_where_it_stopped(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 25, 100);
    FetchResult page = fetch_ok(store, "g", 0, 0, 10);
    assert_seqs(page, 1, 10);
    assert_true(page.summary.more);
    page = fetch_ok(store, "g", page.messages.back().seq, 0, 10);
    assert_seqs(page, 11, 20);
    assert_true(page.summary.more);
    page = fetch_ok(store, "g", page.messages.back().seq, 0, 10);
    assert_seqs(page, 21, 25);
    assert_false(page.summary.more);
}

void test_fetch_since_timestamp_with_a_limit_continues_from_the_last_seq(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    for (uint64_t ts = 1; ts <= 20; ts++)
        append_many(store, "g", 3, ts * 1000); //  seqs 3ts-2 .. 3ts at ts
    //  Since 5000 is seq 13 on; pages of 4 walk it in order without loss or repeat.
    uint64_t after = 0;
    uint64_t expected = 13;
    for (;;) {
        FetchResult page = fetch_ok(store, "g", after, 5000, 4);
        assert_seqs(page, expected, std::min<uint64_t>(expected + 3, 60));
        expected += page.messages.size();
        after = page.messages.back().seq;
        if (!page.summary.more) break;
    }
    assert_int_equal(expected, 61);
}

void test_fetch_more_is_false_when_the_limit_reaches_the_last_message(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100);
    FetchResult page = fetch_ok(store, "g", 5, 0, 5);
    assert_seqs(page, 6, 10);
    assert_false(page.summary.more);
    page = fetch_ok(store, "g", 4, 0, 5);
    assert_seqs(page, 5, 9);
    assert_true(page.summary.more);
}

void test_fetch_max_bytes_stops_before_exceeding_but_returns_at_least_one(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100, "m", 100);
    FetchResult page = fetch_ok(store, "g", 0, 0, 0, 250);
    assert_seqs(page, 1, 2);
    assert_true(page.summary.more);
    page = fetch_ok(store, "g", 0, 0, 0, 300);
    assert_seqs(page, 1, 3);
    page = fetch_ok(store, "g", 0, 0, 0, 50);
    assert_seqs(page, 1, 1);
    assert_true(page.summary.more);
    page = fetch_ok(store, "g", 2, 0, 2, 1000);
    assert_seqs(page, 3, 4);
    page = fetch_ok(store, "g", 8, 0, 0, 150);
    assert_seqs(page, 9, 9);
    assert_true(page.summary.more);
}

void test_fetch_returns_every_field_intact(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    std::string body("bin\0ary\xff\x01", 10);
    AppendRequest request = make_request("g", body, make_uuid(77));
    request.sender = make_key(55);
    request.sender_name = "Zoë";
    append_ok(store, {request, make_request("g", "")}, 1234);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_int_equal(all.messages.size(), 2);
    const StoredMessage& message = all.messages[0];
    assert_int_equal(message.seq, 1);
    assert_int_equal(message.timestamp, 1234);
    assert_true(message.sender == make_key(55));
    assert_string_equal(message.sender_name.c_str(), "Zoë");
    assert_true(message.msg_id == make_uuid(77));
    assert_int_equal(message.body.size(), 10);
    assert_memory_equal(message.body.data(), body.data(), 10);
    assert_true(all.messages[1].body.empty());
}

FetchResult fetch_query(Store* store, const FetchQuery& query) {
    FetchResult result;
    assert_ok(store->fetch(query, &result));
    return result;
}

FetchQuery make_query(const std::string& group) {
    FetchQuery query;
    query.group = group;
    return query;
}

void test_fetch_until_timestamp_is_exclusive(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_four_timed(store); //  100, 200, 200, 300
    FetchQuery query = make_query("g");
    query.until_us = 200;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 1, 1);
    assert_false(result.summary.more);
    query.until_us = 201;
    assert_seqs(fetch_query(store, query), 1, 3);
    query.until_us = 300;
    assert_seqs(fetch_query(store, query), 1, 3);
    query.until_us = 301;
    assert_seqs(fetch_query(store, query), 1, 4);
    query.until_us = 100;
    assert_seqs(fetch_query(store, query), 1, 0);
    query.until_us = 1;
    result = fetch_query(store, query);
    assert_seqs(result, 1, 0);
    assert_int_equal(result.summary.first_seq, 1);
    assert_int_equal(result.summary.last_seq, 4);
    //  since <= ts < until
    query.since_us = 200;
    query.until_us = 300;
    assert_seqs(fetch_query(store, query), 2, 3);
    query.until_us = 200;
    assert_seqs(fetch_query(store, query), 1, 0);
    query.since_us = 300;
    query.until_us = 100;
    assert_seqs(fetch_query(store, query), 1, 0);
}

void test_fetch_before_seq_is_exclusive(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100);
    FetchQuery query = make_query("g");
    query.before_seq = 5;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 1, 4);
    assert_false(result.summary.more);
    query.before_seq = 1;
    assert_seqs(fetch_query(store, query), 1, 0);
    query.before_seq = 11;
    assert_seqs(fetch_query(store, query), 1, 10);
    query.before_seq = 1000;
    assert_seqs(fetch_query(store, query), 1, 10);
    query.after_seq = 3;
    query.before_seq = 5;
    assert_seqs(fetch_query(store, query), 4, 4);
    query.after_seq = 4;
    assert_seqs(fetch_query(store, query), 1, 0);
    query.after_seq = 7;
    assert_seqs(fetch_query(store, query), 1, 0);
    //  A limit takes from the oldest end; more says some remain before before_seq.
    query.after_seq = 0;
    query.before_seq = 8;
    query.limit = 3;
    result = fetch_query(store, query);
    assert_seqs(result, 1, 3);
    assert_true(result.summary.more);
    query.after_seq = 3;
    query.limit = 4;
    result = fetch_query(store, query);
    assert_seqs(result, 4, 7);
    assert_false(result.summary.more);
}

//  Three messages at each of 1000, 2000 .. 20000 microseconds: seq 3t-2 .. 3t at t*1000.
void append_sixty_timed(Store* store) {
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    for (uint64_t t = 1; t <= 20; t++)
        append_many(store, "g", 3, t * 1000);
}

void test_fetch_since_until_after_and_before_all_apply(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_sixty_timed(store);
    FetchQuery query = make_query("g");
    query.since_us = 5000;  //  seq 13 on
    query.until_us = 10000; //  up to seq 27
    assert_seqs(fetch_query(store, query), 13, 27);
    query.after_seq = 14;
    query.before_seq = 25;
    assert_seqs(fetch_query(store, query), 15, 24);
    //  The seq bounds wider than the time bounds: time decides.
    query.after_seq = 10;
    query.before_seq = 40;
    assert_seqs(fetch_query(store, query), 13, 27);
    //  Time bounds that fall between messages.
    query.since_us = 4500;
    query.until_us = 9500;
    assert_seqs(fetch_query(store, query), 13, 27);
    //  Pages either way within the bounds.
    query.after_seq = 14;
    query.before_seq = 25;
    query.limit = 4;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 15, 18);
    assert_true(result.summary.more);
    query.newest = true;
    result = fetch_query(store, query);
    assert_seqs(result, 21, 24);
    assert_true(result.summary.more);
    query.before_seq = 17;
    result = fetch_query(store, query);
    assert_seqs(result, 15, 16);
    assert_false(result.summary.more);
    //  Disjoint bounds select nothing.
    query.after_seq = 30;
    query.before_seq = 0;
    result = fetch_query(store, query);
    assert_seqs(result, 1, 0);
    assert_false(result.summary.more);
    assert_int_equal(result.summary.last_seq, 60);
}

void test_fetch_newest_returns_the_last_limit_in_seq_order(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 25, 100);
    FetchQuery query = make_query("g");
    query.newest = true;
    query.limit = 10;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 16, 25);
    assert_true(result.summary.more);
    assert_string_equal(result.messages[9].body.c_str(), "m24");
    query.limit = 25;
    result = fetch_query(store, query);
    assert_seqs(result, 1, 25);
    assert_false(result.summary.more);
    query.limit = 30;
    assert_false(fetch_query(store, query).summary.more);
    query.limit = 0;
    assert_seqs(fetch_query(store, query), 1, 25);
    query.limit = 1;
    query.after_seq = 24;
    result = fetch_query(store, query);
    assert_seqs(result, 25, 25);
    assert_false(result.summary.more);
}

//  A chat opens on the newest N and pages back with before_seq = the first seq it has.
void test_fetch_newest_pages_backward_to_seq_one(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 95, 100);
    FetchQuery query = make_query("g");
    query.newest = true;
    query.limit = 10;
    std::vector<uint64_t> seen;
    int pages = 0;
    for (; pages < 20; pages++) {
        FetchResult page = fetch_query(store, query);
        assert_false(page.messages.empty());
        uint64_t first = page.messages.front().seq;
        assert_seqs(page, first, first + page.messages.size() - 1);
        assert_int_equal(page.messages.back().seq + 1, query.before_seq ? query.before_seq : 96);
        for (size_t i = page.messages.size(); i-- > 0;)
            seen.push_back(page.messages[i].seq);
        assert_int_equal(page.summary.missed, 0);
        if (!page.summary.more) break;
        query.before_seq = first;
    }
    assert_int_equal(pages, 9); //  nine full pages, then 1..5
    assert_int_equal(seen.size(), 95);
    for (size_t i = 0; i < seen.size(); i++)
        assert_int_equal(seen[i], 95 - i);
    query.before_seq = 1;
    FetchResult past = fetch_query(store, query);
    assert_true(past.messages.empty());
    assert_false(past.summary.more);
}

void test_fetch_newest_with_max_bytes_counts_from_the_newest_end(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100, "m", 100);
    append_many(store, "g", 1, 100, "big", 1000); //  seq 11
    FetchQuery query = make_query("g");
    query.newest = true;
    query.max_bytes = 250;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 11, 11); //  always at least one
    assert_true(result.summary.more);
    query.before_seq = 11;
    result = fetch_query(store, query);
    assert_seqs(result, 9, 10);
    assert_true(result.summary.more);
    query.max_bytes = 300;
    assert_seqs(fetch_query(store, query), 8, 10);
    query.max_bytes = 50;
    assert_seqs(fetch_query(store, query), 10, 10);
    query.max_bytes = 1000;
    query.limit = 2;
    result = fetch_query(store, query);
    assert_seqs(result, 9, 10);
    assert_true(result.summary.more);
    query.limit = 0;
    query.before_seq = 4;
    result = fetch_query(store, query);
    assert_seqs(result, 1, 3);
    assert_false(result.summary.more);
    query.before_seq = 0;
    query.max_bytes = 2000;
    assert_seqs(fetch_query(store, query), 1, 11);
}

//  Checks what a visitor is handed, and keeps only counts: no copy of any row.
struct CheckingVisitor : FetchVisitor {
    uint64_t count = 0;
    uint64_t bytes = 0;
    uint64_t with_msg_id = 0;
    uint64_t last_seq = 0;
    bool sender_ok = true;
    void message(const MessageView& view) override {
        count++;
        bytes += view.body_size;
        if (view.msg_id) with_msg_id++;
        last_seq = view.seq;
        sender_ok = sender_ok && view.sender && view.sender_name && view.body &&
                    Key::from_bytes(view.sender) == make_key(1000) &&
                    std::string(view.sender_name, view.sender_name_size) == "alice";
    }
};

void test_fetch_hands_each_message_to_the_visitor(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 20, 100, "m", 30);
    append_ok(store, {make_request("g", "")}, 200); //  seq 21: no id, empty body
    FetchQuery query = make_query("g");
    query.after_seq = 5;
    CheckingVisitor visitor;
    FetchSummary summary;
    assert_ok(store->fetch(query, &visitor, &summary));
    assert_int_equal(visitor.count, 16);
    assert_int_equal(visitor.bytes, 15 * 30);
    assert_int_equal(visitor.with_msg_id, 15);
    assert_int_equal(visitor.last_seq, 21);
    assert_true(visitor.sender_ok);
    assert_false(summary.more);
    assert_int_equal(summary.first_seq, 1);
    assert_int_equal(summary.last_seq, 21);
    //  An unknown group leaves the summary and the visitor alone.
    query.group = "nope";
    summary.last_seq = 77;
    assert_status(store->fetch(query, &visitor, &summary), Status::kNotFound);
    assert_int_equal(summary.last_seq, 77);
    assert_int_equal(visitor.count, 16);
}

//  ------------------------------------------------------------------------------------
//  Members

void test_members_add_list_and_remove_in_join_order(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->add_member("g", make_member(1, "ann", 30)));
    assert_ok(store->add_member("g", make_member(2, "bob", 10)));
    assert_ok(store->add_member("g", make_member(3, "cy", 20)));
    assert_int_equal(info_ok(store, "g").member_count, 3);
    std::vector<Member> members;
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 3);
    assert_string_equal(members[0].name.c_str(), "bob");
    assert_string_equal(members[1].name.c_str(), "cy");
    assert_string_equal(members[2].name.c_str(), "ann");
    assert_true(members[2].key == make_key(1));
    assert_int_equal(members[2].joined_us, 30);
    assert_ok(store->remove_member("g", make_key(2)));
    assert_int_equal(info_ok(store, "g").member_count, 2);
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 2);
    assert_string_equal(members[0].name.c_str(), "cy");
    assert_string_equal(members[1].name.c_str(), "ann");
    //  Joined in the same microsecond: by key, whatever the order they were added in.
    assert_ok(store->add_member("g", make_member(9, "dee", 40)));
    assert_ok(store->add_member("g", make_member(2, "bob", 40)));
    assert_ok(store->add_member("g", make_member(5, "eve", 40)));
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 5);
    const char* expected[] = {"cy", "ann", "bob", "eve", "dee"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(members[i].name.c_str(), expected[i]);
    assert_true(members[2].key == make_key(2));
}

//  A page of members starts after a place (a member's joined_us and key, whether or not that
//  member is still there) and holds at most its limit, in the order of the whole list.
void test_members_come_in_pages_after_a_place(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("other", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->add_member("other", make_member(7, "zed", 5)));
    //  By joined_us, then key: ann (1, 10), cy (3, 20), bob (2, 30), dee (4, 30), eve (5, 40).
    assert_ok(store->add_member("g", make_member(5, "eve", 40)));
    assert_ok(store->add_member("g", make_member(4, "dee", 30)));
    assert_ok(store->add_member("g", make_member(2, "bob", 30)));
    assert_ok(store->add_member("g", make_member(3, "cy", 20)));
    assert_ok(store->add_member("g", make_member(1, "ann", 10)));
    auto names = [](const std::vector<Member>& members) {
        std::string text;
        for (const Member& member : members)
            text += (text.empty() ? "" : " ") + member.name;
        return text;
    };
    std::vector<Member> page;
    assert_ok(store->members("g", nullptr, 2, &page));
    assert_string_equal(names(page).c_str(), "ann cy");
    MemberPlace place{page.back().joined_us, page.back().key};
    assert_ok(store->members("g", &place, 2, &page));
    assert_string_equal(names(page).c_str(), "bob dee");
    //  After bob, at the same joined_us as dee: dee, by key.
    place = MemberPlace{30, make_key(2)};
    assert_ok(store->members("g", &place, 10, &page));
    assert_string_equal(names(page).c_str(), "dee eve");
    //  After a member who has left: where that member was.
    assert_ok(store->remove_member("g", make_key(3)));
    place = MemberPlace{20, make_key(3)};
    assert_ok(store->members("g", &place, 10, &page));
    assert_string_equal(names(page).c_str(), "bob dee eve");
    //  After a place between two members, and after the last.
    place = MemberPlace{25, Key()};
    assert_ok(store->members("g", &place, 1, &page));
    assert_string_equal(names(page).c_str(), "bob");
    place = MemberPlace{40, make_key(5)};
    assert_ok(store->members("g", &place, 10, &page));
    assert_true(page.empty());
    //  A place past any timestamp (a client's text), and a limit of 0.
    place = MemberPlace{UINT64_MAX, Key()};
    assert_ok(store->members("g", &place, 10, &page));
    assert_true(page.empty());
    assert_ok(store->members("g", nullptr, 0, &page));
    assert_true(page.empty());
    assert_status(store->members("nope", &place, 10, &page), Status::kNotFound);
}

void test_add_member_twice_returns_exists_and_keeps_the_first_name(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->add_member("g", make_member(1, "ann", 10)));
    assert_status(store->add_member("g", make_member(1, "other", 20)), Status::kExists);
    std::vector<Member> members;
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 1);
    assert_string_equal(members[0].name.c_str(), "ann");
    assert_int_equal(info_ok(store, "g").member_count, 1);
}

void test_remove_member_of_a_non_member_is_not_found(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->add_member("g", make_member(2, "bob", 10)));
    assert_status(store->remove_member("g", make_key(1)), Status::kNotFound);
    assert_ok(store->remove_member("g", make_key(2)));
    assert_status(store->remove_member("g", make_key(2)), Status::kNotFound);
    assert_int_equal(info_ok(store, "g").member_count, 0);
}

void test_members_belong_to_their_group_only(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->add_member("a", make_member(1, "ann", 10)));
    std::vector<Member> members;
    assert_ok(store->members("b", &members));
    assert_true(members.empty());
    assert_int_equal(info_ok(store, "b").member_count, 0);
    assert_status(store->remove_member("b", make_key(1)), Status::kNotFound);
    assert_ok(store->members("a", &members));
    assert_int_equal(members.size(), 1);
}

//  ------------------------------------------------------------------------------------
//  Owner, policy and allowed keys

void test_create_group_keeps_its_owner_and_policy(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("club", make_uuid(1), make_key(7), Policy::kMembers));
    assert_ok(store->create_group("open", make_uuid(2), Key(), Policy::kOpen));
    std::vector<GroupInfo> groups;
    assert_ok(store->list_groups(&groups));
    assert_int_equal(groups.size(), 2);
    assert_true(groups[0].owner == make_key(7));
    assert_int_equal((int)groups[0].policy, (int)Policy::kMembers);
    assert_true(groups[1].owner.is_nil());
    assert_int_equal((int)groups[1].policy, (int)Policy::kOpen);
    assert_ok(store->set_owner("open", make_key(8)));
    assert_ok(store->set_policy("open", Policy::kMembers));
    GroupInfo info = info_ok(store, "open");
    assert_true(info.owner == make_key(8));
    assert_int_equal((int)info.policy, (int)Policy::kMembers);
    assert_ok(store->set_owner("club", Key()));
    assert_ok(store->set_policy("club", Policy::kOpen));
    info = info_ok(store, "club");
    assert_true(info.owner.is_nil());
    assert_int_equal((int)info.policy, (int)Policy::kOpen);
}

void test_a_policy_that_is_not_one_is_invalid(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_status(store->create_group("g", make_uuid(1), Key(), (Policy)7), Status::kInvalid);
    GroupInfo info;
    assert_status(store->group_info("g", &info), Status::kNotFound);
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kMembers));
    assert_status(store->set_policy("g", (Policy)2), Status::kInvalid);
    assert_int_equal((int)info_ok(store, "g").policy, (int)Policy::kMembers);
}

void test_allow_disallow_and_allowed(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), make_key(1), Policy::kMembers));
    assert_ok(store->create_group("other", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->allow("g", make_key(3)));
    assert_ok(store->allow("g", make_key(1)));
    assert_ok(store->allow("g", make_key(2)));
    assert_ok(store->allow("g", make_key(1))); //  again: nothing changes
    std::vector<Key> keys;
    assert_ok(store->allowed("g", &keys));
    assert_int_equal(keys.size(), 3);
    for (size_t i = 0; i < keys.size(); i++)
        assert_true(keys[i] == make_key(i + 1)); //  in byte order
    assert_ok(store->disallow("g", make_key(2)));
    assert_status(store->disallow("g", make_key(2)), Status::kNotFound);
    assert_status(store->disallow("g", make_key(9)), Status::kNotFound);
    assert_status(store->allow("g", Key()), Status::kInvalid);
    assert_ok(store->allowed("g", &keys));
    assert_int_equal(keys.size(), 2);
    assert_true(keys[0] == make_key(1));
    assert_true(keys[1] == make_key(3));
    assert_ok(store->allowed("other", &keys));
    assert_true(keys.empty());
    assert_status(store->disallow("other", make_key(1)), Status::kNotFound);
}

//  ------------------------------------------------------------------------------------
//  Retention

void test_retention_by_count_trims_the_oldest_and_counts_missed(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_count = 5;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 3, 100);
    append_many(store, "g", 5, 200);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.last_seq, 8);
    assert_int_equal(info.retention.max_count, 5);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 4, 8);
    assert_int_equal(result.summary.missed, 3);
    assert_int_equal(result.summary.first_seq, 4);
    assert_int_equal(info.message_count, 5);
    assert_int_equal(fetch_ok(store, "g", 1).summary.missed, 2);
    assert_int_equal(fetch_ok(store, "g", 2).summary.missed, 1);
    assert_int_equal(fetch_ok(store, "g", 3).summary.missed, 0);
    assert_int_equal(fetch_ok(store, "g", 6).summary.missed, 0);
}

void test_retention_by_bytes_trims_the_oldest(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_bytes = 35;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 6, 100, "m", 10);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.last_seq, 6);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 4, 6);
    assert_int_equal(result.summary.missed, 3);
    assert_int_equal(info.bytes, 30);
    assert_int_equal(info.message_count, 3);
    append_many(store, "g", 1, 100, "m", 20);
    assert_int_equal(info_ok(store, "g").bytes, 30);
    assert_int_equal(fetch_ok(store, "g", 0).summary.missed, 5);
    assert_int_equal(info_ok(store, "g").first_seq, 6);
}

void test_set_retention_trims_at_once(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 10, 100);
    Retention retention;
    retention.max_count = 4;
    assert_ok(store->set_retention("g", retention, 1000));
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 7);
    assert_int_equal(info.last_seq, 10);
    assert_seqs(fetch_ok(store, "g", 0), 7, 10);
    //  Lifting the limit keeps what is left and trims nothing more.
    assert_ok(store->set_retention("g", Retention(), 1000));
    append_many(store, "g", 10, 100);
    assert_int_equal(info_ok(store, "g").first_seq, 7);
}

void test_fetch_since_a_time_after_the_trimmed_messages_misses_nothing(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 3, 100);
    append_many(store, "g", 3, 200);
    Retention retention;
    retention.max_count = 3;
    assert_ok(store->set_retention("g", retention, 1000));
    FetchResult result = fetch_ok(store, "g", 0, 150);
    assert_seqs(result, 4, 6);
    assert_int_equal(result.summary.missed, 0);
    result = fetch_ok(store, "g", 0, 100);
    assert_seqs(result, 4, 6);
    assert_int_equal(result.summary.missed, 3);
}

void test_last_seq_survives_trimming_everything(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_bytes = 5; //  every 10-byte body is over the limit on its own
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 4, 100, "m", 10);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 4);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_true(result.messages.empty());
    assert_int_equal(result.summary.missed, 4);
    assert_false(result.summary.more);
    assert_int_equal(result.summary.first_seq, 0);
    assert_int_equal(result.summary.last_seq, 4);
    assert_int_equal(info.message_count, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(fetch_ok(store, "g", 4).summary.missed, 0);
    assert_ok(store->set_retention("g", Retention(), 1000));
    assert_int_equal(append_ok(store, {make_request("g", "next")}, 100)[0].seq, 5);
    assert_seqs(fetch_ok(store, "g", 0), 5, 5);
}

//  ------------------------------------------------------------------------------------
//  What a fetch missed

//  30 messages, retention of 10: seqs 1..20 are gone, 21..30 kept.
void append_thirty_keep_ten(Store* store) {
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_count = 10;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 30, 100);
}

void test_missed_is_exact_for_seq_cursors_after_count_trimming(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_thirty_keep_ten(store);
    FetchQuery query = make_query("g");
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 21, 30);
    assert_int_equal(result.summary.missed, 20);
    query.after_seq = 5;
    assert_int_equal(fetch_query(store, query).summary.missed, 15);
    query.before_seq = 8;
    result = fetch_query(store, query);
    assert_true(result.messages.empty());
    assert_int_equal(result.summary.missed, 2); //  6 and 7
    query.before_seq = 0;
    query.after_seq = 20;
    assert_int_equal(fetch_query(store, query).summary.missed, 0);
    query.after_seq = 25;
    assert_int_equal(fetch_query(store, query).summary.missed, 0);
    //  Oldest first with a limit: the gap comes before the page, so it is reported.
    query.after_seq = 0;
    query.limit = 3;
    result = fetch_query(store, query);
    assert_seqs(result, 21, 23);
    assert_int_equal(result.summary.missed, 20);
}

void test_missed_is_reported_when_paging_backward_reaches_the_trimmed(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_thirty_keep_ten(store);
    FetchQuery query = make_query("g");
    query.newest = true;
    query.limit = 4;
    FetchResult page = fetch_query(store, query);
    assert_seqs(page, 27, 30);
    assert_true(page.summary.more);
    assert_int_equal(page.summary.missed, 0); //  retained older messages come first
    query.before_seq = 27;
    page = fetch_query(store, query);
    assert_seqs(page, 23, 26);
    assert_int_equal(page.summary.missed, 0);
    query.before_seq = 23;
    page = fetch_query(store, query);
    assert_seqs(page, 21, 22);
    assert_false(page.summary.more);
    assert_int_equal(page.summary.missed, 20);
    query.before_seq = 21;
    page = fetch_query(store, query);
    assert_true(page.messages.empty());
    assert_int_equal(page.summary.missed, 20);
    query.before_seq = 11;
    assert_int_equal(fetch_query(store, query).summary.missed, 10);
}

void test_missed_after_bytes_trimming(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_bytes = 1000;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 25, 100, "m", 100); //  keeps 16..25
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 16);
    assert_int_equal(info.bytes, 1000);
    FetchQuery query = make_query("g");
    query.after_seq = 3;
    assert_int_equal(fetch_query(store, query).summary.missed, 12);
    query.after_seq = 0;
    query.newest = true;
    query.max_bytes = 10000;
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 16, 25);
    assert_false(result.summary.more);
    assert_int_equal(result.summary.missed, 15);
}

//  The trimmed messages' own timestamps are gone, so since_us gives an upper bound - and
//  0 once since_us is after the newest trimmed message.
void test_missed_for_a_since_query_is_a_bound(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 5, 100); //  1..5
    append_many(store, "g", 5, 200); //  6..10
    append_many(store, "g", 5, 300); //  11..15
    Retention retention;
    retention.max_count = 7; //  1..8 go: five at 100, three at 200
    assert_ok(store->set_retention("g", retention, 1000));
    FetchQuery query = make_query("g");
    assert_int_equal(fetch_query(store, query).summary.missed, 8);
    query.since_us = 150; //  truly missed: 6, 7, 8
    FetchResult result = fetch_query(store, query);
    assert_seqs(result, 9, 15);
    assert_in_range(result.summary.missed, 3, 8);
    query.since_us = 200;
    assert_in_range(fetch_query(store, query).summary.missed, 3, 8);
    query.since_us = 201;
    result = fetch_query(store, query);
    assert_seqs(result, 11, 15);
    assert_int_equal(result.summary.missed, 0);
    query.since_us = 150;
    query.after_seq = 6; //  truly missed: 7, 8
    assert_int_equal(fetch_query(store, query).summary.missed, 2);
    query.after_seq = 0;
    query.until_us = 250; //  until: no help below the trimmed time, still a bound
    result = fetch_query(store, query);
    assert_seqs(result, 9, 10);
    assert_in_range(result.summary.missed, 3, 8);
}

//  ------------------------------------------------------------------------------------
//  Retention by age

void test_age_retention_trims_at_append(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_age_us = 1000;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 3, 1000); //  1..3
    append_many(store, "g", 2, 1500); //  4..5
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 1);
    assert_int_equal(info.message_count, 5);
    append_many(store, "g", 1, 2001); //  1..3 are 1001 old now
    info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.last_seq, 6);
    assert_int_equal(info.retention.max_age_us, 1000);
    append_many(store, "g", 1, 2500); //  4..5 are exactly 1000 old: kept
    assert_int_equal(info_ok(store, "g").first_seq, 4);
    append_many(store, "g", 1, 3400); //  4..6 go, 7 (at 2500) stays
    info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 7);
    assert_int_equal(info.message_count, 2);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 7, 8);
    assert_int_equal(result.summary.missed, 6);
}

void test_trim_removes_what_age_retention_no_longer_keeps_in_every_group(void** state) {
    Store* store = fixture_of(state)->store.get();
    Retention short_age;
    short_age.max_age_us = 1000;
    Retention long_age;
    long_age.max_age_us = 5000;
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->create_group("c", make_uuid(3), Key(), Policy::kOpen));
    assert_ok(store->set_retention("a", short_age, 0));
    assert_ok(store->set_retention("b", long_age, 0));
    append_many(store, "a", 3, 1000);
    append_many(store, "a", 2, 1500);
    for (const char* group : {"b", "c"}) {
        append_many(store, group, 3, 1000);
        append_many(store, group, 2, 4000);
    }
    uint64_t trimmed = 99;
    assert_ok(store->trim(1900, &trimmed));
    assert_int_equal(trimmed, 0);
    assert_ok(store->trim(2001, &trimmed));
    assert_int_equal(trimmed, 3);
    assert_int_equal(info_ok(store, "a").first_seq, 4);
    assert_int_equal(info_ok(store, "b").first_seq, 1);
    assert_ok(store->trim(2500, &trimmed)); //  a's last two are exactly 1000 old
    assert_int_equal(trimmed, 0);
    assert_ok(store->trim(7000, &trimmed));
    assert_int_equal(trimmed, 5);
    GroupInfo a = info_ok(store, "a");
    assert_int_equal(a.first_seq, 0);
    assert_int_equal(a.last_seq, 5);
    assert_int_equal(a.message_count, 0);
    assert_int_equal(a.bytes, 0);
    assert_int_equal(info_ok(store, "b").first_seq, 4);
    assert_int_equal(info_ok(store, "c").first_seq, 1);
    assert_int_equal(info_ok(store, "c").message_count, 5);
    assert_ok(store->trim(9001, nullptr));
    assert_int_equal(info_ok(store, "b").message_count, 0);
    assert_int_equal(fetch_ok(store, "b", 0).summary.missed, 5);
    assert_ok(store->trim(9500, &trimmed));
    assert_int_equal(trimmed, 0);
    //  The seq goes on after everything went.
    assert_int_equal(append_ok(store, {make_request("a", "x")}, 9500)[0].seq, 6);
    assert_seqs(fetch_ok(store, "a", 0), 6, 6);
}

void test_set_retention_with_an_age_trims_at_once(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 4, 1000);
    append_many(store, "g", 4, 2000);
    Retention retention;
    retention.max_age_us = 500;
    assert_ok(store->set_retention("g", retention, 2200));
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 5);
    assert_int_equal(info.message_count, 4);
    assert_int_equal(info.retention.max_age_us, 500);
    //  Every limit at once: the strictest wins.
    retention.max_count = 3;
    assert_ok(store->set_retention("g", retention, 2200));
    assert_int_equal(info_ok(store, "g").first_seq, 6);
}

//  ------------------------------------------------------------------------------------
//  Size on disk

//  The sizes of the database and its WAL.
uint64_t files_size(const std::string& dir) {
    struct stat db;
    struct stat wal;
    uint64_t size = 0;
    if (stat((dir + "/zgm.db").c_str(), &db) == 0) size += (uint64_t)db.st_size;
    if (stat((dir + "/zgm.db-wal").c_str(), &wal) == 0) size += (uint64_t)wal.st_size;
    return size;
}

void test_disk_size_grows_with_data(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    uint64_t empty = 1;
    assert_ok(store->disk_size(&empty));
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    for (int i = 0; i < 10; i++)
        append_many(store, "g", 100, 100, "m", 1000);
    uint64_t full = 0;
    assert_ok(store->disk_size(&full));
    if (!fixture->kind->persistent) {
        assert_int_equal(empty, 0);
        assert_int_equal(full, 0);
        return;
    }
    assert_true(full >= empty + 1000 * 1000);
    //  It is the database and its WAL, whatever has been checkpointed by now: the files'
    //  sizes the same before and after it was read (a checkpoint may be under way beside).
    uint64_t before = 0;
    uint64_t after = 1;
    for (int tries = 0; before != after && tries < 500; tries++) {
        if (tries) usleep(10 * 1000);
        before = files_size(fixture->dir);
        assert_ok(store->disk_size(&full));
        after = files_size(fixture->dir);
    }
    assert_int_equal(before, after);
    assert_int_equal(full, after);
}

//  ------------------------------------------------------------------------------------
//  SQLite only: persistence

//  What a fetch reads of the newest messages, kept in memory since they were appended, is
//  what it reads from the database after a reopen (which keeps nothing in memory): every
//  field, for every kind of query, with retention's trims and a repeated id in between.
void test_sqlite_fetch_reads_the_same_from_memory_as_from_the_database(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("other", make_uuid(2), Key(), Policy::kOpen));
    std::vector<AppendRequest> batch;
    for (int i = 0; i < 60; i++) {
        AppendRequest request =
            make_request(i % 7 ? "g" : "other", std::string("b\0dy", 4) + std::to_string(i),
                         i % 3 ? make_uuid(100 + i) : Uuid());
        request.sender = make_key(i % 4);
        request.sender_name = i % 5 ? "n" + std::to_string(i) : "";
        if (i == 11) request.body.clear();
        batch.push_back(request);
    }
    batch.push_back(batch[4]); //  a repeat: stored once
    append_ok(store, batch, 1000);
    append_many(store, "g", 30, 2000, "late", 200);
    Retention retention;
    retention.max_count = 70;
    assert_ok(store->set_retention("g", retention, 3000));
    append_many(store, "g", 5, 4000, "last");
    std::vector<FetchQuery> queries;
    for (uint64_t after : {0, 3, 20, 40, 89})
        for (uint32_t limit : {0, 1, 10})
            for (bool newest : {false, true}) {
                FetchQuery query = make_query("g");
                query.after_seq = after;
                query.limit = limit;
                query.newest = newest;
                queries.push_back(query);
            }
    FetchQuery query = make_query("g");
    query.since_us = 2000;
    query.until_us = 4000;
    queries.push_back(query);
    query.before_seq = 80;
    queries.push_back(query);
    query = make_query("g");
    query.max_bytes = 450;
    queries.push_back(query);
    query.newest = true;
    queries.push_back(query);
    queries.push_back(make_query("other"));
    std::vector<FetchResult> from_memory;
    for (const FetchQuery& each : queries)
        from_memory.push_back(fetch_query(store, each));
    assert_int_equal(from_memory[0].messages.size(), 70);
    assert_int_equal(from_memory[0].summary.missed, 51 + 30 + 5 - 70);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    for (size_t q = 0; q < queries.size(); q++) {
        FetchResult from_disk = fetch_query(store, queries[q]);
        const FetchResult& memory = from_memory[q];
        assert_int_equal(memory.messages.size(), from_disk.messages.size());
        assert_int_equal(memory.summary.more, from_disk.summary.more);
        assert_int_equal(memory.summary.missed, from_disk.summary.missed);
        assert_int_equal(memory.summary.first_seq, from_disk.summary.first_seq);
        assert_int_equal(memory.summary.last_seq, from_disk.summary.last_seq);
        for (size_t i = 0; i < memory.messages.size(); i++) {
            const StoredMessage& a = memory.messages[i];
            const StoredMessage& b = from_disk.messages[i];
            assert_int_equal(a.seq, b.seq);
            assert_int_equal(a.timestamp, b.timestamp);
            assert_true(a.sender == b.sender);
            assert_true(a.sender_name == b.sender_name);
            assert_true(a.msg_id == b.msg_id);
            assert_true(a.body == b.body);
        }
    }
}

//  The newest rows in memory: a run of seqs per group, trimmed below what retention keeps,
//  started again at a gap, and never over its bytes (the oldest chunk of all goes first).
void test_recent_rows_keep_the_newest_run_of_each_group_within_their_bytes(void** state) {
    (void)state;
    const size_t chunk = 16 * 1024; //  under a bound of 16 chunks, a chunk's limit
    RecentRows rows(16 * chunk);
    std::string body(chunk / 4, 'x'); //  3 rows a chunk
    for (uint64_t seq = 1; seq <= 6; seq++)
        rows.add(1, seq, 100 + seq, make_key(seq), "a", make_uuid(seq), body);
    assert_true(rows.covers(1, 1, 6));
    assert_false(rows.covers(1, 1, 7));
    std::vector<uint64_t> seen;
    rows.read(1, 2, 5, [&](const MessageView& view) {
        seen.push_back(view.seq);
        assert_int_equal(view.timestamp, 100 + view.seq);
        assert_memory_equal(view.sender, make_key(view.seq).bytes, kKeySize);
        assert_memory_equal(view.msg_id, make_uuid(view.seq).bytes, 16);
        assert_int_equal(view.body_size, body.size());
        return view.seq < 4;
    });
    assert_true(seen == std::vector<uint64_t>({2, 3, 4}));
    //  Retention keeps 5 on: 1..4 are not read again, and the chunk of 1..3 goes.
    rows.kept_from(1, 5);
    assert_false(rows.covers(1, 4, 6));
    assert_true(rows.covers(1, 5, 6));
    //  Another group's rows, 16 chunks of them: past the bound the oldest of all goes, group
    //  1's 4..6 first, then group 2's own first ones.
    for (uint64_t seq = 1; seq <= 48; seq++)
        rows.add(2, seq, seq, make_key(1), "", Uuid(), body);
    assert_true(rows.bytes() <= 16 * chunk);
    assert_false(rows.covers(1, 6, 6));
    assert_false(rows.covers(2, 1, 48));
    assert_true(rows.covers(2, 19, 48));
    rows.read(2, 10, 10, [&](const MessageView& view) {
        assert_null(view.msg_id);
        assert_int_equal(view.sender_name_size, 0);
        return true;
    });
    //  A seq that does not follow the run starts it again.
    rows.add(2, 50, 50, make_key(1), "", Uuid(), "y");
    assert_false(rows.covers(2, 48, 50));
    assert_true(rows.covers(2, 50, 50));
    //  A small bound holds many rows (its chunks are a sixteenth of it), not a chunk's
    //  first few: 64 KiB keep at least 40 of 200 rows of 1,000 bytes.
    RecentRows tiny(64 * 1024);
    for (uint64_t seq = 1; seq <= 200; seq++)
        tiny.add(1, seq, seq, make_key(1), "ann", Uuid(), std::string(1000, 't'));
    assert_true(tiny.bytes() <= 64 * 1024);
    assert_true(tiny.covers(1, 161, 200));
    //  A lower bound applies at once; 0 keeps nothing.
    tiny.set_max_bytes(16 * 1024);
    assert_true(tiny.bytes() <= 16 * 1024);
    assert_true(tiny.covers(1, 200, 200));
    assert_false(tiny.covers(1, 161, 200));
    tiny.set_max_bytes(0);
    assert_int_equal(tiny.bytes(), 0);
    assert_false(tiny.covers(1, 200, 200));
    //  Under the default bound (ServerLimits' 8 MiB) a chunk is at most kChunkBytes, not a
    //  sixteenth of the bound: the first chunk to go, when the bound is passed, takes fewer
    //  than kChunkBytes / 1,000 rows of 1,000 bytes (243 with their headers; 487 with 512 KiB
    //  chunks).
    const size_t kDefaultBound = (size_t)ServerLimits().recent_bytes;
    RecentRows full(kDefaultBound);
    uint64_t seq = 0;
    do {
        seq++;
        full.add(1, seq, seq, make_key(1), "ann", Uuid(), std::string(1000, 'd'));
    } while (full.covers(1, 1, seq) && seq < 20000);
    assert_false(full.covers(1, 1, seq));
    assert_true(full.bytes() <= kDefaultBound);
    assert_true(full.covers(1, RecentRows::kChunkBytes / 1000, seq));
    //  A group of one message holds about a kilobyte, not a chunk: 500 such groups fit in
    //  the bytes of 4 full chunks, and none of them is evicted.
    RecentRows small(4 * RecentRows::kChunkBytes);
    for (int64_t group = 1; group <= 500; group++)
        small.add(group, 1, 1, make_key(1), "ann", Uuid(), std::string(100, 'm'));
    for (int64_t group = 1; group <= 500; group++)
        assert_true(small.covers(group, 1, 1));
    assert_true(small.bytes() <= 4 * RecentRows::kChunkBytes);
    //  Nothing is kept with no bytes to keep it in.
    RecentRows none(0);
    none.add(1, 1, 1, make_key(1), "", Uuid(), "z");
    assert_false(none.covers(1, 1, 1));
    assert_int_equal(none.bytes(), 0);
}

void test_sqlite_reopen_keeps_groups_members_messages_and_last_seq(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->add_member("a", make_member(5, "ann", 10)));
    assert_ok(store->add_member("a", make_member(6, "bob", 20)));
    Retention retention;
    retention.max_count = 100;
    retention.max_bytes = 5000;
    assert_ok(store->set_retention("a", retention, 1000));
    append_many(store, "a", 7, 1000);
    append_ok(store, {make_request("b", "only", make_uuid(9))}, 2000);
    GroupInfo before = info_ok(store, "a");

    assert_ok(reopen(fixture));
    store = fixture->store.get();
    std::vector<GroupInfo> groups;
    assert_ok(store->list_groups(&groups));
    assert_int_equal(groups.size(), 2);
    GroupInfo after = groups[0];
    assert_string_equal(after.name.c_str(), "a");
    assert_true(after.id == make_uuid(1));
    assert_int_equal(after.created_us, before.created_us);
    assert_int_equal(after.first_seq, 1);
    assert_int_equal(after.last_seq, 7);
    assert_int_equal(after.last_timestamp, 1000);
    assert_int_equal(after.member_count, 2);
    assert_int_equal(after.retention.max_count, 100);
    assert_int_equal(after.retention.max_bytes, 5000);
    std::vector<Member> members;
    assert_ok(store->members("a", &members));
    assert_int_equal(members.size(), 2);
    assert_string_equal(members[1].name.c_str(), "bob");
    FetchResult all = fetch_ok(store, "a", 0);
    assert_seqs(all, 1, 7);
    assert_string_equal(all.messages[6].body.c_str(), "m6");
    assert_string_equal(all.messages[6].sender_name.c_str(), "alice");
    //  Seq goes on from where it was, and the clock still never goes back.
    AppendResult next = append_ok(store, {make_request("a", "next")}, 500)[0];
    assert_int_equal(next.seq, 8);
    assert_int_equal(next.timestamp, 1000);
    //  A repeat of a message from before the reopen is still recognised.
    AppendResult again = append_ok(store, {make_request("b", "only", make_uuid(9))}, 3000)[0];
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 1);
    assert_int_equal(again.timestamp, 2000);
}

void test_sqlite_reopen_after_trimming_everything_keeps_seq_gapless(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_bytes = 5;
    assert_ok(store->set_retention("g", retention, 1000));
    append_many(store, "g", 4, 100, "m", 10);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 4);
    assert_int_equal(info.last_timestamp, 100);
    assert_int_equal(fetch_ok(store, "g", 0).summary.missed, 4);
    assert_ok(store->set_retention("g", Retention(), 1000));
    assert_int_equal(append_ok(store, {make_request("g", "x")}, 50)[0].seq, 5);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 5);
    assert_int_equal(info.last_seq, 5);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 5, 5);
    assert_int_equal(result.summary.missed, 4);
}

void test_sqlite_creates_a_missing_data_directory(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/a/b/c";
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store));
    assert_non_null(fixture->store.get());
    struct stat info;
    assert_int_equal(stat((dir + "/zgm.db").c_str(), &info), 0);
}

void test_sqlite_data_dir_that_is_a_file_is_an_error(void** state) {
    Fixture* fixture = fixture_of(state);
    std::string file = fixture->dir + "/file";
    FILE* out = fopen(file.c_str(), "w");
    assert_non_null(out);
    fclose(out);
    std::unique_ptr<Store> store;
    Status status = open_sqlite_store(file, Durability::kFull, &store);
    assert_false(status.is_ok());
    assert_null(store.get());
    //  Said as such, also below it: it was "cannot create data directory FILE: File exists"
    //  (`zgm server --data FILE`).
    for (const std::string& dir : {file, file + "/deeper"}) {
        status = open_sqlite_store(dir, Durability::kFull, &store);
        if (status.message() != "store: " + file + " is not a directory")
            fail_msg("%s said: %s", dir.c_str(), status.message().c_str());
    }
    assert_status(open_sqlite_store("", Durability::kFull, &store), Status::kInvalid);
}

//  Runs one statement that returns one integer or text row on the store's database.
std::string query_db(const std::string& dir, const char* sql) {
    sqlite3* db = nullptr;
    std::string value = "(error)";
    if (sqlite3_open_v2((dir + "/zgm.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) ==
        SQLITE_OK) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0))
                value = (const char*)sqlite3_column_text(stmt, 0);
            else if (rc == SQLITE_DONE)
                value = "";
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return value;
}

std::string query_db(const std::string& dir, const std::string& sql) {
    return query_db(dir, sql.c_str());
}

void test_sqlite_database_is_in_wal_mode_with_a_schema_version(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_string_equal(query_db(fixture->dir, "PRAGMA journal_mode").c_str(), "wal");
    assert_string_equal(query_db(fixture->dir, "PRAGMA user_version").c_str(), "3");
}

//  A store of schema 3 made before the index of members by when they joined gets it at open,
//  and keeps what it held.
void test_sqlite_a_store_without_the_members_index_gets_it_at_open(void** state) {
    Fixture* fixture = fixture_of(state);
    const char* count =
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'members_by_joined'";
    assert_string_equal(query_db(fixture->dir, count).c_str(), "1");
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(fixture->store->add_member("g", make_member(2, "bob", 20)));
    assert_ok(fixture->store->add_member("g", make_member(1, "ann", 10)));
    fixture->store.reset();
    assert_string_equal(query_db(fixture->dir, "DROP INDEX members_by_joined").c_str(), "");
    assert_string_equal(query_db(fixture->dir, count).c_str(), "0");
    assert_ok(reopen(fixture));
    assert_string_equal(query_db(fixture->dir, count).c_str(), "1");
    std::vector<Member> members;
    assert_ok(fixture->store->members("g", &members));
    assert_int_equal(members.size(), 2);
    assert_string_equal(members[0].name.c_str(), "ann");
    assert_string_equal(query_db(fixture->dir, "PRAGMA user_version").c_str(), "3");
}

//  Hooks of the wrapped VFS (wrapped_vfs.h) whose syncs of a main database file wait while
//  its gate is closed (and whose reads fail while fail_reads is set). In WAL mode only a
//  checkpoint syncs the database (a commit syncs the WAL), so a closed gate holds every
//  checkpoint at its end, in whichever thread runs it. The thread that commits (the test's)
//  waits 5 s at most, and says so: a test that finds a commit held fails instead of hanging;
//  another thread waits for the gate (60 s at most).
struct SyncGate {
    std::mutex mutex;
    std::condition_variable changed;
    bool closed = false;
    std::thread::id writer;   //  the thread that commits
    int waiting = 0;          //  syncs of other threads held at the gate now
    bool writer_held = false; //  the writer's sync waited at the gate
    //  Counted whether the gate is closed or not: pages written to a WAL (writes of a
    //  page's size: SQLite writes each frame's header apart), and syncs of a WAL by another
    //  thread than the writer (a checkpoint pass syncs the WAL before it copies pages).
    std::atomic<long> wal_pages{0};
    std::atomic<long> passes_beside{0};
    std::atomic<long> wal_syncs{0}; //  syncs of a WAL by the writer
    //  Reads of a database or WAL file fail (SQLITE_IOERR_READ), as on a failing disk.
    std::atomic<bool> fail_reads{false};
    //  Syncs of a WAL fail (SQLITE_IOERR_FSYNC) after its writes went through: a disk that
    //  took the frames and cannot say they are durable.
    std::atomic<bool> fail_wal_syncs{false};
};
SyncGate sync_gate;

using test::real_of;
using test::wrapped;

int gated_sync(sqlite3_file* file, int flags) {
    if (sync_gate.fail_wal_syncs && wrapped(file)->wal) return SQLITE_IOERR_FSYNC;
    if (wrapped(file)->wal && std::this_thread::get_id() != sync_gate.writer)
        sync_gate.passes_beside++;
    else if (wrapped(file)->wal)
        sync_gate.wal_syncs++;
    if (wrapped(file)->main_db) {
        std::unique_lock<std::mutex> lock(sync_gate.mutex);
        bool writer = std::this_thread::get_id() == sync_gate.writer;
        if (writer && sync_gate.closed) sync_gate.writer_held = true;
        if (!writer) sync_gate.waiting++;
        sync_gate.changed.notify_all();
        sync_gate.changed.wait_for(lock, std::chrono::seconds(writer ? 5 : 60),
                                   [] { return !sync_gate.closed; });
        if (!writer) sync_gate.waiting--;
    }
    return real_of(file)->pMethods->xSync(real_of(file), flags);
}

int failing_read(sqlite3_file* file, void* data, int size, sqlite3_int64 offset) {
    if (sync_gate.fail_reads && (wrapped(file)->main_db || wrapped(file)->wal))
        return SQLITE_IOERR_READ;
    return real_of(file)->pMethods->xRead(real_of(file), data, size, offset);
}

int counted_write(sqlite3_file* file, const void* data, int size, sqlite3_int64 offset) {
    if (wrapped(file)->wal && size == 4096) sync_gate.wal_pages++;
    return real_of(file)->pMethods->xWrite(real_of(file), data, size, offset);
}

//  Makes the gated VFS the default (for the databases opened from now on), until the
//  fixture's teardown opens the gate and removes it.
void install_sync_gate(Fixture* fixture) {
    fixture->gated = true;
    test::VfsHooks hooks;
    hooks.sync = gated_sync;
    hooks.read = failing_read;
    hooks.write = counted_write;
    test::WrappedVfs::install(hooks);
}

void remove_sync_gate() {
    test::WrappedVfs::remove();
}

void set_sync_gate(bool closed) {
    sync_gate.fail_reads = false;
    sync_gate.fail_wal_syncs = false;
    std::lock_guard<std::mutex> lock(sync_gate.mutex);
    sync_gate.closed = closed;
    sync_gate.changed.notify_all();
}

//  A store that cannot read its disk says so: a fetch or a list of members that fails is an
//  error (the group server answers 507), never an empty or a short answer.
void test_sqlite_a_read_that_fails_is_an_error_not_an_empty_answer(void** state) {
    Fixture* fixture = fixture_of(state);
    install_sync_gate(fixture);
    assert_ok(reopen(fixture));
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(fixture->store->add_member("g", make_member(1, "ann", 30)));
    append_many(fixture->store.get(), "g", 500, 1000, "m", 100);
    assert_ok(reopen(fixture)); //  nothing of the messages or members in its cache
    Store* store = fixture->store.get();
    sync_gate.fail_reads = true;
    FetchQuery query;
    query.group = "g";
    FetchResult result;
    Status status = store->fetch(query, &result);
    assert_false(status.is_ok());
    assert_int_equal(status.code(), Status::kIo);
    std::vector<Member> members;
    status = store->members("g", &members);
    assert_false(status.is_ok());
    assert_int_equal(status.code(), Status::kIo);
    //  The disk back, the same store reads everything.
    sync_gate.fail_reads = false;
    assert_int_equal(fetch_ok(store, "g", 0, 0, 1000).messages.size(), 500);
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 1);
}

//  A file's bytes, copied whole (false if it cannot be read or written).
bool copy_file(const std::string& from, const std::string& to) {
    FILE* in = fopen(from.c_str(), "rb");
    FILE* out = in ? fopen(to.c_str(), "wb") : nullptr;
    bool ok = in && out;
    char buffer[65536];
    size_t got;
    while (ok && (got = fread(buffer, 1, sizeof buffer, in)) > 0)
        ok = fwrite(buffer, 1, got, out) == got;
    ok = ok && !ferror(in);
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = false;
    return ok;
}

//  A commit whose sync of the WAL failed may still be stored: its frames were written, and a
//  crash before the next commit (a power cut that failed the sync, a server killed) leaves
//  them to SQLite's recovery, which finds the transaction whole. So the store says the append
//  is in doubt (kInDoubt: the group server answers 504, its sender sends it again with the
//  same id), never "not stored" (kIo, 507: it was, after the crash). Sent again with its id
//  while the store runs, it is stored once, in the place of the frames of the failed commit.
void test_sqlite_an_append_whose_sync_failed_is_in_doubt_not_refused(void** state) {
    Fixture* fixture = fixture_of(state);
    install_sync_gate(fixture);
    assert_ok(reopen(fixture));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_ok(store, {make_request("g", "first", make_uuid(11))}, 1000);
    AppendRequest doubtful = make_request("g", "doubtful", make_uuid(12));
    std::vector<AppendResult> results;
    sync_gate.fail_wal_syncs = true;
    Status status = store->append({doubtful}, 2000, &results);
    sync_gate.fail_wal_syncs = false;
    assert_status(status, Status::kInDoubt);
    //  A crash now: the files as the store left them, opened where it would start again.
    std::string crashed = fixture->dir + "/crashed";
    assert_int_equal(mkdir(crashed.c_str(), 0700), 0);
    assert_true(copy_file(fixture->dir + "/zgm.db", crashed + "/zgm.db"));
    assert_true(copy_file(fixture->dir + "/zgm.db-wal", crashed + "/zgm.db-wal"));
    {
        std::unique_ptr<Store> after;
        assert_ok(open_sqlite_store(crashed, Durability::kFull, &after));
        FetchResult found = fetch_ok(after.get(), "g", 0);
        assert_int_equal(found.messages.size(), 2); //  stored, though the append failed
        assert_string_equal(std::string(found.messages[1].body).c_str(), "doubtful");
    }
    //  Settled by sending it again: stored once, after the first.
    results = append_ok(store, {doubtful}, 3000);
    assert_true(results[0].status.is_ok());
    assert_int_equal(results[0].seq, 2);
    append_ok(store, {make_request("g", "third", make_uuid(13))}, 4000);
    assert_seqs(fetch_ok(store, "g", 0), 1, 3);
    assert_ok(reopen(fixture));
    FetchResult whole = fetch_ok(fixture->store.get(), "g", 0);
    assert_seqs(whole, 1, 3);
    assert_string_equal(std::string(whole.messages[1].body).c_str(), "doubtful");
}

//  Acknowledged means synced: with durability full, each write the store returns from (an
//  append, a member added or removed, a group made) has synced the WAL it wrote (fsync), by
//  the thread that wrote; with normal, none after the first does (a checkpoint syncs later).
void test_sqlite_each_write_of_a_full_store_syncs_before_it_returns(void** state) {
    Fixture* fixture = fixture_of(state);
    install_sync_gate(fixture);
    sync_gate.writer = std::this_thread::get_id();
    for (Durability durability : {Durability::kFull, Durability::kNormal}) {
        assert_ok(reopen(fixture, durability));
        Store* store = fixture->store.get();
        bool full = durability == Durability::kFull;
        std::string group = full ? "full" : "normal";
        long before = sync_gate.wal_syncs;
        auto synced = [&](const char* what) {
            long syncs = sync_gate.wal_syncs - before;
            before = sync_gate.wal_syncs;
            if (full ? syncs < 1 : syncs != 0)
                fail_msg("%s (durability %s): %ld syncs of the WAL", what, group.c_str(), syncs);
        };
        assert_ok(store->create_group(group, make_uuid(full ? 1 : 2), Key(), Policy::kOpen));
        //  (The first commit into an empty WAL syncs its header, whatever the durability.)
        if (full) synced("create_group");
        before = sync_gate.wal_syncs;
        for (int i = 0; i < 3; i++) {
            append_ok(store, {make_request(group, "m", make_uuid(full ? 10 + i : 20 + i))},
                      1000 + i);
            synced("append");
        }
        assert_ok(store->add_member(group, make_member(1, "ann", 30)));
        synced("add_member");
        assert_ok(store->remove_member(group, make_member(1, "ann", 30).key));
        synced("remove_member");
    }
}

//  An append never waits for a checkpoint: the WAL is copied into the database by a thread
//  beside the one that commits. A checkpoint held at its sync of the database holds no
//  append back; it ends once the sync may go on.
void test_sqlite_an_append_does_not_wait_for_a_checkpoint(void** state) {
    Fixture* fixture = fixture_of(state);
    install_sync_gate(fixture);
    assert_ok(reopen(fixture, Durability::kNormal));
    sync_gate.writer = std::this_thread::get_id();
    set_sync_gate(true);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    sync_gate.wal_pages = 0;
    //  1,000 pages of WAL ask for a checkpoint; 25,000 messages of 100 bytes make about
    //  2,400, short of the 4,096 at which the writer copies the last pages itself. Once
    //  the WAL has asked for a pass, the test waits (10 s at most) for that pass, which
    //  finds every page copied, to be held at its sync of the database; the appends left
    //  go on while it is held.
    bool waited = false, held = false;
    for (int i = 0; i < 25; i++) {
        append_many(store, "g", 1000, 1000 + i, "m", 100);
        if (waited || sync_gate.wal_pages < Checkpointer::kCheckpointPages) continue;
        waited = true;
        std::unique_lock<std::mutex> lock(sync_gate.mutex);
        held = sync_gate.changed.wait_for(lock, std::chrono::seconds(10),
                                          [] { return sync_gate.waiting > 0; });
    }
    //  Every append returned with the gate closed, a checkpoint held at it.
    assert_true(held);
    uint64_t held_size = files_size(fixture->dir);
    set_sync_gate(false);
    assert_false(sync_gate.writer_held);
    //  Let go, it ends: the messages are in the database file, and all of them are read.
    struct stat db = {};
    for (int tries = 0; tries < 1000; tries++) {
        if (stat((fixture->dir + "/zgm.db").c_str(), &db) == 0 && db.st_size > 4 * 1024 * 1024)
            break;
        usleep(10 * 1000);
    }
    assert_true(db.st_size > 4 * 1024 * 1024);
    assert_true(held_size > 4 * 1024 * 1024);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_int_equal(all.messages.size(), 25000);
}

//  150,000 messages of 100 bytes to group "g", in batches of 1,000, one after the other:
//  the largest the WAL file was after a batch.
off_t largest_wal_over_appends(Fixture* fixture, Store* store) {
    off_t largest = 0;
    for (int i = 0; i < 150; i++) {
        append_many(store, "g", 1000, 1000 + i, "m", 100);
        struct stat wal;
        if (stat((fixture->dir + "/zgm.db-wal").c_str(), &wal) == 0)
            largest = std::max(largest, wal.st_size);
    }
    print_message("# largest WAL: %lld bytes, after 150,000 messages\n", (long long)largest);
    return largest;
}

//  Under appends that never stop, the WAL is still started again from its beginning (SQLite
//  starts it again only when a commit finds every page copied, which a thread copying beside
//  the commits may never leave): at 4,096 pages (16 MiB) the writer copies the last pages
//  itself, so the file stays below that and one commit's pages. Meanwhile the thread copies
//  once per 1,000 pages of WAL written, not one pass after the other: each pass syncs the
//  WAL and copies pages, and the commits wait behind that on the disk and the CPUs.
void test_sqlite_the_wal_stays_bounded_under_appends_that_never_stop(void** state) {
    Fixture* fixture = fixture_of(state);
    install_sync_gate(fixture);
    sync_gate.writer = std::this_thread::get_id();
    assert_ok(reopen(fixture, Durability::kNormal));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    sync_gate.wal_pages = 0;
    sync_gate.passes_beside = 0;
    //  Without the writer's copy of the last pages, the WAL reached 232 MB here.
    off_t largest = largest_wal_over_appends(fixture, store);
    long pages = sync_gate.wal_pages, passes = sync_gate.passes_beside;
    print_message("# %ld pages written to the WAL, %ld checkpoint passes beside the writer\n",
                  pages, passes);
    assert_true(largest > 4 * 1024 * 1024);
    assert_true(largest < 24 * 1024 * 1024);
    assert_true(passes >= 1);
    assert_true(passes <= pages / 1000); //  one pass after the other: 60 to 77 here
    FetchResult last = fetch_ok(store, "g", 149999);
    assert_int_equal(last.messages.size(), 1);
}

//  Without a checkpoint thread (here: no descriptor left for its connection when the WAL
//  first asks for one), appends go on and the WAL still starts again: the writer copies it
//  after its commits, as SQLite's own rule does.
void test_sqlite_without_a_checkpoint_thread_the_writer_copies_the_wal(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(reopen(fixture, Durability::kNormal));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    //  Every descriptor the process may have is taken: the lowest free one is the limit.
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &fixture->files), 0);
    int lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    struct rlimit lowered = fixture->files;
    lowered.rlim_cur = (rlim_t)lowest;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lowered), 0);
    fixture->lowered = true;
    assert_int_equal(dup(0), -1);
    off_t largest = largest_wal_over_appends(fixture, store);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &fixture->files), 0);
    fixture->lowered = false;
    //  1,000 pages and a commit's, where a thread that never let it start again made 232 MB.
    assert_true(largest < 8 * 1024 * 1024);
    FetchResult last = fetch_ok(store, "g", 149999);
    assert_int_equal(last.messages.size(), 1);
}

void test_sqlite_garbage_file_is_corrupt(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/garbage";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    FILE* out = fopen((dir + "/zgm.db").c_str(), "w");
    assert_non_null(out);
    for (int i = 0; i < 1000; i++)
        fputs("this is not a database, only some text. ", out);
    fclose(out);
    std::unique_ptr<Store> store;
    Status status = open_sqlite_store(dir, Durability::kFull, &store);
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(), "zgm.db"));
    assert_null(store.get());
}

//  A store turns SQLite's memory statistics off (a global mutex on every allocation) when it
//  is the first to start SQLite in the process; a process that started SQLite itself keeps
//  its setting. sqlite3_memory_used() counts nothing without them.
void test_sqlite_memory_statistics_are_off_unless_the_process_started_sqlite(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_ok(reopen(fixture));
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    assert_int_equal(sqlite3_memory_used(), 0);
    //  The process started SQLite with its statistics on: they stay on.
    fixture->store.reset();
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1), SQLITE_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    assert_ok(reopen(fixture));
    assert_true(sqlite3_memory_used() > 0);
    //  As the other tests found it: off, from the next store on.
    fixture->store.reset();
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_ok(reopen(fixture));
    assert_int_equal(sqlite3_memory_used(), 0);
}

void test_sqlite_newer_schema_is_refused_saying_what_to_do(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    fixture->store.reset();
    query_db(fixture->dir, "PRAGMA user_version = 4");
    Said said;
    Status status = reopen(fixture, Durability::kFull, 0, &said);
    assert_int_equal(status.code(), Status::kCorrupt);
    const char* message = status.message().c_str();
    assert_non_null(strstr(message, "schema version 4, newer than this zgm knows (3)"));
    assert_non_null(strstr(message, ("Run a zgm of that version or newer on " + fixture->dir +
                                     ", or move that directory aside")
                                        .c_str()));
    assert_null(fixture->store.get());
    assert_string_equal(said.text.c_str(), "");
    assert_string_equal(query_db(fixture->dir, "PRAGMA user_version").c_str(), "4");
    query_db(fixture->dir, "PRAGMA user_version = 99");
    status = reopen(fixture);
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(), "99"));
    query_db(fixture->dir, "PRAGMA user_version = -1");
    assert_status(reopen(fixture), Status::kCorrupt);
    //  Put back, it opens again.
    query_db(fixture->dir, "PRAGMA user_version = 3");
    assert_ok(reopen(fixture));
    assert_int_equal(info_ok(fixture->store.get(), "g").last_seq, 0);
}

void test_sqlite_database_of_another_program_is_refused(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/other";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open((dir + "/zgm.db").c_str(), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    std::unique_ptr<Store> store;
    assert_status(open_sqlite_store(dir, Durability::kFull, &store), Status::kCorrupt);
}

void test_sqlite_damaged_pages_are_reported_as_corrupt(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    for (int i = 0; i < 20; i++)
        append_many(store, "g", 100, 100, "m", 100);
    fixture->store.reset();
    //  Scribble over pages 3 to 40; page 1 (the header and schema) stays intact.
    int fd = open((fixture->dir + "/zgm.db").c_str(), O_WRONLY);
    assert_true(fd >= 0);
    std::string garbage(4096 * 38, '\x5a');
    assert_int_equal(pwrite(fd, garbage.data(), garbage.size(), 4096 * 2), (ssize_t)garbage.size());
    close(fd);
    Status status = reopen(fixture);
    if (status.is_ok()) {
        FetchQuery query;
        query.group = "g";
        FetchResult result;
        status = fixture->store->fetch(query, &result);
    }
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(), "zgm.db"));
}

void test_sqlite_durability_normal_stores_and_reopens(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(reopen(fixture, Durability::kNormal));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 50, 100);
    append_many(store, "g", 50, 200);
    assert_ok(reopen(fixture, Durability::kNormal));
    store = fixture->store.get();
    assert_seqs(fetch_ok(store, "g", 0), 1, 100);
    assert_ok(reopen(fixture, Durability::kFull));
    assert_int_equal(info_ok(fixture->store.get(), "g").last_seq, 100);
}

void test_sqlite_reopen_keeps_owner_policy_allowed_keys_and_age_retention(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("club", make_uuid(1), make_key(7), Policy::kMembers));
    assert_ok(store->create_group("open", make_uuid(2), Key(), Policy::kOpen));
    assert_ok(store->allow("club", make_key(4)));
    assert_ok(store->allow("club", make_key(3)));
    assert_ok(store->set_owner("open", make_key(9)));
    Retention retention;
    retention.max_age_us = 123456;
    retention.max_count = 50;
    assert_ok(store->set_retention("open", retention, 1000));
    assert_ok(store->add_member("club", make_member(5, "eve", 10)));
    assert_ok(store->add_member("club", make_member(2, "bob", 10)));

    assert_ok(reopen(fixture));
    store = fixture->store.get();
    GroupInfo club = info_ok(store, "club");
    assert_true(club.owner == make_key(7));
    assert_int_equal((int)club.policy, (int)Policy::kMembers);
    assert_int_equal(club.member_count, 2);
    GroupInfo open = info_ok(store, "open");
    assert_true(open.owner == make_key(9));
    assert_int_equal((int)open.policy, (int)Policy::kOpen);
    assert_int_equal(open.retention.max_age_us, 123456);
    assert_int_equal(open.retention.max_count, 50);
    std::vector<Key> keys;
    assert_ok(store->allowed("club", &keys));
    assert_int_equal(keys.size(), 2);
    assert_true(keys[0] == make_key(3));
    assert_true(keys[1] == make_key(4));
    std::vector<Member> members;
    assert_ok(store->members("club", &members));
    assert_int_equal(members.size(), 2); //  joined at the same time: by key
    assert_true(members[0].key == make_key(2));
    assert_true(members[1].key == make_key(5));
    //  Changes after a reopen stick too.
    assert_ok(store->set_owner("club", Key()));
    assert_ok(store->set_policy("club", Policy::kOpen));
    assert_ok(store->disallow("club", make_key(3)));
    assert_ok(reopen(fixture));
    club = info_ok(fixture->store.get(), "club");
    assert_true(club.owner.is_nil());
    assert_int_equal((int)club.policy, (int)Policy::kOpen);
    assert_ok(fixture->store->allowed("club", &keys));
    assert_int_equal(keys.size(), 1);
    assert_true(keys[0] == make_key(4));
}

//  A retention lowered over a long history trims it a part at a time, 4,096 messages a
//  transaction at most of what was there before (all groups together, each in turn; an
//  append trims as many more as it adds), and says whether more is left: one transaction
//  that trimmed 300,000 messages held a group server 2 s, past its registry's expiry.
void test_sqlite_a_long_history_is_trimmed_a_part_at_a_time(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("a", make_uuid(1), Key(), Policy::kOpen));
    assert_ok(store->create_group("b", make_uuid(2), Key(), Policy::kOpen));
    append_many(store, "a", 10000, 1000);
    append_many(store, "b", 3000, 1000);
    Retention keep;
    keep.max_count = 100;
    assert_ok(store->set_retention("a", keep, 2000));
    assert_int_equal(info_ok(store, "a").first_seq, 4097);
    assert_ok(store->set_retention("b", keep, 2000)); //  2,900 over: at once
    assert_int_equal(info_ok(store, "b").first_seq, 2901);
    //  An append trims what it added and a part more.
    append_many(store, "a", 1, 2000);
    assert_int_equal(info_ok(store, "a").first_seq, 8194);
    uint64_t trimmed = 0;
    bool more = true;
    assert_ok(store->trim(3000, &trimmed, &more));
    assert_int_equal(trimmed, 10001 - 100 - 8193);
    assert_false(more);
    assert_seqs(fetch_ok(store, "a", 0), 10001 - 99, 10001);
    //  Two groups over, 6,000 each: 4,096 of them a call, the group after the one trimmed
    //  last first (a was), then the other, until none is over.
    Retention none;
    assert_ok(store->set_retention("a", none, 4000));
    assert_ok(store->set_retention("b", none, 4000));
    append_many(store, "a", 6000, 4000);
    append_many(store, "b", 6000, 4000);
    assert_ok(store->set_retention_ceiling(keep, 5000));
    assert_int_equal(info_ok(store, "a").first_seq, 9902);
    assert_int_equal(info_ok(store, "b").first_seq, 2901 + 4096);
    assert_ok(store->trim(6000, &trimmed, &more));
    assert_int_equal(trimmed, 4096);
    assert_true(more);
    assert_int_equal(info_ok(store, "a").first_seq, 9902 + 4096);
    assert_ok(store->trim(6000, &trimmed, &more));
    assert_int_equal(trimmed, 2 * (6100 - 4096 - 100));
    assert_false(more);
    assert_int_equal(info_ok(store, "a").first_seq, 16001 - 99);
    assert_int_equal(info_ok(store, "b").first_seq, 9000 - 99);
    assert_ok(store->trim(7000, &trimmed, &more));
    assert_int_equal(trimmed, 0);
}

//  Retention holds under batches larger than what a transaction trims of what was there
//  before: each batch trims as many as it adds. (With 4,096 a batch and no more, batches of
//  8,192 left 40,960 messages of a group keeping 100 after 10 of them.)
void test_retention_holds_under_batches_larger_than_a_trim(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention keep;
    keep.max_count = 100;
    assert_ok(store->set_retention("g", keep, 1000));
    for (int i = 0; i < 10; i++) {
        append_many(store, "g", 8192, 2000 + i);
        GroupInfo info = info_ok(store, "g");
        assert_int_equal(info.last_seq - info.first_seq + 1, 100);
    }
}

void test_sqlite_age_retention_applies_after_a_reopen(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Retention retention;
    retention.max_age_us = 1000;
    assert_ok(store->set_retention("g", retention, 0));
    append_many(store, "g", 3, 1000);
    append_many(store, "g", 3, 1500);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    uint64_t trimmed = 0;
    assert_ok(store->trim(2001, &trimmed));
    assert_int_equal(trimmed, 3);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.message_count, 3);
    assert_int_equal(fetch_ok(store, "g", 0).summary.missed, 3);
    assert_ok(store->trim(2600, &trimmed));
    assert_int_equal(trimmed, 3);
}

//  ------------------------------------------------------------------------------------
//  SQLite only: a store of zgm 0.1 (schema 1), and one of a newer zgm

//  The schema of zgm 0.1, as src/store/sqlite_store.cc had it at 3dc9ab7.
const char* const kSchemaV1 = R"sql(
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

//  The schema of zgm 0.2 before schema 3, as src/store/sqlite_store.cc had it at 36709c9.
const char* const kSchemaV2 = R"sql(
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

struct V1Message {
    int64_t group_key;
    uint64_t seq;
    uint64_t timestamp;
    uint64_t sender; //  make_uuid(sender)
    const char* sender_name;
    uint64_t msg_id; //  make_uuid(msg_id), 0 for none
    const char* body;
};

//  What zgm 0.1 (or 0.2 at schema 2) left after: group "chat" (key 1) with three messages
//  and two members, group "news" (key 2) with a retention of 2 that trimmed seqs 1 and 2, and
//  one member. In schema 1 a sender or member N is make_uuid(N), in schema 2 make_key(N).
const V1Message kV1Messages[] = {
    {1, 1, 1100, 501, "ann", 101, "hello"},  {1, 2, 1200, 502, "bob", 102, "hi ann"},
    {1, 3, 1300, 501, "ann", 0, "bye"},      {2, 3, 2300, 502, "bob", 203, "third"},
    {2, 4, 2400, 502, "bob", 204, "fourth"},
};

bool exec_db(sqlite3* db, const char* sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    if (rc != SQLITE_OK) print_error("%s: %s\n", sql, error ? error : "?");
    sqlite3_free(error);
    return rc == SQLITE_OK;
}

//  A user id as schema 1 (a 16-byte uuid) or schema 2 (a 32-byte key) stored it.
std::string old_user_id(int version, uint64_t n) {
    if (version == 1) return std::string((const char*)make_uuid(n).bytes, 16);
    return std::string((const char*)make_key(n).bytes, kKeySize);
}

//  Writes dir/zgm.db as zgm 0.1 (version 1) or zgm 0.2 at schema 2 would have; a sender of
//  bad_sender_size bytes (not 0) makes a 0.1 one that cannot be migrated.
void write_old_database(const std::string& dir, int version, int bad_sender_size = 0) {
    sqlite3* db = nullptr;
    assert_int_equal(sqlite3_open((dir + "/zgm.db").c_str(), &db), SQLITE_OK);
    assert_true(exec_db(db, "PRAGMA journal_mode = WAL"));
    assert_true(exec_db(db, version == 1 ? kSchemaV1 : kSchemaV2));
    assert_true(exec_db(db, version == 1 ? "PRAGMA user_version = 1" : "PRAGMA user_version = 2"));
    sqlite3_stmt* stmt = nullptr;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO groups (key, name, id, created_us, max_count,"
                                        " last_seq, last_ts_us, trimmed_seq, trimmed_ts_us, bytes)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                        -1, &stmt, nullptr),
                     SQLITE_OK);
    struct {
        int64_t key;
        const char* name;
        uint64_t max_count, last_seq, last_timestamp, trimmed_seq, trimmed_timestamp, bytes;
    } groups[] = {{1, "chat", 0, 3, 1300, 0, 0, 14}, {2, "news", 2, 4, 2400, 2, 2200, 11}};
    for (const auto& group : groups) {
        Uuid id = make_uuid(group.key);
        sqlite3_bind_int64(stmt, 1, group.key);
        sqlite3_bind_text(stmt, 2, group.name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(stmt, 3, id.bytes, 16, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, 5000);
        sqlite3_bind_int64(stmt, 5, (int64_t)group.max_count);
        sqlite3_bind_int64(stmt, 6, (int64_t)group.last_seq);
        sqlite3_bind_int64(stmt, 7, (int64_t)group.last_timestamp);
        sqlite3_bind_int64(stmt, 8, (int64_t)group.trimmed_seq);
        sqlite3_bind_int64(stmt, 9, (int64_t)group.trimmed_timestamp);
        sqlite3_bind_int64(stmt, 10, (int64_t)group.bytes);
        assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO members (group_key, user, name, joined_us)"
                                        " VALUES (?1, ?2, ?3, ?4)",
                                        -1, &stmt, nullptr),
                     SQLITE_OK);
    struct {
        int64_t group_key;
        uint64_t user;
        const char* name;
    } members[] = {{1, 501, "ann"}, {1, 502, "bob"}, {2, 502, "bob"}};
    for (const auto& member : members) {
        std::string user = old_user_id(version, member.user);
        sqlite3_bind_int64(stmt, 1, member.group_key);
        sqlite3_bind_blob(stmt, 2, user.data(), (int)user.size(), SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, member.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, 100);
        assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO messages (group_key, seq, ts_us, sender,"
                                        " sender_name, msg_id, body)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                        -1, &stmt, nullptr),
                     SQLITE_OK);
    for (const V1Message& message : kV1Messages) {
        std::string sender = old_user_id(version, message.sender);
        Uuid msg_id = make_uuid(message.msg_id);
        sqlite3_bind_int64(stmt, 1, message.group_key);
        sqlite3_bind_int64(stmt, 2, (int64_t)message.seq);
        sqlite3_bind_int64(stmt, 3, (int64_t)message.timestamp);
        bool bad = bad_sender_size && &message == &kV1Messages[4];
        sqlite3_bind_blob(stmt, 4, sender.data(), bad ? bad_sender_size : (int)sender.size(),
                          SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, message.sender_name, -1, SQLITE_STATIC);
        if (message.msg_id)
            sqlite3_bind_blob(stmt, 6, msg_id.bytes, 16, SQLITE_STATIC);
        else
            sqlite3_bind_null(stmt, 6);
        sqlite3_bind_blob(stmt, 7, message.body, (int)strlen(message.body), SQLITE_STATIC);
        assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

void test_sqlite_a_zgm_0_1_store_is_migrated_keeping_messages_and_dropping_members(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/v1";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    write_old_database(dir, 1);
    Said said;
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to()));
    assert_string_equal(said.text.c_str(),
                        ("migrating the store in " + dir +
                         " from zgm 0.1: 2 groups, 5 messages; nothing is served until it is "
                         "done\nmigrated the store in " +
                         dir +
                         " from zgm 0.1: 2 groups, 5 messages kept, 3 members dropped (0.1 user "
                         "ids are not keys; members join again)")
                            .c_str());
    assert_string_equal(query_db(dir, "PRAGMA user_version").c_str(), "3");
    Store* store = fixture->store.get();

    std::vector<GroupInfo> groups;
    assert_ok(store->list_groups(&groups));
    assert_int_equal(groups.size(), 2);
    const GroupInfo& chat = groups[0];
    assert_string_equal(chat.name.c_str(), "chat");
    assert_true(chat.id == make_uuid(1));
    assert_int_equal(chat.created_us, 5000);
    assert_true(chat.owner.is_nil());
    assert_int_equal((int)chat.policy, (int)Policy::kOpen);
    assert_int_equal(chat.member_count, 0);
    assert_int_equal(chat.first_seq, 1);
    assert_int_equal(chat.last_seq, 3);
    assert_int_equal(chat.last_timestamp, 1300);
    assert_int_equal(chat.message_count, 3);
    assert_int_equal(chat.bytes, 14);
    const GroupInfo& news = groups[1];
    assert_int_equal(news.first_seq, 3);
    assert_int_equal(news.last_seq, 4);
    assert_int_equal(news.retention.max_count, 2);
    assert_int_equal(news.retention.max_age_us, 0);
    std::vector<Member> members;
    assert_ok(store->members("chat", &members));
    assert_true(members.empty());

    //  The history, with each 0.1 sender as its legacy key and its name as it was.
    FetchResult all = fetch_ok(store, "chat", 0);
    assert_seqs(all, 1, 3);
    for (size_t i = 0; i < 3; i++) {
        const V1Message& v1 = kV1Messages[i];
        const StoredMessage& message = all.messages[i];
        assert_int_equal(message.timestamp, v1.timestamp);
        assert_true(message.sender == legacy_user_key(make_uuid(v1.sender)));
        assert_string_equal(message.sender_name.c_str(), v1.sender_name);
        assert_string_equal(message.body.c_str(), v1.body);
        assert_true(message.msg_id == (v1.msg_id ? make_uuid(v1.msg_id) : Uuid()));
    }
    Key ann = all.messages[0].sender;
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(ann.bytes[i], 0);
    assert_memory_equal(ann.bytes + 16, make_uuid(501).bytes, 16);
    FetchResult trimmed = fetch_ok(store, "news", 0);
    assert_seqs(trimmed, 3, 4);
    assert_int_equal(trimmed.summary.missed, 2);

    //  It goes on as a schema 3 store: dedup of 0.1 ids (from their sender), seq, retention,
    //  members joining again. Another sender's repeat of the id is refused, not taken for it.
    AppendRequest repeat = make_request("chat", "hello", make_uuid(101));
    AppendResult other = append_ok(store, {repeat}, 9000)[0];
    assert_int_equal(other.status.code(), Status::kExists);
    assert_false(other.duplicate);
    repeat.sender = all.messages.empty() ? repeat.sender : chat_sender_of(store, make_uuid(101));
    AppendResult again = append_ok(store, {repeat}, 9000)[0];
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 1);
    assert_int_equal(again.timestamp, 1100);
    assert_int_equal(append_ok(store, {make_request("chat", "new")}, 1000)[0].timestamp, 1300);
    assert_int_equal(append_ok(store, {make_request("news", "fifth")}, 9000)[0].seq, 5);
    assert_int_equal(info_ok(store, "news").first_seq, 4);
    assert_ok(store->add_member("chat", make_member(1, "ann", 9000)));
    assert_ok(store->allow("chat", make_key(1)));
    assert_string_equal(query_db(dir, "PRAGMA integrity_check").c_str(), "ok");

    //  Once is enough: the next open has nothing to say.
    fixture->store.reset();
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to()));
    assert_string_equal(said.text.c_str(), "");
    store = fixture->store.get();
    assert_seqs(fetch_ok(store, "chat", 0), 1, 4);
    assert_int_equal(info_ok(store, "chat").member_count, 1);
}

void test_sqlite_a_0_1_store_that_cannot_be_migrated_is_left_as_it_was(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/v1";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    write_old_database(dir, 1, 5);
    Said said;
    Status status = open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to());
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(), "0.1"));
    assert_null(fixture->store.get());
    assert_string_equal(said.text.c_str(), "");
    //  The one transaction rolled back: still schema 1, members and all.
    assert_string_equal(query_db(dir, "PRAGMA user_version").c_str(), "1");
    assert_string_equal(query_db(dir, "SELECT count(*) FROM members").c_str(), "3");
    assert_string_equal(query_db(dir, "SELECT length(sender) FROM messages WHERE seq = 1").c_str(),
                        "16");
    assert_string_equal(query_db(dir, "SELECT count(*) FROM pragma_table_info('groups')").c_str(),
                        "11");
}

//  The schema text SQLite keeps for the messages table and its index, in name order.
std::string messages_schema(const std::string& dir) {
    return query_db(dir, "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master"
                         " WHERE tbl_name = 'messages' ORDER BY name)");
}

void test_sqlite_a_schema_2_store_is_migrated_to_schema_3_keeping_everything(void** state) {
    Fixture* fixture = fixture_of(state);
    std::string fresh_schema = messages_schema(fixture->dir);
    fixture->store.reset();
    std::string dir = fixture->dir + "/v2";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    write_old_database(dir, 2);
    query_db(dir, "UPDATE groups SET owner = x'" + std::string(64, 'a') + "', policy = 1" +
                      " WHERE key = 1");
    query_db(dir,
             "INSERT INTO allowed (group_key, key) VALUES (1, x'" + std::string(64, 'b') + "')");
    //  A group of 25,001 messages of 300 bytes: the copy goes in chunks of 10,000, each
    //  deleted from the old table once copied, so the file does not hold two copies.
    query_db(dir, "INSERT INTO groups (key, name, id, created_us, last_seq, last_ts_us, bytes)"
                  " VALUES (3, 'big', x'" +
                      std::string(32, 'c') + "', 1, 25001, 25001, " + std::to_string(25001 * 300) +
                      ")");
    query_db(dir, "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n <"
                  " 25001) INSERT INTO messages SELECT 3, n, n, x'" +
                      std::string(64, 'd') + "', 'big', NULL, randomblob(300) FROM c");
    query_db(dir, "PRAGMA wal_checkpoint(TRUNCATE)");
    long pages_before = atol(query_db(dir, "PRAGMA page_count").c_str());
    Said said;
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to()));
    assert_string_equal(said.text.c_str(),
                        ("migrating the store in " + dir +
                         " from schema 2 to 3: 3 groups, 25006 messages; nothing is served "
                         "until it is done\nmigrated the store in " +
                         dir + " from schema 2 to 3: 3 groups, 25006 messages kept")
                            .c_str());
    long pages_after = atol(query_db(dir, "PRAGMA page_count").c_str());
    assert_true(pages_before > 2000);
    assert_true(pages_after < pages_before * 3 / 2);
    assert_string_equal(query_db(dir, "PRAGMA user_version").c_str(), "3");
    //  The same tables as a new store's, and nothing of schema 2 left.
    assert_string_equal(messages_schema(dir).c_str(), fresh_schema.c_str());
    assert_string_equal(query_db(dir, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
                                      " '%_v2'")
                            .c_str(),
                        "0");
    Store* store = fixture->store.get();

    //  Groups, owner, policy, allowed keys and members as they were.
    GroupInfo chat = info_ok(store, "chat");
    assert_int_equal(chat.first_seq, 1);
    assert_int_equal(chat.last_seq, 3);
    assert_int_equal(chat.member_count, 2);
    assert_int_equal((int)chat.policy, (int)Policy::kMembers);
    assert_int_equal(chat.owner.bytes[0], 0xaa);
    std::vector<Key> allowed;
    assert_ok(store->allowed("chat", &allowed));
    assert_int_equal(allowed.size(), 1);
    assert_int_equal(allowed[0].bytes[0], 0xbb);
    std::vector<Member> members;
    assert_ok(store->members("chat", &members));
    assert_int_equal(members.size(), 2);
    assert_true(members[0].key == make_key(501));

    //  Every message, in both groups, with what it had.
    FetchResult all = fetch_ok(store, "chat", 0);
    assert_seqs(all, 1, 3);
    for (size_t i = 0; i < 3; i++) {
        const V1Message& old = kV1Messages[i];
        const StoredMessage& message = all.messages[i];
        assert_int_equal(message.timestamp, old.timestamp);
        assert_true(message.sender == make_key(old.sender));
        assert_string_equal(message.sender_name.c_str(), old.sender_name);
        assert_string_equal(message.body.c_str(), old.body);
        assert_true(message.msg_id == (old.msg_id ? make_uuid(old.msg_id) : Uuid()));
    }
    FetchResult news = fetch_ok(store, "news", 0);
    assert_seqs(news, 3, 4);
    assert_int_equal(news.summary.missed, 2);
    assert_string_equal(news.messages[1].body.c_str(), "fourth");
    assert_seqs(fetch_ok(store, "chat", 0, 1200), 2, 3);
    FetchResult big = fetch_ok(store, "big", 0);
    assert_seqs(big, 1, 25001);
    for (const StoredMessage& message : big.messages)
        assert_int_equal(message.timestamp, message.seq);

    //  It goes on: a repeat of a migrated id is answered with its seq, new messages follow on,
    //  retention trims.
    AppendRequest repeat = make_request("news", "third", make_uuid(203));
    repeat.sender = make_key(502);
    AppendResult again = append_ok(store, {repeat}, 9000)[0];
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 3);
    assert_int_equal(append_ok(store, {make_request("chat", "new")}, 9000)[0].seq, 4);
    assert_int_equal(append_ok(store, {make_request("news", "fifth")}, 9000)[0].seq, 5);
    assert_int_equal(info_ok(store, "news").first_seq, 4);
    assert_string_equal(query_db(dir, "PRAGMA integrity_check").c_str(), "ok");

    //  Once is enough: the next open has nothing to say.
    fixture->store.reset();
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to()));
    assert_string_equal(said.text.c_str(), "");
    assert_seqs(fetch_ok(fixture->store.get(), "chat", 0), 1, 4);
}

void test_sqlite_a_schema_2_store_that_cannot_be_migrated_is_left_as_it_was(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    std::string dir = fixture->dir + "/v2";
    assert_int_equal(mkdir(dir.c_str(), 0755), 0);
    write_old_database(dir, 2);
    //  A seq no group_seq can hold (2^44): the migration refuses it rather than lose it.
    query_db(dir, "UPDATE messages SET seq = 17592186044416 WHERE group_key = 2 AND seq = 4");
    Said said;
    Status status = open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to());
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(),
                           "cannot migrate the store to schema 3: 1 message has a group key or "
                           "a seq beyond what schema 3 keys"));
    assert_null(fixture->store.get());
    assert_string_equal(said.text.c_str(), "");
    assert_string_equal(query_db(dir, "PRAGMA user_version").c_str(), "2");
    assert_string_equal(query_db(dir, "SELECT count(*) FROM messages").c_str(), "5");
    assert_string_equal(query_db(dir, "SELECT count(*) FROM sqlite_master WHERE name ="
                                      " 'messages_msg_id'")
                            .c_str(),
                        "1");
    //  Nor is a group key no group_seq can hold, though the group has no message.
    query_db(dir, "UPDATE messages SET seq = 4 WHERE group_key = 2 AND seq = 17592186044416");
    query_db(dir, "INSERT INTO groups (key, name, id, created_us) VALUES (524288, 'far', x'" +
                      std::string(32, 'e') + "', 1)");
    status = open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to());
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(),
                           "cannot migrate the store to schema 3: 1 group has a key beyond what "
                           "schema 3 keys"));
    assert_string_equal(query_db(dir, "PRAGMA user_version").c_str(), "2");
    //  Without it, the store migrates.
    query_db(dir, "DELETE FROM groups WHERE key = 524288");
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store, said.to()));
    assert_seqs(fetch_ok(fixture->store.get(), "news", 0), 3, 4);
}

//  A group's seqs and a store's groups have the bounds group_seq gives them, and each is
//  refused past it with the reason.
void test_sqlite_the_last_seq_and_the_last_group_key_are_refused_past_them(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    fixture->store.reset();
    const uint64_t max_seq = (1ull << 44) - 1;
    query_db(fixture->dir,
             "UPDATE groups SET key = 524287, last_seq = " + std::to_string(max_seq - 1) +
                 ", trimmed_seq = " + std::to_string(max_seq - 1) +
                 ", last_ts_us = 100, trimmed_ts_us = 100");
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    AppendRequest the_last = make_request("g", "the last", make_uuid(77));
    AppendResult last = append_ok(store, {the_last}, 200)[0];
    assert_ok(last.status);
    assert_int_equal(last.seq, max_seq);
    FetchResult fetched = fetch_ok(store, "g", 0);
    assert_seqs(fetched, max_seq, max_seq);
    assert_string_equal(fetched.messages[0].body.c_str(), "the last");
    AppendResult past = append_ok(store, {make_request("g", "one more")}, 300)[0];
    assert_int_equal(past.status.code(), Status::kFull);
    assert_non_null(strstr(past.status.message().c_str(),
                           "group 'g' has stored the most messages a group can (17592186044415)"));
    assert_int_equal(info_ok(store, "g").last_seq, max_seq);
    //  A repeat of the last message (its SENT lost) is still answered with its seq; another
    //  sender's use of its id is still refused as such.
    AppendResult repeat = append_ok(store, {the_last}, 400)[0];
    assert_ok(repeat.status);
    assert_true(repeat.duplicate);
    assert_int_equal(repeat.seq, max_seq);
    AppendRequest stolen = the_last;
    stolen.sender = make_key(2000);
    assert_int_equal(append_ok(store, {stolen}, 400)[0].status.code(), Status::kExists);
    //  The group with the highest key there can be: no other group fits.
    Status status = store->create_group("h", make_uuid(2), Key(), Policy::kOpen);
    assert_int_equal(status.code(), Status::kFull);
    assert_non_null(strstr(status.message().c_str(), "the store holds the most groups it can"
                                                     " (524287)"));
    //  Reopened, the same holds, and the message is still there.
    assert_ok(reopen(fixture));
    assert_seqs(fetch_ok(fixture->store.get(), "g", 0), max_seq, max_seq);
    assert_status(fixture->store->create_group("h", make_uuid(2), Key(), Policy::kOpen),
                  Status::kFull);
}

//  ------------------------------------------------------------------------------------
//  SQLite only: one store per data directory

std::string pid_text(pid_t pid) {
    return "process " + std::to_string((long long)pid);
}

void test_sqlite_second_open_in_this_process_is_busy_and_names_it(void** state) {
    Fixture* fixture = fixture_of(state);
    std::unique_ptr<Store> second;
    Status status = open_sqlite_store(fixture->dir, Durability::kFull, &second);
    assert_int_equal(status.code(), Status::kBusy);
    assert_null(second.get());
    const char* message = status.message().c_str();
    assert_non_null(strstr(message, ("the store in " + fixture->dir + " is in use by").c_str()));
    assert_non_null(strstr(message, (pid_text(getpid()) + " (").c_str()));
    assert_non_null(strstr(message, "test_store")); //  its command line
    //  The first store is untouched and still works.
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(fixture->store.get(), "g", 3, 100);
    //  Closing it releases the directory.
    fixture->store.reset();
    assert_ok(open_sqlite_store(fixture->dir, Durability::kFull, &second));
    assert_int_equal(info_ok(second.get(), "g").last_seq, 3);
    //  And the lock file names the holder.
    FILE* in = fopen((fixture->dir + "/zgm.lock").c_str(), "r");
    assert_non_null(in);
    long long pid = 0;
    assert_int_equal(fscanf(in, "%lld", &pid), 1);
    fclose(in);
    assert_int_equal(pid, getpid());
}

//  Reads what a child wrote to fd until it closes it or 10 s pass.
std::string read_child(int fd) {
    std::string text;
    int64_t deadline = mono_ms() + 10000;
    for (;;) {
        int timeout = (int)(deadline - mono_ms());
        if (timeout <= 0) break;
        struct pollfd item = {fd, POLLIN, 0};
        int ready = poll(&item, 1, timeout);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        char buffer[512];
        ssize_t size = read(fd, buffer, sizeof buffer);
        if (size < 0 && errno == EINTR) continue;
        if (size <= 0) break;
        text.append(buffer, (size_t)size);
        if (text.back() == '\n') break;
    }
    return text;
}

//  Kills (if still running) and reaps a child; true if it exited with 0 by itself.
bool reap(pid_t pid, bool kill_it) {
    if (kill_it) kill(pid, SIGKILL);
    int status = 0;
    pid_t waited;
    do
        waited = waitpid(pid, &status, 0);
    while (waited < 0 && errno == EINTR);
    return waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

//  Opens the store on dir in a forked child; returns "<code> <message>" of that open.
std::string open_in_child(const std::string& dir) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = test::fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        std::unique_ptr<Store> store;
        Status status = open_sqlite_store(dir, Durability::kFull, &store);
        store.reset();
        std::string line = std::to_string((int)status.code()) + " " + status.message() + "\n";
        bool written = write(fds[1], line.data(), line.size()) == (ssize_t)line.size();
        _exit(written ? 0 : 1);
    }
    close(fds[1]);
    std::string line = read_child(fds[0]);
    close(fds[0]);
    bool exited = reap(pid, line.empty());
    assert_true(exited);
    return line;
}

void test_sqlite_second_open_from_a_forked_child_is_busy(void** state) {
    Fixture* fixture = fixture_of(state);
    std::string line = open_in_child(fixture->dir);
    assert_int_equal(atoi(line.c_str()), Status::kBusy);
    assert_non_null(strstr(line.c_str(), (pid_text(getpid()) + " (").c_str()));
    assert_null(strstr(line.c_str(), "this very process"));
    fixture->store.reset();
    line = open_in_child(fixture->dir);
    assert_int_equal(atoi(line.c_str()), Status::kOk);
    assert_ok(reopen(fixture));
}

//  A holder that dies without closing (SIGKILL) leaves the directory free.
void test_sqlite_the_lock_of_a_killed_holder_is_released(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    int fds[2];
    int hold[2]; //  the child holds the store until this pipe closes (or a minute passes)
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = test::fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        close(hold[1]);
        std::unique_ptr<Store> store;
        if (!open_sqlite_store(fixture->dir, Durability::kFull, &store).is_ok()) _exit(1);
        if (write(fds[1], "open\n", 5) != 5) _exit(2);
        struct pollfd item = {hold[0], POLLIN, 0};
        poll(&item, 1, 60000);
        _exit(3);
    }
    close(fds[1]);
    close(hold[0]);
    std::string line = read_child(fds[0]);
    close(fds[0]);
    if (line != "open\n") {
        reap(pid, true);
        close(hold[1]);
        fail_msg("the child did not open the store");
    }
    std::unique_ptr<Store> store;
    Status status = open_sqlite_store(fixture->dir, Durability::kFull, &store);
    bool busy = status.code() == Status::kBusy &&
                strstr(status.message().c_str(), (pid_text(pid) + " (").c_str());
    reap(pid, true);
    close(hold[1]);
    if (!busy) fail_msg("expected busy, naming %d: %s", (int)pid, status.message().c_str());
    assert_ok(open_sqlite_store(fixture->dir, Durability::kFull, &store));
}

//  ------------------------------------------------------------------------------------
//  SQLite only: a full disk

void assert_gapless(const FetchResult& result) {
    for (size_t i = 0; i < result.messages.size(); i++)
        assert_int_equal(result.messages[i].seq, result.summary.first_seq + i);
    if (!result.messages.empty())
        assert_int_equal(result.messages.back().seq, result.summary.last_seq);
}

//  Appends batches of ten 1000-byte bodies to "g" until one fails, and returns that
//  failure; *last_ok is the last seq a successful append reported.
Status fill_until_failure(Store* store, uint64_t* last_ok) {
    static uint64_t next_id = 2ull << 40;
    for (int round = 0; round < 2000; round++) {
        std::vector<AppendRequest> batch;
        for (int i = 0; i < 10; i++) {
            std::string body = "fill-" + std::to_string(round);
            body.resize(1000, 'x');
            batch.push_back(make_request("g", body, make_uuid(next_id++)));
        }
        std::vector<AppendResult> results(1);
        Status status = store->append(batch, 100, &results);
        if (!status.is_ok()) {
            if (!results.empty())
                return Status::error(Status::kInvalid, "a failed append reported results");
            return status;
        }
        *last_ok = results.back().seq;
        for (const AppendResult& result : results)
            if (!result.status.is_ok()) return result.status;
    }
    return Status::ok();
}

void test_sqlite_full_database_stores_nothing_of_the_failed_batch(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(reopen(fixture, Durability::kFull, 60));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    append_many(store, "g", 5, 100, "m", 1000);
    uint64_t last_ok = 5;
    Status status = fill_until_failure(store, &last_ok);
    assert_int_equal(status.code(), Status::kFull);
    assert_true(last_ok > 5);
    assert_int_equal(info_ok(store, "g").last_seq, last_ok);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, last_ok);

    //  What a restart sees: every batch that was reported, none of the one that failed.
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, last_ok);
    assert_int_equal(info_ok(store, "g").last_seq, last_ok);

    //  Still capped: free space by trimming, then appends work again and seq goes on.
    assert_ok(reopen(fixture, Durability::kFull, 60));
    store = fixture->store.get();
    std::vector<AppendResult> results(1);
    std::vector<AppendRequest> big;
    for (int i = 0; i < 50; i++)
        big.push_back(make_request("g", std::string(1000, 'f')));
    assert_status(store->append(big, 100, &results), Status::kFull);
    assert_true(results.empty());
    Retention retention;
    retention.max_count = 5;
    assert_ok(store->set_retention("g", retention, 1000));
    results = append_ok(store, {make_request("g", "after"), make_request("g", "after")}, 100);
    assert_int_equal(results[0].seq, last_ok + 1);
    assert_int_equal(results[1].seq, last_ok + 2);
    assert_ok(reopen(fixture));
    all = fetch_ok(fixture->store.get(), "g", 0);
    assert_gapless(all);
    assert_int_equal(all.summary.last_seq, last_ok + 2);
    assert_int_equal(all.summary.first_seq, last_ok - 2);
    assert_string_equal(all.messages.back().body.c_str(), "after");
}

//  Mounts a tmpfs of the given size at dir; false if this machine does not let us (not
//  root, or in a container without CAP_SYS_ADMIN).
bool mount_tmpfs(Fixture* fixture, const std::string& dir, const char* options) {
    if (mkdir(dir.c_str(), 0755) != 0) return false;
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, options) != 0) return false;
    fixture->mounted = dir;
    return true;
}

void test_sqlite_full_filesystem_stores_nothing_and_recovers_when_space_frees(void** state) {
    Fixture* fixture = fixture_of(state);
    fixture->store.reset();
    if (!mount_tmpfs(fixture, fixture->dir + "/small", "size=1m")) skip();
    std::string dir = fixture->mounted + "/data";
    std::string filler = fixture->mounted + "/filler";
    {
        //  A file that takes a third of the space, to free later.
        FILE* out = fopen(filler.c_str(), "w");
        assert_non_null(out);
        std::string block(4096, 'z');
        for (int i = 0; i < 80; i++)
            fwrite(block.data(), 1, block.size(), out);
        assert_int_equal(fclose(out), 0);
    }
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store));
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    uint64_t last_ok = 0;
    Status status = fill_until_failure(store, &last_ok);
    assert_int_equal(status.code(), Status::kFull);
    assert_true(last_ok > 0);
    assert_int_equal(info_ok(store, "g").last_seq, last_ok);
    assert_int_equal(unlink(filler.c_str()), 0);
    std::vector<AppendResult> results =
        append_ok(store, {make_request("g", "after"), make_request("g", "after")}, 100);
    assert_int_equal(results[0].seq, last_ok + 1);
    assert_ok(open_sqlite_store(dir, Durability::kFull, &fixture->store));
    FetchResult all = fetch_ok(fixture->store.get(), "g", 0);
    assert_seqs(all, 1, last_ok + 2);
    assert_string_equal(all.messages.back().body.c_str(), "after");
}

//  ------------------------------------------------------------------------------------
//  SQLite only: a read-only data directory (root ignores permissions, so this uses a
//  read-only mount and is skipped where mounting is not allowed)

enum class Prepared { kReady, kUnavailable, kFailed };

//  A store with one group in <tmpfs>/data, closed, then the tmpfs remounted read-only.
Prepared prepare_read_only(Fixture* fixture) {
    fixture->store.reset();
    if (!mount_tmpfs(fixture, fixture->dir + "/ro", "size=4m")) return Prepared::kUnavailable;
    std::unique_ptr<Store> store;
    if (!open_sqlite_store(fixture->mounted + "/data", Durability::kFull, &store).is_ok() ||
        !store->create_group("g", make_uuid(1), Key(), Policy::kOpen).is_ok())
        return Prepared::kFailed;
    store.reset();
    if (mount("tmpfs", fixture->mounted.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        return Prepared::kUnavailable;
    return Prepared::kReady;
}

void test_sqlite_read_only_data_directory_is_read_only(void** state) {
    Fixture* fixture = fixture_of(state);
    Prepared prepared = prepare_read_only(fixture);
    if (prepared == Prepared::kUnavailable) skip();
    assert_true(prepared == Prepared::kReady);
    std::unique_ptr<Store> store;
    Status status = open_sqlite_store(fixture->mounted + "/data", Durability::kFull, &store);
    assert_int_equal(status.code(), Status::kReadOnly);
    assert_null(store.get());
    assert_status(open_sqlite_store(fixture->mounted + "/new", Durability::kFull, &store),
                  Status::kReadOnly);
    assert_status(open_sqlite_store(fixture->mounted + "/new/deeper", Durability::kFull, &store),
                  Status::kReadOnly);
}

//  The directory is writable but the database file is not (a read-only bind mount of it).
Prepared prepare_read_only_file(Fixture* fixture) {
    fixture->store.reset();
    std::string db = fixture->dir + "/zgm.db";
    if (mount(db.c_str(), db.c_str(), nullptr, MS_BIND, nullptr) != 0)
        return Prepared::kUnavailable;
    fixture->mounted = db;
    if (mount(nullptr, db.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
        return Prepared::kUnavailable;
    return Prepared::kReady;
}

void test_sqlite_read_only_database_file_is_read_only(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(fixture->store->create_group("g", make_uuid(1), Key(), Policy::kOpen));
    Prepared prepared = prepare_read_only_file(fixture);
    if (prepared == Prepared::kUnavailable) skip();
    Status status = reopen(fixture);
    assert_int_equal(status.code(), Status::kReadOnly);
    assert_null(fixture->store.get());
}

//  ------------------------------------------------------------------------------------

struct Case {
    const char* name;
    CMUnitTestFunction test;
    bool both; //  against the memory store too, not only SQLite
};

#define BOTH(test)                                                                                 \
    { #test, test, true }
#define SQLITE(test)                                                                               \
    { #test, test, false }

const Case cases[] = {
    BOTH(test_create_group_then_list_groups_shows_it),
    BOTH(test_create_group_with_a_taken_name_returns_exists),
    BOTH(test_create_group_with_an_empty_name_is_invalid),
    BOTH(test_unknown_group_is_not_found_everywhere),
    BOTH(test_append_assigns_gapless_seq_from_one),
    BOTH(test_append_keeps_a_separate_seq_per_group),
    BOTH(test_append_to_an_unknown_group_reports_not_found_and_stores_the_rest),
    BOTH(test_append_of_an_empty_batch_is_ok),
    BOTH(test_timestamp_never_goes_backwards_when_the_clock_does),
    BOTH(test_append_results_follow_the_order_of_the_batch),
    BOTH(test_duplicate_msg_id_across_batches_returns_the_original),
    BOTH(test_a_msg_id_another_sender_used_is_refused_not_taken_for_a_repeat),
    BOTH(test_duplicate_msg_id_within_one_batch_returns_the_original),
    BOTH(test_nil_msg_id_is_never_deduplicated),
    BOTH(test_same_msg_id_in_two_groups_is_stored_in_each),
    BOTH(test_dedup_covers_only_retained_messages),
    BOTH(test_holder_finds_the_sender_of_a_retained_message_by_its_id),
    BOTH(test_fetch_since_timestamp_is_inclusive),
    BOTH(test_fetch_since_a_timestamp_after_the_last_message_returns_nothing),
    BOTH(test_fetch_since_timestamp_and_after_seq_both_apply),
    BOTH(test_fetch_after_seq_returns_later_messages_in_order),
    BOTH(test_fetch_with_a_limit_continues_where_it_stopped),
    BOTH(test_fetch_since_timestamp_with_a_limit_continues_from_the_last_seq),
    BOTH(test_fetch_more_is_false_when_the_limit_reaches_the_last_message),
    BOTH(test_fetch_max_bytes_stops_before_exceeding_but_returns_at_least_one),
    BOTH(test_fetch_returns_every_field_intact),
    BOTH(test_fetch_until_timestamp_is_exclusive),
    BOTH(test_fetch_before_seq_is_exclusive),
    BOTH(test_fetch_since_until_after_and_before_all_apply),
    BOTH(test_fetch_newest_returns_the_last_limit_in_seq_order),
    BOTH(test_fetch_newest_pages_backward_to_seq_one),
    BOTH(test_fetch_newest_with_max_bytes_counts_from_the_newest_end),
    BOTH(test_fetch_hands_each_message_to_the_visitor),
    BOTH(test_members_add_list_and_remove_in_join_order),
    BOTH(test_members_come_in_pages_after_a_place),
    BOTH(test_add_member_twice_returns_exists_and_keeps_the_first_name),
    BOTH(test_remove_member_of_a_non_member_is_not_found),
    BOTH(test_members_belong_to_their_group_only),
    BOTH(test_create_group_keeps_its_owner_and_policy),
    BOTH(test_a_policy_that_is_not_one_is_invalid),
    BOTH(test_allow_disallow_and_allowed),
    BOTH(test_retention_by_count_trims_the_oldest_and_counts_missed),
    BOTH(test_retention_by_bytes_trims_the_oldest),
    BOTH(test_set_retention_trims_at_once),
    BOTH(test_fetch_since_a_time_after_the_trimmed_messages_misses_nothing),
    BOTH(test_last_seq_survives_trimming_everything),
    BOTH(test_missed_is_exact_for_seq_cursors_after_count_trimming),
    BOTH(test_missed_is_reported_when_paging_backward_reaches_the_trimmed),
    BOTH(test_missed_after_bytes_trimming),
    BOTH(test_missed_for_a_since_query_is_a_bound),
    BOTH(test_age_retention_trims_at_append),
    BOTH(test_trim_removes_what_age_retention_no_longer_keeps_in_every_group),
    BOTH(test_set_retention_with_an_age_trims_at_once),
    BOTH(test_disk_size_grows_with_data),
    SQLITE(test_sqlite_fetch_reads_the_same_from_memory_as_from_the_database),
    SQLITE(test_recent_rows_keep_the_newest_run_of_each_group_within_their_bytes),
    SQLITE(test_sqlite_reopen_keeps_groups_members_messages_and_last_seq),
    SQLITE(test_sqlite_reopen_after_trimming_everything_keeps_seq_gapless),
    SQLITE(test_sqlite_creates_a_missing_data_directory),
    SQLITE(test_sqlite_data_dir_that_is_a_file_is_an_error),
    SQLITE(test_sqlite_database_is_in_wal_mode_with_a_schema_version),
    SQLITE(test_sqlite_a_store_without_the_members_index_gets_it_at_open),
    SQLITE(test_sqlite_a_read_that_fails_is_an_error_not_an_empty_answer),
    SQLITE(test_sqlite_an_append_whose_sync_failed_is_in_doubt_not_refused),
    SQLITE(test_sqlite_each_write_of_a_full_store_syncs_before_it_returns),
    SQLITE(test_sqlite_an_append_does_not_wait_for_a_checkpoint),
    SQLITE(test_sqlite_the_wal_stays_bounded_under_appends_that_never_stop),
    SQLITE(test_sqlite_without_a_checkpoint_thread_the_writer_copies_the_wal),
    SQLITE(test_sqlite_garbage_file_is_corrupt),
    SQLITE(test_sqlite_newer_schema_is_refused_saying_what_to_do),
    SQLITE(test_sqlite_memory_statistics_are_off_unless_the_process_started_sqlite),
    SQLITE(test_sqlite_database_of_another_program_is_refused),
    SQLITE(test_sqlite_damaged_pages_are_reported_as_corrupt),
    SQLITE(test_sqlite_durability_normal_stores_and_reopens),
    SQLITE(test_sqlite_reopen_keeps_owner_policy_allowed_keys_and_age_retention),
    SQLITE(test_sqlite_age_retention_applies_after_a_reopen),
    SQLITE(test_sqlite_a_long_history_is_trimmed_a_part_at_a_time),
    BOTH(test_retention_holds_under_batches_larger_than_a_trim),
    SQLITE(test_sqlite_a_zgm_0_1_store_is_migrated_keeping_messages_and_dropping_members),
    SQLITE(test_sqlite_a_0_1_store_that_cannot_be_migrated_is_left_as_it_was),
    SQLITE(test_sqlite_a_schema_2_store_is_migrated_to_schema_3_keeping_everything),
    SQLITE(test_sqlite_a_schema_2_store_that_cannot_be_migrated_is_left_as_it_was),
    SQLITE(test_sqlite_the_last_seq_and_the_last_group_key_are_refused_past_them),
    SQLITE(test_sqlite_second_open_in_this_process_is_busy_and_names_it),
    SQLITE(test_sqlite_second_open_from_a_forked_child_is_busy),
    SQLITE(test_sqlite_the_lock_of_a_killed_holder_is_released),
    SQLITE(test_sqlite_full_database_stores_nothing_of_the_failed_batch),
    SQLITE(test_sqlite_full_filesystem_stores_nothing_and_recovers_when_space_frees),
    SQLITE(test_sqlite_read_only_data_directory_is_read_only),
    SQLITE(test_sqlite_read_only_database_file_is_read_only),
};

} // namespace

int main() {
    //  ZGM_TEST_FILTER=pattern runs only the tests whose names match (cmocka's filter).
    if (const char* filter = getenv("ZGM_TEST_FILTER")) cmocka_set_test_filter(filter);
    std::deque<std::string> names; //  stable addresses for the names cmocka keeps
    std::vector<CMUnitTest> tests;
    for (const Case& test_case : cases) {
        for (StoreKind* kind : {&memory_kind, &sqlite_kind}) {
            if (!test_case.both && !kind->persistent) continue;
            names.push_back(std::string(test_case.name) + (test_case.both ? "/" : "") +
                            (test_case.both ? kind->name : ""));
            CMUnitTest test = {names.back().c_str(), test_case.test, setup, teardown, kind};
            tests.push_back(test);
        }
    }
    return _cmocka_run_group_tests("store", tests.data(), tests.size(), nullptr, nullptr);
}
