/*  =========================================================================
    user_commands.cc - `zgm user COMMAND`: the scripting commands

    Each command is one row of a table: its name, usage, options, how many words it takes
    and the function that runs it. Without a command, `zgm user` starts the interactive client.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "cli/timefmt.h"
#include "core/clock.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace zgm {
namespace cli {

const OptionSpec kFetchOptions[] = {
    {"since", true}, {"after", true}, {"limit", true}, {nullptr, false}};

bool read_fetch_options(const Args& args, uint64_t now_us, FetchQuery* query, std::string* error) {
    if (const char* since = args.value("since")) {
        if (!parse_time(since, now_us, &query->since_us)) {
            *error = std::string("--since: not a time: '") + since +
                     "' (2026-11-24T10:00:00Z, 10:00, -10m, or microseconds)";
            return false;
        }
    }
    if (const char* after = args.value("after")) {
        if (!parse_uint(after, UINT64_MAX, &query->after_seq)) {
            *error = std::string("--after: not a sequence number: '") + after + "'";
            return false;
        }
    }
    if (const char* limit = args.value("limit")) {
        uint64_t value;
        if (!parse_uint(limit, SIZE_MAX, &value)) {
            *error = std::string("--limit: not a number: '") + limit + "'";
            return false;
        }
        query->limit = (size_t)value;
    }
    return true;
}

int show_groups(Session* session) {
    size_t count;
    zgm_group_info_t* groups = zgm_user_groups(session->user, &count);
    if (!groups) return -1;
    print_groups(stdout, groups, count, session->style);
    free(groups);
    return 0;
}

int show_members(Session* session, const char* group) {
    size_t count;
    char** pairs = zgm_user_members(session->user, group, &count);
    if (!pairs) return -1;
    print_members(stdout, pairs, count, session->style);
    free(pairs);
    return 0;
}

int show_fetch(Session* session, const char* group, const FetchQuery& query) {
    zgm_msglist_t* list =
        zgm_user_fetch(session->user, group, query.since_us, query.after_seq, query.limit);
    if (!list) return -1;
    if (zgm_msglist_truncated(list))
        fprintf(stderr, "zgm: note: older messages of %s were dropped by retention\n", group);
    for (size_t i = 0; i < zgm_msglist_size(list); i++)
        print_message(stdout, zgm_msglist_get(list, i), session->style);
    zgm_msglist_destroy(&list);
    return 0;
}

namespace {

//  One scripting command. words are the positional words after the command's name; check
//  (may be NULL) vets the option values before the session opens.
struct Command {
    const char* name;
    const char* synopsis;
    const char* help;
    const OptionSpec* options;
    size_t min_words, max_words;
    bool (*check)(const Args& args, std::string* error);
    int (*run)(Session* session, const Args& args, const std::vector<std::string>& words);
};

int fail(const char* what, const std::string& group, const Session& session) {
    return report_error((std::string(what) + " " + group).c_str(), session.style);
}

int run_groups(Session* session, const Args&, const std::vector<std::string>&) {
    return show_groups(session) == 0 ? kExitOk : report_error("groups", session->style);
}

int run_create(Session* session, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_create(session->user, words[0].c_str()) != 0)
        return fail("create", words[0], *session);
    print_done(stdout, "created", words[0].c_str(), session->style);
    return kExitOk;
}

int run_join(Session* session, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_join(session->user, words[0].c_str()) != 0)
        return fail("join", words[0], *session);
    print_done(stdout, "joined", words[0].c_str(), session->style);
    return kExitOk;
}

int run_leave(Session* session, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_leave(session->user, words[0].c_str()) != 0)
        return fail("leave", words[0], *session);
    print_done(stdout, "left", words[0].c_str(), session->style);
    return kExitOk;
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

int run_send(Session* session, const Args&, const std::vector<std::string>& words) {
    std::string body;
    if (!read_body(words, &body)) {
        fprintf(stderr, "zgm: send: cannot read stdin: %s\n", strerror(errno));
        return kExitRefused;
    }
    uint64_t seq, ts_us;
    if (zgm_user_send(session->user, words[0].c_str(), body.data(), body.size(), &seq, &ts_us) != 0)
        return fail("send to", words[0], *session);
    print_sent(stdout, words[0].c_str(), seq, ts_us, session->style);
    return kExitOk;
}

bool check_fetch(const Args& args, std::string* error) {
    FetchQuery query;
    return read_fetch_options(args, now_us(), &query, error);
}

int run_fetch(Session* session, const Args& args, const std::vector<std::string>& words) {
    FetchQuery query;
    std::string error;
    read_fetch_options(args, now_us(), &query, &error);
    if (show_fetch(session, words[0].c_str(), query) != 0) return fail("fetch", words[0], *session);
    return kExitOk;
}

int run_members(Session* session, const Args&, const std::vector<std::string>& words) {
    if (show_members(session, words[0].c_str()) != 0) return fail("members of", words[0], *session);
    return kExitOk;
}

//  --count N of listen: 0 when absent. False if it is not a positive number.
bool read_count(const Args& args, uint64_t* count) {
    const char* text = args.value("count");
    *count = 0;
    return !text || (parse_uint(text, UINT64_MAX, count) && *count > 0);
}

bool check_listen(const Args& args, std::string* error) {
    uint64_t count;
    if (!read_count(args, &count)) *error = "--count takes a positive number";
    return error->empty();
}

int run_listen(Session* session, const Args& args, const std::vector<std::string>& words) {
    uint64_t count;
    read_count(args, &count);
    for (const std::string& group : words)
        if (follow_group(session, group) != 0) return fail("follow", group, *session);
    if (words.empty()) {
        if (follow_member_groups(session) != 0) return report_error("groups", session->style);
        if (session->followed.empty()) {
            fprintf(stderr, "zgm: listen: %s is not a member of any live group\n",
                    session->identity.name.c_str());
            return kExitRefused;
        }
    }
    uint64_t printed = 0;
    while (!stop_requested() && (count == 0 || printed < count)) {
        zgm_msg_t* msg = zgm_user_recv(session->user, 250);
        if (!msg) {
            if (zgm_errno() == ZGM_ETIMEOUT) continue;
            return report_error("listen", session->style);
        }
        print_live(session, msg);
        zgm_msg_destroy(&msg);
        printed++;
    }
    return kExitOk;
}

const OptionSpec kListenOptions[] = {{"count", true}, {nullptr, false}};

const size_t kAny = SIZE_MAX;

const Command kCommands[] = {
    {"groups", "groups", "Lists the live groups: name, members, group server, id.", nullptr, 0, 0,
     nullptr, run_groups},
    {"create", "create GROUP",
     "Asks the registry to create GROUP on a group server that accepts new groups.", nullptr, 1, 1,
     nullptr, run_create},
    {"join", "join GROUP", "Joins GROUP.", nullptr, 1, 1, nullptr, run_join},
    {"leave", "leave GROUP", "Leaves GROUP.", nullptr, 1, 1, nullptr, run_leave},
    {"send", "send GROUP [TEXT...]",
     "Sends TEXT (the words joined by blanks; without words, all of stdin less one final\n"
     "line end) to GROUP and prints its sequence number and time. Put -- before text that\n"
     "starts with '-'.",
     nullptr, 1, kAny, nullptr, run_send},
    {"fetch", "fetch GROUP [--since TIME] [--after SEQ] [--limit N]",
     "Prints the stored messages of GROUP, oldest first: those at or after TIME, with a\n"
     "sequence number above SEQ, at most N (0: all, the default). TIME is ISO 8601\n"
     "(2026-11-24T10:00:00Z; no zone means local time), HH:MM[:SS] (today, local time),\n"
     "-30s, -10m, -2h, -1d (that long ago), or microseconds since the epoch.",
     kFetchOptions, 1, 1, check_fetch, run_fetch},
    {"members", "members GROUP", "Lists the members of GROUP: name and id.", nullptr, 1, 1, nullptr,
     run_members},
    {"listen", "listen [GROUP...] [--count N]",
     "Prints the messages of the GROUPs (default: every live group the user is a member of)\n"
     "as they arrive, first those sent since the last one printed for this user (its cursor),\n"
     "until Ctrl-C or N messages. A group without a cursor starts from now.",
     kListenOptions, 0, kAny, check_listen, run_listen},
};

const char* const kUserUsage = "Usage: zgm user [OPTIONS]              the interactive client\n"
                               "       zgm user [OPTIONS] COMMAND ...  one command, for scripts\n"
                               "\n"
                               "Commands:\n"
                               "  groups                    list the live groups\n"
                               "  create GROUP              create a group\n"
                               "  join GROUP                join a group\n"
                               "  leave GROUP               leave a group\n"
                               "  send GROUP [TEXT...]      send a message (TEXT, or stdin)\n"
                               "  fetch GROUP [--since TIME] [--after SEQ] [--limit N]\n"
                               "                            print stored messages\n"
                               "  members GROUP             list a group's members\n"
                               "  listen [GROUP...] [--count N]\n"
                               "                            print messages as they arrive\n"
                               "Run 'zgm user COMMAND --help' for one command.\n";

const char* const kUserOptionsHelp =
    "\n"
    "Options (before or after the command):\n"
    "  --registry ENDPOINT  the registry (default $ZGM_REGISTRY, else " ZGM_REGISTRY_ENDPOINT ")\n"
    "  --name NAME          display name, saved in the identity file (default $USER)\n"
    "  --identity FILE      identity file (default $XDG_CONFIG_HOME/zgm/identity)\n"
    "  --timeout MS         how long to wait for a server (default 5000)\n"
    "  --json               print one JSON object per line\n"
    "  -h, --help           print this help\n"
    "Exit status: 0 done, 1 refused by a server, 2 usage error, 3 no server answered in "
    "time.\n";

const Command* find_command(const char* name) {
    for (const Command& command : kCommands)
        if (strcmp(command.name, name) == 0) return &command;
    return nullptr;
}

} // namespace

int user_main(int argc, char** argv) {
    Args args;
    if (!args.parse(argc, argv, kUserOptions, nullptr, true))
        return usage_error("user", args.error());
    if (args.help()) {
        printf("%s%s", kUserUsage, kUserOptionsHelp);
        return kExitOk;
    }
    const Command* command = nullptr;
    if (args.rest_count() > 0) {
        command = find_command(args.rest()[0]);
        if (!command)
            return usage_error("user", std::string("unknown command '") + args.rest()[0] + "'");
        std::string name = std::string("user ") + command->name;
        if (!args.parse(args.rest_count() - 1, args.rest() + 1, kUserOptions, command->options))
            return usage_error(name.c_str(), args.error());
        if (args.help()) {
            printf("Usage: zgm user [OPTIONS] %s\n\n%s\n%s", command->synopsis, command->help,
                   kUserOptionsHelp);
            return kExitOk;
        }
        size_t count = args.positional().size();
        if (count < command->min_words || count > command->max_words)
            return usage_error(name.c_str(), count < command->min_words ? "missing arguments"
                                                                        : "too many arguments");
        std::string error;
        if (command->check && !command->check(args, &error))
            return usage_error(name.c_str(), error);
    }
    UserOptions options;
    int code = read_user_options(args, "user", &options);
    if (code != kExitOk) return code;
    if (!command && options.json) return usage_error("user", "--json needs a command");
    Session session;
    code = open_session(options, &session);
    if (code != kExitOk) return code;
    if (command) {
        code = command->run(&session, args, args.positional());
    } else {
        if (follow_member_groups(&session) != 0)
            fprintf(stderr, "zgm: warning: cannot list the groups: %s\n", zgm_strerror());
        code = run_interactive(&session);
    }
    close_session(&session);
    return code;
}

} // namespace cli
} // namespace zgm
