/*  =========================================================================
    user_commands.cc - `zgm user COMMAND`: the scripting commands

    The subcommands, their options and help are spec::kUserSubcommands (commands.toml); here
    is what each one does. Without a subcommand, `zgm user` starts the interactive client.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "cli/timefmt.h"
#include "core/clock.h"

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace zgm {
namespace cli {

bool read_fetch_options(const Args& args, uint64_t now_us, zgm_fetch_t* query, std::string* error) {
    *query = zgm_fetch_t();
    for (const char* name : {"since", "until"}) {
        const char* text = args.value(name);
        uint64_t* out = name[0] == 's' ? &query->since_us : &query->until_us;
        if (text && !parse_time(text, now_us, out)) {
            *error = std::string("--") + name + ": not a time: '" + text +
                     "' (2026-11-24T10:00:00Z, 10:00, -10m, or microseconds)";
            return false;
        }
    }
    //  0 is "no bound" in zgm_fetch_t: the epoch itself bounds everything out.
    if (args.value("until") && query->until_us == 0) {
        *error = "--until is not after the epoch: nothing is stamped before it";
        return false;
    }
    if (query->until_us && query->until_us <= query->since_us) {
        *error = "--until is not after --since: nothing would match";
        return false;
    }
    //  The numbers were checked as they were parsed.
    uint64_t limit = 0;
    if (const char* after = args.value("after")) parse_uint(after, UINT64_MAX, &query->after_seq);
    if (const char* before = args.value("before"))
        parse_uint(before, UINT64_MAX, &query->before_seq);
    if (const char* last = args.value("last")) {
        parse_uint(last, UINT64_MAX, &limit);
        query->newest = 1;
    } else if (const char* text = args.value_or_default("limit")) {
        parse_uint(text, UINT64_MAX, &limit);
    }
    query->limit = limit > SIZE_MAX ? SIZE_MAX : (size_t)limit;
    return true;
}

bool read_retention_options(const Args& args, Retention* retention, std::string* error) {
    (void)error; //  every value was checked as it was parsed
    if (const char* count = args.value("count")) parse_uint(count, UINT64_MAX, &retention->count);
    if (const char* bytes = args.value("bytes")) parse_uint(bytes, UINT64_MAX, &retention->bytes);
    if (const char* age = args.value("age")) parse_duration(age, &retention->age_ms);
    return true;
}

int show_groups(Session* session) {
    size_t count;
    zgm_group_t* groups = zgm_user_groups(session->user, &count);
    if (!groups) return -1;
    print_groups(stdout, groups, count, session->style);
    free(groups);
    return 0;
}

int show_members(Session* session, const char* group) {
    size_t count;
    zgm_member_t* members = zgm_user_members(session->user, group, &count);
    if (!members) return -1;
    std::string notes = call_notes();
    if (!notes.empty()) fprintf(stderr, "zgm: warning: %s\n", notes.c_str());
    print_members(stdout, members, count, session->style);
    free(members);
    return 0;
}

int show_fetch(Session* session, const char* group, const zgm_fetch_t& query, uint64_t* last_seq) {
    zgm_msglist_t* list = zgm_user_fetch(session->user, group, &query);
    if (!list) return -1;
    if (uint64_t missed = zgm_msglist_missed(list))
        fprintf(stderr,
                "zgm: note: %" PRIu64 " of the messages of %s asked for %s dropped by the group's "
                "retention%s\n",
                missed, group, missed == 1 ? "was" : "were",
                query.since_us || query.until_us ? " (at most)" : "");
    size_t size = zgm_msglist_size(list);
    for (size_t i = 0; i < size; i++) {
        const zgm_msg_t* msg = zgm_msglist_get(list, i);
        std::string label;
        print_message(stdout, msg, session->style, sender_label(session, msg, &label));
    }
    if (last_seq) *last_seq = size ? zgm_msg_seq(zgm_msglist_get(list, size - 1)) : 0;
    zgm_msglist_destroy(&list);
    return 0;
}

void show_whoami(Session* session) {
    const Identity& identity = session->identity;
    print_whoami(stdout, identity.name.c_str(), identity.key.c_str(), identity.path.c_str(),
                 session->style);
}

int read_owner_key(const std::string& given, std::string* key, std::string* file) {
    char text[ZGM_KEY_SIZE];
    if (zgm_key_read(given.c_str(), text) != 0) return -1;
    *key = text;
    *file = given == *key ? "" : given;
    return 0;
}

namespace {

//  "add WHO to G", "remove WHO from G", "give G to WHO", with the verb as given.
std::string key_phrase(const char* what, const char* verb, const std::string& group,
                       const std::string& who) {
    if (strcmp(what, "add") == 0) return std::string(verb) + " " + who + " to " + group;
    if (strcmp(what, "remove") == 0) return std::string(verb) + " " + who + " from " + group;
    return std::string(verb) + " " + group + " to " + who;
}

} // namespace

std::string key_done(const char* what, const std::string& group, const std::string& key,
                     const std::string& file) {
    std::string shown = file.empty() ? key : key + " (from " + file + ")";
    const char* done = strcmp(what, "add") == 0      ? "added"
                       : strcmp(what, "remove") == 0 ? "removed"
                                                     : "gave";
    return key_phrase(what, done, group, shown);
}

std::string key_asked(const char* what, const std::string& group, const std::string& given) {
    return key_phrase(what, what, group, given);
}

namespace {

int fail(const char* what, const std::string& group, const Session& session) {
    return report_error((std::string(what) + " " + group).c_str(), session.style);
}

int run_whoami(Session* session, const Args&, const std::vector<std::string>&) {
    show_whoami(session);
    return kExitOk;
}

int run_groups(Session* session, const Args&, const std::vector<std::string>&) {
    return show_groups(session) == 0 ? kExitOk : report_error("groups", session->style);
}

int run_create(Session* session, const Args& args, const std::vector<std::string>& words) {
    zgm_policy_t policy = args.has("members") ? ZGM_POLICY_MEMBERS : ZGM_POLICY_OPEN;
    if (zgm_user_create(session->user, words[0].c_str(), policy) != 0)
        return fail("create", words[0], *session);
    print_done(stdout, "created " + words[0], words[0].c_str(), session->style);
    return kExitOk;
}

int run_join(Session* session, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_join(session->user, words[0].c_str()) != 0)
        return fail("join", words[0], *session);
    print_done(stdout, "joined " + words[0], words[0].c_str(), session->style);
    return kExitOk;
}

int run_leave(Session* session, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_leave(session->user, words[0].c_str()) != 0)
        return fail("leave", words[0], *session);
    print_done(stdout, "left " + words[0], words[0].c_str(), session->style);
    return kExitOk;
}

//  Whether `send` has its text: in its words, or on a stdin that is not a terminal.
bool check_send(const std::vector<std::string>& words, std::string* error) {
    if (words.size() > 1) {
        bool empty = true;
        for (size_t i = 1; i < words.size(); i++)
            empty = empty && words[i].empty();
        if (empty) *error = "an empty message is not sent";
    } else if (isatty(STDIN_FILENO)) {
        *error = "no TEXT, and stdin is a terminal: give the text, or pipe it in";
    }
    return error->empty();
}

//  The body of `send`: the words joined by blanks, or else all of stdin less one line end.
bool read_body(const std::vector<std::string>& words, std::string* body) {
    if (words.size() > 1) {
        for (size_t i = 1; i < words.size(); i++)
            *body += (i > 1 ? " " : "") + words[i];
        return true;
    }
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, stdin)) > 0 && body->size() <= ZGM_MAX_BODY)
        body->append(buffer, got);
    if (ferror(stdin)) return false;
    if (!body->empty() && body->back() == '\n') body->pop_back();
    return true;
}

//  A word as the shell reads it back: single-quoted unless it is plainly safe.
std::string shell_quoted(const std::string& word) {
    if (!word.empty() &&
        word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789@%+=:,./_-") == std::string::npos)
        return word;
    std::string quoted = "'";
    for (char c : word)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

//  The command that settles a send in doubt: the same send with its message id.
std::string settle_command(const Session& session, const std::vector<std::string>& words,
                           const char* msg_id) {
    std::string command = "zgm user";
    for (const std::string& word : session.options.given)
        command += " " + shell_quoted(word);
    command += " send " + shell_quoted(words[0]) + " --id " + msg_id;
    if (words.size() > 1) {
        command += " --";
        for (size_t i = 1; i < words.size(); i++)
            command += " " + shell_quoted(words[i]);
    } else {
        command += " < (the same text on stdin)";
    }
    return command;
}

int run_send(Session* session, const Args& args, const std::vector<std::string>& words) {
    std::string body;
    if (!read_body(words, &body)) {
        fprintf(stderr, "zgm: send: cannot read stdin: %s\n", strerror(errno));
        return kExitRefused;
    }
    if (body.empty()) return usage_error("user send", "an empty message is not sent");
    char id[ZGM_MSG_ID_SIZE] = "";
    if (const char* given = args.value("id")) {
        //  Whole (a longer one was cut to its first 32 digits: another message's id), and
        //  in lower case, as every id is printed.
        if (strlen(given) != ZGM_MSG_ID_SIZE - 1)
            return usage_error("user send", "--id is 32 hex digits, as a send printed it");
        for (size_t i = 0; i < ZGM_MSG_ID_SIZE - 1; i++)
            id[i] = (char)tolower((unsigned char)given[i]);
    }
    uint64_t seq, timestamp;
    if (zgm_user_send(session->user, words[0].c_str(), body.data(), body.size(), id, &seq,
                      &timestamp) == 0) {
        print_sent(stdout, words[0].c_str(), seq, timestamp, id, session->style);
        return kExitOk;
    }
    if (zgm_errno() != ZGM_EINDOUBT) return fail("send to", words[0], *session);
    //  Never "failed": it may be stored. Say how to settle it.
    std::string what = "send to " + words[0];
    int code = report_error(what.c_str(), session->style, id);
    fprintf(stderr,
            "zgm: it may have been stored; this sends it again, stored once whatever "
            "happened:\n  %s\n",
            settle_command(*session, words, id).c_str());
    return code;
}

int run_fetch(Session* session, const Args& args, const std::vector<std::string>& words) {
    zgm_fetch_t query;
    std::string error;
    read_fetch_options(args, now_us(), &query, &error);
    if (show_fetch(session, words[0].c_str(), query) != 0) return fail("fetch", words[0], *session);
    return kExitOk;
}

int run_members(Session* session, const Args&, const std::vector<std::string>& words) {
    if (show_members(session, words[0].c_str()) != 0) return fail("members of", words[0], *session);
    return kExitOk;
}

int run_listen(Session* session, const Args& args, const std::vector<std::string>& words) {
    uint64_t count = 0; //  --count N, checked as it was parsed; 0: no end
    if (const char* text = args.value("count")) parse_uint(text, UINT64_MAX, &count);
    for (const std::string& group : words)
        if (follow_group(session, group) != 0) return fail("follow", group, *session);
    if (words.empty()) {
        int missed = ZGM_OK;
        if (follow_member_groups(session, &missed) != 0)
            return report_error("listen", session->style);
        //  Nothing followed because a group server did not answer, or a follow failed (each
        //  warned about above): not "not a member", which it may well be.
        if (session->followed.empty() && missed != ZGM_OK)
            return report_failure("listen: no group followed: " +
                                      std::string(missed == ZGM_ETIMEOUT
                                                      ? "a group server did not answer"
                                                      : "a group could not be followed") +
                                      " (said above)",
                                  missed, session->style);
        if (session->followed.empty()) {
            //  Only live group servers are asked. Groups listened to before (they have a
            //  cursor) that the registry cannot answer for now (not live: the user left those;
            //  not unknown: gone) may be the user's; each is named with the registry's reason
            //  (its server away, the registry still learning its groups, a create in doubt).
            std::string before;
            for (const std::string& group : session->cursors.groups()) {
                zgm_group_t info;
                if (zgm_user_resolve(session->user, group.c_str(), &info) != 0 &&
                    zgm_errno() == ZGM_EUNAVAILABLE)
                    before += "\n  " + group + ": " + zgm_strerror();
            }
            std::string message = "listen: " + session->identity.name +
                                  " is not a member of a group on a live group server";
            if (before.empty()) return report_failure(message, ZGM_ENOTMEMBER, session->style);
            return report_failure(message + "; listened to before, and unavailable now:" + before,
                                  ZGM_EUNAVAILABLE, session->style);
        }
    }
    //  From here on nothing sent is missed: say so (a script may wait for this line).
    std::string names;
    for (const std::string& group : session->followed)
        names += (names.empty() ? "" : ", ") + group;
    fprintf(stderr, "zgm: listening to %s\n", names.c_str());
    fflush(stderr);
    uint64_t printed = 0;
    while (!stop_requested() && (count == 0 || printed < count)) {
        zgm_msg_t* msg = zgm_user_recv(session->user, 250);
        if (!msg) {
            if (zgm_errno() == ZGM_ETIMEOUT) continue;
            return report_error("listen", session->style);
        }
        std::string label;
        bool written = print_live(session, msg, sender_label(session, msg, &label));
        zgm_msg_destroy(&msg);
        //  Output lost (a full disk): the cursor stays before it, and main says why.
        if (!written) return kExitRefused;
        printed++;
    }
    return kExitOk;
}

//  The owner's calls on a key: add, remove, give. What is done is said with the key, also
//  when a certificate file named it.
int run_key_call(Session* session, const std::vector<std::string>& words,
                 int (*call)(zgm_user_t*, const char*, const char*), const char* what) {
    const std::string& group = words[0];
    std::string key, file;
    if (read_owner_key(words[1], &key, &file) != 0 ||
        call(session->user, group.c_str(), key.c_str()) != 0)
        return report_error(key_asked(what, group, words[1]).c_str(), session->style);
    print_done(stdout, key_done(what, group, key, file), group.c_str(), session->style, key.c_str(),
               file.c_str());
    return kExitOk;
}

int run_policy(Session* session, const Args&, const std::vector<std::string>& words) {
    zgm_policy_t policy = words[1] == "members" ? ZGM_POLICY_MEMBERS : ZGM_POLICY_OPEN;
    if (zgm_user_set_policy(session->user, words[0].c_str(), policy) != 0)
        return fail("policy of", words[0], *session);
    print_done(stdout, "policy of " + words[0] + ": " + words[1], words[0].c_str(), session->style);
    return kExitOk;
}

int run_retain(Session* session, const Args& args, const std::vector<std::string>& words) {
    Retention retention;
    std::string error;
    read_retention_options(args, &retention, &error);
    if (zgm_user_set_retention(session->user, words[0].c_str(), retention.count, retention.bytes,
                               retention.age_ms) != 0)
        return fail("retention of", words[0], *session);
    print_done(stdout, "retention of " + words[0] + " set", words[0].c_str(), session->style);
    return kExitOk;
}

//  The command a former subcommand became ("user stats" is `zgm stats`), or NULL.
const spec::Command* moved_subcommand(const char* name) {
    std::string former = std::string("user ") + name;
    for (const spec::Command& command : spec::kCommands)
        if (command.deprecated_alias && former == command.deprecated_alias) return &command;
    return nullptr;
}

const spec::Command* find_command(spec::CommandId id) {
    for (const spec::Command& command : spec::kCommands)
        if (command.id == id) return &command;
    return nullptr;
}

const spec::Subcommand* find_subcommand(const char* name) {
    for (const spec::Subcommand& subcommand : spec::kUserSubcommands)
        if (strcmp(subcommand.name, name) == 0) return &subcommand;
    return nullptr;
}

//  Checks what a subcommand can check before the session opens.
bool check_subcommand(const spec::Subcommand& subcommand, const Args& args, std::string* error) {
    zgm_fetch_t query;
    const std::vector<std::string>& words = args.positional();
    switch ((spec::UserSubcommand)subcommand.id) {
    case spec::UserSubcommand::kFetch:
        return read_fetch_options(args, now_us(), &query, error);
    case spec::UserSubcommand::kSend:
        return check_send(words, error);
    case spec::UserSubcommand::kPolicy:
        if (words[1] != "open" && words[1] != "members")
            *error = "a policy is open or members, not '" + words[1] + "'";
        return error->empty();
    default:
        return true;
    }
}

int run_subcommand(const spec::Subcommand& subcommand, Session* session, const Args& args) {
    const std::vector<std::string>& words = args.positional();
    switch ((spec::UserSubcommand)subcommand.id) {
    case spec::UserSubcommand::kWhoami:
        return run_whoami(session, args, words);
    case spec::UserSubcommand::kGroups:
        return run_groups(session, args, words);
    case spec::UserSubcommand::kCreate:
        return run_create(session, args, words);
    case spec::UserSubcommand::kJoin:
        return run_join(session, args, words);
    case spec::UserSubcommand::kLeave:
        return run_leave(session, args, words);
    case spec::UserSubcommand::kSend:
        return run_send(session, args, words);
    case spec::UserSubcommand::kFetch:
        return run_fetch(session, args, words);
    case spec::UserSubcommand::kMembers:
        return run_members(session, args, words);
    case spec::UserSubcommand::kListen:
        return run_listen(session, args, words);
    case spec::UserSubcommand::kAdd:
        return run_key_call(session, words, zgm_user_add, "add");
    case spec::UserSubcommand::kRemove:
        return run_key_call(session, words, zgm_user_remove, "remove");
    case spec::UserSubcommand::kGive:
        return run_key_call(session, words, zgm_user_give, "give");
    case spec::UserSubcommand::kPolicy:
        return run_policy(session, args, words);
    case spec::UserSubcommand::kRetain:
        return run_retain(session, args, words);
    }
    return kExitUsage;
}

} // namespace

int user_main(int argc, char** argv) {
    Args args;
    if (!args.parse(argc, argv, spec::kUserOptions, nullptr, true))
        return usage_error("user", args.error());
    if (args.help()) {
        fputs(spec::kUserUsage, stdout);
        return kExitOk;
    }
    const spec::Subcommand* command = nullptr;
    if (args.rest_count() > 0) {
        if (const spec::Command* moved = moved_subcommand(args.rest()[0])) {
            fprintf(stderr, "zgm: 'zgm %s' is deprecated; use 'zgm %s'\n", moved->deprecated_alias,
                    moved->name);
            //  The options given before the subcommand that the command takes (--name is
            //  no use to it), then the words after the subcommand.
            std::vector<std::string> given;
            for (const OptionSpec* option = spec::kUserOptions; option->name; option++)
                if (find_option(moved->options, option->name))
                    for (const std::string& value : args.values(option->name))
                        given.push_back(std::string("--") + option->name +
                                        (option->has_value() ? "=" + value : ""));
            std::vector<char*> words;
            for (std::string& word : given)
                words.push_back(&word[0]);
            words.insert(words.end(), args.rest() + 1, args.rest() + args.rest_count());
            words.push_back(nullptr);
            return stats_main(*moved, (int)words.size() - 1, words.data());
        }
        command = find_subcommand(args.rest()[0]);
        const spec::Command* user = find_command(spec::CommandId::kUser);
        if (!command && is_help_subcommand(*user, args.rest()[0]))
            return subcommand_help(*user, args.rest_count() - 1, args.rest() + 1);
        if (!command)
            return usage_error("user", std::string("unknown subcommand '") + args.rest()[0] + "'");
        std::string name = std::string("user ") + command->name;
        if (!args.parse(args.rest_count() - 1, args.rest() + 1, spec::kUserOptions,
                        command->options))
            return usage_error(name.c_str(), args.error());
        if (args.help()) {
            fputs(command->usage, stdout);
            return kExitOk;
        }
        size_t count = args.positional().size();
        if (count < command->min_words || count > command->max_words)
            return usage_error(name.c_str(), count < command->min_words ? "missing arguments"
                                                                        : "too many arguments");
        std::string error;
        if (!args.check_exclusions()) return usage_error(name.c_str(), args.error());
        if (!check_subcommand(*command, args, &error)) return usage_error(name.c_str(), error);
    }
    UserOptions options;
    int code = read_user_options(args, "user", &options);
    if (code != kExitOk) return code;
    if (!command && options.json) return usage_error("user", "--json needs a command");
    Session session;
    if (command && command->id == (int)spec::UserSubcommand::kWhoami) {
        code = open_identity_only(options, &session);
        return code == kExitOk ? run_subcommand(*command, &session, args) : code;
    }
    code = open_session(options, &session);
    if (code != kExitOk) return code;
    if (command) {
        code = run_subcommand(*command, &session, args);
    } else {
        code = run_interactive(&session);
    }
    close_session(&session);
    return code;
}

} // namespace cli
} // namespace zgm
