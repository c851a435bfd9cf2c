// Structures: streams and consumer groups (structures_internal.h; rows in docs/structures.md).
#include "registries/structures_internal.h"

namespace savepoint::structures {

std::string IdBytes(StreamId id) {
  std::string out;
  PutFixed64BE(&out, id.ms);
  PutFixed64BE(&out, id.seq);
  return out;
}

StreamId IdFrom(const char* p) { return {GetFixed64BE(p), GetFixed64BE(p + 8)}; }

std::string EncodeFields(const StreamFields& fields) {
  std::string out;
  PutLengthPrefixed(&out, std::to_string(fields.size()));
  for (const auto& [name, value] : fields) {
    PutLengthPrefixed(&out, name);
    PutLengthPrefixed(&out, value);
  }
  return out;
}

Status DecodeFields(std::string_view in, StreamFields* fields) {
  std::string_view count_text, name, value;
  int64_t count = 0;
  if (!GetLengthPrefixed(&in, &count_text) || !ParseInt64Strict(count_text, &count) || count < 0) {
    return Status::Corruption("malformed stream entry");
  }
  for (int64_t i = 0; i < count; ++i) {
    if (!GetLengthPrefixed(&in, &name) || !GetLengthPrefixed(&in, &value)) {
      return Status::Corruption("malformed stream entry");
    }
    fields->emplace_back(name, value);
  }
  return in.empty() ? Status::OK() : Status::Corruption("malformed stream entry");
}

// Rows of a group's state: "<len><group>" then the pending entry's ID or the consumer's name.
std::string GroupScoped(std::string_view group, std::string_view rest) {
  std::string out;
  PutLengthPrefixed(&out, group);
  out.append(rest);
  return out;
}

namespace {

std::string EncodePending(const PendingData& p) {
  std::string out;
  PutLengthPrefixed(&out, p.consumer);
  PutFixed64BE(&out, p.delivery_ms);
  PutFixed64BE(&out, p.delivery_count);
  return out;
}

Status NoGroup(std::string_view key, std::string_view group) {
  return Status::NotFound("NOGROUP No such key '" + std::string(key) + "' or consumer group '" + std::string(group) +
                          "'");
}

std::vector<StreamEntry> Collect(const StreamData& s, StreamId after, int64_t count) {
  std::vector<StreamEntry> out;
  for (auto it = s.entries.upper_bound(after); it != s.entries.end(); ++it) {
    if (count > 0 && static_cast<int64_t>(out.size()) >= count) break;
    out.push_back({it->first, it->second});
  }
  return out;
}

}  // namespace

Result<StreamId> StructuresImpl::xadd(std::string_view key, const StreamFields& fields, const XAddOptions& options,
                                      Durability d) {
  if (fields.empty()) return Status::InvalidArgument("XADD needs at least one field");
  StreamId id;
  {
    Stripe& st = stripe_of(key);
    std::lock_guard<std::mutex> l(st.mu);
    const uint64_t t = now();
    Batch batch(this, d);
    bool expired;
    SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(st, key, StructureType::kStream, t, &batch, &expired));
    if (obj == nullptr && options.nomkstream) return Status::NotFound("no such stream");
    auto* s = DataOf<StreamData>(obj);
    const StreamId last = s != nullptr ? s->last_id : StreamId{};
    if (options.id.has_value()) {
      id = *options.id;
      if (id == StreamId{}) return Status::InvalidArgument("The ID specified in XADD must be greater than 0-0");
      if (id <= last) {
        return Status::InvalidArgument("The ID specified in XADD is equal or smaller than the target stream top item");
      }
    } else {
      const uint64_t ms = t / 1000;
      if (ms > last.ms) {
        id = {ms, 0};
      } else if (last.seq != ~0ull) {
        id = {last.ms, last.seq + 1};
      } else if (last.ms != ~0ull) {
        id = {last.ms + 1, 0};
      } else {
        return Status::InvalidArgument("The stream has exhausted the last possible ID");
      }
    }
    batch.put_element(key, kStreamEntry, IdBytes(id), EncodeFields(fields));
    batch.put_stream_meta(key, obj != nullptr ? obj->expire_at : 0, id);
    // Trimming: the oldest entries beyond maxlen (the new one included when maxlen is 0).
    std::vector<StreamId> trimmed;
    if (options.maxlen.has_value()) {
      const uint64_t size = (s != nullptr ? s->entries.size() : 0) + 1;
      uint64_t excess = size > *options.maxlen ? size - *options.maxlen : 0;
      if (s != nullptr) {
        for (auto it = s->entries.begin(); it != s->entries.end() && excess > 0; ++it, --excess) {
          trimmed.push_back(it->first);
        }
      }
      if (excess > 0) trimmed.push_back(id);  // only the new entry is left to trim
    }
    for (StreamId old : trimmed) batch.remove_element(key, kStreamEntry, IdBytes(old));
    SP_RETURN_IF_ERROR(batch.commit());
    if (obj == nullptr) {
      if (expired) erase(st, key);
      obj = &install(st, key, NewObject(StructureType::kStream));
      s = DataOf<StreamData>(obj);
    }
    s->last_id = id;
    s->entries.emplace(id, fields);
    for (StreamId old : trimmed) s->entries.erase(old);
  }
  notify_waiters();
  return id;
}

