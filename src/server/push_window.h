/*  =========================================================================
    push_window.h - what a group pushed lately, to know how far behind a follower is

    After each push the window keeps its last seq and the bytes pushed so far, for the last
    --max-follower-bytes of pushes: a follower's backlog is the bytes pushed after the last
    push it has all of, by the seq it acknowledged. Pushes of one small message each made as
    many entries (about 47,000 of 90 bytes in 4 MiB, 16 bytes each, in every group with a
    follower). Entries are kept at least a spacing apart, 2 / kMaxEntries of the window, so
    that there are at most about kMaxEntries of them: a push closer than that to the entry
    before the last takes the last one's place. A backlog is then reckoned up to one spacing
    more than it is (8 KiB of the default 4 MiB: a follower catches up by FETCH that much
    sooner), never less.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_SERVER_PUSH_WINDOW_H
#define ZGM_SERVER_PUSH_WINDOW_H

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

namespace zgm {

class PushWindow {
public:
    static constexpr size_t kMaxEntries = 1024;

    //  Nothing pushed is kept: the window starts after seq (a group nobody follows, or one
    //  just loaded).
    void restart(uint64_t seq) {
        entries_.clear();
        base_seq_ = seq;
        base_bytes_ = pushed_bytes_;
    }
    //  A push of bytes whose last message is last_seq; the window keeps the pushes of the
    //  last limit bytes.
    void pushed(uint64_t last_seq, uint64_t bytes, uint64_t limit) {
        pushed_bytes_ += bytes;
        uint64_t spacing = 2 * limit / kMaxEntries;
        size_t count = entries_.size();
        if (count >= 2 && pushed_bytes_ - entries_[count - 2].second < spacing)
            entries_.back() = {last_seq, pushed_bytes_};
        else
            entries_.emplace_back(last_seq, pushed_bytes_);
        while (!entries_.empty() && pushed_bytes_ - entries_.front().second > limit) {
            base_seq_ = entries_.front().first;
            base_bytes_ = entries_.front().second;
            entries_.pop_front();
        }
    }
    //  The bytes pushed after what a follower that has every seq up to acked_seq has all
    //  of; UINT64_MAX when acked_seq is further back than the window.
    uint64_t behind(uint64_t acked_seq) const {
        if (acked_seq < base_seq_) return UINT64_MAX;
        uint64_t acked_bytes = base_bytes_;
        auto it = std::upper_bound(entries_.begin(), entries_.end(), acked_seq,
                                   [](uint64_t seq, const std::pair<uint64_t, uint64_t>& push) {
                                       return seq < push.first;
                                   });
        if (it != entries_.begin()) acked_bytes = std::prev(it)->second;
        return pushed_bytes_ - acked_bytes;
    }
    size_t entries() const { return entries_.size(); }

private:
    std::deque<std::pair<uint64_t, uint64_t>> entries_; //  (last seq, bytes pushed so far)
    uint64_t pushed_bytes_ = 0;
    uint64_t base_seq_ = 0;   //  before the oldest entry
    uint64_t base_bytes_ = 0; //  and the bytes pushed then
};

} // namespace zgm

#endif
