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

#include "store/store.h"
#include "core/clock.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <ftw.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
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

//  Opens (or reopens) the fixture's store; the old one is closed first.
Status reopen(Fixture* fixture, Durability durability = Durability::kFull, uint32_t max_pages = 0) {
    fixture->store.reset();
    if (!fixture->kind->persistent) {
        fixture->store = open_memory_store();
        return Status::ok();
    }
    return open_sqlite_store(fixture->dir, durability, &fixture->store, max_pages);
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

int teardown(void** state) {
    Fixture* fixture = (Fixture*)*state;
    fixture->store.reset();
    if (!fixture->mounted.empty()) umount2(fixture->mounted.c_str(), MNT_DETACH);
    remove_tree(fixture->dir);
    delete fixture;
    return 0;
}

Fixture* fixture_of(void** state) {
    return (Fixture*)*state;
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
    request.sender = make_uuid(1000);
    request.sender_name = "alice";
    request.msg_id = msg_id;
    request.body = body;
    return request;
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
    member.id = make_uuid(n);
    member.name = name;
    member.joined_us = joined_us;
    return member;
}

//  ------------------------------------------------------------------------------------
//  Groups

void test_create_group_then_list_groups_shows_it(void** state) {
    Store* store = fixture_of(state)->store.get();
    uint64_t before = now_us();
    assert_ok(store->create_group("beta", make_uuid(2)));
    assert_ok(store->create_group("alpha", make_uuid(1)));
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
    assert_ok(store->create_group("alpha", make_uuid(1)));
    assert_status(store->create_group("alpha", make_uuid(2)), Status::kExists);
    assert_true(info_ok(store, "alpha").id == make_uuid(1));
}

void test_create_group_with_an_empty_name_is_invalid(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_status(store->create_group("", make_uuid(1)), Status::kInvalid);
}

void test_unknown_group_is_not_found_everywhere(void** state) {
    Store* store = fixture_of(state)->store.get();
    GroupInfo info;
    assert_status(store->group_info("nope", &info), Status::kNotFound);
    assert_status(store->set_retention("nope", Retention()), Status::kNotFound);
    assert_status(store->add_member("nope", make_member(1, "a", 1)), Status::kNotFound);
    assert_status(store->remove_member("nope", make_uuid(1)), Status::kNotFound);
    std::vector<Member> members;
    assert_status(store->members("nope", &members), Status::kNotFound);
    bool is_member = true;
    assert_status(store->is_member("nope", make_uuid(1), &is_member), Status::kNotFound);
    assert_false(is_member);
    FetchQuery query;
    query.group = "nope";
    FetchResult result;
    assert_status(store->fetch(query, &result), Status::kNotFound);
}

//  ------------------------------------------------------------------------------------
//  Appending

void test_append_assigns_gapless_seq_from_one(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->create_group("a", make_uuid(1)));
    assert_ok(store->create_group("b", make_uuid(2)));
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
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->create_group("g", make_uuid(1)));
    assert_int_equal(append_ok(store, {make_request("g", "a")}, 5000)[0].ts_us, 5000);
    assert_int_equal(append_ok(store, {make_request("g", "b")}, 3000)[0].ts_us, 5000);
    assert_int_equal(info_ok(store, "g").last_ts_us, 5000);
    assert_int_equal(append_ok(store, {make_request("g", "c")}, 7000)[0].ts_us, 7000);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_int_equal(all.messages.size(), 3);
    for (size_t i = 1; i < all.messages.size(); i++)
        assert_true(all.messages[i].ts_us >= all.messages[i - 1].ts_us);
}

void test_append_results_follow_the_order_of_the_batch(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    std::vector<AppendRequest> batch;
    for (int i = 0; i < 1000; i++)
        batch.push_back(make_request("g", "body " + std::to_string(i), make_uuid(i + 1)));
    std::vector<AppendResult> results = append_ok(store, batch, 42);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, 1000);
    for (size_t i = 0; i < results.size(); i++) {
        assert_int_equal(results[i].seq, i + 1);
        assert_int_equal(results[i].ts_us, 42);
        assert_string_equal(all.messages[i].body.c_str(), batch[i].body.c_str());
    }
}

//  ------------------------------------------------------------------------------------
//  Deduplication

void test_duplicate_msg_id_across_batches_returns_the_original(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    AppendResult first = append_ok(store, {make_request("g", "hello", make_uuid(7))}, 100)[0];
    append_many(store, "g", 3, 200);
    AppendResult again = append_ok(store, {make_request("g", "retry", make_uuid(7))}, 900)[0];
    assert_true(again.status.is_ok());
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first.seq);
    assert_int_equal(again.ts_us, 100);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.last_seq, 4);
    assert_int_equal(info.last_ts_us, 200);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_seqs(all, 1, 4);
    assert_string_equal(all.messages[0].body.c_str(), "hello");
}

