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
    uint64_t timestamp;
    const char* sender; //  the sender's key
    const char* name;   //  the sender's display name
    const char* msg_id; //  the message id
    const void* body;
    size_t size;
    uint64_t missed = 0;         //  dropped by retention just before it (live messages)
    const char* label = nullptr; //  shown instead of name in plain output ("alice~Hl4k0}Zb")
};
MessageView view_of(const zgm_msg_t* msg);

//  How a sender is shown when another member shares its display name: the name, '~' and
//  the first 8 characters of its key.
std::string disambiguated(const char* name, const char* key);

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
//    json:  {"group":..,"seq":..,"timestamp":..,"time":..,"sender":..,"name":..,"msg_id":..,
//            "text":..}
std::string format_message(const MessageView& msg, const Style& style, uint64_t now_us);

//  The printers: one record (or a table) and a line end, then a flush. print_message is false
//  if it, or anything before it on out, could not be written.
bool print_message(FILE* out, const zgm_msg_t* msg, const Style& style,
                   const char* label = nullptr);
void print_groups(FILE* out, const zgm_group_t* groups, size_t count, const Style& style);
void print_members(FILE* out, const zgm_member_t* members, size_t count, const Style& style);
//  The outcome of create, join, leave and the owner's commands: {"ok":true,"group":G} or
//  the plain text given ("joined G"). The owner's commands on a key (add, remove, give) give
//  the key they acted on too, and the certificate file it was read from when not empty:
//  {"ok":true,"group":G,"key":KEY,"file":FILE}.
void print_done(FILE* out, const std::string& plain, const char* group, const Style& style,
                const char* key = nullptr, const char* file = nullptr);
void print_sent(FILE* out, const char* group, uint64_t seq, uint64_t timestamp, const char* msg_id,
                const Style& style);
void print_whoami(FILE* out, const char* name, const char* key, const char* identity,
                  const Style& style);
//  "owner", "member" or "added".
const char* role_name(int role);
const char* policy_name(int policy);

//  Reports the last zgm error of this thread: "zgm: <what>: <strerror>" on stderr and, with
//  JSON, {"error":"<what>: <strerror>","code":<zgm_errno>} on stdout. Returns the exit code.
//  With msg_id not NULL, the JSON line has "msg_id" too (a send in doubt).
int report_error(const char* what, const Style& style, const char* msg_id = nullptr);
//  The same for a failure worded here: the message, and the zgm_error_t it amounts to.
int report_failure(const std::string& message, int code, const Style& style,
                   const char* msg_id = nullptr);

} // namespace cli
} // namespace zgm

#endif
