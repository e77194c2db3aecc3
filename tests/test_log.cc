/*  =========================================================================
    test_log.cc - the library's log lines: ISO 8601 with the year and the UTC offset on a
    terminal or in a file, a syslog priority and no timestamp under the journal

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

#include "core/limits.h"
#include "core/log.h"

#include <cinttypes>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

//  2026-11-24T12:00:00.042Z
const int64_t kNoonMs = 1795521600042;

void set_zone(const char* zone) {
    setenv("TZ", zone, 1);
    tzset();
}

void test_lines_carry_the_year_milliseconds_and_utc_offset(void** state) {
    (void)state;
    set_zone("UTC0");
    assert_string_equal(zgm::format_log_line(zgm::kLogInfo, "registry: up", false, kNoonMs).c_str(),
                        "2026-11-24T12:00:00.042+00:00 I: registry: up\n");
    //  POSIX zone strings need no time zone database: five and a half hours east of UTC.
    set_zone("IST-5:30");
    assert_string_equal(zgm::format_log_line(zgm::kLogWarning, "slow", false, kNoonMs).c_str(),
                        "2026-11-24T17:30:00.042+05:30 W: slow\n");
    set_zone("PST8");
    assert_string_equal(zgm::format_log_line(zgm::kLogError, "down", false, kNoonMs).c_str(),
                        "2026-11-24T04:00:00.042-08:00 E: down\n");
}

void test_journal_lines_carry_a_priority_and_no_timestamp(void** state) {
    (void)state;
    assert_string_equal(zgm::format_log_line(zgm::kLogInfo, "up", true, kNoonMs).c_str(),
                        "<6>up\n");
    assert_string_equal(zgm::format_log_line(zgm::kLogWarning, "slow", true, kNoonMs).c_str(),
                        "<4>slow\n");
    assert_string_equal(zgm::format_log_line(zgm::kLogError, "down", true, kNoonMs).c_str(),
                        "<3>down\n");
}

void test_a_message_stays_on_one_line(void** state) {
    (void)state;
    assert_string_equal(zgm::format_log_line(zgm::kLogInfo, "a\nb\r\x1b[2J", true, 0).c_str(),
                        "<6>a?b??[2J\n");
    //  C1 controls (U+009B is CSI) and bytes that are not UTF-8 too; other characters stay.
    assert_string_equal(zgm::format_log_line(zgm::kLogInfo,
                                             "\xc2\x9b"
                                             "2J \xff\xc3 caf\xc3\xa9",
                                             true, 0)
                            .c_str(),
                        "<6>?2J ?? caf\xc3\xa9\n");
}

void test_journal_stream_must_name_the_file_on_the_descriptor(void** state) {
    (void)state;
    std::string dir = test::make_temp_dir();
    std::string path = dir + "/stderr";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    struct stat status;
    assert_int_equal(fstat(fd, &status), 0);
    char matching[64], other_inode[64];
    snprintf(matching, sizeof matching, "%ju:%ju", (uintmax_t)status.st_dev,
             (uintmax_t)status.st_ino);
    snprintf(other_inode, sizeof other_inode, "%ju:%ju", (uintmax_t)status.st_dev,
             (uintmax_t)status.st_ino + 1);
    assert_true(zgm::is_journal_stream(fd, matching));
    //  Inherited by a program whose stderr was redirected elsewhere: not the journal.
    assert_false(zgm::is_journal_stream(fd, other_inode));
    for (const char* bad : {"", "12", "12:", ":34", "12:34x", "x:y"})
        assert_false(zgm::is_journal_stream(fd, bad));
    assert_false(zgm::is_journal_stream(fd, nullptr));
    close(fd);
    test::remove_tree(dir);
}

//  The refusals counted by reason (for STATS and the log) stay a few entries whatever peers
//  do: a name in quotes is left out of the reason counted, and past kMaxReasons reasons
//  the rest count as "other". (Each group named added an entry for good: 700 refusals
//  naming 700 groups made the server's STATS report too large to send, and it sent none.)
void test_refusals_are_counted_under_a_bounded_set_of_reasons(void** state) {
    (void)state;
    zgm::RefusalLog log("test");
    int64_t now = 1000;
    for (int i = 0; i < 700; i++)
        log.note("401 group 'g" + std::to_string(i) + "' has no owner", "", now++);
    assert_int_equal(log.totals().size(), 1);
    assert_int_equal(log.totals().at("401 group '\xe2\x80\xa6' has no owner"), 700);
    log.note("429 the server's rate", "", now++); //  one quote: kept as it is
    assert_int_equal(log.totals().count("429 the server's rate"), 1);
    for (int i = 0; i < 200; i++)
        log.note("400 reason " + std::to_string(i), "", now++);
    assert_int_equal(log.totals().size(), zgm::RefusalLog::kMaxReasons + 1);
    assert_int_equal(log.totals().at("other"), 200 - (zgm::RefusalLog::kMaxReasons - 2));
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_carry_the_year_milliseconds_and_utc_offset),
        cmocka_unit_test(test_journal_lines_carry_a_priority_and_no_timestamp),
        cmocka_unit_test(test_a_message_stays_on_one_line),
        cmocka_unit_test(test_journal_stream_must_name_the_file_on_the_descriptor),
        cmocka_unit_test(test_refusals_are_counted_under_a_bounded_set_of_reasons),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
