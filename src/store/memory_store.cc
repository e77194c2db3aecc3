/*  =========================================================================
    memory_store.cc - the volatile message store, for tests and --memory

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "store/store.h"
#include "store/store_internal.h"
#include "core/clock.h"

#include <deque>
#include <map>
#include <unordered_map>

namespace zgm {

using namespace store_internal;

namespace {

//  Keeps everything in standard containers. Nothing here can fail except for an unknown
//  group or member, so every call is all-or-nothing by construction.
class MemoryStore : public Store {
public:
    Status create_group(const std::string& name, const Uuid& id) override;
    Status list_groups(std::vector<GroupInfo>* groups) override;
    Status group_info(const std::string& name, GroupInfo* info) override;
    Status set_retention(const std::string& group, const Retention& retention) override;

    Status add_member(const std::string& group, const Member& member) override;
    Status remove_member(const std::string& group, const Uuid& user) override;
    Status members(const std::string& group, std::vector<Member>* members) override;
    Status is_member(const std::string& group, const Uuid& user, bool* is_member) override;

    Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                  std::vector<AppendResult>* results) override;
    Status fetch(const FetchQuery& query, FetchResult* result) override;

private:
    struct Group {
        GroupState state;
        //  The retained messages, seqs state.log.trimmed_seq + 1 .. state.log.last_seq.
        std::deque<StoredMessage> messages;
        //  Client message id -> seq, for retained messages only: dedup forgets a message
        //  once retention has removed it.
        std::unordered_map<Uuid, uint64_t, UuidHash> seq_by_msg_id;
        std::map<Uuid, Member> members;
    };

    Group* find(const std::string& name) {
        auto it = groups_.find(name);
        return it == groups_.end() ? nullptr : &it->second;
    }
    const StoredMessage& message_at(const Group& group, uint64_t seq) const {
        return group.messages[seq - group.state.log.trimmed_seq - 1];
    }
    static void trim(Group* group);

    std::map<std::string, Group> groups_;
};

Status MemoryStore::create_group(const std::string& name, const Uuid& id) {
    if (name.empty()) return invalid_group_name();
    if (find(name)) return group_exists(name);
    Group& group = groups_[name];
    group.state.name = name;
    group.state.id = id;
    group.state.created_us = zgm::now_us();
    return Status::ok();
}

Status MemoryStore::list_groups(std::vector<GroupInfo>* groups) {
    groups->clear();
    for (const auto& entry : groups_)
        groups->push_back(group_info_of(entry.second.state));
    return Status::ok();
}

Status MemoryStore::group_info(const std::string& name, GroupInfo* info) {
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    *info = group_info_of(group->state);
    return Status::ok();
}

void MemoryStore::trim(Group* group) {
    LogState& log = group->state.log;
    while (over_retention(log, group->state.retention)) {
        const StoredMessage& oldest = group->messages.front();
        if (!oldest.msg_id.is_nil()) group->seq_by_msg_id.erase(oldest.msg_id);
        log.bytes -= oldest.body.size();
        log.trimmed_seq = oldest.seq;
        log.trimmed_ts_us = oldest.ts_us;
        group->messages.pop_front();
    }
}

Status MemoryStore::set_retention(const std::string& name, const Retention& retention) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    group->state.retention = retention;
    trim(group);
    return Status::ok();
}

Status MemoryStore::add_member(const std::string& name, const Member& member) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (!group->members.emplace(member.id, member).second) return member_exists(name, member.id);
    group->state.member_count++;
    return Status::ok();
}

Status MemoryStore::remove_member(const std::string& name, const Uuid& user) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (group->members.erase(user) == 0) return no_such_member(name, user);
    group->state.member_count--;
    return Status::ok();
}

Status MemoryStore::members(const std::string& name, std::vector<Member>* members) {
    members->clear();
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    for (const auto& entry : group->members)
        members->push_back(entry.second);
    std::sort(members->begin(), members->end(), orders_before);
    return Status::ok();
}

Status MemoryStore::is_member(const std::string& name, const Uuid& user, bool* is_member) {
    *is_member = false;
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    *is_member = group->members.count(user) > 0;
    return Status::ok();
}

Status MemoryStore::append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                           std::vector<AppendResult>* results) {
    results->clear();
    results->resize(batch.size());
    std::vector<Group*> touched;
    for (size_t i = 0; i < batch.size(); i++) {
        const AppendRequest& request = batch[i];
        AppendResult& result = (*results)[i];
        Group* group = find(request.group);
        if (!group) {
            result.status = no_such_group(request.group);
            continue;
        }
        LogState& log = group->state.log;
        if (!request.msg_id.is_nil()) {
            auto seen = group->seq_by_msg_id.find(request.msg_id);
            if (seen != group->seq_by_msg_id.end()) {
                result.seq = seen->second;
                result.ts_us = message_at(*group, seen->second).ts_us;
                result.duplicate = true;
                continue;
            }
        }
        StoredMessage message;
        message.seq = log.last_seq + 1;
        message.ts_us = next_timestamp(log, now_us);
        message.sender = request.sender;
        message.sender_name = request.sender_name;
        message.msg_id = request.msg_id;
        message.body = request.body;
        if (!message.msg_id.is_nil()) group->seq_by_msg_id[message.msg_id] = message.seq;
        log.last_seq = message.seq;
        log.last_ts_us = message.ts_us;
        log.bytes += message.body.size();
        result.seq = message.seq;
        result.ts_us = message.ts_us;
        group->messages.push_back(std::move(message));
        if (std::find(touched.begin(), touched.end(), group) == touched.end())
            touched.push_back(group);
    }
    //  Trimming waits for the end of the batch, as in the SQLite store, so a repeat later
    //  in the batch still finds its original.
    for (Group* group : touched)
        trim(group);
    return Status::ok();
}

Status MemoryStore::fetch(const FetchQuery& query, FetchResult* result) {
    result->messages.clear();
    result->more = false;
    const Group* group = find(query.group);
    if (!group) return no_such_group(query.group);
    const LogState& log = group->state.log;
    result->first_seq = first_retained_seq(log);
    result->last_seq = log.last_seq;
    result->truncated = fetch_truncated(log, query);

    uint64_t seq = first_candidate_seq(log, query);
    if (seq > log.last_seq) return Status::ok();
    auto begin = group->messages.begin() + (seq - log.trimmed_seq - 1);
    auto it = std::lower_bound(
        begin, group->messages.end(), query.since_us,
        [](const StoredMessage& message, uint64_t since) { return message.ts_us < since; });
    uint64_t bytes = 0;
    for (; it != group->messages.end(); ++it) {
        if (query.limit && result->messages.size() >= query.limit) break;
        if (query.max_bytes && !result->messages.empty() &&
            bytes + it->body.size() > query.max_bytes)
            break;
        bytes += it->body.size();
        result->messages.push_back(*it);
    }
    //  Timestamps never decrease, so every message after one that matched matches too.
    result->more = it != group->messages.end();
    return Status::ok();
}

} // namespace

std::unique_ptr<Store> open_memory_store() {
    return std::unique_ptr<Store>(new MemoryStore());
}

} // namespace zgm
