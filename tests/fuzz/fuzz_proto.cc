/*  =========================================================================
    fuzz_proto.cc - libFuzzer target for the zgm_proto decoder

    Decodes the input; whatever decodes must encode back to the very same bytes (the
    encoding is canonical: one byte sequence per message) and decode again to the same
    message, every field compared, views by content. The views of a decoded message point
    into the input; a MESSAGES rebuilt record by record with MessagesWriter is the input
    again. Anything else aborts, which libFuzzer reports as a crash.

    The seed corpus, tests/corpus, holds one frame per message, written by the reference
    encoder of tests/test_proto.cc: `build/tests/test_proto --write-corpus tests/corpus`.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "proto/proto.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <zmq.h>

using namespace zgm::proto;

namespace {

[[noreturn]] void broken(const char* what, const Message& msg) {
    fprintf(stderr, "fuzz_proto: %s (%s, request %u)\n", what, message_name(msg.id),
            msg.request_id);
    abort();
}

bool same_record(const GroupRecord& a, const GroupRecord& b) {
    return a.id == b.id && a.name == b.name && a.endpoint == b.endpoint && a.server == b.server &&
           a.policy == b.policy && a.member_count == b.member_count;
}

bool same_record(const MessageRecord& a, const MessageRecord& b) {
    return a.seq == b.seq && a.timestamp == b.timestamp && a.sender == b.sender &&
           a.msg_id == b.msg_id && a.sender_name == b.sender_name && a.body == b.body;
}

bool same_record(const SendRecord& a, const SendRecord& b) {
    return a.msg_id == b.msg_id && a.body == b.body;
}

bool same_record(const SentRecord& a, const SentRecord& b) {
    return a.status == b.status && a.seq == b.seq && a.timestamp == b.timestamp;
}

bool same_record(const MemberRecord& a, const MemberRecord& b) {
    return a.id == b.id && a.name == b.name && a.role == b.role;
}

bool same_record(const FollowRecord& a, const FollowRecord& b) {
    return a.group == b.group && a.status == b.status && a.seq == b.seq;
}

template <typename Record>
bool same_list(const std::vector<Record>& a, const std::vector<Record>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (!same_record(a[i], b[i])) return false;
    return true;
}

bool same(const Message& a, const Message& b) {
    return a.id == b.id && a.request_id == b.request_id && a.status == b.status &&
           a.retry_ms == b.retry_ms && a.reason == b.reason && a.endpoint == b.endpoint &&
           a.accept_new == b.accept_new && a.group_id == b.group_id && a.group == b.group &&
           a.member_count == b.member_count && a.group_count == b.group_count &&
           a.after == b.after && a.key == b.key && a.policy == b.policy && a.name == b.name &&
           a.after_seq == b.after_seq && a.before_seq == b.before_seq &&
           a.first_seq == b.first_seq && a.last_seq == b.last_seq && a.since_us == b.since_us &&
           a.until_us == b.until_us && a.limit == b.limit && a.newest == b.newest &&
           a.more == b.more && a.complete == b.complete && a.missed == b.missed &&
           a.max_count == b.max_count && a.max_bytes == b.max_bytes &&
           a.max_age_ms == b.max_age_ms && a.report == b.report && same_list(a.groups, b.groups) &&
           same_list(a.messages, b.messages) && same_list(a.sends, b.sends) &&
           same_list(a.sent, b.sent) && same_list(a.members, b.members) &&
           same_list(a.follows, b.follows);
}

bool inside(std::string_view view, const uint8_t* data, size_t size) {
    uintptr_t start = (uintptr_t)view.data(), begin = (uintptr_t)data;
    return start >= begin && start + view.size() <= begin + size;
}

//  The views of msg point into data: decode copied nothing.
bool views_inside(const Message& msg, const uint8_t* data, size_t size) {
    for (const MessageRecord& record : msg.messages)
        if (!inside(record.sender_name, data, size) || !inside(record.body, data, size))
            return false;
    for (const SendRecord& record : msg.sends)
        if (!inside(record.body, data, size)) return false;
    return true;
}

//  MESSAGES written record by record is the input again.
void check_writer(const Message& msg, const uint8_t* data, size_t size) {
    MessagesWriter writer(msg.request_id, msg.group);
    for (const MessageRecord& record : msg.messages)
        if (!writer.add(record.seq, record.timestamp, record.sender.bytes, record.msg_id,
                        record.sender_name, record.body))
            broken("MessagesWriter refused a record of a decoded MESSAGES", msg);
    if (writer.count() != msg.messages.size()) broken("MessagesWriter miscounts", msg);
    zmq_msg_t frame;
    if (!writer.finish(msg.first_seq, msg.last_seq, msg.more != 0, msg.missed, &frame))
        broken("MessagesWriter refused to finish a decoded MESSAGES", msg);
    bool equal = zmq_msg_size(&frame) == size && memcmp(zmq_msg_data(&frame), data, size) == 0;
    zmq_msg_close(&frame);
    if (!equal) broken("MessagesWriter wrote other bytes than the input", msg);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Message msg;
    DecodeError error = decode(data, size, &msg);
    //  Decoding with views (as the user actor does) gives the same verdict, and views that
    //  read what the records hold, where it is.
    Message viewed;
    if (decode(data, size, &viewed, true) != error)
        broken("decode with views gives another verdict", msg);
    if (error == DecodeError::kOk) {
        if (!viewed.messages.empty() || viewed.views.size() != msg.messages.size())
            broken("decode with views gives another count", msg);
        for (const MessageView& view : viewed.views)
            viewed.messages.push_back(view.record());
        if (!same(msg, viewed) || !views_inside(viewed, data, size))
            broken("decode with views gives other records", msg);
    }
    if (error != DecodeError::kOk) {
        //  Every failure has a text (it becomes an ERROR reason) and an ERROR status.
        if (strlen(decode_error_text(error)) == 0) broken("decode error without text", msg);
        uint16_t status = error_status(error);
        if (status != kBadRequest && status != kTooLarge && status != kBadVersion)
            broken("decode error without a 4xx status", msg);
        return 0;
    }
    if (!is_known_id(msg.id)) broken("decoded an unknown id", msg);
    if (!views_inside(msg, data, size)) broken("a view points outside the input", msg);
    if (encoded_size(msg) != size) broken("encoded size differs from the input", msg);
    std::string again;
    if (!encode(msg, &again)) broken("a decoded message does not encode", msg);
    if (again.size() != size || memcmp(again.data(), data, size) != 0)
        broken("re-encoding differs from the input", msg);
    Message twice;
    if (decode((const uint8_t*)again.data(), again.size(), &twice) != DecodeError::kOk)
        broken("re-encoding does not decode", msg);
    if (!same(msg, twice)) broken("re-encoding decodes to another message", msg);
    if (msg.id == kMessages) check_writer(msg, data, size);
    return 0;
}
