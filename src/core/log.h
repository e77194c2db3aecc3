/*  =========================================================================
    log.h - the library's log: one line per notable event, on stderr

    Each line carries a priority: information (ZGM_LOG), warning (ZGM_WARN) or error
    (ZGM_ERROR); all three are written only when verbose (zgm_set_verbose). Under systemd,
    when JOURNAL_STREAM names the device and inode of stderr, a line starts with its syslog
    priority ("<6>", "<4>", "<3>", as sd-daemon(3) describes) and has no timestamp, since the
    journal stamps it. Elsewhere it starts with the local time in ISO 8601, with the year, the
    milliseconds and the UTC offset, then the priority as a letter:

        2026-12-01T15:59:54.123+01:00 I: registry: listening on tcp://0.0.0.0:5570

    A line is written with one write(2), so lines of several threads do not mix; control
    characters in a message are written as '?', so a message is always one line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_LOG_H
#define ZGM_CORE_LOG_H

#include <cstdint>
#include <string>

namespace zgm {

//  Syslog priorities (syslog(3)), the ones the log uses.
enum LogPriority { kLogError = 3, kLogWarning = 4, kLogInfo = 6 };

//  Whether the library logs (zgm_set_verbose).
bool verbose();
void set_verbose(bool verbose);

//  Writes one line to stderr at a priority, whatever verbose() says.
void log_line(int priority, const char* format, ...) __attribute__((format(printf, 2, 3)));

//  True when a JOURNAL_STREAM value ("DEVICE:INODE", decimal) names the file open on fd.
bool is_journal_stream(int fd, const char* journal_stream);
//  The line as written: prefix, message with control characters replaced, line end. With
//  journal, "<N>" and the message; else the local time of epoch_ms, a letter and the message.
std::string format_log_line(int priority, const char* message, bool journal, int64_t epoch_ms);

} // namespace zgm

//  One line of information, of warning, of error; nothing unless verbose.
#define ZGM_LOG(...)                                                                               \
    do {                                                                                           \
        if (zgm::verbose()) zgm::log_line(zgm::kLogInfo, __VA_ARGS__);                             \
    } while (0)
#define ZGM_WARN(...)                                                                              \
    do {                                                                                           \
        if (zgm::verbose()) zgm::log_line(zgm::kLogWarning, __VA_ARGS__);                          \
    } while (0)
#define ZGM_ERROR(...)                                                                             \
    do {                                                                                           \
        if (zgm::verbose()) zgm::log_line(zgm::kLogError, __VA_ARGS__);                            \
    } while (0)

#endif
