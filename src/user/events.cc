/*  =========================================================================
    events.cc - the events queue, from a user actor to its caller

    The fd is an eventfd in semaphore mode that holds one token while events wait in the
    queue or the caller holds some it took and has not handed out (readable_). The lock
    decides who moves the token: a put that finds it absent adds it; the caller removes
    it at the end of a call that leaves nothing in the queue or in its hands, and before
    it blocks in wait (it puts it back after, if it still holds events). The system call
    is made after the lock is let go, so the caller, woken by the write, never finds the
    lock held by the actor in that write. A read can come before the write of its token
    (the actor let go of the lock and had not written yet): it then waits for that write,
    which is on its way, even if the caller made the fd non-blocking.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/user.h"

#include <cerrno>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace zgm {

//  Blocking (a read waits for its token), never read or written by anyone else.
EventQueue::EventQueue() : fd_(eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE)) {}

EventQueue::~EventQueue() {
    for (Event* event : events_)
        delete event;
    if (fd_ >= 0) close(fd_);
}

bool EventQueue::put(Event* event) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (events_.size() >= kMaxEvents) return false;
        events_.push_back(event);
        size_.store(events_.size(), std::memory_order_relaxed);
        if (readable_.load(std::memory_order_relaxed)) return true;
        readable_.store(true, std::memory_order_relaxed);
    }
    uint64_t token = 1;
    while (write(fd_, &token, sizeof token) < 0 && errno == EINTR) {
    }
    return true;
}

bool EventQueue::full() const {
    return size_.load(std::memory_order_relaxed) >= kMaxEvents;
}

Event* EventQueue::take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.empty()) return nullptr;
    Event* event = events_.front();
    events_.pop_front();
    size_.store(events_.size(), std::memory_order_relaxed);
    return event;
}

bool EventQueue::wait(int timeout_ms) {
    bool held;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!events_.empty()) return true;
        held = readable_.load(std::memory_order_relaxed);  //  for events the caller holds
        readable_.store(false, std::memory_order_relaxed); //  (not to wake this poll)
    }
    if (held) read_token();
    //  A signal ends the wait early, for the caller to wait for the time left (restarting
    //  here would start the whole timeout again).
    struct pollfd item = {fd_, POLLIN, 0};
    return poll(&item, 1, timeout_ms) > 0;
}

void EventQueue::settle(bool holding) {
    //  The common case, a caller handing out a batch, needs no lock (readable_).
    if (holding && readable_.load(std::memory_order_relaxed)) return;
    bool readable;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        readable = holding || !events_.empty();
        if (readable == readable_.load(std::memory_order_relaxed)) return;
        readable_.store(readable, std::memory_order_relaxed);
    }
    if (readable) {
        uint64_t token = 1;
        while (write(fd_, &token, sizeof token) < 0 && errno == EINTR) {
        }
    } else {
        read_token();
    }
}

void EventQueue::read_token() {
    uint64_t token;
    while (read(fd_, &token, sizeof token) < 0) {
        if (errno == EAGAIN) { //  the caller set O_NONBLOCK, and the write is on its way
            struct pollfd item = {fd_, POLLIN, 0};
            poll(&item, 1, -1);
        } else if (errno != EINTR) {
            return;
        }
    }
}

} // namespace zgm
