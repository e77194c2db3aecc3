#!/usr/bin/env python3
#  gen_cli.py - the zgm program's commands, options and their documentation, from one source
#
#  Reads commands.toml (see its head for the fields) and writes what is asked:
#    --header FILE          cli_spec.h: the option tables the program parses with and every
#                           --help text, for src/cli
#    --man DIR              zgm.1, zgm-COMMAND.1 per command with a page, zgm.cfg.5
#    --completion FILE      the bash completion script
#    --config-example FILE  an example zgm.cfg: every key, commented out, with its help
#    --markdown FILE        docs/cli.md
#    --check-markdown FILE  exits 1 if FILE is not what --markdown writes
#  Runs on the build machine (meson custom_target, also in cross builds) and needs only
#  Python 3.11's standard library.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

import argparse
import os
import re
import sys
import textwrap

try:
    import tomllib
except ImportError:
    sys.exit("gen_cli.py: needs Python 3.11 or later (tomllib)")

SOURCE = "src/cli/commands.toml"
HELP_WIDTH = 79
MD_WIDTH = 100

OPTION_FIELDS = {"name", "arg", "help", "text", "default", "default-text", "choices", "repeat",
                 "excludes", "config", "use", "type", "example", "bare"}
COMMAND_FIELDS = {"name", "summary", "help", "text", "usage", "args", "section", "sections",
                  "see-also", "option", "subcommand", "slash", "page", "deprecated-alias",
                  "help-footer", "slash-footer"}
SUBCOMMAND_FIELDS = {"name", "args", "summary", "help", "option"}
SLASH_FIELDS = {"name", "alias", "args", "summary", "option"}
TYPES = {"text": "kText", "msecs": "kMsecs", "uint": "kUint", "positive": "kPositive",
         "duration": "kDuration"}


def fail(message):
    sys.exit(f"gen_cli.py: {SOURCE}: {message}")


def check_fields(entry, allowed, where):
    unknown = set(entry) - allowed
    if unknown:
        fail(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")


# --------------------------------------------------------------------------------------------
#  The model: commands.toml with shared options resolved and every field checked.

def resolve_option(entry, shared, where, has_section):
    check_fields(entry, OPTION_FIELDS, where)
    option = {}
    if "use" in entry:
        if entry["use"] not in shared:
            fail(f"{where}: no [options.{entry['use']}]")
        option.update(shared[entry["use"]])
        option["name"] = entry["use"]
    option.update({k: v for k, v in entry.items() if k != "use"})
    if "name" not in option or "help" not in option:
        fail(f"{where}: an option needs a name and a help")
    name = option["name"]
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        fail(f"{where}: option name '{name}' is not lower-case words joined by '-'")
    if "default" in option and "default-text" in option:
        fail(f"{where}: --{name} has both default and default-text")
    if "choices" in option and option.get("default", option["choices"][0]) not in option["choices"]:
        fail(f"{where}: --{name}'s default is not one of its choices")
    if "arg" not in option and ("default" in option or "choices" in option or "type" in option
                                or "bare" in option):
        fail(f"{where}: --{name} is a flag: no default, choices, type or bare")
    if "bare" in option and option.get("type", "text") == "text":
        fail(f"{where}: --{name}: a value that may be left out needs a type, to tell it from "
             "the next word")
    option.setdefault("type", "text")
    if option["type"] not in TYPES:
        fail(f"{where}: --{name}: type is one of {', '.join(TYPES)}")
    option["config"] = has_section and option.get("config", True)
    if option["config"] and "arg" in option and "default" not in option and "example" not in option:
        fail(f"{where}: --{name} is a configuration key: give it a default or an example")
    option.setdefault("repeat", False)
    return option


def resolve_options(entries, shared, where, has_section=False):
    options = [resolve_option(e, shared, f"{where} option {i + 1}", has_section)
               for i, e in enumerate(entries)]
    names = [o["name"] for o in options]
    for option in options:
        if names.count(option["name"]) > 1:
            fail(f"{where}: --{option['name']} twice")
        if "excludes" in option and option["excludes"] not in names:
            fail(f"{where}: --{option['name']} excludes an option it does not have")
    return options


def word_counts(args):
    """The least and most positional words an argument synopsis takes (None: any)."""
    required, optional, unbounded = 0, 0, False
    for word in args.split():
        if word.startswith("["):
            optional += 1
        else:
            required += 1
        unbounded |= "..." in word
    return required, None if unbounded else required + optional


def load(path):
    with open(path, "rb") as file:
        data = tomllib.load(file)
    shared = {}
    for name, entry in data.get("options", {}).items():
        check_fields(entry, OPTION_FIELDS - {"name", "use"}, f"[options.{name}]")
        shared[name] = dict(entry, name=name)
    model = {"program": data["program"], "sections": data.get("sections", {}),
             "config": data["config"], "commands": []}
    for i, entry in enumerate(data["command"]):
        where = f"command {entry.get('name', i + 1)}"
        check_fields(entry, COMMAND_FIELDS, where)
        command = dict(entry)
        command.setdefault("page", True)
        command["options"] = resolve_options(entry.get("option", []), shared, where,
                                             "section" in entry)
        command["subcommands"] = []
        for sub in entry.get("subcommand", []):
            check_fields(sub, SUBCOMMAND_FIELDS, f"{where} subcommand {sub['name']}")
            sub = dict(sub, args=sub.get("args", ""))
            sub["options"] = resolve_options(sub.get("option", []), shared,
                                             f"{where} subcommand {sub['name']}")
            command["subcommands"].append(sub)
        command["slashes"] = []
        for slash in entry.get("slash", []):
            check_fields(slash, SLASH_FIELDS, f"{where} /{slash['name']}")
            slash = dict(slash, args=slash.get("args", ""))
            slash["options"] = resolve_options(slash.get("option", []), shared,
                                               f"{where} /{slash['name']}")
            command["slashes"].append(slash)
        model["commands"].append(command)
    for page in [model["program"], model["config"]] + model["commands"]:
        for section in page.get("sections", []):
            if section not in model["sections"]:
                fail(f"{page['name']}: no [sections.{section}]")
    return model


def config_commands(model):
    return [c for c in model["commands"] if "section" in c]


def takes_instances(command):
    return any(o["name"] == "instance" for o in command["options"])


# --------------------------------------------------------------------------------------------
#  Text: a small part of Markdown, parsed into blocks that each output renders.

def parse_blocks(text):
    lines = (text or "").strip("\n").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            blocks.append(("code", lines[i + 1:end]))
            i = end + 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            blocks.append(("table", rows[0], rows[2:]))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  ")):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            blocks.append(("list", items))
        elif re.fullmatch(r"%[A-Z]+%", line.strip()):
            blocks.append(("insert", line.strip().strip("%")))
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("```", "|", "- ")):
                para.append(lines[i].strip())
                i += 1
            blocks.append(("para", " ".join(para)))
    return blocks


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]


