/*  =========================================================================
    checkpointer.h - the SQLite store's WAL copied into its database by a thread of its
    own, beside the thread that commits

    In WAL mode each commit appends to the WAL; a checkpoint syncs the WAL, copies its
    pages into the database and, once every page is copied, syncs the database; then the
    next commit starts the WAL again from its beginning. SQLite's own rule runs the
    checkpoint in the connection that committed, when the WAL passes 1,000 pages: the
    commit that crossed the line waits for the copy of 4 MiB and a sync of the database,
    and so does every message queued behind it in the group server (BENCHMARKS.md,
    "Checkpoints beside the commits": the p99 of zgm-bench's latency with `--durability
    normal`). Here the writer only asks, and a thread with a connection of its own copies
    (PASSIVE: it never holds the writer back), once for each kCheckpointPages the WAL
    grows: one pass after the other, as a commit during a pass would ask, kept the disk
    syncing and the CPUs copying under a steady load, and doubled that p99.

    Under a steady load the writer may commit during every pass, so the WAL is never found
    all copied at a commit, which is what starts it again. Once it holds kRestartPages, the
    writer waits for the pass under way to end and copies the pages it left (few) itself,
    with one sync; its next commit starts the WAL again. The WAL stays near kRestartPages
    pages however long the load lasts.

    The thread and its connection start at the first ask: a store that never fills 1,000
    pages of WAL (an idle server) never has them. If they cannot start, the writer
    checkpoints itself, as SQLite's own rule does.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_STORE_CHECKPOINTER_H
#define ZGM_STORE_CHECKPOINTER_H

#include <atomic>
#include <mutex>
#include <string>

struct sqlite3;
typedef struct _zactor_t zactor_t;
typedef struct _zsock_t zsock_t;

namespace zgm {

class Checkpointer {
public:
    //  WAL pages past which a commit asks for a checkpoint: SQLite's default.
    static constexpr int kCheckpointPages = 1000;
    //  WAL pages past which the writer copies the last pages itself, so that the WAL starts
    //  again (16 MiB of 4 KiB pages, the store's journal_size_limit).
    static constexpr int kRestartPages = 4096;

    //  For the database at path, synced after a checkpoint as the writer's durability says.
    Checkpointer(const std::string& path, bool sync_full) : path_(path), sync_full_(sync_full) {}
    //  Waits for a pass under way, then closes the thread's connection. Destroy the
    //  checkpointer before closing the writer's connection: the last one closed copies
    //  what is left and removes the WAL.
    ~Checkpointer();
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    //  After each commit of the writer (its sqlite3_wal_hook), with the WAL's pages: asks
    //  the thread for a pass at kCheckpointPages, 2 x kCheckpointPages..., and waits for
    //  none; from kRestartPages on, waits for the pass under way and copies the last pages
    //  in writer, the committing connection (which copies them all if the thread cannot
    //  start).
    void committed(sqlite3* writer, int wal_pages);

private:
    //  What the writer's thread and the checkpointer's share.
    struct Shared {
        sqlite3* db = nullptr;          //  the checkpointer's connection, used by its thread
        std::atomic<bool> asked{false}; //  a pass is asked for and has not started
        std::mutex pass;                //  held by a pass, the thread's or the writer's
        int last_error = 0;             //  the thread's: the last failure logged
    };
    friend void checkpointer_actor(zsock_t* pipe, void* args);
    bool start();

    std::string path_;
    bool sync_full_;
    bool failed_ = false;                   //  the thread could not start: the writer checkpoints
    int last_wal_pages_ = 0;                //  the WAL's pages at the last commit
    int next_ask_pages_ = kCheckpointPages; //  the WAL's pages at which to ask for a pass
    zactor_t* actor_ = nullptr;
    Shared shared_;
};

} // namespace zgm

#endif
