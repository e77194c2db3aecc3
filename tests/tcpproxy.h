/*  =========================================================================
    tcpproxy.h - a TCP proxy in a thread of the test, to lose what a test wants lost

    Listens on 127.0.0.1 (a free port), and for each connection it accepts, connects to the
    target and copies bytes both ways - CURVE and all, it only sees bytes. A test can make
    it cut every connection the moment the server sends something (so a request arrives and
    its reply is lost), swallow what the server sends, or refuse connections.

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
#include <unistd.h>
#include <vector>

namespace test {

class TcpProxy {
public:
    enum class Mode {
        kPass,       //  copy both ways
        kCutReplies, //  the next bytes from the server close both ends instead (once: then
                     //  the proxy passes again)
        kSwallow,    //  drop what the server sends, keep the connection
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
    //  How many connections were cut (kCutReplies).
    int cuts() const { return cuts_; }

private:
    struct Pair {
        int client;
        int server;
    };

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
    static bool copy(int from, int to, bool drop) {
        char buffer[65536];
        ssize_t got = read(from, buffer, sizeof buffer);
        if (got <= 0) return false;
        if (drop) return true;
        for (ssize_t done = 0; done < got;) {
            ssize_t wrote = write(to, buffer + done, (size_t)(got - done));
            if (wrote <= 0) return false;
            done += wrote;
        }
        return true;
    }

    void run() {
        while (!stop_) {
            std::vector<struct pollfd> items;
            items.push_back({listener_, POLLIN, 0});
            for (const Pair& pair : pairs_) {
                items.push_back({pair.client, POLLIN, 0});
                items.push_back({pair.server, POLLIN, 0});
            }
            if (poll(items.data(), items.size(), 50) <= 0) continue;
            size_t polled = pairs_.size(); //  a pair accepted now has no poll result yet
            if (items[0].revents & POLLIN) {
                int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                int server = client >= 0 ? connect_target() : -1;
                if (client >= 0 && server >= 0)
                    pairs_.push_back({client, server});
                else if (client >= 0)
                    close(client);
            }
            std::vector<Pair> alive;
            for (size_t i = 0; i < pairs_.size(); i++) {
                const Pair& pair = pairs_[i];
                bool ok = true;
                if (i >= polled) {
                    alive.push_back(pair);
                    continue;
                }
                if (items[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))
                    ok = copy(pair.client, pair.server, false);
                if (ok && (items[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    if (mode_ == Mode::kCutReplies) {
                        ok = false;
                        cuts_++;
                        mode_ = Mode::kPass;
                    } else {
                        ok = copy(pair.server, pair.client, mode_ == Mode::kSwallow);
                    }
                }
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
    std::vector<Pair> pairs_;
    std::thread thread_;
};

} // namespace test

#endif
