// The commit sequencer (DESIGN.md, Write path): one short critical section validates, logs the effects,
// applies them to the hot store and queues them for the materializer; a sync commit waits for fsync after it.
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"
#include "util/coding.h"
#include "util/json_depth.h"

namespace savepoint {

// --- Transaction builders ---

Transaction::Op& Transaction::add(Op::Kind kind, Keyspace* ks, std::string_view key) {
  Op& op = ops_.emplace_back();
  op.kind = kind;
  op.ks = ks;
  op.key = std::string(key);
  return op;
}
void Transaction::put(Keyspace* ks, std::string_view key, ValuePtr value, uint64_t expire_at_micros) {
  Op& op = add(Op::Kind::kPut, ks, key);
  op.value = std::move(value);
  op.number = expire_at_micros;
}
void Transaction::put(Keyspace* ks, std::string_view key, std::string_view bytes, uint64_t expire_at_micros) {
  put(ks, key, MakeValue(std::string(bytes)), expire_at_micros);
}
void Transaction::remove(Keyspace* ks, std::string_view key) { add(Op::Kind::kRemove, ks, key); }
void Transaction::remove_prefix(Keyspace* ks, std::string_view prefix) {
  add(Op::Kind::kRemovePrefix, ks, prefix);
}
void Transaction::update(Keyspace* ks, std::string_view key, UpdateFn fn) {
  add(Op::Kind::kUpdate, ks, key).fn = std::move(fn);
}
void Transaction::apply(ApplyFn fn) { add(Op::Kind::kApply, nullptr, "").apply = std::move(fn); }
void Transaction::require_version(Keyspace* ks, std::string_view key, uint64_t version) {
  add(Op::Kind::kRequireVersion, ks, key).number = version;
}
void Transaction::require_absent(Keyspace* ks, std::string_view key) {
  add(Op::Kind::kRequireAbsent, ks, key);
}
void Transaction::require_present(Keyspace* ks, std::string_view key) {
  add(Op::Kind::kRequirePresent, ks, key);
}
void Transaction::require_value(Keyspace* ks, std::string_view key, std::string_view bytes) {
  add(Op::Kind::kRequireValue, ks, key).value = MakeValue(std::string(bytes));
}

namespace {
// The words that mark an in-doubt NoSpace (CommitInDoubt): in the message of a sync commit that timed out
// (publish() below), and in the WAL writer's, which Engine::sync() returns.
constexpr std::string_view kNotKnownDurable = "not known durable";
}  // namespace

bool CommitInDoubt(const Status& s) {
  return s.IsNoSpace() && s.message().find(kNotKnownDurable) != std::string::npos;
}

namespace engine {

namespace {

bool IsRequire(Transaction::Op::Kind k) {
  using K = Transaction::Op::Kind;
  return k == K::kRequireVersion || k == K::kRequireAbsent || k == K::kRequirePresent ||
         k == K::kRequireValue;
}

std::string Describe(const Keyspace* ks, std::string_view key) {
  std::string printable;
  for (char c : key.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) {
      printable.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      printable += buf;
    }
  }
  return ks->def.name + "[" + printable + (key.size() > 64 ? "..." : "") + "]";
}

// Releases values displaced by writes, a batch at a time: their control blocks and byte buffers are
// fetched together (prefetches), so the cache misses of releasing a value, two per value that nothing else
// holds, overlap instead of stalling a commit each.
void ReleaseValues(std::array<ValuePtr, 32>* values) {
  for (const ValuePtr& v : *values) {
    if (v == nullptr) continue;
    __builtin_prefetch(ControlBlockOf(v.get()), 1);
    __builtin_prefetch(v.get());
  }
  for (const ValuePtr& v : *values) {
    if (v != nullptr && v.use_count() == 1) __builtin_prefetch(v->bytes.data(), 1);
  }
  for (ValuePtr& v : *values) v.reset();
}

// The commit payload buffer keeps its capacity between commits, up to this.
constexpr size_t kMaxRetainedPayload = 1u << 20;

Durability Stronger(Durability a, Durability b) {
  return (a == Durability::kSync || b == Durability::kSync) ? Durability::kSync : Durability::kRelaxed;
}

}  // namespace

Status EngineImpl::check_key(std::string_view key) const {
  if (key.empty()) return Status::InvalidArgument("empty key");
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes exceeds the " +
                                   std::to_string(kMaxKeyBytes) + "-byte limit");
  }
  return Status::OK();
}

