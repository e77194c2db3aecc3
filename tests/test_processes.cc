/*  =========================================================================
    test_processes.cc - the zgm program as separate processes: a registry, two group
    servers and users on the command line; a group server killed with SIGKILL and
    restarted; a restarted registry; a group server whose heartbeats stop

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "process.h"
#include "testutil.h"

#include <map>

using test::Result;

namespace {

struct System {
    std::string dir;
    std::string registry; //  endpoint
    int registry_port = 0;
    pid_t registry_pid = 0;
    std::map<std::string, pid_t> groups; //  log name -> pid
};

std::string log_path(System* s, const std::string& name) {
    return s->dir + "/" + name + ".log";
}

//  Waits for text in a process's log (20 s, more under an emulator); on failure the test
//  fails with the log printed, so a slow or failed start says why.
void expect_log(System* s, const std::string& name, const std::string& text) {
    std::string path = log_path(s, name);
    if (!test::wait_for_text(path, text, 20000)) {
        print_error("waited for '%s' in %s, which holds:\n%s\n", text.c_str(), path.c_str(),
                    test::read_file(path).c_str());
        fail();
    }
}

int setup(void** state) {
    System* s = new System();
    s->dir = test::make_temp_dir();
    *state = s;
    return 0;
}

int teardown(void** state) {
    System* s = (System*)*state;
    test::stop_all();
    test::remove_tree(s->dir);
    delete s;
    return 0;
}

void start_registry(System* s, int port = 0, const std::vector<std::string>& extra = {}) {
    std::string bind = "tcp://127.0.0.1:" + (port ? std::to_string(port) : std::string("*"));
    std::vector<std::string> args = {"registry", "--bind", bind};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string log = log_path(s, "registry");
    s->registry_pid = test::start(args, log);
    expect_log(s, "registry", "(port ");
    //  The log accumulates across restarts: the last announcement counts.
    std::string text = test::read_file(log);
    s->registry_port = atoi(text.c_str() + text.rfind("(port ") + 6);
    assert_true(s->registry_port > 0);
    s->registry = test::local_endpoint(s->registry_port);
}

pid_t start_group(System* s, const std::string& name, const std::vector<std::string>& options) {
    std::vector<std::string> args = {
        "group", "--registry", s->registry, "--bind", "tcp://127.0.0.1:*", "--heartbeat", "200"};
    args.insert(args.end(), options.begin(), options.end());
    std::string log = log_path(s, name);
    pid_t pid = test::start(args, log);
    s->groups[name] = pid;
    return pid;
}

//  A user's command, with its own identity (config directory) and the registry.
Result user(System* s, const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> full = {"user", "--name", who, "--registry", s->registry};
    full.insert(full.end(), args.begin(), args.end());
    return test::run(full, {"XDG_CONFIG_HOME=" + s->dir + "/config-" + who});
}

pid_t listen(System* s, const std::string& who, const std::vector<std::string>& args) {
    std::vector<std::string> full = {"user", "--name", who, "--registry", s->registry, "listen"};
    full.insert(full.end(), args.begin(), args.end());
    return test::start(full, log_path(s, "listen-" + who),
                       {"XDG_CONFIG_HOME=" + s->dir + "/config-" + who});
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
    int status = 0;
    while (zgm::mono_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(20000);
    }
    return -1;
}

void test_registry_group_servers_and_users_on_the_command_line(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "north", {"--group", "general", "--group", "random", "--memory"});
    start_group(s, "south", {"--accept-new", "--memory"});
    expect_log(s, "north", "serving general, random");
    expect_log(s, "south", "zgm group:");

    Result groups = user(s, "alice", {"groups", "--json"});
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
    assert_int_equal(count_lines(members.out, "\"id\":"), 2);

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
        test::run({"user", "--registry", "tcp://127.0.0.1:1", "--timeout", "300", "groups"},
                  {"XDG_CONFIG_HOME=" + s->dir + "/config-nobody"});
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

void test_listen_prints_live_messages_and_resumes_after_the_last_printed(void** state) {
    System* s = (System*)*state;
    start_registry(s);
    start_group(s, "server", {"--group", "general", "--memory"});
    expect_log(s, "server", "serving general");
    assert_int_equal(user(s, "alice", {"join", "general"}).status, 0);
    assert_int_equal(user(s, "bob", {"join", "general"}).status, 0);

    pid_t listener = listen(s, "bob", {"general", "--count", "3", "--json"});
    usleep(500000 * test::slowdown());
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
    Result resumed = test::run({"user", "--name", "bob", "--registry", s->registry, "listen",
                                "general", "--count", "2", "--json"},
                               {"XDG_CONFIG_HOME=" + s->dir + "/config-bob"});
    assert_int_equal(resumed.status, 0);
    assert_int_equal(count_lines(resumed.out, "\"seq\":"), 2);
    assert_non_null(strstr(resumed.out.c_str(), "\"seq\":4"));
    assert_non_null(strstr(resumed.out.c_str(), "\"seq\":5"));
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
    usleep(500000 * test::slowdown());
    for (int i = 1; i <= 5; i++)
        assert_int_equal(user(s, "alice", {"send", "general", "m" + std::to_string(i)}).status, 0);
    test::kill_now(server);
    //  Restarted on another port: the registry hands out the new endpoint.
    start_group(s, "server-again", {"--group", "general", "--data", data});
    expect_log(s, "server-again", "serving general");
    for (int i = 6; i <= 10; i++) {
        Result sent = user(s, "alice", {"send", "general", "m" + std::to_string(i), "--json"});
        assert_int_equal(sent.status, 0);
        //  The sequence goes on from where it was.
        assert_non_null(strstr(sent.out.c_str(), ("\"seq\":" + std::to_string(i)).c_str()));
    }
    assert_int_equal(wait_exit(listener, 30000), 0);
    std::string heard = test::read_file(log_path(s, "listen-bob"));
    for (int i = 1; i <= 10; i++)
        assert_int_equal(count_lines(heard, "\"seq\":" + std::to_string(i) + ","), 1);

    //  History and membership survived.
    Result history = user(s, "bob", {"fetch", "general", "--json"});
    assert_int_equal(count_lines(history.out, "\"seq\":"), 10);
    Result members = user(s, "bob", {"members", "general", "--json"});
    assert_int_equal(count_lines(members.out, "\"id\":"), 2);
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

} // namespace

int main(int argc, char* argv[]) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_processes PATH-TO-ZGM\n");
        return 2;
    }
    test::set_program(argv[1]);
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
    };
    return cmocka_run_group_tests_name("processes", tests, NULL, NULL);
}
