/*  =========================================================================
    args.cc - the zgm program's one option parser

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/args.h"

#include <cstring>

namespace zgm {
namespace cli {

static const OptionSpec* find_spec(const OptionSpec* specs, const std::string& name) {
    for (; specs && specs->name; specs++)
        if (name == specs->name) return specs;
    return nullptr;
}

bool Args::parse(int count, char** words, const OptionSpec* specs, const OptionSpec* specs2,
                 bool stop_at_positional) {
    bool options_ended = false;
    for (int i = 0; i < count; i++) {
        const char* word = words[i];
        bool is_option = !options_ended && word[0] == '-' && word[1] != '\0';
        if (!is_option) {
            if (stop_at_positional) {
                rest_count_ = count - i;
                rest_ = words + i;
                return true;
            }
            positional_.push_back(word);
            continue;
        }
        if (strcmp(word, "--") == 0) {
            options_ended = true;
            continue;
        }
        if (strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0) {
            help_ = true;
            return true;
        }
        if (word[1] != '-') {
            error_ = std::string("unknown option '") + word + "'";
            return false;
        }
        std::string name = word + 2;
        const char* inline_value = nullptr;
        size_t equals = name.find('=');
        if (equals != std::string::npos) {
            inline_value = word + 2 + equals + 1;
            name.resize(equals);
        }
        const OptionSpec* spec = find_spec(specs, name);
        if (!spec) spec = find_spec(specs2, name);
        if (!spec) {
            error_ = "unknown option '--" + name + "'";
            return false;
        }
        if (!spec->has_value) {
            if (inline_value) {
                error_ = "option '--" + name + "' takes no value";
                return false;
            }
            options_.emplace_back(name, "");
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= count) {
                error_ = "option '--" + name + "' needs a value";
                return false;
            }
            inline_value = words[++i];
        }
        options_.emplace_back(name, inline_value);
    }
    return true;
}

const char* Args::value(const char* name) const {
    for (auto it = options_.rbegin(); it != options_.rend(); ++it)
        if (it->first == name) return it->second.c_str();
    return nullptr;
}

std::vector<std::string> Args::values(const char* name) const {
    std::vector<std::string> found;
    for (const auto& option : options_)
        if (option.first == name) found.push_back(option.second);
    return found;
}

bool split_words(const std::string& line, std::vector<std::string>* words) {
    words->clear();
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < line.size(); i++) {
        char c = line[i];
        if (quote) {
            if (c == quote)
                quote = 0;
            else if (c == '\\' && quote == '"' && i + 1 < line.size())
                word += line[++i];
            else
                word += c;
        } else if (c == ' ' || c == '\t') {
            if (in_word) words->push_back(word);
            word.clear();
            in_word = false;
        } else {
            in_word = true;
            if (c == '"' || c == '\'')
                quote = c;
            else if (c == '\\' && i + 1 < line.size())
                word += line[++i];
            else
                word += c;
        }
    }
    if (quote) return false;
    if (in_word) words->push_back(word);
    return true;
}

bool parse_uint(const char* text, uint64_t max, uint64_t* out) {
    if (!text || !*text) return false;
    uint64_t value = 0;
    for (const char* p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) return false;
        value = value * 10 + digit;
    }
    if (value > max) return false;
    *out = value;
    return true;
}

} // namespace cli
} // namespace zgm
