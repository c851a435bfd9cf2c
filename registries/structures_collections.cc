// Structures: hashes, sets, sorted sets and lists (structures_internal.h).
#include <algorithm>
#include <cmath>

#include "registries/structures_internal.h"

namespace savepoint::structures {
namespace {

std::string ListPosition(int64_t pos) {
  std::string out;
  PutFixed64BE(&out, static_cast<uint64_t>(pos) ^ (1ull << 63));
  return out;
}

// Redis's index normalisation of LRANGE/ZRANGE: negative indexes count from the end; false when empty.
bool NormalizeRange(int64_t len, int64_t* start, int64_t* stop) {
  if (*start < 0) *start += len;
  if (*stop < 0) *stop += len;
  if (*start < 0) *start = 0;
  if (*start > *stop || *start >= len) return false;
  if (*stop >= len) *stop = len - 1;
  return true;
}

Status NotAnInteger(std::string_view what) { return Status::InvalidArgument(std::string(what) + " is not an integer or out of range"); }

}  // namespace

// ---------------------------------------------------------------------------------------------- hashes

Result<int64_t> StructuresImpl::hset(std::string_view key,
                                     const std::vector<std::pair<std::string, std::string>>& fields, Durability d) {
  if (fields.empty()) return Status::InvalidArgument("HSET needs at least one field");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kHash, now(), &batch, &expired));
  auto* h = DataOf<HashData>(obj);
  absl::flat_hash_set<std::string_view> fresh;
  for (const auto& [f, v] : fields) {
    if (h == nullptr || !h->fields.contains(f)) fresh.insert(f);
    batch.put_element(key, kHashField, f, v);
  }
  if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kHash));
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(s, key);
    obj = &install(s, key, NewObject(StructureType::kHash));
    h = DataOf<HashData>(obj);
  }
  for (const auto& [f, v] : fields) h->fields[f] = v;
  return static_cast<int64_t>(fresh.size());
}

Result<std::optional<std::string>> StructuresImpl::hget(std::string_view key, std::string_view field) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kHash, now()));
  auto* h = DataOf<HashData>(obj);
  if (h == nullptr) return std::optional<std::string>();
  auto it = h->fields.find(field);
  if (it == h->fields.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Result<std::vector<std::pair<std::string, std::string>>> StructuresImpl::hgetall(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kHash, now()));
  std::vector<std::pair<std::string, std::string>> out;
  if (auto* h = DataOf<HashData>(obj)) out.assign(h->fields.begin(), h->fields.end());
  std::sort(out.begin(), out.end());
  return out;
}

Result<int64_t> StructuresImpl::hdel(std::string_view key, const std::vector<std::string>& fields, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kHash, now()));
  auto* h = DataOf<HashData>(obj);
  if (h == nullptr) return int64_t{0};
  absl::flat_hash_set<std::string_view> gone;
  Batch batch(this, d);
  for (const std::string& f : fields) {
    if (h->fields.contains(f) && gone.insert(f).second) batch.remove_element(key, kHashField, f);
  }
  const bool now_empty = gone.size() == h->fields.size();
  if (now_empty) batch.remove_meta(key);
  SP_RETURN_IF_ERROR(batch.commit());
  const auto removed = static_cast<int64_t>(gone.size());
  if (now_empty) {
    erase(s, key);
  } else {
    for (std::string_view f : gone) h->fields.erase(f);
  }
  return removed;
}

Result<int64_t> StructuresImpl::hincrby(std::string_view key, std::string_view field, int64_t delta, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kHash, now(), &batch, &expired));
  auto* h = DataOf<HashData>(obj);
  int64_t v = 0;
  if (h != nullptr) {
    auto it = h->fields.find(field);
    if (it != h->fields.end() && !ParseInt64Strict(it->second, &v)) return NotAnInteger("hash value");
  }
  if (__builtin_add_overflow(v, delta, &v)) return Status::InvalidArgument("increment or decrement would overflow");
  const std::string text = std::to_string(v);
  batch.put_element(key, kHashField, field, text);
  if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kHash));
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(s, key);
    h = DataOf<HashData>(&install(s, key, NewObject(StructureType::kHash)));
  }
  h->fields[std::string(field)] = text;
  return v;
}

