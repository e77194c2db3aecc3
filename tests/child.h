/*  =========================================================================
    child.h - fork(2) for tests, with a child that never outlives its test program

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TEST_CHILD_H
#define ZGM_TEST_CHILD_H

#include "core/clock.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test {

//  fork(2) for tests: the kernel kills the child when the test program dies, however it dies
//  (SIGKILL from a shell, or a harness that kills only the program and not its process
//  group), and a child whose test program died before the call exits at once. The thread
//  that forks must outlive the child: the signal comes when that thread ends.
inline pid_t fork_child() {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
    }
    return pid;
}

//  Waits up to timeout_ms for the child pid to end and reaps it (*status as waitpid gives it):
//  true once it ended, or is no child of ours (*status then -1, which is no exit: it read as
//  an exit 0), false if it still runs.
inline bool reap(pid_t pid, int timeout_ms, int* status) {
    int64_t deadline = zgm::mono_ms() + timeout_ms;
    while (true) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done < 0 && errno == ECHILD) *status = -1;
        if (done == pid || (done < 0 && errno == ECHILD)) return true;
        if (zgm::mono_ms() >= deadline) return false;
        usleep(10000);
    }
}

} // namespace test

#endif