def spans(text):
    """(is_code, text) pieces of a line with `code` in it."""
    parts = text.split("`")
    return [(i % 2 == 1, part) for i, part in enumerate(parts) if part]


def plain(text):
    return text.replace("`", "")


# --------------------------------------------------------------------------------------------
#  Synopses and option lines, shared by every output.

def option_synopsis(option, metavar=True):
    words = "--" + option["name"]
    if "arg" in option:
        value = "|".join(option["choices"]) if "choices" in option else option["arg"]
        if "bare" in option:
            value = f"[{value}]"
        words += " " + value if metavar else ""
    return words


def options_synopsis(options):
    """"[--a X] [--b | --c] [--d N]..." from an option table."""
    parts, done = [], set()
    for option in options:
        if option["name"] in done:
            continue
        done.add(option["name"])
        text = option_synopsis(option)
        other = next((o for o in options if o["name"] == option.get("excludes")), None)
        if other:
            done.add(other["name"])
            text += " | " + option_synopsis(other)
        parts.append(f"[{text}]" + ("..." if option["repeat"] else ""))
    return " ".join(parts)


def usage_lines(command):
    """The synopsis lines after "zgm COMMAND"."""
    if "usage" in command:
        return command["usage"]
    if "args" in command:
        return [command["args"]]
    return [options_synopsis(command["options"])]


def default_text(option):
    if "default" in option:
        return option["default"]
    return option.get("default-text")


def option_help(option):
    """The one-line help of an option with its values and default."""
    help = option["help"]
    notes = []
    if "choices" in option:
        notes.append(" or ".join(option["choices"]))
    if default_text(option):
        notes.append("default " + default_text(option))
    if notes:
        help += " (" + "; ".join(notes) + ")"
    return help


def usage_block(prefix, lines):
    """"Usage: zgm x A B ..." with each synopsis line wrapped under its first word."""
    out = []
    for i, line in enumerate(lines):
        head = ("Usage: " if i == 0 else "       ") + prefix + " "
        out.append(textwrap.fill(keep_brackets(line), HELP_WIDTH, initial_indent=head,
                                 subsequent_indent=" " * len(head), break_long_words=False,
                                 break_on_hyphens=False).replace("\u00a0", " "))
    return "\n".join(out)


def keep_brackets(line):
    """The blanks inside [...] made non-breaking, so a wrapped synopsis keeps each option whole."""
    out, depth = [], 0
    for char in line:
        depth += char == "["
        depth -= char == "]"
        out.append("\u00a0" if char == " " and depth > 0 else char)
    return "".join(out)


def subcommand_synopsis(sub):
    return " ".join(w for w in [sub["name"], sub["args"], options_synopsis(sub["options"])] if w)


def slash_synopsis(slash):
    first = " ".join(w for w in ["/" + slash["name"], slash["args"],
                                 options_synopsis(slash["options"])] if w)
    if "alias" in slash:
        first += ", " + " ".join(w for w in ["/" + slash["alias"], slash["args"]] if w)
    return first


# --------------------------------------------------------------------------------------------
#  --help texts.

def wrap(text, width=HELP_WIDTH, indent=""):
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def help_paragraphs(text):
    out = []
    for block in parse_blocks(text):
        if block[0] == "para":
            out.append(wrap(plain(block[1])))
        elif block[0] == "list":
            out.append("\n".join(textwrap.fill(plain(item), HELP_WIDTH, initial_indent="  - ",
                                               subsequent_indent="    ") for item in block[1]))
        elif block[0] == "code":
            out.append("\n".join("    " + line for line in block[1]))
    return "\n\n".join(out)


def two_columns(rows, indent=2, gap=2, max_left=24):
    """Rows of (left, right) as aligned help lines; a long left goes on a line of its own."""
    width = min(max(len(left) for left, _ in rows), max_left) + indent + gap
    lines = []
    for left, right in rows:
        head = " " * indent + left
        body = textwrap.wrap(right, HELP_WIDTH - width, break_long_words=False,
                             break_on_hyphens=False) or [""]
        if len(head) + gap > width:
            #  A long synopsis wraps, each [option] whole, under its first word.
            lines.append(textwrap.fill(keep_brackets(left), HELP_WIDTH,
                                       initial_indent=" " * indent,
                                       subsequent_indent=" " * (indent + 4),
                                       break_long_words=False, break_on_hyphens=False))
        else:
            lines.append(head.ljust(width) + body.pop(0))
        lines.extend(" " * width + line for line in body)
    return "\n".join(lines).replace("\u00a0", " ")