Result<Keyspace*> EngineImpl::live(Keyspace* ks) const {
  if (ks == nullptr) return Status::InvalidArgument("null keyspace");
  if (ks->dropped.load(std::memory_order_acquire)) {
    return Status::NotFound("keyspace \"" + ks->def.name + "\" was dropped");
  }
  return ks;
}

Result<bool> EngineImpl::current_entry(const std::vector<Staged>& staged, Keyspace* ks, std::string_view key,
                                       uint64_t now, HotEntry* out) {
  for (auto it = staged.rbegin(); it != staged.rend(); ++it) {
    if (it->ks != ks) continue;
    if (it->kind == EffectKind::kDeletePrefix) {
      if (key.starts_with(it->key)) return false;
      continue;
    }
    if (it->key != key) continue;
    if (it->kind == EffectKind::kDelete) return false;
    if (it->expire_at_micros != 0 && it->expire_at_micros <= now) return false;
    *out = HotEntry{it->value, 0, it->expire_at_micros, 0};
    return true;
  }
  HotEntry e;
  switch (ks->hot->get_raw(key, &e)) {
    case Lookup::kFound:
      if (e.expire_at_micros != 0 && e.expire_at_micros <= now) return false;
      *out = std::move(e);
      return true;
    case Lookup::kAbsent:
      return false;
    case Lookup::kNotCached:
      break;
  }
  auto m = read_materialized(ks, key);
  if (m.status().IsNotFound()) return false;
  if (!m.ok()) return m.status();
  if (m->expire_at_micros != 0 && m->expire_at_micros <= now) return false;
  *out = std::move(m).value();
  return true;
}

// The CommitContext of an apply function: reads through the commit's staged writes, stages its writes.
class StagingContext final : public CommitContext {
 public:
  // Keys the apply function stages are copied into `owned_keys` (the caller's views may not outlive the
  // call).
  StagingContext(EngineImpl* engine, std::vector<EngineImpl::Staged>* staged,
                 std::deque<std::string>* owned_keys, uint64_t now)
      : engine_(engine), staged_(staged), owned_keys_(owned_keys), now_(now) {}
  uint64_t now_micros() const override { return now_; }
  Result<Entry> get(Keyspace* ks, std::string_view key) override {
    SP_RETURN_IF_ERROR(check(ks, key));
    HotEntry cur;
    SP_ASSIGN_OR_RETURN(const bool present, engine_->current_entry(*staged_, ks, key, now_, &cur));
    if (!present) return Status::NotFound("no such key");
    return Entry{cur.value, cur.version, cur.expire_at_micros};
  }
  Status put(Keyspace* ks, std::string_view key, ValuePtr value, uint64_t expire_at_micros) override {
    SP_RETURN_IF_ERROR(check(ks, key));
    if (value == nullptr) return Status::InvalidArgument("null value");
    if (value->bytes.size() > kMaxValueBytes) return Status::InvalidArgument("value exceeds the value limit");
    staged_->push_back({ks, EffectKind::kPut, own(key), std::move(value), expire_at_micros});
    return Status::OK();
  }
  Status remove(Keyspace* ks, std::string_view key) override {
    SP_RETURN_IF_ERROR(check(ks, key));
    HotEntry cur;
    SP_ASSIGN_OR_RETURN(const bool present, engine_->current_entry(*staged_, ks, key, now_, &cur));
    if (present) staged_->push_back({ks, EffectKind::kDelete, own(key), nullptr, 0});
    return Status::OK();
  }
  Status remove_prefix(Keyspace* ks, std::string_view prefix) override {
    SP_RETURN_IF_ERROR(engine_->live(ks).status());
    staged_->push_back({ks, EffectKind::kDeletePrefix, own(prefix), nullptr, 0});
    return Status::OK();
  }

 private:
  Status check(Keyspace* ks, std::string_view key) const {
    SP_RETURN_IF_ERROR(engine_->live(ks).status());
    return engine_->check_key(key);
  }
  std::string_view own(std::string_view key) { return owned_keys_->emplace_back(key); }
  EngineImpl* const engine_;
  std::vector<EngineImpl::Staged>* const staged_;
  std::deque<std::string>* const owned_keys_;
  const uint64_t now_;
};

