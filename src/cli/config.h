/*  =========================================================================
    config.h - the configuration file of the zgm servers (zgm.cfg(5))

    ZPL (rfc.zeromq.org/spec:4) read with CZMQ's zconfig: sections named after the commands
    that read them (`registry`, `server`, `server/NAME` for `--instance NAME`), holding keys
    named after the commands' options. zconfig keeps no line numbers and prints its syntax
    errors to stdout; this reader recovers the line of each key (every line that is not blank
    or a comment is one node, in order) and of a syntax error, so that every error names its
    file, line and key. The whole file is checked against the option tables of cli_spec.h,
    also the sections the running command does not read.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CLI_CONFIG_H
#define ZGM_CLI_CONFIG_H

#include "cli/args.h"
#include "cli/cli_spec.h"

#include <string>
#include <vector>

namespace zgm {
namespace cli {

struct ConfigKey {
    std::string name;
    std::string value;
    int line;
};

struct ConfigSection {
    std::string name;
    int line;
    std::vector<ConfigKey> keys;
};

class ConfigFile {
public:
    //  Reads and checks a file. Returns false with *error set: "FILE:LINE: KEY: problem",
    //  "FILE:LINE: problem" for a syntax error, "FILE: problem" when it cannot be read.
    bool load(const std::string& path, std::string* error);
    //  Checks text as if read from a file named path (for tests, and load).
    bool parse(const std::string& path, const std::string& text, std::string* error);

    const ConfigSection* section(const std::string& name) const;
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::vector<ConfigSection> sections_;
};

//  Adds to args the keys of the command's section and of section/instance (instance may be
//  NULL) that the command line left out: a key of section/instance replaces the same key of
//  section, all its values; an option given on the command line, or one that excludes the
//  key, replaces both.
void apply_config(const ConfigFile& file, const spec::Command& command, const char* instance,
                  Args* args);

} // namespace cli
} // namespace zgm

#endif
