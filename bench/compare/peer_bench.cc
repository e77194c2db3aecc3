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
      limits    raw libzmq PUSH/PULL over tcp; SQLite batched inserts (WAL, synchronous FULL)

    Output as zgm-bench's: a table, or with --json one JSON object per figure.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "../benchutil.h"

#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <nats/nats.h>
#include <sqlite3.h>
#include <zmq.h>

#include <memory>
#include <poll.h>
#include <thread>

using namespace bench;

namespace {

//  ---------------------------------------------------------------------------------------
//  Options and output

struct Options {
    std::string base;
};

Options g_options;

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

std::vector<std::string> mosquitto_args(const Server& server) {
    std::string config = server.dir + "/mosquitto.conf";
    FILE* file = fopen(config.c_str(), "w");
    if (file) {
        fprintf(
            file,
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n",
            server.port);
        fclose(file);
    }
    return {program("mosquitto"), "-c", config};
}

std::vector<std::string> nats_args(const Server& server) {
    return {program("nats-server"),      "-a",  "127.0.0.1", "-p",
            std::to_string(server.port), "-js", "-sd",       server.dir + "/jetstream"};
}

std::vector<std::string> redis_args(const Server& server) {
    return {program("redis-server"),
            "--port",
            std::to_string(server.port),
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
};

//  NATS core: a connection per subscriber, read by its own thread.
class NatsSubscriber : public ThreadedSubscriber {
public:
    NatsSubscriber(const std::string& subject, bool* ok) {
        std::string url = "nats://127.0.0.1:" + std::to_string(g_nats.port);
        *ok =
            natsConnection_ConnectTo(&connection_, url.c_str()) == NATS_OK &&
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
        natsOptions* options = nullptr;
        std::string url = "nats://127.0.0.1:" + std::to_string(g_nats.port);
        *ok = natsOptions_Create(&options) == NATS_OK &&
              natsOptions_SetURL(options, url.c_str()) == NATS_OK &&
              natsOptions_SetSendAsap(options, send_asap) == NATS_OK &&
              natsConnection_Connect(&connection_, options) == NATS_OK;
        natsOptions_Destroy(options);
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

//  Redis: hiredis, blocking sockets, replies read with poll + redisBufferRead.
redisContext* redis_connect() {
    struct timeval timeout = {5, 0};
    redisContext* context = redisConnectWithTimeout("127.0.0.1", g_redis.port, timeout);
    if (context && context->err) {
        fail("redis: %s", context->errstr);
        redisFree(context);
        return nullptr;
    }
    return context;
}

//  Reads what the socket has within timeout_ms and hands every complete reply to on_reply.
//  Returns false on a connection error.
template <typename OnReply>
bool redis_read(redisContext* context, int timeout_ms, OnReply on_reply) {
    void* reply = nullptr;
    //  Replies already parsed first.
    while (true) {
        if (redisGetReplyFromReader(context, &reply) != REDIS_OK) return false;
        if (!reply) break;
        on_reply((redisReply*)reply);
        freeReplyObject(reply);
    }
    struct pollfd item = {context->fd, POLLIN, 0};
    if (poll(&item, 1, timeout_ms) <= 0) return true;
    if (redisBufferRead(context) != REDIS_OK) return false;
    while (true) {
        if (redisGetReplyFromReader(context, &reply) != REDIS_OK) return false;
        if (!reply) break;
        on_reply((redisReply*)reply);
        freeReplyObject(reply);
    }
    return true;
}

bool redis_write_all(redisContext* context) {
    int done = 0;
    while (!done)
        if (redisBufferWrite(context, &done) != REDIS_OK) return false;
    return true;
}

class RedisSubscriber : public ThreadedSubscriber {
public:
    RedisSubscriber(const std::string& channel, bool* ok) {
        context_ = redis_connect();
        redisReply* reply =
            context_ ? (redisReply*)redisCommand(context_, "SUBSCRIBE %s", channel.c_str())
                     : nullptr;
        *ok = reply && reply->type == REDIS_REPLY_ARRAY;
        if (reply) freeReplyObject(reply);
        if (*ok) start();
    }
    ~RedisSubscriber() override {
        stop();
        if (context_) redisFree(context_);
    }

private:
    void run() override {
        while (!stopping()) {
            bool alive = redis_read(context_, 100, [this](redisReply* reply) {
                if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
                    reply->element[2]->type == REDIS_REPLY_STRING)
                    tally.on_message(reply->element[2]->str, reply->element[2]->len);
            });
            if (!alive) {
                fprintf(stderr, "  redis subscriber: connection closed (%s)\n", context_->errstr);
                break;
            }
        }
    }
    redisContext* context_ = nullptr;
};

class RedisPublisher : public Publisher {
public:
    RedisPublisher(const std::string& channel, size_t batch, bool* ok)
        : channel_(channel), batch_(batch) {
        context_ = redis_connect();
        *ok = context_ != nullptr;
    }
    ~RedisPublisher() override {
        if (context_) redisFree(context_);
    }
    bool publish(const char* body, size_t size) override {
        redisAppendCommand(context_, "PUBLISH %s %b", channel_.c_str(), body, size);
        pending_++;
        if (++unwritten_ < batch_) return true;
        unwritten_ = 0;
        if (!redis_write_all(context_)) return false;
        //  Keep at most a few batches unanswered.
        bool ok = redis_read(context_, 0, [this](redisReply*) { answered_++; });
        while (ok && pending_ - answered_ > 4 * batch_)
            ok = redis_read(context_, 100, [this](redisReply*) { answered_++; });
        return ok;
    }
    void flush() override {
        redis_write_all(context_);
        unwritten_ = 0;
        uint64_t deadline = mono_ns() + 10000000000ull;
        while (answered_ < pending_ && mono_ns() < deadline)
            if (!redis_read(context_, 100, [this](redisReply*) { answered_++; })) break;
        pending_ = answered_ = 0;
    }

private:
    std::string channel_;
    size_t batch_;
    redisContext* context_ = nullptr;
    uint64_t pending_ = 0, answered_ = 0; //  PUBLISHes sent in all, and answered
    size_t unwritten_ = 0;                //  appended since the last write
};

//  Mosquitto: libmosquitto with its own network thread per client, QoS 0, TCP_NODELAY.
struct MosquittoClient {
    struct mosquitto* mosq = nullptr;
    std::atomic<int> connected{0};
    std::atomic<int> subscribed{0};
    Tally* tally = nullptr;

    bool open(const char* id, Tally* counts) {
        tally = counts;
        mosq = mosquitto_new(id, true, this);
        if (!mosq) return false;
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_connect_callback_set(mosq, [](struct mosquitto*, void* self, int rc) {
            ((MosquittoClient*)self)->connected = rc == 0 ? 1 : -1;
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
        return wait_for(connected);
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
    record(workload, kind_name(kind), seconds > 0 ? delivered / seconds : 0, "deliveries/s",
           Params()
               .add("subscribers", (int)subscribers)
               .add("published", published)
               .add("deliveries", delivered)
               .add("delivered_fraction",
                    published ? (double)delivered / (published * subscribers) : 0.0)
               .add("publish_rate", published / publish_s)
               .add("seconds", seconds)
               .add("stores", false)
               .add("client", kind == Kind::kNats    ? "cnats core"
                              : kind == Kind::kRedis ? "hiredis PUBLISH pipelined"
                                                     : "libmosquitto QoS 0, TCP_NODELAY"));
}

void bench_latency(Kind kind) {
    const size_t kSubscribers = 10;
    const uint64_t kRate = 5000;
    uint64_t count = scaled(15000);
    std::string topic = std::string("latency") + kind_name(kind);
    std::vector<std::unique_ptr<Subscriber>> subs;
    std::unique_ptr<Publisher> pub;
    if (!make_pubsub(kind, topic, kSubscribers, true, &subs, &pub))
        return fail("latency %s: setup failed", kind_name(kind));
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
    uint64_t delivered = wait_deliveries(subs, published * kSubscribers, 2000, scaled_s(20));
    pub.reset();
    //  The subscribers' threads end before their latencies are read.
    std::vector<std::vector<uint64_t>> parts;
    for (auto& sub : subs) {
        sub->stop();
        parts.push_back(std::move(sub->tally.latencies));
    }
    subs.clear();
    std::vector<uint64_t> latencies;
    for (auto& part : parts)
        latencies.insert(latencies.end(), part.begin(), part.end());
    std::sort(latencies.begin(), latencies.end());
    struct {
        const char* suffix;
        double quantile;
    } points[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}};
    for (auto& point : points)
        record(std::string("latency_") + point.suffix, kind_name(kind),
               (double)percentile(latencies, point.quantile) / 1000.0, "us",
               Params()
                   .add("rate", (int)kRate)
                   .add("subscribers", (int)kSubscribers)
                   .add("published", published)
                   .add("deliveries", delivered)
                   .add("delivered_fraction",
                        published ? (double)delivered / (published * kSubscribers) : 0.0)
                   .add("max_us", latencies.empty() ? 0.0 : latencies.back() / 1000.0));
}

//  ---------------------------------------------------------------------------------------
//  Durable sends

//  NATS JetStream: a file-store stream, js_PublishAsync with a window of pending acks.
struct JetStream {
    natsConnection* connection = nullptr;
    jsCtx* js = nullptr;
    std::atomic<uint64_t> errors{0};

    bool open(int64_t max_pending) {
        std::string url = "nats://127.0.0.1:" + std::to_string(g_nats.port);
        if (natsConnection_ConnectTo(&connection, url.c_str()) != NATS_OK) return false;
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
    uint64_t start = mono_ns();
    uint64_t stop = start + (uint64_t)(max_s * 1e9);
    std::vector<std::thread> threads;
    for (int i = 0; i < senders; i++)
        threads.emplace_back([&, i] {
            redisContext* context = redis_connect();
            if (!context) {
                failed++;
                return;
            }
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
                    redisAppendCommand(context, "XADD %s * b %b", key, body, sizeof body);
                    sent++;
                }
                if (!sending && answered == sent) break;
                alive = redis_write_all(context) && redis_read(context, 100, on_reply);
            }
            redisFree(context);
        });
    for (std::thread& thread : threads)
        thread.join();
    result.seconds = (double)(mono_ns() - start) / 1e9;
    result.acked = acked;
    result.failed = failed;
    return result;
}

bool redis_config(const char* name, const char* value) {
    redisContext* context = redis_connect();
    if (!context) return false;
    redisReply* reply = (redisReply*)redisCommand(context, "CONFIG SET %s %s", name, value);
    bool ok = reply && reply->type == REDIS_REPLY_STATUS;
    if (reply) freeReplyObject(reply);
    redisFree(context);
    return ok;
}

void bench_durable() {
    uint64_t count = scaled(400000);
    double max_s = scaled_s(5);
    for (int senders : {1, 8}) {
        uint64_t window = senders == 1 ? 1000 : 250;
        std::string suffix = std::to_string(senders);
        std::string stream = "SEND" + suffix, subject = "send" + suffix + ".x";
        SendResult js =
            jetstream_send(stream.c_str(), subject.c_str(), senders, count, max_s, (int64_t)window);
        record("durable_send_" + suffix, "nats-js", js.seconds > 0 ? js.acked / js.seconds : 0,
               "msg/s",
               Params()
                   .add("senders", senders)
                   .add("window", (uint64_t)window)
                   .add("acked", js.acked)
                   .add("failed", js.failed)
                   .add("seconds", js.seconds)
                   .add("store", "JetStream file storage (nats-server default: no fsync per "
                                 "message, sync every 2 min)")
                   .add("client", "cnats js_PublishAsync + js_PublishAsyncComplete"));
        for (const char* fsync : {"always", "everysec"}) {
            if (!redis_config("appendfsync", fsync)) fail("redis: CONFIG SET appendfsync failed");
            std::string key = std::string("send") + fsync + suffix;
            SendResult redis = redis_xadd(key.c_str(), senders, count, max_s, window, nullptr);
            std::string workload =
                std::string(strcmp(fsync, "always") == 0 ? "durable_send_" : "send_nofsync_") +
                suffix;
            record(workload, strcmp(fsync, "always") == 0 ? "redis-always" : "redis-everysec",
                   redis.seconds > 0 ? redis.acked / redis.seconds : 0, "msg/s",
                   Params()
                       .add("senders", senders)
                       .add("window", (uint64_t)window)
                       .add("acked", redis.acked)
                       .add("failed", redis.failed)
                       .add("seconds", redis.seconds)
                       .add("appendfsync", fsync)
                       .add("client", "hiredis XADD pipelined"));
        }
    }
    redis_config("appendfsync", "always");
}

//  ---------------------------------------------------------------------------------------
//  Fetch since a time

void bench_fetch() {
    uint64_t count = scaled(200000);
    //  JetStream: load a stream, then an ordered consumer from a start time.
    {
        uint64_t since_ns = wall_ns();
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
        redisContext* context = redis_connect();
        uint64_t received = 0;
        double seconds = 0;
        if (loaded.acked != count || first_id.empty() || !context) {
            fail("redis fetch: loaded %llu of %llu", (unsigned long long)loaded.acked,
                 (unsigned long long)count);
        } else {
            std::string from = first_id.substr(0, first_id.find('-')); //  ms since the epoch
            uint64_t start = mono_ns();
            while (received < count) {
                redisReply* reply = (redisReply*)redisCommand(
                    context, "XRANGE fetch %s + COUNT 1000", from.c_str());
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
        if (context) redisFree(context);
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

//  1000-row transactions for a few seconds; `zgm_schema`: zgm's message table (WITHOUT
//  ROWID, a unique index on a random 16-byte msg_id), else a plain rowid table.
void bench_sqlite_limit(bool zgm_schema) {
    std::string dir = g_options.base + "/sqlite" + (zgm_schema ? "-uuid" : "");
    mkdir(dir.c_str(), 0755);
    sqlite3* db = nullptr;
    if (sqlite3_open((dir + "/limit.db").c_str(), &db) != SQLITE_OK)
        return fail("sqlite: cannot open");
    const char* schema =
        zgm_schema
            ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE messages (group_key INTEGER NOT NULL, seq INTEGER NOT NULL,"
              " ts_us INTEGER NOT NULL, sender BLOB NOT NULL, sender_name TEXT NOT NULL,"
              " msg_id BLOB, body BLOB NOT NULL, PRIMARY KEY (group_key, seq)) WITHOUT ROWID;"
              "CREATE UNIQUE INDEX messages_msg_id ON messages (group_key, msg_id)"
              " WHERE msg_id IS NOT NULL;"
            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE messages (seq INTEGER PRIMARY KEY, ts_us INTEGER, body BLOB);";
    const char* insert = zgm_schema ? "INSERT INTO messages VALUES (1, ?1, ?2, ?3, 'bench', ?4, ?5)"
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
    bool help = argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help || !parse(argc, argv)) {
        fprintf(stderr, "Usage: zgm-bench-peers [--json] [--only SETS] [--quick] [--base DIR]\n"
                        "SETS: comma-separated rss,durable,fanout,latency,fetch,limits\n");
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
    bool limits_only = g_run.only == "limits";
    bool ok =
        limits_only || (start(&g_mosquitto, "mosquitto", mosquitto_args) &&
                        start(&g_nats, "nats", nats_args) && start(&g_redis, "redis", redis_args));
    if (ok && !limits_only) {
        sleep_ms(1000);
        if (selected("rss")) {
            record_idle_rss(g_mosquitto, version_of("mosquitto -h 2>&1 | head -n 1").c_str());
            record_idle_rss(g_nats, version_of("nats-server --version 2>&1").c_str());
            record_idle_rss(g_redis, version_of("redis-server --version 2>&1").c_str());
        }
        if (selected("durable")) bench_durable();
        if (selected("fanout"))
            for (Kind kind : {Kind::kNats, Kind::kRedis, Kind::kMosquitto}) {
                //  Mosquitto delivers about 100,000/s here: fewer messages keep it in time.
                bool slow = kind == Kind::kMosquitto;
                bench_fanout(kind, 1, scaled(slow ? 300000 : 1000000));
                bench_fanout(kind, 10, scaled(slow ? 50000 : 200000));
            }
        if (selected("latency"))
            for (Kind kind : {Kind::kNats, Kind::kRedis, Kind::kMosquitto})
                bench_latency(kind);
        if (selected("fetch")) bench_fetch();
    }
    if (selected("limits")) {
        bench_zmq_limit();
        bench_sqlite_limit(false);
        bench_sqlite_limit(true);
    }
    for (Server* server : {&g_mosquitto, &g_nats, &g_redis})
        if (server->pid) stop_child(server->pid);
    mosquitto_lib_cleanup();
    nats_Close();
    if (!g_run.json) print_table();
    remove_tree(g_options.base);
    return ok && !g_run.failed ? 0 : 1;
}