Result<int64_t> StructuresImpl::hlen(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kHash, now()));
  auto* h = DataOf<HashData>(obj);
  return h == nullptr ? int64_t{0} : static_cast<int64_t>(h->fields.size());
}

// ------------------------------------------------------------------------------------------------ sets

Result<int64_t> StructuresImpl::sadd(std::string_view key, const std::vector<std::string>& members, Durability d) {
  if (members.empty()) return Status::InvalidArgument("SADD needs at least one member");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kSet, now(), &batch, &expired));
  auto* set = DataOf<SetData>(obj);
  absl::flat_hash_set<std::string_view> fresh;
  for (const std::string& m : members) {
    if ((set == nullptr || !set->members.contains(m)) && fresh.insert(m).second) {
      batch.put_element(key, kSetMember, m, "");
    }
  }
  if (fresh.empty()) return int64_t{0};
  if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kSet));
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(s, key);
    set = DataOf<SetData>(&install(s, key, NewObject(StructureType::kSet)));
  }
  for (std::string_view m : fresh) set->members.emplace(m);
  return static_cast<int64_t>(fresh.size());
}

Result<int64_t> StructuresImpl::srem(std::string_view key, const std::vector<std::string>& members, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kSet, now()));
  auto* set = DataOf<SetData>(obj);
  if (set == nullptr) return int64_t{0};
  absl::flat_hash_set<std::string_view> gone;
  Batch batch(this, d);
  for (const std::string& m : members) {
    if (set->members.contains(m) && gone.insert(m).second) batch.remove_element(key, kSetMember, m);
  }
  if (gone.empty()) return int64_t{0};
  const bool now_empty = gone.size() == set->members.size();
  if (now_empty) batch.remove_meta(key);
  SP_RETURN_IF_ERROR(batch.commit());
  const auto removed = static_cast<int64_t>(gone.size());
  if (now_empty) {
    erase(s, key);
  } else {
    for (std::string_view m : gone) set->members.erase(m);
  }
  return removed;
}

Result<bool> StructuresImpl::sismember(std::string_view key, std::string_view member) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kSet, now()));
  auto* set = DataOf<SetData>(obj);
  return set != nullptr && set->members.contains(member);
}

Result<std::vector<std::string>> StructuresImpl::smembers(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kSet, now()));
  std::vector<std::string> out;
  if (auto* set = DataOf<SetData>(obj)) out.assign(set->members.begin(), set->members.end());
  std::sort(out.begin(), out.end());
  return out;
}

Result<int64_t> StructuresImpl::scard(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kSet, now()));
  auto* set = DataOf<SetData>(obj);
  return set == nullptr ? int64_t{0} : static_cast<int64_t>(set->members.size());
}

// ----------------------------------------------------------------------------------------- sorted sets

void ZSetPut(ZSetData* z, const std::string& member, double score) {
  auto [it, inserted] = z->scores.try_emplace(member, score);
  if (inserted) {
    z->order.insert(score, member);
  } else {
    z->order.update(it->second, score, member);
    it->second = score;
  }
}

namespace {

void ZSetErase(ZSetData* z, std::string_view member) {
  auto it = z->scores.find(member);
  if (it == z->scores.end()) return;
  z->order.erase(it->second, member);
  z->scores.erase(it);
}

// The first element with score above (or at, when inclusive) `min`.
ScoreIndex::iterator LowerBound(const ZSetData& z, ScoreBound min) {
  if (!min.exclusive) return z.order.lower_bound(min.value, "");
  if (min.value == HUGE_VAL) return z.order.end();
  return z.order.lower_bound(std::nextafter(min.value, HUGE_VAL), "");
}

bool BelowMax(double score, ScoreBound max) { return max.exclusive ? score < max.value : score <= max.value; }

}  // namespace