void test_duplicate_msg_id_within_one_batch_returns_the_original(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    std::vector<AppendRequest> batch = {make_request("g", "x", make_uuid(1)),
                                        make_request("g", "y", make_uuid(2)),
                                        make_request("g", "x again", make_uuid(1))};
    std::vector<AppendResult> results = append_ok(store, batch, 100);
    assert_false(results[0].duplicate);
    assert_false(results[1].duplicate);
    assert_true(results[2].duplicate);
    assert_true(results[2].status.is_ok());
    assert_int_equal(results[2].seq, 1);
    assert_int_equal(results[2].ts_us, results[0].ts_us);
    assert_int_equal(info_ok(store, "g").last_seq, 2);
    //  The next new message follows without a gap.
    assert_int_equal(append_ok(store, {make_request("g", "z", make_uuid(3))}, 100)[0].seq, 3);
}

void test_nil_msg_id_is_never_deduplicated(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->create_group("a", make_uuid(1)));
    assert_ok(store->create_group("b", make_uuid(2)));
    std::vector<AppendResult> results = append_ok(
        store, {make_request("a", "x", make_uuid(9)), make_request("b", "x", make_uuid(9))}, 100);
    assert_false(results[0].duplicate);
    assert_false(results[1].duplicate);
    assert_int_equal(info_ok(store, "a").last_seq, 1);
    assert_int_equal(info_ok(store, "b").last_seq, 1);
}

void test_dedup_covers_only_retained_messages(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    Retention retention;
    retention.max_count = 2;
    assert_ok(store->set_retention("g", retention));
    append_ok(store, {make_request("g", "x", make_uuid(7))}, 100);
    append_many(store, "g", 2, 100);
    assert_int_equal(info_ok(store, "g").first_seq, 2);
    AppendResult again = append_ok(store, {make_request("g", "x", make_uuid(7))}, 100)[0];
    assert_false(again.duplicate);
    assert_int_equal(again.seq, 4);
}

//  ------------------------------------------------------------------------------------
//  Fetching

//  Four messages at 100, 200, 200 and 300 microseconds.
void append_four_timed(Store* store) {
    assert_ok(store->create_group("g", make_uuid(1)));
    append_ok(store, {make_request("g", "a")}, 100);
    append_ok(store, {make_request("g", "b"), make_request("g", "c")}, 200);
    append_ok(store, {make_request("g", "d")}, 300);
}

void test_fetch_since_timestamp_is_inclusive(void** state) {
    Store* store = fixture_of(state)->store.get();
    append_four_timed(store);
    FetchResult result = fetch_ok(store, "g", 0, 200);
    assert_seqs(result, 2, 4);
    assert_false(result.more);
    assert_false(result.truncated);
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
    assert_false(result.more);
    assert_int_equal(result.first_seq, 1);
    assert_int_equal(result.last_seq, 4);
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
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 10, 100);
    FetchResult result = fetch_ok(store, "g", 7);
    assert_seqs(result, 8, 10);
    assert_false(result.more);
    assert_int_equal(result.first_seq, 1);
    assert_int_equal(result.last_seq, 10);
    assert_string_equal(result.messages[0].body.c_str(), "m7");
    result = fetch_ok(store, "g", 10);
    assert_true(result.messages.empty());
    assert_false(result.more);
    assert_true(fetch_ok(store, "g", 99).messages.empty());
}

void test_fetch_with_a_limit_continues_where_it_stopped(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 25, 100);
    FetchResult page = fetch_ok(store, "g", 0, 0, 10);
    assert_seqs(page, 1, 10);
    assert_true(page.more);
    page = fetch_ok(store, "g", page.messages.back().seq, 0, 10);
    assert_seqs(page, 11, 20);
    assert_true(page.more);
    page = fetch_ok(store, "g", page.messages.back().seq, 0, 10);
    assert_seqs(page, 21, 25);
    assert_false(page.more);
}

void test_fetch_since_timestamp_with_a_limit_continues_from_the_last_seq(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
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
        if (!page.more) break;
    }
    assert_int_equal(expected, 61);
}

void test_fetch_more_is_false_when_the_limit_reaches_the_last_message(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 10, 100);
    FetchResult page = fetch_ok(store, "g", 5, 0, 5);
    assert_seqs(page, 6, 10);
    assert_false(page.more);
    page = fetch_ok(store, "g", 4, 0, 5);
    assert_seqs(page, 5, 9);
    assert_true(page.more);
}

