/*  =========================================================================
    interactive.cc - the interactive client of `zgm user` and `zgm run`

    One thread polls stdin and the user's socket, which is readable when live messages or
    the outcomes of sends are waiting. On a terminal, libedit's callback interface (libedit
    loaded then, with dlopen) reads the line being typed (with editing and history), and what
    arrives meanwhile is printed above it: the line is cleared, the message printed, and the
    prompt and the typed text drawn again. When stdin is not a terminal, lines are read
    plainly, so the client can be scripted, and it exits with the exit code of the first error
    it printed (exit_code_for's, or 2 for a line it could not take), 0 when none: the later
    ones may follow from it (a join that failed, then "no current group").

    A line is sent with zgm_user_send_async and never waits for the network. Its outcome
    comes back later: stored (the message itself shows when the group server delivers it
    back), refused ("error: not sent: ..."), or no answer. A send without an answer may have
    been stored: it is shown as pending, never as failed, and sent again with the same
    message id (which the group server stores once) until it is stored or refused, for a
    minute at most. /leave first waits for the sends to its group still out: lines run in
    order, and the group refuses a user who has left.

    Each followed group has a member list, loaded when a sender it does not know appears
    (at most every few seconds), so a sender whose display name another member shares is
    shown with the start of its key.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "core/clock.h"

#include <czmq.h>
#include <dlfcn.h>
#include <editline/readline.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <map>
#include <unistd.h>

namespace zgm {
namespace cli {

namespace {

//  The messages shown when a group is entered.
const size_t kRecent = 10;
//  A send without an answer is sent again after this long, and given up after kGiveUpMs.
const int64_t kRetryMs = 1000;
const int64_t kGiveUpMs = 60000;

//  A send whose outcome is not known yet.
struct Pending {
    std::string group;
    std::string body;
    int64_t first_ms = 0;  //  when the line was sent
    int64_t due_ms = 0;    //  when to send it again; 0 while an attempt is out
    bool in_doubt = false; //  an attempt had no answer: it may have been stored
    bool shown = false;    //  the "pending" line was printed
    std::string reason;    //  why the last attempt had no outcome
    int error = ZGM_OK;    //  and its zgm_error_t
};

struct Client {
    Session* session;
    std::string current; //  the group a plain line goes to
    std::string prompt;
    bool terminal = false;
    bool in_command = false; //  a line is being run: its output needs no redraw
    bool quit = false;
    bool input_done = false; //  stdin ended (not a terminal): quit once nothing is pending
    //  The exit code of the first error printed (kExitOk while none): the client's exit
    //  status when stdin is not a terminal, so a script that pipes commands in sees a failure.
    int failure = kExitOk;
    std::map<std::string, Pending> pending; //  by message id
    std::map<std::string, uint64_t> shown;  //  the last seq shown, by group
};

//  libedit's line callback takes no context.
Client* s_client = nullptr;

//  libedit, loaded when the interactive client starts on a terminal: the program is not
//  linked with it, so a group server, a registry and the one-shot commands never map it nor
//  its libtinfo (256 KiB of each such process's resident memory, BENCHMARKS.md). Only the
//  declarations of <editline/readline.h> are used here.
struct Editline {
    void* handle = nullptr;
    decltype(&::rl_get_screen_size) get_screen_size = nullptr;
    decltype(&::rl_forced_update_display) forced_update_display = nullptr;
    decltype(&::rl_set_prompt) set_prompt = nullptr;
    decltype(&::add_history) add_history = nullptr;
    decltype(&::rl_callback_handler_install) callback_handler_install = nullptr;
    decltype(&::rl_callback_handler_remove) callback_handler_remove = nullptr;
    decltype(&::rl_callback_read_char) callback_read_char = nullptr;
    decltype(&::rl_completion_matches) completion_matches = nullptr;
    decltype(&::using_history) using_history = nullptr;
    decltype(&::stifle_history) stifle_history = nullptr;
    decltype(&::read_history) read_history = nullptr;
    decltype(&::write_history) write_history = nullptr;
    int* point = nullptr;
    char** line_buffer = nullptr;
    int* attempted_completion_over = nullptr;
    rl_completion_func_t** attempted_completion_function = nullptr;
};
Editline s_edit;

template <typename T>
bool find_symbol(void* handle, const char* name, T* into) {
    *into = reinterpret_cast<T>(dlsym(handle, name));
    return *into != nullptr;
}

//  Loads libedit (its Debian soname, then others' and the development link); false with
//  the loader's reason in *why when it cannot.
bool load_editline(std::string* why) {
    if (s_edit.handle) return true;
    void* handle = nullptr;
    for (const char* name : {"libedit.so.2", "libedit.so.0", "libedit.so"})
        if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    if (!handle) {
        const char* error = dlerror();
        *why = error ? error : "libedit.so.2 not found";
        return false;
    }
    Editline edit;
    edit.handle = handle;
    bool found =
        find_symbol(handle, "rl_get_screen_size", &edit.get_screen_size) &&
        find_symbol(handle, "rl_forced_update_display", &edit.forced_update_display) &&
        find_symbol(handle, "rl_set_prompt", &edit.set_prompt) &&
        find_symbol(handle, "add_history", &edit.add_history) &&
        find_symbol(handle, "rl_callback_handler_install", &edit.callback_handler_install) &&
        find_symbol(handle, "rl_callback_handler_remove", &edit.callback_handler_remove) &&
        find_symbol(handle, "rl_callback_read_char", &edit.callback_read_char) &&
        find_symbol(handle, "rl_completion_matches", &edit.completion_matches) &&
        find_symbol(handle, "using_history", &edit.using_history) &&
        find_symbol(handle, "stifle_history", &edit.stifle_history) &&
        find_symbol(handle, "read_history", &edit.read_history) &&
        find_symbol(handle, "write_history", &edit.write_history) &&
        find_symbol(handle, "rl_point", &edit.point) &&
        find_symbol(handle, "rl_line_buffer", &edit.line_buffer) &&
        find_symbol(handle, "rl_attempted_completion_over", &edit.attempted_completion_over) &&
        find_symbol(handle, "rl_attempted_completion_function",
                    &edit.attempted_completion_function);
    if (!found) {
        const char* error = dlerror();
        *why = error ? error : "a libedit without the readline interface";
        dlclose(handle);
        return false;
    }
    s_edit = edit;
    return true;
}

//  Runs print above the line being typed: the line is cleared first and drawn again after.
template <typename Print>
void above_prompt(Client* client, Print print) {
    bool redraw = client->terminal && !client->in_command;
    if (redraw) {
        int rows = 0, columns = 0;
        s_edit.get_screen_size(&rows, &columns);
        size_t column = client->prompt.size() + (size_t)*s_edit.point;
        if (columns > 0 && column >= (size_t)columns) printf("\033[%zuA", column / (size_t)columns);
        fputs("\r\033[J", stdout);
        fflush(stdout);
    }
    print();
    fflush(stdout);
    fflush(stderr);
    if (redraw) s_edit.forced_update_display();
}

//  "error: MESSAGE" on stderr; code is its exit code (exit_code_for, or kExitUsage for a
//  line the client could not take), remembered if it is the first failure.
//  Error and note lines quote what was typed and what servers said: shown as messages are,
//  control characters in caret notation ("/whoami\r" was printed with its carriage return).
void error_line(Client* client, const std::string& message, int code) {
    if (client->failure == kExitOk) client->failure = code;
    std::string visible;
    append_visible(&visible, message.data(), message.size(), false);
    above_prompt(client, [&] {
        bool color = client->session->style.color;
        fflush(stdout);
        fprintf(stderr, "%serror:%s %s\n", color ? "\033[1;31m" : "", color ? "\033[0m" : "",
                visible.c_str());
    });
}

void note_line(Client* client, const std::string& message) {
    std::string visible;
    append_visible(&visible, message.data(), message.size(), false);
    above_prompt(client, [&] {
        bool color = client->session->style.color;
        printf("%s%s%s\n", color ? "\033[2m" : "", visible.c_str(), color ? "\033[0m" : "");
    });
}

//  "error: WHAT GROUP: <why>" from zgm_errno.
void api_error(Client* client, const char* what, const std::string& group) {
    error_line(client, std::string(what) + " " + group + ": " + zgm_strerror(),
               exit_code_for(zgm_errno()));
}

//  The start of a message body, quoted, for a line about it.
std::string excerpt(const std::string& body) {
    std::string visible;
    append_visible(&visible, body.data(), std::min(body.size(), (size_t)40), false);
    return "\"" + visible + (body.size() > 40 ? "...\"" : "\"");
}

void set_current(Client* client, const std::string& group) {
    client->current = group;
    client->prompt = group.empty() ? "> " : group + "> ";
    if (client->terminal) s_edit.set_prompt(client->prompt.c_str());
}

//  ------------------------------------------------------------------------------------------
//  Showing messages

//  Prints a message (once per session: a group's recap and its live messages overlap) and
//  moves its group's cursor.
void show_message(Client* client, const zgm_msg_t* msg) {
    uint64_t& shown = client->shown[zgm_msg_group(msg)];
    if (zgm_msg_seq(msg) <= shown) return;
    shown = zgm_msg_seq(msg);
    std::string storage;
    const char* label = sender_label(client->session, msg, &storage);
    above_prompt(client, [&] { print_live(client->session, msg, label); });
}

//  "N message(s)".
std::string messages(uint64_t count) {
    return std::to_string(count) + (count == 1 ? " message" : " messages");
}

//  What came after the cursor of a group before first (0: none kept), when it is entered: the
//  messages still kept, which /fetch shows, and those the group's retention dropped.
void note_unread(Client* client, const std::string& group, uint64_t cursor, uint64_t first) {
    zgm_fetch_t query = zgm_fetch_t();
    query.after_seq = cursor;
    query.limit = 1;
    zgm_msglist_t* list = zgm_user_fetch(client->session->user, group.c_str(), &query);
    uint64_t dropped = list ? zgm_msglist_missed(list) : 0;
    zgm_msglist_destroy(&list);
    uint64_t kept = first > cursor + 1 ? first - cursor - 1 : 0;
    kept -= std::min(kept, dropped);
    if (kept)
        note_line(client, "(" + messages(kept) + " of " + group +
                              " before these since you last read it: /fetch " + group +
                              " --after " + std::to_string(cursor) + ")");
    if (dropped)
        note_line(client, "(" + messages(dropped) + " of " + group +
                              " since you last read it dropped by its retention)");
}

//  Shows the last kRecent messages of a group, when it is entered. 0 and *follow_from: the
//  seq to follow it from (the last one shown, or the cursor when none was, or
//  ZGM_FOLLOW_NOW when it was never read); or -1 with an error line.
int show_recent(Client* client, const std::string& group, uint64_t* follow_from) {
    zgm_fetch_t query = zgm_fetch_t();
    query.limit = kRecent;
    query.newest = 1;
    zgm_msglist_t* list = zgm_user_fetch(client->session->user, group.c_str(), &query);
    if (!list) return -1;
    size_t size = zgm_msglist_size(list);
    uint64_t cursor = 0;
    bool read_before = client->session->cursors.get(group, &cursor);
    uint64_t first = size > 0 ? zgm_msg_seq(zgm_msglist_get(list, 0)) : 0;
    if (read_before && (size == 0 ? zgm_msglist_missed(list) > 0 : first > cursor + 1))
        note_unread(client, group, cursor, first);
    uint64_t last = 0;
    for (size_t i = 0; i < size; i++) {
        const zgm_msg_t* msg = zgm_msglist_get(list, i);
        std::string storage;
        const char* label = sender_label(client->session, msg, &storage);
        above_prompt(client, [&] { print_message(stdout, msg, client->session->style, label); });
        last = zgm_msg_seq(msg);
    }
    zgm_msglist_destroy(&list);
    uint64_t& shown = client->shown[group];
    shown = std::max(shown, last);
    if (last > cursor) client->session->cursors.set(group, last);
    *follow_from = size > 0 ? last : read_before ? cursor : ZGM_FOLLOW_NOW;
    return 0;
}

//  ------------------------------------------------------------------------------------------
//  Sends and their outcomes

void send_line(Client* client, const std::string& group, const std::string& body) {
    char id[ZGM_MSG_ID_SIZE] = "";
    if (zgm_user_send_async(client->session->user, group.c_str(), body.data(), body.size(), id) !=
        0) {
        error_line(client, "not sent: " + group + ": " + zgm_strerror(),
                   exit_code_for(zgm_errno()));
        return;
    }
    Pending& pending = client->pending[id];
    pending.group = group;
    pending.body = body;
    pending.first_ms = mono_ms();
}

//  An outcome that says nothing was decided: no answer, the server down or busy.
bool undecided(int error) {
    return error == ZGM_EINDOUBT || error == ZGM_ETIMEOUT || error == ZGM_EUNREACHABLE ||
           error == ZGM_EUNAVAILABLE || error == ZGM_ERATE;
}

//  The exit code of a send given up on: in doubt (3), or the last undecided outcome's.
int unsettled_code(const Pending& pending) {
    return exit_code_for(pending.in_doubt || pending.error == ZGM_OK ? ZGM_EINDOUBT
                                                                     : pending.error);
}

std::string without_prefix(const std::string& text, const std::string& prefix) {
    return text.compare(0, prefix.size(), prefix) == 0 ? text.substr(prefix.size()) : text;
}

void give_up(Client* client, const std::string& id, const Pending& pending) {
    if (pending.in_doubt)
        error_line(client,
                   "gave up sending " + excerpt(pending.body) + " to " + pending.group +
                       " after a minute without an answer: it may have been stored " +
                       "(message id " + id + ")",
                   unsettled_code(pending));
    else //  (the library's reason may say "not sent" too: once is enough)
        error_line(client,
                   "not sent: " + pending.group + ": " + excerpt(pending.body) + ": " +
                       without_prefix(pending.reason, "not sent: ") + " (gave up after a minute)",
                   unsettled_code(pending));
}

void on_outcome(Client* client, const zgm_sent_t& sent) {
    auto found = client->pending.find(sent.msg_id);
    if (found == client->pending.end()) return;
    Pending& pending = found->second;
    if (sent.error == ZGM_OK) {
        if (pending.shown)
            note_line(client, "(stored: " + excerpt(pending.body) + " in " + pending.group +
                                  " as #" + std::to_string(sent.seq) + ")");
        client->pending.erase(found);
        return;
    }
    if (!undecided(sent.error)) {
        error_line(client,
                   "not sent: " + pending.group + ": " + excerpt(pending.body) + ": " + sent.reason,
                   exit_code_for(sent.error));
        client->pending.erase(found);
        return;
    }
    pending.in_doubt = pending.in_doubt || sent.error == ZGM_EINDOUBT;
    pending.reason = sent.reason;
    pending.error = sent.error;
    int64_t now = mono_ms();
    if (now - pending.first_ms >= kGiveUpMs) {
        give_up(client, found->first, pending);
        client->pending.erase(found);
        return;
    }
    if (!pending.shown) {
        pending.shown = true;
        //  The library's reason for a send in doubt tells its caller to send it again with
        //  its id: which is what happens here.
        std::string why = sent.error == ZGM_EINDOUBT ? "no answer yet, it may be stored"
                                                     : std::string(sent.reason);
        note_line(client, "(pending: " + excerpt(pending.body) + " to " + pending.group + ": " +
                              why + "; sending it again with its id)");
    }
    pending.due_ms = now + kRetryMs;
}

//  Sends again, with the same id, what is due; gives up on what waited a minute.
void retry_due(Client* client) {
    int64_t now = mono_ms();
    for (auto it = client->pending.begin(); it != client->pending.end();) {
        Pending& pending = it->second;
        if (pending.due_ms == 0 || now < pending.due_ms) {
            ++it;
            continue;
        }
        if (now - pending.first_ms >= kGiveUpMs) {
            give_up(client, it->first, pending);
            it = client->pending.erase(it);
            continue;
        }
        char id[ZGM_MSG_ID_SIZE];
        snprintf(id, sizeof id, "%s", it->first.c_str());
        pending.due_ms = 0;
        if (zgm_user_send_async(client->session->user, pending.group.c_str(), pending.body.data(),
                                pending.body.size(), id) != 0)
            pending.due_ms = now + kRetryMs;
        ++it;
    }
}

//  Milliseconds until the next retry is due (at most max_ms).
int next_due(const Client& client, int max_ms) {
    int64_t now = mono_ms(), wait = max_ms;
    for (const auto& entry : client.pending)
        if (entry.second.due_ms)
            wait = std::min(wait, std::max<int64_t>(entry.second.due_ms - now, 0));
    return (int)wait;
}

//  Shows every live message and handles every send outcome waiting.
void drain(Client* client) {
    zgm_user_t* user = client->session->user;
    while (true) {
        bool any = false;
        while (zgm_msg_t* msg = zgm_user_recv(user, 0)) {
            show_message(client, msg);
            zgm_msg_destroy(&msg);
            any = true;
        }
        zgm_sent_t sent;
        while (zgm_user_sent(user, &sent, 0) == 0) {
            on_outcome(client, sent);
            any = true;
        }
        if (!any) break;
    }
}

//  Says what is left of the sends to group (to every group when empty), which will not be
//  sent again: the client quits, or the user left the group.
void give_up_sends(Client* client, const std::string& group) {
    for (auto it = client->pending.begin(); it != client->pending.end();) {
        const Pending& pending = it->second;
        if (!group.empty() && pending.group != group) {
            ++it;
            continue;
        }
        if (pending.in_doubt || pending.due_ms == 0)
            error_line(client,
                       "left with " + excerpt(pending.body) + " to " + pending.group +
                           " unanswered: it may have been stored (message id " + it->first + ")",
                       exit_code_for(ZGM_EINDOUBT));
        else
            error_line(client,
                       "not sent: " + pending.group + ": " + excerpt(pending.body) + ": " +
                           pending.reason,
                       unsettled_code(pending));
        it = client->pending.erase(it);
    }
}

//  Waits a while for the outcomes of the sends still out, and shows them.
void settle(Client* client) {
    zgm_user_flush(client->session->user, client->session->options.timeout_ms);
    drain(client);
}

//  ------------------------------------------------------------------------------------------
//  The /commands

//  The group a command names, or the current one.
bool group_or_current(Client* client, const std::vector<std::string>& words, size_t count,
                      std::string* group) {
    *group = words.size() > count ? words[0] : client->current;
    if (group->empty())
        error_line(client, "no current group: name one, or /join one first", kExitUsage);
    return !group->empty();
}

void slash_list(Client* client, const Args&, const std::vector<std::string>&) {
    if (show_groups(client->session) != 0)
        error_line(client, std::string("groups: ") + zgm_strerror(), exit_code_for(zgm_errno()));
}

//  Makes a group the current one, showing its last messages; follows it (from the last one
//  shown) when it is not followed yet. what: the command, as a failure names it.
void enter(Client* client, const std::string& group, const char* what) {
    Session* session = client->session;
    uint64_t follow_from = 0;
    if (show_recent(client, group, &follow_from) != 0) {
        if (zgm_errno() == ZGM_ENOTMEMBER)
            error_line(client, "not a member of " + group + ": /join " + group + " first",
                       exit_code_for(ZGM_ENOTMEMBER));
        else
            api_error(client, what, group);
        return;
    }
    if (!is_followed(*session, group)) {
        if (zgm_user_follow(session->user, group.c_str(), follow_from) != 0) {
            api_error(client, "follow", group);
            return;
        }
        session->followed.push_back(group);
    }
    set_current(client, group);
}

//  Joins (or, when already a member, follows) a group and makes it the current one.
void join_and_enter(Client* client, const std::string& group) {
    Session* session = client->session;
    if (zgm_user_join(session->user, group.c_str()) == 0) {
        //  Joined and followed from the group's end.
        if (!is_followed(*session, group)) session->followed.push_back(group);
    } else if (zgm_errno() != ZGM_EALREADY) {
        api_error(client, "join", group);
        return;
    }
    print_done(stdout, "joined " + group, group.c_str(), session->style);
    enter(client, group, "enter");
}

void slash_create(Client* client, const Args& args, const std::vector<std::string>& words) {
    zgm_policy_t policy = args.has("members") ? ZGM_POLICY_MEMBERS : ZGM_POLICY_OPEN;
    if (zgm_user_create(client->session->user, words[0].c_str(), policy) != 0) {
        api_error(client, "create", words[0]);
        return;
    }
    print_done(stdout, "created " + words[0], words[0].c_str(), client->session->style);
    join_and_enter(client, words[0]);
}

void slash_join(Client* client, const Args&, const std::vector<std::string>& words) {
    join_and_enter(client, words[0]);
}

void slash_leave(Client* client, const Args&, const std::vector<std::string>& words) {
    std::string group;
    if (!group_or_current(client, words, 0, &group)) return;
    Session* session = client->session;
    //  What was typed before goes first (a script's lines run in order): the sends to the
    //  group still out are waited for; once the user has left, it would refuse them.
    for (const auto& entry : client->pending)
        if (entry.second.group == group) {
            settle(client);
            break;
        }
    if (zgm_user_leave(session->user, group.c_str()) != 0) {
        api_error(client, "leave", group);
        return;
    }
    give_up_sends(client, group);
    forget_followed(session, group);
    session->rosters.erase(group);
    print_done(stdout, "left " + group, group.c_str(), session->style);
    if (group == client->current)
        set_current(client, session->followed.empty() ? "" : session->followed[0]);
}

void slash_switch(Client* client, const Args&, const std::vector<std::string>& words) {
    enter(client, words[0], "switch to");
}

void slash_fetch(Client* client, const Args& args, const std::vector<std::string>& words) {
    std::string group, error;
    zgm_fetch_t query;
    if (!read_fetch_options(args, now_us(), &query, &error)) {
        error_line(client, error, kExitUsage);
        return;
    }
    if (group_or_current(client, words, 0, &group) &&
        show_fetch(client->session, group.c_str(), query) != 0)
        api_error(client, "fetch", group);
}

void slash_members(Client* client, const Args&, const std::vector<std::string>& words) {
    std::string group;
    if (group_or_current(client, words, 0, &group) &&
        show_members(client->session, group.c_str()) != 0)
        api_error(client, "members of", group);
}

void slash_whoami(Client* client, const Args&, const std::vector<std::string>&) {
    show_whoami(client->session);
}

//  /add, /remove, /give: [GROUP] KEY. What is done is said with the key, also when a
//  certificate file named it.
void slash_key_call(Client* client, const std::vector<std::string>& words,
                    int (*call)(zgm_user_t*, const char*, const char*), const char* what) {
    std::string group;
    if (!group_or_current(client, words, 1, &group)) return;
    const std::string& given = words.back();
    std::string key, file;
    if (read_owner_key(given, &key, &file) != 0 ||
        call(client->session->user, group.c_str(), key.c_str()) != 0) {
        error_line(client, key_asked(what, group, given) + ": " + zgm_strerror(),
                   exit_code_for(zgm_errno()));
        return;
    }
    print_done(stdout, key_done(what, group, key, file), group.c_str(), client->session->style,
               key.c_str(), file.c_str());
}

void slash_policy(Client* client, const Args&, const std::vector<std::string>& words) {
    std::string group;
    if (!group_or_current(client, words, 1, &group)) return;
    const std::string& value = words.back();
    if (value != "open" && value != "members") {
        error_line(client, "a policy is open or members, not '" + value + "'", kExitUsage);
        return;
    }
    zgm_policy_t policy = value == "members" ? ZGM_POLICY_MEMBERS : ZGM_POLICY_OPEN;
    if (zgm_user_set_policy(client->session->user, group.c_str(), policy) != 0) {
        api_error(client, "policy of", group);
        return;
    }
    print_done(stdout, "policy of " + group + ": " + value, group.c_str(), client->session->style);
}

void slash_retain(Client* client, const Args& args, const std::vector<std::string>& words) {
    std::string group, error;
    Retention retention;
    if (!group_or_current(client, words, 0, &group) ||
        !read_retention_options(args, &retention, &error))
        return;
    if (zgm_user_set_retention(client->session->user, group.c_str(), retention.count,
                               retention.bytes, retention.age_ms) != 0) {
        api_error(client, "retention of", group);
        return;
    }
    print_done(stdout, "retention of " + group + " set", group.c_str(), client->session->style);
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
        error_line(client, "unknown command /" + words[0] + " (/help lists them)", kExitUsage);
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
    case spec::UserSlash::kWhoami:
        return slash_whoami(client, args, words);
    case spec::UserSlash::kAdd:
        return slash_key_call(client, words, zgm_user_add, "add");
    case spec::UserSlash::kRemove:
        return slash_key_call(client, words, zgm_user_remove, "remove");
    case spec::UserSlash::kGive:
        return slash_key_call(client, words, zgm_user_give, "give");
    case spec::UserSlash::kPolicy:
        return slash_policy(client, args, words);
    case spec::UserSlash::kRetain:
        return slash_retain(client, args, words);
    case spec::UserSlash::kHelp:
        return slash_help(client, args, words);
    case spec::UserSlash::kQuit:
        return slash_quit(client, args, words);
    }
}

void run_slash(Client* client, const std::string& line) {
    std::vector<std::string> words;
    if (!split_words(line.substr(1), &words)) {
        error_line(client, "unclosed quote", kExitUsage);
        return;
    }
    if (words.empty()) {
        error_line(client, "a command after '/', or /help", kExitUsage);
        return;
    }
    const spec::Slash* slash = find_slash(words[0]);
    if (!slash) {
        error_line(client, "unknown command /" + words[0] + " (/help lists them)", kExitUsage);
        return;
    }
    std::vector<char*> pointers;
    for (size_t i = 1; i < words.size(); i++)
        pointers.push_back(&words[i][0]);
    Args args;
    if (!args.parse((int)pointers.size(), pointers.data(), slash->options, nullptr) ||
        !args.check_exclusions()) {
        error_line(client, args.error(), kExitUsage);
        return;
    }
    if (args.help()) {
        fputs(slash->usage, stdout);
        fflush(stdout);
        return;
    }
    size_t count = args.positional().size();
    if (count < slash->min_words || count > slash->max_words) {
        error_line(client, std::string("usage: ") + slash->synopsis, kExitUsage);
        return;
    }
    run_slash_command(*slash, client, args);
}

void run_line(Client* client, const std::string& line) {
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    client->in_command = true;
    if (line[0] == '/' && line.compare(0, 2, "//") != 0) {
        run_slash(client, line);
    } else if (client->current.empty()) {
        error_line(client, "no current group: /join GROUP or /switch GROUP first", kExitUsage);
    } else {
        //  The message comes back through the live socket, so it is shown in order, once.
        send_line(client, client->current, line.substr(line[0] == '/' ? 1 : 0));
    }
    client->in_command = false;
}

//  libedit's line callback: NULL at end of input (Ctrl-D on an empty line).
void on_line(char* line) {
    if (!line) {
        s_client->quit = true;
        return;
    }
    std::string text = line;
    free(line);
    if (text.find_first_not_of(" \t") != std::string::npos) s_edit.add_history(text.c_str());
    run_line(s_client, text);
    //  libedit leaves its one-key-at-a-time mode after a line; installing the handler again
    //  restores it, empties the line and prints the prompt below what the command printed.
    if (!s_client->quit) s_edit.callback_handler_install(s_client->prompt.c_str(), on_line);
}

//  Reads what stdin has when it is not a terminal; runs each complete line.
void read_plain(Client* client, std::string* pending) {
    char buffer[4096];
    ssize_t got = read(STDIN_FILENO, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) return;
    if (got <= 0) {
        if (!pending->empty()) run_line(client, *pending);
        pending->clear();
        client->input_done = true;
        return;
    }
    pending->append(buffer, (size_t)got);
    size_t end;
    while (!client->quit && !stop_requested() && (end = pending->find('\n')) != std::string::npos) {
        std::string line = pending->substr(0, end);
        pending->erase(0, end + 1);
        run_line(client, line);
        drain(client);
    }
}

//  Whether input read from a pipe or a file is left unrun: a line read and not run, or more
//  waiting to be read (what a writer has not written yet is not counted).
bool input_left(const Client& client, const std::string& pending) {
    if (client.terminal || client.input_done) return false;
    if (!pending.empty()) return true;
    struct pollfd item = {STDIN_FILENO, POLLIN, 0};
    char byte;
    return poll(&item, 1, 0) == 1 && (item.revents & POLLIN) && read(STDIN_FILENO, &byte, 1) == 1;
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
    *s_edit.attempted_completion_over = 1; //  never file names
    s_candidates.clear();
    if (start == 0 && text[0] == '/') {
        for (const spec::Slash& slash : spec::kUserSlashes) {
            s_candidates.push_back(std::string("/") + slash.name);
            if (slash.alias) s_candidates.push_back(std::string("/") + slash.alias);
        }
    } else if ((*s_edit.line_buffer)[0] == '/') {
        s_candidates = s_client->session->followed;
    }
    return s_edit.completion_matches(text, next_candidate);
}

std::string history_path() {
    return xdg_path("XDG_STATE_HOME", ".local/state", "zgm/history");
}

void load_history() {
    s_edit.using_history();
    s_edit.stifle_history(1000);
    s_edit.read_history(history_path().c_str());
}

//  The history file may hold private messages: it is created with mode 0600.
void save_history() {
    std::string path = history_path();
    if (!make_dirs(dir_of(path))) return;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        s_edit.write_history(path.c_str());
    }
}

//  At start: follows every group the user is a member of, from its cursor, and enters the
//  first of them (its last messages shown, then followed from the last one shown).
void start(Client* client) {
    Session* session = client->session;
    std::vector<std::string> groups;
    if (member_groups(session, &groups) != 0) {
        fprintf(stderr, "zgm: warning: cannot list the groups: %s\n", zgm_strerror());
        return;
    }
    std::vector<uint64_t> after_seqs;
    for (const std::string& group : groups)
        after_seqs.push_back(cursor_or_now(*session, group));
    uint64_t follow_from = 0;
    if (!groups.empty() && show_recent(client, groups[0], &follow_from) == 0)
        after_seqs[0] = follow_from;
    follow_groups(session, groups, after_seqs);
    if (!groups.empty() && is_followed(*session, groups[0])) set_current(client, groups[0]);
}

} // namespace

int run_interactive(Session* session) {
    Client client;
    client.session = session;
    client.terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    std::string why;
    if (client.terminal && !load_editline(&why)) {
        fprintf(stderr, "zgm: warning: no line editing (%s): lines are read plainly\n",
                why.c_str());
        client.terminal = false;
    }
    s_client = &client;
    set_current(&client, "");
    printf("zgm: %s (%s). /help lists the commands.\n", session->identity.name.c_str(),
           session->identity.key.c_str());
    fflush(stdout);
    client.in_command = true;
    start(&client);
    client.in_command = false;
    if (client.terminal) {
        load_history();
        *s_edit.attempted_completion_function = complete;
        s_edit.callback_handler_install(client.prompt.c_str(), on_line);
    }
    fflush(stdout);
    zmq_pollitem_t items[] = {
        {nullptr, zgm_user_fd(session->user), ZMQ_POLLIN, 0},
        {nullptr, STDIN_FILENO, ZMQ_POLLIN, 0},
    };
    std::string line;
    while (!client.quit && !stop_requested() && !(client.input_done && client.pending.empty())) {
        drain(&client);
        retry_due(&client);
        if (client.quit || (client.input_done && client.pending.empty())) break;
        int count = client.input_done ? 1 : 2;
        if (zmq_poll(items, count, next_due(client, 1000)) < 0) {
            if (errno == EINTR) continue;
            error_line(&client, std::string("poll: ") + zmq_strerror(errno), kExitRefused);
            break;
        }
        //  At the end of a pipe, or when the terminal goes away, poll says POLLHUP only,
        //  which zmq_poll reports as ZMQ_POLLERR.
        short ready = count > 1 ? items[1].revents : 0;
        if (client.terminal && (ready & ZMQ_POLLIN))
            s_edit.callback_read_char();
        else if (client.terminal && (ready & ZMQ_POLLERR))
            client.quit = true;
        else if (ready & (ZMQ_POLLIN | ZMQ_POLLERR))
            read_plain(&client, &line);
    }
    if (client.terminal) {
        s_edit.callback_handler_remove();
        save_history();
        putchar('\n');
    }
    client.in_command = true;
    //  A script stopped part-way learns that the rest of its lines did not run.
    if (stop_requested() && input_left(client, line))
        error_line(&client,
                   "stopped before the end of the input: the lines not yet read were "
                   "not run",
                   kExitRefused);
    if (!stop_requested() || !client.pending.empty()) {
        settle(&client);
        give_up_sends(&client, "");
    }
    fflush(stdout);
    s_client = nullptr;
    //  A script that pipes commands in learns whether one failed; a person saw it.
    return isatty(STDIN_FILENO) ? kExitOk : client.failure;
}

} // namespace cli
} // namespace zgm
