/*  =========================================================================
    receipts.cc - what each connection of a server has shown it read

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "net/receipts.h"

#include "core/uuid.h"
#include "proto/proto.h"

#include <cerrno>

namespace zgm {

static_assert(kMinUnreadBytes >= proto::kMaxFrame,
              "one answer must not put a connection over the least limit on its own");

uint64_t Receipts::unread(const std::string& to) const {
    auto found = connections_.find(to);
    return found == connections_.end() ? 0 : found->second.sent - found->second.read;
}

uint64_t Receipts::room(const std::string& to) const {
    uint64_t unread = this->unread(to);
    if (unread >= limit_) return 1;
    uint64_t own = unread < kMarkBytes ? kMarkBytes - unread : 0;
    uint64_t shared = total_ < total_limit_ ? total_limit_ - total_ : 0;
    return std::max<uint64_t>(1, std::min(limit_ - unread, std::max(own, shared)));
}

void Receipts::sent(void* socket, const std::string& to, size_t bytes, int64_t now_ms,
                    size_t sharers, size_t place) {
    auto it = connections_.try_emplace(to).first;
    Connection& c = it->second;
    c.sent += bytes;
    uint64_t charge = share(bytes, sharers, place);
    c.charged += charge;
    total_ += charge;
    c.active_ms = now_ms;
    if (c.sent - c.marked >= kMarkBytes && !mark(socket, to, c)) erase(it);
}

bool Receipts::may_refuse(const std::string& to) {
    auto it = connections_.find(to);
    if (it == connections_.end()) return true;
    if (it->second.refusals >= kMaxRefusals) return false;
    it->second.refusals++;
    return true;
}

bool Receipts::defer(const std::string& to, uint32_t request_id) {
    auto it = connections_.find(to);
    if (it == connections_.end() || it->second.deferred.size() >= kMaxDeferred) return false;
    it->second.deferred.push_back(request_id);
    return true;
}

std::vector<uint32_t> Receipts::take_deferred(const std::string& to) {
    std::vector<uint32_t> taken;
    auto it = connections_.find(to);
    if (it != connections_.end()) taken.swap(it->second.deferred);
    return taken;
}

bool Receipts::mark_now(void* socket, const std::string& to, int64_t now_ms) {
    auto it = connections_.find(to);
    if (it == connections_.end() || it->second.sent == it->second.marked) return true;
    it->second.active_ms = now_ms;
    if (mark(socket, to, it->second)) return true;
    erase(it);
    return false;
}

void Receipts::forget(const std::string& to) {
    auto it = connections_.find(to);
    if (it != connections_.end()) erase(it);
}

std::unordered_map<std::string, Receipts::Connection>::iterator
Receipts::erase(std::unordered_map<std::string, Connection>::iterator it) {
    total_ -= it->second.charged - it->second.charged_read;
    return connections_.erase(it);
}

bool Receipts::mark(void* socket, const std::string& to, Connection& c) {
    proto::Message message;
    message.id = proto::kMark;
    random_bytes((uint8_t*)&message.token, sizeof message.token);
    if (message.token == 0) message.token = 1;
    if (proto::send(socket, to, message, ZMQ_DONTWAIT) != 0)
        return errno != EHOSTUNREACH; //  full: the next frame sent marks again
    c.marked = c.sent;
    c.marks.push_back({message.token, c.sent, c.charged});
    if (c.marks.size() > kMaxMarks) c.marks.erase(c.marks.begin());
    return true;
}

bool Receipts::received(const std::string& from, uint64_t token, int64_t now_ms) {
    auto found = connections_.find(from);
    if (found != connections_.end()) {
        Connection& c = found->second;
        for (size_t i = 0; i < c.marks.size(); i++) {
            if (c.marks[i].token != token) continue;
            total_ -= c.marks[i].charged - c.charged_read;
            c.read = c.marks[i].position;
            c.charged_read = c.marks[i].charged;
            c.refusals = 0;
            c.marks.erase(c.marks.begin(), c.marks.begin() + (long)i + 1);
            c.active_ms = now_ms;
            return true;
        }
    }
    return false;
}

void Receipts::sweep(void* socket, int64_t now_ms) {
    int64_t idle_ms = kIdleMs;
    if (connections_.size() > crowded_ && now_ms - crowded_sweep_ms_ >= kCrowdedSweepMs) {
        idle_ms = 0;
        crowded_sweep_ms_ = now_ms;
    }
    //  From half the total on, one that holds unread bytes is probed sooner: a closed one's
    //  bytes leave the total within a second or two, not after kIdleMs.
    bool pressed = total_ >= total_limit_ / 2;
    for (auto it = connections_.begin(); it != connections_.end();) {
        Connection& c = it->second;
        int64_t idle = pressed && c.sent > c.read ? std::min(idle_ms, kPressedIdleMs) : idle_ms;
        if (now_ms - c.active_ms < idle) {
            ++it;
            continue;
        }
        c.active_ms = now_ms;
        if (!mark(socket, it->first, c))
            it = erase(it);
        else
            ++it;
    }
}

} // namespace zgm