void test_fetch_max_bytes_stops_before_exceeding_but_returns_at_least_one(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 10, 100, "m", 100);
    FetchResult page = fetch_ok(store, "g", 0, 0, 0, 250);
    assert_seqs(page, 1, 2);
    assert_true(page.more);
    page = fetch_ok(store, "g", 0, 0, 0, 300);
    assert_seqs(page, 1, 3);
    page = fetch_ok(store, "g", 0, 0, 0, 50);
    assert_seqs(page, 1, 1);
    assert_true(page.more);
    page = fetch_ok(store, "g", 2, 0, 2, 1000);
    assert_seqs(page, 3, 4);
    page = fetch_ok(store, "g", 8, 0, 0, 150);
    assert_seqs(page, 9, 9);
    assert_true(page.more);
}

void test_fetch_returns_every_field_intact(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    std::string body("bin\0ary\xff\x01", 10);
    AppendRequest request = make_request("g", body, make_uuid(77));
    request.sender = make_uuid(55);
    request.sender_name = "Zoë";
    append_ok(store, {request, make_request("g", "")}, 1234);
    FetchResult all = fetch_ok(store, "g", 0);
    assert_int_equal(all.messages.size(), 2);
    const StoredMessage& message = all.messages[0];
    assert_int_equal(message.seq, 1);
    assert_int_equal(message.ts_us, 1234);
    assert_true(message.sender == make_uuid(55));
    assert_string_equal(message.sender_name.c_str(), "Zoë");
    assert_true(message.msg_id == make_uuid(77));
    assert_int_equal(message.body.size(), 10);
    assert_memory_equal(message.body.data(), body.data(), 10);
    assert_true(all.messages[1].body.empty());
}

//  ------------------------------------------------------------------------------------
//  Members

void test_members_add_list_remove_and_is_member(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_true(members[2].id == make_uuid(1));
    assert_int_equal(members[2].joined_us, 30);
    bool is_member = false;
    assert_ok(store->is_member("g", make_uuid(2), &is_member));
    assert_true(is_member);
    assert_ok(store->remove_member("g", make_uuid(2)));
    assert_ok(store->is_member("g", make_uuid(2), &is_member));
    assert_false(is_member);
    assert_int_equal(info_ok(store, "g").member_count, 2);
    assert_ok(store->members("g", &members));
    assert_int_equal(members.size(), 2);
}

void test_add_member_twice_returns_exists_and_keeps_the_first_name(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->create_group("g", make_uuid(1)));
    assert_status(store->remove_member("g", make_uuid(1)), Status::kNotFound);
    bool is_member = true;
    assert_ok(store->is_member("g", make_uuid(1), &is_member));
    assert_false(is_member);
}

void test_members_belong_to_their_group_only(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("a", make_uuid(1)));
    assert_ok(store->create_group("b", make_uuid(2)));
    assert_ok(store->add_member("a", make_member(1, "ann", 10)));
    bool is_member = true;
    assert_ok(store->is_member("b", make_uuid(1), &is_member));
    assert_false(is_member);
    assert_int_equal(info_ok(store, "b").member_count, 0);
}

//  ------------------------------------------------------------------------------------
//  Retention

void test_retention_by_count_trims_the_oldest_and_sets_truncated(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    Retention retention;
    retention.max_count = 5;
    assert_ok(store->set_retention("g", retention));
    append_many(store, "g", 3, 100);
    append_many(store, "g", 5, 200);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.last_seq, 8);
    assert_int_equal(info.retention.max_count, 5);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 4, 8);
    assert_true(result.truncated);
    assert_int_equal(result.first_seq, 4);
    assert_true(fetch_ok(store, "g", 2).truncated);
    assert_false(fetch_ok(store, "g", 3).truncated);
    assert_false(fetch_ok(store, "g", 6).truncated);
}

void test_retention_by_bytes_trims_the_oldest(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    Retention retention;
    retention.max_bytes = 35;
    assert_ok(store->set_retention("g", retention));
    append_many(store, "g", 6, 100, "m", 10);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 4);
    assert_int_equal(info.last_seq, 6);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 4, 6);
    assert_true(result.truncated);
    append_many(store, "g", 1, 100, "m", 20);
    assert_int_equal(info_ok(store, "g").first_seq, 6);
}

