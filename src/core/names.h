/*  =========================================================================
    names.h - what a group name may be

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_NAMES_H
#define ZGM_CORE_NAMES_H

#include <string>

namespace zgm {

constexpr size_t kMaxName = 64; //  ZGM_MAX_NAME

//  A group name: 1 to 64 bytes of letters, digits, '-', '_' and '.'.
inline bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxName) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    return true;
}

inline const char* invalid_name_reason() {
    return "a group name is 1 to 64 letters, digits, '-', '_' or '.'";
}

} // namespace zgm

#endif
