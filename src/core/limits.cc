/*  =========================================================================
    limits.cc - per-key request rates, and refusals logged with counts

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/limits.h"

#include "core/log.h"
#include "core/report.h"
#include "core/zap.h"

#include <cmath>
#include <mutex>
#include <sys/resource.h>

namespace zgm {

uint64_t resident_kib() {
    FILE* status = fopen("/proc/self/status", "re");
    if (!status) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, status))
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) break;
    fclose(status);
    return kib;
}

void add_refusals(Report* report, const std::string& scope, const ZapDomain* domain,
                  const RefusalLog& refusals,
                  const std::vector<std::pair<std::string, uint64_t>>& malformed) {
    static const char kMalformed[] = "malformed: ";
    std::vector<std::pair<std::string, uint64_t>> refused;
    if (domain) {
        refused.emplace_back("connections over --max-connections", domain->refused_full.load());
        refused.emplace_back("handshakes of another mechanism", domain->refused_mechanism.load());
        if (domain->security == Security::kInsecure)
            refused.emplace_back("PLAIN user names that are not a key",
                                 domain->refused_identity.load());
        refused.emplace_back("failed handshakes", domain->failed_handshakes.load());
    }
    for (const auto& entry : refusals.totals())
        if (entry.first.compare(0, sizeof kMalformed - 1, kMalformed) != 0)
            refused.push_back(entry);
    uint64_t refused_total = 0, malformed_total = 0;
    for (const auto& entry : refused)
        refused_total += entry.second;
    for (const auto& entry : malformed)
        malformed_total += entry.second;
    report->add(scope, "refusals", refused_total);
    report->add(scope, "malformed", malformed_total);
    for (const auto& entry : refused)
        report->add("refused", entry.first, entry.second);
    for (const auto& entry : malformed)
        report->add("malformed", entry.first, entry.second);
}

namespace {

//  Descriptors a server needs besides its connections: store, sockets, pipes, log.
constexpr uint64_t kDescriptorMargin = 64;

std::mutex s_descriptors_mutex;
uint64_t s_reserved = 0;

} // namespace

bool reserve_descriptors(uint32_t connections, std::string* why) {
    std::lock_guard<std::mutex> lock(s_descriptors_mutex);
    uint64_t wanted = s_reserved + connections + kDescriptorMargin;
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return true;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted
                              ? (rlim_t)wanted
                              : limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &raised);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
        *why = "--max-connections " + std::to_string(connections) + " needs about " +
               std::to_string(wanted) + " file descriptors in this process, and it may open " +
               std::to_string((unsigned long long)limit.rlim_cur) + " (ulimit -n; hard limit " +
               std::to_string((unsigned long long)limit.rlim_max) +
               "): raise the limit or lower --max-connections";
        return false;
    }
    s_reserved += connections + kDescriptorMargin;
    return true;
}

void release_descriptors(uint32_t connections) {
    std::lock_guard<std::mutex> lock(s_descriptors_mutex);
    uint64_t amount = connections + kDescriptorMargin;
    s_reserved = s_reserved >= amount ? s_reserved - amount : 0;
}

double RateLimiter::refill(Bucket& bucket, int64_t now_ms) const {
    double capacity = 2.0 * rate_;
    if (now_ms > bucket.at_ms) {
        bucket.tokens += (double)(now_ms - bucket.at_ms) * rate_ / 1000.0;
        if (bucket.tokens > capacity) bucket.tokens = capacity;
        bucket.at_ms = now_ms;
    }
    return capacity;
}

bool RateLimiter::admit(const Key& key, uint32_t cost, int64_t now_ms, uint32_t* retry_ms) {
    *retry_ms = 0;
    if (rate_ == 0) return true;
    auto found = buckets_.find(key);
    if (found == buckets_.end()) {
        if (buckets_.size() >= kMaxKeys) sweep(now_ms);
        if (buckets_.size() >= kMaxKeys) {
            //  More keys at once than the table holds: newcomers wait.
            *retry_ms = 1000;
            return false;
        }
        found = buckets_.emplace(key, Bucket{2.0 * rate_, now_ms}).first;
    }
    Bucket& bucket = found->second;
    refill(bucket, now_ms);
    if (now_ms < bucket.refused_until_ms) {
        *retry_ms = (uint32_t)(bucket.refused_until_ms - now_ms);
        return false;
    }
    if (bucket.tokens <= 0) {
        double wait = (1.0 - bucket.tokens) * 1000.0 / rate_;
        *retry_ms = (uint32_t)std::ceil(wait < 1 ? 1 : wait);
        bucket.refused_until_ms = now_ms + *retry_ms;
        return false;
    }
    bucket.tokens -= cost;
    return true;
}

void RateLimiter::sweep(int64_t now_ms) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        double capacity = refill(it->second, now_ms);
        it = it->second.tokens >= capacity ? buckets_.erase(it) : std::next(it);
    }
}

//  reason with what stands between each pair of single quotes left out.
static std::string without_names(const std::string& reason) {
    std::string counted;
    size_t at = 0;
    while (true) {
        size_t open = reason.find('\'', at);
        size_t close = open == std::string::npos ? open : reason.find('\'', open + 1);
        if (close == std::string::npos) return counted + reason.substr(at);
        counted += reason.substr(at, open + 1 - at) + "\xe2\x80\xa6'"; //  '…'
        at = close + 1;
    }
}

void RefusalLog::note(const std::string& full_reason, const std::string& detail, int64_t now_ms) {
    std::string reason = without_names(full_reason);
    if (!totals_.count(reason) && totals_.size() >= kMaxReasons) reason = "other";
    totals_[reason]++;
    if (interval_end_ms_ == 0 || now_ms >= interval_end_ms_) {
        tick(now_ms);
        //  The first of a quiet spell: said at once, with its detail.
        ZGM_WARN("%s: refused: %s%s%s", who_, full_reason.c_str(), detail.empty() ? "" : " - ",
                 detail.c_str());
        interval_end_ms_ = now_ms + interval_ms_;
        return;
    }
    pending_[reason]++;
}

void RefusalLog::tick(int64_t now_ms) {
    if (interval_end_ms_ == 0 || now_ms < interval_end_ms_) return;
    if (pending_.empty()) {
        interval_end_ms_ = 0;
        return;
    }
    std::string counts;
    for (const auto& entry : pending_)
        counts += (counts.empty() ? "" : ", ") + std::to_string(entry.second) + " x " + entry.first;
    ZGM_WARN("%s: refused in the last %d s: %s", who_, interval_ms_ / 1000, counts.c_str());
    pending_.clear();
    interval_end_ms_ = now_ms + interval_ms_;
}

bool LineBudget::take(int64_t now_ms) {
    if (now_ms - second_ms_ >= 1000) {
        second_ms_ = now_ms;
        used_ = 0;
    }
    if (used_ < per_second_) {
        used_++;
        return true;
    }
    held_back_++;
    return false;
}

void LineBudget::tick(int64_t now_ms) {
    if (held_back_ == 0 || now_ms < report_ms_) return;
    ZGM_LOG("%s: %llu request lines not logged (over %d a second)", who_,
            (unsigned long long)held_back_, per_second_);
    held_back_ = 0;
    report_ms_ = now_ms + interval_ms_;
}

} // namespace zgm
