/*  =========================================================================
    uuid.cc - 16-byte identifiers

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/uuid.h"

#include "core/clock.h"

#include <algorithm>

#include <sys/random.h>

namespace zgm {

//  Random bytes from the kernel's generator, taken a buffer at a time: ids must be
//  unpredictable (every member sees the others' message ids) and cheap (one per message).
void random_bytes(uint8_t* out, size_t size) {
    thread_local uint8_t buffer[4096];
    thread_local size_t used = sizeof buffer;
    while (size > 0) {
        if (used == sizeof buffer) {
            size_t got = 0;
            while (got < sizeof buffer) {
                ssize_t rc = getrandom(buffer + got, sizeof buffer - got, 0);
                if (rc > 0) got += (size_t)rc;
            }
            used = 0;
        }
        size_t take = std::min(size, sizeof buffer - used);
        memcpy(out, buffer + used, take);
        used += take;
        out += take;
        size -= take;
    }
}

Uuid Uuid::random() {
    Uuid uuid;
    random_bytes(uuid.bytes, 16);
    uuid.bytes[6] = (uint8_t)((uuid.bytes[6] & 0x0F) | 0x40); //  version 4
    uuid.bytes[8] = (uint8_t)((uuid.bytes[8] & 0x3F) | 0x80); //  variant
    return uuid;
}

Uuid Uuid::time_ordered() {
    Uuid uuid = random();
    uint64_t now = now_us();
    for (int i = 0; i < 8; i++)
        uuid.bytes[i] = (uint8_t)(now >> (56 - 8 * i));
    return uuid;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool Uuid::parse(const char* text, Uuid* out) {
    if (!text) return false;
    Uuid uuid;
    size_t digits = 0;
    for (const char* p = text; *p; p++) {
        if (*p == '-') continue;
        int value = hex_value(*p);
        if (value < 0 || digits >= 32) return false;
        uuid.bytes[digits / 2] |= (uint8_t)(digits % 2 ? value : value << 4);
        digits++;
    }
    if (digits != 32) return false;
    *out = uuid;
    return true;
}

std::string Uuid::str() const {
    static const char hex[] = "0123456789abcdef";
    std::string text(32, '0');
    for (size_t i = 0; i < 16; i++) {
        text[2 * i] = hex[bytes[i] >> 4];
        text[2 * i + 1] = hex[bytes[i] & 15];
    }
    return text;
}

bool Uuid::is_nil() const {
    static const uint8_t nil[16] = {};
    return memcmp(bytes, nil, 16) == 0;
}

} // namespace zgm
