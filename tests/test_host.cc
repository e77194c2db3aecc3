/*  =========================================================================
    test_host.cc - the thread that runs the user actors of a process (src/user/host.h),
    with an actor of the test's own: woken by its descriptors and by its deadline, never
    otherwise; a descriptor epoll refuses is looked at every 10 ms; removed, it is destroyed
    and the last one stops the thread

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

#include "core/clock.h"
#include "user/host.h"

#include <atomic>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

//  What the probe did, read by the test's thread.
struct Record {
    std::atomic<int> turns{0};
    std::atomic<int> signalled{0}; //  turns in which its extra descriptor said POLLIN
    std::atomic<int64_t> last_turn_ms{0};
    std::atomic<bool> destroyed{false};
};

//  An actor with its pipe and one extra descriptor (an eventfd it reads, or a file). Its
//  first turn comes at once; then at `later` (ms, mono_ms), or never for INT64_MAX.
class Probe : public zgm::Hosted {
public:
    Probe(zsock_t* pipe, int extra, int64_t later, Record* record)
        : pipe_(pipe), later_(later), record_(record) {
        fds_.push_back({zsock_fd(pipe), POLLIN, 0});
        fds_.push_back({extra, POLLIN, 0});
    }
    ~Probe() override { record_->destroyed = true; }

    bool turn() override {
        bool term = false;
        //  The pipe read to the end each turn (its descriptor says only that commands came).
        while (zmq_msg_t* frame = next_frame()) {
            term |= zmq_msg_size(frame) == 5 && memcmp(zmq_msg_data(frame), "$TERM", 5) == 0;
            zmq_msg_close(frame);
        }
        if (fds_[1].revents & POLLIN) {
            record_->signalled++;
            uint64_t value;
            (void)!read(fds_[1].fd, &value, sizeof value); //  an eventfd's count, cleared
        }
        fds_[0].revents = fds_[1].revents = 0;
        int64_t now = zgm::mono_ms();
        record_->last_turn_ms = now;
        record_->turns++;
        wake_at_ = record_->turns == 1 ? later_ : now >= later_ ? INT64_MAX : later_;
        return !term;
    }
    std::vector<pollfd>& fds() override { return fds_; }
    uint64_t fds_version() const override { return 1; }
    int64_t wake_at() const override { return wake_at_; }

private:
    zmq_msg_t* next_frame() {
        zmq_msg_init(&frame_);
        if (zmq_msg_recv(&frame_, zsock_resolve(pipe_), ZMQ_DONTWAIT) >= 0) return &frame_;
        zmq_msg_close(&frame_);
        return nullptr;
    }

    zsock_t* pipe_;
    int64_t later_;
    Record* record_;
    std::vector<pollfd> fds_;
    int64_t wake_at_ = 0;
    zmq_msg_t frame_;
};

//  A probe on the host, removed (and checked destroyed) when the test ends.
struct Hosting {
    Record record;
    zsock_t* frontend = nullptr;

    Hosting(int extra, int64_t later) {
        zsock_t* actor_end = nullptr;
        frontend = zsys_create_pipe(&actor_end);
        assert_non_null(frontend);
        assert_true(zgm::host_add(new Probe(actor_end, extra, later, &record), actor_end));
        assert_true(test::eventually([this] { return record.turns >= 1; }));
    }
    ~Hosting() {
        zgm::host_remove(&frontend);
        assert_null(frontend);
        assert_true(record.destroyed);
    }
};

void test_an_actor_is_woken_by_its_descriptor_and_not_otherwise(void** state) {
    (void)state;
    int event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(event >= 0);
    {
        Hosting hosting(event, INT64_MAX);
        //  Nothing on its descriptors and no deadline: no turn (a window, since this asserts
        //  that nothing happens).
        int turns = hosting.record.turns;
        zclock_sleep(300);
        assert_int_equal(hosting.record.turns, turns);
        assert_int_equal(hosting.record.signalled, 0);
        //  Each write is a turn that sees it.
        for (int i = 1; i <= 3; i++) {
            uint64_t one = 1;
            assert_int_equal(write(event, &one, sizeof one), (ssize_t)sizeof one);
            assert_true(test::eventually([&] { return hosting.record.signalled >= i; }));
        }
        assert_int_equal(hosting.record.signalled, 3);
    }
    close(event);
}

void test_an_actor_has_its_turn_at_its_deadline(void** state) {
    (void)state;
    int event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(event >= 0);
    int64_t later = zgm::mono_ms() + 200;
    {
        Hosting hosting(event, later);
        assert_true(test::eventually([&] { return hosting.record.turns >= 2; }));
        assert_true(hosting.record.last_turn_ms >= later); //  not before
        assert_int_equal(hosting.record.signalled, 0);
    }
    close(event);
}

//  A regular file cannot be in an epoll set (EPERM): the host looks at such an actor every
//  10 ms, every descriptor taken as ready, rather than never.
void test_a_descriptor_epoll_refuses_is_looked_at_every_10_ms(void** state) {
    (void)state;
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    {
        Hosting hosting(file, INT64_MAX);
        int64_t start = zgm::mono_ms();
        assert_true(test::eventually([&] { return hosting.record.turns >= 20; }));
        //  Not a busy loop: 19 turns 10 ms apart (at least 100 ms, with room for the clock).
        assert_true(zgm::mono_ms() - start >= 100);
        assert_true(hosting.record.signalled >= 19);
    }
    close(file);
}

//  Removed, an actor is destroyed before host_remove returns (~Hosting checks it); the last
//  one stops the thread, and the next starts one again.
void test_the_last_actor_removed_stops_the_thread(void** state) {
    (void)state;
    int events[2] = {eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
                     eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    assert_true(events[0] >= 0 && events[1] >= 0);
    assert_true(test::eventually([] { return test::threads_named("zgm-user").empty(); }));
    {
        Hosting first(events[0], INT64_MAX), second(events[1], INT64_MAX);
        assert_int_equal(test::threads_named("zgm-user").size(), 1);
    }
    assert_true(test::eventually([] { return test::threads_named("zgm-user").empty(); }));
    {
        Hosting again(events[0], INT64_MAX);
        assert_int_equal(test::threads_named("zgm-user").size(), 1);
    }
    close(events[0]);
    close(events[1]);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_actor_is_woken_by_its_descriptor_and_not_otherwise),
        cmocka_unit_test(test_an_actor_has_its_turn_at_its_deadline),
        cmocka_unit_test(test_a_descriptor_epoll_refuses_is_looked_at_every_10_ms),
        cmocka_unit_test(test_the_last_actor_removed_stops_the_thread),
    };
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
