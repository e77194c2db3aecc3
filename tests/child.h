/*  =========================================================================
    child.h - fork(2) for tests, with a child that never outlives its test program

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TEST_CHILD_H
#define ZGM_TEST_CHILD_H

#include <signal.h>
#include <sys/prctl.h>
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

} // namespace test

#endif
