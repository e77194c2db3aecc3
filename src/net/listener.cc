/*  =========================================================================
    listener.cc - the listening side of a server

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "net/listener.h"

#include "core/log.h"
#include "core/zap.h"
#include "net/responder.h"
#include "net/sockets.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace zgm {

//  Connections that closed since the memory was last given back, before it is given back.
constexpr int kChurnConnections = 64;

bool parse_number(const std::string& text, uint64_t max, uint64_t* value) {
    if (text.empty() || text.size() > 20) return false;
    uint64_t result = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        uint64_t digit = (uint64_t)(c - '0');
        if (result > (UINT64_MAX - digit) / 10) return false; //  past 2^64 - 1
        result = result * 10 + digit;
    }
    if (result > max) return false;
    *value = result;
    return true;
}

bool set_number(std::initializer_list<NumberSetting> settings, const std::string& name,
                const std::string& value, Error* code, std::string* why) {
    for (const NumberSetting& setting : settings) {
        if (name != setting.name) continue;
        uint64_t number = 0;
        *code = Error::kInvalid;
        if (!parse_number(value, UINT64_MAX, &number)) {
            *why = name + ": '" + value + "' is not a number";
        } else if (number > setting.most) {
            *why = name + ": at most " + std::to_string(setting.most) + ", not " + value;
        } else if (number < setting.least) {
            *why = under_least(name, setting.least, value);
        } else {
            *code = Error::kOk;
            setting.apply(number);
        }
        return true;
    }
    return false;
}

Listener::Listener(const char* who, uint32_t min_frame, ServerLimits* limits, RateLimiter* rates,
                   Responder* responder, int read_ahead)
    : who_(who), min_frame_(min_frame), read_ahead_(read_ahead), limits_(limits), rates_(rates),
      responder_(responder) {
    keys_ = KeyPair::generate();
    responder_->receipts().set_limit(limits_->unread_bytes);
    responder_->receipts().set_total_limit(limits_->unread_total);
    responder_->receipts().set_connections(limits_->connections);
}

bool Listener::set(const std::string& name, const std::string& value, Error* code,
                   std::string* why) {
    bool key = name == "key-public" || name == "key-secret" || name == "admin";
    bool number = name == "max-rate" || name == "max-connections" || name == "max-frame" ||
                  name == "max-unread-bytes" || name == "max-unread-total";
    if (!key && !number && name != "insecure") return false;
    *code = Error::kInvalid;
    //  These make the socket, which the first bind makes once.
    if (name != "admin" && name != "max-rate" && name != "max-unread-bytes" &&
        name != "max-unread-total" && socket_) {
        *why = name + " must be set before the " + who_ + " binds";
        return true;
    }
    if (key) {
        Key parsed;
        if (!Key::parse(value, &parsed)) {
            *why = name + ": not a key (40 Z85 characters)";
            return true;
        }
        if (name == "admin")
            admins_.insert(parsed);
        else
            (name == "key-public" ? keys_.public_txt : keys_.secret_txt) = value;
    } else if (name == "insecure") {
        security_ = value == "1" ? Security::kInsecure : Security::kCurve;
    } else {
        set_number({{"max-rate", 0, UINT32_MAX,
                     [this](uint64_t n) {
                         limits_->rate = (uint32_t)n;
                         rates_->set_rate(limits_->rate);
                     }},
                    {"max-connections", 1, UINT32_MAX,
                     [this](uint64_t n) {
                         limits_->connections = (uint32_t)n;
                         responder_->receipts().set_connections(limits_->connections);
                     }},
                    {"max-frame", min_frame_, UINT32_MAX,
                     [this](uint64_t n) { limits_->frame = (uint32_t)n; }},
                    {"max-unread-bytes", kMinUnreadBytes, UINT64_MAX,
                     [this](uint64_t n) {
                         limits_->unread_bytes = n;
                         responder_->receipts().set_limit(n);
                     }},
                    {"max-unread-total", kMinUnreadTotal, UINT64_MAX,
                     [this](uint64_t n) {
                         limits_->unread_total = n;
                         responder_->receipts().set_total_limit(n);
                     }}},
                   name, value, code, why);
        return true;
    }
    *code = Error::kOk;
    return true;
}

//  Why a bind failed, in the terms of what was given: libzmq says "No such device" for a
//  host name that is not one of this machine's addresses or interfaces.
static const char* bind_error_text(int error) {
    if (error == ENODEV)
        return "no address or interface of this machine has that name (a bind takes an "
               "address, an interface such as lo or eth0, or *, not a host name: 127.0.0.1 "
               "for this machine alone)";
    if (error == EADDRNOTAVAIL) return "not an address of this machine";
    return zmq_strerror(error);
}

int Listener::bind(zsock_t* pipe, const std::string& endpoint, std::string* bound) {
    std::string problem = endpoint_problem(endpoint);
    if (!problem.empty()) {
        zsock_send(pipe, "iis", -1, EINVAL, problem.c_str());
        return -1;
    }
    if (!socket_) {
        int code = 0;
        std::string why;
        socket_ = open_server_socket(keys_, security_, limits_->connections, limits_->frame,
                                     read_ahead_, &domain_, &code, &why);
        if (!socket_) {
            zsock_send(pipe, "iis", -1, code, why.c_str());
            return -1;
        }
        descriptors_ = true;
        responder_->set_socket(socket_);
        if (security_ == Security::kInsecure)
            ZGM_LOG("%s: insecure: no encryption, and keys are not proven", who_);
    }
    int port = bind_server_socket(socket_, endpoint, bound);
    int error = port < 0 ? zmq_errno() : 0;
    if (port >= 0)
        ZGM_LOG("%s: listening on %s, key %s", who_, bound->c_str(), keys_.public_txt.c_str());
    zsock_send(pipe, "iis", port, error, port < 0 ? bind_error_text(error) : "");
    return port;
}

void Listener::close() {
    zap_close(&socket_, &domain_);
    if (descriptors_) release_descriptors(limits_->connections);
    descriptors_ = false;
}

bool Listener::admin(const Key& key) const {
    return key.str() == keys_.public_txt || admins_.count(key) > 0;
}

//  Each connection's buffers (handshake, codec, queues) are freed when it closes, but glibc
//  keeps what its arenas freed: after a burst of connections came and went, the process
//  would stay as large as at the burst's peak, and grow toward it after each burst. Once
//  such a burst has gone, the free memory goes back to the system.
void Listener::give_back_memory() {
    if (!domain_) return;
    const ZapDomain& domain = *domain_;
    uint64_t opened = domain.admitted + domain.refused_full + domain.refused_mechanism +
                      domain.refused_identity + domain.failed_handshakes;
    int connections = domain.connections;
    //  Connections opened since the memory was last given back, less those still open.
    int64_t gone = (int64_t)(opened - opened_at_trim_) - (connections - connections_at_trim_);
    if (gone < kChurnConnections) return;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    opened_at_trim_ = opened;
    connections_at_trim_ = connections;
}

} // namespace zgm
