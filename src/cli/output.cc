/*  =========================================================================
    output.cc - how the zgm program prints messages, groups, members and errors

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/output.h"

#include "cli/cli.h"
#include "cli/timefmt.h"
#include "core/clock.h"
#include "core/utf8.h"

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace zgm {
namespace cli {

namespace {

const char* const kReset = "\033[0m";
const char* const kDim = "\033[2m";
const char* const kGroup = "\033[36m";

//  A colour per sender, so a conversation is easy to follow.
const char* sender_color(const char* sender) {
    static const char* const colors[] = {"\033[1;31m", "\033[1;32m", "\033[1;33m",
                                         "\033[1;34m", "\033[1;35m", "\033[1;36m"};
    unsigned hash = 5381;
    for (const char* p = sender; *p; p++)
        hash = hash * 33 + (unsigned char)*p;
    return colors[hash % (sizeof colors / sizeof colors[0])];
}

void append_utf8(std::string* out, uint32_t code) {
    if (code < 0x80) {
        *out += (char)code;
    } else if (code < 0x800) {
        *out += (char)(0xC0 | (code >> 6));
        *out += (char)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out += (char)(0xE0 | (code >> 12));
        *out += (char)(0x80 | ((code >> 6) & 0x3F));
        *out += (char)(0x80 | (code & 0x3F));
    } else {
        *out += (char)(0xF0 | (code >> 18));
        *out += (char)(0x80 | ((code >> 12) & 0x3F));
        *out += (char)(0x80 | ((code >> 6) & 0x3F));
        *out += (char)(0x80 | (code & 0x3F));
    }
}

void append_name(std::string* out, const char* text) {
    append_visible(out, text, strlen(text), false);
}

void json_append_uint(std::string* out, const char* key, uint64_t value) {
    char text[48];
    snprintf(text, sizeof text, "\"%s\":%" PRIu64, key, value);
    *out += text;
}

void json_append_field(std::string* out, const char* key, const char* value) {
    *out += '"';
    *out += key;
    *out += "\":";
    json_append_string(out, value);
}

//  False if the line, or anything before it on out, could not be written.
bool finish_line(FILE* out, const std::string& line) {
    bool written = fwrite(line.data(), 1, line.size(), out) == line.size();
    written = fputc('\n', out) != EOF && written;
    return fflush(out) == 0 && written && !ferror(out);
}

} // namespace

Style stdout_style(bool json) {
    Style style;
    style.json = json;
    style.color = !json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == nullptr;
    return style;
}

MessageView view_of(const zgm_msg_t* msg) {
    MessageView view{zgm_msg_group(msg),  zgm_msg_seq(msg),         zgm_msg_timestamp(msg),
                     zgm_msg_sender(msg), zgm_msg_sender_name(msg), zgm_msg_id(msg),
                     zgm_msg_body(msg),   zgm_msg_size(msg)};
    view.missed = zgm_msg_missed(msg);
    return view;
}

std::string disambiguated(const char* name, const char* key) {
    return std::string(name) + "~" + std::string(key).substr(0, 8);
}

void json_append_string(std::string* out, const void* data, size_t size) {
    const unsigned char* bytes = (const unsigned char*)data;
    *out += '"';
    for (size_t i = 0; i < size;) {
        uint32_t code;
        i += utf8_decode(bytes + i, size - i, &code);
        switch (code) {
        case '"':
            *out += "\\\"";
            break;
        case '\\':
            *out += "\\\\";
            break;
        case '\n':
            *out += "\\n";
            break;
        case '\r':
            *out += "\\r";
            break;
        case '\t':
            *out += "\\t";
            break;
        case '\b':
            *out += "\\b";
            break;
        case '\f':
            *out += "\\f";
            break;
        case 0xFFFD:
            *out += "\\ufffd";
            break;
        default:
            if (is_control(code)) {
                char escape[8];
                snprintf(escape, sizeof escape, "\\u%04x", (unsigned)code);
                *out += escape;
            } else {
                append_utf8(out, code);
            }
        }
    }
    *out += '"';
}

void json_append_string(std::string* out, const char* text) {
    json_append_string(out, text, strlen(text));
}

void append_visible(std::string* out, const void* data, size_t size, bool keep_newlines) {
    const unsigned char* bytes = (const unsigned char*)data;
    for (size_t i = 0; i < size;) {
        uint32_t code;
        i += utf8_decode(bytes + i, size - i, &code);
        if (code == '\n' && keep_newlines) {
            *out += "\n    ";
        } else if (code == '\t') {
            *out += '\t';
        } else if (code < 0x20) {
            *out += '^';
            *out += (char)('@' + code);
        } else if (code == 0x7F) {
            *out += "^?";
        } else if (code >= 0x80 && code < 0xA0) {
            append_utf8(out, 0xFFFD);
        } else {
            append_utf8(out, code);
        }
    }
}

std::string format_message(const MessageView& msg, const Style& style, uint64_t now_us) {
    std::string line;
    if (style.json) {
        line = "{";
        json_append_field(&line, "group", msg.group);
        line += ',';
        json_append_uint(&line, "seq", msg.seq);
        line += ',';
        json_append_uint(&line, "timestamp", msg.timestamp);
        line += ',';
        json_append_field(&line, "time", format_time_utc(msg.timestamp).c_str());
        line += ',';
        json_append_field(&line, "sender", msg.sender);
        line += ',';
        json_append_field(&line, "name", msg.name);
        line += ',';
        json_append_field(&line, "msg_id", msg.msg_id);
        if (msg.missed) {
            line += ',';
            json_append_uint(&line, "missed", msg.missed);
        }
        line += ",\"text\":";
        json_append_string(&line, msg.body, msg.size);
        line += '}';
        return line;
    }
    char seq[32];
    snprintf(seq, sizeof seq, " #%" PRIu64 " ", msg.seq);
    if (style.color) line += kDim;
    line += '[';
    line += format_time_local(msg.timestamp, now_us);
    line += ']';
    line += seq;
    if (style.color) line += kReset, line += kGroup;
    append_name(&line, msg.group);
    if (style.color) line += kReset;
    line += ' ';
    if (style.color) line += sender_color(msg.sender);
    line += '<';
    append_name(&line, msg.label ? msg.label : msg.name);
    line += '>';
    if (style.color) line += kReset;
    line += ' ';
    append_visible(&line, msg.body, msg.size, true);
    return line;
}

bool print_message(FILE* out, const zgm_msg_t* msg, const Style& style, const char* label) {
    MessageView view = view_of(msg);
    view.label = label;
    return finish_line(out, format_message(view, style, now_us()));
}

const char* role_name(int role) {
    switch (role) {
    case ZGM_ROLE_OWNER:
        return "owner";
    case ZGM_ROLE_ADDED:
        return "added";
    default:
        return "member";
    }
}

const char* policy_name(int policy) {
    return policy == ZGM_POLICY_MEMBERS ? "members" : "open";
}

void print_groups(FILE* out, const zgm_group_t* groups, size_t count, const Style& style) {
    if (style.json) {
        for (size_t i = 0; i < count; i++) {
            std::string line = "{";
            json_append_field(&line, "group", groups[i].name);
            line += ',';
            json_append_field(&line, "group_id", groups[i].id);
            line += ',';
            json_append_field(&line, "endpoint", groups[i].endpoint);
            line += ',';
            json_append_field(&line, "server_key", groups[i].server_key);
            line += ',';
            json_append_field(&line, "policy", policy_name(groups[i].policy));
            line += ',';
            json_append_uint(&line, "member_count", groups[i].member_count);
            line += '}';
            finish_line(out, line);
        }
        return;
    }
    if (count == 0) {
        finish_line(out, "(no groups)");
        return;
    }
    int name_width = 5;
    for (size_t i = 0; i < count; i++)
        name_width = std::max(name_width, (int)strlen(groups[i].name));
    fprintf(out, "%s%-*s  %7s  %-7s  %s%s\n", style.color ? kDim : "", name_width, "GROUP",
            "MEMBERS", "POLICY", "ENDPOINT", style.color ? kReset : "");
    for (size_t i = 0; i < count; i++) {
        std::string name, endpoint;
        append_name(&name, groups[i].name);
        append_name(&endpoint, groups[i].endpoint);
        fprintf(out, "%-*s  %7u  %-7s  %s\n", name_width, name.c_str(),
                (unsigned)groups[i].member_count, policy_name(groups[i].policy), endpoint.c_str());
    }
    fflush(out);
}

void print_members(FILE* out, const zgm_member_t* members, size_t count, const Style& style) {
    //  Names are padded by their width on the screen: a character of UTF-8 is one column.
    auto columns = [](const std::string& text) {
        size_t width = 0;
        for (unsigned char c : text)
            width += (c & 0xC0) != 0x80;
        return width;
    };
    if (count == 0 && !style.json) { //  as `groups` says its none
        finish_line(out, "(no members)");
        return;
    }
    std::vector<std::string> names;
    size_t name_width = 4;
    for (size_t i = 0; i < count; i++) {
        std::string name;
        append_name(&name, members[i].name[0] ? members[i].name : "-");
        name_width = std::max(name_width, columns(name));
        names.push_back(name);
    }
    for (size_t i = 0; i < count; i++) {
        std::string line;
        if (style.json) {
            line = "{";
            json_append_field(&line, "key", members[i].key);
            line += ',';
            json_append_field(&line, "name", members[i].name);
            line += ',';
            json_append_field(&line, "role", role_name(members[i].role));
            line += '}';
        } else {
            line = names[i];
            line.append(name_width - columns(names[i]) + 2, ' ');
            line += members[i].key;
            line += "  ";
            line += role_name(members[i].role);
        }
        finish_line(out, line);
    }
}

void print_done(FILE* out, const std::string& plain, const char* group, const Style& style,
                const char* key, const char* file) {
    std::string line;
    if (style.json) {
        line = "{\"ok\":true,";
        json_append_field(&line, "group", group);
        if (key) {
            line += ',';
            json_append_field(&line, "key", key);
        }
        if (file && *file) {
            line += ',';
            json_append_field(&line, "file", file);
        }
        line += '}';
    } else {
        append_visible(&line, plain.data(), plain.size(), false);
    }
    finish_line(out, line);
}

void print_sent(FILE* out, const char* group, uint64_t seq, uint64_t timestamp, const char* msg_id,
                const Style& style) {
    std::string line;
    if (style.json) {
        line = "{";
        json_append_field(&line, "group", group);
        line += ',';
        json_append_uint(&line, "seq", seq);
        line += ',';
        json_append_uint(&line, "timestamp", timestamp);
        line += ',';
        json_append_field(&line, "time", format_time_utc(timestamp).c_str());
        line += ',';
        json_append_field(&line, "msg_id", msg_id);
        line += '}';
    } else {
        char text[64];
        snprintf(text, sizeof text, " #%" PRIu64 " at ", seq);
        line = "sent to ";
        append_name(&line, group);
        line += text;
        line += format_time_local(timestamp, now_us());
        line += " (id ";
        line += msg_id;
        line += ')';
    }
    finish_line(out, line);
}

void print_whoami(FILE* out, const char* name, const char* key, const char* identity,
                  const Style& style) {
    std::string line;
    if (style.json) {
        line = "{";
        json_append_field(&line, "key", key);
        line += ',';
        json_append_field(&line, "name", name);
        line += ',';
        json_append_field(&line, "identity", identity);
        line += '}';
    } else {
        append_name(&line, name);
        line += "  ";
        line += key;
    }
    finish_line(out, line);
}

int report_error(const char* what, const Style& style, const char* msg_id) {
    return report_failure(std::string(what) + ": " + zgm_strerror(), zgm_errno(), style, msg_id);
}

int report_failure(const std::string& message, int code, const Style& style, const char* msg_id) {
    fflush(stdout);
    fprintf(stderr, "zgm: %s\n", message.c_str());
    if (style.json) {
        std::string line = "{\"error\":";
        json_append_string(&line, message.c_str());
        line += ",\"code\":" + std::to_string(code);
        if (msg_id) {
            line += ',';
            json_append_field(&line, "msg_id", msg_id);
        }
        line += '}';
        finish_line(stdout, line);
    }
    return exit_code_for(code);
}

} // namespace cli
} // namespace zgm
