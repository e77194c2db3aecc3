/*  =========================================================================
    host.h - the one thread that runs every user actor of a process

    Each user object had a thread of its own. A message to 10 members of one process then
    woke 10 actor threads (and their 10 readers after them): on 2 CPUs a delivery waited for
    the wake-ups before it more than for any work. The host runs every actor of the process
    in turns on one thread, woken by epoll on all their descriptors at once: a burst of
    DELIVERs to 10 members is taken in one wake-up. An actor is handed to the host with its
    end of its caller's pipe; the host removes it when it says it is done ($TERM on that pipe)
    and tells the caller by a signal on the pipe, as zactor does. The thread starts with the
    first actor and stops with the last.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_USER_HOST_H
#define ZGM_USER_HOST_H

#include <czmq.h>
#include <poll.h>
#include <stdint.h>
#include <vector>

namespace zgm {

//  What the host runs: an actor whose loop is cut into turns. It never blocks in a turn.
class Hosted {
public:
    virtual ~Hosted() = default;
    //  One turn: takes what its descriptors said (fds ()[i].revents, set by the host and
    //  cleared by the actor) and what is due. False once it is done ($TERM, or the context
    //  going away): the host then destroys it.
    virtual bool turn() = 0;
    //  The descriptors the host watches for it (POLLIN), and a count that changes when
    //  they change.
    virtual std::vector<pollfd>& fds() = 0;
    virtual uint64_t fds_version() const = 0;
    //  When its next turn must come at the latest, whatever its descriptors say
    //  (CLOCK_MONOTONIC ms; 0 at once, INT64_MAX never).
    virtual int64_t wake_at() const = 0;
};

//  Runs actor on the host thread from now on, starting the thread if it is the first; the
//  host owns actor and pipe (the actor's end of its caller's pipe) from here. False, and
//  both are still the caller's, if the thread could not start.
bool host_add(Hosted* actor, zsock_t* pipe);

//  Stops the actor at the other end of *frontend ($TERM, then waits until the host
//  destroyed it) and destroys *frontend. The last actor's removal stops the thread.
void host_remove(zsock_t** frontend);

} // namespace zgm

#endif
