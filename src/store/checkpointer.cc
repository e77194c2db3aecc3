/*  =========================================================================
    checkpointer.cc - the SQLite store's WAL copied into its database by a thread of its
    own, beside the thread that commits

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/checkpointer.h"
#include "core/log.h"

#include <cerrno>
#include <czmq.h>
#include <sqlite3.h>

namespace zgm {

void checkpointer_actor(zsock_t* pipe, void* args);

namespace {

const char kAsk[] = "CHECKPOINT";

//  One pass: copy what the WAL holds, without holding the writer back.
void checkpoint(sqlite3* db, int* last_error) {
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    //  Busy: another process checkpoints (the sqlite3 shell); the next pass goes on. A
    //  failure (a full disk) leaves the pages in the WAL, where they stay durable; it is
    //  logged when it changes, not at every pass.
    int error = rc == SQLITE_BUSY ? 0 : rc;
    if (error && error != *last_error)
        ZGM_WARN("store: cannot copy the WAL into the database: %s (the WAL grows until it can)",
                 sqlite3_errstr(error));
    *last_error = error;
}

} // namespace

void checkpointer_actor(zsock_t* pipe, void* args) {
    Checkpointer::Shared* shared = (Checkpointer::Shared*)args;
    zsock_signal(pipe, 0);
    while (true) {
        char* command = zstr_recv(pipe);
        if (!command && zmq_errno() == EINTR && !zsys_interrupted) continue; //  another signal
        if (!command) break; //  interrupted, or the context ends
        bool ask = streq(command, kAsk);
        zstr_free(&command);
        if (!ask) break; //  $TERM
        //  A commit from here on asks again: its pages may be past what this pass copies.
        shared->asked.store(false);
        std::lock_guard<std::mutex> pass(shared->pass);
        checkpoint(shared->db, &shared->last_error);
    }
}

Checkpointer::~Checkpointer() {
    zactor_destroy(&actor_);
    sqlite3_close_v2(shared_.db);
}

bool Checkpointer::start() {
    int rc = sqlite3_open_v2(path_.c_str(), &shared_.db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(shared_.db,
                          sync_full_ ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                          nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) actor_ = zactor_new(checkpointer_actor, &shared_);
    if (actor_) return true;
    ZGM_WARN("store: no checkpoint thread (%s): the thread that commits copies the WAL itself",
             rc == SQLITE_OK ? "cannot start a thread" : sqlite3_errstr(rc));
    sqlite3_close_v2(shared_.db);
    shared_.db = nullptr;
    return false;
}

void Checkpointer::committed(sqlite3* writer, int wal_pages) {
    if (wal_pages < last_wal_pages_) next_ask_pages_ = kCheckpointPages; //  the WAL restarted
    last_wal_pages_ = wal_pages;
    if (wal_pages < kCheckpointPages) return;
    if (!failed_ && !actor_) failed_ = !start();
    if (failed_) {
        sqlite3_wal_checkpoint_v2(writer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        return;
    }
    //  The last pages, copied here once the thread's pass under way has ended (a checkpoint
    //  finds SQLite's checkpoint lock taken while another runs, and gives up).
    if (wal_pages >= kRestartPages) {
        std::lock_guard<std::mutex> pass(shared_.pass);
        sqlite3_wal_checkpoint_v2(writer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        return;
    }
    //  A pass per kCheckpointPages of WAL, not one after the other: each syncs the WAL
    //  (with `normal`, all the commits wrote since the last pass) and copies pages, and
    //  the commits wait behind that on the disk and the CPUs (BENCHMARKS.md).
    if (wal_pages < next_ask_pages_) return;
    next_ask_pages_ = wal_pages + kCheckpointPages;
    if (shared_.asked.exchange(true)) return;
    if (zmq_send(zsock_resolve(actor_), kAsk, sizeof kAsk - 1, ZMQ_DONTWAIT) == -1)
        shared_.asked.store(false);
}

} // namespace zgm
