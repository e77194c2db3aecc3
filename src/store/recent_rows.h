/*  =========================================================================
    recent_rows.h - the newest messages of the SQLite store's groups, kept in memory as
    they were committed, so that a fetch of recent history reads no SQLite rows

    A member that comes back, a listener that catches up and a chat that opens on its last
    messages all read the newest part of a group's log. SQLite reads each of those rows
    through its B-tree and its column accessors, about 0.3-0.5 us a row on a 2-CPU EPYC
    (BENCHMARKS.md, "What bounds fetch-since"); here a row is a header and two spans in a
    chunk of memory, read in place.

    Each group keeps a run of consecutive seqs, in chunks of up to about kChunkBytes (or a
    sixteenth of max_bytes, when that is less, so that a small bound holds many) that grow
    as rows come (a group of one 100-byte message holds about 1.3 KB, its structures included; a
    full chunk wastes nothing). Memory is counted as allocated; measured against glibc's malloc,
    the count is 2 % below it for a group of many rows and 20 % above it for groups of one. A
    row is added after its transaction committed, so what is here was stored; a row whose seq
    does not follow the run starts the group's run again. Retention's trims drop the chunks
    below the oldest kept seq, and a fetch reads rows here only when every seq it asks for is
    here and kept. Past max_bytes (all groups together), the oldest chunk of all goes. Nothing
    here is persistent: after a restart a fetch reads SQLite until new messages come.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_STORE_RECENT_ROWS_H
#define ZGM_STORE_RECENT_ROWS_H

#include "core/key.h"
#include "core/uuid.h"
#include "store/store.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zgm {

class RecentRows {
public:
    //  Rows of up to about this many bytes share a chunk (one larger row has its own).
    static constexpr size_t kChunkBytes = 256 * 1024;

    //  Keeps rows in at most max_bytes of memory, counted as allocated (0: none).
    explicit RecentRows(size_t max_bytes) { set_max_bytes(max_bytes); }

    //  One committed message of group (the store's group key).
    void add(int64_t group, uint64_t seq, uint64_t timestamp, const Key& sender,
             const std::string& sender_name, const Uuid& msg_id, const std::string& body);
    //  Retention kept seqs from `first` on: the rows below it are not read again.
    void kept_from(int64_t group, uint64_t first);
    //  Whether every seq from..to of group is here.
    bool covers(int64_t group, uint64_t from, uint64_t to) const;
    //  Calls visit (const MessageView&) for seqs from..to of group, which covers() said are
    //  here, in order, until it returns false.
    template <typename Visit>
    void read(int64_t group, uint64_t from, uint64_t to, Visit visit) const;

    size_t bytes() const { return bytes_; }
    //  A new bound: past it the oldest chunks go at once.
    void set_max_bytes(size_t max_bytes);

private:
    //  A row: its header, then the sender's name and the body.
    struct Header {
        uint64_t seq;
        uint64_t timestamp;
        uint8_t sender[kKeySize];
        uint8_t msg_id[16];
        uint32_t body_size;
        uint16_t name_size;
        uint8_t has_msg_id;
    };
    struct Chunk {
        uint64_t first_seq = 0;
        uint64_t order = 0; //  when it was started, among every group's chunks
        std::vector<uint32_t> offsets;
        std::vector<char> data; //  reserve() gives what it is asked, no more
    };
    struct Run {
        uint64_t first = 0; //  the oldest seq to read (retention may have dropped those below)
        uint64_t next = 0;  //  the seq that follows the newest row
        std::deque<Chunk> chunks;
    };

    //  What a run holds besides its chunks: its entries in runs_ and fronts_, its deque's
    //  map and first block (about 800 bytes with glibc's malloc, measured).
    static constexpr size_t kRunBytes = 1024;

    static size_t chunk_bytes(const Chunk& chunk);
    void drop_front(int64_t group, Run& run);
    void evict();
    static MessageView view_of(const Chunk& chunk, size_t index);

    size_t max_bytes_ = 0;
    size_t chunk_limit_ = 0; //  kChunkBytes, or less under a small max_bytes_
    size_t bytes_ = 0;       //  the runs' and chunks' memory, as allocated
    uint64_t chunks_started_ = 0;
    std::unordered_map<int64_t, Run> runs_;
    //  Each run's oldest chunk, by when it was started: the first is the oldest of all.
    std::set<std::pair<uint64_t, int64_t>> fronts_;
};

template <typename Visit>
void RecentRows::read(int64_t group, uint64_t from, uint64_t to, Visit visit) const {
    auto found = runs_.find(group);
    if (found == runs_.end()) return;
    const std::deque<Chunk>& chunks = found->second.chunks;
    //  The last chunk that starts at or before from.
    size_t low = 0, high = chunks.size();
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (chunks[middle].first_seq <= from)
            low = middle;
        else
            high = middle;
    }
    uint64_t seq = from;
    for (size_t c = low; c < chunks.size() && seq <= to; c++) {
        const Chunk& chunk = chunks[c];
        for (size_t i = seq - chunk.first_seq; i < chunk.offsets.size() && seq <= to; i++, seq++)
            if (!visit(view_of(chunk, i))) return;
    }
}

inline MessageView RecentRows::view_of(const Chunk& chunk, size_t index) {
    const char* row = chunk.data.data() + chunk.offsets[index];
    Header header;
    memcpy(&header, row, sizeof header);
    const char* name = row + sizeof header;
    MessageView view;
    view.seq = header.seq;
    view.timestamp = header.timestamp;
    view.sender = (const uint8_t*)(row + offsetof(Header, sender));
    view.sender_name = name;
    view.sender_name_size = header.name_size;
    view.msg_id = header.has_msg_id ? (const uint8_t*)(row + offsetof(Header, msg_id)) : nullptr;
    view.body = name + header.name_size;
    view.body_size = header.body_size;
    return view;
}

} // namespace zgm

#endif