def option_rows(options, with_help=True):
    rows = [(option_synopsis(o), plain(option_help(o)).replace("default ", "default\u00a0"))
            for o in options]
    if with_help:
        rows.append(("-h, --help", "print this help"))
    return rows


def config_note(command):
    keys = [o for o in command["options"] if o["config"]]
    if not keys:
        return ""
    others = [o["name"] for o in command["options"] if not o["config"]]
    section = command["section"]
    sections = f"the sections {section} and {section}/NAME" if takes_instances(command) \
        else f"the section {section}"
    but = "Each option but " + " and ".join("--" + n for n in others) if others else "Each option"
    return wrap(f"{but} is also a key of {sections} of the configuration file (zgm.cfg(5)).")


def program_help(model):
    program = model["program"]
    lines = [usage_block("zgm", program["usage"]), "",
             help_paragraphs(program["help"]), "", "Commands:"]
    lines.append(two_columns([(c["name"], c["summary"]) for c in model["commands"]], max_left=10))
    lines += ["", "Run 'zgm help COMMAND' or 'zgm COMMAND --help' for a command's options."]
    return "\n".join(lines) + "\n"


def command_help(command):
    name = "zgm " + command["name"]
    lines = [usage_block(name, usage_lines(command)), "",
             help_paragraphs(command["help"])]
    if command["subcommands"]:
        lines += ["", "Subcommands:", two_columns(
            [(subcommand_synopsis(s), s["summary"]) for s in command["subcommands"]])]
    lines += ["", "Options:", two_columns(option_rows(command["options"]))]
    note = config_note(command)
    if note:
        lines += ["", note]
    if command["subcommands"]:
        lines += ["", "Run 'zgm " + command["name"] + " help SUBCOMMAND' (or 'zgm help "
                  + command["name"] + " SUBCOMMAND') for one subcommand."]
    if "help-footer" in command:
        lines += [help_paragraphs(command["help-footer"])]
    return "\n".join(lines) + "\n"


def subcommand_help(command, sub):
    lines = [usage_block(f"zgm {command['name']} [OPTIONS]", [subcommand_synopsis(sub)]), "",
             help_paragraphs(sub["help"])]
    if sub["options"]:
        lines += ["", f"Options of {sub['name']}:", two_columns(option_rows(sub["options"], False))]
    lines += ["", f"Options of zgm {command['name']}, before or after {sub['name']}:",
              two_columns(option_rows(command["options"]))]
    if "help-footer" in command:
        lines += ["", help_paragraphs(command["help-footer"])]
    return "\n".join(lines) + "\n"


def slash_help(slash):
    lines = [slash_synopsis(slash), wrap(slash["summary"], indent="    ")]
    if slash["options"]:
        lines.append(two_columns(option_rows(slash["options"], False), indent=4))
    return "\n".join(lines) + "\n"


def slash_list_help(command):
    rows = [(slash_synopsis(s) if not s["options"] else
             " ".join(w for w in ["/" + s["name"], s["args"]] if w) + " [OPTIONS]", s["summary"])
            for s in command["slashes"]]
    lines = ["Commands:", two_columns(rows)]
    if "slash-footer" in command:
        lines.append(help_paragraphs(command["slash-footer"]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
#  cli_spec.h

def c_string(text, indent="    "):
    if text is None:
        return "nullptr"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    pieces = escaped.split("\n")
    out = []
    for i, piece in enumerate(pieces):
        newline = "\\n" if i < len(pieces) - 1 else ""
        if piece or newline:
            out.append(f'"{piece}{newline}"')
    if not out:
        return '""'
    return ("\n" + indent).join(out)


def enumerator(name):
    """An enum value: "accept-new" -> kAcceptNew (never a C++ keyword such as switch)."""
    return "k" + camel(name)


def camel(name):
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name))


def c_options(name, options):
    rows = []
    for o in options:
        rows.append("    {" + ", ".join([
            c_string(o["name"]), c_string(o.get("arg")), c_string(o.get("default")),
            "OptionSpec::" + TYPES[o["type"]],
            c_string("|".join(o["choices"]) if "choices" in o else None),
            "true" if o["repeat"] else "false", "true" if o["config"] else "false",
            c_string(o.get("excludes")), c_string(o.get("bare"))]) + "},")
    rows.append("    {nullptr, nullptr, nullptr, OptionSpec::kText, nullptr, false, false, nullptr, "
                "nullptr},")
    return f"inline constexpr OptionSpec {name}[] = {{\n" + "\n".join(rows) + "\n};\n"


def word_limit(value):
    return "kAnyWords" if value is None else str(value)