Result<int64_t> StructuresImpl::zadd(std::string_view key, const std::vector<ScoredMember>& members,
                                     const ZAddOptions& o, Durability d) {
  if (o.nx && o.xx) return Status::InvalidArgument("XX and NX options at the same time are not compatible");
  if ((o.gt && o.lt) || (o.nx && (o.gt || o.lt))) {
    return Status::InvalidArgument("GT, LT, and/or NX options at the same time are not compatible");
  }
  if (members.empty()) return Status::InvalidArgument("ZADD needs at least one member");
  for (const ScoredMember& m : members) {
    if (std::isnan(m.score)) return Status::InvalidArgument("value is not a valid float");
  }
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kZSet, now(), &batch, &expired));
  auto* z = DataOf<ZSetData>(obj);
  // Members are applied in order, so a member named twice sees its own earlier score.
  absl::flat_hash_map<std::string_view, double> next;
  int64_t added = 0, changed = 0;
  for (const ScoredMember& m : members) {
    std::optional<double> cur;
    if (auto it = next.find(m.member); it != next.end()) {
      cur = it->second;
    } else if (z != nullptr) {
      if (auto zit = z->scores.find(m.member); zit != z->scores.end()) cur = zit->second;
    }
    if (!cur.has_value()) {
      if (o.xx) continue;
      next[m.member] = m.score;
      ++added;
    } else {
      if (o.nx || (o.gt && !(m.score > *cur)) || (o.lt && !(m.score < *cur)) || m.score == *cur) continue;
      next[m.member] = m.score;
      ++changed;
    }
  }
  if (next.empty()) return o.ch ? added + changed : added;
  for (const auto& [m, score] : next) batch.put_element(key, kZSetMember, m, EncodeScore(score));
  if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kZSet));
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(s, key);
    z = DataOf<ZSetData>(&install(s, key, NewObject(StructureType::kZSet)));
  }
  for (const auto& [m, score] : next) ZSetPut(z, std::string(m), score);
  return o.ch ? added + changed : added;
}

Result<double> StructuresImpl::zincrby(std::string_view key, double delta, std::string_view member, Durability d) {
  if (std::isnan(delta)) return Status::InvalidArgument("value is not a valid float");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kZSet, now(), &batch, &expired));
  auto* z = DataOf<ZSetData>(obj);
  double score = delta;
  if (z != nullptr) {
    if (auto it = z->scores.find(member); it != z->scores.end()) score = it->second + delta;
  }
  if (std::isnan(score)) return Status::InvalidArgument("resulting score is not a number (NaN)");
  batch.put_element(key, kZSetMember, member, EncodeScore(score));
  if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kZSet));
  SP_RETURN_IF_ERROR(batch.commit());
  if (obj == nullptr) {
    if (expired) erase(s, key);
    z = DataOf<ZSetData>(&install(s, key, NewObject(StructureType::kZSet)));
  }
  ZSetPut(z, std::string(member), score);
  return score;
}

Result<std::optional<double>> StructuresImpl::zscore(std::string_view key, std::string_view member) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr) return std::optional<double>();
  auto it = z->scores.find(member);
  if (it == z->scores.end()) return std::optional<double>();
  return std::optional<double>(it->second);
}

Result<std::optional<int64_t>> StructuresImpl::zrank(std::string_view key, std::string_view member, bool reverse) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr) return std::optional<int64_t>();
  auto it = z->scores.find(member);
  if (it == z->scores.end()) return std::optional<int64_t>();
  const auto rank = static_cast<int64_t>(z->order.rank(it->second, it->first));
  return std::optional<int64_t>(reverse ? static_cast<int64_t>(z->order.size()) - 1 - rank : rank);
}

