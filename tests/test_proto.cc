/*  =========================================================================
    test_proto.cc - zgm_proto codec and socket helpers

    The test keeps its own copy of the message model (kSpecs and kFields, as
    docs/protocol.md writes them) and its own reference encoder, so a change to the wire
    format in proto.cc that the document does not make fails here.

    `test_proto --write-corpus DIR` writes the fuzzer's seed corpus (tests/corpus): one
    file per message, `<name>.bin`, made by the reference encoder from ordinary values.

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

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <zmq.h>

using zgm::Key;
using zgm::kKeySize;
using zgm::Uuid;
using namespace zgm::proto;

namespace {

//  ---------------------------------------------------------------------------------------
//  The message model, as docs/protocol.md has it

enum Field : uint8_t {
    END = 0,
    STATUS,
    RETRY_MS,
    REASON,
    ENDPOINT,
    ACCEPT_NEW,
    GROUP_ID,
    AFTER_MSG_ID,
    GROUP,
    MEMBER_COUNT,
    GROUP_COUNT,
    HOSTED_COUNT,
    KEY,
    POLICY,
    NAME,
    AFTER,
    AFTER_SEQ,
    BEFORE_SEQ,
    FIRST_SEQ,
    LAST_SEQ,
    SINCE_US,
    UNTIL_US,
    LIMIT,
    NEWEST,
    MORE,
    COMPLETE,
    MISSED,
    MAX_COUNT,
    MAX_BYTES,
    MAX_AGE_MS,
    TOKEN,
    REPORT,   //  body
    GROUPS,   //  list of GroupRecord
    MESSAGES, //  list of MessageRecord
    SENDERS,  //  list of SenderRecord: the senders MESSAGES names, each once
    SENDS,    //  list of SendRecord
    SENT,     //  list of SentRecord
    MEMBERS,  //  list of MemberRecord
    FOLLOWS,  //  list of FollowRecord
    FIELD_COUNT
};

//  The field types of "Field types".
enum class Type { kNumber2, kNumber4, kNumber8, kFlag, kString, kBody, kUuid, kKey, kList };

//  A field: its wire type and where Message keeps it (one member pointer is set).
struct FieldDef {
    Field field;
    const char* name;
    Type type;
    uint16_t Message::*number2;
    uint32_t Message::*number4;
    uint64_t Message::*number8;
    uint8_t Message::*flag;
    std::string Message::*text;
    Uuid Message::*uuid;
    Key Message::*key;
};

FieldDef def(Field field, const char* name, uint16_t Message::*member) {
    return {field,   name,    Type::kNumber2, member,  nullptr,
            nullptr, nullptr, nullptr,        nullptr, nullptr};
}
FieldDef def(Field field, const char* name, uint32_t Message::*member) {
    return {field,   name,    Type::kNumber4, nullptr, member,
            nullptr, nullptr, nullptr,        nullptr, nullptr};
}
FieldDef def(Field field, const char* name, uint64_t Message::*member) {
    return {field,  name,    Type::kNumber8, nullptr, nullptr,
            member, nullptr, nullptr,        nullptr, nullptr};
}
FieldDef def(Field field, const char* name, uint8_t Message::*member) {
    return {field, name, Type::kFlag, nullptr, nullptr, nullptr, member, nullptr, nullptr, nullptr};
}
FieldDef def(Field field, const char* name, std::string Message::*member) {
    return {field,   name,    Type::kString, nullptr, nullptr,
            nullptr, nullptr, member,        nullptr, nullptr};
}
FieldDef def(Field field, const char* name, Uuid Message::*member) {
    return {field, name, Type::kUuid, nullptr, nullptr, nullptr, nullptr, nullptr, member, nullptr};
}
FieldDef def(Field field, const char* name, Key Message::*member) {
    return {field, name, Type::kKey, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, member};
}
FieldDef body(Field field, const char* name, std::string Message::*member) {
    return {field, name, Type::kBody, nullptr, nullptr, nullptr, nullptr, member, nullptr, nullptr};
}
FieldDef list(Field field, const char* name) {
    return {field,   name,    Type::kList, nullptr, nullptr,
            nullptr, nullptr, nullptr,     nullptr, nullptr};
}

//  In the order of enum Field (checked by check_model).
const FieldDef kFields[] = {
    list(END, "(end)"),
    def(STATUS, "status", &Message::status),
    def(RETRY_MS, "retry_ms", &Message::retry_ms),
    def(REASON, "reason", &Message::reason),
    def(ENDPOINT, "endpoint", &Message::endpoint),
    def(ACCEPT_NEW, "accept_new", &Message::accept_new),
    def(GROUP_ID, "group_id", &Message::group_id),
    def(AFTER_MSG_ID, "after_msg_id", &Message::after_msg_id),
    def(GROUP, "group", &Message::group),
    def(MEMBER_COUNT, "member_count", &Message::member_count),
    def(GROUP_COUNT, "group_count", &Message::group_count),
    def(HOSTED_COUNT, "hosted_count", &Message::hosted_count),
    def(KEY, "key", &Message::key),
    def(POLICY, "policy", &Message::policy),
    def(NAME, "name", &Message::name),
    def(AFTER, "after", &Message::after),
    def(AFTER_SEQ, "after_seq", &Message::after_seq),
    def(BEFORE_SEQ, "before_seq", &Message::before_seq),
    def(FIRST_SEQ, "first_seq", &Message::first_seq),
    def(LAST_SEQ, "last_seq", &Message::last_seq),
    def(SINCE_US, "since_us", &Message::since_us),
    def(UNTIL_US, "until_us", &Message::until_us),
    def(LIMIT, "limit", &Message::limit),
    def(NEWEST, "newest", &Message::newest),
    def(MORE, "more", &Message::more),
    def(COMPLETE, "complete", &Message::complete),
    def(MISSED, "missed", &Message::missed),
    def(MAX_COUNT, "max_count", &Message::max_count),
    def(MAX_BYTES, "max_bytes", &Message::max_bytes),
    def(MAX_AGE_MS, "max_age_ms", &Message::max_age_ms),
    def(TOKEN, "token", &Message::token),
    body(REPORT, "report", &Message::report),
    list(GROUPS, "groups"),
    list(MESSAGES, "messages"),
    list(SENDERS, "senders"),
    list(SENDS, "sends"),
    list(SENT, "sent"),
    list(MEMBERS, "members"),
    list(FOLLOWS, "follows"),
};

const FieldDef& field_def(Field field) {
    return kFields[field];
}

struct Spec {
    uint8_t id;
    const char* name;
    Field fields[8];
};

const Spec kSpecs[] = {
    {1, "ERROR", {STATUS, RETRY_MS, REASON}},
    {2, "OK", {}},
    {10, "REGISTER", {ENDPOINT, ACCEPT_NEW, GROUP_ID, GROUP, POLICY, MEMBER_COUNT}},
    {11, "HEARTBEAT", {ENDPOINT, ACCEPT_NEW, GROUP_COUNT, HOSTED_COUNT}},
    {12, "DEREGISTER", {}},
    {13, "LIST", {AFTER, LIMIT}},
    {14, "GROUPS", {COMPLETE, MORE, GROUPS}},
    {15, "CREATE", {GROUP, POLICY}},
    {16, "RESOLVE", {GROUP}},
    {17, "HOST", {GROUP, KEY, POLICY}},
    {18, "GROUP", {GROUP_ID, GROUP, ENDPOINT, KEY, POLICY, MEMBER_COUNT}},
    {30, "JOIN", {GROUP, NAME}},
    {31, "JOINED", {GROUP_ID, LAST_SEQ}},
    {32, "LEAVE", {GROUP}},
    {33, "SEND", {GROUP, AFTER_MSG_ID, SENDS}},
    {34, "SENT", {SENT}},
    {35, "FETCH", {GROUP, SINCE_US, UNTIL_US, AFTER_SEQ, BEFORE_SEQ, LIMIT, NEWEST}},
    {36, "MESSAGES", {GROUP, FIRST_SEQ, LAST_SEQ, MORE, MISSED, MESSAGES, SENDERS}},
    {37, "MEMBERS", {GROUP, AFTER}},
    {38, "MEMBER_LIST", {KEY, POLICY, MORE, AFTER, MEMBERS}},
    {39, "FOLLOW", {FOLLOWS}},
    {40, "FOLLOWING", {FOLLOWS}},
    {41, "DELIVER", {GROUP, MESSAGES, SENDERS}},
    {42, "MEMBERSHIPS", {AFTER}},
    {43, "ADD", {GROUP, KEY}},
    {44, "REMOVE", {GROUP, KEY}},
    {45, "GIVE", {GROUP, KEY}},
    {46, "POLICY", {GROUP, POLICY}},
    {47, "RETAIN", {GROUP, MAX_COUNT, MAX_BYTES, MAX_AGE_MS}},
    {48, "MEMBERSHIP_LIST", {MORE, AFTER, FOLLOWS}},
    {49, "STATS", {AFTER, LIMIT}},
    {50, "STATS_REPORT", {MORE, REPORT}},
    {51, "UNFOLLOW", {FOLLOWS}},
    {52, "MARK", {TOKEN}},
    {53, "RECEIPT", {TOKEN}},
};

//  Limits of "Limits", and the header of "Framing".
constexpr uint16_t kDocSignature = 0xAAA1;
constexpr uint8_t kDocVersion = 7;
constexpr size_t kDocMaxString = 255;
constexpr size_t kDocMaxBody = 65536;
constexpr uint32_t kDocMaxList = 10000;
constexpr size_t kDocMaxFrame = 4194304;
//  The smallest record of each list (the sizes "Records" gives).
constexpr size_t kGroupRecordMin = 55, kMessageRecordMin = 38, kSenderRecordMin = 33,
                 kSendRecordMin = 20, kSentRecordSize = 18, kMemberRecordMin = 34,
                 kFollowRecordMin = 11;

const Spec* find_spec(uint8_t id) {
    for (const Spec& spec : kSpecs)
        if (spec.id == id) return &spec;
    return nullptr;
}

bool is_list(Field field) {
    return field_def(field).type == Type::kList && field != END;
}

//  The list field of a spec, or END.
Field list_of(const Spec& spec) {
    for (Field field : spec.fields)
        if (is_list(field)) return field;
    return END;
}

//  ---------------------------------------------------------------------------------------
//  Values

//  Records hold views (sender_name, body): what they show lives here until the test ends.
std::deque<std::string> g_arena;

std::string_view keep(std::string text) {
    g_arena.push_back(std::move(text));
    return g_arena.back();
}

int clear_arena(void** state) {
    (void)state;
    g_arena.clear();
    g_arena.shrink_to_fit();
    return 0;
}

Uuid uuid_of(uint8_t byte) {
    Uuid uuid;
    memset(uuid.bytes, byte, 16);
    return uuid;
}

Key key_of(uint8_t byte) {
    Key key;
    memset(key.bytes, byte, kKeySize);
    return key;
}

//  A uuid that differs for every index, so reordered records are noticed.
Uuid uuid_indexed(uint32_t index) {
    Uuid uuid;
    for (int i = 0; i < 16; i++)
        uuid.bytes[i] = (uint8_t)((index >> (8 * (i % 4))) + i);
    return uuid;
}

Key key_indexed(uint32_t index) {
    Key key;
    for (int i = 0; i < (int)kKeySize; i++)
        key.bytes[i] = (uint8_t)((index >> (8 * (i % 4))) + 3 * i + 1);
    return key;
}

//  `size` bytes, none NUL, starting with the index so records differ.
std::string string_indexed(size_t size, uint32_t index) {
    std::string text(size, 'z');
    for (size_t i = 0; i < size && i < 8; i++)
        text[i] = (char)('a' + ((index >> (4 * i)) & 15));
    return text;
}

//  The longest string, with every byte value a string may hold (1 to 255).
const std::string& string_max() {
    static const std::string text = [] {
        std::string max(kDocMaxString, ' ');
        for (size_t i = 0; i < kDocMaxString; i++)
            max[i] = (char)(i + 1);
        return max;
    }();
    return text;
}

//  A body of `size` bytes with every byte value, NUL included: byte i is (i * 131 + seed)
//  mod 256. A view into one shared pattern (131 * 43 = 1 mod 256, so the seed is an offset).
std::string_view body_of(size_t size, uint32_t seed) {
    static const std::string pattern = [] {
        std::string bytes(2 * kDocMaxBody + 512, '\0');
        for (size_t i = 0; i < bytes.size(); i++)
            bytes[i] = (char)((i * 131) & 0xff);
        return bytes;
    }();
    assert_true(size <= kDocMaxBody + 256);
    return std::string_view(pattern).substr((seed * 43) & 0xff, size);
}

enum class Edge { kLow, kHigh, kMiddle };

GroupRecord group_record(Edge edge, uint32_t index) {
    GroupRecord group;
    if (edge == Edge::kHigh) {
        group.id = uuid_of(0xff);
        group.name = string_max();
        group.endpoint = string_max();
        group.server_key = key_of(0xff);
        group.policy = 1;
        group.member_count = UINT32_MAX;
    } else if (edge == Edge::kMiddle) {
        group.id = uuid_indexed(index);
        group.name = string_indexed(5, index);
        group.endpoint = "tcp://10.0.0.1:5670";
        group.server_key = key_indexed(index);
        group.policy = (uint8_t)(index & 1);
        group.member_count = index + 3;
    }
    return group;
}

MessageRecord message_record(Edge edge, uint32_t index) {
    MessageRecord record;
    if (edge == Edge::kHigh) {
        record.seq = UINT64_MAX;
        record.timestamp = UINT64_MAX;
        record.sender = key_of(0xff);
        record.msg_id = uuid_of(0xff);
        record.sender_name = string_max();
        record.body = body_of(kDocMaxBody, index);
    } else if (edge == Edge::kMiddle) {
        record.seq = index + 1;
        record.timestamp = 1700000000000000ULL + index;
        record.sender = key_indexed(index);
        record.msg_id = uuid_indexed(index + 100);
        record.sender_name = keep(string_indexed(4, index));
        record.body = body_of(11, index);
    }
    return record;
}

SendRecord send_record(Edge edge, uint32_t index) {
    SendRecord record;
    if (edge == Edge::kHigh) {
        record.msg_id = uuid_of(0xff);
        record.body = body_of(kDocMaxBody, index);
    } else if (edge == Edge::kMiddle) {
        record.msg_id = uuid_indexed(index + 200);
        record.body = body_of(7 + index % 5, index);
    }
    return record;
}

SentRecord sent_record(Edge edge, uint32_t index) {
    SentRecord record;
    record.status = 0;
    if (edge == Edge::kHigh) {
        record.status = UINT16_MAX;
        record.seq = UINT64_MAX;
        record.timestamp = UINT64_MAX;
    } else if (edge == Edge::kMiddle) {
        record.status = index % 2 ? 403 : 200;
        record.seq = index + 1;
        record.timestamp = 1700000000000000ULL + index;
    }
    return record;
}

MemberRecord member_record(Edge edge, uint32_t index) {
    MemberRecord member;
    if (edge == Edge::kHigh) {
        member.key = key_of(0xff);
        member.name = string_max();
        member.role = 2;
    } else if (edge == Edge::kMiddle) {
        member.key = key_indexed(index);
        member.name = string_indexed(6, index);
        member.role = (uint8_t)(index % 3);
    }
    return member;
}

FollowRecord follow_record(Edge edge, uint32_t index) {
    FollowRecord follow;
    follow.status = 0;
    if (edge == Edge::kHigh) {
        follow.group = string_max();
        follow.status = UINT16_MAX;
        follow.seq = UINT64_MAX;
    } else if (edge == Edge::kMiddle) {
        follow.group = string_indexed(7, index);
        follow.status = 200 + index;
        follow.seq = index + 1;
    }
    return follow;
}

//  A list at an edge: nothing (low), a highest and a lowest record (high), or two
//  ordinary records.
template <typename Record>
std::vector<Record> records(Edge edge, Record (*make)(Edge, uint32_t)) {
    if (edge == Edge::kLow) return {};
    if (edge == Edge::kHigh) return {make(Edge::kHigh, 0), make(Edge::kLow, 1)};
    return {make(Edge::kMiddle, 0), make(Edge::kMiddle, 1)};
}

//  Sets one field of msg to its lowest or highest value, or to an ordinary one.
void set_field(Message* msg, Field field, Edge edge) {
    bool high = edge == Edge::kHigh, low = edge == Edge::kLow;
    const FieldDef& def = field_def(field);
    switch (def.type) {
    case Type::kNumber2:
        msg->*def.number2 = high ? UINT16_MAX : low ? 0 : 404;
        return;
    case Type::kNumber4:
        msg->*def.number4 = high ? UINT32_MAX : low ? 0 : 0x0a0b0c0d;
        return;
    case Type::kNumber8:
        msg->*def.number8 = high ? UINT64_MAX : low ? 0 : 0x0102030405060708ULL;
        return;
    case Type::kFlag:
        msg->*def.flag = high ? 1 : 0;
        return;
    case Type::kString:
        msg->*def.text = high ? string_max() : low ? "" : "abc";
        return;
    case Type::kBody:
        msg->*def.text = high  ? std::string(body_of(kDocMaxBody, 3))
                         : low ? ""
                               : std::string("{\"a\":\0 1}", 9);
        return;
    case Type::kUuid:
        msg->*def.uuid = high ? uuid_of(0xff) : low ? uuid_of(0) : uuid_indexed(7);
        return;
    case Type::kKey:
        msg->*def.key = high ? key_of(0xff) : low ? key_of(0) : key_indexed(9);
        return;
    case Type::kList:
        break;
    }
    switch (field) {
    case GROUPS:
        msg->groups = records(edge, group_record);
        return;
    case MESSAGES:
        msg->messages = records(edge, message_record);
        return;
    case SENDS:
        msg->sends = records(edge, send_record);
        return;
    case SENT:
        msg->sent = records(edge, sent_record);
        return;
    case MEMBERS:
        msg->members = records(edge, member_record);
        return;
    case FOLLOWS:
        msg->follows = records(edge, follow_record);
        return;
    default:
        return;
    }
}

//  Copies one field of `from` to `to`.
void copy_field(const Message& from, Message* to, Field field) {
    const FieldDef& def = field_def(field);
    switch (def.type) {
    case Type::kNumber2:
        to->*def.number2 = from.*def.number2;
        return;
    case Type::kNumber4:
        to->*def.number4 = from.*def.number4;
        return;
    case Type::kNumber8:
        to->*def.number8 = from.*def.number8;
        return;
    case Type::kFlag:
        to->*def.flag = from.*def.flag;
        return;
    case Type::kString:
    case Type::kBody:
        to->*def.text = from.*def.text;
        return;
    case Type::kUuid:
        to->*def.uuid = from.*def.uuid;
        return;
    case Type::kKey:
        to->*def.key = from.*def.key;
        return;
    case Type::kList:
        break;
    }
    switch (field) {
    case GROUPS:
        to->groups = from.groups;
        return;
    case MESSAGES:
        to->messages = from.messages;
        return;
    case SENDS:
        to->sends = from.sends;
        return;
    case SENT:
        to->sent = from.sent;
        return;
    case MEMBERS:
        to->members = from.members;
        return;
    case FOLLOWS:
        to->follows = from.follows;
        return;
    default:
        return;
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

//  A copy of every field (a Message itself is move-only: it owns its frame).
Message clone(const Message& msg) {
    Message copy;
    copy.id = msg.id;
    copy.request_id = msg.request_id;
    for (int field = STATUS; field < FIELD_COUNT; field++)
        copy_field(msg, &copy, (Field)field);
    return copy;
}

//  What a decoder gives back for msg: the fields of its spec, the rest default.
Message on_the_wire(const Message& msg) {
    Message wire;
    wire.id = msg.id;
    wire.request_id = msg.request_id;
    for (Field field : find_spec(msg.id)->fields)
        copy_field(msg, &wire, field);
    return wire;
}

//  The senders of records, each (key, name) once, in the order first named; with `places`,
//  each record's place among them.
std::vector<std::pair<Key, std::string_view>> senders_of(const std::vector<MessageRecord>& records,
                                                         std::vector<size_t>* places = nullptr) {
    std::vector<std::pair<Key, std::string_view>> senders;
    std::map<std::string, size_t> known;
    for (const MessageRecord& record : records) {
        std::string id((const char*)record.sender.bytes, kKeySize);
        id.append(record.sender_name.data(), record.sender_name.size());
        auto found = known.emplace(id, senders.size());
        if (found.second) senders.push_back({record.sender, record.sender_name});
        if (places) places->push_back(found.first->second);
    }
    return senders;
}

//  The records of one list: how many, and room for how many (what a decoder allocated).
size_t list_size(const Message& msg, Field field) {
    switch (field) {
    case GROUPS:
        return msg.groups.size();
    case MESSAGES:
        return msg.messages.size();
    case SENDERS:
        return senders_of(msg.messages).size();
    case SENDS:
        return msg.sends.size();
    case SENT:
        return msg.sent.size();
    case MEMBERS:
        return msg.members.size();
    case FOLLOWS:
        return msg.follows.size();
    default:
        return 0;
    }
}

void list_resize(Message* msg, Field field, size_t size) {
    switch (field) {
    case GROUPS:
        return msg->groups.resize(size);
    case MESSAGES:
        return msg->messages.resize(size);
    case SENDERS: //  the messages' (up to as many as there are, each of its own sender)
        return msg->messages.resize(size);
    case SENDS:
        return msg->sends.resize(size);
    case SENT:
        return msg->sent.resize(size);
    case MEMBERS:
        return msg->members.resize(size);
    case FOLLOWS:
        return msg->follows.resize(size);
    default:
        return;
    }
}

size_t records_allocated(const Message& msg) {
    return msg.groups.capacity() + msg.messages.capacity() + msg.views.capacity() +
           msg.sends.capacity() + msg.sent.capacity() + msg.members.capacity() +
           msg.follows.capacity();
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

void check_field(const Message& want, const Message& got, Field field) {
    const FieldDef& def = field_def(field);
    switch (def.type) {
    case Type::kNumber2:
        return check(want.*def.number2 == got.*def.number2, def.name);
    case Type::kNumber4:
        return check(want.*def.number4 == got.*def.number4, def.name);
    case Type::kNumber8:
        return check(want.*def.number8 == got.*def.number8, def.name);
    case Type::kFlag:
        return check(want.*def.flag == got.*def.flag, def.name);
    case Type::kString:
    case Type::kBody:
        return check(want.*def.text == got.*def.text, def.name);
    case Type::kUuid:
        return check(want.*def.uuid == got.*def.uuid, def.name);
    case Type::kKey:
        return check(want.*def.key == got.*def.key, def.name);
    case Type::kList:
        break;
    }
    size_t size = list_size(want, field);
    check(size == list_size(got, field), def.name);
    for (size_t i = 0; i < size; i++) {
        switch (field) {
        case GROUPS: {
            const GroupRecord &a = want.groups[i], &b = got.groups[i];
            check(a.id == b.id, "groups.id", i);
            check(a.name == b.name, "groups.name", i);
            check(a.endpoint == b.endpoint, "groups.endpoint", i);
            check(a.server_key == b.server_key, "groups.server_key", i);
            check(a.policy == b.policy, "groups.policy", i);
            check(a.member_count == b.member_count, "groups.members", i);
            break;
        }
        case MESSAGES: {
            const MessageRecord &a = want.messages[i], &b = got.messages[i];
            check(a.seq == b.seq, "messages.seq", i);
            check(a.timestamp == b.timestamp, "messages.ts_us", i);
            check(a.sender == b.sender, "messages.sender", i);
            check(a.msg_id == b.msg_id, "messages.msg_id", i);
            check(a.sender_name == b.sender_name, "messages.sender_name", i);
            check(a.body == b.body, "messages.body", i);
            break;
        }
        case SENDS:
            check(want.sends[i].msg_id == got.sends[i].msg_id, "sends.msg_id", i);
            check(want.sends[i].body == got.sends[i].body, "sends.body", i);
            break;
        case SENT:
            check(want.sent[i].status == got.sent[i].status, "sent.status", i);
            check(want.sent[i].seq == got.sent[i].seq, "sent.seq", i);
            check(want.sent[i].timestamp == got.sent[i].timestamp, "sent.ts_us", i);
            break;
        case MEMBERS:
            check(want.members[i].key == got.members[i].key, "members.key", i);
            check(want.members[i].name == got.members[i].name, "members.name", i);
            check(want.members[i].role == got.members[i].role, "members.role", i);
            break;
        case FOLLOWS:
            check(want.follows[i].group == got.follows[i].group, "follows.group", i);
            check(want.follows[i].status == got.follows[i].status, "follows.status", i);
            check(want.follows[i].seq == got.follows[i].seq, "follows.seq", i);
            break;
        default:
            break;
        }
    }
}

void assert_same_message(const Message& want, const Message& got) {
    check(want.id == got.id, "id");
    check(want.request_id == got.request_id, "request_id");
    for (int field = STATUS; field < FIELD_COUNT; field++)
        check_field(want, got, (Field)field);
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

void put_key(std::string* out, const Key& key) {
    out->append((const char*)key.bytes, 32);
}

void put_string(std::string* out, std::string_view text) {
    put(out, text.size(), 1);
    out->append(text);
}

void put_body(std::string* out, std::string_view body) {
    put(out, body.size(), 4);
    out->append(body);
}

void put_record(std::string* out, const GroupRecord& group) {
    put_uuid(out, group.id);
    put_string(out, group.name);
    put_string(out, group.endpoint);
    put_key(out, group.server_key);
    put(out, group.policy, 1);
    put(out, group.member_count, 4);
}

//  A MessageRecord names its sender by its place in the senders list (put_senders).
void put_record(std::string* out, const MessageRecord& record, size_t sender = 0) {
    put(out, record.seq, 8);
    put(out, record.timestamp, 8);
    put(out, sender, 2);
    put_uuid(out, record.msg_id);
    put_body(out, record.body);
}

void put_messages(std::string* out, const std::vector<MessageRecord>& records) {
    std::vector<size_t> places;
    senders_of(records, &places);
    put(out, records.size(), 4);
    for (size_t i = 0; i < records.size(); i++)
        put_record(out, records[i], places[i]);
}

void put_senders(std::string* out, const std::vector<MessageRecord>& records) {
    std::vector<std::pair<Key, std::string_view>> senders = senders_of(records);
    put(out, senders.size(), 4);
    for (const auto& sender : senders) {
        put_key(out, sender.first);
        put_string(out, sender.second);
    }
}

void put_record(std::string* out, const SendRecord& record) {
    put_uuid(out, record.msg_id);
    put_body(out, record.body);
}

void put_record(std::string* out, const SentRecord& record) {
    put(out, record.status, 2);
    put(out, record.seq, 8);
    put(out, record.timestamp, 8);
}

void put_record(std::string* out, const MemberRecord& member) {
    put_key(out, member.key);
    put_string(out, member.name);
    put(out, member.role, 1);
}

void put_record(std::string* out, const FollowRecord& follow) {
    put_string(out, follow.group);
    put(out, follow.status, 2);
    put(out, follow.seq, 8);
}

template <typename Record>
void put_list(std::string* out, const std::vector<Record>& records) {
    put(out, records.size(), 4);
    for (const Record& record : records)
        put_record(out, record);
}

template <typename Record>
std::string record_bytes(const Record& record) {
    std::string out;
    put_record(&out, record);
    return out;
}

void put_field(std::string* out, Field field, const Message& msg) {
    const FieldDef& def = field_def(field);
    switch (def.type) {
    case Type::kNumber2:
        return put(out, msg.*def.number2, 2);
    case Type::kNumber4:
        return put(out, msg.*def.number4, 4);
    case Type::kNumber8:
        return put(out, msg.*def.number8, 8);
    case Type::kFlag:
        return put(out, msg.*def.flag, 1);
    case Type::kString:
        return put_string(out, msg.*def.text);
    case Type::kBody:
        return put_body(out, msg.*def.text);
    case Type::kUuid:
        return put_uuid(out, msg.*def.uuid);
    case Type::kKey:
        return put_key(out, msg.*def.key);
    case Type::kList:
        break;
    }
    switch (field) {
    case GROUPS:
        return put_list(out, msg.groups);
    case MESSAGES:
        return put_messages(out, msg.messages);
    case SENDERS:
        return put_senders(out, msg.messages);
    case SENDS:
        return put_list(out, msg.sends);
    case SENT:
        return put_list(out, msg.sent);
    case MEMBERS:
        return put_list(out, msg.members);
    case FOLLOWS:
        return put_list(out, msg.follows);
    default:
        return;
    }
}

//  The header and the first `fields` fields of msg (all of them by default).
std::string reference_encode(const Message& msg, size_t fields = SIZE_MAX) {
    std::string out;
    put(&out, kDocSignature, 2);
    put(&out, msg.id, 1);
    put(&out, kDocVersion, 1);
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
    fail_msg("%s has no field %s", spec->name, field_def(field).name);
    return 0;
}

//  Where record `index` of list `field` starts.
size_t record_offset(const Message& msg, Field field, size_t index) {
    size_t at = field_offset(msg, field) + 4;
    for (size_t i = 0; i < index; i++) {
        switch (field) {
        case GROUPS:
            at += record_bytes(msg.groups[i]).size();
            break;
        case MESSAGES:
            at += record_bytes(msg.messages[i]).size();
            break;
        case SENDS:
            at += record_bytes(msg.sends[i]).size();
            break;
        case SENT:
            at += record_bytes(msg.sent[i]).size();
            break;
        case MEMBERS:
            at += record_bytes(msg.members[i]).size();
            break;
        case FOLLOWS:
            at += record_bytes(msg.follows[i]).size();
            break;
        default:
            break;
        }
    }
    return at;
}

//  ---------------------------------------------------------------------------------------
//  Helpers

std::string encode_ok(const Message& msg) {
    std::string frame;
    if (!encode(msg, &frame)) fail_msg("%s: encode refused it", message_name(msg.id));
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

//  True if view lies within [data, data + size] (an empty view may sit at the very end).
bool points_into(std::string_view view, const uint8_t* data, size_t size) {
    uintptr_t start = (uintptr_t)view.data(), begin = (uintptr_t)data;
    return start >= begin && start + view.size() <= begin + size;
}

//  ---------------------------------------------------------------------------------------
//  The model itself

void test_the_model_is_consistent(void** state) {
    (void)state;
    for (int field = END; field < FIELD_COUNT; field++)
        assert_int_equal(kFields[field].field, field);
    assert_int_equal(sizeof kFields / sizeof kFields[0], FIELD_COUNT);
    //  Each field at most once in a message; a list only last, but for the messages, whose
    //  senders follow them (what the tests below assume).
    for (const Spec& spec : kSpecs) {
        for (int i = 0; i < 8; i++) {
            for (int j = i + 1; j < 8; j++)
                assert_true(spec.fields[i] == END || spec.fields[i] != spec.fields[j]);
            if (spec.fields[i] == MESSAGES) assert_true(spec.fields[i + 1] == SENDERS);
            if (is_list(spec.fields[i]) && spec.fields[i] != MESSAGES)
                assert_true(i == 7 || spec.fields[i + 1] == END);
        }
    }
    //  The smallest records, as "Records" gives them.
    assert_int_equal(record_bytes(GroupRecord()).size(), kGroupRecordMin);
    assert_int_equal(record_bytes(MessageRecord()).size(), kMessageRecordMin);
    std::string senders;
    put_senders(&senders, {MessageRecord()});
    assert_int_equal(senders.size(), 4 + kSenderRecordMin);
    assert_int_equal(record_bytes(SendRecord()).size(), kSendRecordMin);
    assert_int_equal(record_bytes(SentRecord()).size(), kSentRecordSize);
    assert_int_equal(record_bytes(MemberRecord()).size(), kMemberRecordMin);
    assert_int_equal(record_bytes(FollowRecord()).size(), kFollowRecordMin);
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

void test_records_round_trip_with_every_role_and_policy(void** state) {
    (void)state;
    Message members = make_message(kMemberList, 1, Edge::kMiddle);
    members.members.clear();
    for (uint8_t role : {kRoleMember, kRoleOwner, kRoleAllowed}) {
        MemberRecord member = member_record(Edge::kMiddle, role);
        member.role = role;
        members.members.push_back(member);
    }
    //  A key allowed in that has not joined has no name.
    members.members.back().name.clear();
    assert_int_equal(kRoleMember, 0);
    assert_int_equal(kRoleOwner, 1);
    assert_int_equal(kRoleAllowed, 2);
    assert_round_trips(members);

    Message groups = make_message(kGroups, 2, Edge::kMiddle);
    groups.groups[0].policy = 0;
    groups.groups[1].policy = 1;
    assert_round_trips(groups);
}

void assert_encodes_to(const Message& msg, const uint8_t* want, size_t size) {
    std::string frame = encode_ok(msg);
    assert_int_equal(frame.size(), size);
    assert_memory_equal(frame.data(), want, size);
    Message decoded;
    assert_int_equal(decode((const uint8_t*)want, size, &decoded), DecodeError::kOk);
    g_checking = message_name(msg.id);
    assert_same_message(on_the_wire(msg), decoded);
}

void test_messages_encode_to_the_documented_bytes(void** state) {
    (void)state;
    Message join;
    join.id = kJoin;
    join.request_id = 0x01020304;
    join.group = "ops";
    join.name = "ann";
    const uint8_t join_bytes[] = {
        0xAA, 0xA1, 30,  kDocVersion, 0x01, 0x02, 0x03, 0x04, //  header
        3,    'o',  'p', 's',                                 //  group
        3,    'a',  'n', 'n',                                 //  name
    };
    assert_encodes_to(join, join_bytes, sizeof join_bytes);

    Message error;
    error.id = kError;
    error.request_id = 7;
    error.status = 429;
    error.retry_ms = 1500;
    error.reason = "slow";
    const uint8_t error_bytes[] = {
        0xAA, 0xA1, 1,   kDocVersion, 0,   0, 0, 7, //  header
        0x01, 0xAD,                                 //  status 429
        0,    0,    5,   0xDC,                      //  retry_ms 1500
        4,    's',  'l', 'o',         'w',          //  reason
    };
    assert_encodes_to(error, error_bytes, sizeof error_bytes);

    Message send;
    send.id = kSend;
    send.request_id = 0xfffffffe;
    send.group = "g";
    send.after_msg_id = uuid_indexed(16);
    SendRecord record;
    record.msg_id = uuid_indexed(0);
    record.body = std::string_view("hi\0", 3);
    send.sends.push_back(record);
    const uint8_t send_bytes[] = {
        0xAA, 0xA1, 33, kDocVersion, 0xff, 0xff, 0xff, 0xfe, //  header
        1,    'g',                                           //  group
        16,   1,    2,  3,           20,   5,    6,    7,    //  after_msg_id
        24,   9,    10, 11,          28,   13,   14,   15,   //
        0,    0,    0,  1,                                   //  one SendRecord:
        0,    1,    2,  3,           4,    5,    6,    7,    //    msg_id
        8,    9,    10, 11,          12,   13,   14,   15,   //
        0,    0,    0,  3,           'h',  'i',  0,          //    body
    };
    assert_encodes_to(send, send_bytes, sizeof send_bytes);

    Message members;
    members.id = kMemberList;
    members.request_id = 9;
    members.key = key_of(0x11);
    members.policy = 1;
    members.more = 1;
    members.after = "a7";
    MemberRecord member;
    member.key = key_of(0x22);
    member.name = "bo";
    member.role = kRoleOwner;
    members.members.push_back(member);
    std::vector<uint8_t> member_list = {0xAA, 0xA1, 38, kDocVersion, 0, 0, 0, 9};
    member_list.insert(member_list.end(), 32, 0x11); //  key (the owner)
    member_list.push_back(1);                        //  policy
    member_list.push_back(1);                        //  more
    for (uint8_t byte : {2, (int)'a', (int)'7'})     //  after
        member_list.push_back(byte);
    for (uint8_t byte : {0, 0, 0, 1}) //  one MemberRecord:
        member_list.push_back(byte);
    member_list.insert(member_list.end(), 32, 0x22); //    id
    for (uint8_t byte : {2, (int)'b', (int)'o'})     //    name
        member_list.push_back(byte);
    member_list.push_back(1); //    role: owner
    assert_encodes_to(members, member_list.data(), member_list.size());

    //  Two messages of one sender and one of another: each sender once, in the order first
    //  named, and each record its sender's place.
    Message deliver;
    deliver.id = kDeliver;
    deliver.group = "g";
    const uint8_t senders[] = {0x33, 0x44, 0x33};
    const char* const names[] = {"al", "b", "al"};
    for (int i = 0; i < 3; i++) {
        MessageRecord message;
        message.seq = 5 + i;
        message.timestamp = 0x0102030405060708ULL;
        message.sender = key_of(senders[i]);
        message.msg_id = uuid_of((uint8_t)(0xa0 + i));
        message.sender_name = names[i];
        message.body = std::string_view("x", 1);
        deliver.messages.push_back(message);
    }
    std::vector<uint8_t> deliver_bytes = {0xAA, 0xA1, 41, kDocVersion,
                                          0,    0,    0,  0,  //  header
                                          1,    'g',          //  group
                                          0,    0,    0,  3}; //  three MessageRecords:
    for (int i = 0; i < 3; i++) {
        for (int byte = 0; byte < 7; byte++) //    seq
            deliver_bytes.push_back(0);
        deliver_bytes.push_back((uint8_t)(5 + i));
        for (uint8_t byte = 1; byte <= 8; byte++) //    timestamp
            deliver_bytes.push_back(byte);
        deliver_bytes.push_back(0); //    sender: its place in the senders list
        deliver_bytes.push_back(i == 1 ? 1 : 0);
        deliver_bytes.insert(deliver_bytes.end(), 16, (uint8_t)(0xa0 + i)); //    msg_id
        for (uint8_t byte : {0, 0, 0, 1, (int)'x'})                         //    body
            deliver_bytes.push_back(byte);
    }
    for (uint8_t byte : {0, 0, 0, 2}) //  two SenderRecords:
        deliver_bytes.push_back(byte);
    deliver_bytes.insert(deliver_bytes.end(), 32, 0x33); //    key
    for (uint8_t byte : {2, (int)'a', (int)'l'})         //    sender_name
        deliver_bytes.push_back(byte);
    deliver_bytes.insert(deliver_bytes.end(), 32, 0x44);
    for (uint8_t byte : {1, (int)'b'})
        deliver_bytes.push_back(byte);
    assert_encodes_to(deliver, deliver_bytes.data(), deliver_bytes.size());
}

void test_names_and_ids_match_the_model(void** state) {
    (void)state;
    for (int id = 0; id < 256; id++) {
        const Spec* spec = find_spec((uint8_t)id);
        assert_int_equal(is_known_id((uint8_t)id), spec != nullptr);
        assert_string_equal(message_name((uint8_t)id), spec ? spec->name : "UNKNOWN");
    }
    //  The ids proto.h names are the ids the document gives.
    const std::pair<uint8_t, const char*> ids[] = {
        {kError, "ERROR"},
        {kOk, "OK"},
        {kRegister, "REGISTER"},
        {kHeartbeat, "HEARTBEAT"},
        {kDeregister, "DEREGISTER"},
        {kList, "LIST"},
        {kGroups, "GROUPS"},
        {kCreate, "CREATE"},
        {kResolve, "RESOLVE"},
        {kHost, "HOST"},
        {kGroup, "GROUP"},
        {kJoin, "JOIN"},
        {kJoined, "JOINED"},
        {kLeave, "LEAVE"},
        {kSend, "SEND"},
        {kSent, "SENT"},
        {kFetch, "FETCH"},
        {kMessages, "MESSAGES"},
        {kMembers, "MEMBERS"},
        {kMemberList, "MEMBER_LIST"},
        {kFollow, "FOLLOW"},
        {kFollowing, "FOLLOWING"},
        {kDeliver, "DELIVER"},
        {kMemberships, "MEMBERSHIPS"},
        {kAdd, "ADD"},
        {kRemove, "REMOVE"},
        {kGive, "GIVE"},
        {kPolicy, "POLICY"},
        {kRetain, "RETAIN"},
        {kMembershipList, "MEMBERSHIP_LIST"},
        {kStats, "STATS"},
        {kStatsReport, "STATS_REPORT"},
        {kUnfollow, "UNFOLLOW"},
        {kMark, "MARK"},
        {kReceipt, "RECEIPT"},
    };
    assert_int_equal(sizeof ids / sizeof ids[0], sizeof kSpecs / sizeof kSpecs[0]);
    for (const auto& id : ids) {
        assert_non_null(find_spec(id.first));
        assert_string_equal(find_spec(id.first)->name, id.second);
    }
    assert_int_equal(kSignature, kDocSignature);
    assert_int_equal(kVersion, kDocVersion);
    assert_int_equal(kHeaderSize, 8);
    assert_int_equal(kMaxString, kDocMaxString);
    assert_int_equal(kMaxBody, kDocMaxBody);
    assert_int_equal(kMaxList, kDocMaxList);
    assert_int_equal(kMaxFrame, kDocMaxFrame);
    assert_int_equal(kBatchBytes, 256 * 1024);
    assert_int_equal(kDeliverBytes, 32 * 1024);
}

void test_status_codes_match_the_document(void** state) {
    (void)state;
    const std::pair<uint16_t, uint16_t> statuses[] = {
        {kStatusOk, 200},    {kBadRequest, 400},  {kDenied, 401},       {kNotMember, 403},
        {kNotFound, 404},    {kConflict, 409},    {kTooLarge, 413},     {kInvalid, 422},
        {kBadVersion, 426},  {kRateLimited, 429}, {kLimitReached, 430}, {kInternal, 500},
        {kUnavailable, 503}, {kStorage, 507},
    };
    for (const auto& status : statuses)
        assert_int_equal(status.first, status.second);
    //  "Malformed messages": 426 for another version, 413 for a body or frame over its
    //  limit, 400 otherwise.
    for (int error = (int)DecodeError::kOk + 1; error <= (int)DecodeError::kBadValue; error++) {
        DecodeError decode_error = (DecodeError)error;
        uint16_t want = decode_error == DecodeError::kBadVersion ? 426
                        : decode_error == DecodeError::kStringTooLong ||
                                decode_error == DecodeError::kFrameTooLarge
                            ? 413
                            : 400;
        assert_int_equal(error_status(decode_error), want);
    }
}

//  Messages with kMaxList records in one list each, as long as the records leave the
//  frame under kMaxFrame.
void test_lists_of_max_list_records_round_trip(void** state) {
    (void)state;
    Message groups = make_message(kGroups, 6, Edge::kHigh);
    Message batch = make_message(kMessages, 7, Edge::kHigh);
    Message deliver = make_message(kDeliver, 0, Edge::kHigh);
    Message send = make_message(kSend, 8, Edge::kHigh);
    Message sent = make_message(kSent, 9, Edge::kHigh);
    Message members = make_message(kMemberList, 10, Edge::kLow);
    groups.groups.clear();
    batch.messages.clear();
    deliver.messages.clear();
    send.sends.clear();
    sent.sent.clear();
    std::vector<FollowRecord> follows;
    for (uint32_t i = 0; i < kDocMaxList; i++) {
        //  64-byte names and the longest endpoints: 374 bytes a record.
        GroupRecord group = group_record(Edge::kMiddle, i);
        group.name = string_indexed(64, i);
        group.endpoint = string_indexed(kDocMaxString, i + 1);
        groups.groups.push_back(group);
        //  The longest sender names and 64-byte bodies: 388 bytes a record.
        MessageRecord record = message_record(Edge::kMiddle, i);
        record.sender_name = keep(string_indexed(kDocMaxString, i));
        record.body = body_of(64, i);
        batch.messages.push_back(record);
        send.sends.push_back(send_record(Edge::kMiddle, i));
        sent.sent.push_back(sent_record(Edge::kMiddle, i));
        //  Members and follows at their largest.
        MemberRecord member = member_record(Edge::kMiddle, i);
        member.name = string_indexed(kDocMaxString, i);
        members.members.push_back(member);
        FollowRecord follow = follow_record(Edge::kMiddle, i);
        follow.group = string_indexed(kDocMaxString, i);
        follow.seq = UINT64_MAX - i;
        follows.push_back(follow);
    }
    batch.messages.back().seq = UINT64_MAX;
    deliver.messages = batch.messages;
    for (const Message* msg : {&groups, &batch, &deliver, &send, &sent, &members}) {
        assert_int_equal(list_size(*msg, list_of(*find_spec(msg->id))), kDocMaxList);
        assert_true(encoded_size(*msg) <= kDocMaxFrame);
        assert_round_trips(*msg);
    }
    for (uint8_t id : {kFollow, kFollowing, kMembershipList}) {
        Message msg = make_message(id, id, Edge::kMiddle);
        msg.follows = follows;
        assert_round_trips(msg);
    }
}

//  A message whose list holds as many of its largest records as fit in kMaxFrame.
void test_lists_of_largest_records_round_trip_up_to_max_frame(void** state) {
    (void)state;
    Message groups = make_message(kGroups, 1, Edge::kLow);
    const size_t group_size = 16 + 1 + kDocMaxString + 1 + kDocMaxString + 32 + 1 + 4;
    for (uint32_t i = 0; i < (kDocMaxFrame - 8 - 1 - 1 - 4) / group_size; i++) {
        GroupRecord group = group_record(Edge::kHigh, i);
        group.id = uuid_indexed(i);
        group.name = string_indexed(kDocMaxString, i);
        group.endpoint = string_indexed(kDocMaxString, ~i);
        group.member_count = UINT32_MAX - i;
        groups.groups.push_back(group);
    }
    assert_int_equal(groups.groups.size(), 7423);
    assert_round_trips(groups);

    //  DELIVER and MESSAGES: 63 records of a kMaxBody body and the longest sender name.
    Message deliver = make_message(kDeliver, 0, Edge::kHigh);
    deliver.messages.clear();
    const size_t record_size = 8 + 8 + 32 + 16 + 1 + kDocMaxString + 4 + kDocMaxBody;
    const size_t fixed = 8 + 1 + kDocMaxString + 4;
    for (uint32_t i = 0; i < (kDocMaxFrame - fixed) / record_size; i++) {
        MessageRecord record = message_record(Edge::kHigh, i);
        record.seq = i + 1;
        record.sender = key_indexed(i);
        record.sender_name = keep(string_indexed(kDocMaxString, i));
        deliver.messages.push_back(record);
    }
    assert_int_equal(deliver.messages.size(), 63);
    assert_round_trips(deliver);
    Message batch = clone(deliver);
    batch.id = kMessages;
    batch.request_id = 77;
    assert_round_trips(batch);

    //  SEND: 63 bodies of kMaxBody.
    Message send = make_message(kSend, 3, Edge::kHigh);
    send.sends.clear();
    for (uint32_t i = 0; i < (kDocMaxFrame - fixed) / (16 + 4 + kDocMaxBody); i++)
        send.sends.push_back({uuid_indexed(i), body_of(kDocMaxBody, i)});
    assert_int_equal(send.sends.size(), 63);
    assert_round_trips(send);
}

//  DELIVER with an empty group name: 13 bytes, records of 38 bytes and their bodies, all of
//  one sender (a zero key, no name): a senders list of 37 bytes.
Message deliver_of_exactly_max_frame() {
    Message msg;
    msg.id = kDeliver;
    size_t size = 8 + 1 + 4 + 4 + kSenderRecordMin;
    uint32_t index = 0;
    while (size < kDocMaxFrame) {
        MessageRecord record;
        record.seq = ++index;
        size_t body = kDocMaxBody;
        if (size + kMessageRecordMin + body > kDocMaxFrame)
            body = kDocMaxFrame - size - kMessageRecordMin;
        record.body = body_of(body, index);
        size += kMessageRecordMin + body;
        msg.messages.push_back(record);
    }
    return msg;
}

//  SEND with an empty group name: 29 bytes, then records of 20 bytes and their bodies.
Message send_of_exactly_max_frame() {
    Message msg;
    msg.id = kSend;
    msg.request_id = 5;
    size_t size = 8 + 1 + 16 + 4;
    uint32_t index = 0;
    while (size < kDocMaxFrame) {
        SendRecord record;
        record.msg_id = uuid_indexed(++index);
        size_t body = kDocMaxBody;
        if (size + kSendRecordMin + body > kDocMaxFrame)
            body = kDocMaxFrame - size - kSendRecordMin;
        record.body = body_of(body, index);
        size += kSendRecordMin + body;
        msg.sends.push_back(record);
    }
    return msg;
}

void test_frame_of_exactly_max_frame_round_trips(void** state) {
    (void)state;
    Message deliver = deliver_of_exactly_max_frame();
    assert_int_equal(encoded_size(deliver), kDocMaxFrame);
    assert_round_trips(deliver);
    Message send = send_of_exactly_max_frame();
    assert_int_equal(encoded_size(send), kDocMaxFrame);
    assert_round_trips(send);
}

//  ---------------------------------------------------------------------------------------
//  Encode refuses what a decoder would reject

void test_encode_refuses_fields_over_their_limits(void** state) {
    (void)state;
    const std::string long_string(kDocMaxString + 1, 'x');
    const std::string_view long_view = keep(long_string);
    const std::string_view long_body = body_of(kDocMaxBody + 1, 3);
    int refused = 0;
    for (const Spec& spec : kSpecs) {
        for (Field field : spec.fields) {
            if (field == END) break;
            if (field_def(field).type == Type::kString) {
                Message msg = make_message(spec.id, 1, Edge::kMiddle);
                msg.*field_def(field).text = long_string;
                assert_encode_refused(msg, spec.name);
                refused++;
            }
            if (field_def(field).type == Type::kBody) {
                Message msg = make_message(spec.id, 1, Edge::kMiddle);
                msg.*field_def(field).text = std::string(long_body);
                assert_encode_refused(msg, spec.name);
                refused++;
            }
            //  The senders are the messages' (their names' limit is the messages' below).
            if (!is_list(field) || field == SENDERS) continue;
            //  A record's field over its limit, in the second record.
            for (int which = 0; which < 2; which++) {
                if (field == SENT) break; //  SentRecord: numbers only
                if (which == 1 && field != GROUPS && field != MESSAGES) break;
                Message msg = make_message(spec.id, 1, Edge::kMiddle);
                if (field == GROUPS && which == 0) msg.groups[1].name = long_string;
                if (field == GROUPS && which == 1) msg.groups[1].endpoint = long_string;
                if (field == MESSAGES && which == 0) msg.messages[1].sender_name = long_view;
                if (field == MESSAGES && which == 1) msg.messages[1].body = long_body;
                if (field == SENDS) msg.sends[1].body = long_body;
                if (field == MEMBERS) msg.members[1].name = long_string;
                if (field == FOLLOWS) msg.follows[1].group = long_string;
                assert_encode_refused(msg, spec.name);
                refused++;
            }
            //  One record too many; kMaxList is fine.
            Message msg = make_message(spec.id, 1, Edge::kLow);
            list_resize(&msg, field, kDocMaxList + 1);
            assert_encode_refused(msg, spec.name);
            refused++;
            list_resize(&msg, field, kDocMaxList);
            assert_true(encoded_size(msg) > 0);
        }
    }
    //  28 string fields, the report (a body field); 2 in GroupRecord, 2 in MessageRecord
    //  (MESSAGES and DELIVER), one in SendRecord, MemberRecord and FollowRecord (4 messages);
    //  10 lists.
    assert_int_equal(refused, 28 + 1 + 2 + 2 * 2 + 1 + 1 + 4 + 10);
    //  The limits themselves are fine (the round trips prove it); one past is not.
    Message msg = make_message(kError, 1, Edge::kHigh);
    assert_true(encoded_size(msg) > 0);
    msg.reason.push_back('x');
    assert_encode_refused(msg, "ERROR reason");
}

//  Sets one string of msg (a field, or a field of its second record) to text; false when
//  the message has no such string.
bool set_string_slot(Message* msg, Field field, int slot, const std::string& text) {
    if (field_def(field).type == Type::kString) {
        if (slot == 0) msg->*field_def(field).text = text;
        return slot == 0;
    }
    switch (field) {
    case GROUPS:
        if (slot == 0) msg->groups[1].name = text;
        if (slot == 1) msg->groups[1].endpoint = text;
        return slot <= 1;
    case MESSAGES:
        if (slot == 0) msg->messages[1].sender_name = keep(text);
        return slot == 0;
    case MEMBERS:
        if (slot == 0) msg->members[1].name = text;
        return slot == 0;
    case FOLLOWS:
        if (slot == 0) msg->follows[1].group = text;
        return slot == 0;
    default:
        return false;
    }
}

//  Where the flags of msg are, with a way to set each: the flag fields, the policy of each
//  GroupRecord, and (as a number 1 bounded by 2) the role of each MemberRecord.
struct FlagSlot {
    size_t offset;
    uint8_t max;
    const char* what;
};

std::vector<FlagSlot> flag_slots(const Message& msg) {
    std::vector<FlagSlot> slots;
    for (Field field : find_spec(msg.id)->fields) {
        if (field == END) break;
        if (field_def(field).type == Type::kFlag)
            slots.push_back({field_offset(msg, field), 1, field_def(field).name});
        for (size_t i = 0; field == GROUPS && i < msg.groups.size(); i++)
            slots.push_back({record_offset(msg, GROUPS, i) + 16 + 1 + msg.groups[i].name.size() +
                                 1 + msg.groups[i].endpoint.size() + 32,
                             1, "groups.policy"});
        for (size_t i = 0; field == MEMBERS && i < msg.members.size(); i++)
            slots.push_back({record_offset(msg, MEMBERS, i) + 32 + 1 + msg.members[i].name.size(),
                             2, "members.role"});
    }
    return slots;
}

void test_encode_refuses_what_decode_would_reject(void** state) {
    (void)state;
    int refused = 0;
    for (const Spec& spec : kSpecs) {
        //  A NUL inside any string.
        for (Field field : spec.fields) {
            for (int slot = 0; slot < 2; slot++) {
                Message msg = make_message(spec.id, 1, Edge::kMiddle);
                if (!set_string_slot(&msg, field, slot, std::string("gen\0eral", 8))) break;
                assert_encode_refused(msg, spec.name);
                refused++;
            }
        }
        //  A flag over 1, a role over 2.
        for (Field field : spec.fields) {
            if (field_def(field).type == Type::kFlag) {
                for (uint8_t value : {2, 0xff}) {
                    Message msg = make_message(spec.id, 1, Edge::kMiddle);
                    msg.*field_def(field).flag = value;
                    assert_encode_refused(msg, spec.name);
                }
                refused++;
            }
            if (field == GROUPS || field == MEMBERS) {
                for (uint8_t value : {3, 0xff}) {
                    Message msg = make_message(spec.id, 1, Edge::kMiddle);
                    if (field == GROUPS) msg.groups[1].policy = (uint8_t)(value - 1);
                    if (field == MEMBERS) msg.members[1].role = value;
                    assert_encode_refused(msg, spec.name);
                }
                refused++;
            }
        }
    }
    //  37 strings (as in the decoder's test below); 15 flag fields (accept_new twice, policy
    //  6 times, complete, more five times, newest), GroupRecord policy, MemberRecord role.
    assert_int_equal(refused, 37 + 2 + 6 + 1 + 5 + 1 + 1 + 1);
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
    Message deliver = deliver_of_exactly_max_frame();
    deliver.messages.back().body = body_of(deliver.messages.back().body.size() + 1, 0);
    assert_encode_refused(deliver, "DELIVER of kMaxFrame + 1");
    Message send = send_of_exactly_max_frame();
    send.group = "g";
    assert_encode_refused(send, "SEND of kMaxFrame + 1");
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
    for (int version : {0, 1, 2, 3, 4, 5, 6, 8, 255}) {
        frame[3] = (char)version;
        Message msg;
        assert_int_equal(decode_string(frame, &msg), DecodeError::kBadVersion);
        assert_int_equal(msg.id, kSend);
        assert_int_equal(msg.request_id, 0xfeedbeef);
    }
    //  Only the header counts: another version may have other fields, or none, or ids
    //  this one does not know.
    std::string header = frame.substr(0, kHeaderSize);
    header[2] = (char)200;
    Message msg;
    assert_int_equal(decode_string(header, &msg), DecodeError::kBadVersion);
    assert_int_equal(msg.request_id, 0xfeedbeef);
}

void test_unknown_id_is_rejected_with_its_request_id(void** state) {
    (void)state;
    int unknown = 0;
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
        unknown++;
    }
    assert_int_equal(unknown, 256 - 35);
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
    for (int which = 0; which < 2; which++) {
        std::string frame =
            encode_ok(which ? send_of_exactly_max_frame() : deliver_of_exactly_max_frame());
        assert_decode_error(frame, DecodeError::kOk, "kMaxFrame");
        frame.push_back('\0');
        assert_decode_error(frame, DecodeError::kFrameTooLarge, "kMaxFrame + 1");
    }
    std::string huge = encode_ok(make_message(kOk, 1, Edge::kLow));
    huge.resize(2 * kDocMaxFrame);
    assert_decode_error(huge, DecodeError::kFrameTooLarge, "2 * kMaxFrame");
}

void test_body_length_over_max_body_is_rejected(void** state) {
    (void)state;
    //  SEND, MESSAGES and DELIVER with one empty record end with its body length.
    for (uint8_t id : {kSend, kMessages, kDeliver}) {
        Message msg = make_message(id, 1, Edge::kLow);
        msg.sends.resize(1);
        msg.messages.resize(1);
        std::string frame = encode_ok(msg);
        //  Its body length, before the senders list of one (empty) sender in the last two.
        size_t at = frame.size() - 4 - (id == kSend ? 0 : 4 + kSenderRecordMin);
        //  With all the bytes present, and with none.
        std::string full = frame;
        patch_u32(&full, at, (uint32_t)kDocMaxBody + 1);
        full.insert(at + 4, kDocMaxBody + 1, 'b');
        assert_decode_error(full, DecodeError::kStringTooLong, "body of kMaxBody + 1");
        for (uint32_t size : {(uint32_t)kDocMaxBody + 1, 0x80000000u, UINT32_MAX}) {
            std::string bare = frame;
            patch_u32(&bare, at, size);
            assert_decode_error(bare, DecodeError::kStringTooLong, "body length");
        }
        //  kMaxBody itself is fine.
        std::string max = frame;
        patch_u32(&max, at, (uint32_t)kDocMaxBody);
        max.insert(at + 4, kDocMaxBody, '\0');
        assert_decode_error(max, DecodeError::kOk, "body of kMaxBody");
    }
}

void test_list_count_over_max_list_is_rejected(void** state) {
    (void)state;
    int lists = 0;
    for (const Spec& spec : kSpecs) {
        Field field = list_of(spec);
        if (field == END) continue;
        Message msg = make_message(spec.id, 1, Edge::kLow);
        std::string frame = encode_ok(msg);
        for (uint32_t count : {kDocMaxList + 1, 0x7fffffffu, UINT32_MAX}) {
            patch_u32(&frame, field_offset(msg, field), count);
            assert_decode_error(frame, DecodeError::kListTooLong, spec.name);
        }
        lists++;
    }
    assert_int_equal(lists, 10);
}

void test_list_count_beyond_the_remaining_bytes_is_truncated_without_allocating(void** state) {
    (void)state;
    for (const Spec& spec : kSpecs) {
        //  Every list: a count of kMaxList and a few bytes that are not nearly enough.
        Field field = END;
        for (Field each : spec.fields) {
            if (!is_list(each)) continue;
            field = each; //  the last list, for what follows
            Message low = make_message(spec.id, 1, Edge::kLow);
            std::string frame = encode_ok(low);
            patch_u32(&frame, field_offset(low, each), kDocMaxList);
            frame.append(64, 'r');
            Message msg;
            assert_int_equal(decode_string(frame, &msg), DecodeError::kTruncated);
            assert_int_equal(records_allocated(msg), 0);
        }
        if (field == END) continue;
        Message low = make_message(spec.id, 1, Edge::kLow);

        //  The last list: two records announced, one present, then nothing or part of the
        //  second.
        Message one = make_message(spec.id, 1, Edge::kMiddle);
        list_resize(&one, field, 1);
        std::string short_frame = encode_ok(one);
        patch_u32(&short_frame, field_offset(one, field), 2);
        assert_decode_error(short_frame, DecodeError::kTruncated, "count 2, 1 record");
        short_frame.append(10, 'r');
        assert_decode_error(short_frame, DecodeError::kTruncated, "count 2, 1.5 records");
        //  As many bytes as the smallest records would take, less one.
        size_t smallest = field == GROUPS    ? kGroupRecordMin
                          : field == SENDERS ? kSenderRecordMin
                          : field == SENDS   ? kSendRecordMin
                          : field == SENT    ? kSentRecordSize
                          : field == MEMBERS ? kMemberRecordMin
                                             : kFollowRecordMin;
        std::string tight = encode_ok(low);
        patch_u32(&tight, field_offset(low, field), 3);
        tight.append(3 * smallest - 1, '\0');
        Message tight_msg;
        assert_int_equal(decode_string(tight, &tight_msg), DecodeError::kTruncated);
        assert_int_equal(records_allocated(tight_msg), 0);
        //  And exactly as many: three empty records (senders no message names are no error).
        tight.push_back('\0');
        assert_decode_error(tight, DecodeError::kOk, spec.name);
    }
}

//  A message record names its sender by its place in the senders list: a place past the
//  list is a bad value, whatever the rest.
void test_a_record_whose_sender_is_past_the_senders_list_is_a_bad_value(void** state) {
    (void)state;
    for (uint8_t id : {kMessages, kDeliver}) {
        Message msg = make_message(id, 1, Edge::kMiddle);
        size_t senders = senders_of(msg.messages).size();
        assert_true(senders >= 2);
        std::string frame = encode_ok(msg);
        size_t at = record_offset(msg, MESSAGES, 1) + 16; //  the second record's sender
        for (size_t place : {senders, senders + 1, (size_t)0xffff}) {
            std::string bad = frame;
            bad[at] = (char)(place >> 8);
            bad[at + 1] = (char)place;
            assert_decode_error(bad, DecodeError::kBadValue, message_name(id));
        }
        //  Any place in the list is fine: the record then reads as that sender's.
        std::string other = frame;
        other[at] = 0;
        other[at + 1] = 0;
        Message decoded;
        assert_int_equal(decode_string(other, &decoded), DecodeError::kOk);
        assert_true(decoded.messages[1].sender == msg.messages[0].sender);
        assert_true(decoded.messages[1].sender_name == msg.messages[0].sender_name);
    }
}

void test_flag_and_role_out_of_range_are_bad_values(void** state) {
    (void)state;
    int slots = 0;
    for (const Spec& spec : kSpecs) {
        Message msg = make_message(spec.id, 1, Edge::kMiddle);
        //  Middle values: every flag 0 and policies 0 then 1; roles 0 then 1.
        for (const FlagSlot& slot : flag_slots(msg)) {
            std::string frame = encode_ok(msg);
            assert_true((uint8_t)frame[slot.offset] <= 1);
            for (int value : {slot.max + 1, 0x80, 0xff}) {
                frame[slot.offset] = (char)value;
                assert_decode_error(frame, DecodeError::kBadValue, slot.what);
            }
            for (int value = 0; value <= slot.max; value++) {
                frame[slot.offset] = (char)value;
                assert_decode_error(frame, DecodeError::kOk, slot.what);
            }
            slots++;
        }
    }
    //  15 flag fields, 2 GroupRecord policies, 2 MemberRecord roles.
    assert_int_equal(slots, 15 + 2 + 2);
}

void test_nul_inside_a_string_is_a_bad_value(void** state) {
    (void)state;
    int strings = 0;
    for (const Spec& spec : kSpecs) {
        for (Field field : spec.fields) {
            for (int slot = 0; slot < 2; slot++) {
                bool found = true;
                for (size_t where : {0, 2, 4}) {
                    Message msg = make_message(spec.id, 1, Edge::kMiddle);
                    if (!set_string_slot(&msg, field, slot, "<~~~>")) {
                        found = false;
                        break;
                    }
                    std::string frame = encode_ok(msg);
                    size_t at = frame.find("<~~~>");
                    assert_true(at != std::string::npos);
                    assert_true(frame.find("<~~~>", at + 1) == std::string::npos);
                    frame[at + where] = '\0';
                    assert_decode_error(frame, DecodeError::kBadValue, spec.name);
                }
                if (!found) break;
                strings++;
            }
        }
    }
    //  28 string fields; GroupRecord name and endpoint; MessageRecord sender_name in
    //  MESSAGES and DELIVER; MemberRecord name; FollowRecord group in 4 messages.
    assert_int_equal(strings, 28 + 2 + 2 + 1 + 4);
}

void test_every_decode_error_has_its_own_short_text(void** state) {
    (void)state;
    std::vector<std::string> texts;
    for (int error = (int)DecodeError::kOk; error <= (int)DecodeError::kBadValue; error++) {
        std::string text = decode_error_text((DecodeError)error);
        assert_true(!text.empty());
        //  It goes into an ERROR reason.
        assert_true(text.size() <= kDocMaxString);
        for (const std::string& other : texts)
            assert_true(text != other);
        texts.push_back(text);
    }
}

//  Decoded views point into the bytes given to decode: nothing is copied.
void test_decoded_bodies_are_views_into_the_frame(void** state) {
    (void)state;
    for (uint8_t id : {kSend, kMessages, kDeliver}) {
        Message msg = make_message(id, 1, Edge::kMiddle);
        std::string frame = encode_ok(msg);
        Message decoded;
        assert_int_equal(decode_string(frame, &decoded), DecodeError::kOk);
        const uint8_t* data = (const uint8_t*)frame.data();
        for (const SendRecord& record : decoded.sends)
            assert_true(points_into(record.body, data, frame.size()));
        for (const MessageRecord& record : decoded.messages) {
            assert_true(points_into(record.body, data, frame.size()));
            assert_true(points_into(record.sender_name, data, frame.size()));
        }
        assert_int_equal(decoded.sends.size() + decoded.messages.size(), 2);
    }
}

//  decode with views (what the user actor uses) against decode with records: the same
//  verdict on every frame, and views that read what the records hold, where it is.
void assert_views_decode_as_records(const std::string& frame, const char* what) {
    Message records, views;
    const uint8_t* data = (const uint8_t*)frame.data();
    DecodeError want = decode(data, frame.size(), &records);
    DecodeError got = decode(data, frame.size(), &views, true);
    if (got != want)
        fail_msg("%s: '%s' with views, '%s' without", what, decode_error_text(got),
                 decode_error_text(want));
    if (want != DecodeError::kOk) return;
    assert_true(views.messages.empty());
    assert_int_equal(views.views.size(), records.messages.size());
    for (size_t i = 0; i < records.messages.size(); i++) {
        const MessageRecord& a = records.messages[i];
        const MessageView& view = views.views[i];
        MessageRecord b = view.record();
        assert_int_equal(view.seq(), a.seq);
        assert_int_equal(view.timestamp(), a.timestamp);
        assert_true(b.sender == a.sender);
        assert_true(b.msg_id == a.msg_id);
        assert_memory_equal(view.sender(), a.sender.bytes, kKeySize);
        assert_memory_equal(view.msg_id(), a.msg_id.bytes, 16);
        assert_true(view.sender_name().data() == a.sender_name.data());
        assert_int_equal(view.sender_name().size(), a.sender_name.size());
        assert_true(view.body().data() == a.body.data());
        assert_int_equal(view.body().size(), a.body.size());
    }
    //  The other fields are decoded alike.
    records.messages.clear();
    g_checking = what;
    assert_same_message(records, views);
}

void test_views_decode_as_records(void** state) {
    (void)state;
    for (uint8_t id : {kMessages, kDeliver})
        for (Edge edge : {Edge::kLow, Edge::kMiddle, Edge::kHigh}) {
            std::string frame = encode_ok(make_message(id, 7, edge));
            assert_views_decode_as_records(frame, message_name(id));
        }
    //  Every prefix, and every byte set to 0 or 0xff (a NUL in a name, lengths and counts
    //  too large or cut): the same error, or the same records.
    for (uint8_t id : {kMessages, kDeliver}) {
        std::string frame = encode_ok(make_message(id, 7, Edge::kMiddle));
        for (size_t size = 0; size < frame.size(); size++)
            assert_views_decode_as_records(frame.substr(0, size), "a prefix");
        for (size_t at = 0; at < frame.size(); at++)
            for (char value : {'\0', '\xff'}) {
                std::string changed = frame;
                changed[at] = value;
                assert_views_decode_as_records(changed, "a byte changed");
            }
    }
}

//  ---------------------------------------------------------------------------------------
//  MessagesWriter

//  The frame a writer finished, as bytes.
std::string finish_writer(MessagesWriter* writer, const Message& msg) {
    zmq_msg_t frame;
    assert_true(writer->finish(msg.first_seq, msg.last_seq, msg.more != 0, msg.missed, &frame));
    std::string bytes((const char*)zmq_msg_data(&frame), zmq_msg_size(&frame));
    zmq_msg_close(&frame);
    return bytes;
}

//  Adds every record of msg one by one, finishes, and checks the bytes are encode()'s.
void assert_writer_gives_encode(const Message& msg) {
    MessagesWriter writer(msg.request_id, msg.group);
    for (const MessageRecord& record : msg.messages)
        assert_true(writer.add(record.seq, record.timestamp, record.sender.bytes, record.msg_id,
                               record.sender_name, record.body));
    assert_int_equal(writer.count(), msg.messages.size());
    std::string bytes = finish_writer(&writer, msg);
    std::string want = encode_ok(msg);
    assert_int_equal(bytes.size(), want.size());
    assert_memory_equal(bytes.data(), want.data(), want.size());
    Message decoded;
    assert_int_equal(decode_string(bytes, &decoded), DecodeError::kOk);
    g_checking = "MessagesWriter";
    assert_same_message(on_the_wire(msg), decoded);
}

void test_messages_writer_gives_what_encode_gives(void** state) {
    (void)state;
    for (Edge edge : {Edge::kLow, Edge::kMiddle, Edge::kHigh})
        assert_writer_gives_encode(make_message(kMessages, 0x01020304, edge));
    //  kMaxList records.
    Message many = make_message(kMessages, 3, Edge::kMiddle);
    many.messages.clear();
    for (uint32_t i = 0; i < kDocMaxList; i++)
        many.messages.push_back(message_record(Edge::kMiddle, i));
    assert_writer_gives_encode(many);
    //  Records up to exactly kMaxFrame.
    Message full = clone(deliver_of_exactly_max_frame());
    full.id = kMessages;
    full.request_id = 4;
    full.group = "g";
    full.more = 1;
    full.first_seq = 1;
    full.last_seq = UINT64_MAX;
    full.missed = 12;
    //  The group and the four trailer fields take 1 + 25 bytes more than DELIVER's group.
    full.messages.back().body = body_of(full.messages.back().body.size() - 26, 5);
    assert_int_equal(encoded_size(full), kDocMaxFrame);
    assert_writer_gives_encode(full);
}

void test_messages_writer_refuses_a_record_and_stays_usable(void** state) {
    (void)state;
    Message msg = make_message(kMessages, 8, Edge::kMiddle);
    msg.messages.clear();
    MessagesWriter writer(msg.request_id, msg.group);
    const std::string long_name(kDocMaxString + 1, 'n');
    auto add = [&](const MessageRecord& record) {
        return writer.add(record.seq, record.timestamp, record.sender.bytes, record.msg_id,
                          record.sender_name, record.body);
    };
    //  Fields over their limits, or a NUL in the sender name.
    MessageRecord bad = message_record(Edge::kMiddle, 0);
    bad.sender_name = long_name;
    assert_false(add(bad));
    bad = message_record(Edge::kMiddle, 0);
    bad.sender_name = std::string_view("a\0b", 3);
    assert_false(add(bad));
    bad = message_record(Edge::kMiddle, 0);
    bad.body = body_of(kDocMaxBody + 1, 0);
    assert_false(add(bad));
    assert_int_equal(writer.count(), 0);

    //  Fill up to the frame limit with the largest bodies, all of one sender (the senders list
    //  holds it once); the record that would pass kMaxFrame is refused, a smaller one still
    //  fits, and then an empty one (of another sender, which the list would need too) does
    //  not.
    size_t size = 8 + 1 + msg.group.size() + 8 + 8 + 1 + 8 + 4 + 4 + kSenderRecordMin;
    uint32_t index = 0;
    while (size + kMessageRecordMin + kDocMaxBody <= kDocMaxFrame) {
        MessageRecord record = message_record(Edge::kHigh, index++);
        record.sender_name = "";
        record.seq = index;
        assert_true(add(record));
        msg.messages.push_back(record);
        size += kMessageRecordMin + kDocMaxBody;
        //  Refused records in between change nothing.
        assert_false(add(bad));
    }
    MessageRecord too_big = message_record(Edge::kHigh, index);
    too_big.sender_name = "";
    assert_false(add(too_big));
    MessageRecord last = message_record(Edge::kMiddle, index);
    last.sender = key_of(0xff);
    last.sender_name = "";
    last.body = body_of(kDocMaxFrame - size - kMessageRecordMin, 1);
    assert_true(add(last));
    msg.messages.push_back(last);
    MessageRecord empty;
    assert_false(add(empty));
    assert_int_equal(writer.count(), msg.messages.size());
    msg.first_seq = 1;
    msg.last_seq = index + 1;
    std::string bytes = finish_writer(&writer, msg);
    assert_int_equal(bytes.size(), kDocMaxFrame);
    std::string want = encode_ok(msg);
    assert_memory_equal(bytes.data(), want.data(), want.size());
}

void test_messages_writer_refuses_the_record_after_max_list(void** state) {
    (void)state;
    Message msg = make_message(kMessages, 9, Edge::kLow);
    MessagesWriter writer(msg.request_id, msg.group);
    const Key sender;
    for (uint32_t i = 0; i < kDocMaxList; i++) {
        assert_true(writer.add(i + 1, i, sender.bytes, Uuid(), "", ""));
        MessageRecord record;
        record.seq = i + 1;
        record.timestamp = i;
        msg.messages.push_back(record);
    }
    assert_false(writer.add(kDocMaxList + 1, 0, sender.bytes, Uuid(), "", ""));
    assert_int_equal(writer.count(), kDocMaxList);
    std::string bytes = finish_writer(&writer, msg);
    std::string want = encode_ok(msg);
    assert_int_equal(bytes.size(), want.size());
    assert_memory_equal(bytes.data(), want.data(), want.size());
}

//  A group server cuts what a commit pushes into DELIVER frames with deliver_frame_end: each
//  frame comes to at least kDeliverBytes (but the last) and at most kDeliverBytes and a frame
//  of its last record alone, however many senders the commit has; the frames take every
//  record once, in order. Counting the records without their senders, 2,000 senders of
//  one-byte bodies named with 64 bytes made frames of 114 KB.
void test_deliver_frames_are_cut_at_deliver_bytes_with_their_senders(void** state) {
    (void)state;
    const size_t kSenders[] = {2000, 1};
    for (size_t senders : kSenders) {
        std::vector<std::string> names;
        std::vector<Key> keys(senders);
        for (size_t i = 0; i < senders; i++) {
            keys[i].bytes[0] = (uint8_t)i;
            keys[i].bytes[1] = (uint8_t)(i >> 8);
            names.push_back(std::string(64, (char)('a' + i % 26)));
        }
        std::vector<MessageRecord> records(4000);
        for (size_t i = 0; i < records.size(); i++) {
            records[i].seq = i + 1;
            records[i].timestamp = 1000 + i;
            records[i].sender = keys[i % senders];
            records[i].sender_name = names[i % senders];
            records[i].body = "x";
        }
        size_t frames = 0;
        for (size_t begin = 0, end; begin < records.size(); begin = end, frames++) {
            end = deliver_frame_end(records, begin);
            assert_true(end > begin && end <= records.size());
            Message deliver;
            deliver.id = kDeliver;
            deliver.group = "g";
            deliver.messages.assign(records.begin() + begin, records.begin() + end);
            Message last;
            last.id = kDeliver;
            last.group = deliver.group;
            last.messages.assign(records.begin() + end - 1, records.begin() + end);
            size_t size = encoded_size(deliver);
            assert_true(size <= kDeliverBytes + encoded_size(last));
            if (end < records.size()) assert_true(size >= kDeliverBytes);
        }
        assert_true(frames >= 2);
    }
}

//  After finish() the writer is empty: it builds the next frame of the same request and group.
void test_messages_writer_starts_over_after_finish(void** state) {
    (void)state;
    Message msg = make_message(kMessages, 21, Edge::kMiddle);
    //  finish() twice with nothing added: two empty batches.
    msg.messages.clear();
    std::string empty = encode_ok(msg);
    MessagesWriter idle(msg.request_id, msg.group);
    for (int round = 0; round < 2; round++) {
        std::string bytes = finish_writer(&idle, msg);
        assert_int_equal(bytes.size(), empty.size());
        assert_memory_equal(bytes.data(), empty.data(), empty.size());
    }
    //  Batches of 2, 1 and 0 records.
    MessagesWriter writer(msg.request_id, msg.group);
    for (int round = 0; round < 3; round++) {
        msg.messages.clear();
        for (uint32_t i = 0; i < (uint32_t)(2 - round); i++) {
            MessageRecord record = message_record(Edge::kMiddle, 10 * round + i);
            record.body = body_of(100 * (i + 1), i);
            assert_true(writer.add(record.seq, record.timestamp, record.sender.bytes, record.msg_id,
                                   record.sender_name, record.body));
            msg.messages.push_back(record);
        }
        msg.first_seq = (uint64_t)round;
        msg.more = round < 2;
        std::string bytes = finish_writer(&writer, msg);
        assert_int_equal(writer.count(), 0);
        std::string want = encode_ok(msg);
        assert_int_equal(bytes.size(), want.size());
        assert_memory_equal(bytes.data(), want.data(), want.size());
    }
}

//  A group encode would refuse is not written as something else: nothing is.
void test_messages_writer_refuses_a_group_encode_refuses(void** state) {
    (void)state;
    const std::string bad_groups[] = {std::string(kDocMaxString + 1, 'g'),
                                      std::string("gen\0eral", 8)};
    for (const std::string& group : bad_groups) {
        MessagesWriter writer(3, group);
        assert_false(writer.add(1, 2, key_of(1).bytes, uuid_of(1), "ann", "hello"));
        assert_int_equal(writer.count(), 0);
        zmq_msg_t frame;
        assert_false(writer.finish(0, 0, false, 0, &frame));
        assert_int_equal(zmq_msg_size(&frame), 0);
        assert_int_equal(zmq_msg_close(&frame), 0);
    }
    //  The longest group is fine.
    Message msg = make_message(kMessages, 3, Edge::kHigh);
    assert_int_equal(msg.group.size(), kDocMaxString);
    assert_writer_gives_encode(msg);
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

//  Requests and replies through DEALER -> ROUTER -> DEALER.
void round_trip_over(bool tcp) {
    Pair pair = open_pair(tcp);
    std::string routing_id = "stale", peer = "stale";
    Message got;
    for (const Spec& spec : kSpecs) {
        Message request = make_message(spec.id, 41, Edge::kHigh);
        assert_int_equal(send(pair.dealer, "", request), 0);
        assert_int_equal(recv(pair.router, true, &routing_id, &got, 0, &peer), DecodeError::kOk);
        assert_string_equal(routing_id.c_str(), kDealerId);
        //  No ZAP handler said who it is.
        assert_string_equal(peer.c_str(), "");
        g_checking = spec.name;
        assert_same_message(on_the_wire(request), got);

        Message reply = make_message(spec.id, got.request_id, Edge::kMiddle);
        assert_int_equal(send(pair.router, routing_id, reply), 0);
        assert_int_equal(recv(pair.dealer, false, nullptr, &got), DecodeError::kOk);
        assert_same_message(on_the_wire(reply), got);
        assert_int_equal(got.request_id, 41);
        peer = "stale";
    }

    //  The largest messages there are, both ways.
    Message push = deliver_of_exactly_max_frame();
    assert_int_equal(send(pair.router, routing_id, push), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &got), DecodeError::kOk);
    assert_same_message(on_the_wire(push), got);
    Message send_max = send_of_exactly_max_frame();
    assert_int_equal(send(pair.dealer, "", send_max), 0);
    assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
    assert_same_message(on_the_wire(send_max), got);

    //  A router need not want the routing id.
    assert_int_equal(send(pair.dealer, "", make_message(kList, 42, Edge::kMiddle)), 0);
    assert_int_equal(recv(pair.router, true, nullptr, &got), DecodeError::kOk);
    assert_int_equal(got.request_id, 42);
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

//  recv keeps the frame in Message::frame, the records' views point into it, and a Message
//  moved elsewhere still shows the same bytes after the place it came from is reused.
void test_received_views_live_in_the_frame_and_survive_a_move(void** state) {
    (void)state;
    for (bool tcp : {false, true}) {
        Pair pair = open_pair(tcp);
        Message batch = make_message(kMessages, 5, Edge::kMiddle);
        batch.messages.clear();
        for (uint32_t i = 0; i < 5; i++) {
            MessageRecord record = message_record(Edge::kMiddle, i);
            record.body = body_of(1000 + i, i);
            batch.messages.push_back(record);
        }
        Message send_msg = make_message(kSend, 6, Edge::kMiddle);
        send_msg.sends = {{uuid_indexed(1), body_of(500, 1)}, {uuid_indexed(2), body_of(2000, 2)}};

        std::vector<Message> kept;
        Message got;
        std::string routing_id;
        for (int round = 0; round < 4; round++) {
            //  The DEALER speaks first: a ROUTER cannot send to a peer not yet connected.
            const Message& sent = round % 2 ? batch : send_msg;
            if (round % 2 == 0) {
                assert_int_equal(send(pair.dealer, "", sent), 0);
                assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
            } else {
                assert_int_equal(send(pair.router, kDealerId, sent), 0);
                assert_int_equal(recv(pair.dealer, false, nullptr, &got), DecodeError::kOk);
            }
            std::string frame = encode_ok(sent);
            assert_int_equal(got.frame.size(), frame.size());
            assert_memory_equal(got.frame.data(), frame.data(), frame.size());
            for (const MessageRecord& record : got.messages)
                assert_true(points_into(record.body, got.frame.data(), got.frame.size()));
            for (const SendRecord& record : got.sends)
                assert_true(points_into(record.body, got.frame.data(), got.frame.size()));
            //  Moved into a vector that grows (moving the earlier ones again).
            kept.push_back(std::move(got));
        }
        //  The moved-from message is reused.
        assert_int_equal(send(pair.dealer, "", make_message(kOk, 1, Edge::kLow)), 0);
        assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
        Message moved_again = std::move(kept[0]);
        kept[0] = std::move(moved_again);
        for (size_t i = 0; i < kept.size(); i++) {
            g_checking = message_name(kept[i].id);
            assert_same_message(on_the_wire(i % 2 ? batch : send_msg), kept[i]);
            //  It encodes to the very frame it holds.
            std::string again = encode_ok(kept[i]);
            assert_int_equal(again.size(), kept[i].frame.size());
            assert_memory_equal(again.data(), kept[i].frame.data(), again.size());
            for (const MessageRecord& record : kept[i].messages)
                assert_true(points_into(record.body, kept[i].frame.data(), kept[i].frame.size()));
            for (const SendRecord& record : kept[i].sends)
                assert_true(points_into(record.body, kept[i].frame.data(), kept[i].frame.size()));
        }
        close_pair(&pair);
    }
}

//  libzmq keeps a small frame (up to 33 bytes on 64-bit hosts, 37 on 32-bit ARM) inside the
//  zmq_msg_t itself, so moving the zmq_msg_t moves the bytes. A SEND of one short body is
//  that small: its view must still point into the frame of the Message it moved to.
void test_views_into_small_frames_survive_a_move(void** state) {
    (void)state;
    for (bool tcp : {false, true}) {
        Pair pair = open_pair(tcp);
        std::string routing_id;
        int checked = 0;
        for (const char* group : {"", "g", "ops"}) {
            for (size_t size = 0; size <= 48; size++) {
                Message msg;
                msg.id = kSend;
                msg.request_id = (uint32_t)size;
                msg.group = group;
                msg.sends.push_back({uuid_indexed((uint32_t)size), body_of(size, (uint32_t)size)});
                assert_int_equal(send(pair.dealer, "", msg), 0);
                Message got;
                assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
                Message moved = std::move(got);
                //  The place it moved from is used again, by another small SEND.
                Message other;
                other.id = kSend;
                other.sends.push_back({Uuid(), std::string_view("~~~~~~~~", size % 9)});
                assert_int_equal(send(pair.dealer, "", other), 0);
                assert_int_equal(recv(pair.router, true, &routing_id, &got), DecodeError::kOk);
                g_checking = "small SEND, moved";
                assert_same_message(on_the_wire(msg), moved);
                if (!points_into(moved.sends[0].body, moved.frame.data(), moved.frame.size()))
                    fail_msg("SEND of %zu bytes (%s): the body is not in the moved frame",
                             moved.frame.size(), tcp ? "tcp" : "inproc");
                checked++;
            }
        }
        assert_int_equal(checked, 3 * 49);
        close_pair(&pair);
    }
}

//  The ZAP handler of RFC 27, one request: checks it is CURVE from `client`, answers 200
//  with `user_id`.
void answer_zap(void* handler, const uint8_t* client, const char* user_id) {
    std::vector<std::string> request;
    for (int more = 1; more && request.size() < 16;) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        assert_true(zmq_msg_recv(&frame, handler, 0) >= 0);
        request.emplace_back((const char*)zmq_msg_data(&frame), zmq_msg_size(&frame));
        more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
    }
    //  version, request id, domain, address, routing id, mechanism, client key
    assert_int_equal(request.size(), 7);
    assert_string_equal(request[0].c_str(), "1.0");
    assert_string_equal(request[5].c_str(), "CURVE");
    assert_int_equal(request[6].size(), kKeySize);
    assert_memory_equal(request[6].data(), client, kKeySize);
    send_frames(handler, {"1.0", request[1], "200", "OK", user_id, ""});
}

void test_recv_gives_the_peer_the_zap_handler_named(void** state) {
    (void)state;
    void* context = zmq_ctx_new();
    assert_non_null(context);
    void* handler = zmq_socket(context, ZMQ_REP);
    set_common_options(handler);
    assert_int_equal(zmq_bind(handler, "inproc://zeromq.zap.01"), 0);

    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    assert_int_equal(zmq_curve_keypair(server_public, server_secret), 0);
    assert_int_equal(zmq_curve_keypair(client_public, client_secret), 0);
    uint8_t client_key[32];
    assert_non_null(zmq_z85_decode(client_key, client_public));

    void* router = zmq_socket(context, ZMQ_ROUTER);
    set_common_options(router);
    int one = 1;
    assert_int_equal(zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, server_secret, 40), 0);
    assert_int_equal(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    size_t size = sizeof endpoint;
    assert_int_equal(zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);

    void* dealer = zmq_socket(context, ZMQ_DEALER);
    set_common_options(dealer);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, server_public, 40), 0);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, client_public, 40), 0);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, client_secret, 40), 0);
    assert_int_equal(zmq_connect(dealer, endpoint), 0);

    //  Queued until the handshake, which waits for the handler's answer.
    Message request = make_message(kJoin, 11, Edge::kMiddle);
    assert_int_equal(send(dealer, "", request), 0);
    const char kUserId[] = "ann's key, as the handler names it";
    answer_zap(handler, client_key, kUserId);
    std::string routing_id, peer;
    Message got;
    assert_int_equal(recv(router, true, &routing_id, &got, 0, &peer), DecodeError::kOk);
    assert_string_equal(peer.c_str(), kUserId);
    g_checking = "JOIN over CURVE";
    assert_same_message(on_the_wire(request), got);
    //  Every message of the connection carries it; a message that fails to decode too.
    assert_int_equal(send(dealer, "", make_message(kLeave, 12, Edge::kMiddle)), 0);
    peer.clear();
    assert_int_equal(recv(router, true, &routing_id, &got, 0, &peer), DecodeError::kOk);
    assert_string_equal(peer.c_str(), kUserId);
    send_frames(dealer, {"not zgm_proto"});
    peer.clear();
    assert_int_equal(recv(router, true, &routing_id, &got, 0, &peer), DecodeError::kBadSignature);
    assert_string_equal(peer.c_str(), kUserId);

    //  The client side asked no handler: no peer, and a stale one is cleared.
    assert_int_equal(send(router, routing_id, make_message(kOk, 12, Edge::kLow)), 0);
    peer = "stale";
    assert_int_equal(recv(dealer, false, nullptr, &got, 0, &peer), DecodeError::kOk);
    assert_string_equal(peer.c_str(), "");
    zmq_close(dealer);
    zmq_close(router);
    zmq_close(handler);
    zmq_ctx_term(context);
}

void test_recv_gives_no_peer_on_a_null_mechanism_connection(void** state) {
    (void)state;
    for (bool tcp : {false, true}) {
        Pair pair = open_pair(tcp);
        std::string routing_id, peer = "stale";
        Message got;
        assert_int_equal(send(pair.dealer, "", make_message(kJoin, 1, Edge::kMiddle)), 0);
        assert_int_equal(recv(pair.router, true, &routing_id, &got, 0, &peer), DecodeError::kOk);
        assert_string_equal(peer.c_str(), "");
        assert_int_equal(send(pair.router, routing_id, make_message(kOk, 1, Edge::kLow)), 0);
        peer = "stale";
        assert_int_equal(recv(pair.dealer, false, nullptr, &got, 0, &peer), DecodeError::kOk);
        assert_string_equal(peer.c_str(), "");
        //  And when nothing is there to read.
        peer = "stale";
        assert_int_equal(recv(pair.dealer, false, nullptr, &got, ZMQ_DONTWAIT, &peer),
                         DecodeError::kNoFrame);
        assert_string_equal(peer.c_str(), "");
        close_pair(&pair);
    }
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
    big.sends[1].body = body_of(kDocMaxBody + 1, 0);
    errno = 0;
    assert_int_equal(send(pair.dealer, "", big), -1);
    assert_int_equal(errno, EINVAL);
    Message unknown = make_message(200, 1, Edge::kMiddle);
    errno = 0;
    assert_int_equal(send(pair.router, kDealerId, unknown), -1);
    assert_int_equal(errno, EINVAL);
    Message bad_role = make_message(kMemberList, 1, Edge::kMiddle);
    bad_role.members[0].role = 3;
    errno = 0;
    assert_int_equal(send(pair.router, kDealerId, bad_role), -1);
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

void test_send_error_carries_retry_ms_and_a_decodable_reason(void** state) {
    (void)state;
    Pair pair = open_pair(false);
    Message msg;
    std::string routing_id;
    //  A reason that quotes a peer: NULs become '?', and it is cut to kMaxString.
    std::string why = std::string("bad group 'a\0b' from \0", 22) + std::string(300, 'w');
    assert_int_equal(send_error(pair.router, kDealerId, 77, kRateLimited, why, 1500), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kOk);
    assert_int_equal(msg.id, kError);
    assert_int_equal(msg.request_id, 77);
    assert_int_equal(msg.status, kRateLimited);
    assert_int_equal(msg.retry_ms, 1500);
    std::string want = std::string("bad group 'a?b' from ?") + std::string(kDocMaxString - 22, 'w');
    assert_int_equal(msg.reason.size(), kDocMaxString);
    assert_string_equal(msg.reason.c_str(), want.c_str());
    //  retry_ms defaults to 0; a DEALER sends without a routing id.
    assert_int_equal(send_error(pair.dealer, "", UINT32_MAX, kBadRequest, "short"), 0);
    assert_int_equal(recv(pair.router, true, &routing_id, &msg), DecodeError::kOk);
    assert_int_equal(msg.request_id, UINT32_MAX);
    assert_int_equal(msg.status, kBadRequest);
    assert_int_equal(msg.retry_ms, 0);
    assert_string_equal(msg.reason.c_str(), "short");
    //  The highest retry_ms, an empty reason.
    assert_int_equal(send_error(pair.router, kDealerId, 0, kUnavailable, "", UINT32_MAX), 0);
    assert_int_equal(recv(pair.dealer, false, nullptr, &msg), DecodeError::kOk);
    assert_int_equal(msg.retry_ms, UINT32_MAX);
    assert_string_equal(msg.reason.c_str(), "");
    close_pair(&pair);
}

//  ---------------------------------------------------------------------------------------
//  The seed corpus

//  Where the seed of a message lies in dir, and the frame it holds.
std::string seed_path(const char* dir, const Spec& spec) {
    std::string name = spec.name;
    for (char& c : name)
        c = (char)tolower((unsigned char)c);
    return std::string(dir) + "/" + name + ".bin";
}

std::string seed_frame(const Spec& spec) {
    return reference_encode(make_message(spec.id, spec.id, Edge::kMiddle));
}

int write_corpus(const char* dir) {
    for (const Spec& spec : kSpecs) {
        std::string path = seed_path(dir, spec);
        std::string frame = seed_frame(spec);
        Message check;
        if (decode_string(frame, &check) != DecodeError::kOk) {
            fprintf(stderr, "test_proto: %s does not decode\n", spec.name);
            return 1;
        }
        FILE* file = fopen(path.c_str(), "wb");
        if (!file || fwrite(frame.data(), 1, frame.size(), file) != frame.size() ||
            fclose(file) != 0) {
            fprintf(stderr, "test_proto: cannot write %s: %s\n", path.c_str(), strerror(errno));
            return 1;
        }
        printf("%s %zu bytes\n", path.c_str(), frame.size());
    }
    return 0;
}

//  --corpus DIR, which meson gives: the seed corpus in the source tree.
const char* s_corpus_dir = nullptr;

//  The fuzzer's seeds are frames this encoder writes now: a seed of another version, or
//  with a field less, stops at the header or the field and reaches nothing past it.
void test_the_seed_corpus_is_what_the_reference_encoder_writes(void** state) {
    (void)state;
    if (!s_corpus_dir) skip();
    for (const Spec& spec : kSpecs) {
        std::string path = seed_path(s_corpus_dir, spec);
        std::string want = seed_frame(spec);
        std::string have;
        FILE* file = fopen(path.c_str(), "rb");
        char buffer[4096];
        size_t got;
        while (file && (got = fread(buffer, 1, sizeof buffer, file)) > 0)
            have.append(buffer, got);
        if (file) fclose(file);
        if (have != want)
            fail_msg("%s is not the frame the reference encoder writes now: run "
                     "build/tests/test_proto --write-corpus tests/corpus",
                     path.c_str());
    }
}

} // namespace

#define TEST(name) cmocka_unit_test_teardown(name, clear_arena)

int main(int argc, char** argv) {
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0) s_corpus_dir = argv[2];
    const struct CMUnitTest tests[] = {
        TEST(test_the_model_is_consistent),
        TEST(test_every_message_round_trips_at_field_edges),
        TEST(test_records_round_trip_with_every_role_and_policy),
        TEST(test_messages_encode_to_the_documented_bytes),
        TEST(test_names_and_ids_match_the_model),
        TEST(test_status_codes_match_the_document),
        TEST(test_lists_of_max_list_records_round_trip),
        TEST(test_lists_of_largest_records_round_trip_up_to_max_frame),
        TEST(test_frame_of_exactly_max_frame_round_trips),
        TEST(test_encode_refuses_fields_over_their_limits),
        TEST(test_encode_refuses_what_decode_would_reject),
        TEST(test_encode_refuses_unknown_ids),
        TEST(test_encode_refuses_a_frame_over_max_frame),
        TEST(test_every_proper_prefix_is_rejected_as_truncated),
        TEST(test_empty_frame_is_no_frame),
        TEST(test_bad_signature_is_rejected),
        TEST(test_other_version_is_rejected_with_its_request_id),
        TEST(test_unknown_id_is_rejected_with_its_request_id),
        TEST(test_trailing_bytes_are_rejected),
        TEST(test_frame_over_max_frame_is_rejected),
        TEST(test_body_length_over_max_body_is_rejected),
        TEST(test_list_count_over_max_list_is_rejected),
        TEST(test_list_count_beyond_the_remaining_bytes_is_truncated_without_allocating),
        TEST(test_a_record_whose_sender_is_past_the_senders_list_is_a_bad_value),
        TEST(test_flag_and_role_out_of_range_are_bad_values),
        TEST(test_nul_inside_a_string_is_a_bad_value),
        TEST(test_every_decode_error_has_its_own_short_text),
        TEST(test_decoded_bodies_are_views_into_the_frame),
        TEST(test_views_decode_as_records),
        TEST(test_messages_writer_gives_what_encode_gives),
        TEST(test_messages_writer_refuses_a_record_and_stays_usable),
        TEST(test_messages_writer_refuses_the_record_after_max_list),
        TEST(test_messages_writer_starts_over_after_finish),
        TEST(test_messages_writer_refuses_a_group_encode_refuses),
        TEST(test_deliver_frames_are_cut_at_deliver_bytes_with_their_senders),
        TEST(test_message_round_trips_with_routing_id_over_inproc),
        TEST(test_message_round_trips_with_routing_id_over_tcp),
        TEST(test_received_views_live_in_the_frame_and_survive_a_move),
        TEST(test_views_into_small_frames_survive_a_move),
        TEST(test_recv_gives_the_peer_the_zap_handler_named),
        TEST(test_recv_gives_no_peer_on_a_null_mechanism_connection),
        TEST(test_surplus_frames_are_rejected_and_drained),
        TEST(test_router_given_only_an_empty_frame_reports_no_frame),
        TEST(test_recv_dontwait_on_an_empty_socket_is_no_frame_with_eagain),
        TEST(test_send_refuses_a_message_over_limits_and_sends_nothing),
        TEST(test_send_error_carries_retry_ms_and_a_decodable_reason),
        TEST(test_the_seed_corpus_is_what_the_reference_encoder_writes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