Result<std::vector<StreamEntry>> StructuresImpl::xrange(std::string_view key, StreamId start, StreamId end,
                                                        int64_t count, bool reverse) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  std::vector<StreamEntry> out;
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr || start > end || count == 0) return out;
  auto full = [&] { return count > 0 && static_cast<int64_t>(out.size()) >= count; };
  if (!reverse) {
    for (auto it = s->entries.lower_bound(start); it != s->entries.end() && it->first <= end && !full(); ++it) {
      out.push_back({it->first, it->second});
    }
  } else {
    for (auto it = s->entries.upper_bound(end); it != s->entries.begin() && !full();) {
      --it;
      if (it->first < start) break;
      out.push_back({it->first, it->second});
    }
  }
  return out;
}

Result<int64_t> StructuresImpl::xlen(std::string_view key) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  return s == nullptr ? int64_t{0} : static_cast<int64_t>(s->entries.size());
}

Result<std::vector<StreamEntry>> StructuresImpl::xread(std::string_view key, std::optional<StreamId> after,
                                                       int64_t count, std::chrono::milliseconds block) {
  const auto deadline = std::chrono::steady_clock::now() + block;
  Stripe& st = stripe_of(key);
  for (;;) {
    const uint64_t seen = generation();
    {
      std::lock_guard<std::mutex> l(st.mu);
      SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
      auto* s = DataOf<StreamData>(obj);
      if (!after.has_value()) after = s != nullptr ? s->last_id : StreamId{};  // "$", resolved once
      if (s != nullptr) {
        std::vector<StreamEntry> out = Collect(*s, *after, count);
        if (!out.empty()) return out;
      }
    }
    if (block.count() <= 0 || !wait_for_change(seen, deadline)) return std::vector<StreamEntry>();
  }
}

Result<int64_t> StructuresImpl::xtrim(std::string_view key, uint64_t maxlen, Durability d) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr || s->entries.size() <= maxlen) return int64_t{0};
  std::vector<StreamId> trimmed;
  Batch batch(this, d);
  for (auto it = s->entries.begin(); s->entries.size() - trimmed.size() > maxlen; ++it) {
    trimmed.push_back(it->first);
    batch.remove_element(key, kStreamEntry, IdBytes(it->first));
  }
  SP_RETURN_IF_ERROR(batch.commit());
  for (StreamId id : trimmed) s->entries.erase(id);
  return static_cast<int64_t>(trimmed.size());
}

Result<int64_t> StructuresImpl::xdel(std::string_view key, const std::vector<StreamId>& ids, Durability d) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return int64_t{0};
  std::set<StreamId> gone;
  Batch batch(this, d);
  for (StreamId id : ids) {
    if (s->entries.contains(id) && gone.insert(id).second) batch.remove_element(key, kStreamEntry, IdBytes(id));
  }
  SP_RETURN_IF_ERROR(batch.commit());
  for (StreamId id : gone) s->entries.erase(id);
  return static_cast<int64_t>(gone.size());
}

Status StructuresImpl::xgroup_create(std::string_view key, std::string_view group, std::optional<StreamId> start,
                                     bool mkstream, Durability d) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(st, key, StructureType::kStream, now(), &batch, &expired));
  if (obj == nullptr && !mkstream) {
    return Status::NotFound("The XGROUP subcommand requires the key to exist (use MKSTREAM to create it)");
  }
  auto* s = DataOf<StreamData>(obj);
  if (s != nullptr && s->groups.contains(group)) return Status::Conflict("BUSYGROUP Consumer Group name already exists");
  const StreamId last_delivered = start.value_or(s != nullptr ? s->last_id : StreamId{});
  batch.put_element(key, kStreamGroup, group, IdBytes(last_delivered));
  if (obj == nullptr) batch.put_stream_meta(key, 0, StreamId{});
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(st, key);
    s = DataOf<StreamData>(&install(st, key, NewObject(StructureType::kStream)));
  }
  s->groups[std::string(group)].last_delivered = last_delivered;
  return Status::OK();
}

