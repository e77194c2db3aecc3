/*  =========================================================================
    caller.cc - the caller's side of a user actor

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/caller.h"

#include "core/actor.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace zgm {

UserCaller* UserCaller::start(const KeyPair& keys, const std::string& name, std::string* why) {
    UserCaller* self = new UserCaller();
    if (self->shared_.events.fd() < 0) {
        delete self;
        *why = std::string("cannot make the events queue: ") + strerror(errno);
        return nullptr;
    }
    //  The pipe of calls: zactor's kind, the actor's end run by the host.
    zsock_t* actor_end = nullptr;
    self->pipe_ = zsys_create_pipe(&actor_end);
    if (!self->pipe_) {
        delete self;
        *why = "cannot create sockets";
        return nullptr;
    }
    UserArgs args{keys, name, Security::kCurve, &self->shared_};
    Hosted* actor = new_user_actor(actor_end, &args);
    if (!host_add(actor, actor_end)) {
        delete actor;
        zsock_destroy(&actor_end);
        zsock_destroy(&self->pipe_);
        delete self;
        *why = "cannot start the user's thread";
        return nullptr;
    }
    return self;
}

UserCaller::~UserCaller() {
    host_remove(&pipe_);
    //  What the actor handed over and nobody took goes with the user (the events queue's
    //  with shared_).
    for (Batch* batch : inbox_)
        batch->release();
}

//  A call and its answer are one frame each: a send or receive given up on a signal
//  (EINTR) is made again, the call waits for its answer (given up, the actor filled in a
//  call the caller had left).
bool UserCaller::call(Call* call) {
    void* pipe = zsock_resolve(pipe_);
    while (zmq_send(pipe, &call, sizeof call, 0) < 0)
        if (zmq_errno() != EINTR) return false;
    void* back = nullptr;
    while (zmq_recv(pipe, &back, sizeof back, 0) < 0)
        if (zmq_errno() != EINTR) return false;
    return back == call;
}

bool UserCaller::take_event(int timeout_ms) {
    EventQueue& events = shared_.events;
    Event* event = events.take();
    if (!event) {
        if (timeout_ms == 0 || !events.wait(timeout_ms) || !(event = events.take())) return false;
    }
    if (event->batch) {
        inbox_.push_back(event->batch);
        event->batch = nullptr;
    }
    for (SendOutcome& outcome : event->outcomes) {
        received_++;
        received_bytes_ += outcome.size;
        outcomes_.push_back(std::move(outcome));
    }
    delete event;
    return true;
}

template <class Ready>
bool UserCaller::wait(Ready ready, int timeout_ms) {
    if (timeout_ms == 0) { //  no clock to read
        while (!ready())
            if (!take_event(0)) return false;
        return true;
    }
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : zclock_mono() + timeout_ms;
    while (!ready()) {
        int64_t left = deadline == INT64_MAX ? -1 : std::max<int64_t>(deadline - zclock_mono(), 0);
        if (!take_event((int)left) && deadline != INT64_MAX && zclock_mono() >= deadline)
            return false;
    }
    return true;
}

Error UserCaller::send_async(std::unique_ptr<Call> call, int timeout_ms) {
    if (posted_ - read_ >= kMaxUnreadOutcomes) return Error::kLimit;
    //  Too much in flight: wait for outcomes (they come by each send's deadline).
    while (posted_ - received_ >= kMaxInFlight ||
           posted_bytes_ - received_bytes_ >= kMaxInFlightBytes)
        take_event(timeout_ms);
    settle();
    posted_++;
    posted_bytes_ += call->body.size();
    Call* handed = call.release(); //  the actor owns it now
    while (zmq_send(zsock_resolve(pipe_), &handed, sizeof handed, 0) < 0 && zmq_errno() == EINTR) {
    }
    return Error::kOk;
}

bool UserCaller::next_outcome(SendOutcome* outcome, int timeout_ms) {
    bool got = wait([this] { return !outcomes_.empty(); }, timeout_ms);
    if (got) {
        *outcome = std::move(outcomes_.front());
        outcomes_.pop_front();
        read_++;
    }
    settle();
    return got;
}

uint64_t UserCaller::flush(int timeout_ms) {
    wait([this] { return received_ == posted_; }, timeout_ms);
    settle();
    return posted_ - received_;
}

bool UserCaller::next_message(Batch** batch, size_t* index, int timeout_ms) {
    if (!wait([this] { return !inbox_.empty(); }, timeout_ms)) {
        settle();
        return false;
    }
    Batch* front = inbox_.front();
    front->references++;
    *batch = front;
    *index = inbox_next_++;
    if (inbox_next_ == front->records.size()) {
        //  The batch is handed out: the actor may hand over more.
        shared_.consumed_bytes.fetch_add(unread_charge(*front), std::memory_order_release);
        inbox_.pop_front();
        inbox_next_ = 0;
        front->release();
    }
    settle();
    return true;
}

void UserCaller::settle() {
    shared_.events.settle(!inbox_.empty() || !outcomes_.empty());
}

} // namespace zgm
