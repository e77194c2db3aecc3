/*  =========================================================================
    test_docs.cc - the help, the man pages, the completion and the example configuration
    cannot disagree with the option tables the program parses with: every command, option,
    subcommand and /command of cli_spec.h is in its --help (as the program prints it), in
    its man page and in the bash completion, every configuration key is in zgm.cfg(5) and
    in the example file, and the example file loads.

    Usage: test_docs ZGM ZGM.1 COMPLETION EXAMPLE-CFG   (the man pages are beside ZGM.1)

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "process.h"
#include "testutil.h"

#include "cli/cli_spec.h"
#include "cli/config.h"

using namespace zgm::cli;

namespace {

std::string s_man_dir, s_completion, s_example;

std::string read_or_fail(const std::string& path) {
    FILE* file = fopen(path.c_str(), "r");
    if (!file) {
        print_error("cannot read %s\n", path.c_str());
        fail();
    }
    fclose(file);
    return test::read_file(path);
}

void expect_in(const std::string& text, const std::string& needle, const std::string& where) {
    if (text.find(needle) == std::string::npos) {
        print_error("'%s' is not in %s\n", needle.c_str(), where.c_str());
        fail();
    }
}

//  Whether text has word with no letter, digit or '-' on either side.
bool has_word(const std::string& text, const std::string& word) {
    auto part_of_word = [](char c) { return isalnum((unsigned char)c) || c == '-'; };
    for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
        if ((at == 0 || !part_of_word(text[at - 1])) &&
            (at + word.size() == text.size() || !part_of_word(text[at + word.size()])))
            return true;
    return false;
}

void expect_word(const std::string& text, const std::string& word, const std::string& where) {
    if (!has_word(text, word)) {
        print_error("'%s' is not in %s\n", word.c_str(), where.c_str());
        fail();
    }
}

//  An option as a man page writes it: dashes escaped.
std::string roff_option(const char* name) {
    std::string text = "\\-\\-";
    for (const char* p = name; *p; p++)
        text += *p == '-' ? std::string("\\-") : std::string(1, *p);
    return text;
}

std::string page_of(const spec::Command& command) {
    return read_or_fail(s_man_dir + "/zgm-" + command.name + ".1");
}

void test_every_command_prints_its_help_and_has_a_page(void** state) {
    (void)state;
    std::string top = read_or_fail(s_man_dir + "/zgm.1");
    test::Result help = test::run({"--help"});
    assert_int_equal(help.status, 0);
    assert_string_equal(help.out.c_str(), spec::kProgramUsage);
    for (const spec::Command& command : spec::kCommands) {
        expect_in(spec::kProgramUsage, std::string("  ") + command.name + " ", "zgm --help");
        expect_in(top, std::string("\\fB") + command.name + "\\fR", "zgm(1)");
        test::Result own = test::run({command.name, "--help"});
        assert_int_equal(own.status, 0);
        assert_string_equal(own.out.c_str(), command.usage);
        if (command.id == spec::CommandId::kHelp) continue; //  documented in zgm(1)
        std::string page = page_of(command);
        std::string title = std::string(".TH ZGM-") + command.name;
        for (char& c : title)
            c = (char)toupper((unsigned char)c);
        expect_in(page, title + " 1 ", command.name);
        for (const OptionSpec* option = command.options; option->name; option++) {
            std::string where = std::string("zgm ") + command.name;
            expect_in(command.usage, std::string("--") + option->name, where + " --help");
            expect_in(page, roff_option(option->name), "zgm-" + std::string(command.name) + "(1)");
            for (const char* at = option->choices; at && *at;) {
                std::string choice(at, strcspn(at, "|"));
                expect_in(command.usage, choice, where + " --help");
                expect_in(page, "\\fB" + choice + "\\fR", where + "(1)");
                at += choice.size() + (at[choice.size()] == '|');
            }
        }
    }
}

void test_every_subcommand_and_slash_command_is_in_the_user_page(void** state) {
    (void)state;
    std::string page;
    for (const spec::Command& command : spec::kCommands)
        if (command.id == spec::CommandId::kUser) page = page_of(command);
    for (const spec::Subcommand& sub : spec::kUserSubcommands) {
        expect_in(spec::kUserUsage, std::string("  ") + sub.name, "zgm user --help");
        expect_in(page, std::string(".TP\n\\fB") + sub.name + "\\fR", "zgm-user(1)");
        test::Result own = test::run({"user", sub.name, "--help"});
        assert_int_equal(own.status, 0);
        assert_string_equal(own.out.c_str(), sub.usage);
        for (const OptionSpec* option = sub.options; option && option->name; option++) {
            expect_in(sub.usage, std::string("--") + option->name, sub.name);
            expect_in(page, roff_option(option->name), "zgm-user(1)");
        }
    }
    for (const spec::Slash& slash : spec::kUserSlashes) {
        expect_in(spec::kUserSlashUsage, std::string("/") + slash.name, "/help");
        expect_in(page, std::string("\\fB/") + slash.name + "\\fR", "zgm-user(1)");
        if (slash.alias)
            expect_in(page, std::string("\\fB/") + slash.alias + "\\fR", "zgm-user(1)");
        for (const OptionSpec* option = slash.options; option && option->name; option++)
            expect_in(slash.usage, std::string("--") + option->name, slash.name);
    }
}

void test_every_config_key_is_in_zgm_cfg_5_and_the_example(void** state) {
    (void)state;
    std::string page = read_or_fail(s_man_dir + "/zgm.cfg.5");
    std::string example = read_or_fail(s_example);
    int keys = 0;
    for (const spec::Command& command : spec::kCommands) {
        if (!command.section) continue;
        //  The section's line: its name, then the line's end or a comment.
        std::string section = std::string("\n") + command.section;
        size_t at = example.find(section + "\n");
        if (at == std::string::npos) at = example.find(section + " ");
        if (at == std::string::npos) {
            print_error("no section %s in the example\n", command.section);
            fail();
        }
        for (const OptionSpec* option = command.options; option->name; option++) {
            if (!option->in_config) continue;
            std::string key = option->name;
            for (size_t at = 0; (at = key.find('-', at)) != std::string::npos; at += 2)
                key.replace(at, 1, "\\-");
            expect_in(page, ".TP\n\\fB" + key + "\\fR = ", "zgm.cfg(5)");
            expect_in(example, std::string("    #") + option->name + " = ", "the example");
            keys++;
        }
    }
    assert_true(keys > 0);
}

//  The example with every key and section set: each must be one the program takes.
void test_the_example_loads_with_every_key_set(void** state) {
    (void)state;
    std::string example = read_or_fail(s_example);
    std::string set;
    for (size_t start = 0; start < example.size();) {
        size_t end = example.find('\n', start);
        std::string line = example.substr(start, end - start);
        start = end == std::string::npos ? example.size() : end + 1;
        if (line.compare(0, 5, "    #") == 0 && line.size() > 5 && line[5] != ' ')
            line = "    " + line.substr(5); //  "    #key = value"
        else if (line.size() > 1 && line[0] == '#' && line.find(' ') == std::string::npos)
            line = line.substr(1); //  "#server/NAME"
        set += line + "\n";
    }
    ConfigFile file;
    std::string error;
    if (!file.parse(s_example, example, &error) || !file.parse("every-key", set, &error)) {
        print_error("%s\n%s\n", error.c_str(), set.c_str());
        fail();
    }
    for (const spec::Command& command : spec::kCommands) {
        if (!command.section) continue;
        const ConfigSection* section = file.section(command.section);
        assert_non_null(section);
        size_t keys = 0;
        for (const OptionSpec* option = command.options; option->name; option++)
            keys += option->in_config;
        assert_int_equal(section->keys.size(), keys);
    }
}

void test_the_completion_knows_every_command_and_option(void** state) {
    (void)state;
    std::string script = read_or_fail(s_completion);
    expect_in(script, "complete -F _zgm zgm", "the completion");
    for (const spec::Command& command : spec::kCommands) {
        expect_word(script, command.name, "the completion");
        for (const OptionSpec* option = command.options; option->name; option++)
            expect_word(script, std::string("--") + option->name, "the completion");
    }
    for (const spec::Subcommand& sub : spec::kUserSubcommands) {
        expect_word(script, sub.name, "the completion");
        for (const OptionSpec* option = sub.options; option && option->name; option++)
            expect_word(script, std::string("--") + option->name, "the completion");
    }
}

} // namespace

int main(int argc, char* argv[]) {
    if (argc < 5) {
        fprintf(stderr, "usage: test_docs ZGM ZGM.1 COMPLETION EXAMPLE-CFG\n");
        return 2;
    }
    test::set_program(argv[1]);
    s_man_dir = argv[2];
    s_man_dir.resize(s_man_dir.rfind('/'));
    s_completion = argv[3];
    s_example = argv[4];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_prints_its_help_and_has_a_page),
        cmocka_unit_test(test_every_subcommand_and_slash_command_is_in_the_user_page),
        cmocka_unit_test(test_every_config_key_is_in_zgm_cfg_5_and_the_example),
        cmocka_unit_test(test_the_example_loads_with_every_key_set),
        cmocka_unit_test(test_the_completion_knows_every_command_and_option),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
