/*  =========================================================================
    timefmt.h - reading and writing times for the zgm program

    Times are microseconds since the epoch, UTC, as zgm_msg_timestamp gives them. Local times
    follow the process's time zone (TZ). Pure functions: the current time is a parameter.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CLI_TIMEFMT_H
#define ZGM_CLI_TIMEFMT_H

#include <cstdint>
#include <string>

namespace zgm {
namespace cli {

//  Parses the TIME of --since, one of
//    2026-11-24T10:00:00Z   ISO 8601: a date, optionally 'T' (or a blank) and HH:MM[:SS[.frac]],
//                           then 'Z', an offset (+01:00, -0530, +02) or nothing (local time)
//    10:00 or 10:00:30      today, local time
//    -10m, -2h, -30s, -1d   that long before now_us (the '-' may be left out)
//    1763977201123456       microseconds since the epoch (digits only)
//  Returns false if text is none of these or out of range.
bool parse_time(const char* text, uint64_t now_us, uint64_t* out_us);

//  The longest DURATION, in days.
constexpr uint64_t kMaxDurationDays = 100000;

//  Parses a DURATION: a number and a unit, 30s, 10m, 2h, 7d, into milliseconds; "0" is
//  none. Returns false otherwise (or past kMaxDurationDays).
bool parse_duration(const char* text, uint64_t* out_ms);

//  Whether text has the form of a DURATION (digits and a unit), whatever its length.
bool duration_form(const char* text);

//  "2026-11-24T03:20:01.123456Z"
std::string format_time_utc(uint64_t us);

//  The local time of a message: "14:20:01" if it is on the same local day as now_us, else
//  "2026-11-23 14:20:01".
std::string format_time_local(uint64_t us, uint64_t now_us);

} // namespace cli
} // namespace zgm

#endif
