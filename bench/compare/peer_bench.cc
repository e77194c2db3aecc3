/*  =========================================================================
    peer_bench.cc - zgm-bench-peers: zgm-bench's workloads through the systems users
    would pick instead, and the limits of this machine

    Usage: zgm-bench-peers [--json] [--only SETS] [--quick] [--base DIR]

    Starts mosquitto, nats-server (-js) and redis-server (AOF on) each on a free loopback
    port, in a temporary directory, and stops them by PID at the end (also on failure or
    interruption). Through their C clients (libmosquitto, cnats, hiredis), with 100-byte
    bodies:

      rss       idle RSS of each server, 1 s after it started
      durable   NATS JetStream file store, async publish; Redis XADD pipelined with
                appendfsync always (and, as send_nofsync, everysec); 1 and 8 senders
      fanout    1 publisher to 1 and 10 subscribers: MQTT QoS 0 with TCP_NODELAY, NATS core,
                Redis pub/sub; deliveries/s counted at the subscribers
      latency   5,000 msgs/s to 10 subscribers; p50, p99, p99.9 from publish to receipt
      fetch     since a time over 200,000 stored: JetStream ordered consumer by start time,
                Redis XRANGE in pages of 1000
      tls       durable (appendfsync always), fanout to 10 and latency again, against a
                second set of the three servers started with TLS (their own TLS options),
                each right after its plain row so both see the same load; certificates from
                a throwaway CA that openssl makes in the run's directory; every client
                verifies the server's certificate and is first shown to refuse an unrelated
                CA. The systems are suffixed "-tls" (nats-js-tls, redis-always-tls,
                nats-tls, ...). Redis' client is OpenSSL around hiredis's reader
                (redis_link.h).
      limits    raw libzmq PUSH/PULL over tcp; the latency workload through a bare libzmq
                relay (no store, nothing of zgm's); fdatasync of 4 KiB appends at
                1,000/s; SQLite batched inserts (WAL, synchronous FULL)

    Output as zgm-bench's: a table, or with --json one JSON object per figure.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "../benchutil.h"
#include "redis_link.h"
#include "tls.h"

#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <nats/nats.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <zmq.h>

#include <functional>
#include <memory>
#include <poll.h>
#include <pwd.h>
#include <thread>

using namespace bench;

namespace {

//  ---------------------------------------------------------------------------------------
//  Options and output

struct Options {
    std::string base;
};

Options g_options;

//  The TLS workloads run with the same code as the plain ones, against servers started with
//  TLS: while g_tls is set, every client connects with TLS, verifying the server's
//  certificate against g_pki's CA, and every figure's system is suffixed "-tls".
bool g_tls = false;
Pki g_pki;
SSL_CTX* g_redis_tls = nullptr; //  the Redis TLS links' client context

std::string system_name(const char* name) {
    return g_tls ? std::string(name) + "-tls" : std::string(name);
}

//  What each TLS figure says about its transport: the certificates, and the TLS version and
//  cipher negotiated where the client tells (libmosquitto and our Redis link do, cnats not).
//  Redis' TLS client says how it does TLS, as Debian's hiredis cannot.
void add_transport(Params& params, const std::string& negotiated, bool redis = false) {
    if (!g_tls) return;
    params.add("tls", g_pki.description);
    params.add("tls_negotiated", negotiated.empty() ? "not reported by the client" : negotiated);
    if (redis)
        params.add("tls_client",
                   std::string("OpenSSL (") + OpenSSL_version(OPENSSL_VERSION) +
                       ") SSL_write/SSL_read on a socket of its own around hiredis 0.14's "
                       "redisFormatCommand and redisReader, as Debian's hiredis 0.14 has no "
                       "TLS; no stunnel");
}

//  ---------------------------------------------------------------------------------------
//  The servers

struct Server {
    const char* name = "";
    pid_t pid = 0;
    int port = 0;
    std::string dir;
};

Server g_mosquitto, g_nats, g_redis;

std::string program(const char* name) {
    for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/usr/local/sbin/", "/usr/local/bin/"}) {
        std::string path = std::string(dir) + name;
        if (access(path.c_str(), X_OK) == 0) return path;
    }
    return name; //  execvp looks in PATH
}

bool start(Server* server, const char* name, std::vector<std::string> (*args)(const Server&)) {
    server->name = name;
    server->dir = g_options.base + "/" + name;
    mkdir(server->dir.c_str(), 0755);
    for (int attempt = 0; attempt < 3; attempt++) {
        server->port = free_port();
        server->pid = spawn(args(*server), server->dir + "/server.log");
        if (server->pid > 0 && wait_port(server->port, 10000, server->pid)) return true;
        stop_child(server->pid);
        server->pid = 0;
    }
    fail("%s did not start; see %s/server.log", name, server->dir.c_str());
    return false;
}

std::string version_of(const char* command) {
    std::string text;
    FILE* pipe = popen(command, "r");
    if (!pipe) return text;
    char line[256];
    if (fgets(line, sizeof line, pipe)) text = line;
    pclose(pipe);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

//  The name of the user this program runs as, for mosquitto's `user`: started by root,
//  mosquitto would otherwise change to the user "mosquitto" before it reads its
//  certificate, which cannot read this run's private directory. (Run by anyone else,
//  `user` has no effect.)
std::string user_name() {
    struct passwd* entry = getpwuid(geteuid());
    return entry ? entry->pw_name : "root";
}

//  With TLS (mosquitto.conf(5), "Certificate based SSL/TLS Support"): the listener's
//  certfile and keyfile; no cafile or require_certificate, as clients bring no certificate.
std::vector<std::string> mosquitto_args(const Server& server) {
    std::string config = server.dir + "/mosquitto.conf";
    FILE* file = fopen(config.c_str(), "w");
    if (file) {
        fprintf(
            file,
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nuser %s\n",
            server.port, user_name().c_str());
        if (g_tls)
            fprintf(file, "certfile %s\nkeyfile %s\n", g_pki.server_cert.c_str(),
                    g_pki.server_key.c_str());
        fclose(file);
    }
    return {program("mosquitto"), "-c", config};
}

//  With TLS (nats-server's "Enabling TLS": --tls --tlscert --tlskey): TLS required of every
//  client, no client certificates.
std::vector<std::string> nats_args(const Server& server) {
    std::vector<std::string> args = {
        program("nats-server"),      "-a",  "127.0.0.1", "-p",
        std::to_string(server.port), "-js", "-sd",       server.dir + "/jetstream"};
    if (g_tls)
        args.insert(args.end(),
                    {"--tls", "--tlscert", g_pki.server_cert, "--tlskey", g_pki.server_key});
    return args;
}

//  With TLS (Redis' "TLS" page): port 0 (no plain port), tls-port, the certificate, key and
//  CA files, and tls-auth-clients no (Redis' default asks clients for certificates).
std::vector<std::string> redis_args(const Server& server) {
    std::vector<std::string> args = {program("redis-server"),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--dir",
                                     server.dir,
                                     "--daemonize",
                                     "no"};
    if (g_tls)
        args.insert(args.end(),
                    {"--port", "0", "--tls-port", std::to_string(server.port), "--tls-cert-file",
                     g_pki.server_cert, "--tls-key-file", g_pki.server_key, "--tls-ca-cert-file",
                     g_pki.ca_cert, "--tls-auth-clients", "no"});
    else
        args.insert(args.end(), {"--port", std::to_string(server.port)});
    return args;
}

//  ---------------------------------------------------------------------------------------
//  Subscribers and publishers behind one interface, for fan-out and latency.

//  What one subscriber saw; written by its own thread only.
struct Tally {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> last_ns{0};
    bool latency = false;
    std::vector<uint64_t> latencies;

    void on_message(const void* data, size_t size) {
        uint64_t now = mono_ns();
        if (latency) latencies.push_back(now - body_stamp(data, size));
        count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        last_ns.store(now, std::memory_order_relaxed);
    }
};

class Subscriber {
public:
    virtual ~Subscriber() = default;
    //  Stops receiving: after it, tally is no longer written.
    virtual void stop() = 0;
    Tally tally;
};

//  A subscriber read by a thread of its own: run() loops until stopping() says so. A derived
//  class calls start() at the end of its constructor and stop() first in its destructor.
class ThreadedSubscriber : public Subscriber {
public:
    void stop() override {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

protected:
    void start() {
        thread_ = std::thread([this] { run(); });
    }
    bool stopping() const { return stop_; }
    virtual void run() = 0;

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

class Publisher {
public:
    virtual ~Publisher() = default;
    virtual bool publish(const char* body, size_t size) = 0;
    //  Pushes out what is buffered.
    virtual void flush() = 0;
    //  The TLS version and cipher its connection negotiated, where the client tells.
    virtual std::string protocol() const { return ""; }
};

//  A connection to g_nats; with TLS (cnats' natsOptions_SetSecure), the server's certificate
//  verified against the run's CA and for the name "localhost". send_asap: no write buffering.
natsStatus nats_connect(natsConnection** connection, bool send_asap = false) {
    natsOptions* options = nullptr;
    std::string url =
        std::string(g_tls ? "tls" : "nats") + "://127.0.0.1:" + std::to_string(g_nats.port);
    natsStatus status = natsOptions_Create(&options);
    if (status == NATS_OK) status = natsOptions_SetURL(options, url.c_str());
    if (status == NATS_OK) status = natsOptions_SetSendAsap(options, send_asap);
    if (status == NATS_OK && g_tls) status = natsOptions_SetSecure(options, true);
    if (status == NATS_OK && g_tls)
        status = natsOptions_LoadCATrustedCertificates(options, g_pki.ca_cert.c_str());
    if (status == NATS_OK && g_tls) status = natsOptions_SetExpectedHostname(options, "localhost");
    if (status == NATS_OK) status = natsConnection_Connect(connection, options);
    if (status != NATS_OK)
        note("nats: %s (%s)", natsStatus_GetText(status), nats_GetLastError(nullptr));
    natsOptions_Destroy(options);
    return status;
}

//  NATS core: a connection per subscriber, read by its own thread.
class NatsSubscriber : public ThreadedSubscriber {
public:
    NatsSubscriber(const std::string& subject, bool* ok) {
        *ok =
            nats_connect(&connection_) == NATS_OK &&
            natsConnection_SubscribeSync(&subscription_, connection_, subject.c_str()) == NATS_OK &&
            natsSubscription_SetPendingLimits(subscription_, 1000000, 1000000000) == NATS_OK &&
            natsConnection_Flush(connection_) == NATS_OK;
        if (*ok) start();
    }
    ~NatsSubscriber() override {
        stop();
        natsSubscription_Destroy(subscription_);
        natsConnection_Destroy(connection_);
    }

private:
    void run() override {
        while (!stopping()) {
            natsMsg* msg = nullptr;
            if (natsSubscription_NextMsg(&msg, subscription_, 100) != NATS_OK) continue;
            tally.on_message(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
            natsMsg_Destroy(msg);
        }
    }
    natsConnection* connection_ = nullptr;
    natsSubscription* subscription_ = nullptr;
};

class NatsPublisher : public Publisher {
public:
    NatsPublisher(const std::string& subject, bool send_asap, bool* ok) : subject_(subject) {
        *ok = nats_connect(&connection_, send_asap) == NATS_OK;
    }
    ~NatsPublisher() override { natsConnection_Destroy(connection_); }
    bool publish(const char* body, size_t size) override {
        return natsConnection_Publish(connection_, subject_.c_str(), body, (int)size) == NATS_OK;
    }
    void flush() override { natsConnection_FlushTimeout(connection_, 10000); }

private:
    std::string subject_;
    natsConnection* connection_ = nullptr;
};

//  Redis: a RedisLink (redis_link.h): hiredis's redisContext, or with TLS OpenSSL around
//  hiredis's formatter and reply parser; replies read with poll and a timeout.
std::unique_ptr<RedisLink> redis_connect() {
    std::string error;
    std::unique_ptr<RedisLink> link =
        RedisLink::connect(g_redis.port, g_tls ? g_redis_tls : nullptr, &error);
    if (!link) fail("redis: %s", error.c_str());
    return link;
}

class RedisSubscriber : public ThreadedSubscriber {
public:
    RedisSubscriber(const std::string& channel, bool* ok) {
        link_ = redis_connect();
        redisReply* reply = link_ ? link_->command("SUBSCRIBE %s", channel.c_str()) : nullptr;
        *ok = reply && reply->type == REDIS_REPLY_ARRAY;
        if (reply) freeReplyObject(reply);
        if (*ok) start();
    }
    ~RedisSubscriber() override { stop(); }

private:
    void run() override {
        while (!stopping()) {
            bool alive = link_->read(100, [this](redisReply* reply) {
                if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
                    reply->element[2]->type == REDIS_REPLY_STRING)
                    tally.on_message(reply->element[2]->str, reply->element[2]->len);
            });
            if (!alive) {
                fprintf(stderr, "  redis subscriber: connection closed (%s)\n",
                        link_->error().c_str());
                break;
            }
        }
    }
    std::unique_ptr<RedisLink> link_;
};

class RedisPublisher : public Publisher {
public:
    RedisPublisher(const std::string& channel, size_t batch, bool* ok)
        : channel_(channel), batch_(batch) {
        link_ = redis_connect();
        *ok = link_ != nullptr;
    }
    bool publish(const char* body, size_t size) override {
        link_->append("PUBLISH %s %b", channel_.c_str(), body, size);
        pending_++;
        if (++unwritten_ < batch_) return true;
        unwritten_ = 0;
        if (!link_->write_all()) return false;
        //  Keep at most a few batches unanswered.
        bool ok = link_->read(0, [this](redisReply*) { answered_++; });
        while (ok && pending_ - answered_ > 4 * batch_)
            ok = link_->read(100, [this](redisReply*) { answered_++; });
        return ok;
    }
    std::string protocol() const override { return link_->protocol(); }
    void flush() override {
        link_->write_all();
        unwritten_ = 0;
        uint64_t deadline = mono_ns() + 10000000000ull;
        while (answered_ < pending_ && mono_ns() < deadline)
            if (!link_->read(100, [this](redisReply*) { answered_++; })) break;
        pending_ = answered_ = 0;
    }

private:
    std::string channel_;
    size_t batch_;
    std::unique_ptr<RedisLink> link_;
    uint64_t pending_ = 0, answered_ = 0; //  PUBLISHes sent in all, and answered
    size_t unwritten_ = 0;                //  appended since the last write
};

//  Mosquitto: libmosquitto with its own network thread per client, QoS 0, TCP_NODELAY; with
//  TLS (mosquitto_tls_set with the run's CA: the server's certificate and host name checked,
//  libmosquitto's defaults otherwise).
struct MosquittoClient {
    struct mosquitto* mosq = nullptr;
    std::atomic<int> connected{0};
    std::atomic<int> subscribed{0};
    Tally* tally = nullptr;
    std::string protocol; //  TLS version and cipher, once connected

    bool open(const char* id, Tally* counts, const char* ca_file = nullptr) {
        tally = counts;
        mosq = mosquitto_new(id, true, this);
        if (!mosq) return false;
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
        if (!ca_file && g_tls) ca_file = g_pki.ca_cert.c_str();
        if (ca_file && mosquitto_tls_set(mosq, ca_file, nullptr, nullptr, nullptr, nullptr) !=
                           MOSQ_ERR_SUCCESS)
            return false;
        mosquitto_connect_callback_set(mosq, [](struct mosquitto*, void* self, int rc) {
            ((MosquittoClient*)self)->connected = rc == 0 ? 1 : -1;
        });
        //  A refused TLS handshake ends here, without a CONNACK.
        mosquitto_disconnect_callback_set(mosq, [](struct mosquitto*, void* self, int) {
            int before = 0;
            ((MosquittoClient*)self)->connected.compare_exchange_strong(before, -1);
        });
        mosquitto_subscribe_callback_set(mosq,
                                         [](struct mosquitto*, void* self, int, int, const int*) {
                                             ((MosquittoClient*)self)->subscribed = 1;
                                         });
        mosquitto_message_callback_set(
            mosq, [](struct mosquitto*, void* self, const struct mosquitto_message* message) {
                MosquittoClient* client = (MosquittoClient*)self;
                if (client->tally) client->tally->on_message(message->payload, message->payloadlen);
            });
        if (mosquitto_connect(mosq, "127.0.0.1", g_mosquitto.port, 60) != MOSQ_ERR_SUCCESS)
            return false;
        if (mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS) return false;
        if (!wait_for(connected)) return false;
        SSL* ssl = (SSL*)mosquitto_ssl_get(mosq);
        if (ssl) protocol = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
        return true;
    }
    static bool wait_for(std::atomic<int>& flag) {
        for (int i = 0; i < 500 && flag == 0; i++)
            sleep_ms(10);
        return flag == 1;
    }
    void close() {
        if (!mosq) return;
        mosquitto_disconnect(mosq);
        mosquitto_loop_stop(mosq, false);
        mosquitto_destroy(mosq);
        mosq = nullptr;
    }
};

class MosquittoSubscriber : public Subscriber {
public:
    MosquittoSubscriber(const std::string& topic, int index, bool* ok) {
        std::string id = "sub-" + topic + "-" + std::to_string(index);
        *ok = client_.open(id.c_str(), &tally) &&
              mosquitto_subscribe(client_.mosq, nullptr, topic.c_str(), 0) == MOSQ_ERR_SUCCESS &&
              MosquittoClient::wait_for(client_.subscribed);
    }
    ~MosquittoSubscriber() override { client_.close(); }
    void stop() override { client_.close(); }

private:
    MosquittoClient client_;
};

class MosquittoPublisher : public Publisher {
public:
    MosquittoPublisher(const std::string& topic, bool* ok) : topic_(topic) {
        *ok = client_.open(("pub-" + topic).c_str(), nullptr);
    }
    ~MosquittoPublisher() override { client_.close(); }
    bool publish(const char* body, size_t size) override {
        return mosquitto_publish(client_.mosq, nullptr, topic_.c_str(), (int)size, body, 0,
                                 false) == MOSQ_ERR_SUCCESS;
    }
    void flush() override {}
    std::string protocol() const override { return client_.protocol; }

private:
    std::string topic_;
    MosquittoClient client_;
};

enum class Kind { kNats, kRedis, kMosquitto };
const char* kind_name(Kind kind) {
    return kind == Kind::kNats ? "nats" : kind == Kind::kRedis ? "redis" : "mosquitto";
}

bool make_pubsub(Kind kind, const std::string& topic, size_t subscribers, bool latency,
                 std::vector<std::unique_ptr<Subscriber>>* subs, std::unique_ptr<Publisher>* pub) {
    bool ok = true;
    for (size_t i = 0; i < subscribers && ok; i++) {
        Subscriber* sub = kind == Kind::kNats    ? (Subscriber*)new NatsSubscriber(topic, &ok)
                          : kind == Kind::kRedis ? (Subscriber*)new RedisSubscriber(topic, &ok)
                                                 : new MosquittoSubscriber(topic, (int)i, &ok);
        sub->tally.latency = latency;
        subs->emplace_back(sub);
    }
    if (!ok) return false;
    Publisher* publisher = kind == Kind::kNats ? (Publisher*)new NatsPublisher(topic, latency, &ok)
                           : kind == Kind::kRedis
                               ? (Publisher*)new RedisPublisher(topic, latency ? 1 : 500, &ok)
                               : new MosquittoPublisher(topic, &ok);
    pub->reset(publisher);
    return ok;
}

//  Waits until the subscribers got `expected` in all, or nothing arrived for quiet_ms.
uint64_t wait_deliveries(std::vector<std::unique_ptr<Subscriber>>& subs, uint64_t expected,
                         int quiet_ms, double max_s) {
    uint64_t deadline = mono_ns() + (uint64_t)(max_s * 1e9);
    uint64_t total = 0, last_total = 0, last_change = mono_ns();
    while (mono_ns() < deadline) {
        total = 0;
        for (auto& sub : subs)
            total += sub->tally.count.load();
        if (total >= expected) break;
        if (total != last_total) {
            last_total = total;
            last_change = mono_ns();
        } else if (mono_ns() - last_change > (uint64_t)quiet_ms * 1000000u) {
            break;
        }
        sleep_ms(5);
    }
    return total;
}

void bench_fanout(Kind kind, size_t subscribers, uint64_t count) {
    std::string workload = "fanout_" + std::to_string(subscribers);
    std::string topic = workload + kind_name(kind);
    std::vector<std::unique_ptr<Subscriber>> subs;
    std::unique_ptr<Publisher> pub;
    if (!make_pubsub(kind, topic, subscribers, false, &subs, &pub))
        return fail("%s %s: setup failed", workload.c_str(), kind_name(kind));
    char body[kBodySize];
    memset(body, 'x', sizeof body);
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(scaled_s(5) * 1e9);
    uint64_t published = 0;
    while (published < count && mono_ns() < stop) {
        if (!pub->publish(body, sizeof body)) break;
        published++;
    }
    pub->flush();
    double publish_s = (double)(mono_ns() - start) / 1e9;
    uint64_t delivered = wait_deliveries(subs, published * subscribers, 2000, scaled_s(20));
    uint64_t last = start;
    for (auto& sub : subs)
        last = std::max(last, sub->tally.last_ns.load());
    double seconds = (double)(last - start) / 1e9;
    Params params;
    params.add("subscribers", (int)subscribers)
        .add("published", published)
        .add("deliveries", delivered)
        .add("delivered_fraction", published ? (double)delivered / (published * subscribers) : 0.0)
        .add("publish_rate", published / publish_s)
        .add("seconds", seconds)
        .add("stores", false)
        .add("client", kind == Kind::kNats    ? "cnats core"
                       : kind == Kind::kRedis ? "hiredis PUBLISH pipelined"
                                              : "libmosquitto QoS 0, TCP_NODELAY");
    add_transport(params, pub->protocol(), kind == Kind::kRedis);
    record(workload, system_name(kind_name(kind)).c_str(), seconds > 0 ? delivered / seconds : 0,
           "deliveries/s", params);
}

//  The latency workload through a publisher and its subscribers (whose tallies keep
//  latencies): 5,000 messages a second on an absolute schedule, each body stamped with the
//  clock just before its publish; p50, p99 and p99.9 over every delivery, recorded as
//  `prefix` + "p50" and so on. `params` says what the system is.
void measure_latency(const std::string& prefix, const std::string& system,
                     std::vector<std::unique_ptr<Subscriber>>& subs, std::unique_ptr<Publisher> pub,
                     const std::function<void(Params&, const std::string& protocol)>& params_of) {
    const uint64_t kRate = 5000;
    uint64_t count = scaled(15000);
    char body[kBodySize];
    memset(body, 'x', sizeof body);
    uint64_t period = 1000000000ull / kRate;
    uint64_t start = mono_ns() + 10000000ull;
    uint64_t published = 0;
    for (uint64_t i = 0; i < count; i++) {
        sleep_until_ns(start + i * period);
        stamp_body(body, mono_ns());
        if (!pub->publish(body, sizeof body)) break;
        published++;
    }
    pub->flush();
    uint64_t delivered = wait_deliveries(subs, published * subs.size(), 2000, scaled_s(20));
    std::string protocol = pub->protocol();
    pub.reset();
    //  The subscribers' threads end before their latencies are read.
    std::vector<std::vector<uint64_t>> parts;
    for (auto& sub : subs) {
        sub->stop();
        parts.push_back(std::move(sub->tally.latencies));
    }
    size_t subscribers = subs.size();
    subs.clear();
    std::vector<uint64_t> latencies;
    for (auto& part : parts)
        latencies.insert(latencies.end(), part.begin(), part.end());
    std::sort(latencies.begin(), latencies.end());
    struct {
        const char* suffix;
        double quantile;
    } points[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}};
    for (auto& point : points) {
        Params params;
        params.add("rate", (int)kRate)
            .add("subscribers", (int)subscribers)
            .add("published", published)
            .add("deliveries", delivered)
            .add("delivered_fraction",
                 published ? (double)delivered / (published * subscribers) : 0.0)
            .add("max_us", latencies.empty() ? 0.0 : latencies.back() / 1000.0);
        params_of(params, protocol);
        record(prefix + point.suffix, system.c_str(),
               (double)percentile(latencies, point.quantile) / 1000.0, "us", params);
    }
}

void bench_latency(Kind kind) {
    std::string topic = std::string("latency") + kind_name(kind);
    std::vector<std::unique_ptr<Subscriber>> subs;
    std::unique_ptr<Publisher> pub;
    if (!make_pubsub(kind, topic, 10, true, &subs, &pub))
        return fail("latency %s: setup failed", kind_name(kind));
    measure_latency("latency_", system_name(kind_name(kind)), subs, std::move(pub),
                    [kind](Params& params, const std::string& protocol) {
                        add_transport(params, protocol, kind == Kind::kRedis);
                    });
}

//  ---------------------------------------------------------------------------------------
//  Durable sends

//  NATS JetStream: a file-store stream, js_PublishAsync with a window of pending acks.
struct JetStream {
    natsConnection* connection = nullptr;
    jsCtx* js = nullptr;
    std::atomic<uint64_t> errors{0};

    bool open(int64_t max_pending) {
        if (nats_connect(&connection) != NATS_OK) return false;
        jsOptions options;
        jsOptions_Init(&options);
        options.PublishAsync.MaxPending = max_pending;
        options.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr*, void* self) {
            ((JetStream*)self)->errors++;
        };
        options.PublishAsync.ErrHandlerClosure = this;
        options.Wait = 30000;
        return natsConnection_JetStream(&js, connection, &options) == NATS_OK;
    }
    bool add_stream(const char* name, const char* subject) {
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = name;
        config.Subjects = &subject;
        config.SubjectsLen = 1;
        config.Storage = js_FileStorage;
        jsStreamInfo* info = nullptr;
        jsErrCode code = (jsErrCode)0;
        natsStatus status = js_AddStream(&info, js, &config, nullptr, &code);
        jsStreamInfo_Destroy(info);
        if (status != NATS_OK)
            fail("js_AddStream %s: %s (%d)", name, natsStatus_GetText(status), code);
        return status == NATS_OK;
    }
    void close() {
        jsCtx_Destroy(js);
        natsConnection_Destroy(connection);
        js = nullptr;
        connection = nullptr;
    }
};

struct SendResult {
    uint64_t acked = 0;
    uint64_t failed = 0;
    double seconds = 0;
    std::string protocol; //  what the first connection negotiated, where the client tells
};

//  `senders` threads publish asynchronously into one stream, `count` in all or max_s.
SendResult jetstream_send(const char* stream, const char* subject, int senders, uint64_t count,
                          double max_s, int64_t window) {
    SendResult result;
    JetStream admin;
    if (!admin.open(window) || !admin.add_stream(stream, subject)) {
        admin.close();
        result.failed = count;
        return result;
    }
    std::vector<std::unique_ptr<JetStream>> clients;
    for (int i = 0; i < senders; i++) {
        clients.emplace_back(new JetStream());
        if (!clients.back()->open(window)) fail("jetstream: cannot connect");
    }
    std::atomic<uint64_t> budget{count};
    std::vector<uint64_t> published(senders, 0);
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(max_s * 1e9);
    std::vector<std::thread> threads;
    for (int i = 0; i < senders; i++)
        threads.emplace_back([&, i] {
            char body[kBodySize];
            memset(body, 'x', sizeof body);
            JetStream& client = *clients[i];
            while (mono_ns() < stop) {
                uint64_t left = budget.load();
                if (left == 0) break;
                if (!budget.compare_exchange_weak(left, left - 1)) continue;
                if (js_PublishAsync(client.js, subject, body, (int)sizeof body, nullptr) != NATS_OK)
                    client.errors++;
                published[i]++;
            }
            jsPubOptions options;
            jsPubOptions_Init(&options);
            options.MaxWait = 30000;
            if (js_PublishAsyncComplete(client.js, &options) != NATS_OK)
                fail("jetstream: acks missing after 30 s");
        });
    for (std::thread& thread : threads)
        thread.join();
    result.seconds = (double)(mono_ns() - start) / 1e9;
    for (int i = 0; i < senders; i++) {
        result.failed += clients[i]->errors;
        result.acked += published[i] - std::min(published[i], (uint64_t)clients[i]->errors);
        clients[i]->close();
    }
    admin.close();
    return result;
}

//  Redis: XADD pipelined, a window of unanswered commands per connection.
SendResult redis_xadd(const char* key, int senders, uint64_t count, double max_s, uint64_t window,
                      std::string* first_id) {
    SendResult result;
    std::atomic<uint64_t> budget{count};
    std::atomic<uint64_t> acked{0}, failed{0};
    std::string protocol;
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(max_s * 1e9);
    std::vector<std::thread> threads;
    for (int i = 0; i < senders; i++)
        threads.emplace_back([&, i] {
            std::unique_ptr<RedisLink> link = redis_connect();
            if (!link) {
                failed++;
                return;
            }
            if (i == 0) protocol = link->protocol();
            char body[kBodySize];
            memset(body, 'x', sizeof body);
            uint64_t sent = 0, answered = 0;
            auto on_reply = [&](redisReply* reply) {
                answered++;
                if (reply->type == REDIS_REPLY_STRING) {
                    acked++;
                    if (i == 0 && answered == 1 && first_id)
                        first_id->assign(reply->str, reply->len);
                } else {
                    if (failed++ == 0)
                        fail("XADD: %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
                }
            };
            bool alive = true;
            while (alive) {
                bool sending = mono_ns() < stop;
                while (sending && sent - answered < window) {
                    uint64_t left = budget.load();
                    if (left == 0) {
                        sending = false;
                        break;
                    }
                    if (!budget.compare_exchange_weak(left, left - 1)) continue;
                    link->append("XADD %s * b %b", key, body, sizeof body);
                    sent++;
                }
                if (!sending && answered == sent) break;
                alive = link->write_all() && link->read(100, on_reply);
            }
            if (!alive) fail("XADD: %s", link->error().c_str());
        });
    for (std::thread& thread : threads)
        thread.join();
    result.seconds = (double)(mono_ns() - start) / 1e9;
    result.acked = acked;
    result.failed = failed;
    result.protocol = protocol;
    return result;
}

bool redis_config(const char* name, const char* value) {
    std::unique_ptr<RedisLink> link = redis_connect();
    if (!link) return false;
    redisReply* reply = link->command("CONFIG SET %s %s", name, value);
    bool ok = reply && reply->type == REDIS_REPLY_STATUS;
    if (reply) freeReplyObject(reply);
    return ok;
}

//  400,000 messages or 5 s; windows of 1000 unanswered per sender, 250 with 8 senders.
uint64_t durable_window(int senders) {
    return senders == 1 ? 1000 : 250;
}

void bench_jetstream_durable(int senders) {
    uint64_t window = durable_window(senders);
    std::string suffix = std::to_string(senders);
    std::string stream = "SEND" + suffix, subject = "send" + suffix + ".x";
    SendResult js = jetstream_send(stream.c_str(), subject.c_str(), senders, scaled(400000),
                                   scaled_s(5), (int64_t)window);
    Params params;
    params.add("senders", senders)
        .add("window", window)
        .add("acked", js.acked)
        .add("failed", js.failed)
        .add("seconds", js.seconds)
        .add("store", "JetStream file storage (nats-server default: no fsync per "
                      "message, sync every 2 min)")
        .add("client", "cnats js_PublishAsync + js_PublishAsyncComplete");
    add_transport(params, js.protocol);
    record("durable_send_" + suffix, system_name("nats-js").c_str(),
           js.seconds > 0 ? js.acked / js.seconds : 0, "msg/s", params);
}

//  fsync "always": the durable_send rows; "everysec": send_nofsync.
void bench_redis_durable(int senders, const char* fsync) {
    bool always = strcmp(fsync, "always") == 0;
    uint64_t window = durable_window(senders);
    std::string suffix = std::to_string(senders);
    if (!redis_config("appendfsync", fsync)) fail("redis: CONFIG SET appendfsync failed");
    std::string key = std::string("send") + fsync + suffix;
    SendResult redis =
        redis_xadd(key.c_str(), senders, scaled(400000), scaled_s(5), window, nullptr);
    if (!always) redis_config("appendfsync", "always");
    Params params;
    params.add("senders", senders)
        .add("window", window)
        .add("acked", redis.acked)
        .add("failed", redis.failed)
        .add("seconds", redis.seconds)
        .add("appendfsync", fsync)
        .add("client", "hiredis XADD pipelined");
    add_transport(params, redis.protocol, true);
    record(std::string(always ? "durable_send_" : "send_nofsync_") + suffix,
           system_name(always ? "redis-always" : "redis-everysec").c_str(),
           redis.seconds > 0 ? redis.acked / redis.seconds : 0, "msg/s", params);
}

//  ---------------------------------------------------------------------------------------
//  Fetch since a time

void bench_fetch() {
    uint64_t count = scaled(200000);
    //  JetStream: load a stream, then an ordered consumer from a start time.
    {
        //  Rounded down to a whole second: cnats (libnats 3.4.1) writes a start time's fraction
        //  without its leading zeros (.05 s as ".5"), which moved the start past every message
        //  loaded in about one run in six. The stream holds only this load.
        uint64_t since_ns = wall_ns() / 1000000000ull * 1000000000ull;
        SendResult loaded = jetstream_send("FETCH", "fetch.x", 1, count, 60, 4000);
        JetStream client;
        natsSubscription* subscription = nullptr;
        jsSubOptions options;
        jsSubOptions_Init(&options);
        options.Ordered = true;
        options.Config.DeliverPolicy = js_DeliverByStartTime;
        options.Config.OptStartTime = (int64_t)since_ns;
        jsErrCode code = (jsErrCode)0;
        uint64_t received = 0;
        double seconds = 0;
        if (loaded.acked != count) {
            fail("jetstream fetch: loaded %llu of %llu", (unsigned long long)loaded.acked,
                 (unsigned long long)count);
        } else if (!client.open(4000)) {
            fail("jetstream fetch: cannot connect");
        } else {
            uint64_t start = mono_ns();
            natsStatus status =
                js_SubscribeSync(&subscription, client.js, "fetch.x", nullptr, &options, &code);
            if (status != NATS_OK) {
                fail("js_SubscribeSync: %s (%d)", natsStatus_GetText(status), code);
            } else {
                natsSubscription_SetPendingLimits(subscription, 1000000, 1000000000);
                uint64_t deadline = start + 30000000000ull;
                while (received < count && mono_ns() < deadline) {
                    natsMsg* msg = nullptr;
                    if (natsSubscription_NextMsg(&msg, subscription, 1000) != NATS_OK) continue;
                    received++;
                    natsMsg_Destroy(msg);
                }
                seconds = (double)(mono_ns() - start) / 1e9;
                natsSubscription_Unsubscribe(subscription);
                natsSubscription_Destroy(subscription);
            }
            if (received != count)
                fail("jetstream fetch: %llu of %llu", (unsigned long long)received,
                     (unsigned long long)count);
            record("fetch_since", "nats-js", seconds > 0 ? received / seconds : 0, "msg/s",
                   Params()
                       .add("stored", count)
                       .add("received", received)
                       .add("seconds", seconds)
                       .add("client", "cnats js_SubscribeSync, ordered consumer, "
                                      "DeliverByStartTime"));
        }
        client.close();
    }
    //  Redis: XADD, then XRANGE from the first entry's millisecond time in pages of 1000.
    {
        std::string first_id;
        redis_config("appendfsync", "everysec");
        SendResult loaded = redis_xadd("fetch", 1, count, 60, 1000, &first_id);
        redis_config("appendfsync", "always");
        std::unique_ptr<RedisLink> link = redis_connect();
        uint64_t received = 0;
        double seconds = 0;
        if (loaded.acked != count || first_id.empty() || !link) {
            fail("redis fetch: loaded %llu of %llu", (unsigned long long)loaded.acked,
                 (unsigned long long)count);
        } else {
            std::string from = first_id.substr(0, first_id.find('-')); //  ms since the epoch
            uint64_t start = mono_ns();
            while (received < count) {
                redisReply* reply = link->command("XRANGE fetch %s + COUNT 1000", from.c_str());
                if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
                    if (reply) freeReplyObject(reply);
                    break;
                }
                received += reply->elements;
                redisReply* last = reply->element[reply->elements - 1];
                from = "(" + std::string(last->element[0]->str, last->element[0]->len);
                freeReplyObject(reply);
            }
            seconds = (double)(mono_ns() - start) / 1e9;
            if (received != count)
                fail("redis fetch: %llu of %llu", (unsigned long long)received,
                     (unsigned long long)count);
            record("fetch_since", "redis", seconds > 0 ? received / seconds : 0, "msg/s",
                   Params()
                       .add("stored", count)
                       .add("received", received)
                       .add("seconds", seconds)
                       .add("client", "hiredis XRANGE key <ms> + COUNT 1000, paged"));
        }
    }
}

//  ---------------------------------------------------------------------------------------
//  Limits of this machine

void bench_zmq_limit() {
    uint64_t count = scaled(5000000);
    void* context = zmq_ctx_new();
    void* pull = zmq_socket(context, ZMQ_PULL);
    void* push = zmq_socket(context, ZMQ_PUSH);
    char endpoint[256];
    size_t size = sizeof endpoint;
    zmq_bind(pull, "tcp://127.0.0.1:*");
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &size);
    zmq_connect(push, endpoint);
    std::atomic<uint64_t> sent{UINT64_MAX};
    uint64_t received = 0, first = 0, last = 0;
    std::thread receiver([&] {
        char buffer[kBodySize];
        int timeout = 200;
        zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        while (received < sent.load()) {
            if (zmq_recv(pull, buffer, sizeof buffer, 0) < 0) {
                if (sent.load() != UINT64_MAX) break;
                continue;
            }
            last = mono_ns();
            if (!received++) first = last;
        }
    });
    char body[kBodySize];
    memset(body, 'x', sizeof body);
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(scaled_s(3) * 1e9);
    uint64_t n = 0;
    while (n < count && (n % 1024 || mono_ns() < stop)) {
        if (zmq_send(push, body, sizeof body, 0) < 0) break;
        n++;
    }
    sent = n;
    receiver.join();
    double seconds = (double)(last - start) / 1e9;
    record("limit_zmq_pushpull", "libzmq", seconds > 0 ? received / seconds : 0, "msg/s",
           Params().add("messages", received).add("seconds", seconds).add("transport", "tcp"));
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(context);
    (void)first;
}

//  The latency workload's path with nothing of zgm's on it: a publisher's DEALER, a relay's
//  ROUTER that sends each message on to every member's DEALER, each member read by a thread
//  of its own with zmq_recv. The relay has a libzmq context (and I/O thread) of its own, as a
//  group server has in its process; the publisher and the members share one, as the user
//  objects of a process do. Nothing is stored, encoded or ordered: what is left is libzmq's
//  own hops (the sender's socket and I/O thread, the relay's I/O thread and its thread, the
//  members' I/O thread and their readers), the floor of any server built on libzmq over TCP
//  with this shape.
class ZmqRelay {
public:
    ZmqRelay() : context_(zmq_ctx_new()) {
        router_ = zmq_socket(context_, ZMQ_ROUTER);
        int timeout = 100;
        zmq_setsockopt(router_, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        char endpoint[256];
        size_t size = sizeof endpoint;
        if (zmq_bind(router_, "tcp://127.0.0.1:*") == 0 &&
            zmq_getsockopt(router_, ZMQ_LAST_ENDPOINT, endpoint, &size) == 0)
            endpoint_ = endpoint;
        thread_ = std::thread([this] { run(); });
    }
    ~ZmqRelay() {
        stop_ = true;
        thread_.join();
        int linger = 0;
        zmq_setsockopt(router_, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(router_);
        zmq_ctx_term(context_);
    }
    const std::string& endpoint() const { return endpoint_; }
    size_t members() const { return members_count_.load(); }

private:
    //  A member says "join" once connected; anything else is a message for every member.
    void run() {
        char id[256], body[kBodySize * 2];
        while (!stop_) {
            int id_size = zmq_recv(router_, id, sizeof id, 0);
            if (id_size < 0) continue;
            int size = zmq_recv(router_, body, sizeof body, 0);
            if (size < 0) continue;
            if (size == 4 && memcmp(body, "join", 4) == 0) {
                members_.emplace_back(id, (size_t)id_size);
                members_count_ = members_.size();
                continue;
            }
            for (const std::string& member : members_) {
                zmq_send(router_, member.data(), member.size(), ZMQ_SNDMORE);
                zmq_send(router_, body, (size_t)size, 0);
            }
        }
    }
    void* context_;
    void* router_ = nullptr;
    std::string endpoint_;
    std::vector<std::string> members_;
    std::atomic<size_t> members_count_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

//  A DEALER with the routing id `id` connected to `endpoint`; linger 0.
void* zmq_dealer(void* context, const std::string& endpoint, const std::string& id) {
    void* socket = zmq_socket(context, ZMQ_DEALER);
    int linger = 0, timeout = 100;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(socket, ZMQ_ROUTING_ID, id.data(), id.size());
    zmq_connect(socket, endpoint.c_str());
    return socket;
}

class ZmqMember : public ThreadedSubscriber {
public:
    ZmqMember(void* context, const std::string& endpoint, int index, bool* ok) {
        tally.latency = true;
        socket_ = zmq_dealer(context, endpoint, "member-" + std::to_string(index));
        *ok = zmq_send(socket_, "join", 4, 0) == 4;
        if (*ok) start();
    }
    ~ZmqMember() override {
        stop();
        zmq_close(socket_);
    }

private:
    void run() override {
        char body[kBodySize * 2];
        while (!stopping()) {
            int size = zmq_recv(socket_, body, sizeof body, 0);
            if (size > 0) tally.on_message(body, (size_t)size);
        }
    }
    void* socket_;
};

class ZmqPublisher : public Publisher {
public:
    ZmqPublisher(void* context, const std::string& endpoint)
        : socket_(zmq_dealer(context, endpoint, "publisher")) {}
    ~ZmqPublisher() override { zmq_close(socket_); }
    bool publish(const char* body, size_t size) override {
        return zmq_send(socket_, body, size, 0) == (int)size;
    }
    void flush() override {}

private:
    void* socket_;
};

void bench_zmq_relay_latency() {
    const int kMembers = 10;
    void* context = zmq_ctx_new();
    {
        ZmqRelay relay;
        std::vector<std::unique_ptr<Subscriber>> members;
        bool ok = !relay.endpoint().empty();
        for (int i = 0; i < kMembers && ok; i++)
            members.emplace_back(new ZmqMember(context, relay.endpoint(), i, &ok));
        //  Connected while the members join.
        std::unique_ptr<Publisher> publisher(new ZmqPublisher(context, relay.endpoint()));
        uint64_t deadline = mono_ns() + 5000000000ull;
        while (ok && relay.members() < (size_t)kMembers && mono_ns() < deadline)
            sleep_ms(5);
        if (!ok || relay.members() < (size_t)kMembers) {
            fail("limit_zmq_relay: the members did not join the relay");
        } else {
            measure_latency("limit_zmq_relay_", "libzmq", members, std::move(publisher),
                            [](Params& params, const std::string&) {
                                params.add("transport", "tcp")
                                    .add("path", "DEALER -> ROUTER relay (own context, one "
                                                 "thread) -> a DEALER per member, each read "
                                                 "by its own thread");
                            });
        }
        members.clear();
        publisher.reset();
    }
    zmq_ctx_term(context);
}

//  What a commit of the `full` store waits for at the least: an fdatasync of what it
//  appended. 4 KiB appended and synced 1,000 times a second (a group server under the
//  latency workload made about 1,100 commits a second) in the run's directory, the
//  file system zgm-bench's stores are on by default; p50, p99 and p99.9 of the fdatasync.
void bench_fsync_limit() {
    std::string path = g_options.base + "/fsync-limit";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return fail("fsync limit: cannot open %s: %s", path.c_str(), strerror(errno));
    char page[4096];
    memset(page, 'x', sizeof page);
    uint64_t count = scaled(3000);
    uint64_t period = 1000000; //  1,000 a second
    uint64_t start = mono_ns();
    std::vector<uint64_t> waits;
    for (uint64_t i = 0; i < count; i++) {
        sleep_until_ns(start + i * period);
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page) break;
        uint64_t before = mono_ns();
        if (fdatasync(fd) != 0) break;
        waits.push_back(mono_ns() - before);
    }
    close(fd);
    unlink(path.c_str());
    if (waits.size() < count) return fail("fsync limit: %s", strerror(errno));
    std::sort(waits.begin(), waits.end());
    for (auto [suffix, quantile] :
         {std::pair<const char*, double>{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}})
        record(std::string("limit_fdatasync_") + suffix, "disk",
               (double)percentile(waits, quantile) / 1000.0, "us",
               Params()
                   .add("syncs", count)
                   .add("rate", 1000)
                   .add("append_bytes", (int)sizeof page)
                   .add("dir", g_options.base));
}

//  1000-row transactions for a few seconds; `zgm_schema`: zgm's message table (schema 3:
//  keyed by group << 44 | seq, a unique index on a random 16-byte msg_id), else a plain
//  rowid table.
void bench_sqlite_limit(bool zgm_schema) {
    std::string dir = g_options.base + "/sqlite" + (zgm_schema ? "-uuid" : "");
    mkdir(dir.c_str(), 0755);
    sqlite3* db = nullptr;
    if (sqlite3_open((dir + "/limit.db").c_str(), &db) != SQLITE_OK)
        return fail("sqlite: cannot open");
    const char* schema =
        zgm_schema ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE messages (group_seq INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL,"
                     " sender BLOB NOT NULL, sender_name TEXT NOT NULL, msg_id BLOB,"
                     " body BLOB NOT NULL);"
                     "CREATE UNIQUE INDEX messages_msg_id ON messages (group_seq >> 44, msg_id)"
                     " WHERE msg_id IS NOT NULL;"
                   : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE messages (seq INTEGER PRIMARY KEY, ts_us INTEGER, body BLOB);";
    const char* insert =
        zgm_schema ? "INSERT INTO messages VALUES ((1 << 44) | ?1, ?2, ?3, 'bench', ?4, ?5)"
                   : "INSERT INTO messages VALUES (?1, ?2, ?3)";
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_exec(db, schema, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db, insert, -1, &stmt, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        return fail("sqlite: %s", sqlite3_errmsg(db));
    }
    char body[kBodySize];
    memset(body, 'x', sizeof body);
    uint8_t sender[16] = {1};
    uint64_t state = 0x9e3779b97f4a7c15ull;
    uint64_t rows = 0;
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(scaled_s(3) * 1e9);
    bool ok = true;
    while (ok && mono_ns() < stop && rows < 5000000) {
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        for (int i = 0; i < 1000; i++) {
            rows++;
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)rows);
            sqlite3_bind_int64(stmt, 2, (sqlite3_int64)wall_ns() / 1000);
            if (zgm_schema) {
                uint64_t id[2];
                for (uint64_t& half : id) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    half = state;
                }
                sqlite3_bind_blob(stmt, 3, sender, sizeof sender, SQLITE_STATIC);
                sqlite3_bind_blob(stmt, 4, id, sizeof id, SQLITE_TRANSIENT);
                sqlite3_bind_blob(stmt, 5, body, sizeof body, SQLITE_STATIC);
            } else {
                sqlite3_bind_blob(stmt, 3, body, sizeof body, SQLITE_STATIC);
            }
            ok = ok && sqlite3_step(stmt) == SQLITE_DONE;
            sqlite3_reset(stmt);
        }
        ok = ok && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    double seconds = (double)(mono_ns() - start) / 1e9;
    if (!ok) fail("sqlite: %s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    record(zgm_schema ? "limit_sqlite_insert_uuid" : "limit_sqlite_insert", "sqlite",
           rows / seconds, "rows/s",
           Params()
               .add("rows", rows)
               .add("seconds", seconds)
               .add("transaction_rows", 1000)
               .add("journal", "WAL")
               .add("synchronous", "FULL")
               .add("schema",
                    zgm_schema ? "zgm messages table, unique random msg_id index" : "rowid table")
               .add("sqlite", sqlite3_libversion()));
}

//  ---------------------------------------------------------------------------------------
//  The servers as a set

//  The set of servers not in use: with TLS while g_tls is false, and the other way round.
Server g_parked_mosquitto, g_parked_nats, g_parked_redis;

//  Switches every client, and g_mosquitto, g_nats and g_redis, to the servers with TLS or to
//  the plain ones.
void use_tls(bool tls) {
    if (tls == g_tls) return;
    std::swap(g_mosquitto, g_parked_mosquitto);
    std::swap(g_nats, g_parked_nats);
    std::swap(g_redis, g_parked_redis);
    g_tls = tls;
}

//  Starts mosquitto, nats-server and redis-server, with TLS while g_tls is set.
bool start_servers() {
    return start(&g_mosquitto, g_tls ? "mosquitto-tls" : "mosquitto", mosquitto_args) &&
           start(&g_nats, g_tls ? "nats-tls" : "nats", nats_args) &&
           start(&g_redis, g_tls ? "redis-tls" : "redis", redis_args);
}

void stop_servers() {
    for (Server* server : {&g_mosquitto, &g_nats, &g_redis}) {
        if (server->pid) stop_child(server->pid);
        server->pid = 0;
    }
}

//  ---------------------------------------------------------------------------------------
//  TLS: the same workloads against servers with TLS

//  Proves the clients verify the server: each one, made to trust only an unrelated CA, must
//  be refused by its own TLS library.
bool clients_refuse_unknown_ca() {
    bool ok = true;
    {
        natsOptions* options = nullptr;
        natsConnection* connection = nullptr;
        std::string url = "tls://127.0.0.1:" + std::to_string(g_nats.port);
        natsStatus status = natsOptions_Create(&options);
        if (status == NATS_OK) status = natsOptions_SetURL(options, url.c_str());
        if (status == NATS_OK) status = natsOptions_SetSecure(options, true);
        if (status == NATS_OK)
            status = natsOptions_LoadCATrustedCertificates(options, g_pki.other_ca_cert.c_str());
        if (status == NATS_OK) status = natsOptions_SetExpectedHostname(options, "localhost");
        if (status == NATS_OK) {
            if (natsConnection_Connect(&connection, options) == NATS_OK) {
                fail("tls: cnats accepted a server certificate from an unknown CA");
                ok = false;
            }
        } else {
            fail("tls: cnats options: %s", natsStatus_GetText(status));
            ok = false;
        }
        natsConnection_Destroy(connection);
        natsOptions_Destroy(options);
    }
    {
        SSL_CTX* other = tls_client_context(g_pki.other_ca_cert);
        std::string error;
        std::unique_ptr<RedisLink> link =
            other ? RedisLink::connect(g_redis.port, other, &error) : nullptr;
        if (!other || link) {
            fail("tls: the Redis TLS link accepted a server certificate from an unknown CA");
            ok = false;
        }
        link.reset();
        if (other) SSL_CTX_free(other);
    }
    {
        MosquittoClient client;
        if (client.open("refused", nullptr, g_pki.other_ca_cert.c_str())) {
            fail("tls: libmosquitto accepted a server certificate from an unknown CA");
            ok = false;
        }
        client.close();
    }
    nats_GetLastError(nullptr); //  cnats keeps the refusal as the thread's last error
    tls_errors();               //  and OpenSSL in its queue: both expected
    note("tls: cnats, libmosquitto and the Redis link refuse a server certificate from an "
         "unknown CA%s",
         ok ? "" : ": NOT ALL (see above)");
    return ok;
}

//  Starts the servers with TLS, certificates from a throwaway CA made for this run in the
//  run's directory (removed with it), and shows the clients refuse an unrelated CA. Leaves
//  the plain servers in use.
bool start_tls_servers() {
    if (!make_throwaway_pki(g_options.base + "/tls", &g_pki)) return false;
    g_redis_tls = tls_client_context(g_pki.ca_cert);
    if (!g_redis_tls) {
        fail("tls: cannot make a client context: %s", tls_errors().c_str());
        return false;
    }
    use_tls(true);
    bool ok = start_servers() && clients_refuse_unknown_ca();
    use_tls(false);
    return ok;
}

//  Runs a workload on the plain servers if `plain`, then on those with TLS if `tls`: back to
//  back, so that on a shared machine both see the same load.
template <typename Workload>
void plain_then_tls(bool plain, bool tls, Workload workload) {
    if (plain) workload();
    if (!tls) return;
    use_tls(true);
    workload();
    use_tls(false);
}

//  ---------------------------------------------------------------------------------------

void record_idle_rss(const Server& server, const char* version) {
    long rss = proc_status_kb(server.pid, "VmRSS");
    record("rss_idle", server.name, (double)rss, "KiB",
           Params()
               .add("rss_anon_kib", (double)proc_status_kb(server.pid, "RssAnon"))
               .add("rss_file_kib", (double)proc_status_kb(server.pid, "RssFile"))
               .add("pss_kib", (double)proc_smaps_kb(server.pid, "Pss"))
               .add("rss_kib_by_mapping", rss_by_mapping(server.pid, 12))
               .add("threads", (double)proc_status_kb(server.pid, "Threads"))
               .add("version", version)
               .add("idle_s", 1)
               .add("clients", 0));
}

void print_table() {
    printf("\nzgm-bench-peers: %zu-byte bodies, tcp 127.0.0.1\n\n", kBodySize);
    printf("| %-24s | %-15s | %16s | %-13s | %s\n", "workload", "system", "value", "unit",
           "params");
    printf("|---|---|--:|---|---\n");
    for (const Figure& figure : g_run.figures)
        printf("| %-24s | %-15s | %16s | %-13s | %s\n", figure.workload.c_str(),
               figure.system.c_str(), format_value(figure.value).c_str(), figure.unit.c_str(),
               figure.params.c_str());
}

bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "--json")
            g_run.json = true;
        else if (arg == "--quick")
            g_run.quick = true;
        else if (arg == "--only" && i + 1 < argc)
            g_run.only = argv[++i];
        else if (arg == "--base" && i + 1 < argc)
            g_options.base = argv[++i];
        else
            return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    install_cleanup();
    //  cnats 3.4's nats_Close, once it has used TLS, frees OpenSSL's compression-method stack
    //  and leaves the pointer (nats-io/nats.c issue 904): OpenSSL's own cleanup at exit would
    //  free it again and crash. Before any other OpenSSL call: no cleanup at exit.
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
    bool help = argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help || !parse(argc, argv)) {
        fprintf(stderr, "Usage: zgm-bench-peers [--json] [--only SETS] [--quick] [--base DIR]\n"
                        "SETS: comma-separated rss,durable,fanout,latency,fetch,tls,limits\n");
        return help ? 0 : 2;
    }
    g_options.base = make_temp_dir("zgm-bench-peers", g_options.base);
    if (g_options.base.empty()) {
        perror("zgm-bench-peers: mkdtemp");
        return 1;
    }
    set_cleanup_dir(g_options.base);
    fprintf(stderr, "zgm-bench-peers: servers and data in %s\n", g_options.base.c_str());
    mosquitto_lib_init();
    bool plain = selected("rss") || selected("durable") || selected("fanout") ||
                 selected("latency") || selected("fetch");
    bool tls = selected("tls");
    //  What cannot start is left out; the exit status says so.
    bool ok = true;
    if (plain && !start_servers()) ok = plain = false;
    if (tls && !start_tls_servers()) ok = tls = false;
    if (plain || tls) {
        sleep_ms(1000);
        if (plain && selected("rss")) {
            record_idle_rss(g_mosquitto, version_of("mosquitto -h 2>&1 | head -n 1").c_str());
            record_idle_rss(g_nats, version_of("nats-server --version 2>&1").c_str());
            record_idle_rss(g_redis, version_of("redis-server --version 2>&1").c_str());
        }
        //  With TLS: durable (appendfsync always), fan-out to 10 and latency, each right after
        //  its plain row.
        bool durable = plain && selected("durable");
        for (int senders : {1, 8}) {
            plain_then_tls(durable, tls, [&] { bench_jetstream_durable(senders); });
            plain_then_tls(durable, tls, [&] { bench_redis_durable(senders, "always"); });
            if (durable) bench_redis_durable(senders, "everysec");
        }
        for (Kind kind : {Kind::kNats, Kind::kRedis, Kind::kMosquitto}) {
            //  Mosquitto delivers about 100,000/s here: fewer messages keep it in time.
            bool slow = kind == Kind::kMosquitto;
            bool fanout = plain && selected("fanout");
            if (fanout) bench_fanout(kind, 1, scaled(slow ? 300000 : 1000000));
            plain_then_tls(fanout, tls,
                           [&] { bench_fanout(kind, 10, scaled(slow ? 50000 : 200000)); });
        }
        for (Kind kind : {Kind::kNats, Kind::kRedis, Kind::kMosquitto})
            plain_then_tls(plain && selected("latency"), tls, [&] { bench_latency(kind); });
        if (plain && selected("fetch")) bench_fetch();
    }
    stop_servers();
    use_tls(true);
    stop_servers();
    use_tls(false);
    if (g_redis_tls) SSL_CTX_free(g_redis_tls);
    if (selected("limits")) {
        bench_zmq_limit();
        bench_zmq_relay_latency();
        bench_fsync_limit();
        bench_sqlite_limit(false);
        bench_sqlite_limit(true);
    }
    mosquitto_lib_cleanup();
    nats_Close();
    if (!g_run.json) print_table();
    remove_tree(g_options.base);
    return ok && !g_run.failed ? 0 : 1;
}
