/*  =========================================================================
    main.cc - the zgm program: dispatch, and the registry, group and run roles

        zgm registry [--bind ENDPOINT] [--expiry MS] [--quiet]
        zgm group [--registry ENDPOINT] [--group NAME]... [--bind ENDPOINT] ...
        zgm user [OPTIONS] [COMMAND ...]      (user_commands.cc, interactive.cc)
        zgm run [--data DIR] [--name NAME] [--identity FILE]

    docs/cli.md describes every command, option, file and exit code.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"

#include <poll.h>

#include <cerrno>
#include <cstring>

using namespace zgm::cli;

namespace {

const char* const kUsage =
    "Usage: zgm COMMAND [OPTIONS]\n"
    "\n"
    "ZeroMQ group messaging for small machines.\n"
    "\n"
    "Commands:\n"
    "  registry   run a registry: the live list of groups\n"
    "  group      run a group server: hosts groups and their messages\n"
    "  user       the interactive client, or one command for scripts\n"
    "  run        a registry, a group server and the interactive client in one process\n"
    "\n"
    "Run 'zgm COMMAND --help' for a command's options. 'zgm --version' prints the version.\n";

const char* const kRegistryUsage =
    "Usage: zgm registry [--bind ENDPOINT] [--expiry MS] [--quiet]\n"
    "\n"
    "Runs a registry until Ctrl-C or SIGTERM.\n"
    "\n"
    "  --bind ENDPOINT  where group servers and users reach it (default " ZGM_REGISTRY_BIND ")\n"
    "  --expiry MS      drop a group server silent this long (default 3000)\n"
    "  --quiet          do not log events to stderr\n"
    "  -h, --help       print this help\n";

const char* const kGroupUsage =
    "Usage: zgm group [OPTIONS]\n"
    "\n"
    "Runs a group server until Ctrl-C or SIGTERM, then deregisters its groups.\n"
    "\n"
    "  --registry ENDPOINT    the registry (default $ZGM_REGISTRY, else " ZGM_REGISTRY_ENDPOINT
    ")\n"
    "  --group NAME           host this group (repeat for more)\n"
    "  --bind ENDPOINT        where users reach it (default tcp://*:*, any free port)\n"
    "  --advertise ENDPOINT   the endpoint the registry gives users (default: the bound one)\n"
    "  --data DIR             keep groups and messages in DIR/zgm.db\n"
    "                         (default $XDG_DATA_HOME/zgm/group)\n"
    "  --memory               keep them in memory only, lost on exit\n"
    "  --accept-new           let users create new groups here\n"
    "  --durability MODE      full (fsync every commit, the default) or normal\n"
    "  --heartbeat MS         interval between heartbeats to the registry (default 1000)\n"
    "  --quiet                do not log events to stderr\n"
    "  -h, --help             print this help\n";

const char* const kRunUsage =
    "Usage: zgm run [--data DIR] [--name NAME] [--identity FILE]\n"
    "\n"
    "Runs a registry (on " ZGM_REGISTRY_BIND ", or a free local port if that is taken), a\n"
    "group server hosting 'general' and 'random' that accepts new groups, and the\n"
    "interactive client joined to both, in one process.\n"
    "\n"
    "  --data DIR       keep groups and messages in DIR/zgm.db (default $XDG_DATA_HOME/zgm/group)\n"
    "  --name NAME      display name, saved in the identity file (default $USER)\n"
    "  --identity FILE  identity file (default $XDG_CONFIG_HOME/zgm/identity)\n"
    "  -h, --help       print this help\n";

//  Parses a command's options: prints the usage and returns kExitOk on --help, returns
//  kExitUsage on a bad option, or -1 to go on.
int parse_command(const char* command, const char* usage, int argc, char** argv,
                  const OptionSpec* specs, Args* args) {
    if (!args->parse(argc, argv, specs, nullptr)) return usage_error(command, args->error());
    if (args->help()) {
        fputs(usage, stdout);
        return kExitOk;
    }
    if (!args->positional().empty())
        return usage_error(command, "unexpected argument '" + args->positional()[0] + "'");
    return -1;
}

//  Reads an option of milliseconds into *msecs (left alone when the option is absent).
bool read_msecs(const Args& args, const char* name, int* msecs) {
    const char* text = args.value(name);
    uint64_t value;
    if (!text) return true;
    if (!parse_uint(text, INT32_MAX, &value) || value == 0) return false;
    *msecs = (int)value;
    return true;
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

std::string default_data_dir() {
    return xdg_path("XDG_DATA_HOME", ".local/share", "zgm/group");
}

int registry_main(int argc, char** argv) {
    static const OptionSpec specs[] = {
        {"bind", true}, {"expiry", true}, {"quiet", false}, {nullptr, false}};
    Args args;
    int code = parse_command("registry", kRegistryUsage, argc, argv, specs, &args);
    if (code >= 0) return code;
    int expiry = 0;
    if (!read_msecs(args, "expiry", &expiry))
        return usage_error("registry", "--expiry takes a positive number of milliseconds");
    const char* endpoint = args.value("bind") ? args.value("bind") : ZGM_REGISTRY_BIND;
    zgm_set_verbose(!args.has("quiet"));
    zgm_registry_t* registry = zgm_registry_new();
    if (!registry) {
        fprintf(stderr, "zgm registry: %s\n", zgm_strerror());
        return kExitRefused;
    }
    if (expiry) zgm_registry_set_expiry(registry, expiry);
    int port = zgm_registry_bind(registry, endpoint);
    if (port < 0) {
        fprintf(stderr, "zgm registry: %s\n", zgm_strerror());
        zgm_registry_destroy(&registry);
        return server_failure();
    }
    printf("zgm registry: listening on %s (port %d)\n", endpoint, port);
    fflush(stdout);
    wait_for_stop();
    zgm_registry_destroy(&registry);
    return kExitOk;
}

//  Makes a group server; prints why not and returns NULL on failure.
zgm_group_t* new_group_server(const char* data_dir, const char* durability, int heartbeat,
                              bool accept_new, const std::vector<std::string>& groups) {
    if (data_dir && !make_dirs(data_dir)) {
        fprintf(stderr, "zgm: cannot create %s: %s\n", data_dir, strerror(errno));
        return nullptr;
    }
    zgm_group_t* server = zgm_group_new(data_dir);
    if (!server) {
        fprintf(stderr, "zgm: cannot open the store in %s: %s\n", data_dir ? data_dir : "memory",
                zgm_strerror());
        return nullptr;
    }
    if (durability && zgm_group_set_durability(server, durability) != 0) {
        fprintf(stderr, "zgm: --durability: %s\n", zgm_strerror());
        zgm_group_destroy(&server);
        return nullptr;
    }
    if (heartbeat) zgm_group_set_heartbeat(server, heartbeat);
    zgm_group_set_accept_new(server, accept_new);
    for (const std::string& group : groups)
        if (zgm_group_add(server, group.c_str()) != 0) {
            fprintf(stderr, "zgm: cannot host %s: %s\n", group.c_str(), zgm_strerror());
            zgm_group_destroy(&server);
            return nullptr;
        }
    return server;
}

//  Binds and registers a group server. Returns kExitOk (also when the registry is not
//  reachable yet: the server keeps trying) or an exit code after printing why.
int start_group_server(zgm_group_t* server, const char* command, const std::string& bind,
                       const char* advertise, const std::string& registry, std::string* endpoint) {
    int port = zgm_group_bind(server, bind.c_str());
    if (port < 0) {
        fprintf(stderr, "zgm %s: %s\n", command, zgm_strerror());
        return server_failure();
    }
    *endpoint = bound_endpoint(bind, port);
    if (advertise) zgm_group_set_advertise(server, advertise);
    if (zgm_group_connect_registry(server, registry.c_str()) != 0) {
        if (zgm_errno() != ZGM_ETIMEOUT) {
            fprintf(stderr, "zgm %s: %s\n", command, zgm_strerror());
            return server_failure();
        }
        fprintf(stderr, "zgm %s: warning: the registry at %s is not reachable yet; trying on\n",
                command, registry.c_str());
    }
    return kExitOk;
}

int group_main(int argc, char** argv) {
    static const OptionSpec specs[] = {
        {"registry", true},  {"group", true},   {"bind", true},        {"advertise", true},
        {"data", true},      {"memory", false}, {"accept-new", false}, {"durability", true},
        {"heartbeat", true}, {"quiet", false},  {nullptr, false}};
    Args args;
    int code = parse_command("group", kGroupUsage, argc, argv, specs, &args);
    if (code >= 0) return code;
    if (args.has("data") && args.has("memory"))
        return usage_error("group", "--data and --memory exclude each other");
    const char* durability = args.value("durability");
    if (durability && strcmp(durability, "full") != 0 && strcmp(durability, "normal") != 0)
        return usage_error("group", "--durability is full or normal");
    int heartbeat = 0;
    if (!read_msecs(args, "heartbeat", &heartbeat))
        return usage_error("group", "--heartbeat takes a positive number of milliseconds");
    std::vector<std::string> groups = args.values("group");
    if (groups.empty() && !args.has("accept-new"))
        return usage_error("group", "name a --group to host, or --accept-new");
    std::string data_dir = args.value("data") ? args.value("data") : default_data_dir();
    std::string registry = args.value("registry") ? args.value("registry") : default_registry();
    std::string bind = args.value("bind") ? args.value("bind") : "tcp://*:*";

    zgm_set_verbose(!args.has("quiet"));
    zgm_group_t* server = new_group_server(args.has("memory") ? nullptr : data_dir.c_str(),
                                           durability, heartbeat, args.has("accept-new"), groups);
    if (!server) return kExitRefused;
    std::string endpoint;
    code = start_group_server(server, "group", bind, args.value("advertise"), registry, &endpoint);
    if (code == kExitOk) {
        std::string names;
        for (const std::string& group : groups)
            names += (names.empty() ? "" : ", ") + group;
        printf("zgm group: serving %s on %s%s\n", names.empty() ? "no groups yet" : names.c_str(),
               endpoint.c_str(), args.has("accept-new") ? " (accepting new groups)" : "");
        fflush(stdout);
        wait_for_stop();
    }
    zgm_group_destroy(&server);
    return code;
}

int run_main(int argc, char** argv) {
    static const OptionSpec specs[] = {
        {"data", true}, {"name", true}, {"identity", true}, {nullptr, false}};
    Args args;
    int code = parse_command("run", kRunUsage, argc, argv, specs, &args);
    if (code >= 0) return code;
    UserOptions options;
    code = read_user_options(args, "run", &options);
    if (code != kExitOk) return code;
    std::string data_dir = args.value("data") ? args.value("data") : default_data_dir();

    zgm_registry_t* registry = zgm_registry_new();
    if (!registry) {
        fprintf(stderr, "zgm run: %s\n", zgm_strerror());
        return kExitRefused;
    }
    int port = zgm_registry_bind(registry, ZGM_REGISTRY_BIND);
    const char* bind = ZGM_REGISTRY_BIND;
    if (port < 0) {
        bind = "tcp://127.0.0.1:*";
        port = zgm_registry_bind(registry, bind);
    }
    if (port < 0) {
        fprintf(stderr, "zgm run: cannot bind the registry: %s\n", zgm_strerror());
        zgm_registry_destroy(&registry);
        return kExitRefused;
    }
    options.registry = "tcp://127.0.0.1:" + std::to_string(port);
    printf("zgm run: registry on %s (port %d%s)\n", bind, port,
           port == 5570 ? "" : "; 5570 is taken");

    zgm_group_t* server =
        new_group_server(data_dir.c_str(), nullptr, 0, true, {"general", "random"});
    std::string endpoint;
    code = server ? start_group_server(server, "run", "tcp://*:*", nullptr, options.registry,
                                       &endpoint)
                  : kExitRefused;
    Session session;
    if (code == kExitOk) {
        printf("zgm run: serving general, random on %s, data in %s\n", endpoint.c_str(),
               data_dir.c_str());
        code = open_session(options, &session);
    }
    if (code == kExitOk) {
        for (const char* group : {"general", "random"}) {
            if (zgm_user_join(session.user, group) == 0)
                session.followed.push_back(group);
            else if (zgm_errno() != ZGM_EALREADY)
                fprintf(stderr, "zgm run: cannot join %s: %s\n", group, zgm_strerror());
        }
        if (follow_member_groups(&session) != 0)
            fprintf(stderr, "zgm run: warning: cannot list the groups: %s\n", zgm_strerror());
        code = run_interactive(&session);
    }
    close_session(&session);
    zgm_group_destroy(&server);
    zgm_registry_destroy(&registry);
    return code;
}

} // namespace

int main(int argc, char** argv) {
    start_program();
    if (argc < 2) {
        fputs(kUsage, stderr);
        return kExitUsage;
    }
    const char* command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0) {
        fputs(kUsage, stdout);
        return kExitOk;
    }
    if (strcmp(command, "--version") == 0) {
        printf("zgm %d.%d.%d\n", ZGM_VERSION_MAJOR, ZGM_VERSION_MINOR, ZGM_VERSION_PATCH);
        return kExitOk;
    }
    if (strcmp(command, "registry") == 0) return registry_main(argc - 2, argv + 2);
    if (strcmp(command, "group") == 0) return group_main(argc - 2, argv + 2);
    if (strcmp(command, "user") == 0) return user_main(argc - 2, argv + 2);
    if (strcmp(command, "run") == 0) return run_main(argc - 2, argv + 2);
    fprintf(stderr, "zgm: unknown command '%s'\nTry 'zgm --help'.\n", command);
    return kExitUsage;
}
