/*  =========================================================================
    caller.h - the caller's side of a user actor

    What a program's thread holds of a user: the actor, the events queue, the live messages
    and send outcomes taken from it and not handed out yet, and the flow control of
    asynchronous sends (how many are in flight, in count and bytes, and how many outcomes
    are unread). The C API (src/api.cc) keeps one of these per zgm_user_t and only turns its
    typed answers into C values.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_USER_CALLER_H
#define ZGM_USER_CALLER_H

#include "user/user.h"

#include <deque>

namespace zgm {

class UserCaller {
public:
    //  Asynchronous sends in flight (handed over, outcome not back) at most, in count and
    //  bytes; outcomes the caller may leave unread at most.
    static constexpr uint64_t kMaxInFlight = 10000;
    static constexpr uint64_t kMaxInFlightBytes = 16u << 20;
    static constexpr uint64_t kMaxUnreadOutcomes = 100000;

    //  Starts a user actor with these keys and display name. nullptr, with why, if it
    //  could not.
    static UserCaller* start(const KeyPair& keys, const std::string& name, std::string* why);
    //  Stops the actor; what it handed over and nobody took goes with it.
    ~UserCaller();
    UserCaller(const UserCaller&) = delete;
    UserCaller& operator=(const UserCaller&) = delete;

    //  One call: handed to the actor, handed back filled in. False if the actor is gone.
    bool call(Call* call);
    //  Hands an asynchronous send over (the actor owns it then); waits, up to timeout_ms per
    //  wait, while too much is in flight. kLimit, and the call is not taken, when
    //  kMaxUnreadOutcomes sends have outcomes not read yet (those still to come included).
    Error send_async(std::unique_ptr<Call> call, int timeout_ms);
    //  The next send outcome, waiting up to timeout_ms (-1: for ever). False if none came.
    bool next_outcome(SendOutcome* outcome, int timeout_ms);
    //  Waits up to timeout_ms (-1: for ever) until every asynchronous send has its outcome.
    //  Returns how many still have none.
    uint64_t flush(int timeout_ms);
    //  The next live message, waiting up to timeout_ms (-1: for ever): its batch (with one
    //  reference for the caller) and its index there. False if none came.
    bool next_message(Batch** batch, size_t* index, int timeout_ms);
    //  The events queue's fd, to poll: readable while messages or outcomes wait, in the
    //  queue or taken from it and not handed out yet.
    int events_fd() const { return shared_.events.fd(); }

private:
    UserCaller() = default;
    //  Takes one event from the events queue, waiting up to timeout_ms. False if none came.
    bool take_event(int timeout_ms);
    //  Takes events until ready () or timeout_ms (-1: for ever) passed. False on timeout.
    template <class Ready>
    bool wait(Ready ready, int timeout_ms);
    //  At the end of each call that takes events: the fd readable while messages or
    //  outcomes wait, in the queue or here.
    void settle();

    zsock_t* pipe_ = nullptr; //  of calls, to the actor run by the host (user/host.h)
    UserShared shared_;
    std::deque<Batch*> inbox_; //  live messages not handed out yet
    size_t inbox_next_ = 0;    //  the next record of inbox_.front()
    std::deque<SendOutcome> outcomes_;
    uint64_t posted_ = 0;   //  asynchronous sends handed over
    uint64_t received_ = 0; //  their outcomes back from the actor
    uint64_t read_ = 0;     //  their outcomes taken by the caller
    uint64_t posted_bytes_ = 0, received_bytes_ = 0;
};

} // namespace zgm

#endif
