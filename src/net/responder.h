/*  =========================================================================
    responder.h - the requests' side of a server's ROUTER, the registry's and a group
    server's alike

    Takes the next request off the socket: a malformed one is counted (by reason for the
    log, by decode error for STATS) and answered with its error, one from a connection that
    proved no key is refused, a RECEIPT is taken, and a request from a connection that has
    not read what it was sent (net/receipts.h) is answered 429. Replies, answers ERROR, and
    refuses (an ERROR counted by reason in the refusal log, which logs a flood as counts),
    counting each frame against its connection's unread bytes.
    Request lines go to the log within a budget (ZGM_REQUEST).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_NET_RESPONDER_H
#define ZGM_NET_RESPONDER_H

#include "core/key.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/receipts.h"
#include "proto/proto.h"

#include <czmq.h>
#include <string>

namespace zgm {

//  A request's log line, within responder's budget for request lines.
#define ZGM_REQUEST(responder, ...)                                                                \
    do {                                                                                           \
        if (zgm::verbose() && (responder).request_line()) ZGM_LOG(__VA_ARGS__);                    \
    } while (0)

class Responder {
public:
    //  who: the role as the log names it ("registry", "group server").
    explicit Responder(const char* who) : refusals_(who), request_lines_(who) {}

    //  The ROUTER it reads and answers on, once the server has made it (the server owns it).
    void set_socket(zsock_t* socket) { socket_ = socket; }

    //  What next () found.
    enum Received {
        kNone,     //  nothing waits
        kAnswered, //  malformed, or on a connection that proved no key: dealt with here
        kRequest,  //  a request: *from, *peer and *request are set
    };
    //  The next request, without waiting.
    Received next(std::string* from, Key* peer, proto::Message* request);

    //  Sends message to the peer with routing id `to`, as the answer to request_id. False if
    //  it could not go (the peer is gone, or its queue is full), or if it is larger than a
    //  few KiB, not a SENT, and more than the connection may be sent now (Receipts::room):
    //  answered 429 instead, refused as from peer.
    bool reply(const std::string& to, proto::Message& message, uint32_t request_id,
               const Key& peer = Key());
    //  What one page of a list answer to `to` may hold: records while the page stays within
    //  what `to` may be sent now (Receipts::room) and within `records` of them; the first
    //  always goes. bytes: the page's size without its records.
    class Page {
    public:
        Page(uint64_t room, uint64_t bytes, size_t records)
            : room_(room), bytes_(bytes), records_(records) {}
        //  True, and counted, if a record of `size` bytes may follow the `taken` in the page.
        bool take(size_t taken, uint64_t size) {
            if (taken > 0 && (taken >= records_ || bytes_ + size > room_)) return false;
            bytes_ += size;
            return true;
        }

    private:
        uint64_t room_, bytes_;
        size_t records_;
    };
    Page page(const std::string& to, uint64_t bytes, size_t records) const {
        return Page(receipts_.room(to), bytes, records);
    }
    //  True if a group server is to push `to` nothing now (Receipts::holds_pushes); it is
    //  sent a MARK if it has none to return.
    bool holds_pushes(const std::string& to);
    //  Sends a frame made elsewhere (a MESSAGES page; a DELIVER, one frame shared by the
    //  `sharers` followers it goes to, `to` the place-th: Receipts::sent) to `to`, without
    //  waiting, and takes it (closed if it could not go). False, with errno, if it could not
    //  go.
    bool send(const std::string& to, zmq_msg_t* frame, size_t sharers = 1, size_t place = 0);
    //  Answers ERROR status with why (and retry_ms, for 429).
    void error(const std::string& to, uint32_t request_id, uint16_t status, const std::string& why,
               uint32_t retry_ms = 0);
    //  An ERROR that is a refusal: counted by status and the reason's text before any ": "
    //  (not ':', which endpoints hold).
    void refuse(const std::string& to, uint32_t request_id, uint16_t status, const std::string& why,
                const Key& peer, uint32_t retry_ms = 0);

    //  True if one more request line may be logged now (ZGM_REQUEST asks).
    bool request_line();
    //  Logs the refusal counts and held-back request lines of an interval that has ended.
    void tick(int64_t now_ms);
    RefusalLog& refusals() { return refusals_; }
    //  Each connection's unread bytes: the limits to set, room() for an answer.
    Receipts& receipts() { return receipts_; }
    //  Malformed requests by decode error (for STATS).
    const proto::MalformedCounts& malformed() const { return malformed_; }

private:
    //  Answers 429: `to` has not read what it was sent (--max-unread-bytes), or all of the
    //  connections have not (--max-unread-total); answer: the size of the answer that cannot
    //  go, or 0 for a request refused before it is read. At most Receipts::may_refuse()
    //  allows: else the request is refused once the connection reads (Receipts::defer), or,
    //  past kMaxDeferred, goes unanswered and counts as kUnanswered.
    void unread_refusal(const std::string& to, uint32_t request_id, const Key& peer,
                        size_t answer = 0);
    //  True if a malformed request of `from` may be answered (as unread_refusal decides for a
    //  connection over its unread bytes).
    bool answerable(const std::string& from);

    zsock_t* socket_ = nullptr;
    Receipts receipts_;
    RefusalLog refusals_;
    proto::MalformedCounts malformed_;
    LineBudget request_lines_;
};

} // namespace zgm

#endif
