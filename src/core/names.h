/*  =========================================================================
    names.h - what a group name, a display name and an endpoint may be

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_NAMES_H
#define ZGM_CORE_NAMES_H

#include <cctype>
#include <cstdint>
#include <cstring>
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

//  A character zconfig (CZMQ's ZPL reader: configuration and certificate files) allows in
//  a name (s_is_namechar in zconfig.c).
inline bool zpl_name_char(char c) {
    return isalnum((unsigned char)c) || (c != '\0' && strchr("$-_@.&+/", c) != nullptr);
}

inline const char* invalid_name_reason() {
    return "a group name is 1 to 64 letters, digits, '-', '_' or '.'";
}

//  A display name: 1 to 64 bytes of valid UTF-8 (no overlong forms, no surrogates), with no
//  control character (C0, DEL, C1), so it cannot move a terminal's cursor or fake a line.
inline bool valid_display_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxName) return false;
    const unsigned char* p = (const unsigned char*)name.data();
    const unsigned char* end = p + name.size();
    while (p < end) {
        unsigned char c = *p;
        uint32_t code;
        size_t length;
        if (c < 0x80) {
            code = c, length = 1;
        } else if ((c & 0xE0) == 0xC0) {
            code = c & 0x1F, length = 2;
        } else if ((c & 0xF0) == 0xE0) {
            code = c & 0x0F, length = 3;
        } else if ((c & 0xF8) == 0xF0) {
            code = c & 0x07, length = 4;
        } else {
            return false;
        }
        if ((size_t)(end - p) < length) return false;
        for (size_t i = 1; i < length; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            code = (code << 6) | (p[i] & 0x3F);
        }
        static const uint32_t kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        //  Nor '"': a certificate's metadata (the identity file's name) is written between
        //  double quotes that nothing escapes, and read back cut at the first.
        if (code < 0x20 || code == 0x7F || (code >= 0x80 && code < 0xA0) || code == '"')
            return false;
        p += length;
    }
    return true;
}

inline const char* invalid_display_name_reason() {
    return "a display name is 1 to 64 bytes of UTF-8 without control characters or '\"'";
}

//  The port of a tcp:// endpoint that ends in one ("tcp://host:5570"), or -1 (another
//  transport, a wildcard port, none). A port past 65535 reads as 65536: too large.
inline long tcp_port(const std::string& endpoint) {
    if (endpoint.compare(0, 6, "tcp://") != 0) return -1;
    size_t colon = endpoint.rfind(':');
    std::string port = endpoint.substr(colon + 1);
    if (colon < 6 || port.empty() || port.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    long value = 0;
    for (size_t i = 0; i < port.size() && value <= 65535; i++)
        value = value * 10 + (port[i] - '0');
    return value > 65535 ? 65536 : value;
}

//  Why an endpoint given to bind or connect is not one, or "" when it may be: one without
//  its transport ("localhost:5570": a hint to put tcp:// before it), a tcp:// one without a
//  port, a tcp:// port over 65535 (libzmq would take it modulo 65536), or an IPv6 address
//  (zgm's sockets are IPv4: libzmq said "No such device"). libzmq checks the rest.
inline std::string endpoint_problem(const std::string& endpoint) {
    std::string problem = "not an endpoint: '" + endpoint + "'";
    if (endpoint.find("://") == std::string::npos)
        return problem + " (did you mean tcp://" + endpoint + "?)";
    //  inproc:// makes no security handshake: a server could not tell who is connected (it
    //  answered every request 401, "no key on this connection").
    if (endpoint.compare(0, 9, "inproc://") == 0)
        return "cannot use '" + endpoint +
               "': inproc:// has no security handshake, so no server could tell who is "
               "connected (use ipc:// or tcp://, also inside one process)";
    if (endpoint.compare(0, 6, "tcp://") != 0 && endpoint.compare(0, 6, "ipc://") != 0)
        return "cannot use '" + endpoint + "': zgm listens and connects over tcp:// or ipc://";
    if (endpoint.compare(0, 7, "tcp://[") == 0)
        return "cannot use '" + endpoint +
               "': zgm listens and connects over IPv4 only (give an IPv4 address, a host "
               "name or *)";
    if (endpoint.compare(0, 6, "tcp://") == 0 && endpoint.find(':', 6) == std::string::npos)
        return problem + ": no port (tcp://HOST:PORT)";
    return tcp_port(endpoint) > 65535 ? problem + ": a port is 0 to 65535" : "";
}

//  The host of a tcp:// endpoint, "" for another transport: "*" of tcp://*:5570.
inline std::string tcp_host(const std::string& endpoint) {
    if (endpoint.compare(0, 6, "tcp://") != 0) return "";
    size_t colon = endpoint.rfind(':');
    return colon > 6 ? endpoint.substr(6, colon - 6) : "";
}

//  Whether a tcp:// endpoint names every address of the machine (*, 0.0.0.0).
inline bool any_address(const std::string& endpoint) {
    std::string host = tcp_host(endpoint);
    return host == "*" || host == "0.0.0.0";
}

//  Why an endpoint a group server gives the registry, for users to connect to, is not one,
//  or "": as endpoint_problem, and one that names every address of its machine names none
//  for another machine to reach.
inline std::string advertised_endpoint_problem(const std::string& endpoint) {
    std::string problem = endpoint_problem(endpoint);
    if (problem.empty() && any_address(endpoint))
        problem = "cannot give users '" + endpoint +
                  "': it names every address of its machine, none to connect to";
    return problem;
}

//  Whether a tcp:// endpoint names a loopback address (127.0.0.0/8, localhost).
inline bool loopback_address(const std::string& endpoint) {
    std::string host = tcp_host(endpoint);
    return host.compare(0, 4, "127.") == 0 || host == "localhost";
}

} // namespace zgm

#endif
