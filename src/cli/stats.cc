/*  =========================================================================
    stats.cc - `zgm stats`: the figures of the registry and of its group servers

        zgm stats [OPTIONS] [GROUP] [--watch [SECONDS] [--count N]]

    Without GROUP: the registry's figures, then those of every group server the registry
    lists (one request per endpoint, with the key the registry gives for its groups), each a
    section; a server that refuses or does not answer is a section that says so. With GROUP:
    the group server that serves it. --watch asks again every SECONDS and shows, beside the
    totals, the rates per second since the last report. `zgm user stats` is a deprecated
    alias (user_commands.cc hands it here).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "cli/cli.h"
#include "cli/timefmt.h"
#include "core/clock.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <map>

namespace zgm {
namespace cli {

namespace {

//  The counters whose rates --watch shows, in the scopes `server` and `group/NAME`.
const char* const kRated[] = {"sends", "fetches", "pushes", "delivered"};

bool is_rated(const std::string& scope, const std::string& name) {
    if (scope != "server" && scope.compare(0, 6, "group/") != 0) return false;
    for (const char* rated : kRated)
        if (name == rated) return true;
    return false;
}

struct Figure {
    std::string scope, name, value;
};

//  One server's part of a report.
struct Section {
    bool registry = false;
    std::string endpoint;
    std::string key;
    std::vector<std::string> groups; //  of a group server: the groups the registry lists on it
    int error = 0;                   //  zgm_errno () of its STATS, 0 when it answered
    std::string why;
    std::vector<Figure> figures;
    int64_t at_ms = 0; //  when it answered (monotonic)
    //  Rates per second since the previous report (--watch), by scope and name; empty
    //  without one, or when a counter went back (the server restarted).
    std::map<std::string, std::map<std::string, double>> rates;
    int64_t interval_ms = 0;
};

std::vector<Figure> parse_report(const char* report) {
    std::vector<Figure> figures;
    const char* at = report;
    while (*at) {
        const char* end = strchr(at, '\n');
        std::string row(at, end ? (size_t)(end - at) : strlen(at));
        at = end ? end + 1 : at + row.size();
        size_t first = row.find('\t');
        size_t second = first == std::string::npos ? first : row.find('\t', first + 1);
        if (second == std::string::npos) continue;
        figures.push_back({row.substr(0, first), row.substr(first + 1, second - first - 1),
                           row.substr(second + 1)});
    }
    return figures;
}

bool is_number(const std::string& value) {
    return !value.empty() && value.size() < 20 &&
           value.find_first_not_of("0123456789") == std::string::npos;
}

const std::string* find_figure(const Section& section, const std::string& scope,
                               const std::string& name) {
    for (const Figure& figure : section.figures)
        if (figure.scope == scope && figure.name == name) return &figure.value;
    return nullptr;
}

void ask(zgm_user_t* user, Section* section) {
    char* report = zgm_user_stats(user, section->endpoint.c_str(), section->key.c_str());
    section->at_ms = mono_ms();
    if (!report) {
        section->error = zgm_errno();
        section->why = zgm_strerror();
        return;
    }
    section->figures = parse_report(report);
    free(report);
}

//  A section for what failed before a server could be asked: the group's server could not
//  be found, or the list of groups could not be had.
Section failed_lookup(const std::string& group) {
    Section section;
    if (!group.empty()) section.groups.push_back(group);
    section.error = zgm_errno();
    section.why = zgm_strerror();
    section.at_ms = mono_ms();
    return section;
}

//  The sections of one report: the registry and every group server it lists, or the group
//  server of one group.
std::vector<Section> take_report(Session* session, const std::string& group) {
    std::vector<Section> sections;
    zgm_user_t* user = session->user;
    if (!group.empty()) {
        zgm_group_t info;
        if (zgm_user_resolve(user, group.c_str(), &info) != 0) {
            sections.push_back(failed_lookup(group));
            return sections;
        }
        Section section;
        section.endpoint = info.endpoint;
        section.key = info.server_key;
        section.groups.push_back(group);
        ask(user, &section);
        sections.push_back(std::move(section));
        return sections;
    }
    Section registry;
    registry.registry = true;
    registry.endpoint = session->options.registry;
    registry.key = session->registry_key;
    ask(user, &registry);
    sections.push_back(registry);
    //  The group servers: those of the listed groups, by endpoint, with the key the registry
    //  gives for them; then any the registry's own figures name that serve no group.
    size_t count = 0;
    zgm_group_t* groups = zgm_user_groups(user, &count);
    if (!groups) {
        sections.push_back(failed_lookup(""));
        return sections;
    }
    std::map<std::string, size_t> by_endpoint;
    for (size_t i = 0; i < count; i++) {
        auto found = by_endpoint.find(groups[i].endpoint);
        if (found == by_endpoint.end()) {
            Section section;
            section.endpoint = groups[i].endpoint;
            section.key = groups[i].server_key;
            found = by_endpoint.emplace(section.endpoint, sections.size()).first;
            sections.push_back(std::move(section));
        }
        sections[found->second].groups.push_back(groups[i].name);
    }
    free(groups);
    for (const Figure& figure : registry.figures)
        if (figure.scope.compare(0, 7, "server/") == 0 && figure.name == "endpoint" &&
            !by_endpoint.count(figure.value)) {
            Section section;
            section.endpoint = figure.value;
            section.key = figure.scope.substr(7);
            by_endpoint.emplace(section.endpoint, sections.size());
            sections.push_back(std::move(section));
        }
    for (Section& section : sections)
        if (!section.registry) ask(user, &section);
    return sections;
}

//  Rates per second of the rated counters since the same server's previous section.
void add_rates(Section* section, const std::vector<Section>& previous) {
    if (section->error) return;
    const Section* before = nullptr;
    for (const Section& old : previous)
        if (old.registry == section->registry && old.endpoint == section->endpoint &&
            old.key == section->key && !old.error)
            before = &old;
    if (!before || section->at_ms <= before->at_ms) return;
    double seconds = (double)(section->at_ms - before->at_ms) / 1000.0;
    std::map<std::string, std::map<std::string, double>> rates;
    for (const Figure& figure : section->figures) {
        if (!is_rated(figure.scope, figure.name) || !is_number(figure.value)) continue;
        const std::string* old = find_figure(*before, figure.scope, figure.name);
        if (!old || !is_number(*old)) continue;
        uint64_t now = strtoull(figure.value.c_str(), nullptr, 10);
        uint64_t then = strtoull(old->c_str(), nullptr, 10);
        if (now < then) return; //  restarted: its counters began again
        rates[figure.scope][figure.name] = (double)(now - then) / seconds;
    }
    section->rates = std::move(rates);
    section->interval_ms = section->at_ms - before->at_ms;
}

//  "answered", "refused" or "no answer": how a section's request ended.
const char* status_of(const Section& section) {
    if (!section.error) return "ok";
    return exit_code_for(section.error) == kExitUnreachable ? "no answer" : "refused";
}

std::string title_of(const Section& section) {
    if (!section.registry && section.endpoint.empty())
        return section.groups.empty() ? "the list of groups"
                                      : "the group server of " + section.groups[0];
    std::string title = section.registry ? "registry " : "group server ";
    title += section.endpoint;
    if (!section.groups.empty()) {
        title += " (";
        for (size_t i = 0; i < section.groups.size(); i++)
            title += (i ? ", " : "") + section.groups[i];
        title += ")";
    }
    return title;
}

std::string format_rate(double rate) {
    char text[48];
    snprintf(text, sizeof text, "%.1f/s", rate);
    return text;
}

void json_append_value(std::string* line, const std::string& value) {
    if (is_number(value))
        *line += value;
    else
        json_append_string(line, value.c_str());
}

//  One report as one JSON object on one line.
std::string json_report(const std::vector<Section>& sections, uint64_t timestamp) {
    std::string line = "{\"timestamp\":" + std::to_string(timestamp) + ",\"time\":";
    json_append_string(&line, format_time_utc(timestamp).c_str());
    line += ",\"servers\":[";
    for (size_t i = 0; i < sections.size(); i++) {
        const Section& section = sections[i];
        line += i ? ",{" : "{";
        line += "\"role\":";
        json_append_string(&line, section.registry ? "registry" : "group server");
        line += ",\"endpoint\":";
        json_append_string(&line, section.endpoint.c_str());
        line += ",\"key\":";
        json_append_string(&line, section.key.c_str());
        if (!section.registry) {
            line += ",\"groups\":[";
            for (size_t g = 0; g < section.groups.size(); g++) {
                if (g) line += ',';
                json_append_string(&line, section.groups[g].c_str());
            }
            line += ']';
        }
        line += ",\"status\":";
        json_append_string(&line, status_of(section));
        if (section.error) {
            line += ",\"error\":";
            json_append_string(&line, section.why.c_str());
            line += ",\"code\":" + std::to_string(section.error) + "}";
            continue;
        }
        //  {scope: {name: value}}, the scopes in the order they first came.
        line += ",\"figures\":{";
        std::vector<std::string> scopes;
        for (const Figure& figure : section.figures)
            if (std::find(scopes.begin(), scopes.end(), figure.scope) == scopes.end())
                scopes.push_back(figure.scope);
        for (size_t s = 0; s < scopes.size(); s++) {
            if (s) line += ',';
            json_append_string(&line, scopes[s].c_str());
            line += ":{";
            bool first = true;
            for (const Figure& figure : section.figures) {
                if (figure.scope != scopes[s]) continue;
                if (!first) line += ',';
                first = false;
                json_append_string(&line, figure.name.c_str());
                line += ':';
                json_append_value(&line, figure.value);
            }
            line += '}';
        }
        line += '}';
        if (section.interval_ms) {
            line += ",\"interval_ms\":" + std::to_string(section.interval_ms) + ",\"rates\":{";
            bool first_scope = true;
            for (const auto& scope : section.rates) {
                if (!first_scope) line += ',';
                first_scope = false;
                json_append_string(&line, scope.first.c_str());
                line += ":{";
                bool first = true;
                for (const auto& rate : scope.second) {
                    if (!first) line += ',';
                    first = false;
                    char number[48];
                    snprintf(number, sizeof number, "%.3f", rate.second);
                    json_append_string(&line, rate.first.c_str());
                    line += ':';
                    line += number;
                }
                line += '}';
            }
            line += '}';
        }
        line += '}';
    }
    line += "]}";
    return line;
}

//  One report as text: a section per server, its figures in columns (scope, name, value),
//  and with --watch each rate beside its total.
std::string text_report(const std::vector<Section>& sections) {
    std::string out;
    for (size_t i = 0; i < sections.size(); i++) {
        const Section& section = sections[i];
        if (i) out += '\n';
        std::string title = title_of(section);
        if (section.error) title += std::string(": ") + status_of(section) + ": " + section.why;
        append_visible(&out, title.data(), title.size(), false);
        out += '\n';
        size_t scope_width = 0, name_width = 0, value_width = 0;
        for (const Figure& figure : section.figures) {
            scope_width = std::max(scope_width, figure.scope.size());
            name_width = std::max(name_width, figure.name.size());
            if (is_number(figure.value)) value_width = std::max(value_width, figure.value.size());
        }
        for (const Figure& figure : section.figures) {
            std::string text = "  " + figure.scope;
            text.resize(2 + scope_width + 2, ' ');
            text += figure.name;
            text.resize(2 + scope_width + 2 + name_width + 2, ' ');
            text += figure.value;
            auto scope = section.rates.find(figure.scope);
            if (scope != section.rates.end()) {
                auto rate = scope->second.find(figure.name);
                if (rate != scope->second.end()) {
                    text.resize(2 + scope_width + 2 + name_width + 2 + value_width + 2, ' ');
                    text += format_rate(rate->second);
                }
            }
            append_visible(&out, text.data(), text.size(), false);
            out += '\n';
        }
    }
    return out;
}

//  The exit code of a report: 0 when every server answered, else 3 when one did not
//  answer, else 1 (one refused).
int code_of(const std::vector<Section>& sections) {
    int code = kExitOk;
    for (const Section& section : sections)
        if (section.error) {
            int own = exit_code_for(section.error);
            if (own == kExitUnreachable || code == kExitOk) code = own;
        }
    return code;
}

//  Says on stderr which servers did not answer, for a script that reads stdout only.
void warn_failures(const std::vector<Section>& sections) {
    for (const Section& section : sections)
        if (section.error)
            fprintf(stderr, "zgm stats: %s: %s: %s\n", title_of(section).c_str(),
                    status_of(section), section.why.c_str());
}

//  Sleeps until deadline (monotonic ms) or a stop request; false on a stop request.
bool wait_until(int64_t deadline) {
    while (!stop_requested()) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) return true;
        poll(nullptr, 0, (int)std::min<int64_t>(left, 100));
    }
    return false;
}

} // namespace

int stats_main(const spec::Command& command, int argc, char** argv) {
    Args args;
    if (!args.parse(argc, argv, command.options, nullptr))
        return usage_error(command.name, args.error());
    if (args.help()) {
        fputs(command.usage, stdout);
        return kExitOk;
    }
    const std::vector<std::string>& words = args.positional();
    if (words.size() > command.max_words)
        return usage_error(command.name, "unexpected argument '" + words[command.max_words] + "'");
    if (args.has("count") && !args.has("watch"))
        return usage_error(command.name, "--count counts the refreshes of --watch");
    UserOptions options;
    int code = read_user_options(args, command.name, &options);
    if (code != kExitOk) return code;
    uint64_t seconds = 0, count = 0;
    if (const char* watch = args.value("watch")) parse_uint(watch, UINT64_MAX, &seconds);
    if (const char* limit = args.value("count")) parse_uint(limit, UINT64_MAX, &count);
    if (seconds > 86400) return usage_error(command.name, "--watch: at most 86400 seconds");
    std::string group = words.empty() ? "" : words[0];

    Session session;
    code = open_session(options, &session, "stats");
    if (code != kExitOk) return code;
    bool screen = seconds && !options.json && isatty(STDOUT_FILENO);
    std::vector<Section> previous;
    int last = kExitOk; //  the exit code of the last report
    int64_t next = mono_ms();
    for (uint64_t refresh = 1;; refresh++) {
        std::vector<Section> sections = take_report(&session, group);
        for (Section& section : sections)
            add_rates(&section, previous);
        last = code_of(sections);
        uint64_t timestamp = now_us();
        std::string out;
        if (options.json) {
            out = json_report(sections, timestamp) + "\n";
        } else {
            if (screen) out = "\x1b[H\x1b[2J"; //  home, clear the screen
            if (seconds)
                out += "zgm stats every " + std::to_string(seconds) + " s, " +
                       format_time_local(timestamp, timestamp) + "\n\n";
            out += text_report(sections);
            if (seconds && !screen) out += '\n';
        }
        fwrite(out.data(), 1, out.size(), stdout);
        fflush(stdout);
        if (!screen) warn_failures(sections);
        if (!seconds || (count && refresh >= count)) break;
        previous = std::move(sections);
        next = std::max(next + (int64_t)seconds * 1000, mono_ms());
        if (!wait_until(next)) {
            last = kExitOk; //  Ctrl-C ends a watch
            break;
        }
    }
    //  A watch without --count runs until Ctrl-C, which is its normal end.
    code = seconds && !count ? kExitOk : last;
    close_session(&session);
    return code;
}

} // namespace cli
} // namespace zgm
