/*  =========================================================================
    zgm.h - ZeroMQ group messaging for small machines: the public C API

    Three roles, each a CZMQ actor behind an opaque object:
      zgm_registry_t  keeps the live list of groups and where each is served
      zgm_group_t     a group server: hosts groups, their members and messages
      zgm_user_t      a user: joins groups, sends, fetches, receives live messages
    The same objects work as threads of one process or in separate processes on
    separate hosts; only the endpoints differ (inproc://, ipc://, tcp://).

    Conventions (CZMQ CLASS, RFC 21): constructors return NULL on failure; destructors take
    the address of the pointer, set it to NULL and are safe to call twice; other calls return
    0 or -1, and after a failure zgm_errno () and zgm_strerror () say why (per thread).
    A returned pointer that the caller must free says so.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_H_INCLUDED
#define ZGM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#if defined(ZGM_BUILDING)
#define ZGM_EXPORT __attribute__((visibility("default")))
#else
#define ZGM_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ZGM_VERSION_MAJOR 0
#define ZGM_VERSION_MINOR 1
#define ZGM_VERSION_PATCH 0

//  Limits of the protocol (docs/protocol.md).
#define ZGM_MAX_NAME 64          //  group and user names, in bytes
#define ZGM_MAX_BODY 65536       //  one message body, in bytes
#define ZGM_DEFAULT_TIMEOUT 5000 //  milliseconds a call waits for a server by default

//  The registry's default endpoint, for servers and users.
#define ZGM_REGISTRY_ENDPOINT "tcp://127.0.0.1:5570"
#define ZGM_REGISTRY_BIND "tcp://*:5570"

//  Error codes of zgm_errno ().
typedef enum {
    ZGM_OK = 0,
    ZGM_EINVAL = 1,         //  a bad argument (empty or over-long name, NULL, ...)
    ZGM_ETIMEOUT = 2,       //  no answer from the server in time
    ZGM_ENOTMEMBER = 3,     //  the user is not a member of the group
    ZGM_ENOTFOUND = 4,      //  no such group
    ZGM_EEXISTS = 5,        //  the group name is taken
    ZGM_EALREADY = 6,       //  already a member
    ZGM_ETOOLARGE = 7,      //  the body is over ZGM_MAX_BODY
    ZGM_EPROTO = 8,         //  a peer sent something malformed or of another version
    ZGM_ESTORAGE = 9,       //  the group server could not store the message; it is not stored
    ZGM_EUNAVAILABLE = 10,  //  the server is shutting down, or no group server takes new groups
    ZGM_ENOTCONNECTED = 11, //  no registry endpoint was given
    ZGM_ESYSTEM = 12,       //  a local failure (memory, sockets, files)
    ZGM_ESERVER = 13        //  any other error the server reported
} zgm_error_t;

//  The error code of the last failed call in this thread.
ZGM_EXPORT int zgm_errno(void);
//  A readable explanation of the last failure in this thread (valid until the next call).
ZGM_EXPORT const char* zgm_strerror(void);
//  Prints every notable event of the actors in this process to stderr (1) or not (0, the
//  default for the library; the zgm program turns it on for servers).
ZGM_EXPORT void zgm_set_verbose(int verbose);

//  ---------------------------------------------------------------------------------------
//  zgm_msg_t: one message of a group, as stored by its group server.

typedef struct _zgm_msg_t zgm_msg_t;

ZGM_EXPORT const char* zgm_msg_group(const zgm_msg_t* self);
//  The group's sequence number: gapless from 1.
ZGM_EXPORT uint64_t zgm_msg_seq(const zgm_msg_t* self);
//  When the group server stored it: microseconds since the epoch, UTC.
ZGM_EXPORT uint64_t zgm_msg_timestamp(const zgm_msg_t* self);
//  The sender's user id: 32 hex digits.
ZGM_EXPORT const char* zgm_msg_sender(const zgm_msg_t* self);
ZGM_EXPORT const char* zgm_msg_sender_name(const zgm_msg_t* self);
ZGM_EXPORT const void* zgm_msg_body(const zgm_msg_t* self);
ZGM_EXPORT size_t zgm_msg_size(const zgm_msg_t* self);
ZGM_EXPORT void zgm_msg_destroy(zgm_msg_t** self_p);

//  A list of messages, in sequence order, returned by zgm_user_fetch.
typedef struct _zgm_msglist_t zgm_msglist_t;
ZGM_EXPORT size_t zgm_msglist_size(const zgm_msglist_t* self);
//  The message at index; the list keeps ownership.
ZGM_EXPORT const zgm_msg_t* zgm_msglist_get(const zgm_msglist_t* self, size_t index);
//  1 if the fetch reached below the messages the group still keeps (some were trimmed by
//  retention), else 0.
ZGM_EXPORT int zgm_msglist_truncated(const zgm_msglist_t* self);
ZGM_EXPORT void zgm_msglist_destroy(zgm_msglist_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_registry_t: the registry.

typedef struct _zgm_registry_t zgm_registry_t;

ZGM_EXPORT zgm_registry_t* zgm_registry_new(void);
//  Binds an endpoint ("tcp://*:5570", "tcp://127.0.0.1:*", "inproc://registry").
//  Returns the bound TCP port (0 for other transports), or -1.
ZGM_EXPORT int zgm_registry_bind(zgm_registry_t* self, const char* endpoint);
//  A group server silent for this long is dropped from the list (default 3000 ms).
ZGM_EXPORT void zgm_registry_set_expiry(zgm_registry_t* self, int msecs);
ZGM_EXPORT void zgm_registry_destroy(zgm_registry_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_group_t: a group server.

typedef struct _zgm_group_t zgm_group_t;

//  Opens the store in data_dir (created if missing; SQLite, `zgm.db`), or a volatile
//  in-memory store when data_dir is NULL. Groups and members already in the store are
//  served again.
ZGM_EXPORT zgm_group_t* zgm_group_new(const char* data_dir);
//  Hosts a group (created in the store if new). Returns 0 or -1.
ZGM_EXPORT int zgm_group_add(zgm_group_t* self, const char* name);
//  Binds the endpoint users reach it at; returns the bound TCP port (0 otherwise) or -1.
ZGM_EXPORT int zgm_group_bind(zgm_group_t* self, const char* endpoint);
//  The endpoint the registry hands to users. By default the bound endpoint, with a
//  wildcard address replaced by the local address the registry connection uses.
ZGM_EXPORT void zgm_group_set_advertise(zgm_group_t* self, const char* endpoint);
//  Whether the registry may place new groups here (zgm_user_create). Default 0.
ZGM_EXPORT void zgm_group_set_accept_new(zgm_group_t* self, int accept_new);
//  Interval between heartbeats to the registry (default 1000 ms).
ZGM_EXPORT void zgm_group_set_heartbeat(zgm_group_t* self, int msecs);
//  "full" (fsync every commit, the default) or "normal". Call before zgm_group_add.
ZGM_EXPORT int zgm_group_set_durability(zgm_group_t* self, const char* durability);
//  Registers every hosted group with the registry and keeps them alive. Returns 0 once the
//  registry accepted them, -1 if it refused (ZGM_EEXISTS: a name is served by another live
//  group server) or did not answer in time (ZGM_ETIMEOUT; the group server keeps trying).
ZGM_EXPORT int zgm_group_connect_registry(zgm_group_t* self, const char* endpoint);
//  Deregisters (when connected) and stops.
ZGM_EXPORT void zgm_group_destroy(zgm_group_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_user_t: a user.

typedef struct _zgm_user_t zgm_user_t;

//  A user with a display name and a new random id.
ZGM_EXPORT zgm_user_t* zgm_user_new(const char* name);
//  A user with a given id (32 hex digits), so separate runs act as the same user.
ZGM_EXPORT zgm_user_t* zgm_user_new_with_id(const char* name, const char* id);
//  The user's id: 32 hex digits.
ZGM_EXPORT const char* zgm_user_id(const zgm_user_t* self);
ZGM_EXPORT const char* zgm_user_name(const zgm_user_t* self);
//  How long each call waits for a server (default ZGM_DEFAULT_TIMEOUT ms).
ZGM_EXPORT void zgm_user_set_timeout(zgm_user_t* self, int msecs);
//  Connects to the registry. Returns 0 (the connection completes in the background).
ZGM_EXPORT int zgm_user_connect(zgm_user_t* self, const char* registry_endpoint);

//  A group as the registry lists it.
typedef struct {
    char id[33]; //  the group's id: 32 hex digits
    char name[ZGM_MAX_NAME + 1];
    char endpoint[256]; //  the group server that serves it
    uint32_t members;
} zgm_group_info_t;

//  The live groups: an array of *count entries, which the caller frees with free ().
//  Returns NULL with *count 0 on failure (an empty list is a non-NULL array, count 0).
ZGM_EXPORT zgm_group_info_t* zgm_user_groups(zgm_user_t* self, size_t* count);
//  Asks the registry to create a group on a group server that accepts new groups.
ZGM_EXPORT int zgm_user_create(zgm_user_t* self, const char* group);
//  Joins a group (ZGM_EALREADY if a member already) and follows it: its new messages
//  arrive through zgm_user_recv.
ZGM_EXPORT int zgm_user_join(zgm_user_t* self, const char* group);
//  Leaves a group (ZGM_ENOTMEMBER if not a member).
ZGM_EXPORT int zgm_user_leave(zgm_user_t* self, const char* group);
//  after_seq for zgm_user_follow: from the group's current end (only messages sent from now).
#define ZGM_FOLLOW_NOW UINT64_MAX

//  Follows a group the user is a member of (joined earlier, maybe by another process with
//  the same id): messages with seq > after_seq arrive through zgm_user_recv.
ZGM_EXPORT int zgm_user_follow(zgm_user_t* self, const char* group, uint64_t after_seq);
//  Sends a message; returns 0 once the group server has stored it durably, and sets
//  *seq and *timestamp (either may be NULL) to what it stamped.
ZGM_EXPORT int zgm_user_send(zgm_user_t* self, const char* group, const void* data, size_t size,
                             uint64_t* seq, uint64_t* timestamp);
//  Messages with timestamp >= since_us (0: from the first) and seq > after_seq, in
//  sequence order, at most limit (0: all). The caller destroys the list. NULL on failure.
ZGM_EXPORT zgm_msglist_t* zgm_user_fetch(zgm_user_t* self, const char* group, uint64_t since_us,
                                         uint64_t after_seq, size_t limit);
//  The members of a group as (id, name) pairs: an array of 2 * *count strings in one
//  allocation, freed with free (). NULL on failure.
ZGM_EXPORT char** zgm_user_members(zgm_user_t* self, const char* group, size_t* count);
//  The next live message of a followed group, waiting up to timeout_ms (-1: forever).
//  Every message arrives once and in order per group: the user catches up by itself after
//  dropped pushes, reconnects and group server restarts. NULL on timeout (ZGM_ETIMEOUT).
ZGM_EXPORT zgm_msg_t* zgm_user_recv(zgm_user_t* self, int timeout_ms);
//  The last sequence number delivered by zgm_user_recv for a group (0 if none).
ZGM_EXPORT uint64_t zgm_user_last_seq(zgm_user_t* self, const char* group);
//  A socket that becomes readable when live messages are waiting, for zpoller or zmq_poll
//  (a zsock_t *). Messages arrive in batches: once it is readable, call
//  zgm_user_recv (self, 0) until it returns NULL.
ZGM_EXPORT void* zgm_user_socket(zgm_user_t* self);
ZGM_EXPORT void zgm_user_destroy(zgm_user_t** self_p);

#ifdef __cplusplus
}
#endif

#endif
