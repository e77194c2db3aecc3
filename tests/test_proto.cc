/*  =========================================================================
    test_proto.cc - zgm_proto codec and socket helpers

    The test keeps its own copy of the message model (kSpecs, as docs/protocol.md writes it)
    and its own reference encoder, so a change to the wire format in proto.cc that the
    document does not make fails here.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
//  cmocka 1.1 declares its functions without extern "C".
extern "C" {
#include <cmocka.h>
}

#include "proto/proto.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>
#include <zmq.h>

using zgm::Uuid;
using namespace zgm::proto;

namespace {

//  ---------------------------------------------------------------------------------------
//  The message model, as docs/protocol.md has it

enum Field : uint8_t {
    END = 0,
    STATUS,
    REASON,
    SERVER,
    ENDPOINT,
    ACCEPT_NEW,
    GROUP_ID,
    GROUP,
    COUNT,
    USER,
    NAME,
    MSG_ID,
    BODY,
    SEQ,
    TS_US,
    SINCE_US,
    AFTER_SEQ,
    LIMIT,
    FIRST_SEQ,
    LAST_SEQ,
    MORE,
    TRUNCATED,
    GROUPS,
    MESSAGES,
    MEMBERS,
    FIELD_COUNT
};

struct Spec {
    uint8_t id;
    const char* name;
    Field fields[8];
};

const Spec kSpecs[] = {
    {kError, "ERROR", {STATUS, REASON}},
    {kOk, "OK", {}},
    {kRegister, "REGISTER", {SERVER, ENDPOINT, ACCEPT_NEW, GROUP_ID, GROUP, COUNT}},
    {kHeartbeat, "HEARTBEAT", {SERVER, ENDPOINT, ACCEPT_NEW, COUNT}},
    {kDeregister, "DEREGISTER", {SERVER}},
    {kList, "LIST", {USER}},
    {kGroups, "GROUPS", {GROUPS}},
    {kCreate, "CREATE", {USER, GROUP}},
    {kCreated, "CREATED", {GROUP_ID, GROUP, ENDPOINT}},
    {kHost, "HOST", {GROUP}},
    {kJoin, "JOIN", {USER, NAME, GROUP}},
    {kJoined, "JOINED", {GROUP_ID, LAST_SEQ}},
    {kLeave, "LEAVE", {USER, GROUP}},
    {kSend, "SEND", {USER, GROUP, MSG_ID, BODY}},
    {kSent, "SENT", {SEQ, TS_US}},
    {kFetch, "FETCH", {USER, GROUP, SINCE_US, AFTER_SEQ, LIMIT}},
    {kMessages, "MESSAGES", {GROUP, FIRST_SEQ, LAST_SEQ, MORE, TRUNCATED, MESSAGES}},
    {kMembers, "MEMBERS", {USER, GROUP}},
    {kMemberList, "MEMBER_LIST", {MEMBERS}},
    {kFollow, "FOLLOW", {USER, GROUP, AFTER_SEQ}},
    {kFollowing, "FOLLOWING", {GROUP, LAST_SEQ}},
    {kDeliver, "DELIVER", {GROUP, MESSAGES}},
};

const Spec* find_spec(uint8_t id) {
    for (const Spec& spec : kSpecs)
        if (spec.id == id) return &spec;
    return nullptr;
}

bool is_list(Field field) {
    return field == GROUPS || field == MESSAGES || field == MEMBERS;
}

//  ---------------------------------------------------------------------------------------
//  Values

Uuid uuid_of(uint8_t byte) {
    Uuid uuid;
    memset(uuid.bytes, byte, 16);
    return uuid;
}

//  A uuid that differs for every index, so reordered records are noticed.
Uuid uuid_indexed(uint32_t index) {
    Uuid uuid;
    for (int i = 0; i < 16; i++)
        uuid.bytes[i] = (uint8_t)((index >> (8 * (i % 4))) + i);
    return uuid;
}

//  `size` bytes, none NUL, starting with the index so records differ.
std::string string_indexed(size_t size, uint32_t index) {
    std::string text(size, 'z');
    for (size_t i = 0; i < size && i < 8; i++)
        text[i] = (char)('a' + ((index >> (4 * i)) & 15));
    return text;
}

//  The longest string, with every byte value a string may hold (1 to 255).
std::string string_max() {
    std::string text(kMaxString, ' ');
    for (size_t i = 0; i < kMaxString; i++)
        text[i] = (char)(i + 1);
    return text;
}

//  A body with every byte value, NUL included.
std::string body_of(size_t size, uint32_t seed) {
    std::string body(size, '\0');
    for (size_t i = 0; i < size; i++)
        body[i] = (char)((i * 131 + seed) & 0xff);
    return body;
}

enum class Edge { kLow, kHigh, kMiddle };

GroupRecord group_record(Edge edge, uint32_t index) {
    GroupRecord group;
    if (edge == Edge::kHigh) {
        group.id = uuid_of(0xff);
        group.name = string_max();
        group.endpoint = string_max();
        group.members = UINT32_MAX;
    } else if (edge == Edge::kMiddle) {
        group.id = uuid_indexed(index);
        group.name = string_indexed(5, index);
        group.endpoint = "tcp://10.0.0.1:5670";
        group.members = index + 3;
    }
    return group;
}

MessageRecord message_record(Edge edge, uint32_t index) {
    MessageRecord record;
    if (edge == Edge::kHigh) {
        record.seq = UINT64_MAX;
        record.ts_us = UINT64_MAX;
        record.sender = uuid_of(0xff);
        record.sender_name = string_max();
        record.body = body_of(kMaxBody, index);
    } else if (edge == Edge::kMiddle) {
        record.seq = index + 1;
        record.ts_us = 1700000000000000ULL + index;
        record.sender = uuid_indexed(index);
        record.sender_name = string_indexed(4, index);
        record.body = body_of(11, index);
    }
    return record;
}

MemberRecord member_record(Edge edge, uint32_t index) {
    MemberRecord member;
    if (edge == Edge::kHigh) {
        member.id = uuid_of(0xff);
        member.name = string_max();
    } else if (edge == Edge::kMiddle) {
        member.id = uuid_indexed(index);
        member.name = string_indexed(6, index);
    }
    return member;
}

//  Sets one field of msg to its lowest or highest value, or to an ordinary one. A list
//  gets nothing (low), a highest and a lowest record (high), or two ordinary records.
void set_field(Message* msg, Field field, Edge edge) {
    bool high = edge == Edge::kHigh, low = edge == Edge::kLow;
    uint64_t u64 = high ? UINT64_MAX : low ? 0 : 0x0102030405060708ULL;
    uint32_t u32 = high ? UINT32_MAX : low ? 0 : 0x0a0b0c0d;
    Uuid uuid = high ? uuid_of(0xff) : low ? uuid_of(0) : uuid_indexed(7);
    std::string text = high ? string_max() : low ? "" : "abc";
    uint8_t flag = high ? 1 : 0;
    switch (field) {
    case STATUS:
        msg->status = high ? UINT16_MAX : low ? 0 : 404;
        break;
    case REASON:
        msg->reason = text;
        break;
    case SERVER:
        msg->server = uuid;
        break;
    case ENDPOINT:
        msg->endpoint = text;
        break;
    case ACCEPT_NEW:
        msg->accept_new = flag;
        break;
    case GROUP_ID:
        msg->group_id = uuid;
        break;
    case GROUP:
        msg->group = text;
        break;
    case COUNT:
        msg->count = u32;
        break;
    case USER:
        msg->user = uuid;
        break;
    case NAME:
        msg->name = text;
        break;
    case MSG_ID:
        msg->msg_id = uuid;
        break;
    case BODY:
        msg->body = high ? body_of(kMaxBody, 1) : low ? "" : std::string("hello\0world", 11);
        break;
    case SEQ:
        msg->seq = u64;
        break;
    case TS_US:
        msg->ts_us = u64;
        break;
    case SINCE_US:
        msg->since_us = u64;
        break;
    case AFTER_SEQ:
        msg->after_seq = u64;
        break;
    case LIMIT:
        msg->limit = u32;
        break;
    case FIRST_SEQ:
        msg->first_seq = u64;
        break;
    case LAST_SEQ:
        msg->last_seq = u64;
        break;
    case MORE:
        msg->more = flag;
        break;
    case TRUNCATED:
        msg->truncated = flag;
        break;
    case GROUPS:
        msg->groups.clear();
        if (high) msg->groups = {group_record(Edge::kHigh, 0), group_record(Edge::kLow, 1)};
        if (edge == Edge::kMiddle)
            msg->groups = {group_record(Edge::kMiddle, 0), group_record(Edge::kMiddle, 1)};
        break;
    case MESSAGES:
        msg->messages.clear();
        if (high) msg->messages = {message_record(Edge::kHigh, 0), message_record(Edge::kLow, 1)};
        if (edge == Edge::kMiddle)
            msg->messages = {message_record(Edge::kMiddle, 0), message_record(Edge::kMiddle, 1)};
        break;
    case MEMBERS:
        msg->members.clear();
        if (high) msg->members = {member_record(Edge::kHigh, 0), member_record(Edge::kLow, 1)};
        if (edge == Edge::kMiddle)
            msg->members = {member_record(Edge::kMiddle, 0), member_record(Edge::kMiddle, 1)};
        break;
    case END:
    case FIELD_COUNT:
        break;
    }
}

//  Every field of Message set to `edge` (even those the message does not carry).
Message make_message(uint8_t id, uint32_t request_id, Edge edge) {
    Message msg;
    msg.id = id;
    msg.request_id = request_id;
    for (int field = STATUS; field < FIELD_COUNT; field++)
        set_field(&msg, (Field)field, edge);
    return msg;
}

//  What a decoder gives back for msg: the fields of its spec, the rest default.
Message on_the_wire(const Message& msg) {
    Message wire;
    wire.id = msg.id;
    wire.request_id = msg.request_id;
    const Spec* spec = find_spec(msg.id);
    for (Field field : spec->fields) {
        switch (field) {
        case STATUS:
            wire.status = msg.status;
            break;
        case REASON:
            wire.reason = msg.reason;
            break;
        case SERVER:
            wire.server = msg.server;
            break;
        case ENDPOINT:
            wire.endpoint = msg.endpoint;
            break;
        case ACCEPT_NEW:
            wire.accept_new = msg.accept_new;
            break;
        case GROUP_ID:
            wire.group_id = msg.group_id;
            break;
        case GROUP:
            wire.group = msg.group;
            break;
        case COUNT:
            wire.count = msg.count;
            break;
        case USER:
            wire.user = msg.user;
            break;
        case NAME:
            wire.name = msg.name;
            break;
        case MSG_ID:
            wire.msg_id = msg.msg_id;
            break;
        case BODY:
            wire.body = msg.body;
            break;
        case SEQ:
            wire.seq = msg.seq;
            break;
        case TS_US:
            wire.ts_us = msg.ts_us;
            break;
        case SINCE_US:
            wire.since_us = msg.since_us;
            break;
        case AFTER_SEQ:
            wire.after_seq = msg.after_seq;
            break;
        case LIMIT:
            wire.limit = msg.limit;
            break;
        case FIRST_SEQ:
            wire.first_seq = msg.first_seq;
            break;
        case LAST_SEQ:
            wire.last_seq = msg.last_seq;
            break;
        case MORE:
            wire.more = msg.more;
            break;
        case TRUNCATED:
            wire.truncated = msg.truncated;
            break;
        case GROUPS:
            wire.groups = msg.groups;
            break;
        case MESSAGES:
            wire.messages = msg.messages;
            break;
        case MEMBERS:
            wire.members = msg.members;
            break;
        case END:
        case FIELD_COUNT:
            break;
        }
    }
    return wire;
}

//  ---------------------------------------------------------------------------------------
//  Comparing, with the name of the first field that differs

//  The message being checked, for failure messages.
const char* g_checking = "";

void check(bool same, const char* field, size_t index = SIZE_MAX) {
    if (same) return;
    if (index == SIZE_MAX)
        fail_msg("%s: field %s differs", g_checking, field);
    else
        fail_msg("%s: field %s differs in record %zu", g_checking, field, index);
}

void assert_same_message(const Message& want, const Message& got) {
    check(want.id == got.id, "id");
    check(want.request_id == got.request_id, "request_id");
    check(want.status == got.status, "status");
    check(want.reason == got.reason, "reason");
    check(want.server == got.server, "server");
    check(want.endpoint == got.endpoint, "endpoint");
    check(want.accept_new == got.accept_new, "accept_new");
    check(want.group_id == got.group_id, "group_id");
    check(want.group == got.group, "group");
    check(want.count == got.count, "count");
    check(want.user == got.user, "user");
    check(want.name == got.name, "name");
    check(want.msg_id == got.msg_id, "msg_id");
    check(want.body == got.body, "body");
    check(want.seq == got.seq, "seq");
    check(want.ts_us == got.ts_us, "ts_us");
    check(want.since_us == got.since_us, "since_us");
    check(want.after_seq == got.after_seq, "after_seq");
    check(want.limit == got.limit, "limit");
    check(want.first_seq == got.first_seq, "first_seq");
    check(want.last_seq == got.last_seq, "last_seq");
    check(want.more == got.more, "more");
    check(want.truncated == got.truncated, "truncated");
    check(want.groups.size() == got.groups.size(), "groups (count)");
    for (size_t i = 0; i < want.groups.size(); i++) {
        check(want.groups[i].id == got.groups[i].id, "groups.id", i);
        check(want.groups[i].name == got.groups[i].name, "groups.name", i);
        check(want.groups[i].endpoint == got.groups[i].endpoint, "groups.endpoint", i);
        check(want.groups[i].members == got.groups[i].members, "groups.members", i);
    }
    check(want.messages.size() == got.messages.size(), "messages (count)");
    for (size_t i = 0; i < want.messages.size(); i++) {
        check(want.messages[i].seq == got.messages[i].seq, "messages.seq", i);
        check(want.messages[i].ts_us == got.messages[i].ts_us, "messages.ts_us", i);
        check(want.messages[i].sender == got.messages[i].sender, "messages.sender", i);
        check(want.messages[i].sender_name == got.messages[i].sender_name, "messages.sender_name",
              i);
        check(want.messages[i].body == got.messages[i].body, "messages.body", i);
    }
    check(want.members.size() == got.members.size(), "members (count)");
    for (size_t i = 0; i < want.members.size(); i++) {
        check(want.members[i].id == got.members[i].id, "members.id", i);
        check(want.members[i].name == got.members[i].name, "members.name", i);
    }
}

//  ---------------------------------------------------------------------------------------
//  A reference encoder written from docs/protocol.md

void put(std::string* out, uint64_t value, int width) {
    for (int i = width - 1; i >= 0; i--)
        out->push_back((char)(value >> (8 * i)));
}

void put_uuid(std::string* out, const Uuid& uuid) {
    out->append((const char*)uuid.bytes, 16);
}

void put_string(std::string* out, const std::string& text) {
    put(out, text.size(), 1);
    out->append(text);
}

void put_body(std::string* out, const std::string& body) {
    put(out, body.size(), 4);
    out->append(body);
}

void put_field(std::string* out, Field field, const Message& msg) {
    switch (field) {
    case STATUS:
        return put(out, msg.status, 2);
    case REASON:
        return put_string(out, msg.reason);
    case SERVER:
        return put_uuid(out, msg.server);
    case ENDPOINT:
        return put_string(out, msg.endpoint);
    case ACCEPT_NEW:
        return put(out, msg.accept_new, 1);
    case GROUP_ID:
        return put_uuid(out, msg.group_id);
    case GROUP:
        return put_string(out, msg.group);
    case COUNT:
        return put(out, msg.count, 4);
    case USER:
        return put_uuid(out, msg.user);
    case NAME:
        return put_string(out, msg.name);
    case MSG_ID:
        return put_uuid(out, msg.msg_id);
    case BODY:
        return put_body(out, msg.body);
    case SEQ:
        return put(out, msg.seq, 8);
    case TS_US:
        return put(out, msg.ts_us, 8);
    case SINCE_US:
        return put(out, msg.since_us, 8);
    case AFTER_SEQ:
        return put(out, msg.after_seq, 8);
    case LIMIT:
        return put(out, msg.limit, 4);
    case FIRST_SEQ:
        return put(out, msg.first_seq, 8);
    case LAST_SEQ:
        return put(out, msg.last_seq, 8);
    case MORE:
        return put(out, msg.more, 1);
    case TRUNCATED:
        return put(out, msg.truncated, 1);
    case GROUPS:
        put(out, msg.groups.size(), 4);
        for (const GroupRecord& group : msg.groups) {
            put_uuid(out, group.id);
            put_string(out, group.name);
            put_string(out, group.endpoint);
            put(out, group.members, 4);
        }
        return;
    case MESSAGES:
        put(out, msg.messages.size(), 4);
        for (const MessageRecord& record : msg.messages) {
            put(out, record.seq, 8);
            put(out, record.ts_us, 8);
            put_uuid(out, record.sender);
            put_string(out, record.sender_name);
            put_body(out, record.body);
        }
        return;
    case MEMBERS:
        put(out, msg.members.size(), 4);
        for (const MemberRecord& member : msg.members) {
            put_uuid(out, member.id);
            put_string(out, member.name);
        }
        return;
    case END:
    case FIELD_COUNT:
        return;
    }
}

//  The header and the first `fields` fields of msg (all of them by default).
std::string reference_encode(const Message& msg, size_t fields = SIZE_MAX) {
    std::string out;
    put(&out, 0xAAA1, 2);
    put(&out, msg.id, 1);
    put(&out, 1, 1);
    put(&out, msg.request_id, 4);
    const Spec* spec = find_spec(msg.id);
    for (size_t i = 0; i < fields && i < 8 && spec->fields[i] != END; i++)
        put_field(&out, spec->fields[i], msg);
    return out;
}

//  Where field `field` of msg starts in its encoding.
size_t field_offset(const Message& msg, Field field) {
    const Spec* spec = find_spec(msg.id);
    for (size_t i = 0; i < 8; i++)
        if (spec->fields[i] == field) return reference_encode(msg, i).size();
    fail_msg("%s has no such field", spec->name);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Helpers

std::string encode_ok(const Message& msg) {
    std::string frame;
    assert_true(encode(msg, &frame));
    assert_int_equal(frame.size(), encoded_size(msg));
    return frame;
}

DecodeError decode_string(const std::string& frame, Message* msg) {
    return decode((const uint8_t*)frame.data(), frame.size(), msg);
}

void assert_decode_error(const std::string& frame, DecodeError want, const char* what) {
    Message msg;
    DecodeError got = decode_string(frame, &msg);
    if (got != want)
        fail_msg("%s: decode gave '%s', wanted '%s'", what, decode_error_text(got),
                 decode_error_text(want));
}

void assert_encode_refused(const Message& msg, const char* what) {
    std::string frame = "left over";
    if (encode(msg, &frame)) fail_msg("%s: encode accepted it", what);
    assert_true(frame.empty());
    assert_int_equal(encoded_size(msg), 0);
}

void patch_u32(std::string* frame, size_t offset, uint32_t value) {
    std::string bytes;
    put(&bytes, value, 4);
    frame->replace(offset, 4, bytes);
}

//  Encodes, checks the bytes against the reference encoder, decodes into a message that
//  had other values, and compares every field.
void assert_round_trips(const Message& msg) {
    g_checking = message_name(msg.id);
    std::string frame = encode_ok(msg);
    std::string reference = reference_encode(msg);
    assert_int_equal(frame.size(), reference.size());
    assert_memory_equal(frame.data(), reference.data(), frame.size());
    Message decoded = make_message(kOk, 99, Edge::kMiddle);
    assert_int_equal(decode_string(frame, &decoded), DecodeError::kOk);
    assert_same_message(on_the_wire(msg), decoded);
}

//  ---------------------------------------------------------------------------------------
//  Round trips

void test_every_message_round_trips_at_field_edges(void** state) {
    (void)state;
    for (const Spec& spec : kSpecs) {
        assert_round_trips(make_message(spec.id, 0, Edge::kLow));
        assert_round_trips(make_message(spec.id, UINT32_MAX, Edge::kHigh));
        assert_round_trips(make_message(spec.id, 0x01020304, Edge::kMiddle));
        //  Each field at its highest while the others are at their lowest, and the reverse,
        //  so a field that leaks into its neighbour shows.
        for (Field field : spec.fields) {
            if (field == END) break;
            Message msg = make_message(spec.id, 1, Edge::kLow);
            set_field(&msg, field, Edge::kHigh);
            assert_round_trips(msg);
            msg = make_message(spec.id, 1, Edge::kHigh);
            set_field(&msg, field, Edge::kLow);
            assert_round_trips(msg);
        }
    }
}

void test_join_encodes_to_the_documented_bytes(void** state) {
    (void)state;
    Message msg;
    msg.id = kJoin;
    msg.request_id = 0x01020304;
    msg.user = uuid_indexed(0);
    msg.name = "ann";
    msg.group = "ops";
    const uint8_t want[] = {0xAA, 0xA1, 30,  1,   0x01, 0x02, 0x03, 0x04, //  header
                            0,    1,    2,   3,   4,    5,    6,    7,    //  user
                            8,    9,    10,  11,  12,   13,   14,   15,   //
                            3,    'a',  'n', 'n',                         //  name
                            3,    'o',  'p', 's'};                        //  group
    std::string frame = encode_ok(msg);
    assert_int_equal(frame.size(), sizeof want);
    assert_memory_equal(frame.data(), want, sizeof want);
}

void test_names_and_ids_match_the_model(void** state) {
    (void)state;
    for (int id = 0; id < 256; id++) {
        const Spec* spec = find_spec((uint8_t)id);
        assert_int_equal(is_known_id((uint8_t)id), spec != nullptr);
        assert_string_equal(message_name((uint8_t)id), spec ? spec->name : "UNKNOWN");
    }
    assert_int_equal(kSignature, 0xAAA1);
    assert_int_equal(kVersion, 1);
    assert_int_equal(kHeaderSize, 8);
}

void test_lists_of_max_list_records_round_trip(void** state) {
    (void)state;
    //  As long as the records leave the frame under kMaxFrame: members at their largest,
    //  groups with 64-byte names and the longest endpoints, messages with 100-byte bodies.
    Message members = make_message(kMemberList, 5, Edge::kLow);
    Message groups = make_message(kGroups, 6, Edge::kLow);
    Message batch = make_message(kMessages, 7, Edge::kHigh);
    batch.messages.clear();
    for (uint32_t i = 0; i < kMaxList; i++) {
        members.members.push_back({uuid_indexed(i), string_indexed(kMaxString, i)});
        groups.groups.push_back(
            {uuid_indexed(i), string_indexed(64, i), string_indexed(kMaxString, i + 1), i});
        MessageRecord record = message_record(Edge::kMiddle, i);
        record.sender_name = string_indexed(kMaxString, i);
        record.body = body_of(100, i);
        batch.messages.push_back(record);
    }
    batch.messages.back().seq = UINT64_MAX;
    Message deliver = make_message(kDeliver, 0, Edge::kHigh);
    deliver.messages = batch.messages;
    for (const Message* msg : {&members, &groups, &batch, &deliver}) {
        assert_true(encoded_size(*msg) <= kMaxFrame);
        assert_round_trips(*msg);
    }
}

void test_lists_of_largest_records_round_trip_up_to_max_frame(void** state) {
    (void)state;
    Message groups = make_message(kGroups, 1, Edge::kLow);
    const size_t group_size = 16 + 1 + kMaxString + 1 + kMaxString + 4;
    for (uint32_t i = 0; i < (kMaxFrame - kHeaderSize - 4) / group_size; i++)
        groups.groups.push_back({uuid_indexed(i), string_indexed(kMaxString, i),
                                 string_indexed(kMaxString, ~i), UINT32_MAX - i});
    assert_true(groups.groups.size() > 7000);
    assert_round_trips(groups);

    Message deliver = make_message(kDeliver, 0, Edge::kHigh);
    deliver.messages.clear();
    const size_t record_size = 8 + 8 + 16 + 1 + kMaxString + 4 + kMaxBody;
    const size_t fixed = kHeaderSize + 1 + kMaxString + 4;
    for (uint32_t i = 0; i < (kMaxFrame - fixed) / record_size; i++) {
        MessageRecord record = message_record(Edge::kHigh, i);
        record.seq = i + 1;
        record.sender_name = string_indexed(kMaxString, i);
        deliver.messages.push_back(record);
    }
    assert_int_equal(deliver.messages.size(), 63);
    assert_round_trips(deliver);
    Message batch = deliver;
    batch.id = kMessages;
    batch.request_id = 77;
    assert_round_trips(batch);
}

//  DELIVER with an empty group name: 13 bytes, then records of 37 bytes plus the body.
Message deliver_of_exactly_max_frame() {
    Message msg;
    msg.id = kDeliver;
    size_t size = kHeaderSize + 1 + 4;
    uint32_t index = 0;
    while (size < kMaxFrame) {
        MessageRecord record;
        record.seq = ++index;
        size_t body = kMaxBody;
        if (size + 37 + body > kMaxFrame) body = kMaxFrame - size - 37;
        record.body = body_of(body, index);
        size += 37 + body;
        msg.messages.push_back(record);
    }
    return msg;
}

void test_frame_of_exactly_max_frame_round_trips(void** state) {
    (void)state;
    Message msg = deliver_of_exactly_max_frame();
    assert_int_equal(encoded_size(msg), kMaxFrame);
    assert_round_trips(msg);
}

//  ---------------------------------------------------------------------------------------
//  Encode refuses what a decoder would reject

void test_encode_refuses_fields_over_their_limits(void** state) {
    (void)state;
    const std::string long_string(kMaxString + 1, 'x');
    for (const Spec& spec : kSpecs) {
        for (Field field : spec.fields) {
            if (field == END) break;
            Message msg = make_message(spec.id, 1, Edge::kMiddle);
            switch (field) {
            case REASON:
                msg.reason = long_string;
                break;
            case ENDPOINT:
                msg.endpoint = long_string;
                break;
            case GROUP:
                msg.group = long_string;
                break;
            case NAME:
                msg.name = long_string;
                break;
            case BODY:
                msg.body.assign(kMaxBody + 1, 'b');
                break;
            default:
                break;
            }
            if (field == REASON || field == ENDPOINT || field == GROUP || field == NAME ||
                field == BODY)
                assert_encode_refused(msg, spec.name);
            if (!is_list(field)) continue;
            //  A record field over its limit, then one record too many.
            for (int which = 0; which < 3; which++) {
                msg = make_message(spec.id, 1, Edge::kMiddle);
                if (field == GROUPS && which == 0) msg.groups[1].name = long_string;
                if (field == GROUPS && which == 1) msg.groups[1].endpoint = long_string;
                if (field == MESSAGES && which == 0) msg.messages[1].sender_name = long_string;
                if (field == MESSAGES && which == 1) msg.messages[1].body.assign(kMaxBody + 1, 0);
                if (field == MEMBERS && which <= 1) msg.members[1].name = long_string;
                if (which == 2) {
                    msg.groups.resize(kMaxList + 1);
                    msg.messages.resize(kMaxList + 1);
                    msg.members.resize(kMaxList + 1);
                }
                assert_encode_refused(msg, spec.name);
            }
        }
    }
    //  The limits themselves are fine (the round trips prove it); one past is not.
    Message msg = make_message(kError, 1, Edge::kHigh);
    assert_true(encoded_size(msg) > 0);
    msg.reason.push_back('x');
    assert_encode_refused(msg, "ERROR reason");
}

void test_encode_refuses_what_decode_would_reject(void** state) {
    (void)state;
    Message join;
    join.id = kJoin;
    join.group = std::string("gen\0eral", 8);
    assert_encode_refused(join, "NUL inside a string");
    Message messages;
    messages.id = kMessages;
    messages.more = 2;
    assert_encode_refused(messages, "flag over 1");
    messages.more = 1;
    messages.truncated = 2;
    assert_encode_refused(messages, "flag over 1");
    Message reg;
    reg.id = kRegister;
    reg.accept_new = 2;
    assert_encode_refused(reg, "flag over 1");
}

void test_encode_refuses_unknown_ids(void** state) {
    (void)state;
    for (int id = 0; id < 256; id++) {
        if (find_spec((uint8_t)id)) continue;
        Message msg = make_message((uint8_t)id, 1, Edge::kMiddle);
        assert_encode_refused(msg, "unknown id");
    }
}

void test_encode_refuses_a_frame_over_max_frame(void** state) {
    (void)state;
    Message msg = deliver_of_exactly_max_frame();
    msg.messages.back().body.push_back('+');
    assert_encode_refused(msg, "DELIVER of kMaxFrame + 1");
    //  Every field within its limit, the whole too large.
    Message full = make_message(kMessages, 1, Edge::kLow);
    full.messages.assign(64, message_record(Edge::kHigh, 0));
    assert_encode_refused(full, "MESSAGES of 64 largest records");
}

//  ---------------------------------------------------------------------------------------
//  Decode rejects each malformation with its own error

void test_every_proper_prefix_is_rejected_as_truncated(void** state) {
    (void)state;
    for (const Spec& spec : kSpecs) {
        Message msg = make_message(spec.id, 0x0a0b0c0d, Edge::kMiddle);
        std::string frame = encode_ok(msg);
        for (size_t size = 0; size < frame.size(); size++) {
            Message decoded;
            DecodeError error = decode((const uint8_t*)frame.data(), size, &decoded);
            DecodeError want = size == 0 ? DecodeError::kNoFrame : DecodeError::kTruncated;
            if (error != want)
                fail_msg("%s cut to %zu of %zu bytes: '%s'", spec.name, size, frame.size(),
                         decode_error_text(error));
            if (size >= kHeaderSize) {
                //  The header was read, so an ERROR reply can echo the request id.
                assert_int_equal(decoded.id, spec.id);
                assert_int_equal(decoded.request_id, 0x0a0b0c0d);
            }
        }
        assert_decode_error(frame, DecodeError::kOk, spec.name);
    }
}

void test_empty_frame_is_no_frame(void** state) {
    (void)state;
    Message msg;
    assert_int_equal(decode(nullptr, 0, &msg), DecodeError::kNoFrame);
    uint8_t byte = 0xAA;
    assert_int_equal(decode(&byte, 0, &msg), DecodeError::kNoFrame);
}

void test_bad_signature_is_rejected(void** state) {
    (void)state;
    std::string frame = encode_ok(make_message(kJoin, 1, Edge::kMiddle));
    for (uint16_t signature : {0xAAA0, 0xAAA2, 0xA1AA, 0x0000, 0xFFFF, 0xBAA1}) {
        frame[0] = (char)(signature >> 8);
        frame[1] = (char)signature;
        assert_decode_error(frame, DecodeError::kBadSignature, "signature");
    }
    //  One byte that cannot be a signature is still too short to say.
    assert_decode_error(std::string(1, '\xAA'), DecodeError::kTruncated, "1 byte");
}

void test_other_version_is_rejected_with_its_request_id(void** state) {
    (void)state;
    std::string frame = encode_ok(make_message(kSend, 0xfeedbeef, Edge::kMiddle));
    for (int version : {0, 2, 255}) {
        frame[3] = (char)version;
        Message msg;
        assert_int_equal(decode_string(frame, &msg), DecodeError::kBadVersion);
        assert_int_equal(msg.id, kSend);
        assert_int_equal(msg.request_id, 0xfeedbeef);
    }
    //  Only the header counts: a later version may have other fields, or none.
    std::string header = frame.substr(0, kHeaderSize);
    header[2] = (char)200;
    Message msg;
    assert_int_equal(decode_string(header, &msg), DecodeError::kBadVersion);
    assert_int_equal(msg.request_id, 0xfeedbeef);
}

void test_unknown_id_is_rejected_with_its_request_id(void** state) {
    (void)state;
    for (int id = 0; id < 256; id++) {
        if (find_spec((uint8_t)id)) continue;
        std::string frame = reference_encode(make_message(kOk, 0x55667788, Edge::kLow));
        frame[2] = (char)id;
        Message msg;
        assert_int_equal(decode_string(frame, &msg), DecodeError::kUnknownId);
        assert_int_equal(msg.id, id);
        assert_int_equal(msg.request_id, 0x55667788);
        frame += "some fields";
        assert_int_equal(decode_string(frame, &msg), DecodeError::kUnknownId);
    }
}

void test_trailing_bytes_are_rejected(void** state) {
    (void)state;
    for (const Spec& spec : kSpecs) {
        for (Edge edge : {Edge::kLow, Edge::kMiddle}) {
            std::string frame = encode_ok(make_message(spec.id, 3, edge));
            assert_decode_error(frame + '\0', DecodeError::kTrailing, spec.name);
            assert_decode_error(frame + "\x01\x02\x03", DecodeError::kTrailing, spec.name);
        }
    }
}

void test_frame_over_max_frame_is_rejected(void** state) {
    (void)state;
    std::string frame = encode_ok(deliver_of_exactly_max_frame());
    assert_decode_error(frame, DecodeError::kOk, "kMaxFrame");
    frame.push_back('\0');
    assert_decode_error(frame, DecodeError::kFrameTooLarge, "kMaxFrame + 1");
    std::string huge = encode_ok(make_message(kOk, 1, Edge::kLow));
    huge.resize(2 * kMaxFrame);
    assert_decode_error(huge, DecodeError::kFrameTooLarge, "2 * kMaxFrame");
}

void test_body_length_over_max_body_is_rejected(void** state) {
    (void)state;
    Message send = make_message(kSend, 1, Edge::kLow);
    std::string frame = encode_ok(send);
    size_t at = field_offset(send, BODY);
    //  With all the bytes present, and with none.
    std::string full = frame;
    patch_u32(&full, at, (uint32_t)kMaxBody + 1);
    full.append(kMaxBody + 1, 'b');
    assert_decode_error(full, DecodeError::kStringTooLong, "SEND body kMaxBody + 1");
    for (uint32_t size : {(uint32_t)kMaxBody + 1, 0x80000000u, UINT32_MAX}) {
        std::string bare = frame;
        patch_u32(&bare, at, size);
        assert_decode_error(bare, DecodeError::kStringTooLong, "SEND body length");
    }
    //  The body of a record: DELIVER with one empty record ends with its body length.
    for (uint8_t id : {kMessages, kDeliver}) {
        Message msg = make_message(id, 1, Edge::kLow);
        msg.messages.resize(1);
        std::string batch = encode_ok(msg);
        patch_u32(&batch, batch.size() - 4, (uint32_t)kMaxBody + 1);
        batch.append(kMaxBody + 1, 'b');
        assert_decode_error(batch, DecodeError::kStringTooLong, "record body");
    }
}

void test_list_count_over_max_list_is_rejected(void** state) {
    (void)state;
    for (uint8_t id : {kGroups, kMessages, kMemberList, kDeliver}) {
        std::string frame = encode_ok(make_message(id, 1, Edge::kLow));
        for (uint32_t count : {kMaxList + 1, 0x7fffffffu, UINT32_MAX}) {
            patch_u32(&frame, frame.size() - 4, count);
            assert_decode_error(frame, DecodeError::kListTooLong, message_name(id));
        }
    }
}

void test_list_count_beyond_the_remaining_bytes_is_truncated_without_allocating(void** state) {
    (void)state;
    for (uint8_t id : {kGroups, kMessages, kMemberList, kDeliver}) {
        Message low = make_message(id, 1, Edge::kLow);
        std::string frame = encode_ok(low);
        patch_u32(&frame, frame.size() - 4, kMaxList);
        //  And a few bytes that are not nearly enough for kMaxList records.
        frame.append(64, 'r');
        Message msg;
        assert_int_equal(decode_string(frame, &msg), DecodeError::kTruncated);
        assert_int_equal(msg.groups.capacity(), 0);
        assert_int_equal(msg.messages.capacity(), 0);
        assert_int_equal(msg.members.capacity(), 0);

        //  Two records announced, one present, then nothing or part of the second.
        Message one = make_message(id, 1, Edge::kMiddle);
        one.groups.resize(1);
        one.messages.resize(1);
        one.members.resize(1);
        Field list = id == kGroups ? GROUPS : id == kMemberList ? MEMBERS : MESSAGES;
        std::string short_frame = encode_ok(one);
        patch_u32(&short_frame, field_offset(one, list), 2);
        assert_decode_error(short_frame, DecodeError::kTruncated, "count 2, 1 record");
        short_frame.append(10, 'r');
        assert_decode_error(short_frame, DecodeError::kTruncated, "count 2, 1.5 records");
    }
}

void test_flag_other_than_0_or_1_is_a_bad_value(void** state) {
    (void)state;
    for (const Spec& spec : kSpecs) {
        for (Field field : spec.fields) {
            if (field != ACCEPT_NEW && field != MORE && field != TRUNCATED) continue;
            Message msg = make_message(spec.id, 1, Edge::kMiddle);
            std::string frame = encode_ok(msg);
            size_t at = field_offset(msg, field);
            assert_int_equal(frame[at], 0);
            for (int value : {2, 0x80, 0xff}) {
                frame[at] = (char)value;
                assert_decode_error(frame, DecodeError::kBadValue, spec.name);
            }
            frame[at] = 1;
            assert_decode_error(frame, DecodeError::kOk, spec.name);
        }
    }
}

//  Sets one string of msg (a field or a record's) to text; false when there is no such.
bool set_string_slot(Message* msg, Field field, int slot, const std::string& text) {
    switch (field) {
    case REASON:
        if (slot == 0) msg->reason = text;
        return slot == 0;
    case ENDPOINT:
        if (slot == 0) msg->endpoint = text;
        return slot == 0;
    case GROUP:
        if (slot == 0) msg->group = text;
        return slot == 0;
    case NAME:
        if (slot == 0) msg->name = text;
        return slot == 0;
    case GROUPS:
        if (slot == 0) msg->groups[1].name = text;
        if (slot == 1) msg->groups[1].endpoint = text;
        return slot <= 1;
    case MESSAGES:
        if (slot == 0) msg->messages[1].sender_name = text;
        return slot == 0;
    case MEMBERS:
        if (slot == 0) msg->members[1].name = text;
        return slot == 0;
    default:
        return false;
    }
}

void test_nul_inside_a_string_is_a_bad_value(void** state) {
    (void)state;
    int strings = 0;
    for (const Spec& spec : kSpecs) {
        for (Field field : spec.fields) {
            for (int slot = 0; slot < 2; slot++) {
                for (size_t where : {0, 2, 4}) {
                    Message msg = make_message(spec.id, 1, Edge::kMiddle);
                    if (!set_string_slot(&msg, field, slot, "<~~~>")) break;
                    std::string frame = encode_ok(msg);
                    size_t at = frame.find("<~~~>");
                    assert_true(at != std::string::npos);
                    assert_true(frame.find("<~~~>", at + 1) == std::string::npos);
                    frame[at + where] = '\0';
                    assert_decode_error(frame, DecodeError::kBadValue, spec.name);
                    strings++;
                }
            }
        }
    }
    //  reason, 3 endpoints, 13 groups, name, 2 in GROUPS records, 2 sender names, 1 member
    assert_int_equal(strings, 3 * 23);
}

void test_every_decode_error_has_its_own_short_text(void** state) {
    (void)state;
    std::vector<std::string> texts;
    for (int error = (int)DecodeError::kOk; error <= (int)DecodeError::kBadValue; error++) {
        std::string text = decode_error_text((DecodeError)error);
        assert_true(!text.empty());
        //  It goes into an ERROR reason.
        assert_true(text.size() <= kMaxString);
        for (const std::string& other : texts)
            assert_true(text != other);
        texts.push_back(text);
    }
}

//  ---------------------------------------------------------------------------------------
//  Sockets

struct Pair {
    void* context = nullptr;
    void* router = nullptr;
    void* dealer = nullptr;
};

const char kDealerId[] = "dealer-1";

void set_common_options(void* socket) {
    int linger = 0, timeout = 5000;
    assert_int_equal(zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
    assert_int_equal(zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout), 0);
}

Pair open_pair(bool tcp) {
    Pair pair;
    pair.context = zmq_ctx_new();
    assert_non_null(pair.context);
    pair.router = zmq_socket(pair.context, ZMQ_ROUTER);
    pair.dealer = zmq_socket(pair.context, ZMQ_DEALER);
    assert_non_null(pair.router);
    assert_non_null(pair.dealer);
    set_common_options(pair.router);
    set_common_options(pair.dealer);
    int mandatory = 1;
    assert_int_equal(
        zmq_setsockopt(pair.router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory), 0);
    assert_int_equal(zmq_setsockopt(pair.dealer, ZMQ_ROUTING_ID, kDealerId, strlen(kDealerId)), 0);
    char endpoint[256] = "inproc://test_proto";
    if (tcp) {
        assert_int_equal(zmq_bind(pair.router, "tcp://127.0.0.1:*"), 0);
        size_t size = sizeof endpoint;
        assert_int_equal(zmq_getsockopt(pair.router, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);
    } else {
        assert_int_equal(zmq_bind(pair.router, endpoint), 0);
    }
    assert_int_equal(zmq_connect(pair.dealer, endpoint), 0);
    return pair;
}

void close_pair(Pair* pair) {
    zmq_close(pair->dealer);
    zmq_close(pair->router);
    zmq_ctx_term(pair->context);
}

void send_frames(void* socket, const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); i++) {
        int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
        assert_int_equal(zmq_send(socket, frames[i].data(), frames[i].size(), flags),
                         (int)frames[i].size());
    }
}

//  A request and its reply, through DEALER -> ROUTER -> DEALER.
void round_trip_over(bool tcp) {
    Pair pair = open_pair(tcp);
    Message request = make_message(kFetch, 41, Edge::kHigh);
    assert_int_equal(send(pair.dealer, "", request), 0);
    std::string routing_id = "stale";
    Message got;
    assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
    assert_string_equal(routing_id.c_str(), kDealerId);
    assert_same_message(on_the_wire(request), got);

    Message reply = make_message(kSent, got.request_id, Edge::kMiddle);
    assert_int_equal(send(pair.router, routing_id, reply), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &got), DecodeError::kOk);
    assert_same_message(on_the_wire(reply), got);
    assert_int_equal(got.request_id, 41);

    //  The largest message there is, pushed.
    Message push = deliver_of_exactly_max_frame();
    assert_int_equal(send(pair.router, routing_id, push), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &got), DecodeError::kOk);
    assert_same_message(on_the_wire(push), got);

    //  A router need not want the routing id.
    assert_int_equal(send(pair.dealer, "", request), 0);
    assert_int_equal(recv(pair.router, true, nullptr, &got), DecodeError::kOk);
    assert_int_equal(got.request_id, 41);
    close_pair(&pair);
}

void test_message_round_trips_with_routing_id_over_inproc(void** state) {
    (void)state;
    round_trip_over(false);
}

void test_message_round_trips_with_routing_id_over_tcp(void** state) {
    (void)state;
    round_trip_over(true);
}

void test_surplus_frames_are_rejected_and_drained(void** state) {
    (void)state;
    Pair pair = open_pair(false);
    std::string good = encode_ok(make_message(kJoin, 1, Edge::kMiddle));
    std::string routing_id;
    Message msg;

    //  DEALER -> ROUTER: the message, then one extra frame.
    send_frames(pair.dealer, {good, "extra"});
    assert_int_equal(send(pair.dealer, "", make_message(kLeave, 2, Edge::kMiddle)), 0);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kSurplusFrames);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kLeave);
    assert_int_equal(msg.request_id, 2);

    //  ROUTER -> DEALER: the message, then three extra frames, one empty.
    send_frames(pair.router, {kDealerId, good, "a", "", "b"});
    assert_int_equal(send(pair.router, kDealerId, make_message(kOk, 3, Edge::kLow)), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kSurplusFrames);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kOk);
    assert_int_equal(msg.request_id, 3);

    //  A malformed message with extra frames: its own error, and drained too.
    send_frames(pair.dealer, {"not zgm_proto", "x", "y"});
    assert_int_equal(send(pair.dealer, "", make_message(kList, 4, Edge::kMiddle)), 0);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kBadSignature);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kList);
    assert_int_equal(msg.request_id, 4);

    //  Nothing is left behind.
    assert_int_equal(recv(pair.router, true, &routing_id, &msg, ZMQ_DONTWAIT),
                     DecodeError::kNoFrame);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg, ZMQ_DONTWAIT), DecodeError::kNoFrame);
    close_pair(&pair);
}

void test_router_given_only_an_empty_frame_reports_no_frame(void** state) {
    (void)state;
    Pair pair = open_pair(false);
    std::string routing_id;
    Message msg;
    send_frames(pair.dealer, {""});
    assert_int_equal(send(pair.dealer, "", make_message(kHost, 9, Edge::kMiddle)), 0);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kNoFrame);
    //  The routing id is there, so the router could still answer.
    assert_string_equal(routing_id.c_str(), kDealerId);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kHost);

    //  A server loop tells "socket empty" (kNoFrame, errno EAGAIN) from an empty frame it
    //  must count and answer: errno must not still say EAGAIN from an earlier call.
    assert_int_equal(recv(pair.router, true, &routing_id, &msg, ZMQ_DONTWAIT),
                     DecodeError::kNoFrame);
    assert_int_equal(errno, EAGAIN);
    send_frames(pair.dealer, {""});
    routing_id.clear();
    errno = EAGAIN;
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kNoFrame);
    assert_int_not_equal(errno, EAGAIN);
    assert_string_equal(routing_id.c_str(), kDealerId);

    //  And a DEALER given an empty frame.
    send_frames(pair.router, {kDealerId, ""});
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kNoFrame);
    close_pair(&pair);
}

void test_recv_dontwait_on_an_empty_socket_is_no_frame_with_eagain(void** state) {
    (void)state;
    Pair pair = open_pair(false);
    Message msg;
    std::string routing_id;
    errno = 0;
    assert_int_equal(recv(pair.router, true, &routing_id, &msg, ZMQ_DONTWAIT),
                     DecodeError::kNoFrame);
    assert_int_equal(errno, EAGAIN);
    errno = 0;
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg, ZMQ_DONTWAIT), DecodeError::kNoFrame);
    assert_int_equal(errno, EAGAIN);
    close_pair(&pair);
}

void test_send_refuses_a_message_over_limits_and_sends_nothing(void** state) {
    (void)state;
    Pair pair = open_pair(false);
    Message big = make_message(kSend, 1, Edge::kMiddle);
    big.body.assign(kMaxBody + 1, 'b');
    errno = 0;
    assert_int_equal(send(pair.dealer, "", big), -1);
    assert_int_equal(errno, EINVAL);
    Message unknown = make_message(200, 1, Edge::kMiddle);
    errno = 0;
    assert_int_equal(send(pair.router, kDealerId, unknown), -1);
    assert_int_equal(errno, EINVAL);

    //  Neither side got a frame of either: the next message is the first one.
    assert_int_equal(send(pair.dealer, "", make_message(kLeave, 2, Edge::kMiddle)), 0);
    assert_int_equal(send(pair.router, kDealerId, make_message(kOk, 2, Edge::kLow)), 0);
    Message msg;
    std::string routing_id;
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kLeave);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kOk);
    close_pair(&pair);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_round_trips_at_field_edges),
        cmocka_unit_test(test_join_encodes_to_the_documented_bytes),
        cmocka_unit_test(test_names_and_ids_match_the_model),
        cmocka_unit_test(test_lists_of_max_list_records_round_trip),
        cmocka_unit_test(test_lists_of_largest_records_round_trip_up_to_max_frame),
        cmocka_unit_test(test_frame_of_exactly_max_frame_round_trips),
        cmocka_unit_test(test_encode_refuses_fields_over_their_limits),
        cmocka_unit_test(test_encode_refuses_what_decode_would_reject),
        cmocka_unit_test(test_encode_refuses_unknown_ids),
        cmocka_unit_test(test_encode_refuses_a_frame_over_max_frame),
        cmocka_unit_test(test_every_proper_prefix_is_rejected_as_truncated),
        cmocka_unit_test(test_empty_frame_is_no_frame),
        cmocka_unit_test(test_bad_signature_is_rejected),
        cmocka_unit_test(test_other_version_is_rejected_with_its_request_id),
        cmocka_unit_test(test_unknown_id_is_rejected_with_its_request_id),
        cmocka_unit_test(test_trailing_bytes_are_rejected),
        cmocka_unit_test(test_frame_over_max_frame_is_rejected),
        cmocka_unit_test(test_body_length_over_max_body_is_rejected),
        cmocka_unit_test(test_list_count_over_max_list_is_rejected),
        cmocka_unit_test(
            test_list_count_beyond_the_remaining_bytes_is_truncated_without_allocating),
        cmocka_unit_test(test_flag_other_than_0_or_1_is_a_bad_value),
        cmocka_unit_test(test_nul_inside_a_string_is_a_bad_value),
        cmocka_unit_test(test_every_decode_error_has_its_own_short_text),
        cmocka_unit_test(test_message_round_trips_with_routing_id_over_inproc),
        cmocka_unit_test(test_message_round_trips_with_routing_id_over_tcp),
        cmocka_unit_test(test_surplus_frames_are_rejected_and_drained),
        cmocka_unit_test(test_router_given_only_an_empty_frame_reports_no_frame),
        cmocka_unit_test(test_recv_dontwait_on_an_empty_socket_is_no_frame_with_eagain),
        cmocka_unit_test(test_send_refuses_a_message_over_limits_and_sends_nothing),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
