/*  =========================================================================
    recent_rows.cc - the newest messages of the SQLite store's groups, in memory

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/recent_rows.h"

#include <algorithm>

namespace zgm {

void RecentRows::add(int64_t group, uint64_t seq, uint64_t timestamp, const Key& sender,
                     const std::string& sender_name, const Uuid& msg_id, const std::string& body) {
    size_t size = sizeof(Header) + sender_name.size() + body.size();
    //  A row that would not fit with its run and chunk would go again at once.
    if (size + kRunBytes + sizeof(Chunk) > max_bytes_ || sender_name.size() > UINT16_MAX ||
        body.size() > UINT32_MAX)
        return;
    Run& run = runs_[group];
    if (run.next != seq) {
        //  Not the seq after the run (a row that could not be kept, or the first): the run
        //  starts again here.
        while (!run.chunks.empty())
            drop_front(group, run);
        run.first = seq;
    }
    run.next = seq + 1;
    if (run.chunks.empty() || run.chunks.back().data.size() + size > chunk_limit_) {
        bool first = run.chunks.empty();
        run.chunks.emplace_back();
        Chunk& chunk = run.chunks.back();
        chunk.first_seq = seq;
        chunk.order = chunks_started_++;
        //  The first row's bytes exactly; the chunk grows as rows come.
        chunk.data.reserve(size);
        bytes_ += chunk_bytes(chunk);
        if (first) {
            bytes_ += kRunBytes;
            fronts_.insert({chunk.order, group});
        }
    }
    Chunk& chunk = run.chunks.back();
    Header header;
    memset(&header, 0, sizeof header);
    header.seq = seq;
    header.timestamp = timestamp;
    memcpy(header.sender, sender.bytes, kKeySize);
    header.has_msg_id = msg_id.is_nil() ? 0 : 1;
    memcpy(header.msg_id, msg_id.bytes, sizeof header.msg_id);
    header.body_size = (uint32_t)body.size();
    header.name_size = (uint16_t)sender_name.size();
    size_t before = chunk_bytes(chunk);
    //  Twice as much room as it had, up to a chunk's limit: a full chunk wastes none.
    if (chunk.data.size() + size > chunk.data.capacity())
        chunk.data.reserve(
            std::max(chunk.data.size() + size, std::min(chunk_limit_, 2 * chunk.data.capacity())));
    chunk.offsets.push_back((uint32_t)chunk.data.size());
    const char* bytes = (const char*)&header;
    chunk.data.insert(chunk.data.end(), bytes, bytes + sizeof header);
    chunk.data.insert(chunk.data.end(), sender_name.begin(), sender_name.end());
    chunk.data.insert(chunk.data.end(), body.begin(), body.end());
    bytes_ += chunk_bytes(chunk) - before;
    evict();
}

void RecentRows::kept_from(int64_t group, uint64_t first) {
    auto found = runs_.find(group);
    if (found == runs_.end()) return;
    Run& run = found->second;
    if (first > run.first) run.first = first;
    //  Whole chunks below it go.
    while (!run.chunks.empty() &&
           (run.chunks.size() == 1 ? run.next : run.chunks[1].first_seq) <= first)
        drop_front(group, run);
    if (run.chunks.empty()) runs_.erase(found);
}

bool RecentRows::covers(int64_t group, uint64_t from, uint64_t to) const {
    auto found = runs_.find(group);
    if (found == runs_.end() || found->second.chunks.empty()) return false;
    const Run& run = found->second;
    return from <= to && from >= run.first && from >= run.chunks.front().first_seq && to < run.next;
}

void RecentRows::drop_front(int64_t group, Run& run) {
    fronts_.erase({run.chunks.front().order, group});
    bytes_ -= chunk_bytes(run.chunks.front());
    run.chunks.pop_front();
    if (run.chunks.empty()) {
        bytes_ -= kRunBytes;
        return;
    }
    fronts_.insert({run.chunks.front().order, group});
    if (run.chunks.front().first_seq > run.first) run.first = run.chunks.front().first_seq;
}

size_t RecentRows::chunk_bytes(const Chunk& chunk) {
    return sizeof(Chunk) + chunk.data.capacity() + chunk.offsets.capacity() * sizeof(uint32_t);
}

void RecentRows::set_max_bytes(size_t max_bytes) {
    max_bytes_ = max_bytes;
    chunk_limit_ = std::min(kChunkBytes, max_bytes / 16);
    evict();
}

//  Past max_bytes_, the oldest chunk of all goes (a group's oldest is its first).
void RecentRows::evict() {
    while (bytes_ > max_bytes_ && !fronts_.empty()) {
        int64_t group = fronts_.begin()->second;
        auto found = runs_.find(group);
        drop_front(group, found->second);
        if (found->second.chunks.empty()) runs_.erase(found);
    }
}

} // namespace zgm
