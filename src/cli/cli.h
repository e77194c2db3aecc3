/*  =========================================================================
    cli.h - what the parts of the zgm program share

    Exit codes, the stop flag that SIGINT and SIGTERM raise, the per-user files (identity,
    cursors, history) and a Session: one zgm_user_t acting as the user of the identity file,
    with the cursors that `listen` and the interactive client resume from.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CLI_CLI_H
#define ZGM_CLI_CLI_H

#include "cli/args.h"
#include "cli/cli_spec.h"
#include "cli/output.h"
#include "zgm.h"

#include <cstdint>
#include <string>
#include <vector>

namespace zgm {
namespace cli {

enum ExitCode {
    kExitOk = 0,
    kExitRefused = 1,     //  a server refused, or a local failure
    kExitUsage = 2,       //  a bad command line or argument
    kExitUnreachable = 3, //  no server answered in time
};

//  The exit code for a zgm_errno () value.
int exit_code_for(int error);

//  Prints "zgm CMD: MESSAGE" and "Try 'zgm CMD --help'." to stderr; returns kExitUsage.
int usage_error(const char* command, const std::string& message);
//  Prints "zgm CMD: MESSAGE" to stderr (a bad configuration file); returns kExitUsage.
int config_error(const char* command, const std::string& message);

//  Call once, first thing in main: makes SIGINT and SIGTERM set the stop flag (and nothing
//  else: the library's actors keep running until the program destroys them; a second signal
//  ends the program at once), and sends the library's log to stderr.
void start_program();
bool stop_requested();

//  The registry endpoint when --registry is not given: $ZGM_REGISTRY, else
//  ZGM_REGISTRY_ENDPOINT.
const char* default_registry();

//  $variable/leaf when $variable is an absolute path, else $HOME/fallback/leaf.
std::string xdg_path(const char* variable, const char* fallback, const char* leaf);
//  Where `zgm server` and `zgm run` keep their store unless told otherwise:
//  $XDG_DATA_HOME/zgm/server. The one place that says so.
std::string default_store_dir();
//  Creates a directory and its parents (mode 0700 for the new ones). Returns false on failure.
bool make_dirs(const std::string& path);
std::string dir_of(const std::string& path);

//  The identity file: the user's 32-hex id on the first line, the display name on the second.
struct Identity {
    std::string id;
    std::string name;
};
//  1 if read, 0 if the file does not exist, -1 if it is unreadable or malformed.
int read_identity(const std::string& path, Identity* identity);
//  Writes the file (and its directory) with mode 0600. Returns false on failure.
bool write_identity(const std::string& path, const Identity& identity);

//  The last sequence number printed per group, kept in a file of "group seq" lines.
class Cursors {
public:
    void load(const std::string& path);
    //  The cursor of a group, or false if there is none.
    bool get(const std::string& group, uint64_t* seq) const;
    //  Records a cursor and rewrites the file (atomically). Returns false if it could not.
    bool set(const std::string& group, uint64_t seq);

private:
    std::string path_;
    std::vector<std::pair<std::string, uint64_t>> entries_;
};

//  The options every `zgm user` subcommand takes (spec::kUserOptions).
struct UserOptions {
    std::string registry;
    std::string identity_path;
    const char* name = nullptr; //  --name, or NULL to keep the saved one
    int timeout_ms = ZGM_DEFAULT_TIMEOUT;
    bool json = false;
};
//  Reads the user options from args (their values are checked as they are parsed).
//  Returns kExitOk or prints the problem and returns kExitUsage.
int read_user_options(const Args& args, const char* command, UserOptions* options);

struct Session {
    zgm_user_t* user = nullptr;
    Identity identity;
    Cursors cursors;
    Style style;
    std::vector<std::string> followed; //  the groups this session follows
};
//  Creates the user of the identity file (and the file on first use), connects it to the
//  registry and loads the cursors. Returns kExitOk or prints why not and returns an exit code.
int open_session(const UserOptions& options, Session* session);
void close_session(Session* session);
//  Follows a group from after its cursor, or from now when it has none. 0 or -1 (zgm_errno).
int follow_group(Session* session, const std::string& group);
//  Follows every live group the user is a member of; warns on stderr about groups that did
//  not answer. Returns 0, or -1 if the group list failed.
int follow_member_groups(Session* session);
bool is_followed(const Session& session, const std::string& group);
void forget_followed(Session* session, const std::string& group);
//  Prints a live message and moves its group's cursor past it.
void print_live(Session* session, const zgm_msg_t* msg);

//  What `fetch` and `/fetch` ask for: --since TIME, --after SEQ, --limit N.
struct FetchQuery {
    uint64_t since_us = 0;
    uint64_t after_seq = 0;
    size_t limit = 0;
};
//  Returns false with *error set on a bad value.
bool read_fetch_options(const Args& args, uint64_t now_us, FetchQuery* query, std::string* error);

//  The commands both the scripting commands and the interactive client run; each prints
//  its result to stdout and returns 0, or -1 with zgm_errno set.
int show_groups(Session* session);
int show_members(Session* session, const char* group);
int show_fetch(Session* session, const char* group, const FetchQuery& query);

//  The commands: argv starts after the command's name.
int user_main(int argc, char** argv);
int run_interactive(Session* session);

} // namespace cli
} // namespace zgm

#endif
