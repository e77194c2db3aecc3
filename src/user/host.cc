/*  =========================================================================
    host.cc - the one thread that runs every user actor of a process

    Every descriptor of every actor is in one epoll set, level-triggered, each with a token
    naming the actor's slot, the version of its descriptors and the descriptor's index. A
    descriptor is added again (or modified) whenever its actor's set changes, and never
    removed by number: the sockets' descriptors are closed by libzmq's reaper thread, at a
    time of its own, after which the number may be another socket's; the kernel drops a
    closed descriptor from the set itself. An event with an old version or a slot that is
    gone is ignored.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/host.h"

#include "core/actor.h"
#include "core/clock.h"

#include <algorithm>
#include <errno.h>
#include <string.h>
#include <limits.h>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <set>
#include <sys/epoll.h>
#include <unistd.h>
#include <unordered_map>
#include <utility>

namespace zgm {

namespace {

//  An actor whose descriptors could not all be added to the epoll set (out of kernel
//  memory for it) has a turn at least this often, every descriptor taken as ready.
constexpr int64_t kBlindMs = 10;

struct Slot {
    std::unique_ptr<Hosted> actor;
    zsock_t* pipe = nullptr;
    uint64_t id = 0;
    uint64_t version = UINT64_MAX; //  of the descriptors in the epoll set
    int64_t due = INT64_MAX;       //  its key in the schedule
    bool queued = false;           //  in this wake-up's turns already
    bool blind = false;
};

//  The token of an epoll registration; slot 0 is the host's own pipe.
uint64_t token(uint64_t slot, uint64_t version, size_t index) {
    return slot << 24 | (version & 0xff) << 16 | (index & 0xffff);
}

class Host {
public:
    Host(zsock_t* pipe, int epoll) : pipe_(pipe), epoll_(epoll) {}
    void run();

private:
    bool take_commands();
    void enrol(Slot& slot);
    void schedule(Slot& slot, int64_t now);
    void remove(Slot* slot);

    zsock_t* pipe_;
    int epoll_; //  made by host_add, so that a failure is its caller's
    uint64_t next_id_ = 1;
    std::unordered_map<uint64_t, std::unique_ptr<Slot>> slots_;
    std::set<std::pair<int64_t, uint64_t>> schedule_; //  (due, slot id)
};

void Host::run() {
    pthread_setname_np(pthread_self(), "zgm-user"); //  in top -H, gdb, /proc/PID/task
    epoll_event own{};
    own.events = EPOLLIN;
    own.data.u64 = 0;
    //  Not in the set (out of kernel memory for it): the pipe is read every kBlindMs.
    bool blind = epoll_ctl(epoll_, EPOLL_CTL_ADD, zsock_fd(pipe_), &own) != 0;
    zsock_signal(pipe_, 0);
    //  The signal was a send on the pipe, which may have taken the signal of a command.
    bool commands = true, running = true;
    std::vector<epoll_event> events(256);
    std::vector<Slot*> turns;
    while (running) {
        int64_t now = mono_ms();
        int timeout = -1;
        if (commands)
            timeout = 0;
        else if (!schedule_.empty())
            timeout = (int)std::min<int64_t>(std::max<int64_t>(schedule_.begin()->first - now, 0),
                                             INT_MAX);
        if (blind && (timeout < 0 || timeout > kBlindMs)) timeout = (int)kBlindMs;
        int ready = epoll_wait(epoll_, events.data(), (int)events.size(), timeout);
        if (ready < 0 && errno != EINTR) break;
        commands |= blind;
        turns.clear();
        for (int i = 0; i < ready; i++) {
            uint64_t data = events[i].data.u64;
            if (data == 0) {
                commands = true;
                continue;
            }
            auto found = slots_.find(data >> 24);
            if (found == slots_.end()) continue; //  a descriptor of an actor gone
            Slot& slot = *found->second;
            if (((data >> 16) & 0xff) != (slot.version & 0xff)) continue; //  an old set's
            std::vector<pollfd>& fds = slot.actor->fds();
            size_t index = data & 0xffff;
            if (index < fds.size()) fds[index].revents |= POLLIN;
            if (!slot.queued) turns.push_back(&slot);
            slot.queued = true;
        }
        now = mono_ms();
        for (auto due = schedule_.begin(); due != schedule_.end() && due->first <= now; ++due) {
            Slot& slot = *slots_[due->second];
            if (!slot.queued) turns.push_back(&slot);
            slot.queued = true;
        }
        for (Slot* slot : turns) {
            slot->queued = false;
            if (slot->blind)
                for (pollfd& fd : slot->actor->fds())
                    fd.revents |= POLLIN;
            if (!slot->actor->turn()) {
                remove(slot);
                continue;
            }
            enrol(*slot);
            schedule(*slot, now);
        }
        if (commands) {
            commands = false;
            running = take_commands();
        }
    }
    //  Stopped ($TERM once every actor was removed, or the context going away): what is
    //  left goes, each caller told.
    while (!slots_.empty())
        remove(slots_.begin()->second.get());
    close(epoll_);
}

//  Takes every command on the host's pipe: a Slot to run, or $TERM. False on $TERM.
bool Host::take_commands() {
    while (true) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zsock_resolve(pipe_), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return zmq_errno() != ETERM;
        }
        bool more = zmq_msg_more(&frame);
        if (zmq_msg_size(&frame) == sizeof(Slot*) && !more) {
            Slot* slot = nullptr;
            memcpy(&slot, zmq_msg_data(&frame), sizeof slot);
            zmq_msg_close(&frame);
            slot->id = next_id_++;
            slots_[slot->id].reset(slot);
            enrol(*slot);
            schedule(*slot, mono_ms());
            continue;
        }
        bool term = zmq_msg_size(&frame) == 5 && memcmp(zmq_msg_data(&frame), "$TERM", 5) == 0;
        while (more && zmq_msg_recv(&frame, zsock_resolve(pipe_), 0) >= 0)
            more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        if (term) return false;
    }
}

//  Puts the slot's descriptors in the epoll set when they changed.
void Host::enrol(Slot& slot) {
    uint64_t version = slot.actor->fds_version();
    if (version == slot.version) return;
    slot.version = version;
    std::vector<pollfd>& fds = slot.actor->fds();
    for (size_t i = 0; i < fds.size(); i++) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = token(slot.id, version, i);
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fds[i].fd, &event) == 0) continue;
        if (errno == EEXIST && epoll_ctl(epoll_, EPOLL_CTL_MOD, fds[i].fd, &event) == 0) continue;
        slot.blind = true;
    }
}

void Host::schedule(Slot& slot, int64_t now) {
    int64_t due = slot.actor->wake_at();
    if (slot.blind) due = std::min(due, now + kBlindMs);
    if (due == slot.due) return;
    if (slot.due != INT64_MAX) schedule_.erase({slot.due, slot.id});
    slot.due = due;
    if (due != INT64_MAX) schedule_.insert({due, slot.id});
}

//  Destroys the actor (its sockets close), then tells its caller, as zactor does.
void Host::remove(Slot* slot) {
    if (slot->due != INT64_MAX) schedule_.erase({slot->due, slot->id});
    slot->actor.reset();
    zsock_set_sndtimeo(slot->pipe, 0);
    zsock_signal(slot->pipe, 0);
    zsock_destroy(&slot->pipe);
    slots_.erase(slot->id);
}

void host_actor(zsock_t* pipe, void* args) {
    Host host(pipe, (int)(intptr_t)args);
    host.run();
}

std::mutex g_mutex;
zactor_t* g_host = nullptr;
size_t g_actors = 0; //  added and not removed

} // namespace

bool host_add(Hosted* actor, zsock_t* pipe) {
    std::unique_ptr<Slot> slot(new Slot());
    slot->actor.reset(actor);
    slot->pipe = pipe;
    SignalsHeld held; //  the host's thread keeps them held (core/actor.h)
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_host) {
        //  The epoll set first: a process out of descriptors is told so by zgm_user_new.
        int epoll = epoll_create1(EPOLL_CLOEXEC);
        if (epoll >= 0) g_host = zactor_new(host_actor, (void*)(intptr_t)epoll);
        if (epoll >= 0 && !g_host) close(epoll);
    }
    if (!g_host) {
        slot->actor.release(); //  the caller's still
        return false;
    }
    Slot* handed = slot.release();
    zmq_send(zsock_resolve(g_host), &handed, sizeof handed, 0);
    g_actors++;
    return true;
}

void host_remove(zsock_t** frontend) {
    if (!*frontend) return;
    SignalsHeld held;
    zstr_send(*frontend, "$TERM");
    zsock_wait(*frontend);
    zsock_destroy(frontend);
    std::lock_guard<std::mutex> lock(g_mutex);
    if (--g_actors == 0) zactor_destroy(&g_host);
}

} // namespace zgm
