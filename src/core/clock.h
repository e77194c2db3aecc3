/*  =========================================================================
    clock.h - UTC wall clock in microseconds

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_CLOCK_H
#define ZGM_CORE_CLOCK_H

#include <atomic>
#include <cstdint>
#include <ctime>

namespace zgm {

//  How far a test moved this process's monotonic clock forward (advance_mono_ms); 0 unless
//  a test did.
inline std::atomic<int64_t> g_mono_advanced_ms{0};

//  Microseconds since the Unix epoch, UTC.
inline uint64_t now_us() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

//  A duration in milliseconds as microseconds, UINT64_MAX (forever) where it would overflow.
inline uint64_t ms_to_us(uint64_t ms) {
    return ms > UINT64_MAX / 1000 ? UINT64_MAX : ms * 1000;
}

//  Milliseconds from a monotonic clock, for timeouts and intervals.
inline int64_t mono_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           g_mono_advanced_ms.load(std::memory_order_relaxed);
}

//  For tests of windows of minutes or hours (the registry's): every mono_ms() of the process
//  reads ms later from now on, as if that time had passed at once. Only forward.
inline void advance_mono_ms(int64_t ms) {
    if (ms > 0) g_mono_advanced_ms.fetch_add(ms, std::memory_order_relaxed);
}

} // namespace zgm

#endif
