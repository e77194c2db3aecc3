/*  =========================================================================
    report.h - a server's figures for STATS: one line per figure

    A STATS_REPORT carries lines of three fields separated by tabs: the scope ("server",
    "registry", "group/NAME", "refused", ...), the figure's name, its value. Names and
    values never hold a tab or a line end (they are replaced by a blank), so any reader can
    split them; `zgm stats` prints them as a table or as JSON.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_REPORT_H
#define ZGM_CORE_REPORT_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace zgm {

class Report {
public:
    void add(const std::string& scope, const std::string& name, const std::string& value) {
        append(scope);
        text_ += '\t';
        append(name);
        text_ += '\t';
        append(value);
        text_ += '\n';
    }
    void add(const std::string& scope, const std::string& name, uint64_t value) {
        add(scope, name, std::to_string(value));
    }
    size_t size() const { return text_.size(); }
    const std::string& text() const { return text_; }

private:
    void append(const std::string& field) {
        for (char c : field)
            text_ += c == '\t' || c == '\n' || c == '\r' ? ' ' : c;
    }
    std::string text_;
};

//  The process's resident memory, in KiB (0 if it cannot be read).
uint64_t resident_kib();

struct ZapDomain;
class RefusalLog;
//  A server's refusals and malformed input: in scope, "refusals" (every refusal: the
//  connections its ZAP domain refused, when it has one, and the requests it refused) and
//  "malformed" (every malformed request); then scope "refused", each reason with its count
//  (the connection ones always, a request's once it happened), and scope "malformed", every
//  decode error with its count, 0 included. malformed: (reason, count) for each decode
//  error; the refusal log's own "malformed: ..." entries are left to it.
void add_refusals(Report* report, const std::string& scope, const ZapDomain* domain,
                  const RefusalLog& refusals,
                  const std::vector<std::pair<std::string, uint64_t>>& malformed);

} // namespace zgm

#endif
