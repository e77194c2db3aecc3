/*  =========================================================================
    test_security.cc - the attacks that worked against zgm 0.1 (issue "Trust"), each now
    failing for the attacker, and the limits that bound what any peer can make a server hold

    Each test is named for what a user relies on. docs/security.md names the test behind
    each of its claims.

    Tests that measure a server (its RSS, descriptors and log) run it in a process of its
    own, zgm_test_roles (tests/roles.cc), whose path is the first argument. The capture test
    runs tcpdump as root; it skips, saying why, when it cannot.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/limits.h"
#include "core/security.h"
#include "core/zap.h"
#include "store/store.h"
#include "net/receipts.h"
#include "net/sockets.h"
#include "process.h"
#include "servertest.h"

#include <algorithm>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using test::assert_error;
using test::Cluster;
using test::follow_message;
using test::group_request;
using test::heartbeat_message;
using test::join_message;
using test::RawClient;
using test::register_message;
using test::send_message;
using test::send_text;
namespace proto = zgm::proto;

namespace {

//  ---------------------------------------------------------------------------------------
//  Helpers

//  True if nothing at all arrives within timeout_ms.
bool silent(RawClient& client, int timeout_ms) {
    proto::Message message;
    zmq_pollitem_t item = {zsock_resolve(client.socket()), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) return true;
    proto::recv(zsock_resolve(client.socket()), false, nullptr, &message);
    return false;
}

std::string random_hex(size_t bytes) {
    std::string out;
    for (size_t i = 0; i < bytes; i++) {
        char two[3];
        snprintf(two, sizeof two, "%02x", (unsigned)(randof(256)));
        out += two;
    }
    return out;
}

//  /proc/PID/status field in KiB (VmRSS, VmHWM), or -1.
long status_kb(pid_t pid, const char* field) {
    std::string text = test::read_file("/proc/" + std::to_string(pid) + "/status");
    size_t at = text.find(std::string(field) + ":");
    if (at == std::string::npos) return -1;
    return atol(text.c_str() + at + strlen(field) + 1);
}

int open_descriptors(pid_t pid) {
    int count = 0;
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    if (DIR* handle = opendir(path.c_str())) {
        while (struct dirent* entry = readdir(handle))
            count += entry->d_name[0] != '.';
        closedir(handle);
    }
    return count;
}

} // namespace

//  ---------------------------------------------------------------------------------------
//  The roles in a process of their own

namespace {

std::string s_roles_program;

//  Under AddressSanitizer a process keeps what it frees in quarantine (and pads every
//  allocation), under ThreadSanitizer its shadow memory grows with what it did, and under
//  an emulator (qemu-user) its RSS holds the emulator's translated code, so there its RSS
//  says nothing about what a server holds: the RSS figures are printed, not compared.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
const bool kRssMeaningful = false;
#else
const bool kRssMeaningful = !getenv("ZGM_EXE_WRAPPER") || !*getenv("ZGM_EXE_WRAPPER");
#endif

//  A zgm_test_roles process: its endpoints and keys, read from what it printed.
struct Roles {
    pid_t pid = -1;
    std::string dir; //  its log (and store)
    std::string log;
    std::string registry, registry_key, server, server_key;

    //  with_store: a SQLite store in its directory (else a memory store).
    void start(std::vector<std::string> args, bool with_store = false,
               const std::string& ready = "ready\n") {
        dir = test::make_temp_dir();
        log = dir + "/roles.log";
        if (with_store) {
            args.push_back("--data");
            args.push_back(dir + "/store");
        }
        test::set_program(s_roles_program);
        pid = test::start(args, log);
        if (!test::wait_for_text(log, ready, 20000 * test::slowdown()))
            fail_msg("zgm_test_roles did not start: %s", test::read_file(log).c_str());
        //  Its lines "registry ENDPOINT KEY" and "server ENDPOINT KEY", among the roles' log
        //  lines (which may say "registry " or "server " within them).
        std::string text = "\n" + test::read_file(log);
        size_t at;
        char endpoint[128], key[64];
        if ((at = text.find("\nregistry ")) != std::string::npos &&
            sscanf(text.c_str() + at + 1, "registry %127s %63s", endpoint, key) == 2) {
            registry = endpoint;
            registry_key = key;
        }
        if ((at = text.find("\nserver ")) != std::string::npos &&
            sscanf(text.c_str() + at + 1, "server %127s %63s", endpoint, key) == 2) {
            server = endpoint;
            server_key = key;
        }
    }
    std::string last_log; //  what it wrote, kept when it stops

    void stop() {
        if (pid > 0) test::stop(pid);
        pid = -1;
        if (!log.empty()) last_log = test::read_file(log);
        log.clear();
        if (!dir.empty()) test::remove_tree(dir);
        dir.clear();
    }
    long rss_kb() const { return status_kb(pid, "VmRSS"); }
    long peak_kb() const { return status_kb(pid, "VmHWM"); }
    //  Lines it logged after it said "ready".
    int log_lines_after_ready() const {
        std::string text = test::read_file(log);
        size_t at = text.find("ready\n");
        if (at == std::string::npos) return -1;
        int lines = 0;
        for (size_t i = at + 6; i < text.size(); i++)
            lines += text[i] == '\n';
        return lines;
    }
};

Roles s_roles;
Roles s_attacker; //  zgm_test_roles --flood

int stop_roles(void** state) {
    (void)state;
    s_attacker.stop();
    s_roles.stop();
    test::stop_all();
    return 0;
}

} // namespace

//  ---------------------------------------------------------------------------------------
//  Handshakes: only CURVE, to the key the client was given, as the key it holds

namespace {

//  What a client that cannot complete the handshake gets from one server: nothing.
void expect_only_curve_answered(const std::string& endpoint, const std::string& key, uint8_t id) {
    //  The control: a CURVE client with the server's key is answered.
    RawClient good(endpoint, key);
    proto::Message probe = group_request(id, "lobby");
    if (id == proto::kJoin) probe.name = "visitor";
    proto::Message reply = good.call(probe);
    if (id == proto::kList) { //  any key may list the groups
        assert_int_equal(reply.groups.size(), 1);
        assert_string_equal(reply.groups[0].name.c_str(), "lobby");
    } else {
        assert_int_equal(reply.id, proto::kJoined);
    }

    RawClient null_client(endpoint, ""); //  ZeroMQ with no security at all
    RawClient plain(endpoint, "", zgm::KeyPair::generate(), true);
    RawClient wrong_server(endpoint, zgm::KeyPair::generate().public_txt);
    //  A client that holds another's public key but not its secret.
    zgm::KeyPair stolen{good.key(), zgm::KeyPair::generate().secret_txt};
    RawClient impostor(endpoint, key, stolen);
    RawClient* attackers[] = {&null_client, &plain, &wrong_server, &impostor};
    for (RawClient* attacker : attackers) {
        proto::Message message = group_request(id, "lobby");
        message.name = "visitor";
        attacker->send_if_connected(message);
    }
    assert_true(silent(null_client, 1500));
    assert_true(silent(plain, 200));
    assert_true(silent(wrong_server, 200));
    assert_true(silent(impostor, 200));
}

} // namespace

void test_a_client_without_curve_or_the_right_keys_gets_nothing(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* server = cluster.add_server(NULL, {"lobby"}, false, "tcp://127.0.0.1:*", &port);
    expect_only_curve_answered(cluster.endpoint(), cluster.key(), proto::kList);
    expect_only_curve_answered(test::local_endpoint(port), zgm_server_key(server), proto::kJoin);
}

//  A role started --insecure speaks PLAIN: a NULL or CURVE client still gets nothing, and a
//  PLAIN user name that is not a key is refused; the registry and a group server alike.
void test_an_insecure_server_answers_only_plain_clients_stating_a_key(void** state) {
    (void)state;
    //  A PLAIN client stating a key gets its answer; the others get nothing.
    auto check = [](const std::string& endpoint, const char* server_key, uint8_t request,
                    uint8_t answer) {
        auto message = [&] {
            return request == proto::kJoin ? join_message("lobby", "plain")
                                           : group_request(request);
        };
        RawClient plain(endpoint, "", zgm::KeyPair::generate(), true);
        proto::Message asked = message();
        assert_int_equal(plain.call(asked).id, answer);
        RawClient null_client(endpoint, "");
        RawClient curve(endpoint, server_key);
        zgm::KeyPair not_a_key{"not-a-key", ""};
        RawClient named(endpoint, "", not_a_key, true);
        for (RawClient* attacker : {&null_client, &curve, &named}) {
            proto::Message sent = message();
            attacker->send_if_connected(sent);
        }
        assert_true(silent(null_client, 1500));
        assert_true(silent(curve, 200));
        assert_true(silent(named, 200));
    };
    zgm_registry_t* registry = zgm_registry_new();
    assert_ok(zgm_registry_set_insecure(registry, 1));
    int port = zgm_registry_bind(registry, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    check(test::local_endpoint(port), zgm_registry_key(registry), proto::kList, proto::kGroups);
    zgm_registry_destroy(&registry);

    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_insecure(server, 1));
    assert_ok(zgm_server_add(server, "lobby", NULL, ZGM_POLICY_OPEN));
    port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    check(test::local_endpoint(port), zgm_server_key(server), proto::kJoin, proto::kJoined);
    zgm_server_destroy(&server);
}

//  ---------------------------------------------------------------------------------------
//  Key files

namespace {

int file_mode(const std::string& path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0 ? (int)(info.st_mode & 0777) : -1;
}

} // namespace

//  A key pair on disk is a CZMQ certificate: the secret file only its owner may read, the
//  public one anyone. zgm_keygen never replaces a key pair; a role given a path that does
//  not exist makes one there, and the same path later is the same key.
void test_key_files_keep_the_secret_key_private(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    {
        std::string path = dir + "/alice.cert";
        assert_ok(zgm_keygen(path.c_str(), "alice"));
        assert_int_equal(file_mode(path + "_secret"), 0600);
        assert_int_equal(file_mode(path), 0644);
        char from_public[ZGM_KEY_SIZE], from_secret[ZGM_KEY_SIZE];
        assert_ok(zgm_key_read(path.c_str(), from_public));
        assert_ok(zgm_key_read((path + "_secret").c_str(), from_secret));
        assert_string_equal(from_public, from_secret);
        assert_int_equal(zgm_keygen(path.c_str(), NULL), -1);
        assert_int_equal(zgm_errno(), ZGM_EEXISTS);
        //  Whatever the umask (a service's 077): the servers that read the public file can.
        std::string strict = dir + "/strict.cert";
        mode_t umask_before = umask(077);
        int made = zgm_keygen(strict.c_str(), "strict");
        umask(umask_before);
        assert_ok(made);
        assert_int_equal(file_mode(strict), 0644);
        assert_int_equal(file_mode(strict + "_secret"), 0600);
        //  The secret file holds the secret key; the public one does not.
        std::string secret_text = test::read_file(path + "_secret");
        std::string public_text = test::read_file(path);
        assert_non_null(strstr(secret_text.c_str(), "secret-key"));
        assert_null(strstr(public_text.c_str(), "secret-key"));

        //  A user made with a path that does not exist yet: created, 0600, and the same
        //  key the next time.
        std::string bob_path = dir + "/bob.cert";
        zgm_user_t* bob = zgm_user_new_with_key("bob", bob_path.c_str());
        assert_non_null(bob);
        std::string bob_key = zgm_user_key(bob);
        zgm_user_destroy(&bob);
        assert_int_equal(file_mode(bob_path + "_secret"), 0600);
        bob = zgm_user_new_with_key("bob", bob_path.c_str());
        assert_string_equal(zgm_user_key(bob), bob_key.c_str());
        zgm_user_destroy(&bob);
        //  A public certificate alone is not a key pair.
        unlink((bob_path + "_secret").c_str());
        assert_null(zgm_user_new_with_key("bob", bob_path.c_str()));
        zgm_server_t* server = zgm_server_new(NULL);
        assert_int_equal(zgm_server_set_key(server, bob_path.c_str()), -1);
        //  Said as such (it said "is there and is not a certificate").
        if (!strstr(zgm_strerror(), "is a public certificate; its secret key"))
            fail_msg("a public certificate alone: %s", zgm_strerror());
        zgm_server_destroy(&server);
        zgm_registry_t* registry = zgm_registry_new();
        assert_int_equal(zgm_registry_set_key(registry, bob_path.c_str()), -1);
        zgm_registry_destroy(&registry);
        //  FILE copied over from another pair: not one key pair, refused (the role took
        //  FILE_secret's key, and gave FILE's name beside it).
        std::string carol_path = dir + "/carol.cert", dave_path = dir + "/dave.cert";
        assert_ok(zgm_keygen(carol_path.c_str(), "carol"));
        assert_ok(zgm_keygen(dave_path.c_str(), "dave"));
        assert_int_equal(rename(dave_path.c_str(), carol_path.c_str()), 0);
        assert_null(zgm_user_new_with_key("carol", carol_path.c_str()));
        server = zgm_server_new(NULL);
        assert_int_equal(zgm_server_set_key(server, carol_path.c_str()), -1);
        if (!strstr(zgm_strerror(), "they are not one key pair"))
            fail_msg("a public file of another pair: %s", zgm_strerror());
        zgm_server_destroy(&server);
        //  zgm_keygen leaves either as it is, as for any file there: ZGM_EEXISTS, with why.
        for (const std::string& path : {bob_path, carol_path}) {
            assert_int_equal(zgm_keygen(path.c_str(), "again"), -1);
            assert_int_equal(zgm_errno(), ZGM_EEXISTS);
        }
        assert_non_null(strstr(zgm_strerror(), "they are not one key pair"));

        //  A registry and a group server given a path make their pair there, and are the
        //  same key the next time.
        for (const char* role : {"registry", "server"}) {
            std::string role_path = dir + "/" + role + ".cert";
            std::string keys[2];
            for (std::string& key : keys) {
                if (std::string(role) == "registry") {
                    zgm_registry_t* made = zgm_registry_new();
                    assert_ok(zgm_registry_set_key(made, role_path.c_str()));
                    key = zgm_registry_key(made);
                    zgm_registry_destroy(&made);
                } else {
                    zgm_server_t* made = zgm_server_new(NULL);
                    assert_ok(zgm_server_set_key(made, role_path.c_str()));
                    key = zgm_server_key(made);
                    zgm_server_destroy(&made);
                }
            }
            assert_string_equal(keys[0].c_str(), keys[1].c_str());
            assert_int_equal(file_mode(role_path + "_secret"), 0600);
            char from_file[ZGM_KEY_SIZE];
            assert_ok(zgm_key_read(role_path.c_str(), from_file));
            assert_string_equal(from_file, keys[0].c_str());
        }
    }
    test::remove_tree(dir);
}

//  Processes that make the same missing key pair at the same moment (services started
//  together, each given the path) end up with one key pair, each reading it whole: the
//  secret file appears at once (link), and a loser of the race reads the winner's.
void test_processes_making_one_key_pair_at_once_get_the_same_key(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    const int kRounds = 20, kProcesses = 3;
    for (int round = 0; round < kRounds; round++) {
        std::string path = dir + "/shared" + std::to_string(round) + ".cert";
        int go[2], results[2];
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(results), 0);
        std::vector<pid_t> children;
        for (int i = 0; i < kProcesses; i++) {
            pid_t child = test::fork_child();
            assert_true(child >= 0);
            if (child == 0) {
                close(go[1]);
                char byte;
                while (read(go[0], &byte, 1) < 0 && errno == EINTR) { //  until the start
                }
                zgm::KeyPair keys;
                zgm::Status status = zgm::load_key_pair(path, true, &keys, nullptr);
                std::string said =
                    (status.is_ok() ? keys.public_txt : "error: " + status.message()) + "\n";
                ssize_t written = write(results[1], said.data(), said.size());
                _exit(written == (ssize_t)said.size() ? 0 : 1);
            }
            children.push_back(child);
        }
        close(go[0]);
        close(results[1]);
        close(go[1]); //  all start at once
        std::string said;
        char buffer[512];
        ssize_t got;
        while ((got = read(results[0], buffer, sizeof buffer)) > 0 || (got < 0 && errno == EINTR))
            if (got > 0) said.append(buffer, (size_t)got);
        close(results[0]);
        for (pid_t child : children) {
            int status = 0;
            assert_true(test::reap(child, 10000 * test::slowdown(), &status));
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        char on_disk[ZGM_KEY_SIZE];
        assert_ok(zgm_key_read(path.c_str(), on_disk));
        std::string expected;
        for (int i = 0; i < kProcesses; i++)
            expected += std::string(on_disk) + "\n";
        if (said != expected)
            fail_msg("round %d: the processes got\n%s(the file holds %s)", round, said.c_str(),
                     on_disk);
    }
    test::remove_tree(dir);
}

//  ---------------------------------------------------------------------------------------
//  What an observer on the wire sees

namespace {

//  A tcpdump started by the test, stopped by its PID (also when the test fails).
struct Capture {
    pid_t pid = -1;
    std::string dir;
    std::string file;
    std::string log;

    void stop() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            int status = 0;
            bool reaped = false;
            for (int i = 0; i < 250 && !reaped; i++) {
                reaped = waitpid(pid, &status, WNOHANG) == pid;
                if (!reaped) zclock_sleep(20);
            }
            if (!reaped) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
            }
        }
        pid = -1;
    }
    void remove() {
        stop();
        if (!dir.empty()) test::remove_tree(dir);
        dir.clear();
    }
};

Capture s_capture;

int stop_capture(void** state) {
    (void)state;
    s_capture.remove();
    return 0;
}

std::string tcpdump_path() {
    for (const char* path : {"/usr/bin/tcpdump", "/usr/sbin/tcpdump", "/sbin/tcpdump"})
        if (access(path, X_OK) == 0) return path;
    return "";
}

//  Starts tcpdump on the loopback for these TCP ports, and waits until it listens.
void start_capture(const std::string& tcpdump, const std::vector<int>& ports) {
    s_capture.dir = test::make_temp_dir();
    s_capture.file = s_capture.dir + "/session.pcap";
    s_capture.log = s_capture.dir + "/tcpdump.log";
    std::string filter;
    for (int port : ports)
        filter += (filter.empty() ? "" : " or ") + std::string("tcp port ") + std::to_string(port);
    pid_t pid = test::fork_child();
    if (pid == 0) {
        int log = open(s_capture.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(log, 1);
        dup2(log, 2);
        //  -U: each packet written as it comes; -Z root: keep writing where root may.
        execl(tcpdump.c_str(), "tcpdump", "-i", "lo", "-n", "-U", "-s", "0", "-Z", "root", "-w",
              s_capture.file.c_str(), filter.c_str(), (char*)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    s_capture.pid = pid;
    if (!test::wait_for_text(s_capture.log, "listening on", 10000))
        fail_msg("tcpdump did not start: %s", test::read_file(s_capture.log).c_str());
}

//  The TCP payloads of a capture, one stream per direction of each connection, in capture
//  order (loopback neither loses nor reorders), so a needle split across segments is found.
std::map<std::string, std::string> tcp_streams(const std::string& pcap) {
    std::map<std::string, std::string> streams;
    if (pcap.size() < 24) return streams;
    uint32_t magic, link;
    memcpy(&magic, pcap.data(), 4);
    memcpy(&link, pcap.data() + 20, 4);
    assert_true(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d); //  written by this host
    assert_int_equal(link, 1);                               //  Ethernet framing on lo
    size_t at = 24;
    while (at + 16 <= pcap.size()) {
        uint32_t captured;
        memcpy(&captured, pcap.data() + at + 8, 4);
        const uint8_t* packet = (const uint8_t*)pcap.data() + at + 16;
        at += 16 + captured;
        if (at > pcap.size() || captured < 14 + 20) break;
        if (packet[12] != 0x08 || packet[13] != 0x00) continue; //  IPv4 only: the tests' own
        const uint8_t* ip = packet + 14;
        size_t ip_header = (ip[0] & 0x0F) * 4;
        size_t ip_total = (size_t)ip[2] << 8 | ip[3];
        if (ip[9] != 6 || ip_total > captured - 14 || ip_total < ip_header + 20) continue;
        const uint8_t* tcp = ip + ip_header;
        size_t tcp_header = (tcp[12] >> 4) * 4;
        if (ip_total < ip_header + tcp_header) continue;
        char flow[64];
        snprintf(flow, sizeof flow, "%u>%u", (unsigned)(tcp[0] << 8 | tcp[1]),
                 (unsigned)(tcp[2] << 8 | tcp[3]));
        streams[flow].append((const char*)tcp + tcp_header, ip_total - ip_header - tcp_header);
    }
    return streams;
}

std::string hex(const uint8_t* bytes, size_t size, bool upper) {
    std::string out;
    for (size_t i = 0; i < size; i++) {
        char two[3];
        snprintf(two, sizeof two, upper ? "%02X" : "%02x", bytes[i]);
        out += two;
    }
    return out;
}

std::string base64(const uint8_t* bytes, size_t size) {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t group = (uint32_t)bytes[i] << 16;
        if (i + 1 < size) group |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < size) group |= bytes[i + 2];
        out += digits[group >> 18 & 63];
        out += digits[group >> 12 & 63];
        out += i + 1 < size ? digits[group >> 6 & 63] : '=';
        out += i + 2 < size ? digits[group & 63] : '=';
    }
    return out;
}

//  Every form of a key an observer could look for: raw, Z85, hex, base64 (with and without
//  its padding).
void add_key_forms(std::map<std::string, std::string>* needles, const std::string& what,
                   const std::string& z85) {
    zgm::Key key;
    assert_true(zgm::Key::parse(z85, &key));
    std::string b64 = base64(key.bytes, zgm::kKeySize);
    (*needles)[what + " (raw)"] = std::string((const char*)key.bytes, zgm::kKeySize);
    (*needles)[what + " (Z85)"] = z85;
    (*needles)[what + " (hex)"] = hex(key.bytes, zgm::kKeySize, false);
    (*needles)[what + " (HEX)"] = hex(key.bytes, zgm::kKeySize, true);
    (*needles)[what + " (base64)"] = b64;
    (*needles)[what + " (base64, unpadded)"] = b64.substr(0, b64.find('='));
}

//  One session of everything users do, captured: returns what of `needles` the capture
//  shows, by name; *said gets what tcpdump said (its counts of packets, and any dropped).
std::vector<std::string> capture_session(const std::string& tcpdump, bool insecure,
                                         std::string* said) {
    std::string tag = random_hex(6);
    std::string group = "vault-" + tag;
    std::string created = "made-" + tag;
    std::string marker = "MARKER-" + random_hex(12) + "-body";
    std::string alice_name = "Alice-" + tag;
    std::string bob_name = "Bob-" + tag;

    zgm_registry_t* registry = zgm_registry_new();
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_registry_set_insecure(registry, insecure));
    assert_ok(zgm_server_set_insecure(server, insecure));
    assert_ok(zgm_server_add(server, group.c_str(), NULL, ZGM_POLICY_OPEN));
    assert_ok(zgm_server_set_accept_new(server, 1));
    assert_ok(zgm_registry_trust(registry, zgm_server_key(server)));
    int registry_port = zgm_registry_bind(registry, "tcp://127.0.0.1:*");
    int server_port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    assert_true(registry_port > 0 && server_port > 0);
    std::string registry_endpoint = test::local_endpoint(registry_port);
    const char* registry_key = insecure ? NULL : zgm_registry_key(registry);
    //  Before the capture, so that its CREATE is answered at once: it took 3.2 of its 5 s
    //  here, and stop 36's CI saw this test fail without printing which assertion.
    test::wait_until_registry_complete(registry_endpoint, registry_key, insecure);

    start_capture(tcpdump, {registry_port, server_port});
    assert_ok(zgm_server_connect(server, registry_endpoint.c_str(), registry_key));
    zgm_user_t* alice = zgm_user_new(alice_name.c_str());
    zgm_user_t* bob = zgm_user_new(bob_name.c_str());
    for (zgm_user_t* user : {alice, bob}) {
        assert_ok(zgm_user_set_insecure(user, insecure));
        assert_ok(zgm_user_connect(user, registry_endpoint.c_str(), registry_key));
    }
    assert_ok(zgm_user_join(alice, group.c_str()));
    assert_ok(zgm_user_join(bob, group.c_str()));
    assert_ok(zgm_user_create(alice, created.c_str(), ZGM_POLICY_MEMBERS));
    assert_ok(zgm_user_add(alice, created.c_str(), zgm_user_key(bob)));
    send_text(alice, group.c_str(), marker);
    zgm_msg_t* got = zgm_user_recv(bob, 5000);
    assert_non_null(got);
    assert_memory_equal(zgm_msg_body(got), marker.data(), marker.size());
    zgm_msg_destroy(&got);
    zgm_msglist_t* history = zgm_user_fetch(bob, group.c_str(), NULL);
    assert_non_null(history);
    assert_int_equal(zgm_msglist_size(history), 1);
    zgm_msglist_destroy(&history);
    size_t count = 0;
    zgm_member_t* members = zgm_user_members(bob, group.c_str(), &count);
    assert_int_equal(count, 2);
    free(members);
    zgm_group_t* groups = zgm_user_groups(bob, &count);
    assert_int_equal(count, 2);
    free(groups);

    std::map<std::string, std::string> needles;
    needles["the body's marker"] = marker;
    needles["the body's marker (hex)"] = hex((const uint8_t*)marker.data(), marker.size(), false);
    needles["the group's name"] = group;
    needles["the created group's name"] = created;
    needles["alice's display name"] = alice_name;
    needles["bob's display name"] = bob_name;
    add_key_forms(&needles, "alice's key", zgm_user_key(alice));
    add_key_forms(&needles, "bob's key", zgm_user_key(bob));
    add_key_forms(&needles, "the group server's key", zgm_server_key(server));
    add_key_forms(&needles, "the registry's key", zgm_registry_key(registry));

    //  Let the capture catch up with the session: a sentinel sent after it, in the clear on
    //  a plain TCP connection to the registry's port, then wait until tcpdump has written it.
    //  tcpdump writes packets in the order they came, so everything before it is written too.
    //  (It waited for the file to grow after one more exchange: tcpdump, slow under load, may
    //  then have written an older block of packets, and was stopped before the session's
    //  bodies; CI saw the insecure session's marker missing once.)
    std::string sentinel = "CAPTURE-SENTINEL-" + random_hex(12);
    int plain = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = test::loopback(registry_port);
    assert_int_equal(connect(plain, (struct sockaddr*)&address, sizeof address), 0);
    assert_int_equal(write(plain, sentinel.data(), sentinel.size()), (ssize_t)sentinel.size());
    bool written = test::eventually(
        [&] { return test::read_file(s_capture.file).find(sentinel) != std::string::npos; },
        10000 * test::slowdown());
    close(plain);
    if (!written)
        fail_msg("tcpdump did not write the sentinel: %s", test::read_file(s_capture.log).c_str());
    s_capture.stop();
    zgm_user_destroy(&alice);
    zgm_user_destroy(&bob);
    zgm_server_destroy(&server);
    zgm_registry_destroy(&registry);

    std::string pcap = test::read_file(s_capture.file);
    std::map<std::string, std::string> streams = tcp_streams(pcap);
    size_t payload = 0;
    for (const auto& stream : streams)
        payload += stream.second.size();
    //  The capture saw the session: both directions of several connections, and the bodies.
    assert_true(streams.size() >= 6);
    assert_true(payload > marker.size() * 2);
    std::vector<std::string> seen;
    for (const auto& needle : needles) {
        bool found = pcap.find(needle.second) != std::string::npos;
        for (const auto& stream : streams)
            found = found || stream.second.find(needle.second) != std::string::npos;
        if (found) seen.push_back(needle.first);
    }
    *said = test::read_file(s_capture.log);
    s_capture.remove();
    return seen;
}

} // namespace

void test_an_observer_on_the_wire_sees_no_body_name_or_key(void** state) {
    (void)state;
    if (geteuid() != 0) {
        print_message("# skipped: capturing the loopback takes root (tcpdump -i lo)\n");
        skip();
    }
    std::string tcpdump = tcpdump_path();
    if (tcpdump.empty()) {
        print_message("# skipped: no tcpdump (scripts/deps.sh build installs it)\n");
        skip();
    }
    std::string said;
    std::vector<std::string> seen = capture_session(tcpdump, false, &said);
    for (const std::string& what : seen)
        print_message("# in the clear with CURVE: %s\n", what.c_str());
    assert_int_equal(seen.size(), 0);

    //  The same session with --insecure shows them: the capture would catch a leak.
    seen = capture_session(tcpdump, true, &said);
    auto shows = [&](const std::string& what) {
        return std::find(seen.begin(), seen.end(), what) != seen.end();
    };
    if (!shows("the body's marker"))
        print_message("# the insecure session's capture shows %zu of its needles; tcpdump "
                      "said:\n%s",
                      seen.size(), said.c_str());
    assert_true(shows("the body's marker"));
    assert_true(shows("the group's name"));
    assert_true(shows("the created group's name"));
    assert_true(shows("alice's display name"));
    assert_true(shows("alice's key (Z85)"));
    assert_true(shows("bob's key (raw)"));
}

//  ---------------------------------------------------------------------------------------
//  Identity: a request is its connection's key, never what it says

//  Mallory knows alice's public key (any member can read it), and uses every request there
//  is. None has a field that names the requester: each acts as mallory's own key.
void test_a_user_cannot_send_leave_fetch_follow_or_read_members_as_another(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* server =
        cluster.add_server(NULL, {"open-room"}, false, "tcp://127.0.0.1:*", &port);
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    std::string alice_key = zgm_user_key(alice);
    assert_ok(zgm_server_add(server, "private", alice_key.c_str(), ZGM_POLICY_MEMBERS));
    test::wait_listed(alice, "private");
    assert_ok(zgm_user_join(alice, "open-room"));
    assert_ok(zgm_user_join(alice, "private"));
    assert_ok(zgm_user_join(bob, "open-room"));
    send_text(alice, "private", "for alice only");

    RawClient mallory(test::local_endpoint(port), zgm_server_key(server));
    zgm::Key alice_raw;
    zgm::Key::parse(alice_key, &alice_raw);
    //  In alice's private group: every request is mallory's, who is not a member.
    proto::Message leave = group_request(proto::kLeave, "private");
    assert_error(mallory.call(leave), proto::kNotMember);
    proto::Message fetch = group_request(proto::kFetch, "private");
    assert_error(mallory.call(fetch), proto::kNotMember);
    proto::Message members = group_request(proto::kMembers, "private");
    assert_error(mallory.call(members), proto::kNotMember);
    proto::Message follow = follow_message({"private"});
    proto::Message following = mallory.call(follow);
    assert_int_equal(following.follows.size(), 1);
    assert_int_equal(following.follows[0].status, proto::kNotMember);
    std::string body = "sent as alice?";
    proto::Message send = send_message("private", body);
    assert_error(mallory.call(send), proto::kNotMember);
    //  The key field of the owner's requests names the key acted on, not the requester.
    for (uint8_t id : {proto::kRemove, proto::kGive, proto::kAdd}) {
        proto::Message owner_only = group_request(id, "private");
        owner_only.key = id == proto::kRemove ? alice_raw : mallory.keys().public_key();
        assert_error(mallory.call(owner_only), proto::kDenied);
    }
    //  And those that name no key: POLICY and RETAIN.
    proto::Message policy = group_request(proto::kPolicy, "private");
    assert_error(mallory.call(policy), proto::kDenied);
    proto::Message retain = group_request(proto::kRetain, "private");
    retain.max_count = 1;
    assert_error(mallory.call(retain), proto::kDenied);
    proto::Message memberships = group_request(proto::kMemberships);
    assert_int_equal(mallory.call(memberships).follows.size(), 0);

    //  Alice is untouched: still a member and owner, her one message the only one.
    zgm_msglist_t* history = zgm_user_fetch(alice, "private", NULL);
    assert_non_null(history);
    assert_int_equal(zgm_msglist_size(history), 1);
    assert_string_equal(zgm_msg_sender(zgm_msglist_get(history, 0)), alice_key.c_str());
    zgm_msglist_destroy(&history);
    size_t count = 0;
    zgm_member_t* list = zgm_user_members(alice, "private", &count);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].key, alice_key.c_str());
    assert_int_equal(list[0].role, ZGM_ROLE_OWNER);
    free(list);

    //  In an open group mallory may join, even as "alice" - and is still mallory.
    proto::Message join = join_message("open-room", "alice");
    assert_int_equal(mallory.call(join).id, proto::kJoined);
    std::string hello = "hello from alice";
    proto::Message sent = send_message("open-room", hello);
    proto::Message sent_reply = mallory.call(sent);
    assert_int_equal(sent_reply.id, proto::kSent);
    zgm_msg_t* msg = zgm_user_recv(bob, 5000);
    assert_non_null(msg);
    assert_string_equal(zgm_msg_sender(msg), mallory.key().c_str());
    assert_string_not_equal(zgm_msg_sender(msg), alice_key.c_str());
    assert_string_equal(zgm_msg_sender_name(msg), "alice");
    zgm_msg_destroy(&msg);
    //  Mallory leaving leaves only mallory.
    proto::Message leave_open = group_request(proto::kLeave, "open-room");
    assert_int_equal(mallory.call(leave_open).id, proto::kOk);
    list = zgm_user_members(bob, "open-room", &count);
    assert_int_equal(count, 2);
    bool alice_there = false;
    for (size_t i = 0; i < count; i++)
        alice_there |= alice_key == list[i].key;
    assert_true(alice_there);
    free(list);
}

//  What insecure mode gives up: a PLAIN client states any key it likes and is taken for it.
void test_insecure_mode_proves_no_key(void** state) {
    (void)state;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_insecure(server, 1));
    assert_ok(zgm_server_add(server, "trusting", NULL, ZGM_POLICY_OPEN));
    int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    {
        zgm::KeyPair alice = zgm::KeyPair::generate();
        RawClient real(test::local_endpoint(port), "", alice, true);
        proto::Message join = join_message("trusting", "alice");
        assert_int_equal(real.call(join).id, proto::kJoined);
        //  Only alice's public key, stated as the PLAIN user name: the server takes it.
        zgm::KeyPair claimed{alice.public_txt, ""};
        RawClient impostor(test::local_endpoint(port), "", claimed, true);
        proto::Message leave = group_request(proto::kLeave, "trusting");
        assert_int_equal(impostor.call(leave).id, proto::kOk);
        proto::Message memberships = group_request(proto::kMemberships);
        assert_int_equal(real.call(memberships).follows.size(), 0);
    }
    zgm_server_destroy(&server);
}

//  But the all-zero key, stated as a PLAIN user name, is no key: it is refused whatever it
//  asks, and cannot own a group that has no owner (it changed the policy of such a group,
//  gave it away, and the new owner trimmed its history). An owner cannot add or give the
//  group to it either (ADD was answered 507, a store failure; GIVE left the group with no
//  owner for good).
void test_the_all_zero_key_is_no_key(void** state) {
    (void)state;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_insecure(server, 1));
    assert_ok(zgm_server_add(server, "ownerless", NULL, ZGM_POLICY_OPEN));
    zgm::KeyPair owner = zgm::KeyPair::generate();
    assert_ok(zgm_server_add(server, "owned", owner.public_txt.c_str(), ZGM_POLICY_OPEN));
    int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    {
        zgm::KeyPair nil{std::string(40, '0'), ""};
        RawClient nobody(test::local_endpoint(port), "", nil, true);
        proto::Message policy = group_request(proto::kPolicy, "ownerless");
        policy.policy = 1;
        assert_error(nobody.call(policy), proto::kDenied);
        proto::Message join = join_message("ownerless", "nobody");
        proto::Message refused = nobody.call(join);
        assert_error(refused, proto::kDenied);
        assert_non_null(strstr(refused.reason.c_str(), "no key on this connection"));
        RawClient owning(test::local_endpoint(port), "", owner, true);
        for (uint8_t id : {proto::kAdd, proto::kGive, proto::kRemove}) {
            proto::Message request = group_request(id, "owned");
            assert_error(owning.call(request), proto::kInvalid); //  its key field left nil
        }
        //  Still the owner's.
        proto::Message open = group_request(proto::kPolicy, "owned");
        assert_int_equal(owning.call(open).id, proto::kOk);
    }
    zgm_server_destroy(&server);
}

//  ---------------------------------------------------------------------------------------
//  Rogue group servers and the registry

namespace {

//  Where the registry says a group is served: "endpoint key", or "" if it does not know it.
std::string served_at(zgm_user_t* user, const char* group) {
    zgm_group_t info;
    if (zgm_user_resolve(user, group, &info) != 0) return "";
    return std::string(info.endpoint) + " " + info.server_key;
}

} // namespace

//  A group server whose key the registry does not trust cannot take a live name, keep one
//  alive, move it to its own endpoint, or remove it.
void test_an_untrusted_server_cannot_take_refresh_move_or_remove_a_name(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* real = cluster.add_server(NULL, {"bank"}, false, "tcp://127.0.0.1:*", &port);
    std::string real_at = test::local_endpoint(port) + " " + zgm_server_key(real);
    zgm_user_t* user = cluster.user("customer");
    assert_string_equal(served_at(user, "bank").c_str(), real_at.c_str());

    RawClient rogue(cluster.endpoint(), cluster.key());
    std::string trap = "tcp://127.0.0.1:1";
    proto::Message take = register_message(zgm::Uuid::random(), "bank", trap, 0, 1);
    assert_error(rogue.call(take), proto::kDenied);
    proto::Message move = register_message(zgm::Uuid::random(), "bank", test::local_endpoint(port));
    assert_error(rogue.call(move), proto::kDenied);
    proto::Message refresh = heartbeat_message(trap, 1, true);
    assert_error(rogue.call(refresh), proto::kDenied);
    proto::Message remove = group_request(proto::kDeregister);
    assert_error(rogue.call(remove), proto::kDenied);
    proto::Message other = register_message(zgm::Uuid::random(), "elsewhere", trap);
    assert_error(rogue.call(other), proto::kDenied);

    assert_string_equal(served_at(user, "bank").c_str(), real_at.c_str());
    zgm_group_t info;
    cluster.wait_until_complete(); //  before a name it does not know is "not found"
    assert_int_equal(zgm_user_resolve(user, "elsewhere", &info), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTFOUND);
    assert_ok(zgm_user_join(user, "bank"));
}

//  A name cannot be squatted before its server starts: the registry refuses an untrusted
//  REGISTER, so the real server gets the name when it comes.
void test_an_untrusted_server_cannot_squat_a_name_before_its_server_starts(void** state) {
    (void)state;
    Cluster cluster;
    zgm_registry_set_expiry(cluster.registry(), 300);
    RawClient rogue(cluster.endpoint(), cluster.key());
    proto::Message squat =
        register_message(zgm::Uuid::random(), "payroll", "tcp://127.0.0.1:1", 0, 1);
    assert_error(rogue.call(squat), proto::kDenied);
    zgm_user_t* user = cluster.user("clerk");
    zgm_group_t info;
    assert_int_equal(zgm_user_resolve(user, "payroll", &info), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTFOUND);

    int port = 0;
    zgm_server_t* real = cluster.add_server(NULL, {"payroll"}, false, "tcp://127.0.0.1:*", &port);
    std::string real_at = test::local_endpoint(port) + " " + zgm_server_key(real);
    assert_string_equal(served_at(user, "payroll").c_str(), real_at.c_str());
}

//  New groups go only to trusted servers: one that heartbeats with accept_new but is not
//  trusted is never sent HOST, and a CREATE with no trusted server to take it is refused.
void test_an_untrusted_server_is_never_handed_new_groups(void** state) {
    (void)state;
    Cluster cluster;
    RawClient rogue(cluster.endpoint(), cluster.key());
    std::string trap = "tcp://127.0.0.1:1";
    proto::Message heartbeat = heartbeat_message(trap, 0, true);
    assert_error(rogue.call(heartbeat), proto::kDenied);
    proto::Message reg = register_message(zgm::Uuid::random(), "bait", trap, 0, 1);
    assert_error(rogue.call(reg), proto::kDenied);

    zgm_user_t* user = cluster.user("founder");
    assert_int_equal(zgm_user_create(user, "fresh", ZGM_POLICY_OPEN), -1);
    assert_int_equal(zgm_errno(), ZGM_EUNAVAILABLE);
    //  A trusted server that accepts new groups gets it; the rogue still gets nothing.
    zgm_server_t* trusted = cluster.add_server(NULL, {}, true);
    rogue.send(heartbeat); //  it keeps trying
    assert_ok(zgm_user_create(user, "fresh", ZGM_POLICY_OPEN));
    assert_ok(zgm_user_create(user, "fresher", ZGM_POLICY_OPEN));
    zgm_group_t info;
    assert_ok(zgm_user_resolve(user, "fresh", &info));
    assert_string_equal(info.server_key, zgm_server_key(trusted));
    proto::Message answer = rogue.recv();
    assert_error(answer, proto::kDenied); //  its heartbeat's answer, and nothing more
    assert_true(silent(rogue, 300));
}

//  A trusted server's key holds its names while it is live: another trusted key can
//  neither take, move nor remove them; a name whose server fell silent expires (no one can
//  keep it alive for it), and only then may another take it.
void test_a_trusted_server_cannot_take_a_name_another_key_holds_while_it_is_live(void** state) {
    (void)state;
    Cluster cluster;
    zgm_registry_set_expiry(cluster.registry(), 600);
    int port = 0;
    zgm_server_t* first = cluster.add_server(NULL, {"shared"}, false, "tcp://127.0.0.1:*", &port);
    std::string first_at = test::local_endpoint(port) + " " + zgm_server_key(first);
    zgm_user_t* user = cluster.user("reader");

    //  A second real server, trusted, with the same name: refused, and said so.
    zgm_server_t* second = zgm_server_new(NULL);
    assert_ok(zgm_server_add(second, "shared", NULL, ZGM_POLICY_OPEN));
    assert_true(zgm_server_bind(second, "tcp://127.0.0.1:*") > 0);
    assert_ok(zgm_registry_trust(cluster.registry(), zgm_server_key(second)));
    int64_t asked = zgm::mono_ms();
    assert_int_equal(zgm_server_connect(second, cluster.endpoint().c_str(), cluster.key()), -1);
    assert_int_equal(zgm_errno(), ZGM_EEXISTS);
    //  As soon as the registry answers, not when the connection's 5 s are out.
    assert_true(zgm::mono_ms() - asked < 2000 * test::slowdown());

    //  A raw trusted key tries every message there is.
    RawClient other(cluster.endpoint(), cluster.key());
    assert_ok(zgm_registry_trust(cluster.registry(), other.key().c_str()));
    proto::Message take = register_message(zgm::Uuid::random(), "shared", "tcp://127.0.0.1:1");
    assert_error(other.call(take), proto::kConflict);
    proto::Message move =
        register_message(zgm::Uuid::random(), "shared", test::local_endpoint(port));
    assert_error(other.call(move), proto::kConflict);
    proto::Message remove = group_request(proto::kDeregister);
    assert_int_equal(other.call(remove).id, proto::kOk); //  drops only its own
    assert_string_equal(served_at(user, "shared").c_str(), first_at.c_str());

    //  A holder that falls silent: nobody's heartbeat keeps its name. Once it expires the
    //  registry says the server is away (503, not "no such group"), and another key may take
    //  the name.
    RawClient holder(cluster.endpoint(), cluster.key());
    assert_ok(zgm_registry_trust(cluster.registry(), holder.key().c_str()));
    proto::Message hold = register_message(zgm::Uuid::random(), "relic", "tcp://127.0.0.1:2");
    assert_int_equal(holder.call(hold).id, proto::kOk);
    assert_int_equal(
        other.call(take = register_message(zgm::Uuid::random(), "relic", "tcp://127.0.0.1:3")).id,
        proto::kError);
    int64_t silent_since = zgm::mono_ms();
    assert_true(test::eventually([&] {
        proto::Message beat = heartbeat_message("tcp://127.0.0.1:3", 0);
        other.call(beat);
        proto::Message resolve = group_request(proto::kResolve, "relic");
        proto::Message answer = other.call(resolve);
        return answer.id == proto::kError && answer.status == proto::kUnavailable &&
               answer.reason.find("has not come back") != std::string::npos;
    }));
    assert_true(zgm::mono_ms() - silent_since >= 600);
    proto::Message retake = register_message(zgm::Uuid::random(), "relic", "tcp://127.0.0.1:3");
    assert_int_equal(other.call(retake).id, proto::kOk);

    //  The first server stops cleanly: the second one, still trying, gets "shared".
    cluster.stop(&first);
    assert_true(test::eventually([&] {
        return served_at(user, "shared").find(zgm_server_key(second)) != std::string::npos;
    }));
    zgm_server_destroy(&second);
}

//  Only the server that was sent HOST may answer it: another user's or server's forged
//  answer with the same request id is ignored.
void test_only_the_server_asked_may_answer_host(void** state) {
    (void)state;
    Cluster cluster;
    RawClient host(cluster.endpoint(), cluster.key());
    assert_ok(zgm_registry_trust(cluster.registry(), host.key().c_str()));
    std::string where = "tcp://127.0.0.1:4";
    proto::Message heartbeat = heartbeat_message(where, 0, true);
    assert_int_equal(host.call(heartbeat).id, proto::kOk);

    RawClient creator(cluster.endpoint(), cluster.key());
    //  A registry takes CREATEs once it knows every group (its expiry after the start).
    assert_true(test::eventually(
        [&] {
            assert_int_equal(host.call(heartbeat).id, proto::kOk);
            proto::Message list;
            list.id = proto::kList;
            return creator.call(list).complete == 1;
        },
        test::patience()));
    proto::Message create = group_request(proto::kCreate, "contested");
    creator.send(create);
    proto::Message asked = host.recv();
    assert_int_equal(asked.id, proto::kHost);
    assert_string_equal(asked.group.c_str(), "contested");
    assert_true(asked.key == creator.keys().public_key()); //  the creator owns it

    //  Forged answers: an ERROR from a user, an OK from another trusted server.
    RawClient forger(cluster.endpoint(), cluster.key());
    RawClient trusted_forger(cluster.endpoint(), cluster.key());
    assert_ok(zgm_registry_trust(cluster.registry(), trusted_forger.key().c_str()));
    proto::Message forged = group_request(proto::kError);
    forged.status = proto::kConflict;
    forged.reason = "forged";
    forged.request_id = asked.request_id;
    std::string bytes;
    assert_true(proto::encode(forged, &bytes));
    forger.send_raw(bytes);
    proto::Message forged_ok = group_request(proto::kOk);
    forged_ok.request_id = asked.request_id;
    assert_true(proto::encode(forged_ok, &bytes));
    trusted_forger.send_raw(bytes);
    assert_true(silent(creator, 500));

    //  The real answer: the group registered, then OK.
    proto::Message reg = register_message(zgm::Uuid::random(), "contested", where, 0, 1);
    assert_int_equal(host.call(reg).id, proto::kOk);
    proto::Message ok = group_request(proto::kOk);
    ok.request_id = asked.request_id;
    assert_true(proto::encode(ok, &bytes));
    host.send_raw(bytes);
    proto::Message group = creator.recv();
    assert_int_equal(group.id, proto::kGroup);
    assert_string_equal(group.endpoint.c_str(), where.c_str());
    assert_true(group.key == host.keys().public_key());
}

//  A group server takes HOST only on its registry connection: a user cannot make it
//  create a group by sending it HOST, nor act as a registry in any other way.
void test_a_group_server_takes_host_only_from_its_registry(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* server = cluster.add_server(NULL, {"lobby"}, true, "tcp://127.0.0.1:*", &port);
    RawClient user(test::local_endpoint(port), zgm_server_key(server));
    proto::Message host = group_request(proto::kHost, "smuggled");
    host.key = user.keys().public_key();
    assert_error(user.call(host), proto::kBadRequest);
    proto::Message reg = register_message(zgm::Uuid::random(), "smuggled", "tcp://127.0.0.1:1");
    assert_error(user.call(reg), proto::kBadRequest);
    proto::Message join = join_message("smuggled", "owner?");
    assert_error(user.call(join), proto::kNotFound);
}

//  A group server serving "tenant", trusted by the cluster's registry through the directory
//  trusted, which holds its certificate (trusted/server.cert; the registry needs only the
//  public one). It heartbeats every 100 ms.
zgm_server_t* trusted_tenant(Cluster& cluster, const std::string& trusted) {
    assert_int_equal(mkdir(trusted.c_str(), 0700), 0);
    assert_ok(zgm_registry_trust_dir(cluster.registry(), trusted.c_str()));
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_key(server, (trusted + "/server.cert").c_str()));
    unlink((trusted + "/server.cert_secret").c_str());
    assert_ok(zgm_server_set_heartbeat(server, 100));
    assert_ok(zgm_server_add(server, "tenant", NULL, ZGM_POLICY_OPEN));
    assert_true(zgm_server_bind(server, "tcp://127.0.0.1:*") > 0);
    assert_ok(zgm_server_connect(server, cluster.endpoint().c_str(), cluster.key()));
    return server;
}

//  A server whose certificate leaves the registry's trusted directory loses its names at
//  its next heartbeat.
void test_a_server_no_longer_trusted_is_dropped(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    {
        Cluster cluster;
        zgm_server_t* server = trusted_tenant(cluster, dir + "/trusted");
        zgm_user_t* user = cluster.user("landlord");
        assert_true(served_at(user, "tenant") != "");
        unlink((dir + "/trusted/server.cert").c_str());
        //  Its next heartbeat (100 ms) is refused: the registry reads the directory again
        //  once it changed (it was read every 5 s). (A user rides out a group away for its
        //  timeout before it says so.)
        zgm_user_set_timeout(user, 200);
        assert_true(test::eventually([&] { return served_at(user, "tenant") == ""; },
                                     2000 * test::slowdown()));
        zgm_server_destroy(&server);
    }
    test::remove_tree(dir);
}

//  A certificate rewritten in place leaves its directory as it was: the registry, which reads
//  it again every 5 s when it checks expiries (a third of the expiry interval), drops the old
//  key within about 6 s at the default expiry of 3 s.
void test_a_server_whose_certificate_is_rewritten_in_place_is_dropped(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    {
        Cluster cluster;
        std::string trusted = dir + "/trusted";
        zgm_server_t* server = trusted_tenant(cluster, trusted);
        zgm_user_t* user = cluster.user("landlord");
        assert_true(served_at(user, "tenant") != "");
        //  Another server's certificate written over this one's, in the same file.
        zgm_server_t* other = zgm_server_new(NULL);
        assert_ok(zgm_server_set_key(other, (dir + "/other.cert").c_str()));
        zgm_server_destroy(&other);
        std::string text = test::read_file(dir + "/other.cert");
        struct stat before, after;
        assert_int_equal(stat(trusted.c_str(), &before), 0);
        int fd = open((trusted + "/server.cert").c_str(), O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text.data(), text.size()), (ssize_t)text.size());
        close(fd);
        assert_int_equal(stat(trusted.c_str(), &after), 0);
        assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
        zgm_user_set_timeout(user, 200);
        int64_t start = zgm::mono_ms();
        //  The registry reads its trust directories every 5 s at its 1 s checks: within
        //  about 6 s, as docs/security.md says (6.3 s measured); 9 s for a loaded machine.
        assert_true(test::eventually([&] { return served_at(user, "tenant") == ""; },
                                     9000 * test::slowdown()));
        print_message("# dropped %lld ms after the rewrite\n", (long long)(zgm::mono_ms() - start));
        zgm_server_destroy(&server);
    }
    test::remove_tree(dir);
}

//  ---------------------------------------------------------------------------------------
//  A rogue registry

namespace {

//  A registry that answers RESOLVE and LIST with whatever endpoint and server key it was
//  told ("ROUTE endpoint key" on its pipe), for every group name asked; answers a group
//  server's REGISTER and HEARTBEAT with OK; and on "HOST group owner" sends the last group
//  server it heard from HOST, then says on its pipe what that server answered. After
//  "VERSION n" it answers every request as a registry of protocol version n would one of
//  another version: ERROR 426 in a header of version n.
struct FakeRegistryArgs {
    zgm::KeyPair keys;
};

void fake_registry(zsock_t* pipe, void* args) {
    zgm::KeyPair keys = ((FakeRegistryArgs*)args)->keys;
    zsock_t* router = zgm::new_server_socket(64 * 1024);
    zgm::secure_server_socket(router, keys, zgm::Security::kCurve, "");
    std::string error;
    std::shared_ptr<zgm::ZapDomain> domain =
        zgm::zap_register(router, zgm::Security::kCurve, 0, &error);
    zsock_set_zap_domain(router, domain->name.c_str());
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    zsock_signal(pipe, 0);
    zsock_send(pipe, "i", port);
    std::string endpoint, server_from;
    zgm::Key key;
    uint8_t version = proto::kVersion;
    zpoller_t* poller = zpoller_new(pipe, router, NULL);
    while (zsock_t* which = (zsock_t*)zpoller_wait(poller, -1)) {
        if (which == pipe) {
            char *command = nullptr, *where = nullptr, *text = nullptr;
            if (zstr_recvx(pipe, &command, &where, &text, NULL) < 1 || streq(command, "$TERM")) {
                zstr_free(&command);
                break;
            }
            if (streq(command, "VERSION")) {
                version = (uint8_t)atoi(where ? where : "0");
                zsock_signal(pipe, 0);
            } else if (streq(command, "HOST")) {
                proto::Message host;
                host.id = proto::kHost;
                host.request_id = 99;
                host.group = where ? where : "";
                zgm::Key::parse(text ? text : "", &host.key);
                proto::send(zsock_resolve(router), server_from, host);
            } else {
                endpoint = where ? where : "";
                zgm::Key::parse(text ? text : "", &key);
                zsock_signal(pipe, 0);
            }
            zstr_free(&command);
            zstr_free(&where);
            zstr_free(&text);
            continue;
        }
        std::string from;
        proto::Message asked;
        if (proto::recv(zsock_resolve(router), true, &from, &asked) != proto::DecodeError::kOk)
            continue;
        proto::Message answer;
        if (version != proto::kVersion) {
            answer.id = proto::kError;
            answer.request_id = asked.request_id;
            answer.status = proto::kBadVersion;
            answer.reason = "another version";
            std::string frame;
            assert_true(proto::encode(answer, &frame));
            frame[3] = (char)version; //  the header: signature (2), id (1), version (1)
            zmq_send(zsock_resolve(router), from.data(), from.size(), ZMQ_SNDMORE);
            zmq_send(zsock_resolve(router), frame.data(), frame.size(), 0);
            continue;
        }
        if (asked.request_id == 99 && (asked.id == proto::kOk || asked.id == proto::kError)) {
            zsock_send(pipe, "i", (int)asked.id); //  the answer to our HOST
            continue;
        }
        if (asked.id == proto::kRegister || asked.id == proto::kHeartbeat) {
            server_from = from;
            answer.id = proto::kOk;
        } else if (asked.id == proto::kResolve) {
            answer.id = proto::kGroup;
            answer.group = asked.group;
            answer.group_id = zgm::Uuid::random();
            answer.endpoint = endpoint;
            answer.key = key;
        } else if (asked.id == proto::kList) {
            answer.id = proto::kGroups;
            answer.complete = 1;
        } else {
            answer.id = proto::kError;
            answer.status = proto::kBadRequest;
        }
        answer.request_id = asked.request_id;
        proto::send(zsock_resolve(router), from, answer);
    }
    zpoller_destroy(&poller);
    zgm::zap_close(&router, &domain);
}

} // namespace

//  A registry of another protocol version (the next) answers 426 in a header of its own: the
//  user's call fails at once with ZGM_EPROTO naming both versions, where it dropped the
//  answer it could not decode and timed out (api.md: ZGM_EPROTO for a peer that speaks
//  another protocol version).
void test_a_registry_of_another_protocol_version_is_eproto_at_once(void** state) {
    (void)state;
    FakeRegistryArgs args{zgm::KeyPair::generate()};
    zactor_t* other = zactor_new(fake_registry, &args);
    zsock_set_rcvtimeo(zactor_sock(other), 10000);
    int port = 0;
    zsock_recv(other, "i", &port);
    std::string next = std::to_string(proto::kVersion + 1);
    zstr_sendx(other, "VERSION", next.c_str(), NULL);
    assert_int_equal(zsock_wait(other), 0);
    zgm_user_t* user = zgm_user_new("upgraded-later");
    zgm_user_set_timeout(user, 20000);
    assert_ok(
        zgm_user_connect(user, test::local_endpoint(port).c_str(), args.keys.public_txt.c_str()));
    int64_t start = zclock_mono();
    zgm_group_t info;
    assert_int_equal(zgm_user_resolve(user, "news", &info), -1);
    assert_int_equal(zgm_errno(), ZGM_EPROTO);
    std::string said = "the registry speaks version " + next +
                       " of zgm's protocol, and this zgm speaks version " +
                       std::to_string(proto::kVersion);
    assert_non_null(strstr(zgm_strerror(), said.c_str()));
    size_t count = 1;
    assert_null(zgm_user_groups(user, &count));
    assert_int_equal(zgm_errno(), ZGM_EPROTO);
    //  Answered, not waited out: well within the call's 20 s.
    assert_true(zclock_mono() - start < 10000);
    zgm_user_destroy(&user);
    zactor_destroy(&other);
}

//  A user talks only to the group server whose key the registry handed it: a rogue registry
//  can send it to a server of its own (and that server then reads what the user sends), but
//  cannot make it talk to a real server under a key that server does not hold.
void test_a_user_talks_only_to_the_server_key_the_registry_gave(void** state) {
    (void)state;
    FakeRegistryArgs args{zgm::KeyPair::generate()};
    zactor_t* rogue = zactor_new(fake_registry, &args);
    zsock_set_rcvtimeo(zactor_sock(rogue), 10000);
    int rogue_port = 0;
    zsock_recv(rogue, "i", &rogue_port);
    std::string rogue_endpoint = test::local_endpoint(rogue_port);

    //  The real server: alice is there, with her history.
    zgm_server_t* real = zgm_server_new(NULL);
    assert_ok(zgm_server_add(real, "news", NULL, ZGM_POLICY_OPEN));
    int real_port = zgm_server_bind(real, "tcp://127.0.0.1:*");
    RawClient alice(test::local_endpoint(real_port), zgm_server_key(real));
    proto::Message join = join_message("news", "alice");
    assert_int_equal(alice.call(join).id, proto::kJoined);

    //  The rogue registry names the real server's endpoint with a key of its choosing.
    zgm::KeyPair fake_key = zgm::KeyPair::generate();
    zstr_sendx(rogue, "ROUTE", test::local_endpoint(real_port).c_str(), fake_key.public_txt.c_str(),
               NULL);
    zsock_wait(rogue);
    zgm_user_t* victim = zgm_user_new("victim");
    zgm_user_set_timeout(victim, 2000);
    assert_ok(zgm_user_connect(victim, rogue_endpoint.c_str(), args.keys.public_txt.c_str()));
    assert_int_equal(zgm_user_join(victim, "news"), -1);
    assert_int_equal(zgm_errno(), ZGM_EUNREACHABLE);
    assert_non_null(strstr(zgm_strerror(), "handshake"));
    //  The real server never heard of the victim.
    proto::Message members = group_request(proto::kMembers, "news");
    assert_int_equal(alice.call(members).members.size(), 1);

    //  What a rogue registry can do: route the user to a server of its own, under its key.
    zgm_server_t* trap = zgm_server_new(NULL);
    assert_ok(zgm_server_add(trap, "news", NULL, ZGM_POLICY_OPEN));
    int trap_port = zgm_server_bind(trap, "tcp://127.0.0.1:*");
    zstr_sendx(rogue, "ROUTE", test::local_endpoint(trap_port).c_str(), zgm_server_key(trap), NULL);
    zsock_wait(rogue);
    zgm_user_t* fooled = zgm_user_new("fooled");
    assert_ok(zgm_user_connect(fooled, rogue_endpoint.c_str(), args.keys.public_txt.c_str()));
    assert_ok(zgm_user_join(fooled, "news"));
    send_text(fooled, "news", "meant for the real news");
    RawClient reader(test::local_endpoint(trap_port), zgm_server_key(trap));
    proto::Message join_trap = join_message("news", "operator");
    assert_int_equal(reader.call(join_trap).last_seq, 1);
    assert_int_equal(alice.call(members = group_request(proto::kMembers, "news")).members.size(),
                     1);

    //  A group server connected to the rogue registry (given its key) hosts what it is sent
    //  HOST for, owned by any key the registry names.
    zgm_server_t* obedient = zgm_server_new(NULL);
    int obedient_port = zgm_server_bind(obedient, "tcp://127.0.0.1:*");
    assert_ok(zgm_server_connect(obedient, rogue_endpoint.c_str(), args.keys.public_txt.c_str()));
    RawClient mallory(test::local_endpoint(obedient_port), zgm_server_key(obedient));
    zstr_sendx(rogue, "HOST", "planted", mallory.key().c_str(), NULL);
    int answer = 0;
    zsock_recv(rogue, "i", &answer);
    assert_int_equal(answer, proto::kOk);
    proto::Message own = group_request(proto::kPolicy, "planted");
    own.policy = 1;
    assert_int_equal(mallory.call(own).id, proto::kOk); //  mallory owns it
    //  Asked again for the same owner (an answer the registry did not hear): OK, nothing
    //  changes; for another owner: refused, the group stays mallory's.
    zstr_sendx(rogue, "HOST", "planted", mallory.key().c_str(), NULL);
    zsock_recv(rogue, "i", &answer);
    assert_int_equal(answer, proto::kOk);
    zstr_sendx(rogue, "HOST", "planted", zgm_user_key(victim), NULL);
    zsock_recv(rogue, "i", &answer);
    assert_int_equal(answer, proto::kError);
    assert_int_equal(mallory.call(own).id, proto::kOk);

    zgm_user_destroy(&victim);
    zgm_user_destroy(&fooled);
    zgm_server_destroy(&obedient);
    zgm_server_destroy(&trap);
    zgm_server_destroy(&real);
    zactor_destroy(&rogue);
}

//  ---------------------------------------------------------------------------------------
//  Who may be in a group

void test_a_non_member_cannot_join_or_read_a_members_group(void** state) {
    (void)state;
    Cluster cluster;
    cluster.add_server(NULL, {}, true);
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    zgm_user_t* carol = cluster.user("carol");
    cluster.wait_until_complete();
    assert_ok(zgm_user_create(alice, "inner", ZGM_POLICY_MEMBERS));
    assert_ok(zgm_user_join(alice, "inner"));
    send_text(alice, "inner", "minutes");

    assert_int_equal(zgm_user_join(bob, "inner"), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    assert_null(zgm_user_fetch(bob, "inner", NULL));
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    size_t count = 0;
    assert_null(zgm_user_members(bob, "inner", &count));
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    assert_int_equal(zgm_user_follow(bob, "inner", 0), -1);
    assert_int_equal(zgm_user_send(bob, "inner", "x", 1, NULL, NULL, NULL), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);

    //  The owner lets bob in; carol is still out.
    assert_ok(zgm_user_add(alice, "inner", zgm_user_key(bob)));
    assert_ok(zgm_user_join(bob, "inner"));
    zgm_msglist_t* history = zgm_user_fetch(bob, "inner", NULL);
    assert_int_equal(zgm_msglist_size(history), 1);
    zgm_msglist_destroy(&history);
    assert_int_equal(zgm_user_join(carol, "inner"), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    //  Opened, anyone may join; closed again, members already in stay, newcomers do not.
    assert_ok(zgm_user_set_policy(alice, "inner", ZGM_POLICY_OPEN));
    assert_ok(zgm_user_join(carol, "inner"));
    assert_ok(zgm_user_set_policy(alice, "inner", ZGM_POLICY_MEMBERS));
    zgm_user_t* dave = cluster.user("dave");
    assert_int_equal(zgm_user_join(dave, "inner"), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    zgm_member_t* list = zgm_user_members(carol, "inner", &count);
    assert_int_equal(count, 3);
    free(list);
}

//  A removed member gets no more pushes (the server stops them: a raw follower shows it),
//  cannot fetch, follow, send or join again.
void test_a_removed_member_stops_receiving_live_and_by_fetch(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* server = cluster.add_server(NULL, {}, true, "tcp://127.0.0.1:*", &port);
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    zgm_user_t* dave = cluster.user("dave");
    cluster.wait_until_complete();
    assert_ok(zgm_user_create(alice, "club", ZGM_POLICY_MEMBERS));
    RawClient carl(test::local_endpoint(port), zgm_server_key(server));
    assert_ok(zgm_user_join(alice, "club"));
    for (const std::string& key :
         {std::string(zgm_user_key(bob)), std::string(zgm_user_key(dave)), carl.key()})
        assert_ok(zgm_user_add(alice, "club", key.c_str()));
    assert_ok(zgm_user_join(bob, "club"));
    assert_ok(zgm_user_join(dave, "club"));
    proto::Message join = join_message("club", "carl");
    assert_int_equal(carl.call(join).id, proto::kJoined);
    send_text(alice, "club", "one");
    test::expect_messages(bob, "club", 1, 1);
    proto::Message pushed = carl.recv();
    assert_int_equal(pushed.id, proto::kDeliver);

    assert_ok(zgm_user_remove(alice, "club", zgm_user_key(bob)));
    assert_ok(zgm_user_remove(alice, "club", carl.key().c_str()));
    send_text(alice, "club", "two");
    test::expect_messages(dave, "club", 1, 2); //  a member still in gets it...
    assert_true(silent(carl, 500));            //  ...and the server pushed none to carl
    assert_null(zgm_user_recv(bob, 300));
    assert_null(zgm_user_fetch(bob, "club", NULL));
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    assert_int_equal(zgm_user_send(bob, "club", "x", 1, NULL, NULL, NULL), -1);
    assert_int_equal(zgm_errno(), ZGM_ENOTMEMBER);
    assert_int_equal(zgm_user_join(bob, "club"), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    proto::Message fetch = group_request(proto::kFetch, "club");
    assert_error(carl.call(fetch), proto::kNotMember);
    proto::Message follow = follow_message({"club"}, 1);
    assert_int_equal(carl.call(follow).follows[0].status, proto::kNotMember);
    send_text(alice, "club", "three");
    test::expect_messages(dave, "club", 3, 1);
    assert_true(silent(carl, 300));
}

//  Only the owner adds, removes, hands on, sets policy and retention; a group hosted with no
//  owner has none.
void test_only_the_owner_may_change_a_group(void** state) {
    (void)state;
    Cluster cluster;
    zgm_server_t* server = cluster.add_server(NULL, {"ownerless"}, true);
    (void)server;
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    cluster.wait_until_complete();
    assert_ok(zgm_user_create(alice, "hers", ZGM_POLICY_OPEN));
    assert_ok(zgm_user_join(bob, "hers"));
    const char* bob_key = zgm_user_key(bob);
    const char* alice_key = zgm_user_key(alice);
    for (const char* group : {"hers", "ownerless"}) {
        zgm_user_t* who = strcmp(group, "hers") == 0 ? bob : alice;
        assert_int_equal(zgm_user_add(who, group, bob_key), -1);
        assert_int_equal(zgm_errno(), ZGM_EDENIED);
        assert_int_equal(zgm_user_remove(who, group, alice_key), -1);
        assert_int_equal(zgm_errno(), ZGM_EDENIED);
        assert_int_equal(zgm_user_give(who, group, zgm_user_key(who)), -1);
        assert_int_equal(zgm_errno(), ZGM_EDENIED);
        assert_int_equal(zgm_user_set_policy(who, group, ZGM_POLICY_MEMBERS), -1);
        assert_int_equal(zgm_errno(), ZGM_EDENIED);
        assert_int_equal(zgm_user_set_retention(who, group, 1, 0, 0), -1);
        assert_int_equal(zgm_errno(), ZGM_EDENIED);
    }
    //  Handed on, the powers move with it.
    assert_ok(zgm_user_give(alice, "hers", bob_key));
    assert_int_equal(zgm_user_set_policy(alice, "hers", ZGM_POLICY_MEMBERS), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    assert_ok(zgm_user_set_policy(bob, "hers", ZGM_POLICY_MEMBERS));
}

//  ---------------------------------------------------------------------------------------
//  Limits, each refused with its status

namespace {

//  Sends `count` copies of a request at once and sorts the answers: how many were
//  answered with `ok_id`, and the 429s (their retry_ms, at least 1, in *retry_ms).
void burst(RawClient& client, uint8_t id, int count, uint8_t ok_id, int* answered, int* limited,
           uint32_t* retry_ms) {
    *answered = *limited = 0;
    *retry_ms = 0;
    for (int i = 0; i < count; i++) {
        proto::Message message = group_request(id);
        client.send(message);
    }
    for (int i = 0; i < count; i++) {
        proto::Message reply = client.recv();
        if (reply.id == ok_id) {
            (*answered)++;
        } else {
            assert_error(reply, proto::kRateLimited);
            assert_true(reply.retry_ms >= 1);
            assert_non_null(strstr(reply.reason.c_str(), "try again"));
            (*limited)++;
            *retry_ms = reply.retry_ms > *retry_ms ? reply.retry_ms : *retry_ms;
        }
    }
}

} // namespace

//  Requests per second per key: a burst of twice the rate passes, the rest get 429 with
//  the time after which the same key may go on; another key is not slowed down.
void test_requests_over_the_rate_get_429_with_a_retry_time(void** state) {
    (void)state;
    Cluster cluster;
    assert_ok(zgm_registry_set_limit(cluster.registry(), ZGM_LIMIT_RATE, 10));
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_RATE, 10));
    int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    struct Target {
        std::string endpoint, key;
        uint8_t id, ok_id;
    } targets[] = {
        {cluster.endpoint(), cluster.key(), proto::kList, proto::kGroups},
        {test::local_endpoint(port), zgm_server_key(server), proto::kMemberships,
         proto::kMembershipList},
    };
    for (const Target& target : targets) {
        RawClient hasty(target.endpoint, target.key);
        int answered = 0, limited = 0;
        uint32_t retry_ms = 0;
        burst(hasty, target.id, 60, target.ok_id, &answered, &limited, &retry_ms);
        //  A burst of 2 x 10 (and what refills while it is read).
        assert_true(answered >= 20 && answered <= 25);
        assert_int_equal(answered + limited, 60);
        assert_true(retry_ms >= 1 && retry_ms <= 1000);
        uint32_t told = retry_ms;
        //  Another key goes on at once.
        RawClient patient(target.endpoint, target.key);
        burst(patient, target.id, 5, target.ok_id, &answered, &limited, &retry_ms);
        assert_int_equal(answered, 5);
        //  The hasty key waits the time it was told (the bucket refills with time: there
        //  is no condition to wait for), and is served again.
        zclock_sleep((int)told);
        burst(hasty, target.id, 1, target.ok_id, &answered, &limited, &retry_ms);
        assert_int_equal(answered, 1);
    }
    zgm_server_destroy(&server);
}

//  Groups per group server, groups per owner, members and added keys per group, follows
//  per key: each answered 430, naming its limit; the registry's own groups limit too.
void test_each_group_server_limit_is_refused_with_430(void** state) {
    (void)state;
    Cluster cluster;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_registry_trust(cluster.registry(), zgm_server_key(server)));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_GROUPS, 3));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_GROUPS_PER_OWNER, 1));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_MEMBERS, 2));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_FOLLOWS, 1));
    assert_ok(zgm_server_set_accept_new(server, 1));
    assert_ok(zgm_server_add(server, "first", NULL, ZGM_POLICY_OPEN));
    int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    assert_ok(zgm_server_connect(server, cluster.endpoint().c_str(), cluster.key()));
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    zgm_user_t* carol = cluster.user("carol");

    cluster.wait_until_complete();
    assert_ok(zgm_user_create(alice, "alices", ZGM_POLICY_OPEN));
    assert_int_equal(zgm_user_create(alice, "alices-too", ZGM_POLICY_OPEN), -1);
    assert_int_equal(zgm_errno(), ZGM_ELIMIT);
    assert_non_null(strstr(zgm_strerror(), "--max-groups-per-owner"));
    assert_ok(zgm_user_create(bob, "bobs", ZGM_POLICY_OPEN));
    //  Full, the server no longer says it accepts new groups: none has room.
    assert_int_equal(zgm_user_create(carol, "carols", ZGM_POLICY_OPEN), -1);
    assert_int_equal(zgm_errno(), ZGM_EUNAVAILABLE);
    assert_non_null(strstr(zgm_strerror(), "no group server accepts new groups"));
    assert_int_equal(zgm_server_add(server, "fourth", NULL, ZGM_POLICY_OPEN), -1);
    assert_int_equal(zgm_errno(), ZGM_ELIMIT);

    assert_ok(zgm_user_join(alice, "first"));
    assert_ok(zgm_user_join(bob, "first"));
    assert_int_equal(zgm_user_join(carol, "first"), -1);
    assert_int_equal(zgm_errno(), ZGM_ELIMIT);
    assert_non_null(strstr(zgm_strerror(), "--max-members"));

    RawClient alice_raw(test::local_endpoint(port), zgm_server_key(server));
    (void)alice_raw;
    for (int i = 0; i < 2; i++)
        assert_ok(zgm_user_add(alice, "alices", zgm::KeyPair::generate().public_txt.c_str()));
    assert_int_equal(zgm_user_add(alice, "alices", zgm::KeyPair::generate().public_txt.c_str()),
                     -1);
    assert_int_equal(zgm_errno(), ZGM_ELIMIT);
    assert_non_null(strstr(zgm_strerror(), "added keys (--max-members)"));

    RawClient dan(test::local_endpoint(port), zgm_server_key(server));
    proto::Message join = join_message("alices", "dan");
    assert_int_equal(dan.call(join).id, proto::kJoined);    //  and follows it: dan's one follow
    proto::Message join_bobs = join_message("bobs", "dan"); //  a join follows: not made
    assert_error(dan.call(join_bobs), proto::kLimitReached, "--max-follows");
    RawClient dan_again(test::local_endpoint(port), zgm_server_key(server), dan.keys());
    assert_error(dan_again.call(join_bobs), proto::kLimitReached, "--max-follows"); //  per key
    //  A follow of the group the key follows on its other connection moves here: still one.
    proto::Message follow = follow_message({"alices"});
    assert_int_equal(dan_again.call(follow).follows[0].status, proto::kStatusOk);
    assert_error(dan.call(join_bobs), proto::kLimitReached, "--max-follows");

    //  The registry's own: --max-groups of the registry.
    assert_ok(zgm_registry_set_limit(cluster.registry(), ZGM_LIMIT_GROUPS, 3));
    zgm_server_t* late = zgm_server_new(NULL);
    assert_ok(zgm_registry_trust(cluster.registry(), zgm_server_key(late)));
    assert_ok(zgm_server_add(late, "one-too-many", NULL, ZGM_POLICY_OPEN));
    assert_true(zgm_server_bind(late, "tcp://127.0.0.1:*") > 0);
    assert_int_equal(zgm_server_connect(late, cluster.endpoint().c_str(), cluster.key()), -1);
    assert_int_equal(zgm_errno(), ZGM_ELIMIT);
    assert_non_null(strstr(zgm_strerror(), "--max-groups"));
    zgm_server_destroy(&late);
    cluster.stop(&server);
}

//  Display names: 1 to 64 bytes of UTF-8 without control characters or '"', else 422. Two members
//  may share one: their keys tell them apart.
void test_display_names_are_checked(void** state) {
    (void)state;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_add(server, "names", NULL, ZGM_POLICY_OPEN));
    int port = zgm_server_bind(server, "tcp://127.0.0.1:*");
    std::string endpoint = test::local_endpoint(port);
    {
        const std::string bad[] = {
            "",                   //  empty
            std::string(65, 'a'), //  too long
            "\x1b[2J\x1b[Hroot",  //  terminal escapes
            "alice\nbob: hi",     //  a faked line
            "tab\there",          //  C0
            "del\x7f",            //  DEL
            "c1\xc2\x85",         //  C1 (NEL)
            "bad\xff",            //  not UTF-8
            "over\xc0\xaf",       //  overlong
            "half\xe2\x82",       //  cut short
            "sur\xed\xa0\x80",    //  a surrogate
            "say \"hi\"",         //  '"': no identity file can hold it
        };
        RawClient joiner(endpoint, zgm_server_key(server));
        for (const std::string& name : bad) {
            proto::Message join = join_message("names", name);
            assert_error(joiner.call(join), proto::kInvalid);
        }
        const std::string good[] = {std::string(64, 'a'), "Zoë ✓ 名前", "it's #1 = \\o/", "alice"};
        for (const std::string& name : good) {
            RawClient member(endpoint, zgm_server_key(server));
            proto::Message join = join_message("names", name);
            assert_int_equal(member.call(join).id, proto::kJoined);
        }
        RawClient second_alice(endpoint, zgm_server_key(server));
        proto::Message join = join_message("names", "alice");
        assert_int_equal(second_alice.call(join).id, proto::kJoined);
        proto::Message members = group_request(proto::kMembers, "names");
        proto::Message list = second_alice.call(members);
        int alices = 0;
        for (const proto::MemberRecord& member : list.members)
            alices += member.name == "alice";
        assert_int_equal(alices, 2);
    }
    zgm_server_destroy(&server);
    //  Nor is a key pair made through the API with a name its certificate cannot hold, and
    //  nothing is written (both files were, unreadable).
    std::string dir = test::make_temp_dir();
    std::string path = dir + "/quoted.cert";
    assert_int_equal(zgm_keygen(path.c_str(), "say \"hi\""), -1);
    assert_int_equal(zgm_errno(), ZGM_EINVAL);
    assert_int_equal(access(path.c_str(), F_OK), -1);
    assert_int_equal(access((path + "_secret").c_str(), F_OK), -1);
    assert_null(zgm_user_new_with_key("say \"hi\"", path.c_str()));
    assert_int_equal(access((path + "_secret").c_str(), F_OK), -1);
    test::remove_tree(dir);
}

//  A policy is ZGM_POLICY_OPEN or ZGM_POLICY_MEMBERS: any other value is EINVAL and changes
//  nothing. Before, it was taken for open: a members-only group set to 5 let any key join.
void test_a_policy_other_than_open_or_members_is_refused(void** state) {
    (void)state;
    Cluster cluster;
    zgm_server_t* server = cluster.add_server(NULL, {"lobby"}, true);
    zgm_user_t* alice = cluster.user("alice");
    zgm_user_t* bob = cluster.user("bob");
    std::string alice_key = zgm_user_key(alice);
    assert_ok(zgm_server_add(server, "closed", alice_key.c_str(), ZGM_POLICY_MEMBERS));
    test::wait_listed(alice, "closed");
    assert_ok(zgm_user_join(alice, "closed"));
    for (int bad : {5, -1, 2}) {
        //  What a C caller passes: C++ does not let the enum hold it, so it is copied in.
        zgm_policy_t policy;
        memcpy(&policy, &bad, sizeof policy);
        assert_int_equal(zgm_user_set_policy(alice, "closed", policy), -1);
        assert_int_equal(zgm_errno(), ZGM_EINVAL);
        assert_int_equal(zgm_user_create(alice, "made", policy), -1);
        assert_int_equal(zgm_errno(), ZGM_EINVAL);
        assert_int_equal(zgm_server_add(server, "added", NULL, policy), -1);
        assert_int_equal(zgm_errno(), ZGM_EINVAL);
    }
    assert_int_equal(zgm_user_join(bob, "closed"), -1);
    assert_int_equal(zgm_errno(), ZGM_EDENIED);
    zgm_group_t info;
    assert_ok(zgm_user_resolve(bob, "closed", &info));
    assert_int_equal(info.policy, ZGM_POLICY_MEMBERS);
}

//  A message carries the display name its sender's key joined the group with, not the one a
//  user object of that key gives later: the name changes when the key leaves and joins again.
void test_a_senders_name_is_the_one_its_key_joined_with(void** state) {
    (void)state;
    Cluster cluster;
    cluster.add_server(NULL, {"lobby"});
    std::string dir = test::make_temp_dir();
    std::string key = dir + "/same.cert";
    assert_ok(zgm_keygen(key.c_str(), "alice"));
    zgm_user_t* alice = cluster.user("alice", key.c_str());
    assert_ok(zgm_user_join(alice, "lobby"));
    send_text(alice, "lobby", "first");
    zgm_user_t* renamed = cluster.user("bob", key.c_str());
    assert_int_equal(zgm_user_join(renamed, "lobby"), -1);
    assert_int_equal(zgm_errno(), ZGM_EALREADY);
    send_text(renamed, "lobby", "second");
    assert_ok(zgm_user_leave(renamed, "lobby"));
    assert_ok(zgm_user_join(renamed, "lobby"));
    send_text(renamed, "lobby", "third");
    zgm_msglist_t* history = zgm_user_fetch(renamed, "lobby", NULL);
    assert_non_null(history);
    assert_int_equal(zgm_msglist_size(history), 3);
    const char* names[] = {"alice", "alice", "bob"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(zgm_msg_sender_name(zgm_msglist_get(history, i)), names[i]);
    zgm_msglist_destroy(&history);
    test::remove_tree(dir);
}

//  A body over kMaxBody is answered 413; a frame over the server's --max-frame is cut off
//  by libzmq before it is buffered (the connection is closed, nothing answered), and the
//  server goes on serving.
void test_oversized_bodies_and_frames_are_refused(void** state) {
    (void)state;
    Cluster cluster;
    int port = 0;
    zgm_server_t* server = cluster.add_server(NULL, {"sizes"}, false, "tcp://127.0.0.1:*", &port);
    RawClient sender(test::local_endpoint(port), zgm_server_key(server));
    proto::Message join = join_message("sizes", "sender");
    assert_int_equal(sender.call(join).id, proto::kJoined);

    //  A SEND whose body is one byte over: encoded by hand, since the encoder refuses it.
    std::string body(proto::kMaxBody, 'b');
    proto::Message send = send_message("sizes", body);
    send.request_id = 77;
    std::string frame;
    assert_true(proto::encode(send, &frame));
    size_t length_at = frame.size() - body.size() - 4;
    uint32_t over = htonl((uint32_t)proto::kMaxBody + 1);
    memcpy(&frame[length_at], &over, 4);
    frame += "b";
    sender.send_raw(frame);
    proto::Message reply = sender.recv();
    assert_int_equal(reply.request_id, 77);
    assert_error(reply, proto::kTooLarge);

    //  A list count over kMaxList: refused before anything is allocated.
    proto::Message follow = follow_message({"sizes"});
    follow.request_id = 78;
    assert_true(proto::encode(follow, &frame));
    uint32_t many = htonl(proto::kMaxList + 1);
    memcpy(&frame[proto::kHeaderSize], &many, 4);
    sender.send_raw(frame);
    reply = sender.recv();
    assert_int_equal(reply.request_id, 78);
    assert_error(reply, proto::kBadRequest);

    //  Frames over --max-frame (512 KiB for a group server, 64 KiB for the registry): no
    //  answer; the same clients are answered again once they reconnect.
    RawClient registry_user(cluster.endpoint(), cluster.key());
    struct {
        RawClient* client;
        size_t size;
    } oversized[] = {{&sender, 512 * 1024 + 1}, {&registry_user, 64 * 1024 + 1}};
    for (const auto& target : oversized) {
        std::string huge(target.size, 'x');
        target.client->send_raw(huge);
        assert_true(silent(*target.client, 1000));
    }
    proto::Message fetch = group_request(proto::kFetch, "sizes");
    assert_true(test::eventually([&] {
        sender.send(fetch);
        proto::Message answer;
        return sender.try_recv(&answer, 500) && answer.id == proto::kMessages;
    }));
    proto::Message list = group_request(proto::kList);
    assert_true(test::eventually([&] {
        registry_user.send(list);
        proto::Message answer;
        return registry_user.try_recv(&answer, 500) && answer.id == proto::kGroups;
    }));
}

//  A limit set below the least the server can work with is refused, with the minimum.
void test_limits_below_their_minimum_are_refused(void** state) {
    (void)state;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_int_equal(zgm_server_set_limit(server, ZGM_LIMIT_FRAME, 320 * 1024 - 1), -1);
    assert_non_null(strstr(zgm_strerror(), "at least 327680"));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_FRAME, 320 * 1024));
    assert_int_equal(zgm_server_set_limit(server, ZGM_LIMIT_FOLLOWER_BYTES, 256 * 1024 - 1), -1);
    assert_non_null(strstr(zgm_strerror(), "at least 262144"));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_FOLLOWER_BYTES, 256 * 1024));
    assert_int_equal(zgm_server_set_limit(server, ZGM_LIMIT_UNREAD_BYTES, 4 * 1024 * 1024 - 1), -1);
    assert_non_null(strstr(zgm_strerror(), "at least 4194304"));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_UNREAD_BYTES, 4 * 1024 * 1024));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_UNREAD_BYTES, UINT64_MAX)); //  the most
    assert_int_equal(zgm_server_set_limit(server, ZGM_LIMIT_UNREAD_TOTAL, 4 * 1024 * 1024 - 1), -1);
    assert_non_null(strstr(zgm_strerror(), "max-unread-total: at least 4194304"));
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_UNREAD_TOTAL, 4 * 1024 * 1024));
    for (zgm_limit_t limit : {ZGM_LIMIT_CONNECTIONS, ZGM_LIMIT_GROUPS, ZGM_LIMIT_GROUPS_PER_OWNER,
                              ZGM_LIMIT_MEMBERS, ZGM_LIMIT_FOLLOWS})
        assert_int_equal(zgm_server_set_limit(server, limit, 0), -1);
    zgm_server_destroy(&server);
    zgm_registry_t* registry = zgm_registry_new();
    assert_int_equal(zgm_registry_set_limit(registry, ZGM_LIMIT_FRAME, 4 * 1024 - 1), -1);
    assert_ok(zgm_registry_set_limit(registry, ZGM_LIMIT_FRAME, 4 * 1024));
    assert_int_equal(zgm_registry_set_limit(registry, ZGM_LIMIT_GROUPS, 0), -1);
    assert_int_equal(zgm_registry_set_limit(registry, ZGM_LIMIT_UNREAD_BYTES, 4 * 1024 * 1024 - 1),
                     -1);
    assert_ok(zgm_registry_set_limit(registry, ZGM_LIMIT_UNREAD_BYTES, 4 * 1024 * 1024));
    assert_int_equal(zgm_registry_set_limit(registry, ZGM_LIMIT_UNREAD_TOTAL, 4 * 1024 * 1024 - 1),
                     -1);
    assert_ok(zgm_registry_set_limit(registry, ZGM_LIMIT_UNREAD_TOTAL, 4 * 1024 * 1024));
    zgm_registry_destroy(&registry);
}

//  --max-connections is checked against the descriptors the process may open, at start,
//  with a message that says what to change.
void test_max_connections_beyond_the_descriptor_limit_is_refused_at_start(void** state) {
    (void)state;
    struct rlimit limit;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max > 4000000000u) {
        print_message("# skipped: no hard limit on descriptors here\n");
        skip();
    }
    uint64_t too_many = (uint64_t)limit.rlim_max + 1;
    zgm_server_t* server = zgm_server_new(NULL);
    assert_ok(zgm_server_set_limit(server, ZGM_LIMIT_CONNECTIONS, too_many));
    assert_int_equal(zgm_server_bind(server, "tcp://127.0.0.1:*"), -1);
    assert_non_null(strstr(zgm_strerror(), "--max-connections"));
    assert_non_null(strstr(zgm_strerror(), "ulimit -n"));
    zgm_server_destroy(&server);

    zgm_registry_t* registry = zgm_registry_new();
    assert_ok(zgm_registry_set_limit(registry, ZGM_LIMIT_CONNECTIONS, too_many));
    assert_int_equal(zgm_registry_bind(registry, "tcp://127.0.0.1:*"), -1);
    assert_non_null(strstr(zgm_strerror(), "--max-connections"));
    assert_non_null(strstr(zgm_strerror(), "ulimit -n"));
    zgm_registry_destroy(&registry);
}

//  ---------------------------------------------------------------------------------------
//  What a peer can make a server hold (the server in a process of its own)

namespace {

//  A CURVE DEALER with a fresh key pair whose receive side holds almost nothing (so what a
//  reader does not read stays queued at the server), and a monitor of its handshakes.
struct Dealer {
    zsock_t* socket = nullptr;
    zsock_t* events = nullptr;
    zgm::KeyPair keys = zgm::KeyPair::generate();
    uint32_t request_id = 0;

    //  server_key "": PLAIN (an insecure server), stating its public key.
    Dealer(const std::string& endpoint, const std::string& server_key, int rcvhwm = 1000,
           int rcvbuf = 0, bool monitored = true) {
        static int counter = 0;
        socket = zsock_new(ZMQ_DEALER);
        assert_non_null(socket);
        zsock_set_linger(socket, 0);
        zsock_set_rcvhwm(socket, rcvhwm);
        zsock_set_sndhwm(socket, 100000);
        if (rcvbuf) zsock_set_rcvbuf(socket, rcvbuf);
        zgm::Key key;
        assert_true(server_key.empty() || zgm::Key::parse(server_key, &key));
        zgm::secure_client_socket(
            socket, keys, server_key.empty() ? zgm::Security::kInsecure : zgm::Security::kCurve,
            key);
        if (!monitored) {
            assert_int_equal(zsock_connect(socket, "%s", endpoint.c_str()), 0);
            return;
        }
        std::string monitor = "inproc://security-dealer-" + std::to_string(++counter);
        assert_int_equal(zmq_socket_monitor(
                             zsock_resolve(socket), monitor.c_str(),
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED),
                         0);
        events = zsock_new(ZMQ_PAIR);
        assert_int_equal(zsock_connect(events, "%s", monitor.c_str()), 0);
        assert_int_equal(zsock_connect(socket, "%s", endpoint.c_str()), 0);
    }
    ~Dealer() {
        if (events) zmq_socket_monitor(zsock_resolve(socket), nullptr, 0);
        zsock_destroy(&events);
        zsock_destroy(&socket);
    }
    //  The next monitor event within timeout_ms (0 if none).
    int event(int timeout_ms) {
        if (!events) return 0;
        zmq_pollitem_t item = {zsock_resolve(events), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0) return 0;
        zframe_t* frame = zframe_recv(events);
        uint16_t id = 0;
        if (frame && zframe_size(frame) >= 2) memcpy(&id, zframe_data(frame), 2);
        zframe_destroy(&frame);
        while (zsock_rcvmore(events)) {
            frame = zframe_recv(events);
            zframe_destroy(&frame);
        }
        return id;
    }
    //  Waits for the handshake's outcome: 1 succeeded, -1 refused, 0 nothing within
    //  timeout_ms (a server busy with a flood of handshakes, under qemu, may be that slow).
    int handshake_outcome(int timeout_ms) {
        int64_t deadline = zgm::mono_ms() + timeout_ms;
        while (zgm::mono_ms() < deadline) {
            int id = event((int)(deadline - zgm::mono_ms()));
            if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) return 1;
            //  A server refusing a connection over its limit closes it (no detail; libzmq
            //  then tries again by itself, as an attacker's flood would).
            if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
                return -1;
        }
        return 0;
    }
    bool handshake(int timeout_ms = 5000) { return handshake_outcome(timeout_ms) == 1; }
    //  The first monitor event within timeout_ms other than a disconnection (0 if none): how
    //  the handshake ended, exactly.
    int handshake_event(int timeout_ms) {
        int64_t deadline = zgm::mono_ms() + timeout_ms;
        while (zgm::mono_ms() < deadline) {
            int id = event((int)(deadline - zgm::mono_ms()));
            if (id != 0 && id != ZMQ_EVENT_DISCONNECTED) return id;
        }
        return 0;
    }
    void send(proto::Message& message) {
        message.request_id = ++request_id;
        assert_int_equal(proto::send(zsock_resolve(socket), "", message, ZMQ_DONTWAIT), 0);
    }
    bool recv(proto::Message* message, int timeout_ms) {
        zmq_pollitem_t item = {zsock_resolve(socket), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0) return false;
        return proto::recv(zsock_resolve(socket), false, nullptr, message) ==
               proto::DecodeError::kOk;
    }
    //  The next message but MARKs, if one comes within quiet_ms: the MARKs on the way (a
    //  server probes a connection that holds unread bytes every second or so once its
    //  connections hold half their total) go to *marks, if given, and do not make the wait
    //  longer.
    bool recv_besides_marks(proto::Message* message, int quiet_ms, std::vector<uint64_t>* marks) {
        int64_t deadline = zgm::mono_ms() + quiet_ms;
        while (true) {
            int64_t left = deadline - zgm::mono_ms();
            if (left <= 0 || !recv(message, (int)left)) return false;
            if (message->id != proto::kMark) return true;
            if (marks) marks->push_back(message->token);
        }
    }
    //  JOINs group as name; the JOINED (the test fails if none comes within 5 s).
    proto::Message join(const std::string& group, const std::string& name) {
        proto::Message request = join_message(group, name);
        send(request);
        proto::Message joined;
        assert_true(recv(&joined, 5000));
        assert_int_equal(joined.id, proto::kJoined);
        return joined;
    }
};

//  Reads what each of `dealers` is sent until none is sent anything but MARKs for quiet_ms:
//  take(i, message) for each message of dealers[i] other than a MARK, whose token goes to
//  (*marks)[i] when marks is given. One quiet time for them all (read one after the other,
//  eight took eight: 32 s under qemu).
void drain(const std::vector<Dealer*>& dealers, int quiet_ms,
           const std::function<void(size_t, const proto::Message&)>& take,
           std::vector<std::vector<uint64_t>>* marks = nullptr) {
    std::vector<zmq_pollitem_t> items;
    for (Dealer* dealer : dealers)
        items.push_back({zsock_resolve(dealer->socket), 0, ZMQ_POLLIN, 0});
    int64_t deadline = zgm::mono_ms() + quiet_ms;
    for (int64_t left = quiet_ms; left > 0; left = deadline - zgm::mono_ms()) {
        if (zmq_poll(items.data(), (int)items.size(), (long)left) <= 0) continue;
        for (size_t i = 0; i < dealers.size(); i++) {
            proto::Message message;
            if (!(items[i].revents & ZMQ_POLLIN) || !dealers[i]->recv(&message, 0)) continue;
            if (message.id == proto::kMark) {
                if (marks) (*marks)[i].push_back(message.token);
                continue;
            }
            take(i, message);
            deadline = zgm::mono_ms() + quiet_ms;
        }
    }
}

//  The dealers of `owned`, to drain.
std::vector<Dealer*> dealers_of(const std::vector<std::unique_ptr<Dealer>>& owned) {
    std::vector<Dealer*> dealers;
    for (const auto& dealer : owned)
        dealers.push_back(dealer.get());
    return dealers;
}

} // namespace

//  libzmq closes a server's socket a moment after zap_close, and may end a handshake on it
//  then. The process's ZAP handler outlives the socket and answers such a handshake 300: the
//  connection is closed without a word (the client tries again, as after a server that went
//  away), never admitted. Before, the handler stopped with the last domain, and libzmq let a
//  CURVE handshake through when no handler answered: a stopping server admitted any client.
//  A CURVE ROUTER that names the closed domain stands for the socket still closing.
void test_a_handshake_on_a_closed_servers_socket_is_not_admitted(void** state) {
    (void)state;
    zgm::KeyPair keys = zgm::KeyPair::generate();
    std::string error;
    zsock_t* server = zgm::new_server_socket(64 * 1024);
    zgm::secure_server_socket(server, keys, zgm::Security::kCurve, "");
    std::shared_ptr<zgm::ZapDomain> domain =
        zgm::zap_register(server, zgm::Security::kCurve, 0, &error);
    assert_non_null(domain.get());
    std::string closed = domain->name;
    zgm::zap_close(&server, &domain);
    assert_null(server);
    zsock_t* closing = zgm::new_server_socket(64 * 1024);
    zgm::secure_server_socket(closing, keys, zgm::Security::kCurve, "");
    zsock_set_zap_domain(closing, closed.c_str());
    int port = zsock_bind(closing, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    {
        Dealer client(test::local_endpoint(port), keys.public_txt);
        int outcome = client.handshake_event(10000 * test::slowdown());
        if (outcome != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            fail_msg("the handshake's outcome: event %d, not HANDSHAKE_FAILED_NO_DETAIL (%d)%s",
                     outcome, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                     outcome == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? ": admitted" : "");
    }
    zsock_destroy(&closing);
}

//  Once a zgm server ran in a process, its ZAP handler answers for CZMQ's context until the
//  process exits (docs/api.md): a CURVE server socket of the application's own, with no zgm
//  domain, is refused (ZAP 400), and a ZAP handler of the application's (CZMQ's zauth)
//  cannot bind the handler's address.
void test_once_a_server_ran_other_curve_sockets_of_the_process_are_refused(void** state) {
    (void)state;
    zgm_registry_t* registry = zgm_registry_new();
    assert_true(zgm_registry_bind(registry, "tcp://127.0.0.1:*") > 0);
    zgm_registry_destroy(&registry);
    zgm::KeyPair keys = zgm::KeyPair::generate();
    zsock_t* own = zsock_new(ZMQ_ROUTER);
    zgm::secure_server_socket(own, keys, zgm::Security::kCurve, "");
    int port = zsock_bind(own, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    {
        Dealer client(test::local_endpoint(port), keys.public_txt);
        int outcome = client.handshake_event(10000 * test::slowdown());
        if (outcome != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            fail_msg("the handshake's outcome: event %d, not HANDSHAKE_FAILED_AUTH (%d)", outcome,
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    }
    zsock_destroy(&own);
    //  The handler's address is taken: CZMQ's zauth cannot bind it.
    zsock_t* other = zsock_new(ZMQ_REP);
    assert_int_equal(zsock_bind(other, "inproc://zeromq.zap.01"), -1);
    zsock_destroy(&other);
}

//  A client of the group server in s_roles that joined group, to write to it (it reads
//  what it is sent, returning MARKs).
std::unique_ptr<RawClient> joined_writer(const std::string& group) {
    std::unique_ptr<RawClient> writer(new RawClient(s_roles.server, s_roles.server_key));
    proto::Message join = join_message(group, "writer");
    assert_int_equal(writer->call(join).id, proto::kJoined);
    return writer;
}

//  Stops the group server pushing client what is written to group (UNFOLLOW).
void unfollow(RawClient& client, const std::string& group) {
    proto::Message request = follow_message({group});
    request.id = proto::kUnfollow;
    assert_int_equal(client.call(request).id, proto::kOk);
}

//  The history history_writer writes: 8 SENDs of 5 bodies of 60 KiB (within the default
//  --max-frame), 2.4 MB, so that every FETCH of all of it is a page of 2 MiB or more.
const size_t kHistoryBody = 60 * 1024;
const int kHistoryMessages = 8 * 5;

//  A writer that joined group and is pushed nothing (it writes on while the server holds
//  back those that do not read), once it wrote the history above to it.
std::unique_ptr<RawClient> history_writer(const std::string& group) {
    std::unique_ptr<RawClient> writer = joined_writer(group);
    unfollow(*writer, group);
    std::vector<std::string> bodies(5, std::string(kHistoryBody, 'h'));
    for (int i = 0; i < kHistoryMessages / 5; i++) {
        proto::Message send = send_message(group, bodies);
        assert_int_equal(writer->call(send).id, proto::kSent);
    }
    return writer;
}

//  Rounds of connections that join with fresh keys and vanish: the first fills the group to
//  --max-members, every later one is refused 430, and the server's RSS stops growing after
//  the first round. 10 rounds of 500 (of 100 under an emulator); ZGM_SECURITY_FULL=1 runs the
//  issue's 10 rounds of 2,000 (20,000 CURVE handshakes: about a minute of CPU here).
void test_joining_and_vanishing_leaves_memory_flat(void** state) {
    (void)state;
    const int per_round = getenv("ZGM_SECURITY_FULL") ? 2000 : test::slowdown() > 1 ? 100 : 500;
    const int rounds = 10, at_once = 100;
    s_roles.start({"--no-registry", "--group", "crowd", "--server-limit",
                   "members=" + std::to_string(per_round)},
                  true);
    zgm::KeyPair keeper; //  one member of the first round, to count the members after
    std::vector<long> rss;
    for (int round = 0; round < rounds; round++) {
        int joined = 0, refused = 0;
        for (int done = 0; done < per_round; done += at_once) {
            std::vector<std::unique_ptr<Dealer>> crowd;
            for (int i = 0; i < at_once; i++) {
                crowd.emplace_back(new Dealer(s_roles.server, s_roles.server_key, 1000, 0, false));
                proto::Message join = join_message("crowd", "passer-by");
                crowd.back()->send(join);
            }
            for (auto& client : crowd) {
                proto::Message reply;
                assert_true(client->recv(&reply, 30000));
                if (reply.id == proto::kJoined) {
                    joined++;
                } else {
                    assert_error(reply, proto::kLimitReached);
                    refused++;
                }
            }
            if (round == 0 && done == 0) keeper = crowd[0]->keys;
        }
        rss.push_back(s_roles.rss_kb());
        print_message("# round %d: %d joined, %d refused 430, server RSS %ld KiB\n", round + 1,
                      joined, refused, rss.back());
        assert_int_equal(joined, round == 0 ? per_round : 0);
    }
    RawClient member(s_roles.server, s_roles.server_key, keeper);
    proto::Message members = group_request(proto::kMembers, "crowd");
    assert_int_equal(member.call(members).members.size(), per_round);
    //  Flat after the first round: what rounds 3 to 10 added is within the allocator's noise
    //  (about 1 MiB here; 0.1 grew 16 MiB a round of 2,000).
    long growth = rss.back() - rss[1];
    print_message("# RSS growth from round 2 to round %d: %ld KiB\n", rounds, growth);
    if (kRssMeaningful) assert_true(growth <= 3072);
    s_roles.stop();
}

//  A member that keeps its follow alive (FOLLOW every second, acknowledging only what it
//  read: nothing) but never reads is cut at --max-follower-bytes: the server pushes it no
//  more than that and holds no more for it, however much the group gets; once it reads,
//  it catches up by FETCH and is pushed to again after it acknowledges.
void test_a_reader_that_never_reads_is_cut_at_its_follower_limit(void** state) {
    (void)state;
    const uint64_t limit = 1024 * 1024;
    const int messages = test::slowdown() > 1 ? 150 : 600;
    const size_t body_size = 60 * 1024;
    s_roles.start({"--no-registry", "--group", "firehose", "--server-limit",
                   "follower-bytes=" + std::to_string(limit)},
                  true);
    Dealer reader(s_roles.server, s_roles.server_key, 1, 4096);
    proto::Message joined = reader.join("firehose", "sleeper");
    std::unique_ptr<RawClient> writer = joined_writer("firehose");

    std::string body(body_size, 'w');
    auto send_one = [&] {
        proto::Message send = send_message("firehose", body);
        proto::Message sent = writer->call(send);
        assert_int_equal(sent.id, proto::kSent);
        assert_int_equal(sent.sent[0].status, proto::kStatusOk);
        return sent.sent[0].seq;
    };
    for (int i = 0; i < 5; i++) //  warm the store's cache before measuring
        send_one();
    long peak_before = s_roles.peak_kb();
    int64_t next_follow = 0;
    uint64_t last = 0;
    for (int i = 0; i < messages; i++) {
        if (zgm::mono_ms() >= next_follow) {
            proto::Message follow = follow_message({"firehose"}, joined.last_seq);
            reader.send(follow); //  its answers pile up unread, too
            next_follow = zgm::mono_ms() + 1000;
        }
        last = send_one();
    }
    long peak_after = s_roles.peak_kb();
    long growth = peak_after - peak_before;
    print_message("# %d messages of %zu KiB to the group (%zu MiB): the server's peak RSS grew "
                  "%ld KiB (--max-follower-bytes %llu KiB)\n",
                  messages, body_size / 1024, messages * body_size >> 20, growth,
                  (unsigned long long)(limit / 1024));
    //  The limit, the newest messages the store keeps in memory for fetches, and what the
    //  store and libzmq keep of their own; 0.1 held it all.
    if (kRssMeaningful)
        assert_true(growth <= (long)(limit / 1024) +
                                  (long)(zgm::ServerLimits().recent_bytes / 1024) + 6 * 1024);

    //  It reads at last: at most the limit was pushed to it.
    uint64_t pushed_bytes = 0, pushed = 0, last_pushed = 0;
    proto::Message message;
    while (reader.recv(&message, 500))
        if (message.id == proto::kDeliver) {
            pushed += message.messages.size();
            for (const proto::MessageRecord& record : message.messages) {
                pushed_bytes += record.body.size();
                last_pushed = record.seq;
            }
        }
    print_message("# pushed to it: %llu messages, %llu KiB\n", (unsigned long long)pushed,
                  (unsigned long long)(pushed_bytes / 1024));
    assert_true(pushed >= 1);
    assert_true(pushed_bytes <= limit);
    assert_true(last_pushed < last);
    //  It catches up by FETCH, acknowledges, and is pushed to again.
    proto::Message fetch = group_request(proto::kFetch, "firehose");
    fetch.after_seq = last_pushed;
    reader.send(fetch);
    while (reader.recv(&message, 5000) && message.id != proto::kMessages) {
    }
    assert_int_equal(message.id, proto::kMessages);
    assert_int_equal(message.messages[0].seq, last_pushed + 1);
    proto::Message follow = follow_message({"firehose"}, last);
    reader.send(follow);
    while (reader.recv(&message, 5000) && message.id != proto::kFollowing) {
    }
    assert_int_equal(message.id, proto::kFollowing);
    uint64_t fresh = send_one();
    while (reader.recv(&message, 5000) && message.id != proto::kDeliver) {
    }
    assert_int_equal(message.id, proto::kDeliver);
    assert_int_equal(message.messages.back().seq, fresh);
    s_roles.stop();
}

//  A frame over the server's --max-frame is cut off by libzmq from its size alone, never
//  buffered: four 256 MiB frames to the registry (--max-frame 64 KiB) and one to a group
//  server (512 KiB) leave their peak RSS where it was, and they answer the next request.
//  The big frames go over PLAIN (insecure roles), which sends them as they are; with CURVE
//  the client encrypts a frame whole before sending a byte (seconds for 256 MiB), so there
//  a 16 MiB frame to each shows the same.
void test_a_frame_over_max_frame_is_never_buffered(void** state) {
    (void)state;
    const size_t big = (test::slowdown() > 1 ? 32 : 256) * 1024 * 1024, curve = 16 * 1024 * 1024;
    char* buffer = (char*)calloc(1, big);
    assert_non_null(buffer);
    for (bool insecure : {false, true}) {
        std::vector<std::string> args = {"--group", "big"};
        if (insecure) args.push_back("--insecure");
        s_roles.start(args);
        size_t size = insecure ? big : curve;
        struct {
            std::string endpoint, key;
            int frames;
        } targets[] = {{s_roles.registry, insecure ? "" : s_roles.registry_key, insecure ? 4 : 1},
                       {s_roles.server, insecure ? "" : s_roles.server_key, 1}};
        for (const auto& target : targets) {
            long peak_before = s_roles.peak_kb();
            for (int i = 0; i < target.frames; i++) {
                Dealer attacker(target.endpoint, target.key);
                assert_true(attacker.handshake());
                zmq_msg_t frame;
                zmq_msg_init_data(&frame, buffer, size, nullptr, nullptr);
                assert_int_equal(zmq_msg_send(&frame, zsock_resolve(attacker.socket), 0),
                                 (int)size);
                //  The server closes the connection as soon as it reads the frame's size.
                int event = 0;
                int64_t deadline = zgm::mono_ms() + 60000;
                while (event != ZMQ_EVENT_DISCONNECTED && zgm::mono_ms() < deadline)
                    event = attacker.event(1000);
                assert_int_equal(event, ZMQ_EVENT_DISCONNECTED);
            }
            long growth = s_roles.peak_kb() - peak_before;
            print_message("# %d frame(s) of %zu MiB (%s) to %s: its peak RSS grew %ld KiB\n",
                          target.frames, size >> 20, insecure ? "PLAIN" : "CURVE",
                          target.endpoint == s_roles.registry ? "the registry" : "a group server",
                          growth);
            if (kRssMeaningful) assert_true(growth <= 2048);
        }
        RawClient user(s_roles.registry, insecure ? "" : s_roles.registry_key,
                       zgm::KeyPair::generate(), insecure);
        proto::Message list = group_request(proto::kList);
        assert_int_equal(user.call(list).groups.size(), 1);
        RawClient member(s_roles.server, insecure ? "" : s_roles.server_key,
                         zgm::KeyPair::generate(), insecure);
        proto::Message join = join_message("big", "after");
        assert_int_equal(member.call(join).id, proto::kJoined);
        s_roles.stop();
    }
    free(buffer);
}

//  A member that acknowledges in FOLLOW what it never read would get past the follower
//  limit, but not past what it has shown it read: it returns no MARK, so the server pushes
//  it no more than half its --max-unread-bytes (and the frame that went over it), however
//  many messages the group gets. The follower limit is set above the unread one, so that
//  each bound shows on its own.
void test_a_follower_that_lies_in_its_acks_is_cut_at_its_unread_limit(void** state) {
    (void)state;
    const uint64_t follower_limit = 8 * 1024 * 1024, unread_limit = 4 * 1024 * 1024;
    const int messages = test::slowdown() > 1 ? 120 : 300; //  over the unread limit, and its sum
                                                           //  with the follower limit
    const size_t body_size = 60 * 1024;
    s_roles.start({"--no-registry", "--group", "firehose", "--server-limit",
                   "follower-bytes=" + std::to_string(follower_limit), "--server-limit",
                   "unread-bytes=" + std::to_string(unread_limit)},
                  true);
    Dealer liar(s_roles.server, s_roles.server_key, 1, 4096);
    liar.join("firehose", "liar");
    std::unique_ptr<RawClient> writer = joined_writer("firehose");
    std::string body(body_size, 'l');
    auto send_one = [&] {
        proto::Message send = send_message("firehose", body);
        proto::Message sent = writer->call(send);
        assert_int_equal(sent.id, proto::kSent);
        return sent.sent[0].seq;
    };
    for (int i = 0; i < 5; i++)
        send_one();
    long peak_before = s_roles.peak_kb();
    for (int i = 0; i < messages; i++) {
        uint64_t seq = send_one();
        if (i % 8 == 0) {
            proto::Message follow = follow_message({"firehose"}, seq); //  "I have it all"
            liar.send(follow);
        }
    }
    long growth = s_roles.peak_kb() - peak_before;
    uint64_t pushed_bytes = 0, marks = 0;
    proto::Message message;
    while (liar.recv(&message, 500)) {
        marks += message.id == proto::kMark;
        for (const proto::MessageRecord& record : message.messages)
            pushed_bytes += record.body.size();
    }
    print_message("# a follower lying in its acks: %d messages of %zu KiB sent, %llu KiB pushed to "
                  "it (--max-follower-bytes %llu KiB, --max-unread-bytes %llu KiB), %llu MARKs; "
                  "the server's peak RSS grew %ld KiB\n",
                  messages, body_size / 1024, (unsigned long long)(pushed_bytes / 1024),
                  (unsigned long long)(follower_limit / 1024),
                  (unsigned long long)(unread_limit / 1024), (unsigned long long)marks, growth);
    assert_true(pushed_bytes >= unread_limit / 2 - 2 * body_size);
    assert_true(pushed_bytes <= unread_limit / 2 + proto::kDeliverBytes + 2 * body_size);
    //  A MARK after each push that took what was sent past 256 KiB more (a push is a frame
    //  of one message here).
    assert_true(marks >= pushed_bytes / (zgm::Receipts::kMarkBytes + body_size + 1024));
    if (kRssMeaningful)
        assert_true(growth <= (long)(unread_limit / 1024) +
                                  (long)(zgm::ServerLimits().recent_bytes / 1024) + 6 * 1024);
    s_roles.stop();
}

//  A member slow to read what it is pushed is still answered: a group server pushes a
//  connection nothing from half its --max-unread-bytes on, and leaves the other half to the
//  answers to its requests. Here the member has read nothing of 7 MB pushed at it, with the
//  limit at 4 MiB, and its SEND is stored (answered 429 until it read, before: a member
//  writing while behind on its pushes had its sends refused until their time ran out).
void test_a_member_slow_to_read_its_pushes_is_still_answered(void** state) {
    (void)state;
    const uint64_t unread_limit = 4 * 1024 * 1024;
    const size_t body_size = 60 * 1024;
    const int messages = 120;
    //  The follower limit above the unread one, which then is the one that holds pushes back.
    s_roles.start({"--no-registry", "--group", "busy", "--server-limit",
                   "unread-bytes=" + std::to_string(unread_limit), "--server-limit",
                   "follower-bytes=" + std::to_string(2 * unread_limit)},
                  true);
    Dealer slow(s_roles.server, s_roles.server_key, 1, 4096);
    slow.join("busy", "slow");
    std::unique_ptr<RawClient> writer = joined_writer("busy");
    std::string body(body_size, 's');
    for (int i = 0; i < messages; i++) {
        proto::Message send = send_message("busy", body);
        assert_int_equal(writer->call(send).id, proto::kSent);
    }
    proto::Message mine = send_message("busy", "written while behind");
    slow.send(mine);
    //  Its answer comes after what was pushed before it; no MARK is returned meanwhile.
    uint64_t pushed_bytes = 0;
    proto::Message answer;
    int64_t deadline = zgm::mono_ms() + 10000 * test::slowdown();
    while (zgm::mono_ms() < deadline) {
        proto::Message message;
        if (!slow.recv(&message, 1000)) continue;
        for (const proto::MessageRecord& record : message.messages)
            pushed_bytes += record.body.size();
        if (message.request_id == mine.request_id) {
            answer = std::move(message);
            break;
        }
    }
    print_message("# a member that read nothing of %d messages of %zu KiB: %llu KiB pushed to it "
                  "(--max-unread-bytes %llu KiB); its own send was answered %s %d\n",
                  messages, body_size / 1024, (unsigned long long)(pushed_bytes / 1024),
                  (unsigned long long)(unread_limit / 1024),
                  answer.id == proto::kSent ? "SENT" : "ERROR", answer.status);
    assert_int_equal(answer.id, proto::kSent);
    assert_int_equal(answer.sent.size(), 1);
    assert_int_equal(answer.sent[0].status, proto::kStatusOk);
    assert_true(pushed_bytes <= unread_limit / 2 + proto::kDeliverBytes + 2 * body_size);
    s_roles.stop();
}

//  A client that asks for page after page of a long history and reads none of them is sent
//  no more than --max-unread-bytes (and the page that went over it): its later FETCHes are
//  answered 429, "read them", and the server's memory stays about that. Once it reads, and
//  returns the MARKs it finds, its next FETCH is answered.
void test_fetches_never_read_are_cut_at_the_unread_limit(void** state) {
    (void)state;
    const uint64_t unread_limit = 4 * 1024 * 1024;
    const int fetches = test::slowdown() > 1 ? 40 : 200;
    s_roles.start({"--no-registry", "--group", "archive", "--server-limit",
                   "unread-bytes=" + std::to_string(unread_limit)},
                  true);
    //  About 2.4 MB of history, so that every FETCH of all of it is a page of 2 MiB or more.
    std::unique_ptr<RawClient> writer = joined_writer("archive");
    std::string body(60 * 1024, 'a');
    std::vector<std::string> bodies(5, body); //  a SEND within the default --max-frame
    for (int i = 0; i < 8; i++) {
        proto::Message send = send_message("archive", bodies);
        assert_int_equal(writer->call(send).id, proto::kSent);
    }
    Dealer hoarder(s_roles.server, s_roles.server_key, 1, 4096);
    hoarder.join("archive", "hoarder");
    long peak_before = s_roles.peak_kb();
    for (int i = 0; i < fetches; i++) {
        proto::Message fetch = group_request(proto::kFetch, "archive");
        hoarder.send(fetch);
    }
    //  It returns no MARK while it reads: what it was sent stays unread however soon it
    //  starts, and the server's answers waited in its queue (the peak RSS) until then.
    uint64_t page_bytes = 0, pages = 0, refused = 0, answers = 0;
    std::vector<uint64_t> tokens;
    std::string first_reason;
    proto::Message message;
    //  Until a second passes with nothing more: of the FETCHes past the limit, 16 are
    //  refused, and the others only once it reads (it was told to).
    while (
        hoarder.recv_besides_marks(&message, (answers ? 1000 : 5000) * test::slowdown(), &tokens)) {
        answers++;
        if (message.id == proto::kMessages) {
            pages++;
            for (const proto::MessageRecord& record : message.messages)
                page_bytes += record.body.size();
        } else {
            assert_error(message, proto::kRateLimited, "read them");
            assert_true(message.retry_ms > 0);
            //  One reason for the refusal counts (STATS, the log): the figures come after
            //  ": ", which they leave out.
            std::string reason = message.reason.substr(0, message.reason.find(": "));
            if (refused == 0) first_reason = reason;
            assert_string_equal(reason.c_str(), first_reason.c_str());
            refused++;
        }
    }
    long growth = s_roles.peak_kb() - peak_before;
    print_message(
        "# %d FETCHes of 2.4 MB never read (--max-unread-bytes %llu KiB): %llu pages "
        "(%llu KiB) sent, %llu answered 429, %llu held until it reads; the server's peak RSS "
        "grew %ld KiB\n",
        fetches, (unsigned long long)(unread_limit / 1024), (unsigned long long)pages,
        (unsigned long long)(page_bytes / 1024), (unsigned long long)refused,
        (unsigned long long)(fetches - answers), growth);
    assert_true(pages >= 1);
    assert_true(page_bytes <= unread_limit + proto::kFetchBytes + body.size());
    assert_true(refused >= 1 && refused <= zgm::Receipts::kMaxRefusals);
    assert_true(answers == pages + refused && answers < (uint64_t)fetches);
    //  Nor is it answered what else it asks, or sends malformed, until it reads (and what is
    //  malformed, never).
    for (int i = 0; i < 100; i++) {
        proto::Message memberships = group_request(proto::kMemberships);
        hoarder.send(memberships);
        assert_int_equal(zmq_send(zsock_resolve(hoarder.socket), "junk", 4, 0), 4);
    }
    uint64_t more = 0;
    while (hoarder.recv_besides_marks(&message, 1000 * test::slowdown(), &tokens))
        more++;
    assert_true(refused + more <= zgm::Receipts::kMaxRefusals);
    if (kRssMeaningful) assert_true(growth <= 3 * (long)(unread_limit / 1024) + 6 * 1024);
    //  It read them all: the newest MARK it found says so, and it is answered again.
    assert_false(tokens.empty());
    proto::Message receipt;
    receipt.id = proto::kReceipt;
    receipt.token = tokens.back();
    hoarder.send(receipt);
    proto::Message fetch = group_request(proto::kFetch, "archive");
    fetch.limit = 1;
    hoarder.send(fetch);
    bool answered = false;
    while (!answered && hoarder.recv(&message, 5000))
        if (message.request_id == fetch.request_id) {
            assert_int_equal(message.id, proto::kMessages);
            assert_int_equal(message.messages.size(), 1);
            answered = true;
        }
    assert_true(answered);
    s_roles.stop();
}

//  Connections that ask for page after page and read none share --max-unread-total: once the
//  server's connections hold that much unread, each may leave only 256 KiB unread, and a page
//  to one is cut to what it may still take. The first hoarder is sent pages up to the total,
//  each of the others about 256 KiB and the record that went past it; the rest of their
//  FETCHes are answered 429 naming the total. A user that reads fetches the whole history
//  meanwhile, in smaller pages, and gets every message written after it. Once one hoarder
//  goes away and the others read, pages are whole again. Before, each
//  connection could leave its own --max-unread-bytes (16 MiB) unread, whatever the others held.
void test_connections_that_never_read_share_the_unread_total(void** state) {
    (void)state;
    const uint64_t total_limit = 4 * 1024 * 1024;
    const int hoarders = 4, fetches = test::slowdown() > 1 ? 10 : 20;
    s_roles.start(
        {"--group", "archive", "--server-limit", "unread-total=" + std::to_string(total_limit)},
        true);
    std::unique_ptr<RawClient> writer = history_writer("archive");
    const int messages = kHistoryMessages;
    long peak_before = s_roles.peak_kb();
    std::vector<std::unique_ptr<Dealer>> hoarding;
    for (int h = 0; h < hoarders; h++) {
        hoarding.emplace_back(new Dealer(s_roles.server, s_roles.server_key, 1000, 4096));
        hoarding.back()->join("archive", "hoarder" + std::to_string(h));
        for (int i = 0; i < fetches; i++) {
            proto::Message fetch = group_request(proto::kFetch, "archive");
            hoarding.back()->send(fetch);
        }
    }
    //  Each has been answered (the answers wait in its queue, unread).
    for (auto& hoarder : hoarding) {
        zmq_pollitem_t item = {zsock_resolve(hoarder->socket), 0, ZMQ_POLLIN, 0};
        assert_int_equal(zmq_poll(&item, 1, 10000 * test::slowdown()), 1);
    }

    //  A user that reads fetches all of it meanwhile.
    zgm_user_t* reader = zgm_user_new("reader");
    zgm_user_set_timeout(reader, 30000 * test::slowdown());
    assert_ok(zgm_user_connect(reader, s_roles.registry.c_str(), s_roles.registry_key.c_str()));
    assert_ok(zgm_user_join(reader, "archive"));
    int64_t started = zgm::mono_ms();
    zgm_msglist_t* history = zgm_user_fetch(reader, "archive", NULL);
    if (!history) fail_msg("the reader's fetch failed: %s", zgm_strerror());
    int64_t fetch_ms = zgm::mono_ms() - started;
    assert_int_equal(zgm_msglist_size(history), messages);
    for (size_t i = 0; i < zgm_msglist_size(history); i++) {
        const zgm_msg_t* message = zgm_msglist_get(history, i);
        assert_int_equal(zgm_msg_seq(message), i + 1);
        assert_int_equal(zgm_msg_size(message), kHistoryBody);
    }
    zgm_msglist_destroy(&history);
    //  And gets what is written meanwhile, pushed 128 KiB at a time, or caught up.
    std::vector<std::string> bodies(5, std::string(kHistoryBody, 'n'));
    for (int i = 0; i < 2; i++) {
        proto::Message send = send_message("archive", bodies);
        assert_int_equal(writer->call(send).id, proto::kSent);
    }
    for (int seq = messages + 1; seq <= messages + 10; seq++) {
        zgm_msg_t* got = zgm_user_recv(reader, 10000 * test::slowdown());
        if (!got) fail_msg("message %d did not come: %s", seq, zgm_strerror());
        assert_int_equal(zgm_msg_seq(got), seq);
        zgm_msg_destroy(&got);
    }
    zgm_user_destroy(&reader);

    //  What the hoarders were sent.
    uint64_t page_bytes = 0, pages = 0, refused_total = 0, refused = 0;
    std::vector<uint64_t> largest(hoarders, 0);
    std::vector<std::vector<uint64_t>> tokens(hoarders);
    std::vector<int> answers(hoarders, 0), refusals(hoarders, 0);
    //  Until a second passes with nothing more: past the bound, FETCHes are refused 16 times
    //  at most, and the others only once it reads (it was told to).
    drain(
        dealers_of(hoarding), 1000 * test::slowdown(),
        [&](size_t h, const proto::Message& message) {
            answers[h]++;
            if (message.id == proto::kMessages) {
                pages++;
                uint64_t bytes = 0;
                for (const proto::MessageRecord& record : message.messages)
                    bytes += record.body.size();
                page_bytes += bytes;
                largest[h] = std::max(largest[h], bytes);
            } else {
                assert_error(message, proto::kRateLimited, "read them");
                refused++;
                refusals[h]++;
                refused_total += message.reason.find("--max-unread-total") != std::string::npos;
            }
        },
        &tokens);
    for (int h = 0; h < hoarders; h++) {
        assert_true(answers[h] <= fetches);
        assert_true(refusals[h] >= 1 && refusals[h] <= (int)zgm::Receipts::kMaxRefusals);
    }
    long growth = s_roles.peak_kb() - peak_before;
    print_message(
        "# %d connections, %d FETCHes of 2.4 MB each, never read (--max-unread-total "
        "%llu KiB): %llu pages (%llu KiB) sent, %llu answered 429 (%llu naming the "
        "total), %llu held until they read; a reader's fetch of all of it took %lld ms; the "
        "server's peak RSS grew %ld KiB\n",
        hoarders, fetches, (unsigned long long)(total_limit / 1024), (unsigned long long)pages,
        (unsigned long long)(page_bytes / 1024), (unsigned long long)refused,
        (unsigned long long)refused_total,
        (unsigned long long)(hoarders * fetches - pages - refused), (long long)fetch_ms, growth);
    assert_true(page_bytes <=
                total_limit + hoarders * (zgm::Receipts::kMarkBytes + 2 * kHistoryBody));
    assert_true(refused_total > 0);
    //  The first was sent pages up to the total; the others, once it was reached, 256 KiB.
    assert_true(largest[0] > zgm::Receipts::kMarkBytes);
    for (int h = 1; h < hoarders; h++)
        assert_true(largest[h] <= zgm::Receipts::kMarkBytes);
    if (kRssMeaningful) assert_true(growth <= 3 * (long)(total_limit / 1024) + 6 * 1024);

    //  The first, which holds most, goes away without reading; the others read it all and say
    //  so. The next page is whole again, once the server has found the first gone (it looks
    //  every second for those that hold unread bytes while the total is reached; else after
    //  a minute idle).
    hoarding[0].reset();
    for (int h = 1; h < hoarders; h++) {
        assert_false(tokens[h].empty());
        proto::Message receipt;
        receipt.id = proto::kReceipt;
        receipt.token = tokens[h].back();
        hoarding[h]->send(receipt);
    }
    uint64_t whole = 0;
    int64_t deadline = zgm::mono_ms() + 10000 * test::slowdown();
    while (whole <= zgm::Receipts::kMarkBytes && zgm::mono_ms() < deadline) {
        proto::Message fetch = group_request(proto::kFetch, "archive");
        hoarding.back()->send(fetch);
        proto::Message message;
        bool answered = false;
        while (!answered && hoarding.back()->recv(&message, 5000)) {
            if (message.id == proto::kMark) { //  read: returned at once
                proto::Message receipt;
                receipt.id = proto::kReceipt;
                receipt.token = message.token;
                hoarding.back()->send(receipt);
            }
            if (message.request_id != fetch.request_id) continue;
            answered = true;
            if (message.id != proto::kMessages) continue; //  429: ask again
            whole = 0;
            for (const proto::MessageRecord& record : message.messages)
                whole += record.body.size();
        }
        assert_true(answered);
        if (whole <= zgm::Receipts::kMarkBytes) zclock_sleep(100); //  asked again 10 times a second
    }
    print_message("# the next page once one went away and the others read: %llu KiB\n",
                  (unsigned long long)(whole / 1024));
    assert_true(whole > zgm::Receipts::kMarkBytes);
    s_roles.stop();
}

//  What is pushed to followers that do not read counts in --max-unread-total once per frame:
//  a DELIVER is one frame shared by every follower it goes to, and each is charged its share.
//  Eight followers of one group leave 2.4 MB each of pushes unread (19 MB sent, 2.4 MB held,
//  with the total at 4 MiB), and a reader's FETCH is still answered with a whole page.
//  (Counted whole for each follower, fan-out to 100 members fell from 1.9 M to 0.5 M
//  deliveries a second: the total was reached, and pushes were held.) Eight followers of a
//  group each, which share no frame, are held to the total: what they are pushed and leave
//  unread is about the total and kMarkBytes each (uncounted, each was pushed 2.4 MB, up to
//  half its own 16 MiB: a server held 8 MiB a connection for connections that never read).
void test_pushes_count_once_in_the_total_whoever_they_go_to(void** state) {
    (void)state;
    //  The shares of one frame add up to it, however many it goes to (rounded up, a frame of
    //  100 bytes to 1,000 followers counted 1,000).
    for (const auto& [bytes, sharers] :
         std::vector<std::pair<size_t, size_t>>{{100, 1000}, {1000, 7}, {32768, 10}, {5, 1}}) {
        uint64_t sum = 0;
        for (size_t place = 0; place < sharers; place++)
            sum += zgm::Receipts::share(bytes, sharers, place);
        assert_int_equal(sum, bytes);
    }
    const uint64_t total_limit = 4 * 1024 * 1024;
    std::vector<std::string> args = {"--no-registry", "--group", "busy", "--server-limit",
                                     "unread-total=" + std::to_string(total_limit)};
    for (int f = 0; f < 8; f++)
        args.insert(args.end(), {"--group", "own" + std::to_string(f)});
    s_roles.start(args);
    std::vector<std::unique_ptr<Dealer>> followers;
    for (int f = 0; f < 8; f++) {
        followers.emplace_back(new Dealer(s_roles.server, s_roles.server_key, 100000, 4096));
        followers.back()->join("busy", "follower" + std::to_string(f));
    }
    std::unique_ptr<RawClient> writer = history_writer("busy");
    Dealer reader(s_roles.server, s_roles.server_key, 1000, 4096);
    reader.join("busy", "reader");
    proto::Message fetch = group_request(proto::kFetch, "busy");
    reader.send(fetch);
    proto::Message page;
    do
        assert_true(reader.recv(&page, 5000 * test::slowdown()));
    while (page.request_id != fetch.request_id);
    assert_int_equal(page.id, proto::kMessages);
    uint64_t page_bytes = 0;
    for (const proto::MessageRecord& record : page.messages)
        page_bytes += record.body.size();
    //  What the first follower was pushed, read only now.
    uint64_t pushed = 0;
    proto::Message message;
    while (followers[0]->recv_besides_marks(&message, 1000 * test::slowdown(), nullptr))
        for (const proto::MessageRecord& record : message.messages)
            pushed += record.body.size();
    print_message("# 8 followers each pushed %llu KiB, unread (--max-unread-total %llu KiB); a "
                  "reader's page: %llu KiB\n",
                  (unsigned long long)(pushed / 1024), (unsigned long long)(total_limit / 1024),
                  (unsigned long long)(page_bytes / 1024));
    assert_true(8 * pushed > total_limit);
    assert_true(page_bytes > zgm::Receipts::kMarkBytes);

    //  A group each: no frame shared (a server of its own, which holds nothing yet).
    followers.clear();
    writer.reset();
    s_roles.stop();
    s_roles.start(args);
    std::vector<std::unique_ptr<Dealer>> loners;
    for (int f = 0; f < 8; f++) {
        loners.emplace_back(new Dealer(s_roles.server, s_roles.server_key, 100000, 4096));
        loners.back()->join("own" + std::to_string(f), "loner" + std::to_string(f));
    }
    for (int f = 0; f < 8; f++)
        history_writer("own" + std::to_string(f));
    uint64_t held = 0;
    drain(dealers_of(loners), 1000 * test::slowdown(), [&](size_t, const proto::Message& pushed) {
        for (const proto::MessageRecord& record : pushed.messages)
            held += record.body.size();
    });
    //  The total, and for each the frame that took it past its kMarkBytes / 2 (a DELIVER of
    //  up to kDeliverBytes and one record more: 32 + 60 KiB) and the MARK's kMarkBytes.
    const uint64_t bound = total_limit + 8 * (zgm::Receipts::kMarkBytes + 96 * 1024);
    print_message("# 8 followers of a group each, not reading: pushed %llu KiB in all (the "
                  "total %llu KiB, the bound %llu KiB; 8 x %d KiB written)\n",
                  (unsigned long long)(held / 1024), (unsigned long long)(total_limit / 1024),
                  (unsigned long long)(bound / 1024),
                  (int)(kHistoryBody * kHistoryMessages / 1024));
    assert_true(held <= bound);
    assert_true(held >= total_limit / 2);
    s_roles.stop();
}

//  Takes a paged list (MEMBERS or MEMBERSHIPS) from its first page to its last, as a user
//  does: a 429 waited out and asked again, each page after the last one's `after`. Returns
//  the pages taken, the refusals waited out in *waits.
int take_pages(RawClient& client, proto::Message request, proto::MessageId answer,
               const std::function<void(const proto::Message&)>& take, int* waits) {
    int pages = 0;
    *waits = 0;
    int64_t deadline = zgm::mono_ms() + 20000 * test::slowdown();
    while (zgm::mono_ms() < deadline) {
        proto::Message page = client.call(request);
        if (page.id == proto::kError) { //  256 KiB unread: as told, it asks again
            assert_error(page, proto::kRateLimited);
            (*waits)++;
            zclock_sleep((int)page.retry_ms);
            continue;
        }
        assert_int_equal(page.id, answer);
        pages++;
        take(page);
        if (!page.more) return pages;
        assert_false(page.after.empty());
        request.after = page.after;
    }
    fail_msg("the list did not end in 20 s: %d pages", pages);
    return pages;
}

//  While the server's connections hold --max-unread-total unread, a list of members (here
//  8,000 keys the owner added: 288 KB) comes in pages cut to what the connection may be sent,
//  every key once, and so does the list of the groups a key is a member of (here 4,000 of
//  them: 300 KB). Before protocol versions 6 and 7, MEMBER_LIST and MEMBERSHIP_LIST were one
//  frame each, and one of over 256 KiB was refused until the hoarders read. Another answer
//  over 4 KiB goes only within what the connection may be sent: a second FOLLOWING of
//  200 KB is refused, with a MARK that, returned, lets the third go.
void test_a_members_list_comes_in_pages_while_the_unread_total_is_reached(void** state) {
    (void)state;
    const uint64_t total_limit = 4 * 1024 * 1024;
    const int added = 8000, joined = 4000;
    zgm::KeyPair owner_keys = zgm::KeyPair::generate();
    std::vector<std::string> args = {"--no-registry",
                                     "--group",
                                     "roster," + owner_keys.public_txt,
                                     "--server-limit",
                                     "unread-total=" + std::to_string(total_limit),
                                     "--server-limit",
                                     "rate=0",
                                     "--server-limit",
                                     "follows=" + std::to_string(joined)};
    std::vector<std::string> names; //  of 64 bytes, each record of a MEMBERSHIP_LIST 75
    for (int i = 0; i < joined; i++) {
        std::string name = "joined-" + std::to_string(10000 + i);
        names.push_back(name + std::string(64 - name.size(), 'x'));
        args.push_back("--group");
        args.push_back(names.back());
    }
    s_roles.start(args);
    RawClient wanderer(s_roles.server, s_roles.server_key); //  a member of all of them
    test::join_all(wanderer, names, "wanderer");
    RawClient owner(s_roles.server, s_roles.server_key, owner_keys);
    proto::Message join = join_message("roster", "owner");
    assert_int_equal(owner.call(join).id, proto::kJoined);
    unfollow(owner, "roster"); //  it has nothing unread of its own
    for (int sent = 0; sent < added;) {
        int batch = std::min(500, added - sent);
        for (int i = 0; i < batch; i++) {
            proto::Message add = group_request(proto::kAdd, "roster");
            add.key = zgm::KeyPair::generate().public_key();
            owner.send(add);
        }
        for (int i = 0; i < batch; i++)
            assert_int_equal(owner.recv().id, proto::kOk);
        sent += batch;
    }
    std::unique_ptr<RawClient> writer = history_writer("roster");
    //  A connection that asks for pages and reads none takes the server to its total.
    Dealer hoarder(s_roles.server, s_roles.server_key, 1000, 4096);
    hoarder.join("roster", "hoarder");
    const int fetches = 5;
    for (int i = 0; i < fetches; i++) {
        proto::Message fetch = group_request(proto::kFetch, "roster");
        hoarder.send(fetch);
    }
    //  Its last FETCH answered: the ones before it were.
    std::vector<uint64_t> tokens;
    int answers = 0;
    proto::Message message;
    while (answers < fetches && hoarder.recv(&message, 5000)) {
        if (message.id == proto::kMark)
            tokens.push_back(message.token);
        else
            answers++;
    }
    assert_int_equal(answers, fetches);
    //  The owner is answered (a small answer), and sent the list in pages.
    proto::Message memberships = group_request(proto::kMemberships);
    assert_int_equal(owner.call(memberships).id, proto::kMembershipList);
    std::set<std::string> listed;
    int waits = 0;
    int pages = take_pages(
        owner, group_request(proto::kMembers, "roster"), proto::kMemberList,
        [&](const proto::Message& page) {
            for (const proto::MemberRecord& member : page.members)
                assert_true(listed.insert(member.key.str()).second); //  once
        },
        &waits);
    print_message("# a list of %zu members and added keys while the unread total was reached: "
                  "%d pages, %d refusals waited out\n",
                  listed.size(), pages, waits);
    assert_int_equal(listed.size(), added + 3); //  the owner, the writer, the hoarder
    assert_true(pages >= 2);
    //  Its pages are cut to what it may be sent: 2,500 records (187 KB) would not fit in
    //  what the first page left of its 256 KiB.
    std::vector<std::string> groups;
    size_t cut = 0; //  pages before the last of fewer than kMembershipsPage records
    pages = take_pages(
        wanderer, group_request(proto::kMemberships), proto::kMembershipList,
        [&](const proto::Message& page) {
            for (const proto::FollowRecord& record : page.follows)
                groups.push_back(record.group);
            cut += page.more && page.follows.size() < proto::kMembershipsPage;
        },
        &waits);
    print_message("# the %zu groups a key is a member of, while the unread total was reached: "
                  "%d pages (%zu cut short), %d refusals waited out\n",
                  groups.size(), pages, cut, waits);
    assert_true(groups == names); //  each once, by name
    assert_true(cut >= 1);
    //  A smaller answer too, once the connection's own 256 KiB are taken: a FOLLOWING of
    //  about 200 KB (3,000 groups it is not in) goes once; the second is refused, with a
    //  MARK that, returned, gives it its own 256 KiB again, and the third goes.
    RawClient prober(s_roles.server, s_roles.server_key);
    std::vector<std::string> unknown;
    for (int i = 0; i < 3000; i++) {
        std::string name = "no-such-group-" + std::to_string(i);
        unknown.push_back(name + std::string(64 - name.size(), 'x'));
    }
    proto::Message follow = follow_message(unknown);
    assert_int_equal(prober.call(follow).id, proto::kFollowing);
    follow = follow_message(unknown);
    proto::Message second = prober.call(follow);
    assert_error(second, proto::kRateLimited, "--max-unread-total");
    assert_true(strstr(second.reason.c_str(), "cannot go now") != nullptr);
    zclock_sleep((int)second.retry_ms);
    follow = follow_message(unknown);
    assert_int_equal(prober.call(follow).id, proto::kFollowing);
    s_roles.stop();
}

//  ~1,000 idle sockets against a server limited to 100 connections and 1,024 descriptors,
//  from an attacker's process: CURVE connections with keys of their own that never send a
//  request (libzmq retries those refused, every 100 ms, by itself) and TCP connections that
//  say nothing. The server admits no more than its limit and stays within its descriptors,
//  and a user already connected goes on sending. Then a flood that holds every slot with
//  idle authenticated connections: a newcomer is refused (zgm has no limit per source
//  address), and gets in once the flood is gone.
void test_idle_sockets_do_not_stop_a_connected_users_send(void** state) {
    (void)state;
    const int max_connections = 100, curve_flood = 500, tcp_flood = 500;
    s_roles.start({"--nofile", "1024", "--group", "town", "--server-limit",
                   "connections=" + std::to_string(max_connections), "--registry-limit",
                   "connections=" + std::to_string(max_connections)});
    zgm_user_t* alice = zgm_user_new("alice");
    zgm_user_set_timeout(alice, 5000);
    assert_ok(zgm_user_connect(alice, s_roles.registry.c_str(), s_roles.registry_key.c_str()));
    assert_ok(zgm_user_join(alice, "town"));
    //  The slowest of alice's sends, one after the other for 1.5 s.
    int sends = 0;
    auto slowest_send = [&](const char* when) {
        int64_t slowest = 0, end = zgm::mono_ms() + 1500;
        for (sends = 0; zgm::mono_ms() < end; sends++) {
            int64_t start = zgm::mono_ms();
            send_text(alice, "town", std::string(when) + " " + std::to_string(sends));
            slowest = std::max(slowest, zgm::mono_ms() - start);
        }
        return slowest;
    };
    int64_t slowest_before = slowest_send("before");
    int sends_before = sends;

    s_attacker.start({"--flood", s_roles.server, s_roles.server_key, std::to_string(curve_flood),
                      std::to_string(tcp_flood)},
                     false, "flooding\n");
    //  The flood is on once a probe of our own is refused (not merely unanswered: CI saw a
    //  probe time out under qemu while no handshake of the flood had been refused yet).
    assert_true(test::eventually(
        [&] {
            Dealer probe(s_roles.server, s_roles.server_key);
            return probe.handshake_outcome(2000) == -1;
        },
        20000 * test::slowdown()));
    int descriptors = open_descriptors(s_roles.pid);
    int64_t slowest_during = slowest_send("during");
    print_message("# flood of %d CURVE and %d silent TCP connections: the server holds %d "
                  "descriptors; alice's sends in 1.5 s: %d before the flood (slowest %lld ms), "
                  "%d during it (slowest %lld ms)\n",
                  curve_flood, tcp_flood, descriptors, sends_before, (long long)slowest_before,
                  sends, (long long)slowest_during);
    s_attacker.stop();
    unsigned long long refused = 0;
    size_t at = s_attacker.last_log.rfind("refused ");
    if (at != std::string::npos) refused = strtoull(s_attacker.last_log.c_str() + at + 8, 0, 10);
    print_message("# the attacker's handshakes refused meanwhile: %llu\n", refused);
    assert_true(refused >= 1);
    assert_true(descriptors < 1024);
    assert_true(slowest_during < 3000);

    //  A flood that holds every slot alice left, with idle authenticated connections.
    std::vector<std::unique_ptr<Dealer>> held;
    //  (What the attacker's process left takes the server a moment to close.)
    int64_t deadline = zgm::mono_ms() + 30000;
    while (held.size() < (size_t)max_connections - 1 && zgm::mono_ms() < deadline) {
        std::unique_ptr<Dealer> dealer(new Dealer(s_roles.server, s_roles.server_key));
        if (dealer->handshake()) held.push_back(std::move(dealer));
    }
    assert_int_equal(held.size(), max_connections - 1);
    int64_t slowest_held = slowest_send("held");
    print_message("# %zu idle connections hold every other slot: alice's slowest send %lld ms\n",
                  held.size(), (long long)slowest_held);
    assert_true(slowest_held < 1000);
    zgm_user_t* bob = zgm_user_new("bob");
    zgm_user_set_timeout(bob, 3000);
    assert_ok(zgm_user_connect(bob, s_roles.registry.c_str(), s_roles.registry_key.c_str()));
    assert_int_equal(zgm_user_join(bob, "town"), -1);
    print_message("# a newcomer meanwhile: %s\n", zgm_strerror());
    assert_int_equal(zgm_errno(), ZGM_EUNREACHABLE);
    assert_non_null(strstr(zgm_strerror(), "refused the connection"));

    //  The flood ends; the newcomer gets in.
    held.clear();
    zgm_user_set_timeout(bob, 10000);
    assert_ok(zgm_user_join(bob, "town"));
    zgm_user_destroy(&bob);
    zgm_user_destroy(&alice);
    s_roles.stop();
}

//  Malformed frames, requests for what the requester may not do, and requests over the
//  rate, 100,000 and more of them: each server logs the first of each kind at once and then
//  counts, so the log grows by a few lines, not one line a request; with --verbose the
//  requests' trace lines stay within their budget of 50 a second per role. So do the lines
//  of a group's owner's requests, which it may repeat (each ADD wrote one).
void test_a_flood_of_bad_requests_writes_a_bounded_number_of_log_lines(void** state) {
    (void)state;
    const int malformed = test::slowdown() > 1 ? 5000 : 50000, refused = 5000, chunk = 500;
    const int owned = test::slowdown() > 1 ? 500 : 3000;
    zgm_user_t* owner = zgm_user_new("owner");
    std::string owner_key = zgm_user_key(owner);
    s_roles.start({"--verbose", "--group", "quiet", "--group", "owned," + owner_key});
    int lines_before = s_roles.log_lines_after_ready();
    struct Flood {
        std::string endpoint, key;
        std::vector<std::string> frames; //  sent in turn
        int count;
    };
    proto::Message fetch = group_request(proto::kFetch, "quiet");
    proto::Message join = join_message("nowhere", "x");
    proto::Message list = group_request(proto::kList);
    proto::Message create = group_request(proto::kCreate, "bad name!");
    std::string encoded_fetch, encoded_join, encoded_list, encoded_create;
    assert_true(proto::encode(fetch, &encoded_fetch));
    assert_true(proto::encode(join, &encoded_join));
    assert_true(proto::encode(list, &encoded_list));
    assert_true(proto::encode(create, &encoded_create));
    std::string other_version = encoded_list;
    other_version[3] = 9;
    const std::vector<std::string> garbage = {"garbage", std::string("\xaa\xa1\x22\x02", 4),
                                              other_version, encoded_list + "trailing"};
    Flood floods[] = {
        {s_roles.server, s_roles.server_key, garbage, malformed},
        {s_roles.registry, s_roles.registry_key, garbage, malformed},
        {s_roles.server, s_roles.server_key, {encoded_fetch, encoded_join}, refused},
        {s_roles.registry, s_roles.registry_key, {encoded_list, encoded_create}, refused},
    };
    int64_t start = zgm::mono_ms();
    for (Flood& flood : floods) {
        Dealer attacker(flood.endpoint, flood.key);
        assert_true(attacker.handshake());
        for (int sent = 0; sent < flood.count; sent += chunk) {
            for (int i = 0; i < chunk; i++) {
                const std::string& frame = flood.frames[(sent + i) % flood.frames.size()];
                zmq_send(zsock_resolve(attacker.socket), frame.data(), frame.size(), 0);
            }
            proto::Message reply;
            for (int i = 0; i < chunk && attacker.recv(&reply, 2000); i++) {
            }
        }
    }
    assert_ok(zgm_user_connect(owner, s_roles.registry.c_str(), s_roles.registry_key.c_str()));
    zgm_user_set_timeout(owner, 10000);
    for (int i = 0; i < owned; i++)
        if (zgm_user_add(owner, "owned", owner_key.c_str()) != 0)
            fail_msg("the owner's ADD %d: %s", i, zgm_strerror());
    zgm_user_destroy(&owner);
    int64_t elapsed_ms = zgm::mono_ms() - start;
    //  The lines the flood added: a request's trace line (--verbose only) is within the
    //  budget of 50 a second per role, the rest counted; every other line is a kind's first
    //  or a count.
    std::string text = test::read_file(s_roles.log);
    size_t at = text.find("ready\n") + 6;
    for (int skip = 0; skip < lines_before && at < text.size(); skip++)
        at = text.find('\n', at) + 1;
    int traces = 0, others = 0;
    std::map<std::string, int> kinds; //  what filled it: the lines by their first words
    while (at > 0 && at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(at, end - at);
        bool trace = line.find(" REQUEST FROM ") != std::string::npos ||
                     line.find(" SEND FROM ") != std::string::npos ||
                     line.find(" by its owner") != std::string::npos;
        (trace ? traces : others)++;
        kinds[line.substr(line.size() > 20 ? 20 : 0, 28)]++;
        at = end + 1;
    }
    int trace_budget = 2 * 50 * (int)(elapsed_ms / 1000 + 2);
    print_message("# %d malformed, %d refused and %d owner's requests in %lld ms: %d request "
                  "trace lines (budget %d), %d other log lines\n",
                  2 * malformed, 2 * refused, owned, (long long)elapsed_ms, traces, trace_budget,
                  others);
    if (others > 20 || traces > trace_budget) {
        std::string summary;
        for (const auto& kind : kinds)
            summary += std::to_string(kind.second) + " x '" + kind.first + "...'\n";
        fail_msg("%d trace and %d other log lines:\n%s", traces, others, summary.c_str());
    }
    s_roles.stop();
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_security ZGM_TEST_ROLES\n");
        return 2;
    }
    s_roles_program = argv[1];
    signal(SIGPIPE, SIG_IGN);
    //  The connection floods hold a thousand sockets and their monitors at once.
    zsys_set_max_sockets(8192);
    //  ZGM_TEST_FILTER=pattern runs only the tests whose names match (cmocka's filter).
    if (getenv("ZGM_TEST_FILTER")) cmocka_set_test_filter(getenv("ZGM_TEST_FILTER"));
    const struct CMUnitTest beside[] = {
        cmocka_unit_test(test_a_client_without_curve_or_the_right_keys_gets_nothing),
        cmocka_unit_test(test_an_insecure_server_answers_only_plain_clients_stating_a_key),
        cmocka_unit_test(test_key_files_keep_the_secret_key_private),
        cmocka_unit_test(test_processes_making_one_key_pair_at_once_get_the_same_key),
        cmocka_unit_test_teardown(test_an_observer_on_the_wire_sees_no_body_name_or_key,
                                  stop_capture),
        cmocka_unit_test(test_a_user_cannot_send_leave_fetch_follow_or_read_members_as_another),
        cmocka_unit_test(test_insecure_mode_proves_no_key),
        cmocka_unit_test(test_the_all_zero_key_is_no_key),
        cmocka_unit_test(test_an_untrusted_server_cannot_take_refresh_move_or_remove_a_name),
        cmocka_unit_test(test_an_untrusted_server_cannot_squat_a_name_before_its_server_starts),
        cmocka_unit_test(test_an_untrusted_server_is_never_handed_new_groups),
        cmocka_unit_test(
            test_a_trusted_server_cannot_take_a_name_another_key_holds_while_it_is_live),
        cmocka_unit_test(test_only_the_server_asked_may_answer_host),
        cmocka_unit_test(test_a_group_server_takes_host_only_from_its_registry),
        cmocka_unit_test(test_a_server_no_longer_trusted_is_dropped),
        cmocka_unit_test(test_a_server_whose_certificate_is_rewritten_in_place_is_dropped),
        cmocka_unit_test(test_a_registry_of_another_protocol_version_is_eproto_at_once),
        cmocka_unit_test(test_a_user_talks_only_to_the_server_key_the_registry_gave),
        cmocka_unit_test(test_a_non_member_cannot_join_or_read_a_members_group),
        cmocka_unit_test(test_a_removed_member_stops_receiving_live_and_by_fetch),
        cmocka_unit_test(test_only_the_owner_may_change_a_group),
        cmocka_unit_test(test_requests_over_the_rate_get_429_with_a_retry_time),
        cmocka_unit_test(test_each_group_server_limit_is_refused_with_430),
        cmocka_unit_test(test_display_names_are_checked),
        cmocka_unit_test(test_a_policy_other_than_open_or_members_is_refused),
        cmocka_unit_test(test_a_senders_name_is_the_one_its_key_joined_with),
        cmocka_unit_test(test_oversized_bodies_and_frames_are_refused),
        cmocka_unit_test(test_limits_below_their_minimum_are_refused),
        cmocka_unit_test(test_max_connections_beyond_the_descriptor_limit_is_refused_at_start),
        cmocka_unit_test(test_a_handshake_on_a_closed_servers_socket_is_not_admitted),
        cmocka_unit_test(test_once_a_server_ran_other_curve_sockets_of_the_process_are_refused),
    };
    //  What a peer can make a server hold, measured in zgm_test_roles's process: its memory,
    //  descriptors, log lines and a user's latency, which another test's load would move.
    const struct CMUnitTest alone[] = {
        cmocka_unit_test_teardown(test_joining_and_vanishing_leaves_memory_flat, stop_roles),
        cmocka_unit_test_teardown(test_a_reader_that_never_reads_is_cut_at_its_follower_limit,
                                  stop_roles),
        cmocka_unit_test_teardown(test_a_frame_over_max_frame_is_never_buffered, stop_roles),
        cmocka_unit_test_teardown(test_a_follower_that_lies_in_its_acks_is_cut_at_its_unread_limit,
                                  stop_roles),
        cmocka_unit_test_teardown(test_a_member_slow_to_read_its_pushes_is_still_answered,
                                  stop_roles),
        cmocka_unit_test_teardown(test_fetches_never_read_are_cut_at_the_unread_limit, stop_roles),
        cmocka_unit_test_teardown(test_connections_that_never_read_share_the_unread_total,
                                  stop_roles),
        cmocka_unit_test_teardown(
            test_a_members_list_comes_in_pages_while_the_unread_total_is_reached, stop_roles),
        cmocka_unit_test_teardown(test_pushes_count_once_in_the_total_whoever_they_go_to,
                                  stop_roles),
        cmocka_unit_test_teardown(test_idle_sockets_do_not_stop_a_connected_users_send, stop_roles),
        cmocka_unit_test_teardown(test_a_flood_of_bad_requests_writes_a_bounded_number_of_log_lines,
                                  stop_roles),
    };
    return test::run_parts("security", beside, alone);
}
