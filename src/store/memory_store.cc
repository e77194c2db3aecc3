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
#include <set>
#include <unordered_map>

namespace zgm {

using namespace store_internal;

namespace {

//  Keeps everything in standard containers. Nothing here can fail except for an unknown
//  group, member or key, or an invalid argument, so every call is all-or-nothing by
//  construction.
class MemoryStore : public Store {
public:
    using Store::fetch;

    Status create_group(const std::string& name, const Uuid& id, const Key& owner,
                        Policy policy) override;
    Status list_groups(std::vector<GroupInfo>* groups) override;
    Status group_info(const std::string& name, GroupInfo* info) override;
    Status set_retention(const std::string& group, const Retention& retention,
                         uint64_t now_us) override;
    Status set_retention_ceiling(const Retention& ceiling, uint64_t now_us) override;
    Status set_owner(const std::string& group, const Key& owner) override;
    Status set_policy(const std::string& group, Policy policy) override;

    Status allow(const std::string& group, const Key& key) override;
    Status disallow(const std::string& group, const Key& key) override;
    Status allowed(const std::string& group, std::vector<Key>* keys) override;

    Status add_member(const std::string& group, const Member& member) override;
    Status remove_member(const std::string& group, const Key& user) override;
    Status members(const std::string& group, const MemberPlace* after, size_t limit,
                   std::vector<Member>* members) override;

    Status append(const std::vector<AppendRequest>& batch, uint64_t now_us,
                  std::vector<AppendResult>* results) override;
    Status holder(const std::string& group, const Key& sender, const Uuid& msg_id, Holder* holder,
                  AppendResult* original) override;
    Status fetch(const FetchQuery& query, FetchVisitor* visitor, FetchSummary* summary) override;
    Status trim(uint64_t now_us, uint64_t* trimmed, bool* more) override;
    Status disk_size(uint64_t* bytes) override;

private:
    struct Group {
        GroupState state;
        //  The retained messages, seqs state.log.trimmed_seq + 1 .. state.log.last_seq.
        std::deque<StoredMessage> messages;
        //  Client message id -> seq, for retained messages only: dedup forgets a message
        //  once retention has removed it.
        std::unordered_map<Uuid, uint64_t, UuidHash> seq_by_msg_id;
        std::map<Key, uint64_t> members; //  id -> joined_us
        //  (joined_us, id) -> name: the members in the order they joined, as pages list them.
        std::map<std::pair<uint64_t, Key>, std::string> joined;
        std::set<Key> allowed;
    };

    Group* find(const std::string& name) {
        auto it = groups_.find(name);
        return it == groups_.end() ? nullptr : &it->second;
    }
    static size_t index_of(const Group& group, uint64_t seq) {
        return (size_t)(seq - group.state.log.trimmed_seq - 1);
    }
    uint64_t trim(Group* group, uint64_t now_us);

    std::map<std::string, Group> groups_;
    Retention ceiling_; //  set_retention_ceiling's
};

Status MemoryStore::create_group(const std::string& name, const Uuid& id, const Key& owner,
                                 Policy policy) {
    if (name.empty()) return invalid_group_name();
    if (!valid_policy(policy)) return invalid_policy(policy);
    if (find(name)) return group_exists(name);
    Group& group = groups_[name];
    group.state.name = name;
    group.state.id = id;
    group.state.created_us = zgm::now_us();
    group.state.owner = owner;
    group.state.policy = policy;
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

//  Removes the oldest messages while retention asks for it; returns how many went.
uint64_t MemoryStore::trim(Group* group, uint64_t now_us) {
    LogState& log = group->state.log;
    uint64_t trimmed = 0;
    const Retention retention = bounded(group->state.retention, ceiling_);
    while (over_retention(log, retention, now_us)) {
        const StoredMessage& oldest = group->messages.front();
        if (!oldest.msg_id.is_nil()) group->seq_by_msg_id.erase(oldest.msg_id);
        log.bytes -= oldest.body.size();
        log.trimmed_seq = oldest.seq;
        log.trimmed_timestamp = oldest.timestamp;
        group->messages.pop_front();
        log.first_timestamp = group->messages.empty() ? 0 : group->messages.front().timestamp;
        trimmed++;
    }
    return trimmed;
}

Status MemoryStore::set_retention(const std::string& name, const Retention& retention,
                                  uint64_t now_us) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    group->state.retention = retention;
    trim(group, now_us);
    return Status::ok();
}

Status MemoryStore::set_retention_ceiling(const Retention& ceiling, uint64_t now_us) {
    ceiling_ = ceiling;
    return trim(now_us, nullptr, nullptr);
}

Status MemoryStore::set_owner(const std::string& name, const Key& owner) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    group->state.owner = owner;
    return Status::ok();
}

Status MemoryStore::set_policy(const std::string& name, Policy policy) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (!valid_policy(policy)) return invalid_policy(policy);
    group->state.policy = policy;
    return Status::ok();
}