Result<std::vector<ScoredMember>> StructuresImpl::zrange(std::string_view key, int64_t start, int64_t stop,
                                                         bool reverse) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  std::vector<ScoredMember> out;
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr) return out;
  const auto len = static_cast<int64_t>(z->order.size());
  if (!NormalizeRange(len, &start, &stop)) return out;
  out.reserve(static_cast<size_t>(stop - start + 1));
  auto it = z->order.at(static_cast<size_t>(reverse ? len - 1 - start : start));
  for (int64_t i = start;; ++i) {  // (steps only between members: never before the first)
    out.push_back({it.member(), it.score()});
    if (i == stop) break;
    reverse ? --it : ++it;
  }
  return out;
}

Result<std::vector<ScoredMember>> StructuresImpl::zrangebyscore(std::string_view key, ScoreBound min, ScoreBound max,
                                                                int64_t offset, int64_t count) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  std::vector<ScoredMember> out;
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr || offset < 0 || std::isnan(min.value) || std::isnan(max.value)) return out;
  auto it = LowerBound(*z, min);
  if (offset > 0 && it != z->order.end()) {
    // Skip by rank in O(log n), not one by one.
    it = z->order.at(z->order.rank(it.score(), it.member()) + static_cast<size_t>(offset));
  }
  for (; it != z->order.end() && BelowMax(it.score(), max) && (count < 0 || static_cast<int64_t>(out.size()) < count);
       ++it) {
    out.push_back({it.member(), it.score()});
  }
  return out;
}

Result<int64_t> StructuresImpl::zrem(std::string_view key, const std::vector<std::string>& members, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr) return int64_t{0};
  absl::flat_hash_set<std::string_view> gone;
  Batch batch(this, d);
  for (const std::string& m : members) {
    if (z->scores.contains(m) && gone.insert(m).second) batch.remove_element(key, kZSetMember, m);
  }
  if (gone.empty()) return int64_t{0};
  const bool now_empty = gone.size() == z->scores.size();
  if (now_empty) batch.remove_meta(key);
  SP_RETURN_IF_ERROR(batch.commit());
  const auto removed = static_cast<int64_t>(gone.size());
  if (now_empty) {
    erase(s, key);
  } else {
    for (std::string_view m : gone) ZSetErase(z, m);
  }
  return removed;
}

Result<int64_t> StructuresImpl::zcard(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  auto* z = DataOf<ZSetData>(obj);
  return z == nullptr ? int64_t{0} : static_cast<int64_t>(z->order.size());
}

Result<int64_t> StructuresImpl::zremrangebyscore(std::string_view key, ScoreBound min, ScoreBound max, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kZSet, now()));
  auto* z = DataOf<ZSetData>(obj);
  if (z == nullptr || std::isnan(min.value) || std::isnan(max.value)) return int64_t{0};
  std::vector<std::string> gone;
  Batch batch(this, d);
  for (auto it = LowerBound(*z, min); it != z->order.end() && BelowMax(it.score(), max); ++it) {
    batch.remove_element(key, kZSetMember, it.member());
    gone.push_back(it.member());
  }
  if (gone.empty()) return int64_t{0};
  const bool now_empty = gone.size() == z->scores.size();
  if (now_empty) batch.remove_meta(key);
  SP_RETURN_IF_ERROR(batch.commit());
  if (now_empty) {
    erase(s, key);
  } else {
    for (const std::string& m : gone) ZSetErase(z, m);
  }
  return static_cast<int64_t>(gone.size());
}

// ----------------------------------------------------------------------------------------------- lists

Result<int64_t> StructuresImpl::push(std::string_view key, const std::vector<std::string>& values, bool left,
                                     Durability d) {
  if (values.empty()) return Status::InvalidArgument("a push needs at least one value");
  int64_t length;
  {
    Stripe& s = stripe_of(key);
    std::lock_guard<std::mutex> l(s.mu);
    Batch batch(this, d);
    bool expired;
    SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kList, now(), &batch, &expired));
    auto* list = DataOf<ListData>(obj);
    const int64_t head = list != nullptr ? list->head : 0;
    const auto size = list != nullptr ? static_cast<int64_t>(list->items.size()) : 0;
    const auto n = static_cast<int64_t>(values.size());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = left ? head - 1 - i : head + size + i;
      batch.put_element(key, kListItem, ListPosition(pos), values[static_cast<size_t>(i)]);
    }
    if (obj == nullptr) batch.put_meta(key, NewObject(StructureType::kList));
    SP_RETURN_IF_ERROR(batch.commit());
    if (obj == nullptr) {
      if (expired) erase(s, key);
      list = DataOf<ListData>(&install(s, key, NewObject(StructureType::kList)));
    }
    for (const std::string& v : values) {
      if (left) {
        list->items.push_front(v);
        --list->head;
      } else {
        list->items.push_back(v);
      }
    }
    length = static_cast<int64_t>(list->items.size());
  }
  notify_waiters();
  return length;
}