Result<CommitInfo> EngineImpl::commit(const Transaction& txn) {
  const auto start = std::chrono::steady_clock::now();
  // Read before the sequencer: a clock read waits for the memory accesses in flight (rdtsc is ordered), and
  // the sequencer is held for less time.
  const uint64_t clock_now = clock_->now_micros();
  for (const Transaction::Op& op : txn.ops()) {
    if (op.kind == Transaction::Op::Kind::kApply) {
      if (!op.apply) return Status::InvalidArgument("empty apply function");
      continue;
    }
    if (op.ks == nullptr) return Status::InvalidArgument("transaction op without a keyspace");
    const std::string_view key = op.key;  // (a view: a conditional with "x" would copy the key)
    SP_RETURN_IF_ERROR(check_key(op.kind == Transaction::Op::Kind::kRemovePrefix && key.empty() ? "x" : key)
                           .WithContext(op.ks->def.name));
    // The key's hash bucket arrives while the commit waits for the sequencer and stages (see publish()).
    if (op.kind != Transaction::Op::Kind::kRemovePrefix) op.ks->hot->prefetch(key);
    if (op.value != nullptr && op.value->bytes.size() > kMaxValueBytes) {
      return Status::InvalidArgument("value of " + std::to_string(op.value->bytes.size()) + " bytes for " +
                                     Describe(op.ks, op.key) + " exceeds the " +
                                     std::to_string(kMaxValueBytes) + "-byte limit");
    }
    if (op.kind == Transaction::Op::Kind::kPut && op.value == nullptr) {
      return Status::InvalidArgument("null value for " + Describe(op.ks, op.key));
    }
  }

  SP_RETURN_IF_ERROR(writes_allowed());  // snapshot.cc: stop_writes_on_bgsave_error
  // Backpressure: wait, holding no lock, while the materializer is too far behind.
  const uint64_t lag_limit = options_.max_materializer_lag_bytes;
  if (lag_limit != 0 && mat_lag_bytes_.load(std::memory_order_relaxed) >= lag_limit) [[unlikely]] {
    SP_RETURN_IF_ERROR(wait_for_materializer());
  }

  std::unique_lock<std::mutex> lock(commit_mu_);
  if (closing_) return Status::InvalidArgument("commit on a closed engine");
  for (const Transaction::Op& op : txn.ops()) {
    if (op.kind != Transaction::Op::Kind::kApply) SP_RETURN_IF_ERROR(live(op.ks).status());
  }
  // Commits see time in their sequence order, even when they read the clock in another order.
  const uint64_t now = last_commit_now_ = std::max(last_commit_now_, clock_now);
  // The staging scratch is the engine's, reused; whatever this commit leaves in it is dropped before the
  // sequencer is released (publish() empties it before it unlocks).
  std::vector<Staged>& staged = commit_staged_;
  commit_owned_keys_.clear();
  struct ClearStaged {
    std::vector<Staged>& staged;
    std::unique_lock<std::mutex>& lock;
    ~ClearStaged() {
      if (lock.owns_lock()) staged.clear();
    }
  } clear_staged{staged, lock};

  // Preconditions see the state before this transaction (Redis WATCH/MULTI).
  for (const Transaction::Op& op : txn.ops()) {
    if (!IsRequire(op.kind)) continue;
    HotEntry cur;
    SP_ASSIGN_OR_RETURN(const bool present, current_entry(staged, op.ks, op.key, now, &cur));
    bool ok = true;
    std::string why;
    switch (op.kind) {
      case Transaction::Op::Kind::kRequireVersion:
        ok = (present ? cur.version : 0) == op.number;
        why = "version is " + std::to_string(present ? cur.version : 0) + ", expected " +
              std::to_string(op.number);
        break;
      case Transaction::Op::Kind::kRequireAbsent:
        ok = !present;
        why = "key exists";
        break;
      case Transaction::Op::Kind::kRequirePresent:
        ok = present;
        why = "key does not exist";
        break;
      case Transaction::Op::Kind::kRequireValue:
        ok = present && cur.value->bytes == op.value->bytes;
        why = present ? "value differs" : "key does not exist";
        break;
      default:
        break;
    }
    if (!ok) {
      conflicts_++;
      return Status::Conflict(Describe(op.ks, op.key) + ": " + why);
    }
  }

  // Writes, in order; an update sees the writes before it.
  for (const Transaction::Op& op : txn.ops()) {
    switch (op.kind) {
      case Transaction::Op::Kind::kPut:
        staged.push_back({op.ks, EffectKind::kPut, op.key, op.value, op.number, true});
        break;
      case Transaction::Op::Kind::kRemove: {
        HotEntry cur;
        SP_ASSIGN_OR_RETURN(const bool present, current_entry(staged, op.ks, op.key, now, &cur));
        if (present) staged.push_back({op.ks, EffectKind::kDelete, op.key, nullptr, 0, true});
        break;
      }
      case Transaction::Op::Kind::kRemovePrefix:
        staged.push_back({op.ks, EffectKind::kDeletePrefix, op.key, nullptr, 0});
        break;
      case Transaction::Op::Kind::kUpdate: {
        HotEntry cur;
        SP_ASSIGN_OR_RETURN(const bool present, current_entry(staged, op.ks, op.key, now, &cur));
        Entry view{cur.value, cur.version, cur.expire_at_micros};
        SP_ASSIGN_OR_RETURN(Mutation m, op.fn(present ? &view : nullptr, now));
        if (m.kind == Mutation::Kind::kPut) {
          if (m.value == nullptr)
            return Status::InvalidArgument("update of " + Describe(op.ks, op.key) + " put null");
          if (m.value->bytes.size() > kMaxValueBytes) {
            return Status::InvalidArgument("update of " + Describe(op.ks, op.key) +
                                           " exceeds the value limit");
          }
          staged.push_back({op.ks, EffectKind::kPut, op.key, std::move(m.value), m.expire_at_micros, true});
        } else if (m.kind == Mutation::Kind::kRemove && present) {
          staged.push_back({op.ks, EffectKind::kDelete, op.key, nullptr, 0, true});
        }
        break;
      }
      case Transaction::Op::Kind::kApply: {
        StagingContext ctx(this, &staged, &commit_owned_keys_, now);
        SP_RETURN_IF_ERROR(op.apply(ctx));
        break;
      }
      default:
        break;
    }
  }
  bool synced = false;
  auto info = publish(staged, txn.durability(), now, lock, &synced);
  if (info.ok()) {
    const auto nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
            .count());
    (synced ? commit_sync_latency_ : commit_relaxed_latency_).record(nanos);
  }
  return info;
}

