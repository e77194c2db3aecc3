/*  =========================================================================
    benchutil.h - what zgm-bench and zgm-bench-peers share: figures and their JSON
    lines, server processes started with fork+exec and stopped by PID (also when the
    benchmark fails or is interrupted), free loopback ports, RSS, percentiles

    Header-only, no CZMQ: the peers' program links libzmq, libmosquitto, cnats and hiredis
    but not zgm.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_BENCH_BENCHUTIL_H
#define ZGM_BENCH_BENCHUTIL_H

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cctype>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace bench {

//  ---------------------------------------------------------------------------------------
//  Time

inline uint64_t mono_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

inline double mono_s() {
    return (double)mono_ns() / 1e9;
}

inline uint64_t wall_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

//  Sleeps until the monotonic clock reaches deadline_ns (an absolute schedule: no drift).
inline void sleep_until_ns(uint64_t deadline_ns) {
    struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

//  The 100-byte body of every workload; the first 8 bytes carry the send time
//  (CLOCK_MONOTONIC ns) where latency is measured.
constexpr size_t kBodySize = 100;

inline void stamp_body(char* body, uint64_t ns) {
    memcpy(body, &ns, sizeof ns);
}

inline uint64_t body_stamp(const void* body, size_t size) {
    uint64_t ns = 0;
    if (size >= sizeof ns) memcpy(&ns, body, sizeof ns);
    return ns;
}

//  ---------------------------------------------------------------------------------------
//  Figures: one measured value, printed as a table row or as one JSON line.

inline std::string json_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if ((unsigned char)c < 0x20) {
            char code[8];
            snprintf(code, sizeof code, "\\u%04x", c);
            out += code;
        } else {
            out += c;
        }
    }
    return out;
}

//  A JSON object built key by key, in order.
class Params {
public:
    Params& add(const char* key, const std::string& value) {
        return raw(key, "\"" + json_escape(value) + "\"");
    }
    Params& add(const char* key, const char* value) { return add(key, std::string(value)); }
    Params& add(const char* key, double value) {
        char text[64];
        if (value == (double)(int64_t)value && value < 1e15 && value > -1e15)
            snprintf(text, sizeof text, "%" PRId64, (int64_t)value);
        else
            snprintf(text, sizeof text, "%.6g", value);
        return raw(key, text);
    }
    Params& add(const char* key, int value) { return add(key, (double)value); }
    Params& add(const char* key, uint64_t value) { return add(key, (double)value); }
    Params& add(const char* key, bool value) { return raw(key, value ? "true" : "false"); }
    std::string json() const { return "{" + body_ + "}"; }
    bool empty() const { return body_.empty(); }

private:
    Params& raw(const char* key, const std::string& value) {
        if (!body_.empty()) body_ += ",";
        body_ += "\"" + json_escape(key) + "\":" + value;
        return *this;
    }
    std::string body_;
};

struct Figure {
    std::string workload;
    std::string system;
    double value = 0;
    std::string unit;
    std::string params; //  a JSON object
};

inline std::string figure_json(const Figure& figure) {
    char value[64];
    snprintf(value, sizeof value, "%.6g", figure.value);
    return "{\"workload\":\"" + json_escape(figure.workload) + "\",\"system\":\"" +
           json_escape(figure.system) + "\",\"value\":" + value + ",\"unit\":\"" +
           json_escape(figure.unit) +
           "\",\"params\":" + (figure.params.empty() ? std::string("{}") : figure.params) + "}";
}

//  The string value of "key" in a JSON text as figure_json and Params write it (the first
//  occurrence), unescaped; empty if absent.
inline std::string json_text_field(const std::string& text, const char* key) {
    std::string pattern = std::string("\"") + key + "\":\"";
    size_t at = text.find(pattern);
    if (at == std::string::npos) return "";
    std::string value;
    for (size_t i = at + pattern.size(); i < text.size() && text[i] != '"'; i++) {
        if (text[i] == '\\' && i + 1 < text.size()) i++;
        value += text[i];
    }
    return value;
}

//  A figure from one line figure_json wrote; false if the line is not one.
inline bool figure_from_json(const std::string& line, Figure* figure) {
    const char* value_key = "\"value\":";
    const char* params_key = "\"params\":";
    size_t value_at = line.find(value_key);
    size_t params_at = line.find(params_key);
    if (value_at == std::string::npos || params_at == std::string::npos || line.back() != '}')
        return false;
    //  The params object comes last: the text between it and the closing brace.
    std::string head = line.substr(0, params_at);
    figure->workload = json_text_field(head, "workload");
    figure->system = json_text_field(head, "system");
    figure->unit = json_text_field(head, "unit");
    figure->params = line.substr(params_at + strlen(params_key));
    figure->params.pop_back();
    const char* number = line.c_str() + value_at + strlen(value_key);
    char* end = nullptr;
    figure->value = strtod(number, &end);
    return end != number && !figure->workload.empty() && !figure->system.empty();
}

//  "1,234,567" for a table cell; values under 100 keep one or two decimals.
inline std::string format_value(double value) {
    char text[64];
    if (value < 0) return "-";
    if (value < 10 && value != (double)(int64_t)value) {
        snprintf(text, sizeof text, "%.2f", value);
        return text;
    }
    if (value < 100 && value != (double)(int64_t)value) {
        snprintf(text, sizeof text, "%.1f", value);
        return text;
    }
    snprintf(text, sizeof text, "%.0f", value);
    std::string digits = text, out;
    int count = 0;
    for (size_t i = digits.size(); i-- > 0;) {
        out.insert(out.begin(), digits[i]);
        if (++count % 3 == 0 && i > 0 && digits[i - 1] != '-') out.insert(out.begin(), ',');
    }
    return out;
}

//  Progress and notes go to stderr, so stdout holds only the table or the JSON lines.
inline void note(const char* format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "  ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
}

//  ---------------------------------------------------------------------------------------
//  A run: what both benchmark programs keep while they measure

struct Run {
    bool json = false;      //  --json: one JSON object per figure on stdout
    bool quick = false;     //  --quick: a tenth of the counts and a quarter of the times
    double count_scale = 1; //  counts are multiplied by this (zgm-bench --scale)
    double time_scale = 1;  //  time bounds are multiplied by this (zgm-bench --time-scale)
    std::string only;       //  --only: comma-separated workload sets; empty: all
    std::vector<Figure> figures;
    bool failed = false;
};
inline Run g_run;

inline bool selected(const char* set) {
    if (g_run.only.empty()) return true;
    std::string list = "," + g_run.only + ",";
    return list.find(std::string(",") + set + ",") != std::string::npos;
}

inline uint64_t scaled(uint64_t count) {
    double scaled = (double)count * g_run.count_scale * (g_run.quick ? 0.1 : 1);
    return std::max<uint64_t>((uint64_t)scaled, 1);
}

inline double scaled_s(double seconds) {
    return seconds * g_run.time_scale * (g_run.quick ? 0.25 : 1);
}

//  Keeps a figure, prints it as a JSON line with --json, and notes it on stderr.
inline void record(const std::string& workload, const char* system, double value, const char* unit,
                   const Params& params) {
    Figure figure;
    figure.workload = workload;
    figure.system = system;
    figure.value = value;
    figure.unit = unit;
    figure.params = params.json();
    g_run.figures.push_back(figure);
    if (g_run.json) {
        printf("%s\n", figure_json(figure).c_str());
        fflush(stdout);
    }
    note("%-22s %-15s %14s %s", workload.c_str(), system, format_value(value).c_str(), unit);
}

//  Notes a failure on stderr; the program then exits non-zero.
inline void fail(const char* format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "  FAILED: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    g_run.failed = true;
}

//  ---------------------------------------------------------------------------------------
//  Percentiles

//  The p-quantile (0..1) of sorted values, nearest rank.
inline uint64_t percentile(const std::vector<uint64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    size_t rank = (size_t)(p * (double)sorted.size() + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > sorted.size()) rank = sorted.size();
    return sorted[rank - 1];
}

//  ---------------------------------------------------------------------------------------
//  Server processes: started with fork+exec, stopped by PID with SIGTERM, then SIGKILL
//  after a grace period; at exit, on SIGINT/SIGTERM/SIGHUP and on a crash as well.

constexpr int kMaxChildren = 64;
inline std::atomic<pid_t> g_children[kMaxChildren];

inline void forget_child(pid_t pid) {
    for (auto& slot : g_children) {
        pid_t expected = pid;
        if (slot.compare_exchange_strong(expected, 0)) return;
    }
}

//  Async-signal-safe: kill, waitpid and nanosleep only.
inline bool reap(pid_t pid, int grace_ms) {
    for (int waited = 0; waited <= grace_ms; waited += 10) {
        pid_t done = waitpid(pid, nullptr, WNOHANG);
        if (done == pid || (done < 0 && errno == ECHILD)) return true;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, nullptr);
    }
    return false;
}

//  Stops one child: SIGTERM, up to grace_ms to exit, then SIGKILL. True if it exited by
//  itself within the grace period.
inline bool stop_child(pid_t pid, int grace_ms = 3000) {
    if (pid <= 0) return true;
    kill(pid, SIGTERM);
    bool clean = reap(pid, grace_ms);
    if (!clean) {
        kill(pid, SIGKILL);
        reap(pid, 2000);
    }
    forget_child(pid);
    return clean;
}

inline void stop_all_children_blocking() {
    pid_t pids[kMaxChildren];
    int count = 0;
    for (auto& slot : g_children) {
        pid_t pid = slot.exchange(0);
        if (pid > 0) {
            kill(pid, SIGTERM);
            pids[count++] = pid;
        }
    }
    for (int i = 0; i < count; i++)
        if (!reap(pids[i], 2000)) {
            kill(pids[i], SIGKILL);
            reap(pids[i], 1000);
        }
}

//  The temporary directory to remove when a signal ends the program (set_cleanup_dir).
inline char g_cleanup_dir[4096];

inline void set_cleanup_dir(const std::string& path) {
    snprintf(g_cleanup_dir, sizeof g_cleanup_dir, "%s", path.c_str());
}

//  Async-signal-safe: fork and exec rm, as nftw is not.
inline void remove_cleanup_dir_from_signal() {
    if (strncmp(g_cleanup_dir, "/tmp/", 5) != 0 && strstr(g_cleanup_dir, "/zgm-bench") == nullptr)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", g_cleanup_dir, (char*)nullptr);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, nullptr, 0);
}

inline void on_fatal_signal(int signo) {
    stop_all_children_blocking();
    if (g_cleanup_dir[0]) remove_cleanup_dir_from_signal();
    signal(signo, SIG_DFL);
    raise(signo);
}

//  Call once, first thing in main (before CZMQ installs anything of its own).
inline void install_cleanup() {
    atexit(stop_all_children_blocking);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE})
        sigaction(signo, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

//  Starts argv[0] (a path, or a name looked up in PATH) with stdout and stderr appended to
//  log_path; the child gets SIGTERM if this process dies. Returns the PID, or -1.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log_path) {
    std::vector<char*> argv;
    for (const std::string& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        //  Only async-signal-safe calls between fork and exec.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(126);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        //  The child starts with default signal handling.
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        for (int signo = 1; signo < 32; signo++)
            sigaction(signo, &action, nullptr);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(log);
    if (pid < 0) return -1;
    for (auto& slot : g_children) {
        pid_t expected = 0;
        if (slot.compare_exchange_strong(expected, pid)) break;
    }
    return pid;
}

inline bool child_alive(pid_t pid) {
    return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0;
}

//  A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
inline int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    int port = -1;
    if (bind(fd, (struct sockaddr*)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr*)&address, &length) == 0)
        port = ntohs(address.sin_port);
    close(fd);
    return port;
}

//  Waits until something accepts TCP connections on 127.0.0.1:port.
inline bool wait_port(int port, int timeout_ms, pid_t pid = 0) {
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (mono_ns() < deadline) {
        if (pid && !child_alive(pid)) return false;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address;
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons((uint16_t)port);
        bool up = connect(fd, (struct sockaddr*)&address, sizeof address) == 0;
        close(fd);
        if (up) return true;
        sleep_ms(20);
    }
    return false;
}

inline std::string read_file(const std::string& path) {
    std::string text;
    FILE* file = fopen(path.c_str(), "r");
    if (!file) return text;
    char buffer[4096];
    size_t size;
    while ((size = fread(buffer, 1, sizeof buffer, file)) > 0)
        text.append(buffer, size);
    fclose(file);
    return text;
}

//  Waits until the file contains needle; false at the timeout or if pid exits.
inline bool wait_for_text(const std::string& path, const char* needle, int timeout_ms, pid_t pid) {
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (mono_ns() < deadline) {
        if (read_file(path).find(needle) != std::string::npos) return true;
        if (pid && !child_alive(pid)) return false;
        sleep_ms(20);
    }
    return false;
}

//  A field of /proc/PID/status in kB (VmRSS, RssAnon, RssFile...), or -1.
inline long proc_status_kb(pid_t pid, const char* field) {
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    std::string key = std::string(field) + ":";
    size_t at = status.find(key);
    if (at == std::string::npos) return -1;
    return atol(status.c_str() + at + key.size());
}

//  A field of /proc/PID/smaps_rollup in kB (Pss, Pss_Anon, ...), or -1.
inline long proc_smaps_kb(pid_t pid, const char* field) {
    std::string rollup = read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string key = std::string("\n") + field + ":";
    size_t at = rollup.find(key);
    if (at == std::string::npos) return -1;
    return atol(rollup.c_str() + at + key.size());
}

//  The shared objects that hold the most resident memory in a process, "name KiB, ..."
//  (from /proc/PID/smaps), to show where its RSS goes.
inline std::string rss_by_mapping(pid_t pid, size_t top) {
    std::string smaps = read_file("/proc/" + std::to_string(pid) + "/smaps");
    std::vector<std::pair<long, std::string>> sizes;
    std::string name;
    size_t start = 0;
    while (start < smaps.size()) {
        size_t end = smaps.find('\n', start);
        if (end == std::string::npos) end = smaps.size();
        std::string line = smaps.substr(start, end - start);
        start = end + 1;
        if (line.compare(0, 4, "Rss:") == 0) {
            long kb = atol(line.c_str() + 4);
            bool found = false;
            for (auto& entry : sizes)
                if (entry.second == name) {
                    entry.first += kb;
                    found = true;
                }
            if (!found) sizes.push_back({kb, name});
        } else if (!line.empty() && isxdigit((unsigned char)line[0]) && line.find('-') < 17) {
            size_t slash = line.rfind('/');
            size_t space = line.find_last_of(' ');
            name = slash != std::string::npos ? line.substr(slash + 1)
                   : space + 1 < line.size()  ? line.substr(space + 1)
                                              : "[anon]";
        }
    }
    std::sort(sizes.begin(), sizes.end(),
              [](const std::pair<long, std::string>& a, const std::pair<long, std::string>& b) {
                  return a.first > b.first;
              });
    std::string text;
    for (size_t i = 0; i < sizes.size() && i < top; i++)
        text += (i ? ", " : "") + sizes[i].second + " " + std::to_string(sizes[i].first);
    return text;
}

//  ---------------------------------------------------------------------------------------
//  Temporary directories

//  A fresh directory PARENT/PREFIX-XXXXXX; parent empty: $TMPDIR or /tmp.
inline std::string make_temp_dir(const char* prefix, std::string parent = "") {
    const char* tmp = getenv("TMPDIR");
    if (parent.empty()) parent = tmp && *tmp ? tmp : "/tmp";
    std::string pattern = parent + "/" + prefix + "-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!mkdtemp(buffer.data())) return "";
    return buffer.data();
}

inline int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
    return remove(path);
}

inline void remove_tree(const std::string& path) {
    if (!path.empty() && path != "/") nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

} // namespace bench

#endif
