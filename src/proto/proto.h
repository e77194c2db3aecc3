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
    bytes, and a list is a 4-byte count (at most kMaxList) of records.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_PROTO_PROTO_H
#define ZGM_PROTO_PROTO_H

#include "core/uuid.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace zgm {
namespace proto {

constexpr uint16_t kSignature = 0xAAA0 | 1;
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 8;

//  Limits a decoder enforces and an encoder refuses to exceed.
constexpr size_t kMaxString = 255;            //  string fields (names, endpoints, reasons)
constexpr size_t kMaxBody = 64 * 1024;        //  one message body
constexpr uint32_t kMaxList = 10000;          //  records in one list
constexpr size_t kMaxFrame = 4 * 1024 * 1024; //  one encoded message
//  A group server fills a MESSAGES or DELIVER batch up to about this many body bytes.
constexpr size_t kBatchBytes = 256 * 1024;

enum MessageId : uint8_t {
    //  Replies to any request.
    kError = 1,
    kOk = 2,
    //  Registry protocol.
    kRegister = 10,   //  group server -> registry: one group it serves (idempotent)
    kHeartbeat = 11,  //  group server -> registry: still alive
    kDeregister = 12, //  group server -> registry: stopping cleanly
    kList = 13,       //  user -> registry
    kGroups = 14,     //  registry -> user: reply to LIST
    kCreate = 15,     //  user -> registry: place a new group on some group server
    kCreated = 16,    //  registry -> user: reply to CREATE
    kHost = 17,       //  registry -> group server: host this new group
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
    kDeliver = 41, //  group server -> member: new messages, pushed
};

//  ERROR status codes: 4xx the requester's fault, 5xx the server's.
enum Status : uint16_t {
    kBadRequest = 400,  //  malformed message
    kNotMember = 403,   //  the user is not a member of the group
    kNotFound = 404,    //  unknown group, unknown group server
    kConflict = 409,    //  name taken, already a member
    kTooLarge = 413,    //  body over kMaxBody
    kInvalid = 422,     //  a field's value is not acceptable (empty or bad name...)
    kBadVersion = 426,  //  another protocol version
    kRateLimited = 429, //  too many requests
    kInternal = 500,
    kUnavailable = 503, //  shutting down, or no group server accepts new groups
    kStorage = 507,     //  the store failed (disk full, I/O error); nothing was stored
};

struct GroupRecord {
    Uuid id;
    std::string name;
    std::string endpoint;
    uint32_t members = 0;
};

struct MessageRecord {
    uint64_t seq = 0;
    uint64_t ts_us = 0;
    Uuid sender;
    std::string sender_name;
    std::string body;
};

struct MemberRecord {
    Uuid id;
    std::string name;
};

//  One zgm_proto message. Which fields are on the wire depends on id (see proto.cc);
//  the others are ignored by encode and left default by decode.
struct Message {
    uint8_t id = 0;
    uint32_t request_id = 0;

    uint16_t status = 0;             //  ERROR
    std::string reason;              //  ERROR
    Uuid server;                     //  REGISTER HEARTBEAT DEREGISTER
    std::string endpoint;            //  REGISTER HEARTBEAT CREATED
    uint8_t accept_new = 0;          //  REGISTER HEARTBEAT (0 or 1)
    Uuid group_id;                   //  REGISTER CREATED JOINED
    std::string group;               //  group name: most messages
    uint32_t count = 0;              //  REGISTER: members of the group; HEARTBEAT: groups served
    Uuid user;                       //  every user request
    std::string name;                //  JOIN: the user's display name
    Uuid msg_id;                     //  SEND
    std::string body;                //  SEND
    uint64_t seq = 0;                //  SENT
    uint64_t ts_us = 0;              //  SENT
    uint64_t since_us = 0;           //  FETCH
    uint64_t after_seq = 0;          //  FETCH FOLLOW
    uint32_t limit = 0;              //  FETCH
    uint64_t first_seq = 0;          //  MESSAGES
    uint64_t last_seq = 0;           //  MESSAGES JOINED FOLLOWING
    uint8_t more = 0;                //  MESSAGES (0 or 1)
    uint8_t truncated = 0;           //  MESSAGES (0 or 1)
    std::vector<GroupRecord> groups; //  GROUPS
    std::vector<MessageRecord> messages; //  MESSAGES DELIVER
    std::vector<MemberRecord> members;   //  MEMBER_LIST
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
    kBadValue,      //  a flag other than 0 or 1, or a NUL inside a string
};

const char* decode_error_text(DecodeError error);
//  The message's name as in docs/protocol.md ("JOIN"), or "UNKNOWN".
const char* message_name(uint8_t id);
//  True if id is a message of zgm_proto.
bool is_known_id(uint8_t id);

//  The encoded size of msg, or 0 if a field is over its limit (see encode).
size_t encoded_size(const Message& msg);
//  Writes msg to `out` (resized); false, with out empty, if a field exceeds its limit, holds
//  what decode would reject (a NUL in a string, a flag over 1), or the id is unknown.
bool encode(const Message& msg, std::string* out);
//  Writes msg into buffer, which must hold encoded_size(msg) bytes.
void encode_into(const Message& msg, uint8_t* buffer, size_t size);

//  Decodes one frame. On failure msg->id and msg->request_id hold what the header said, if
//  it got that far (so the caller can answer ERROR with the right request id).
DecodeError decode(const uint8_t* data, size_t size, Message* msg);

//  The ERROR status a server answers a request that failed to decode with: 426 for another
//  version, 413 for a body or frame over the limits, 400 for anything else.
uint16_t error_status(DecodeError error);

//  Socket helpers over libzmq: one message a call.
//  Sends msg, prefixed with routing_id when not empty (ROUTER). flags as zmq_send
//  (ZMQ_DONTWAIT). Returns 0, or -1 with errno set (EINVAL for a message over limits).
int send(void* socket, const std::string& routing_id, const Message& msg, int flags = 0);
//  Sends ERROR (status, why, cut to kMaxString) without waiting: a peer that is gone or
//  cannot take more loses only the error.
int send_error(void* socket, const std::string& routing_id, uint32_t request_id, uint16_t status,
               const std::string& why);
//  Receives and decodes one message. With `router`, the first frame is the routing id.
//  Always reads every frame of the multipart message, even a bad one. Returns kOk, the
//  decode error, or kNoFrame: with errno set (EAGAIN: nothing waiting) if nothing could be
//  read, with errno 0 if a message was read but held no frame to decode.
DecodeError recv(void* socket, bool router, std::string* routing_id, Message* msg, int flags = 0);

} // namespace proto
} // namespace zgm

#endif