Result<CommitInfo> EngineImpl::publish(std::vector<Staged>& staged, Durability durability, uint64_t now,
                                       std::unique_lock<std::mutex>& lock, bool* synced) {
  CommitInfo info;
  info.commit_micros = now;
  if (staged.empty()) return info;

  Durability effective = durability == Durability::kSync ? Durability::kSync : Durability::kRelaxed;
  bool coalesced = false;
  size_t logged = 0;
  for (const Staged& s : staged) {
    // The hot store's lines for the key arrive while the effects are encoded and logged: its node and value
    // through its bucket, which commit() asked for already for the transaction's own ops; for the writes
    // of apply functions, the bucket now and the rest once the effects are encoded.
    if (s.kind != EffectKind::kDeletePrefix) {
      using Prefetch = HotKeyspace::Prefetch;
      s.ks->hot->prefetch(s.key, s.bucket_prefetched ? Prefetch::kEntry : Prefetch::kBucket);
    }
    if (s.ks->logged()) {
      logged++;
      effective = Stronger(effective, s.ks->def.options.durability);
    }
    coalesced |= s.ks->coalesced();
  }
  // The effects, encoded straight from the staged writes into the reused payload buffer.
  std::string& payload = commit_payload_;
  payload.clear();
  if (logged > 0) {
    EncodeEffectCount(logged, &payload);
    for (const Staged& s : staged) {
      if (!s.ks->logged()) continue;
      EncodeEffect(s.kind, s.ks->def.id, s.key, s.expire_at_micros,
                   s.value != nullptr ? std::string_view(s.value->bytes) : std::string_view(), &payload);
    }
    for (const Staged& s : staged) {
      if (s.kind != EffectKind::kDeletePrefix && !s.bucket_prefetched) {
        s.ks->hot->prefetch(s.key, HotKeyspace::Prefetch::kEntry);
      }
    }
    auto appended = wal_->append_nowait(wal::RecordType::kTransaction, payload, now);
    if (!appended.ok()) return appended.status();  // nothing applied, nothing marked
    info.lsn = appended->lsn;
    info.commit_micros = appended->commit_micros;
    SP_CRASH_POINT("engine.after_wal_append_before_apply");
  } else if (coalesced) {
    // Coalesced writes reach the log later; with the log failed they never would.
    SP_RETURN_IF_ERROR(wal_->health());
  }
  // Only a commit that will happen marks its coalesced keys (a refused one must not be logged later).
  for (const Staged& s : staged) {
    if (!s.ks->coalesced()) continue;
    if (s.kind == EffectKind::kDeletePrefix) {
      s.ks->dirty_prefixes.emplace_back(s.key);
    } else {
      s.ks->dirty_keys.emplace(s.key);
    }
  }
  info.version = next_version_.fetch_add(1);
  for (Staged& s : staged) {
    const uint64_t lsn = s.ks->logged() ? info.lsn : 0;
    switch (s.kind) {
      case EffectKind::kPut: {
        ValuePtr displaced;
        s.ks->hot->apply_put(s.key, HotEntry{std::move(s.value), info.version, s.expire_at_micros, lsn},
                             &displaced);
        if (displaced != nullptr) retire(std::move(displaced));
        break;
      }
      case EffectKind::kDelete:
        s.ks->hot->apply_delete(s.key, info.version, lsn);
        break;
      case EffectKind::kDeletePrefix:
        s.ks->hot->apply_delete_prefix(s.key, info.version, lsn);
        break;
    }
  }
  staged.clear();
  // A full batch of displaced values is released after the sequencer (below, or by the caller's unlock).
  std::optional<RetiredValues> released;
  if (retired_count_ == retired_.size()) {
    released.emplace().swap(retired_);
    retired_count_ = 0;
  }
  if (info.lsn == 0) {
    commits_unlogged_++;
    return info;
  }
  enqueue(info.lsn, wal::RecordType::kTransaction, payload);
  if (payload.capacity() > kMaxRetainedPayload) std::string().swap(payload);
  lock.unlock();
  if (released.has_value()) ReleaseValues(&*released);
  if (effective == Durability::kSync) {
    commits_sync_++;
    if (synced != nullptr) *synced = true;
    Status s = wait_durable_bounded(info.lsn);
    if (s.IsNoSpace()) {
      // The record is logged and applied; only its durability is unknown
      // (Options::sync_commit_space_timeout).
      return Status::NoSpace("sync commit at LSN " + std::to_string(info.lsn) + " is applied but " +
                             std::string(kNotKnownDurable) + ": " + s.message());
    }
    SP_RETURN_IF_ERROR(s);
  } else {
    commits_relaxed_++;
  }
  return info;
}

