/*  =========================================================================
    api.cc - the C API: the only file that knows both include/zgm.h and the C++ core

    Each object owns its actor and talks to it over the actor's pipe; no C++ type and no
    exception crosses this layer (the core is built without exceptions).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "zgm.h"

#include "core/actor.h"
#include "core/names.h"
#include "core/uuid.h"
#include "group/group.h"
#include "proto/proto.h"
#include "registry/registry.h"
#include "user/user.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace zgm;

//  -----------------------------------------------------------------------------------------
//  Errors, per thread

static thread_local int s_errno = ZGM_OK;
static thread_local std::string s_error;

static int fail(int code, const std::string& why) {
    s_errno = code;
    s_error = why;
    return -1;
}

static void succeed() {
    s_errno = ZGM_OK;
    s_error.clear();
}

int zgm_errno(void) {
    return s_errno;
}

const char* zgm_strerror(void) {
    return s_errno == ZGM_OK ? "no error" : s_error.c_str();
}

void zgm_set_verbose(int verbose) {
    //  CZMQ logs to stdout unless told otherwise; zgm's events go to stderr, as documented.
    if (verbose && !getenv("ZSYS_LOGSTREAM")) zsys_set_logstream(stderr);
    set_verbose(verbose != 0);
}

//  The zgm_error_t for an ERROR status, in the context of the request it answers.
static int error_code(const proto::Message& error, uint8_t request) {
    switch (error.status) {
    case proto::kNotMember:
        return ZGM_ENOTMEMBER;
    case proto::kNotFound:
        return ZGM_ENOTFOUND;
    case proto::kConflict:
        return request == proto::kJoin ? ZGM_EALREADY : ZGM_EEXISTS;
    case proto::kTooLarge:
        return ZGM_ETOOLARGE;
    case proto::kInvalid:
        return ZGM_EINVAL;
    case proto::kBadRequest:
    case proto::kBadVersion:
        return ZGM_EPROTO;
    case proto::kUnavailable:
        return ZGM_EUNAVAILABLE;
    case proto::kStorage:
        return ZGM_ESTORAGE;
    default:
        return ZGM_ESERVER;
    }
}

//  -----------------------------------------------------------------------------------------
//  zgm_msg_t and zgm_msglist_t

struct _zgm_msg_t {
    std::string group;
    uint64_t seq = 0;
    uint64_t timestamp = 0;
    Uuid sender_id;
    mutable char sender[33] = {}; //  hex of sender_id, made when first asked for
    std::string sender_name;
    std::string body;
};

const char* zgm_msg_group(const zgm_msg_t* self) {
    return self->group.c_str();
}
uint64_t zgm_msg_seq(const zgm_msg_t* self) {
    return self->seq;
}
uint64_t zgm_msg_timestamp(const zgm_msg_t* self) {
    return self->timestamp;
}
const char* zgm_msg_sender(const zgm_msg_t* self) {
    if (!self->sender[0]) memcpy(self->sender, self->sender_id.str().c_str(), 33);
    return self->sender;
}
const char* zgm_msg_sender_name(const zgm_msg_t* self) {
    return self->sender_name.c_str();
}
const void* zgm_msg_body(const zgm_msg_t* self) {
    return self->body.data();
}
size_t zgm_msg_size(const zgm_msg_t* self) {
    return self->body.size();
}

void zgm_msg_destroy(zgm_msg_t** self_p) {
    if (self_p && *self_p) {
        delete *self_p;
        *self_p = nullptr;
    }
}

struct _zgm_msglist_t {
    std::vector<zgm_msg_t> messages;
    bool truncated = false;
};

size_t zgm_msglist_size(const zgm_msglist_t* self) {
    return self->messages.size();
}

const zgm_msg_t* zgm_msglist_get(const zgm_msglist_t* self, size_t index) {
    return index < self->messages.size() ? &self->messages[index] : nullptr;
}

int zgm_msglist_truncated(const zgm_msglist_t* self) {
    return self->truncated ? 1 : 0;
}

void zgm_msglist_destroy(zgm_msglist_t** self_p) {
    if (self_p && *self_p) {
        delete *self_p;
        *self_p = nullptr;
    }
}

//  Moves one received record into a message of group.
static void take_record(zgm_msg_t* msg, const std::string& group, proto::MessageRecord& record) {
    msg->group = group;
    msg->seq = record.seq;
    msg->timestamp = record.ts_us;
    msg->sender_id = record.sender;
    msg->sender_name.swap(record.sender_name);
    msg->body.swap(record.body);
}

//  Asks an actor to bind; its reply is the port and, on failure, the actor thread's errno.
static int bind(zactor_t* actor, const char* endpoint) {
    zstr_sendx(actor, "BIND", endpoint, NULL);
    int port = -1, error = 0;
    if (zsock_recv(actor, "ii", &port, &error) != 0 || port < 0)
        return fail(ZGM_EINVAL, std::string("cannot bind ") + endpoint + ": " +
                                    (error ? zmq_strerror(error) : "bad endpoint"));
    succeed();
    return port;
}

//  -----------------------------------------------------------------------------------------
//  zgm_registry_t

struct _zgm_registry_t {
    zactor_t* actor;
};

zgm_registry_t* zgm_registry_new(void) {
    zactor_t* actor = zactor_new(registry_actor, nullptr);
    if (!actor) {
        fail(ZGM_ESYSTEM, "cannot start the registry");
        return nullptr;
    }
    return new _zgm_registry_t{actor};
}

int zgm_registry_bind(zgm_registry_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(ZGM_EINVAL, "no endpoint");
    return bind(self->actor, endpoint);
}

void zgm_registry_set_expiry(zgm_registry_t* self, int msecs) {
    if (self) zstr_sendx(self->actor, "EXPIRY", std::to_string(msecs).c_str(), NULL);
}

void zgm_registry_destroy(zgm_registry_t** self_p) {
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        delete *self_p;
        *self_p = nullptr;
    }
}

//  -----------------------------------------------------------------------------------------
//  zgm_group_t

struct _zgm_group_t {
    zactor_t* actor;
};

//  Sends a command whose reply is "is" (code, reason) and turns it into 0 or -1.
static int group_command(zgm_group_t* self, const char* command, const char* argument) {
    zstr_sendx(self->actor, command, argument, NULL);
    int code = ZGM_ESYSTEM;
    char* reason = nullptr;
    if (zsock_recv(self->actor, "is", &code, &reason) != 0)
        return fail(ZGM_ESYSTEM, "the group server is gone");
    std::string why = reason ? reason : "";
    zstr_free(&reason);
    if (code != 0) return fail(code, why);
    succeed();
    return 0;
}

zgm_group_t* zgm_group_new(const char* data_dir) {
    zactor_t* actor = zactor_new(group_actor, (void*)data_dir);
    if (!actor) {
        fail(ZGM_ESYSTEM, "cannot start the group server");
        return nullptr;
    }
    zgm_group_t* self = new _zgm_group_t{actor};
    if (group_command(self, "STATUS", "") != 0) {
        zgm_group_destroy(&self);
        return nullptr;
    }
    return self;
}

int zgm_group_add(zgm_group_t* self, const char* name) {
    if (!self || !name) return fail(ZGM_EINVAL, "no group name");
    return group_command(self, "ADD", name);
}

int zgm_group_bind(zgm_group_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(ZGM_EINVAL, "no endpoint");
    return bind(self->actor, endpoint);
}

void zgm_group_set_advertise(zgm_group_t* self, const char* endpoint) {
    if (self && endpoint) zstr_sendx(self->actor, "ADVERTISE", endpoint, NULL);
}

void zgm_group_set_accept_new(zgm_group_t* self, int accept_new) {
    if (self) zstr_sendx(self->actor, "ACCEPT_NEW", accept_new ? "1" : "0", NULL);
}

void zgm_group_set_heartbeat(zgm_group_t* self, int msecs) {
    if (self) zstr_sendx(self->actor, "HEARTBEAT", std::to_string(msecs).c_str(), NULL);
}

int zgm_group_set_durability(zgm_group_t* self, const char* durability) {
    if (!self || !durability) return fail(ZGM_EINVAL, "durability is 'full' or 'normal'");
    return group_command(self, "DURABILITY", durability);
}

int zgm_group_connect_registry(zgm_group_t* self, const char* endpoint) {
    if (!self || !endpoint) return fail(ZGM_EINVAL, "no registry endpoint");
    return group_command(self, "CONNECT", endpoint);
}

void zgm_group_destroy(zgm_group_t** self_p) {
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        delete *self_p;
        *self_p = nullptr;
    }
}

//  -----------------------------------------------------------------------------------------
//  zgm_user_t

struct _zgm_user_t {
    zactor_t* actor = nullptr;
    zsock_t* events = nullptr; //  the caller's end of the live-message pipe
    Uuid id;
    std::string id_text;
    std::string name;
    int timeout_ms = ZGM_DEFAULT_TIMEOUT;
    bool connected = false;
    proto::Message inbox;  //  the last batch of live messages from the actor
    size_t inbox_next = 0; //  the next of them zgm_user_recv returns
};

zgm_user_t* zgm_user_new_with_id(const char* name, const char* id) {
    Uuid uuid;
    if (!name || !*name || strlen(name) > proto::kMaxString) {
        fail(ZGM_EINVAL, "a user name is 1 to 255 bytes");
        return nullptr;
    }
    if (id ? !Uuid::parse(id, &uuid) || uuid.is_nil() : false) {
        fail(ZGM_EINVAL, "a user id is 32 hex digits");
        return nullptr;
    }
    zgm_user_t* self = new _zgm_user_t();
    self->id = id ? uuid : Uuid::random();
    self->id_text = self->id.str();
    self->name = name;
    //  The live-message pipe: a PAIR over inproc, bounded; the actor holds back (and
    //  fetches later) when the caller does not read.
    std::string endpoint = "inproc://zgm-user-" + Uuid::random().str();
    self->events = zsock_new(ZMQ_PAIR);
    zsock_t* backend = zsock_new(ZMQ_PAIR);
    if (!self->events || !backend) {
        zsock_destroy(&backend);
        zgm_user_destroy(&self);
        fail(ZGM_ESYSTEM, "cannot create sockets");
        return nullptr;
    }
    zsock_set_rcvhwm(self->events, 100000);
    zsock_set_sndhwm(backend, 100000);
    zsock_bind(self->events, "%s", endpoint.c_str());
    zsock_connect(backend, "%s", endpoint.c_str());
    UserArgs args{self->id, backend};
    self->actor = zactor_new(user_actor, &args);
    if (!self->actor) {
        zsock_destroy(&backend);
        zgm_user_destroy(&self);
        fail(ZGM_ESYSTEM, "cannot start the user");
        return nullptr;
    }
    succeed();
    return self;
}

zgm_user_t* zgm_user_new(const char* name) {
    return zgm_user_new_with_id(name, nullptr);
}

const char* zgm_user_id(const zgm_user_t* self) {
    return self->id_text.c_str();
}
const char* zgm_user_name(const zgm_user_t* self) {
    return self->name.c_str();
}

void zgm_user_set_timeout(zgm_user_t* self, int msecs) {
    if (self && msecs > 0) self->timeout_ms = msecs;
}

int zgm_user_connect(zgm_user_t* self, const char* registry_endpoint) {
    if (!self || !registry_endpoint || !*registry_endpoint)
        return fail(ZGM_EINVAL, "no registry endpoint");
    zstr_sendx(self->actor, "CONNECT", registry_endpoint, NULL);
    int rc = -1;
    zsock_recv(self->actor, "i", &rc);
    if (rc != 0) return fail(ZGM_EINVAL, std::string("bad registry endpoint ") + registry_endpoint);
    self->connected = true;
    succeed();
    return 0;
}

//  One request and its reply. group "" is the registry. On failure sets the error, with
//  what_failed naming the server in the message.
static std::unique_ptr<proto::Message> request(zgm_user_t* self, const std::string& group,
                                               proto::Message* message) {
    uint8_t request_id = message->id;
    std::string timeout = std::to_string(self->timeout_ms);
    zsock_send(self->actor, "sssp", "REQUEST", group.c_str(), timeout.c_str(), (void*)message);
    char* status = nullptr;
    void* reply = nullptr;
    zsock_recv(self->actor, "sp", &status, &reply);
    std::unique_ptr<proto::Message> owned((proto::Message*)reply);
    std::string outcome = status ? status : "";
    zstr_free(&status);
    const char* server = group.empty() ? "the registry" : "the group server";
    if (outcome == "TIMEOUT") {
        fail(ZGM_ETIMEOUT, std::string(server) + " did not answer in time");
        return nullptr;
    }
    if (!owned) {
        fail(ZGM_ENOTCONNECTED,
             group.empty() ? "not connected to a registry" : "no route to group '" + group + "'");
        return nullptr;
    }
    if (owned->id == proto::kError) {
        fail(error_code(*owned, request_id), owned->reason);
        return nullptr;
    }
    succeed();
    return owned;
}

//  The registry's list of groups.
static std::unique_ptr<proto::Message> list_groups(zgm_user_t* self) {
    if (!self->connected) {
        fail(ZGM_ENOTCONNECTED, "not connected to a registry (zgm_user_connect)");
        return nullptr;
    }
    proto::Message* list = new proto::Message();
    list->id = proto::kList;
    list->user = self->id;
    std::unique_ptr<proto::Message> reply = request(self, "", list);
    if (reply && reply->id != proto::kGroups) {
        fail(ZGM_EPROTO,
             "the registry answered LIST with " + std::string(proto::message_name(reply->id)));
        return nullptr;
    }
    return reply;
}

//  Makes sure the actor knows where the group is served; asks the registry when it does
//  not, or when `refresh` says the known place stopped answering.
static int route(zgm_user_t* self, const std::string& group, bool refresh) {
    if (!valid_name(group)) return fail(ZGM_EINVAL, invalid_name_reason());
    if (!refresh) {
        zstr_sendx(self->actor, "WHERE", group.c_str(), NULL);
        char* where = nullptr;
        zsock_recv(self->actor, "s", &where);
        bool known = where && *where;
        zstr_free(&where);
        if (known) return 0;
    }
    std::unique_ptr<proto::Message> groups = list_groups(self);
    if (!groups) return -1;
    for (const proto::GroupRecord& record : groups->groups)
        if (record.name == group) {
            zstr_sendx(self->actor, "ROUTE", group.c_str(), record.endpoint.c_str(), NULL);
            int rc = -1;
            zsock_recv(self->actor, "i", &rc);
            if (rc != 0) return fail(ZGM_ESYSTEM, "cannot connect to " + record.endpoint);
            return 0;
        }
    return fail(ZGM_ENOTFOUND, "no group '" + group + "' in the registry");
}

//  A request to a group's server, expecting reply_id. A request that times out is sent
//  once more after asking the registry where the group is now (they are idempotent).
static std::unique_ptr<proto::Message> group_request(zgm_user_t* self, const std::string& group,
                                                     const proto::Message& message,
                                                     uint8_t reply_id) {
    if (!self) return fail(ZGM_EINVAL, "no user"), nullptr;
    if (route(self, group, false) != 0) return nullptr;
    std::unique_ptr<proto::Message> reply = request(self, group, new proto::Message(message));
    if (!reply && s_errno == ZGM_ETIMEOUT && route(self, group, true) == 0)
        reply = request(self, group, new proto::Message(message));
    if (reply && reply->id != reply_id) {
        fail(ZGM_EPROTO, std::string("unexpected reply ") + proto::message_name(reply->id));
        return nullptr;
    }
    return reply;
}

zgm_group_info_t* zgm_user_groups(zgm_user_t* self, size_t* count) {
    if (count) *count = 0;
    if (!self || !count) {
        fail(ZGM_EINVAL, "no user or count");
        return nullptr;
    }
    std::unique_ptr<proto::Message> groups = list_groups(self);
    if (!groups) return nullptr;
    size_t size = groups->groups.size();
    zgm_group_info_t* infos = (zgm_group_info_t*)calloc(size ? size : 1, sizeof *infos);
    if (!infos) {
        fail(ZGM_ESYSTEM, "out of memory");
        return nullptr;
    }
    for (size_t i = 0; i < size; i++) {
        const proto::GroupRecord& record = groups->groups[i];
        snprintf(infos[i].id, sizeof infos[i].id, "%s", record.id.str().c_str());
        snprintf(infos[i].name, sizeof infos[i].name, "%s", record.name.c_str());
        snprintf(infos[i].endpoint, sizeof infos[i].endpoint, "%s", record.endpoint.c_str());
        infos[i].members = record.members;
    }
    *count = size;
    return infos;
}

int zgm_user_create(zgm_user_t* self, const char* group) {
    if (!self || !group || !valid_name(group)) return fail(ZGM_EINVAL, invalid_name_reason());
    if (!self->connected)
        return fail(ZGM_ENOTCONNECTED, "not connected to a registry (zgm_user_connect)");
    proto::Message* create = new proto::Message();
    create->id = proto::kCreate;
    create->user = self->id;
    create->group = group;
    std::unique_ptr<proto::Message> reply = request(self, "", create);
    if (!reply) return -1;
    if (reply->id != proto::kCreated) return fail(ZGM_EPROTO, "unexpected reply to CREATE");
    zstr_sendx(self->actor, "ROUTE", group, reply->endpoint.c_str(), NULL);
    int rc = -1;
    zsock_recv(self->actor, "i", &rc);
    succeed();
    return 0;
}

int zgm_user_follow(zgm_user_t* self, const char* group, uint64_t after_seq) {
    if (!self || !group) return fail(ZGM_EINVAL, "no group");
    proto::Message follow;
    follow.id = proto::kFollow;
    follow.user = self->id;
    follow.group = group;
    follow.after_seq = after_seq;
    return group_request(self, group, follow, proto::kFollowing) ? 0 : -1;
}

int zgm_user_join(zgm_user_t* self, const char* group) {
    if (!self || !group) return fail(ZGM_EINVAL, "no group");
    proto::Message join;
    join.id = proto::kJoin;
    join.user = self->id;
    join.name = self->name;
    join.group = group;
    std::unique_ptr<proto::Message> joined = group_request(self, group, join, proto::kJoined);
    if (!joined) return -1;
    return zgm_user_follow(self, group, joined->last_seq);
}

int zgm_user_leave(zgm_user_t* self, const char* group) {
    if (!self || !group) return fail(ZGM_EINVAL, "no group");
    proto::Message leave;
    leave.id = proto::kLeave;
    leave.user = self->id;
    leave.group = group;
    return group_request(self, group, leave, proto::kOk) ? 0 : -1;
}

int zgm_user_send(zgm_user_t* self, const char* group, const void* data, size_t size, uint64_t* seq,
                  uint64_t* timestamp) {
    if (!self || !group || (!data && size)) return fail(ZGM_EINVAL, "no group or no data");
    if (size > proto::kMaxBody)
        return fail(ZGM_ETOOLARGE,
                    "a message body is at most " + std::to_string(proto::kMaxBody) + " bytes");
    proto::Message send;
    send.id = proto::kSend;
    send.user = self->id;
    send.group = group;
    send.msg_id = Uuid::time_ordered(); //  the same on a retry, so it is stored once
    send.body.assign((const char*)data, size);
    std::unique_ptr<proto::Message> sent = group_request(self, group, send, proto::kSent);
    if (!sent) return -1;
    if (seq) *seq = sent->seq;
    if (timestamp) *timestamp = sent->ts_us;
    return 0;
}

zgm_msglist_t* zgm_user_fetch(zgm_user_t* self, const char* group, uint64_t since_us,
                              uint64_t after_seq, size_t limit) {
    if (!self || !group) {
        fail(ZGM_EINVAL, "no group");
        return nullptr;
    }
    std::unique_ptr<zgm_msglist_t> list(new zgm_msglist_t());
    proto::Message fetch;
    fetch.id = proto::kFetch;
    fetch.user = self->id;
    fetch.group = group;
    fetch.since_us = since_us;
    fetch.after_seq = after_seq;
    //  A large result arrives in batches: each FETCH continues after the last seq received.
    while (true) {
        size_t wanted = limit ? limit - list->messages.size() : 0;
        fetch.limit = wanted && wanted < proto::kMaxList ? (uint32_t)wanted : 0;
        std::unique_ptr<proto::Message> batch = group_request(self, group, fetch, proto::kMessages);
        if (!batch) return nullptr;
        if (batch->truncated && list->messages.empty()) list->truncated = true;
        for (proto::MessageRecord& record : batch->messages) {
            if (limit && list->messages.size() == limit) break;
            list->messages.emplace_back();
            take_record(&list->messages.back(), group, record);
        }
        if (!batch->more || batch->messages.empty() || (limit && list->messages.size() >= limit))
            break;
        fetch.after_seq = batch->messages.back().seq;
    }
    succeed();
    return list.release();
}

char** zgm_user_members(zgm_user_t* self, const char* group, size_t* count) {
    if (count) *count = 0;
    if (!self || !group || !count) {
        fail(ZGM_EINVAL, "no group or count");
        return nullptr;
    }
    proto::Message members;
    members.id = proto::kMembers;
    members.user = self->id;
    members.group = group;
    std::unique_ptr<proto::Message> list = group_request(self, group, members, proto::kMemberList);
    if (!list) return nullptr;
    //  One allocation: the pointer array, then the strings.
    size_t pointers = 2 * list->members.size() * sizeof(char*), text = 0;
    for (const proto::MemberRecord& member : list->members)
        text += 33 + member.name.size() + 1;
    char** result = (char**)malloc(pointers + text + 1);
    if (!result) {
        fail(ZGM_ESYSTEM, "out of memory");
        return nullptr;
    }
    char* cursor = (char*)result + pointers;
    for (size_t i = 0; i < list->members.size(); i++) {
        std::string id = list->members[i].id.str();
        result[2 * i] = cursor;
        memcpy(cursor, id.c_str(), 33);
        cursor += 33;
        result[2 * i + 1] = cursor;
        memcpy(cursor, list->members[i].name.c_str(), list->members[i].name.size() + 1);
        cursor += list->members[i].name.size() + 1;
    }
    *count = list->members.size();
    return result;
}

zgm_msg_t* zgm_user_recv(zgm_user_t* self, int timeout_ms) {
    if (!self) {
        fail(ZGM_EINVAL, "no user");
        return nullptr;
    }
    //  Live messages come from the actor in batches; hand them out one at a time.
    while (self->inbox_next >= self->inbox.messages.size()) {
        zmq_pollitem_t item = {zsock_resolve(self->events), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0 || !(item.revents & ZMQ_POLLIN)) {
            fail(ZGM_ETIMEOUT, "no message in time");
            return nullptr;
        }
        self->inbox_next = 0;
        if (proto::recv(zsock_resolve(self->events), false, nullptr, &self->inbox, ZMQ_DONTWAIT) !=
            proto::DecodeError::kOk)
            self->inbox = proto::Message();
    }
    zgm_msg_t* msg = new zgm_msg_t();
    take_record(msg, self->inbox.group, self->inbox.messages[self->inbox_next++]);
    succeed();
    return msg;
}

uint64_t zgm_user_last_seq(zgm_user_t* self, const char* group) {
    if (!self || !group) return 0;
    zstr_sendx(self->actor, "LAST", group, NULL);
    uint64_t last = 0;
    zsock_recv(self->actor, "8", &last);
    return last;
}

void* zgm_user_socket(zgm_user_t* self) {
    return self ? self->events : nullptr;
}

void zgm_user_destroy(zgm_user_t** self_p) {
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        zsock_destroy(&(*self_p)->events);
        delete *self_p;
        *self_p = nullptr;
    }
}
