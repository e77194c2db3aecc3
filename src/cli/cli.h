/*  =========================================================================
    cli.h - what the parts of the zgm program share

    Exit codes, the stop flag that SIGINT and SIGTERM raise, the default key files, the
    per-user files (identity, cursors, history) and a Session: one zgm_user_t acting as the
    user of the identity file, with the cursors that `listen` and the interactive client
    resume from.

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
#include <map>
#include <string>
#include <vector>

namespace zgm {
namespace cli {

enum ExitCode {
    kExitOk = 0,
    kExitRefused = 1,     //  a server refused, or a local failure
    kExitUsage = 2,       //  a bad command line or argument
    kExitUnreachable = 3, //  no answer: a server down or unreachable, or a send in doubt
};

//  The exit code for a zgm_errno () value: the one place that decides it.
int exit_code_for(int error);

//  Prints "zgm CMD: MESSAGE" and "Try 'zgm CMD --help'." to stderr; returns kExitUsage.
int usage_error(const char* command, const std::string& message);
//  Prints "zgm CMD: MESSAGE" to stderr (a bad configuration file); returns kExitUsage.
int config_error(const char* command, const std::string& message);
//  A bad value from where it was set ("--max-frame", or "FILE:LINE: max-frame"): a usage
//  error (with the option to try) for an option, a configuration error for a file's line.
int bad_value(const char* command, const std::string& where, const std::string& problem);
//  kExitOk, or the usage (or configuration) error of an endpoint that is not one
//  (endpoint_problem), named as option NAME of ARGS gives it.
int check_endpoint(const Args& args, const char* command, const char* name,
                   const std::string& endpoint);
//  The same for the registry's endpoint: when neither --registry nor a configuration file's
//  registry gave it, the error names ZGM_REGISTRY, where it came from.
int check_registry_endpoint(const Args& args, const char* command, const std::string& endpoint);

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
//  The key files every role uses by default, under $XDG_CONFIG_HOME/zgm: the user's
//  identity, the registry's key pair (whose public half servers and users read), the
//  directory of group servers the registry trusts, and a group server's key pair in it
//  (local.cert, or NAME.cert for an instance). The one place that says so.
std::string default_identity_path();
std::string default_registry_key_file();
std::string default_servers_dir();
std::string default_server_key_file(const char* instance);
//  Creates a directory and its parents (mode 0700 for the new ones). Returns false on failure.
bool make_dirs(const std::string& path);
std::string dir_of(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

//  The registry's public key a group server or a user connects with: `given` (--registry-key,
//  or a configuration file's line: given_where names it), else $ZGM_REGISTRY_KEY, else the
//  certificate the local registry wrote (default_registry_key_file; waited for up to wait_ms
//  when missing, for a registry started a moment ago). A key is its text or a certificate
//  file. Sets *key to the key's text (empty when insecure and none was found) and returns
//  kExitOk, or prints why not ("zgm COMMAND: ...") and returns an exit code.
int find_registry_key(const char* command, const char* given, const std::string& given_where,
                      bool insecure, int wait_ms, std::string* key);

//  The user's identity: a key pair in a CZMQ certificate (path, path_secret) whose "name"
//  metadata is the display name.
struct Identity {
    std::string path;
    std::string key;  //  the public key's text: the user's id
    std::string name; //  the display name
};
//  Opens the identity file: makes it on first use (with name, else $USER), converts a zgm
//  0.1 identity file (an id and a name) into a new key pair that keeps the name (saying so on
//  stderr), and rewrites the name when `name` is given and differs. Returns kExitOk, or prints
//  why not and returns an exit code.
int open_identity(const std::string& path, const char* name, Identity* identity);
//  Whether text is an identity file of zgm 0.1: 32 hex digits on the first line, a name on
//  the second. Sets *name to the name (maybe empty) and *id to the old id.
bool is_v1_identity(const std::string& text, std::string* id, std::string* name);

//  The last sequence number printed per group, kept in a file of "group seq" lines.
class Cursors {
public:
    void load(const std::string& path);
    //  The cursor of a group, or false if there is none.
    bool get(const std::string& group, uint64_t* seq) const;
    //  Records a cursor and rewrites the file (atomically). Returns false if it could not.
    bool set(const std::string& group, uint64_t seq);
    //  The groups with a cursor: those listened to before.
    std::vector<std::string> groups() const;

private:
    std::string path_;
    std::vector<std::pair<std::string, uint64_t>> entries_;
};

//  The options every `zgm user` subcommand takes (spec::kUserOptions).
struct UserOptions {
    std::string registry;
    const char* registry_key = nullptr; //  --registry-key, or NULL for the default
    std::string identity_path;
    const char* name = nullptr; //  --name, or NULL to keep the saved one
    int timeout_ms = ZGM_DEFAULT_TIMEOUT;
    bool insecure = false;
    bool json = false;
    //  The user options as given on the command line, to repeat them in a command the
    //  program suggests (the one that settles a send in doubt).
    std::vector<std::string> given;
};
//  Reads the user options from args (their values are checked as they are parsed).
//  Returns kExitOk or prints the problem and returns kExitUsage.
int read_user_options(const Args& args, const char* command, UserOptions* options);

//  The members of a group (key -> display name), to tell apart senders that share a name.
struct Roster {
    std::map<std::string, std::string> names;
    int64_t loaded_ms = -1;
};

struct Session {
    zgm_user_t* user = nullptr;
    UserOptions options;
    Identity identity;
    Cursors cursors;
    Style style;
    std::vector<std::string> followed;     //  the groups this session follows
    std::string registry_key;              //  the registry's public key, as found (empty: insecure)
    std::map<std::string, Roster> rosters; //  by group (sender_label)
};
//  Opens the identity only (whoami needs no server).
int open_identity_only(const UserOptions& options, Session* session);
//  Opens the identity (making it on first use), creates its user, connects it to the
//  registry and loads the cursors. Returns kExitOk or prints why not ("zgm COMMAND: ...")
//  and returns an exit code.
int open_session(const UserOptions& options, Session* session, const char* command = "user");
void close_session(Session* session);
//  Follows a group from after its cursor, or from now when it has none. 0 or -1 (zgm_errno).
int follow_group(Session* session, const std::string& group);
//  Where a group is followed from: after its cursor, or ZGM_FOLLOW_NOW when it has none.
uint64_t cursor_or_now(const Session& session, const std::string& group);
//  The groups the user is a member of on every live group server, in name order
//  (zgm_user_memberships); warns on stderr about group servers that did not answer (then
//  *skipped, when given, is true). Returns 0, or -1 (zgm_errno) if they could not be listed.
int member_groups(Session* session, std::vector<std::string>* groups, bool* skipped = nullptr);
//  What the last successful call left to say (servers skipped, a list cut short), or "".
std::string call_notes();
//  Follows groups with one request per group server for each 2,500 of its groups
//  (zgm_user_follow_many), group i from after_seqs[i]; warns on stderr about the groups
//  that could not be followed (*error, when given, gets the last one's zgm_error_t).
//  Returns how many it follows.
size_t follow_groups(Session* session, const std::vector<std::string>& groups,
                     const std::vector<uint64_t>& after_seqs, int* error = nullptr);
//  member_groups, then follow_groups from each one's cursor. 0, or -1 (zgm_errno) if the
//  memberships could not be listed. *missed, when given: why a group the user may be a
//  member of is not followed (each warned about), as a zgm_error_t: ZGM_ETIMEOUT for a
//  group server that did not answer, or the last follow's error; ZGM_OK if none.
int follow_member_groups(Session* session, int* missed = nullptr);
bool is_followed(const Session& session, const std::string& group);
void forget_followed(Session* session, const std::string& group);
//  How the sender of msg is shown in plain output: NULL for its display name, or (into
//  *label) its name and the start of its key when another member of the group has the same
//  name. The group's members are asked for again, for a sender not among them, at most every
//  3 s; never for JSON output, which shows the key.
const char* sender_label(Session* session, const zgm_msg_t* msg, std::string* label);
//  Prints a live message (after a note on stderr when retention dropped messages before it)
//  and moves its group's cursor past it. label, when not NULL, replaces the sender's name.
//  False, and no cursor moved then or later in the session, once the output could not be
//  written: a cursor says what was printed.
bool print_live(Session* session, const zgm_msg_t* msg, const char* label = nullptr);

//  What `fetch` and `/fetch` ask for: --since, --until, --after, --before, --limit, --last.
//  Returns false with *error set on a bad value.
bool read_fetch_options(const Args& args, uint64_t now_us, zgm_fetch_t* query, std::string* error);
//  What `retain` and `/retain` ask for: --count, --bytes, --age.
struct Retention {
    uint64_t count = 0, bytes = 0, age_ms = 0;
};
bool read_retention_options(const Args& args, Retention* retention, std::string* error);

//  The commands both the scripting commands and the interactive client run; each prints
//  its result to stdout and returns 0, or -1 with zgm_errno set.
int show_groups(Session* session);
int show_members(Session* session, const char* group);
//  Prints the messages and, on stderr, how many retention had dropped. *last_seq (when not
//  NULL) gets the last seq printed (0 if none).
int show_fetch(Session* session, const char* group, const zgm_fetch_t& query,
               uint64_t* last_seq = nullptr);
void show_whoami(Session* session);

//  The key an owner's command (add, remove, give) names: its 40 characters, or a certificate
//  file holding it. Sets *key to the key's text and *file to the file it was read from (empty
//  when the text was given). Returns 0, or -1 with zgm_errno set when it is neither.
int read_owner_key(const std::string& given, std::string* key, std::string* file);
//  What an owner's command on a key prints when done (what: "add", "remove" or "give"):
//  "added KEY to G", "removed KEY from G", "gave G to KEY"; with "KEY (from FILE)" when the
//  key was read from a file.
std::string key_done(const char* what, const std::string& group, const std::string& key,
                     const std::string& file);
//  The same as asked, for its error: "add GIVEN to G", "remove GIVEN from G", "give G to
//  GIVEN" (GIVEN: the key or the file, as the user wrote it).
std::string key_asked(const char* what, const std::string& group, const std::string& given);

//  Whether a command's subcommand word is `help`: a command with subcommands, none of them
//  named help ("zgm user help send").
bool is_help_subcommand(const spec::Command& command, const char* word);
//  `zgm COMMAND help [SUBCOMMAND]` (argv starts after "help"): what
//  `zgm help COMMAND [SUBCOMMAND]` prints, by the same code; its exit code.
int subcommand_help(const spec::Command& command, int argc, char** argv);

//  The commands: argv starts after the command's name.
int user_main(int argc, char** argv);
int stats_main(const spec::Command& command, int argc, char** argv);
int run_interactive(Session* session);

} // namespace cli
} // namespace zgm

#endif
