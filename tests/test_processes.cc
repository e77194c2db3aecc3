/*  =========================================================================
    test_processes.cc - the zgm program as separate processes: a registry, two group
    servers and users on the command line; a group server killed with SIGKILL and
    restarted; a restarted registry; a group server whose heartbeats stop; the
    configuration file, the log lines, `zgm help` and the deprecated `zgm group`

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "process.h"
#include "testutil.h"

#include <fcntl.h>
#include <map>
#include <sys/stat.h>

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

pid_t start_group(System* s, const std::string& name, const std::vector<std::string>& options,
                  const std::vector<std::string>& env = {}, const char* command = "server") {
    std::vector<std::string> args = {
        command, "--registry", s->registry, "--bind", "tcp://127.0.0.1:*", "--heartbeat", "200"};
    args.insert(args.end(), options.begin(), options.end());
    std::string log = log_path(s, name);
    pid_t pid = test::start(args, log, env);
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
    expect_log(s, "south", "zgm server:");

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

void write_file(const std::string& path, const std::string& text) {
    FILE* file = fopen(path.c_str(), "w");
    assert_non_null(file);
    fputs(text.c_str(), file);
    fclose(file);
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
    expect_log(s, "north", "serving north-1, north-2 on tcp://127.0.0.1:");
    expect_log(s, "north", "store in " + s->dir + "/data/north\n");
    //  Options on the command line win: --memory drops the file's data.
    test::start({"server", "--config", config, "--group", "flagged", "--memory"},
                log_path(s, "flagged"));
    expect_log(s, "flagged", "serving flagged on");
    assert_null(strstr(test::read_file(log_path(s, "flagged")).c_str(), "store in"));
    Result groups = user(s, "alice", {"groups", "--json"});
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
    assert_int_equal(test::run({"help", "user", "nosuch"}).status, 2);
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
        cmocka_unit_test_setup_teardown(test_send_refuses_an_empty_message, setup, teardown),
    };
    return cmocka_run_group_tests_name("processes", tests, NULL, NULL);
}
