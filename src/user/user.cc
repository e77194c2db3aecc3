/*  =========================================================================
    user.cc - the user actor: everything a user does

    Routing (a group's server is asked of the registry by name, and asked again when the
    server stops answering: it may have moved), joins, follows and their keep-alives,
    catch-up after missed pushes, paged fetches, sends with their retries, and the outcome
    of every call. The C API sends one Call per function (user.h) and gets it back filled.

    What a call reports is true. A request that went out on a live connection and got no
    answer may have taken effect: a call that changes something reports that as in doubt
    (ZGM_EINDOUBT), never as a failure; a send retried with the same message id is stored
    once. A request that never went out (no connection) is not in doubt. A server that is
    restarting, or a registry that has just restarted and is relearning its groups, is
    waited for within the call's timeout; a registry that was never reachable is said within
    about a second, with the reason.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "user/user.h"

#include "core/clock.h"
#include "core/names.h"
#include "user/link.h"

#include <algorithm>
#include <poll.h>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace zgm {

namespace {

constexpr int kRefreshMs = 2000;         //  FOLLOW keep-alive, per group server (protocol.md)
constexpr int kFirstAttemptMs = 2000;    //  how long an attempt waits for its reply, doubling
                                         //  (a connection that drops lapses it at once)
constexpr int kMaxAttemptMs = 4000;      //  up to this
constexpr int kMaxSendAttemptMs = 16000; //  a SEND's, after attempts that lapsed, up to this
constexpr int kReresolveMs = 1000;       //  a call waiting for a connection asks the registry
constexpr int kUnreachableAfterMs = 500; //  a registry never reached for this long is probed
constexpr int kInternalTimeoutMs = 3000; //  keep-alives, catch-ups, the actor's own resolves
constexpr int kTickMs = 20;        //  how often waits and deadlines are looked at while calls wait
constexpr int kQuietTickMs = 250;  //  the same, after a second or more with nothing heard
constexpr int kSendsInFlight = 16; //  SEND requests in flight per group
constexpr uint32_t kSendBatch = 1000;    //  messages in one SEND at most
constexpr uint64_t kAckBytes = 1u << 20; //  pushes acknowledged after this many bytes
constexpr int kCatchUpsPerServer = 8;    //  catch-up FETCHes in flight per group server
constexpr int kAwayRetryMs = 250;        //  a group whose server is away is asked for again after
constexpr int kHoldMs = 1000;      //  a request refused (but for the rate), or answered with what
                                   //  cannot be taken: asked again after this, not at once
constexpr int kMaxRetryMs = 10000; //  the longest a 429's retry_ms holds a request back
constexpr size_t kFetchAhead = 4;  //  pages of a long fetch asked for at once
constexpr uint32_t kFirstPage = 1000; //  records the first page of a fetch asks for at most
constexpr uint64_t kFollowNow = UINT64_MAX;

//  Whether a call or a send waiting for its group server's connection should ask the
//  registry again where the group is served (the server may have come back at another
//  endpoint): after kReresolveMs of waiting, and every kReresolveMs. *down_since_ms is 0
//  while connected.
bool reresolve_due(int64_t* down_since_ms) {
    int64_t now = mono_ms();
    if (!*down_since_ms) *down_since_ms = now;
    if (now - *down_since_ms < kReresolveMs) return false;
    *down_since_ms = now;
    return true;
}

//  Why a call or a send for a group found no route in time while the registry's connection
//  was not up and had no error to show (a registry that accepts the connection but does not
//  answer: stopped, or overloaded): a timeout, not an unreachable registry.
std::string registry_silent(const std::string& endpoint, const std::string& group) {
    return "the registry at " + endpoint + " did not answer in time, and where '" + group +
           "' is served is not known";
}

//  The Error for an ERROR status, in the context of the request it answers.
Error error_of(uint16_t status, uint8_t request) {
    switch (status) {
    case proto::kNotMember:
        return Error::kNotMember;
    case proto::kNotFound:
        return Error::kNotFound;
    case proto::kConflict:
        return request == proto::kJoin ? Error::kAlready : Error::kExists;
    case proto::kTooLarge:
        return Error::kTooLarge;
    case proto::kInvalid:
        return Error::kInvalid;
    case proto::kBadRequest:
    case proto::kBadVersion:
        return Error::kProto;
    case proto::kUnavailable:
        return Error::kUnavailable;
    case proto::kInDoubt:
        return Error::kInDoubt;
    case proto::kStorage:
        return Error::kStorage;
    case proto::kDenied:
        return Error::kDenied;
    case proto::kLimitReached:
        return Error::kLimit;
    case proto::kRateLimited:
        return Error::kRate;
    default:
        return Error::kServer;
    }
}

//  How long to wait before asking again after a 429 or 503: as long as a rate limit says;
//  a registry relearning its groups (or a server stopping) is asked again soon, since it
//  may know sooner than its worst case.
//  What a 429 asks to wait, at most kMaxRetryMs (a server may not hold a user back for days).
int64_t rate_wait_ms(const proto::Message& error) {
    return std::clamp<int64_t>(error.retry_ms, 1, kMaxRetryMs);
}

int64_t wait_ms(const proto::Message& error) {
    if (error.status == proto::kRateLimited && error.retry_ms) return rate_wait_ms(error);
    return std::min<int64_t>(error.retry_ms ? error.retry_ms : 200, 200);
}

//  Whether a page's records rise, each past the one before, from past `after`: a page that
//  repeats or goes back would be handed over twice, or asked for again for ever.
bool rises_past(const proto::Message& page, uint64_t after) {
    for (const proto::MessageView& record : page.views) {
        if (record.seq() <= after) return false;
        after = record.seq();
    }
    return true;
}

//  Why a group's route could not be set (set_route gave ""), and *error: the registry gave
//  an endpoint no user can connect to (ZGM_EPROTO: asking again would get the same answer),
//  or this process could not open a connection (ZGM_ESYSTEM).
std::string route_failure(const std::string& group, const std::string& endpoint, Error* error) {
    std::string problem = advertised_endpoint_problem(endpoint.substr(0, 200));
    *error = problem.empty() ? Error::kSystem : Error::kProto;
    if (problem.empty())
        return "cannot open a connection to the group server of '" + group + "' at '" + endpoint +
               "' (too many open?)";
    return "the registry gave '" + group + "' an endpoint no user can connect to (" + problem + ")";
}

//  What a call says of a list out of name order (name at or before the one before it), or ""
//  (a page that repeats or goes back would be listed twice, or asked for ever).
std::string out_of_name_order(const std::string& name, const std::string& after) {
    return name > after ? ""
                        : "the registry listed '" + name.substr(0, 100) + "' out of name order";
}

//  What a call says of a GROUP for another group than the one asked.
std::string another_group(const std::string& name) {
    return "the registry answered for another group ('" + name.substr(0, 100) + "')";
}

//  Why a group this user reached before is not in the registry: a registry that does not
//  know it (restarted while its server was down) answers 404, which is no "no such group".
std::string away_reason(const std::string& group) {
    return "the group server of '" + group +
           "' is not in the registry now (stopped, or unreachable from it)";
}

//  Takes a request that was answered or lapsed off a list of those out.
void erase_id(std::vector<uint32_t>& ids, uint32_t request_id) {
    auto it = std::find(ids.begin(), ids.end(), request_id);
    if (it != ids.end()) ids.erase(it);
}

//  A group server, by endpoint and key.
struct ServerConn {
    std::unique_ptr<Link> link;
    int64_t next_refresh_ms = 0;
    int refreshing = 0;         //  keep-alive FOLLOWs out (one for each kFollowPage groups)
    int silent_refreshes = 0;   //  keep-alives in a row that got no answer
    size_t probes = 0;          //  RESOLVEs asked for it while silent or down: which group next
    uint64_t unacked_bytes = 0; //  pushed since the last FOLLOW
    std::vector<uint32_t> catch_ups; //  catch-up FETCHes out: request ids
};

struct Followed {
    std::string server;
    uint64_t last_seq = 0; //  handed to the caller
    uint64_t seen_seq = 0; //  the highest seq heard of
    uint64_t last_ts = 0;  //  the timestamp of last_seq's message, if one was handed over
    //  emitted_bytes_ once its last batch was handed over: the caller has read every
    //  message of it handed over once it consumed as much (batches are read in order).
    uint64_t handed_mark = 0;
    //  The group's end went back before last_seq (its store lost, or restored from an
    //  older copy): its messages from now on are those stored after last_ts, and the next
    //  catch-up asks for them by time.
    bool went_back = false;
    bool catching_up = false;
    bool resolving = false;    //  its server lost it: asking the registry where it went
    int64_t held_until_ms = 0; //  catch-ups held back until then (kHoldMs, a 429's wait)
};

//  One message to send, until it has an outcome.
struct OutgoingSend {
    uint64_t ordinal = 0; //  the order it was handed over in, among all the user's sends
    Uuid msg_id;
    std::string group;
    std::string body;
    int64_t deadline_ms = 0;
    bool unanswered = false; //  an attempt had no answer: it may be stored
    Call* call = nullptr;    //  a synchronous send waiting for it; NULL: asynchronous
};

struct GroupSends {
    std::deque<std::unique_ptr<OutgoingSend>> queue; //  waiting to go, by ordinal
    std::vector<uint32_t> out;                       //  the SENDs in flight: request ids
    uint64_t out_count = 0;                          //  SENDs that went out: the last one's number
    //  How long a SEND waits for its answer, and for each answer ahead of it: it doubles
    //  when an attempt lapses (up to kMaxSendAttemptMs), and halves (down to kFirstAttemptMs)
    //  when an answer comes in under half of it. A server that answers all along, however
    //  slowly, is waited for, and one slower than an attempt lapses it once, not each time.
    int attempt_ms = kFirstAttemptMs;
    int64_t heard_ms = 0;      //  when the last answer to a SEND of the group came
    int64_t hold_until_ms = 0; //  after 429 or 503 (or 425, or an answer not to be read)
    //  The group server refused a SEND for its rate (429 or 503), and none went since, nor
    //  went back for another reason once the hold was over: a send whose time runs out
    //  meanwhile says so (ZGM_ERATE), also once the hold is over.
    bool rate_held = false;
    int64_t down_since_ms = 0; //  since when (or the last RESOLVE since) its server is down
    //  The last message of the latest SEND that went out: the next SEND names it
    //  (after_msg_id) while SENDs are in flight, and the group server stores nothing of it
    //  before that one, so a SEND never overtakes one refused or lost before it.
    Uuid last_out;
    //  A SEND goes again: nothing more goes out until no SEND is in flight, and then all go
    //  again in the order they were handed over in.
    bool settling = false;
    //  The group server that answered a SEND 404 (not there), and how many times in a row
    //  the registry routed the group back to it: the second time, the group is not there.
    std::string refused_by;
    int refused_routes = 0;
    std::string refused_why;
    bool refused_lookup = false; //  the registry is asked because of that 404
    //  The registry's last word on the group's server while it is away (a 503 to RESOLVE:
    //  "fell silent ... and has not come back"): what a send that times out waiting says.
    std::string away_why;
    //  Holds the sends back until until_ms, or longer if a hold lasts longer; rate: a 429's
    //  or 503's.
    void hold(int64_t until_ms, bool rate) {
        hold_until_ms = std::max(hold_until_ms, until_ms);
        rate_held = rate_held || rate;
    }
    void forget_refusal() {
        refused_by.clear();
        refused_routes = 0;
    }

    //  Sends that went out and go again: each back at its place by the order it was handed
    //  over in, whichever of the requests in flight came back first; the group settles.
    void requeue(std::vector<std::unique_ptr<OutgoingSend>>& sends) {
        settling = true;
        if (hold_until_ms <= mono_ms()) rate_held = false;
        for (auto& send : sends) {
            if (!send) continue; //  settled meanwhile
            auto at =
                std::upper_bound(queue.begin(), queue.end(), send->ordinal,
                                 [](uint64_t ordinal, const std::unique_ptr<OutgoingSend>& x) {
                                     return ordinal < x->ordinal;
                                 });
            queue.insert(at, std::move(send));
        }
        sends.clear();
    }
};

enum class Purpose { kOp, kRefresh, kCatchUp, kResolve, kSend };

//  A request on the wire, until its reply or its attempt deadline.
struct Pending {
    Purpose purpose = Purpose::kOp;
    uint32_t request_id = 0;
    uint64_t op = 0;
    std::string server; //  "" for the registry
    std::string group;
    std::vector<std::string> groups; //  kRefresh
    bool first_page = false;         //  kRefresh: the first FOLLOW of a keep-alive (one per round)
    std::vector<std::unique_ptr<OutgoingSend>> sends; //  kSend
    uint64_t out_no = 0;                              //  kSend: its number among the group's
    int64_t sent_ms = 0;                              //  kSend, kCatchUp: when it went
    int64_t sends_due_ms = 0; //  kSend: when the attempt lapses at the latest
    bool by_time = false;     //  kCatchUp after the group went back
    uint64_t after_seq = 0;   //  kCatchUp: what it asked after
    int64_t deadline_ms = 0;
};

class UserActor;

//  One API call in progress.
class Op {
public:
    Op(UserActor& user, Call* call);
    virtual ~Op() = default;
    virtual void start() = 0;
    //  A reply to a request of this op.
    virtual void reply(Pending& pending, proto::Message& message) = 0;
    //  A request of this op got no reply in time.
    virtual void lapse(Pending& pending) = 0;
    //  The reply to a request of this op that had lapsed (the op sent it again, or is
    //  about to): by default it is not taken.
    virtual void late_reply(const std::string& server_id, proto::Message& message) {
        (void)server_id;
        (void)message;
    }
    //  Waits, the deadline. Called every tick.
    virtual void tick(int64_t now) = 0;
    bool done() const { return done_; }
    int64_t deadline() const { return deadline_ms_; }
    uint64_t id = 0;

protected:
    void finish(Error error, const std::string& why = "");
    //  Fails the op if the registry was never reachable and it can say why. True if it did.
    bool registry_unreachable();
    //  A request held back (a 429 or 503 to wait out, or why): what the call says if its
    //  time runs out while it waits.
    void held(const proto::Message& error) { held(error_of(error.status, 0), error.reason); }
    void held(Error error, const std::string& why) {
        last_error_ = error;
        last_why_ = why;
    }
    UserActor& user_;
    Call* call_;
    int64_t deadline_ms_;
    bool done_ = false;
    std::string last_why_;                   //  the last held(): empty if none
    Error last_error_ = Error::kUnavailable; //  and what it was: a 503, or a 429
};

class UserActor : public Hosted {
public:
    UserActor(zsock_t* pipe, UserArgs* args)
        : pipe_(pipe), keys_(args->keys), name_(args->name), security_(args->security),
          shared_(args->shared) {}

    //  Hosted: the actor's loop, a turn at a time (user/host.h).
    bool turn() override;
    std::vector<pollfd>& fds() override { return fds_; }
    uint64_t fds_version() const override { return fds_version_; }
    int64_t wake_at() const override { return wake_at_; }

    //  What ops use.
    bool ask(Op* op, const std::string& server, proto::Message& message, int attempt_ms);
    Link* registry() { return registry_.get(); }
    //  Why the registry cannot be reached, when it never was since connect and has been
    //  tried for kUnreachableAfterMs: said at once, not at the call's deadline. Empty while
    //  it may still come up, and for a registry that refuses connections (it has too many:
    //  ridden out); one that refused as it stopped, and is then not there, is said to be.
    std::string registry_never_reached();
    ServerConn* server(const std::string& id) {
        auto found = servers_.find(id);
        return found != servers_.end() ? &found->second : nullptr;
    }
    //  The group had a route in this session (so a "no such group" is its server's absence).
    bool known(const std::string& group) const { return known_.count(group) > 0; }
    std::string route_of(const std::string& group) const {
        auto found = routes_.find(group);
        return found != routes_.end() ? found->second : "";
    }
    //  Routes a group to the server a GROUP (or a GroupRecord) names; returns its id.
    std::string set_route(const std::string& group, const std::string& endpoint, const Key& key);
    //  The id of the server at endpoint with key, connecting to it first if needed ("" for a
    //  bad endpoint).
    std::string connect_server(const std::string& endpoint, const Key& key);
    void follow(const std::string& group, const std::string& server, uint64_t after_seq,
                uint64_t last_seq);
    //  tell_server: send UNFOLLOW (not after a LEAVE, which ended the follows there).
    void unfollow(const std::string& group, bool tell_server = true);
    bool follows(const std::string& group) const { return followed_.count(group) > 0; }
    //  Whether the caller has read every batch handed over up to mark (an emitted_bytes_).
    bool read_past(uint64_t mark) const {
        return shared_->consumed_bytes.load(std::memory_order_acquire) >= mark;
    }
    //  A request whose answer no longer matters: its answer, if one comes, is dropped.
    void forget(uint32_t request_id) { pending_.erase(request_id); }
    void reply_call(Call* call) {
        zsock_send(pipe_, "p", (void*)call);
        maybe_[0] = 1; //  a send on the pipe may take the signal of what waits there
    }
    const std::string& name() const { return name_; }
    const KeyPair& keys() const { return keys_; }
    //  A call, a send or a send's attempt ends at `at`: a tick comes by then.
    void due_by(int64_t at) { calls_due_ = std::min(calls_due_, at); }

private:
    bool handle_pipe(bool* drained);
    void start_call(Call* call);
    bool handle_link(const std::string& server, Link* link);
    void dispatch(const std::string& server, proto::Message& message);
    void on_deliver(const std::string& server, proto::Message& deliver);
    void on_internal_reply(Pending& pending, proto::Message& message);
    //  A keep-alive or catch-up refused for now (429: the rate, or what the connection has
    //  not read yet) goes again when the server said, as a keep-alive whose FOLLOWING
    //  catches up; not at the next keep-alive, 2 s later.
    void refused_for_now(ServerConn* conn, const proto::Message& message);
    void forget_read_unfollowed();
    void tick_deadlines(int64_t now);
    void tick();
    void lapse_all(const std::string& server_id);
    void refresh(const std::string& server, ServerConn& conn, bool ack);
    bool can_catch_up(const Followed& followed);
    //  True while the caller has more handed over and unread than it may leave
    //  (kMaxUnreadBytes), or the events queue is full (of send outcomes, mostly): nothing
    //  more is handed over, nor fetched, until it reads.
    bool caller_behind() const {
        return emitted_bytes_ - shared_->consumed_bytes.load(std::memory_order_acquire) >
                   kMaxUnreadBytes ||
               shared_->events.full();
    }
    void catch_up(const std::string& group, Followed& followed);
    int64_t idle_deadline();
    void resolve(const std::string& group);
    void probe(ServerConn& conn, const std::vector<std::string>& groups);
    void point(const std::string& group, const std::string& server_id);
    void close_unused();
    bool emit(const std::string& group, Followed& followed, proto::Message& message,
              uint64_t missed_before);
    void flush_outcomes();
    bool hand_over(Event* event);

    //  Sends
    void queue_send(std::unique_ptr<OutgoingSend> send);
    void pump(const std::string& group);
    void sends_answered(Pending& pending, proto::Message& message);
    void sends_lapsed(Pending& pending);
    void sends_heard(GroupSends& sends, const std::string& server, uint64_t out_no);
    //  The group server answered a catch-up it was sent at sent_ms (or the attempt of it
    //  that lapsed): each catch-up sent to it since has kInternalTimeoutMs again from now.
    void catch_ups_heard(ServerConn& conn, int64_t sent_ms);
    void catch_ups_heard(ServerConn& conn, const Pending& answered) {
        erase_id(conn.catch_ups, answered.request_id);
        catch_ups_heard(conn, answered.sent_ms);
    }
    void settle_late(GroupSends& sends, const std::vector<Uuid>& ids, proto::Message& message);
    void go_again_unanswered(GroupSends& sends, Pending& pending);
    void complete(std::unique_ptr<OutgoingSend> send, Error error, const std::string& why,
                  uint64_t seq, uint64_t timestamp);
    void complete_in_doubt(std::unique_ptr<OutgoingSend> send, const std::string& what);
    void expire_sends(int64_t now);
    //  Ends the sends waiting for group with error (ZGM_ENOTFOUND: the registry says there
    //  is no such group), those that may be stored as in doubt.
    void fail_sends(const std::string& group, const std::string& why,
                    Error error = Error::kNotFound);
    void routed_sends(const std::string& group, const std::string& server_id);

    zsock_t* pipe_;
    KeyPair keys_;
    std::string name_;
    Security security_;
    UserShared* shared_;
    bool connected_ = false;
    std::unique_ptr<Link> registry_;
    std::map<std::string, ServerConn> servers_; //  by "endpoint key"
    std::map<std::string, std::string> routes_; //  group -> server id
    std::set<std::string> known_;               //  groups that had a route in this session
    std::map<std::string, Followed> followed_;
    //  Groups unfollowed while messages of them handed over may still wait unread (in the
    //  events queue, or taken by the caller and not handed out): how far each was handed
    //  over, for a follow of it again to go on from there (follow). An entry goes once its
    //  messages are all read (forget_read_unfollowed, at each unfollow and full tick).
    std::map<std::string, Followed> unfollowed_;
    std::unordered_map<uint32_t, Pending> pending_;
    //  Requests of ops to group servers whose attempt lapsed, while their op lives: request
    //  id -> op id and server id. A reply that comes late still tells the op what happened.
    std::unordered_map<uint32_t, std::pair<uint64_t, std::string>> lapsed_;
    //  SENDs and catch-ups whose attempt lapsed: request id -> what an answer that comes
    //  late says, that the group server is working through what it was sent before those
    //  out now (sends_heard, catch_ups_heard). Kept 32 s at most.
    struct LapsedInternal {
        Purpose purpose;
        std::string group;
        std::string server;
        uint64_t order; //  a SEND's out_no, a catch-up's sent_ms
        int64_t lapsed_ms;
        std::vector<Uuid> ids; //  what it carried, in order
    };
    std::unordered_map<uint32_t, LapsedInternal> lapsed_internal_;
    std::map<uint64_t, std::unique_ptr<Op>> ops_;
    std::map<std::string, GroupSends> sends_;
    //  The longer attempts of groups whose sends all had their outcome (GroupSends gone):
    //  group -> attempt_ms and since when. The next send to the group waits as long, not
    //  kFirstAttemptMs: a caller sending one message at a time to a slow group server had
    //  every other one sent twice. Forgotten after 2 * kMaxSendAttemptMs.
    std::unordered_map<std::string, std::pair<int, int64_t>> send_attempts_;
    std::set<std::string> resolving_; //  groups the actor itself is resolving
    std::set<std::string> to_pump_;   //  groups with sends queued by the calls being taken
    //  The poll set, built again only when a link's sockets change (repoll_): the pipe, then
    //  each link's DEALER and monitor; polled_[i] says what fds_[i] is.
    //
    //  The actor polls the sockets' ZMQ_FD itself rather than with zmq_poll, which asks
    //  every socket for ZMQ_EVENTS, twice when it waits (each a pass over the socket's
    //  commands: two system calls): 5 sockets made 20 to 26 system calls per wake-up. A
    //  socket's ZMQ_FD is readable when commands came for it after its last pass over them,
    //  which every read that ends in EAGAIN makes; so a socket read until EAGAIN has
    //  nothing until its ZMQ_FD says so. A socket may have messages with its ZMQ_FD quiet
    //  when it was not read to the end (a bounded read), when a send on it passed over its
    //  commands, or when it is new: maybe_ marks those, read at the next wake-up without
    //  waiting.
    struct Polled {
        std::string id; //  server id ("" registry)
        Link* link;     //  nullptr for the pipe
        bool monitor;
    };
    void build_poll_set();
    std::vector<pollfd> fds_;
    std::vector<Polled> polled_;
    std::vector<char> maybe_;
    bool repoll_ = true;
    uint64_t fds_version_ = 0;
    //  The clock of the turns (ms): the last tick, the last turn that something came in,
    //  and the time of the next tick.
    int64_t last_tick_ = mono_ms(), last_event_ = last_tick_;
    int64_t due_ = last_tick_ + kTickMs;
    int64_t ticks_due_ = due_; //  the next tick's time, not counting calls_due_
    bool tick_now_ = false;    //  what waited for a link that came up goes at the next turn
    //  The earliest deadline of a call, a send waiting in a queue or a send's attempt that
    //  was ahead at the last tick, or came since (due_by): at most when the next tick comes
    //  while calls wait, however quiet the peers.
    int64_t calls_due_ = INT64_MAX;
    int64_t wake_at_ = 0;
    std::vector<const std::string*> following_; //  idle_deadline's, kept for its capacity
    std::vector<std::string> left_;     //  servers a route left, closed at the next tick if unused
    std::vector<SendOutcome> outcomes_; //  not yet on the events queue
    uint64_t emitted_bytes_ = 0;        //  unread_charge of the batches handed over
    uint32_t next_request_id_ = 1;
    uint64_t sends_handed_over_ = 0; //  the last OutgoingSend's ordinal
    uint64_t next_op_ = 1;

    friend class Op;
};

//  ---------------------------------------------------------------------------------------
//  Op

Op::Op(UserActor& user, Call* call) : user_(user), call_(call) {
    deadline_ms_ = mono_ms() + (call->timeout_ms > 0 ? call->timeout_ms : 5000);
}

void Op::finish(Error error, const std::string& why) {
    if (done_) return;
    done_ = true;
    call_->error = error;
    call_->why = why;
    user_.reply_call(call_);
}

bool Op::registry_unreachable() {
    std::string why = user_.registry_never_reached();
    if (why.empty()) return false;
    finish(Error::kUnreachable,
           "cannot reach the registry at " + user_.registry()->endpoint() + ": " + why);
    return true;
}

//  A request to the registry, retried until its deadline; a registry that has just
//  restarted (503) is waited for.
class RegistryOp : public Op {
public:
    using Op::Op;
    void start() override { advance(); }
    void lapse(Pending&) override {
        in_flight_ = false;
        unanswered_ = true;
        advance();
    }
    void tick(int64_t now) override {
        if (done_) return;
        if (now >= deadline_ms_) return timed_out();
        advance();
    }
    void reply(Pending&, proto::Message& message) override {
        in_flight_ = false;
        if (message.id == proto::kError &&
            (message.status == proto::kUnavailable || message.status == proto::kRateLimited) &&
            retryable_503(message)) {
            held(message);
            hold_until_ = mono_ms() + wait_ms(message);
            return;
        }
        answered(message);
    }

protected:
    virtual void build(proto::Message* message) = 0;
    virtual void answered(proto::Message& message) = 0;
    //  Whether a 503 is worth waiting out (a registry relearning its groups), or final.
    virtual bool retryable_503(const proto::Message& message) {
        return message.status == proto::kRateLimited || message.retry_ms > 0;
    }
    //  Sends the request again (paging).
    void again() {
        attempts_ = 0;
        advance();
    }
    void advance() {
        if (done_ || in_flight_ || mono_ms() < hold_until_) return;
        if (!user_.registry()) return finish(Error::kNotConnected, "not connected to a registry");
        if (!user_.registry()->up()) {
            registry_unreachable();
            return;
        }
        proto::Message message;
        build(&message);
        int attempt = std::min(kFirstAttemptMs << std::min(attempts_, 4), kMaxAttemptMs);
        if (user_.ask(this, "", message, attempt)) {
            in_flight_ = true;
            attempts_++;
        }
    }
    void timed_out() {
        Link* link = user_.registry();
        std::string reason = link ? link->unreachable_reason() : "";
        //  A request that may have reached the registry and was not answered may have
        //  taken effect, whatever a later attempt was told.
        if ((unanswered_ || in_flight_) && mutates_)
            finish(Error::kInDoubt, "no answer from the registry at " + link->endpoint() +
                                        " in time; it may have taken effect");
        else if (!last_why_.empty())
            finish(last_error_, last_why_);
        else if (!reason.empty())
            finish(Error::kUnreachable,
                   "cannot reach the registry at " + link->endpoint() + ": " + reason);
        else
            finish(Error::kTimeout, "the registry at " + (link ? link->endpoint() : "?") +
                                        " did not answer in time");
    }
    bool mutates_ = false;

private:
    bool in_flight_ = false;
    bool unanswered_ = false; //  an attempt went out and got no answer
    int attempts_ = 0;
    int64_t hold_until_ = 0;
};

class GroupsOp : public RegistryOp {
public:
    using RegistryOp::RegistryOp;

private:
    void build(proto::Message* message) override {
        message->id = proto::kList;
        message->after = after_;
    }
    void answered(proto::Message& message) override {
        if (message.id == proto::kError)
            return finish(error_of(message.status, proto::kList), message.reason);
        if (message.id != proto::kGroups)
            return finish(Error::kProto, "the registry answered LIST with " +
                                             std::string(proto::message_name(message.id)));
        if (!message.complete) {
            //  A registry that has just restarted: its list may lack groups. Wait.
            call_->groups.clear();
            after_.clear();
            waiting_ = true;
            wait_until_ = mono_ms() + 200;
            return;
        }
        for (proto::GroupRecord& record : message.groups) {
            std::string disorder = out_of_name_order(record.name, after_);
            if (!disorder.empty()) return finish(Error::kProto, disorder);
            after_ = record.name;
            call_->groups.push_back(std::move(record));
        }
        if (message.more && !message.groups.empty()) return again();
        finish(Error::kOk);
    }
    void tick(int64_t now) override {
        if (done_) return;
        if (now >= deadline_ms_ && waiting_)
            return finish(Error::kUnavailable, proto::kStillLearning);
        if (waiting_ && now >= wait_until_) {
            waiting_ = false;
            again();
        }
        if (!waiting_) RegistryOp::tick(now);
    }
    std::string after_;
    bool waiting_ = false;
    int64_t wait_until_ = 0;
};

//  RESOLVE or CREATE: one GROUP back, which becomes the group's route.
class GroupRecordOp : public RegistryOp {
public:
    GroupRecordOp(UserActor& user, Call* call) : RegistryOp(user, call) {
        mutates_ = call->kind == Call::kCreate;
    }

private:
    void build(proto::Message* message) override {
        message->id = call_->kind == Call::kCreate ? proto::kCreate : proto::kResolve;
        message->group = call_->group;
        message->policy = call_->policy;
    }
    bool retryable_503(const proto::Message& message) override {
        return message.status == proto::kRateLimited || message.retry_ms > 0;
    }
    void answered(proto::Message& message) override {
        uint8_t request = call_->kind == Call::kCreate ? proto::kCreate : proto::kResolve;
        if (message.id == proto::kError && message.status == proto::kNotFound &&
            request == proto::kResolve && user_.known(call_->group))
            return finish(Error::kUnavailable, away_reason(call_->group));
        if (message.id == proto::kError)
            return finish(error_of(message.status, request), message.reason);
        if (message.id != proto::kGroup)
            return finish(Error::kProto,
                          std::string("unexpected reply ") + proto::message_name(message.id));
        if (message.group != call_->group)
            return finish(Error::kProto, another_group(message.group));
        //  (A group created is created, whatever its endpoint: the call says so.)
        if (user_.set_route(call_->group, message.endpoint, message.key).empty() &&
            request == proto::kResolve) {
            Error error = Error::kProto;
            std::string why = route_failure(call_->group, message.endpoint, &error);
            return finish(error, why);
        }
        proto::GroupRecord record;
        record.id = message.group_id;
        record.name = message.group;
        record.endpoint = message.endpoint;
        record.server_key = message.key;
        record.policy = message.policy;
        record.member_count = message.member_count;
        call_->groups.push_back(std::move(record));
        finish(Error::kOk);
    }
};

//  A request to a group's server: the route is asked of the registry when unknown, and
//  again when the server stops answering (it may have moved); the request is sent again
//  until its deadline. Subclasses build the request and take the final answer.
class GroupOp : public Op {
public:
    GroupOp(UserActor& user, Call* call, bool mutates) : Op(user, call), mutates_(mutates) {}
    void start() override {
        if (!valid_name(call_->group)) return finish(Error::kInvalid, invalid_name_reason());
        advance();
    }
    void reply(Pending& pending, proto::Message& message) override {
        if (pending.server.empty()) return resolved(message);
        in_flight_ = false;
        if (message.id == proto::kError &&
            (message.status == proto::kRateLimited || message.status == proto::kUnavailable)) {
            held(message);
            hold_until_ = mono_ms() + wait_ms(message);
            return;
        }
        if (message.id == proto::kError && message.status == proto::kNotFound && !moved_) {
            //  Not (or no longer) there: the group may have moved. Ask once more.
            moved_ = true;
            server_.clear();
            need_resolve_ = true;
            return advance();
        }
        answered(message);
    }
    void lapse(Pending& pending) override {
        if (pending.server.empty()) {
            resolving_ = false;
        } else {
            in_flight_ = false;
            unanswered_ = true;
            need_resolve_ = true; //  silent: it may have moved
            lapsed_id_ = pending.request_id;
        }
        advance();
    }
    //  The answer to the attempt that lapsed, while the one sent again (or the RESOLVE
    //  before it) waits: taken, and the other forgotten. A slow server answers in its own
    //  time: one that took 2.6 s each, against a first attempt of 2, answered the attempt
    //  sent again past the call's 5 s, and the call failed though an answer had come. Only
    //  for a request that changes nothing (one that does says what a late answer means).
    void late_reply(const std::string& server_id, proto::Message& message) override {
        if (done_ || mutates_ || paused_ || server_id != server() ||
            message.request_id != lapsed_id_)
            return;
        if (in_flight_) user_.forget(attempt_id_);
        lapsed_id_ = 0;
        need_resolve_ = false; //  it answered: it has not moved
        Pending pending;
        pending.request_id = message.request_id;
        pending.server = server_id;
        reply(pending, message);
    }
    void tick(int64_t now) override {
        if (done_) return;
        if (now >= deadline_ms_) return timed_out();
        advance();
    }

protected:
    virtual void build(proto::Message* message) = 0;
    virtual void answered(proto::Message& message) = 0;
    //  Sends the request again, as a new one (paging).
    void again() {
        attempts_ = 0;
        unanswered_ = false;
        advance();
    }
    const std::string& server() const { return server_; }
    bool unanswered_ = false; //  an attempt went out and got no answer
    //  While a subclass has requests of its own out (a fetch's pages ahead), nothing is sent.
    bool paused_ = false;

private:
    void advance() {
        if (done_ || paused_ || in_flight_ || resolving_ || mono_ms() < hold_until_) return;
        if (server_.empty()) server_ = user_.route_of(call_->group);
        Link* registry = user_.registry();
        if (need_resolve_ || server_.empty()) {
            if (registry && registry->up()) return resolve();
            if (server_.empty()) {
                if (!registry) finish(Error::kNotConnected, "not connected to a registry");
                registry_unreachable();
                return; //  wait for the registry
            }
            //  The registry is away: try the route known.
        }
        ServerConn* conn = user_.server(server_);
        if (!conn || !conn->link->up()) {
            //  Wait for the connection (nothing lapses meanwhile: nothing goes out).
            if (reresolve_due(&down_since_ms_) && registry && registry->up()) resolve();
            return;
        }
        down_since_ms_ = 0;
        proto::Message message;
        build(&message);
        int attempt = std::min(kFirstAttemptMs << std::min(attempts_, 4), kMaxAttemptMs);
        if (user_.ask(this, server_, message, attempt)) {
            in_flight_ = true;
            attempt_id_ = message.request_id;
            attempts_++;
        }
    }
    void resolve() {
        proto::Message message;
        message.id = proto::kResolve;
        message.group = call_->group;
        need_resolve_ = false;
        if (user_.ask(this, "", message, kFirstAttemptMs)) resolving_ = true;
    }
    void resolved(proto::Message& message) {
        resolving_ = false;
        if (message.id == proto::kGroup && message.group != call_->group)
            return finish(Error::kProto, another_group(message.group));
        if (message.id != proto::kGroup && message.id != proto::kError)
            return finish(Error::kProto, "unexpected reply to RESOLVE");
        if (message.id == proto::kGroup) {
            server_ = user_.set_route(call_->group, message.endpoint, message.key);
            if (server_.empty()) {
                Error error = Error::kProto;
                std::string why = route_failure(call_->group, message.endpoint, &error);
                return finish(error, why);
            }
        } else if (message.id == proto::kError && message.status == proto::kNotFound &&
                   !user_.known(call_->group)) {
            return finish(Error::kNotFound, message.reason);
        } else if (message.id == proto::kError && message.status == proto::kNotFound) {
            //  Reached before: its server is away from the registry for now. Wait for it.
            held(Error::kUnavailable, away_reason(call_->group));
            need_resolve_ = true;
            hold_until_ = mono_ms() + kAwayRetryMs;
            return;
        } else if (message.id == proto::kError && message.status == proto::kInvalid) {
            return finish(Error::kInvalid, message.reason);
        } else if (message.id == proto::kError) {
            //  The registry is relearning or busy: wait, then ask again.
            held(message);
            need_resolve_ = true;
            hold_until_ = mono_ms() + wait_ms(message);
            return;
        }
        advance();
    }
    void timed_out() {
        ServerConn* conn = server_.empty() ? nullptr : user_.server(server_);
        std::string where = conn ? "the group server at " + conn->link->endpoint() : "the registry";
        Link* link = conn ? conn->link.get() : user_.registry();
        std::string reason = link ? link->unreachable_reason() : "";
        //  A request that may have reached its server unanswered may have taken effect,
        //  whatever a later attempt was told.
        if ((unanswered_ || in_flight_) && mutates_)
            finish(Error::kInDoubt,
                   "no answer from " + where + " in time; it may have taken effect");
        else if (!last_why_.empty())
            finish(last_error_, last_why_);
        else if (!reason.empty())
            finish(Error::kUnreachable, "cannot reach " + where + ": " + reason);
        else if (server_.empty() && (!user_.registry() || !user_.registry()->up()))
            finish(Error::kTimeout,
                   registry_silent(user_.registry() ? user_.registry()->endpoint() : "?",
                                   call_->group));
        else
            finish(Error::kTimeout, where + " did not answer in time");
    }

    bool mutates_;
    std::string server_;
    int64_t down_since_ms_ = 0; //  since when (or the last RESOLVE since) server_ is down
    bool in_flight_ = false;
    bool resolving_ = false;
    bool need_resolve_ = false;
    bool moved_ = false;
    int attempts_ = 0;
    uint32_t attempt_id_ = 0; //  the request id of the attempt out (in_flight_)
    uint32_t lapsed_id_ = 0;  //  and of the last one that lapsed
    int64_t hold_until_ = 0;
};

class JoinOp : public GroupOp {
public:
    JoinOp(UserActor& user, Call* call) : GroupOp(user, call, true) {}
    //  A slow server's JOINED (LEFT) to an attempt that lapsed is the answer: it took effect.
    //  An error that comes late is not taken; the attempt sent again settles it.
    void late_reply(const std::string& server_id, proto::Message& message) override {
        bool join = call_->kind == Call::kJoin;
        if (done_ || following_ || server_id != server() ||
            message.id != (join ? proto::kJoined : proto::kOk))
            return;
        answered(message);
    }

private:
    void build(proto::Message* message) override {
        if (following_) { //  from the group's end: a seq past it reads as its end
            message->id = proto::kFollow;
            message->follows.push_back({call_->group, 0, kFollowNow});
            return;
        }
        message->id = call_->kind == Call::kJoin ? proto::kJoin : proto::kLeave;
        message->group = call_->group;
        message->name = user_.name();
    }
    //  A member already (a JOIN that took effect before, its JOINED lost): it follows as a
    //  join does, from the group's end, which a FOLLOW says; then the call ends with then.
    void follow_then(Error then, const std::string& why) {
        following_ = true;
        then_ = then;
        why_ = why;
        again();
    }
    void followed(proto::Message& message) {
        if (message.id != proto::kFollowing || message.follows.size() != 1)
            return finish(Error::kProto, "unexpected reply to FOLLOW");
        const proto::FollowRecord& record = message.follows[0];
        if (record.status != proto::kStatusOk)
            return finish(error_of(record.status, proto::kFollow),
                          "a member of '" + call_->group + "', but not following it: " +
                              (record.status == proto::kLimitReached
                                   ? "this key follows its maximum of groups on that server"
                                   : "the group server refused the follow"));
        user_.follow(call_->group, server(), kFollowNow, record.seq);
        finish(then_, why_);
    }
    void answered(proto::Message& message) override {
        if (following_) return followed(message);
        bool join = call_->kind == Call::kJoin;
        //  A JOIN (LEAVE) sent again after a lost answer finds it done: that is success.
        bool done_before = unanswered_ && message.id == proto::kError &&
                           message.status == (join ? proto::kConflict : proto::kNotMember);
        if (message.id == proto::kError && !done_before) {
            //  Already a member (an earlier join that ended in doubt had taken effect): it
            //  still follows the group, as a join does, from now.
            Error error = error_of(message.status, join ? proto::kJoin : proto::kLeave);
            if (join && message.status == proto::kConflict && !user_.follows(call_->group))
                return follow_then(error, message.reason);
            return finish(error, message.reason);
        }
        if (!join) {
            if (message.id != proto::kOk && !done_before)
                return finish(Error::kProto, "unexpected reply to LEAVE");
            user_.unfollow(call_->group, false);
            return finish(Error::kOk);
        }
        if (done_before) return follow_then(Error::kOk, ""); //  JOINED said where it ends
        if (message.id != proto::kJoined) return finish(Error::kProto, "unexpected reply to JOIN");
        user_.follow(call_->group, server(), message.last_seq, message.last_seq);
        finish(Error::kOk);
    }
    bool following_ = false;
    Error then_ = Error::kOk;
    std::string why_; //  then_'s reason
};

//  FOLLOW of one group, synchronously (zgm_user_follow).
class FollowOp : public GroupOp {
public:
    FollowOp(UserActor& user, Call* call) : GroupOp(user, call, false) {}

private:
    void build(proto::Message* message) override {
        message->id = proto::kFollow;
        proto::FollowRecord record;
        record.group = call_->group;
        record.seq =
            call_->after_seq; //  from now: beyond the end, which the server reads as its end
        message->follows.push_back(record);
    }
    void answered(proto::Message& message) override {
        if (message.id == proto::kError)
            return finish(error_of(message.status, proto::kFollow), message.reason);
        if (message.id != proto::kFollowing || message.follows.size() != 1)
            return finish(Error::kProto, "unexpected reply to FOLLOW");
        const proto::FollowRecord& record = message.follows[0];
        if (record.status != proto::kStatusOk)
            return finish(error_of(record.status, proto::kFollow),
                          record.status == proto::kNotMember
                              ? "not a member of '" + call_->group + "'"
                          : record.status == proto::kLimitReached
                              ? "this key follows its maximum of groups on that server"
                              : "cannot follow '" + call_->group + "'");
        user_.follow(call_->group, server(), call_->after_seq, record.seq);
        finish(Error::kOk);
    }
};

//  MEMBERS, and the owner's ADD, REMOVE, GIVE, POLICY, RETAIN.
class SimpleGroupOp : public GroupOp {
public:
    SimpleGroupOp(UserActor& user, Call* call)
        : GroupOp(user, call, call->kind != Call::kMembers) {}
    //  A slow server's OK to an attempt that lapsed is the answer: it took effect. An error
    //  that comes late is not taken; the attempt sent again settles it.
    void late_reply(const std::string& server_id, proto::Message& message) override {
        if (call_->kind == Call::kMembers) return GroupOp::late_reply(server_id, message);
        if (done_ || server_id != server() || message.id != proto::kOk) return;
        answered(message);
    }

private:
    uint8_t request() const {
        switch (call_->kind) {
        case Call::kAdd:
            return proto::kAdd;
        case Call::kRemove:
            return proto::kRemove;
        case Call::kGive:
            return proto::kGive;
        case Call::kPolicy:
            return proto::kPolicy;
        case Call::kRetain:
            return proto::kRetain;
        default:
            return proto::kMembers;
        }
    }
    void build(proto::Message* message) override {
        message->id = request();
        message->group = call_->group;
        message->after = after_;
        message->key = call_->key;
        message->policy = call_->policy;
        message->max_count = call_->max_count;
        message->max_bytes = call_->max_bytes;
        message->max_age_ms = call_->max_age_ms;
    }
    void answered(proto::Message& message) override {
        //  A GIVE sent again after a lost answer is refused once the first took effect (the
        //  key is no longer the owner): in doubt, not refused. ADD, REMOVE, POLICY and RETAIN
        //  answer OK again.
        if (message.id == proto::kError && call_->kind == Call::kGive && unanswered_ &&
            message.status == proto::kDenied)
            return finish(Error::kInDoubt,
                          "the group server did not answer in time, and refused the GIVE sent "
                          "again (" +
                              message.reason +
                              "): the first may have taken effect; the members show the owner");
        if (message.id == proto::kError)
            return finish(error_of(message.status, request()), message.reason);
        if (call_->kind == Call::kMembers) {
            if (message.id != proto::kMemberList)
                return finish(Error::kProto, "unexpected reply to MEMBERS");
            //  Each key once, as its latest page says (one that left between two pages may
            //  come again as a key added), so that pages that repeat what came before add
            //  nothing.
            for (proto::MemberRecord& member : message.members) {
                auto listed = keys_.emplace(member.key, call_->members.size());
                if (listed.second)
                    call_->members.push_back(std::move(member));
                else
                    call_->members[listed.first->second] = std::move(member);
            }
            call_->key = message.key;
            call_->policy = message.policy;
            if (!message.more) return finish(Error::kOk);
            //  A page that says more follow but names no place after itself, or one named
            //  before (pages that go round), would be asked again for ever.
            if (message.after.empty() || !places_.insert(message.after).second)
                return finish(Error::kProto, "a MEMBER_LIST page said more but held no place "
                                             "past the pages before it");
            after_ = message.after;
            return again();
        }
        if (message.id != proto::kOk) return finish(Error::kProto, "unexpected reply");
        finish(Error::kOk);
    }
    std::string after_;            //  MEMBERS: where the next page starts (empty: the first)
    std::set<std::string> places_; //  every place a page named, to see pages going round
    std::map<Key, size_t> keys_;   //  every key listed: where in call_->members
};

//  FETCH, page after page, until the limit or the end. Oldest first, the first page asks
//  for kFirstPage records at most, so that it comes back soon; then the pages after the one
//  just taken are asked for before they are needed, kFetchAhead at once, each starting where
//  the one before it ends if that one comes back full (as many records as it asked for): the
//  group server reads the next page while this one crosses the wire and is taken here. A
//  page ahead is taken only if it starts where the page before it ended, so the result is
//  the one page after page would give. A page cut short (by bytes: the pages ahead then ask
//  for fewer records), an error or a lapse drops the pages ahead; an error or a lapse goes
//  on page after page, as the first page did.
class FetchOp : public GroupOp {
public:
    FetchOp(UserActor& user, Call* call) : GroupOp(user, call, false) {
        after_ = call->query.after_seq;
        before_ = call->query.before_seq;
    }

private:
    //  A page asked for ahead of its turn.
    struct Ahead {
        uint32_t request_id = 0;
        uint64_t after = 0; //  its after_seq
        uint32_t limit = 0; //  the records it asked for
        bool answered = false;
        proto::Message page; //  once answered
    };

    void build(proto::Message* message) override {
        message->id = proto::kFetch;
        message->group = call_->group;
        message->since_us = call_->query.since_us;
        message->until_us = call_->query.until_us;
        message->after_seq = after_;
        message->before_seq = before_;
        uint64_t wanted = call_->query.limit ? call_->query.limit - got_ : 0;
        message->limit = wanted && wanted < proto::kMaxList ? (uint32_t)wanted : 0;
        //  Oldest first, the first page is short: it comes back soon, and the pages after it
        //  go out together.
        if (!call_->query.newest && first_page_ && (!wanted || wanted > kFirstPage))
            message->limit = kFirstPage;
        message->newest = call_->query.newest ? 1 : 0;
        asked_ = message->limit ? message->limit : proto::kMaxList;
    }
    void reply(Pending& pending, proto::Message& message) override {
        if (mine_.count(pending.request_id)) return ahead_answered(pending.request_id, message);
        GroupOp::reply(pending, message);
    }
    void lapse(Pending& pending) override {
        if (mine_.count(pending.request_id)) {
            bool waited_for = is_ahead(pending.request_id);
            mine_.erase(pending.request_id);
            if (waited_for) page_after_page();
            return;
        }
        GroupOp::lapse(pending);
    }
    void answered(proto::Message& message) override {
        if (message.id == proto::kError) {
            release();
            return finish(error_of(message.status, proto::kFetch), message.reason);
        }
        if (message.id != proto::kMessages) {
            release();
            return finish(Error::kProto, "unexpected reply to FETCH");
        }
        take(message);
    }
    //  Whether a page holds only what was asked, in order: seqs rising, past after_, below
    //  before_, in the time asked. A page that repeats one before it or strays would be
    //  taken twice or out of place (and one that never moves on, for ever).
    bool as_asked(const proto::Message& page) const {
        if (page.group != call_->group || !rises_past(page, after_)) return false;
        for (const proto::MessageView& record : page.views) {
            uint64_t ts = record.timestamp();
            if ((before_ && record.seq() >= before_) || ts < call_->query.since_us ||
                (call_->query.until_us && ts >= call_->query.until_us))
                return false;
        }
        return true;
    }
    //  One page, in its turn.
    void take(proto::Message& message) {
        if (!as_asked(message)) {
            release();
            return finish(Error::kProto,
                          "the group server sent a page of '" + call_->group +
                              "' that repeats, strays from or is out of the order asked");
        }
        first_page_ = false;
        size_t count = message.views.size();
        uint64_t first = count ? message.views.front().seq() : 0;
        uint64_t last = count ? message.views.back().seq() : 0;
        got_ += count;
        bool more = message.more && count > 0;
        //  What retention dropped where each page asked: oldest first, between the page's
        //  after_seq and its first message (a trim while paging included); newest first, only
        //  the page that reached the oldest match counts (below it), no more than the call's
        //  limit left unfilled.
        uint64_t missed = message.missed;
        if (call_->query.newest && call_->query.limit)
            missed = std::min<uint64_t>(missed, call_->query.limit -
                                                    std::min<uint64_t>(call_->query.limit, got_));
        call_->missed += missed;
        if (count) {
            Batch* batch = new Batch();
            batch->group = call_->group;
            batch->frame = std::move(message.frame);
            batch->records = std::move(message.views);
            //  Oldest-first pages come in order; newest-first ones in reverse.
            if (call_->query.newest)
                call_->batches.insert(call_->batches.begin(), batch);
            else
                call_->batches.push_back(batch);
        }
        bool full = call_->query.limit && got_ >= call_->query.limit;
        if (!more || full) {
            call_->more = more;
            return finish(Error::kOk);
        }
        if (call_->query.newest) {
            before_ = first;
            return again();
        }
        after_ = last;
        //  Cut short by bytes: ask for a quarter fewer records than it held from now on.
        if (count < asked_) page_limit_ = std::max<uint32_t>((uint32_t)(count - count / 4), 1);
        next();
    }
    //  The next page: the first page ahead if it starts where the last one ended.
    void next() {
        if (!ahead_.empty() && ahead_.front().after != after_) drop_ahead();
        fill_ahead();
        if (ahead_.empty()) return page_after_page();
        paused_ = true;
        if (!ahead_.front().answered) return; //  wait for it
        Ahead page = std::move(ahead_.front());
        ahead_.pop_front();
        mine_.erase(page.request_id);
        asked_ = page.limit;
        take(page.page);
    }
    //  Asks for pages until kFetchAhead are out, each after the one before.
    void fill_ahead() {
        while (ahead_.size() < kFetchAhead) {
            uint64_t after = after_;
            if (!ahead_.empty()) {
                const Ahead& last = ahead_.back();
                if (last.after > UINT64_MAX - last.limit) return; //  no seq past the top
                after = last.after + last.limit;
            }
            //  A page that would start at or past the bound asks for nothing.
            if (after == UINT64_MAX || (before_ && after + 1 >= before_)) return;
            uint64_t limit = page_limit_;
            if (call_->query.limit) {
                uint64_t promised = got_;
                for (const Ahead& page : ahead_)
                    promised += page.limit;
                if (promised >= call_->query.limit) return;
                limit = std::min<uint64_t>(limit, call_->query.limit - promised);
            }
            proto::Message message;
            message.id = proto::kFetch;
            message.group = call_->group;
            message.since_us = call_->query.since_us;
            message.until_us = call_->query.until_us;
            message.after_seq = after;
            message.before_seq = before_;
            message.limit = (uint32_t)limit;
            //  It waits its turn behind the pages before it: its attempt is as many attempts
            //  long, within the call's time (a connection that drops lapses it at once).
            int64_t attempt = kMaxAttemptMs * (int64_t)(ahead_.size() + 1);
            attempt = std::max<int64_t>(std::min(attempt, deadline_ms_ - mono_ms()), kMaxAttemptMs);
            if (server().empty() || !user_.ask(this, server(), message, (int)attempt)) return;
            Ahead page;
            page.request_id = message.request_id;
            page.after = after;
            page.limit = (uint32_t)limit;
            ahead_.push_back(std::move(page));
            mine_.insert(message.request_id);
        }
    }
    void ahead_answered(uint32_t request_id, proto::Message& message) {
        mine_.erase(request_id);
        auto page = ahead_.begin();
        while (page != ahead_.end() && page->request_id != request_id)
            ++page;
        if (page == ahead_.end()) return; //  dropped
        if (message.id != proto::kMessages) return page_after_page();
        page->answered = true;
        page->page = std::move(message);
        if (page == ahead_.begin()) next();
    }
    bool is_ahead(uint32_t request_id) const {
        for (const Ahead& page : ahead_)
            if (page.request_id == request_id) return true;
        return false;
    }
    //  Their answers, when they come, are for nobody.
    void drop_ahead() { ahead_.clear(); }
    //  The next page as the first one went: one request, retried, its errors reported.
    void page_after_page() {
        drop_ahead();
        paused_ = false;
        again();
    }
    void release() {
        for (Batch* batch : call_->batches)
            batch->release();
        call_->batches.clear();
    }
    void tick(int64_t now) override {
        if (!done_ && now >= deadline_ms_) release();
        GroupOp::tick(now);
    }
    uint64_t after_, before_;
    uint64_t got_ = 0;
    bool first_page_ = true;
    uint32_t asked_ = proto::kMaxList;      //  the records the page being taken asked for
    uint32_t page_limit_ = proto::kMaxList; //  what a page ahead asks for
    std::deque<Ahead> ahead_;               //  in seq order
    std::set<uint32_t> mine_;               //  request ids of pages ahead not answered yet
};

//  Several steps: routes for groups not known yet, then one FOLLOW per group server.
//  Also serves memberships: LIST every page, then MEMBERSHIPS of every group server.
class ManyOp : public Op {
public:
    using Op::Op;
    void start() override {
        if (!user_.registry()) return finish(Error::kNotConnected, "not connected to a registry");
        if (call_->kind == Call::kMemberships) {
            stage_ = kListing;
        } else {
            for (size_t i = 0; i < call_->names.size(); i++) {
                if (!valid_name(call_->names[i])) {
                    note_failure(call_->names[i], invalid_name_reason(), Error::kInvalid);
                    continue;
                }
                wanted_[call_->names[i]] = i < call_->seqs.size() ? call_->seqs[i] : kFollowNow;
            }
            stage_ = kRouting;
        }
        advance();
    }
    void reply(Pending& pending, proto::Message& message) override {
        outstanding_.erase(pending.group.empty() ? pending.server : pending.group);
        if (message.id == proto::kError && message.retry_ms) {
            //  429 or 503, at any stage (a page asked for before the MARK of the one before was
            //  returned, a registry or server stopping): asked again once waited, from where
            //  it was, as every other call waits.
            hold_until_ = mono_ms() + wait_ms(message);
            held(message);
            if (stage_ == kAsking) held_servers_[pending.server] = message.reason;
            return advance();
        }
        if (stage_ == kListing) {
            if (message.id == proto::kGroups && message.complete) {
                last_why_.clear(); //  the registry has learned its groups since
                for (proto::GroupRecord& record : message.groups) {
                    std::string disorder = out_of_name_order(record.name, after_);
                    if (!disorder.empty()) return finish(Error::kProto, disorder);
                    after_ = record.name;
                    if (user_.set_route(record.name, record.endpoint, record.server_key).empty()) {
                        Error error = Error::kProto;
                        std::string why = route_failure(record.name, record.endpoint, &error);
                        note_failure(record.name, why, error);
                    } else {
                        listed_[record.name] = std::move(record);
                    }
                }
                if (!message.more || message.groups.empty()) stage_ = kAsking;
            } else if (message.id == proto::kGroups) {
                hold_until_ = mono_ms() + 200; //  a registry relearning its groups
                held(Error::kUnavailable, proto::kStillLearning);
                listed_.clear();
                after_.clear();
            } else if (message.id == proto::kError) {
                return finish(error_of(message.status, proto::kList), message.reason);
            }
        } else if (stage_ == kRouting) {
            if (message.id == proto::kGroup && message.group != pending.group) {
                note_failure(pending.group, another_group(message.group), Error::kProto);
                wanted_.erase(pending.group);
            } else if (message.id == proto::kGroup) {
                if (user_.set_route(pending.group, message.endpoint, message.key).empty()) {
                    Error error = Error::kProto;
                    std::string why = route_failure(pending.group, message.endpoint, &error);
                    note_failure(pending.group, why, error);
                    wanted_.erase(pending.group);
                }
            } else {
                note_failure(pending.group,
                             message.id == proto::kError ? message.reason : "no answer",
                             message.id == proto::kError ? error_of(message.status, proto::kResolve)
                                                         : Error::kTimeout);
                wanted_.erase(pending.group);
            }
        } else if (message.id == proto::kMembershipList && stage_ == kAsking) {
            //  In pages: the server is answered once a page says there is no more. One that
            //  says more but names no place past the one before would be asked for ever: its
            //  list ends there, and the call says so, as for a server that did not answer.
            held_servers_.erase(pending.server);
            std::string& after = memberships_after_[pending.server];
            //  A page holds the groups after the one it was asked from: one listed again is
            //  not taken twice.
            for (const proto::FollowRecord& record : message.follows) {
                auto listed = listed_.find(record.group);
                if (record.group > after && listed != listed_.end() &&
                    user_.route_of(record.group) == pending.server &&
                    member_of_.insert(record.group).second)
                    call_->groups.push_back(listed->second);
            }
            if (!message.more) {
                answered_.insert(pending.server);
            } else if (!message.follows.empty() && message.after > after) {
                after = message.after;
            } else {
                answered_.insert(pending.server);
                ServerConn* conn = user_.server(pending.server);
                note_failure(conn ? conn->link->endpoint() : pending.server,
                             (after.empty() ? "" : "listed up to '" + after + "', then ") +
                                 "a page said more but held no place past it",
                             Error::kProto);
            }
        } else if (message.id == proto::kFollowing && stage_ == kAsking) {
            //  The groups asked are answered, whatever the reply says of each; the server
            //  is asked for its next kFollowPage, if there are more (advance).
            //  Only a record of a group asked of this server, once: one of another server's
            //  group would move its follow here, and a repeat count twice. A group asked and
            //  not answered is not followed, and said so.
            std::set<std::string> asked;
            for (const std::string& group : follow_asked_[pending.server]) {
                follow_answered_.insert(group);
                asked.insert(group);
            }
            for (const proto::FollowRecord& record : message.follows) {
                auto wanted = wanted_.find(record.group);
                if (wanted == wanted_.end() || !asked.erase(record.group)) continue;
                if (record.status == proto::kStatusOk) {
                    user_.follow(record.group, pending.server, wanted->second, record.seq);
                    call_->count++;
                } else {
                    note_failure(record.group,
                                 record.status == proto::kNotMember
                                     ? "not a member"
                                     : "refused (" + std::to_string(record.status) + ")",
                                 error_of(record.status, proto::kFollow));
                }
            }
            for (const std::string& group : asked)
                note_failure(group, "its group server's answer did not name it", Error::kProto);
        } else if (message.id == proto::kError && stage_ == kAsking) {
            answered_.insert(pending.server);
            note_failure(pending.server, message.reason, error_of(message.status, proto::kFollow));
        }
        advance();
    }
    void lapse(Pending& pending) override {
        outstanding_.erase(pending.group.empty() ? pending.server : pending.group);
        advance();
    }
    void tick(int64_t now) override {
        if (done_) return;
        if (now >= deadline_ms_) {
            if (stage_ == kAsking) return conclude();
            if (registry_unreachable()) return;
            //  What the registry said while it was waited for (still learning), if it did.
            if (!last_why_.empty()) return finish(last_error_, last_why_);
            Link* registry = user_.registry();
            return finish(Error::kTimeout, "the registry at " +
                                               (registry ? registry->endpoint() : "?") +
                                               " did not answer in time");
        }
        advance();
    }

private:
    enum Stage { kListing, kRouting, kAsking };

    //  A group (or server) not followed, and why. error: what the failure says, if every
    //  group fails (the first refusal; ZGM_ETIMEOUT as soon as one had no answer, as trying
    //  again may then do).
    void note_failure(const std::string& what, const std::string& why, Error error) {
        failures_ += (failures_.empty() ? "" : "; ") + what + ": " + why;
        if (error == Error::kTimeout || failed_ == Error::kOk) failed_ = error;
    }
    void advance() {
        if (done_ || mono_ms() < hold_until_) return;
        Link* registry = user_.registry();
        if (stage_ == kListing) {
            if (!outstanding_.empty()) return;
            if (!registry->up()) {
                registry_unreachable();
                return;
            }
            proto::Message list;
            list.id = proto::kList;
            list.after = after_;
            if (user_.ask(this, "", list, kFirstAttemptMs)) outstanding_.insert("");
            return;
        }
        if (stage_ == kRouting) {
            bool missing = false;
            for (const auto& wanted : wanted_) {
                if (!user_.route_of(wanted.first).empty()) continue;
                missing = true;
                if (outstanding_.count(wanted.first) || !registry->up()) continue;
                proto::Message resolve;
                resolve.id = proto::kResolve;
                resolve.group = wanted.first;
                if (user_.ask(this, "", resolve, kFirstAttemptMs)) {
                    outstanding_.insert(wanted.first);
                    resolving_groups_[wanted.first] = true;
                }
            }
            if (missing) {
                if (!registry->up()) registry_unreachable();
                return;
            }
            stage_ = kAsking;
        }
        //  kAsking: one request per group server not answered yet.
        std::map<std::string, std::vector<std::string>> by_server;
        if (call_->kind == Call::kMemberships) {
            for (const auto& listed : listed_)
                by_server[user_.route_of(listed.first)];
        } else {
            for (const auto& wanted : wanted_)
                by_server[user_.route_of(wanted.first)].push_back(wanted.first);
        }
        bool waiting = false;
        for (auto& entry : by_server) {
            if (answered_.count(entry.first)) continue;
            if (call_->kind != Call::kMemberships) {
                std::vector<std::string>& groups = entry.second;
                groups.erase(std::remove_if(groups.begin(), groups.end(),
                                            [this](const std::string& group) {
                                                return follow_answered_.count(group) > 0;
                                            }),
                             groups.end());
                if (groups.empty()) {
                    answered_.insert(entry.first);
                    continue;
                }
            }
            waiting = true;
            if (outstanding_.count(entry.first)) continue;
            ServerConn* conn = user_.server(entry.first);
            if (!conn || !conn->link->up()) continue;
            proto::Message message;
            if (call_->kind == Call::kMemberships) {
                message.id = proto::kMemberships;
                message.after = memberships_after_[entry.first];
            } else {
                //  kFollowPage groups a FOLLOW: one of every group would be past what a
                //  frame holds.
                message.id = proto::kFollow;
                if (entry.second.size() > proto::kFollowPage)
                    entry.second.resize(proto::kFollowPage);
                for (const std::string& group : entry.second) {
                    uint64_t after = wanted_[group];
                    message.follows.push_back({group, 0, after}); //  from now: beyond the end
                }
                follow_asked_[entry.first] = entry.second;
            }
            if (user_.ask(this, entry.first, message, kFirstAttemptMs))
                outstanding_.insert(entry.first);
        }
        if (!waiting) conclude();
    }
    //  Why a server is not answered when the time is up: the refusal it was waiting out, if
    //  that is what it was doing.
    std::string unanswered_why(const std::string& server, const std::string& otherwise) const {
        auto held = held_servers_.find(server);
        return held == held_servers_.end() ? otherwise : "refused: " + held->second;
    }
    void conclude() {
        if (call_->kind == Call::kMemberships) {
            std::sort(call_->groups.begin(), call_->groups.end(),
                      [](const proto::GroupRecord& a, const proto::GroupRecord& b) {
                          return a.name < b.name;
                      });
            for (const auto& listed : listed_) {
                std::string server = user_.route_of(listed.first);
                if (!answered_.count(server) && !unanswered_.count(server)) {
                    unanswered_.insert(server);
                    const std::string& after = memberships_after_[server];
                    note_failure(listed.second.endpoint,
                                 (after.empty() ? "" : "listed up to '" + after + "', then ") +
                                     unanswered_why(server, "no answer"),
                                 Error::kTimeout);
                }
            }
            return finish(Error::kOk, failures_);
        }
        for (const auto& wanted : wanted_) {
            std::string server = user_.route_of(wanted.first);
            if (!answered_.count(server) && !follow_answered_.count(wanted.first))
                note_failure(wanted.first,
                             unanswered_why(server, "its group server did not answer"),
                             Error::kTimeout);
        }
        if (call_->count == 0 && !call_->names.empty())
            return finish(failed_ == Error::kOk ? Error::kTimeout : failed_,
                          failures_.empty() ? "nothing followed" : failures_);
        finish(Error::kOk, failures_);
    }

    Stage stage_ = kRouting;
    std::map<std::string, uint64_t> wanted_;
    std::map<std::string, proto::GroupRecord> listed_;
    std::map<std::string, bool> resolving_groups_;
    std::set<std::string> outstanding_; //  "" registry LIST, a group (RESOLVE), a server id
    std::set<std::string> answered_;    //  servers
    std::map<std::string, std::string> memberships_after_; //  by server: where its next page starts
    std::set<std::string> member_of_; //  the groups taken, each once (a page may repeat one)
    std::map<std::string, std::string> held_servers_; //  by server: its last 429 or 503, waited out
    std::map<std::string, std::vector<std::string>> follow_asked_; //  by server: its FOLLOW out
    std::set<std::string> follow_answered_;                        //  groups a FOLLOWING answered
    std::set<std::string> unanswered_;
    std::string after_;
    std::string failures_;
    Error failed_ = Error::kOk;
    int64_t hold_until_ = 0;
};

//  STATS of one server (the registry, or a group server), page after page.
class StatsOp : public Op {
public:
    using Op::Op;
    void start() override {
        Link* registry = user_.registry();
        if (registry && registry->endpoint() == call_->text && registry->key() == call_->key)
            server_.clear(); //  the registry itself
        else
            server_ = user_.connect_server(call_->text, call_->key);
        if (!registry && server_.empty()) return finish(Error::kInvalid, "not an endpoint");
        advance();
    }
    void reply(Pending&, proto::Message& message) override {
        in_flight_ = false;
        //  Slowed down (its rate, or what this connection or all have not read): asked again
        //  when told, within the call's time.
        if (message.id == proto::kError && message.status == proto::kRateLimited) {
            held(message);
            hold_until_ = mono_ms() + wait_ms(message);
            return;
        }
        if (message.id == proto::kError)
            return finish(error_of(message.status, proto::kStats), message.reason);
        if (message.id != proto::kStatsReport)
            return finish(Error::kProto, "unexpected reply to STATS");
        //  Pages after the first repeat the server's own lines: keep what is paged only (a
        //  group server's groups; the registry's group servers: its report has "registry"
        //  lines, whatever endpoint named it).
        if (pages_ == 0)
            paged_ = message.report.compare(0, 9, "registry\t") == 0 ||
                             message.report.find("\nregistry\t") != std::string::npos
                         ? "server/"
                         : "group/";
        std::string last = after_;
        size_t start = 0;
        while (start < message.report.size()) {
            size_t end = message.report.find('\n', start);
            if (end == std::string::npos) end = message.report.size();
            std::string line = message.report.substr(start, end - start);
            start = end + 1;
            bool item = line.compare(0, paged_.size(), paged_) == 0;
            if (item) after_ = line.substr(paged_.size(), line.find('\t') - paged_.size());
            if (pages_ == 0 || item) call_->body += line + "\n";
        }
        pages_++;
        if (!message.more) return finish(Error::kOk);
        //  A page that says more follow but names none would be asked again for ever.
        if (after_ == last) return finish(Error::kProto, "a STATS page said more but held none");
        advance();
    }
    void lapse(Pending&) override {
        in_flight_ = false;
        advance();
    }
    void tick(int64_t now) override {
        if (done_) return;
        if (now >= deadline_ms_) {
            Link* link = this->link();
            std::string reason = link && !link->up() ? link->unreachable_reason() : "";
            if (!reason.empty())
                return finish(Error::kUnreachable, "cannot reach " + call_->text + ": " + reason);
            if (!last_why_.empty()) return finish(last_error_, last_why_);
            return finish(Error::kTimeout, "no answer to STATS from " + call_->text + " in time");
        }
        advance();
    }

private:
    Link* link() {
        ServerConn* conn = server_.empty() ? nullptr : user_.server(server_);
        return server_.empty() ? user_.registry() : conn ? conn->link.get() : nullptr;
    }
    void advance() {
        if (done_ || in_flight_ || mono_ms() < hold_until_) return;
        Link* link = this->link();
        if (!link || !link->up()) {
            //  The registry refusing connections is said as soon as other calls say it.
            if (link && server_.empty()) registry_unreachable();
            return;
        }
        proto::Message message;
        message.id = proto::kStats;
        message.after = after_;
        if (user_.ask(this, server_, message, kFirstAttemptMs)) in_flight_ = true;
    }
    std::string server_;
    std::string after_;
    bool in_flight_ = false;
    int64_t hold_until_ = 0; //  after a 429
    int pages_ = 0;
    std::string paged_; //  the scope prefix of what the pages hold
};

//  ---------------------------------------------------------------------------------------
//  The actor

void UserActor::build_poll_set() {
    fds_.clear();
    polled_.clear();
    fds_.push_back({socket_fd(pipe_), POLLIN, 0});
    polled_.push_back({"", nullptr, false});
    auto add = [&](const std::string& id, Link* link) {
        int socket = link->socket_fd(), monitor = link->monitor_fd();
        if (socket < 0) return;
        fds_.push_back({socket, POLLIN, 0});
        polled_.push_back({id, link, false});
        if (monitor >= 0) {
            fds_.push_back({monitor, POLLIN, 0});
            polled_.push_back({id, link, true});
        }
    };
    if (registry_) add("", registry_.get());
    for (auto& server : servers_)
        add(server.first, server.second.link.get());
    //  Read every socket once: new ones, and those whose ZMQ_FD the last set did not watch.
    maybe_.assign(fds_.size(), 1);
    repoll_ = false;
    fds_version_++;
}

bool UserActor::turn() {
    bool got = false;
    auto take = [&](size_t i) {
        bool signalled = fds_[i].revents & (POLLIN | POLLERR | POLLHUP);
        fds_[i].revents = 0;
        bool go = maybe_[i] || signalled;
        maybe_[i] = 0;
        got |= signalled;
        return go;
    };
    if (!fds_.empty() && take(0)) {
        bool drained = true;
        if (!handle_pipe(&drained)) return false;
        if (!drained) maybe_[0] = 1;
    }
    //  A call that changed the links (a connect) left fds_ behind: every socket is read
    //  once the set is built again, at the next turn.
    for (size_t i = 1; i < fds_.size() && !repoll_; i++) {
        if (!take(i)) continue;
        Polled& polled = polled_[i];
        Link* link = polled.link;
        bool drained;
        if (polled.monitor) {
            bool was_up = link->up();
            uint64_t downs = link->downs();
            drained = link->handle_monitor();
            if (link->downs() != downs) lapse_all(polled.id); //  their replies will not come
            if (link->up() && (!was_up || link->downs() != downs))
                tick_now_ = true; //  what waited for it goes now
        } else {
            drained = handle_link(polled.id, link);
        }
        if (!drained) maybe_[i] = 1;
    }
    int64_t now = mono_ms();
    if (got) last_event_ = now;
    if (now >= due_ && now < ticks_due_) {
        tick_deadlines(now); //  only a deadline came: not the whole tick (every followed group)
    } else if (now >= due_) {
        tick();
        now = last_tick_ = mono_ms();
        tick_now_ = false;
    }
    flush_outcomes();

    //  The next turn. Calls and sends are looked at often; with none, the actor sleeps
    //  until its next deadline (a request's, a keep-alive's), so idle users cost nothing
    //  between them. At most one tick in kTickMs either way: what is due but cannot go yet
    //  (a catch-up whose FETCH the socket will not take) is tried again then, not in a busy
    //  loop. Calls waiting on peers that say nothing (a server stalled or gone) are looked
    //  at less often the longer the silence, up to kQuietTickMs: a thousand users with sends
    //  waiting would otherwise take the CPUs their server needs to answer them. Never later
    //  than the first deadline of a call or send (calls_due_): a call ends at its timeout
    //  (a send, fetch or leave given 1000 ms ended at 1160 ms, at the 250 ms ticks).
    if (repoll_) build_poll_set();
    bool busy = !ops_.empty() || !sends_.empty() || !outcomes_.empty();
    int64_t busy_tick =
        std::min<int64_t>(std::max<int64_t>((now - last_event_) / 4, kTickMs), kQuietTickMs);
    ticks_due_ = tick_now_ ? 0
                 : busy    ? last_tick_ + busy_tick
                           : std::max(idle_deadline(), last_tick_ + kTickMs);
    due_ = busy ? std::min(ticks_due_, calls_due_) : ticks_due_;
    //  Sends on a link's DEALER in this turn may have taken its signal.
    for (size_t i = 1; i < polled_.size(); i++)
        if (!polled_[i].monitor && polled_[i].link->take_sent()) maybe_[i] = 1;
    bool maybe = std::find(maybe_.begin(), maybe_.end(), 1) != maybe_.end();
    wake_at_ = maybe ? 0 : due_;
    return true;
}

//  Takes every call waiting on the pipe (bounded), then sends what they queued, so calls
//  that come in a burst go out in few requests.
bool UserActor::handle_pipe(bool* drained) {
    bool alive = true;
    *drained = false;
    for (int i = 0; i < 10000 && alive; i++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zsock_resolve(pipe_), ZMQ_DONTWAIT) < 0) {
            //  The context is going away (zmq_poll failed on it before).
            if (zmq_errno() == ETERM) alive = false;
            *drained = true;
            zmq_msg_close(&frame);
            break;
        }
        bool more = zmq_msg_more(&frame);
        if (zmq_msg_size(&frame) == sizeof(void*) && !more) {
            Call* call = nullptr;
            memcpy(&call, zmq_msg_data(&frame), sizeof(void*));
            if (call) start_call(call);
        } else {
            //  A command of CZMQ's: $TERM.
            alive = !(zmq_msg_size(&frame) == 5 && memcmp(zmq_msg_data(&frame), "$TERM", 5) == 0);
            while (more && zmq_msg_recv(&frame, zsock_resolve(pipe_), 0) >= 0)
                more = zmq_msg_more(&frame);
        }
        zmq_msg_close(&frame);
    }
    for (const std::string& group : to_pump_)
        pump(group);
    to_pump_.clear();
    return alive;
}

void UserActor::start_call(Call* call) {
    std::unique_ptr<Op> op;
    switch (call->kind) {
    case Call::kConnect: {
        security_ = call->insecure ? Security::kInsecure : Security::kCurve;
        registry_.reset(new Link(call->text, call->key));
        repoll_ = true;
        std::string why;
        if (!registry_->open(keys_, security_, &why)) {
            registry_.reset();
            call->error = Error::kInvalid;
            call->why = why;
        }
        return reply_call(call);
    }
    case Call::kLastSeq: {
        auto found = followed_.find(call->group);
        call->seq = found != followed_.end() ? found->second.last_seq : 0;
        return reply_call(call);
    }
    case Call::kUnfollow:
        unfollow(call->group);
        return reply_call(call);
    case Call::kSend:
    case Call::kSendAsync: {
        std::unique_ptr<OutgoingSend> send(new OutgoingSend());
        send->msg_id = call->msg_id;
        send->group = call->group;
        send->body.swap(call->body);
        send->deadline_ms = mono_ms() + call->timeout_ms;
        if (call->kind == Call::kSend)
            send->call = call;
        else
            delete call; //  its outcome comes as an Event
        return queue_send(std::move(send));
    }
    case Call::kGroups:
        op.reset(new GroupsOp(*this, call));
        break;
    case Call::kResolve:
    case Call::kCreate:
        op.reset(new GroupRecordOp(*this, call));
        break;
    case Call::kJoin:
    case Call::kLeave:
        op.reset(new JoinOp(*this, call));
        break;
    case Call::kFollow:
        op.reset(new FollowOp(*this, call));
        break;
    case Call::kFollowMany:
    case Call::kMemberships:
        op.reset(new ManyOp(*this, call));
        break;
    case Call::kFetch:
        op.reset(new FetchOp(*this, call));
        break;
    case Call::kStats:
        op.reset(new StatsOp(*this, call));
        break;
    case Call::kMembers:
    case Call::kAdd:
    case Call::kRemove:
    case Call::kGive:
    case Call::kPolicy:
    case Call::kRetain:
        op.reset(new SimpleGroupOp(*this, call));
        break;
    }
    if (!registry_ && call->kind != Call::kFetch && call->kind != Call::kStats) {
        call->error = Error::kNotConnected;
        call->why = "not connected to a registry (zgm_user_connect)";
        return reply_call(call);
    }
    op->id = next_op_++;
    due_by(op->deadline());
    Op* started = op.get();
    ops_[op->id] = std::move(op);
    started->start();
    if (started->done()) ops_.erase(started->id);
}

bool UserActor::ask(Op* op, const std::string& server_id, proto::Message& message, int attempt_ms) {
    ServerConn* conn = server_id.empty() ? nullptr : server(server_id);
    Link* link = server_id.empty() ? registry_.get() : conn ? conn->link.get() : nullptr;
    if (!link || !link->up()) return false;
    message.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (!link->send(message)) return false;
    Pending& pending = pending_[message.request_id];
    pending.purpose = Purpose::kOp;
    pending.request_id = message.request_id;
    pending.op = op ? op->id : 0;
    pending.server = server_id;
    pending.group = message.id == proto::kResolve ? message.group : "";
    pending.deadline_ms = mono_ms() + attempt_ms;
    return true;
}

std::string UserActor::connect_server(const std::string& endpoint, const Key& key) {
    std::string id = endpoint + " " + key.str();
    if (!servers_.count(id)) {
        ServerConn& conn = servers_[id];
        conn.link.reset(new Link(endpoint, key));
        repoll_ = true;
        std::string why;
        if (!conn.link->open(keys_, security_, &why)) {
            servers_.erase(id);
            return "";
        }
    }
    return id;
}

std::string UserActor::set_route(const std::string& group, const std::string& endpoint,
                                 const Key& key) {
    std::string id = connect_server(endpoint, key);
    if (id.empty()) return "";
    auto route = routes_.find(group);
    std::string was = route != routes_.end() ? route->second : "";
    point(group, id);
    if (!was.empty() && was != id) left_.push_back(was);
    //  The same key at another endpoint is the same group server, moved (the registry lists
    //  one live server per key): its other groups are there too. Each waited for a RESOLVE
    //  of its own, a second or more after its first call or send (kReresolveMs) or a
    //  keep-alive (probe).
    auto old = servers_.find(was);
    if (was.empty() || was == id || old == servers_.end() || !(old->second.link->key() == key))
        return id;
    for (auto& entry : routes_)
        if (entry.second == was) point(entry.first, id);
    for (auto& entry : followed_)
        if (entry.second.server == was) point(entry.first, id);
    for (auto& entry : unfollowed_)
        if (entry.second.server == was) entry.second.server = id;
    return id;
}

//  Routes a group to a group server (by id), and moves its follow there.
void UserActor::point(const std::string& group, const std::string& server_id) {
    routes_[group] = server_id;
    known_.insert(group);
    auto followed = followed_.find(group);
    if (followed != followed_.end() && followed->second.server != server_id) {
        followed->second.server = server_id;
        servers_[server_id].next_refresh_ms = 0; //  follow it there at once
    }
    //  Unfollowed with messages unread: a follow again goes on after them there too.
    auto gone = unfollowed_.find(group);
    if (gone != unfollowed_.end()) gone->second.server = server_id;
}

void UserActor::follow(const std::string& group, const std::string& server_id, uint64_t after_seq,
                       uint64_t last_seq) {
    //  A group followed already goes on from what was handed over: never a message twice.
    //  So does one unfollowed while messages of it handed over still wait to be read: they
    //  come, and the follow goes on after them (fetching them again, it handed them twice,
    //  the second time after later ones).
    auto before = followed_.find(group);
    uint64_t handed = before != followed_.end() && before->second.server == server_id
                          ? before->second.last_seq
                          : 0;
    auto gone = unfollowed_.find(group);
    bool unread = before == followed_.end() && gone != unfollowed_.end() &&
                  gone->second.server == server_id && !read_past(gone->second.handed_mark);
    Followed& followed = followed_[group];
    if (unread) {
        handed = gone->second.last_seq;
        followed.last_ts = gone->second.last_ts;
        followed.handed_mark = gone->second.handed_mark;
    } else if (followed.server != server_id) {
        followed.last_ts = 0;
    }
    if (gone != unfollowed_.end()) unfollowed_.erase(gone);
    followed.server = server_id;
    followed.went_back = false;
    followed.held_until_ms = 0; //  a follow asked for now catches up now
    //  From after_seq, or the group's end (last_seq) if that comes first: a seq beyond it
    //  (a cursor of a store since lost or restored) would pass over the messages to come.
    followed.last_seq = std::min(
        std::max(after_seq == kFollowNow ? last_seq : std::min(after_seq, last_seq), handed),
        last_seq);
    followed.seen_seq = std::max(followed.last_seq, last_seq);
    followed.catching_up = false;
    followed.resolving = false;
    catch_up(group, followed);
    //  Confirm the follow with the server at once (and acknowledge where it starts).
    ServerConn* conn = server(server_id);
    if (conn) conn->next_refresh_ms = 0;
}

//  True if it read the socket to the end (EAGAIN).
bool UserActor::handle_link(const std::string& server_id, Link* link) {
    for (int i = 0; i < 1000; i++) {
        proto::Message message;
        //  Records as views into the frame, which batches keep.
        proto::DecodeError rc = link->receive(&message);
        if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return true;
        if (rc == proto::DecodeError::kBadVersion && message.request_id) {
            //  A peer of another protocol version answers 426 in its own: its header names
            //  the request, and the rest is not read. The request was not carried out.
            proto::Message refused;
            refused.id = proto::kError;
            refused.request_id = message.request_id;
            refused.status = proto::kBadVersion;
            refused.reason = std::string(server_id.empty() ? "the registry" : "the group server") +
                             " speaks version " + std::to_string(message.version) +
                             " of zgm's protocol, and this zgm speaks version " +
                             std::to_string(proto::kVersion) + ": run the same zgm on both";
            dispatch(server_id, refused);
            continue;
        }
        if (rc != proto::DecodeError::kOk) {
            //  A malformed reply answers nothing we can trust; its request lapses.
            continue;
        }
        if (message.id == proto::kMark) { //  read this far: say so (net/receipts.h)
            message.id = proto::kReceipt;
            link->send(message);
            continue;
        }
        dispatch(server_id, message);
    }
    return false;
}

void UserActor::dispatch(const std::string& server_id, proto::Message& message) {
    if (message.id == proto::kDeliver && message.request_id == 0)
        return on_deliver(server_id, message);
    auto found = pending_.find(message.request_id);
    if (found == pending_.end() || found->second.server != server_id) {
        auto late_internal = lapsed_internal_.find(message.request_id);
        if (late_internal != lapsed_internal_.end() && late_internal->second.server == server_id) {
            const LapsedInternal& late = late_internal->second;
            auto sends = sends_.find(late.group);
            ServerConn* conn = server(server_id);
            if (late.purpose == Purpose::kSend && sends != sends_.end()) {
                sends_heard(sends->second, server_id, late.order);
                settle_late(sends->second, late.ids, message);
            } else if (late.purpose == Purpose::kCatchUp && conn) {
                catch_ups_heard(*conn, (int64_t)late.order);
            }
            lapsed_internal_.erase(late_internal);
            return;
        }
        auto late = lapsed_.find(message.request_id);
        if (late == lapsed_.end() || late->second.second != server_id) return;
        auto op = ops_.find(late->second.first);
        lapsed_.erase(late);
        if (op == ops_.end()) return;
        op->second->late_reply(server_id, message);
        if (op->second->done()) ops_.erase(op);
        return;
    }
    Pending pending = std::move(found->second);
    pending_.erase(found);
    if (pending.purpose == Purpose::kSend) return sends_answered(pending, message);
    if (pending.purpose != Purpose::kOp) return on_internal_reply(pending, message);
    auto op = ops_.find(pending.op);
    if (op == ops_.end()) return;
    op->second->reply(pending, message);
    if (op->second->done()) ops_.erase(op);
}

void UserActor::on_deliver(const std::string& server_id, proto::Message& deliver) {
    ServerConn* conn = server(server_id);
    if (conn) conn->unacked_bytes += deliver.frame.size();
    auto found = followed_.find(deliver.group);
    if (found == followed_.end() || found->second.server != server_id) return;
    Followed& followed = found->second;
    for (const proto::MessageView& record : deliver.views)
        followed.seen_seq = std::max(followed.seen_seq, record.seq());
    //  While a catch-up fetch is on its way, it brings these too; after the group went
    //  back, the fetch by time decides where they start.
    if (!followed.catching_up && !followed.went_back) emit(deliver.group, followed, deliver, 0);
    catch_up(deliver.group, followed);
    if (conn && conn->unacked_bytes >= kAckBytes) refresh(server_id, *conn, true);
}

//  Hands the caller the records that come next (seq last_seq + 1, + 2, ...) as one Batch
//  sharing the frame; missed_before allows a jump over messages trimmed by retention. False
//  if it stopped short at a gap, or the caller is too far behind (then nothing was handed
//  over, and a later fetch brings them again).
bool UserActor::emit(const std::string& group, Followed& followed, proto::Message& message,
                     uint64_t missed_before) {
    uint64_t last = followed.last_seq;
    std::vector<proto::MessageView> next;
    std::vector<uint64_t> missed;
    bool complete = true;
    for (const proto::MessageView& record : message.views) {
        uint64_t seq = record.seq();
        uint64_t skipped = 0;
        if (missed_before && next.empty() && seq > last + 1) {
            skipped = seq - last - 1;
            last = seq - 1;
        }
        if (seq <= last) continue;
        if (seq != last + 1) {
            complete = false;
            break;
        }
        last = seq;
        next.push_back(record);
        missed.push_back(skipped);
    }
    if (next.empty()) return complete;
    //  The caller reads at its pace; beyond what it may leave unread, it catches up later.
    if (caller_behind()) return false;
    uint64_t last_ts = next.back().timestamp();
    Batch* batch = new Batch();
    batch->group = group;
    batch->frame = std::move(message.frame);
    batch->records = std::move(next);
    bool any_missed = false;
    for (uint64_t count : missed)
        any_missed |= count > 0;
    if (any_missed) batch->missed = std::move(missed);
    uint64_t charge = unread_charge(*batch);
    Event* event = new Event();
    event->batch = batch;
    if (!hand_over(event)) {
        delete event; //  and its batch
        return false;
    }
    emitted_bytes_ += charge;
    followed.handed_mark = emitted_bytes_;
    followed.last_seq = last;
    followed.last_ts = last_ts;
    message.views.clear();
    return complete;
}

//  Fetches what has not been handed over yet, unless a fetch is already on its way.
//  Whether a followed group is behind and a catch-up FETCH for it can go now.
bool UserActor::can_catch_up(const Followed& followed) {
    if (followed.catching_up || followed.resolving ||
        (followed.seen_seq <= followed.last_seq && !followed.went_back) || caller_behind() ||
        (followed.held_until_ms && mono_ms() < followed.held_until_ms))
        return false;
    ServerConn* conn = server(followed.server);
    return conn && conn->link->up() && (int)conn->catch_ups.size() < kCatchUpsPerServer;
}

//  When tick() has something to do next with no call or send waiting: now for a catch-up
//  that can go, else the earliest of the requests' deadlines, the keep-alives of servers
//  with follows and the reopening of refused links; INT64_MAX for none. A group behind
//  while the caller is behind is looked at again in kTickMs (the caller does not wake the
//  actor when it reads; before, each tick fetched a page that could not be handed over).
int64_t UserActor::idle_deadline() {
    int64_t due = INT64_MAX;
    bool held = false;
    //  The servers with follows (few: a vector, and no allocation once it has grown).
    std::vector<const std::string*>& following = following_;
    following.clear();
    int64_t now = mono_ms();
    for (const auto& entry : followed_) {
        if (can_catch_up(entry.second)) return 0;
        bool behind = entry.second.seen_seq > entry.second.last_seq || entry.second.went_back;
        held = held || behind;
        if (behind && entry.second.held_until_ms > now)
            due = std::min(due, entry.second.held_until_ms);
        if (std::none_of(following.begin(), following.end(),
                         [&](const std::string* id) { return *id == entry.second.server; }))
            following.push_back(&entry.second.server);
    }
    for (const auto& entry : pending_)
        due = std::min(due, entry.second.deadline_ms);
    for (const auto& entry : servers_) {
        //  A keep-alive out waits for its answer or its request's deadline, above.
        bool followed = std::any_of(following.begin(), following.end(),
                                    [&](const std::string* id) { return *id == entry.first; });
        if (followed && !entry.second.refreshing) due = std::min(due, entry.second.next_refresh_ms);
        if (entry.second.link->reopen_ms()) due = std::min(due, entry.second.link->reopen_ms());
    }
    if (registry_ && registry_->reopen_ms()) due = std::min(due, registry_->reopen_ms());
    if (held && caller_behind()) due = std::min(due, mono_ms() + kTickMs);
    return due;
}

void UserActor::catch_up(const std::string& group, Followed& followed) {
    if (!can_catch_up(followed)) return;
    ServerConn* conn = server(followed.server);
    proto::Message fetch;
    fetch.id = proto::kFetch;
    fetch.group = group;
    fetch.after_seq = followed.last_seq;
    if (followed.went_back) {
        fetch.after_seq = 0;
        fetch.since_us = followed.last_ts + 1;
    }
    fetch.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (!conn->link->send(fetch)) return;
    Pending& pending = pending_[fetch.request_id];
    pending.purpose = Purpose::kCatchUp;
    pending.request_id = fetch.request_id;
    pending.server = followed.server;
    pending.group = group;
    pending.by_time = followed.went_back;
    pending.after_seq = fetch.after_seq;
    pending.sent_ms = mono_ms();
    pending.deadline_ms = pending.sent_ms + kInternalTimeoutMs;
    followed.catching_up = true;
    conn->catch_ups.push_back(fetch.request_id);
}

//  Stops following a group; its group server is told at once (UNFOLLOW: its pushes stop,
//  and the follow no longer counts toward the key's --max-follows there), also when this
//  side has no follow of it (a JOIN or FOLLOW in doubt may have made one there). Not
//  answered: a lost UNFOLLOW is a follow that lapses (10 s) as it did before.
void UserActor::unfollow(const std::string& group, bool tell_server) {
    std::string server_id = route_of(group);
    forget_read_unfollowed();
    auto found = followed_.find(group);
    if (found != followed_.end()) {
        server_id = found->second.server;
        //  What was handed over and is not read yet still comes (a follow again goes on
        //  after it).
        if (!read_past(found->second.handed_mark)) unfollowed_[group] = found->second;
        followed_.erase(found);
    }
    ServerConn* conn = server_id.empty() ? nullptr : server(server_id);
    if (!tell_server || !conn || !conn->link->up()) return;
    proto::Message unfollow;
    unfollow.id = proto::kUnfollow;
    unfollow.follows.push_back({group, 0, 0});
    unfollow.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    conn->link->send(unfollow);
}

//  One FOLLOW for every group followed on the server: keeps the follows alive, follows
//  again after a reconnect, and acknowledges what came.
void UserActor::refresh(const std::string& server_id, ServerConn& conn, bool ack) {
    if (conn.refreshing && !ack) return;
    std::vector<proto::FollowRecord> records;
    std::vector<std::string> groups;
    for (const auto& entry : followed_)
        if (entry.second.server == server_id && !entry.second.resolving) {
            records.push_back({entry.first, 0, entry.second.last_seq}); //  status 0
            groups.push_back(entry.first);
        }
    conn.next_refresh_ms = mono_ms() + kRefreshMs;
    if (groups.empty()) return;
    if (!conn.link->up()) {
        //  No connection at a keep-alive (a server killed and restarted elsewhere refuses
        //  at its old address): it may have moved, as when it is silent.
        probe(conn, groups);
        return;
    }
    //  kFollowPage groups a FOLLOW: one of every group would be past what a frame holds.
    for (size_t begin = 0; begin < records.size(); begin += proto::kFollowPage) {
        size_t end = std::min(records.size(), begin + proto::kFollowPage);
        proto::Message follow;
        follow.id = proto::kFollow;
        follow.follows.assign(records.begin() + begin, records.begin() + end);
        follow.request_id = next_request_id_++;
        if (next_request_id_ == 0) next_request_id_ = 1;
        if (!conn.link->send(follow)) return;
        conn.unacked_bytes = 0;
        Pending& pending = pending_[follow.request_id];
        pending.purpose = Purpose::kRefresh;
        pending.server = server_id;
        pending.groups.assign(groups.begin() + begin, groups.begin() + end);
        pending.first_page = begin == 0;
        pending.deadline_ms = mono_ms() + kInternalTimeoutMs;
        conn.refreshing++;
    }
}

//  Asks the registry where one of the groups followed on a silent or unreachable group
//  server is now, a different one each time: the groups of a server move with it, and the
//  answer that shows one moved moves the others (set_route). A RESOLVE for every
//  group at every keep-alive made a user following thousands of groups on a server that
//  is down ask the registry thousands of times every two seconds.
void UserActor::probe(ServerConn& conn, const std::vector<std::string>& groups) {
    if (!groups.empty()) resolve(groups[conn.probes++ % groups.size()]);
}

//  Asks the registry where a followed group (or a group with sends waiting) is now.
void UserActor::resolve(const std::string& group) {
    if (resolving_.count(group) || !registry_ || !registry_->up()) return;
    proto::Message message;
    message.id = proto::kResolve;
    message.group = group;
    message.request_id = next_request_id_++;
    if (next_request_id_ == 0) next_request_id_ = 1;
    if (!registry_->send(message)) return;
    Pending& pending = pending_[message.request_id];
    pending.purpose = Purpose::kResolve;
    pending.group = group;
    pending.deadline_ms = mono_ms() + kInternalTimeoutMs;
    resolving_.insert(group);
}

void UserActor::refused_for_now(ServerConn* conn, const proto::Message& message) {
    if (!conn || message.id != proto::kError || message.status != proto::kRateLimited) return;
    conn->next_refresh_ms = std::min(conn->next_refresh_ms, mono_ms() + rate_wait_ms(message));
}

void UserActor::on_internal_reply(Pending& pending, proto::Message& message) {
    if (pending.purpose == Purpose::kResolve) {
        resolving_.erase(pending.group);
        //  Whatever the answer, a follow waiting for it asks again at its next keep-alive
        //  (left waiting, it was a follow nothing asked for again).
        auto followed = followed_.find(pending.group);
        if (followed != followed_.end()) followed->second.resolving = false;
        //  An answer that is not about this group cannot route it: its sends would ask
        //  again at every turn until their time ran out.
        if (message.id == proto::kGroup && message.group != pending.group)
            return fail_sends(pending.group, another_group(message.group), Error::kProto);
        if (message.id != proto::kGroup && message.id != proto::kError)
            return fail_sends(pending.group, "unexpected reply to RESOLVE", Error::kProto);
        if (message.id == proto::kGroup) {
            std::string id = set_route(pending.group, message.endpoint, message.key);
            if (id.empty()) {
                Error error = Error::kProto;
                std::string why = route_failure(pending.group, message.endpoint, &error);
                return fail_sends(pending.group, why, error);
            }
            auto sends = sends_.find(pending.group);
            if (sends != sends_.end()) sends->second.away_why.clear();
            routed_sends(pending.group, id);
            pump(pending.group);
        }
        //  Its sends, held or ended by the answer: each held is asked for again once its wait
        //  is over, not at every turn of the actor (50 RESOLVEs a second until their time ran
        //  out, for a registry relearning its groups, say).
        auto sends = sends_.find(pending.group);
        if (message.id == proto::kError && message.status == proto::kNotFound) {
            //  Gone for now: its follow keeps asking its old place. A group this user reached
            //  before has a server that is away (expired from the registry): its sends wait for it,
            //  until their deadline. A name never found is no group.
            if (!known_.count(pending.group)) return fail_sends(pending.group, message.reason);
            if (sends != sends_.end()) sends->second.hold(mono_ms() + kAwayRetryMs, false);
        } else if (message.id == proto::kError && message.status == proto::kUnavailable) {
            if (sends == sends_.end()) return;
            sends->second.away_why = message.reason;
            sends->second.hold(mono_ms() + wait_ms(message), false);
        } else if (message.id == proto::kError && message.status == proto::kRateLimited) {
            if (sends != sends_.end()) sends->second.hold(mono_ms() + rate_wait_ms(message), true);
        } else if (message.id == proto::kError) { //  refused for good (422, 401, ...)
            fail_sends(pending.group, message.reason, error_of(message.status, proto::kResolve));
        }
        return;
    }
    ServerConn* conn = server(pending.server);
    if (pending.purpose == Purpose::kCatchUp) {
        if (conn) catch_ups_heard(*conn, pending);
        auto found = followed_.find(pending.group);
        if (found == followed_.end()) return;
        Followed& followed = found->second;
        followed.catching_up = false;
        //  Asked of the server the group was at before it moved: the new one is asked.
        if (followed.server != pending.server) return catch_up(pending.group, followed);
        if (message.id != proto::kMessages || message.group != pending.group ||
            !rises_past(message, pending.by_time || followed.went_back ? 0 : pending.after_seq)) {
            //  Asked again once waited (the 429's wait, else a second), not at once: a
            //  refusal, or a page not of what was asked, would come back as fast as it is
            //  asked for.
            followed.held_until_ms =
                mono_ms() + (message.id == proto::kError && message.status == proto::kRateLimited
                                 ? rate_wait_ms(message)
                                 : kHoldMs);
            return refused_for_now(conn, message);
        }
        //  A catch-up by seq sent before the group was seen to go back counts seqs the old
        //  way: the one by time goes instead.
        if (followed.went_back && !pending.by_time) return catch_up(pending.group, followed);
        if (followed.went_back) {
            //  What comes after last_ts is new to the caller, from its first seq on (or,
            //  with nothing yet, from the group's end).
            followed.went_back = false;
            followed.last_seq =
                message.views.empty() ? message.last_seq : message.views.front().seq() - 1;
        }
        //  The group's end as the server says it now: a seq heard of before this reply (a
        //  DELIVER or FOLLOWING on the same connection) is not beyond it, unless the server
        //  said a seq it does not have (or lost messages since), which would be fetched for
        //  ever: it is asked again after kHoldMs (when a keep-alive says it again).
        bool said_beyond = message.last_seq < followed.seen_seq;
        followed.seen_seq = std::max(followed.last_seq, message.last_seq);
        //  Nothing kept past last_seq, though the group goes on: retention trimmed all of
        //  it. Nothing to fetch until a new message comes, whose catch-up then says how many
        //  were missed (last_seq stays what was handed over). The same empty page was asked
        //  for again at once, about a thousand times a second, until one came.
        bool none_kept =
            message.views.empty() && !message.more && message.last_seq > followed.last_seq;
        uint64_t handed = followed.last_seq;
        bool behind = caller_behind();
        bool caught_up = emit(pending.group, followed, message, message.missed);
        //  Handed something over, or asked before something else did (a follow called again
        //  meanwhile): either way, on to the next page.
        bool moved_on =
            followed.last_seq > handed || (!pending.by_time && pending.after_seq < handed);
        if (!caught_up) {
            //  The caller is behind: the next tick tries again. Or the page starts past a gap
            //  it does not count as missed: asked again after a hold, not at every tick.
            if (!moved_on && !behind) followed.held_until_ms = mono_ms() + kHoldMs;
            return;
        }
        if (none_kept) followed.seen_seq = followed.last_seq;
        //  Behind with nothing handed over (an empty page that says more): held as well.
        if (followed.last_seq < followed.seen_seq && moved_on)
            catch_up(pending.group, followed);
        else if (followed.last_seq < followed.seen_seq || said_beyond || none_kept)
            followed.held_until_ms = mono_ms() + kHoldMs;
        else if (conn)
            refresh(pending.server, *conn, true); //  tell the server: push again
        return;
    }
    //  kRefresh
    if (!conn) return;
    if (conn->refreshing > 0) conn->refreshing--;
    if (message.id != proto::kFollowing) return refused_for_now(conn, message);
    conn->silent_refreshes = 0;
    for (const proto::FollowRecord& record : message.follows) {
        auto found = followed_.find(record.group);
        if (found == followed_.end() || found->second.server != pending.server) continue;
        Followed& followed = found->second;
        if (record.status == proto::kStatusOk) {
            if (record.seq < followed.last_seq) {
                //  The group ends before what this user was handed: its store went back.
                //  Without a message handed over to go by, it goes on from that end.
                followed.went_back = followed.last_ts != 0;
                followed.last_seq = record.seq;
                followed.seen_seq = record.seq;
            }
            followed.seen_seq = std::max(followed.seen_seq, record.seq);
            catch_up(record.group, followed);
        } else if (record.status == proto::kNotMember) {
            followed_.erase(found); //  left elsewhere, or removed: nothing more to follow
        } else if (record.status == proto::kNotFound) {
            followed.resolving = true; //  not there any more: where did it go?
            resolve(record.group);
        }
    }
}

//  Every request out on a server's connection lapses now (the connection dropped).
void UserActor::lapse_all(const std::string& server_id) {
    for (auto& entry : pending_)
        if (entry.second.server == server_id) entry.second.deadline_ms = 0;
    tick();
}

//  Closes the connections to group servers that routes left and that no route, follow or
//  request uses any more (their groups moved). Each was kept for the user's life, 3 sockets
//  apiece: a registry that gave a new endpoint each time, or servers renumbered over months,
//  used up the process's sockets (then every new route failed, ZGM_ESYSTEM).
void UserActor::close_unused() {
    for (const std::string& id : left_) {
        auto found = servers_.find(id);
        if (found == servers_.end() ||
            std::any_of(routes_.begin(), routes_.end(),
                        [&](const auto& route) { return route.second == id; }) ||
            std::any_of(followed_.begin(), followed_.end(),
                        [&](const auto& follow) { return follow.second.server == id; }) ||
            std::any_of(pending_.begin(), pending_.end(),
                        [&](const auto& request) { return request.second.server == id; }))
            continue;
        servers_.erase(found);
        repoll_ = true;
    }
    left_.clear();
}

//  The unfollowed groups whose messages handed over are all read: a follow of them again
//  starts where its caller says.
void UserActor::forget_read_unfollowed() {
    for (auto it = unfollowed_.begin(); it != unfollowed_.end();)
        it = read_past(it->second.handed_mark) ? unfollowed_.erase(it) : std::next(it);
}

void UserActor::tick() {
    int64_t now = mono_ms();
    if (!left_.empty()) close_unused();
    forget_read_unfollowed();
    //  A link opened again has new sockets to poll.
    if (registry_ && registry_->reopen_if_refused()) repoll_ = true;
    for (auto& entry : servers_)
        if (entry.second.link->reopen_if_refused()) repoll_ = true;
    tick_deadlines(now);
    for (auto& entry : servers_)
        if (now >= entry.second.next_refresh_ms) refresh(entry.first, entry.second, false);
    for (auto& entry : followed_)
        catch_up(entry.first, entry.second);
}

//  What has a deadline: requests whose attempt lapsed, calls, sends (the part of a tick that
//  a deadline between two ticks brings forward); then the deadlines still ahead.
void UserActor::tick_deadlines(int64_t now) {
    //  Requests whose attempt lapsed.
    std::vector<uint32_t> lapsed;
    for (auto& entry : pending_)
        if (now >= entry.second.deadline_ms) lapsed.push_back(entry.first);
    for (uint32_t id : lapsed) {
        auto found = pending_.find(id);
        Pending pending = std::move(found->second);
        pending_.erase(found);
        ServerConn* conn = server(pending.server);
        switch (pending.purpose) {
        case Purpose::kOp: {
            auto op = ops_.find(pending.op);
            if (op != ops_.end() && !pending.server.empty())
                lapsed_[id] = {pending.op, pending.server};
            if (op != ops_.end()) op->second->lapse(pending);
            break;
        }
        case Purpose::kSend:
            sends_lapsed(pending);
            break;
        case Purpose::kCatchUp: {
            if (conn) erase_id(conn->catch_ups, id);
            lapsed_internal_[id] = {pending.purpose,           pending.group, pending.server,
                                    (uint64_t)pending.sent_ms, now,           {}};
            auto followed = followed_.find(pending.group);
            if (followed != followed_.end()) followed->second.catching_up = false;
            break;
        }
        case Purpose::kRefresh:
            if (conn) {
                if (conn->refreshing > 0) conn->refreshing--;
                //  A silent group server may have moved: ask the registry (once a
                //  keep-alive, whatever its number of FOLLOWs).
                if (pending.first_page && ++conn->silent_refreshes >= 2)
                    probe(*conn, pending.groups);
            }
            break;
        case Purpose::kResolve: {
            resolving_.erase(pending.group);
            auto followed = followed_.find(pending.group);
            if (followed != followed_.end()) followed->second.resolving = false;
            break;
        }
        }
    }
    for (auto it = ops_.begin(); it != ops_.end();) {
        it->second->tick(now);
        it = it->second->done() ? ops_.erase(it) : std::next(it);
    }
    for (auto it = lapsed_.begin(); it != lapsed_.end();)
        it = ops_.count(it->second.first) ? std::next(it) : lapsed_.erase(it);
    expire_sends(now);
    for (auto& entry : sends_)
        pump(entry.first);
    for (auto it = sends_.begin(); it != sends_.end();) {
        if (!it->second.queue.empty() || !it->second.out.empty()) {
            ++it;
            continue;
        }
        if (it->second.attempt_ms > kFirstAttemptMs)
            send_attempts_[it->first] = {it->second.attempt_ms, now};
        it = sends_.erase(it);
    }
    for (auto it = send_attempts_.begin(); it != send_attempts_.end();)
        it = now - it->second.second < 2 * kMaxSendAttemptMs ? std::next(it)
                                                             : send_attempts_.erase(it);
    for (auto it = lapsed_internal_.begin(); it != lapsed_internal_.end();)
        it = now - it->second.lapsed_ms < 2 * kMaxSendAttemptMs ? std::next(it)
                                                                : lapsed_internal_.erase(it);
    //  The deadlines still ahead, for the next tick to come by the first (one passed belongs
    //  to a call or send that waits for something else: a send behind one with more time).
    calls_due_ = INT64_MAX;
    for (const auto& entry : ops_)
        if (entry.second->deadline() > now) due_by(entry.second->deadline());
    for (const auto& entry : sends_)
        if (!entry.second.queue.empty() && entry.second.queue.front()->deadline_ms > now)
            due_by(entry.second.queue.front()->deadline_ms);
    for (const auto& entry : pending_)
        if (entry.second.purpose == Purpose::kSend && entry.second.deadline_ms > now)
            due_by(entry.second.deadline_ms);
}

//  ---------------------------------------------------------------------------------------
//  Sends

void UserActor::queue_send(std::unique_ptr<OutgoingSend> send) {
    if (send->msg_id.is_nil()) send->msg_id = Uuid::time_ordered();
    std::string group = send->group;
    if (!valid_name(group))
        return complete(std::move(send), Error::kInvalid, invalid_name_reason(), 0, 0);
    if (send->body.size() > proto::kMaxBody)
        return complete(std::move(send), Error::kTooLarge,
                        "a message body is at most " + std::to_string(proto::kMaxBody) + " bytes",
                        0, 0);
    if (!registry_ && route_of(group).empty())
        return complete(std::move(send), Error::kNotConnected,
                        "not connected to a registry (zgm_user_connect)", 0, 0);
    send->ordinal = ++sends_handed_over_;
    due_by(send->deadline_ms);
    auto made = sends_.try_emplace(group);
    auto kept = made.second ? send_attempts_.find(group) : send_attempts_.end();
    if (kept != send_attempts_.end()) {
        made.first->second.attempt_ms = kept->second.first;
        send_attempts_.erase(kept);
    }
    made.first->second.queue.push_back(std::move(send));
    to_pump_.insert(group); //  after the burst of calls it came in
}

void UserActor::pump(const std::string& group) {
    auto found = sends_.find(group);
    if (found == sends_.end()) return;
    GroupSends& sends = found->second;
    while ((int)sends.out.size() < kSendsInFlight && !sends.queue.empty()) {
        if (mono_ms() < sends.hold_until_ms) return;
        if (sends.settling && !sends.out.empty()) return;
        sends.settling = false;
        std::string server_id = route_of(group);
        if (server_id.empty()) return resolve(group);
        ServerConn* conn = server(server_id);
        if (!conn || !conn->link->up()) { //  the next tick tries again
            if (reresolve_due(&sends.down_since_ms)) resolve(group);
            return;
        }
        sends.down_since_ms = 0;
        proto::Message message;
        message.id = proto::kSend;
        message.group = group;
        if (!sends.out.empty()) message.after_msg_id = sends.last_out;
        size_t bytes = 0;
        for (const auto& send : sends.queue) {
            if (message.sends.size() == kSendBatch ||
                (!message.sends.empty() && bytes + send->body.size() > proto::kBatchBytes))
                break;
            message.sends.push_back({send->msg_id, send->body});
            bytes += send->body.size();
        }
        message.request_id = next_request_id_++;
        if (next_request_id_ == 0) next_request_id_ = 1;
        if (!conn->link->send(message)) return;
        sends.last_out = message.sends.back().msg_id;
        sends.rate_held = false;
        Pending& pending = pending_[message.request_id];
        pending.purpose = Purpose::kSend;
        pending.request_id = message.request_id;
        pending.server = server_id;
        pending.group = group;
        //  The attempt lapses by the earliest deadline of its sends still ahead: a call ends
        //  at its timeout (in doubt, if no answer came), not at the end of a longer attempt
        //  (nor of one that answers ahead of it made longer: sends_heard). One past its
        //  deadline already (it waited behind a send with more time) does not cut the
        //  attempt of the others short: it goes, and ends with them.
        int64_t now = mono_ms();
        int64_t lapse_at = INT64_MAX;
        for (size_t i = 0; i < message.sends.size(); i++) {
            int64_t deadline = sends.queue.front()->deadline_ms;
            if (deadline > now) lapse_at = std::min(lapse_at, deadline);
            pending.sends.push_back(std::move(sends.queue.front()));
            sends.queue.pop_front();
        }
        pending.out_no = ++sends.out_count;
        pending.sent_ms = now;
        pending.sends_due_ms = lapse_at == INT64_MAX ? now + kTickMs : lapse_at;
        pending.deadline_ms = std::min(pending.sends_due_ms, now + sends.attempt_ms);
        due_by(pending.deadline_ms);
        sends.out.push_back(message.request_id);
    }
}

//  The group server answered the group's SEND number out_no (or the attempt of it that
//  lapsed): it is working through what it was sent, in order, and each SEND out after that
//  one has its attempt's time again from now.
void UserActor::sends_heard(GroupSends& sends, const std::string& server, uint64_t out_no) {
    int64_t now = mono_ms();
    sends.heard_ms = now;
    for (uint32_t id : sends.out) {
        auto found = pending_.find(id);
        if (found == pending_.end()) continue;
        Pending& later = found->second;
        if (later.server != server || later.out_no <= out_no) continue;
        later.deadline_ms =
            std::max(later.deadline_ms, std::min(later.sends_due_ms, now + sends.attempt_ms));
    }
}

void UserActor::catch_ups_heard(ServerConn& conn, int64_t sent_ms) {
    int64_t now = mono_ms();
    for (uint32_t id : conn.catch_ups) {
        auto found = pending_.find(id);
        if (found != pending_.end() && found->second.sent_ms >= sent_ms)
            found->second.deadline_ms =
                std::max(found->second.deadline_ms, now + kInternalTimeoutMs);
    }
}

//  The answer to a SEND whose attempt lapsed (ids: what it carried): the messages it says
//  are stored have their outcome, whether they wait to go again or are out again. Those out
//  again leave an empty place in their SEND, which its answer skips.
void UserActor::settle_late(GroupSends& sends, const std::vector<Uuid>& ids,
                            proto::Message& message) {
    if (message.id != proto::kSent || message.sent.size() != ids.size()) return;
    std::unordered_map<Uuid, const proto::SentRecord*, UuidHash> stored;
    for (size_t i = 0; i < ids.size(); i++)
        if (!ids[i].is_nil() && message.sent[i].status == proto::kStatusOk &&
            message.sent[i].seq != 0)
            stored[ids[i]] = &message.sent[i];
    auto settle = [&](std::unique_ptr<OutgoingSend>& send) {
        auto found = send ? stored.find(send->msg_id) : stored.end();
        if (found == stored.end()) return false;
        complete(std::move(send), Error::kOk, "", found->second->seq, found->second->timestamp);
        return true;
    };
    for (auto it = sends.queue.begin(); it != sends.queue.end();)
        it = settle(*it) ? sends.queue.erase(it) : std::next(it);
    for (uint32_t id : sends.out) {
        auto found = pending_.find(id);
        if (found != pending_.end())
            for (auto& send : found->second.sends)
                settle(send);
    }
}

void UserActor::sends_answered(Pending& pending, proto::Message& message) {
    GroupSends& sends = sends_[pending.group];
    erase_id(sends.out, pending.request_id);
    int64_t waited = mono_ms() - std::max(pending.sent_ms, sends.heard_ms);
    if (waited * 2 < sends.attempt_ms)
        sends.attempt_ms = std::max(kFirstAttemptMs, sends.attempt_ms / 2);
    sends_heard(sends, pending.server, pending.out_no);
    auto again = [&]() { sends.requeue(pending.sends); };
    if (message.id == proto::kError) {
        if (message.status == proto::kTooEarly) {   //  an earlier one went again
            sends.hold(mono_ms() + kTickMs, false); //  not at once, if it says so again
            return again();
        }
        if (message.status == proto::kRateLimited || message.status == proto::kUnavailable) {
            again(); //  before the hold: it takes the flag of an older one that is over
            return sends.hold(mono_ms() + wait_ms(message), true);
        }
        if (message.status == proto::kNotFound) {
            //  Not on that server (any more): ask where it is, then send there.
            if (sends.refused_by != pending.server) sends.refused_routes = 0;
            sends.refused_by = pending.server;
            sends.refused_why = message.reason;
            sends.refused_lookup = true;
            routes_.erase(pending.group);
            again();
            return resolve(pending.group);
        }
        Error error = error_of(message.status, proto::kSend);
        //  Refused: nothing of this attempt was stored (a 400 answers a frame the server
        //  could not read). An earlier attempt that went unanswered may have been.
        for (auto& send : pending.sends)
            if (!send) //  settled by the answer to an attempt that lapsed
                continue;
            else if (send->unanswered)
                complete_in_doubt(std::move(send),
                                  ", and its next attempt was refused (" + message.reason + ")");
            else
                complete(std::move(send), error, message.reason, 0, 0);
        return;
    }
    sends.forget_refusal(); //  answered: whatever a 404 said before is past
    if (message.id != proto::kSent || message.sent.size() != pending.sends.size()) {
        //  An answer we cannot read: as if none came, and not sent again at once.
        sends.hold(mono_ms() + kHoldMs, false);
        return go_again_unanswered(sends, pending);
    }
    for (size_t i = 0; i < pending.sends.size(); i++) {
        const proto::SentRecord& record = message.sent[i];
        std::unique_ptr<OutgoingSend>& send = pending.sends[i];
        if (!send) continue; //  settled by the answer to an attempt that lapsed
        if (record.status == proto::kStatusOk && record.seq == 0) //  stored, it has a seq
            complete(std::move(send), Error::kInDoubt,
                     "the group server said it stored it, with no seq: send it again with the "
                     "same id to settle it",
                     0, 0);
        else if (record.status == proto::kStatusOk)
            complete(std::move(send), Error::kOk, "", record.seq, record.timestamp);
        else if (record.status == proto::kConflict) //  stored by us, it would be a repeat
            complete(std::move(send), error_of(record.status, proto::kSend),
                     "not stored: its message id is another sender's", 0, 0);
        else if (send->unanswered)
            complete_in_doubt(std::move(send), ", and its next attempt was not stored (" +
                                                   std::to_string(record.status) + ")");
        else
            complete(std::move(send), error_of(record.status, proto::kSend),
                     "not stored (" + std::to_string(record.status) + ")", 0, 0);
    }
    pump(pending.group);
}

//  No answer: the messages may be stored. They go again, with the same ids, after asking
//  where the group is now.
void UserActor::sends_lapsed(Pending& pending) {
    GroupSends& sends = sends_[pending.group];
    erase_id(sends.out, pending.request_id);
    //  Once for the SENDs that lapse together (each the attempt's time after the last answer).
    if (pending.deadline_ms - std::max(pending.sent_ms, sends.heard_ms) >= sends.attempt_ms)
        sends.attempt_ms = std::min(sends.attempt_ms * 2, kMaxSendAttemptMs);
    LapsedInternal& lapsed = lapsed_internal_[pending.request_id];
    lapsed = {pending.purpose, pending.group, pending.server, pending.out_no, mono_ms(), {}};
    for (const auto& send : pending.sends)
        lapsed.ids.push_back(send ? send->msg_id : Uuid()); //  its place kept
    go_again_unanswered(sends, pending);
}

void UserActor::go_again_unanswered(GroupSends& sends, Pending& pending) {
    for (auto& send : pending.sends)
        if (send) send->unanswered = true;
    sends.requeue(pending.sends);
    resolve(pending.group);
}

//  The registry routed group to server_id. Twice in a row to the group server that said the
//  group is not there (once may be the registry not knowing yet that it moved): what waits
//  to be sent to it is not stored, ZGM_ENOTFOUND, rather than sent there until its time
//  runs out.
void UserActor::routed_sends(const std::string& group, const std::string& server_id) {
    auto found = sends_.find(group);
    if (found == sends_.end()) return;
    GroupSends& sends = found->second;
    if (!sends.refused_lookup) return; //  a lookup for another reason (a send unanswered)
    sends.refused_lookup = false;
    if (server_id != sends.refused_by) {
        sends.forget_refusal();
        return;
    }
    if (++sends.refused_routes < 2) return;
    sends.forget_refusal();
    fail_sends(group, sends.refused_why + " (and the registry lists it there)");
}

//  A send an attempt of which went unanswered ends: it may be stored, whatever a later
//  attempt was told. (what: how it ended)
void UserActor::complete_in_doubt(std::unique_ptr<OutgoingSend> send, const std::string& what) {
    complete(std::move(send), Error::kInDoubt,
             "sent to the group server, which did not answer" + what +
                 ": it may be stored; send it again with the same id to settle it",
             0, 0);
}

//  The registry says the group does not exist: what waits to be sent to it never will be.
void UserActor::fail_sends(const std::string& group, const std::string& why, Error error) {
    auto found = sends_.find(group);
    if (found == sends_.end()) return;
    auto& queue = found->second.queue;
    while (!queue.empty()) {
        std::unique_ptr<OutgoingSend> send = std::move(queue.front());
        queue.pop_front();
        if (send->unanswered)
            complete_in_doubt(std::move(send), error == Error::kNotFound
                                                   ? ", and the group is not found now"
                                                   : ", and now " + why);
        else
            complete(std::move(send), error, why, 0, 0);
    }
}

std::string UserActor::registry_never_reached() {
    Link* link = registry_.get();
    if (!link || link->reached() || link->refused() ||
        mono_ms() - link->opened_ms() < kUnreachableAfterMs)
        return "";
    return link->unreachable_reason();
}

//  Sends whose deadline passed while queued. A queue is in the order sends were handed over,
//  so it is read up to its first send still in time (a send given a shorter timeout later
//  waits, at most, for the one before it).
void UserActor::expire_sends(int64_t now) {
    //  A send waiting for its outcome with nowhere to go, and a registry never reached to
    //  ask, ends at once, as every other call does. An asynchronous one, which nobody waits
    //  for, waits out its time: a service may start a moment before its registry.
    bool never_reached = !sends_.empty() && !registry_never_reached().empty();
    for (auto& entry : sends_) {
        auto& queue = entry.second.queue;
        for (auto it = queue.begin(); it != queue.end();) {
            bool unroutable = never_reached && (*it)->call && !(*it)->unanswered &&
                              !server(route_of(entry.first));
            if (now < (*it)->deadline_ms && !unroutable) break;
            std::unique_ptr<OutgoingSend> send = std::move(*it);
            it = queue.erase(it);
            ServerConn* conn = server(route_of(entry.first));
            if (send->unanswered) {
                complete_in_doubt(std::move(send), " in time");
                continue;
            }
            std::string reason = conn ? conn->link->unreachable_reason() : "";
            if (!conn && registry_ && !registry_->up()) reason = registry_->unreachable_reason();
            if (!reason.empty())
                complete(std::move(send), Error::kUnreachable,
                         "not sent: cannot reach " +
                             (conn ? "the group server at " + conn->link->endpoint()
                                   : "the registry at " + registry_->endpoint()) +
                             ": " + reason,
                         0, 0);
            else if (entry.second.rate_held)
                complete(std::move(send), Error::kRate,
                         std::string("not sent: the ") + (conn ? "group server" : "registry") +
                             " asked to slow down",
                         0, 0);
            //  Behind SENDs going again, or behind the kSendsInFlight out (a slow server's,
            //  waited for: sends_heard), not for want of a connection.
            else if (entry.second.settling || !entry.second.out.empty())
                complete(std::move(send), Error::kTimeout,
                         "not stored: its time ran out while it waited for the outcome of an "
                         "earlier send to the group",
                         0, 0);
            else if (!conn && !entry.second.away_why.empty())
                complete(std::move(send), Error::kUnavailable, "not sent: " + entry.second.away_why,
                         0, 0);
            else
                complete(std::move(send), Error::kTimeout,
                         conn ? "not sent: no connection to the group server at " +
                                    conn->link->endpoint() + " in time"
                              : "not sent: " +
                                    registry_silent(registry_ ? registry_->endpoint() : "?",
                                                    entry.first),
                         0, 0);
        }
    }
}

void UserActor::complete(std::unique_ptr<OutgoingSend> send, Error error, const std::string& why,
                         uint64_t seq, uint64_t timestamp) {
    if (send->call) {
        Call* call = send->call;
        call->error = error;
        call->why = why;
        call->seq = seq;
        call->timestamp = timestamp;
        call->msg_id = send->msg_id;
        return reply_call(call);
    }
    SendOutcome outcome;
    outcome.msg_id = send->msg_id;
    outcome.group = send->group;
    outcome.seq = seq;
    outcome.timestamp = timestamp;
    outcome.error = error;
    outcome.why = why;
    outcome.size = send->body.size();
    outcomes_.push_back(std::move(outcome));
}

//  Send outcomes go to the caller in one Event per pass; they are never dropped.
void UserActor::flush_outcomes() {
    if (outcomes_.empty()) return;
    Event* event = new Event();
    event->outcomes.swap(outcomes_);
    if (!hand_over(event)) {
        outcomes_.swap(event->outcomes);
        delete event;
    }
}

//  Puts an event on the events queue; false (the event still the actor's) when it is full.
bool UserActor::hand_over(Event* event) {
    return shared_->events.put(event);
}

} // namespace

Hosted* new_user_actor(zsock_t* pipe, UserArgs* args) {
    return new UserActor(pipe, args);
}

} // namespace zgm