void test_set_retention_trims_at_once(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 10, 100);
    Retention retention;
    retention.max_count = 4;
    assert_ok(store->set_retention("g", retention));
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 7);
    assert_int_equal(info.last_seq, 10);
    assert_seqs(fetch_ok(store, "g", 0), 7, 10);
    //  Lifting the limit keeps what is left and trims nothing more.
    assert_ok(store->set_retention("g", Retention()));
    append_many(store, "g", 10, 100);
    assert_int_equal(info_ok(store, "g").first_seq, 7);
}

void test_fetch_since_a_time_after_the_trimmed_messages_is_not_truncated(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 3, 100);
    append_many(store, "g", 3, 200);
    Retention retention;
    retention.max_count = 3;
    assert_ok(store->set_retention("g", retention));
    FetchResult result = fetch_ok(store, "g", 0, 150);
    assert_seqs(result, 4, 6);
    assert_false(result.truncated);
    result = fetch_ok(store, "g", 0, 100);
    assert_seqs(result, 4, 6);
    assert_true(result.truncated);
}

void test_last_seq_survives_trimming_everything(void** state) {
    Store* store = fixture_of(state)->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    Retention retention;
    retention.max_bytes = 5; //  every 10-byte body is over the limit on its own
    assert_ok(store->set_retention("g", retention));
    append_many(store, "g", 4, 100, "m", 10);
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 4);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_true(result.messages.empty());
    assert_true(result.truncated);
    assert_false(result.more);
    assert_int_equal(result.first_seq, 0);
    assert_int_equal(result.last_seq, 4);
    assert_false(fetch_ok(store, "g", 4).truncated);
    assert_ok(store->set_retention("g", Retention()));
    assert_int_equal(append_ok(store, {make_request("g", "next")}, 100)[0].seq, 5);
    assert_seqs(fetch_ok(store, "g", 0), 5, 5);
}

//  ------------------------------------------------------------------------------------
//  SQLite only: persistence

void test_sqlite_reopen_keeps_groups_members_messages_and_last_seq(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("a", make_uuid(1)));
    assert_ok(store->create_group("b", make_uuid(2)));
    assert_ok(store->add_member("a", make_member(5, "ann", 10)));
    assert_ok(store->add_member("a", make_member(6, "bob", 20)));
    Retention retention;
    retention.max_count = 100;
    retention.max_bytes = 5000;
    assert_ok(store->set_retention("a", retention));
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
    assert_int_equal(after.last_ts_us, 1000);
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
    assert_int_equal(next.ts_us, 1000);
    //  A repeat of a message from before the reopen is still recognised.
    AppendResult again = append_ok(store, {make_request("b", "only", make_uuid(9))}, 3000)[0];
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 1);
    assert_int_equal(again.ts_us, 2000);
}

void test_sqlite_reopen_after_trimming_everything_keeps_seq_gapless(void** state) {
    Fixture* fixture = fixture_of(state);
    Store* store = fixture->store.get();
    assert_ok(store->create_group("g", make_uuid(1)));
    Retention retention;
    retention.max_bytes = 5;
    assert_ok(store->set_retention("g", retention));
    append_many(store, "g", 4, 100, "m", 10);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    GroupInfo info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 4);
    assert_int_equal(info.last_ts_us, 100);
    assert_true(fetch_ok(store, "g", 0).truncated);
    assert_ok(store->set_retention("g", Retention()));
    assert_int_equal(append_ok(store, {make_request("g", "x")}, 50)[0].seq, 5);
    assert_ok(reopen(fixture));
    store = fixture->store.get();
    info = info_ok(store, "g");
    assert_int_equal(info.first_seq, 5);
    assert_int_equal(info.last_seq, 5);
    FetchResult result = fetch_ok(store, "g", 0);
    assert_seqs(result, 5, 5);
    assert_true(result.truncated);
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

void test_sqlite_database_is_in_wal_mode_with_a_schema_version(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(fixture->store->create_group("g", make_uuid(1)));
    assert_string_equal(query_db(fixture->dir, "PRAGMA journal_mode").c_str(), "wal");
    assert_string_equal(query_db(fixture->dir, "PRAGMA user_version").c_str(), "1");
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

void test_sqlite_unknown_schema_version_is_refused(void** state) {
    Fixture* fixture = fixture_of(state);
    assert_ok(fixture->store->create_group("g", make_uuid(1)));
    fixture->store.reset();
    query_db(fixture->dir, "PRAGMA user_version = 99");
    assert_string_equal(query_db(fixture->dir, "PRAGMA user_version").c_str(), "99");
    Status status = reopen(fixture);
    assert_int_equal(status.code(), Status::kCorrupt);
    assert_non_null(strstr(status.message().c_str(), "99"));
    assert_null(fixture->store.get());
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
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->create_group("g", make_uuid(1)));
    append_many(store, "g", 50, 100);
    append_many(store, "g", 50, 200);
    assert_ok(reopen(fixture, Durability::kNormal));
    store = fixture->store.get();
    assert_seqs(fetch_ok(store, "g", 0), 1, 100);
    assert_ok(reopen(fixture, Durability::kFull));
    assert_int_equal(info_ok(fixture->store.get(), "g").last_seq, 100);
}

