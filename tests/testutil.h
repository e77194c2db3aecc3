/*  =========================================================================
    testutil.h - what the cmocka tests share: temporary directories, a raw zgm_proto
    client for talking to a server message by message, waiting for a condition

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TESTUTIL_H
#define ZGM_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
//  cmocka 1.1 declares its functions without extern "C".
extern "C" {
#include <cmocka.h>
}

#include "core/clock.h"
#include "proto/proto.h"
#include "zgm.h"

#include <czmq.h>
#include <string>

namespace test {

//  A fresh directory under /tmp; remove_tree removes it and all below it.
inline std::string make_temp_dir() {
    char path[] = "/tmp/zgm-test-XXXXXX";
    assert_non_null(mkdtemp(path));
    return path;
}

inline void remove_tree(const std::string& path) {
    if (path.size() > 5 && path.compare(0, 5, "/tmp/") == 0)
        assert_int_equal(system(("rm -rf '" + path + "'").c_str()), 0);
}

//  Waits up to timeout_ms for condition() to hold, checking every 20 ms.
template <typename Condition>
bool eventually(Condition condition, int timeout_ms = 5000) {
    int64_t deadline = zgm::mono_ms() + timeout_ms;
    while (zgm::mono_ms() < deadline) {
        if (condition()) return true;
        zclock_sleep(20);
    }
    return condition();
}

//  A DEALER that speaks zgm_proto one message at a time, for tests that need to send
//  what the C API never would (malformed frames, other versions, impostor servers).
class RawClient {
public:
    explicit RawClient(const std::string& endpoint) {
        socket_ = zsock_new_dealer(endpoint.c_str());
        assert_non_null(socket_);
        zsock_set_rcvtimeo(socket_, 3000);
        zsock_set_linger(socket_, 0);
    }
    ~RawClient() { zsock_destroy(&socket_); }

    void send(zgm::proto::Message& message) {
        message.request_id = ++request_id_;
        assert_int_equal(zgm::proto::send(zsock_resolve(socket_), "", message), 0);
    }
    void send_raw(const std::string& bytes) {
        assert_int_equal(zmq_send(zsock_resolve(socket_), bytes.data(), bytes.size(), 0),
                         (int)bytes.size());
    }
    //  The next message; fails the test if none arrives within 3 s or it is malformed.
    zgm::proto::Message recv() {
        zgm::proto::Message message;
        zgm::proto::DecodeError rc =
            zgm::proto::recv(zsock_resolve(socket_), false, nullptr, &message);
        assert_int_equal((int)rc, (int)zgm::proto::DecodeError::kOk);
        return message;
    }
    //  Sends and returns the reply to it (skipping pushes).
    zgm::proto::Message call(zgm::proto::Message& message) {
        send(message);
        while (true) {
            zgm::proto::Message reply = recv();
            if (reply.id != zgm::proto::kDeliver) {
                assert_int_equal(reply.request_id, message.request_id);
                return reply;
            }
        }
    }
    zsock_t* socket() { return socket_; }
    uint32_t last_request_id() const { return request_id_; }

private:
    zsock_t* socket_;
    uint32_t request_id_ = 0;
};

//  "tcp://127.0.0.1:PORT" for a port a zgm_*_bind returned.
inline std::string local_endpoint(int port) {
    return "tcp://127.0.0.1:" + std::to_string(port);
}

} // namespace test

#endif
