/*  =========================================================================
    listener.h - the listening side of a server, the registry's and a group server's alike

    Holds what every server listens with: its key pair, whether it is secured, the limits
    its socket is made with (connections, frame), the request rate, and the keys besides its
    own that may ask for STATS. Takes those settings from the role's SET (the key pair, the
    security and the socket's limits only before the first bind), makes the ROUTER at the
    first BIND and hands it to the responder, and binds each endpoint.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_NET_LISTENER_H
#define ZGM_NET_LISTENER_H

#include "core/errors.h"
#include "core/key.h"
#include "core/limits.h"
#include "core/names.h"
#include "core/security.h"

#include <czmq.h>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>

namespace zgm {

class Responder;
struct ZapDomain;

//  A setting's number: decimal digits only, at most max; false if it is not one.
bool parse_number(const std::string& text, uint64_t max, uint64_t* value);

//  A numeric setting of a server: its name, the least and the most it takes, and what it
//  sets.
struct NumberSetting {
    const char* name;
    uint64_t least;
    uint64_t most;
    std::function<void(uint64_t)> apply;
};

//  Sets name from value through the setting of that name: *code kOk, or kInvalid with *why
//  (not a number up to its most, or under its least) and nothing set. False if no setting
//  has that name.
bool set_number(std::initializer_list<NumberSetting> settings, const std::string& name,
                const std::string& value, Error* code, std::string* why);

class Listener {
public:
    //  who: the role as the log and its errors name it ("registry", "group server");
    //  min_frame: the smallest max-frame it takes; read_ahead: how many requests of a
    //  connection libzmq reads ahead of the role (new_server_socket).
    //  It sets the rate, connections and frame of *limits and the rate of *rates, and gives
    //  its socket to *responder; all three are the role's and outlive it.
    Listener(const char* who, uint32_t min_frame, ServerLimits* limits, RateLimiter* rates,
             Responder* responder, int read_ahead = kReadAheadRequests);
    ~Listener() { close(); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    //  Takes a setting every server has: key-public, key-secret, insecure, admin, max-rate,
    //  max-connections, max-frame, max-unread-bytes, max-unread-total. False if name is none of
    //  them; else true, with *code (and, unless kOk, *why).
    bool set(const std::string& name, const std::string& value, Error* code, std::string* why);

    //  Makes the socket at the first call, binds endpoint, and answers BIND on pipe (the
    //  port, errno and why). Returns the port (see bind_server_socket), or -1; *bound gets
    //  the endpoint as bound.
    int bind(zsock_t* pipe, const std::string& endpoint, std::string* bound);
    //  Destroys the socket and gives back its descriptors.
    void close();

    //  The ROUTER, once bound (NULL before).
    zsock_t* socket() const { return socket_; }
    const KeyPair& keys() const { return keys_; }
    Security security() const { return security_; }
    //  The socket's ZAP domain, once bound (NULL before): its connection counts.
    ZapDomain* domain() const { return domain_.get(); }
    //  True for its own key and for the keys given as admin: they may ask for STATS.
    bool admin(const Key& key) const;
    //  Gives the process's free memory back to the system once kChurnConnections
    //  connections have closed since it last did. Call now and then.
    void give_back_memory();

private:
    const char* who_;
    uint32_t min_frame_;
    int read_ahead_;
    ServerLimits* limits_;
    RateLimiter* rates_;
    Responder* responder_;
    zsock_t* socket_ = nullptr;
    std::shared_ptr<ZapDomain> domain_;
    bool descriptors_ = false; //  reserved for limits_->connections
    KeyPair keys_;
    Security security_ = Security::kCurve;
    std::set<Key> admins_;
    uint64_t opened_at_trim_ = 0; //  connections opened when memory was last given back
    int connections_at_trim_ = 0; //  and open then
};

} // namespace zgm

#endif
