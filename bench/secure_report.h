/*  =========================================================================
    secure_report.h - the "secure" section of `zgm-bench --report`: zgm with CURVE
    ("zgm-curve") beside the peers with TLS ("nats-tls", "redis-always-tls", ...)

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_BENCH_SECURE_REPORT_H
#define ZGM_BENCH_SECURE_REPORT_H

#include <string>
#include <vector>

namespace bench {

//  True for the systems only the secure section shows: "zgm-curve" and every "...-tls".
bool is_secure_system(const std::string& system);

//  Reads the JSON lines in files and prints the secure section: each secure row with
//  zgm-curve, each peer's TLS figure, zgm-curve's ratio to the best of them ("missing" where
//  zgm-curve has no figure yet), then what security costs each system against its own plain
//  figure. Prints one line saying so when the files hold no secure figure.
void print_secure_report(const std::vector<std::string>& files);

} // namespace bench

#endif
