/*  =========================================================================
    test_processes.cc - the zgm program as separate processes: a registry, two group
    servers and users on the command line, finding each other's keys through the default
    files under a temporary XDG_CONFIG_HOME (or --registry-key, ZGM_REGISTRY_KEY); a group
    server killed with SIGKILL and restarted, 30 times under an application that retries
    what was in doubt; a restarted registry, also during sends; a group server whose
    heartbeats stop; exit codes; keys, identities and the 0.1 conversion; owners, members
    and retention from the command line; the configuration file, the log lines, `zgm help`
    and the deprecated `zgm group`; `zgm run` (`make run`), the whole system in one process

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "process.h"
#include "testutil.h"

#include "core/limits.h"
#include "core/zap.h"

#include <algorithm>
#include <cmath>
#include <arpa/inet.h>
#include <fcntl.h>
#include <functional>
#include <map>
#include <set>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

using test::Result;

namespace {

struct System {
    std::string dir;
    std::string config;   //  $XDG_CONFIG_HOME of every process of the test
    std::string registry; //  endpoint
    int registry_port = 0;
    pid_t registry_pid = 0;
    std::map<std::string, pid_t> groups; //  log name -> pid
    //  What teardown undoes, last first: a test that fails leaves its C++ scope by cmocka's
    //  longjmp, and its objects' destructors never run (an object of the test process that
    //  holds sockets must go before CZMQ's shutdown at exit).
    std::vector<std::function<void()>> undo;
};

std::string log_path(System* s, const std::string& name) {
    return s->dir + "/" + name + ".log";
}

//  Skips a test that signals the program under an emulator: qemu-user does not pass SIGTERM
//  on to it.
void skip_without_sigterm() {
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    if (wrapper && *wrapper) {
        print_message("# skipped: qemu-user does not pass SIGTERM on to the program\n");
        skip();
    }
}

//  Waits for text in a process's log (20 s, more under an emulator); on failure the test
//  fails with the log printed, so a slow or failed start says why.
void expect_log(System* s, const std::string& name, const std::string& text,
                const std::string& after = "") {
    std::string path = log_path(s, name);
    if (!test::wait_for_text(path, text, 20000, after)) {
        print_error("waited for '%s' in %s, which holds:\n%s\n", text.c_str(), path.c_str(),
                    test::read_file(path).c_str());
        fail();
    }
}

//  Every process of a test (and the test itself, for its API users) has its key files in
//  a directory of its own: never the real ~/.config.
int setup(void** state) {
    System* s = new System();
    s->dir = test::make_temp_dir();
    s->config = s->dir + "/config";
    setenv("XDG_CONFIG_HOME", s->config.c_str(), 1);
    setenv("XDG_DATA_HOME", (s->dir + "/data").c_str(), 1);
    setenv("XDG_STATE_HOME", (s->dir + "/state").c_str(), 1);
    unsetenv("ZGM_REGISTRY");
    unsetenv("ZGM_REGISTRY_KEY");
    *state = s;
    return 0;
}

int teardown(void** state) {
    System* s = (System*)*state;
    for (auto it = s->undo.rbegin(); it != s->undo.rend(); ++it)
        (*it)();
    test::stop_all();
    test::remove_tree(s->dir);
    delete s;
    return 0;
}

//  The registry's public certificate, as `zgm registry` wrote it.
std::string registry_cert(System* s) {
    return s->config + "/zgm/registry.cert";
}

void wait_for_registry(System* s, const std::string& name = "registry") {
    expect_log(s, name, "(port ");
    //  The log accumulates across restarts: the last announcement counts.
    std::string text = test::read_file(log_path(s, name));
    s->registry_port = atoi(text.c_str() + text.rfind("(port ") + 6);
    assert_true(s->registry_port > 0);
    s->registry = test::local_endpoint(s->registry_port);
}

//  Starts `zgm registry` without waiting for it.
pid_t launch_registry(System* s, int port = 0, const std::vector<std::string>& extra = {}) {
    std::string bind = "tcp://127.0.0.1:" + (port ? std::to_string(port) : std::string("*"));
    std::vector<std::string> args = {"registry", "--bind", bind};
    args.insert(args.end(), extra.begin(), extra.end());
    s->registry_pid = test::start(args, log_path(s, "registry"));
    return s->registry_pid;
}

void start_registry(System* s, int port = 0, const std::vector<std::string>& extra = {}) {
    if (port) {
        //  Its announcement of this start, not of the last one.
        std::string log = log_path(s, "registry");
        size_t before = test::read_file(log).size();
        launch_registry(s, port, extra);
        if (!test::eventually(
                [&] { return test::read_file(log).find("(port ", before) != std::string::npos; },
                20000 * test::slowdown())) {
            print_error("the registry did not start again on port %d:\n%s\n", port,
                        test::read_file(log).substr(before).c_str());
            fail();
        }
    } else {
        launch_registry(s, port, extra);
    }
    wait_for_registry(s);
}

//  The arguments of `zgm server` for a group server of this test: its own key in the
//  directory the registry trusts by default (unless options has a --key), the registry,
//  any free port, fast heartbeats.
std::vector<std::string> server_args(System* s, const std::string& name,
                                     const std::vector<std::string>& options,
                                     const char* command = "server") {
    std::vector<std::string> args = {
        command, "--registry", s->registry, "--bind", "tcp://127.0.0.1:*", "--heartbeat", "200"};
    if (std::find(options.begin(), options.end(), "--key") == options.end() &&
        std::find(options.begin(), options.end(), "--config") == options.end()) {
        args.push_back("--key");
        args.push_back(s->config + "/zgm/servers/" + name + ".cert");
    }
    args.insert(args.end(), options.begin(), options.end());
    return args;
}

pid_t start_group(System* s, const std::string& name, const std::vector<std::string>& options,
                  const std::vector<std::string>& env = {}, const char* command = "server") {
    pid_t pid = test::start(server_args(s, name, options, command), log_path(s, name), env);
    s->groups[name] = pid;
    return pid;
}

//  A user's command, with its own identity file and the registry; its key files are the
//  test's.
//  `zgm user` as WHO; under an emulator or a sanitizer each request waits as much longer as
//  everything else does (a --timeout in args comes later and wins).
std::vector<std::string> user_args(System* s, const std::string& who) {
    std::vector<std::string> full = {"user", "--identity", s->dir + "/" + who, "--name",
                                     who,    "--registry", s->registry};
    if (test::slowdown() > 1)
        full.insert(full.end(), {"--timeout", std::to_string(5000 * test::slowdown())});
    return full;
}

Result user(System* s, const std::string& who, std::vector<std::string> args,
            const std::vector<std::string>& env = {}) {
    std::vector<std::string> full = user_args(s, who);
    full.insert(full.end(), args.begin(), args.end());
    return test::run(full, env);
}

pid_t listen(System* s, const std::string& who, const std::vector<std::string>& args) {
    std::vector<std::string> full = user_args(s, who);
    full.push_back("listen");
    full.insert(full.end(), args.begin(), args.end());
    return test::start(full, log_path(s, "listen-" + who));
}

//  The key that `whoami --json` printed.
std::string key_in(const Result& whoami) {
    assert_int_equal(whoami.status, 0);
    const std::string field = "\"key\":\"";
    size_t at = whoami.out.find(field);
    assert_true(at != std::string::npos);
    return whoami.out.substr(at + field.size(), 40);
}

//  The public key a user's identity file holds.
std::string key_of(System* s, const std::string& who) {
    return key_in(user(s, who, {"whoami", "--json"}));
}

size_t count_lines(const std::string& text, const std::string& needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        count++;
    return count;
}

//  Waits for a background process to exit by itself; its exit status, or -1.
int wait_exit(pid_t pid, int timeout_ms) {
    int64_t deadline = zgm::mono_ms() + (int64_t)timeout_ms * test::slowdown();
    int code = -1;
    while (zgm::mono_ms() < deadline) {
        if (test::exited(pid, &code)) return code;
        usleep(20000);
    }
    return -1;
}

void test_registry_group_servers_and_users_on_the_command_line(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    //  A group named twice is hosted once.
    start_group(s, "north",
                {"--group", "general", "--group", "random", "--group", "general", "--memory"});
    start_group(s, "south", {"--accept-new", "--memory"});
    expect_log(s, "north", "serving general, random on");
    expect_log(s, "south", "zgm server:");

    //  The registry answers once it knows every group, 3 s after its start: more than the
    //  default timeout's slack on a busy machine.
    Result groups = user(s, "alice", {"groups", "--json", "--timeout", "30000"});
    assert_int_equal(groups.status, 0);
    assert_int_equal(count_lines(groups.out, "\"group\":"), 2);
    assert_non_null(strstr(groups.out.c_str(), "\"group\":\"general\""));

    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    Result sent = user(s, "alice", {"send", "general", "hello", "from", "alice", "--json"});
    assert_int_equal(sent.status, 0);
    assert_non_null(strstr(sent.out.c_str(), "\"seq\":1"));

    Result fetched = user(s, "bob", {"fetch", "general", "--json"});
    assert_int_equal(fetched.status, 0);
    assert_non_null(strstr(fetched.out.c_str(), "\"text\":\"hello from alice\""));
    assert_non_null(strstr(fetched.out.c_str(), "\"name\":\"alice\""));
    assert_non_null(strstr(fetched.out.c_str(), "\"time\":\"20"));
    Result members = user(s, "bob", {"members", "general", "--json"});
    assert_int_equal(count_lines(members.out, "\"key\":"), 2);
    assert_int_equal(count_lines(members.out, "\"role\":\"member\""), 2);
    //  A sender is its key, as its connection proved it.
    assert_non_null(
        strstr(fetched.out.c_str(), ("\"sender\":\"" + key_of(s, "alice") + "\"").c_str()));

    //  Creation lands on the group server that accepts new groups.
    assert_int_equal(user(s, "alice", {"create", "fresh"}).status, 0);
    groups = user(s, "bob", {"groups", "--json"});
    assert_int_equal(count_lines(groups.out, "\"group\":"), 3);
    expect_log(s, "south", "hosting 'fresh'");

    //  Refusals exit 1 with a reason; usage errors exit 2.
    Result again = user(s, "alice", {"join", "general"});
    assert_int_equal(again.status, 1);
    assert_non_null(strstr(again.err.c_str(), "already a member"));
    assert_int_equal(user(s, "carol", {"send", "general", "intruder"}).status, 1);
    assert_int_equal(user(s, "carol", {"leave", "general"}).status, 1);
    assert_int_equal(user(s, "carol", {"fetch", "nosuchgroup"}).status, 1);
    assert_int_equal(user(s, "carol", {"frobnicate"}).status, 2);
    assert_int_equal(test::run({"registry", "--no-such-option"}).status, 2);
    assert_int_equal(test::run({"--help"}).status, 0);
    //  No registry where it is pointed: 3, in bounded time.
    Result nobody =
        user(s, "nobody", {"--registry", "tcp://127.0.0.1:1", "--timeout", "300", "groups"});
    assert_int_equal(nobody.status, 3);

    //  The registry and the group server log what the seed logged.
    std::string registry_log = test::read_file(log_path(s, "registry"));
    assert_non_null(strstr(registry_log.c_str(), "JOIN REQUEST FROM 127.0.0.1:"));
    assert_non_null(strstr(registry_log.c_str(), "GROUP LIST REQUEST FROM "));
    std::string north_log = test::read_file(log_path(s, "north"));
    for (const char* line : {"JOIN REQUEST FROM ", "MESSAGE SEND FROM ", "MESSAGE REQUEST FROM ",
                             "LEAVE REQUEST FROM "})
        assert_non_null(strstr(north_log.c_str(), line));
}

void test_duplicate_group_name_is_refused_by_the_registry(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "first", {"--group", "general", "--memory"});
    expect_log(s, "first", "serving general");
    pid_t second = start_group(s, "second", {"--group", "general", "--memory"});
    assert_int_equal(wait_exit(second, 10000), 1);
    expect_log(s, "second", "already served by");
}

//  A registry and a group server of "general" (memory store), which alice and bob joined.
void serve_general_to_alice_and_bob(System* s) {
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
}

void test_listen_prints_live_messages_and_resumes_after_the_last_printed(void** state) {
    System* s = (System*)*state;
    serve_general_to_alice_and_bob(s);

    pid_t listener = listen(s, "bob", {"general", "--count", "3", "--json"});
    expect_log(s, "listen-bob", "zgm: listening to general");
    for (int i = 1; i <= 3; i++)
        assert_int_equal(user(s, "alice", {"send", "general", "live " + std::to_string(i)}).status,
                         0);
    assert_int_equal(wait_exit(listener, 15000), 0);
    std::string first = test::read_file(log_path(s, "listen-bob"));
    assert_int_equal(count_lines(first, "\"seq\":"), 3);
    assert_non_null(strstr(first.c_str(), "\"text\":\"live 3\""));

    //  While bob is away, two more; the next listen starts after the last it printed.
    assert_int_equal(user(s, "alice", {"send", "general", "away 4"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "general", "away 5"}).status, 0);
    Result resumed = user(s, "bob", {"listen", "general", "--count", "2", "--json"});
    assert_int_equal(resumed.status, 0);
    assert_int_equal(count_lines(resumed.out, "\"seq\":"), 2);
    assert_non_null(strstr(resumed.out.c_str(), "\"seq\":4"));
    assert_non_null(strstr(resumed.out.c_str(), "\"seq\":5"));

    //  Another member named alice: listen and fetch show each alice with the start of its
    //  key, as the interactive client does.
    std::vector<std::string> other = {"user",  "--identity", s->dir + "/alice2", "--name",
                                      "alice", "--registry", s->registry};
    auto other_alice = [&](std::vector<std::string> args) {
        std::vector<std::string> full = other;
        full.insert(full.end(), args.begin(), args.end());
        return test::run(full);
    };
    assert_int_equal(other_alice({"join", "general"}).status, 0);
    assert_int_equal(other_alice({"send", "general", "the other alice"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "general", "the first alice"}).status, 0);
    std::string second =
        "<alice~" + key_in(other_alice({"whoami", "--json"})).substr(0, 8) + "> the other alice";
    std::string original = "<alice~" + key_of(s, "alice").substr(0, 8) + "> the first alice";
    Result live = user(s, "bob", {"listen", "general", "--count", "2"});
    assert_int_equal(live.status, 0);
    Result fetched = user(s, "bob", {"fetch", "general", "--last", "2"});
    assert_int_equal(fetched.status, 0);
    for (const Result* result : {&live, &fetched})
        if (!strstr(result->out.c_str(), second.c_str()) ||
            !strstr(result->out.c_str(), original.c_str()))
            fail_msg("not told apart: %s", result->out.c_str());
}

void test_group_server_killed_and_restarted_loses_nothing(void** state) {
    System* s = (System*)*state;
    std::string data = s->dir + "/data";
    start_registry(s);
    pid_t server = start_group(s, "server", {"--group", "general", "--data", data});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);

    //  bob listens through the crash: 10 messages, each once, in order.
    pid_t listener = listen(s, "bob", {"general", "--count", "10", "--json"});
    expect_log(s, "listen-bob", "zgm: listening to general");
    for (int i = 1; i <= 5; i++)
        assert_int_equal(user(s, "alice", {"send", "general", "m" + std::to_string(i)}).status, 0);
    test::kill_now(server);
    //  Restarted on another port, with its key: the registry hands out the new endpoint.
    start_group(
        s, "server-again",
        {"--group", "general", "--data", data, "--key", s->config + "/zgm/servers/server.cert"});
    expect_log(s, "server-again", "serving general");
    for (int i = 6; i <= 10; i++) {
        Result sent = user(s, "alice", {"send", "general", "m" + std::to_string(i), "--json"});
        if (sent.status != 0) fail_msg("send m%d: %d %s", i, sent.status, sent.err.c_str());
        //  The sequence goes on from where it was.
        assert_non_null(strstr(sent.out.c_str(), ("\"seq\":" + std::to_string(i)).c_str()));
    }
    if (wait_exit(listener, 30000) != 0)
        fail_msg("bob's listen did not get 10 messages:\n%s",
                 test::read_file(log_path(s, "listen-bob")).c_str());
    std::string heard = test::read_file(log_path(s, "listen-bob"));
    for (int i = 1; i <= 10; i++)
        assert_int_equal(count_lines(heard, "\"seq\":" + std::to_string(i) + ","), 1);

    //  History and membership survived.
    Result history = user(s, "bob", {"fetch", "general", "--json"});
    assert_int_equal(count_lines(history.out, "\"seq\":"), 10);
    Result members = user(s, "bob", {"members", "general", "--json"});
    assert_int_equal(count_lines(members.out, "\"key\":"), 2);
}

void test_restarted_registry_refills_its_list(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    test::kill_now(s->registry_pid);
    Result gone = user(s, "alice", {"groups", "--timeout", "300"});
    assert_int_equal(gone.status, 3);
    start_registry(s, s->registry_port);
    assert_true(test::eventually(
        [&] { return strstr(user(s, "alice", {"groups"}).out.c_str(), "general") != nullptr; },
        5000 * test::slowdown()));
}

void test_group_server_whose_heartbeats_stop_disappears(void** state) {
    System* s = (System*)*state;
    start_registry(s, 0, {"--expiry", "600"});
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    kill(server, SIGSTOP); //  silent, but its connections stay open
    assert_true(test::eventually(
        [&] { return strstr(user(s, "alice", {"groups"}).out.c_str(), "general") == nullptr; },
        5000 * test::slowdown()));
    kill(server, SIGCONT); //  back: its next heartbeat is "unknown", so it registers again
    assert_true(test::eventually(
        [&] { return strstr(user(s, "alice", {"groups"}).out.c_str(), "general") != nullptr; },
        5000 * test::slowdown()));
}

//  listen with no group while the group server of the user's groups is away: only live
//  servers are asked, and none holds a group of the user. A group listened to before is
//  named with the registry's reason, its server away (3); a user who never listened is
//  refused (1), as one in no group.
void test_listen_without_a_group_while_its_server_is_away(void** state) {
    System* s = (System*)*state;
    start_registry(s, 0, {"--expiry", "600"});
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "carol", {"join", "general"}).status, 0);
    pid_t listener = listen(s, "bob", {"--count", "1"});
    pid_t carols = listen(s, "carol", {"--count", "1"});
    expect_log(s, "listen-bob", "zgm: listening to general");
    expect_log(s, "listen-carol", "zgm: listening to general");
    assert_int_equal(user(s, "alice", {"send", "general", "heard"}).status, 0);
    assert_int_equal(wait_exit(listener, 15000), 0); //  bob has a cursor for general
    assert_int_equal(wait_exit(carols, 15000), 0);   //  and carol, who leaves it
    assert_int_equal(user(s, "carol", {"leave", "general"}).status, 0);
    Result left = user(s, "carol", {"listen"});
    assert_int_equal(left.status, 1);
    assert_null(strstr(left.err.c_str(), "listened to before"));
    kill(server, SIGSTOP);
    s->undo.push_back([server] { kill(server, SIGCONT); });
    assert_true(test::eventually(
        [&] { return strstr(user(s, "alice", {"groups"}).out.c_str(), "general") == nullptr; },
        5000 * test::slowdown()));
    Result away = user(s, "bob", {"listen"});
    assert_int_equal(away.status, 3);
    assert_non_null(strstr(away.err.c_str(), "listened to before, and unavailable now:\n"
                                             "  general: the group server of 'general'"));
    assert_non_null(strstr(away.err.c_str(), "has not come back"));
    Result never = user(s, "alice", {"listen"});
    assert_int_equal(never.status, 1);
    assert_non_null(strstr(never.err.c_str(), "not a member of a group on a live group server"));
    //  With --json, both say so on stdout as every other error does (they said nothing there).
    Result away_json = user(s, "bob", {"listen", "--json"});
    assert_int_equal(away_json.status, 3);
    assert_non_null(strstr(away_json.out.c_str(), "{\"error\":\"listen: bob is not a member"));
    assert_non_null(strstr(away_json.out.c_str(), "\"code\":10}"));
    Result never_json = user(s, "alice", {"listen", "--json"});
    assert_int_equal(never_json.status, 1);
    assert_non_null(strstr(never_json.out.c_str(), "live group server\",\"code\":3}"));
    kill(server, SIGCONT);
}

void write_file(const std::string& path, const std::string& text) {
    FILE* file = fopen(path.c_str(), "w");
    assert_non_null(file);
    fputs(text.c_str(), file);
    fclose(file);
}

//  A heartbeat as long as a registry's default expiry is warned of (the registry would drop
//  the server's groups between heartbeats); one under it is not.
void test_a_heartbeat_as_long_as_the_default_expiry_is_warned_of(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "slow", {"--group", "general", "--memory", "--heartbeat", "3000"});
    start_group(s, "brisk", {"--group", "random", "--memory", "--heartbeat", "2999"});
    expect_log(s, "slow", "serving general");
    expect_log(s, "brisk", "serving random");
    assert_non_null(strstr(test::read_file(log_path(s, "slow")).c_str(),
                           "--heartbeat 3000: a registry with the default --expiry (3000 ms) "
                           "drops this server's groups between heartbeats"));
    assert_null(strstr(test::read_file(log_path(s, "brisk")).c_str(), "--heartbeat"));
    //  Set in a configuration file, it is named by its file and line, not as an option.
    std::string config = s->dir + "/slow.cfg";
    write_file(config, "server\n    group = filed\n    heartbeat = 4000\n");
    s->groups["filed"] = test::start({"server", "--config", config, "--registry", s->registry,
                                      "--bind", "tcp://127.0.0.1:*", "--key",
                                      s->config + "/zgm/servers/filed.cert", "--memory"},
                                     log_path(s, "filed"));
    expect_log(s, "filed", "serving filed");
    assert_non_null(strstr(test::read_file(log_path(s, "filed")).c_str(),
                           (config + ":3: heartbeat 4000: a registry with the default").c_str()));
}

void test_group_is_a_deprecated_alias_of_server(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "old", {"--group", "general", "--memory"}, {}, "group");
    expect_log(s, "old", "serving general");
    std::string log = test::read_file(log_path(s, "old"));
    assert_non_null(strstr(log.c_str(), "zgm: 'zgm group' is deprecated; use 'zgm server'\n"));
    assert_int_equal(count_lines(log, "deprecated"), 1);
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
}

void test_server_reads_its_section_and_instance_from_the_config_file(void** state) {
    System* s = (System*)*state;
    //  A value it cannot take stops it before it starts, naming the file, line and key
    //  (they were named as options, once the server had started).
    std::string bad = s->dir + "/bad.cfg";
    write_file(bad, "server\n    group = general\n    group = \"a b\"\n    max-frame = 10\n");
    Result refused = test::run({"server", "--config", bad, "--memory", "--insecure"});
    assert_int_equal(refused.status, 2);
    assert_non_null(strstr(refused.err.c_str(), (bad + ":3: group 'a b'").c_str()));
    write_file(bad, "server\n    group = general\n    max-frame = 10\n");
    refused = test::run({"server", "--config", bad, "--memory", "--insecure"});
    assert_int_equal(refused.status, 2);
    assert_non_null(strstr(refused.err.c_str(), (bad + ":3: max-frame").c_str()));
    start_registry(s);
    std::string config = s->dir + "/zgm.cfg";
    write_file(config, "server\n"
                       "    registry = " +
                           s->registry +
                           "\n"
                           "    data = " +
                           s->dir +
                           "/data\n"
                           "    group = general\n"
                           "    bind = tcp://127.0.0.1:*\n"
                           "    heartbeat = 200\n"
                           "server/north\n"
                           "    group = north-1\n"
                           "    group = north-2\n");
    //  The instance's groups replace the shared ones; its store is a directory of its own.
    test::start({"server", "--config", config, "--instance", "north"}, log_path(s, "north"));
    expect_log(s, "north",
               "serving north-1, north-2 and the groups of its store on tcp://127.0.0.1:");
    expect_log(s, "north", "store in " + s->dir + "/data/north\n");
    //  Options on the command line win: --memory drops the file's data.
    test::start({"server", "--config", config, "--group", "flagged", "--memory"},
                log_path(s, "flagged"));
    expect_log(s, "flagged", "serving flagged on");
    assert_null(strstr(test::read_file(log_path(s, "flagged")).c_str(), "store in"));
    Result groups = user(s, "alice", {"groups", "--json", "--timeout", "30000"});
    assert_int_equal(count_lines(groups.out, "\"group\":"), 3);
    assert_null(strstr(groups.out.c_str(), "\"group\":\"general\""));
}

void test_a_bad_config_file_stops_the_server_naming_file_line_and_key(void** state) {
    System* s = (System*)*state;
    std::string config = s->dir + "/bad.cfg";
    write_file(config, "server\n    group = general\n    heartbeat = soon\n");
    Result bad = test::run({"server", "--config", config});
    assert_int_equal(bad.status, 2);
    assert_string_equal(bad.err.c_str(),
                        ("zgm server: " + config +
                         ":3: heartbeat: takes a positive number of milliseconds, not 'soon'\n")
                            .c_str());
    write_file(config, "server\n    group = general\n");
    Result missing = test::run({"server", "--config", config, "--instance", "south"});
    assert_int_equal(missing.status, 2);
    assert_non_null(strstr(missing.err.c_str(), "no section server/south"));
    assert_int_equal(test::run({"server", "--instance", "south"}).status, 2);
    assert_int_equal(test::run({"registry", "--config", s->dir + "/none.cfg"}).status, 2);
    //  An endpoint from the file that cannot be bound (192.0.2.1 is no address of this
    //  machine) is named by its line, and is a failure (1), not a usage error.
    write_file(config, "server\n    bind = tcp://192.0.2.1:*\n    group = general\n"
                       "registry\n    bind = tcp://192.0.2.1:*\n");
    struct {
        std::vector<std::string> argv;
        std::string line;
    } roles[] = {{{"server", "--config", config, "--memory", "--insecure"}, ":2"},
                 {{"registry", "--config", config, "--insecure"}, ":5"}};
    for (const auto& role : roles) {
        Result unbound = test::run(role.argv);
        assert_int_equal(unbound.status, 1);
        assert_non_null(
            strstr(unbound.err.c_str(), (config + role.line +
                                         ": bind: cannot bind tcp://192.0.2.1:*: not an "
                                         "address of this machine")
                                            .c_str()));
    }
    //  Keys and key files from the file are named by their line too (they were named as
    //  options: "--admin ..."), and a key cut short by a '#' (which starts a comment) is
    //  said to need quotes, not taken as a file that is not there.
    struct {
        std::vector<std::string> argv;
        std::string text, said;
    } keys[] = {
        {{"registry", "--config", config},
         "registry\n    bind = tcp://127.0.0.1:*\n    admin = "
         "ew]AC{U#Ia&wGQk]Z0=YGEr8{9{h{PPc2pYf/Fwp\n",
         ":3: admin: a '#' right after a value starts a comment"},
        {{"registry", "--config", config},
         "registry\n    bind = tcp://127.0.0.1:*\n    trust = " + s->dir + "/nowhere\n",
         ":3: trust " + s->dir + "/nowhere: "},
        {{"registry", "--config", config},
         "registry\n    bind = tcp://127.0.0.1:*\n    admin = notakey\n",
         ":3: admin notakey: "},
        {{"server", "--config", config, "--memory"},
         "server\n    group = general\n    owner = bogus\n",
         ":3: owner: "},
        {{"server", "--config", config, "--memory"},
         "server\n    group = general\n    registry-key = notakey\n",
         ":3: registry-key: "},
        //  A tab where four blanks go: said (zconfig's "invalid syntax" alone).
        {{"registry", "--config", config},
         "registry\n\tbind = tcp://127.0.0.1:*\n",
         ":2: invalid syntax 'bind = tcp://127.0.0.1:*' (indented with a tab"},
        {{"registry", "--config", config},
         "registry\n  \t  bind = tcp://127.0.0.1:*\n",
         ":2: indent 4 spaces at once (indented with a tab"},
        //  A '#' after a tab is a comment, the value whole: line 2 is taken, line 3 refused.
        {{"registry", "--config", config},
         "registry\n    bind = tcp://127.0.0.1:*\t# every port\n    admin = notakey\n",
         ":3: admin notakey: "},
    };
    for (const auto& key : keys) {
        write_file(config, key.text);
        Result refused = test::run(key.argv, {}, 20000);
        if (refused.status == 0 || !strstr(refused.err.c_str(), (config + key.said).c_str()))
            fail_msg("%s: exit %d, said: %s", key.said.c_str(), refused.status,
                     refused.err.c_str());
    }
    //  A host name that is no address or interface here (libzmq: "No such device").
    Result unnamed = test::run({"registry", "--insecure", "--bind", "tcp://nonexistent.invalid:*"});
    assert_int_equal(unnamed.status, 1);
    assert_non_null(strstr(unnamed.err.c_str(), "--bind: cannot bind tcp://nonexistent.invalid:*: "
                                                "no address or interface of this machine"));
    //  localhost too, which the hint for an endpoint without its transport names: the line
    //  says what a bind takes.
    Result local = test::run({"registry", "--insecure", "--bind", "tcp://localhost:*"});
    assert_int_equal(local.status, 1);
    assert_non_null(strstr(local.err.c_str(), "not a host name: 127.0.0.1 for this machine"));
}

//  The "DEVICE:INODE" systemd puts in JOURNAL_STREAM for the file at path.
std::string journal_stream_of(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    struct stat status;
    assert_int_equal(fstat(fd, &status), 0);
    close(fd);
    return std::to_string((uintmax_t)status.st_dev) + ":" +
           std::to_string((uintmax_t)status.st_ino);
}

//  Whether text has a line that is an ISO 8601 local time with milliseconds and the UTC
//  offset, then the rest: "2026-11-24T10:00:00.125+01:00 <rest>".
bool has_stamped_line(const std::string& text, const std::string& rest) {
    const std::string shape = "dddd-dd-ddTdd:dd:dd.ddd+dd:dd ";
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        std::string line = text.substr(start, end - start);
        start = end == std::string::npos ? text.size() : end + 1;
        if (line.size() != shape.size() + rest.size() ||
            line.compare(shape.size(), rest.size(), rest))
            continue;
        bool fits = true;
        for (size_t i = 0; i < shape.size(); i++)
            fits = fits && (shape[i] == 'd'   ? isdigit((unsigned char)line[i]) != 0
                            : shape[i] == '+' ? line[i] == '+' || line[i] == '-'
                                              : line[i] == shape[i]);
        if (fits) return true;
    }
    return false;
}

void test_log_lines_carry_a_priority_under_the_journal_and_the_year_elsewhere(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    //  Under the journal: "<6>" and the message, no timestamp.
    std::string stream = journal_stream_of(log_path(s, "journal"));
    start_group(s, "journal", {"--group", "general", "--memory"}, {"JOURNAL_STREAM=" + stream});
    expect_log(s, "journal", "<6>group server: hosting 'general'\n");
    std::string journal = test::read_file(log_path(s, "journal"));
    assert_false(has_stamped_line(journal, "I: group server: hosting 'general'"));
    //  A JOURNAL_STREAM that names another file (inherited, then redirected): timestamps.
    start_group(s, "file", {"--group", "random", "--memory"}, {"JOURNAL_STREAM=" + stream});
    expect_log(s, "file", "hosting 'random'");
    std::string file = test::read_file(log_path(s, "file"));
    assert_null(strstr(file.c_str(), "<6>"));
    if (!has_stamped_line(file, "I: group server: hosting 'random'")) {
        print_error("no ISO 8601 line in:\n%s\n", file.c_str());
        fail();
    }
}

void test_help_prints_what_the_help_options_print(void** state) {
    (void)state;
    Result top = test::run({"help"});
    assert_int_equal(top.status, 0);
    assert_string_equal(top.out.c_str(), test::run({"--help"}).out.c_str());
    struct Pair {
        std::vector<std::string> help, option;
    } pairs[] = {
        {{"help", "server"}, {"server", "--help"}},
        {{"help", "registry"}, {"registry", "-h"}},
        {{"help", "user", "send"}, {"user", "send", "--help"}},
        //  help in the place of a subcommand, also after the options: the same texts.
        {{"user", "help"}, {"user", "--help"}},
        {{"user", "help", "send"}, {"user", "send", "--help"}},
        {{"user", "--timeout", "100", "help", "fetch"}, {"help", "user", "fetch"}},
    };
    for (const Pair& pair : pairs) {
        Result by_help = test::run(pair.help);
        Result by_option = test::run(pair.option);
        assert_int_equal(by_help.status, 0);
        assert_int_equal(by_option.status, 0);
        assert_non_null(strstr(by_help.out.c_str(), "Usage: zgm "));
        assert_string_equal(by_help.out.c_str(), by_option.out.c_str());
    }
    assert_int_equal(test::run({"help", "nosuch"}).status, 2);
    //  An unknown subcommand is told as 'zgm user nosuch' tells it, whichever way it is asked.
    Result direct = test::run({"user", "nosuch"});
    assert_int_equal(direct.status, 2);
    assert_string_equal(direct.err.c_str(),
                        "zgm user: unknown subcommand 'nosuch'\nTry 'zgm user --help'.\n");
    for (std::vector<std::string> asked : {std::vector<std::string>{"help", "user", "nosuch"},
                                           std::vector<std::string>{"user", "help", "nosuch"}}) {
        Result unknown = test::run(asked);
        assert_int_equal(unknown.status, 2);
        assert_string_equal(unknown.err.c_str(), direct.err.c_str());
    }
    //  A command that has no subcommands says so: it was "zgm registry: unknown subcommand
    //  'extra'", of a command that takes none.
    Result none = test::run({"help", "registry", "extra"});
    assert_int_equal(none.status, 2);
    assert_string_equal(none.err.c_str(),
                        "zgm help: 'zgm registry' has no subcommands\nTry 'zgm help --help'.\n");
}

//  A server's option whose value is under its least, or a --bind that is no endpoint, is a
//  usage error said before anything starts, as any bad value (it was a log line, and read
//  "no registry setting max-frame = 100 (at least 4096)").
void test_a_servers_bad_value_is_a_usage_error_before_it_starts(void** state) {
    System* s = (System*)*state;
    const struct {
        std::vector<std::string> args;
        const char* err;
    } cases[] = {
        {{"registry", "--bind", "tcp://127.0.0.1:*", "--max-frame", "100"},
         "zgm registry: --max-frame: at least 4096, not 100\nTry 'zgm registry --help'.\n"},
        {{"server", "--memory", "--group", "g", "--bind", "tcp://127.0.0.1:*", "--max-frame",
          "1000"},
         "zgm server: --max-frame: at least 327680, not 1000\nTry 'zgm server --help'.\n"},
        {{"server", "--memory", "--group", "g", "--bind", "tcp://127.0.0.1:*",
          "--max-follower-bytes", "1"},
         "zgm server: --max-follower-bytes: at least 262144, not 1\nTry 'zgm server --help'.\n"},
        {{"registry", "--bind", "localhost:5570"},
         "zgm registry: --bind: not an endpoint: 'localhost:5570' (did you mean "
         "tcp://localhost:5570?)\nTry 'zgm registry --help'.\n"},
        //  With a store: said before the store is made (or an older one migrated), and
        //  before a group is put in it (it bound and hosted the group first, then said it).
        {{"server", "--data", s->dir + "/bad-store", "--group", "g", "--bind", "tcp://127.0.0.1:*",
          "--advertise", "localhost:1"},
         "zgm server: --advertise: not an endpoint: 'localhost:1' (did you mean "
         "tcp://localhost:1?)\nTry 'zgm server --help'.\n"},
        {{"server", "--data", s->dir + "/bad-store", "--group", "g", "--bind", "tcp://127.0.0.1:*",
          "--max-frame", "1000"},
         "zgm server: --max-frame: at least 327680, not 1000\nTry 'zgm server --help'.\n"},
    };
    for (const auto& bad : cases) {
        std::vector<std::string> args = bad.args;
        args.insert(args.end(), {"--key", s->dir + "/bad-value.cert"});
        if (args[0] == "server") //  any key: it is not used
            args.insert(args.end(), {"--registry-key", "Hl4k0}Zb8*MyJ{&2lBi]vXa6x:0?Pz^RN3eGw.Tm"});
        Result result = test::run(args, {}, 5000);
        assert_int_equal(result.status, 2);
        assert_string_equal(result.err.c_str(), bad.err);
        assert_int_equal(access((s->dir + "/bad-store/zgm.db").c_str(), F_OK), -1);
    }
}

//  The interactive client with commands piped in: its exit status is that of the first error
//  it printed (as `zgm user SUBCOMMAND` would exit), 0 when none, so a script sees a failure.
void test_the_interactive_client_fed_by_a_pipe_exits_with_its_first_failure(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    auto piped = [&](const std::string& input) {
        return test::run_with_input(user_args(s, "alice"), input);
    };
    Result fine = piped("/join general\nhello from a pipe\n");
    if (fine.status != 0) fail_msg("all went well, yet %d:\n%s", fine.status, fine.err.c_str());
    assert_non_null(
        strstr(user(s, "alice", {"fetch", "general"}).out.c_str(), "hello from a pipe"));
    //  Lines run in order: a message before /leave is stored before the user leaves (the
    //  leave overtook it, and the group refused it: "not a member").
    Result left = piped("/join general\nsaid before leaving\n/leave\n");
    if (left.status != 0) fail_msg("left, yet %d:\n%s", left.status, left.err.c_str());
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_non_null(
        strstr(user(s, "alice", {"fetch", "general"}).out.c_str(), "said before leaving"));
    //  No such group: refused (1), also when later commands succeed; once the registry knows
    //  every group (3 s after its start), or it is not sure yet (3).
    assert_int_equal(user(s, "alice", {"--timeout", "30000", "groups"}).status, 0);
    Result refused = piped("/join nosuch\n/switch general\nstill going\n");
    assert_int_equal(refused.status, 1);
    assert_non_null(strstr(refused.err.c_str(), "error: join nosuch:"));
    assert_non_null(strstr(user(s, "alice", {"fetch", "general"}).out.c_str(), "still going"));
    //  A line the client cannot take: a usage error (2). The first failure decides: the
    //  later ones may follow from it.
    assert_int_equal(piped("/nosuch\n").status, 2);
    //  What was typed is quoted as messages are shown: a control character in caret
    //  notation, not sent to the terminal (a carriage return wrote over the line).
    Result returned = piped("/nosuch\r\n");
    assert_non_null(strstr(returned.err.c_str(), "unknown command /nosuch^M (/help"));
    assert_int_equal(piped("/nosuch\n/join nosuch\n").status, 2);
    assert_int_equal(piped("/join nosuch\n/switch\n").status, 1);
    //  A group that is not there, switched to: said as such (it said "fetch nosuch").
    Result unknown = piped("/switch nosuch\n");
    assert_int_equal(unknown.status, 1);
    if (!strstr(unknown.err.c_str(), "error: switch to nosuch: "))
        fail_msg("/switch nosuch said: %s", unknown.err.c_str());
    //  No registry: the join has no answer (3), and the line after it no current group (2).
    std::vector<std::string> args = user_args(s, "alice");
    *(std::find(args.begin(), args.end(), "--registry") + 1) = "tcp://127.0.0.1:1";
    Result nowhere = test::run_with_input(args, "/join general\nhi\n");
    assert_int_equal(nowhere.status, 3);
    assert_non_null(strstr(nowhere.err.c_str(), "no current group"));
}

//  A standard descriptor the program was started without, or output it cannot write: a
//  closed stdin reads as its end (the interactive client polled one of libzmq's eventfds,
//  which took its number, and hung), and output lost is an error (exit 1, said on stderr),
//  where the program exited 0.
void test_a_closed_or_full_standard_descriptor_is_said(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    std::string full = log_path(s, "full");
    pid_t pid = test::start_with_descriptor({"--version"}, full, 1, "/dev/full");
    assert_int_equal(test::wait_exit(pid, 10000), 1);
    assert_non_null(strstr(test::read_file(full).c_str(), "zgm: cannot write the output"));
    std::string closed = log_path(s, "closed");
    std::vector<std::string> whoami = user_args(s, "dana");
    whoami.push_back("whoami");
    pid = test::start_with_descriptor(whoami, closed, 1, nullptr);
    assert_int_equal(test::wait_exit(pid, 10000), 1);
    assert_non_null(strstr(test::read_file(closed).c_str(), "zgm: cannot write the output"));
    std::string without_input = log_path(s, "without-input");
    pid = test::start_with_descriptor(user_args(s, "dana"), without_input, 0, nullptr);
    assert_int_equal(test::wait_exit(pid, 10000), 0);
    assert_non_null(strstr(test::read_file(without_input).c_str(), "/help lists the commands"));
}

//  A listen whose output cannot be written (a full disk) stops at the first message it could
//  not print, exit 1, and its cursor stays before that message: the next listen prints it.
//  Before, the cursor moved past every message it failed to write, and without --count it
//  went on doing so until stopped: those messages were skipped for good.
void test_a_listen_that_cannot_write_stops_and_keeps_its_cursor(void** state) {
    System* s = (System*)*state;
    serve_general_to_alice_and_bob(s);
    pid_t first = listen(s, "bob", {"general", "--count", "1"});
    expect_log(s, "listen-bob", "zgm: listening to general");
    assert_int_equal(user(s, "alice", {"send", "general", "one"}).status, 0);
    assert_int_equal(wait_exit(first, 15000), 0);
    assert_string_equal(test::read_file(s->dir + "/bob.cursors").c_str(), "general 1\n");
    std::vector<std::string> args = user_args(s, "bob");
    args.insert(args.end(), {"listen", "general"});
    std::string log = log_path(s, "listen-full");
    pid_t listener = test::start_with_descriptor(args, log, 1, "/dev/full");
    assert_true(test::eventually(
        [&] { return strstr(test::read_file(log).c_str(), "zgm: listening to general"); },
        15000 * test::slowdown()));
    assert_int_equal(user(s, "alice", {"send", "general", "two"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "general", "three"}).status, 0);
    assert_int_equal(wait_exit(listener, 15000), 1);
    assert_non_null(strstr(test::read_file(log).c_str(), "zgm: cannot write the output"));
    assert_string_equal(test::read_file(s->dir + "/bob.cursors").c_str(), "general 1\n");
    Result resumed = user(s, "bob", {"listen", "general", "--count", "2"});
    assert_int_equal(resumed.status, 0);
    assert_non_null(strstr(resumed.out.c_str(), "two"));
    assert_non_null(strstr(resumed.out.c_str(), "three"));
}

//  A send that never gets an answer: the interactive client sends it again with its id until
//  a minute has passed, then gives up saying that it may have been stored, with the message
//  id, and exits 3 (in doubt), never 1 (a refusal). Stored once at most, after all.
void test_the_interactive_client_gives_up_on_a_send_never_answered_after_a_minute(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "carol", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "carol", {"send", "general", "before", "the", "stop"}).status, 0);
    std::vector<std::string> args = user_args(s, "carol");
    if (test::slowdown() == 1) args.insert(args.end(), {"--timeout", "1500"});
    int input = -1;
    std::string log = log_path(s, "carol");
    pid_t carol = test::start(args, log, {}, &input);
    const char join[] = "/join general\n";
    assert_int_equal(write(input, join, strlen(join)), (ssize_t)strlen(join));
    //  In the group once it has shown the group's last messages after "joined general" (the
    //  client shows them once at its start too: a server stopped after those, as /join went
    //  on, failed the entry, and the line went nowhere; CI saw it end 0, the line unsent).
    expect_log(s, "carol", "before the stop", "joined general");
    assert_int_equal(kill(server, SIGSTOP), 0);
    s->undo.push_back([server] { kill(server, SIGCONT); });
    const char line[] = "never answered\n";
    assert_int_equal(write(input, line, strlen(line)), (ssize_t)strlen(line));
    close(input);
    int64_t sent_ms = zclock_mono();
    int status = test::wait_exit(carol, 90000);
    int64_t waited_ms = zclock_mono() - sent_ms;
    kill(server, SIGCONT);
    std::string said = test::read_file(log);
    //  Said with the time it took and what the group holds: an exit at once, after a few
    //  seconds (a signal during the start) and after the minute are different faults.
    if (status != 3)
        fail_msg("exit %d, not 3, %lld ms after the line; it said:\n%s\nthe group holds:\n%s",
                 status, (long long)waited_ms, said.c_str(),
                 user(s, "carol", {"fetch", "general"}).out.c_str());
    assert_true(waited_ms >= 60000);
    assert_non_null(strstr(said.c_str(), "gave up sending \"never answered\" to general after a "
                                         "minute without an answer: it may have been stored "
                                         "(message id "));
    assert_null(strstr(said.c_str(), "not sent"));
    Result fetched = user(s, "carol", {"fetch", "general"});
    assert_int_equal(fetched.status, 0);
    const char* first = strstr(fetched.out.c_str(), "never answered");
    assert_true(!first || !strstr(first + 1, "never answered"));
}

//  /leave after a send that got no answer (cli.md, the interactive client): the send is
//  said to be in doubt with its id once the user has left ("left with ... unanswered: it may
//  have been stored (message id ...)"), never as not sent, and a piped client exits 3 (in
//  doubt), not 1. The group server is stopped while the line goes, and let go on as /leave
//  is written: the LEAVE is answered, and the line was in fact stored.
void test_the_interactive_client_says_a_send_in_doubt_at_leave_with_its_id(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "frank", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "frank", {"send", "general", "before", "the", "stop"}).status, 0);
    std::vector<std::string> args = user_args(s, "frank");
    args.insert(args.end(), {"--timeout", std::to_string(1000 * test::slowdown())});
    int input = -1;
    std::string log = log_path(s, "frank");
    pid_t frank = test::start(args, log, {}, &input);
    s->undo.push_back([input] { close(input); });
    auto type = [&](const char* line) {
        assert_int_equal(write(input, line, strlen(line)), (ssize_t)strlen(line));
    };
    type("/join general\n");
    expect_log(s, "frank", "before the stop", "joined general");
    assert_int_equal(kill(server, SIGSTOP), 0);
    s->undo.push_back([server] { kill(server, SIGCONT); });
    type("in doubt\n");
    //  Shown as pending after its timeout; sent again a second later, so /leave comes first.
    expect_log(s, "frank", "(pending: \"in doubt\" to general");
    type("/leave\n");
    assert_int_equal(kill(server, SIGCONT), 0);
    expect_log(s, "frank", "left general");
    type("/quit\n");
    int status = test::wait_exit(frank, 15000);
    std::string said = test::read_file(log);
    if (!strstr(said.c_str(), "left with \"in doubt\" to general unanswered: it may have been "
                              "stored (message id ") ||
        strstr(said.c_str(), "not sent") || status != 3)
        fail_msg("exit %d; it said:\n%s", status, said.c_str());
    //  It was: the group server read it before the LEAVE. Stored once.
    assert_int_equal(user(s, "grace", {"join", "general"}).status, 0);
    Result fetched = user(s, "grace", {"fetch", "general"});
    assert_int_equal(fetched.status, 0);
    const char* first = strstr(fetched.out.c_str(), "in doubt");
    assert_non_null(first);
    assert_null(strstr(first + 1, "in doubt"));
}

//  The interactive client starts in the groups its user is a member of, asking each group
//  server (zgm_user_memberships): one that does not answer is skipped and named in a
//  warning, and the client goes on in the groups of the others.
void test_the_interactive_client_starts_without_a_group_server_that_does_not_answer(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "north", {"--group", "general", "--memory"});
    pid_t south = start_group(s, "south", {"--group", "random", "--memory"});
    expect_log(s, "north", "serving general");
    expect_log(s, "south", "serving random");
    for (const char* group : {"general", "random"})
        assert_int_equal(user(s, "erin", {"join", group}).status, 0);
    assert_int_equal(user(s, "erin", {"send", "general", "north", "answers"}).status, 0);
    assert_int_equal(kill(south, SIGSTOP), 0);
    s->undo.push_back([south] { kill(south, SIGCONT); });
    std::vector<std::string> args = user_args(s, "erin");
    args.insert(args.end(), {"--timeout", std::to_string(1500 * test::slowdown())});
    Result started = test::run_with_input(args, "");
    kill(south, SIGCONT);
    print_message("# %s", started.err.c_str());
    if (!strstr(started.err.c_str(), "zgm: warning: ") ||
        !strstr(started.err.c_str(), ": no answer"))
        fail_msg("no warning of the group server that did not answer:\n%s%s", started.out.c_str(),
                 started.err.c_str());
    assert_non_null(strstr(started.out.c_str(), "north answers"));
    assert_int_equal(started.status, 0);
}

//  An interactive client reading a script from a pipe, stopped (SIGTERM) before the script's
//  end: it says that the lines not read yet were not run, and exits non-zero. It exited 0,
//  the rest of the script silently dropped. (The group server is stopped so that the /join
//  holds the client until the signal, whether or not it read the line after it.)
void test_an_interactive_client_stopped_before_its_inputs_end_says_the_rest_did_not_run(
    void** state) {
    System* s = (System*)*state;
    skip_without_sigterm();
    start_registry(s);
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "dave", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "dave", {"send", "general", "first"}).status, 0);
    std::vector<std::string> args = user_args(s, "dave");
    args.insert(args.end(), {"--timeout", "3000"});
    int input = -1;
    std::string log = log_path(s, "dave");
    pid_t dave = test::start(args, log, {}, &input);
    expect_log(s, "dave", "first"); //  started: it shows the group's last messages
    assert_int_equal(kill(server, SIGSTOP), 0);
    s->undo.push_back([server] { kill(server, SIGCONT); });
    const char script[] = "/join general\nnever run\n";
    assert_int_equal(write(input, script, strlen(script)), (ssize_t)strlen(script));
    assert_int_equal(kill(dave, SIGTERM), 0);
    int status = test::wait_exit(dave, 30000);
    close(input);
    kill(server, SIGCONT);
    std::string said = test::read_file(log);
    if (status == 0 || status == -1) fail_msg("exit %d; it said:\n%s", status, said.c_str());
    if (!strstr(said.c_str(), "stopped before the end of the input: the lines not yet read were "
                              "not run"))
        fail_msg("no word of the lines not run; it said:\n%s", said.c_str());
    Result fetched = user(s, "dave", {"fetch", "general"});
    assert_int_equal(fetched.status, 0);
    assert_null(strstr(fetched.out.c_str(), "never run"));
}

//  A loopback TCP socket bound to a free port, listening if asked; no other process can take
//  the port while it is open. Its port in *port.
int hold_port(int* port, bool listening) {
    int held = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = test::loopback(0);
    socklen_t length = sizeof address;
    assert_int_equal(bind(held, (struct sockaddr*)&address, sizeof address), 0);
    assert_int_equal(getsockname(held, (struct sockaddr*)&address, &length), 0);
    if (listening) assert_int_equal(::listen(held, 1), 0);
    *port = ntohs(address.sin_port);
    return held;
}

//  `make run`: a registry, a group server and the interactive client in one process. Another
//  user of the same account needs only the registry's endpoint (the keys are where the run
//  left them); the run's client shows what that user sends, and sends what is typed;
//  leaving the client stops the servers; the next run finds the messages, and the groups
//  still the run's user's own.
void test_run_is_the_whole_system_in_one_process_and_keeps_its_store(void** state) {
    System* s = (System*)*state;
    //  --bind: the tests' ephemeral port (the default is 127.0.0.1:5570).
    std::vector<std::string> run = {"run", "--data", s->dir + "/store", "--bind",
                                    "tcp://127.0.0.1:*"};
    int input = -1;
    pid_t pid = test::start(run, log_path(s, "run"), {}, &input);
    assert_true(pid > 0);
    //  The group server listens on the registry's address.
    expect_log(s, "run",
               "zgm run: serving general, random and the groups of its store on "
               "tcp://127.0.0.1:");
    wait_for_registry(s, "run");
    expect_log(s, "run", "/help lists the commands");

    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"send", "general", "hello from bob"}).status, 0);
    expect_log(s, "run", "<bob> hello from bob");
    //  general is the run's user's, not bob's.
    assert_int_not_equal(user(s, "bob", {"policy", "general", "members"}).status, 0);
    std::string line = "hello from the run\n";
    assert_int_equal(write(input, line.data(), line.size()), (ssize_t)line.size());
    assert_true(test::eventually(
        [&] {
            return user(s, "bob", {"fetch", "general"}).out.find("hello from the run") !=
                   std::string::npos;
        },
        10000 * test::slowdown()));

    //  The end of its input ends the client, and the servers with it.
    close(input);
    assert_int_equal(test::wait_exit(pid, 20000), 0);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = test::loopback(s->registry_port);
    assert_int_equal(connect(probe, (struct sockaddr*)&address, sizeof address), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(probe);

    //  The next run: the history is there, and the run's user still owns general (the
    //  client exits 0 only when its last command, which only the owner may give, worked).
    Result again = test::run_with_input(run, "/fetch general\n/policy general members\n");
    if (again.status != 0)
        fail_msg("the second run: %d\n%s%s", again.status, again.out.c_str(), again.err.c_str());
    assert_non_null(strstr(again.out.c_str(), "<bob> hello from bob"));
    assert_non_null(strstr(again.out.c_str(), "hello from the run"));
}

//  `zgm run --bind`: a port another socket holds fails the run (exit 1, the registry's bind
//  named; only the default port falls back to a free one), and an endpoint that is not tcp://
//  is a usage error (exit 2).
void test_run_fails_on_a_bind_it_cannot_take(void** state) {
    System* s = (System*)*state;
    int port = 0;
    int held = hold_port(&port, true);
    Result busy =
        test::run({"run", "--data", s->dir + "/store", "--bind", test::local_endpoint(port)});
    //  A registry logs why it cannot bind even with --quiet, and exits 1.
    Result registry = test::run({"registry", "--quiet", "--key", s->dir + "/busy.cert", "--bind",
                                 test::local_endpoint(port)});
    close(held);
    assert_int_equal(registry.status, 1);
    if (!strstr(registry.err.c_str(), " E: ") ||
        !strstr(registry.err.c_str(), "Address already in use"))
        fail_msg("the registry said: %s", registry.err.c_str());
    assert_int_equal(busy.status, 1);
    assert_non_null(strstr(busy.err.c_str(), "cannot bind the registry"));
    assert_non_null(strstr(busy.err.c_str(), "Address already in use"));
    Result ipc =
        test::run({"run", "--data", s->dir + "/store", "--bind", "ipc://" + s->dir + "/r"});
    assert_int_equal(ipc.status, 2);
    assert_non_null(strstr(ipc.err.c_str(), "--bind: a tcp:// endpoint"));
    //  The hint every command gives (it said only "a tcp:// endpoint, not 'localhost:5570'").
    Result bare = test::run({"run", "--data", s->dir + "/store", "--bind", "localhost:5570"});
    assert_int_equal(bare.status, 2);
    assert_non_null(strstr(bare.err.c_str(), "did you mean tcp://localhost:5570?"));
}

void test_send_refuses_an_empty_message(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    //  An empty stdin (the tests' stdin is /dev/null), and an empty word.
    Result from_stdin = user(s, "alice", {"send", "general"});
    assert_int_equal(from_stdin.status, 2);
    assert_non_null(strstr(from_stdin.err.c_str(), "an empty message is not sent"));
    assert_int_equal(user(s, "alice", {"send", "general", ""}).status, 2);
    Result history = user(s, "alice", {"fetch", "general", "--json"});
    assert_int_equal(history.status, 0);
    assert_int_equal(count_lines(history.out, "\"seq\":"), 0);
    //  All of stdin less one final line end; and `--` before text that starts with '-'.
    std::vector<std::string> args = user_args(s, "alice");
    args.insert(args.end(), {"send", "general"});
    assert_int_equal(test::run_with_input(args, "a\nb\n\n").status, 0);
    assert_int_equal(
        user(s, "alice", {"send", "general", "--", "-x", "marks", "the", "spot"}).status, 0);
    history = user(s, "alice", {"fetch", "general", "--json"});
    assert_int_equal(count_lines(history.out, "\"seq\":"), 2);
    assert_non_null(strstr(history.out.c_str(), "\"a\\nb\\n\""));
    assert_non_null(strstr(history.out.c_str(), "\"-x marks the spot\""));
}

//  The port of the group server a log announces ("serving ... on tcp://127.0.0.1:PORT").
int served_port(System* s, const std::string& name) {
    std::string text = test::read_file(log_path(s, name));
    size_t at = text.rfind("127.0.0.1:");
    return at == std::string::npos ? 0 : atoi(text.c_str() + at + 10);
}

std::string body_of(const zgm_msg_t* msg) {
    return std::string((const char*)zgm_msg_body(msg), zgm_msg_size(msg));
}

//  A user of this process, connected to the test's registry with the key the registry wrote.
zgm_user_t* api_user(System* s, const char* name, int timeout_ms) {
    zgm_user_t* user = zgm_user_new(name);
    assert_non_null(user);
    zgm_user_set_timeout(user, timeout_ms);
    assert_ok(zgm_user_connect(user, s->registry.c_str(), registry_cert(s).c_str()));
    return user;
}

//  A group server stalled (stopped here; a disk or memory gone to swap can stall one for
//  seconds) while a user's sends wait on it, and the user gone meanwhile: the server goes on
//  when it wakes. With a connection read only 32 requests ahead, the user's SENDs (16 a group,
//  sent again as their attempts lapsed) stopped the connection's input, and libzmq 4.3.4
//  aborted the process when the connection went (Assertion failed: !_io_error,
//  stream_engine_base.cpp:331), 3 runs of 3.
void test_a_group_server_stalled_under_a_users_sends_goes_on_when_it_wakes(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    pid_t server = start_group(s, "stalled", {"--group", "a", "--group", "b", "--memory"});
    expect_log(s, "stalled", "serving a");
    zgm_user_t* user = api_user(s, "sender", 3000);
    assert_ok(zgm_user_join(user, "a"));
    assert_ok(zgm_user_join(user, "b"));
    assert_int_equal(kill(server, SIGSTOP), 0);
    for (int i = 0; i < 3000; i++) {
        assert_ok(zgm_user_send_async(user, i % 2 ? "a" : "b", "x", 1, NULL));
        zclock_sleep(1);
    }
    //  Every outcome, in doubt after 3 s: the user's connection gave up on the server after 5.
    assert_ok(zgm_user_flush(user, 20000 * test::slowdown()));
    zgm_user_destroy(&user);
    assert_int_equal(kill(server, SIGCONT), 0);
    zgm_user_t* later = api_user(s, "later", 5000 * test::slowdown());
    assert_ok(zgm_user_join(later, "a"));
    int code = 0;
    assert_false(test::exited(server, &code));
    zgm_user_destroy(&later);
}

//  The bytes waiting in the kernel to be read by the socket of 127.0.0.1:port that is
//  connected (not listening), from /proc/net/tcp; -1 when there is none.
long queued_to_read(int port) {
    std::string text = test::read_file("/proc/net/tcp");
    char wanted[16];
    snprintf(wanted, sizeof wanted, ":%04X ", port);
    size_t at = 0;
    while ((at = text.find('\n', at)) != std::string::npos) {
        std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
        at++;
        unsigned local_port = 0, state = 0;
        unsigned long tx = 0, rx = 0;
        if (sscanf(line.c_str(), " %*d: %*8X:%4X %*8X:%*4X %2X %8lX:%8lX", &local_port, &state, &tx,
                   &rx) == 4 &&
            (int)local_port == port && state != 0x0A)
            return (long)rx;
    }
    return -1;
}

//  A peer that pipelines past a group server's read-ahead (kReadAheadRequests) while the
//  server is stalled, with ZeroMQ heartbeats of its own among its requests, and then goes:
//  the server goes on when it wakes. libzmq 4.3.4 aborts it instead (Assertion failed:
//  !_io_error, stream_engine_base.cpp:331): the connection's input stopped at the read-ahead
//  with a PING still undecoded, the connection failed, and when the server had read enough
//  to restart the input, libzmq decoded that PING and answered it on the failed connection.
//  4 aborts of 5 (insecure, whose small frames fill the read-ahead from the kernel's buffers
//  alone; with CURVE 1 of 5, after the peer grew the server's receive window). A known fault:
//  it runs with ZGM_TEST_KNOWN_FAULTS=1 only (testutil.h's run_shard), until zgm has a way
//  around it (docs/security.md).
void known_fault_a_peer_gone_past_the_read_ahead_of_a_stalled_server_leaves_it_serving(
    void** state) {
    System* s = (System*)*state;
    //  No registry: the server serves its group all the same.
    pid_t server = test::start({"server", "--insecure", "--memory", "--group", "a", "--registry",
                                "tcp://127.0.0.1:1", "--bind", "tcp://127.0.0.1:*"},
                               log_path(s, "server"));
    expect_log(s, "server", "listening on tcp://127.0.0.1:");
    std::string text = test::read_file(log_path(s, "server"));
    int port = atoi(text.c_str() + text.find("listening on tcp://127.0.0.1:") + 29);
    assert_true(port > 0);
    std::string endpoint = test::local_endpoint(port);

    //  The peer's socket goes at the teardown if the test fails (held where the undo finds
    //  it: a failed test leaves this frame by longjmp).
    std::shared_ptr<zsock_t*> held = std::make_shared<zsock_t*>(zsock_new(ZMQ_DEALER));
    s->undo.push_back([held] { zsock_destroy(held.get()); });
    zsock_t*& peer = *held;
    assert_non_null(peer);
    zsock_set_sndhwm(peer, 0);
    zsock_set_linger(peer, 0);
    zsock_set_heartbeat_ivl(peer, 1);
    zsock_set_heartbeat_ttl(peer, 60000);
    zsock_set_heartbeat_timeout(peer, 60000);
    zgm::secure_client_socket(peer, zgm::KeyPair::generate(), zgm::Security::kInsecure, zgm::Key());
    assert_int_equal(zsock_connect(peer, "%s", endpoint.c_str()), 0);
    zsock_set_rcvtimeo(peer, 5000 * test::slowdown());
    zgm::proto::Message members;
    members.id = zgm::proto::kMembers;
    members.group = "a";
    members.request_id = 1;
    assert_int_equal(zgm::proto::send(zsock_resolve(peer), "", members), 0);
    zgm::proto::Message reply;
    assert_int_equal((int)zgm::proto::recv(zsock_resolve(peer), false, nullptr, &reply),
                     (int)zgm::proto::DecodeError::kOk);

    //  Twice the read-ahead of 1-byte frames (malformed: the server reads and refuses each),
    //  a millisecond apart every 200, so that the peer's heartbeats come between them.
    const int kFrames = 2 * zgm::kReadAheadRequests;
    assert_int_equal(kill(server, SIGSTOP), 0);
    for (int i = 0; i < kFrames; i++) {
        if (i % 200 == 0) zclock_sleep(1);
        assert_int_equal(zmq_send(zsock_resolve(peer), "x", 1, 0), 1);
    }
    //  All of them wait in the server's receive buffer (3 bytes each on the wire).
    bool queued = test::eventually([&] { return queued_to_read(port) >= 3L * kFrames; },
                                   10000 * test::slowdown());
    zsock_destroy(&peer);
    assert_int_equal(kill(server, SIGCONT), 0);
    assert_true(queued);

    //  The server reads them and closes the connection (or aborts on the way).
    int code = 0;
    assert_true(
        test::eventually([&] { return queued_to_read(port) < 0 || test::exited(server, &code); },
                         20000 * test::slowdown()));
    if (test::exited(server, &code))
        fail_msg("the group server exited (%d):\n%s", code,
                 test::read_file(log_path(s, "server")).c_str());
    test::RawClient later(endpoint, "", zgm::KeyPair::generate(), true);
    zgm::proto::Message again;
    again.id = zgm::proto::kMembers;
    again.group = "a";
    assert_int_equal(later.call(again).id, zgm::proto::kError); //  not a member: answered
    assert_false(test::exited(server, &code));
}

//  Sends again, with its id, until it is stored (or 30 s pass: then the test fails).
void send_until_stored(zgm_user_t* user, const char* group, const std::string& body,
                       const std::string& id) {
    int64_t deadline = zgm::mono_ms() + 30000 * test::slowdown();
    char msg_id[ZGM_MSG_ID_SIZE];
    snprintf(msg_id, sizeof msg_id, "%s", id.c_str());
    while (zgm_user_send(user, group, body.data(), body.size(), msg_id, NULL, NULL) != 0) {
        if (zgm::mono_ms() > deadline)
            fail_msg("%s never stored: %s (%d)", body.c_str(), zgm_strerror(), zgm_errno());
        if (zgm_errno() != ZGM_EINDOUBT) zclock_sleep(100); //  down for now: a moment
    }
}

void test_30_sigkills_of_a_group_server_lose_and_double_no_message(void** state) {
    System* s = (System*)*state;
    const int kCycles = 30, kPerCycle = 20, kWhileDown = 5;
    int64_t started = zgm::mono_ms();
    start_registry(s);
    std::string data = s->dir + "/crash-data";
    std::vector<std::string> options = {"--group",      "crash", "--data", data,
                                        "--durability", "full",  "--quiet"};
    start_group(s, "crash-0", options);
    expect_log(s, "crash-0", "serving crash");
    int port = served_port(s, "crash-0");
    assert_true(port > 0);
    //  Always the same key, store and port.
    options.push_back("--key");
    options.push_back(s->config + "/zgm/servers/crash-0.cert");
    options.push_back("--bind");
    options.push_back(test::local_endpoint(port));

    zgm_user_t* user = api_user(s, "writer", 5000);
    assert_ok(zgm_user_join(user, "crash"));
    //  A timeout shorter than a restart: some sends are in doubt, and retried.
    zgm_user_set_timeout(user, 400);
    std::map<std::string, std::string> bodies; //  id -> body
    int retried = 0, in_doubt = 0;
    int next = 0;
    auto post = [&](int count) {
        for (int i = 0; i < count; i++) {
            char id[ZGM_MSG_ID_SIZE] = "";
            std::string body = "m" + std::to_string(next++);
            assert_ok(zgm_user_send_async(user, "crash", body.data(), body.size(), id));
            bodies[id] = body;
        }
    };
    for (int cycle = 0; cycle < kCycles; cycle++) {
        post(kPerCycle);
        //  Killed at once (sends in flight), or after some outcomes came back.
        std::vector<zgm_sent_t> outcomes;
        int wait_for = cycle % 3 == 0 ? 0 : cycle % 3 == 1 ? 1 : kPerCycle / 2;
        for (int i = 0; i < wait_for; i++) {
            zgm_sent_t sent;
            if (zgm_user_sent(user, &sent, 5000 * test::slowdown()) != 0) break;
            outcomes.push_back(sent);
        }
        test::kill_now(s->groups["crash-" + std::to_string(cycle)]);
        post(kWhileDown); //  sent while it is down
        //  Every third time it stays down until those sends had their outcome: in doubt
        //  for what was in flight, failed for the rest. Else it is back within the timeout.
        if (cycle % 3 == 0) assert_ok(zgm_user_flush(user, 30000 * test::slowdown()));
        std::string name = "crash-" + std::to_string(cycle + 1);
        //  The port may take a moment to be free again: start until one stays up.
        for (int attempt = 0;; attempt++) {
            pid_t again = start_group(s, name, options);
            if (test::wait_for_text(log_path(s, name), "serving crash", 3000)) break;
            assert_true(attempt < 10);
            test::kill_now(again);
        }
        assert_ok(zgm_user_flush(user, 30000 * test::slowdown()));
        zgm_sent_t sent;
        while (zgm_user_sent(user, &sent, 0) == 0)
            outcomes.push_back(sent);
        assert_int_equal(outcomes.size(), kPerCycle + kWhileDown);
        for (const zgm_sent_t& outcome : outcomes) {
            if (outcome.error == 0) continue;
            //  Failed or in doubt: the application sends it again with its id.
            in_doubt += outcome.error == ZGM_EINDOUBT;
            retried++;
            send_until_stored(user, "crash", bodies[outcome.msg_id], outcome.msg_id);
        }
    }
    //  Every message stored exactly once, with gapless seqs.
    zgm_msglist_t* all = zgm_user_fetch(user, "crash", NULL);
    assert_non_null(all);
    size_t size = zgm_msglist_size(all);
    std::set<std::string> seen;
    for (size_t i = 0; i < size; i++) {
        const zgm_msg_t* msg = zgm_msglist_get(all, i);
        assert_int_equal(zgm_msg_seq(msg), i + 1);
        assert_true(seen.insert(body_of(msg)).second); //  no duplicate
        assert_string_equal(bodies[zgm_msg_id(msg)].c_str(), body_of(msg).c_str());
    }
    assert_int_equal(size, kCycles * (kPerCycle + kWhileDown));
    assert_int_equal(seen.size(), kCycles * (kPerCycle + kWhileDown));
    assert_true(retried > 0);
    zgm_msglist_destroy(&all);
    zgm_user_destroy(&user);
    print_message("# %d SIGKILL cycles, %d messages stored once each; %d sends retried with "
                  "their id (%d of them in doubt); %.1f s\n",
                  kCycles, kCycles * (kPerCycle + kWhileDown), retried, in_doubt,
                  (zgm::mono_ms() - started) / 1000.0);
}

void test_a_registry_killed_and_restarted_during_sends_fails_no_send(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "steady", "--memory"});
    expect_log(s, "server", "serving steady");
    zgm_user_t* writer = api_user(s, "writer", 5000);
    assert_ok(zgm_user_join(writer, "steady"));
    assert_int_equal(user(s, "alice", {"join", "steady"}).status, 0);
    int sent = 0;
    auto send_some = [&](int count) {
        for (int i = 0; i < count; i++, sent++) {
            std::string body = "s" + std::to_string(sent);
            uint64_t seq = 0;
            if (zgm_user_send(writer, "steady", body.data(), body.size(), NULL, &seq, NULL) != 0)
                fail_msg("send %d failed: %s", sent, zgm_strerror());
            assert_int_equal(seq, sent + 1);
        }
    };
    send_some(20);
    test::kill_now(s->registry_pid);
    send_some(20); //  the registry is down: the user knows where steady is served
    launch_registry(s, s->registry_port);
    send_some(20); //  while it starts
    wait_for_registry(s);
    send_some(20); //  while it relearns its groups
    //  A process that must ask the registry where steady is, at once: ridden out.
    Result cli = user(s, "alice", {"send", "steady", "from", "the", "command", "line"});
    if (cli.status != 0) fail_msg("zgm user send: %d %s", cli.status, cli.err.c_str());
    sent++;
    send_some(20);
    zgm_msglist_t* all = zgm_user_fetch(writer, "steady", NULL);
    assert_int_equal(zgm_msglist_size(all), sent);
    zgm_msglist_destroy(&all);
    zgm_user_destroy(&writer);
}

void test_a_registry_that_is_not_there_is_said_at_once_with_endpoint_and_reason(void** state) {
    System* s = (System*)*state;
    std::string key = s->dir + "/some.cert";
    assert_int_equal(test::run({"keygen", key}).status, 0);
    //  A port nobody listens on, held (bound, never listening) so that no other process
    //  can take it while the test runs: a connection to it is refused.
    int port = 0;
    int held = hold_port(&port, false);
    std::string endpoint = test::local_endpoint(port);
    int64_t start = zgm::mono_ms();
    Result nobody = test::run({"user", "--identity", s->dir + "/alice", "--registry", endpoint,
                               "--registry-key", key, "--timeout", "10000", "groups"});
    int64_t took = zgm::mono_ms() - start;
    //  listen, with no group named, asks the registry too; it says which command failed.
    Result listen = test::run({"user", "--identity", s->dir + "/alice", "--registry", endpoint,
                               "--registry-key", key, "listen"});
    close(held);
    assert_int_equal(listen.status, 3);
    assert_non_null(strstr(listen.err.c_str(), "zgm: listen: cannot reach the registry"));
    assert_int_equal(nobody.status, 3);
    assert_non_null(strstr(nobody.err.c_str(), endpoint.c_str()));
    assert_non_null(strstr(nobody.err.c_str(), "refused"));
    if (took >= 1500 * test::slowdown())
        fail_msg("took %lld ms: %s", (long long)took, nobody.err.c_str());
    //  An endpoint without its transport gets a hint, and is a usage error.
    Result bare = test::run({"user", "--identity", s->dir + "/alice", "--registry",
                             "localhost:5570", "--registry-key", key, "groups"});
    assert_int_equal(bare.status, 2);
    assert_non_null(strstr(bare.err.c_str(), "--registry: not an endpoint"));
    assert_non_null(strstr(bare.err.c_str(), "did you mean tcp://localhost:5570"));
    assert_non_null(strstr(bare.err.c_str(), "Try 'zgm user --help'."));
    //  The same from the environment names the variable, not an option not given.
    Result from_env =
        test::run({"user", "--identity", s->dir + "/alice", "--registry-key", key, "groups"},
                  {"ZGM_REGISTRY=localhost:5570"});
    assert_int_equal(from_env.status, 2);
    if (!strstr(from_env.err.c_str(), "zgm user: ZGM_REGISTRY: not an endpoint") ||
        strstr(from_env.err.c_str(), "--registry"))
        fail_msg("ZGM_REGISTRY said: %s", from_env.err.c_str());
    Result server_env =
        test::run({"server", "--group", "g", "--memory", "--key", s->dir + "/env-server.cert"},
                  {"ZGM_REGISTRY=localhost:5570"});
    assert_int_equal(server_env.status, 2);
    if (!strstr(server_env.err.c_str(), "zgm server: ZGM_REGISTRY: not an endpoint"))
        fail_msg("ZGM_REGISTRY said to zgm server: %s", server_env.err.c_str());
    //  A group server is told so before it listens (it listened, then failed on it).
    Result server = test::run({"server", "--group", "g", "--memory", "--key",
                               s->dir + "/bare-server.cert", "--registry", "localhost:5570"});
    assert_int_equal(server.status, 2);
    assert_non_null(strstr(server.err.c_str(), "did you mean tcp://localhost:5570"));
    assert_null(strstr(server.err.c_str(), "listening"));
}

//  A group server that registers one group with the registry (it trusts its key, from the
//  directory of trusted servers) and then answers nothing: a send to it is never answered,
//  though it arrives.
class MuteServer {
public:
    MuteServer(System* s, const std::string& group) {
        zgm::KeyPair keys = zgm::KeyPair::generate();
        assert_true(zgm::save_key_pair(s->config + "/zgm/servers/mute.cert", keys, "").is_ok());
        router_ = test::scripted_server_socket(keys, &domain_, &port_);
        char registry_key[ZGM_KEY_SIZE];
        assert_ok(zgm_key_read(registry_cert(s).c_str(), registry_key));
        link_.reset(new test::RawClient(s->registry, registry_key, keys));
        request_.id = zgm::proto::kRegister;
        request_.endpoint = test::local_endpoint(port_);
        request_.group_id = zgm::Uuid::random();
        request_.group = group;
        //  The registry reads its directory again for an unknown key at most once a second.
        assert_true(test::eventually([&] { return link_->call(request_).id == zgm::proto::kOk; }));
    }
    int port() const { return port_; }
    //  Registers again: it never heartbeats, so the registry would expire it.
    void refresh() { assert_int_equal(link_->call(request_).id, zgm::proto::kOk); }
    ~MuteServer() { zgm::zap_close(&router_, &domain_); }
    //  Takes what arrived (and answers nothing); true if anything did.
    bool drain() {
        bool any = false;
        while (zsock_events(router_) & ZMQ_POLLIN) {
            zmsg_t* msg = zmsg_recv(router_);
            zmsg_destroy(&msg);
            any = true;
        }
        return any;
    }

private:
    zsock_t* router_ = nullptr;
    int port_ = 0;
    std::shared_ptr<zgm::ZapDomain> domain_;
    std::unique_ptr<test::RawClient> link_;
    zgm::proto::Message request_;
};

//  A MuteServer that the test's teardown removes, whether the test passed or failed.
MuteServer& mute_server(System* s, const std::string& group) {
    MuteServer* mute = new MuteServer(s, group);
    s->undo.push_back([mute] { delete mute; });
    return *mute;
}

void test_exit_codes_tell_a_wrong_name_from_a_server_down_or_a_send_in_doubt(void** state) {
    System* s = (System*)*state;
    //  A registry younger than its expiry may not know every group yet, and says "not yet"
    //  rather than "no such group": a short expiry, so that it soon knows.
    int expiry = 2000 * test::slowdown();
    start_registry(s, 0, {"--expiry", std::to_string(expiry)});
    pid_t server = start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    //  A wrong name: refused, 1.
    Result wrong;
    assert_true(test::eventually(
        [&] {
            return (wrong = user(s, "alice", {"--timeout", "500", "send", "genral", "hi"}))
                       .status == 1;
        },
        3 * expiry));
    assert_non_null(strstr(wrong.err.c_str(), "genral"));

    //  A send that arrived and got no answer may have been stored: 3, never "failed", and
    //  the command that settles it.
    MuteServer& mute = mute_server(s, "limbo");
    mute.refresh();
    Result doubt = user(s, "alice", {"--timeout", "1000", "send", "limbo", "maybe", "stored"});
    assert_true(mute.drain());
    assert_int_equal(doubt.status, 3);
    assert_non_null(strstr(doubt.err.c_str(), "may have been stored"));
    size_t at = doubt.err.find(" --id ");
    if (at == std::string::npos) fail_msg("no --id in: %s", doubt.err.c_str());
    std::string id = doubt.err.substr(at + 6, 32);
    assert_non_null(
        strstr(doubt.err.c_str(), ("zgm user --registry " + s->registry + " --identity " + s->dir +
                                   "/alice --timeout 1000 "
                                   "send limbo --id " +
                                   id + " -- maybe stored")
                                      .c_str()));
    mute.refresh();
    Result json = user(s, "alice", {"--timeout", "1000", "send", "limbo", "again", "--json"});
    assert_int_equal(json.status, 3);
    assert_non_null(strstr(json.out.c_str(), "\"code\":14,\"msg_id\":\""));
    //  --id makes a send stored once, however often it is sent.
    std::string fresh = "0123456789abcdef0123456789abcdef";
    Result first = user(s, "alice", {"send", "general", "--id", fresh, "once", "--json"});
    Result second = user(s, "alice", {"send", "general", "--id", fresh, "once", "--json"});
    assert_int_equal(first.status, 0);
    assert_int_equal(second.status, 0);
    assert_string_equal(first.out.c_str(), second.out.c_str());
    assert_int_equal(user(s, "alice", {"send", "general", "--id", "nonsense", "x"}).status, 2);
    //  An id of more digits is refused whole (it was cut to 32: said sent, under the id of
    //  "once", and not stored), and one in capitals is the same id.
    Result longer = user(s, "alice", {"send", "general", "--id", fresh + "ff", "other"});
    assert_int_equal(longer.status, 2);
    assert_non_null(strstr(longer.err.c_str(), "32 hex digits"));
    std::string capitals = "0123456789ABCDEF0123456789ABCDEF";
    Result upper = user(s, "alice", {"send", "general", "--id", capitals, "once", "--json"});
    assert_string_equal(upper.out.c_str(), first.out.c_str());
    Result history = user(s, "alice", {"fetch", "general", "--json"});
    assert_int_equal(count_lines(history.out, "\"text\":\"once\""), 1);
    assert_int_equal(count_lines(history.out, "\"text\":\"other\""), 0);

    //  A group server that stays down (for longer than the call waits; the registry still
    //  lists it): 3, never the 1 of a wrong name.
    assert_int_equal(user(s, "alice", {"send", "general", "up"}).status, 0);
    test::kill_now(server);
    Result down = user(s, "alice", {"--timeout", "1000", "send", "general", "anyone?"});
    assert_int_equal(down.status, 3);
}

void test_an_identity_of_zgm_0_1_becomes_a_key_pair_that_keeps_its_name(void** state) {
    System* s = (System*)*state;
    std::string path = s->dir + "/old.id";
    FILE* file = fopen(path.c_str(), "w");
    fputs("0123456789abcdef0123456789abcdef\nold timer\n", file);
    fclose(file);
    Result first = test::run({"user", "--identity", path, "whoami"});
    assert_int_equal(first.status, 0);
    assert_non_null(strstr(first.err.c_str(), "zgm 0.1"));
    assert_non_null(strstr(first.err.c_str(), "0123456789abcdef0123456789abcdef"));
    assert_non_null(strstr(first.err.c_str(), "join your groups again"));
    assert_int_equal(count_lines(first.err, "\n"), 1); //  one line
    assert_int_equal(first.out.compare(0, 11, "old timer  "), 0);
    std::string key = first.out.substr(11, 40);
    struct stat info;
    assert_int_equal(stat((path + "_secret").c_str(), &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    //  Once: the next run is the same user, and says nothing.
    Result again = test::run({"user", "--identity", path, "whoami"});
    assert_string_equal(again.err.c_str(), "");
    assert_string_equal(again.out.c_str(), first.out.c_str());
    //  --name rewrites the name, the key stays.
    Result renamed = test::run({"user", "--identity", path, "--name", "new name", "whoami"});
    assert_string_equal(renamed.out.c_str(), ("new name  " + key + "\n").c_str());
    //  The cursors live beside it: the interactive client (stdin is /dev/null here) shows
    //  general's last messages and moves its cursor.
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    std::vector<std::string> as_old = {"user", "--identity", path, "--registry", s->registry};
    auto with = [&](std::vector<std::string> args) {
        args.insert(args.begin(), as_old.begin(), as_old.end());
        return args;
    };
    assert_int_equal(test::run(with({"join", "general"})).status, 0);
    assert_int_equal(test::run(with({"send", "general", "x"})).status, 0);
    Result client = test::run(with({}));
    assert_int_equal(client.status, 0);
    assert_non_null(strstr(client.out.c_str(), "<new name> x"));
    assert_string_equal(test::read_file(path + ".cursors").c_str(), "general 1\n");
    assert_int_equal(stat((path + ".cursors").c_str(), &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600); //  what a user read is the user's
}

void test_keygen_makes_a_key_pair_once_and_prints_its_key(void** state) {
    System* s = (System*)*state;
    std::string path = s->dir + "/keys/owner.cert";
    Result made = test::run({"keygen", path, "--name", "the owner"});
    assert_int_equal(made.status, 0);
    assert_int_equal(made.out.size(), 41);
    std::string key = made.out.substr(0, 40);
    struct stat info;
    assert_int_equal(stat((path + "_secret").c_str(), &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    assert_int_equal(stat(path.c_str(), &info), 0);
    //  Never over a key pair, nor over another file.
    std::string before = test::read_file(path + "_secret");
    Result again = test::run({"keygen", path});
    assert_int_equal(again.status, 1);
    assert_non_null(strstr(again.err.c_str(), "exists"));
    assert_string_equal(test::read_file(path + "_secret").c_str(), before.c_str());
    std::string other = s->dir + "/notes.txt";
    FILE* file = fopen(other.c_str(), "w");
    fputs("mine\n", file);
    fclose(file);
    assert_int_equal(test::run({"keygen", other}).status, 1);
    assert_string_equal(test::read_file(other).c_str(), "mine\n");
    //  Nor is such a file taken for an identity, nor called a public certificate.
    Result notes = test::run({"user", "--identity", other, "whoami"});
    assert_int_equal(notes.status, 1);
    assert_non_null(strstr(notes.err.c_str(), "is not a certificate"));
    assert_string_equal(test::read_file(other).c_str(), "mine\n");
    //  Nor is a file of junk, and CZMQ's complaint about its syntax never reaches stdout
    //  (it printed two lines there, before the JSON or instead of it).
    std::string junk = s->dir + "/junk.cert", bytes;
    uint32_t random = 12345;
    for (int i = 0; i < 4000; i++) {
        random = random * 1103515245 + 12345;
        bytes.push_back((char)(random >> 16));
    }
    file = fopen(junk.c_str(), "w");
    fwrite(bytes.data(), 1, bytes.size(), file);
    fclose(file);
    Result junked = test::run({"user", "--identity", junk, "--json", "whoami"});
    assert_int_equal(junked.status, 1);
    assert_null(strstr(junked.out.c_str(), "zconfig"));
    assert_null(strstr(junked.err.c_str(), "zconfig"));
    //  It is an identity: its name is the certificate's.
    Result me = test::run({"user", "--identity", path, "whoami"});
    assert_string_equal(me.out.c_str(), ("the owner  " + key + "\n").c_str());
    //  A name with '"' is refused before anything is written: the certificate's metadata
    //  is written between double quotes that nothing escapes, and both files were left
    //  unreadable (the identity lost; keygen refused them once written).
    std::string quoted = s->dir + "/keys/quoted.cert";
    Result refused = test::run({"keygen", quoted, "--name", "say \"hi\""});
    assert_int_equal(refused.status, 2);
    assert_non_null(strstr(refused.err.c_str(), "without control characters or '\"'"));
    assert_int_equal(stat(quoted.c_str(), &info), -1);
    assert_int_equal(stat((quoted + "_secret").c_str(), &info), -1);
    Result renamed = test::run({"user", "--identity", path, "--name", "the \"owner\"", "whoami"});
    assert_int_equal(renamed.status, 2);
    me = test::run({"user", "--identity", path, "whoami"});
    assert_string_equal(me.out.c_str(), ("the owner  " + key + "\n").c_str());
    //  One without a name (a group server's) is used as it is, under the default name, and
    //  never written (it was, with name = "user", and refused when read-only).
    std::string unnamed = s->dir + "/keys/server.cert";
    assert_int_equal(test::run({"keygen", unnamed}).status, 0);
    std::string shown = test::read_file(unnamed), kept = test::read_file(unnamed + "_secret");
    Result as_server = test::run({"user", "--identity", unnamed, "whoami"});
    assert_int_equal(as_server.status, 0);
    assert_string_equal(test::read_file(unnamed).c_str(), shown.c_str());
    assert_string_equal(test::read_file(unnamed + "_secret").c_str(), kept.c_str());
    //  By default, the user's identity.
    Result mine = test::run({"keygen"});
    assert_int_equal(mine.status, 0);
    assert_int_equal(stat((s->config + "/zgm/identity_secret").c_str(), &info), 0);
    Result whoami = test::run({"user", "whoami", "--json"});
    assert_non_null(strstr(whoami.out.c_str(), mine.out.substr(0, 40).c_str()));
    assert_int_equal(test::run({"keygen", "--name", ""}).status, 2);
    Result nowhere = test::run({"keygen", ""});
    assert_int_equal(nowhere.status, 2);
    assert_non_null(strstr(nowhere.err.c_str(), "Try 'zgm keygen --help'"));
}

void test_a_second_group_server_on_the_same_data_is_refused_naming_the_first(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    std::string data = s->dir + "/shared";
    pid_t first = start_group(s, "first", {"--group", "general", "--data", data});
    expect_log(s, "first", "serving general");
    pid_t second = start_group(s, "second", {"--group", "random", "--data", data});
    assert_int_equal(wait_exit(second, 10000), 1);
    expect_log(s, "second", "in use by process " + std::to_string(first));
}

//  A limit the role refuses (a frame below what the protocol needs) is said with its option,
//  exit 2, by a group server as by a registry.
void test_a_refused_limit_is_named_by_its_option(void** state) {
    (void)state;
    Result server = test::run({"server", "--insecure", "--accept-new", "--memory", "--registry",
                               "tcp://127.0.0.1:1", "--max-frame", "1000"});
    assert_int_equal(server.status, 2);
    assert_non_null(strstr(server.err.c_str(), "--max-frame: "));
    Result registry =
        test::run({"registry", "--insecure", "--bind", "tcp://127.0.0.1:*", "--max-frame", "1000"});
    assert_int_equal(registry.status, 2);
    assert_non_null(strstr(registry.err.c_str(), "--max-frame: "));
    //  Past its most: said so, not "not a number".
    Result past = test::run({"server", "--insecure", "--accept-new", "--memory", "--registry",
                             "tcp://127.0.0.1:1", "--max-members", "5000000000"});
    assert_int_equal(past.status, 2);
    assert_non_null(strstr(past.err.c_str(), "--max-members: at most 4294967295, not 5000000000"));
}

void test_without_the_registry_key_a_server_and_a_user_say_where_to_find_it(void** state) {
    System* s = (System*)*state;
    //  No registry ever ran here: no key file.
    Result server = test::run({"server", "--group", "general", "--memory"});
    assert_int_equal(server.status, 2);
    assert_non_null(strstr(server.err.c_str(), "--registry-key"));
    assert_non_null(strstr(server.err.c_str(), "ZGM_REGISTRY_KEY"));
    assert_non_null(strstr(server.err.c_str(), registry_cert(s).c_str()));
    Result user_run = test::run({"user", "--identity", s->dir + "/alice", "groups"});
    assert_int_equal(user_run.status, 2);
    assert_non_null(strstr(user_run.err.c_str(), "ZGM_REGISTRY_KEY"));
}

void test_another_machine_reaches_the_registry_with_its_key(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    std::string text = test::read_file(log_path(s, "registry"));
    size_t at = text.find("zgm registry: key ");
    assert_true(at != std::string::npos);
    std::string key = text.substr(at + 18, 40);
    //  Another machine: no key file of the registry, its key in the environment.
    std::vector<std::string> elsewhere = {"XDG_CONFIG_HOME=" + s->dir + "/elsewhere"};
    std::vector<std::string> args = {
        "user", "--identity", s->dir + "/remote", "--registry", s->registry, "groups", "--json"};
    //  The first waits for the registry to know every group (3 s after its start).
    std::vector<std::string> patient = args;
    patient.insert(patient.end(), {"--timeout", "30000"});
    Result by_env = test::run(patient, {elsewhere[0], "ZGM_REGISTRY_KEY=" + key});
    assert_int_equal(by_env.status, 0);
    assert_non_null(strstr(by_env.out.c_str(), "\"group\":\"general\""));
    //  Or on the command line, as a copy of the public certificate.
    args.push_back("--registry-key");
    args.push_back(registry_cert(s));
    assert_int_equal(test::run(args, elsewhere).status, 0);
    //  A wrong key: the handshake fails, said in time, 3.
    args.back() = s->config + "/zgm/servers/server.cert";
    Result wrong = test::run(args, elsewhere, 20000);
    assert_int_equal(wrong.status, 3);
    assert_non_null(strstr(wrong.err.c_str(), "handshake fails (a wrong key for the server"));
    //  A send says so as soon (it waited out its whole timeout, a minute here).
    std::vector<std::string> send = {"user",       "--identity", s->dir + "/remote",
                                     "--registry", s->registry,  "--registry-key",
                                     args.back(),  "--timeout",  "60000",
                                     "send",       "general",    "hi"};
    int64_t start = zgm::mono_ms();
    Result wrong_send = test::run(send, elsewhere, 70000);
    assert_int_equal(wrong_send.status, 3);
    assert_non_null(strstr(wrong_send.err.c_str(), "not sent: cannot reach the registry"));
    assert_true(zgm::mono_ms() - start < 10000 * test::slowdown());
    //  No key to be found: a usage error, named by the command that needs it.
    Result keyless = test::run({"stats", "--registry", s->registry}, elsewhere);
    assert_int_equal(keyless.status, 2);
    assert_non_null(strstr(keyless.err.c_str(), "zgm stats: no registry key"));
    //  A user started --insecure against it is told of --insecure, whether libzmq reports
    //  the other mechanism or a failed handshake (it said "a wrong key for the server?",
    //  which a PLAIN user has none of).
    args.pop_back();
    args.pop_back();
    args.insert(args.begin() + 1, "--insecure");
    Result plain = test::run(args, {elsewhere[0], "ZGM_REGISTRY_KEY=" + key}, 20000);
    assert_int_equal(plain.status, 3);
    const char* why = strstr(plain.err.c_str(), "cannot reach the registry");
    assert_non_null(why);
    assert_non_null(strstr(why, "--insecure"));
    //  A group server started --insecure against it keeps trying, and its warning names the
    //  causes a handshake that fails may have (it said only "not reachable yet").
    start_group(s, "plain", {"--insecure", "--group", "plainroom", "--memory"});
    expect_log(s, "plain", "a wrong --registry-key, or --insecure on one side only?); trying on");
    //  Bound to every address, the registry reached at 127.0.0.1 (as the packaged
    //  configuration has it): users would be given a loopback address, which users on
    //  other machines cannot reach. The log says so and what to give; not with --advertise.
    start_group(s, "wide", {"--bind", "tcp://*:*", "--group", "wide", "--memory"});
    expect_log(s, "wide", "--bind: users are given a loopback address for this server");
    expect_log(s, "wide", "give the address they can with --advertise");
    start_group(s, "named",
                {"--bind", "tcp://*:*", "--advertise", "tcp://pi.example:5571", "--group", "named",
                 "--memory"});
    expect_log(s, "named", "serving named");
    assert_null(strstr(test::read_file(log_path(s, "named")).c_str(), "users are given"));
    //  Nor with the default bind (every address too), for one machine: the first steps of
    //  the README warned.
    std::vector<std::string> defaults = server_args(s, "home", {"--group", "home", "--memory"});
    auto bind = std::find(defaults.begin(), defaults.end(), "--bind");
    defaults.erase(bind, bind + 2);
    s->groups["home"] = test::start(defaults, log_path(s, "home"));
    expect_log(s, "home", "serving home");
    assert_null(strstr(test::read_file(log_path(s, "home")).c_str(), "users are given"));
}

void test_insecure_roles_talk_plain_and_a_secure_user_is_refused(void** state) {
    System* s = (System*)*state;
    start_registry(s, 0, {"--insecure"});
    expect_log(s, "registry", "--insecure: no encryption");
    //  The group server's from its configuration file, which its warning names.
    std::string config = s->dir + "/plain.cfg";
    write_file(config, "server\n    insecure = true\n");
    start_group(s, "server",
                {"--group", "general", "--memory", "--config", config, "--key",
                 s->config + "/zgm/servers/server.cert"});
    expect_log(s, "server", config + ":2: insecure: no encryption");
    expect_log(s, "server", "serving general");
    Result joined = user(s, "alice", {"--insecure", "join", "general"});
    assert_int_equal(joined.status, 0);
    assert_non_null(strstr(joined.err.c_str(), "zgm: warning: --insecure: no encryption"));
    assert_int_equal(user(s, "alice", {"--insecure", "send", "general", "in clear"}).status, 0);
    Result secure = user(s, "bob", {"--timeout", "3000", "groups"});
    assert_int_equal(secure.status, 3);
    assert_non_null(strstr(secure.err.c_str(), "--insecure"));
}

void test_owners_decide_who_is_in_from_the_command_line(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--accept-new", "--memory"});
    expect_log(s, "server", "accepting new groups");
    //  Once the registry knows every group (3 s after its start), or the CREATE has 2 s left.
    assert_int_equal(user(s, "alice", {"--timeout", "30000", "groups"}).status, 0);
    assert_int_equal(user(s, "alice", {"create", "club", "--members"}).status, 0);
    //  Its owner has not joined: no members, and it says so (it printed nothing).
    Result none = user(s, "alice", {"members", "club"});
    assert_int_equal(none.status, 0);
    assert_string_equal(none.out.c_str(), "(no members)\n");
    assert_int_equal(user(s, "alice", {"join", "club"}).status, 0);
    Result denied = user(s, "bob", {"join", "club"});
    assert_int_equal(denied.status, 1);
    //  bob tells alice his key (or gives her his public certificate); what is done is said
    //  with the key acted on.
    std::string bob = key_of(s, "bob");
    Result added_bob = user(s, "alice", {"add", "club", bob});
    assert_int_equal(added_bob.status, 0);
    assert_string_equal(added_bob.out.c_str(), ("added " + bob + " to club\n").c_str());
    assert_int_equal(user(s, "bob", {"join", "club"}).status, 0);
    Result members = user(s, "bob", {"members", "club", "--json"});
    assert_non_null(strstr(members.out.c_str(), "\"name\":\"alice\",\"role\":\"owner\""));
    assert_non_null(strstr(members.out.c_str(), "\"name\":\"bob\",\"role\":\"member\""));
    assert_int_equal(user(s, "carol", {"whoami"}).status, 0);
    //  Only the owner manages.
    Result not_owner = user(s, "bob", {"add", "club", s->dir + "/carol"});
    assert_int_equal(not_owner.status, 1);
    assert_non_null(strstr(not_owner.err.c_str(), ("add " + s->dir + "/carol to club: ").c_str()));
    //  Named by its certificate file: the key, and where it was read from.
    std::string carol = key_of(s, "carol"), carol_file = s->dir + "/carol";
    Result added_carol = user(s, "alice", {"add", "club", carol_file, "--json"});
    assert_int_equal(added_carol.status, 0);
    assert_string_equal(added_carol.out.c_str(), ("{\"ok\":true,\"group\":\"club\",\"key\":\"" +
                                                  carol + "\",\"file\":\"" + carol_file + "\"}\n")
                                                     .c_str());
    Result added = user(s, "alice", {"members", "club"});
    assert_non_null(strstr(added.out.c_str(), (carol + "  added").c_str()));
    //  Removed: cannot fetch.
    Result removed = user(s, "alice", {"remove", "club", s->dir + "/bob"});
    assert_int_equal(removed.status, 0);
    assert_string_equal(removed.out.c_str(),
                        ("removed " + bob + " (from " + s->dir + "/bob) from club\n").c_str());
    assert_int_equal(user(s, "bob", {"fetch", "club"}).status, 1);
    //  Handed on (to a key that joined), opened.
    Result not_joined = user(s, "alice", {"give", "club", carol});
    assert_int_equal(not_joined.status, 1);
    assert_non_null(
        strstr(not_joined.err.c_str(), "a group is given only to a key that joined it"));
    assert_int_equal(user(s, "carol", {"join", "club"}).status, 0);
    Result gave = user(s, "alice", {"give", "club", carol, "--json"});
    assert_int_equal(gave.status, 0);
    assert_string_equal(gave.out.c_str(),
                        ("{\"ok\":true,\"group\":\"club\",\"key\":\"" + carol + "\"}\n").c_str());
    assert_int_equal(user(s, "alice", {"policy", "club", "open"}).status, 1);
    assert_int_equal(user(s, "carol", {"policy", "club", "open"}).status, 0);
    assert_int_equal(user(s, "carol", {"policy", "club", "closed"}).status, 2);
    assert_int_equal(user(s, "dave", {"join", "club"}).status, 0);
}

void test_retention_set_by_server_and_owner_is_reported_to_fetch_and_listen(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "short", "--memory", "--retain-count", "5"});
    expect_log(s, "server", "serving short");
    assert_int_equal(user(s, "alice", {"join", "short"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "short"}).status, 0);
    zgm_user_t* writer = api_user(s, "writer", 5000);
    assert_ok(zgm_user_join(writer, "short"));
    auto send = [&](int count) {
        for (int i = 0; i < count; i++)
            assert_ok(zgm_user_send_async(writer, "short", "x", 1, NULL));
        assert_ok(zgm_user_flush(writer, 10000));
        zgm_sent_t sent;
        while (zgm_user_sent(writer, &sent, 0) == 0)
            assert_int_equal(sent.error, 0);
    };
    send(11);
    Result fetched = user(s, "bob", {"fetch", "short", "--json"});
    assert_int_equal(fetched.status, 0);
    assert_int_equal(count_lines(fetched.out, "\"seq\":"), 5);
    assert_non_null(
        strstr(fetched.err.c_str(), "6 of the messages of short asked for were dropped"));
    Result last = user(s, "bob", {"fetch", "short", "--last", "2", "--json"});
    assert_int_equal(count_lines(last.out, "\"seq\":"), 2);
    assert_true(last.out.find("\"seq\":10,") < last.out.find("\"seq\":11,"));
    //  Nothing is stamped before the epoch: refused as a query that cannot match (0 in
    //  zgm_fetch_t would be no bound, and printed every message).
    Result epoch = user(s, "bob", {"fetch", "short", "--until", "1970-01-01T00:00:00Z"});
    assert_int_equal(epoch.status, 2);
    assert_non_null(strstr(epoch.err.c_str(), "--until is not after the epoch"));
    //  The owner-less group: no user may change its retention.
    assert_int_equal(user(s, "alice", {"retain", "short", "--count", "100"}).status, 1);
    zgm_user_destroy(&writer);
}

void test_a_listener_told_what_retention_dropped_while_it_was_away(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "short", "--memory", "--retain-count", "3"});
    expect_log(s, "server", "serving short");
    assert_int_equal(user(s, "bob", {"join", "short"}).status, 0);
    assert_int_equal(user(s, "alice", {"join", "short"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "short", "first"}).status, 0);
    //  bob reads it in the interactive client (its stdin is /dev/null): his cursor is 1.
    Result read = user(s, "bob", {});
    assert_int_equal(read.status, 0);
    assert_non_null(strstr(read.out.c_str(), "<alice> first"));
    assert_string_equal(test::read_file(s->dir + "/bob.cursors").c_str(), "short 1\n");
    for (int i = 0; i < 10; i++)
        assert_int_equal(user(s, "alice", {"send", "short", "while away"}).status, 0);
    Result back = user(s, "bob", {"listen", "short", "--count", "3", "--json"});
    if (back.status != 0) fail_msg("listen: %d %s", back.status, back.err.c_str());
    assert_non_null(strstr(back.out.c_str(), "\"seq\":9,"));
    assert_non_null(strstr(back.out.c_str(), "\"missed\":7"));
    assert_non_null(strstr(back.err.c_str(), "7 messages of short before #9 were dropped"));
    //  Entering the group in the interactive client says so too, and does not point to a
    //  /fetch of messages that are gone (it did: "7 earlier messages ... /fetch").
    for (int i = 0; i < 10; i++)
        assert_int_equal(user(s, "alice", {"send", "short", "while away"}).status, 0);
    Result entered = user(s, "bob", {});
    assert_int_equal(entered.status, 0);
    assert_non_null(strstr(entered.out.c_str(), "(7 messages of short since you last read it "
                                                "dropped by its retention)"));
    assert_null(strstr(entered.out.c_str(), "/fetch"));
}

//  A group whose retention dropped everything the user had read: entering it shows nothing,
//  and the client follows it from the user's cursor. The next message is shown as new, with
//  no note of dropped messages (it was followed from 0, and said the message read before
//  was dropped).
void test_entering_a_group_retention_emptied_follows_from_the_cursor(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    assert_int_equal(user(s, "alice", {"whoami"}).status, 0);
    start_group(s, "server", {"--group", "quiet", "--memory", "--owner", s->dir + "/alice"});
    expect_log(s, "server", "serving quiet");
    assert_int_equal(user(s, "bob", {"join", "quiet"}).status, 0);
    assert_int_equal(user(s, "alice", {"join", "quiet"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "quiet", "first"}).status, 0);
    Result read = user(s, "bob", {});
    assert_non_null(strstr(read.out.c_str(), "<alice> first"));
    assert_string_equal(test::read_file(s->dir + "/bob.cursors").c_str(), "quiet 1\n");
    //  Fewer bytes than "first" drops it; then room again, for what comes next.
    assert_int_equal(user(s, "alice", {"retain", "quiet", "--bytes", "3"}).status, 0);
    assert_int_equal(user(s, "alice", {"retain", "quiet", "--bytes", "1000"}).status, 0);
    Result empty = user(s, "bob", {"fetch", "quiet", "--json"});
    assert_int_equal(count_lines(empty.out, "\"seq\":"), 0);
    std::vector<std::string> interactive = user_args(s, "bob");
    int input = -1;
    pid_t pid = test::start(interactive, log_path(s, "bob"), {}, &input);
    assert_true(pid > 0);
    expect_log(s, "bob", "/help lists the commands");
    assert_int_equal(user(s, "alice", {"send", "quiet", "second"}).status, 0);
    expect_log(s, "bob", "<alice> second");
    close(input);
    assert_int_equal(test::wait_exit(pid, 20000), 0);
    std::string shown = test::read_file(log_path(s, "bob"));
    if (strstr(shown.c_str(), "dropped")) fail_msg("a false note:\n%s", shown.c_str());
    assert_string_equal(test::read_file(s->dir + "/bob.cursors").c_str(), "quiet 2\n");
}

void test_listen_follows_every_membership_and_names_a_server_that_does_not_answer(void** state) {
    System* s = (System*)*state;
    start_registry(s, 0, {"--expiry", std::to_string(2000 * test::slowdown())});
    start_group(s, "north", {"--group", "general", "--memory"});
    expect_log(s, "north", "serving general");
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    //  A group server that is listed and takes connections, but answers nothing.
    MuteServer& mute = mute_server(s, "limbo");
    mute.refresh();
    pid_t listener = listen(s, "bob", {"--count", "1", "--json"});
    //  It never heartbeats: registered again while the listener starts, or the registry may
    //  drop it before the listener's first complete list (the registry lists nothing as
    //  complete before one expiry has passed since its start).
    std::string warning = "warning: tcp://127.0.0.1:" + std::to_string(mute.port()) + ": no answer";
    int64_t refreshed = zgm::mono_ms();
    bool warned = test::eventually(
        [&] {
            if (zgm::mono_ms() - refreshed >= 500) {
                mute.refresh();
                refreshed = zgm::mono_ms();
            }
            return test::read_file(log_path(s, "listen-bob")).find(warning) != std::string::npos;
        },
        20000 * test::slowdown());
    if (!warned)
        fail_msg("no '%s' in the listener's log:\n%s", warning.c_str(),
                 test::read_file(log_path(s, "listen-bob")).c_str());
    //  It follows general all the same.
    assert_true(test::eventually(
        [&] {
            user(s, "alice", {"send", "general", "still here"});
            return wait_exit(listener, 1000) == 0;
        },
        20000 * test::slowdown()));
    assert_non_null(strstr(test::read_file(log_path(s, "listen-bob")).c_str(), "still here"));
}

//  listen without a group, when the group server of every group the user is in does not
//  answer: nothing followed, said as such, exit 3 (no answer). It said "bob is not a member
//  of a group on a live group server" and exited 1, as if refused.
void test_listen_with_no_group_server_answering_is_no_answer_not_not_a_member(void** state) {
    System* s = (System*)*state;
    //  The registry keeps the stopped server listed meanwhile.
    start_registry(s, 0, {"--expiry", std::to_string(60000 * test::slowdown())});
    pid_t north = start_group(s, "north", {"--group", "general", "--memory"});
    expect_log(s, "north", "serving general");
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    assert_int_equal(kill(north, SIGSTOP), 0);
    s->undo.push_back([north] { kill(north, SIGCONT); });
    Result listened =
        user(s, "bob", {"--timeout", std::to_string(1500 * test::slowdown()), "listen"});
    kill(north, SIGCONT);
    if (listened.status != 3 || !strstr(listened.err.c_str(), "zgm: listen: no group followed: "
                                                              "a group server did not answer"))
        fail_msg("exit %d:\n%s", listened.status, listened.err.c_str());
    assert_null(strstr(listened.err.c_str(), "not a member"));
}

//  SIGTERM stops a group server cleanly: it deregisters its groups, so the registry stops
//  listing them at once (not after its expiry, a minute here), and a user is told the
//  group's server stopped (exit 3), not that there is no such group.
void test_a_group_server_stopped_by_sigterm_deregisters_its_groups_at_once(void** state) {
    System* s = (System*)*state;
    skip_without_sigterm();
    start_registry(s, 0, {"--expiry", "60000"});
    pid_t north = start_group(s, "north", {"--group", "general", "--memory"});
    expect_log(s, "north", "serving general");
    Result before = user(s, "alice", {"groups", "--json", "--timeout", "30000"});
    assert_non_null(strstr(before.out.c_str(), "\"group\":\"general\""));
    assert_int_equal(kill(north, SIGTERM), 0);
    assert_int_equal(wait_exit(north, 10000), 0);
    Result after = user(s, "alice", {"groups", "--json"});
    assert_int_equal(after.status, 0);
    assert_null(strstr(after.out.c_str(), "\"group\":\"general\""));
    Result join = user(s, "alice", {"join", "general"});
    if (join.status != 3 || !strstr(join.err.c_str(), "stopped"))
        fail_msg("join after the stop: exit %d: %s", join.status, join.err.c_str());
}

//  `zgm stats` as WHO's identity file (a path under the test's directory).
Result stats(System* s, const std::string& identity, std::vector<std::string> args) {
    std::vector<std::string> full = {"stats", "--identity", identity, "--registry", s->registry};
    if (test::slowdown() > 1)
        full.insert(full.end(), {"--timeout", std::to_string(5000 * test::slowdown())});
    full.insert(full.end(), args.begin(), args.end());
    return test::run(full);
}

//  A key pair made with `zgm keygen`: the public certificate's path.
std::string make_key(System* s, const std::string& name) {
    std::string path = s->dir + "/" + name + ".cert";
    assert_int_equal(test::run({"keygen", path}).status, 0);
    return path;
}

//  Whether signo is pending for the whole process (sent, not yet taken by any thread).
bool signal_pending(pid_t pid, int signo) {
    std::string text = test::read_file("/proc/" + std::to_string(pid) + "/status");
    size_t at = text.find("ShdPnd:");
    return at != std::string::npos &&
           (strtoull(text.c_str() + at + 7, nullptr, 16) >> (signo - 1) & 1) != 0;
}

//  A group server waiting (up to 5 s) for a registry that does not answer takes a signal at
//  once: the first stops it once that wait ends, without saying it serves or tries on; a
//  second ends it then and there. Both waited, held back, until the wait ended: the second
//  was merged into the first, and the server went on for 4.5 s, then stopped.
void test_a_group_server_waiting_for_its_registry_takes_signals_at_once(void** state) {
    System* s = (System*)*state;
    skip_without_sigterm();
    std::string absent_key = make_key(s, "absent-registry");
    for (int signals : {1, 2}) {
        std::string name = "waiting" + std::to_string(signals);
        pid_t pid = test::start({"server", "--registry", "tcp://127.0.0.1:1", "--registry-key",
                                 absent_key, "--bind", "tcp://127.0.0.1:*", "--memory", "--group",
                                 "x", "--key", s->dir + "/" + name + ".cert"},
                                log_path(s, name));
        expect_log(s, name, "listening on");
        int64_t sent = zgm::mono_ms();
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_true(test::eventually([&] { return !signal_pending(pid, SIGTERM); }, 3000));
        if (signals == 1) {
            assert_int_equal(test::wait_exit(pid, 10000), 0);
            std::string log = test::read_file(log_path(s, name));
            if (strstr(log.c_str(), "serving") || strstr(log.c_str(), "trying on"))
                fail_msg("a server stopped while it waited went on to say:\n%s", log.c_str());
            continue;
        }
        assert_int_equal(kill(pid, SIGTERM), 0);
        int code = 0;
        assert_true(test::eventually([&] { return test::exited(pid, &code); }, 3000));
        assert_int_equal(code, -1); //  ended by the signal
        int64_t took = zgm::mono_ms() - sent;
        print_message("# two signals ended it %lld ms after the first\n", (long long)took);
        assert_true(took < 3000); //  the registry's wait is 5 s
    }
}

//  --trust replaces the default directory: a group server whose key is there is refused (it
//  says so and exits 1), the one named is served.
void test_trust_replaces_the_default_directory(void** state) {
    System* s = (System*)*state;
    std::string named = make_key(s, "named");
    start_registry(s, 0, {"--trust", named});
    Result refused = test::run(server_args(s, "north", {"--group", "general", "--memory"}));
    assert_int_equal(refused.status, 1);
    assert_non_null(strstr(refused.err.c_str(), "not a trusted group server"));
    //  A warning in its log, not information (which it was).
    assert_non_null(strstr(refused.err.c_str(), "W: group server: the registry refused this"));
    start_group(s, "south", {"--group", "random", "--memory", "--key", named});
    expect_log(s, "south", "serving random");
}

//  The number after "name": at or after `from` in text; -1 if there is none.
double number_after(const std::string& text, const std::string& name, size_t from) {
    size_t at = text.find("\"" + name + "\":", from);
    if (at == std::string::npos) return -1;
    return atof(text.c_str() + at + name.size() + 3);
}

void test_stats_of_one_group_is_for_its_servers_own_key_only(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "north", {"--group", "general", "--memory"});
    expect_log(s, "north", "serving general");
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"send", "general", "counted"}).status, 0);
    //  As the group server itself (its certificate as the identity): its figures only.
    Result own = stats(s, s->config + "/zgm/servers/north.cert", {"--json", "general"});
    if (own.status != 0) fail_msg("stats general: %d %s", own.status, own.err.c_str());
    assert_int_equal(count_lines(own.out, "\n"), 1);
    assert_int_equal(count_lines(own.out, "\"role\":"), 1);
    assert_non_null(strstr(own.out.c_str(), "\"groups\":[\"general\"],\"status\":\"ok\""));
    assert_non_null(strstr(own.out.c_str(), "\"group/general\":{\"messages\":1,"));
    assert_non_null(strstr(own.out.c_str(), "\"rss_kib\":"));
    //  Malformed requests by reason, counted by the server even when none came.
    assert_non_null(strstr(own.out.c_str(), "\"malformed\":{\"no frame to decode\":0,"));
    //  Anyone else is refused, and the section says why.
    Result other = stats(s, s->dir + "/bob", {"general"});
    assert_int_equal(other.status, 1);
    assert_non_null(strstr(other.out.c_str(), "(general): refused: "));
    assert_non_null(strstr(other.err.c_str(), "--admin"));
    //  The former name still works, and says it is deprecated.
    Result former = user(s, "bob", {"stats", "general"});
    assert_int_equal(former.status, 1);
    assert_non_null(
        strstr(former.err.c_str(), "zgm: 'zgm user stats' is deprecated; use 'zgm stats'\n"));
    assert_non_null(strstr(former.out.c_str(), "(general): refused: "));
}

//  A group server that does not answer in time (stopped here) is said on stderr and in its
//  section, and the exit status is 3, not the 1 of a refusal.
void test_stats_exits_3_when_a_group_server_does_not_answer(void** state) {
    System* s = (System*)*state;
    std::string admin = make_key(s, "admin");
    //  An expiry ten times the stats' timeout: the stopped server stays listed, also when a
    //  loaded machine delays its heartbeats before the stop (CI saw the stats exit 0 once,
    //  with an expiry of four times: nothing listed to ask, presumably).
    const int timeout = 1000 * test::slowdown();
    start_registry(s, 0, {"--admin", admin, "--expiry", std::to_string(10 * timeout)});
    pid_t north = start_group(s, "north", {"--group", "general", "--memory", "--admin", admin});
    expect_log(s, "north", "serving general");
    Result all;
    assert_true(test::eventually([&] { return (all = stats(s, admin, {})).status == 0; },
                                 10 * timeout)); //  the registry knows every group
    assert_int_equal(kill(north, SIGSTOP), 0);
    Result stopped = stats(s, admin, {"--timeout", std::to_string(timeout)});
    assert_int_equal(kill(north, SIGCONT), 0);
    if (stopped.status != 3)
        fail_msg("exit %d, stdout:\n%s\nstderr:\n%s\nregistry:\n%s", stopped.status,
                 stopped.out.c_str(), stopped.err.c_str(),
                 test::read_file(log_path(s, "registry")).c_str());
    assert_non_null(strstr(stopped.out.c_str(), " (general): no answer: "));
    assert_non_null(strstr(stopped.err.c_str(), "zgm stats: group server "));
    assert_non_null(strstr(stopped.out.c_str(), "  server/")); //  the registry's part
}

void test_stats_shows_the_registry_and_every_group_server_it_lists(void** state) {
    System* s = (System*)*state;
    std::string admin = make_key(s, "admin");
    start_registry(s, 0, {"--admin", admin});
    start_group(s, "north", {"--group", "general", "--memory", "--admin", admin});
    start_group(s, "south",
                {"--group", "random", "--group", "extra", "--memory", "--admin", admin});
    expect_log(s, "north", "serving general");
    expect_log(s, "south", "serving random, extra");
    assert_int_equal(user(s, "alice", {"join", "random"}).status, 0);
    assert_int_equal(user(s, "alice", {"send", "random", "one"}).status, 0);

    Result all = stats(s, admin, {"--timeout", "30000"}); //  the registry's list: 3 s after start
    if (all.status != 0) fail_msg("stats: %d %s\n%s", all.status, all.err.c_str(), all.out.c_str());
    assert_non_null(strstr(all.out.c_str(), ("registry " + s->registry + "\n").c_str()));
    assert_int_equal(count_lines(all.out, "\ngroup server tcp://"), 2);
    assert_non_null(strstr(all.out.c_str(), " (general)\n"));
    assert_non_null(strstr(all.out.c_str(), " (extra, random)\n"));
    assert_non_null(strstr(all.out.c_str(), "  group/random"));
    assert_non_null(strstr(all.out.c_str(), "  group/general"));
    assert_non_null(strstr(all.out.c_str(), "  server/"));
    Result json = stats(s, admin, {"--json"});
    assert_int_equal(json.status, 0);
    assert_int_equal(count_lines(json.out, "\"status\":\"ok\""), 3);
    assert_non_null(strstr(json.out.c_str(), "\"group/random\":{\"messages\":1,"));

    //  A group server that does not name this key: its section says it refused, the rest
    //  is printed, and the exit status is 1 (refused).
    start_group(s, "west", {"--group", "spare", "--memory"});
    expect_log(s, "west", "serving spare");
    assert_true(test::eventually(
        [&] { return strstr(user(s, "alice", {"groups"}).out.c_str(), "spare") != nullptr; },
        5000 * test::slowdown()));
    Result partial = stats(s, admin, {});
    assert_int_equal(partial.status, 1);
    assert_int_equal(count_lines(partial.out, "\ngroup server tcp://"), 3);
    assert_non_null(strstr(partial.out.c_str(), " (spare): refused: "));
    assert_non_null(strstr(partial.out.c_str(), "  group/general"));
    assert_non_null(strstr(partial.err.c_str(), "zgm stats: group server "));
    json = stats(s, admin, {"--json"});
    assert_int_equal(json.status, 1);
    assert_non_null(strstr(json.out.c_str(), "\"groups\":[\"spare\"],\"status\":\"refused\""));
}

//  --watch runs until Ctrl-C, which exits 0, or until --count reports, and then exits with
//  the last report's status: 3 when a group server did not answer it (docs/cli.md).
void test_stats_watch_exits_0_on_ctrl_c_and_else_with_its_last_reports_status(void** state) {
    System* s = (System*)*state;
    std::string admin = make_key(s, "admin");
    start_registry(s, 0, {"--admin", admin, "--expiry", "60000"});
    pid_t north = start_group(s, "north", {"--group", "general", "--memory", "--admin", admin});
    expect_log(s, "north", "serving general");
    assert_true(test::eventually([&] { return stats(s, admin, {}).status == 0; },
                                 10000 * test::slowdown())); //  the registry knows every group
    std::vector<std::string> args = {"stats",     "--identity", admin, "--registry",
                                     s->registry, "--watch",    "1",   "--json"};
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    if (wrapper && *wrapper) {
        print_message("# Ctrl-C skipped: qemu-user does not pass SIGINT on to the program\n");
    } else {
        std::string log = log_path(s, "watch");
        pid_t watch = test::start(args, log);
        expect_log(s, "watch", "]}\n"); //  a report
        assert_int_equal(kill(watch, SIGINT), 0);
        assert_int_equal(wait_exit(watch, 10000), 0);
    }

    //  Two reports, the second while the group server does not answer.
    args.insert(args.end(), {"--count", "2", "--timeout", std::to_string(1000 * test::slowdown())});
    std::string counted_log = log_path(s, "counted");
    pid_t counted = test::start(args, counted_log);
    expect_log(s, "counted", "]}\n");
    assert_int_equal(kill(north, SIGSTOP), 0);
    int status = wait_exit(counted, 20000);
    assert_int_equal(kill(north, SIGCONT), 0);
    std::string text = test::read_file(counted_log);
    if (status != 3) fail_msg("exit %d:\n%s", status, text.c_str());
    assert_int_equal(count_lines(text, "]}\n"), 2);
    assert_non_null(strstr(text.c_str(), "\"status\":\"no answer\""));
}

void test_stats_watch_reports_the_rates_of_the_sends_between_two_reports(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "north", {"--group", "general", "--memory"});
    expect_log(s, "north", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    std::vector<std::string> args = {
        "stats",      "--identity", s->config + "/zgm/servers/north.cert",
        "--registry", s->registry,  "general",
        "--watch",    "1",          "--count",
        "2",          "--json"};
    std::string log = log_path(s, "watch");
    pid_t watch = test::start(args, log);
    expect_log(s, "watch", "]}\n");
    //  Held between its two reports while three messages are sent.
    kill(watch, SIGSTOP);
    for (int i = 0; i < 3; i++)
        assert_int_equal(user(s, "alice", {"send", "general", "rated"}).status, 0);
    kill(watch, SIGCONT);
    assert_int_equal(wait_exit(watch, 20000), 0);
    std::string text = test::read_file(log);
    assert_int_equal(count_lines(text, "\n"), 2);
    std::string first = text.substr(0, text.find('\n') + 1), second = text.substr(first.size());
    assert_null(strstr(first.c_str(), "\"rates\""));
    size_t figures = std::string("\"figures\":{\"server\":{").size();
    size_t at1 = first.find("\"figures\":{\"server\":{"),
           at2 = second.find("\"figures\":{\"server\":{");
    assert_true(at1 != std::string::npos && at2 != std::string::npos);
    double sends1 = number_after(first, "sends", at1 + figures);
    double sends2 = number_after(second, "sends", at2 + figures);
    assert_true(sends1 >= 0 && sends2 - sends1 == 3);
    size_t rates = second.find("\"rates\":{");
    assert_true(rates != std::string::npos);
    double interval_ms = number_after(second, "interval_ms", 0);
    double per_second = number_after(second, "sends", second.find("\"server\":{", rates));
    double group_per_second =
        number_after(second, "sends", second.find("\"group/general\":{", rates));
    //  The rate times the interval is the three sends (the rates have three decimals).
    if (interval_ms <= 0 || fabs(per_second * interval_ms / 1000 - 3) > 0.01 ||
        fabs(group_per_second * interval_ms / 1000 - 3) > 0.01)
        fail_msg("rates %f and %f over %f ms for 3 sends:\n%s", per_second, group_per_second,
                 interval_ms, second.c_str());
}

void test_a_server_refuses_connections_its_descriptors_cannot_hold(void** state) {
    System* s = (System*)*state;
    struct rlimit limit;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= 4000000000u) {
        print_message("# skipped: the hard descriptor limit is %llu\n",
                      (unsigned long long)limit.rlim_max);
        return;
    }
    start_registry(s);
    Result refused = test::run(server_args(
        s, "greedy", {"--group", "general", "--memory", "--max-connections", "4000000000"}));
    assert_int_equal(refused.status, 1);
    assert_non_null(strstr(refused.err.c_str(), "--max-connections 4000000000 needs about"));
    assert_non_null(strstr(refused.err.c_str(), "ulimit -n"));
}

} // namespace

int main(int argc, char* argv[]) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_processes PATH-TO-ZGM\n");
        return 2;
    }
    test::set_program(argv[1]);
    //  ZGM_TEST_FILTER=test_keygen* runs the tests whose names match.
    if (const char* filter = getenv("ZGM_TEST_FILTER")) cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_group_servers_and_users_on_the_command_line,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_group_name_is_refused_by_the_registry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_listen_prints_live_messages_and_resumes_after_the_last_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_server_killed_and_restarted_loses_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restarted_registry_refills_its_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_server_whose_heartbeats_stop_disappears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_heartbeat_as_long_as_the_default_expiry_is_warned_of,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_is_a_deprecated_alias_of_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_server_reads_its_section_and_instance_from_the_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_bad_config_file_stops_the_server_naming_file_line_and_key, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_lines_carry_a_priority_under_the_journal_and_the_year_elsewhere, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_help_prints_what_the_help_options_print, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listen_without_a_group_while_its_server_is_away, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_servers_bad_value_is_a_usage_error_before_it_starts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_interactive_client_fed_by_a_pipe_exits_with_its_first_failure, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_the_interactive_client_starts_without_a_group_server_that_does_not_answer, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_an_interactive_client_stopped_before_its_inputs_end_says_the_rest_did_not_run,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_interactive_client_gives_up_on_a_send_never_answered_after_a_minute, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_the_interactive_client_says_a_send_in_doubt_at_leave_with_its_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_refuses_an_empty_message, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_run_is_the_whole_system_in_one_process_and_keeps_its_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_fails_on_a_bind_it_cannot_take, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_30_sigkills_of_a_group_server_lose_and_double_no_message, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_group_server_stalled_under_a_users_sends_goes_on_when_it_wakes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            known_fault_a_peer_gone_past_the_read_ahead_of_a_stalled_server_leaves_it_serving,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_registry_killed_and_restarted_during_sends_fails_no_send, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_registry_that_is_not_there_is_said_at_once_with_endpoint_and_reason, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_exit_codes_tell_a_wrong_name_from_a_server_down_or_a_send_in_doubt, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_an_identity_of_zgm_0_1_becomes_a_key_pair_that_keeps_its_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keygen_makes_a_key_pair_once_and_prints_its_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_second_group_server_on_the_same_data_is_refused_naming_the_first, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_trust_replaces_the_default_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_limit_is_named_by_its_option, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_without_the_registry_key_a_server_and_a_user_say_where_to_find_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_another_machine_reaches_the_registry_with_its_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_roles_talk_plain_and_a_secure_user_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_owners_decide_who_is_in_from_the_command_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_retention_set_by_server_and_owner_is_reported_to_fetch_and_listen, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_listener_told_what_retention_dropped_while_it_was_away, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_entering_a_group_retention_emptied_follows_from_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_listen_with_no_group_server_answering_is_no_answer_not_not_a_member, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_group_server_stopped_by_sigterm_deregisters_its_groups_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_group_server_waiting_for_its_registry_takes_signals_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_listen_that_cannot_write_stops_and_keeps_its_cursor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_closed_or_full_standard_descriptor_is_said, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_listen_follows_every_membership_and_names_a_server_that_does_not_answer, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_stats_of_one_group_is_for_its_servers_own_key_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stats_shows_the_registry_and_every_group_server_it_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_exits_3_when_a_group_server_does_not_answer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stats_watch_reports_the_rates_of_the_sends_between_two_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stats_watch_exits_0_on_ctrl_c_and_else_with_its_last_reports_status, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_server_refuses_connections_its_descriptors_cannot_hold, setup, teardown),
    };
    return test::run_shard("processes", tests);
}