Result<bool> StructuresImpl::xgroup_destroy(std::string_view key, std::string_view group, Durability d) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return Status::NotFound("no such stream");
  auto it = s->groups.find(group);
  if (it == s->groups.end()) return false;
  Batch batch(this, d);
  batch.remove_element(key, kStreamGroup, group);
  batch.remove_elements(key, kStreamPending, GroupScoped(group, ""));
  batch.remove_elements(key, kStreamConsumer, GroupScoped(group, ""));
  SP_RETURN_IF_ERROR(batch.commit());
  s->groups.erase(it);
  return true;
}

Result<std::vector<StreamEntry>> StructuresImpl::read_new_for_group(Stripe& st, std::string_view key,
                                                                    std::string_view group, std::string_view consumer,
                                                                    int64_t count, Durability d, bool* waitable) {
  std::lock_guard<std::mutex> l(st.mu);
  const uint64_t t = now();
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, t));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return NoGroup(key, group);
  auto git = s->groups.find(group);
  if (git == s->groups.end()) return NoGroup(key, group);
  GroupData& g = git->second;
  std::vector<StreamEntry> out = Collect(*s, g.last_delivered, count);
  const bool new_consumer = !g.consumers.contains(consumer);
  *waitable = out.empty();
  if (out.empty() && !new_consumer) return out;
  const uint64_t now_ms = t / 1000;
  Batch batch(this, d);
  if (new_consumer) {
    std::string seen;
    PutFixed64BE(&seen, now_ms);
    batch.put_element(key, kStreamConsumer, GroupScoped(group, consumer), seen);
  }
  const PendingData delivered{std::string(consumer), now_ms, 1};
  for (const StreamEntry& e : out) {
    batch.put_element(key, kStreamPending, GroupScoped(group, IdBytes(e.id)), EncodePending(delivered));
  }
  if (!out.empty()) batch.put_element(key, kStreamGroup, group, IdBytes(out.back().id));
  SP_RETURN_IF_ERROR(batch.commit());
  if (new_consumer) g.consumers[std::string(consumer)] = now_ms;
  for (const StreamEntry& e : out) g.pending[e.id] = delivered;
  if (!out.empty()) g.last_delivered = out.back().id;
  return out;
}

Result<std::vector<StreamEntry>> StructuresImpl::xreadgroup(std::string_view key, std::string_view group,
                                                            std::string_view consumer, std::optional<StreamId> id,
                                                            int64_t count, std::chrono::milliseconds block,
                                                            Durability d) {
  if (consumer.empty()) return Status::InvalidArgument("a consumer name must not be empty");
  Stripe& st = stripe_of(key);
  if (id.has_value()) {
    // History: the consumer's own pending entries after `id`; an entry deleted since has no fields.
    std::lock_guard<std::mutex> l(st.mu);
    SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
    auto* s = DataOf<StreamData>(obj);
    if (s == nullptr) return NoGroup(key, group);
    auto git = s->groups.find(group);
    if (git == s->groups.end()) return NoGroup(key, group);
    std::vector<StreamEntry> out;
    for (auto it = git->second.pending.upper_bound(*id); it != git->second.pending.end(); ++it) {
      if (count > 0 && static_cast<int64_t>(out.size()) >= count) break;
      if (it->second.consumer != consumer) continue;
      auto e = s->entries.find(it->first);
      out.push_back({it->first, e != s->entries.end() ? e->second : StreamFields{}});
    }
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + block;
  for (;;) {
    const uint64_t seen = generation();
    bool waitable = false;
    SP_ASSIGN_OR_RETURN(std::vector<StreamEntry> out,
                        read_new_for_group(st, key, group, consumer, count, d, &waitable));
    if (!waitable) return out;
    if (block.count() <= 0 || !wait_for_change(seen, deadline)) return out;
  }
}

Result<int64_t> StructuresImpl::xack(std::string_view key, std::string_view group, const std::vector<StreamId>& ids,
                                     Durability d) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return int64_t{0};
  auto git = s->groups.find(group);
  if (git == s->groups.end()) return int64_t{0};
  std::set<StreamId> acked;
  Batch batch(this, d);
  for (StreamId id : ids) {
    if (git->second.pending.contains(id) && acked.insert(id).second) {
      batch.remove_element(key, kStreamPending, GroupScoped(group, IdBytes(id)));
    }
  }
  SP_RETURN_IF_ERROR(batch.commit());
  for (StreamId id : acked) git->second.pending.erase(id);
  return static_cast<int64_t>(acked.size());
}