Result<int64_t> StructuresImpl::lpush(std::string_view key, const std::vector<std::string>& values, Durability d) {
  return push(key, values, /*left=*/true, d);
}

Result<int64_t> StructuresImpl::rpush(std::string_view key, const std::vector<std::string>& values, Durability d) {
  return push(key, values, /*left=*/false, d);
}

Result<std::optional<std::string>> StructuresImpl::pop(std::string_view key, bool left, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kList, now()));
  auto* list = DataOf<ListData>(obj);
  if (list == nullptr) return std::optional<std::string>();
  const int64_t pos = left ? list->head : list->head + static_cast<int64_t>(list->items.size()) - 1;
  Batch batch(this, d);
  batch.remove_element(key, kListItem, ListPosition(pos));
  const bool now_empty = list->items.size() == 1;
  if (now_empty) batch.remove_meta(key);
  SP_RETURN_IF_ERROR(batch.commit());
  std::string value;
  if (left) {
    value = std::move(list->items.front());
    list->items.pop_front();
    ++list->head;
  } else {
    value = std::move(list->items.back());
    list->items.pop_back();
  }
  if (now_empty) erase(s, key);
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::string>> StructuresImpl::lpop(std::string_view key, Durability d) {
  return pop(key, /*left=*/true, d);
}

Result<std::optional<std::string>> StructuresImpl::rpop(std::string_view key, Durability d) {
  return pop(key, /*left=*/false, d);
}

Result<std::vector<std::string>> StructuresImpl::lrange(std::string_view key, int64_t start, int64_t stop) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kList, now()));
  std::vector<std::string> out;
  auto* list = DataOf<ListData>(obj);
  if (list == nullptr || !NormalizeRange(static_cast<int64_t>(list->items.size()), &start, &stop)) return out;
  out.assign(list->items.begin() + start, list->items.begin() + stop + 1);
  return out;
}

Result<int64_t> StructuresImpl::llen(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kList, now()));
  auto* list = DataOf<ListData>(obj);
  return list == nullptr ? int64_t{0} : static_cast<int64_t>(list->items.size());
}

Result<std::optional<std::pair<std::string, std::string>>> StructuresImpl::bpop(const std::vector<std::string>& keys,
                                                                               std::chrono::milliseconds timeout,
                                                                               bool left, Durability d) {
  using Popped = std::optional<std::pair<std::string, std::string>>;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Read the generation before looking, so a push after the look wakes the wait below.
    const uint64_t seen = generation();
    for (const std::string& key : keys) {
      SP_ASSIGN_OR_RETURN(std::optional<std::string> v, pop(key, left, d));
      if (v.has_value()) return Popped(std::make_pair(key, std::move(*v)));
    }
    if (timeout.count() <= 0 || !wait_for_change(seen, deadline)) return Popped();
  }
}

Result<std::optional<std::pair<std::string, std::string>>> StructuresImpl::blpop(const std::vector<std::string>& keys,
                                                                                std::chrono::milliseconds timeout,
                                                                                Durability d) {
  return bpop(keys, timeout, /*left=*/true, d);
}

Result<std::optional<std::pair<std::string, std::string>>> StructuresImpl::brpop(const std::vector<std::string>& keys,
                                                                                std::chrono::milliseconds timeout,
                                                                                Durability d) {
  return bpop(keys, timeout, /*left=*/false, d);
}

}  // namespace savepoint::structures
