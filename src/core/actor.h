/*  =========================================================================
    actor.h - what every role's actor shares: logging (core/log.h), CZMQ's start and exit

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_ACTOR_H
#define ZGM_CORE_ACTOR_H

#include "core/log.h" //  ZGM_LOG, ZGM_WARN, ZGM_ERROR

#include <czmq.h>
#include <pthread.h>
#include <signal.h>

namespace zgm {

//  CZMQ's start-up (zsys_init) is not safe to race: two threads making the process's first
//  sockets at once abort it. Every public constructor calls this first; it runs it once.
void start_czmq();

//  The objects of the C API that are still alive when the process exits are destroyed then,
//  by an exit handler that runs before CZMQ's own: that one closes every socket left open,
//  under the actors' threads still using them, and the process aborted in exit(). Each
//  registry, group server and user object is added when made and removed when destroyed;
//  only those made by the exiting process itself (not inherited through fork) are destroyed.
void live_add(void* object, void (*destroy)(void* object));
void live_remove(void* object);
//  Runs stop at exit, after every live object was destroyed and before CZMQ's exit handler,
//  in the process that called this (not in a child forked since): for what those objects
//  share (the ZAP handler).
void live_finally(void (*stop)());

//  Holds back, while it lives, the signals that come to the thread that made it (a timer,
//  SIGCHLD, SIGWINCH, a handler of the program's own): they are delivered when it goes.
//  libzmq gives up a send or a receive when a signal comes (EINTR), even part-way through a
//  message of several frames, so a command to an actor and the reading of its answer are
//  made under one (a receive given up left the answer for the next command to read as its
//  own); the wait for the answer is not, so that a program's signals come in time. An actor's
//  thread, made under one, keeps its mask: every signal goes to the program's own threads,
//  as libzmq's I/O threads do it.
class SignalsHeld {
public:
    SignalsHeld() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &before_);
    }
    ~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &before_, nullptr); }
    SignalsHeld(const SignalsHeld&) = delete;
    SignalsHeld& operator=(const SignalsHeld&) = delete;

private:
    sigset_t before_;
};

} // namespace zgm

#endif
