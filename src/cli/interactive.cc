/*  =========================================================================
    interactive.cc - the interactive client of `zgm user` and `zgm run`

    One thread polls stdin and the user's live-message socket. On a terminal, libedit's
    callback interface reads the line being typed (with editing and history), and a message
    that arrives meanwhile is printed above it: the line is cleared, the message printed, and
    the prompt and the typed text drawn again. When stdin is not a terminal, lines are read
    plainly, so the client can be scripted.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "core/clock.h"

#include <czmq.h>
#include <editline/readline.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace zgm {
namespace cli {

namespace {

struct Client {
    Session* session;
    std::string current; //  the group a plain line goes to
    std::string prompt;
    bool terminal = false;
    bool quit = false;
};

//  libedit's line callback takes no context.
Client* s_client = nullptr;

void error_line(const Client& client, const std::string& message) {
    fflush(stdout);
    fprintf(stderr, "%serror:%s %s\n", client.session->style.color ? "\033[1;31m" : "",
            client.session->style.color ? "\033[0m" : "", message.c_str());
}

//  "error: WHAT GROUP: <why>" from zgm_errno.
void api_error(const Client& client, const char* what, const std::string& group) {
    error_line(client, std::string(what) + " " + group + ": " + zgm_strerror());
}

void set_current(Client* client, const std::string& group) {
    client->current = group;
    client->prompt = group.empty() ? "> " : group + "> ";
    if (client->terminal) rl_set_prompt(client->prompt.c_str());
}

//  Prints a live message above the line being typed, then draws the line again.
void show_live(Client* client, const zgm_msg_t* msg) {
    if (client->terminal) {
        int rows = 0, columns = 0;
        rl_get_screen_size(&rows, &columns);
        size_t column = client->prompt.size() + (size_t)rl_point;
        if (columns > 0 && column >= (size_t)columns) printf("\033[%zuA", column / (size_t)columns);
        fputs("\r\033[J", stdout);
    }
    print_live(client->session, msg);
    if (client->terminal) rl_forced_update_display();
}

void drain_live(Client* client) {
    while (zgm_msg_t* msg = zgm_user_recv(client->session->user, 0)) {
        show_live(client, msg);
        zgm_msg_destroy(&msg);
    }
}

//  The group a command names, or the current one.
bool group_or_current(Client* client, const std::vector<std::string>& words, std::string* group) {
    *group = words.empty() ? client->current : words[0];
    if (group->empty()) error_line(*client, "no current group: name one, or /join one first");
    return !group->empty();
}

void slash_list(Client* client, const Args&, const std::vector<std::string>&) {
    if (show_groups(client->session) != 0)
        error_line(*client, std::string("groups: ") + zgm_strerror());
}

//  Joins (or, when already a member, follows) a group and makes it the current one.
void join_and_switch(Client* client, const std::string& group) {
    Session* session = client->session;
    if (zgm_user_join(session->user, group.c_str()) == 0) {
        if (!is_followed(*session, group)) session->followed.push_back(group);
    } else if (zgm_errno() != ZGM_EALREADY ||
               (!is_followed(*session, group) && follow_group(session, group) != 0)) {
        api_error(*client, "join", group);
        return;
    }
    print_done(stdout, "joined", group.c_str(), session->style);
    set_current(client, group);
}

void slash_create(Client* client, const Args&, const std::vector<std::string>& words) {
    if (zgm_user_create(client->session->user, words[0].c_str()) != 0) {
        api_error(*client, "create", words[0]);
        return;
    }
    print_done(stdout, "created", words[0].c_str(), client->session->style);
    join_and_switch(client, words[0]);
}

void slash_join(Client* client, const Args&, const std::vector<std::string>& words) {
    join_and_switch(client, words[0]);
}

void slash_leave(Client* client, const Args&, const std::vector<std::string>& words) {
    std::string group;
    if (!group_or_current(client, words, &group)) return;
    Session* session = client->session;
    if (zgm_user_leave(session->user, group.c_str()) != 0) {
        api_error(*client, "leave", group);
        return;
    }
    forget_followed(session, group);
    print_done(stdout, "left", group.c_str(), session->style);
    if (group == client->current)
        set_current(client, session->followed.empty() ? "" : session->followed[0]);
}

void slash_switch(Client* client, const Args&, const std::vector<std::string>& words) {
    const std::string& group = words[0];
    if (!is_followed(*client->session, group) && follow_group(client->session, group) != 0) {
        if (zgm_errno() == ZGM_ENOTMEMBER)
            error_line(*client, "not a member of " + group + ": /join " + group + " first");
        else
            api_error(*client, "switch to", group);
        return;
    }
    set_current(client, group);
}

void slash_fetch(Client* client, const Args& args, const std::vector<std::string>& words) {
    std::string group, error;
    FetchQuery query;
    if (!read_fetch_options(args, now_us(), &query, &error)) {
        error_line(*client, error);
        return;
    }
    if (group_or_current(client, words, &group) &&
        show_fetch(client->session, group.c_str(), query) != 0)
        api_error(*client, "fetch", group);
}

void slash_members(Client* client, const Args&, const std::vector<std::string>& words) {
    std::string group;
    if (group_or_current(client, words, &group) &&
        show_members(client->session, group.c_str()) != 0)
        api_error(*client, "members of", group);
}

void slash_quit(Client* client, const Args&, const std::vector<std::string>&) {
    client->quit = true;
}

//  The /command of a name or alias, with or without its '/'.
const spec::Slash* find_slash(std::string name) {
    if (!name.empty() && name[0] == '/') name.erase(0, 1);
    for (const spec::Slash& slash : spec::kUserSlashes)
        if (name == slash.name || (slash.alias && name == slash.alias)) return &slash;
    return nullptr;
}

//  /help lists the commands; /help COMMAND shows one.
void slash_help(Client* client, const Args&, const std::vector<std::string>& words) {
    if (words.empty()) {
        fputs(spec::kUserSlashUsage, stdout);
    } else if (const spec::Slash* slash = find_slash(words[0])) {
        fputs(slash->usage, stdout);
    } else {
        error_line(*client, "unknown command /" + words[0] + " (/help lists them)");
        return;
    }
    fflush(stdout);
}

void run_slash_command(const spec::Slash& slash, Client* client, const Args& args) {
    const std::vector<std::string>& words = args.positional();
    switch ((spec::UserSlash)slash.id) {
    case spec::UserSlash::kList:
        return slash_list(client, args, words);
    case spec::UserSlash::kCreate:
        return slash_create(client, args, words);
    case spec::UserSlash::kJoin:
        return slash_join(client, args, words);
    case spec::UserSlash::kLeave:
        return slash_leave(client, args, words);
    case spec::UserSlash::kSwitch:
        return slash_switch(client, args, words);
    case spec::UserSlash::kFetch:
        return slash_fetch(client, args, words);
    case spec::UserSlash::kMembers:
        return slash_members(client, args, words);
    case spec::UserSlash::kHelp:
        return slash_help(client, args, words);
    case spec::UserSlash::kQuit:
        return slash_quit(client, args, words);
    }
}

void run_slash(Client* client, const std::string& line) {
    std::vector<std::string> words;
    if (!split_words(line.substr(1), &words)) {
        error_line(*client, "unclosed quote");
        return;
    }
    if (words.empty()) {
        error_line(*client, "a command after '/', or /help");
        return;
    }
    const spec::Slash* slash = find_slash(words[0]);
    if (!slash) {
        error_line(*client, "unknown command /" + words[0] + " (/help lists them)");
        return;
    }
    std::vector<char*> pointers;
    for (size_t i = 1; i < words.size(); i++)
        pointers.push_back(&words[i][0]);
    Args args;
    if (!args.parse((int)pointers.size(), pointers.data(), slash->options, nullptr)) {
        error_line(*client, args.error());
        return;
    }
    if (args.help()) {
        fputs(slash->usage, stdout);
        fflush(stdout);
        return;
    }
    size_t count = args.positional().size();
    if (count < slash->min_words || count > slash->max_words) {
        error_line(*client, std::string("usage: ") + slash->synopsis);
        return;
    }
    run_slash_command(*slash, client, args);
}

void run_line(Client* client, const std::string& line) {
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    if (line[0] == '/' && line.compare(0, 2, "//") != 0) {
        run_slash(client, line);
        return;
    }
    if (client->current.empty()) {
        error_line(*client, "no current group: /join GROUP or /switch GROUP first");
        return;
    }
    const char* body = line.c_str() + (line[0] == '/' ? 1 : 0);
    //  The message comes back through the live socket, so it is shown in order, once.
    if (zgm_user_send(client->session->user, client->current.c_str(), body, strlen(body), nullptr,
                      nullptr) != 0)
        api_error(*client, "send to", client->current);
}

//  libedit's line callback: NULL at end of input (Ctrl-D on an empty line).
void on_line(char* line) {
    if (!line) {
        s_client->quit = true;
        return;
    }
    std::string text = line;
    free(line);
    if (text.find_first_not_of(" \t") != std::string::npos) add_history(text.c_str());
    run_line(s_client, text);
    //  libedit leaves its one-key-at-a-time mode after a line; installing the handler again
    //  restores it, empties the line and prints the prompt below what the command printed.
    if (!s_client->quit) rl_callback_handler_install(s_client->prompt.c_str(), on_line);
}

//  Reads what stdin has when it is not a terminal; runs each complete line.
void read_plain(Client* client, std::string* pending) {
    char buffer[4096];
    ssize_t got = read(STDIN_FILENO, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) return;
    if (got <= 0) {
        if (!pending->empty()) run_line(client, *pending);
        client->quit = true;
        return;
    }
    pending->append(buffer, (size_t)got);
    size_t end;
    while (!client->quit && (end = pending->find('\n')) != std::string::npos) {
        std::string line = pending->substr(0, end);
        pending->erase(0, end + 1);
        run_line(client, line);
    }
}

//  Tab completes a /command at the start of the line, else the name of a followed group.
std::vector<std::string> s_candidates;

char* next_candidate(const char* text, int state) {
    static size_t index;
    if (state == 0) index = 0;
    size_t length = strlen(text);
    while (index < s_candidates.size()) {
        const std::string& candidate = s_candidates[index++];
        if (candidate.compare(0, length, text) == 0) return strdup(candidate.c_str());
    }
    return nullptr;
}

char** complete(const char* text, int start, int) {
    rl_attempted_completion_over = 1; //  never file names
    s_candidates.clear();
    if (start == 0 && text[0] == '/') {
        for (const spec::Slash& slash : spec::kUserSlashes) {
            s_candidates.push_back(std::string("/") + slash.name);
            if (slash.alias) s_candidates.push_back(std::string("/") + slash.alias);
        }
    } else if (rl_line_buffer[0] == '/') {
        s_candidates = s_client->session->followed;
    }
    return rl_completion_matches(text, next_candidate);
}

std::string history_path() {
    return xdg_path("XDG_STATE_HOME", ".local/state", "zgm/history");
}

void load_history() {
    using_history();
    stifle_history(1000);
    read_history(history_path().c_str());
}

//  The history file may hold private messages: it is created with mode 0600.
void save_history() {
    std::string path = history_path();
    if (!make_dirs(dir_of(path))) return;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        write_history(path.c_str());
    }
}

} // namespace

int run_interactive(Session* session) {
    Client client;
    client.session = session;
    client.terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    s_client = &client;
    set_current(&client, session->followed.empty() ? "" : session->followed[0]);
    printf("zgm: %s (%s). /help lists the commands.\n", session->identity.name.c_str(),
           session->identity.id.c_str());
    if (client.terminal) {
        load_history();
        rl_attempted_completion_function = complete;
        rl_callback_handler_install(client.prompt.c_str(), on_line);
    }
    fflush(stdout);
    zmq_pollitem_t items[] = {
        {zsock_resolve(zgm_user_socket(session->user)), 0, ZMQ_POLLIN, 0},
        {nullptr, STDIN_FILENO, ZMQ_POLLIN, 0},
    };
    std::string pending;
    while (!client.quit && !stop_requested()) {
        drain_live(&client);
        if (zmq_poll(items, 2, 1000) < 0) {
            if (errno == EINTR) continue;
            error_line(client, std::string("poll: ") + zmq_strerror(errno));
            break;
        }
        //  At the end of a pipe, or when the terminal goes away, poll says POLLHUP only,
        //  which zmq_poll reports as ZMQ_POLLERR.
        short ready = items[1].revents;
        if (client.terminal && (ready & ZMQ_POLLIN))
            rl_callback_read_char();
        else if (client.terminal && (ready & ZMQ_POLLERR))
            client.quit = true;
        else if (ready & (ZMQ_POLLIN | ZMQ_POLLERR))
            read_plain(&client, &pending);
    }
    if (client.terminal) {
        rl_callback_handler_remove();
        save_history();
        putchar('\n');
    }
    fflush(stdout);
    s_client = nullptr;
    return kExitOk;
}

} // namespace cli
} // namespace zgm
