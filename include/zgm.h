/*  =========================================================================
    zgm.h - ZeroMQ group messaging for small machines: the public C API

    Three roles, each a CZMQ actor behind an opaque object:
      zgm_registry_t  keeps the live list of groups and where each is served
      zgm_server_t    a group server: hosts groups, their members and messages
      zgm_user_t      a user: joins groups, sends, fetches, receives live messages
    The same objects work as threads of one process or in separate processes on
    separate hosts; only the endpoints differ (ipc://, tcp://; not inproc://, which has no
    security handshake: a bind or connect to it fails with ZGM_EINVAL).

    Every connection is encrypted and authenticated with CURVE: each object has a key
    pair, and a user is known by its public key (40 characters of Z85 text). A server knows
    who sent a request from the connection, never from what the request says.

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
#define ZGM_VERSION_MINOR 2
#define ZGM_VERSION_PATCH 0

//  Limits of the protocol (docs/protocol.md).
#define ZGM_MAX_NAME 64          //  group and display names, in bytes
#define ZGM_MAX_BODY 65536       //  one message body, in bytes
#define ZGM_KEY_SIZE 41          //  a public key's Z85 text (40 characters) and its NUL
#define ZGM_MSG_ID_SIZE 33       //  a message id's text (32 hex digits) and its NUL
#define ZGM_DEFAULT_TIMEOUT 5000 //  milliseconds a call waits for a server by default

//  The registry's default endpoint, for servers and users.
#define ZGM_REGISTRY_ENDPOINT "tcp://127.0.0.1:5570"
#define ZGM_REGISTRY_BIND "tcp://*:5570"

//  Error codes of zgm_errno ().
typedef enum {
    ZGM_OK = 0,
    ZGM_EINVAL = 1,         //  a bad argument (empty or over-long name, NULL, ...)
    ZGM_ETIMEOUT = 2,       //  no answer in time; nothing was sent that could still take effect
                            //  but a follow, which lapses by itself (10 s)
    ZGM_ENOTMEMBER = 3,     //  the user is not a member of the group (give: the key given it)
    ZGM_ENOTFOUND = 4,      //  no such group
    ZGM_EEXISTS = 5,        //  the group name is taken, or a send's message id is another sender's
    ZGM_EALREADY = 6,       //  already a member
    ZGM_ETOOLARGE = 7,      //  the body is over ZGM_MAX_BODY
    ZGM_EPROTO = 8,         //  a peer of another protocol version, or an answer not expected
    ZGM_ESTORAGE = 9,       //  the group server could not store the message; it is not stored
    ZGM_EUNAVAILABLE = 10,  //  the registry is still learning its groups after a start, the
                            //  group's server is away, or no group server takes new groups
                            //  (or none that does can be reached now)
    ZGM_ENOTCONNECTED = 11, //  no registry endpoint was given
    ZGM_ESYSTEM = 12,       //  a local failure (memory, sockets, files)
    ZGM_ESERVER = 13,       //  any other error a server reported
    ZGM_EINDOUBT = 14,      //  sent, but no answer came (or the server's disk failed to sync
                            //  it): it may have taken effect. A send:
                            //  send it again with the same message id to settle it (stored
                            //  once); a create: create it again (its creator gets the group);
                            //  a join, leave...: call it again
    ZGM_EDENIED = 15,       //  this key may not: not the group's owner (nor the owner
                            //  removing itself), not added to a members-only group, not a
                            //  group server the registry trusts
    ZGM_ELIMIT = 16,        //  a limit of the server is reached (zgm_strerror names it)
    ZGM_ERATE = 17,         //  the server slowed this key down longer than the call may wait
    ZGM_EUNREACHABLE = 18   //  cannot reach the server: connection refused, no route, or the
                            //  handshake refused (a wrong key, or --insecure on one side only)
} zgm_error_t;

//  Who may join a group. A call given any other value fails with ZGM_EINVAL.
typedef enum {
    ZGM_POLICY_OPEN = 0,   //  any authenticated user (the default)
    ZGM_POLICY_MEMBERS = 1 //  only keys the owner added
} zgm_policy_t;

//  A server's limits (zgm_registry_set_limit, zgm_server_set_limit); docs/security.md
//  gives each one's default.
typedef enum {
    ZGM_LIMIT_RATE = 1,             //  requests per second per user key (bursts of twice that)
    ZGM_LIMIT_CONNECTIONS = 2,      //  concurrent connections; set before binding
    ZGM_LIMIT_FRAME = 3,            //  bytes of one frame the server reads; set before binding
    ZGM_LIMIT_GROUPS = 4,           //  groups a group server hosts, or the registry lists
    ZGM_LIMIT_GROUPS_PER_OWNER = 5, //  groups one key may own on a group server
    ZGM_LIMIT_MEMBERS = 6,          //  members (and, apart, keys added) per group
    ZGM_LIMIT_FOLLOWS = 7,          //  groups one key may follow on a group server
    ZGM_LIMIT_FOLLOWER_BYTES = 8,   //  bytes pushed to a follower beyond what it acknowledged
    ZGM_LIMIT_RECENT_BYTES = 9,     //  bytes of the newest messages a SQLite store keeps in
                                    //  memory for fetches (0: none)
    ZGM_LIMIT_UNREAD_BYTES = 10,    //  bytes sent to one connection that it has not shown it
                                    //  read; a group server pushes it nothing from half of
                                    //  them, and past them the server answers it 429 (zgm's
                                    //  users wait and ask again)
    ZGM_LIMIT_UNREAD_TOTAL = 11     //  the same bytes of all connections together, pushes
                                    //  apart; past them each connection may leave only
                                    //  256 KiB unread
} zgm_limit_t;

//  The error code of the last failed call in this thread.
ZGM_EXPORT int zgm_errno(void);
//  A readable explanation of the last failure in this thread (valid until the next call).
ZGM_EXPORT const char* zgm_strerror(void);
//  Prints every notable event of the actors in this process to stderr (1) or not (0, the
//  default for the library; the zgm program turns it on for servers).
ZGM_EXPORT void zgm_set_verbose(int verbose);

//  ---------------------------------------------------------------------------------------
//  Keys. A key pair lives in a CZMQ certificate: FILE holds the public key, FILE_secret both
//  keys (mode 0600).

//  Makes a new key pair at path (path and path_secret); fails (ZGM_EEXISTS) if there is a
//  key pair or any other file at path: nothing is overwritten.
//  With name not NULL it goes into the certificate's metadata.
ZGM_EXPORT int zgm_keygen(const char* path, const char* name);
//  Writes the public key of a certificate file (either file of a pair), or of a key given as
//  its text, into key (ZGM_KEY_SIZE bytes).
ZGM_EXPORT int zgm_key_read(const char* path_or_key, char* key);

//  ---------------------------------------------------------------------------------------
//  zgm_msg_t: one message of a group, as stored by its group server.

typedef struct _zgm_msg_t zgm_msg_t;

ZGM_EXPORT const char* zgm_msg_group(const zgm_msg_t* self);
//  The group's sequence number: gapless from 1.
ZGM_EXPORT uint64_t zgm_msg_seq(const zgm_msg_t* self);
//  When the group server stored it: microseconds since the epoch, UTC.
ZGM_EXPORT uint64_t zgm_msg_timestamp(const zgm_msg_t* self);
//  The sender's key: its public key, 40 characters.
ZGM_EXPORT const char* zgm_msg_sender(const zgm_msg_t* self);
//  The display name the sender's key had in the group when it sent it: the name it joined
//  with (a key keeps that name until it leaves and joins again under another).
ZGM_EXPORT const char* zgm_msg_sender_name(const zgm_msg_t* self);
//  The id the sender gave the message: 32 hex digits.
ZGM_EXPORT const char* zgm_msg_id(const zgm_msg_t* self);
ZGM_EXPORT const void* zgm_msg_body(const zgm_msg_t* self);
ZGM_EXPORT size_t zgm_msg_size(const zgm_msg_t* self);
//  From zgm_user_recv: how many messages of the group just before this one the user will
//  never get, because the group's retention had dropped them while the user was away (0
//  almost always).
ZGM_EXPORT uint64_t zgm_msg_missed(const zgm_msg_t* self);
ZGM_EXPORT void zgm_msg_destroy(zgm_msg_t** self_p);

//  A list of messages, in sequence order, returned by zgm_user_fetch.
typedef struct _zgm_msglist_t zgm_msglist_t;
ZGM_EXPORT size_t zgm_msglist_size(const zgm_msglist_t* self);
//  The message at index; the list keeps ownership.
ZGM_EXPORT const zgm_msg_t* zgm_msglist_get(const zgm_msglist_t* self, size_t index);
//  How many messages the fetch asked for that retention had already dropped: oldest first,
//  between after_seq and the first message of the list; newest first, of the limit newest
//  (at most that many for a fetch bounded by since_us or until_us).
ZGM_EXPORT uint64_t zgm_msglist_missed(const zgm_msglist_t* self);
//  1 if more messages match beyond the limit: newer ones, or older ones for a fetch of the
//  newest (fetch again with before_seq = the first seq here to page backward).
ZGM_EXPORT int zgm_msglist_more(const zgm_msglist_t* self);
ZGM_EXPORT void zgm_msglist_destroy(zgm_msglist_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_registry_t: the registry.

typedef struct _zgm_registry_t zgm_registry_t;

ZGM_EXPORT zgm_registry_t* zgm_registry_new(void);
//  Its key pair, from a certificate file (made there when missing). Without it the registry
//  makes a key pair that lives as long as the object. Before binding.
ZGM_EXPORT int zgm_registry_set_key(zgm_registry_t* self, const char* path);
//  Its public key (40 characters), valid as long as the object.
ZGM_EXPORT const char* zgm_registry_key(zgm_registry_t* self);
//  Speak PLAIN instead of CURVE: no encryption, keys stated and not proven. For tests and
//  benchmarks on a trusted host only. Before binding.
ZGM_EXPORT int zgm_registry_set_insecure(zgm_registry_t* self, int insecure);
//  Trusts a group server's key (its text, or a certificate file) to REGISTER groups.
ZGM_EXPORT int zgm_registry_trust(zgm_registry_t* self, const char* key);
//  Trusts every group server whose certificate (either file of the pair) is in dir. The
//  directory is read again as soon as it changes (a certificate added or removed counts at
//  the server's next request), and every few seconds, so trust changes without a restart.
ZGM_EXPORT int zgm_registry_trust_dir(zgm_registry_t* self, const char* dir);
//  Lets a key (text or certificate file) read the registry's figures (zgm_user_stats), as
//  its own key may.
ZGM_EXPORT int zgm_registry_add_admin(zgm_registry_t* self, const char* key);
//  Binds an endpoint ("tcp://*:5570", "tcp://127.0.0.1:*", "ipc:///run/zgm/registry").
//  Returns the bound TCP port (0 for other transports), or -1.
ZGM_EXPORT int zgm_registry_bind(zgm_registry_t* self, const char* endpoint);
//  A group server silent for this long is dropped from the list (default 3000 ms).
ZGM_EXPORT int zgm_registry_set_expiry(zgm_registry_t* self, int msecs);
//  Sets one of its limits (ZGM_LIMIT_RATE, _CONNECTIONS, _FRAME, _GROUPS, _UNREAD_BYTES,
//  _UNREAD_TOTAL).
ZGM_EXPORT int zgm_registry_set_limit(zgm_registry_t* self, zgm_limit_t limit, uint64_t value);
ZGM_EXPORT void zgm_registry_destroy(zgm_registry_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_server_t: a group server.

typedef struct _zgm_server_t zgm_server_t;

//  Opens the store in data_dir (created if missing; SQLite, `zgm.db`), or a volatile
//  in-memory store when data_dir is NULL. Groups and members already in the store are
//  served again. Fails (ZGM_ESTORAGE) when another group server has the directory. The
//  first SQLite store of a process turns SQLite's memory statistics off
//  (SQLITE_CONFIG_MEMSTATUS), unless the process has started SQLite already.
ZGM_EXPORT zgm_server_t* zgm_server_new(const char* data_dir);
//  Its key pair, from a certificate file (made there when missing). Without it the server
//  makes a key pair that lives as long as the object. Before binding.
ZGM_EXPORT int zgm_server_set_key(zgm_server_t* self, const char* path);
//  Its public key (40 characters), valid as long as the object.
ZGM_EXPORT const char* zgm_server_key(zgm_server_t* self);
//  PLAIN instead of CURVE, as zgm_registry_set_insecure. Before binding.
ZGM_EXPORT int zgm_server_set_insecure(zgm_server_t* self, int insecure);
//  Hosts a group (created in the store if new) with an owner (a key's text or a
//  certificate file; NULL: none) and a policy. For a group that exists, a given owner
//  replaces the stored one; the policy is the owner's to change.
ZGM_EXPORT int zgm_server_add(zgm_server_t* self, const char* group, const char* owner,
                              zgm_policy_t policy);
//  Binds the endpoint users reach it at; returns the bound TCP port (0 otherwise) or -1.
ZGM_EXPORT int zgm_server_bind(zgm_server_t* self, const char* endpoint);
//  The endpoint the registry hands to users. By default the bound endpoint, with a
//  wildcard address replaced by the local address the registry connection uses.
ZGM_EXPORT int zgm_server_set_advertise(zgm_server_t* self, const char* endpoint);
//  Whether the registry may place new groups here (zgm_user_create). Default 0.
ZGM_EXPORT int zgm_server_set_accept_new(zgm_server_t* self, int accept_new);
//  Interval between heartbeats to the registry (default 1000 ms).
ZGM_EXPORT int zgm_server_set_heartbeat(zgm_server_t* self, int msecs);
//  "full" (fsync every commit, the default) or "normal". Call before zgm_server_add,
//  zgm_server_set_retention and zgm_server_bind: once one of them succeeded, ZGM_EINVAL.
ZGM_EXPORT int zgm_server_set_durability(zgm_server_t* self, const char* durability);
//  Lets a key (text or certificate file) read the group server's figures (zgm_user_stats),
//  as its own key may.
ZGM_EXPORT int zgm_server_add_admin(zgm_server_t* self, const char* key);
//  Sets one of its limits.
ZGM_EXPORT int zgm_server_set_limit(zgm_server_t* self, zgm_limit_t limit, uint64_t value);
//  How many messages, body bytes and milliseconds of age a group keeps (0: no limit),
//  oldest dropped first. group NULL sets the server's default, which also bounds what each
//  group's owner may set (a group keeps its own as set: a default raised later no longer
//  bounds it); the default is not stored.
ZGM_EXPORT int zgm_server_set_retention(zgm_server_t* self, const char* group, uint64_t max_count,
                                        uint64_t max_bytes, uint64_t max_age_ms);
//  Registers every hosted group with the registry (whose public key is registry_key; NULL
//  when insecure) and keeps them alive. Returns 0 once the registry accepted them, -1 if it
//  refused (ZGM_EEXISTS: a name is held by another live group server; ZGM_EDENIED: the
//  registry does not trust this server's key; ZGM_ELIMIT: the registry holds its
//  --max-groups) or did not answer in time (ZGM_ETIMEOUT; the group server keeps trying).
ZGM_EXPORT int zgm_server_connect(zgm_server_t* self, const char* endpoint,
                                  const char* registry_key);
//  Deregisters (when connected) and stops.
ZGM_EXPORT void zgm_server_destroy(zgm_server_t** self_p);

//  ---------------------------------------------------------------------------------------
//  zgm_user_t: a user.

typedef struct _zgm_user_t zgm_user_t;

//  A user with a display name and a key pair that lives as long as the object.
ZGM_EXPORT zgm_user_t* zgm_user_new(const char* name);
//  A user whose key pair is the certificate at path (made there when missing), so separate
//  runs act as the same user.
ZGM_EXPORT zgm_user_t* zgm_user_new_with_key(const char* name, const char* path);
//  The user's key: its public key, 40 characters.
ZGM_EXPORT const char* zgm_user_key(const zgm_user_t* self);
ZGM_EXPORT const char* zgm_user_name(const zgm_user_t* self);
//  How long each call waits for a server (default ZGM_DEFAULT_TIMEOUT ms): a call ends at
//  it, within a millisecond or two, and rides out a server restarting within that time. A
//  send whose time runs out while an earlier send to the same group, given a longer
//  timeout, still has no outcome ends with that one (sends are stored in order, docs/api.md).
//  0 or less leaves it as it was.
ZGM_EXPORT void zgm_user_set_timeout(zgm_user_t* self, int msecs);
//  PLAIN instead of CURVE, for servers started insecure. Read by zgm_user_connect: set it
//  before.
ZGM_EXPORT int zgm_user_set_insecure(zgm_user_t* self, int insecure);
//  Connects to the registry whose public key is registry_key (NULL when insecure).
//  Returns 0; the connection completes in the background, and the first call that needs
//  the registry says within about a second if it cannot be reached, and why.
ZGM_EXPORT int zgm_user_connect(zgm_user_t* self, const char* endpoint, const char* registry_key);

//  A group, as the registry lists it.
typedef struct {
    char id[33]; //  the group's id: 32 hex digits
    char name[ZGM_MAX_NAME + 1];
    char endpoint[256];            //  the group server that serves it
    char server_key[ZGM_KEY_SIZE]; //  that group server's public key
    int policy;                    //  a zgm_policy_t
    uint32_t member_count;
} zgm_group_t;

//  Every live group, in name order: an array of *count entries, which the caller frees with
//  free (). NULL with *count 0 on failure (an empty list is a non-NULL array, count 0).
//  A registry that has just restarted is waited for until it knows every group.
ZGM_EXPORT zgm_group_t* zgm_user_groups(zgm_user_t* self, size_t* count);
//  Where one group is served.
ZGM_EXPORT int zgm_user_resolve(zgm_user_t* self, const char* group, zgm_group_t* info);
//  Asks the registry to create a group, owned by this user, on a group server that accepts
//  new groups. Again by its creator, after a lost reply, it succeeds with the same group
//  (if the group has the policy asked for and is still the creator's; ZGM_EEXISTS if not).
//  ZGM_EINVAL at once, nothing sent, for a name that is not 1 to ZGM_MAX_NAME letters,
//  digits, '-', '_' or '.'.
//  A registry that has just started takes it once it knows every group: the call waits.
//  ZGM_EEXISTS: the name is taken (also by a group whose server is away); ZGM_ELIMIT: the
//  registry's --max-groups, or 16 CREATEs of this key under way or in doubt; ZGM_EINDOUBT: the
//  request or the group server's answer to the registry was lost in time, and the group may
//  yet be created: create it again to settle it.
ZGM_EXPORT int zgm_user_create(zgm_user_t* self, const char* group, zgm_policy_t policy);
//  Joins a group (ZGM_EALREADY if a member already, following it all the same) and follows
//  it: its new messages arrive through zgm_user_recv. ZGM_ELIMIT: the group's --max-members,
//  or this key follows --max-follows groups on that group server (then it is not made a
//  member).
ZGM_EXPORT int zgm_user_join(zgm_user_t* self, const char* group);
//  Leaves a group (ZGM_ENOTMEMBER if not a member).
ZGM_EXPORT int zgm_user_leave(zgm_user_t* self, const char* group);
//  after_seq for zgm_user_follow: from the group's current end (only messages sent from now).
#define ZGM_FOLLOW_NOW UINT64_MAX
//  Follows a group the user is a member of (joined earlier, maybe by another process with
//  the same key): messages with seq > after_seq arrive through zgm_user_recv (from the
//  group's end if after_seq is past it: a cursor kept from a store since lost or restored
//  misses nothing to come). A group followed already goes on from the last message handed
//  over when that is later than after_seq, and so does one unfollowed while messages of it
//  handed over still wait to be read (they come first): no message comes twice
//  (zgm_user_fetch reads what came before). A key at the server's
//  --max-follows that follows the group in another process moves that follow here (the two
//  then take it from each other at each refresh, and each catches up by fetching).
ZGM_EXPORT int zgm_user_follow(zgm_user_t* self, const char* group, uint64_t after_seq);
//  Every group the user is a member of, on every live group server, in name order (with
//  the registry's view of each): an array of *count entries freed with free (). Group
//  servers that do not answer, or whose pages do not move on, are skipped from there
//  (zgm_strerror then names them); a 429 or 503 is waited out within the user's timeout.
//  Only the group servers the registry lists are asked: the groups of one stopped for
//  longer than the registry's expiry are missing from the list, and nothing says so.
ZGM_EXPORT zgm_group_t* zgm_user_memberships(zgm_user_t* self, size_t* count);
//  Follows several groups at once (one request per group server for each 2,500 of its
//  groups): group i from after_seqs[i]
//  (or ZGM_FOLLOW_NOW). Returns how many it follows; the groups that could not be followed
//  are skipped, and zgm_strerror names them. -1 if none could be: zgm_errno is the first
//  refusal (ZGM_ENOTMEMBER, ZGM_ENOTFOUND, ...), or ZGM_ETIMEOUT if a server did not answer.
ZGM_EXPORT int zgm_user_follow_many(zgm_user_t* self, const char* const* groups,
                                    const uint64_t* after_seqs, size_t count);
//  Stops following a group: its messages no longer arrive, once those already received (up
//  to 16 MiB waiting to be read) are read (a follow again while some wait goes on after
//  them, zgm_user_follow); its group server stops pushing them and no
//  longer counts the follow toward --max-follows (at once on a live connection, else when
//  the follow lapses, 10 s after its last keep-alive). Membership stays.
ZGM_EXPORT int zgm_user_unfollow(zgm_user_t* self, const char* group);

//  Sends a message; returns 0 once the group server has stored it durably, and sets
//  *seq and *timestamp (either may be NULL) to what it stamped. msg_id is NULL, or a
//  buffer of ZGM_MSG_ID_SIZE bytes: empty ("") to have a new id made and written there, or
//  the id of an earlier send to retry it (stored once, whichever process retries, while
//  retention keeps the first). The id names the message: a send with an id this user
//  already stored in the group is answered with that message's seq, whatever its data.
//  On -1 the message is not stored (refused: ZGM_ENOTMEMBER, ZGM_ESTORAGE, ...), or
//  ZGM_EINDOUBT: it was sent and no answer came in time (or the group server's disk failed
//  to sync it); send again with the same id.
ZGM_EXPORT int zgm_user_send(zgm_user_t* self, const char* group, const void* data, size_t size,
                             char* msg_id, uint64_t* seq, uint64_t* timestamp);
//  Hands a message over and returns at once (it may wait while too many sends are
//  outstanding). Its outcome arrives later through zgm_user_sent. msg_id as for
//  zgm_user_send. Returns -1, with nothing sent, for a bad argument (ZGM_EINVAL: a group name
//  no server takes, too; ZGM_ETOOLARGE) or when 100,000 sends have outcomes not read yet,
//  those still to come included (ZGM_ELIMIT: take them with zgm_user_sent). A send that
//  cannot go (no registry connected: ZGM_ENOTCONNECTED) is handed over and comes back as
//  its outcome.
//  A user's sends to a group are stored in the order handed over, also those that go again
//  (a lost answer, a server restarting, a refusal for the rate): a later one never
//  overtakes them (docs/api.md).
ZGM_EXPORT int zgm_user_send_async(zgm_user_t* self, const char* group, const void* data,
                                   size_t size, char* msg_id);

//  The outcome of an asynchronous send.
typedef struct {
    char msg_id[ZGM_MSG_ID_SIZE];
    char group[ZGM_MAX_NAME + 1];
    uint64_t seq;       //  when stored
    uint64_t timestamp; //  when stored
    int error;          //  0 stored; else a zgm_error_t: refused (not stored), or
                        //  ZGM_EINDOUBT (send again with the same msg_id to settle it)
    char reason[256];   //  what went wrong, for people
} zgm_sent_t;

//  The next outcome of an asynchronous send, waiting up to timeout_ms (-1: forever, 0:
//  not at all). 0 and *sent filled, or -1 with ZGM_ETIMEOUT when none came in time.
ZGM_EXPORT int zgm_user_sent(zgm_user_t* self, zgm_sent_t* sent, int timeout_ms);
//  Waits until every asynchronous send handed over so far has its outcome waiting for
//  zgm_user_sent (or read already). 0, or -1 with ZGM_ETIMEOUT.
ZGM_EXPORT int zgm_user_flush(zgm_user_t* self, int timeout_ms);

//  What zgm_user_fetch selects: messages with since_us <= timestamp < until_us and
//  after_seq < seq < before_seq (0 for until_us and before_seq: no bound), in sequence
//  order; at most limit of them (0: all), the oldest - or with newest, the newest.
typedef struct {
    uint64_t since_us;
    uint64_t until_us;
    uint64_t after_seq;
    uint64_t before_seq;
    size_t limit;
    int newest;
} zgm_fetch_t;

//  The stored messages of a group that query selects (NULL: all). The caller destroys the
//  list. NULL on failure.
ZGM_EXPORT zgm_msglist_t* zgm_user_fetch(zgm_user_t* self, const char* group,
                                         const zgm_fetch_t* query);

//  A member of a group.
typedef struct {
    char key[ZGM_KEY_SIZE]; //  its public key
    char name[ZGM_MAX_NAME + 1];
    int role; //  ZGM_ROLE_*
} zgm_member_t;

#define ZGM_ROLE_MEMBER 0
#define ZGM_ROLE_OWNER 1 //  the owner, a member
#define ZGM_ROLE_ADDED 2 //  added by the owner, not joined (yet); no name

//  The members of a group, in the order they joined, then the keys added that have not
//  joined, by key: an array of *count entries freed with free (). For a member, or the
//  group's owner (joined or not); NULL on failure (ZGM_ENOTMEMBER for anyone else). It comes
//  in pages: a key that joins, leaves, is added or removed meanwhile may or may not be in it.
ZGM_EXPORT zgm_member_t* zgm_user_members(zgm_user_t* self, const char* group, size_t* count);

//  The owner's calls; ZGM_EDENIED for anyone else. key: a public key's text or a
//  certificate file.
//  Lets a key join a members-only group.
ZGM_EXPORT int zgm_user_add(zgm_user_t* self, const char* group, const char* key);
//  Takes a key out: it is no longer a member and stops receiving the group's messages. In a
//  members-only group it cannot join again until added; an open group takes it back.
ZGM_EXPORT int zgm_user_remove(zgm_user_t* self, const char* group, const char* key);
//  Hands ownership of the group to another key, one that joined it (ZGM_ENOTMEMBER
//  otherwise: no key is made owner of a group it did not ask for) and owns fewer than the
//  group server's --max-groups-per-owner groups there (ZGM_ELIMIT).
ZGM_EXPORT int zgm_user_give(zgm_user_t* self, const char* group, const char* key);
ZGM_EXPORT int zgm_user_set_policy(zgm_user_t* self, const char* group, zgm_policy_t policy);
//  How many messages, body bytes and milliseconds of age the group keeps (0: no limit;
//  the group server's own default bounds each).
ZGM_EXPORT int zgm_user_set_retention(zgm_user_t* self, const char* group, uint64_t max_count,
                                      uint64_t max_bytes, uint64_t max_age_ms);

//  The figures of a server - the registry or a group server, at endpoint with its public key
//  (text or certificate file) - as lines of three tab-separated fields: scope ("server",
//  "registry", "group/NAME", "server/KEY", "refused", "malformed"), name, value
//  (docs/protocol.md lists them).
//  Only the server's own key and the keys it names as --admin may ask: run it as a user
//  made with the server's certificate. The caller frees the text with free (). NULL on
//  failure (ZGM_EDENIED for any other key).
ZGM_EXPORT char* zgm_user_stats(zgm_user_t* self, const char* endpoint, const char* key);

//  The next live message of a followed group, waiting up to timeout_ms (-1: forever).
//  Every message arrives once and in order per group: the user catches up by itself after
//  dropped pushes, reconnects and group server restarts. NULL on timeout (ZGM_ETIMEOUT).
ZGM_EXPORT zgm_msg_t* zgm_user_recv(zgm_user_t* self, int timeout_ms);
//  How far the user follows a group (0 if it does not): every message after this seq will
//  be handed over for zgm_user_recv, in order; up to it, each was handed over or lies before
//  where the following began (a join follows from the group's end, zgm_user_follow from
//  its after_seq). To resume after a restart, keep the seq of the last message the
//  application handled instead.
ZGM_EXPORT uint64_t zgm_user_last_seq(zgm_user_t* self, const char* group);
//  A file descriptor that is readable while live messages or send outcomes wait (also
//  those a call took in passing), for poll, epoll, zmq_poll (as the fd of a zmq_pollitem_t)
//  or zloop_poller; only to poll, never to read, write or close, though it may be made
//  non-blocking (-1 if self is NULL). Once it is readable, take them with zgm_user_recv
//  (self, 0) and zgm_user_sent (self, &sent, 0).
ZGM_EXPORT int zgm_user_fd(zgm_user_t* self);
ZGM_EXPORT void zgm_user_destroy(zgm_user_t** self_p);

#ifdef __cplusplus
}
#endif

#endif
