/*  =========================================================================
    api.cc - the C API: the only file that knows both include/zgm.h and the C++ core

    A bridge and nothing more (as LevelDB's db/c.cc, zyre's zyre.c): each function checks
    its arguments, hands its actor one command, and turns the typed reply into C values.
    No wire format here: live messages and fetched ones arrive as batches that keep the
    frame they came in, and a zgm_msg_t points into it. Errors change form once, in
    code_of. No C++ type and no exception crosses this layer.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "zgm.h"

#include "core/actor.h"
#include "core/errors.h"
#include "core/names.h"
#include "core/security.h"
#include "core/utf8.h"
#include "registry/registry.h"
#include "server/server.h"
#include "user/caller.h"

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

using namespace zgm;

//  -----------------------------------------------------------------------------------------
//  Errors, per thread

static thread_local int s_errno = ZGM_OK;
static thread_local std::string s_error;

//  The one place internal errors become zgm_error_t.
static int code_of(Error error) {
    switch (error) {
    case Error::kOk:
        return ZGM_OK;
    case Error::kInvalid:
        return ZGM_EINVAL;
    case Error::kTimeout:
        return ZGM_ETIMEOUT;
    case Error::kNotMember:
        return ZGM_ENOTMEMBER;
    case Error::kNotFound:
        return ZGM_ENOTFOUND;
    case Error::kExists:
        return ZGM_EEXISTS;
    case Error::kAlready:
        return ZGM_EALREADY;
    case Error::kTooLarge:
        return ZGM_ETOOLARGE;
    case Error::kProto:
        return ZGM_EPROTO;
    case Error::kStorage:
        return ZGM_ESTORAGE;
    case Error::kUnavailable:
        return ZGM_EUNAVAILABLE;
    case Error::kNotConnected:
        return ZGM_ENOTCONNECTED;
    case Error::kSystem:
        return ZGM_ESYSTEM;
    case Error::kServer:
        return ZGM_ESERVER;
    case Error::kInDoubt:
        return ZGM_EINDOUBT;
    case Error::kDenied:
        return ZGM_EDENIED;
    case Error::kLimit:
        return ZGM_ELIMIT;
    case Error::kRate:
        return ZGM_ERATE;
    case Error::kUnreachable:
        return ZGM_EUNREACHABLE;
    }
    return ZGM_ESERVER;
}

static int fail(Error error, const std::string& why) {
    s_errno = code_of(error);
    s_error = why;
    return -1;
}

static int succeed() {
    s_errno = ZGM_OK;
    s_error.clear();
    return 0;
}

//  0 for kOk, else -1 with the error set.
static int outcome(Error error, const std::string& why) {
    return error == Error::kOk ? succeed() : fail(error, why);
}

int zgm_errno(void) {
    return s_errno;
}

const char* zgm_strerror(void) {
    //  After a success, what the call left to say (zgm_user_memberships, _follow_many).
    if (s_errno == ZGM_OK && s_error.empty()) return "no error";
    //  It quotes what servers said (a reason, a group name, an endpoint): nothing in it acts
    //  on the terminal of a program that prints it.
    static thread_local std::string printable;
    printable.clear();
    append_printable(&printable, s_error.data(), s_error.size());
    return printable.c_str();
}

void zgm_set_verbose(int verbose) {
    //  CZMQ logs to stdout unless told otherwise; zgm's events go to stderr, as documented.
    if (verbose && !getenv("ZSYS_LOGSTREAM")) zsys_set_logstream(stderr);
    set_verbose(verbose != 0);
}

//  -----------------------------------------------------------------------------------------
//  Keys

int zgm_keygen(const char* path, const char* name) {
    if (!path || !*path) return fail(Error::kInvalid, "no path");
    Status status = make_key_pair(path, name ? name : "");
    if (status.is_ok()) return succeed();
    return fail(status.code() == Status::kExists    ? Error::kExists
                : status.code() == Status::kInvalid ? Error::kInvalid
                                                    : Error::kSystem,
                status.message());
}

int zgm_key_read(const char* path_or_key, char* key) {
    if (!path_or_key || !key) return fail(Error::kInvalid, "no key");
    Key parsed;
    std::string why;
    if (!read_public_key(path_or_key, &parsed, &why)) return fail(Error::kInvalid, why);
    memcpy(key, parsed.str().c_str(), ZGM_KEY_SIZE);
    return succeed();
}

//  A key given as text or as a certificate file, for the actors' "SET" commands.
static bool key_text(const char* given, std::string* text) {
    Key key;
    std::string why;
    if (!given || !read_public_key(given, &key, &why)) {
        fail(Error::kInvalid, given ? why : "no key");
        return false;
    }
    *text = key.str();
    return true;
}

//  Loads (or makes) the key pair of a certificate file. False with the error set.
static bool key_pair(const char* path, KeyPair* keys, std::string* name = nullptr) {
    if (!path || !*path) return fail(Error::kInvalid, "no key file"), false;
    Status status = load_key_pair(path, true, keys, name);
    if (!status.is_ok()) return fail(Error::kSystem, status.message()), false;
    return true;
}

//  -----------------------------------------------------------------------------------------
//  zgm_msg_t and zgm_msglist_t

//  An id as 32 hex digits and a NUL, into out (ZGM_MSG_ID_SIZE bytes).
static void hex_id(const uint8_t* id, char* out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = '\0';
}

//  text into a buffer of size bytes, cut to fit, always terminated.
static void copy_text(const std::string& text, char* out, size_t size) {
    size_t length = std::min(text.size(), size - 1);
    memcpy(out, text.data(), length);
    out[length] = '\0';
}

//  The texts a message hands out as C strings, made the first time one is asked for.
struct MsgTexts {
    char name[ZGM_MAX_NAME + 1]; //  cut to ZGM_MAX_NAME
    char sender[ZGM_KEY_SIZE];
    char id[ZGM_MSG_ID_SIZE];
};

//  No copy of the record and no text made in advance: a fetched message is 24 bytes, where
//  it and its sender are in its batch's frame and the list it is in (which holds the
//  batches, the group and the texts). A live message is the first member of a LiveMsg, with
//  what it has of its own.
struct _zgm_msg_t {
    proto::MessageView record; //  where it is in its batch's frame
    const zgm_msglist_t* list; //  the list a fetched message is in; nullptr for a live one
};

//  A message from zgm_user_recv.
struct LiveMsg {
    zgm_msg_t msg; //  first: a live zgm_msg_t* is a LiveMsg*
    Batch* batch;  //  a reference of its own
    uint64_t missed;
    MsgTexts* texts; //  nullptr until a text is asked for
};
static_assert(std::is_standard_layout<LiveMsg>::value, "a zgm_msg_t* must be its LiveMsg*");

static const LiveMsg* live_of(const zgm_msg_t* self) {
    return reinterpret_cast<const LiveMsg*>(self);
}

struct _zgm_msglist_t {
    std::string group;
    std::vector<Batch*> batches;
    std::vector<zgm_msg_t> messages;
    uint64_t missed = 0;
    bool more = false;
    //  The messages' texts, one each, made (zeroed, untouched) when one is first asked for.
    mutable MsgTexts* texts = nullptr;
    ~_zgm_msglist_t() { free(texts); }
};

//  Where a message's texts go: its own (a live message), or its slot in its list's.
static MsgTexts* texts_of(const zgm_msg_t* self) {
    const zgm_msglist_t* list = self->list;
    if (!list) {
        LiveMsg* live = const_cast<LiveMsg*>(live_of(self));
        if (!live->texts) live->texts = new (std::nothrow) MsgTexts();
        return live->texts;
    }
    if (!list->texts) list->texts = (MsgTexts*)calloc(list->messages.size(), sizeof(MsgTexts));
    return list->texts ? &list->texts[self - list->messages.data()] : nullptr;
}

const char* zgm_msg_group(const zgm_msg_t* self) {
    return self->list ? self->list->group.c_str() : live_of(self)->batch->group.c_str();
}
uint64_t zgm_msg_seq(const zgm_msg_t* self) {
    return self->record.seq();
}
uint64_t zgm_msg_timestamp(const zgm_msg_t* self) {
    return self->record.timestamp();
}
const char* zgm_msg_sender(const zgm_msg_t* self) {
    MsgTexts* texts = texts_of(self);
    if (!texts) return "";
    if (!texts->sender[0])
        memcpy(texts->sender, Key::from_bytes(self->record.sender()).str().c_str(), ZGM_KEY_SIZE);
    return texts->sender;
}
//  The name is in its frame's senders list, followed by the next sender's key: a C string
//  only once copied out (cut to ZGM_MAX_NAME), as the key and the id are.
const char* zgm_msg_sender_name(const zgm_msg_t* self) {
    std::string_view name = self->record.sender_name();
    if (name.empty()) return "";
    MsgTexts* texts = texts_of(self);
    if (!texts) return "";
    if (!texts->name[0]) {
        size_t size = std::min<size_t>(name.size(), ZGM_MAX_NAME);
        memcpy(texts->name, name.data(), size);
        texts->name[size] = '\0';
    }
    return texts->name;
}
const char* zgm_msg_id(const zgm_msg_t* self) {
    MsgTexts* texts = texts_of(self);
    if (!texts) return "";
    if (!texts->id[0]) hex_id(self->record.msg_id(), texts->id);
    return texts->id;
}
const void* zgm_msg_body(const zgm_msg_t* self) {
    return self->record.body().data();
}
size_t zgm_msg_size(const zgm_msg_t* self) {
    return self->record.body().size();
}
uint64_t zgm_msg_missed(const zgm_msg_t* self) {
    return self->list ? 0 : live_of(self)->missed;
}

//  A fetched message belongs to its list: nothing to destroy here.
void zgm_msg_destroy(zgm_msg_t** self_p) {
    if (self_p && *self_p) {
        if (!(*self_p)->list) {
            LiveMsg* live = reinterpret_cast<LiveMsg*>(*self_p);
            live->batch->release();
            delete live->texts;
            delete live;
        }
        *self_p = nullptr;
    }
}

size_t zgm_msglist_size(const zgm_msglist_t* self) {
    return self->messages.size();
}

const zgm_msg_t* zgm_msglist_get(const zgm_msglist_t* self, size_t index) {
    return index < self->messages.size() ? &self->messages[index] : nullptr;
}

uint64_t zgm_msglist_missed(const zgm_msglist_t* self) {
    return self->missed;
}

int zgm_msglist_more(const zgm_msglist_t* self) {
    return self->more ? 1 : 0;
}

void zgm_msglist_destroy(zgm_msglist_t** self_p) {
    if (self_p && *self_p) {
        for (Batch* batch : (*self_p)->batches)
            batch->release();
        delete *self_p;
        *self_p = nullptr;
    }
}

//  -----------------------------------------------------------------------------------------
//  Servers' commands

//  A registry's or group server's actor, started and stopped with signals held: its thread
//  keeps them held (core/actor.h).
static zactor_t* start_actor(zactor_fn* run, void* args) {
    SignalsHeld held;
    return zactor_new(run, args);
}

static void stop_actor(zactor_t** actor) {
    SignalsHeld held;
    zactor_destroy(actor);
}

//  Waits for an actor's reply with signals open: a command may wait seconds (a group
//  server's CONNECT waits for its registry), and a program's signal is taken meanwhile (a
//  second ends it at once). The reply is read under SignalsHeld: its frames are all there
//  once the pipe is readable.
static void await_reply(zactor_t* actor) {
    zmq_pollitem_t item = {zsock_resolve(actor), 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, -1) < 0 && zmq_errno() == EINTR) {
    }
}

//  A command whose reply is "is" (an Error, and why).
static int status_command(zactor_t* actor, const char* command, const std::string& a = "",
                          const std::string& b = "", const std::string& c = "",
                          const std::string& d = "") {
    {
        SignalsHeld held;
        zstr_sendx(actor, command, a.c_str(), b.c_str(), c.c_str(), d.c_str(), NULL);
    }
    await_reply(actor);
    SignalsHeld held;
    int code = (int)Error::kSystem;
    char* why = nullptr;
    if (zsock_recv(actor, "is", &code, &why) != 0) return fail(Error::kSystem, "the actor is gone");
    std::string reason = why ? why : "";
    zstr_free(&why);
    return outcome((Error)code, reason);
}

//  Asks an actor to bind; its reply is the port, the actor's errno and why.
static int bind(zactor_t* actor, const char* endpoint) {
    {
        SignalsHeld held;
        zstr_sendx(actor, "BIND", endpoint, NULL);
    }
    await_reply(actor);
    SignalsHeld held;
    int port = -1, error = 0;
    char* why = nullptr;
    if (zsock_recv(actor, "iis", &port, &error, &why) != 0 || port < 0) {
        std::string reason = why && *why ? why : "bad endpoint";
        zstr_free(&why);
        //  Only an endpoint that cannot be read is a bad argument; a busy port, an address
        //  or interface the machine does not have (yet), a directory missing are the world's
        //  state.
        bool invalid =
            error == 0 || error == EINVAL || error == EPROTONOSUPPORT || error == ENOCOMPATPROTO;
        return fail(invalid ? Error::kInvalid : Error::kSystem,
                    std::string("cannot bind ") + endpoint + ": " + reason);
    }
    zstr_free(&why);
    succeed();
    return port;
}

static std::string public_key(zactor_t* actor) {
    SignalsHeld held;
    zstr_send(actor, "KEY");
    char* key = zstr_recv(actor);
    std::string text = key ? key : "";
    zstr_free(&key);
    return text;
}

static const char* limit_name(zgm_limit_t limit) {
    switch (limit) {
    case ZGM_LIMIT_RATE:
        return "max-rate";
    case ZGM_LIMIT_CONNECTIONS:
        return "max-connections";
    case ZGM_LIMIT_FRAME:
        return "max-frame";
    case ZGM_LIMIT_GROUPS:
        return "max-groups";
    case ZGM_LIMIT_GROUPS_PER_OWNER:
        return "max-groups-per-owner";
    case ZGM_LIMIT_MEMBERS:
        return "max-members";
    case ZGM_LIMIT_FOLLOWS:
        return "max-follows";
    case ZGM_LIMIT_FOLLOWER_BYTES:
        return "max-follower-bytes";
    case ZGM_LIMIT_RECENT_BYTES:
        return "max-recent-bytes";
    case ZGM_LIMIT_UNREAD_BYTES:
        return "max-unread-bytes";
    case ZGM_LIMIT_UNREAD_TOTAL:
        return "max-unread-total";
    }
    return "";
}

//  Sets an actor's key pair from a certificate file.
static int set_key(zactor_t* actor, const char* path, std::string* public_text) {
    KeyPair keys;
    if (!key_pair(path, &keys)) return -1;
    if (status_command(actor, "SET", "key-secret", keys.secret_txt) != 0 ||
        status_command(actor, "SET", "key-public", keys.public_txt) != 0)
        return -1;
    *public_text = keys.public_txt;
    return 0;
}

//  How the exit handler (live_add, core/actor.h) destroys an object left alive.
template <typename T, void (*destroy)(T**)>
static void destroy_at_exit(void* object) {
    T* self = (T*)object;
    destroy(&self);
}

//  -----------------------------------------------------------------------------------------
//  zgm_registry_t

struct _zgm_registry_t {
    zactor_t* actor;
    std::string key;
};

zgm_registry_t* zgm_registry_new(void) {
    start_czmq();
    zactor_t* actor = start_actor(registry_actor, nullptr);
    if (!actor) {
        fail(Error::kSystem, "cannot start the registry");
        return nullptr;
    }
    zgm_registry_t* self = new _zgm_registry_t{actor, public_key(actor)};
    live_add(self, destroy_at_exit<zgm_registry_t, zgm_registry_destroy>);
    succeed();
    return self;
}

int zgm_registry_set_key(zgm_registry_t* self, const char* path) {
    if (!self) return fail(Error::kInvalid, "no registry");
    return set_key(self->actor, path, &self->key);
}

const char* zgm_registry_key(zgm_registry_t* self) {
    return self ? self->key.c_str() : "";
}

int zgm_registry_set_insecure(zgm_registry_t* self, int insecure) {
    if (!self) return fail(Error::kInvalid, "no registry");
    return status_command(self->actor, "SET", "insecure", insecure ? "1" : "0");
}

int zgm_registry_trust(zgm_registry_t* self, const char* key) {
    std::string text;
    if (!self) return fail(Error::kInvalid, "no registry");
    if (!key_text(key, &text)) return -1;
    return status_command(self->actor, "SET", "trust", text);
}

int zgm_registry_add_admin(zgm_registry_t* self, const char* key) {
    std::string text;
    if (!self) return fail(Error::kInvalid, "no registry");
    if (!key_text(key, &text)) return -1;
    return status_command(self->actor, "SET", "admin", text);
}

int zgm_registry_trust_dir(zgm_registry_t* self, const char* dir) {
    if (!self || !dir) return fail(Error::kInvalid, "no directory");
    return status_command(self->actor, "SET", "trust-dir", dir);
}

int zgm_registry_bind(zgm_registry_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(Error::kInvalid, "no endpoint");
    return bind(self->actor, endpoint);
}

int zgm_registry_set_expiry(zgm_registry_t* self, int msecs) {
    if (!self || msecs <= 0) return fail(Error::kInvalid, "the expiry is a positive number of ms");
    return status_command(self->actor, "SET", "expiry", std::to_string(msecs));
}

int zgm_registry_set_limit(zgm_registry_t* self, zgm_limit_t limit, uint64_t value) {
    if (!self) return fail(Error::kInvalid, "no registry");
    return status_command(self->actor, "SET", limit_name(limit), std::to_string(value));
}

void zgm_registry_destroy(zgm_registry_t** self_p) {
    if (self_p && *self_p) {
        live_remove(*self_p);
        stop_actor(&(*self_p)->actor);
        delete *self_p;
        *self_p = nullptr;
    }
}

//  -----------------------------------------------------------------------------------------
//  zgm_server_t

struct _zgm_server_t {
    zactor_t* actor;
    std::string key;
};

zgm_server_t* zgm_server_new(const char* data_dir) {
    start_czmq();
    zactor_t* actor = start_actor(server_actor, (void*)data_dir);
    if (!actor) {
        fail(Error::kSystem, "cannot start the group server");
        return nullptr;
    }
    zgm_server_t* self = new _zgm_server_t{actor, public_key(actor)};
    live_add(self, destroy_at_exit<zgm_server_t, zgm_server_destroy>);
    if (status_command(self->actor, "STATUS") != 0) {
        std::string why = s_error;
        int code = s_errno;
        zgm_server_destroy(&self);
        s_errno = code;
        s_error = why;
        return nullptr;
    }
    return self;
}

int zgm_server_set_key(zgm_server_t* self, const char* path) {
    if (!self) return fail(Error::kInvalid, "no group server");
    return set_key(self->actor, path, &self->key);
}

const char* zgm_server_key(zgm_server_t* self) {
    return self ? self->key.c_str() : "";
}

int zgm_server_set_insecure(zgm_server_t* self, int insecure) {
    if (!self) return fail(Error::kInvalid, "no group server");
    return status_command(self->actor, "SET", "insecure", insecure ? "1" : "0");
}

//  A policy is one of the two: any other value is refused, not taken for either (a
//  members-only group set to 5 became open). A C caller may pass any int: it is read as the
//  integer it is, not as the enum, which C++ does not let hold it.
static bool valid_policy(zgm_policy_t policy) {
    int value = 0;
    static_assert(sizeof value == sizeof policy, "zgm_policy_t is an int");
    memcpy(&value, &policy, sizeof value);
    if (value == ZGM_POLICY_OPEN || value == ZGM_POLICY_MEMBERS) return true;
    fail(Error::kInvalid,
         "a policy is ZGM_POLICY_OPEN or ZGM_POLICY_MEMBERS, not " + std::to_string(value));
    return false;
}

int zgm_server_add(zgm_server_t* self, const char* group, const char* owner, zgm_policy_t policy) {
    if (!self || !group) return fail(Error::kInvalid, "no group name");
    if (!valid_policy(policy)) return -1;
    std::string owner_text;
    if (owner && !key_text(owner, &owner_text)) return -1;
    return status_command(self->actor, "ADD", group, owner_text,
                          policy == ZGM_POLICY_MEMBERS ? "1" : "0");
}

int zgm_server_bind(zgm_server_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(Error::kInvalid, "no endpoint");
    return bind(self->actor, endpoint);
}

int zgm_server_set_advertise(zgm_server_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(Error::kInvalid, "no endpoint");
    return status_command(self->actor, "SET", "advertise", endpoint);
}

int zgm_server_set_accept_new(zgm_server_t* self, int accept_new) {
    if (!self) return fail(Error::kInvalid, "no group server");
    return status_command(self->actor, "SET", "accept-new", accept_new ? "1" : "0");
}

int zgm_server_set_heartbeat(zgm_server_t* self, int msecs) {
    if (!self || msecs <= 0)
        return fail(Error::kInvalid, "the heartbeat is a positive number of ms");
    return status_command(self->actor, "SET", "heartbeat", std::to_string(msecs));
}

int zgm_server_set_durability(zgm_server_t* self, const char* durability) {
    if (!self || !durability) return fail(Error::kInvalid, "durability is 'full' or 'normal'");
    return status_command(self->actor, "SET", "durability", durability);
}

int zgm_server_add_admin(zgm_server_t* self, const char* key) {
    std::string text;
    if (!self) return fail(Error::kInvalid, "no group server");
    if (!key_text(key, &text)) return -1;
    return status_command(self->actor, "SET", "admin", text);
}

int zgm_server_set_limit(zgm_server_t* self, zgm_limit_t limit, uint64_t value) {
    if (!self) return fail(Error::kInvalid, "no group server");
    return status_command(self->actor, "SET", limit_name(limit), std::to_string(value));
}

int zgm_server_set_retention(zgm_server_t* self, const char* group, uint64_t max_count,
                             uint64_t max_bytes, uint64_t max_age_ms) {
    if (!self) return fail(Error::kInvalid, "no group server");
    return status_command(self->actor, "RETAIN", group ? group : "", std::to_string(max_count),
                          std::to_string(max_bytes), std::to_string(max_age_ms));
}

int zgm_server_connect(zgm_server_t* self, const char* endpoint, const char* registry_key) {
    if (!self || !endpoint) return fail(Error::kInvalid, "no registry endpoint");
    std::string key;
    if (registry_key && !key_text(registry_key, &key)) return -1;
    return status_command(self->actor, "CONNECT", endpoint, key);
}

void zgm_server_destroy(zgm_server_t** self_p) {
    if (self_p && *self_p) {
        live_remove(*self_p);
        stop_actor(&(*self_p)->actor);
        delete *self_p;
        *self_p = nullptr;
    }
}

//  -----------------------------------------------------------------------------------------
//  zgm_user_t

struct _zgm_user_t {
    std::unique_ptr<UserCaller> caller;
    std::string id;
    std::string name;
    int timeout_ms = ZGM_DEFAULT_TIMEOUT;
    bool insecure = false;
};

//  A display name a user may have; else false, the error set.
static bool user_name_ok(const char* name) {
    if (name && valid_display_name(name)) return true;
    fail(Error::kInvalid, invalid_display_name_reason());
    return false;
}

static zgm_user_t* new_user(const char* name, const KeyPair& keys) {
    if (!user_name_ok(name)) return nullptr;
    std::string why;
    UserCaller* caller = UserCaller::start(keys, name, &why);
    if (!caller) {
        fail(Error::kSystem, why);
        return nullptr;
    }
    zgm_user_t* self = new _zgm_user_t();
    self->caller.reset(caller);
    self->id = keys.public_txt;
    self->name = name;
    live_add(self, destroy_at_exit<zgm_user_t, zgm_user_destroy>);
    succeed();
    return self;
}

zgm_user_t* zgm_user_new(const char* name) {
    start_czmq();
    return new_user(name, KeyPair::generate());
}

zgm_user_t* zgm_user_new_with_key(const char* name, const char* path) {
    start_czmq();
    KeyPair keys;
    if (!user_name_ok(name) || !key_pair(path, &keys)) return nullptr; //  no file for a bad name
    return new_user(name, keys);
}

const char* zgm_user_key(const zgm_user_t* self) {
    return self->id.c_str();
}
const char* zgm_user_name(const zgm_user_t* self) {
    return self->name.c_str();
}

void zgm_user_set_timeout(zgm_user_t* self, int msecs) {
    if (self && msecs > 0) self->timeout_ms = msecs;
}

int zgm_user_set_insecure(zgm_user_t* self, int insecure) {
    if (!self) return fail(Error::kInvalid, "no user");
    self->insecure = insecure != 0;
    return succeed();
}

//  One call: handed to the actor, handed back filled in. 0 or -1 with the error set.
static int call(zgm_user_t* self, Call* call) {
    call->timeout_ms = self->timeout_ms;
    if (!self->caller->call(call)) return fail(Error::kSystem, "the user's actor is gone");
    return outcome(call->error, call->why);
}

static bool valid_group(const char* group) {
    if (!group || !*group) return fail(Error::kInvalid, "no group name"), false;
    return true;
}

//  A user's call on a group: false, with ZGM_EINVAL, for no user or no group name.
static bool valid_call(zgm_user_t* self, const char* group) {
    if (!self) return fail(Error::kInvalid, "no user"), false;
    return valid_group(group);
}

int zgm_user_connect(zgm_user_t* self, const char* endpoint, const char* registry_key) {
    if (!self || !endpoint || !*endpoint) return fail(Error::kInvalid, "no registry endpoint");
    Call request(Call::kConnect);
    request.text = endpoint;
    request.insecure = self->insecure;
    if (registry_key) {
        std::string text;
        if (!key_text(registry_key, &text)) return -1;
        Key::parse(text, &request.key);
    } else if (!self->insecure) {
        return fail(Error::kInvalid, "the registry's public key is needed (or "
                                     "zgm_user_set_insecure, for an insecure registry)");
    }
    return call(self, &request);
}

//  A GroupRecord as a zgm_group_t.
static void to_group(const proto::GroupRecord& record, zgm_group_t* info) {
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", record.id.str().c_str());
    snprintf(info->name, sizeof info->name, "%s", record.name.c_str());
    snprintf(info->endpoint, sizeof info->endpoint, "%s", record.endpoint.c_str());
    snprintf(info->server_key, sizeof info->server_key, "%s", record.server_key.str().c_str());
    info->policy = record.policy;
    info->member_count = record.member_count;
}

static zgm_group_t* group_array(const std::vector<proto::GroupRecord>& records, size_t* count) {
    zgm_group_t* infos = (zgm_group_t*)calloc(records.size() ? records.size() : 1, sizeof *infos);
    if (!infos) {
        fail(Error::kSystem, "out of memory");
        return nullptr;
    }
    for (size_t i = 0; i < records.size(); i++)
        to_group(records[i], &infos[i]);
    *count = records.size();
    return infos;
}

zgm_group_t* zgm_user_groups(zgm_user_t* self, size_t* count) {
    if (count) *count = 0;
    if (!self || !count) return fail(Error::kInvalid, "no user or count"), nullptr;
    Call request(Call::kGroups);
    if (call(self, &request) != 0) return nullptr;
    return group_array(request.groups, count);
}

zgm_group_t* zgm_user_memberships(zgm_user_t* self, size_t* count) {
    if (count) *count = 0;
    if (!self || !count) return fail(Error::kInvalid, "no user or count"), nullptr;
    Call request(Call::kMemberships);
    if (call(self, &request) != 0) return nullptr;
    zgm_group_t* infos = group_array(request.groups, count);
    //  Servers that did not answer are named, but the call succeeded.
    if (infos && !request.why.empty()) s_error = request.why;
    return infos;
}

int zgm_user_resolve(zgm_user_t* self, const char* group, zgm_group_t* info) {
    if (!valid_call(self, group)) return -1;
    if (!info) return fail(Error::kInvalid, "no zgm_group_t to fill");
    Call request(Call::kResolve);
    request.group = group;
    if (call(self, &request) != 0) return -1;
    to_group(request.groups[0], info);
    return 0;
}

int zgm_user_create(zgm_user_t* self, const char* group, zgm_policy_t policy) {
    if (!valid_call(self, group)) return -1;
    //  A name the registry would refuse is not sent: the refusal does not wait for it.
    if (!valid_name(group)) return fail(Error::kInvalid, invalid_name_reason());
    if (!valid_policy(policy)) return -1;
    Call request(Call::kCreate);
    request.group = group;
    request.policy = policy == ZGM_POLICY_MEMBERS ? 1 : 0;
    return call(self, &request);
}

//  A call on one group.
static int group_call(zgm_user_t* self, Call::Kind kind, const char* group) {
    if (!valid_call(self, group)) return -1;
    Call request(kind);
    request.group = group;
    return call(self, &request);
}

int zgm_user_join(zgm_user_t* self, const char* group) {
    return group_call(self, Call::kJoin, group);
}

int zgm_user_leave(zgm_user_t* self, const char* group) {
    return group_call(self, Call::kLeave, group);
}

int zgm_user_unfollow(zgm_user_t* self, const char* group) {
    return group_call(self, Call::kUnfollow, group);
}

int zgm_user_follow(zgm_user_t* self, const char* group, uint64_t after_seq) {
    if (!valid_call(self, group)) return -1;
    Call request(Call::kFollow);
    request.group = group;
    request.after_seq = after_seq;
    return call(self, &request);
}

int zgm_user_follow_many(zgm_user_t* self, const char* const* groups, const uint64_t* after_seqs,
                         size_t count) {
    if (!self || (!groups && count)) return fail(Error::kInvalid, "no groups");
    Call request(Call::kFollowMany);
    for (size_t i = 0; i < count; i++) {
        request.names.push_back(groups[i] ? groups[i] : "");
        request.seqs.push_back(after_seqs ? after_seqs[i] : ZGM_FOLLOW_NOW);
    }
    if (call(self, &request) != 0) return -1;
    if (!request.why.empty()) s_error = request.why; //  what could not be followed
    return (int)request.count;
}

//  The message id of a send: the caller's (32 hex digits), or a new one written back.
static bool message_id(char* msg_id, Uuid* id) {
    if (msg_id && *msg_id) {
        if (!Uuid::parse(msg_id, id) || id->is_nil())
            return fail(Error::kInvalid, "a message id is 32 hex digits, not all zero"), false;
        return true;
    }
    *id = Uuid::time_ordered();
    if (msg_id) hex_id(id->bytes, msg_id);
    return true;
}

static bool valid_send(zgm_user_t* self, const char* group, const void* data, size_t size) {
    if (!valid_call(self, group)) return false;
    //  A name no server takes is refused here, not as the outcome of a send handed over.
    if (!valid_name(group)) return fail(Error::kInvalid, invalid_name_reason()), false;
    if (!data && size) return fail(Error::kInvalid, "no data"), false;
    if (size > ZGM_MAX_BODY)
        return fail(Error::kTooLarge,
                    "a message body is at most " + std::to_string(ZGM_MAX_BODY) + " bytes"),
               false;
    return true;
}

int zgm_user_send(zgm_user_t* self, const char* group, const void* data, size_t size, char* msg_id,
                  uint64_t* seq, uint64_t* timestamp) {
    if (!valid_send(self, group, data, size)) return -1;
    Call request(Call::kSend);
    if (!message_id(msg_id, &request.msg_id)) return -1;
    request.group = group;
    request.body.assign((const char*)data, size);
    if (call(self, &request) != 0) {
        if (request.error == Error::kInDoubt)
            s_error += " (message id " + request.msg_id.str() + ")";
        return -1;
    }
    if (seq) *seq = request.seq;
    if (timestamp) *timestamp = request.timestamp;
    return 0;
}

int zgm_user_send_async(zgm_user_t* self, const char* group, const void* data, size_t size,
                        char* msg_id) {
    if (!valid_send(self, group, data, size)) return -1;
    std::unique_ptr<Call> request(new Call(Call::kSendAsync));
    if (!message_id(msg_id, &request->msg_id)) return -1;
    request->group = group;
    request->body.assign((const char*)data, size);
    request->timeout_ms = self->timeout_ms;
    if (self->caller->send_async(std::move(request), self->timeout_ms) != Error::kOk)
        return fail(Error::kLimit,
                    std::to_string(UserCaller::kMaxUnreadOutcomes) +
                        " sends have outcomes not read yet (those still to come included): "
                        "take them with zgm_user_sent");
    return succeed();
}

int zgm_user_sent(zgm_user_t* self, zgm_sent_t* sent, int timeout_ms) {
    if (!self || !sent) return fail(Error::kInvalid, "no user or outcome");
    SendOutcome outcome;
    if (!self->caller->next_outcome(&outcome, timeout_ms))
        return fail(Error::kTimeout, "no send outcome in time");
    hex_id(outcome.msg_id.bytes, sent->msg_id);
    copy_text(outcome.group, sent->group, sizeof sent->group);
    sent->seq = outcome.seq;
    sent->timestamp = outcome.timestamp;
    sent->error = code_of(outcome.error);
    std::string reason; //  printable, as zgm_strerror
    append_printable(&reason, outcome.why.data(), outcome.why.size());
    copy_text(reason, sent->reason, sizeof sent->reason);
    return succeed();
}

int zgm_user_flush(zgm_user_t* self, int timeout_ms) {
    if (!self) return fail(Error::kInvalid, "no user");
    uint64_t pending = self->caller->flush(timeout_ms);
    if (pending)
        return fail(Error::kTimeout, std::to_string(pending) + " sends have no outcome yet");
    return succeed();
}

zgm_msglist_t* zgm_user_fetch(zgm_user_t* self, const char* group, const zgm_fetch_t* query) {
    if (!valid_call(self, group)) return nullptr;
    Call request(Call::kFetch);
    request.group = group;
    if (query) {
        request.query.since_us = query->since_us;
        request.query.until_us = query->until_us;
        request.query.after_seq = query->after_seq;
        request.query.before_seq = query->before_seq;
        request.query.limit = query->limit;
        request.query.newest = query->newest != 0;
    }
    if (call(self, &request) != 0) return nullptr;
    zgm_msglist_t* list = new zgm_msglist_t();
    list->group = std::move(request.group);
    list->missed = request.missed;
    list->more = request.more;
    list->batches = std::move(request.batches);
    size_t total = 0;
    for (Batch* batch : list->batches)
        total += batch->records.size();
    //  A fetch of the newest N may bring a page more than N: keep the newest N.
    size_t skip =
        query && query->newest && query->limit && total > query->limit ? total - query->limit : 0;
    size_t keep = query && !query->newest && query->limit && total > query->limit ? query->limit
                                                                                  : total - skip;
    list->messages.reserve(keep);
    size_t seen = 0;
    for (Batch* batch : list->batches)
        for (size_t i = 0; i < batch->records.size(); i++, seen++)
            if (seen >= skip && list->messages.size() < keep)
                list->messages.push_back(zgm_msg_t{batch->records[i], list});
    succeed();
    return list;
}

zgm_member_t* zgm_user_members(zgm_user_t* self, const char* group, size_t* count) {
    if (count) *count = 0;
    if (!valid_call(self, group)) return nullptr;
    if (!count) return fail(Error::kInvalid, "no count"), nullptr;
    Call request(Call::kMembers);
    request.group = group;
    if (call(self, &request) != 0) return nullptr;
    size_t size = request.members.size();
    zgm_member_t* members = (zgm_member_t*)calloc(size ? size : 1, sizeof *members);
    if (!members) return fail(Error::kSystem, "out of memory"), nullptr;
    for (size_t i = 0; i < size; i++) {
        const proto::MemberRecord& record = request.members[i];
        snprintf(members[i].key, sizeof members[i].key, "%s", record.key.str().c_str());
        snprintf(members[i].name, sizeof members[i].name, "%s", record.name.c_str());
        members[i].role = record.role;
    }
    *count = size;
    //  A list cut at the protocol's bound succeeded, and says so.
    if (!request.why.empty()) s_error = request.why;
    return members;
}

//  An owner's call about another key.
static int key_call(zgm_user_t* self, Call::Kind kind, const char* group, const char* key) {
    if (!valid_call(self, group)) return -1;
    Call request(kind);
    request.group = group;
    std::string text;
    if (!key_text(key, &text)) return -1;
    Key::parse(text, &request.key);
    return call(self, &request);
}

int zgm_user_add(zgm_user_t* self, const char* group, const char* key) {
    return key_call(self, Call::kAdd, group, key);
}

int zgm_user_remove(zgm_user_t* self, const char* group, const char* key) {
    return key_call(self, Call::kRemove, group, key);
}

int zgm_user_give(zgm_user_t* self, const char* group, const char* key) {
    return key_call(self, Call::kGive, group, key);
}

int zgm_user_set_policy(zgm_user_t* self, const char* group, zgm_policy_t policy) {
    if (!valid_call(self, group) || !valid_policy(policy)) return -1;
    Call request(Call::kPolicy);
    request.group = group;
    request.policy = policy == ZGM_POLICY_MEMBERS ? 1 : 0;
    return call(self, &request);
}

int zgm_user_set_retention(zgm_user_t* self, const char* group, uint64_t max_count,
                           uint64_t max_bytes, uint64_t max_age_ms) {
    if (!valid_call(self, group)) return -1;
    Call request(Call::kRetain);
    request.group = group;
    request.max_count = max_count;
    request.max_bytes = max_bytes;
    request.max_age_ms = max_age_ms;
    return call(self, &request);
}

zgm_msg_t* zgm_user_recv(zgm_user_t* self, int timeout_ms) {
    if (!self) return fail(Error::kInvalid, "no user"), nullptr;
    Batch* batch = nullptr;
    size_t index = 0;
    if (!self->caller->next_message(&batch, &index, timeout_ms))
        return fail(Error::kTimeout, "no message in time"), nullptr;
    //  Takes the caller's reference.
    LiveMsg* live = new LiveMsg{zgm_msg_t{batch->records[index], nullptr}, batch,
                                batch->missed.empty() ? 0 : batch->missed[index], nullptr};
    succeed();
    return &live->msg;
}

char* zgm_user_stats(zgm_user_t* self, const char* endpoint, const char* key) {
    if (!self || !endpoint) return fail(Error::kInvalid, "no endpoint"), nullptr;
    Call request(Call::kStats);
    request.text = endpoint;
    std::string text;
    if (!key_text(key, &text)) return nullptr;
    Key::parse(text, &request.key);
    if (call(self, &request) != 0) return nullptr;
    return strdup(request.body.c_str());
}

uint64_t zgm_user_last_seq(zgm_user_t* self, const char* group) {
    if (!valid_call(self, group)) return 0;
    Call request(Call::kLastSeq);
    request.group = group;
    call(self, &request);
    return request.seq;
}

int zgm_user_fd(zgm_user_t* self) {
    return self ? self->caller->events_fd() : -1;
}

void zgm_user_destroy(zgm_user_t** self_p) {
    if (self_p && *self_p) {
        live_remove(*self_p);
        delete *self_p;
        *self_p = nullptr;
    }
}