// --- atomic helpers: one update each, so they compose with the sequencer's ordering ---

namespace {

bool ParseInt64(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<int64_t> EngineImpl::increment(Keyspace* ks, std::string_view key, int64_t delta,
                                      Durability durability) {
  int64_t result = 0;
  Transaction txn(durability);
  txn.update(ks, key, [&](const Entry* cur, uint64_t) -> Result<Mutation> {
    int64_t v = 0;
    if (cur != nullptr && !ParseInt64(cur->value->bytes, &v)) {
      return Status::InvalidArgument("value is not an integer or out of range");
    }
    if (__builtin_add_overflow(v, delta, &result)) {
      return Status::InvalidArgument("increment or decrement would overflow");
    }
    // Like Redis INCR, the key keeps its TTL.
    return Mutation::Put(MakeValue(std::to_string(result)), cur != nullptr ? cur->expire_at_micros : 0);
  });
  SP_RETURN_IF_ERROR(commit(txn).status());
  return result;
}

Result<bool> EngineImpl::set_if_absent(Keyspace* ks, std::string_view key, ValuePtr value,
                                       uint64_t expire_at_micros, Durability durability) {
  bool stored = false;
  Transaction txn(durability);
  txn.update(ks, key, [&](const Entry* cur, uint64_t) -> Result<Mutation> {
    if (cur != nullptr) return Mutation::Keep();
    stored = true;
    return Mutation::Put(value, expire_at_micros);
  });
  SP_RETURN_IF_ERROR(commit(txn).status());
  return stored;
}

Result<bool> EngineImpl::compare_and_set(Keyspace* ks, std::string_view key, std::string_view expected,
                                         ValuePtr value, Durability durability) {
  bool stored = false;
  Transaction txn(durability);
  txn.update(ks, key, [&](const Entry* cur, uint64_t) -> Result<Mutation> {
    if (cur == nullptr || cur->value->bytes != expected) return Mutation::Keep();
    stored = true;
    return Mutation::Put(value);
  });
  SP_RETURN_IF_ERROR(commit(txn).status());
  return stored;
}

Result<std::string> EngineImpl::merge_patch(Keyspace* ks, std::string_view key, std::string_view patch_json,
                                            Durability durability) {
  if (JsonNestingDepth(patch_json) > kMaxJsonDepth) {
    return Status::InvalidArgument("merge patch is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                   " levels");
  }
  nlohmann::json patch;
  try {
    patch = nlohmann::json::parse(patch_json);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("merge patch is not JSON: ") + e.what());
  }
  std::string result;
  Transaction txn(durability);
  txn.update(ks, key, [&](const Entry* cur, uint64_t) -> Result<Mutation> {
    nlohmann::json doc;  // null when absent
    if (cur != nullptr) {
      if (JsonNestingDepth(cur->value->bytes) > kMaxJsonDepth) {
        return Status::InvalidArgument("stored value is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                       " levels");
      }
      try {
        doc = nlohmann::json::parse(cur->value->bytes);
      } catch (const nlohmann::json::exception& e) {
        return Status::InvalidArgument(std::string("stored value is not JSON: ") + e.what());
      }
    }
    doc.merge_patch(patch);  // RFC 7386
    result = doc.dump();
    return Mutation::Put(MakeValue(result), cur != nullptr ? cur->expire_at_micros : 0);
  });
  SP_RETURN_IF_ERROR(commit(txn).status());
  return result;
}

// --- keyspaces: catalog changes are logged with sync durability, under the sequencer ---

Result<uint64_t> EngineImpl::log_catalog_change(CatalogOp op, const KeyspaceDef& def) {
  std::string payload;
  EncodeCatalogChange(op, def, &payload);
  SP_ASSIGN_OR_RETURN(wal::Appended a,
                      wal_->append(wal::RecordType::kCatalogChange, payload, wal::Durability::kSync));
  return a.lsn;
}

void EngineImpl::enqueue_catalog_change(uint64_t lsn, CatalogOp op, const KeyspaceDef& def) {
  std::string payload;
  EncodeCatalogChange(op, def, &payload);
  enqueue(lsn, wal::RecordType::kCatalogChange, payload);
}

Result<Keyspace*> EngineImpl::create_keyspace(std::string_view name, const KeyspaceOptions& requested) {
  SP_RETURN_IF_ERROR(ValidateKeyspaceName(name));
  KeyspaceOptions options = requested;
  if (options.persistence == Persistence::kVolatile) options.residency = Residency::kMemory;
  if (options.durability == Durability::kDefault) options.durability = Durability::kRelaxed;
  if (options.persistence == Persistence::kCoalesced && options.coalesce_interval.count() <= 0) {
    return Status::InvalidArgument("coalesced keyspace \"" + std::string(name) +
                                   "\" needs a positive interval");
  }
  if (options.residency == Residency::kCached) {
    if (options.persistence != Persistence::kDurable) {
      return Status::InvalidArgument("keyspace \"" + std::string(name) +
                                     "\": cached residency needs durable persistence");
    }
    if (options.cache_bytes == 0) return Status::InvalidArgument("cached keyspace needs cache_bytes > 0");
  }

  std::lock_guard<std::mutex> lock(commit_mu_);
  if (closing_) return Status::InvalidArgument("create_keyspace on a closed engine");
  Keyspace* existing = nullptr;
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    if (auto it = by_name_.find(name); it != by_name_.end()) existing = it->second;
  }
  if (existing != nullptr) {
    KeyspaceDef def = existing->def;
    SP_RETURN_IF_ERROR(CheckCompatible(def, options));
    if (def.options.residency != options.residency) {
      return Status::InvalidArgument(
          "keyspace \"" + def.name + "\" is " +
          (def.options.residency == Residency::kCached ? "cached" : "memory-resident") +
          ": changing residency needs a drop and a re-create");
    }
    const std::string before = KeyspaceDefToJson(def);
    def.options = options;
    if (KeyspaceDefToJson(def) == before) return existing;
    // A safe migration (durability, intervals, cache size, durable <-> coalesced): logged as an alter.
    if (existing->coalesced() && options.persistence == Persistence::kDurable) {
      // Log the dirty keys first so nothing of the old class is left behind unlogged.
      existing->next_coalesce_micros = 0;
    }
    SP_ASSIGN_OR_RETURN(const uint64_t lsn, log_catalog_change(CatalogOp::kAlter, def));
    {
      std::unique_lock<std::shared_mutex> cl(catalog_mu_);
      existing->def = def;
    }
    enqueue_catalog_change(lsn, CatalogOp::kAlter, def);
    return existing;
  }
  if (options.residency == Residency::kCached) {
    uint64_t committed = 0;
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (auto& [n, k] : by_name_) {
      if (k->def.options.residency == Residency::kCached) committed += k->def.options.cache_bytes;
    }
    if (committed + options.cache_bytes > options_.cached_memory_budget) {
      return Status::InvalidArgument(
          "cached keyspace "
          " + std::string(name) + "
          " needs " +
          std::to_string(options.cache_bytes) + " bytes but only " +
          std::to_string(options_.cached_memory_budget - std::min(committed, options_.cached_memory_budget)) +
          " of Options::cached_memory_budget are left");
    }
  }
  KeyspaceDef def;
  def.id = next_keyspace_id_++;
  def.name = std::string(name);
  def.options = options;
  def.created_lsn = wal_->last_lsn() + 1;  // every WAL append happens under commit_mu_
  SP_ASSIGN_OR_RETURN(const uint64_t lsn, log_catalog_change(CatalogOp::kCreate, def));
  Keyspace* ks;
  {
    // Installed before the materializer sees the change: it creates the column family on this object.
    std::unique_lock<std::shared_mutex> cl(catalog_mu_);
    ks = install_keyspace(def);
  }
  ks->next_coalesce_micros =
      clock_->now_micros() + static_cast<uint64_t>(options.coalesce_interval.count()) * 1000;
  enqueue_catalog_change(lsn, CatalogOp::kCreate, def);
  return ks;
}

Status EngineImpl::drop_keyspace(std::string_view name) {
  std::lock_guard<std::mutex> lock(commit_mu_);
  if (closing_) return Status::InvalidArgument("drop_keyspace on a closed engine");
  Keyspace* ks = nullptr;
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    if (auto it = by_name_.find(name); it != by_name_.end()) ks = it->second;
  }
  if (ks == nullptr) return Status::NotFound("no keyspace \"" + std::string(name) + "\"");
  SP_ASSIGN_OR_RETURN(const uint64_t lsn, log_catalog_change(CatalogOp::kDrop, ks->def));
  {
    std::unique_lock<std::shared_mutex> cl(catalog_mu_);
    ks->dropped = true;
    by_name_.erase(ks->def.name);
    by_id_.erase(ks->def.id);
  }
  enqueue_catalog_change(lsn, CatalogOp::kDrop, ks->def);
  ks->hot->clear();
  ks->dirty_keys.clear();
  ks->dirty_prefixes.clear();
  return Status::OK();
}

Result<Keyspace*> EngineImpl::find_keyspace(std::string_view name) {
  std::shared_lock<std::shared_mutex> cl(catalog_mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return Status::NotFound("no keyspace \"" + std::string(name) + "\"");
  return it->second;
}

std::vector<KeyspaceInfo> EngineImpl::keyspaces() {
  std::shared_lock<std::shared_mutex> cl(catalog_mu_);
  std::vector<KeyspaceInfo> out;
  for (auto& [name, ks] : by_name_) out.push_back({ks->def.id, ks->def.name, ks->def.options});
  return out;
}

Result<uint64_t> EngineImpl::create_restore_point(std::string_view name) {
  if (name.empty() || name.size() > wal::kMaxRestorePointName) {
    return Status::InvalidArgument("restore point names are 1 to 255 bytes");
  }
  std::lock_guard<std::mutex> lock(commit_mu_);
  if (closing_) return Status::InvalidArgument("restore point on a closed engine");
  SP_ASSIGN_OR_RETURN(wal::Appended a,
                      wal_->append(wal::RecordType::kRestorePoint, name, wal::Durability::kSync));
  return a.lsn;
}

Status EngineImpl::wait_durable_bounded(uint64_t lsn) {
  wal::DurableWait wait;
  wait.count_space_waits = true;
  if (options_.sync_commit_space_timeout.count() > 0)
    wait.no_space_timeout = options_.sync_commit_space_timeout;
  return wal_->wait_durable(lsn, wait);
}

Status EngineImpl::sync() {
  if (wal_ == nullptr) return Status::InvalidArgument("engine is closed");
  const uint64_t last = wal_->last_lsn();
  return last == 0 ? Status::OK() : wait_durable_bounded(last);
}

}  // namespace engine
}  // namespace savepoint
