/*  =========================================================================
    responder.cc - the requests' side of a server's ROUTER

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "net/responder.h"

#include "core/clock.h"

namespace zgm {

Responder::Received Responder::next(std::string* from, Key* peer, proto::Message* request) {
    std::string peer_text;
    proto::DecodeError rc =
        proto::recv(zsock_resolve(socket_), true, from, request, ZMQ_DONTWAIT, &peer_text);
    if (rc == proto::DecodeError::kNoFrame && errno == EAGAIN) return kNone;
    if (rc != proto::DecodeError::kOk) {
        malformed_.note(rc);
        refusals_.note(std::string("malformed: ") + proto::decode_error_text(rc), peer_text,
                       mono_ms());
        if (!from->empty())
            error(*from, request->request_id, proto::error_status(rc),
                  proto::decode_error_text(rc));
        return kAnswered;
    }
    *peer = Key();
    if (!Key::parse(peer_text, peer)) {
        refuse(*from, request->request_id, proto::kDenied, "no key on this connection", *peer);
        return kAnswered;
    }
    return kRequest;
}

bool Responder::reply(const std::string& to, proto::Message& message, uint32_t request_id) {
    message.request_id = request_id;
    //  A peer that vanished mid-request, or cannot take more, loses only the reply; it
    //  retries or times out.
    return proto::send(zsock_resolve(socket_), to, message, ZMQ_DONTWAIT) == 0;
}

void Responder::error(const std::string& to, uint32_t request_id, uint16_t status,
                      const std::string& why, uint32_t retry_ms) {
    proto::send_error(zsock_resolve(socket_), to, request_id, status, why, retry_ms);
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
    refusals_.tick(now_ms);
    request_lines_.tick(now_ms);
}

} // namespace zgm
