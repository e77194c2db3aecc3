/*  =========================================================================
    timefmt.cc - reading and writing times for the zgm program

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/timefmt.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace zgm {
namespace cli {

namespace {

constexpr uint64_t kSecond = 1000000;

//  Reads exactly `digits` decimal digits at *p.
bool read_digits(const char** p, int digits, int* out) {
    int value = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    *p += digits;
    *out = value;
    return true;
}

bool is_leap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

//  Reads "HH:MM[:SS[.frac]]" into tm and microseconds.
bool read_clock(const char** p, struct tm* tm, uint64_t* micros) {
    int hour, minute, second = 0;
    if (!read_digits(p, 2, &hour) || **p != ':') return false;
    (*p)++;
    if (!read_digits(p, 2, &minute)) return false;
    *micros = 0;
    if (**p == ':') {
        (*p)++;
        if (!read_digits(p, 2, &second)) return false;
        if (**p == '.' || **p == ',') {
            (*p)++;
            int count = 0;
            uint64_t scale = 100000;
            for (; **p >= '0' && **p <= '9'; (*p)++, count++) {
                *micros += (uint64_t)(**p - '0') * scale;
                scale /= 10;
            }
            if (count == 0) return false;
        }
    }
    if (hour > 23 || minute > 59 || second > 60) return false;
    tm->tm_hour = hour;
    tm->tm_min = minute;
    tm->tm_sec = second;
    return true;
}

//  Seconds to microseconds, refusing times before the epoch.
bool to_micros(time_t seconds, uint64_t micros, uint64_t* out) {
    if (seconds == (time_t)-1 || seconds < 0) return false;
    *out = (uint64_t)seconds * kSecond + micros;
    return true;
}

bool parse_relative(const char* text, uint64_t now_us, uint64_t* out_us) {
    if (*text == '-') text++;
    uint64_t amount = 0;
    const char* p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        amount = amount * 10 + (uint64_t)(*p - '0');
        if (amount > 100000000) return false;
    }
    if (p == text || p[1] != '\0') return false;
    uint64_t unit;
    switch (*p) {
    case 's':
        unit = kSecond;
        break;
    case 'm':
        unit = 60 * kSecond;
        break;
    case 'h':
        unit = 3600 * kSecond;
        break;
    case 'd':
        unit = 86400 * kSecond;
        break;
    default:
        return false;
    }
    uint64_t span = amount * unit;
    *out_us = span < now_us ? now_us - span : 0;
    return true;
}

bool parse_iso(const char* p, uint64_t* out_us) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int year, month, day;
    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) || *p++ != '-' ||
        !read_digits(&p, 2, &day))
        return false;
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    uint64_t micros = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!read_clock(&p, &tm, &micros)) return false;
    }
    if (*p == '\0') {
        tm.tm_isdst = -1;
        return to_micros(mktime(&tm), micros, out_us);
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int hours, minutes = 0;
        if (!read_digits(&p, 2, &hours)) return false;
        if (*p == ':') p++;
        if (*p && !read_digits(&p, 2, &minutes)) return false;
        if (hours > 23 || minutes > 59) return false;
        offset = sign * (hours * 3600L + minutes * 60L);
    } else {
        return false;
    }
    if (*p != '\0') return false;
    time_t seconds = timegm(&tm);
    if (seconds == (time_t)-1) return false;
    return to_micros(seconds - offset, micros, out_us);
}

bool parse_clock_today(const char* p, uint64_t now_us, uint64_t* out_us) {
    time_t now = (time_t)(now_us / kSecond);
    struct tm tm;
    if (!localtime_r(&now, &tm)) return false;
    uint64_t micros;
    if (!read_clock(&p, &tm, &micros) || *p != '\0') return false;
    tm.tm_isdst = -1;
    return to_micros(mktime(&tm), micros, out_us);
}

} // namespace

bool parse_time(const char* text, uint64_t now_us, uint64_t* out_us) {
    if (!text || !*text) return false;
    size_t length = strlen(text);
    if (strspn(text, "0123456789") == length) {
        if (length > 19) return false;
        uint64_t value = 0;
        for (const char* p = text; *p; p++)
            value = value * 10 + (uint64_t)(*p - '0');
        *out_us = value;
        return true;
    }
    if (length >= 10 && text[4] == '-') return parse_iso(text, out_us);
    if (length >= 5 && text[2] == ':') return parse_clock_today(text, now_us, out_us);
    return parse_relative(text, now_us, out_us);
}

bool parse_duration(const char* text, uint64_t* out_ms) {
    if (strcmp(text, "0") == 0) {
        *out_ms = 0;
        return true;
    }
    uint64_t amount = 0;
    const char* p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        amount = amount * 10 + (uint64_t)(*p - '0');
        if (amount > kMaxDurationDays * 86400) return false;
    }
    if (p == text || p[0] == '\0' || p[1] != '\0') return false;
    uint64_t unit;
    switch (*p) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60 * 1000;
        break;
    case 'h':
        unit = 3600 * 1000;
        break;
    case 'd':
        unit = 86400 * 1000;
        break;
    default:
        return false;
    }
    if (amount * unit / unit != amount || amount * unit > kMaxDurationDays * 86400000) return false;
    *out_ms = amount * unit;
    return true;
}

bool duration_form(const char* text) {
    size_t digits = strspn(text, "0123456789");
    return digits > 0 && text[digits] != '\0' && strchr("smhd", text[digits]) &&
           text[digits + 1] == '\0';
}

std::string format_time_utc(uint64_t us) {
    time_t seconds = (time_t)(us / kSecond);
    struct tm tm;
    char text[64];
    if (!gmtime_r(&seconds, &tm)) return "";
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % kSecond));
    return text;
}

std::string format_time_local(uint64_t us, uint64_t now_us) {
    time_t seconds = (time_t)(us / kSecond);
    time_t now = (time_t)(now_us / kSecond);
    struct tm tm, today;
    char text[64];
    if (!localtime_r(&seconds, &tm) || !localtime_r(&now, &today)) return "";
    bool same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
    strftime(text, sizeof text, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    return text;
}

} // namespace cli
} // namespace zgm
