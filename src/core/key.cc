/*  =========================================================================
    key.cc - CURVE public keys and their Z85 text

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/key.h"

#include <zmq.h>

namespace zgm {

bool Key::parse(const char* text, Key* out) {
    if (!text || strlen(text) != kKeyTextSize) return false;
    Key key;
    if (!zmq_z85_decode(key.bytes, text)) return false;
    *out = key;
    return true;
}

Key Key::from_bytes(const void* data) {
    Key key;
    memcpy(key.bytes, data, kKeySize);
    return key;
}

std::string Key::str() const {
    char text[kKeyTextSize + 1];
    zmq_z85_encode(text, bytes, kKeySize);
    return std::string(text, kKeyTextSize);
}

bool Key::is_nil() const {
    static const uint8_t nil[kKeySize] = {};
    return memcmp(bytes, nil, kKeySize) == 0;
}

} // namespace zgm
