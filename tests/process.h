/*  =========================================================================
    process.h - starting the zgm program from tests: servers in the background, user
    commands to completion; every process started is stopped by PID, also when a test fails

    Under a cross build, ZGM_EXE_WRAPPER (e.g. "qemu-aarch64 -L SYSROOT") is put before the
    program. ZGM_TEST_SLOWDOWN scales the tests' time limits (see testutil.h's slowdown()).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TEST_PROCESS_H
#define ZGM_TEST_PROCESS_H

#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace test {

//  The zgm program under test, and what to put before it.
void set_program(const std::string& path);

struct Result {
    int status = -1; //  exit status, or -1 if killed at its deadline
    std::string out; //  standard output
    std::string err; //  standard error
};

//  Runs `zgm ARGS...` with extra environment entries ("NAME=value") and waits up to
//  timeout_ms; a process still running then is killed.
Result run(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
           int timeout_ms = 20000);
//  The same with input on its stdin, a pipe that ends after it (at most 64 KiB: what the
//  pipe holds before the program reads).
Result run_with_input(const std::vector<std::string>& args, const std::string& input,
                      const std::vector<std::string>& env = {}, int timeout_ms = 20000);

//  Starts `zgm ARGS...` in the background with stdout and stderr to log_path; stdin is
//  /dev/null, or with input a pipe whose writing end *input gets (the caller closes it).
pid_t start(const std::vector<std::string>& args, const std::string& log_path,
            const std::vector<std::string>& env = {}, int* input = nullptr);
//  As start, with the standard descriptor fd closed in the program, or opened for writing on
//  path when one is given ("/dev/full").
pid_t start_with_descriptor(const std::vector<std::string>& args, const std::string& log_path,
                            int fd, const char* path);
//  Waits up to timeout_ms (times the slowdown) for a background process to exit by itself:
//  its exit status, or -1 (killed by a signal, or still running at the deadline: then
//  killed).
int wait_exit(pid_t pid, int timeout_ms);
//  Whether a background process has exited, reaping it (its exit status, or -1 after a
//  signal, in *code); it is then no longer one that stop_all signals. A process reaped
//  without this stays on that list, and its number, once the kernel hands it to another
//  process, is sent SIGCONT and SIGTERM at the teardown.
bool exited(pid_t pid, int* code);
//  Stops a background process: SIGTERM, then SIGKILL after grace_ms; reaps it.
void stop(pid_t pid, int grace_ms = 3000);
void kill_now(pid_t pid);
//  Stops every background process still running (the tests' teardown, and atexit).
void stop_all();

std::string read_file(const std::string& path);
//  Waits until the file contains text (after the first `after`, when given); false after
//  timeout_ms.
bool wait_for_text(const std::string& path, const std::string& text, int timeout_ms = 10000,
                   const std::string& after = "");

} // namespace test

#endif