Status MemoryStore::allow(const std::string& name, const Key& key) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (key.is_nil()) return nil_key_not_allowed();
    group->allowed.insert(key);
    return Status::ok();
}

Status MemoryStore::disallow(const std::string& name, const Key& key) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (group->allowed.erase(key) == 0) return not_allowed(name, key);
    return Status::ok();
}

Status MemoryStore::allowed(const std::string& name, std::vector<Key>* keys) {
    keys->clear();
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    keys->assign(group->allowed.begin(), group->allowed.end());
    return Status::ok();
}

Status MemoryStore::add_member(const std::string& name, const Member& member) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    if (!group->members.emplace(member.key, member.joined_us).second)
        return member_exists(name, member.key);
    group->joined.emplace(std::make_pair(member.joined_us, member.key), member.name);
    group->state.member_count++;
    return Status::ok();
}

Status MemoryStore::remove_member(const std::string& name, const Key& user) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    auto found = group->members.find(user);
    if (found == group->members.end()) return no_such_member(name, user);
    group->joined.erase(std::make_pair(found->second, user));
    group->members.erase(found);
    group->state.member_count--;
    return Status::ok();
}

Status MemoryStore::members(const std::string& name, const MemberPlace* after, size_t limit,
                            std::vector<Member>* members) {
    members->clear();
    const Group* group = find(name);
    if (!group) return no_such_group(name);
    auto entry = after ? group->joined.upper_bound(std::make_pair(after->joined_us, after->key))
                       : group->joined.begin();
    for (; entry != group->joined.end() && members->size() < limit; ++entry)
        members->push_back(Member{entry->first.second, entry->second, entry->first.first});
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
                const StoredMessage& original = group->messages[index_of(*group, seen->second)];
                //  A repeat is one only from the same sender.
                if (original.sender != request.sender) {
                    result.status = another_senders_id(request.msg_id);
                    continue;
                }
                result.seq = seen->second;
                result.timestamp = original.timestamp;
                result.duplicate = true;
                continue;
            }
        }
        StoredMessage message;
        message.seq = log.last_seq + 1;
        message.timestamp = next_timestamp(log, now_us);
        message.sender = request.sender;
        message.sender_name = request.sender_name;
        message.msg_id = request.msg_id;
        message.body = request.body;
        if (!message.msg_id.is_nil()) group->seq_by_msg_id[message.msg_id] = message.seq;
        if (retained_count(log) == 0) log.first_timestamp = message.timestamp;
        log.last_seq = message.seq;
        log.last_timestamp = message.timestamp;
        log.bytes += message.body.size();
        result.seq = message.seq;
        result.timestamp = message.timestamp;
        group->messages.push_back(std::move(message));
        if (std::find(touched.begin(), touched.end(), group) == touched.end())
            touched.push_back(group);
    }
    //  Trimming waits for the end of the batch, as in the SQLite store, so a repeat later
    //  in the batch still finds its original.
    for (Group* group : touched)
        trim(group, now_us);
    return Status::ok();
}

