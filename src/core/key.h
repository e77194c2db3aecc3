/*  =========================================================================
    key.h - a CURVE public key: who a user, a group server or a registry is

    A user's id is its public key, as the ZAP handler proved it for the connection a
    request came on. Its one text form, everywhere (wire excepted: 32 bytes), is Z85: the
    40 characters of CZMQ's certificate files and of ZAP's User-Id.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_KEY_H
#define ZGM_CORE_KEY_H

#include <cstdint>
#include <cstring>
#include <string>

namespace zgm {

constexpr size_t kKeySize = 32;     //  bytes
constexpr size_t kKeyTextSize = 40; //  Z85 characters

struct Key {
    uint8_t bytes[kKeySize] = {};

    //  Parses 40 Z85 characters; false (and *out untouched) if text is not one.
    static bool parse(const char* text, Key* out);
    static bool parse(const std::string& text, Key* out) { return parse(text.c_str(), out); }
    //  Takes 32 raw bytes.
    static Key from_bytes(const void* data);
    //  The 40-character Z85 text.
    std::string str() const;
    //  All zero: "no key" (a group without an owner, a field not set).
    bool is_nil() const;

    bool operator==(const Key& other) const { return memcmp(bytes, other.bytes, kKeySize) == 0; }
    bool operator!=(const Key& other) const { return !(*this == other); }
    bool operator<(const Key& other) const { return memcmp(bytes, other.bytes, kKeySize) < 0; }
};

struct KeyHash {
    size_t operator()(const Key& key) const {
        size_t hash;
        memcpy(&hash, key.bytes, sizeof hash);
        return hash;
    }
};

} // namespace zgm

#endif
