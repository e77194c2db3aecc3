/*  =========================================================================
    utf8.h - reading UTF-8 one character at a time, for what is shown or logged

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_UTF8_H
#define ZGM_CORE_UTF8_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace zgm {

//  Decodes one UTF-8 character from data[0..size) (size > 0) into *code and returns its
//  length; an invalid or truncated sequence gives U+FFFD and length 1.
inline size_t utf8_decode(const unsigned char* data, size_t size, uint32_t* code) {
    unsigned char lead = data[0];
    size_t length;
    uint32_t value, min;
    if (lead < 0x80) {
        *code = lead;
        return 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, value = lead & 0x1F, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, value = lead & 0x0F, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, value = lead & 0x07, min = 0x10000;
    } else {
        *code = 0xFFFD;
        return 1;
    }
    if (length > size) {
        *code = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < length; i++) {
        if ((data[i] & 0xC0) != 0x80) {
            *code = 0xFFFD;
            return 1;
        }
        value = (value << 6) | (data[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        *code = 0xFFFD;
        return 1;
    }
    *code = value;
    return length;
}

//  A character a terminal may act on: C0 and C1 controls, DEL.
inline bool is_control(uint32_t code) {
    return code < 0x20 || code == 0x7F || (code >= 0x80 && code < 0xA0);
}

//  Appends text[0..size) with each control character (C0, DEL, C1) and each byte that is
//  not UTF-8 as '?': what a peer wrote cannot split a line or act on the terminal that
//  shows it.
inline void append_printable(std::string* out, const char* text, size_t size) {
    const unsigned char* bytes = (const unsigned char*)text;
    for (size_t i = 0; i < size;) {
        uint32_t code;
        size_t length = utf8_decode(bytes + i, size - i, &code);
        if (is_control(code) || code == 0xFFFD)
            *out += '?';
        else
            out->append(text + i, length);
        i += length;
    }
}

} // namespace zgm

#endif
