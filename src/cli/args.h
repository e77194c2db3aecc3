/*  =========================================================================
    args.h - the zgm program's one option parser

    Every command and interactive /command declares its options in a table of OptionSpec and
    parses its words with Args::parse: "--name VALUE", "--name=VALUE", flags, "-h"/"--help",
    and "--" to end the options. Options and positional words may come in any order. No global
    state, so tests can call it.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CLI_ARGS_H
#define ZGM_CLI_ARGS_H

#include <cstdint>
#include <string>
#include <vector>

namespace zgm {
namespace cli {

//  One option a command takes; a table of them ends with {nullptr, false}.
struct OptionSpec {
    const char* name; //  the long name without "--"
    bool has_value;
};

//  The options and positional words of one command line.
class Args {
public:
    //  Parses words[0..count) against one or two option tables (specs2 may be NULL). With
    //  stop_at_positional, stops at the first positional word and leaves it and the rest in
    //  rest(). Returns false with error() set on an unknown option or a missing value.
    //  "--help" or "-h" sets help() and stops.
    bool parse(int count, char** words, const OptionSpec* specs, const OptionSpec* specs2,
               bool stop_at_positional = false);

    //  The last value given for an option, or NULL.
    const char* value(const char* name) const;
    //  Every value given for a repeatable option, in order.
    std::vector<std::string> values(const char* name) const;
    bool has(const char* name) const { return value(name) != nullptr; }
    bool help() const { return help_; }
    const std::vector<std::string>& positional() const { return positional_; }
    //  The unparsed words after a stop_at_positional parse (the first is the positional).
    int rest_count() const { return rest_count_; }
    char** rest() const { return rest_; }
    const std::string& error() const { return error_; }

private:
    std::vector<std::pair<std::string, std::string>> options_;
    std::vector<std::string> positional_;
    std::string error_;
    bool help_ = false;
    int rest_count_ = 0;
    char** rest_ = nullptr;
};

//  Splits an interactive line into words at blanks; "double" or 'single' quotes group words
//  and a backslash escapes the next character. Returns false on an unclosed quote.
bool split_words(const std::string& line, std::vector<std::string>* words);

//  Parses a decimal number (digits only) of at most max. Returns false otherwise.
bool parse_uint(const char* text, uint64_t max, uint64_t* out);

} // namespace cli
} // namespace zgm

#endif
