/*  =========================================================================
    log.cc - the library's log: one line per notable event, on stderr

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/log.h"
#include "core/utf8.h"

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

namespace zgm {

static std::atomic<bool> s_verbose(false);

bool verbose() {
    return s_verbose.load(std::memory_order_relaxed);
}

void set_verbose(bool verbose) {
    s_verbose.store(verbose, std::memory_order_relaxed);
}

bool is_journal_stream(int fd, const char* journal_stream) {
    if (!journal_stream || !*journal_stream) return false;
    uintmax_t device, inode;
    int end = 0;
    if (sscanf(journal_stream, "%ju:%ju%n", &device, &inode, &end) != 2 ||
        journal_stream[end] != '\0')
        return false;
    struct stat status;
    if (fstat(fd, &status) != 0) return false;
    return (uintmax_t)status.st_dev == device && (uintmax_t)status.st_ino == inode;
}

static char priority_letter(int priority) {
    return priority <= kLogError ? 'E' : priority == kLogWarning ? 'W' : 'I';
}

std::string format_log_line(int priority, const char* message, bool journal, int64_t epoch_ms) {
    char prefix[64];
    if (journal) {
        snprintf(prefix, sizeof prefix, "<%d>", priority);
    } else {
        time_t seconds = (time_t)(epoch_ms / 1000);
        struct tm local;
        localtime_r(&seconds, &local);
        char date[32], offset[8];
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &local);
        strftime(offset, sizeof offset, "%z", &local); //  +0100
        snprintf(prefix, sizeof prefix, "%s.%03d%.3s:%.2s %c: ", date, (int)(epoch_ms % 1000),
                 offset, offset + 3, priority_letter(priority));
    }
    std::string line = prefix;
    append_printable(&line, message, strlen(message));
    line += '\n';
    return line;
}

//  Decided once: stderr does not change under a running program.
static bool stderr_is_journal() {
    static const bool journal = is_journal_stream(STDERR_FILENO, getenv("JOURNAL_STREAM"));
    return journal;
}

void log_line(int priority, const char* format, ...) {
    char buffer[1024];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    if (length < 0) return;
    struct timeval now;
    gettimeofday(&now, nullptr);
    int64_t epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
    std::string line = format_log_line(priority, buffer, stderr_is_journal(), epoch_ms);
    const char* data = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t written = write(STDERR_FILENO, data, left);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        data += written;
        left -= (size_t)written;
    }
}

} // namespace zgm
