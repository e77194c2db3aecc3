/*  =========================================================================
    secure_report.cc - the "secure" section of `zgm-bench --report`

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "secure_report.h"
#include "benchutil.h"

#include <map>

namespace bench {

namespace {

const char* const kCurve = "zgm-curve";
const char* const kTls = "-tls";

bool ends_with(const std::string& text, const char* suffix) {
    size_t size = strlen(suffix);
    return text.size() >= size && text.compare(text.size() - size, size, suffix) == 0;
}

//  The peer columns: a -tls system belongs to the column its name starts with.
enum Peer { kNats, kRedis, kMosquitto, kPeers };
const char* const kPeerNames[kPeers] = {"NATS", "Redis", "Mosquitto"};
const char* const kPeerPrefixes[kPeers] = {"nats", "redis", "mosquitto"};

int peer_of(const std::string& system) {
    for (int p = 0; p < kPeers; p++)
        if (system.compare(0, strlen(kPeerPrefixes[p]), kPeerPrefixes[p]) == 0) return p;
    return -1;
}

struct SecureRow {
    const char* workload;
    const char* label;
    bool lower_better;
    const char* peers_from; //  the workload whose peer figures this row shows (null: same)
    bool always;            //  printed even without a zgm-curve figure (then "missing")
};

const SecureRow kSecureRows[] = {
    {"durable_send_1",
     "durable send, 1 sender, msg/s (zgm-curve fsync/commit; NATS JetStream file, async "
     "publish; Redis XADD appendfsync always)",
     false, nullptr, true},
    {"durable_send_8", "durable send, 8 senders, msg/s (same systems)", false, nullptr, true},
    {"fanout_10",
     "fan-out 1 -> 10, deliveries/s (zgm-curve stores each; NATS core, Redis pub/sub, MQTT "
     "QoS 0)",
     false, nullptr, true},
    {"latency_p50", "latency p50, 5,000/s to 10 (zgm-curve fsync/commit), us", true, nullptr, true},
    {"latency_p99", "latency p99, 5,000/s to 10 (zgm-curve fsync/commit), us", true, nullptr, true},
    {"latency_p999", "latency p99.9, 5,000/s to 10 (zgm-curve fsync/commit), us", true, nullptr,
     true},
    {"latency_nofsync_p99", "latency p99, 5,000/s to 10 (zgm-curve normal), us", true,
     "latency_p99", false},
    {"latency_memory_p99", "latency p99, 5,000/s to 10 (zgm-curve memory store), us", true,
     "latency_p99", false},
};

//  "1.23", or empty when either figure is missing; >= 1 means `ours` is as good or better.
std::string ratio_text(double ours, double theirs, bool lower_better) {
    if (ours <= 0 || theirs <= 0) return "";
    char text[32];
    snprintf(text, sizeof text, "%.2f", lower_better ? theirs / ours : ours / theirs);
    return text;
}

//  How many times slower the secure figure is than the plain one (1.25: 25 % slower).
std::string slowdown_text(double plain, double secure, bool lower_better) {
    if (plain <= 0 || secure <= 0) return "";
    char text[32];
    snprintf(text, sizeof text, "%.2f", lower_better ? secure / plain : plain / secure);
    return text;
}

} // namespace

bool is_secure_system(const std::string& system) {
    return system == kCurve || ends_with(system, kTls);
}

void print_secure_report(const std::vector<std::string>& files) {
    //  (workload, system) -> value; and how Redis' TLS client worked, as its figures say.
    std::map<std::pair<std::string, std::string>, double> values;
    std::string redis_client, tls_setup;
    bool any_secure = false;
    for (const std::string& file : files) {
        std::string text = read_file(file);
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            Figure figure;
            if (figure_from_json(text.substr(start, end - start), &figure)) {
                values[{figure.workload, figure.system}] = figure.value;
                any_secure = any_secure || is_secure_system(figure.system);
                std::string client = json_text_field(figure.params, "tls_client");
                if (figure.system.compare(0, 5, "redis") == 0 && !client.empty())
                    redis_client = client;
                if (ends_with(figure.system, kTls) && tls_setup.empty())
                    tls_setup = json_text_field(figure.params, "tls");
            }
            start = end + 1;
        }
    }
    printf("\n### Secure: zgm with CURVE beside the peers with TLS\n\n");
    if (!any_secure) {
        printf("No secure figures (system zgm-curve or *-tls) in these files.\n");
        return;
    }
    auto find = [&](const std::string& workload, const std::string& system) {
        auto found = values.find({workload, system});
        return found != values.end() ? found->second : -1.0;
    };
    //  The -tls figure of each peer on a workload, and which system it was.
    auto peer_figures = [&](const std::string& workload, double* figure, std::string* system) {
        for (int p = 0; p < kPeers; p++) {
            figure[p] = -1;
            system[p].clear();
        }
        for (const auto& entry : values) {
            const std::string& name = entry.first.second;
            int p = peer_of(name);
            if (entry.first.first != workload || p < 0 || !ends_with(name, kTls)) continue;
            figure[p] = entry.second;
            system[p] = name;
        }
    };

    printf("| workload | zgm-curve | NATS (TLS) | Redis (TLS) | Mosquitto (TLS) | "
           "zgm-curve / best TLS peer |\n");
    printf("|---|--:|--:|--:|--:|---|\n");
    for (const SecureRow& row : kSecureRows) {
        double curve = find(row.workload, kCurve);
        if (!row.always && curve < 0) continue;
        double figure[kPeers];
        std::string system[kPeers];
        peer_figures(row.peers_from ? row.peers_from : row.workload, figure, system);
        std::string line = std::string("| ") + row.label + " | " +
                           (curve >= 0 ? format_value(curve) : std::string("missing")) + " |";
        int best = -1;
        for (int p = 0; p < kPeers; p++) {
            line += " " +
                    (figure[p] >= 0 ? format_value(figure[p]) + " (" + system[p] + ")"
                                    : std::string()) +
                    " |";
            if (figure[p] > 0 && (best < 0 || (row.lower_better ? figure[p] < figure[best]
                                                                : figure[p] > figure[best])))
                best = p;
        }
        std::string ratio;
        if (curve < 0)
            ratio = "missing";
        else if (best < 0)
            ratio = "no TLS peer figure";
        else
            ratio = ratio_text(curve, figure[best], row.lower_better) + " vs " + system[best];
        printf("%s %s |\n", line.c_str(), ratio.c_str());
    }

    printf("\nWhat security costs each system: its plain figure over its secure one for "
           "throughput, secure over plain for latency (1.25 = 25 %% slower; zgm: CURVE, the "
           "peers: TLS):\n\n");
    printf("| workload | zgm | NATS | Redis | Mosquitto |\n");
    printf("|---|--:|--:|--:|--:|\n");
    for (const SecureRow& row : kSecureRows) {
        if (row.peers_from) continue;
        double figure[kPeers];
        std::string system[kPeers];
        peer_figures(row.workload, figure, system);
        double curve = find(row.workload, kCurve);
        std::string zgm = slowdown_text(find(row.workload, "zgm"), curve, row.lower_better);
        std::string line = std::string("| ") + row.label + " | " +
                           (curve < 0 ? std::string("missing") : zgm) + " |";
        for (int p = 0; p < kPeers; p++) {
            std::string cost;
            if (figure[p] >= 0) {
                std::string plain = system[p].substr(0, system[p].size() - strlen(kTls));
                cost = slowdown_text(find(row.workload, plain), figure[p], row.lower_better);
            }
            line += " " + cost + " |";
        }
        printf("%s\n", line.c_str());
    }
    if (!tls_setup.empty()) printf("\nTLS: %s.\n", tls_setup.c_str());
    if (!redis_client.empty()) printf("Redis TLS client: %s.\n", redis_client.c_str());
}

} // namespace bench
