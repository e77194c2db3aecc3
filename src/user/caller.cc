/*  =========================================================================
    caller.cc - the caller's side of a user actor

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/caller.h"

#include <algorithm>

namespace zgm {

UserCaller* UserCaller::start(const KeyPair& keys, const std::string& name, std::string* why) {
    UserCaller* self = new UserCaller();
    //  The events pipe: a PAIR over inproc, bounded; the actor holds back (and fetches
    //  later) when the caller does not read.
    std::string endpoint = "inproc://zgm-user-" + Uuid::random().str();
    self->events_ = zsock_new(ZMQ_PAIR);
    zsock_t* backend = zsock_new(ZMQ_PAIR);
    if (!self->events_ || !backend) {
        zsock_destroy(&backend);
        delete self;
        *why = "cannot create sockets";
        return nullptr;
    }
    zsock_set_rcvhwm(self->events_, 100000);
    zsock_set_sndhwm(backend, 100000);
    zsock_bind(self->events_, "%s", endpoint.c_str());
    zsock_connect(backend, "%s", endpoint.c_str());
    //  The pipe of calls: zactor's kind, the actor's end run by the host.
    zsock_t* actor_end = nullptr;
    self->pipe_ = zsys_create_pipe(&actor_end);
    if (!self->pipe_) {
        zsock_destroy(&backend);
        delete self;
        *why = "cannot create sockets";
        return nullptr;
    }
    UserArgs args{keys, name, Security::kCurve, backend, &self->shared_};
    Hosted* actor = new_user_actor(actor_end, &args);
    if (!host_add(actor, actor_end)) {
        delete actor; //  and the events pipe's end with it
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
    //  What the actor handed over and nobody took goes with the user.
    if (events_)
        while (true) {
            Event* event = nullptr;
            if (zmq_recv(zsock_resolve(events_), &event, sizeof event, ZMQ_DONTWAIT) !=
                (int)sizeof event)
                break;
            if (event && event->batch) event->batch->release();
            delete event;
        }
    for (Batch* batch : inbox_)
        batch->release();
    zsock_destroy(&events_);
}

bool UserCaller::call(Call* call) {
    zmq_send(zsock_resolve(pipe_), &call, sizeof call, 0);
    void* back = nullptr;
    return zsock_recv(pipe_, "p", &back) == 0 && back == call;
}

bool UserCaller::take_event(int timeout_ms) {
    void* pipe = zsock_resolve(events_);
    Event* event = nullptr;
    //  When the actor put nothing there that was not taken, a call that does not wait asks
    //  libzmq nothing (no poll, no system call): callers ask often.
    bool waiting = shared_.events_sent.load(std::memory_order_acquire) != events_taken_;
    if (!waiting && timeout_ms == 0) return false;
    if (!waiting || zmq_recv(pipe, &event, sizeof event, ZMQ_DONTWAIT) != (int)sizeof event) {
        //  Counted and not there yet (the actor is putting it there): the read just made
        //  looked, a call that does not wait is done.
        if (timeout_ms == 0) return false;
        zmq_pollitem_t item = {pipe, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0 || !(item.revents & ZMQ_POLLIN)) return false;
        if (zmq_recv(pipe, &event, sizeof event, ZMQ_DONTWAIT) != (int)sizeof event) return false;
    }
    events_taken_++;
    if (!event) return false;
    if (event->batch) inbox_.push_back(event->batch);
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
    posted_++;
    posted_bytes_ += call->body.size();
    Call* handed = call.release(); //  the actor owns it now
    zmq_send(zsock_resolve(pipe_), &handed, sizeof handed, 0);
    return Error::kOk;
}

bool UserCaller::next_outcome(SendOutcome* outcome, int timeout_ms) {
    if (!wait([this] { return !outcomes_.empty(); }, timeout_ms)) return false;
    *outcome = std::move(outcomes_.front());
    outcomes_.pop_front();
    read_++;
    return true;
}

uint64_t UserCaller::flush(int timeout_ms) {
    wait([this] { return received_ == posted_; }, timeout_ms);
    return posted_ - received_;
}

bool UserCaller::next_message(Batch** batch, size_t* index, int timeout_ms) {
    if (!wait([this] { return !inbox_.empty(); }, timeout_ms)) return false;
    Batch* front = inbox_.front();
    front->references++;
    *batch = front;
    *index = inbox_next_++;
    if (inbox_next_ == front->records.size()) {
        //  The batch is handed out: the actor may hand over more.
        shared_.consumed_bytes.fetch_add(front->frame.size(), std::memory_order_release);
        inbox_.pop_front();
        inbox_next_ = 0;
        front->release();
    }
    return true;
}

} // namespace zgm
