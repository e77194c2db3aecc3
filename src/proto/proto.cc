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

#include <cerrno>
#include <cstring>
#include <zmq.h>

namespace zgm {
namespace proto {

namespace {

enum Field : uint8_t {
    F_END = 0,
    F_STATUS,
    F_REASON,
    F_SERVER,
    F_ENDPOINT,
    F_ACCEPT_NEW,
    F_GROUP_ID,
    F_GROUP,
    F_COUNT,
    F_USER,
    F_NAME,
    F_MSG_ID,
    F_BODY,
    F_SEQ,
    F_TS_US,
    F_SINCE_US,
    F_AFTER_SEQ,
    F_LIMIT,
    F_FIRST_SEQ,
    F_LAST_SEQ,
    F_MORE,
    F_TRUNCATED,
    F_GROUPS,
    F_MESSAGES,
    F_MEMBERS,
};

struct Layout {
    uint8_t id;
    const char* name;
    Field fields[8];
};

const Layout kLayouts[] = {
    {kError, "ERROR", {F_STATUS, F_REASON}},
    {kOk, "OK", {}},
    {kRegister, "REGISTER", {F_SERVER, F_ENDPOINT, F_ACCEPT_NEW, F_GROUP_ID, F_GROUP, F_COUNT}},
    {kHeartbeat, "HEARTBEAT", {F_SERVER, F_ENDPOINT, F_ACCEPT_NEW, F_COUNT}},
    {kDeregister, "DEREGISTER", {F_SERVER}},
    {kList, "LIST", {F_USER}},
    {kGroups, "GROUPS", {F_GROUPS}},
    {kCreate, "CREATE", {F_USER, F_GROUP}},
    {kCreated, "CREATED", {F_GROUP_ID, F_GROUP, F_ENDPOINT}},
    {kHost, "HOST", {F_GROUP}},
    {kJoin, "JOIN", {F_USER, F_NAME, F_GROUP}},
    {kJoined, "JOINED", {F_GROUP_ID, F_LAST_SEQ}},
    {kLeave, "LEAVE", {F_USER, F_GROUP}},
    {kSend, "SEND", {F_USER, F_GROUP, F_MSG_ID, F_BODY}},
    {kSent, "SENT", {F_SEQ, F_TS_US}},
    {kFetch, "FETCH", {F_USER, F_GROUP, F_SINCE_US, F_AFTER_SEQ, F_LIMIT}},
    {kMessages, "MESSAGES", {F_GROUP, F_FIRST_SEQ, F_LAST_SEQ, F_MORE, F_TRUNCATED, F_MESSAGES}},
    {kMembers, "MEMBERS", {F_USER, F_GROUP}},
    {kMemberList, "MEMBER_LIST", {F_MEMBERS}},
    {kFollow, "FOLLOW", {F_USER, F_GROUP, F_AFTER_SEQ}},
    {kFollowing, "FOLLOWING", {F_GROUP, F_LAST_SEQ}},
    {kDeliver, "DELIVER", {F_GROUP, F_MESSAGES}},
};

const Layout* find_layout(uint8_t id) {
    for (const Layout& layout : kLayouts)
        if (layout.id == id) return &layout;
    return nullptr;
}

//  ---------------------------------------------------------------------------------------
//  Encoding

//  The encoder refuses what the decoder would reject: over-long strings, NULs inside them.
size_t string_size(const std::string& text) {
    if (text.size() > kMaxString || text.find('\0') != std::string::npos) return 0;
    return 1 + text.size();
}

size_t body_size(const std::string& body) {
    return body.size() <= kMaxBody ? 4 + body.size() : 0;
}

//  Size of one field, or 0 if it is over its limit.
size_t field_size(Field field, const Message& msg) {
    switch (field) {
    case F_STATUS:
        return 2;
    case F_ACCEPT_NEW:
        return msg.accept_new <= 1 ? 1 : 0;
    case F_MORE:
        return msg.more <= 1 ? 1 : 0;
    case F_TRUNCATED:
        return msg.truncated <= 1 ? 1 : 0;
    case F_COUNT:
    case F_LIMIT:
        return 4;
    case F_SEQ:
    case F_TS_US:
    case F_SINCE_US:
    case F_AFTER_SEQ:
    case F_FIRST_SEQ:
    case F_LAST_SEQ:
        return 8;
    case F_SERVER:
    case F_GROUP_ID:
    case F_USER:
    case F_MSG_ID:
        return 16;
    case F_REASON:
        return string_size(msg.reason);
    case F_ENDPOINT:
        return string_size(msg.endpoint);
    case F_GROUP:
        return string_size(msg.group);
    case F_NAME:
        return string_size(msg.name);
    case F_BODY:
        return body_size(msg.body);
    case F_GROUPS: {
        if (msg.groups.size() > kMaxList) return 0;
        size_t size = 4;
        for (const GroupRecord& group : msg.groups) {
            size_t name = string_size(group.name), endpoint = string_size(group.endpoint);
            if (!name || !endpoint) return 0;
            size += 16 + name + endpoint + 4;
        }
        return size;
    }
    case F_MESSAGES: {
        if (msg.messages.size() > kMaxList) return 0;
        size_t size = 4;
        for (const MessageRecord& record : msg.messages) {
            size_t name = string_size(record.sender_name), body = body_size(record.body);
            if (!name || !body) return 0;
            size += 8 + 8 + 16 + name + body;
        }
        return size;
    }
    case F_MEMBERS: {
        if (msg.members.size() > kMaxList) return 0;
        size_t size = 4;
        for (const MemberRecord& member : msg.members) {
            size_t name = string_size(member.name);
            if (!name) return 0;
            size += 16 + name;
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
    void string(const std::string& text) {
        u8((uint8_t)text.size());
        bytes(text.data(), text.size());
    }
    void body(const std::string& body) {
        u32((uint32_t)body.size());
        bytes(body.data(), body.size());
    }

private:
    uint8_t* data_;
    size_t pos_ = 0;
};

void write_field(Field field, const Message& msg, Writer& out) {
    switch (field) {
    case F_STATUS:
        return out.u16(msg.status);
    case F_REASON:
        return out.string(msg.reason);
    case F_SERVER:
        return out.uuid(msg.server);
    case F_ENDPOINT:
        return out.string(msg.endpoint);
    case F_ACCEPT_NEW:
        return out.u8(msg.accept_new);
    case F_GROUP_ID:
        return out.uuid(msg.group_id);
    case F_GROUP:
        return out.string(msg.group);
    case F_COUNT:
        return out.u32(msg.count);
    case F_USER:
        return out.uuid(msg.user);
    case F_NAME:
        return out.string(msg.name);
    case F_MSG_ID:
        return out.uuid(msg.msg_id);
    case F_BODY:
        return out.body(msg.body);
    case F_SEQ:
        return out.u64(msg.seq);
    case F_TS_US:
        return out.u64(msg.ts_us);
    case F_SINCE_US:
        return out.u64(msg.since_us);
    case F_AFTER_SEQ:
        return out.u64(msg.after_seq);
    case F_LIMIT:
        return out.u32(msg.limit);
    case F_FIRST_SEQ:
        return out.u64(msg.first_seq);
    case F_LAST_SEQ:
        return out.u64(msg.last_seq);
    case F_MORE:
        return out.u8(msg.more);
    case F_TRUNCATED:
        return out.u8(msg.truncated);
    case F_GROUPS:
        out.u32((uint32_t)msg.groups.size());
        for (const GroupRecord& group : msg.groups) {
            out.uuid(group.id);
            out.string(group.name);
            out.string(group.endpoint);
            out.u32(group.members);
        }
        return;
    case F_MESSAGES:
        out.u32((uint32_t)msg.messages.size());
        for (const MessageRecord& record : msg.messages) {
            out.u64(record.seq);
            out.u64(record.ts_us);
            out.uuid(record.sender);
            out.string(record.sender_name);
            out.body(record.body);
        }
        return;
    case F_MEMBERS:
        out.u32((uint32_t)msg.members.size());
        for (const MemberRecord& member : msg.members) {
            out.uuid(member.id);
            out.string(member.name);
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
    uint8_t flag() {
        uint8_t value = (uint8_t)number(1);
        if (value > 1) fail(DecodeError::kBadValue);
        return value;
    }
    void uuid(Uuid* uuid) {
        if (!need(16)) return;
        memcpy(uuid->bytes, data_ + pos_, 16);
        pos_ += 16;
    }
    void string(std::string* text) {
        size_t size = (size_t)number(1);
        if (!need(size)) return;
        const char* start = (const char*)data_ + pos_;
        if (memchr(start, 0, size)) return fail(DecodeError::kBadValue);
        text->assign(start, size);
        pos_ += size;
    }
    void body(std::string* body) {
        uint64_t size = number(4);
        if (error_ != DecodeError::kOk) return;
        if (size > kMaxBody) return fail(DecodeError::kStringTooLong);
        if (!need((size_t)size)) return;
        body->assign((const char*)data_ + pos_, (size_t)size);
        pos_ += (size_t)size;
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

void read_field(Field field, Reader& in, Message* msg) {
    switch (field) {
    case F_STATUS:
        msg->status = (uint16_t)in.number(2);
        return;
    case F_REASON:
        return in.string(&msg->reason);
    case F_SERVER:
        return in.uuid(&msg->server);
    case F_ENDPOINT:
        return in.string(&msg->endpoint);
    case F_ACCEPT_NEW:
        msg->accept_new = in.flag();
        return;
    case F_GROUP_ID:
        return in.uuid(&msg->group_id);
    case F_GROUP:
        return in.string(&msg->group);
    case F_COUNT:
        msg->count = (uint32_t)in.number(4);
        return;
    case F_USER:
        return in.uuid(&msg->user);
    case F_NAME:
        return in.string(&msg->name);
    case F_MSG_ID:
        return in.uuid(&msg->msg_id);
    case F_BODY:
        return in.body(&msg->body);
    case F_SEQ:
        msg->seq = in.number(8);
        return;
    case F_TS_US:
        msg->ts_us = in.number(8);
        return;
    case F_SINCE_US:
        msg->since_us = in.number(8);
        return;
    case F_AFTER_SEQ:
        msg->after_seq = in.number(8);
        return;
    case F_LIMIT:
        msg->limit = (uint32_t)in.number(4);
        return;
    case F_FIRST_SEQ:
        msg->first_seq = in.number(8);
        return;
    case F_LAST_SEQ:
        msg->last_seq = in.number(8);
        return;
    case F_MORE:
        msg->more = in.flag();
        return;
    case F_TRUNCATED:
        msg->truncated = in.flag();
        return;
    case F_GROUPS: {
        uint32_t count = in.count(16 + 1 + 1 + 4);
        msg->groups.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            GroupRecord& group = msg->groups[i];
            in.uuid(&group.id);
            in.string(&group.name);
            in.string(&group.endpoint);
            group.members = (uint32_t)in.number(4);
        }
        return;
    }
    case F_MESSAGES: {
        uint32_t count = in.count(8 + 8 + 16 + 1 + 4);
        msg->messages.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            MessageRecord& record = msg->messages[i];
            record.seq = in.number(8);
            record.ts_us = in.number(8);
            in.uuid(&record.sender);
            in.string(&record.sender_name);
            in.body(&record.body);
        }
        return;
    }
    case F_MEMBERS: {
        uint32_t count = in.count(16 + 1);
        msg->members.resize(count);
        for (uint32_t i = 0; i < count && in.ok(); i++) {
            in.uuid(&msg->members[i].id);
            in.string(&msg->members[i].name);
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

void encode_into(const Message& msg, uint8_t* buffer, size_t size) {
    (void)size;
    Writer out(buffer);
    out.u16(kSignature);
    out.u8(msg.id);
    out.u8(kVersion);
    out.u32(msg.request_id);
    for (Field field : find_layout(msg.id)->fields) {
        if (field == F_END) break;
        write_field(field, msg, out);
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

DecodeError decode(const uint8_t* data, size_t size, Message* msg) {
    *msg = Message();
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
    if (version != kVersion) return DecodeError::kBadVersion;
    const Layout* layout = find_layout(msg->id);
    if (!layout) return DecodeError::kUnknownId;
    for (Field field : layout->fields) {
        if (field == F_END || !in.ok()) break;
        read_field(field, in, msg);
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
//  Sockets

int send_error(void* socket, const std::string& routing_id, uint32_t request_id, uint16_t status,
               const std::string& why) {
    Message message;
    message.id = kError;
    message.request_id = request_id;
    message.status = status;
    message.reason = why.substr(0, kMaxString);
    return send(socket, routing_id, message, ZMQ_DONTWAIT);
}

int send(void* socket, const std::string& routing_id, const Message& msg, int flags) {
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
    return 0;
}

DecodeError recv(void* socket, bool router, std::string* routing_id, Message* msg, int flags) {
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    DecodeError result = DecodeError::kNoFrame;
    int index = 0;
    int expected = router ? 2 : 1;
    bool more = true;
    *msg = Message();
    while (more) {
        if (zmq_msg_recv(&frame, socket, index == 0 ? flags : 0) < 0) {
            int saved = errno;
            zmq_msg_close(&frame);
            errno = saved;
            return index == 0 ? DecodeError::kNoFrame : result;
        }
        more = zmq_msg_more(&frame);
        if (router && index == 0) {
            if (routing_id)
                routing_id->assign((const char*)zmq_msg_data(&frame), zmq_msg_size(&frame));
        } else if (index == expected - 1) {
            result = decode((const uint8_t*)zmq_msg_data(&frame), zmq_msg_size(&frame), msg);
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
