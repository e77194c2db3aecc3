/*  =========================================================================
    test_cli.cc - the zgm program's pure parts: --since times, JSON and terminal output,
    the interactive line splitter

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "testutil.h"

#include "cli/args.h"
#include "cli/output.h"
#include "cli/timefmt.h"

#include <cstdlib>
#include <ctime>

using namespace zgm::cli;

namespace {

const uint64_t kSecond = 1000000;
//  2026-11-24T12:00:00Z
const uint64_t kNoon = 1795521600ull * kSecond;

void test_since_takes_iso_8601_in_utc_with_offsets_and_fractions(void** state) {
    (void)state;
    uint64_t us = 0;
    assert_true(parse_time("2026-11-24T12:00:00Z", kNoon, &us));
    assert_int_equal(us, kNoon);
    assert_true(parse_time("2026-11-24T12:00:00.000250Z", kNoon, &us));
    assert_int_equal(us, kNoon + 250);
    assert_true(parse_time("2026-11-24T13:00:00+01:00", kNoon, &us));
    assert_int_equal(us, kNoon);
    assert_true(parse_time("2026-11-24T06:30:00-0530", kNoon, &us));
    assert_int_equal(us, kNoon);
}

void test_since_takes_local_times_of_today(void** state) {
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    uint64_t us = 0;
    assert_true(parse_time("10:00", kNoon, &us));
    assert_int_equal(us, kNoon - 2 * 3600 * kSecond);
    assert_true(parse_time("11:59:30", kNoon, &us));
    assert_int_equal(us, kNoon - 30 * kSecond);
    assert_true(parse_time("2026-11-24 12:00:00", kNoon, &us)); //  no zone: local
    assert_int_equal(us, kNoon);
}

void test_since_takes_relative_times_and_epoch_microseconds(void** state) {
    (void)state;
    uint64_t us = 0;
    assert_true(parse_time("-10m", kNoon, &us));
    assert_int_equal(us, kNoon - 600 * kSecond);
    assert_true(parse_time("-2h", kNoon, &us));
    assert_int_equal(us, kNoon - 7200 * kSecond);
    assert_true(parse_time("-30s", kNoon, &us));
    assert_int_equal(us, kNoon - 30 * kSecond);
    assert_true(parse_time("-1d", kNoon, &us));
    assert_int_equal(us, kNoon - 86400 * kSecond);
    assert_true(parse_time("1763977201123456", kNoon, &us));
    assert_int_equal(us, 1763977201123456ull);
}

void test_since_refuses_what_it_cannot_read(void** state) {
    (void)state;
    uint64_t us = 0;
    for (const char* bad : {"", "yesterday", "-10x", "25:00", "2026-13-01T00:00:00Z", "12:61", "-",
                            "2026-11-24T12:00:00Q", "99999999999999999999999"})
        assert_false(parse_time(bad, kNoon, &us));
}

void test_times_print_as_iso_8601_utc_with_microseconds(void** state) {
    (void)state;
    assert_string_equal(format_time_utc(kNoon + 123456).c_str(), "2026-11-24T12:00:00.123456Z");
    uint64_t back = 0;
    assert_true(parse_time(format_time_utc(kNoon + 7).c_str(), kNoon, &back));
    assert_int_equal(back, kNoon + 7);
}

void test_json_strings_escape_controls_and_invalid_utf8(void** state) {
    (void)state;
    std::string out;
    json_append_string(&out, "say \"hi\"\n\t\\ é", strlen("say \"hi\"\n\t\\ é"));
    assert_string_equal(out.c_str(), "\"say \\\"hi\\\"\\n\\t\\\\ é\"");
    out.clear();
    const char bad[] = {'a', (char)0xff, 'b', 0x01};
    json_append_string(&out, bad, sizeof bad);
    assert_string_equal(out.c_str(), "\"a\\ufffdb\\u0001\"");
}

void test_terminal_output_neutralises_escape_sequences(void** state) {
    (void)state;
    std::string out;
    const char evil[] = "\x1b[2Jgone";
    append_visible(&out, evil, strlen(evil), false);
    assert_null(strchr(out.c_str(), 0x1b));
    assert_non_null(strstr(out.c_str(), "gone"));
}

void test_interactive_lines_split_into_words_with_quotes(void** state) {
    (void)state;
    std::vector<std::string> words;
    assert_true(split_words("/fetch general --since \"2026-11-24 10:00\"", &words));
    assert_int_equal(words.size(), 4);
    assert_string_equal(words[3].c_str(), "2026-11-24 10:00");
    assert_true(split_words("/join it\\'s", &words));
    assert_string_equal(words[1].c_str(), "it's");
    assert_false(split_words("/join \"unclosed", &words));
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_since_takes_iso_8601_in_utc_with_offsets_and_fractions),
        cmocka_unit_test(test_since_takes_local_times_of_today),
        cmocka_unit_test(test_since_takes_relative_times_and_epoch_microseconds),
        cmocka_unit_test(test_since_refuses_what_it_cannot_read),
        cmocka_unit_test(test_times_print_as_iso_8601_utc_with_microseconds),
        cmocka_unit_test(test_json_strings_escape_controls_and_invalid_utf8),
        cmocka_unit_test(test_terminal_output_neutralises_escape_sequences),
        cmocka_unit_test(test_interactive_lines_split_into_words_with_quotes),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
