/*  =========================================================================
    actor.cc - what every role's actor shares

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/actor.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <mutex>
#include <vector>

namespace zgm {

namespace {

struct Live {
    void* object;
    void (*destroy)(void*);
    pid_t pid;
};
//  Never freed: the exit handler may run after static destructors have.
std::mutex* s_live_lock = new std::mutex;
std::vector<Live>* s_live = new std::vector<Live>;
std::vector<void (*)()>* s_finally = new std::vector<void (*)()>;
pid_t s_finally_pid = 0;

//  Newest first: users before the servers and the registry they talk to.
void destroy_live() {
    std::vector<Live> live;
    {
        std::lock_guard<std::mutex> lock(*s_live_lock);
        live.swap(*s_live);
    }
    pid_t self = getpid();
    for (auto it = live.rbegin(); it != live.rend(); ++it)
        if (it->pid == self) it->destroy(it->object);
    std::vector<void (*)()> finally;
    {
        std::lock_guard<std::mutex> lock(*s_live_lock);
        if (s_finally_pid == self) finally.swap(*s_finally);
    }
    for (auto stop : finally)
        stop();
}

} // namespace

void start_czmq() {
    static std::once_flag once;
    //  zsys_init registers CZMQ's exit handler; this one, registered after it, runs before.
    std::call_once(once, [] {
        struct sigaction before, after;
        sigaction(SIGINT, nullptr, &before);
        zsys_init();
        //  CZMQ, started here first, takes SIGINT and SIGTERM with a handler that only sets
        //  zsys_interrupted: a program using zgm could no longer be stopped by either. They
        //  go back to what the program had (one that started CZMQ itself keeps its choice).
        sigaction(SIGINT, nullptr, &after);
        if (after.sa_handler != before.sa_handler) zsys_handler_set(nullptr);
        atexit(destroy_live);
    });
}

void live_add(void* object, void (*destroy)(void*)) {
    std::lock_guard<std::mutex> lock(*s_live_lock);
    s_live->push_back({object, destroy, getpid()});
}

void live_finally(void (*stop)()) {
    start_czmq();
    std::lock_guard<std::mutex> lock(*s_live_lock);
    if (s_finally_pid != getpid()) s_finally->clear();
    s_finally_pid = getpid();
    s_finally->push_back(stop);
}

void live_remove(void* object) {
    std::lock_guard<std::mutex> lock(*s_live_lock);
    for (auto it = s_live->begin(); it != s_live->end(); ++it)
        if (it->object == object) {
            s_live->erase(it);
            return;
        }
}

} // namespace zgm
