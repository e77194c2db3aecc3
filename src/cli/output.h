/*  =========================================================================
    output.h - how the zgm program prints messages, groups, members and errors

    Two styles: plain text for people (local times, optional ANSI colours, control characters
    made visible) and JSON, one object per line, for scripts. The format_* functions are pure
    so tests can call them; the print_* functions write one record to a stream.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CLI_OUTPUT_H
#define ZGM_CLI_OUTPUT_H

#include "zgm.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace zgm {
namespace cli {

struct Style {
    bool json = false;
    bool color = false;
};

//  The style for stdout: colours only on a terminal and when NO_COLOR is not set.
Style stdout_style(bool json);

//  A message as the printers see it.
struct MessageView {
    const char* group;
    uint64_t seq;
    uint64_t ts_us;
    const char* sender;
    const char* name;
    const void* body;
    size_t size;
};
MessageView view_of(const zgm_msg_t* msg);

//  Decodes one UTF-8 character from data[0..size) (size > 0) into *code and returns its
//  length; an invalid or truncated sequence gives U+FFFD and length 1.
size_t utf8_decode(const unsigned char* data, size_t size, uint32_t* code);

//  Appends data as a JSON string, quotes included: control characters escaped, invalid
//  UTF-8 as \ufffd.
void json_append_string(std::string* out, const void* data, size_t size);
void json_append_string(std::string* out, const char* text);

//  Appends text made safe for a terminal: invalid UTF-8 as U+FFFD, control characters in
//  caret notation (^[), C1 controls as U+FFFD. With keep_newlines, a newline is kept and the
//  next line indented.
void append_visible(std::string* out, const void* data, size_t size, bool keep_newlines);

//  One message, without the line end:
//    plain: "[14:20:01] #42 general <alice> hello"
//    json:  {"group":..,"seq":..,"ts_us":..,"time":..,"sender":..,"name":..,"text":..}
std::string format_message(const MessageView& msg, const Style& style, uint64_t now_us);

//  The printers: one record (or a table) and a line end, then a flush.
void print_message(FILE* out, const zgm_msg_t* msg, const Style& style);
void print_groups(FILE* out, const zgm_group_info_t* groups, size_t count, const Style& style);
//  pairs is zgm_user_members' array: 2 * count strings, id then name.
void print_members(FILE* out, char** pairs, size_t count, const Style& style);
//  The outcome of create, join, leave: {"ok":true,"group":G} or "joined G".
void print_done(FILE* out, const char* done, const char* group, const Style& style);
void print_sent(FILE* out, const char* group, uint64_t seq, uint64_t ts_us, const Style& style);

//  Reports the last zgm error of this thread: "zgm: <what>: <strerror>" on stderr and, with
//  JSON, {"error":"<what>: <strerror>","code":<zgm_errno>} on stdout. Returns the exit code.
int report_error(const char* what, const Style& style);

} // namespace cli
} // namespace zgm

#endif
