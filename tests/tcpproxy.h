/*  =========================================================================
    tcpproxy.h - a TCP proxy in a thread of the test, to lose what a test wants lost

    Listens on 127.0.0.1 (a free port), and for each connection it accepts, connects to the
    target and copies bytes both ways - CURVE and all, it only sees bytes. A test can make
    it cut every connection the moment the server sends something (so a request arrives and
    its reply is lost), swallow what the server sends, hold it back and let part of it
    through late (a slow reply), or refuse connections.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TCPPROXY_H
#define ZGM_TCPPROXY_H

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace test {

class TcpProxy {
public:
    enum class Mode {
        kPass,         //  copy both ways
        kCutReplies,   //  the next bytes from the server close both ends instead (once: then
                       //  the proxy passes again)
        kSwallow,      //  drop what the server sends, keep the connection
        kHold,         //  keep what the server sends (see hold ()); kPass lets it all through
        kLoseRequests, //  drop what the client sends (counted: lost ()); then cut () (a new
                       //  connection) or kPass (the same one, what comes next gets through)
        kDown,         //  the server unreachable: every connection closed as it comes (see
                       //  down ()), until set_mode (kPass)
    };

    explicit TcpProxy(int target_port) : target_port_(target_port) {
        listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in address = {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(listener_, (struct sockaddr*)&address, sizeof address);
        listen(listener_, 64);
        socklen_t length = sizeof address;
        getsockname(listener_, (struct sockaddr*)&address, &length);
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~TcpProxy() {
        stop_ = true;
        thread_.join();
        for (auto& pair : pairs_) {
            close(pair.client);
            close(pair.server);
        }
        close(listener_);
    }
    int port() const { return port_; }
    std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    void set_mode(Mode mode) { mode_ = mode; }
    //  From now, holds back what the server sends; release_ms later, lets through what it
    //  sent in the first first_ms, and goes on holding the rest (until set_mode (kPass)).
    void hold(int release_ms, int first_ms) {
        int64_t now = now_ms();
        release_at_ = now + release_ms;
        first_until_ = now + first_ms;
        mode_ = Mode::kHold;
    }
    //  How many connections were cut (kCutReplies).
    int cuts() const { return cuts_; }
    //  How many bytes from clients were dropped (kLoseRequests).
    int64_t lost() const { return lost_; }
    //  Closes every connection it holds, and each new one as it comes, until set_mode (kPass):
    //  a link down. Returns once those it held are closed.
    void down() {
        down_ = true;
        while (down_)
            std::this_thread::yield();
    }
    //  Closes every connection it holds and passes again: a client whose requests were lost
    //  connects anew, its stream whole.
    void cut() {
        cut_ = true;
        while (cut_)
            std::this_thread::yield();
    }

private:
    struct Chunk {
        int64_t at_ms;
        std::string bytes;
    };
    struct Pair {
        int client;
        int server;
        std::vector<Chunk> held; //  kHold: what the server sent, not yet passed on
    };

    static int64_t now_ms() {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }

    static bool write_all(int to, const char* data, size_t size) {
        for (size_t done = 0; done < size;) {
            ssize_t wrote = write(to, data + done, size - done);
            if (wrote <= 0) return false;
            done += (size_t)wrote;
        }
        return true;
    }

    //  Passes on the held chunks that may go now; false when the connection is over.
    bool pass_held(Pair& pair) {
        bool all = mode_ != Mode::kHold;
        int64_t now = now_ms();
        size_t passed = 0;
        for (; passed < pair.held.size(); passed++) {
            const Chunk& chunk = pair.held[passed];
            if (!all && (now < release_at_ || chunk.at_ms >= first_until_)) break;
            if (!write_all(pair.client, chunk.bytes.data(), chunk.bytes.size())) return false;
        }
        pair.held.erase(pair.held.begin(), pair.held.begin() + (long)passed);
        return true;
    }

    int connect_target() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in address = {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons((uint16_t)target_port_);
        if (connect(fd, (struct sockaddr*)&address, sizeof address) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }

    //  Copies what is waiting on from to to; false when the connection is over.
    //  Counts what it drops in *dropped, if given.
    static bool copy(int from, int to, bool drop, std::vector<Chunk>* held = nullptr,
                     std::atomic<int64_t>* dropped = nullptr) {
        char buffer[65536];
        ssize_t got = read(from, buffer, sizeof buffer);
        if (got <= 0) return false;
        if (drop) {
            if (dropped) *dropped += got;
            return true;
        }
        if (held) {
            held->push_back({now_ms(), std::string(buffer, (size_t)got)});
            return true;
        }
        return write_all(to, buffer, (size_t)got);
    }

    void run() {
        while (!stop_) {
            std::vector<struct pollfd> items;
            items.push_back({listener_, POLLIN, 0});
            for (const Pair& pair : pairs_) {
                items.push_back({pair.client, POLLIN, 0});
                items.push_back({pair.server, POLLIN, 0});
            }
            if (cut_ || down_) {
                for (const Pair& pair : pairs_) {
                    close(pair.client);
                    close(pair.server);
                }
                pairs_.clear();
                mode_ = cut_ ? Mode::kPass : Mode::kDown;
                cut_ = down_ = false;
                continue;
            }
            if (poll(items.data(), items.size(), 50) < 0)
                continue;                  //  on a timeout too: held chunks may be due
            size_t polled = pairs_.size(); //  a pair accepted now has no poll result yet
            if (items[0].revents & POLLIN) {
                int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                int server = client >= 0 && mode_ != Mode::kDown ? connect_target() : -1;
                if (client >= 0 && server >= 0)
                    pairs_.push_back({client, server, {}});
                else if (client >= 0)
                    close(client);
            }
            std::vector<Pair> alive;
            for (size_t i = 0; i < pairs_.size(); i++) {
                Pair& pair = pairs_[i];
                bool ok = true;
                if (i >= polled) {
                    alive.push_back(pair);
                    continue;
                }
                if (items[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))
                    ok = copy(pair.client, pair.server, mode_ == Mode::kLoseRequests, nullptr,
                              &lost_);
                if (ok && (items[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    if (mode_ == Mode::kCutReplies) {
                        ok = false;
                        cuts_++;
                        mode_ = Mode::kPass;
                    } else {
                        //  What was held goes first, so the stream stays in order.
                        ok =
                            pass_held(pair) &&
                            copy(pair.server, pair.client, mode_ == Mode::kSwallow,
                                 mode_ == Mode::kHold || !pair.held.empty() ? &pair.held : nullptr);
                    }
                }
                if (ok) ok = pass_held(pair);
                if (ok) {
                    alive.push_back(pair);
                } else {
                    close(pair.client);
                    close(pair.server);
                }
            }
            pairs_.swap(alive);
        }
    }

    int target_port_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<Mode> mode_{Mode::kPass};
    std::atomic<bool> stop_{false};
    std::atomic<int> cuts_{0};
    std::atomic<int64_t> lost_{0};
    std::atomic<bool> cut_{false};
    std::atomic<bool> down_{false};
    std::atomic<int64_t> release_at_{0};
    std::atomic<int64_t> first_until_{0};
    std::vector<Pair> pairs_;
    std::thread thread_;
};

} // namespace test

#endif