//  ------------------------------------------------------------------------------------
//  SQLite only: a full disk

void assert_gapless(const FetchResult& result) {
    for (size_t i = 0; i < result.messages.size(); i++)
        assert_int_equal(result.messages[i].seq, result.first_seq + i);
    if (!result.messages.empty()) assert_int_equal(result.messages.back().seq, result.last_seq);
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
    assert_ok(store->create_group("g", make_uuid(1)));
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
    assert_ok(store->set_retention("g", retention));
    results = append_ok(store, {make_request("g", "after"), make_request("g", "after")}, 100);
    assert_int_equal(results[0].seq, last_ok + 1);
    assert_int_equal(results[1].seq, last_ok + 2);
    assert_ok(reopen(fixture));
    all = fetch_ok(fixture->store.get(), "g", 0);
    assert_gapless(all);
    assert_int_equal(all.last_seq, last_ok + 2);
    assert_int_equal(all.first_seq, last_ok - 2);
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
    assert_ok(store->create_group("g", make_uuid(1)));
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
        !store->create_group("g", make_uuid(1)).is_ok())
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
    assert_ok(fixture->store->create_group("g", make_uuid(1)));
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
    BOTH(test_duplicate_msg_id_within_one_batch_returns_the_original),
    BOTH(test_nil_msg_id_is_never_deduplicated),
    BOTH(test_same_msg_id_in_two_groups_is_stored_in_each),
    BOTH(test_dedup_covers_only_retained_messages),
    BOTH(test_fetch_since_timestamp_is_inclusive),
    BOTH(test_fetch_since_a_timestamp_after_the_last_message_returns_nothing),
    BOTH(test_fetch_since_timestamp_and_after_seq_both_apply),
    BOTH(test_fetch_after_seq_returns_later_messages_in_order),
    BOTH(test_fetch_with_a_limit_continues_where_it_stopped),
    BOTH(test_fetch_since_timestamp_with_a_limit_continues_from_the_last_seq),
    BOTH(test_fetch_more_is_false_when_the_limit_reaches_the_last_message),
    BOTH(test_fetch_max_bytes_stops_before_exceeding_but_returns_at_least_one),
    BOTH(test_fetch_returns_every_field_intact),
    BOTH(test_members_add_list_remove_and_is_member),
    BOTH(test_add_member_twice_returns_exists_and_keeps_the_first_name),
    BOTH(test_remove_member_of_a_non_member_is_not_found),
    BOTH(test_members_belong_to_their_group_only),
    BOTH(test_retention_by_count_trims_the_oldest_and_sets_truncated),
    BOTH(test_retention_by_bytes_trims_the_oldest),
    BOTH(test_set_retention_trims_at_once),
    BOTH(test_fetch_since_a_time_after_the_trimmed_messages_is_not_truncated),
    BOTH(test_last_seq_survives_trimming_everything),
    SQLITE(test_sqlite_reopen_keeps_groups_members_messages_and_last_seq),
    SQLITE(test_sqlite_reopen_after_trimming_everything_keeps_seq_gapless),
    SQLITE(test_sqlite_creates_a_missing_data_directory),
    SQLITE(test_sqlite_data_dir_that_is_a_file_is_an_error),
    SQLITE(test_sqlite_database_is_in_wal_mode_with_a_schema_version),
    SQLITE(test_sqlite_garbage_file_is_corrupt),
    SQLITE(test_sqlite_unknown_schema_version_is_refused),
    SQLITE(test_sqlite_database_of_another_program_is_refused),
    SQLITE(test_sqlite_damaged_pages_are_reported_as_corrupt),
    SQLITE(test_sqlite_durability_normal_stores_and_reopens),
    SQLITE(test_sqlite_full_database_stores_nothing_of_the_failed_batch),
    SQLITE(test_sqlite_full_filesystem_stores_nothing_and_recovers_when_space_frees),
    SQLITE(test_sqlite_read_only_data_directory_is_read_only),
    SQLITE(test_sqlite_read_only_database_file_is_read_only),
};

} // namespace

int main() {
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
