/*  =========================================================================
    receipts.h - what each connection of a server has shown it read

    A server counts the bytes it sends to each connection (its ROUTER routing id). After
    every kMarkBytes of them it sends MARK with a token nobody can guess, and the client
    returns the token in RECEIPT once it has read that far: TCP and libzmq keep a
    connection's frames in order, so a token proves that everything sent before its MARK
    was read. What was sent past the last MARK returned is the connection's unread bytes.
    From half the limit (--max-unread-bytes) on, a group server pushes the connection
    nothing, and from the limit on, the server answers its requests 429, until it reads: a
    client that never reads, or returns tokens it never saw, makes the server hold at most
    the limit, plus the frame that went over it and the small answers libzmq's queue holds.
    The half kept from pushes is for answers: a follower slow to read what it is pushed is
    still answered. (An answer it has not read counts too: at the least limit, 4 MiB, one
    FETCH page of up to 2 MiB beside the pushes can reach it, and the next request waits for
    the page to be read.)

    All connections together have --max-unread-total of what they were sent, a push (a
    DELIVER, one frame every follower's connection shares) counted once: each follower it
    went to is charged its share (its size over their number), so that followers of one
    group that do not read count what the server holds for them once, and a connection
    pushed frames nobody else is (a group of its own) counts them whole. An answer goes
    within what is left of it, or within the kMarkBytes each connection has of its own
    (room(): a page is cut to it, another answer over a few KiB is refused); past it
    (pressed()) the limit of each connection is kMarkBytes, so that those that do not read
    hold at most the total and kMarkBytes each (and what went past it), and those that read
    go on, kMarkBytes per MARK they return. (A frame whose other followers read it is held
    for those that do not, at their share: a connection that follows busy groups of many
    readers and reads nothing holds up to half its limit of such frames.) A connection over
    its limit is refused kMaxRefusals times at most until it reads (may_refuse()); what it
    asks then is refused once it reads (defer()), so that its refusals do not pile up.

    Acknowledgements of content (FOLLOW's seqs) say what a client claims to have; a token
    shows what it has read, which is what the server's memory depends on.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_NET_RECEIPTS_H
#define ZGM_NET_RECEIPTS_H

#include "core/limits.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zgm {

class Receipts {
public:
    //  Sent between two MARKs to one connection.
    static constexpr uint64_t kMarkBytes = 256 * 1024;
    //  MARKs a connection may leave unreturned; past it the oldest is forgotten (an honest
    //  client returns each as it reads, and is never near it).
    static constexpr size_t kMaxMarks = 1024;
    //  A connection neither sent to nor returning a MARK for this long is probed with one, and
    //  forgotten once the ROUTER says it is gone.
    static constexpr int64_t kIdleMs = 60000;
    //  Past twice the connections a server takes, connections that closed are looked for
    //  among all those counted, at most this often.
    static constexpr int64_t kCrowdedSweepMs = 1000;
    //  From half the total on, a connection with unread bytes is probed once idle this long.
    static constexpr int64_t kPressedIdleMs = 1000;
    //  Refusals for unread bytes (429) a connection is sent between two RECEIPTs at most: it
    //  was told to read first, and what it asks after them is answered only once it reads
    //  (else the refusals of a connection that never reads would pile up in its queue,
    //  10,000 frames of them). A client that reads returns the MARK it has been sent, and is
    //  then refused the requests it made meanwhile (deferred, kMaxDeferred of them at most:
    //  the rest go unanswered), and answered again.
    static constexpr uint32_t kMaxRefusals = 16;
    static constexpr size_t kMaxDeferred = 1024;

    void set_limit(uint64_t bytes) { limit_ = bytes; }
    //  The server's --max-unread-total: the unread bytes of all its connections together
    //  past which each connection is held to kMarkBytes (see pressed()).
    void set_total_limit(uint64_t bytes) { total_limit_ = bytes; }
    //  The server's --max-connections: how many connections it counts before it looks for
    //  closed ones at once, not after kIdleMs.
    void set_connections(uint32_t connections) { crowded_ = 2 * (size_t)connections; }
    uint64_t limit() const { return limit_; }
    uint64_t total_limit() const { return total_limit_; }

    //  The bytes sent to `to` that it has not shown it read.
    uint64_t unread(const std::string& to) const;
    //  The unread bytes of all connections together, each push (a DELIVER, one frame shared
    //  by every follower it goes to, held until the last has it) at its share: what the
    //  server holds for the connections.
    uint64_t total() const { return total_; }
    //  True while total() is at --max-unread-total: then each connection may leave no more
    //  than kMarkBytes unread before it reads (the least that shows it reads: a MARK waits
    //  to be returned once it is past them), so that the connections that do not read hold
    //  at most the total and kMarkBytes each, and those that read go on.
    bool pressed() const { return total_ >= total_limit_; }
    //  What `to` may leave unread now: the limit, or kMarkBytes while pressed().
    uint64_t allowed() const { return pressed() ? std::min(limit_, kMarkBytes) : limit_; }
    //  True once unread(to) reaches allowed(): the server answers 429.
    bool over(const std::string& to) const { return unread(to) >= allowed(); }
    //  True once unread(to) reaches half of allowed(): a group server pushes nothing, and
    //  what is left goes to answers.
    bool holds_pushes(const std::string& to) const { return unread(to) >= allowed() / 2; }
    //  The bytes an answer to `to` may take now without going past its limit or the total,
    //  except that a connection always has kMarkBytes of its own (at least 1).
    uint64_t room(const std::string& to) const;
    //  True if `to`, over() or sent an answer that does not fit in room(), may be sent a
    //  refusal now (kMaxRefusals), which it then counts; false: defer() it.
    bool may_refuse(const std::string& to);
    //  Keeps request_id of `to` to be refused once it reads (take_deferred); false if
    //  kMaxDeferred are kept already: it goes unanswered.
    bool defer(const std::string& to, uint32_t request_id);
    //  The requests deferred for `to`, taken: refuse them after a RECEIPT.
    std::vector<uint32_t> take_deferred(const std::string& to);

    //  After a frame of `bytes` went to `to` on socket (a ROUTER): counts it, and sends a
    //  MARK when kMarkBytes have gone since the last one. A frame shared by `sharers`
    //  connections (a push: one DELIVER frame for every follower it goes to), `to` the
    //  place-th of them, counts whole for the connection and its share in total(): the
    //  shares of all of them add up to bytes.
    void sent(void* socket, const std::string& to, size_t bytes, int64_t now_ms, size_t sharers = 1,
              size_t place = 0);
    //  The place-th of sharers shares of bytes: they add up to bytes.
    static uint64_t share(size_t bytes, size_t sharers, size_t place) {
        if (sharers <= 1) return bytes;
        return bytes / sharers + (place < bytes % sharers ? 1 : 0);
    }
    //  A RECEIPT of token from `from`: what went before that MARK is read. False if no MARK
    //  of that connection has that token (a forged or a forgotten one): nothing changes.
    bool received(const std::string& from, uint64_t token, int64_t now_ms);
    //  Probes the connections idle for kIdleMs (all of them when more are counted than the
    //  server takes, at most every kCrowdedSweepMs; those with unread bytes after
    //  kPressedIdleMs from half the total on) with a MARK, and forgets those the ROUTER
    //  no longer has. Call now and then.
    void sweep(void* socket, int64_t now_ms);
    //  Forgets `to` (its connection is gone: a send to it said EHOSTUNREACH).
    void forget(const std::string& to);
    //  Sends `to` a MARK now if it was sent anything since the last one: a connection held
    //  back below kMarkBytes unread has a MARK to return, and shows it read without waiting
    //  for the next answer. False if the ROUTER does not have `to` any more.
    bool mark_now(void* socket, const std::string& to, int64_t now_ms);

private:
    struct Connection {
        uint64_t sent = 0;         //  bytes sent, all told
        uint64_t read = 0;         //  of them, shown read (the position of the last MARK returned)
        uint64_t marked = 0;       //  the position of the last MARK sent
        uint64_t charged = 0;      //  of the bytes sent, what counts in total_ (a push its share)
        uint64_t charged_read = 0; //  of it, shown read
        int64_t active_ms = 0;     //  last sent to, or a RECEIPT came
        uint32_t refusals = 0;     //  429s for unread bytes since the last RECEIPT
        std::vector<uint32_t> deferred; //  requests to refuse once it reads
        struct Mark {
            uint64_t token;
            uint64_t position; //  sent, when it went
            uint64_t charged;  //  charged, when it went
        };
        std::vector<Mark> marks; //  oldest first
    };
    //  Sends a MARK at c's position; false if the ROUTER does not have `to` any more.
    bool mark(void* socket, const std::string& to, Connection& c);
    //  Forgets the connection at it, and its unread bytes.
    std::unordered_map<std::string, Connection>::iterator
    erase(std::unordered_map<std::string, Connection>::iterator it);

    std::unordered_map<std::string, Connection> connections_;
    uint64_t limit_ = ServerLimits().unread_bytes;
    uint64_t total_limit_ = ServerLimits().unread_total;
    uint64_t total_ = 0; //  the sum of every connection's charged - charged_read
    size_t crowded_ = 2 * (size_t)ServerLimits().connections;
    int64_t crowded_sweep_ms_ = 0; //  the last sweep of all, when crowded
};

} // namespace zgm

#endif
