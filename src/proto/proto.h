/*  =========================================================================
    proto.h - zgm_proto, the wire protocol between users, group servers and the registry

    Every message is one ZeroMQ frame (after the ROUTER routing id, where there is one):

        signature   number 2    0xAAA1 (0xAAA0 | 1, zgm_proto)
        id          number 1    message id, see MessageId
        version     number 1    protocol version, kVersion
        request_id  number 4    chosen by the requester, echoed by every reply; 0 on pushes
        fields...               per message, in order, see docs/protocol.md

    All numbers are big-endian. `string` is a 1-byte length and that many bytes (no NUL
    inside), `body` is a 4-byte length (at most kMaxBody) and that many bytes, `uuid` is 16
    bytes, `key` 32 bytes, and a list is a 4-byte count (at most kMaxList) of records.

    Who sent a request is never a field: a server takes it from the connection (the key the
    ZAP handler proved, see core/security.h).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_PROTO_PROTO_H
#define ZGM_PROTO_PROTO_H

#include "core/key.h"
#include "core/uuid.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.h>

namespace zgm {
namespace proto {

constexpr uint16_t kSignature = 0xAAA0 | 1;
//  7 (zgm 0.2 since 2026-12-07): MEMBERSHIPS and MEMBERSHIP_LIST are paged (after, more). 6:
//  MEMBERS and MEMBER_LIST are paged (after, more). 5: a server sends
//  MARK after what it sent to a connection, and a client returns it in RECEIPT once read
//  (net/receipts.h). 4: HEARTBEAT says how many groups the server hosts (hosted_count). 3: a
//  MessageRecord names its sender by its place in the frame's list of senders (SenderRecord), where
//  2 carried the key and name in every record.
constexpr uint8_t kVersion = 7;
constexpr size_t kHeaderSize = 8;

//  Limits a decoder enforces and an encoder refuses to exceed.
constexpr size_t kMaxString = 255;            //  string fields (names, endpoints, reasons)
constexpr size_t kMaxBody = 64 * 1024;        //  one message body
constexpr uint32_t kMaxList = 10000;          //  records in one list
constexpr size_t kMaxFrame = 4 * 1024 * 1024; //  one encoded message
//  A user fills a SEND batch up to about this many body bytes.
constexpr size_t kBatchBytes = 256 * 1024;
//  A group server cuts what it pushes after a commit into DELIVER frames of about this many
//  encoded bytes, each sender's record counted once: it stops adding records once a frame
//  holds this many, so a frame is at most kDeliverBytes - 1 plus one full record and its
//  sender's (about 97 KiB). The receiving libzmq allocates each
//  frame over its 8 KiB read buffer with malloc: under glibc's mmap threshold (128 KiB) the
//  memory is reused, where frames of 256 KiB were mapped, or taken from heap memory glibc
//  gives back at each free, and faulted in page by page (BENCHMARKS.md, "DELIVER frames of
//  32 KiB").
constexpr size_t kDeliverBytes = 32 * 1024;
//  A group server fills a MESSAGES reply to FETCH up to about this many body bytes (and at
//  most kMaxList records in kMaxFrame): a long fetch takes few round trips.
constexpr size_t kFetchBytes = 2 * 1024 * 1024;
//  A group server answers MEMBERS with at most this many records a page (a record is at most
//  32 + 1 + 64 + 1 bytes: 245 KB, within the 256 KiB a connection has of its own), and fewer
//  when the connection may be sent less now.
constexpr uint32_t kMembersPage = 2500;
//  The same for MEMBERSHIPS: a FollowRecord is at most 2 + 1 + 64 + 8 bytes (187 KB a page).
constexpr uint32_t kMembershipsPage = 2500;
//  The groups a user puts in one FOLLOW (its keep-alive, or zgm_user_follow_many): a user
//  following more on one group server sends several, each within any server's frame.
constexpr uint32_t kFollowPage = 2500;

enum MessageId : uint8_t {
    //  Replies to any request.
    kError = 1,
    kOk = 2,
    //  Registry protocol.
    kRegister = 10,   //  group server -> registry: one group it serves (idempotent)
    kHeartbeat = 11,  //  group server -> registry: still alive
    kDeregister = 12, //  group server -> registry: stopping cleanly
    kList = 13,       //  user -> registry: a page of the live groups
    kGroups = 14,     //  registry -> user: reply to LIST
    kCreate = 15,     //  user -> registry: place a new group on some group server
    kResolve = 16,    //  user -> registry: where one group is served
    kHost = 17,       //  registry -> group server: host this new group
    kGroup = 18,      //  registry -> user: one group, reply to CREATE and RESOLVE
    //  Group protocol.
    kJoin = 30,
    kJoined = 31,
    kLeave = 32,
    kSend = 33,
    kSent = 34,
    kFetch = 35,
    kMessages = 36,
    kMembers = 37,
    kMemberList = 38,
    kFollow = 39,
    kFollowing = 40,
    kDeliver = 41,        //  group server -> member: new messages, pushed
    kMemberships = 42,    //  user -> group server: the groups here I am a member of
    kAdd = 43,            //  owner -> group server: allow a key to join
    kRemove = 44,         //  owner -> group server: take a key off the group
    kGive = 45,           //  owner -> group server: hand ownership on
    kPolicy = 46,         //  owner -> group server: who may join
    kRetain = 47,         //  owner -> group server: the group's retention
    kMembershipList = 48, //  group server -> user: reply to MEMBERSHIPS
    kStats = 49,          //  operator -> registry or group server: a page of its counters
    kStatsReport = 50,    //  reply to STATS: tab-separated lines, one per figure
    kUnfollow = 51,       //  user -> group server: stop following groups on this connection
    kMark = 52,           //  server -> client: return this token once you have read this far
    kReceipt = 53,        //  client -> server: the token of the last MARK read (no reply)
};

//  ERROR status codes: 4xx the requester's fault, 5xx the server's.
enum Status : uint16_t {
    kStatusOk = 200,     //  in per-record statuses (SENT, FOLLOWING)
    kBadRequest = 400,   //  malformed message
    kDenied = 401,       //  this key may not: not the owner, not allowed in, not trusted
    kNotMember = 403,    //  the user is not a member of the group
    kNotFound = 404,     //  unknown group, unknown group server
    kConflict = 409,     //  name taken, already a member
    kTooLarge = 413,     //  body over kMaxBody, frame over the limit
    kInvalid = 422,      //  a field's value is not acceptable (empty or bad name...)
    kTooEarly = 425,     //  SEND: the message its after_msg_id names is not stored (yet)
    kBadVersion = 426,   //  another protocol version
    kRateLimited = 429,  //  too many requests: retry_ms says when to come back
    kLimitReached = 430, //  a limit of the server (members, groups, follows...) is reached
    kInternal = 500,
    kUnavailable = 503, //  still learning its groups, the group's server away, none takes groups
    kInDoubt = 504,     //  CREATE: the chosen group server did not answer; it may yet create it;
                        //  a write whose sync failed: it may be stored
    kStorage = 507,     //  the store failed (disk full, I/O error before it wrote); nothing stored
};

//  The reason of a registry's 503 while it learns its groups, and what a user's call says
//  when its time runs out before the registry has.
constexpr const char* kStillLearning =
    "the registry has just started and is still learning its groups";

//  A frame received from a socket, alive as long as records point into it. recv gives a frame
//  whose bytes libzmq kept inside the zmq_msg_t (a small one) a buffer of its own, so views
//  into data() stay valid when the Frame, or the Message holding it, moves.
class Frame {
public:
    Frame() { zmq_msg_init(&msg_); }
    ~Frame() { zmq_msg_close(&msg_); }
    Frame(Frame&& other) noexcept {
        zmq_msg_init(&msg_);
        zmq_msg_move(&msg_, &other.msg_);
    }
    Frame& operator=(Frame&& other) noexcept {
        if (this != &other) zmq_msg_move(&msg_, &other.msg_);
        return *this;
    }
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;
    zmq_msg_t* get() { return &msg_; }
    const uint8_t* data() const { return (const uint8_t*)zmq_msg_data((zmq_msg_t*)&msg_); }
    size_t size() const { return zmq_msg_size((zmq_msg_t*)&msg_); }

private:
    zmq_msg_t msg_;
};

struct GroupRecord {
    Uuid id;
    std::string name;
    std::string endpoint; //  where its group server is reached
    Key server_key;       //  that group server's public key: connect only to it
    uint8_t policy = 0;   //  0 open, 1 members
    uint32_t member_count = 0;
};

//  One stored message. sender_name and body point into memory the Message's owner keeps
//  alive: the received frame (decode), or the caller's buffers (encode).
struct MessageRecord {
    uint64_t seq = 0;
    uint64_t timestamp = 0;
    Key sender;
    Uuid msg_id;
    std::string_view sender_name;
    std::string_view body;
};

//  One message record of a received MESSAGES or DELIVER frame, read where it is in the frame
//  (decode with views checked it), with its sender's record in the frame's list of senders:
//  two pointers, where a MessageRecord is 96 bytes copied out. The frame must outlive it. The
//  record is, in wire order: seq number 8, timestamp number 8, sender number 2 (its place in
//  the senders list), msg_id uuid, body body; a sender is key, then sender_name string.
class MessageView {
public:
    MessageView() = default;
    MessageView(const uint8_t* at, const uint8_t* sender) : at_(at), sender_(sender) {}
    uint64_t seq() const { return number8(at_); }
    uint64_t timestamp() const { return number8(at_ + 8); }
    //  kKeySize bytes
    const uint8_t* sender() const { return sender_; }
    //  16 bytes
    const uint8_t* msg_id() const { return at_ + kMsgIdAt; }
    std::string_view sender_name() const {
        return std::string_view((const char*)sender_ + kKeySize + 1, sender_[kKeySize]);
    }
    std::string_view body() const {
        const uint8_t* length = at_ + kMsgIdAt + 16;
        uint32_t size = (uint32_t)length[0] << 24 | (uint32_t)length[1] << 16 |
                        (uint32_t)length[2] << 8 | length[3];
        return std::string_view((const char*)length + 4, size);
    }
    //  A copy of the fields (sender_name and body still point into the frame).
    MessageRecord record() const;
    //  The record's sender: its place in the senders list, and (decode) that sender's record.
    uint16_t sender_place() const { return (uint16_t)(at_[kSenderAt] << 8 | at_[kSenderAt + 1]); }
    void set_sender(const uint8_t* sender) { sender_ = sender; }

    static constexpr size_t kSenderAt = 16;    //  the record's sender number
    static constexpr size_t kMsgIdAt = 16 + 2; //  its msg_id

private:
    static uint64_t number8(const uint8_t* at) {
        uint64_t value = 0;
        for (size_t i = 0; i < 8; i++)
            value = value << 8 | at[i];
        return value;
    }
    const uint8_t* at_ = nullptr;
    const uint8_t* sender_ = nullptr;
};

//  One message of a SEND: body points into the frame or the caller's buffer, as above.
struct SendRecord {
    Uuid msg_id;
    std::string_view body;
};

//  The outcome of one SendRecord, in the same order.
struct SentRecord {
    uint16_t status = kStatusOk; //  200 stored (or stored before: a repeated msg_id)
    uint64_t seq = 0;
    uint64_t timestamp = 0;
};

struct MemberRecord {
    Key key;
    std::string name; //  empty for a key allowed in that has not joined
    uint8_t role = 0; //  see Role
};

enum Role : uint8_t {
    kRoleMember = 0,  //  a member
    kRoleOwner = 1,   //  the owner (a member)
    kRoleAllowed = 2, //  allowed in by the owner, not joined (yet)
};

//  FOLLOW: a group and the last seq the user has; FOLLOWING and MEMBERSHIP answers: a
//  group, its status (200 or an ERROR code) and its last seq.
struct FollowRecord {
    std::string group;
    uint16_t status = kStatusOk;
    uint64_t seq = 0;
};

//  One zgm_proto message. Which fields are on the wire depends on id (see proto.cc);
//  the others are ignored by encode and left default by decode. A decoded message owns
//  the frame its views point into (move-only).
struct Message {
    uint8_t id = 0;
    uint32_t request_id = 0;
    //  The header's version, as decoded: another than kVersion only with kBadVersion (the
    //  header's id and request_id are read then, nothing else). encode writes kVersion.
    uint8_t version = kVersion;

    uint16_t status = 0;                 //  ERROR
    uint32_t retry_ms = 0;               //  ERROR: when to try again (429, 503), else 0
    std::string reason;                  //  ERROR
    std::string endpoint;                //  REGISTER HEARTBEAT GROUP
    uint8_t accept_new = 0;              //  REGISTER HEARTBEAT (0 or 1)
    Uuid group_id;                       //  REGISTER GROUP JOINED
    std::string group;                   //  group name: most messages
    uint32_t member_count = 0;           //  REGISTER GROUP: the group's members
    uint32_t group_count = 0;            //  HEARTBEAT: the groups registered
    uint32_t hosted_count = 0;           //  HEARTBEAT: the groups hosted, all told
    Key key;                             //  GROUP: server key; HOST MEMBER_LIST: owner;
                                         //  ADD REMOVE GIVE: the key acted on
    uint8_t policy = 0;                  //  CREATE HOST GROUP POLICY MEMBER_LIST (0 or 1)
    std::string name;                    //  JOIN: the user's display name
    uint64_t after_seq = 0;              //  FETCH
    uint64_t before_seq = 0;             //  FETCH (0: no bound)
    uint64_t first_seq = 0;              //  MESSAGES
    uint64_t last_seq = 0;               //  JOINED MESSAGES
    uint64_t since_us = 0;               //  FETCH
    uint64_t until_us = 0;               //  FETCH (0: no bound)
    std::string after;                   //  LIST STATS MEMBERSHIPS MEMBERSHIP_LIST: the page
                                         //  starts after this group; MEMBERS MEMBER_LIST:
                                         //  where the next page starts
    uint32_t limit = 0;                  //  FETCH LIST
    uint8_t newest = 0;                  //  FETCH (0 or 1)
    uint8_t more = 0;                    //  MESSAGES GROUPS MEMBER_LIST MEMBERSHIP_LIST
                                         //  STATS_REPORT (0 or 1)
    uint8_t complete = 0;                //  GROUPS: 1 once the registry knows every live group
    uint64_t missed = 0;                 //  MESSAGES: asked for, but trimmed by retention
    uint64_t max_count = 0;              //  RETAIN (0: no limit)
    uint64_t max_bytes = 0;              //  RETAIN
    uint64_t max_age_ms = 0;             //  RETAIN
    uint64_t token = 0;                  //  MARK RECEIPT
    std::string report;                  //  STATS_REPORT: tab-separated lines (at most kMaxBody)
    std::vector<GroupRecord> groups;     //  GROUPS
    std::vector<MessageRecord> messages; //  MESSAGES DELIVER (decoded without views)
    std::vector<MessageView> views;      //  MESSAGES DELIVER (decoded with views)
    Uuid after_msg_id;                   //  SEND: store only after this message (nil: none)
    std::vector<SendRecord> sends;       //  SEND
    std::vector<SentRecord> sent;        //  SENT
    std::vector<MemberRecord> members;   //  MEMBER_LIST
    std::vector<FollowRecord> follows;   //  FOLLOW FOLLOWING MEMBERSHIPS(reply)

    Frame frame; //  what a received message's views point into

    Message() = default;
    Message(Message&&) = default;
    Message& operator=(Message&&) = default;
};

//  Why a decode failed; each malformation has its own code.
enum class DecodeError {
    kOk = 0,
    kNoFrame,       //  nothing to decode (or an empty frame)
    kSurplusFrames, //  more frames than the protocol allows
    kFrameTooLarge, //  over kMaxFrame
    kTruncated,     //  ends before a field does
    kBadSignature,  //  not zgm_proto
    kBadVersion,    //  zgm_proto of another version
    kUnknownId,     //  no such message id
    kTrailing,      //  bytes left over after the last field
    kStringTooLong, //  a body over kMaxBody
    kListTooLong,   //  a list over kMaxList
    kBadValue,      //  a flag other than 0 or 1, a role over 2, a NUL inside a string, or a
                    //  record's sender past the senders list
};

const char* decode_error_text(DecodeError error);

//  Malformed input received, by the decode error that refused it: for STATS.
class MalformedCounts {
public:
    static constexpr int kFirst = (int)DecodeError::kNoFrame;
    static constexpr int kLast = (int)DecodeError::kBadValue;
    void note(DecodeError error) {
        if ((int)error >= kFirst && (int)error <= kLast) counts_[(int)error]++;
    }
    //  Every decode error's text (decode_error_text) with its count, 0 included.
    std::vector<std::pair<std::string, uint64_t>> by_reason() const {
        std::vector<std::pair<std::string, uint64_t>> out;
        for (int error = kFirst; error <= kLast; error++)
            out.emplace_back(decode_error_text((DecodeError)error), counts_[error]);
        return out;
    }

private:
    uint64_t counts_[kLast + 1] = {};
};
//  The message's name as in docs/protocol.md ("JOIN"), or "UNKNOWN".
const char* message_name(uint8_t id);
//  True if id is a message of zgm_proto.
bool is_known_id(uint8_t id);

//  The encoded size of msg, or 0 if a field is over its limit (see encode).
size_t encoded_size(const Message& msg);
//  The encoded size of one record of a MESSAGES or DELIVER list, its sender apart (the
//  frame's senders list holds each sender once), or 0 if a field is over its limit.
size_t encoded_size(const MessageRecord& record);
//  The encoded size of one record of a GROUPS list, or 0 if a field is over its limit.
size_t encoded_size(const GroupRecord& record);
//  The encoded size of one record of a FOLLOW, FOLLOWING or MEMBERSHIP_LIST list, or 0.
size_t encoded_size(const FollowRecord& record);
//  The encoded size of one record of a MEMBER_LIST list, or 0.
size_t encoded_size(const MemberRecord& record);
//  Writes msg to `out` (resized); false, with out empty, if a field exceeds its limit, holds
//  what decode would reject (a NUL in a string, a flag over 1), or the id is unknown.
bool encode(const Message& msg, std::string* out);
//  Writes msg into buffer, which must hold encoded_size(msg) bytes.
void encode_into(const Message& msg, uint8_t* buffer, size_t size);
//  One past the last record of the DELIVER frame that starts at records[begin]: the frame
//  takes records until they and each of their senders' records, counted once, come to
//  kDeliverBytes, or until it holds kMaxList.
size_t deliver_frame_end(const std::vector<MessageRecord>& records, size_t begin);

//  Decodes one frame. Views (MessageRecord, SendRecord) point into data, which the caller
//  keeps alive. On failure msg->id and msg->request_id hold what the header said, if it got
//  that far (so the caller can answer ERROR with the right request id). With views, the
//  records of MESSAGES and DELIVER go into msg->views (checked as for msg->messages, which
//  stays empty) rather than being copied out.
DecodeError decode(const uint8_t* data, size_t size, Message* msg, bool views = false);

//  The ERROR status a server answers a request that failed to decode with: 426 for another
//  version, 413 for a body or frame over the limits, 400 for anything else.
uint16_t error_status(DecodeError error);

//  The senders of one MESSAGES or DELIVER frame: each (key, sender_name) once, in the order
//  first added; a record names its sender by its place here. Holds copies of both.
class SenderTable {
public:
    //  The place of (key, name), or -1 if it is not here.
    int find(const uint8_t* key, std::string_view name) const;
    //  Its place, added at the end when new.
    uint16_t add(const uint8_t* key, std::string_view name);
    size_t size() const { return entries_.size(); }
    const uint8_t* key(size_t place) const { return entries_[place].key.bytes; }
    std::string_view name(size_t place) const { return entries_[place].name; }
    //  What the list takes encoded: its count, then each key and name string.
    size_t bytes() const { return bytes_; }
    void clear();

private:
    struct Entry {
        Key key;
        std::string name;
    };
    static constexpr size_t kScanned = 8; //  found by a scan up to this many, then by a map
    static std::string map_key(const uint8_t* key, std::string_view name);
    std::vector<Entry> entries_;
    std::unordered_map<std::string, uint16_t> places_; //  once past kScanned
    mutable size_t last_ = 0;                          //  the place found last
    size_t bytes_ = 4;
};

//  Builds one MESSAGES frame record by record, straight from the store's buffers: the
//  header fields that are known only at the end (more, missed, ...) are written last, and
//  the senders list after the records.
class MessagesWriter {
public:
    MessagesWriter(uint32_t request_id, const std::string& group);
    ~MessagesWriter();
    MessagesWriter(const MessagesWriter&) = delete;
    MessagesWriter& operator=(const MessagesWriter&) = delete;
    //  False (and nothing added) if the record would take the frame over kMaxFrame or the
    //  list over kMaxList, or a field is over its limit or holds what decode rejects (as
    //  encode); always false for a group encode would refuse.
    bool add(uint64_t seq, uint64_t timestamp, const uint8_t* sender, const Uuid& msg_id,
             std::string_view sender_name, std::string_view body);
    size_t count() const { return count_; }
    //  Fills in the trailer fields and hands the frame over (frame need not be initialised).
    //  The writer is then empty: it builds the next frame of the same request id and group.
    //  False, with frame an empty message and the records kept, if the group is one encode
    //  would refuse or libzmq has no memory for the frame.
    bool finish(uint64_t first_seq, uint64_t last_seq, bool more, uint64_t missed,
                zmq_msg_t* frame);

private:
    void start();
    bool reserve(size_t size);
    uint32_t request_id_;
    std::string group_;
    bool group_ok_;
    uint8_t* data_ = nullptr; //  malloc'd; the frame takes it over
    size_t size_ = 0;         //  bytes written (0: no memory for the header)
    size_t capacity_ = 0;
    size_t fixed_at_ = 0; //  where first_seq starts
    uint32_t count_ = 0;
    SenderTable senders_;
};

//  Socket helpers over libzmq: one message a call.
//  Sends msg, prefixed with routing_id when not empty (ROUTER). flags as zmq_send
//  (ZMQ_DONTWAIT). Returns 0 (and the frame's size in *sent_bytes, when given), or -1 with
//  errno set (EINVAL for a message over limits).
int send(void* socket, const std::string& routing_id, const Message& msg, int flags = 0,
         size_t* sent_bytes = nullptr);
//  Sends ERROR (status, why cut to kMaxString, retry_ms) without waiting: a peer that is
//  gone or cannot take more loses only the error. Returns as send.
int send_error(void* socket, const std::string& routing_id, uint32_t request_id, uint16_t status,
               const std::string& why, uint32_t retry_ms = 0, size_t* sent_bytes = nullptr);
//  Receives and decodes one message into msg, which then owns the frame. With `router`, the
//  first frame is the routing id. Always reads every frame of the multipart message, even a
//  bad one. Returns kOk, the decode error, or kNoFrame: with errno set (EAGAIN: nothing
//  waiting) if nothing could be read, with errno 0 if a message was read but held no frame
//  to decode. With `peer` not NULL, *peer is the ZAP User-Id of the connection the message
//  came on (the sender's key in Z85; empty when the connection was not authenticated).
//  With views, MESSAGES and DELIVER records are decoded as views (see decode).
//  On kNoFrame with EAGAIN, msg is left as it was; otherwise it is reset or decoded.
DecodeError recv(void* socket, bool router, std::string* routing_id, Message* msg, int flags = 0,
                 std::string* peer = nullptr, bool views = false);
//  What a client does with a MARK it read (net/receipts.h): returns its token in RECEIPT on
//  socket (its DEALER), without waiting. False, and nothing sent, if msg is not a MARK.
bool return_mark(void* socket, const Message& msg);

} // namespace proto
} // namespace zgm

#endif
