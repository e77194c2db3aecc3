/*  =========================================================================
    responder.cc - the requests' side of a server's ROUTER

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "net/responder.h"

#include "core/clock.h"

#include <cerrno>

namespace zgm {

namespace {
//  When a connection told to read first asks again.
constexpr uint32_t kUnreadRetryMs = 100;
//  The answers that go whatever the connection has not read.
constexpr size_t kSmallAnswer = 4096;
//  The requests of a connection over its unread bytes that go unanswered: it was refused
//  kMaxRefusals times since it last read, and kMaxDeferred more wait (counted as a
//  refusal), or it sent them malformed.
const char* const kUnanswered = "unanswered: requests of connections told to read first";
//  The refusal of a deferred request, once the connection read.
const char* const kDeferred = "this connection had not read what it was sent when it asked "
                              "(--max-unread-bytes or -total); ask again";
} // namespace

Responder::Received Responder::next(std::string* from, Key* peer, proto::Message* request) {
    std::string peer_text;
    proto::DecodeError rc =
        proto::recv(zsock_resolve(socket_), true, from, request, ZMQ_DONTWAIT, &peer_text);
    if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return kNone;
    if (rc != proto::DecodeError::kOk) {
        malformed_.note(rc);
        refusals_.note(std::string("malformed: ") + proto::decode_error_text(rc), peer_text,
                       mono_ms());
        if (!from->empty() && answerable(*from))
            error(*from, request->request_id, proto::error_status(rc),
                  proto::decode_error_text(rc));
        return kAnswered;
    }
    if (request->id == proto::kReceipt) { //  no answer: the connection's own count
        //  It read: what it asked meanwhile, past the refusals it was sent, is refused now.
        if (receipts_.received(*from, request->token, mono_ms()))
            for (uint32_t id : receipts_.take_deferred(*from))
                error(*from, id, proto::kRateLimited, kDeferred, kUnreadRetryMs);
        return kAnswered;
    }
    *peer = Key();
    if (!Key::parse(peer_text, peer)) {
        refuse(*from, request->request_id, proto::kDenied, "no key on this connection", *peer);
        return kAnswered;
    }
    if (receipts_.over(*from)) {
        unread_refusal(*from, request->request_id, *peer);
        return kAnswered;
    }
    return kRequest;
}

bool Responder::answerable(const std::string& from) {
    if (!receipts_.over(from) || receipts_.may_refuse(from)) return true;
    refusals_.note(kUnanswered, "", mono_ms());
    return false;
}

//  The figures after ": ", which the refusal counts leave out (one reason, not one for each
//  count).
void Responder::unread_refusal(const std::string& to, uint32_t request_id, const Key& peer,
                               size_t answer) {
    if (!receipts_.may_refuse(to)) {
        if (!receipts_.defer(to, request_id))
            refusals_.note(kUnanswered, peer.is_nil() ? "" : "from " + peer.str(), mono_ms());
        return;
    }
    uint64_t unread = receipts_.unread(to);
    std::string why;
    if (unread + answer >= receipts_.limit())
        why = "this connection has not read what it was sent (--max-unread-bytes): " +
              std::to_string(unread) + " of " + std::to_string(receipts_.limit()) + " bytes unread";
    else
        why = "the server's connections have not read what they were sent (--max-unread-total): " +
              std::to_string(receipts_.total()) + " of " + std::to_string(receipts_.total_limit()) +
              " bytes unread, " + std::to_string(unread) + " of them on this connection";
    if (answer) why += "; the answer of " + std::to_string(answer) + " bytes cannot go now";
    refuse(to, request_id, proto::kRateLimited, why + "; read them, then ask again", peer,
           kUnreadRetryMs);
}

bool Responder::reply(const std::string& to, proto::Message& message, uint32_t request_id,
                      const Key& peer) {
    message.request_id = request_id;
    //  An answer of more than a few KiB (a list) goes only within what the connection may be
    //  sent now; one that does not is refused, and the connection is sent a MARK, so that once
    //  it reads it has its own kMarkBytes again. A SENT is not: its messages are stored (at
    //  most 180 KB, kMaxList outcomes, one past the bound per connection, as the SEND was
    //  admitted within it). Of the other answers to what changes anything, only FOLLOWING
    //  can be that large, and a FOLLOW is asked again as it stands.
    size_t size = message.id == proto::kSent ? 0 : proto::encoded_size(message);
    if (size > kSmallAnswer && size > receipts_.room(to)) {
        if (socket_) receipts_.mark_now(zsock_resolve(socket_), to, mono_ms());
        unread_refusal(to, request_id, peer, size);
        return false;
    }
    //  A peer that vanished mid-request, or cannot take more, loses only the reply; it
    //  retries or times out.
    size_t bytes = 0;
    if (proto::send(zsock_resolve(socket_), to, message, ZMQ_DONTWAIT, &bytes) != 0) {
        if (errno == EHOSTUNREACH) receipts_.forget(to);
        return false;
    }
    receipts_.sent(zsock_resolve(socket_), to, bytes, mono_ms());
    return true;
}

bool Responder::holds_pushes(const std::string& to) {
    if (!receipts_.holds_pushes(to)) return false;
    //  One held below kMarkBytes may have no MARK to return: it is sent one now. One gone is
    //  not held: the push finds it gone, and the follow ends.
    return !socket_ || receipts_.mark_now(zsock_resolve(socket_), to, mono_ms());
}

bool Responder::send(const std::string& to, zmq_msg_t* frame, size_t sharers, size_t place) {
    void* socket = zsock_resolve(socket_);
    size_t bytes = zmq_msg_size(frame);
    if (zmq_send(socket, to.data(), to.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(frame, socket, ZMQ_DONTWAIT) < 0) {
        int error = errno;
        zmq_msg_close(frame);
        if (error == EHOSTUNREACH) receipts_.forget(to);
        errno = error;
        return false;
    }
    receipts_.sent(socket, to, bytes, mono_ms(), sharers, place);
    return true;
}

void Responder::error(const std::string& to, uint32_t request_id, uint16_t status,
                      const std::string& why, uint32_t retry_ms) {
    size_t bytes = 0;
    if (proto::send_error(zsock_resolve(socket_), to, request_id, status, why, retry_ms, &bytes) ==
        0)
        receipts_.sent(zsock_resolve(socket_), to, bytes, mono_ms());
    else if (errno == EHOSTUNREACH)
        receipts_.forget(to);
}

void Responder::refuse(const std::string& to, uint32_t request_id, uint16_t status,
                       const std::string& why, const Key& peer, uint32_t retry_ms) {
    refusals_.note(std::to_string(status) + " " + why.substr(0, why.find(": ")),
                   peer.is_nil() ? "" : "from " + peer.str(), mono_ms());
    error(to, request_id, status, why, retry_ms);
}

bool Responder::request_line() {
    return request_lines_.take(mono_ms());
}

void Responder::tick(int64_t now_ms) {
    if (socket_) receipts_.sweep(zsock_resolve(socket_), now_ms);
    refusals_.tick(now_ms);
    request_lines_.tick(now_ms);
}

} // namespace zgm
