/*  =========================================================================
    args.cc - the zgm program's one option parser

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/args.h"
#include "cli/timefmt.h"

#include <cstring>

namespace zgm {
namespace cli {

const OptionSpec* find_option(const OptionSpec* specs, const char* name) {
    for (; specs && specs->name; specs++)
        if (strcmp(name, specs->name) == 0) return specs;
    return nullptr;
}

//  Digits, with a '.' and more digits after them, or not: what a user means as a number.
static bool number_like(const char* word) {
    if (*word < '0' || *word > '9') return false;
    while (*word >= '0' && *word <= '9')
        word++;
    if (*word == '.') word++;
    while (*word >= '0' && *word <= '9')
        word++;
    return !*word;
}

static bool is_choice(const char* choices, const char* value) {
    size_t length = strlen(value);
    for (const char* at = choices; at; at = strchr(at, '|') ? strchr(at, '|') + 1 : nullptr) {
        const char* end = strchr(at, '|');
        size_t choice = end ? (size_t)(end - at) : strlen(at);
        if (choice == length && strncmp(at, value, length) == 0) return true;
    }
    return false;
}

static bool all_digits(const char* word) {
    return *word && strspn(word, "0123456789") == strlen(word);
}

static bool only_zeros(const char* word) {
    return strspn(word, "0") == strlen(word);
}

bool check_option_value(const OptionSpec& spec, const char* value, std::string* problem) {
    const char* wanted = nullptr;
    uint64_t number;
    switch (spec.type) {
    case OptionSpec::kText:
        if (!*value) wanted = "a value";
        break;
    //  A number past the most (digits only, too many of them) is said as such: it is a
    //  number, and positive.
    case OptionSpec::kMsecs:
        if (parse_uint(value, INT32_MAX, &number) && number > 0) break;
        wanted = all_digits(value) && !only_zeros(value) ? "at most 2147483647 milliseconds"
                                                         : "a positive number of milliseconds";
        break;
    case OptionSpec::kUint:
        if (parse_uint(value, UINT64_MAX, &number)) break;
        wanted = all_digits(value) ? "at most 18446744073709551615" : "a number";
        break;
    case OptionSpec::kPositive:
        if (parse_uint(value, UINT64_MAX, &number) && number > 0) break;
        wanted = all_digits(value) && !only_zeros(value) ? "at most 18446744073709551615"
                                                         : "a positive number";
        break;
    case OptionSpec::kDuration:
        if (parse_duration(value, &number)) break;
        //  Digits and a unit, past the longest: said as such, not as a duration's form.
        static_assert(kMaxDurationDays == 100000, "the message below says it");
        wanted = duration_form(value) ? "a duration of at most 100000 days"
                                      : "a duration (30s, 10m, 2h, 7d, or 0)";
        break;
    }
    if (!wanted && spec.choices && !is_choice(spec.choices, value)) {
        std::string choices = spec.choices;
        size_t bar = choices.rfind('|');
        if (bar != std::string::npos) choices.replace(bar, 1, " or ");
        for (size_t at; (at = choices.find('|')) != std::string::npos;)
            choices.replace(at, 1, ", ");
        *problem = "takes " + choices + ", not '" + value + "'";
        return false;
    }
    if (wanted) {
        *problem = std::string("takes ") + wanted + ", not '" + value + "'";
        return false;
    }
    return true;
}

//  A public key's text: 40 characters of Z85, which may start with '-' (or "--").
static bool looks_like_key(const char* word) {
    static const char kZ85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               ".-:+=^!/*?&<>()[]{}@%$#";
    return strlen(word) == 40 && strspn(word, kZ85) == 40;
}

//  "--NAME=..." for an option NAME this command has.
bool Args::names_an_option(const char* word) const {
    const char* equals = strchr(word, '=');
    if (strncmp(word, "--", 2) != 0 || !equals) return false;
    return spec(std::string(word + 2, equals).c_str()) != nullptr;
}

bool Args::parse(int count, char** words, const OptionSpec* specs, const OptionSpec* specs2,
                 bool stop_at_positional) {
    specs_ = specs;
    specs2_ = specs2;
    bool options_ended = false;
    for (int i = 0; i < count; i++) {
        const char* word = words[i];
        //  No option is 40 characters long, but --NAME=VALUE may be.
        bool is_option = !options_ended && word[0] == '-' && word[1] != '\0' &&
                         (!looks_like_key(word) || names_an_option(word));
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
        const OptionSpec* spec = this->spec(name.c_str());
        if (!spec) {
            error_ = "unknown option '--" + name + "'";
            return false;
        }
        if (!spec->has_value()) {
            if (inline_value) {
                error_ = "option '--" + name + "' takes no value";
                return false;
            }
            options_.push_back({name, "", "", ""});
            continue;
        }
        //  A value that may be left out is the next word when that is one of its type, or
        //  looks like a number (refused below if it is not one of its type: `--watch 0` and
        //  `--watch 0.5` are not the groups "0" and "0.5").
        std::string unused;
        if (!inline_value && spec->bare_value &&
            (i + 1 >= count ||
             (!check_option_value(*spec, words[i + 1], &unused) && !number_like(words[i + 1]))))
            inline_value = spec->bare_value;
        if (!inline_value) {
            if (i + 1 >= count) {
                error_ = "option '--" + name + "' needs a value";
                return false;
            }
            inline_value = words[++i];
        }
        std::string problem;
        if (!check_option_value(*spec, inline_value, &problem)) {
            error_ = "--" + name + " " + problem;
            return false;
        }
        options_.push_back({name, inline_value, "", ""});
    }
    return true;
}

void Args::add(const OptionSpec& spec, const std::string& value, const std::string& where,
               const std::string& section) {
    if (!spec.has_value() && value != "true") return;
    options_.push_back({spec.name, spec.has_value() ? value : "", where, section});
}

const Args::Value* Args::last(const char* name) const {
    for (auto it = options_.rbegin(); it != options_.rend(); ++it)
        if (it->name == name) return &*it;
    return nullptr;
}

const OptionSpec* Args::spec(const char* name) const {
    const OptionSpec* spec = find_option(specs_, name);
    return spec ? spec : find_option(specs2_, name);
}

const char* Args::value(const char* name) const {
    const Value* found = last(name);
    return found ? found->value.c_str() : nullptr;
}

const char* Args::value_or_default(const char* name) const {
    const char* found = value(name);
    if (found) return found;
    const OptionSpec* spec = this->spec(name);
    return spec ? spec->default_value : nullptr;
}

std::vector<std::string> Args::values(const char* name) const {
    std::vector<std::string> found;
    for (const Value& option : options_)
        if (option.name == name) found.push_back(option.value);
    return found;
}

bool Args::given(const char* name) const {
    for (const Value& option : options_)
        if (option.name == name && option.where.empty()) return true;
    return false;
}

std::string Args::where(const char* name) const {
    const Value* found = last(name);
    if (!found || found->where.empty()) return std::string("--") + name;
    return found->where + ": " + name;
}

std::string Args::where(const char* name, const std::string& value) const {
    for (const Value& option : options_)
        if (option.name == name && option.value == value && !option.where.empty())
            return option.where + ": " + name;
    return std::string("--") + name;
}

std::string Args::section_of(const char* name) const {
    const Value* found = last(name);
    return found ? found->section : "";
}

bool Args::check_exclusions() {
    for (const OptionSpec* table : {specs_, specs2_})
        for (const OptionSpec* spec = table; spec && spec->name; spec++)
            if (spec->excludes && has(spec->name) && has(spec->excludes)) {
                const Value* other = last(spec->excludes);
                error_ = where(spec->name) + (given(spec->name) ? " excludes --" : ": excludes ") +
                         spec->excludes + (other->where.empty() ? "" : " (" + other->where + ")");
                return false;
            }
    return true;
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
