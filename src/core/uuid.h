/*  =========================================================================
    uuid.h - 16-byte identifiers for users, group servers, groups and messages

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_UUID_H
#define ZGM_CORE_UUID_H

#include <cstdint>
#include <cstring>
#include <string>

namespace zgm {

//  Random bytes from the kernel's generator (getrandom), unpredictable.
void random_bytes(uint8_t* out, size_t size);

//  A random (version 4) UUID. All-zero is "none".
struct Uuid {
    uint8_t bytes[16] = {};

    static Uuid random();
    //  A random id whose first 8 bytes are the current time in microseconds, big-endian
    //  (like UUIDv7): ids made one after the other sort in time order, so an index over
    //  them grows at its right edge instead of being rewritten all over.
    static Uuid time_ordered();
    //  Parses 32 hex digits, with or without the four dashes; false if it is not one.
    static bool parse(const char* text, Uuid* out);
    //  32 lowercase hex digits, no dashes (as CZMQ's zuuid_str prints).
    std::string str() const;
    bool is_nil() const;

    bool operator==(const Uuid& other) const { return memcmp(bytes, other.bytes, 16) == 0; }
    bool operator!=(const Uuid& other) const { return !(*this == other); }
    bool operator<(const Uuid& other) const { return memcmp(bytes, other.bytes, 16) < 0; }
};

struct UuidHash {
    size_t operator()(const Uuid& uuid) const {
        size_t hash;
        memcpy(&hash, uuid.bytes, sizeof hash);
        return hash;
    }
};

} // namespace zgm

#endif
