/*  =========================================================================
    proto.cc - zgm_proto codec

    Table-driven: each message id maps to its list of fields, and one function per
    direction handles each field type. The decoder never does pointer arithmetic past what
    remains: every length is compared with `remaining()` (a size_t difference that cannot
    wrap) before anything is read, so it is safe on 32-bit ARM as on 64-bit hosts.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "proto/proto.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <zmq.h>

namespace zgm {
namespace proto {

namespace {

enum Field : uint8_t {
    F_END = 0,
    F_STATUS,
    F_RETRY_MS,
    F_REASON,
    F_ENDPOINT,
    F_ACCEPT_NEW,
    F_GROUP_ID,
    F_AFTER_MSG_ID,
    F_GROUP,
    F_MEMBER_COUNT,
    F_GROUP_COUNT,
    F_HOSTED_COUNT,
    F_KEY,
    F_POLICY,
    F_NAME,
    F_AFTER,
    F_AFTER_SEQ,
    F_BEFORE_SEQ,
    F_FIRST_SEQ,
    F_LAST_SEQ,
    F_SINCE_US,
    F_UNTIL_US,
    F_LIMIT,
    F_NEWEST,
    F_MORE,
    F_COMPLETE,
    F_MISSED,
    F_MAX_COUNT,
    F_MAX_BYTES,
    F_MAX_AGE_MS,
    F_TOKEN,
    F_REPORT,
    F_GROUPS,
    F_MESSAGES,
    F_SENDERS, //  after F_MESSAGES: the senders its records name
    F_SENDS,
    F_SENT,
    F_MEMBERS,
    F_FOLLOWS,
};

struct Layout {
    uint8_t id;
    const char* name;
    Field fields[8];
};

const Layout kLayouts[] = {
    {kError, "ERROR", {F_STATUS, F_RETRY_MS, F_REASON}},
    {kOk, "OK", {}},
    {kRegister,
     "REGISTER",
     {F_ENDPOINT, F_ACCEPT_NEW, F_GROUP_ID, F_GROUP, F_POLICY, F_MEMBER_COUNT}},
    {kHeartbeat, "HEARTBEAT", {F_ENDPOINT, F_ACCEPT_NEW, F_GROUP_COUNT, F_HOSTED_COUNT}},
    {kDeregister, "DEREGISTER", {}},
    {kList, "LIST", {F_AFTER, F_LIMIT}},
    {kGroups, "GROUPS", {F_COMPLETE, F_MORE, F_GROUPS}},
    {kCreate, "CREATE", {F_GROUP, F_POLICY}},
    {kResolve, "RESOLVE", {F_GROUP}},
    {kHost, "HOST", {F_GROUP, F_KEY, F_POLICY}},
    {kGroup, "GROUP", {F_GROUP_ID, F_GROUP, F_ENDPOINT, F_KEY, F_POLICY, F_MEMBER_COUNT}},
    {kJoin, "JOIN", {F_GROUP, F_NAME}},
    {kJoined, "JOINED", {F_GROUP_ID, F_LAST_SEQ}},
    {kLeave, "LEAVE", {F_GROUP}},
    {kSend, "SEND", {F_GROUP, F_AFTER_MSG_ID, F_SENDS}},
    {kSent, "SENT", {F_SENT}},
    {kFetch,
     "FETCH",
     {F_GROUP, F_SINCE_US, F_UNTIL_US, F_AFTER_SEQ, F_BEFORE_SEQ, F_LIMIT, F_NEWEST}},
    {kMessages,
     "MESSAGES",
     {F_GROUP, F_FIRST_SEQ, F_LAST_SEQ, F_MORE, F_MISSED, F_MESSAGES, F_SENDERS}},
    {kMembers, "MEMBERS", {F_GROUP, F_AFTER}},
    {kMemberList, "MEMBER_LIST", {F_KEY, F_POLICY, F_MORE, F_AFTER, F_MEMBERS}},
    {kFollow, "FOLLOW", {F_FOLLOWS}},
    {kFollowing, "FOLLOWING", {F_FOLLOWS}},
    {kDeliver, "DELIVER", {F_GROUP, F_MESSAGES, F_SENDERS}},
    {kMemberships, "MEMBERSHIPS", {F_AFTER}},
    {kAdd, "ADD", {F_GROUP, F_KEY}},
    {kRemove, "REMOVE", {F_GROUP, F_KEY}},
    {kGive, "GIVE", {F_GROUP, F_KEY}},
    {kPolicy, "POLICY", {F_GROUP, F_POLICY}},
    {kRetain, "RETAIN", {F_GROUP, F_MAX_COUNT, F_MAX_BYTES, F_MAX_AGE_MS}},
    {kMembershipList, "MEMBERSHIP_LIST", {F_MORE, F_AFTER, F_FOLLOWS}},
    {kStats, "STATS", {F_AFTER, F_LIMIT}},
    {kStatsReport, "STATS_REPORT", {F_MORE, F_REPORT}},
    {kUnfollow, "UNFOLLOW", {F_FOLLOWS}},
    {kMark, "MARK", {F_TOKEN}},
    {kReceipt, "RECEIPT", {F_TOKEN}},
};

//  The smallest encoding of one record of each list, so a count that cannot fit in the bytes
//  left is refused before anything is allocated.
constexpr size_t kMinGroupRecord = 16 + 1 + 1 + kKeySize + 1 + 4;
constexpr size_t kMinMessageRecord = 8 + 8 + 2 + 16 + 4;
constexpr size_t kMinSenderRecord = kKeySize + 1;
constexpr size_t kMinSendRecord = 16 + 4;
constexpr size_t kMinSentRecord = 2 + 8 + 8;
constexpr size_t kMinMemberRecord = kKeySize + 1 + 1;
constexpr size_t kMinFollowRecord = 1 + 2 + 8;

const Layout* find_layout(uint8_t id) {
    for (const Layout& layout : kLayouts)
        if (layout.id == id) return &layout;
    return nullptr;
}

//  ---------------------------------------------------------------------------------------
//  Encoding

//  The encoder refuses what the decoder would reject: over-long strings, NULs inside them.
size_t string_size(std::string_view text) {
    if (text.size() > kMaxString || text.find('\0') != std::string_view::npos) return 0;
    return 1 + text.size();
}

size_t body_size(std::string_view body) {
    return body.size() <= kMaxBody ? 4 + body.size() : 0;
}

size_t flag_size(uint8_t flag) {
    return flag <= 1 ? 1 : 0;
}

//  A record's bytes, its sender apart (in the senders list), or 0 if over a limit.
size_t message_record_size(const MessageRecord& record) {
    size_t name = string_size(record.sender_name), body = body_size(record.body);
    if (!name || !body) return 0;
    return 8 + 8 + 2 + 16 + body;
}

//  The senders of records, each once, in the order first named.
SenderTable senders_of(const std::vector<MessageRecord>& records) {
    SenderTable senders;
    for (const MessageRecord& record : records)
        senders.add(record.sender.bytes, record.sender_name);
    return senders;
}

//  Size of one field, or 0 if it is over its limit.
size_t field_size(Field field, const Message& msg) {
    switch (field) {
    case F_STATUS:
        return 2;
    case F_ACCEPT_NEW:
        return flag_size(msg.accept_new);
    case F_POLICY:
        return flag_size(msg.policy);
    case F_NEWEST:
        return flag_size(msg.newest);
    case F_MORE:
        return flag_size(msg.more);
    case F_COMPLETE:
        return flag_size(msg.complete);
    case F_RETRY_MS:
    case F_MEMBER_COUNT:
    case F_GROUP_COUNT:
    case F_HOSTED_COUNT:
    case F_LIMIT:
        return 4;
    case F_AFTER_SEQ:
    case F_BEFORE_SEQ:
    case F_FIRST_SEQ:
    case F_LAST_SEQ:
    case F_SINCE_US:
    case F_UNTIL_US:
    case F_MISSED:
    case F_MAX_COUNT:
    case F_MAX_BYTES:
    case F_MAX_AGE_MS:
    case F_TOKEN:
        return 8;
    case F_GROUP_ID:
    case F_AFTER_MSG_ID:
        return 16;
    case F_KEY:
        return kKeySize;
    case F_REASON:
        return string_size(msg.reason);
    case F_REPORT:
        return body_size(msg.report);
    case F_ENDPOINT:
        return string_size(msg.endpoint);
    case F_GROUP:
        return string_size(msg.group);
    case F_NAME:
        return string_size(msg.name);
    case F_AFTER:
        return string_size(msg.after);
    case F_GROUPS: {
        if (msg.groups.size() > kMaxList) return 0;
        size_t size = 4;
        for (const GroupRecord& group : msg.groups) {
            size_t bytes = encoded_size(group);
            if (!bytes) return 0;
            size += bytes;
        }
        return size;
    }
    case F_MESSAGES: {
        if (msg.messages.size() > kMaxList) return 0;
        size_t size = 4;
        for (const MessageRecord& record : msg.messages) {
            size_t bytes = message_record_size(record);
            if (!bytes) return 0;
            size += bytes;
        }
        return size;
    }
    case F_SENDERS:
        return senders_of(msg.messages).bytes();
    case F_SENDS: {
        if (msg.sends.size() > kMaxList) return 0;
        size_t size = 4;
        for (const SendRecord& record : msg.sends) {
            size_t body = body_size(record.body);
            if (!body) return 0;
            size += 16 + body;
        }
        return size;
    }
    case F_SENT:
        return msg.sent.size() <= kMaxList ? 4 + msg.sent.size() * kMinSentRecord : 0;
    case F_MEMBERS: {
        if (msg.members.size() > kMaxList) return 0;
        size_t size = 4;
        for (const MemberRecord& member : msg.members) {
            size_t record = encoded_size(member);
            if (!record) return 0;
            size += record;
        }
        return size;
    }
    case F_FOLLOWS: {
        if (msg.follows.size() > kMaxList) return 0;
        size_t size = 4;
        for (const FollowRecord& follow : msg.follows) {
            size_t record = encoded_size(follow);
            if (!record) return 0;
            size += record;
        }
        return size;
    }
    case F_END:
        break;
    }
    return 0;
}

class Writer {
public:
    explicit Writer(uint8_t* data) : data_(data) {}
    void u8(uint8_t value) { data_[pos_++] = value; }
    void u16(uint16_t value) {
        u8((uint8_t)(value >> 8));
        u8((uint8_t)value);
    }
    void u32(uint32_t value) {
        u16((uint16_t)(value >> 16));
        u16((uint16_t)value);
    }
    void u64(uint64_t value) {
        u32((uint32_t)(value >> 32));
        u32((uint32_t)value);
    }
    void bytes(const void* source, size_t size) {
        if (size) memcpy(data_ + pos_, source, size);
        pos_ += size;
    }
    void uuid(const Uuid& uuid) { bytes(uuid.bytes, 16); }
    void key(const Key& key) { bytes(key.bytes, kKeySize); }
    void string(std::string_view text) {
        u8((uint8_t)text.size());
        bytes(text.data(), text.size());
    }
    void body(std::string_view body) {
        u32((uint32_t)body.size());
        bytes(body.data(), body.size());
    }
    void message_record(uint64_t seq, uint64_t timestamp, uint16_t sender, const Uuid& msg_id,
                        std::string_view body_) {
        u64(seq);
        u64(timestamp);
        u16(sender);
        uuid(msg_id);
        body(body_);
    }
    void senders(const SenderTable& table) {
        u32((uint32_t)table.size());
        for (size_t place = 0; place < table.size(); place++) {
            bytes(table.key(place), kKeySize);
            string(table.name(place));
        }
    }
    size_t position() const { return pos_; }

private:
    uint8_t* data_;
    size_t pos_ = 0;
};

void write_header(Writer& out, uint8_t id, uint32_t request_id) {
    out.u16(kSignature);
    out.u8(id);
    out.u8(kVersion);
    out.u32(request_id);
}

//  senders: the frame's, for F_MESSAGES and F_SENDERS (made once by encode_into).
void write_field(Field field, const Message& msg, const SenderTable& senders, Writer& out) {
    switch (field) {
    case F_STATUS:
        return out.u16(msg.status);
    case F_RETRY_MS:
        return out.u32(msg.retry_ms);
    case F_REASON:
        return out.string(msg.reason);
    case F_ENDPOINT:
        return out.string(msg.endpoint);
    case F_ACCEPT_NEW:
        return out.u8(msg.accept_new);
    case F_GROUP_ID:
        return out.uuid(msg.group_id);
    case F_AFTER_MSG_ID:
        return out.uuid(msg.after_msg_id);
    case F_GROUP:
        return out.string(msg.group);
    case F_MEMBER_COUNT:
        return out.u32(msg.member_count);
    case F_GROUP_COUNT:
        return out.u32(msg.group_count);
    case F_HOSTED_COUNT:
        return out.u32(msg.hosted_count);
    case F_KEY:
        return out.key(msg.key);
    case F_POLICY:
        return out.u8(msg.policy);
    case F_NAME:
        return out.string(msg.name);
    case F_AFTER:
        return out.string(msg.after);
    case F_AFTER_SEQ:
        return out.u64(msg.after_seq);
    case F_BEFORE_SEQ:
        return out.u64(msg.before_seq);
    case F_FIRST_SEQ:
        return out.u64(msg.first_seq);
    case F_LAST_SEQ:
        return out.u64(msg.last_seq);
    case F_SINCE_US:
        return out.u64(msg.since_us);
    case F_UNTIL_US:
        return out.u64(msg.until_us);
    case F_LIMIT:
        return out.u32(msg.limit);
    case F_NEWEST:
        return out.u8(msg.newest);
    case F_MORE:
        return out.u8(msg.more);
    case F_COMPLETE:
        return out.u8(msg.complete);
    case F_MISSED:
        return out.u64(msg.missed);
    case F_MAX_COUNT:
        return out.u64(msg.max_count);
    case F_MAX_BYTES:
        return out.u64(msg.max_bytes);
    case F_MAX_AGE_MS:
        return out.u64(msg.max_age_ms);
    case F_TOKEN:
        return out.u64(msg.token);
    case F_REPORT:
        return out.body(msg.report);
    case F_GROUPS:
        out.u32((uint32_t)msg.groups.size());
        for (const GroupRecord& group : msg.groups) {
            out.uuid(group.id);
            out.string(group.name);
            out.string(group.endpoint);
            out.key(group.server_key);
            out.u8(group.policy);
            out.u32(group.member_count);
        }
        return;
    case F_MESSAGES:
        out.u32((uint32_t)msg.messages.size());
        for (const MessageRecord& record : msg.messages)
            out.message_record(record.seq, record.timestamp,
                               (uint16_t)senders.find(record.sender.bytes, record.sender_name),
                               record.msg_id, record.body);
        return;
    case F_SENDERS:
        out.senders(senders);
        return;
    case F_SENDS:
        out.u32((uint32_t)msg.sends.size());
        for (const SendRecord& record : msg.sends) {
            out.uuid(record.msg_id);
            out.body(record.body);
        }
        return;
    case F_SENT:
        out.u32((uint32_t)msg.sent.size());
        for (const SentRecord& record : msg.sent) {
            out.u16(record.status);
            out.u64(record.seq);
            out.u64(record.timestamp);
        }
        return;
    case F_MEMBERS:
        out.u32((uint32_t)msg.members.size());
        for (const MemberRecord& member : msg.members) {
            out.key(member.key);
            out.string(member.name);
            out.u8(member.role);
        }
        return;
    case F_FOLLOWS:
        out.u32((uint32_t)msg.follows.size());
        for (const FollowRecord& follow : msg.follows) {
            out.string(follow.group);
            out.u16(follow.status);
            out.u64(follow.seq);
        }
        return;
    case F_END:
        return;
    }
}

//  ---------------------------------------------------------------------------------------
//  Decoding

class Reader {
public:
    Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    size_t remaining() const { return size_ - pos_; }
    DecodeError error() const { return error_; }

    uint64_t number(size_t width) {
        if (!need(width)) return 0;
        uint64_t value = 0;
        for (size_t i = 0; i < width; i++)
            value = (value << 8) | data_[pos_ + i];
        pos_ += width;
        return value;
    }
    uint8_t flag() { return bounded(1); }
    //  A number 1 whose value is at most max.
    uint8_t bounded(uint8_t max) {
        uint8_t value = (uint8_t)number(1);
        if (value > max) fail(DecodeError::kBadValue);
        return value;
    }
    void uuid(Uuid* uuid) {
        if (!need(16)) return;
        memcpy(uuid->bytes, data_ + pos_, 16);
        pos_ += 16;
    }
    void key(Key* key) {
        if (!need(kKeySize)) return;
        memcpy(key->bytes, data_ + pos_, kKeySize);
        pos_ += kKeySize;
    }
    std::string_view string_view() {
        size_t size = (size_t)number(1);
        if (!need(size)) return {};
        const char* start = (const char*)data_ + pos_;
        if (memchr(start, 0, size)) {
            fail(DecodeError::kBadValue);
            return {};
        }
        pos_ += size;
        return std::string_view(start, size);
    }
    void string(std::string* text) {
        std::string_view view = string_view();
        text->assign(view.data(), view.size());
    }
    std::string_view body() {
        uint64_t size = number(4);
        if (error_ != DecodeError::kOk) return {};
        if (size > kMaxBody) {
            fail(DecodeError::kStringTooLong);
            return {};
        }
        if (!need((size_t)size)) return {};
        std::string_view view((const char*)data_ + pos_, (size_t)size);
        pos_ += (size_t)size;
        return view;
    }
    //  Reads a list count; 0 on error. min_record is the smallest encoded record, so a
    //  count that cannot fit in what remains fails before anything is allocated.
    uint32_t count(size_t min_record) {
        uint32_t count = (uint32_t)number(4);
        if (error_ != DecodeError::kOk) return 0;
        if (count > kMaxList) {
            fail(DecodeError::kListTooLong);
            return 0;
        }
        if (count > remaining() / min_record) {
            fail(DecodeError::kTruncated);
            return 0;
        }
        return count;
    }
    //  The byte the next field starts at.
    const uint8_t* here() const { return data_ + pos_; }
    void skip(size_t size) {
        if (need(size)) pos_ += size;
    }
    void fail(DecodeError error) {
        if (error_ == DecodeError::kOk) error_ = error;
        pos_ = size_; //  stop reading
    }
    bool ok() const { return error_ == DecodeError::kOk; }

private:
    bool need(size_t size) {
        if (error_ != DecodeError::kOk) return false;
        if (size > remaining()) {
            fail(DecodeError::kTruncated);
            return false;
        }
        return true;
    }
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    DecodeError error_ = DecodeError::kOk;
};

void read_field(Field field, Reader& in, Message* msg, bool views) {
    switch (field) {
    case F_STATUS:
        msg->status = (uint16_t)in.number(2);
        return;
    case F_RETRY_MS:
        msg->retry_ms = (uint32_t)in.number(4);
        return;
    case F_REASON:
        return in.string(&msg->reason);
    case F_ENDPOINT:
        return in.string(&msg->endpoint);
    case F_ACCEPT_NEW:
        msg->accept_new = in.flag();
        return;
    case F_GROUP_ID:
        return in.uuid(&msg->group_id);
    case F_AFTER_MSG_ID:
        return in.uuid(&msg->after_msg_id);
    case F_GROUP:
        return in.string(&msg->group);
    case F_MEMBER_COUNT:
        msg->member_count = (uint32_t)in.number(4);
        return;
    case F_GROUP_COUNT:
        msg->group_count = (uint32_t)in.number(4);
        return;
    case F_HOSTED_COUNT:
        msg->hosted_count = (uint32_t)in.number(4);
        return;
    case F_KEY:
        return in.key(&msg->key);
    case F_POLICY:
        msg->policy = in.flag();
        return;
    case F_NAME:
        return in.string(&msg->name);
    case F_AFTER:
        return in.string(&msg->after);
    case F_AFTER_SEQ:
        msg->after_seq = in.number(8);
        return;
    case F_BEFORE_SEQ:
        msg->before_seq = in.number(8);
        return;
    case F_FIRST_SEQ:
        msg->first_seq = in.number(8);
        return;
    case F_LAST_SEQ:
        msg->last_seq = in.number(8);
        return;
    case F_SINCE_US:
        msg->since_us = in.number(8);
        return;
    case F_UNTIL_US:
        msg->until_us = in.number(8);
        return;
    case F_LIMIT:
        msg->limit = (uint32_t)in.number(4);
        return;
    case F_NEWEST:
        msg->newest = in.flag();
        return;
    case F_MORE:
        msg->more = in.flag();
        return;
    case F_COMPLETE:
        msg->complete = in.flag();
        return;
    case F_MISSED:
        msg->missed = in.number(8);
        return;
    case F_MAX_COUNT:
        msg->max_count = in.number(8);
        return;
    case F_MAX_BYTES:
        msg->max_bytes = in.number(8);
        return;
    case F_MAX_AGE_MS:
        msg->max_age_ms = in.number(8);
        return;
    case F_TOKEN:
        msg->token = in.number(8);
        return;
    case F_REPORT: {
        std::string_view report = in.body();
        msg->report.assign(report.data(), report.size());
        return;
    }
    case F_GROUPS: {
        uint32_t count = in.count(kMinGroupRecord);
        msg->groups.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            GroupRecord& group = msg->groups[i];
            in.uuid(&group.id);
            in.string(&group.name);
            in.string(&group.endpoint);
            in.key(&group.server_key);
            group.policy = in.flag();
            group.member_count = (uint32_t)in.number(4);
        }
        return;
    }
    case F_MESSAGES: {
        //  Views first, whatever was asked: their senders come with the list after them.
        uint32_t count = in.count(kMinMessageRecord);
        msg->views.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            msg->views[i] = MessageView(in.here(), nullptr);
            in.skip(MessageView::kMsgIdAt + 16);
            in.body();
        }
        return;
    }
    case F_SENDERS: {
        uint32_t count = in.count(kMinSenderRecord);
        std::vector<const uint8_t*> senders(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            senders[i] = in.here();
            in.skip(kKeySize);
            in.string_view();
        }
        for (MessageView& view : msg->views) {
            if (!in.ok()) return;
            if (view.sender_place() >= count) return in.fail(DecodeError::kBadValue);
            view.set_sender(senders[view.sender_place()]);
        }
        if (views || !in.ok()) return;
        msg->messages.reserve(msg->views.size());
        for (const MessageView& view : msg->views)
            msg->messages.push_back(view.record());
        msg->views.clear();
        return;
    }
    case F_SENDS: {
        uint32_t count = in.count(kMinSendRecord);
        msg->sends.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            in.uuid(&msg->sends[i].msg_id);
            msg->sends[i].body = in.body();
        }
        return;
    }
    case F_SENT: {
        uint32_t count = in.count(kMinSentRecord);
        msg->sent.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            msg->sent[i].status = (uint16_t)in.number(2);
            msg->sent[i].seq = in.number(8);
            msg->sent[i].timestamp = in.number(8);
        }
        return;
    }
    case F_MEMBERS: {
        uint32_t count = in.count(kMinMemberRecord);
        msg->members.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            in.key(&msg->members[i].key);
            in.string(&msg->members[i].name);
            msg->members[i].role = in.bounded(kRoleAllowed);
        }
        return;
    }
    case F_FOLLOWS: {
        uint32_t count = in.count(kMinFollowRecord);
        msg->follows.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            in.string(&msg->follows[i].group);
            msg->follows[i].status = (uint16_t)in.number(2);
            msg->follows[i].seq = in.number(8);
        }
        return;
    }
    case F_END:
        return;
    }
}

} // namespace

const char* decode_error_text(DecodeError error) {
    switch (error) {
    case DecodeError::kOk:
        return "ok";
    case DecodeError::kNoFrame:
        return "no frame to decode";
    case DecodeError::kSurplusFrames:
        return "more frames than the protocol allows";
    case DecodeError::kFrameTooLarge:
        return "frame larger than the protocol allows";
    case DecodeError::kTruncated:
        return "message ends inside a field";
    case DecodeError::kBadSignature:
        return "not a zgm_proto message (bad signature)";
    case DecodeError::kBadVersion:
        return "unsupported zgm_proto version";
    case DecodeError::kUnknownId:
        return "unknown message id";
    case DecodeError::kTrailing:
        return "bytes left over after the last field";
    case DecodeError::kStringTooLong:
        return "body larger than the protocol allows";
    case DecodeError::kListTooLong:
        return "list longer than the protocol allows";
    case DecodeError::kBadValue:
        return "field value out of range";
    }
    return "unknown decode error";
}

const char* message_name(uint8_t id) {
    const Layout* layout = find_layout(id);
    return layout ? layout->name : "UNKNOWN";
}

bool is_known_id(uint8_t id) {
    return find_layout(id) != nullptr;
}

size_t encoded_size(const Message& msg) {
    const Layout* layout = find_layout(msg.id);
    if (!layout) return 0;
    size_t size = kHeaderSize;
    for (Field field : layout->fields) {
        if (field == F_END) break;
        size_t bytes = field_size(field, msg);
        if (bytes == 0) return 0;
        size += bytes;
    }
    return size <= kMaxFrame ? size : 0;
}

size_t encoded_size(const MessageRecord& record) {
    return message_record_size(record);
}

size_t encoded_size(const GroupRecord& record) {
    size_t name = string_size(record.name), endpoint = string_size(record.endpoint);
    if (!name || !endpoint || record.policy > 1) return 0;
    return 16 + name + endpoint + kKeySize + 1 + 4;
}

size_t encoded_size(const FollowRecord& record) {
    size_t group = string_size(record.group);
    return group ? group + 2 + 8 : 0;
}

size_t encoded_size(const MemberRecord& record) {
    size_t name = string_size(record.name);
    return name && record.role <= kRoleAllowed ? kKeySize + name + 1 : 0;
}

size_t deliver_frame_end(const std::vector<MessageRecord>& records, size_t begin) {
    SenderTable senders;
    size_t bytes = 0;
    size_t end = begin;
    while (end < records.size() && bytes < kDeliverBytes && end - begin < kMaxList) {
        const MessageRecord& record = records[end++];
        size_t senders_before = senders.bytes();
        senders.add(record.sender.bytes, record.sender_name);
        bytes += encoded_size(record) + senders.bytes() - senders_before;
    }
    return end;
}

void encode_into(const Message& msg, uint8_t* buffer, size_t size) {
    (void)size;
    Writer out(buffer);
    write_header(out, msg.id, msg.request_id);
    //  The senders of MESSAGES and DELIVER, for both of their lists (empty for the others).
    SenderTable senders = senders_of(msg.messages);
    for (Field field : find_layout(msg.id)->fields) {
        if (field == F_END) break;
        write_field(field, msg, senders, out);
    }
}

bool encode(const Message& msg, std::string* out) {
    size_t size = encoded_size(msg);
    out->clear();
    if (size == 0) return false;
    out->resize(size);
    encode_into(msg, (uint8_t*)&(*out)[0], size);
    return true;
}

MessageRecord MessageView::record() const {
    MessageRecord record;
    record.seq = seq();
    record.timestamp = timestamp();
    memcpy(record.sender.bytes, sender(), kKeySize);
    memcpy(record.msg_id.bytes, msg_id(), 16);
    record.sender_name = sender_name();
    record.body = body();
    return record;
}

DecodeError decode(const uint8_t* data, size_t size, Message* msg, bool views) {
    //  Every field back to its default, but the frame stays: data may point into it.
    Frame frame = std::move(msg->frame);
    *msg = Message();
    msg->frame = std::move(frame);
    if (size == 0) return DecodeError::kNoFrame;
    if (size > kMaxFrame) return DecodeError::kFrameTooLarge;
    Reader in(data, size);
    uint16_t signature = (uint16_t)in.number(2);
    if (!in.ok()) return in.error();
    if (signature != kSignature) return DecodeError::kBadSignature;
    msg->id = (uint8_t)in.number(1);
    uint8_t version = (uint8_t)in.number(1);
    msg->request_id = (uint32_t)in.number(4);
    if (!in.ok()) return in.error();
    msg->version = version;
    if (version != kVersion) return DecodeError::kBadVersion;
    const Layout* layout = find_layout(msg->id);
    if (!layout) return DecodeError::kUnknownId;
    for (Field field : layout->fields) {
        if (field == F_END || !in.ok()) break;
        read_field(field, in, msg, views);
    }
    if (!in.ok()) return in.error();
    if (in.remaining() != 0) return DecodeError::kTrailing;
    return DecodeError::kOk;
}

uint16_t error_status(DecodeError error) {
    switch (error) {
    case DecodeError::kBadVersion:
        return kBadVersion;
    case DecodeError::kStringTooLong:
    case DecodeError::kFrameTooLarge:
        return kTooLarge;
    default:
        return kBadRequest;
    }
}

//  ---------------------------------------------------------------------------------------
//  The senders of a frame

std::string SenderTable::map_key(const uint8_t* key, std::string_view name) {
    std::string text((const char*)key, kKeySize);
    text.append(name.data(), name.size());
    return text;
}

int SenderTable::find(const uint8_t* key, std::string_view name) const {
    auto is = [&](size_t place) {
        const Entry& entry = entries_[place];
        return entry.name == name && memcmp(entry.key.bytes, key, kKeySize) == 0;
    };
    //  Records of one sender come in runs: the last one found first.
    if (last_ < entries_.size() && is(last_)) return (int)last_;
    if (entries_.size() > kScanned) {
        auto found = places_.find(map_key(key, name));
        if (found == places_.end()) return -1;
        last_ = found->second;
        return (int)last_;
    }
    for (size_t place = 0; place < entries_.size(); place++)
        if (is(place)) return (int)(last_ = place);
    return -1;
}

uint16_t SenderTable::add(const uint8_t* key, std::string_view name) {
    int found = find(key, name);
    if (found >= 0) return (uint16_t)found;
    Entry entry;
    memcpy(entry.key.bytes, key, kKeySize);
    entry.name.assign(name.data(), name.size());
    entries_.push_back(std::move(entry));
    bytes_ += kKeySize + 1 + name.size();
    last_ = entries_.size() - 1;
    if (entries_.size() == kScanned + 1) {
        for (size_t place = 0; place < entries_.size(); place++)
            places_[map_key(entries_[place].key.bytes, entries_[place].name)] = (uint16_t)place;
    } else if (entries_.size() > kScanned + 1) {
        places_[map_key(key, name)] = (uint16_t)last_;
    }
    return (uint16_t)last_;
}

void SenderTable::clear() {
    entries_.clear();
    places_.clear();
    last_ = 0;
    bytes_ = 4;
}

//  ---------------------------------------------------------------------------------------
//  MESSAGES, record by record

MessagesWriter::MessagesWriter(uint32_t request_id, const std::string& group)
    : request_id_(request_id), group_ok_(string_size(group) != 0) {
    if (group_ok_) group_ = group;
    start();
}

MessagesWriter::~MessagesWriter() {
    free(data_);
}

//  Room for at least size bytes: the buffer at least doubles, so a frame of N bytes costs
//  about log2 (N / kFirstCapacity) reallocations (in place or remapped for large ones), not
//  a copy per record; nothing is zero-filled.
bool MessagesWriter::reserve(size_t size) {
    if (size <= capacity_) return true;
    constexpr size_t kFirstCapacity = 16 * 1024;
    size_t capacity = std::max(std::max(capacity_ * 2, kFirstCapacity), size);
    capacity = std::min(capacity, std::max(size, kMaxFrame));
    uint8_t* data = (uint8_t*)realloc(data_, capacity);
    if (!data) return false;
    data_ = data;
    capacity_ = capacity;
    return true;
}

//  The header and the group; room for the trailer fields and the count.
void MessagesWriter::start() {
    size_ = 0;
    count_ = 0;
    senders_.clear();
    if (!reserve(kHeaderSize + 1 + group_.size() + 8 + 8 + 1 + 8 + 4)) return;
    Writer out(data_);
    write_header(out, kMessages, request_id_);
    out.string(group_);
    fixed_at_ = out.position();
    size_ = fixed_at_ + 8 + 8 + 1 + 8 + 4;
}

bool MessagesWriter::add(uint64_t seq, uint64_t timestamp, const uint8_t* sender,
                         const Uuid& msg_id, std::string_view sender_name, std::string_view body) {
    size_t name = string_size(sender_name), bytes = body_size(body);
    if (!group_ok_ || !size_ || !name || !bytes || count_ >= kMaxList) return false;
    size_t record = 8 + 8 + 2 + 16 + bytes;
    //  The frame must hold the senders list too, with this one's sender when new.
    size_t senders =
        senders_.bytes() + (senders_.find(sender, sender_name) < 0 ? kKeySize + name : 0);
    if (size_ + record + senders > kMaxFrame || !reserve(size_ + record)) return false;
    Writer out(data_ + size_);
    out.message_record(seq, timestamp, senders_.add(sender, sender_name), msg_id, body);
    size_ += record;
    count_++;
    return true;
}

static void free_buffer(void* data, void*) {
    free(data);
}

bool MessagesWriter::finish(uint64_t first_seq, uint64_t last_seq, bool more, uint64_t missed,
                            zmq_msg_t* frame) {
    if (!group_ok_ || !size_) {
        zmq_msg_init(frame);
        return false;
    }
    if (!reserve(size_ + senders_.bytes())) {
        zmq_msg_init(frame);
        return false;
    }
    Writer out(data_ + fixed_at_);
    out.u64(first_seq);
    out.u64(last_seq);
    out.u8(more ? 1 : 0);
    out.u64(missed);
    out.u32(count_);
    Writer tail(data_ + size_);
    tail.senders(senders_);
    //  The frame takes the buffer over: no copy of the records.
    if (zmq_msg_init_data(frame, data_, size_ + senders_.bytes(), free_buffer, nullptr) != 0) {
        zmq_msg_init(frame);
        return false;
    }
    data_ = nullptr;
    capacity_ = 0;
    start();
    return true;
}

//  ---------------------------------------------------------------------------------------
//  Sockets

namespace {

void free_copy(void* data, void* hint) {
    (void)hint;
    delete[](uint8_t*) data;
}

//  libzmq keeps a frame of a few dozen bytes (up to 33 on 64-bit hosts, 37 on 32-bit ARM)
//  inside the zmq_msg_t itself. Moving that zmq_msg_t, as moving its Message does, moves the
//  bytes and leaves the views decode made into them behind. Such a frame gets a buffer of its
//  own before it is decoded. (Its libzmq metadata does not follow: recv reads the peer first.)
//  Should memory run out, the frame stays as it is: its views hold until the Message moves.
void keep_bytes_in_place(zmq_msg_t* frame) {
    uintptr_t data = (uintptr_t)zmq_msg_data(frame), start = (uintptr_t)frame;
    size_t size = zmq_msg_size(frame);
    if (size == 0 || data < start || data >= start + sizeof(zmq_msg_t)) return;
    uint8_t* copy = new (std::nothrow) uint8_t[size];
    if (!copy) return;
    memcpy(copy, zmq_msg_data(frame), size);
    zmq_msg_t own;
    if (zmq_msg_init_data(&own, copy, size, free_copy, nullptr) != 0) {
        delete[] copy;
        return;
    }
    zmq_msg_move(frame, &own);
    zmq_msg_close(&own);
}

} // namespace

int send_error(void* socket, const std::string& routing_id, uint32_t request_id, uint16_t status,
               const std::string& why, uint32_t retry_ms, size_t* sent_bytes) {
    Message message;
    message.id = kError;
    message.request_id = request_id;
    message.status = status;
    message.retry_ms = retry_ms;
    message.reason = why.substr(0, kMaxString);
    //  A reason may quote what a peer sent: keep it decodable.
    for (char& c : message.reason)
        if (c == '\0') c = '?';
    return send(socket, routing_id, message, ZMQ_DONTWAIT, sent_bytes);
}

int send(void* socket, const std::string& routing_id, const Message& msg, int flags,
         size_t* sent_bytes) {
    size_t size = encoded_size(msg);
    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    zmq_msg_t frame;
    if (zmq_msg_init_size(&frame, size) != 0) return -1;
    encode_into(msg, (uint8_t*)zmq_msg_data(&frame), size);
    if (!routing_id.empty() &&
        zmq_send(socket, routing_id.data(), routing_id.size(), flags | ZMQ_SNDMORE) < 0) {
        zmq_msg_close(&frame);
        return -1;
    }
    if (zmq_msg_send(&frame, socket, flags) < 0) {
        zmq_msg_close(&frame);
        return -1;
    }
    if (sent_bytes) *sent_bytes = size;
    return 0;
}

bool return_mark(void* socket, const Message& msg) {
    if (msg.id != kMark) return false;
    Message receipt;
    receipt.id = kReceipt;
    receipt.token = msg.token;
    send(socket, "", receipt, ZMQ_DONTWAIT);
    return true;
}

DecodeError recv(void* socket, bool router, std::string* routing_id, Message* msg, int flags,
                 std::string* peer, bool views) {
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    DecodeError result = DecodeError::kNoFrame;
    int index = 0;
    int expected = router ? 2 : 1;
    bool more = true;
    if (peer) peer->clear();
    while (more) {
        if (zmq_msg_recv(&frame, socket, index == 0 ? flags : 0) < 0) {
            int saved = errno;
            zmq_msg_close(&frame);
            //  Nothing waiting (each read of a socket to its end): msg as it was, no cost.
            if (index == 0 && saved != EAGAIN) *msg = Message();
            errno = saved;
            return index == 0 ? DecodeError::kNoFrame : result;
        }
        if (index == 0) *msg = Message();
        more = zmq_msg_more(&frame);
        if (router && index == 0) {
            if (routing_id)
                routing_id->assign((const char*)zmq_msg_data(&frame), zmq_msg_size(&frame));
        } else if (index == expected - 1) {
            if (peer) {
                const char* user_id = zmq_msg_gets(&frame, "User-Id");
                if (user_id) peer->assign(user_id);
            }
            //  The message keeps the frame: its records point into it.
            zmq_msg_move(msg->frame.get(), &frame);
            keep_bytes_in_place(msg->frame.get());
            result = decode(msg->frame.data(), msg->frame.size(), msg, views);
        } else if (index >= expected && result == DecodeError::kOk) {
            result = DecodeError::kSurplusFrames;
        }
        index++;
    }
    zmq_msg_close(&frame);
    //  A message was read: a kNoFrame here (an empty frame) must not look like an empty
    //  socket through an EAGAIN left over from an earlier call.
    errno = 0;
    return result;
}

} // namespace proto
} // namespace zgm
