/*  =========================================================================
    process.cc - starting the zgm program from tests

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "process.h"
#include "testutil.h"

#include "core/clock.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <set>
#include <unistd.h>

namespace test {

static std::string s_program;
static std::set<pid_t> s_running;

void set_program(const std::string& path) {
    s_program = path;
    static bool registered = false;
    if (!registered) {
        atexit(stop_all);
        registered = true;
    }
}

static bool emulated() {
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    return wrapper && *wrapper;
}

//  argv for execvp: the wrapper's words, the program, the arguments.
static std::vector<std::string> command_line(const std::vector<std::string>& args) {
    std::vector<std::string> words;
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    if (wrapper && *wrapper) {
        std::string text = wrapper;
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find(' ', start);
            if (end == std::string::npos) end = text.size();
            if (end > start) words.push_back(text.substr(start, end - start));
            start = end + 1;
        }
    }
    words.push_back(s_program);
    words.insert(words.end(), args.begin(), args.end());
    return words;
}

[[noreturn]] static void exec_child(const std::vector<std::string>& args,
                                    const std::vector<std::string>& env) {
    for (const std::string& entry : env)
        putenv(strdup(entry.c_str()));
    std::vector<std::string> words = command_line(args);
    std::vector<char*> argv;
    for (std::string& word : words)
        argv.push_back(&word[0]);
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t start(const std::vector<std::string>& args, const std::string& log_path,
            const std::vector<std::string>& env, int* input) {
    int in[2] = {-1, -1};
    if (input && pipe2(in, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork_child();
    if (pid == 0) {
        int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(input ? in[0] : open("/dev/null", O_RDONLY), 0);
        dup2(log, 1);
        dup2(log, 2);
        exec_child(args, env);
    }
    if (input) {
        close(in[0]);
        if (pid > 0) {
            *input = in[1];
        } else {
            close(in[1]);
        }
    }
    if (pid > 0) s_running.insert(pid);
    return pid;
}

pid_t start_with_descriptor(const std::vector<std::string>& args, const std::string& log_path,
                            int fd, const char* path) {
    pid_t pid = fork_child();
    if (pid == 0) {
        int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(open("/dev/null", O_RDONLY), 0);
        dup2(log, 1);
        dup2(log, 2);
        close(log);
        if (path)
            dup2(open(path, O_WRONLY), fd);
        else
            close(fd);
        exec_child(args, {});
    }
    if (pid > 0) s_running.insert(pid);
    return pid;
}

void stop(pid_t pid, int grace_ms) {
    if (pid <= 0 || !s_running.count(pid)) return;
    int status;
    kill(pid, SIGCONT); //  in case a test stopped it
    kill(pid, SIGTERM);
    if (emulated()) grace_ms = 200; //  qemu-user does not pass SIGTERM on to the program
    if (!reap(pid, grace_ms, &status)) {
        kill(pid, SIGKILL);
        reap(pid, 5000, &status);
    }
    s_running.erase(pid);
}

int wait_exit(pid_t pid, int timeout_ms) {
    if (pid <= 0 || !s_running.count(pid)) return -1;
    int status = 0;
    if (!reap(pid, timeout_ms * slowdown(), &status)) {
        kill_now(pid);
        return -1;
    }
    s_running.erase(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool exited(pid_t pid, int* code) {
    if (pid <= 0 || !s_running.count(pid)) return false;
    int status = 0;
    if (!reap(pid, 0, &status)) return false;
    s_running.erase(pid);
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return true;
}

void kill_now(pid_t pid) {
    if (pid <= 0 || !s_running.count(pid)) return;
    int status;
    kill(pid, SIGKILL);
    reap(pid, 5000, &status);
    s_running.erase(pid);
}

void stop_all() {
    std::set<pid_t> running = s_running;
    for (pid_t pid : running)
        stop(pid, 2000);
}

//  Runs the program with stdin from the descriptor in (closed here).
static Result run_from(int in, const std::vector<std::string>& args,
                       const std::vector<std::string>& env, int timeout_ms) {
    Result result;
    int out[2], err[2];
    if (in < 0 || pipe(out) != 0 || pipe(err) != 0) {
        if (in >= 0) close(in);
        return result;
    }
    pid_t pid = fork_child();
    if (pid == 0) {
        dup2(in, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        exec_child(args, env);
    }
    close(in);
    close(out[1]);
    close(err[1]);
    int64_t deadline = zgm::mono_ms() + (int64_t)timeout_ms * slowdown();
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    bool killed = false;
    while (open_fds > 0) {
        int64_t left = deadline - zgm::mono_ms();
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        if (poll(fds, 2, left > 0 ? (int)left : 100) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[4096];
            ssize_t size = read(fds[i].fd, buffer, sizeof buffer);
            if (size > 0) {
                (i == 0 ? result.out : result.err).append(buffer, (size_t)size);
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.status = !killed && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

Result run(const std::vector<std::string>& args, const std::vector<std::string>& env,
           int timeout_ms) {
    return run_from(open("/dev/null", O_RDONLY | O_CLOEXEC), args, env, timeout_ms);
}

Result run_with_input(const std::vector<std::string>& args, const std::string& input,
                      const std::vector<std::string>& env, int timeout_ms) {
    int in[2];
    if (input.size() > 65536 || pipe2(in, O_CLOEXEC) != 0) return Result();
    bool written = write(in[1], input.data(), input.size()) == (ssize_t)input.size();
    close(in[1]);
    if (!written) {
        close(in[0]);
        return Result();
    }
    return run_from(in[0], args, env, timeout_ms);
}

std::string read_file(const std::string& path) {
    std::string text;
    FILE* file = fopen(path.c_str(), "r");
    if (!file) return text;
    char buffer[4096];
    size_t size;
    while ((size = fread(buffer, 1, sizeof buffer, file)) > 0)
        text.append(buffer, size);
    fclose(file);
    return text;
}

bool wait_for_text(const std::string& path, const std::string& text, int timeout_ms,
                   const std::string& after) {
    int64_t deadline = zgm::mono_ms() + (int64_t)timeout_ms * slowdown();
    while (zgm::mono_ms() < deadline) {
        std::string found = read_file(path);
        size_t from = after.empty() ? 0 : found.find(after);
        if (from != std::string::npos && found.find(text, from) != std::string::npos) return true;
        usleep(20000);
    }
    return false;
}

} // namespace test
