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

void Receipts::sent(void* socket, const std::string& to, size_t bytes, int64_t now_ms) {
    Connection& c = connections_[to];
    c.sent += bytes;
    c.active_ms = now_ms;
    if (c.sent - c.marked >= kMarkBytes && !mark(socket, to, c)) connections_.erase(to);
}

bool Receipts::mark(void* socket, const std::string& to, Connection& c) {
    proto::Message message;
    message.id = proto::kMark;
    random_bytes((uint8_t*)&message.token, sizeof message.token);
    if (message.token == 0) message.token = 1;
    if (proto::send(socket, to, message, ZMQ_DONTWAIT) != 0)
        return errno != EHOSTUNREACH; //  full: the next frame sent marks again
    c.marked = c.sent;
    c.marks.emplace_back(message.token, c.sent);
    if (c.marks.size() > kMaxMarks) c.marks.erase(c.marks.begin());
    return true;
}

bool Receipts::received(const std::string& from, uint64_t token, int64_t now_ms) {
    auto found = connections_.find(from);
    if (found != connections_.end()) {
        Connection& c = found->second;
        for (size_t i = 0; i < c.marks.size(); i++) {
            if (c.marks[i].first != token) continue;
            c.read = c.marks[i].second;
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
    for (auto it = connections_.begin(); it != connections_.end();) {
        Connection& c = it->second;
        if (now_ms - c.active_ms < idle_ms) {
            ++it;
            continue;
        }
        c.active_ms = now_ms;
        if (!mark(socket, it->first, c))
            it = connections_.erase(it);
        else
            ++it;
    }
}

} // namespace zgm