Result<PendingSummary> StructuresImpl::xpending(std::string_view key, std::string_view group) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return NoGroup(key, group);
  auto git = s->groups.find(group);
  if (git == s->groups.end()) return NoGroup(key, group);
  const auto& pel = git->second.pending;
  PendingSummary out;
  out.count = pel.size();
  if (pel.empty()) return out;
  out.smallest = pel.begin()->first;
  out.largest = pel.rbegin()->first;
  std::map<std::string, uint64_t> per_consumer;
  for (const auto& [id, p] : pel) ++per_consumer[p.consumer];
  out.consumers.assign(per_consumer.begin(), per_consumer.end());
  return out;
}

Result<std::vector<PendingEntry>> StructuresImpl::xpending_range(std::string_view key, std::string_view group,
                                                                 StreamId start, StreamId end, int64_t count,
                                                                 std::string_view consumer) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  const uint64_t now_ms = now() / 1000;
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return NoGroup(key, group);
  auto git = s->groups.find(group);
  if (git == s->groups.end()) return NoGroup(key, group);
  std::vector<PendingEntry> out;
  const auto& pel = git->second.pending;
  for (auto it = pel.lower_bound(start); it != pel.end() && it->first <= end; ++it) {
    if (count >= 0 && static_cast<int64_t>(out.size()) >= count) break;
    if (!consumer.empty() && it->second.consumer != consumer) continue;
    const uint64_t idle = now_ms > it->second.delivery_ms ? now_ms - it->second.delivery_ms : 0;
    out.push_back({it->first, it->second.consumer, idle, it->second.delivery_count});
  }
  return out;
}

Result<std::vector<StreamEntry>> StructuresImpl::xclaim(std::string_view key, std::string_view group,
                                                        std::string_view consumer, uint64_t min_idle_ms,
                                                        const std::vector<StreamId>& ids, Durability d) {
  if (consumer.empty()) return Status::InvalidArgument("a consumer name must not be empty");
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  const uint64_t t = now();
  const uint64_t now_ms = t / 1000;
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, t));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return NoGroup(key, group);
  auto git = s->groups.find(group);
  if (git == s->groups.end()) return NoGroup(key, group);
  GroupData& g = git->second;
  Batch batch(this, d);
  std::vector<StreamEntry> out;
  std::vector<StreamId> dropped;
  std::set<StreamId> done;
  std::map<StreamId, PendingData> claimed;
  for (StreamId id : ids) {
    if (!done.insert(id).second) continue;
    auto pit = g.pending.find(id);
    if (pit == g.pending.end()) continue;
    const uint64_t idle = now_ms > pit->second.delivery_ms ? now_ms - pit->second.delivery_ms : 0;
    if (idle < min_idle_ms) continue;
    auto e = s->entries.find(id);
    if (e == s->entries.end()) {  // deleted from the stream: it can never be processed
      dropped.push_back(id);
      batch.remove_element(key, kStreamPending, GroupScoped(group, IdBytes(id)));
      continue;
    }
    PendingData next{std::string(consumer), now_ms, pit->second.delivery_count + 1};
    batch.put_element(key, kStreamPending, GroupScoped(group, IdBytes(id)), EncodePending(next));
    claimed.emplace(id, std::move(next));
    out.push_back({id, e->second});
  }
  const bool new_consumer = !out.empty() && !g.consumers.contains(consumer);
  if (new_consumer) {
    std::string seen;
    PutFixed64BE(&seen, now_ms);
    batch.put_element(key, kStreamConsumer, GroupScoped(group, consumer), seen);
  }
  SP_RETURN_IF_ERROR(batch.commit());
  for (StreamId id : dropped) g.pending.erase(id);
  for (auto& [id, p] : claimed) g.pending[id] = std::move(p);
  if (new_consumer) g.consumers[std::string(consumer)] = now_ms;
  return out;
}

Result<std::vector<StreamGroupInfo>> StructuresImpl::xinfo_groups(std::string_view key) {
  Stripe& st = stripe_of(key);
  std::lock_guard<std::mutex> l(st.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(st, key, StructureType::kStream, now()));
  auto* s = DataOf<StreamData>(obj);
  if (s == nullptr) return Status::NotFound("no such key");
  std::vector<StreamGroupInfo> out;
  for (const auto& [name, g] : s->groups) {
    out.push_back({name, g.last_delivered, g.consumers.size(), g.pending.size()});
  }
  return out;
}

}  // namespace savepoint::structures