Status MemoryStore::holder(const std::string& name, const Key& sender, const Uuid& msg_id,
                           Holder* holder, AppendResult* original) {
    Group* group = find(name);
    if (!group) return no_such_group(name);
    auto seen = group->seq_by_msg_id.find(msg_id);
    *holder = Holder::kNone;
    if (seen == group->seq_by_msg_id.end()) return Status::ok();
    const StoredMessage& message = group->messages[index_of(*group, seen->second)];
    *holder = message.sender == sender ? Holder::kSender : Holder::kAnother;
    if (original && *holder == Holder::kSender) {
        original->seq = message.seq;
        original->timestamp = message.timestamp;
        original->duplicate = true;
    }
    return Status::ok();
}

Status MemoryStore::fetch(const FetchQuery& query, FetchVisitor* visitor, FetchSummary* summary) {
    const Group* group = find(query.group);
    if (!group) return no_such_group(query.group);
    const LogState& log = group->state.log;
    const std::deque<StoredMessage>& messages = group->messages;
    uint64_t first = 1;
    uint64_t last = 0;
    if (seq_bounds(log, query, &first, &last)) {
        //  Timestamps never decrease along seq: the time bounds are a binary search each.
        auto begin = messages.begin() + index_of(*group, first);
        auto end = messages.begin() + index_of(*group, last) + 1;
        auto earlier = [](const StoredMessage& message, uint64_t timestamp) {
            return message.timestamp < timestamp;
        };
        if (since_applies(log, query))
            begin = std::lower_bound(begin, end, query.since_us, earlier);
        if (until_applies(log, query)) end = std::lower_bound(begin, end, query.until_us, earlier);
        if (begin == end) {
            first = 1;
            last = 0;
        } else {
            first = begin->seq;
            last = (end - 1)->seq;
        }
    }
    uint64_t from = first;
    uint64_t to = last;
    if (from <= to) {
        apply_limit(query, &from, &to);
        if (query.max_bytes) {
            uint64_t bytes = 0;
            if (query.newest) {
                for (uint64_t seq = to; seq >= from; seq--) {
                    uint64_t size = messages[index_of(*group, seq)].body.size();
                    if (seq < to && bytes + size > query.max_bytes) {
                        from = seq + 1;
                        break;
                    }
                    bytes += size;
                }
            } else {
                for (uint64_t seq = from; seq <= to; seq++) {
                    uint64_t size = messages[index_of(*group, seq)].body.size();
                    if (seq > from && bytes + size > query.max_bytes) {
                        to = seq - 1;
                        break;
                    }
                    bytes += size;
                }
            }
        }
        for (uint64_t seq = from; seq <= to; seq++) {
            const StoredMessage& message = messages[index_of(*group, seq)];
            MessageView view;
            view.seq = message.seq;
            view.timestamp = message.timestamp;
            view.sender = message.sender.bytes;
            view.sender_name = message.sender_name.data();
            view.sender_name_size = message.sender_name.size();
            view.msg_id = message.msg_id.is_nil() ? nullptr : message.msg_id.bytes;
            view.body = message.body.data();
            view.body_size = message.body.size();
            visitor->message(view);
        }
    }
    summarize(log, query, first, last, from, to, summary);
    return Status::ok();
}

//  All at once: nothing is written, memory is freed.
Status MemoryStore::trim(uint64_t now_us, uint64_t* trimmed, bool* more) {
    uint64_t count = 0;
    for (auto& entry : groups_)
        count += trim(&entry.second, now_us);
    if (trimmed) *trimmed = count;
    if (more) *more = false;
    return Status::ok();
}

Status MemoryStore::disk_size(uint64_t* bytes) {
    *bytes = 0;
    return Status::ok();
}

} // namespace

std::unique_ptr<Store> open_memory_store() {
    return std::unique_ptr<Store>(new MemoryStore());
}

} // namespace zgm
