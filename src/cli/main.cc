/*  =========================================================================
    main.cc - the zgm program: dispatch, and the registry, server, run and help commands

        zgm registry [--config FILE] [--bind ENDPOINT] [--expiry MS] [--quiet]
        zgm server [--config FILE [--instance NAME]] [--group NAME]... [OPTIONS]
        zgm user [OPTIONS] [SUBCOMMAND ...]      (user_commands.cc, interactive.cc)
        zgm stats [OPTIONS] [GROUP] [--watch [SECONDS]]     (stats.cc)
        zgm run [--data DIR] [--name NAME] [--identity FILE]
        zgm keygen [FILE] [--name NAME]
        zgm help [COMMAND [SUBCOMMAND]]     (also zgm user help [SUBCOMMAND])

    The commands, their options and every --help text are in src/cli/commands.toml (and so
    in cli/cli_spec.h); docs/cli.md and the man pages are made from it too.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "cli/config.h"
#include "cli/timefmt.h"
#include "core/log.h"
#include "core/names.h"
#include "net/sockets.h"

#include <czmq.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

using namespace zgm::cli;

namespace {

//  The command of a name, also of a deprecated alias.
const spec::Command* find_command(const char* name) {
    for (const spec::Command& command : spec::kCommands)
        if (strcmp(name, command.name) == 0 ||
            (command.deprecated_alias && strcmp(name, command.deprecated_alias) == 0))
            return &command;
    return nullptr;
}

int print_usage(const char* usage) {
    fputs(usage, stdout);
    return kExitOk;
}

//  Reads the --config file into args: the command's section, and section/NAME with
//  --instance NAME. Returns -1 to go on, or kExitUsage after printing why not.
int read_config(const spec::Command& command, Args* args) {
    const char* path = args->value("config");
    const char* instance = command.takes_instances ? args->value("instance") : nullptr;
    if (instance && !zgm::valid_name(instance))
        return usage_error(command.name,
                           "an --instance name is 1 to 64 letters, digits, '-', '_' or '.'");
    if (!path) {
        if (instance) return usage_error(command.name, "--instance names a section of --config");
        return -1;
    }
    ConfigFile file;
    std::string error;
    if (!file.load(path, &error)) return config_error(command.name, error);
    if (instance && !file.section(std::string(command.section) + "/" + instance))
        return config_error(command.name, std::string(path) + ": no section " + command.section +
                                              "/" + instance + " for --instance " + instance);
    apply_config(file, command, instance, args);
    return -1;
}

//  Parses a command's words and its configuration file: prints the usage and returns kExitOk
//  on --help, returns kExitUsage on a bad option or file, or -1 to go on.
int parse_command(const spec::Command& command, int argc, char** argv, Args* args) {
    if (!args->parse(argc, argv, command.options, nullptr))
        return usage_error(command.name, args->error());
    if (args->help()) return print_usage(command.usage);
    const std::vector<std::string>& words = args->positional();
    if (words.size() > command.max_words)
        return usage_error(command.name, "unexpected argument '" + words[command.max_words] + "'");
    if (words.size() < command.min_words) return usage_error(command.name, "missing arguments");
    if (command.section) {
        int code = read_config(command, args);
        if (code >= 0) return code;
    }
    if (!args->check_exclusions()) return usage_error(command.name, args->error());
    return -1;
}

//  An option of milliseconds, checked as it was parsed, or its default.
int msecs(const Args& args, const char* name) {
    return atoi(args.value_or_default(name));
}

//  The endpoint with a wildcard port replaced by the bound one.
std::string bound_endpoint(const std::string& endpoint, int port) {
    size_t colon = endpoint.rfind(':');
    if (port <= 0 || colon == std::string::npos) return endpoint;
    return endpoint.substr(0, colon + 1) + std::to_string(port);
}

//  The exit code of a server that could not start: 2 for a bad argument, else 1.
int server_failure() {
    return zgm_errno() == ZGM_EINVAL ? kExitUsage : kExitRefused;
}

void wait_for_stop() {
    while (!stop_requested())
        poll(nullptr, 0, 200);
}

//  How a command reports a warning or an error while it runs. The servers write log lines
//  (with the time, or the priority for the journal), whatever --quiet says; `zgm run`
//  writes plain lines, for the person at the client.
struct Reporter {
    const char* command;
    bool log;

    void say(int priority, const char* format, ...) const __attribute__((format(printf, 3, 4))) {
        char text[1024];
        va_list args;
        va_start(args, format);
        vsnprintf(text, sizeof text, format, args);
        va_end(args);
        if (log)
            zgm::log_line(priority, "zgm %s: %s", command, text);
        else
            fprintf(stderr, "zgm %s: %s%s\n", command,
                    priority == zgm::kLogWarning ? "warning: " : "", text);
    }
};

//  A limit option the library refused, set at where: a value under its least is a usage
//  error, as any bad value (the library's reason, "max-frame: at least ...", named by where);
//  anything else is logged.
int limit_refused(const Reporter& report, const std::string& where, const char* option) {
    std::string why = zgm_strerror();
    std::string named = std::string(option) + ": ";
    if (why.compare(0, named.size(), named) == 0) why.erase(0, named.size());
    if (zgm_errno() == ZGM_EINVAL) return bad_value(report.command, where, why);
    report.say(zgm::kLogError, "%s: %s", where.c_str(), why.c_str());
    return server_failure();
}

//  A limit option, checked as it was parsed, or its default.
uint64_t number(const Args& args, const char* name) {
    uint64_t value = 0;
    parse_uint(args.value_or_default(name), UINT64_MAX, &value);
    return value;
}

//  The key file of a role: its --key, else the default; its directory is made. Empty after
//  reporting why not.
std::string key_file(const Args& args, const std::string& fallback, const Reporter& report) {
    std::string path = args.value("key") ? args.value("key") : fallback;
    if (!make_dirs(dir_of(path))) {
        report.say(zgm::kLogError, "cannot create %s: %s", dir_of(path).c_str(), strerror(errno));
        return "";
    }
    return path;
}

//  where: "--insecure", or "FILE:LINE: insecure" when a configuration file set it.
void warn_insecure(const Reporter& report, const std::string& where) {
    report.say(zgm::kLogWarning,
               "%s: no encryption, and keys are not proven; for a trusted host only",
               where.c_str());
}

struct Limit {
    const char* option;
    zgm_limit_t limit;
};

//  The registry's own setup: key, trust, limits. kExitOk or an exit code after reporting.
int set_up_registry(zgm_registry_t* registry, const Args& args, const Reporter& report,
                    std::string* key_path) {
    if (args.has("insecure")) {
        warn_insecure(report, args.where("insecure"));
        zgm_registry_set_insecure(registry, 1);
    }
    *key_path = key_file(args, default_registry_key_file(), report);
    if (key_path->empty()) return kExitRefused;
    if (zgm_registry_set_key(registry, key_path->c_str()) != 0) {
        //  Where the path came from: an option, a configuration file's line, or the default.
        std::string where = args.has("key") ? args.where("key") + " " : "";
        report.say(zgm::kLogError, "%s%s: %s", where.c_str(), key_path->c_str(), zgm_strerror());
        return kExitRefused;
    }
    std::vector<std::string> trusted = args.values("trust");
    if (trusted.empty()) {
        //  The directory `zgm server`'s default key file is in.
        std::string dir = default_servers_dir();
        if (!make_dirs(dir)) {
            report.say(zgm::kLogError, "cannot create %s: %s", dir.c_str(), strerror(errno));
            return kExitRefused;
        }
        trusted.push_back(dir);
    }
    for (const std::string& trust : trusted) {
        int rc = is_directory(trust) ? zgm_registry_trust_dir(registry, trust.c_str())
                                     : zgm_registry_trust(registry, trust.c_str());
        if (rc != 0) {
            std::string where = args.has("trust") ? args.where("trust", trust) + " " : "";
            report.say(zgm::kLogError, "%s%s: %s", where.c_str(), trust.c_str(), zgm_strerror());
            return server_failure();
        }
    }
    for (const std::string& admin : args.values("admin"))
        if (zgm_registry_add_admin(registry, admin.c_str()) != 0) {
            report.say(zgm::kLogError, "%s %s: %s", args.where("admin", admin).c_str(),
                       admin.c_str(), zgm_strerror());
            return server_failure();
        }
    const Limit limits[] = {{"max-rate", ZGM_LIMIT_RATE},
                            {"max-connections", ZGM_LIMIT_CONNECTIONS},
                            {"max-frame", ZGM_LIMIT_FRAME},
                            {"max-unread-bytes", ZGM_LIMIT_UNREAD_BYTES},
                            {"max-unread-total", ZGM_LIMIT_UNREAD_TOTAL},
                            {"max-groups", ZGM_LIMIT_GROUPS}};
    for (const Limit& limit : limits)
        if (args.value_or_default(limit.option) && //  `zgm run` has none: the library's
            zgm_registry_set_limit(registry, limit.limit, number(args, limit.option)) != 0)
            return limit_refused(report, args.where(limit.option), limit.option);
    return kExitOk;
}

int registry_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    int code = parse_command(command, argc, argv, &args);
    if (code >= 0) return code;
    Reporter report{command.name, true};
    const char* endpoint = args.value_or_default("bind");
    if (int problem = check_endpoint(args, command.name, "bind", endpoint)) return problem;
    zgm_set_verbose(!args.has("quiet"));
    zgm_registry_t* registry = zgm_registry_new();
    if (!registry) {
        report.say(zgm::kLogError, "%s", zgm_strerror());
        return kExitRefused;
    }
    std::string key_path;
    code = set_up_registry(registry, args, report, &key_path);
    if (code == kExitOk) zgm_registry_set_expiry(registry, msecs(args, "expiry"));
    int port = code == kExitOk ? zgm_registry_bind(registry, endpoint) : -1;
    if (code == kExitOk && port < 0) {
        report.say(zgm::kLogError, "%s: %s", args.where("bind").c_str(), zgm_strerror());
        code = server_failure();
    }
    if (code == kExitOk) {
        //  An ipc:// endpoint has no port.
        if (port > 0)
            printf("zgm registry: listening on %s (port %d)\n", endpoint, port);
        else
            printf("zgm registry: listening on %s\n", endpoint);
        printf("zgm registry: key %s (%s)\n", zgm_registry_key(registry), key_path.c_str());
        fflush(stdout);
        wait_for_stop();
    }
    zgm_registry_destroy(&registry);
    return code;
}

//  What a group server is made with.
struct ServerSettings {
    std::string data_dir;   //  empty: in memory
    std::string key_file;   //  its key pair
    std::string durability; //  empty: the library's (full; setting it opens the store again)
    int heartbeat = 0;      //  0: the library's
    bool accept_new = false;
    bool insecure = false;
    std::vector<std::string> groups;
    std::vector<std::string> admins; //  keys that may read its figures
    std::string owner;               //  of the groups; empty: none given
    zgm_policy_t policy = ZGM_POLICY_OPEN;
    //  Each limit option given, with where it was set ("--max-frame", "FILE:LINE: max-frame").
    struct LimitSetting {
        const char* option;
        std::string where;
        zgm_limit_t limit;
        uint64_t value;
    };
    std::vector<LimitSetting> limits;
    uint64_t retain_count = 0, retain_bytes = 0, retain_age_ms = 0;
    const Args* args = nullptr; //  where the options came from; none for `zgm run`

    //  How to name an option in a message: "--heartbeat", or "FILE:LINE: heartbeat".
    std::string where(const char* name) const {
        return args ? args->where(name) : std::string("--") + name;
    }
    std::string where(const char* name, const std::string& value) const {
        return args ? args->where(name, value) : std::string("--") + name;
    }
};

//  Makes a group server; reports why not and returns NULL on failure, with *code the exit
//  code. The C API calls of the group server are here and in start_group_server only.
zgm_server_t* new_group_server(const ServerSettings& settings, const Reporter& report, int* code) {
    *code = kExitRefused;
    const char* data_dir = settings.data_dir.empty() ? nullptr : settings.data_dir.c_str();
    //  The limits first, on a group server with no store: a value the library refuses is a
    //  usage error said before the store is made or opened (an older store would have been
    //  migrated, which an older zgm cannot open).
    if (data_dir) {
        zgm_server_t* probe = zgm_server_new(nullptr);
        for (const auto& limit : settings.limits)
            if (probe && zgm_server_set_limit(probe, limit.limit, limit.value) != 0) {
                *code = limit_refused(report, limit.where, limit.option);
                zgm_server_destroy(&probe);
                return nullptr;
            }
        zgm_server_destroy(&probe);
    }
    if (data_dir && !make_dirs(data_dir)) {
        report.say(zgm::kLogError, "cannot create %s: %s", data_dir, strerror(errno));
        return nullptr;
    }
    zgm_server_t* server = zgm_server_new(data_dir);
    if (!server) {
        report.say(zgm::kLogError, "cannot open the store in %s: %s",
                   data_dir ? data_dir : "memory", zgm_strerror());
        return nullptr;
    }
    auto failed = [&](const char* what) {
        report.say(zgm::kLogError, "%s: %s", what, zgm_strerror());
        *code = server_failure();
        zgm_server_destroy(&server);
        return nullptr;
    };
    if (settings.insecure) {
        warn_insecure(report, settings.where("insecure"));
        zgm_server_set_insecure(server, 1);
    }
    if (zgm_server_set_key(server, settings.key_file.c_str()) != 0)
        return failed((settings.where("key") + " " + settings.key_file).c_str());
    if (!settings.durability.empty() &&
        zgm_server_set_durability(server, settings.durability.c_str()) != 0)
        return failed(settings.where("durability").c_str());
    if (settings.heartbeat) zgm_server_set_heartbeat(server, settings.heartbeat);
    //  A registry drops a server silent for its --expiry (3000 ms unless told otherwise).
    if (settings.heartbeat >= 3000)
        report.say(zgm::kLogWarning,
                   "%s %d: a registry with the default --expiry (3000 ms) drops this "
                   "server's groups between heartbeats; keep it well under the registry's expiry",
                   settings.where("heartbeat").c_str(), settings.heartbeat);
    zgm_server_set_accept_new(server, settings.accept_new);
    for (const std::string& admin : settings.admins)
        if (zgm_server_add_admin(server, admin.c_str()) != 0)
            return failed((settings.where("admin", admin) + " " + admin).c_str());
    for (const auto& limit : settings.limits)
        if (zgm_server_set_limit(server, limit.limit, limit.value) != 0) {
            *code = limit_refused(report, limit.where, limit.option);
            zgm_server_destroy(&server);
            return nullptr;
        }
    const char* owner = settings.owner.empty() ? nullptr : settings.owner.c_str();
    for (const std::string& group : settings.groups)
        if (zgm_server_add(server, group.c_str(), owner, settings.policy) != 0)
            return failed(("cannot host " + group).c_str());
    if ((settings.retain_count || settings.retain_bytes || settings.retain_age_ms) &&
        zgm_server_set_retention(server, nullptr, settings.retain_count, settings.retain_bytes,
                                 settings.retain_age_ms) != 0)
        return failed("retention");
    *code = kExitOk;
    return server;
}

//  Binds and registers a group server, on BIND and at the --advertise of ARGS, which name
//  them in an error (their option, or a configuration file's line). Returns kExitOk (also
//  when the registry is not reachable yet: the server keeps trying) or an exit code after
//  reporting why.
int start_group_server(zgm_server_t* server, const Reporter& report, const Args& args,
                       const std::string& bind, const std::string& registry,
                       const std::string& registry_key, std::string* endpoint) {
    int port = zgm_server_bind(server, bind.c_str());
    if (port < 0) {
        report.say(zgm::kLogError, "%s: %s", args.where("bind").c_str(), zgm_strerror());
        return server_failure();
    }
    *endpoint = bound_endpoint(bind, port);
    const char* advertise = args.value("advertise");
    if (advertise && zgm_server_set_advertise(server, advertise) != 0) {
        report.say(zgm::kLogError, "%s: %s", args.where("advertise").c_str(), zgm_strerror());
        return server_failure();
    }
    //  Every address asked for (as a server for other machines is, the packaged
    //  configuration too), the registry reached at a loopback one: users are given the
    //  address the registry is reached by, which users on other machines cannot reach. (The
    //  default bind is every address too, for one machine: not said. A command without
    //  --advertise, `zgm run`, says its own.)
    if (args.has("bind") && args.accepts("advertise") && !advertise && zgm::any_address(bind) &&
        zgm::loopback_address(registry))
        report.say(zgm::kLogWarning,
                   "%s: users are given a loopback address for this server (the address this "
                   "host reaches the registry at %s by), which users on other machines cannot "
                   "reach: give the address they can with --advertise",
                   args.where("bind").c_str(), registry.c_str());
    const char* key = registry_key.empty() ? nullptr : registry_key.c_str();
    int rc = zgm_server_connect(server, registry.c_str(), key);
    //  Stopped while it waited for the registry: nothing more to say or try.
    if (stop_requested()) return kExitOk;
    //  A registry reads its trusted directory again for an unknown key at most once a
    //  second: a key file made a moment ago (this server's first start) may not be in what
    //  it read last. Once more, after that second.
    if (rc != 0 && zgm_errno() == ZGM_EDENIED) {
        for (int waited = 0; waited < 1200 && !stop_requested(); waited += 50)
            poll(nullptr, 0, 50);
        if (stop_requested()) return kExitOk;
        rc = zgm_server_connect(server, registry.c_str(), key);
        if (stop_requested()) return kExitOk;
    }
    if (rc != 0) {
        if (zgm_errno() != ZGM_ETIMEOUT) {
            report.say(zgm::kLogError, "%s", zgm_strerror());
            return server_failure();
        }
        report.say(zgm::kLogWarning,
                   "the registry at %s is not reachable yet (not started yet, or a handshake "
                   "that fails: a wrong --registry-key, or --insecure on one side only?); "
                   "trying on",
                   registry.c_str());
    }
    return kExitOk;
}

//  The store of `zgm server`: --data (or the data key), else the default. An instance's
//  store is a directory of its own below a data directory shared by every instance (the
//  default, or the data key of the section all instances read).
std::string server_data_dir(const Args& args, const char* instance) {
    std::string section = args.section_of("data");
    std::string dir = args.has("data") ? args.value("data") : default_store_dir();
    bool own = args.given("data") || (instance && section.find('/') != std::string::npos);
    if (instance && !own) dir += std::string("/") + instance;
    return dir;
}

int server_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    int code = parse_command(command, argc, argv, &args);
    if (code >= 0) return code;
    ServerSettings settings;
    settings.args = &args;
    //  Each group once, in the order given (a name given twice was hosted and said twice).
    for (const std::string& group : args.values("group"))
        if (std::find(settings.groups.begin(), settings.groups.end(), group) ==
            settings.groups.end())
            settings.groups.push_back(group);
    //  A name no group may have stops the command before it starts, saying where it came
    //  from (the file and line of a configuration file's).
    for (const std::string& group : settings.groups)
        if (!zgm::valid_name(group))
            return bad_value(command.name, args.where("group", group) + " '" + group + "'",
                             zgm::invalid_name_reason());
    settings.admins = args.values("admin");
    settings.accept_new = args.has("accept-new");
    if (settings.groups.empty() && !settings.accept_new)
        return usage_error(command.name, "name a --group to host, or --accept-new");
    const char* instance = args.value("instance");
    if (!args.has("memory")) settings.data_dir = server_data_dir(args, instance);
    if (args.has("durability")) settings.durability = args.value("durability");
    settings.heartbeat = msecs(args, "heartbeat");
    settings.insecure = args.has("insecure");
    if (const char* owner = args.value("owner")) {
        char key[ZGM_KEY_SIZE];
        if (zgm_key_read(owner, key) != 0)
            return bad_value(command.name, args.where("owner"), zgm_strerror());
        settings.owner = key;
    }
    settings.policy = strcmp(args.value_or_default("policy"), "members") == 0 ? ZGM_POLICY_MEMBERS
                                                                              : ZGM_POLICY_OPEN;
    const Limit limits[] = {{"max-rate", ZGM_LIMIT_RATE},
                            {"max-connections", ZGM_LIMIT_CONNECTIONS},
                            {"max-frame", ZGM_LIMIT_FRAME},
                            {"max-groups", ZGM_LIMIT_GROUPS},
                            {"max-groups-per-owner", ZGM_LIMIT_GROUPS_PER_OWNER},
                            {"max-members", ZGM_LIMIT_MEMBERS},
                            {"max-follows", ZGM_LIMIT_FOLLOWS},
                            {"max-follower-bytes", ZGM_LIMIT_FOLLOWER_BYTES},
                            {"max-recent-bytes", ZGM_LIMIT_RECENT_BYTES},
                            {"max-unread-bytes", ZGM_LIMIT_UNREAD_BYTES},
                            {"max-unread-total", ZGM_LIMIT_UNREAD_TOTAL}};
    for (const Limit& limit : limits)
        settings.limits.push_back(
            {limit.option, args.where(limit.option), limit.limit, number(args, limit.option)});
    settings.retain_count = number(args, "retain-count");
    settings.retain_bytes = number(args, "retain-bytes");
    parse_duration(args.value_or_default("retain-age"), &settings.retain_age_ms);
    std::string registry = args.value("registry") ? args.value("registry") : default_registry();
    //  Before anything listens or opens (it listened, then failed on it).
    if (int problem = check_registry_endpoint(args, command.name, registry)) return problem;
    std::string bind = args.value_or_default("bind");
    if (int problem = check_endpoint(args, command.name, "bind", bind)) return problem;
    if (const char* advertise = args.value("advertise"))
        if (int problem = check_endpoint(args, command.name, "advertise", advertise))
            return problem;

    Reporter report{command.name, true};
    std::string registry_key;
    code = find_registry_key(command.name, args.value("registry-key"), args.where("registry-key"),
                             settings.insecure, 2000, &registry_key);
    if (code != kExitOk) return code;
    settings.key_file = key_file(args, default_server_key_file(instance), report);
    if (settings.key_file.empty()) return kExitRefused;
    zgm_set_verbose(!args.has("quiet"));
    zgm_server_t* server = new_group_server(settings, report, &code);
    if (!server) return code;
    std::string endpoint;
    code = start_group_server(server, report, args, bind, registry, registry_key, &endpoint);
    if (code == kExitOk && !stop_requested()) {
        //  The --group groups; a store's own (served again) are not known here.
        std::string names;
        for (const std::string& group : settings.groups)
            names += (names.empty() ? "" : ", ") + group;
        if (!settings.data_dir.empty())
            names += names.empty() ? "the groups of its store" : " and the groups of its store";
        printf("zgm %s: serving %s on %s%s\n", command.name,
               names.empty() ? "no groups yet" : names.c_str(), endpoint.c_str(),
               settings.accept_new ? " (accepting new groups)" : "");
        printf("zgm %s: key %s (%s)\n", command.name, zgm_server_key(server),
               settings.key_file.c_str());
        if (!settings.data_dir.empty())
            printf("zgm %s: store in %s\n", command.name, settings.data_dir.c_str());
        fflush(stdout);
        wait_for_stop();
    }
    zgm_server_destroy(&server);
    return code;
}

int run_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    int code = parse_command(command, argc, argv, &args);
    if (code >= 0) return code;
    //  The registry on --bind; by default this machine's loopback only (the run is for
    //  trying zgm on one machine), port 5570 or any free one when that is taken. The group
    //  server listens on the registry's address, any free port.
    std::string bind = args.value_or_default("bind");
    if (int problem = check_endpoint(args, command.name, "bind", bind)) return problem;
    std::string host = zgm::tcp_host(bind);
    if (host.empty())
        return usage_error(command.name, "--bind: a tcp:// endpoint, not '" + bind + "'");
    UserOptions options;
    code = read_user_options(args, command.name, &options);
    if (code != kExitOk) return code;
    Reporter report{command.name, false};
    //  The user first: it owns general and random.
    Session session;
    code = open_identity_only(options, &session);
    if (code != kExitOk) return code;
    ServerSettings settings;
    settings.data_dir = args.value("data") ? args.value("data") : default_store_dir();
    settings.accept_new = true;
    settings.groups = {"general", "random"};
    settings.owner = session.identity.key;
    settings.key_file = key_file(args, default_server_key_file(nullptr), report);

    //  The registry with the default key file, so that `zgm user` in another terminal finds
    //  its key; it trusts this run's group server, and the default directory as `zgm
    //  registry` does.
    zgm_registry_t* registry = zgm_registry_new();
    if (!registry || settings.key_file.empty()) {
        if (!registry) report.say(zgm::kLogError, "%s", zgm_strerror());
        zgm_registry_destroy(&registry);
        return kExitRefused;
    }
    std::string registry_key_path;
    code = set_up_registry(registry, args, report, &registry_key_path);
    int port = -1;
    if (code == kExitOk) {
        port = zgm_registry_bind(registry, bind.c_str());
        if (port < 0 && !args.given("bind")) {
            bind = "tcp://" + host + ":*";
            port = zgm_registry_bind(registry, bind.c_str());
        }
        if (port < 0) {
            report.say(zgm::kLogError, "cannot bind the registry: %s", zgm_strerror());
            code = server_failure();
        }
    }
    zgm_server_t* server = nullptr;
    if (code == kExitOk) {
        //  On every address, the group server and the user reach the registry at an address
        //  of this host that other machines may reach: users are given the group server's
        //  address as the registry is reached by it (a loopback one would send users on
        //  other machines to themselves).
        std::string reach = host;
        if (zgm::any_address(bind)) {
            reach = zgm::outward_address();
            if (reach.empty()) {
                reach = "127.0.0.1";
                report.say(zgm::kLogWarning,
                           "this host has no address but its loopback: users on other "
                           "machines cannot reach the group server");
            }
        }
        options.registry = "tcp://" + reach + ":" + std::to_string(port);
        printf("zgm run: registry on %s (port %d%s)\n", bind.c_str(), port,
               args.given("bind") || port == 5570 ? "" : "; 5570 is taken");
        server = new_group_server(settings, report, &code);
    }
    std::string endpoint;
    if (server && zgm_registry_trust(registry, zgm_server_key(server)) != 0) {
        report.say(zgm::kLogError, "cannot trust the group server: %s", zgm_strerror());
        code = kExitRefused;
    }
    if (server && code == kExitOk)
        code = start_group_server(server, report, args, "tcp://" + host + ":*", options.registry,
                                  zgm_registry_key(registry), &endpoint);
    if (code == kExitOk && !stop_requested()) {
        std::string given = zgm::any_address(endpoint)
                                ? " (given to users as tcp://" + zgm::tcp_host(options.registry) +
                                      ":" + std::to_string(zgm::endpoint_port(endpoint)) + ")"
                                : "";
        printf("zgm run: serving general, random and the groups of its store on %s%s, data in "
               "%s\n",
               endpoint.c_str(), given.c_str(), settings.data_dir.c_str());
        options.registry_key = zgm_registry_key(registry);
        code = open_session(options, &session);
    }
    if (code == kExitOk && session.user) { //  (none when stopped while the server started)
        for (const char* group : {"general", "random"})
            if (zgm_user_join(session.user, group) != 0 && zgm_errno() != ZGM_EALREADY)
                report.say(zgm::kLogError, "cannot join %s: %s", group, zgm_strerror());
        code = run_interactive(&session);
    }
    close_session(&session);
    zgm_server_destroy(&server);
    zgm_registry_destroy(&registry);
    return code;
}

//  zgm keygen [FILE] [--name NAME]: a new key pair, never over an existing file.
int keygen_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    int code = parse_command(command, argc, argv, &args);
    if (code >= 0) return code;
    const std::vector<std::string>& words = args.positional();
    std::string path = words.empty() ? default_identity_path() : words[0];
    if (path.empty()) return usage_error(command.name, "FILE is empty");
    const char* name = args.value("name");
    if (name && !zgm::valid_display_name(name))
        return usage_error(command.name,
                           std::string("--name: ") + zgm::invalid_display_name_reason());
    for (const std::string& file : {path, path + "_secret"})
        if (file_exists(file)) {
            fprintf(stderr, "zgm keygen: %s exists: not replaced (a key pair is an identity)\n",
                    file.c_str());
            return kExitRefused;
        }
    if (!make_dirs(dir_of(path))) {
        fprintf(stderr, "zgm keygen: cannot create %s: %s\n", dir_of(path).c_str(),
                strerror(errno));
        return kExitRefused;
    }
    if (zgm_keygen(path.c_str(), name) != 0) {
        fprintf(stderr, "zgm keygen: %s\n", zgm_strerror());
        return exit_code_for(zgm_errno());
    }
    char key[ZGM_KEY_SIZE];
    if (zgm_key_read(path.c_str(), key) != 0) {
        fprintf(stderr, "zgm keygen: %s\n", zgm_strerror());
        return kExitRefused;
    }
    printf("%s\n", key);
    return kExitOk;
}

//  zgm help [COMMAND [SUBCOMMAND]]: the --help of what it names.
int help_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    int code = parse_command(command, argc, argv, &args);
    if (code >= 0) return code;
    const std::vector<std::string>& words = args.positional();
    if (words.empty()) return print_usage(spec::kProgramUsage);
    const spec::Command* named = find_command(words[0].c_str());
    if (!named) return usage_error(command.name, "unknown command '" + words[0] + "'");
    if (words.size() == 1) return print_usage(named->usage);
    for (size_t i = 0; i < named->subcommand_count; i++)
        if (words[1] == named->subcommands[i].name) return print_usage(named->subcommands[i].usage);
    //  A subcommand that became a command ("user stats"): its usage.
    std::string former = words[0] + " " + words[1];
    for (const spec::Command& moved : spec::kCommands)
        if (moved.deprecated_alias && former == moved.deprecated_alias)
            return print_usage(moved.usage);
    //  A word after a command that has none (registry, server, stats, ...) names no
    //  subcommand: said as such, not as an unknown one.
    if (named->subcommand_count == 0)
        return usage_error(command.name,
                           std::string("'zgm ") + named->name + "' has no subcommands");
    //  Said as 'zgm COMMAND NOSUCH' says it: the list to choose from is that command's --help.
    return usage_error(named->name, "unknown subcommand '" + words[1] + "'");
}

} // namespace

namespace zgm {
namespace cli {

bool is_help_subcommand(const spec::Command& command, const char* word) {
    if (strcmp(word, "help") != 0 || command.subcommand_count == 0) return false;
    for (size_t i = 0; i < command.subcommand_count; i++)
        if (strcmp(command.subcommands[i].name, "help") == 0) return false;
    return true;
}

int subcommand_help(const spec::Command& command, int argc, char** argv) {
    std::vector<char*> words;
    std::string name = command.name;
    words.push_back(&name[0]);
    words.insert(words.end(), argv, argv + argc);
    words.push_back(nullptr);
    const spec::Command* help = find_command("help");
    return help_main(*help, (int)words.size() - 1, words.data());
}

} // namespace cli
} // namespace zgm

namespace {

int run_command(int argc, char** argv) {
    if (argc < 2) {
        fputs(spec::kProgramUsage, stderr);
        return kExitUsage;
    }
    const char* name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0)
        return print_usage(spec::kProgramUsage);
    if (strcmp(name, "--version") == 0) {
        printf("zgm %d.%d.%d\n", ZGM_VERSION_MAJOR, ZGM_VERSION_MINOR, ZGM_VERSION_PATCH);
        return kExitOk;
    }
    const spec::Command* command = find_command(name);
    if (!command) {
        fprintf(stderr, "zgm: unknown command '%s'\nTry 'zgm --help'.\n", name);
        return kExitUsage;
    }
    if (strcmp(name, command->name) != 0)
        fprintf(stderr, "zgm: 'zgm %s' is deprecated; use 'zgm %s'\n", name, command->name);
    switch (command->id) {
    case spec::CommandId::kRegistry:
        return registry_main(*command, argc - 2, argv + 2);
    case spec::CommandId::kServer:
        return server_main(*command, argc - 2, argv + 2);
    case spec::CommandId::kUser:
        return user_main(argc - 2, argv + 2);
    case spec::CommandId::kStats:
        return stats_main(*command, argc - 2, argv + 2);
    case spec::CommandId::kRun:
        return run_main(*command, argc - 2, argv + 2);
    case spec::CommandId::kKeygen:
        return keygen_main(*command, argc - 2, argv + 2);
    case spec::CommandId::kHelp:
        return help_main(*command, argc - 2, argv + 2);
    }
    return kExitUsage;
}

} // namespace

int main(int argc, char** argv) {
    start_program();
    int code = run_command(argc, argv);
    //  What could not be written (a full disk, a closed descriptor) is an error: a script
    //  must not take output that was lost for the command's. (A closed pipe ends the program
    //  by SIGPIPE first, as it does any program.)
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "zgm: cannot write the output: %s\n",
                errno ? strerror(errno) : "write error");
        if (code == kExitOk) code = kExitRefused;
    }
    return code;
}
