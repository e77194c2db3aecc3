/*  =========================================================================
    config.cc - the configuration file of the zgm servers

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/config.h"
#include "core/names.h"

#include <czmq.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace zgm {
namespace cli {

namespace {

//  zconfig reads lines of at most 1024 bytes and misreads longer ones.
const size_t kMaxLine = 1000;

//  The number of each line that holds a name: one zconfig node per such line, in order.
//  lines: the file's lines by number (lines[0] is none).
std::vector<int> node_lines(const std::vector<std::string>& lines) {
    std::vector<int> numbers;
    for (size_t number = 1; number < lines.size(); number++) {
        size_t first = lines[number].find_first_not_of(' ');
        if (first != std::string::npos && zgm::zpl_name_char(lines[number][first]))
            numbers.push_back((int)number);
    }
    return numbers;
}

//  Whether a key's line has a '#' right after a character of an unquoted value: ZPL starts a
//  comment there, and the value is cut short (a key's text often holds a '#').
bool cut_by_comment(const std::string& line) {
    size_t equals = line.find('=');
    if (equals == std::string::npos) return false;
    size_t value = line.find_first_not_of(" \t", equals + 1);
    if (value == std::string::npos || line[value] == '"' || line[value] == '\'') return false;
    size_t hash = line.find('#', value);
    return hash != std::string::npos && hash > value && line[hash - 1] != ' ' &&
           line[hash - 1] != '\t';
}

//  Loads text with zconfig. On a syntax error returns NULL with the line and zconfig's
//  reason, which zconfig prints to stdout ("... E (zconfig): (7) indent 4 spaces at once"):
//  stdout goes to a temporary file meanwhile.
zconfig_t* zconfig_parse(const std::string& text, int* line, std::string* reason) {
    zchunk_t* chunk = zchunk_new(text.data(), text.size());
    if (!chunk) return nullptr;
    fflush(stdout);
    FILE* capture = tmpfile();
    int saved = capture ? dup(STDOUT_FILENO) : -1;
    if (saved >= 0) dup2(fileno(capture), STDOUT_FILENO);
    zconfig_t* root = zconfig_chunk_load(chunk);
    fflush(stdout);
    if (saved >= 0) {
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    zchunk_destroy(&chunk);
    *line = 0;
    *reason = "syntax error";
    if (capture) {
        char said[512] = "";
        rewind(capture);
        size_t got = fread(said, 1, sizeof said - 1, capture);
        said[got] = '\0';
        fclose(capture);
        const char* at = strstr(said, "(zconfig): (");
        int used = 0;
        if (!root && at && sscanf(at, "(zconfig): (%d) %n", line, &used) == 1 && used > 0) {
            std::string rest = at + used;
            *reason = rest.substr(0, rest.find('\n'));
        }
    }
    return root;
}

//  The command that reads a section: "server" or "server/NAME" for the server.
const spec::Command* command_of_section(const std::string& section, std::string* instance) {
    for (const spec::Command& command : spec::kCommands) {
        if (!command.section) continue;
        std::string name = command.section;
        if (section == name) return &command;
        if (command.takes_instances && section.compare(0, name.size() + 1, name + "/") == 0) {
            *instance = section.substr(name.size() + 1);
            return &command;
        }
    }
    return nullptr;
}

std::string known_sections() {
    std::string list;
    for (const spec::Command& command : spec::kCommands) {
        if (!command.section) continue;
        list += (list.empty() ? "" : ", ") + std::string(command.section);
        if (command.takes_instances) list += ", " + std::string(command.section) + "/NAME";
    }
    return list;
}

} // namespace

bool ConfigFile::load(const std::string& path, std::string* error) {
    FILE* file = fopen(path.c_str(), "re");
    if (!file) {
        *error = path + ": " + strerror(errno);
        return false;
    }
    std::string text;
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, file)) > 0)
        text.append(buffer, got);
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        *error = path + ": cannot read it";
        return false;
    }
    return parse(path, text, error);
}

bool ConfigFile::parse(const std::string& path, const std::string& text, std::string* error) {
    path_ = path;
    sections_.clear();
    int number = 1;
    std::vector<std::string> raw_lines{""}; //  by number, from 1
    for (size_t start = 0; start < text.size(); number++) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        raw_lines.push_back(text.substr(start, end - start));
        if (end - start > kMaxLine) {
            *error = path + ":" + std::to_string(number) + ": a line of over 1000 bytes";
            return false;
        }
        if (memchr(text.data() + start, '\0', end - start)) {
            *error = path + ":" + std::to_string(number) + ": a NUL byte: not a text file";
            return false;
        }
        start = end + 1;
    }
    int line;
    std::string reason;
    zconfig_t* root = zconfig_parse(text, &line, &reason);
    if (!root) {
        *error = path + (line > 0 ? ":" + std::to_string(line) : "") + ": " + reason;
        if (line > 0 && line < (int)raw_lines.size() &&
            raw_lines[line].substr(0, raw_lines[line].find_first_not_of(" \t")).find('\t') !=
                std::string::npos)
            *error += " (indented with a tab: indent by four blanks)";
        return false;
    }
    std::vector<int> lines = node_lines(raw_lines);
    size_t next = 0;
    auto line_of_next = [&]() { return next < lines.size() ? lines[next++] : 0; };
    auto at = [&](int number) { return path + ":" + std::to_string(number) + ": "; };

    bool ok = true;
    for (zconfig_t* node = zconfig_child(root); ok && node; node = zconfig_next(node)) {
        ConfigSection section{zconfig_name(node), line_of_next(), {}};
        std::string instance;
        const spec::Command* command = command_of_section(section.name, &instance);
        if (!command) {
            *error = at(section.line) + section.name + ": unknown section (" + known_sections() +
                     "); keys are indented by four blanks";
            ok = false;
        } else if (zconfig_value(node) && *zconfig_value(node)) {
            *error = at(section.line) + section.name +
                     ": a section has no value; indent its keys by four blanks below it";
            ok = false;
        } else if (!instance.empty() && !valid_name(instance)) {
            *error = at(section.line) + section.name +
                     ": an instance name is 1 to 64 letters, digits, '-', '_' or '.'";
            ok = false;
        } else if (const ConfigSection* before = this->section(section.name)) {
            *error = at(section.line) + section.name + ": section given twice (first on line " +
                     std::to_string(before->line) + ")";
            ok = false;
        }
        for (zconfig_t* item = zconfig_child(node); ok && item; item = zconfig_next(item)) {
            ConfigKey key{zconfig_name(item), zconfig_value(item) ? zconfig_value(item) : "",
                          line_of_next()};
            const OptionSpec* spec = find_option(command->options, key.name.c_str());
            std::string problem;
            if (!spec || !spec->in_config) {
                problem = "unknown key in section " + section.name;
            } else if (key.line > 0 && key.line < (int)raw_lines.size() &&
                       cut_by_comment(raw_lines[key.line])) {
                problem = "a '#' right after a value starts a comment and cuts the value short "
                          "(key text often holds one): quote the value, \"like this\"";
            } else if (zconfig_child(item)) {
                problem = "a key has no keys below it";
            } else if (!spec->has_value() && key.value != "true" && key.value != "false") {
                problem = "takes true or false";
            } else if (spec->has_value() &&
                       !check_option_value(*spec, key.value.c_str(), &problem)) {
            } else if (!spec->repeats) {
                //  A flag too: "quiet = true" then "quiet = false" is one or the other.
                for (const ConfigKey& other : section.keys)
                    if (other.name == key.name)
                        problem = "given twice in section " + section.name + " (first on line " +
                                  std::to_string(other.line) + "); it takes one value";
            }
            if (!problem.empty()) {
                *error = at(key.line) + key.name + ": " + problem;
                ok = false;
            }
            section.keys.push_back(key);
        }
        sections_.push_back(section);
    }
    zconfig_destroy(&root);
    if (!ok) sections_.clear();
    return ok;
}

const ConfigSection* ConfigFile::section(const std::string& name) const {
    for (const ConfigSection& section : sections_)
        if (section.name == name) return &section;
    return nullptr;
}

void apply_config(const ConfigFile& file, const spec::Command& command, const char* instance,
                  Args* args) {
    if (!command.section) return;
    std::string base_name = command.section;
    const ConfigSection* base = file.section(base_name);
    const ConfigSection* own = instance ? file.section(base_name + "/" + instance) : nullptr;
    //  A key is set in a section when it is there with a value other than "false"; a key
    //  "false" still replaces the same key of a section below it.
    auto present = [](const ConfigSection* section, const char* name, bool set_only) {
        if (!section || !name) return false;
        for (const ConfigKey& key : section->keys)
            if (key.name == name && (!set_only || key.value != "false")) return true;
        return false;
    };
    for (const OptionSpec* spec = command.options; spec->name; spec++) {
        if (!spec->in_config) continue;
        if (args->given(spec->name) || (spec->excludes && args->given(spec->excludes))) continue;
        const ConfigSection* from = nullptr;
        for (const ConfigSection* section : {own, base})
            if (!from &&
                (present(section, spec->name, false) || present(section, spec->excludes, true)))
                from = section;
        if (!from) continue;
        for (const ConfigKey& key : from->keys)
            if (key.name == spec->name)
                args->add(*spec, key.value, file.path() + ":" + std::to_string(key.line),
                          from->name);
    }
}

} // namespace cli
} // namespace zgm