def header(model):
    out = ["//  Generated by src/cli/gen_cli.py from src/cli/commands.toml: do not edit.",
           "//  The zgm program's commands, their option tables and --help texts.",
           "#ifndef ZGM_CLI_SPEC_H", "#define ZGM_CLI_SPEC_H", "",
           '#include "cli/args.h"', "", "#include <cstddef>", "#include <cstdint>", "",
           "namespace zgm {", "namespace cli {", "namespace spec {", "",
           "//  No upper bound on a command's positional words.",
           "inline constexpr size_t kAnyWords = SIZE_MAX;", ""]
    commands = model["commands"]
    out.append("enum class CommandId { " + ", ".join(enumerator(c["name"]) for c in commands) + " };")
    out.append("")
    out.append("struct Subcommand {\n    int id; //  the enum of its command, as an int\n"
               "    const char* name;\n    const char* synopsis;\n    const char* usage;\n"
               "    const OptionSpec* options;\n    size_t min_words, max_words;\n};\n")
    out.append("struct Slash {\n    int id;\n    const char* name;\n"
               "    const char* alias; //  or NULL\n    const char* synopsis;\n"
               "    const char* usage; //  what /help NAME prints\n"
               "    const OptionSpec* options;\n    size_t min_words, max_words;\n};\n")
    out.append("struct Command {\n    CommandId id;\n    const char* name;\n"
               "    const char* summary;\n    const char* usage; //  the --help text\n"
               "    const OptionSpec* options;\n"
               "    const char* section; //  of the configuration file, or NULL\n"
               "    bool takes_instances; //  also reads section/NAME (--instance NAME)\n"
               "    const char* deprecated_alias; //  a former name that still works, or NULL\n"
               "    size_t min_words, max_words;\n"
               "    const Subcommand* subcommands; //  subcommand_count of them\n"
               "    size_t subcommand_count;\n};\n")
    out.append("inline constexpr char kProgramUsage[] =\n    " + c_string(program_help(model)) + ";\n")
    for command in commands:
        ident = camel(command["name"])
        out.append(c_options(f"k{ident}Options", command["options"]))
        out.append(f"inline constexpr char k{ident}Usage[] =\n    "
                   + c_string(command_help(command)) + ";\n")
        if command["subcommands"]:
            out.append(f"enum class {ident}Subcommand {{ "
                       + ", ".join(enumerator(s["name"]) for s in command["subcommands"]) + " };\n")
            for sub in command["subcommands"]:
                if sub["options"]:
                    out.append(c_options(f"k{ident}{camel(sub['name'])}Options", sub["options"]))
            rows = []
            for sub in command["subcommands"]:
                low, high = word_counts(sub["args"])
                opts = f"k{ident}{camel(sub['name'])}Options" if sub["options"] else "nullptr"
                rows.append(f"    {{(int){ident}Subcommand::{enumerator(sub['name'])}, "
                            f"{c_string(sub['name'])}, {c_string(subcommand_synopsis(sub))},\n     "
                            f"{c_string(subcommand_help(command, sub), '     ')},\n     "
                            f"{opts}, {low}, {word_limit(high)}}},")
            out.append(f"inline constexpr Subcommand k{ident}Subcommands[] = {{\n"
                       + "\n".join(rows) + "\n};\n")
        if command["slashes"]:
            out.append(f"enum class {ident}Slash {{ "
                       + ", ".join(enumerator(s["name"]) for s in command["slashes"]) + " };\n")
            for slash in command["slashes"]:
                if slash["options"]:
                    out.append(c_options(f"k{ident}Slash{camel(slash['name'])}Options",
                                         slash["options"]))
            rows = []
            for slash in command["slashes"]:
                low, high = word_counts(slash["args"])
                opts = (f"k{ident}Slash{camel(slash['name'])}Options" if slash["options"]
                        else "nullptr")
                rows.append(f"    {{(int){ident}Slash::{enumerator(slash['name'])}, "
                            f"{c_string(slash['name'])}, {c_string(slash.get('alias'))},\n     "
                            f"{c_string(slash_synopsis(slash))},\n     "
                            f"{c_string(slash_help(slash), '     ')},\n     "
                            f"{opts}, {low}, {word_limit(high)}}},")
            out.append(f"inline constexpr Slash k{ident}Slashes[] = {{\n"
                       + "\n".join(rows) + "\n};\n")
            out.append(f"inline constexpr char k{ident}SlashUsage[] =\n    "
                       + c_string(slash_list_help(command)) + ";\n")
    rows = []
    for command in commands:
        ident = camel(command["name"])
        low, high = word_counts(command.get("args", ""))
        rows.append(f"    {{CommandId::{enumerator(command['name'])}, {c_string(command['name'])}, "
                    f"{c_string(command['summary'])},\n     k{ident}Usage, k{ident}Options, "
                    f"{c_string(command.get('section'))}, "
                    f"{'true' if takes_instances(command) else 'false'}, "
                    f"{c_string(command.get('deprecated-alias'))}, {low}, {word_limit(high)},\n     "
                    + (f"k{ident}Subcommands, {len(command['subcommands'])}"
                       if command["subcommands"] else "nullptr, 0") + "},")
    out.append("inline constexpr Command kCommands[] = {\n" + "\n".join(rows) + "\n};\n")
    out += ["} // namespace spec", "} // namespace cli", "} // namespace zgm", "", "#endif", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
#  Man pages (groff man(7)).

def roff_escape(text, code=False):
    text = text.replace("\\", "\\e")
    if code:
        text = text.replace("-", "\\-")
    return text


def roff_inline(text):
    out = []
    for is_code, part in spans(text):
        out.append("\\fB" + roff_escape(part, True) + "\\fR" if is_code else roff_escape(part))
    return "".join(out)


def roff_lines(text):
    """Filled text as lines that never start with a control character."""
    lines = textwrap.wrap(roff_inline(text), 78, break_long_words=False, break_on_hyphens=False)
    return ["\\&" + line if line.startswith((".", "'")) else line for line in lines]


def roff_tag(text):
    """The tag of a .TP paragraph: one line, however long."""
    line = roff_inline(text)
    return "\\&" + line if line.startswith((".", "'")) else line


def roff_metavars(text):
    """An option synopsis: literal words bold, placeholders in capitals italic; the blanks
    inside [...] do not break."""
    words, depth = [], 0
    for word in re.split(r"(\s+|\||\[|\]|\.\.\.|,)", text):
        depth += word == "["
        depth -= word == "]"
        if word.isspace() and depth > 0:
            words.append("\\ ")
        elif not word or word.isspace() or word in "|[]," or word == "...":
            words.append(roff_escape(word))
        elif re.fullmatch(r"[A-Z][A-Z_]*", word):
            words.append("\\fI" + word + "\\fR")
        else:
            words.append("\\fB" + roff_escape(word, True) + "\\fR")
    return "".join(words)


def roff_blocks(text, inserts=None):
    out = []
    for block in parse_blocks(text):
        kind = block[0]
        if kind == "para":
            out += [".PP"] + roff_lines(block[1])
        elif kind == "list":
            for item in block[1]:
                out += [".IP \\(bu 2"] + roff_lines(item)
        elif kind == "code":
            out += [".PP", ".RS 4", ".EX"]
            out += ["\\&" + roff_escape(line, True) for line in block[1]]
            out += [".EE", ".RE"]
        elif kind == "table":
            columns, rows = block[1], block[2]
            for row in rows:
                out += [".TP", roff_tag(row[0])]
                if len(row) == 2:
                    out += roff_lines(row[1])
                else:
                    for i, cell in enumerate(row[1:], 1):
                        if i > 1:
                            out.append(".br")
                        if re.fullmatch(r"`[^`]{40,}`", cell):
                            #  A long literal (a JSON line) cannot be filled: on its own line.
                            out += roff_lines(f"{columns[i]}:") + [".br", ".nf"]
                            out += ["\\&" + roff_inline(cell), ".fi"]
                        else:
                            out += roff_lines(f"{columns[i]}: {cell}")
        elif kind == "insert":
            out += (inserts or {})[block[1]]
    return out


def capital(text):
    return text[0].upper() + text[1:]


def roff_option(option, prefix="--"):
    lines = [".TP", roff_metavars(prefix + option_synopsis(option)[2:])]
    lines += roff_lines(capital(option["help"]) + ".")
    if "choices" in option:
        lines += roff_lines("One of " + ", ".join(f"`{c}`" for c in option["choices"]) + ".")
    if default_text(option):
        lines += roff_lines(f"Default: `{default_text(option)}`." if "default" in option
                            else f"Default: {default_text(option)}.")
    if option["repeat"]:
        lines += roff_lines("May be given more than once.")
    if "excludes" in option:
        lines += roff_lines(f"Cannot be given with `--{option['excludes']}`.")
    if "text" in option:
        for block in parse_blocks(option["text"]):
            lines += roff_lines(block[1]) if block[0] == "para" else []
    return lines


def roff_slash_table(command):
    out = []
    for slash in command["slashes"]:
        out += [".TP", roff_metavars(slash_synopsis(slash))]
        out += roff_lines(capital(slash["summary"]) + ".")
        for option in slash["options"]:
            out += [".RS"] + roff_option(option) + [".RE"]
    return out


def roff_config_keys(model):
    out = []
    for command in config_commands(model):
        section = command["section"]
        names = f"`{section}` and `{section}/NAME`" if takes_instances(command) else f"`{section}`"
        out += [".SS " + roff_escape(f"Keys of {names.replace('`', '')} (zgm {command['name']})")]
        for option in command["options"]:
            if not option["config"]:
                continue
            value = option.get("arg", "true|false")
            lines = [".TP", f"\\fB{roff_escape(option['name'], True)}\\fR = "
                     + roff_metavars(value if "choices" not in option else "|".join(option["choices"]))]
            body = capital(option_help(option)) + "."
            if option["repeat"]:
                body += " One line per value."
            lines += roff_lines(body)
            out += lines
    return out


def see_also(names):
    out = []
    for i, name in enumerate(names):
        page, section = re.fullmatch(r"(.+)\((\d)\)", name).groups()
        out.append(f".BR {page} ({section}){',' if i < len(names) - 1 else ''}")
    return out


def man_header(title, section, version):
    return [f".\\\" Generated by src/cli/gen_cli.py from {SOURCE}: do not edit.",
            f'.TH {title.upper()} {section} "" "zgm {version}" "zgm manual"']


def man_sections(model, page, inserts, skip=()):
    out = []
    for name in page.get("sections", []):
        if name in skip:
            continue
        section = model["sections"][name]
        out += [".SH " + section["title"].upper()] + roff_blocks(section["text"], inserts)
    return out


def man_program(model, version):
    program = model["program"]
    out = man_header("zgm", 1, version)
    out += [".SH NAME", f"zgm \\- {roff_escape(program['summary'])}", ".SH SYNOPSIS", ".nh", ".ad l"]
    for usage in program["usage"]:
        out += [".B zgm", roff_metavars(usage), ".br"]
    out[-1:] = [".ad", ".hy"]
    out += [".SH DESCRIPTION"] + roff_blocks(program["text"])
    out += [".SH COMMANDS"]
    for command in model["commands"]:
        out += [".TP", roff_metavars(f"{command['name']}")]
        out += roff_lines(capital(command["summary"]) + (
            "." if not command["page"] else f"; see zgm-{command['name']}(1)."))
    out += [".TP", roff_metavars("--help"), "Print the usage and exit.",
            ".TP", roff_metavars("--version"), "Print the version and exit."]
    out += man_sections(model, program, {})
    out += [".SH SEE ALSO"] + see_also(program["see-also"])
    return "\n".join(out) + "\n"


def man_command(model, command, version):
    name = f"zgm-{command['name']}"
    out = man_header(name, 1, version)
    out += [".SH NAME", f"{name} \\- {roff_escape(command['summary'])}", ".SH SYNOPSIS", ".nh", ".ad l"]
    for usage in usage_lines(command):
        out += [f".B zgm {command['name']}", roff_metavars(usage), ".br"]
    out[-1:] = [".ad", ".hy"]
    out += [".SH DESCRIPTION"] + roff_blocks(command["help"]) + roff_blocks(command.get("text"))
    out += [".SH OPTIONS"]
    for option in command["options"]:
        out += roff_option(option)
    out += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Print this help and exit."]
    if any(o["config"] for o in command["options"]):
        out += [".SH CONFIGURATION"] + roff_lines(plain(config_note(command)).replace("\n", " "))
    if command["subcommands"]:
        out += [".SH SUBCOMMANDS"]
        for sub in command["subcommands"]:
            out += [".TP", roff_metavars(subcommand_synopsis(sub))]
            for i, block in enumerate(parse_blocks(sub["help"])):
                out += ([] if i == 0 else [".IP"]) + roff_lines(block[1])
            for option in sub["options"]:
                out += [".RS"] + roff_option(option) + [".RE"]
    inserts = {"SLASH": roff_slash_table(command)}
    out += man_sections(model, command, inserts)
    out += [".SH SEE ALSO"] + see_also(command["see-also"])
    return "\n".join(out) + "\n"


def man_config(model, version):
    config = model["config"]
    out = man_header(config["name"], 5, version)
    out += [".SH NAME", f"{config['name']} \\- {roff_escape(config['summary'])}", ".SH SYNOPSIS",
            "/etc/zgm/zgm.cfg, or the file given to \\fB\\-\\-config\\fR",
            ".SH DESCRIPTION"] + roff_blocks(config["text"])
    out += man_sections(model, config, {"KEYS": roff_config_keys(model)})
    out += [".SH SEE ALSO"] + see_also(config["see-also"])
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
#  docs/cli.md

def md_wrap(text, indent="", first=None):
    return textwrap.fill(text, MD_WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def md_cell(text):
    return text.replace("|", "\\|")


def md_table(columns, rows):
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def md_blocks(text, inserts=None):
    out = []
    for block in parse_blocks(text):
        kind = block[0]
        if kind == "para":
            out.append(md_wrap(block[1]))
        elif kind == "list":
            out.append("\n".join(md_wrap(item, "  ", "- ") for item in block[1]))
        elif kind == "code":
            out.append("\n".join(["```"] + block[1] + ["```"]))
        elif kind == "table":
            out.append(md_table(block[1], block[2]))
        elif kind == "insert":
            out.append((inserts or {})[block[1]])
    return "\n\n".join(out)


def md_option_text(option):
    text = option["help"]
    notes = []
    if "choices" in option:
        notes.append(" or ".join(f"`{c}`" for c in option["choices"]))
    if "default" in option:
        notes.append(f"default `{option['default']}`")
    elif "default-text" in option:
        notes.append("default " + re.sub(r"(\$[A-Z_]+[^\s,]*|[a-z]+://[^\s,]+|/[^\s,]+)",
                                         r"`\1`", option["default-text"]))
    if notes:
        text += " (" + "; ".join(notes) + ")"
    text = text[0].upper() + text[1:] + "."
    if option["repeat"]:
        text += " May be given more than once."
    if "excludes" in option:
        text += f" Cannot be given with `--{option['excludes']}`."
    if "text" in option:
        text += " " + " ".join(b[1] for b in parse_blocks(option["text"]) if b[0] == "para")
    return text


def md_options(options):
    return md_table(["option", ""], [[f"`{option_synopsis(o)}`", md_option_text(o)]
                                     for o in options])


def md_slash_table(command):
    rows = []
    for slash in command["slashes"]:
        text = slash["summary"][0].upper() + slash["summary"][1:] + "."
        if slash["options"]:
            text += " Options: " + ", ".join(f"`{option_synopsis(o)}`" for o in slash["options"]) + "."
        rows.append([f"`{slash_synopsis(slash)}`", text])
    return md_table(["command", "does"], rows)


def md_config_keys(model):
    out = []
    for command in config_commands(model):
        section = command["section"]
        names = (f"`{section}` and `{section}/NAME`" if takes_instances(command)
                 else f"`{section}`")
        out.append(f"Keys of {names} (`zgm {command['name']}`):")
        rows = []
        for option in command["options"]:
            if option["config"]:
                value = "|".join(option["choices"]) if "choices" in option else option.get(
                    "arg", "true|false")
                text = md_option_text(option).replace(" May be given more than once.",
                                                      " One line per value.")
                if "excludes" in option:
                    text = text.replace(f"`--{option['excludes']}`", f"`{option['excludes']}`")
                rows.append([f"`{option['name']}`", value, text])
        out.append(md_table(["key", "value", ""], rows))
    return "\n\n".join(out)


def md_sections(model, page, level, done, inserts):
    out = []
    for name in page.get("sections", []):
        if name in done:
            continue
        done.add(name)
        section = model["sections"][name]
        out += [f"{'#' * level} {section['title']}", md_blocks(section["text"], inserts)]
    return out


def markdown(model):
    program = model["program"]
    pages = ["zgm(1)"] + [f"zgm-{c['name']}(1)" for c in model["commands"] if c["page"]]
    out = ["<!-- Generated by src/cli/gen_cli.py from src/cli/commands.toml: edit that file, "
           "then run `make docs`. -->", "", f"# {program['title']}", "",
           md_blocks(program["text"]), "",
           md_wrap(f"This page, every `--help` and the man pages {', '.join(pages)} and "
                   f"{model['config']['name']}(5) are made from one source, "
                   "`src/cli/commands.toml`."), ""]
    synopses = []
    for command in model["commands"]:
        for usage in usage_lines(command):
            head = f"zgm {command['name']}".ljust(13)
            synopses.append(textwrap.fill(keep_brackets(usage), MD_WIDTH - 4, initial_indent=head,
                                          subsequent_indent=" " * 13, break_long_words=False,
                                          break_on_hyphens=False).replace("\u00a0", " "))
    synopses.append("zgm --help | --version")
    out += ["```"] + synopses + ["```", ""]
    out += ["| command | |", "|---|---|"]
    out += [f"| `zgm {c['name']}` | {c['summary'][0].upper() + c['summary'][1:]} |"
            for c in model["commands"]]
    out.append("")
    done = set()
    for block in md_sections(model, program, 2, done, {}):
        out += [block, ""]
    for command in model["commands"]:
        if not command["page"]:
            continue
        out += [f"## zgm {command['name']}", "", md_blocks(command["help"]), ""]
        if command.get("text"):
            out += [md_blocks(command["text"]), ""]
        out += [md_options(command["options"]), ""]
        if any(o["config"] for o in command["options"]):
            out += [md_wrap(plain(config_note(command)).replace("\n", " ")), ""]
        if command["subcommands"]:
            rows = [[f"`{subcommand_synopsis(s)}`", " ".join(s["help"].split())
                     + "".join(f" `{option_synopsis(o)}`: {o['help']}." for o in s["options"])]
                    for s in command["subcommands"]]
            out += [md_table(["subcommand", "does"], rows), ""]
        for block in md_sections(model, command, 3, done, {"SLASH": md_slash_table(command)}):
            out += [block, ""]
    config = model["config"]
    out += [f"## The configuration file: {config['name']}", "", md_blocks(config["text"]), ""]
    for block in md_sections(model, config, 3, done, {"KEYS": md_config_keys(model)}):
        out += [block, ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
#  Bash completion.

def completion(model):
    def value_case(options):
        cases = []
        for o in options:
            if "arg" not in o:
                continue
            if "choices" in o:
                action = f'COMPREPLY=($(compgen -W "{" ".join(o["choices"])}" -- "$cur"))'
            elif "FILE" in o["arg"].split("|"):
                #  FILE, KEY|FILE, DIR|KEY|FILE: a key's text is not completed, files are.
                action = 'COMPREPLY=($(compgen -f -- "$cur"))'
            elif o["arg"] == "DIR":
                action = 'COMPREPLY=($(compgen -d -- "$cur"))'
            else:
                action = "COMPREPLY=()"
            cases.append(f"        --{o['name']}) {action}; return 0 ;;")
        return cases

    def names(options):
        return " ".join(["--" + o["name"] for o in options] + ["--help"])

    def takes_value(options):
        return " ".join("--" + o["name"] for o in options if "arg" in o)

    commands = [c for c in model["commands"]]
    lines = ["# bash completion for zgm(1)",
             f"# Generated by src/cli/gen_cli.py from {SOURCE}: do not edit.", "",
             "#  _zgm_value WORD OPTION: completes WORD as a value of OPTION; 1 if OPTION takes none.",
             "_zgm_value() {",
             '    local cur=$1 option=$2', '    case "$option" in']
    all_options = {}
    for c in commands:
        for o in c["options"] + [o for s in c["subcommands"] for o in s["options"]]:
            all_options.setdefault(o["name"], o)
    lines += value_case(all_options.values())
    lines += ["    esac", "    return 1", "}", "",
              "_zgm() {",
              '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]-}',
              "    local command='' subcommand='' subcommand_at=0 i word values='' options=''",
              "    COMPREPLY=()",
              "    #  --option=value: bash splits it at '=' (COMP_WORDBREAKS).",
              '    if [[ $cur == = && $prev == --* ]]; then',
              '        _zgm_value "" "$prev"',
              "        return 0",
              "    fi",
              '    if [[ $prev == = && ${COMP_WORDS[COMP_CWORD-2]-} == --* ]]; then',
              '        _zgm_value "$cur" "${COMP_WORDS[COMP_CWORD-2]-}"',
              "        return 0",
              "    fi",
              "    #  The command and, for user, the subcommand: the first words that are not",
              "    #  options or option values.",
              "    for ((i = 1; i < COMP_CWORD; i++)); do",
              '        word=${COMP_WORDS[i]}',
              '        if [[ $word == -* ]]; then',
              '            if [[ ${COMP_WORDS[i+1]-} == = ]]; then',
              "                ((i += 2))",
              '            elif [[ " $values " == *" $word "* ]]; then',
              "                ((i++))",
              "            fi",
              "            #  A value with ':' in it (tcp://host:port) is split there too.",
              '            while [[ ${COMP_WORDS[i+1]-} == : ]]; do ((i += 2)); done',
              "            continue",
              "        fi",
              '        if [[ -z $command ]]; then',
              '            command=$word',
              '            case "$command" in']
    for c in commands:
        lines.append(f'            {c["name"]}) values="{takes_value(c["options"])}" ;;')
    lines += ["            esac",
              '        elif [[ -z $subcommand ]]; then',
              '            subcommand=$word subcommand_at=$i',
              '            case "$command $subcommand" in']
    for c in commands:
        for s in c["subcommands"]:
            if takes_value(s["options"]):
                lines.append(f'            "{c["name"]} {s["name"]}") '
                             f'values="$values {takes_value(s["options"])}" ;;')
    lines += ["            esac", "        fi", "    done",
              '    if [[ $prev == --* && " $values " == *" $prev "* ]]; then',
              '        _zgm_value "$cur" "$prev"', "        return 0", "    fi",
              '    case "$command $subcommand" in']
    for c in commands:
        for s in c["subcommands"]:
            if s["options"]:
                lines.append(f'    "{c["name"]} {s["name"]}") '
                             f'options="{names(c["options"] + s["options"])}" ;;')
        lines.append(f'    "{c["name"]} "*) options="{names(c["options"])}" ;;')
    lines += ["    esac",
              '    if [[ -z $command ]]; then',
              '        COMPREPLY=($(compgen -W "'
              + " ".join(c["name"] for c in commands) + ' --help --version" -- "$cur"))',
              '    elif [[ $cur == -* ]]; then',
              '        COMPREPLY=($(compgen -W "$options" -- "$cur"))']
    for c in commands:
        if c["subcommands"]:
            names = [s["name"] for s in c["subcommands"]]
            #  `zgm COMMAND help SUBCOMMAND` (main.cc's is_help_subcommand), unless help is
            #  one of its subcommands.
            helps = "help" not in names
            lines += [f'    elif [[ $command == {c["name"]} && -z $subcommand ]]; then',
                      '        COMPREPLY=($(compgen -W "'
                      + " ".join(sorted(names + ["help"] if helps else names)) + '" -- "$cur"))']
            if helps:
                lines += [f'    elif [[ $command == {c["name"]} && $subcommand == help && '
                          '$COMP_CWORD -eq $((subcommand_at + 1)) ]]; then',
                          '        COMPREPLY=($(compgen -W "' + " ".join(names) + '" -- "$cur"))']
    lines += ['    elif [[ $command == help && -z $subcommand ]]; then',
              '        COMPREPLY=($(compgen -W "'
              + " ".join(c["name"] for c in commands if c["name"] != "help") + '" -- "$cur"))']
    for c in commands:
        if c["subcommands"]:
            lines += [f'    elif [[ $command == help && $subcommand == {c["name"]} && '
                      f'$COMP_CWORD -eq 3 ]]; then',
                      '        COMPREPLY=($(compgen -W "'
                      + " ".join(s["name"] for s in c["subcommands"]) + '" -- "$cur"))']
    lines += ["    fi", "    return 0", "}", "", "complete -F _zgm zgm", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
#  The example configuration file.

def config_example(model):
    out = ["# zgm.cfg - the configuration of the zgm servers on this host: zgm.cfg(5).",
           f"# Generated from {SOURCE}. Every key is here, commented out, with its default",
           "# or an example value; an option on the command line wins over the file.",
           "# Indent keys by four blanks under their section."]
    for command in config_commands(model):
        keys = [o for o in command["options"] if o["config"]]
        out += ["", f"# zgm {command['name']} --config FILE", command["section"]]
        if takes_instances(command):
            out[-1] += f"                  # defaults of every zgm {command['name']} on the host"
        for option in keys:
            value = option.get("default", option.get("example", "true"))
            if "arg" not in option:
                value = "true"
            help = plain(option_help(option)) + (" (one line per value)" if option["repeat"] else "")
            out += textwrap.wrap(help, 92, initial_indent="    #  ", subsequent_indent="    #  ",
                                 break_long_words=False, break_on_hyphens=False)
            out.append(f"    #{option['name']} = {value}")
        if takes_instances(command):
            out += ["", f"# zgm {command['name']} --config FILE --instance NAME: these keys "
                    f"replace those of {command['section']}", f"#{command['section']}/NAME",
                    "    #group = general"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------

def write(path, text):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    #  Leave an unchanged file alone, so what depends on it is not rebuilt.
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            if file.read() == text:
                return
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def main():
    parser = argparse.ArgumentParser(description="The zgm program's commands and their "
                                     "documentation, from commands.toml.")
    parser.add_argument("source")
    parser.add_argument("--version", default="0")
    parser.add_argument("--header")
    parser.add_argument("--man")
    parser.add_argument("--man-pages", nargs="*", help="the pages meson expects in --man")
    parser.add_argument("--completion")
    parser.add_argument("--config-example")
    parser.add_argument("--markdown")
    parser.add_argument("--check-markdown")
    args = parser.parse_args()
    model = load(args.source)
    if args.header:
        write(args.header, header(model))
    if args.man:
        pages = {"zgm.1": man_program(model, args.version)}
        for command in model["commands"]:
            if command["page"]:
                pages[f"zgm-{command['name']}.1"] = man_command(model, command, args.version)
        pages[model["config"]["name"] + ".5"] = man_config(model, args.version)
        if args.man_pages is not None and sorted(args.man_pages) != sorted(pages):
            fail("the man pages are " + " ".join(pages) + ": list them in src/cli/meson.build")
        for name, text in pages.items():
            write(os.path.join(args.man, name), text)
    if args.completion:
        write(args.completion, completion(model))
    if args.config_example:
        write(args.config_example, config_example(model))
    if args.markdown:
        write(args.markdown, markdown(model))
    if args.check_markdown:
        with open(args.check_markdown, encoding="utf-8") as file:
            if file.read() != markdown(model):
                print(f"{args.check_markdown} is not what {SOURCE} says: run `make docs`",
                      file=sys.stderr)
                return 1
        print(f"{args.check_markdown} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
