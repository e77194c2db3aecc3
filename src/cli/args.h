/*  =========================================================================
    args.h - the zgm program's one option parser

    Every command and interactive /command declares its options in a table of OptionSpec
    (generated into cli/cli_spec.h from src/cli/commands.toml) and parses its words with
    Args::parse: "--name VALUE", "--name=VALUE", flags, "-h"/"--help", and "--" to end the
    options. Options and positional words may come in any order. A value is checked against
    its option's type and choices as it is parsed. A configuration file adds the values the
    command line did not give (Args::add), each with the file and line it came from. No
    global state, so tests can call it.

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

//  One option a command takes; a table of them ends with a NULL name.
struct OptionSpec {
    enum Type {
        kText,     //  any value
        kMsecs,    //  milliseconds, 1 to INT32_MAX
        kUint,     //  a number from 0
        kPositive, //  a number from 1
        kDuration, //  30s, 10m, 2h, 7d, or 0
    };
    const char* name;          //  the long name without "--", also the configuration key
    const char* arg;           //  the value's placeholder, or NULL for a flag
    const char* default_value; //  used when the option is absent, or NULL
    Type type;
    const char* choices;  //  the values it takes, "a|b", or NULL for any of its type
    bool repeats;         //  every value counts, not only the last
    bool in_config;       //  a key of the configuration file
    const char* excludes; //  an option it cannot be given with, or NULL
    //  The value when the option comes without one ("--watch"), or NULL: a value is needed.
    //  The next word is its value only when it is a valid one ("--watch 5", not "--watch x").
    const char* bare_value;
    bool has_value() const { return arg != nullptr; }
};

//  The option named name in a table, or NULL.
const OptionSpec* find_option(const OptionSpec* specs, const char* name);

//  Whether value suits the option: its type and choices. False with *problem set, e.g.
//  "not a positive number of milliseconds: 'x'".
bool check_option_value(const OptionSpec& spec, const char* value, std::string* problem);

//  The options and positional words of one command line, and configuration values.
class Args {
public:
    //  Parses words[0..count) against one or two option tables (specs2 may be NULL). A word
    //  of 40 characters of Z85 is a key, never an option, even when it starts with '-'. With
    //  stop_at_positional, stops at the first positional word and leaves it and the rest in
    //  rest(). Returns false with error() set on an unknown option, a missing value or a
    //  bad one. "--help" or "-h" sets help() and stops.
    bool parse(int count, char** words, const OptionSpec* specs, const OptionSpec* specs2,
               bool stop_at_positional = false);
    //  Adds a value of a configuration key: where is "FILE:LINE", section the file's
    //  section it was read from. A flag's value is "true" (set) or "false" (not set).
    void add(const OptionSpec& spec, const std::string& value, const std::string& where,
             const std::string& section);

    //  The last value given for an option, or NULL.
    const char* value(const char* name) const;
    //  The value, else the option's default in the tables of the last parse, else NULL.
    const char* value_or_default(const char* name) const;
    //  Every value given for a repeatable option, in order.
    std::vector<std::string> values(const char* name) const;
    bool has(const char* name) const { return value(name) != nullptr; }
    //  Whether the command takes option name at all.
    bool accepts(const char* name) const { return spec(name) != nullptr; }
    //  Given on the command line (not only in a configuration file).
    bool given(const char* name) const;
    //  How to name an option's value in a message: "--name" when the command line gave
    //  it, "FILE:LINE: name" when a configuration file did.
    std::string where(const char* name) const;
    //  The same for one of the values of an option given many times (--group).
    std::string where(const char* name, const std::string& value) const;
    //  The configuration section an option's value came from ("" for the command line).
    std::string section_of(const char* name) const;
    //  False with error() set when two options that exclude each other are both set.
    bool check_exclusions();

    bool help() const { return help_; }
    const std::vector<std::string>& positional() const { return positional_; }
    //  The unparsed words after a stop_at_positional parse (the first is the positional).
    int rest_count() const { return rest_count_; }
    char** rest() const { return rest_; }
    const std::string& error() const { return error_; }

private:
    struct Value {
        std::string name;
        std::string value;
        std::string where;   //  "" for the command line, else "FILE:LINE"
        std::string section; //  of the configuration file
    };
    const Value* last(const char* name) const;
    const OptionSpec* spec(const char* name) const;
    bool names_an_option(const char* word) const;

    std::vector<Value> options_;
    std::vector<std::string> positional_;
    const OptionSpec* specs_ = nullptr;
    const OptionSpec* specs2_ = nullptr;
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
