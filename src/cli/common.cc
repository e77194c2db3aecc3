/*  =========================================================================
    common.cc - what the parts of the zgm program share

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"

#include <czmq.h>

#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zgm {
namespace cli {

int exit_code_for(int error) {
    switch (error) {
    case ZGM_OK:
        return kExitOk;
    case ZGM_EINVAL:
        return kExitUsage;
    case ZGM_ETIMEOUT:
    case ZGM_EUNAVAILABLE:
    case ZGM_ENOTCONNECTED:
        return kExitUnreachable;
    default:
        return kExitRefused;
    }
}

int usage_error(const char* command, const std::string& message) {
    fprintf(stderr, "zgm %s: %s\nTry 'zgm %s --help'.\n", command, message.c_str(), command);
    return kExitUsage;
}

int config_error(const char* command, const std::string& message) {
    fprintf(stderr, "zgm %s: %s\n", command, message.c_str());
    return kExitUsage;
}

static volatile sig_atomic_t s_stop = 0;

//  The first signal asks to stop; a second one, while stopping hangs, ends the program.
static void on_stop_signal(int signo) {
    if (s_stop) {
        signal(signo, SIG_DFL);
        raise(signo);
    }
    s_stop = 1;
}

void start_program() {
    //  zsys_init installs CZMQ's own handler, which would set zsys_interrupted and stop the
    //  library's actors under us; ours replaces it.
    zsys_init();
    zsys_handler_set(on_stop_signal);
    //  The library logs to stderr (core/log.h); CZMQ's own messages go there too.
    if (!getenv("ZSYS_LOGSTREAM")) zsys_set_logstream(stderr);
}

bool stop_requested() {
    return s_stop != 0;
}

const char* default_registry() {
    const char* endpoint = getenv("ZGM_REGISTRY");
    return endpoint && *endpoint ? endpoint : ZGM_REGISTRY_ENDPOINT;
}

std::string xdg_path(const char* variable, const char* fallback, const char* leaf) {
    const char* base = getenv(variable);
    std::string path;
    if (base && base[0] == '/') {
        path = base;
    } else {
        const char* home = getenv("HOME");
        if (!home || !*home) {
            struct passwd* entry = getpwuid(getuid());
            home = entry ? entry->pw_dir : "/";
        }
        path = std::string(home) + "/" + fallback;
    }
    return path + "/" + leaf;
}

std::string default_store_dir() {
    return xdg_path("XDG_DATA_HOME", ".local/share", "zgm/server");
}

bool make_dirs(const std::string& path) {
    for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
        std::string prefix = path.substr(0, slash);
        if (!prefix.empty() && mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
        if (slash == std::string::npos) return true;
    }
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

//  Replaces a file's contents at once: a private temporary file renamed over it.
static bool write_file_atomic(const std::string& path, const std::string& contents) {
    if (!make_dirs(dir_of(path))) return false;
    std::string temporary = path + ".tmp." + std::to_string(getpid());
    int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool written = write(fd, contents.data(), contents.size()) == (ssize_t)contents.size();
    if (close(fd) != 0 || !written || rename(temporary.c_str(), path.c_str()) != 0) {
        unlink(temporary.c_str());
        return false;
    }
    return true;
}

//  Reads a file's lines without their line ends. False if it cannot be opened.
static bool read_lines(const std::string& path, std::vector<std::string>* lines) {
    FILE* file = fopen(path.c_str(), "re");
    if (!file) return false;
    char* line = nullptr;
    size_t capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &capacity, file)) >= 0) {
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
            line[--length] = '\0';
        lines->push_back(line);
    }
    free(line);
    fclose(file);
    return true;
}

int read_identity(const std::string& path, Identity* identity) {
    std::vector<std::string> lines;
    if (!read_lines(path, &lines)) return errno == ENOENT ? 0 : -1;
    if (lines.empty() || lines[0].size() != 32 ||
        strspn(lines[0].c_str(), "0123456789abcdefABCDEF") != 32)
        return -1;
    identity->id = lines[0];
    identity->name = lines.size() > 1 ? lines[1] : "";
    return 1;
}

bool write_identity(const std::string& path, const Identity& identity) {
    return write_file_atomic(path, identity.id + "\n" + identity.name + "\n");
}

static void parse_cursors(const std::vector<std::string>& lines,
                          std::vector<std::pair<std::string, uint64_t>>* entries) {
    entries->clear();
    for (const std::string& line : lines) {
        size_t blank = line.rfind(' ');
        uint64_t seq;
        if (blank == std::string::npos || blank == 0 ||
            !parse_uint(line.c_str() + blank + 1, UINT64_MAX, &seq))
            continue;
        entries->emplace_back(line.substr(0, blank), seq);
    }
}

void Cursors::load(const std::string& path) {
    path_ = path;
    std::vector<std::string> lines;
    read_lines(path_, &lines);
    parse_cursors(lines, &entries_);
}

bool Cursors::get(const std::string& group, uint64_t* seq) const {
    for (const auto& entry : entries_)
        if (entry.first == group) {
            *seq = entry.second;
            return true;
        }
    return false;
}

bool Cursors::set(const std::string& group, uint64_t seq) {
    //  Another process of the same user may have moved other groups' cursors: start from
    //  the file, not from what this one loaded.
    std::vector<std::string> lines;
    read_lines(path_, &lines);
    parse_cursors(lines, &entries_);
    bool found = false;
    for (auto& entry : entries_)
        if (entry.first == group) entry.second = seq, found = true;
    if (!found) entries_.emplace_back(group, seq);
    std::string contents;
    for (const auto& entry : entries_)
        contents += entry.first + " " + std::to_string(entry.second) + "\n";
    return write_file_atomic(path_, contents);
}

int read_user_options(const Args& args, const char* command, UserOptions* options) {
    const char* registry = args.value("registry");
    options->registry = registry ? registry : default_registry();
    const char* identity = args.value("identity");
    options->identity_path =
        identity ? identity : xdg_path("XDG_CONFIG_HOME", ".config", "zgm/identity");
    options->name = args.value("name");
    if (options->name &&
        (!*options->name || strlen(options->name) > ZGM_MAX_NAME || strpbrk(options->name, "\r\n")))
        return usage_error(command, "a --name is 1 to 64 bytes on one line");
    const char* timeout = args.value_or_default("timeout"); //  `zgm run` has no --timeout
    if (timeout) options->timeout_ms = atoi(timeout);
    options->json = args.has("json");
    return kExitOk;
}

static std::string default_name() {
    const char* user = getenv("USER");
    return user && *user && strlen(user) <= ZGM_MAX_NAME ? user : "user";
}

int open_session(const UserOptions& options, Session* session) {
    session->style = stdout_style(options.json);
    const std::string& path = options.identity_path;
    Identity identity;
    int found = read_identity(path, &identity);
    if (found < 0) {
        fprintf(stderr, "zgm: %s: not an identity file (32 hex digits, then a name)\n",
                path.c_str());
        return kExitRefused;
    }
    std::string name = options.name             ? options.name
                       : !identity.name.empty() ? identity.name
                                                : default_name();
    session->user = found ? zgm_user_new_with_id(name.c_str(), identity.id.c_str())
                          : zgm_user_new(name.c_str());
    if (!session->user) return report_error("cannot create the user", session->style);
    if (!found || identity.name != name) {
        identity.id = zgm_user_id(session->user);
        identity.name = name;
        if (!write_identity(path, identity)) {
            fprintf(stderr, "zgm: cannot write %s: %s\n", path.c_str(), strerror(errno));
            close_session(session);
            return kExitRefused;
        }
    }
    session->identity = identity;
    zgm_user_set_timeout(session->user, options.timeout_ms);
    if (zgm_user_connect(session->user, options.registry.c_str()) != 0) {
        int code = report_error(("cannot connect to " + options.registry).c_str(), session->style);
        close_session(session);
        return code;
    }
    session->cursors.load(dir_of(path) + "/cursors-" + identity.id);
    return kExitOk;
}

void close_session(Session* session) {
    zgm_user_destroy(&session->user);
}

bool is_followed(const Session& session, const std::string& group) {
    for (const std::string& name : session.followed)
        if (name == group) return true;
    return false;
}

void forget_followed(Session* session, const std::string& group) {
    auto& followed = session->followed;
    for (auto it = followed.begin(); it != followed.end(); ++it)
        if (*it == group) {
            followed.erase(it);
            return;
        }
}

int follow_group(Session* session, const std::string& group) {
    uint64_t after_seq = ZGM_FOLLOW_NOW;
    session->cursors.get(group, &after_seq);
    if (zgm_user_follow(session->user, group.c_str(), after_seq) != 0) return -1;
    if (!is_followed(*session, group)) session->followed.push_back(group);
    return 0;
}

int follow_member_groups(Session* session) {
    size_t count;
    zgm_group_info_t* groups = zgm_user_groups(session->user, &count);
    if (!groups) return -1;
    for (size_t i = 0; i < count; i++) {
        const char* name = groups[i].name;
        if (is_followed(*session, name) || follow_group(session, name) == 0 ||
            zgm_errno() == ZGM_ENOTMEMBER)
            continue;
        fprintf(stderr, "zgm: warning: cannot follow %s: %s\n", name, zgm_strerror());
    }
    free(groups);
    return 0;
}

void print_live(Session* session, const zgm_msg_t* msg) {
    print_message(stdout, msg, session->style);
    if (!session->cursors.set(zgm_msg_group(msg), zgm_msg_seq(msg)))
        fprintf(stderr, "zgm: warning: cannot save the cursor of %s: %s\n", zgm_msg_group(msg),
                strerror(errno));
}

} // namespace cli
} // namespace zgm
