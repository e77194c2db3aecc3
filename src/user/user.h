/*  =========================================================================
    user.h - the user actor and what crosses between it and the C API

    The C API (src/api.cc) hands the actor one Call per function, by pointer, on the
    actor's pipe; the actor fills in the outcome and hands the same pointer back (an
    asynchronous send is not handed back: its outcome comes as an Event). Live messages and
    send outcomes cross to the caller as Events, by pointer, on the events queue: a batch of
    messages keeps the received frame they point into, so nothing is encoded again or
    copied on the way.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_USER_USER_H
#define ZGM_USER_USER_H

#include "core/errors.h"
#include "core/security.h"
#include "proto/proto.h"
#include "user/host.h"

#include <atomic>
#include <czmq.h>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace zgm {

//  Messages of one group that share one received frame (a DELIVER or a MESSAGES): the
//  records point into it. Counted: each message handed out holds a reference.
struct Batch {
    std::atomic<int> references{1};
    std::string group;
    proto::Frame frame;
    std::vector<proto::MessageView> records;
    std::vector<uint64_t> missed; //  per record: trimmed messages just before it (or empty)

    void release() {
        if (references.fetch_sub(1) == 1) delete this;
    }
};

//  The outcome of one asynchronous send.
struct SendOutcome {
    Uuid msg_id;
    std::string group;
    uint64_t seq = 0;
    uint64_t timestamp = 0;
    Error error = Error::kOk;
    std::string why;
    size_t size = 0; //  the body's size
};

//  What the events queue carries: a batch of live messages, or send outcomes.
struct Event {
    Batch* batch = nullptr; //  owned (one reference)
    std::vector<SendOutcome> outcomes;

    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() {
        if (batch) batch->release();
    }
};

//  The events queue: Events from the actor to the caller, in order, by pointer (one thread
//  puts, one takes). Its fd (an eventfd) is readable while events wait in the queue or the
//  caller holds some it took and has not handed out (events.cc). A handover costs at most
//  a write when the fd becomes readable and a read when it stops, where a libzmq pipe took
//  a getpid and an eventfd write to put and a poll, a getpid and a read or more to take
//  (measured in BENCHMARKS.md).
class EventQueue {
public:
    //  Events waiting at most; past that the actor holds back (and fetches later).
    static constexpr size_t kMaxEvents = 100000;

    EventQueue();
    //  Events nobody took go with the queue.
    ~EventQueue();
    EventQueue(const EventQueue&) = delete;
    EventQueue& operator=(const EventQueue&) = delete;

    //  -1 if the queue could not be made (no eventfd).
    int fd() const { return fd_; }
    //  The actor: puts an event at the end; false (the event not taken) when kMaxEvents
    //  wait.
    bool put(Event* event);
    //  The caller: the first event, or nullptr if none waits. Leaves the fd as it is.
    Event* take();
    //  The caller: waits up to timeout_ms (-1: for ever) until an event waits; false if
    //  none came (or a signal came: the caller counts the time left).
    bool wait(int timeout_ms);
    //  The actor: whether kMaxEvents wait (a put would be refused). Without the lock: only
    //  the actor puts, so a queue it finds short of full stays so until its next put.
    bool full() const;
    //  The caller, at the end of each of its calls: makes the fd readable if events wait
    //  or it holds some (holding), unreadable if not.
    void settle(bool holding);

private:
    //  Removes the fd's token, waiting for it if its write is on its way.
    void read_token();

    std::mutex mutex_;
    std::deque<Event*> events_;
    std::atomic<size_t> size_{0}; //  events_.size(), for full() without the lock
    //  The fd has its token, or a write of it is on its way. Changed under the lock; only the
    //  caller makes it false, so a caller that reads it true without the lock reads the truth.
    std::atomic<bool> readable_{false};
    int fd_ = -1;
};

//  One call of the C API.
struct Call {
    enum Kind {
        kConnect,     //  text: endpoint, key: registry key, insecure
        kGroups,      //  -> groups
        kResolve,     //  group -> groups[0]
        kCreate,      //  group, policy -> groups[0]
        kJoin,        //  group
        kLeave,       //  group
        kFollow,      //  group, after_seq
        kFollowMany,  //  names, seqs -> count
        kUnfollow,    //  group
        kMemberships, //  -> groups
        kSend,        //  group, body, msg_id (nil: new) -> msg_id, seq, timestamp
        kSendAsync,   //  the same; the outcome comes as an Event
        kFetch,       //  group, query -> batches, missed, more
        kMembers,     //  group -> members, key (owner)
        kAdd,         //  group, key
        kRemove,      //  group, key
        kGive,        //  group, key
        kPolicy,      //  group, policy
        kRetain,      //  group, query.limit/until_us/since_us as count/bytes/age_ms
        kLastSeq,     //  group -> seq
        kStats,       //  text: endpoint, key: its key -> body: the report's lines
    };

    explicit Call(Kind what) : kind(what) {}

    Kind kind;
    int timeout_ms = 5000;
    //  In
    std::string group;
    std::string text;
    Key key;
    uint8_t policy = 0;
    bool insecure = false;
    uint64_t after_seq = 0;
    std::string body;
    Uuid msg_id; //  nil: make one
    std::vector<std::string> names;
    std::vector<uint64_t> seqs;
    struct {
        uint64_t since_us = 0, until_us = 0, after_seq = 0, before_seq = 0;
        uint64_t limit = 0;
        bool newest = false;
    } query;
    uint64_t max_count = 0, max_bytes = 0, max_age_ms = 0;
    //  Out
    Error error = Error::kOk;
    std::string why;
    uint64_t seq = 0;
    uint64_t timestamp = 0;
    size_t count = 0;
    std::vector<proto::GroupRecord> groups;
    std::vector<proto::MemberRecord> members;
    std::vector<Batch*> batches; //  fetched, each owned (one reference)
    uint64_t missed = 0;
    bool more = false;
};

//  Message bytes the actor may hand to the caller beyond what the caller has read; past
//  that it holds back, and fetches them later.
constexpr uint64_t kMaxUnreadBytes = 16u << 20;

//  What a batch handed over counts against kMaxUnreadBytes: its frame, the views of its
//  records, and kBatchCharge for the event and batch around them, the memory the caller
//  is left holding. Counted by frame bytes only, 100,000 batches of one small message
//  each filled the events queue at about 10 MiB; now they reach the bound first.
constexpr uint64_t kBatchCharge = 256;
static_assert(kMaxUnreadBytes / kBatchCharge + 1 < EventQueue::kMaxEvents,
              "batches reach kMaxUnreadBytes before they fill the events queue");
inline uint64_t unread_charge(const Batch& batch) {
    return batch.frame.size() + batch.records.size() * sizeof(proto::MessageView) + kBatchCharge;
}

//  What the caller and the actor share, besides the pipe of calls.
struct UserShared {
    std::atomic<uint64_t> consumed_bytes{0}; //  unread_charge of the batches the caller finished
    EventQueue events;
};

//  What the actor is started with.
struct UserArgs {
    KeyPair keys;
    std::string name;
    Security security = Security::kCurve;
    UserShared* shared; //  outlives the actor
};

//  A user actor, to run on the host (user/host.h). Its pipe takes Call pointers ("p");
//  each is handed back ("p") when done, but for kSendAsync.
Hosted* new_user_actor(zsock_t* pipe, UserArgs* args);

} // namespace zgm

#endif
