/*  =========================================================================
    fuzz_proto.cc - libFuzzer target for the zgm_proto decoder

    Decodes the input; whatever decodes must encode back to the very same bytes (the
    encoding is canonical: one byte sequence per message) and decode again to the same
    message. Anything else aborts, which libFuzzer reports as a crash.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "proto/proto.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace zgm::proto;

namespace {

[[noreturn]] void broken(const char* what, const Message& msg) {
    fprintf(stderr, "fuzz_proto: %s (%s, request %u)\n", what, message_name(msg.id),
            msg.request_id);
    abort();
}

bool same_groups(const std::vector<GroupRecord>& a, const std::vector<GroupRecord>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].id != b[i].id || a[i].name != b[i].name || a[i].endpoint != b[i].endpoint ||
            a[i].members != b[i].members)
            return false;
    return true;
}

bool same_messages(const std::vector<MessageRecord>& a, const std::vector<MessageRecord>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].seq != b[i].seq || a[i].ts_us != b[i].ts_us || a[i].sender != b[i].sender ||
            a[i].sender_name != b[i].sender_name || a[i].body != b[i].body)
            return false;
    return true;
}

bool same_members(const std::vector<MemberRecord>& a, const std::vector<MemberRecord>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].id != b[i].id || a[i].name != b[i].name) return false;
    return true;
}

bool same(const Message& a, const Message& b) {
    return a.id == b.id && a.request_id == b.request_id && a.status == b.status &&
           a.reason == b.reason && a.server == b.server && a.endpoint == b.endpoint &&
           a.accept_new == b.accept_new && a.group_id == b.group_id && a.group == b.group &&
           a.count == b.count && a.user == b.user && a.name == b.name && a.msg_id == b.msg_id &&
           a.body == b.body && a.seq == b.seq && a.ts_us == b.ts_us && a.since_us == b.since_us &&
           a.after_seq == b.after_seq && a.limit == b.limit && a.first_seq == b.first_seq &&
           a.last_seq == b.last_seq && a.more == b.more && a.truncated == b.truncated &&
           same_groups(a.groups, b.groups) && same_messages(a.messages, b.messages) &&
           same_members(a.members, b.members);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Message msg;
    DecodeError error = decode(data, size, &msg);
    if (error != DecodeError::kOk) {
        //  Every failure has a text (it becomes an ERROR reason).
        if (strlen(decode_error_text(error)) == 0) broken("decode error without text", msg);
        return 0;
    }
    if (!is_known_id(msg.id)) broken("decoded an unknown id", msg);
    if (encoded_size(msg) != size) broken("encoded size differs from the input", msg);
    std::string again;
    if (!encode(msg, &again)) broken("a decoded message does not encode", msg);
    if (again.size() != size || memcmp(again.data(), data, size) != 0)
        broken("re-encoding differs from the input", msg);
    Message twice;
    if (decode((const uint8_t*)again.data(), again.size(), &twice) != DecodeError::kOk)
        broken("re-encoding does not decode", msg);
    if (!same(msg, twice)) broken("re-encoding decodes to another message", msg);
    return 0;
}
