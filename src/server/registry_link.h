/*  =========================================================================
    registry_link.h - a group server's connection to the registry

    Registers every group the server hosts (REGISTER), keeps them alive (HEARTBEAT),
    registers them all again when a heartbeat meets a registry that does not know them
    (it restarted), creates the groups the registry places here (HOST), says goodbye on a
    clean stop (DEREGISTER), and works out the endpoint users are told: the bound one, with
    a wildcard host replaced by the local address that reaches the registry.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_SERVER_REGISTRY_LINK_H
#define ZGM_SERVER_REGISTRY_LINK_H

#include "core/errors.h"
#include "core/names.h"
#include "core/security.h"
#include "core/uuid.h"
#include "proto/proto.h"

#include <czmq.h>
#include <map>
#include <string>

namespace zgm {

//  What the link needs from its group server.
class RegistryLinkOwner {
public:
    virtual ~RegistryLinkOwner() = default;
    //  Creates a group the registry places here (HOST): 0 (kStatusOk) or an ERROR status,
    //  with why. On success the server calls RegistryLink::update for it before returning.
    virtual uint16_t host_group(const std::string& name, const Key& owner, uint8_t policy,
                                std::string* why) = 0;
    //  Whether one more group may be hosted here (fewer than --max-groups): the registry is
    //  told the server accepts new groups only while it can.
    virtual bool has_room() const = 0;
};

//  What the registry lists of a group.
struct GroupSummary {
    Uuid id;
    uint8_t policy = 0;
    uint32_t members = 0;
};

class RegistryLink {
public:
    explicit RegistryLink(RegistryLinkOwner* owner) : owner_(owner) {}
    ~RegistryLink();

    //  Settings, before connect (advertise and accept_new also later: the next heartbeat
    //  tells the registry).
    void set_bound(const std::string& endpoint) { bound_ = endpoint; }
    void set_advertise(const std::string& endpoint) {
        advertise_ = endpoint;
        if (!advertise_.empty()) advertised_ = advertise_;
    }
    void set_accept_new(bool accept_new) { accept_new_ = accept_new; }
    void set_heartbeat(int msecs) { heartbeat_ms_ = msecs; }

    //  Connects and starts registering every group. False with *why if it cannot start
    //  (a bad endpoint, nothing bound). The outcome comes later from connect_outcome.
    bool connect(const std::string& endpoint, const Key& registry_key, const KeyPair& keys,
                 Security security, std::string* why);
    //  A new socket to the same registry (libzmq gives a connection up for good when the
    //  registry's handshake refuses it, as it may while it stops).
    void reconnect();
    bool connected() const { return socket_ != nullptr; }
    //  The outcome of connect, once known: every group registered (kOk), a name refused
    //  (kExists, kDenied, or kLimit for the registry's --max-groups, with why), or the
    //  connect deadline passed (kTimeout; the link goes on trying). False while it is not
    //  known yet or was already taken.
    bool connect_outcome(Error* error, std::string* why);

    //  A group was added or changed (members, policy): registers it (again). A change of a
    //  group the registry has (its member count, its policy) goes at most once a
    //  kChangeUpdateMs per group, the latest: members that join and leave, or an owner that
    //  sets the policy, at their request rate do not make as many REGISTERs.
    void update(const std::string& name, const GroupSummary& group);

    zsock_t* socket() { return socket_; }
    //  Reads what the registry sent.
    void handle();
    //  Timers: registering, heartbeats, the connect deadline. Returns the next deadline
    //  (mono_ms) it needs to be called at.
    int64_t tick();
    //  Sends DEREGISTER and waits briefly for the answer (a clean stop).
    void deregister();

    //  The endpoint users are told: --advertise, else the bound one, with a wildcard host
    //  replaced by the local address of the interface that reaches the registry (worked out
    //  when connecting).
    const std::string& advertised() const { return advertised_; }

private:
    struct Entry {
        GroupSummary summary;
        bool registered = false; //  the registry accepted it
        bool sent = false;       //  a REGISTER went out, since registered was last reset
        std::string refused;     //  why the registry refused it, if it did
        uint16_t refused_status = 0;
        int64_t changed_ms = 0;  //  when a change of it went last
        bool change_due = false; //  a change of it waits in changes_due_
    };
    struct Request {
        uint8_t id;
        std::string group;
    };

    //  Each false if the message could not go (the connection is not up).
    bool send_register(const std::string& name, Entry& entry);
    bool send_heartbeat();
    //  A waiting change goes by due (next_change_ms_ is the first of them).
    void change_due_by(int64_t due);
    //  Makes a change of group `name` wait until `due` (listed once, however often it waits).
    void wait_change(const std::string& name, Entry& entry, int64_t due);
    void on_host(const proto::Message& request);
    bool to_registry(proto::Message& message, const std::string& group = "");
    void finish_connect(bool timed_out);
    //  *routed (when given): false if the address is a guess (no route to the registry).
    std::string work_out_advertised(bool* routed = nullptr) const;

    RegistryLinkOwner* owner_;
    zsock_t* socket_ = nullptr;
    std::map<std::string, Entry> groups_;
    std::map<uint32_t, Request> requests_;
    std::string bound_;
    std::string advertise_;
    std::string advertised_;
    std::string endpoint_;
    bool accept_new_ = false;
    int heartbeat_ms_ = 1000;
    int64_t next_heartbeat_ms_ = 0;
    int64_t next_register_ms_ = 0;
    std::vector<std::string> changes_due_; //  groups whose change waits (change_due)
    int64_t next_change_ms_ = 0;           //  when the first of them goes
    uint32_t next_request_id_ = 1;
    bool connect_pending_ = false;
    bool outcome_ready_ = false;
    Error outcome_ = Error::kOk;
    std::string outcome_why_;
    bool known_ = false; //  the registry acknowledged a REGISTER or HEARTBEAT of ours
    //  Why the registry refused this server (a HEARTBEAT's 401: its key is not trusted, or
    //  409: another live group server has the key), until an OK; and that status.
    std::string refused_;
    uint16_t refused_status_ = 0;
    int unanswered_ = 0; //  heartbeats in a row with no answer
    //  The next HEARTBEAT goes right after the REGISTERs a 404 asked for (every other 404
    //  in a row: see handle).
    bool quick_heartbeat_ = false;
    Key registry_key_;
    KeyPair keys_;
    Security security_ = Security::kCurve;
    int64_t connect_deadline_ms_ = 0;
};

} // namespace zgm

#endif
