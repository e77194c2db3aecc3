/*  =========================================================================
    test_signals.c - a C program's SIGINT and SIGTERM stay its own

    The library starts CZMQ, which takes both signals with a handler that only sets a flag:
    a C program using zgm could no longer be stopped with Ctrl-C or SIGTERM (kill, systemd).
    A C program of its own, through include/zgm.h only, that never started CZMQ itself: each
    signal keeps the disposition the program gave it, and SIGTERM still ends it.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include <zgm.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void on_interrupt(int signo) {
    (void)signo;
}

static void (*disposition(int signo))(int) {
    struct sigaction now;
    assert_int_equal(sigaction(signo, NULL, &now), 0);
    return now.sa_handler;
}

//  A handler the program set, and the default it left: both kept once zgm has started.
static void test_a_program_keeps_the_signal_handling_it_chose(void** state) {
    (void)state;
    struct sigaction action;
    action.sa_handler = on_interrupt;
    action.sa_flags = 0;
    sigemptyset(&action.sa_mask);
    assert_int_equal(sigaction(SIGINT, &action, NULL), 0);
    assert_ptr_equal(disposition(SIGTERM), SIG_DFL);

    zgm_user_t* user = zgm_user_new("signals");
    assert_non_null(user);
    zgm_registry_t* registry = zgm_registry_new();
    assert_non_null(registry);
    assert_ptr_equal(disposition(SIGINT), on_interrupt);
    assert_ptr_equal(disposition(SIGTERM), SIG_DFL);

    //  So SIGTERM ends a child as it would have without zgm (it went on, with CZMQ's); not
    //  under qemu-user, which does not pass SIGTERM on to the program.
    const char* emulator = getenv("ZGM_EXE_WRAPPER");
    if (!emulator || !*emulator) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            alarm(30); //  never outlives a test that died before its kill
            pause();
            _exit(0);
        }
        kill(child, SIGTERM);
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);
    }
    zgm_registry_destroy(&registry);
    zgm_user_destroy(&user);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_program_keeps_the_signal_handling_it_chose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
