/*  =========================================================================
    servertest.h - what the registry's, the group server's and the security tests share
    beyond testutil.h: a raw peer whose socket options are set before it connects (a
    receive queue of one message, a monitor that sees a refused handshake, NULL or PLAIN
    instead of CURVE), the process's resident memory, the library's log captured, and
    zgm_proto requests built field by field

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_SERVERTEST_H
#define ZGM_SERVERTEST_H

#include "testutil.h"

#include <atomic>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

namespace test {

//  True under an emulator (a cross build's tests under qemu): tests do less work there.
inline bool emulated() {
    const char* wrapper = getenv("ZGM_EXE_WRAPPER");
    return wrapper && *wrapper;
}

//  How long a test waits for what must come (a reply, a push, a condition) before it
//  fails: long, since the machine may be busy (several builds and tests share two cores);
//  what comes sooner ends the wait sooner.
inline int patience() {
    return emulated() ? 60000 : 15000;
}

//  Under AddressSanitizer, freed memory is held in quarantine and shadow memory is
//  resident, and under ThreadSanitizer shadow memory and its allocator's caches grow with
//  what the process did: RSS says nothing about what the code holds, and bounds on it are
//  not asserted.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

//  Asserts a bound on memory, except under a sanitizer (where it says so).
#define assert_memory_bound(condition)                                                             \
    do {                                                                                           \
        if (test::kSanitized && !(condition))                                                      \
            print_message("# not asserted under a sanitizer: %s\n", #condition);                   \
        else                                                                                       \
            assert_true(condition);                                                                \
    } while (0)

//  A RawClient that waits for replies as long as patience () says.
inline RawClient& patient(RawClient& client) {
    zsock_set_rcvtimeo(client.socket(), patience());
    return client;
}

//  Sends message on client (a RawClient or a Peer) and returns the reply to it, skipping
//  pushes; fails the test, naming the request, if none comes in patience () ms.
template <typename Client>
zgm::proto::Message request(Client& client, zgm::proto::Message& message) {
    client.send(message);
    int64_t deadline = zgm::mono_ms() + patience();
    while (zgm::mono_ms() < deadline) {
        zmq_pollitem_t item = {zsock_resolve(client.socket()), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)(deadline - zgm::mono_ms())) <= 0) continue;
        zgm::proto::Message reply;
        zgm::proto::DecodeError rc =
            zgm::proto::recv(zsock_resolve(client.socket()), false, nullptr, &reply);
        if (rc != zgm::proto::DecodeError::kOk)
            fail_msg("the reply to %s is malformed: %s", zgm::proto::message_name(message.id),
                     zgm::proto::decode_error_text(rc));
        //  A MARK is returned, as zgm's users do when they have read that far.
        if (zgm::proto::return_mark(zsock_resolve(client.socket()), reply)) continue;
        //  Pushes, and the registry's OK with id 0 (is this connection still open?).
        if (reply.id == zgm::proto::kDeliver || (reply.request_id == 0 && message.request_id != 0))
            continue;
        if (reply.request_id != message.request_id)
            fail_msg("%s %u answered with %s for %u", zgm::proto::message_name(message.id),
                     message.request_id, zgm::proto::message_name(reply.id), reply.request_id);
        return reply;
    }
    fail_msg("no reply to %s in %d ms", zgm::proto::message_name(message.id), patience());
    return zgm::proto::Message();
}

//  A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1.
inline long status_kb(const char* field) {
    FILE* in = fopen("/proc/self/status", "r");
    if (!in) return -1;
    char line[256];
    long value = -1;
    size_t length = strlen(field);
    while (fgets(line, sizeof line, in))
        if (strncmp(line, field, length) == 0 && line[length] == ':') {
            value = atol(line + length + 1);
            break;
        }
    fclose(in);
    return value;
}

inline long rss_kb() {
    return status_kb("VmRSS");
}

//  How a Peer authenticates.
enum class Mechanism { kCurve, kPlain, kNull };

//  A DEALER like RawClient, with what must be set before it connects: its receive queue
//  (rcvhwm: a peer that "never reads" holds at most that many messages in this process),
//  its mechanism, and a monitor that tells whether its handshake succeeded or was refused.
class Peer {
public:
    struct Options {
        Mechanism mechanism = Mechanism::kCurve;
        int rcvhwm = 0; //  0: libzmq's default
        bool monitor = false;
    };

    Peer(const std::string& endpoint, const std::string& server_key, Options options,
         zgm::KeyPair keys = zgm::KeyPair::generate())
        : keys_(keys) {
        socket_ = zsock_new(ZMQ_DEALER);
        assert_non_null(socket_);
        zsock_set_linger(socket_, 0);
        if (options.rcvhwm) zsock_set_rcvhwm(socket_, options.rcvhwm);
        if (options.mechanism == Mechanism::kCurve) {
            zgm::Key key;
            zgm::Key::parse(server_key, &key);
            zgm::secure_client_socket(socket_, keys_, zgm::Security::kCurve, key);
        } else if (options.mechanism == Mechanism::kPlain) {
            //  The key as the user name, as insecure zgm does; the password is not looked
            //  at, but libzmq takes no empty one.
            zsock_set_plain_username(socket_, keys_.public_txt.c_str());
            zsock_set_plain_password(socket_, "-");
        }
        if (options.monitor) {
            static std::atomic<int> next{0};
            std::string address = "inproc://test-peer-monitor-" + std::to_string(++next);
            assert_int_equal(
                zmq_socket_monitor(zsock_resolve(socket_), address.c_str(), ZMQ_EVENT_ALL), 0);
            events_ = zsock_new(ZMQ_PAIR);
            assert_int_equal(zsock_connect(events_, "%s", address.c_str()), 0);
        }
        assert_int_equal(zsock_connect(socket_, "%s", endpoint.c_str()), 0);
    }
    ~Peer() {
        if (events_) zmq_socket_monitor(zsock_resolve(socket_), nullptr, 0);
        zsock_destroy(&events_);
        zsock_destroy(&socket_);
    }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    //  Sends message with a request id of its own; false if it could not go at once.
    bool send(zgm::proto::Message& message, int flags = 0) {
        message.request_id = ++request_id_;
        return zgm::proto::send(zsock_resolve(socket_), "", message, flags) == 0;
    }
    bool try_recv(zgm::proto::Message* message, int timeout_ms) {
        zmq_pollitem_t item = {zsock_resolve(socket_), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) <= 0) return false;
        return zgm::proto::recv(zsock_resolve(socket_), false, nullptr, message) ==
               zgm::proto::DecodeError::kOk;
    }
    //  With the monitor: the next event among mask (ZMQ_EVENT_*) within timeout_ms, or 0.
    int event(int mask, int timeout_ms) {
        assert_non_null(events_);
        int64_t deadline = zgm::mono_ms() + timeout_ms;
        while (zgm::mono_ms() < deadline) {
            zmq_pollitem_t item = {zsock_resolve(events_), 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, (long)(deadline - zgm::mono_ms())) <= 0) continue;
            zframe_t* frame = zframe_recv(events_);
            uint16_t event = 0;
            if (frame && zframe_size(frame) >= 2) memcpy(&event, zframe_data(frame), 2);
            zframe_destroy(&frame);
            while (zsock_rcvmore(events_)) {
                frame = zframe_recv(events_);
                zframe_destroy(&frame);
            }
            if (event & mask) return event;
        }
        return 0;
    }
    //  With the monitor: the handshake's outcome. 1 succeeded, -1 failed (refused by the
    //  server, or the mechanisms did not match), 0 nothing within timeout_ms.
    int handshake(int timeout_ms) {
        int event =
            this->event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                        timeout_ms);
        return event == 0 ? 0 : event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 1 : -1;
    }

    zsock_t* socket() { return socket_; }
    const zgm::KeyPair& keys() const { return keys_; }
    std::string key() const { return keys_.public_txt; }

private:
    zgm::KeyPair keys_;
    zsock_t* socket_ = nullptr;
    zsock_t* events_ = nullptr;
    uint32_t request_id_ = 0;
};

//  The library's log (zgm_set_verbose (1)), which it writes to stderr, while it lives: stderr
//  is a file of its own meanwhile. The file stays open for the whole process, so a line an
//  actor writes as the capture ends is written somewhere. A failed assertion leaves the
//  test without running destructors: the fixture's teardown calls end_after_failure(), which
//  gives stderr back and copies there what was captured (the failure's message with it).
class LogCapture {
public:
    LogCapture() {
        static FILE* file = tmpfile();
        file_ = file;
        assert_non_null(file_);
        fflush(stderr);
        start_ = lseek(fileno(file_), 0, SEEK_END);
        assert_true(state().saved < 0);
        state().saved = dup(STDERR_FILENO);
        assert_true(state().saved >= 0);
        state().fd = fileno(file_);
        state().start = start_;
        assert_int_equal(dup2(fileno(file_), STDERR_FILENO), STDERR_FILENO);
        zgm_set_verbose(1);
    }
    ~LogCapture() { end(false); }
    //  From a teardown: ends a capture a failure left running, and shows what it held.
    static void end_after_failure() { end(true); }
    //  The lines logged since the capture started that contain text.
    std::vector<std::string> lines(const std::string& text = "") const {
        fflush(file_);
        std::string all;
        char buffer[65536];
        off_t at = start_;
        ssize_t size;
        while ((size = pread(fileno(file_), buffer, sizeof buffer, at)) > 0) {
            all.append(buffer, (size_t)size);
            at += size;
        }
        std::vector<std::string> found;
        size_t begin = 0;
        while (begin < all.size()) {
            size_t end = all.find('\n', begin);
            if (end == std::string::npos) end = all.size();
            std::string line = all.substr(begin, end - begin);
            if (line.find(text) != std::string::npos) found.push_back(line);
            begin = end + 1;
        }
        return found;
    }
    //  All of it, for a failure's message.
    std::string text() const {
        std::string all;
        for (const std::string& line : lines())
            all += line + "\n";
        return all;
    }

private:
    struct State {
        int saved = -1; //  the real stderr, while a capture runs
        int fd = -1;
        off_t start = 0;
    };
    static State& state() {
        static State state;
        return state;
    }
    static void end(bool show) {
        if (state().saved < 0) return;
        zgm_set_verbose(0);
        fflush(stderr);
        dup2(state().saved, STDERR_FILENO);
        close(state().saved);
        state().saved = -1;
        char buffer[65536];
        off_t at = state().start;
        ssize_t size;
        while (show && (size = pread(state().fd, buffer, sizeof buffer, at)) > 0) {
            if (write(STDERR_FILENO, buffer, (size_t)size) != size) break;
            at += size;
        }
    }

    FILE* file_ = nullptr;
    off_t start_ = 0;
};

//  The servers' line for a request (JOIN REQUEST FROM <key>, MESSAGE SEND FROM <key>, ...),
//  which they write within a budget of 50 a second, and say how many they held back.
inline bool is_request_line(const std::string& line) {
    return line.find(" REQUEST FROM ") != std::string::npos ||
           line.find(" SEND FROM ") != std::string::npos;
}

inline bool is_held_back_line(const std::string& line) {
    return line.find(" request lines not logged") != std::string::npos;
}

//  The request lines written, and those held back as the log says.
inline long request_lines_logged(const LogCapture& log) {
    long total = 0;
    for (const std::string& line : log.lines()) {
        size_t at = line.find(" request lines not logged");
        if (is_request_line(line))
            total++;
        else if (at != std::string::npos)
            total += atol(line.c_str() + line.rfind(' ', at - 1) + 1);
    }
    return total;
}

//  ---------------------------------------------------------------------------------------
//  Requests, field by field

inline zgm::proto::Message register_message(const zgm::Uuid& group_id, const std::string& group,
                                            const std::string& endpoint, uint32_t members = 0,
                                            uint8_t accept_new = 0, uint8_t policy = 0) {
    zgm::proto::Message message;
    message.id = zgm::proto::kRegister;
    message.group_id = group_id;
    message.group = group;
    message.endpoint = endpoint;
    message.member_count = members;
    message.accept_new = accept_new;
    message.policy = policy;
    return message;
}

//  hosted: the groups the server hosts, all told; by default as many as it registered.
inline zgm::proto::Message heartbeat_message(const std::string& endpoint, uint32_t groups,
                                             uint8_t accept_new = 0, int64_t hosted = -1) {
    zgm::proto::Message message;
    message.id = zgm::proto::kHeartbeat;
    message.endpoint = endpoint;
    message.group_count = groups;
    message.hosted_count = hosted < 0 ? groups : (uint32_t)hosted;
    message.accept_new = accept_new;
    return message;
}

inline zgm::proto::Message group_request(uint8_t id, const std::string& group = "") {
    zgm::proto::Message message;
    message.id = id;
    message.group = group;
    return message;
}

inline zgm::proto::Message join_message(const std::string& group, const std::string& name) {
    zgm::proto::Message message = group_request(zgm::proto::kJoin, group);
    message.name = name;
    return message;
}

//  A SEND of bodies (which must outlive the message: records point into them), with new
//  message ids unless ids are given.
inline zgm::proto::Message send_message(const std::string& group,
                                        const std::vector<std::string>& bodies,
                                        const std::vector<zgm::Uuid>& ids = {}) {
    zgm::proto::Message message = group_request(zgm::proto::kSend, group);
    for (size_t i = 0; i < bodies.size(); i++) {
        zgm::proto::SendRecord record;
        record.msg_id = i < ids.size() ? ids[i] : zgm::Uuid::random();
        record.body = bodies[i];
        message.sends.push_back(record);
    }
    return message;
}

//  A SEND of one body (which must outlive the message), with a new message id.
//  body is viewed, not copied: a literal, or a string that outlives the message (a temporary
//  std::string would leave the record pointing at freed memory).
inline zgm::proto::Message send_message(const std::string& group, std::string_view body) {
    zgm::proto::Message message = group_request(zgm::proto::kSend, group);
    message.sends.push_back({zgm::Uuid::random(), body});
    return message;
}

inline zgm::proto::Message key_request(uint8_t id, const std::string& group,
                                       const std::string& key) {
    zgm::proto::Message message = group_request(id, group);
    assert_true(zgm::Key::parse(key, &message.key));
    return message;
}

inline zgm::proto::Message follow_message(const std::vector<std::string>& groups,
                                          uint64_t seq = 0) {
    zgm::proto::Message message;
    message.id = zgm::proto::kFollow;
    for (const std::string& group : groups) {
        zgm::proto::FollowRecord record;
        record.group = group;
        record.status = 0;
        record.seq = seq;
        message.follows.push_back(record);
    }
    return message;
}

//  Asserts that reply is ERROR status and, when given, that its reason contains text.
inline void assert_error(const zgm::proto::Message& reply, uint16_t status,
                         const char* text = nullptr) {
    if (reply.id != zgm::proto::kError)
        fail_msg("expected ERROR %d, got %s", status, zgm::proto::message_name(reply.id));
    if (reply.status != status)
        fail_msg("expected ERROR %d, got %d (%s)", status, reply.status, reply.reason.c_str());
    if (text && reply.reason.find(text) == std::string::npos)
        fail_msg("ERROR %d's reason '%s' does not say '%s'", status, reply.reason.c_str(), text);
}

} // namespace test

#endif
