/*  =========================================================================
    common.cc - what the parts of the zgm program share

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "core/clock.h"
#include "core/names.h"
#include "core/security.h"

#include <czmq.h>

#include <cerrno>
#include <cinttypes>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <langinfo.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zgm {
namespace cli {

int exit_code_for(int error) {
    switch ((zgm_error_t)error) {
    case ZGM_OK:
        return kExitOk;
    case ZGM_EINVAL:
        return kExitUsage;
    case ZGM_ETIMEOUT:
    case ZGM_EUNAVAILABLE:
    case ZGM_ENOTCONNECTED:
    case ZGM_EUNREACHABLE:
    case ZGM_EINDOUBT:
    case ZGM_ERATE:
        return kExitUnreachable;
    case ZGM_ENOTMEMBER:
    case ZGM_ENOTFOUND:
    case ZGM_EEXISTS:
    case ZGM_EALREADY:
    case ZGM_ETOOLARGE:
    case ZGM_EPROTO:
    case ZGM_ESTORAGE:
    case ZGM_ESYSTEM:
    case ZGM_ESERVER:
    case ZGM_EDENIED:
    case ZGM_ELIMIT:
        return kExitRefused;
    }
    return kExitRefused;
}

int usage_error(const char* command, const std::string& message) {
    fprintf(stderr, "zgm %s: %s\nTry 'zgm %s --help'.\n", command, message.c_str(), command);
    return kExitUsage;
}

int bad_value(const char* command, const std::string& where, const std::string& problem) {
    //  A configuration file's line is named as such, with no command line to try.
    return where.compare(0, 2, "--") == 0 ? usage_error(command, where + ": " + problem)
                                          : config_error(command, where + ": " + problem);
}

int check_endpoint(const Args& args, const char* command, const char* name,
                   const std::string& endpoint) {
    std::string problem = endpoint_problem(endpoint);
    return problem.empty() ? kExitOk : bad_value(command, args.where(name), problem);
}

int check_registry_endpoint(const Args& args, const char* command, const std::string& endpoint) {
    //  Not given: the default, or ZGM_REGISTRY's, named as such (no --registry to blame).
    const char* from_env = getenv("ZGM_REGISTRY");
    if (!args.value("registry") && from_env && *from_env) {
        std::string problem = endpoint_problem(endpoint);
        return problem.empty() ? kExitOk : config_error(command, "ZGM_REGISTRY: " + problem);
    }
    return check_endpoint(args, command, "registry", endpoint);
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
    //  A standard descriptor closed by whoever started the program would be the next one
    //  opened (one of libzmq's eventfds), read as input or written as output: each is
    //  /dev/null opened for reading instead, so that a closed stdin reads as its end and a
    //  write to a closed stdout fails (and the program says so, main.cc).
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDONLY) < 0)
            _exit(kExitRefused);
    //  Messages are UTF-8: libedit (the interactive client's) reads and shows a line's
    //  characters by the locale's, and in the C locale (the program's, or an environment
    //  with none set) it dropped every byte past ASCII ("héllo" was sent "hllo"). The
    //  environment's when it is UTF-8, else C.UTF-8 (glibc's, always there); the character
    //  type only, so that numbers and dates print as ever. Here, before any thread runs.
    const char* locale = setlocale(LC_CTYPE, "");
    if (!locale || strcmp(nl_langinfo(CODESET), "UTF-8") != 0) setlocale(LC_CTYPE, "C.UTF-8");
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

static std::string config_dir() {
    return xdg_path("XDG_CONFIG_HOME", ".config", "zgm");
}

std::string default_identity_path() {
    return config_dir() + "/identity";
}

std::string default_registry_key_file() {
    return config_dir() + "/registry.cert";
}

std::string default_servers_dir() {
    return config_dir() + "/servers";
}

std::string default_server_key_file(const char* instance) {
    return default_servers_dir() + "/" + (instance ? instance : "local") + ".cert";
}

bool file_exists(const std::string& path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0;
}

bool is_directory(const std::string& path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

int find_registry_key(const char* command, const char* given, const std::string& given_where,
                      bool insecure, int wait_ms, std::string* key) {
    key->clear();
    const char* from_env = getenv("ZGM_REGISTRY_KEY");
    std::string where;
    const char* text = nullptr;
    if (given) {
        text = given, where = given_where;
    } else if (from_env && *from_env) {
        text = from_env, where = "ZGM_REGISTRY_KEY";
    }
    char buffer[ZGM_KEY_SIZE];
    if (text) {
        if (zgm_key_read(text, buffer) != 0) return bad_value(command, where, zgm_strerror());
        *key = buffer;
        return kExitOk;
    }
    std::string file = default_registry_key_file();
    //  A registry started a moment ago (`zgm registry &` on the line before) may not have
    //  written it yet.
    int64_t deadline = zclock_mono() + wait_ms;
    while (!file_exists(file) && zclock_mono() < deadline && !stop_requested())
        zclock_sleep(50);
    if (file_exists(file)) {
        if (zgm_key_read(file.c_str(), buffer) != 0) {
            fprintf(stderr, "zgm %s: %s\n", command, zgm_strerror());
            return kExitUsage;
        }
        *key = buffer;
        return kExitOk;
    }
    if (insecure) return kExitOk;
    fprintf(stderr,
            "zgm %s: no registry key: give --registry-key KEY|FILE or set ZGM_REGISTRY_KEY "
            "(the registry prints its key when it starts), or start the registry here first: "
            "it writes %s\n",
            command, file.c_str());
    return kExitUsage;
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

bool is_v1_identity(const std::string& text, std::string* id, std::string* name) {
    size_t end = text.find('\n');
    std::string first = text.substr(0, end);
    if (!first.empty() && first.back() == '\r') first.pop_back();
    if (first.size() != 32 || strspn(first.c_str(), "0123456789abcdefABCDEF") != 32) return false;
    std::string rest = end == std::string::npos ? "" : text.substr(end + 1);
    rest = rest.substr(0, rest.find('\n'));
    if (!rest.empty() && rest.back() == '\r') rest.pop_back();
    *id = first;
    *name = rest;
    return true;
}

static std::string default_name() {
    const char* user = getenv("USER");
    return user && zgm::valid_display_name(user) ? user : "user";
}

//  The whole of a small file, or false if it cannot be read.
static bool read_small_file(const std::string& path, std::string* text) {
    FILE* file = fopen(path.c_str(), "re");
    if (!file) return false;
    char buffer[4096];
    size_t size = fread(buffer, 1, sizeof buffer, file);
    fclose(file);
    text->assign(buffer, size);
    return true;
}

int open_identity(const std::string& path, const char* name, Identity* identity) {
    identity->path = path;
    if (!make_dirs(dir_of(path))) {
        fprintf(stderr, "zgm: cannot create %s: %s\n", dir_of(path).c_str(), strerror(errno));
        return kExitRefused;
    }
    std::string text, old_id, old_name;
    bool secret = file_exists(path + "_secret");
    if (!secret && read_small_file(path, &text) && is_v1_identity(text, &old_id, &old_name)) {
        //  zgm 0.1: an id the user claimed. Ids are keys now, proven by the connection; the
        //  old one cannot be kept.
        std::string kept = name                                ? name
                           : zgm::valid_display_name(old_name) ? old_name
                                                               : default_name();
        zgm::Status status = zgm::save_key_pair(path, zgm::KeyPair::generate(), kept);
        if (!status.is_ok()) {
            fprintf(stderr, "zgm: cannot convert %s: %s\n", path.c_str(), status.message().c_str());
            return kExitRefused;
        }
        fprintf(stderr,
                "zgm: %s was a zgm 0.1 identity: it is now a key pair, named %s. The old id %s "
                "is gone (user ids are keys now, proven by each connection): join your groups "
                "again.\n",
                path.c_str(), kept.c_str(), old_id.c_str());
    } else if (!secret && !file_exists(path)) {
        std::string made = name ? name : default_name();
        if (zgm_keygen(path.c_str(), made.c_str()) != 0 && zgm_errno() != ZGM_EEXISTS) {
            fprintf(stderr, "zgm: cannot make the identity %s: %s\n", path.c_str(), zgm_strerror());
            return kExitRefused;
        }
    }
    zgm::KeyPair keys;
    std::string saved;
    zgm::Status status = zgm::load_key_pair(path, false, &keys, &saved);
    if (!status.is_ok()) {
        fprintf(stderr, "zgm: %s: not an identity (a key pair): %s\n", path.c_str(),
                status.message().c_str());
        return kExitRefused;
    }
    //  Only --name writes the file: a key pair without a name (a group server's, an admin's)
    //  is used as it is, under the default name.
    std::string wanted = name ? name : zgm::valid_display_name(saved) ? saved : default_name();
    if (name && wanted != saved) {
        status = zgm::save_key_pair(path, keys, wanted);
        if (!status.is_ok()) {
            fprintf(stderr, "zgm: cannot save the name in %s: %s\n", path.c_str(),
                    status.message().c_str());
            return kExitRefused;
        }
    }
    identity->key = keys.public_txt;
    identity->name = wanted;
    return kExitOk;
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

std::vector<std::string> Cursors::groups() const {
    std::vector<std::string> groups;
    for (const auto& entry : entries_)
        groups.push_back(entry.first);
    return groups;
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
    if (int code = check_registry_endpoint(args, command, options->registry)) return code;
    options->registry_key = args.value("registry-key");
    const char* identity = args.value("identity");
    options->identity_path = identity ? identity : default_identity_path();
    options->name = args.value("name");
    if (options->name && !zgm::valid_display_name(options->name))
        return usage_error(command, std::string("--name: ") + zgm::invalid_display_name_reason());
    const char* timeout = args.value_or_default("timeout"); //  `zgm run` has no --timeout
    if (timeout) options->timeout_ms = atoi(timeout);
    options->insecure = args.has("insecure");
    options->json = args.has("json");
    for (const char* name : {"registry", "registry-key", "identity", "timeout"})
        if (args.given(name)) {
            options->given.push_back(std::string("--") + name);
            options->given.push_back(args.value(name));
        }
    if (options->insecure) options->given.push_back("--insecure");
    return kExitOk;
}

int open_identity_only(const UserOptions& options, Session* session) {
    session->options = options;
    session->style = stdout_style(options.json);
    return open_identity(options.identity_path, options.name, &session->identity);
}

int open_session(const UserOptions& options, Session* session, const char* command) {
    int code = open_identity_only(options, session);
    if (code != kExitOk) return code;
    std::string registry_key;
    code = find_registry_key(command, options.registry_key, "--registry-key", options.insecure, 0,
                             &registry_key);
    if (code != kExitOk) return code;
    session->registry_key = registry_key;
    const Identity& identity = session->identity;
    session->user = zgm_user_new_with_key(identity.name.c_str(), identity.path.c_str());
    if (!session->user) return report_error("cannot create the user", session->style);
    zgm_user_set_timeout(session->user, options.timeout_ms);
    if (options.insecure) {
        fprintf(stderr, "zgm: warning: --insecure: no encryption, and keys are not proven; for "
                        "a trusted host only\n");
        zgm_user_set_insecure(session->user, 1);
    }
    if (zgm_user_connect(session->user, options.registry.c_str(),
                         options.insecure ? nullptr : registry_key.c_str()) != 0) {
        code = report_error(("cannot connect to " + options.registry).c_str(), session->style);
        close_session(session);
        return code;
    }
    //  Z85 keys may hold '/', so the cursors are named after the identity file, not the key.
    session->cursors.load(identity.path + ".cursors");
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

uint64_t cursor_or_now(const Session& session, const std::string& group) {
    uint64_t after_seq = ZGM_FOLLOW_NOW;
    session.cursors.get(group, &after_seq);
    return after_seq;
}

int follow_group(Session* session, const std::string& group) {
    if (zgm_user_follow(session->user, group.c_str(), cursor_or_now(*session, group)) != 0)
        return -1;
    if (!is_followed(*session, group)) session->followed.push_back(group);
    return 0;
}

std::string call_notes() {
    return zgm_errno() == ZGM_OK && strcmp(zgm_strerror(), "no error") != 0 ? zgm_strerror() : "";
}

int member_groups(Session* session, std::vector<std::string>* groups, bool* skipped) {
    groups->clear();
    size_t count = 0;
    zgm_group_t* mine = zgm_user_memberships(session->user, &count);
    if (!mine) return -1;
    std::string notes = call_notes();
    if (!notes.empty()) fprintf(stderr, "zgm: warning: %s\n", notes.c_str());
    if (skipped) *skipped = !notes.empty();
    for (size_t i = 0; i < count; i++)
        groups->push_back(mine[i].name);
    free(mine);
    return 0;
}

size_t follow_groups(Session* session, const std::vector<std::string>& groups,
                     const std::vector<uint64_t>& after_seqs, int* error) {
    if (groups.empty()) return 0;
    std::vector<const char*> names;
    for (const std::string& group : groups)
        names.push_back(group.c_str());
    int followed =
        zgm_user_follow_many(session->user, names.data(), after_seqs.data(), names.size());
    if (followed == (int)groups.size()) {
        for (const std::string& group : groups)
            if (!is_followed(*session, group)) session->followed.push_back(group);
        return groups.size();
    }
    //  Some could not be followed: one at a time, to know which, and why.
    size_t count = 0;
    for (size_t i = 0; i < groups.size(); i++) {
        if (zgm_user_follow(session->user, names[i], after_seqs[i]) != 0) {
            if (error) *error = zgm_errno();
            fprintf(stderr, "zgm: warning: cannot follow %s: %s\n", names[i], zgm_strerror());
            continue;
        }
        if (!is_followed(*session, groups[i])) session->followed.push_back(groups[i]);
        count++;
    }
    return count;
}

int follow_member_groups(Session* session, int* missed) {
    std::vector<std::string> groups;
    bool skipped = false;
    if (member_groups(session, &groups, &skipped) != 0) return -1;
    std::vector<uint64_t> after_seqs;
    for (const std::string& group : groups)
        after_seqs.push_back(cursor_or_now(*session, group));
    int error = ZGM_OK;
    follow_groups(session, groups, after_seqs, &error);
    if (missed) *missed = skipped ? ZGM_ETIMEOUT : error;
    return 0;
}

namespace {

const int64_t kRosterMs = 3000;       //  a roster is asked for again at most this often
const int kRosterWaitMs = 1000;       //  and waited for at most this long
const int64_t kRosterRetryMs = 30000; //  one not had is asked for again after this

//  Asked on the thread that prints: a group server slow to answer holds the messages
//  behind it for up to kRosterWaitMs, not for the user's whole timeout, each kRosterMs.
void load_roster(Session* session, const std::string& group) {
    Roster& roster = session->rosters[group];
    roster.loaded_ms = zgm::mono_ms();
    size_t count = 0;
    zgm_user_set_timeout(session->user, std::min(session->options.timeout_ms, kRosterWaitMs));
    zgm_member_t* members = zgm_user_members(session->user, group.c_str(), &count);
    zgm_user_set_timeout(session->user, session->options.timeout_ms);
    //  Not had: names are shown without keys, and it is asked again after a longer while
    //  (a list too long for the second would otherwise hold the output a second each time).
    if (!members) {
        roster.loaded_ms += kRosterRetryMs - kRosterMs;
        return;
    }
    roster.names.clear();
    for (size_t i = 0; i < count; i++)
        if (members[i].role != ZGM_ROLE_ADDED) roster.names[members[i].key] = members[i].name;
    free(members);
}

} // namespace

const char* sender_label(Session* session, const zgm_msg_t* msg, std::string* label) {
    if (session->style.json) return nullptr;
    std::string group = zgm_msg_group(msg);
    const char* key = zgm_msg_sender(msg);
    Roster& roster = session->rosters[group];
    if (!roster.names.count(key) &&
        (roster.loaded_ms < 0 || zgm::mono_ms() - roster.loaded_ms >= kRosterMs))
        load_roster(session, group);
    const char* name = zgm_msg_sender_name(msg);
    for (const auto& member : roster.names)
        if (member.first != key && member.second == name) {
            *label = disambiguated(name, key);
            return label->c_str();
        }
    return nullptr;
}

bool print_live(Session* session, const zgm_msg_t* msg, const char* label) {
    if (uint64_t missed = zgm_msg_missed(msg)) {
        fflush(stdout);
        fprintf(stderr,
                "zgm: note: %" PRIu64 " message%s of %s before #%" PRIu64
                " %s dropped by the group's retention before you could get %s\n",
                missed, missed == 1 ? "" : "s", zgm_msg_group(msg), zgm_msg_seq(msg),
                missed == 1 ? "was" : "were", missed == 1 ? "it" : "them");
    }
    if (!print_message(stdout, msg, session->style, label)) return false;
    if (!session->cursors.set(zgm_msg_group(msg), zgm_msg_seq(msg)))
        fprintf(stderr, "zgm: warning: cannot save the cursor of %s: %s\n", zgm_msg_group(msg),
                strerror(errno));
    return true;
}

} // namespace cli
} // namespace zgm
