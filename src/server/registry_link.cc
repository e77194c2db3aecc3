/*  =========================================================================
    registry_link.cc - a group server's connection to the registry

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "server/registry_link.h"

#include "core/clock.h"
#include "core/log.h"
#include "net/sockets.h"

namespace zgm {

namespace {

constexpr int kConnectTimeoutMs = 5000;
constexpr int kRegisterRetryMs = 250; //  a REGISTER answered "not now": try again then
constexpr int kUnsentRetryMs = 50;    //  the connection is not up yet: try again soon
constexpr int kSilentHeartbeats = 3;
constexpr int kChangeUpdateMs = 1000; //  a group's count and policy go at most this often

} // namespace

RegistryLink::~RegistryLink() {
    zsock_destroy(&socket_);
}

bool RegistryLink::connect(const std::string& endpoint, const Key& registry_key,
                           const KeyPair& keys, Security security, std::string* why) {
    if (bound_.empty() && advertise_.empty()) {
        *why = "bind the group server before connecting it to the registry";
        return false;
    }
    std::string problem = endpoint_problem(endpoint);
    if (!problem.empty()) {
        *why = "the registry: " + problem;
        return false;
    }
    zsock_destroy(&socket_);
    endpoint_ = endpoint;
    registry_key_ = registry_key;
    keys_ = keys;
    security_ = security;
    advertised_ = work_out_advertised();
    //  Immediate: a heartbeat is not queued for a registry that is not there.
    socket_ = new_client_socket(endpoint, true, keys, security, registry_key);
    if (!socket_) {
        *why = "cannot connect to " + endpoint + ": " + zmq_strerror(errno);
        return false;
    }
    for (auto& entry : groups_) {
        entry.second.registered = false;
        entry.second.sent = false;
        entry.second.refused.clear();
    }
    requests_.clear();
    quick_heartbeat_ = false;
    connect_pending_ = true;
    outcome_ready_ = false;
    known_ = false;
    refused_.clear();
    int64_t now = mono_ms();
    connect_deadline_ms_ = now + kConnectTimeoutMs;
    next_register_ms_ = now;
    next_heartbeat_ms_ = now;
    tick();
    return true;
}

void RegistryLink::reconnect() {
    zsock_t* fresh = new_client_socket(endpoint_, true, keys_, security_, registry_key_);
    if (!fresh) return;
    zsock_destroy(&socket_);
    socket_ = fresh;
    //  The host may have a new address (renumbered): the one the registry gives users too.
    //  Without a route to the registry (a link down) the old one stays, not 127.0.0.1.
    bool routed = false;
    std::string advertised = work_out_advertised(&routed);
    if (routed) advertised_ = advertised;
    requests_.clear();
    unanswered_ = 0;
    quick_heartbeat_ = false;
    for (auto& entry : groups_)
        entry.second.registered = entry.second.sent = false;
    next_register_ms_ = mono_ms();
}

bool RegistryLink::connect_outcome(Error* error, std::string* why) {
    if (!outcome_ready_) return false;
    outcome_ready_ = false;
    *error = outcome_;
    *why = outcome_why_;
    return true;
}

//  What a connect says of a registry's refusal (401, 430, 409).
static Error refusal_error(uint16_t status) {
    return status == proto::kDenied         ? Error::kDenied
           : status == proto::kLimitReached ? Error::kLimit
                                            : Error::kExists;
}

//  Decides a pending connect once every group is registered or refused, or at the deadline.
void RegistryLink::finish_connect(bool timed_out) {
    if (!connect_pending_) return;
    if (!known_ && !timed_out) return;
    const Entry* refused = nullptr;
    for (const auto& entry : groups_) {
        if (!entry.second.refused.empty())
            refused = &entry.second;
        else if (!entry.second.registered && !timed_out)
            return;
    }
    connect_pending_ = false;
    outcome_ready_ = true;
    outcome_why_.clear();
    if (!refused_.empty()) {
        //  Also for a server with no group yet: the registry would never send it a HOST.
        outcome_ = refusal_error(refused_status_);
        outcome_why_ = refused_;
    } else if (refused) {
        outcome_ = refusal_error(refused->refused_status);
        outcome_why_ = refused->refused;
    } else if (timed_out) {
        outcome_ = Error::kTimeout;
        outcome_why_ = "the registry at " + endpoint_ + " did not answer; still trying";
    } else {
        outcome_ = Error::kOk;
    }
}

void RegistryLink::update(const std::string& name, const GroupSummary& group) {
    Entry& entry = groups_[name];
    //  A change of a group the registry has (its member count, its policy), not a new one.
    bool changed_only = (entry.sent || entry.registered) && entry.summary.id == group.id;
    entry.summary = group;
    if (!socket_) return;
    int64_t now = mono_ms();
    if (changed_only && now - entry.changed_ms < kChangeUpdateMs) {
        if (!entry.change_due) wait_change(name, entry, entry.changed_ms + kChangeUpdateMs);
        return;
    }
    entry.changed_ms = now;
    //  At once, so a group placed here by HOST is registered before HOST is answered; one
    //  that could not go (the connection is not up) goes at the next tick that can: a new
    //  group with the REGISTERs, a change of one the registry has as a change that waits
    //  (the registry, up all along, would keep what it had: nothing else sends it again).
    bool sent = send_register(name, entry);
    if (!sent && changed_only) {
        wait_change(name, entry, now + kChangeUpdateMs);
        return;
    }
    entry.change_due = false; //  this one carries the latest change, or goes as a new group
    if (!sent && !entry.registered && entry.refused.empty() && !next_register_ms_)
        next_register_ms_ = mono_ms() + kUnsentRetryMs;
}

void RegistryLink::wait_change(const std::string& name, Entry& entry, int64_t due) {
    if (!entry.change_due) changes_due_.push_back(name);
    entry.change_due = true;
    change_due_by(due);
}

void RegistryLink::handle() {
    for (int i = 0; i < 1000; i++) {
        proto::Message message;
        proto::DecodeError rc =
            proto::recv(zsock_resolve(socket_), false, nullptr, &message, ZMQ_DONTWAIT);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return;
        if (rc != proto::DecodeError::kOk) continue; //  a registry that sends garbage: ignored
        if (proto::return_mark(zsock_resolve(socket_), message)) continue; //  read this far
        if (message.id == proto::kHost) {
            on_host(message);
            continue;
        }
        unanswered_ = 0;
        auto found = requests_.find(message.request_id);
        if (found == requests_.end()) continue;
        Request request = found->second;
        requests_.erase(found);
        if (request.id == proto::kRegister) {
            auto group = groups_.find(request.group);
            if (group == groups_.end()) continue;
            Entry& entry = group->second;
            if (message.id == proto::kOk) {
                known_ = true;
                refused_.clear();
                if (!entry.registered)
                    ZGM_LOG("group server: '%s' registered", request.group.c_str());
                entry.registered = true;
                entry.refused.clear();
            } else if (message.id == proto::kError &&
                       (message.status == proto::kConflict || message.status == proto::kDenied ||
                        message.status == proto::kLimitReached)) {
                known_ = true; //  an answer: the refusal is final, no need to wait it out
                if (entry.refused.empty())
                    ZGM_WARN("group server: the registry refused '%s': %s", request.group.c_str(),
                             message.reason.c_str());
                entry.refused = message.reason;
                entry.refused_status = message.status;
                entry.registered = false;
            } else {
                entry.sent = false; //  answered, not taken: the registry does not count it
                if (!next_register_ms_) next_register_ms_ = mono_ms() + kRegisterRetryMs;
            }
            finish_connect(false);
        } else if (request.id == proto::kHeartbeat && message.id == proto::kOk) {
            known_ = true;
            quick_heartbeat_ = false;
            refused_.clear();
            finish_connect(false);
        } else if (request.id == proto::kHeartbeat && message.id == proto::kError) {
            if (message.status == proto::kDenied || message.status == proto::kConflict) {
                known_ = true;
                if (refused_.empty())
                    ZGM_WARN("group server: the registry refused this group server: %s",
                             message.reason.c_str());
                refused_ = message.reason;
                refused_status_ = message.status;
                for (auto& entry : groups_) {
                    entry.second.refused = message.reason;
                    entry.second.refused_status = message.status;
                }
                finish_connect(false);
                continue;
            }
            //  The registry does not know us (it restarted, or expired us), or not all our
            //  groups (one it refused): register each again, which settles which it takes.
            ZGM_LOG("group server: registering our groups again (the registry answered our "
                    "heartbeat: %s)",
                    message.reason.c_str());
            for (auto& entry : groups_)
                entry.second.registered = entry.second.sent = false;
            next_register_ms_ = mono_ms();
            //  And a HEARTBEAT right after them, which tells a registry that has just
            //  started that it knows all our groups (hosted_count) when it took them all.
            //  Not after a HEARTBEAT sent so: each answered 404 would make another at once.
            if (!quick_heartbeat_) next_heartbeat_ms_ = next_register_ms_;
            quick_heartbeat_ = !quick_heartbeat_;
        }
    }
}

void RegistryLink::on_host(const proto::Message& request) {
    std::string why;
    uint16_t status = owner_->host_group(request.group, request.key, request.policy, &why);
    proto::Message answer;
    if (status == proto::kStatusOk) {
        answer.id = proto::kOk; //  after the REGISTER that update() sent
    } else {
        answer.id = proto::kError;
        answer.status = status;
        answer.reason = why.substr(0, proto::kMaxString);
    }
    answer.request_id = request.request_id;
    proto::send(zsock_resolve(socket_), "", answer, ZMQ_DONTWAIT);
}

void RegistryLink::change_due_by(int64_t due) {
    if (!next_change_ms_ || due < next_change_ms_) next_change_ms_ = due;
}

bool RegistryLink::send_register(const std::string& name, Entry& entry) {
    proto::Message message;
    message.id = proto::kRegister;
    message.endpoint = advertised();
    message.accept_new = accept_new_ && owner_->has_room() ? 1 : 0;
    message.group_id = entry.summary.id;
    message.group = name;
    message.policy = entry.summary.policy;
    message.member_count = entry.summary.members;
    bool sent = to_registry(message, name);
    entry.sent |= sent;
    return sent;
}

bool RegistryLink::send_heartbeat() {
    proto::Message message;
    message.id = proto::kHeartbeat;
    message.endpoint = advertised();
    message.accept_new = accept_new_ && owner_->has_room() ? 1 : 0;
    //  The groups registered and those whose REGISTER is on its way (sent before this on
    //  this connection, as in the same tick at start): the registry has read those by the
    //  time it reads this. Counting only the registered ones made the first HEARTBEAT get
    //  404 and every group register again; counting those not sent yet (past the socket's
    //  queue, with 10,001 groups) did the same at every heartbeat, a storm of REGISTERs.
    for (const auto& entry : groups_)
        message.group_count +=
            entry.second.registered || (entry.second.sent && entry.second.refused.empty()) ? 1 : 0;
    //  Every group, refused or not sent yet as well: the registry knows all our groups when
    //  it accepts a HEARTBEAT whose two counts are equal.
    message.hosted_count = (uint32_t)groups_.size();
    return to_registry(message);
}

int64_t RegistryLink::tick() {
    if (!socket_) return INT64_MAX;
    int64_t now = mono_ms();
    if (next_register_ms_ && now >= next_register_ms_) {
        //  A REGISTER that went out is not sent again while its answer may come: the
        //  connection keeps order and loses nothing but with itself (a reconnect sends every
        //  group again), and a HEARTBEAT that the registry answers 404 says it lost some.
        //  Sending every unanswered one again each time made a storm with many groups and a
        //  slow registry: 10,001 REGISTERs every 250 ms, which kept it from its input's end.
        //  The timer runs only while some REGISTER could not go: one sent waits for its
        //  answer, not for a walk over every group each 250 ms.
        bool unsent = false;
        for (auto& entry : groups_)
            if (!entry.second.registered && entry.second.refused.empty() && !entry.second.sent)
                unsent |= !send_register(entry.first, entry.second);
        next_register_ms_ = unsent ? now + kUnsentRetryMs : 0;
    }
    if (next_change_ms_ && now >= next_change_ms_) {
        //  The changes whose second is over, each the latest; the others wait on, and
        //  one that cannot go now (the connection is not up) goes soon.
        std::vector<std::string> waiting;
        next_change_ms_ = 0;
        for (const std::string& name : changes_due_) {
            auto found = groups_.find(name);
            if (found == groups_.end() || !found->second.change_due) continue;
            Entry& entry = found->second;
            int64_t due = entry.changed_ms + kChangeUpdateMs;
            if (now >= due && send_register(name, entry)) {
                entry.change_due = false;
                entry.changed_ms = now;
                continue;
            }
            if (now >= due) due = now + kUnsentRetryMs;
            waiting.push_back(name);
            change_due_by(due);
        }
        changes_due_.swap(waiting);
    }
    if (now >= next_heartbeat_ms_) {
        //  Refused groups try again now and then: the other server may be gone.
        for (auto& entry : groups_)
            if (!entry.second.refused.empty()) send_register(entry.first, entry.second);
        bool sent = send_heartbeat();
        next_heartbeat_ms_ = now + (sent ? heartbeat_ms_ : kUnsentRetryMs);
        //  Silent for several heartbeats: this connection may be given up; make another.
        if (sent && ++unanswered_ > kSilentHeartbeats) reconnect();
        //  Forget requests the registry never answered (it was down); the groups whose
        //  answer is forgotten with them are sent again.
        if (requests_.size() > groups_.size() + 10000) {
            requests_.clear();
            for (auto& entry : groups_)
                if (!entry.second.registered) entry.second.sent = false;
            if (!next_register_ms_) next_register_ms_ = now;
        }
    }
    if (connect_pending_ && now >= connect_deadline_ms_) finish_connect(true);
    int64_t next = next_heartbeat_ms_;
    if (next_register_ms_ && next_register_ms_ < next) next = next_register_ms_;
    if (next_change_ms_ && next_change_ms_ < next) next = next_change_ms_;
    if (connect_pending_ && connect_deadline_ms_ < next) next = connect_deadline_ms_;
    return next;
}

void RegistryLink::deregister() {
    if (!socket_) return;
    proto::Message message;
    message.id = proto::kDeregister;
    to_registry(message);
    //  Wait briefly for the OK so the DEREGISTER is not lost with the socket.
    int timeout = 500; //  zmq_setsockopt, not zsock_set_*, which asserts after zsys_shutdown
    zmq_setsockopt(zsock_resolve(socket_), ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    int64_t deadline = mono_ms() + 500;
    while (mono_ms() < deadline) {
        proto::Message reply;
        if (proto::recv(zsock_resolve(socket_), false, nullptr, &reply) ==
                proto::DecodeError::kNoFrame &&
            errno == EAGAIN)
            break;
        if (reply.request_id == message.request_id) break;
    }
}

std::string RegistryLink::work_out_advertised(bool* routed) const {
    bool ignored = false;
    if (!routed) routed = &ignored;
    *routed = true;
    if (!advertise_.empty()) return advertise_;
    if (!any_address(bound_)) return bound_;
    std::string host_port = endpoint_address(bound_);
    size_t colon = host_port.rfind(':');
    *routed = false;
    std::string local = "127.0.0.1";
    std::string registry = endpoint_address(endpoint_);
    size_t registry_colon = registry.rfind(':');
    if (endpoint_.compare(0, 6, "tcp://") == 0 && registry_colon != std::string::npos) {
        std::string routed_from =
            route_address(registry.substr(0, registry_colon), registry.substr(registry_colon + 1));
        if (!routed_from.empty()) {
            local = routed_from;
            *routed = true;
        }
    }
    return "tcp://" + local + host_port.substr(colon);
}

bool RegistryLink::to_registry(proto::Message& message, const std::string& group) {
    message.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (proto::send(zsock_resolve(socket_), "", message, ZMQ_DONTWAIT) != 0) return false;
    requests_[message.request_id] = {message.id, group};
    return true;
}

} // namespace zgm
