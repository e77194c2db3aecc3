/*  =========================================================================
    events.cc - the events queue, from a user actor to its caller

    The fd is an eventfd in semaphore mode that holds one token while events wait. The
    lock decides who moves a token (the put that finds the queue empty adds one, the take
    that empties it removes one) and the system call is made after it is let go, so the
    caller, woken by the write, never finds the lock held by the actor in that write. A
    take can come before the write of its token (the actor let go of the lock and had not
    written yet): its read then waits for that write, which is on its way.

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
        if (events_.size() > 1) return true;
    }
    uint64_t token = 1;
    while (write(fd_, &token, sizeof token) < 0 && errno == EINTR) {
    }
    return true;
}

Event* EventQueue::take() {
    Event* event;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (events_.empty()) return nullptr;
        event = events_.front();
        events_.pop_front();
        if (!events_.empty()) return event;
    }
    uint64_t token;
    while (read(fd_, &token, sizeof token) < 0 && errno == EINTR) {
    }
    return event;
}

bool EventQueue::wait(int timeout_ms) const {
    struct pollfd item = {fd_, POLLIN, 0};
    int rc;
    while ((rc = poll(&item, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    return rc > 0;
}

} // namespace zgm
