// The materializer: applies committed records to RocksDB in LSN order, in batches, with the RocksDB WAL off,
// writing applied_lsn in the same batch (docs/recovery.md). It only applies records that are durable in the
// savepoint WAL, so RocksDB can never get ahead of the log ("WAL before data", as PostgreSQL's bufmgr).
//
// A batch is written sorted by key, each key once (the last write of the batch wins; a prefix deletion splits
// the batch so nothing moves across it). A skip-list memtable (cached keyspaces; engine_open.cc chooses) then
// searches the same upper levels for consecutive inserts, in cache; a sorted-runs memtable (memory-resident
// ones) takes each batch as one run and merges the runs when flushed, instead of sorting every entry.
// Recovery's replay (apply_to_rocksdb) writes in LSN order: it fills skip lists, and there the sort cost more
// than it saved (replay went from ~1.3M to ~1.6M records/s without it).
#include <absl/container/flat_hash_map.h>
#include <rocksdb/slice.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"
#include "savepoint/key_codec.h"
#include "util/coding.h"

namespace savepoint::engine {

namespace {
// A batch ends at this many records or bytes of records (or at a catalog change, which goes alone).
constexpr size_t kMaxBatchRecords = 16384;
constexpr size_t kMaxBatchBytes = 8u << 20;
// What a WriteBatch takes per effect besides key and value bytes: tag, column family id, two lengths, the
// row's flags and expiry.
constexpr size_t kBatchBytesPerEffect = 24;
// The queue's buffers keep their capacity between passes, up to this.
constexpr size_t kMaxRetainedQueueBytes = 1u << 20;
// A record in the queue: [lsn fixed64][type u8][payload length fixed32][payload].
constexpr size_t kQueuedHeader = 13;
// How often a commit held by backpressure re-checks the log's health while it waits.
constexpr std::chrono::milliseconds kBackpressureRecheck{100};

// SortForBatch's sort key: an effect's family, the 8 bytes of its key from `from` on (KeyPrefix), its index.
struct SortKey {
  rocksdb::ColumnFamilyHandle* cf;
  uint64_t prefix;
  uint32_t index;
};

// Up to 8 bytes of `key` from `from` on, big-endian and zero-padded: for two keys that agree before `from`,
// a < b orders them as the keys do, except that equal prefixes say nothing.
uint64_t KeyPrefix(std::string_view key, size_t from) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < 8; i++) {
    prefix = (prefix << 8) | (from + i < key.size() ? static_cast<uint8_t>(key[from + i]) : 0);
  }
  return prefix;
}
}  // namespace

void EngineImpl::enqueue(uint64_t lsn, wal::RecordType type, std::string_view payload) {
  char header[kQueuedHeader];
  EncodeFixed64(header, lsn);
  header[8] = static_cast<char>(type);
  EncodeFixed32(header + 9, static_cast<uint32_t>(payload.size()));
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mat_mu_);
    mat_queue_.append(header, kQueuedHeader).append(payload);
    mat_lag_bytes_.store(mat_lag_bytes_.load(std::memory_order_relaxed) + kQueuedHeader + payload.size(),
                         std::memory_order_relaxed);
    enqueued_lsn_.store(lsn, std::memory_order_release);
    wake = mat_idle_;  // a busy materializer finds the record when it comes back for more
    mat_idle_ = false;
  }
  if (wake) mat_cv_.notify_one();
}

Status EngineImpl::wait_for_materializer() {
  const uint64_t limit = options_.max_materializer_lag_bytes;
  std::unique_lock<std::mutex> lock(mat_mu_);
  auto stopped = [&] { return mat_stop_ || mat_abandon_ || closing_ || !mat_status_.ok(); };
  if (mat_lag_bytes_.load(std::memory_order_relaxed) < limit || stopped()) return mat_status_;
  backpressure_waits_.fetch_add(1, std::memory_order_relaxed);
  ++space_waiters_;
  Status s;
  while (mat_lag_bytes_.load(std::memory_order_relaxed) >= limit && !stopped()) {
    // The materializer waits for the queued records to be durable: have them synced now rather than at the
    // next sync_interval. Outside mat_mu_; the WAL stays open while we are counted in space_waiters_.
    const uint64_t target = enqueued_lsn_.load(std::memory_order_acquire);
    lock.unlock();
    s = wal_->request_sync(target);
    lock.lock();
    if (!s.ok()) break;  // the log failed (or is out of space): so would this commit's append
    space_cv_.wait_for(lock, kBackpressureRecheck,
                       [&] { return mat_lag_bytes_.load(std::memory_order_relaxed) < limit || stopped(); });
  }
  if (s.ok()) s = mat_status_;
  if (--space_waiters_ == 0 && (mat_stop_ || mat_abandon_)) space_cv_.notify_all();  // stop_threads() waits
  return s;
}

Status EngineImpl::apply_catalog_to_rocksdb(const MaterializeItem& item) {
  Keyspace* ks = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(catalog_mu_);
    for (auto& k : all_keyspaces_) {
      if (k->def.id == item.def.id) ks = k.get();
    }
  }
  rocksdb::WriteBatch batch;
  const bool has_family = item.def.options.persistence != Persistence::kVolatile;
  if (item.catalog_op == CatalogOp::kCreate && has_family && ks != nullptr && ks->cf == nullptr) {
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    if (auto pre = precreated_families_.find(item.def.id); pre != precreated_families_.end()) {
      cf = pre->second;
      precreated_families_.erase(pre);
    } else {
      SP_RETURN_IF_ERROR(FromRocks(
          db_->CreateColumnFamily(family_options(item.def.options.residency), CfName(item.def.id), &cf),
          "creating the column family of keyspace " + item.def.name));
    }
    // Not while a checkpoint is between listing the families and flushing them (maintenance.cc): nothing,
    // not even this change's catalog row and applied_lsn, is written until the family is published.
    {
      std::lock_guard<std::mutex> family_lock(family_mu_);
      std::unique_lock<std::shared_mutex> lock(catalog_mu_);
      ks->cf = cf;
    }
    tune_family(*ks);  // only this thread sets ks->cf
  }
  if (item.catalog_op == CatalogOp::kDrop) {
    if (ks != nullptr && ks->cf != nullptr) {
      // The handle stays valid for readers racing with the drop; it is destroyed at close.
      SP_RETURN_IF_ERROR(FromRocks(db_->DropColumnFamily(ks->cf), "dropping keyspace " + item.def.name));
    }
    DeleteCatalogEntry(&batch, meta_cf_, item.def.id);
  } else {
    PutCatalogEntry(&batch, meta_cf_, item.def);
  }
  uint32_t next_id;
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    next_id = next_keyspace_id_;
  }
  PutNextKeyspaceId(&batch, meta_cf_, next_id);
  PutAppliedLsn(&batch, meta_cf_, item.lsn);
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  Status s =
      FromRocks(db_->Write(wo, &batch), "materialising catalog change at LSN " + std::to_string(item.lsn));
  if (s.ok()) applied_lsn_.store(item.lsn, std::memory_order_release);
  return s;
}

void SortForBatch(const std::vector<PendingEffect>& effects,
                  const std::vector<rocksdb::ColumnFamilyHandle*>& families, std::vector<uint32_t>* order) {
  if (order->empty()) return;
  // Most comparisons are of two integers: the family, and the 8 bytes of the key after the prefix every key
  // shares (keys of one keyspace mostly start alike: "player:", "key:0000"); only equal ones compare whole
  // keys.
  const std::string_view first = effects[order->front()].key;
  size_t shared = first.size();
  for (const uint32_t i : *order) {
    const std::string_view k = effects[i].key;
    const auto end = first.begin() + static_cast<ptrdiff_t>(std::min(shared, k.size()));
    shared = static_cast<size_t>(std::mismatch(first.begin(), end, k.begin()).first - first.begin());
  }
  std::vector<SortKey> keys;
  keys.reserve(order->size());
  for (const uint32_t i : *order) keys.push_back({families[i], KeyPrefix(effects[i].key, shared), i});
  std::sort(keys.begin(), keys.end(), [&](const SortKey& a, const SortKey& b) {
    if (a.cf != b.cf) return a.cf < b.cf;
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    const int c = effects[a.index].key.compare(effects[b.index].key);
    return c != 0 ? c < 0 : a.index < b.index;
  });
  for (size_t k = 0; k < keys.size(); k++) (*order)[k] = keys[k].index;
}

Status EngineImpl::write_effects(const std::vector<PendingEffect>& effects, uint64_t last_lsn, bool sort) {
  // The column family of each keyspace written, looked up once per batch; null: dropped since (its family
  // goes with it, so its effects are skipped). A hash map, not a list: a batch spread over hundreds of
  // keyspaces (a catalogue of stores) must cost per effect what a batch into one keyspace costs.
  absl::flat_hash_map<uint32_t, rocksdb::ColumnFamilyHandle*> families;
  std::vector<rocksdb::ColumnFamilyHandle*> cf_of(effects.size());
  {
    std::shared_lock<std::shared_mutex> lock(catalog_mu_);
    uint32_t last_id = 0;
    rocksdb::ColumnFamilyHandle* last_cf = nullptr;
    for (size_t i = 0; i < effects.size(); i++) {
      const uint32_t id = effects[i].keyspace_id;
      if (i > 0 && id == last_id) {  // runs of one keyspace are the common case
        cf_of[i] = last_cf;
        continue;
      }
      auto known = families.find(id);
      if (known == families.end()) {
        auto it = by_id_.find(id);
        rocksdb::ColumnFamilyHandle* cf = it == by_id_.end() ? nullptr : it->second->cf;
        if (it != by_id_.end() && cf == nullptr) {
          // Effects are only logged for keyspaces with a family, created by their (earlier) catalog change.
          return Status::Corruption("LSN <= " + std::to_string(last_lsn) + " writes keyspace id " +
                                    std::to_string(id) + ", which has no column family");
        }
        known = families.emplace(id, cf).first;
      }
      cf_of[i] = known->second;
      last_id = id;
      last_cf = known->second;
    }
  }

  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  // Sized up front: a batch grown by doubling copies itself a dozen times over.
  size_t bytes = 64;
  for (const PendingEffect& e : effects) bytes += e.key.size() + e.value.size() + kBatchBytesPerEffect;
  rocksdb::WriteBatch batch(bytes);
  std::vector<uint32_t> order;
  char row_header[9];  // EncodeRow's: flags, then the expiry when there is one
  auto add = [&](uint32_t i) {
    const PendingEffect& e = effects[i];
    const rocksdb::Slice key(e.key.data(), e.key.size());
    if (e.kind == EffectKind::kDelete) {
      batch.Delete(cf_of[i], key);
      return;
    }
    row_header[0] = static_cast<char>(e.expire_at_micros != 0 ? 1 : 0);
    if (e.expire_at_micros != 0) EncodeFixed64(row_header + 1, e.expire_at_micros);
    const rocksdb::Slice parts[2] = {rocksdb::Slice(row_header, e.expire_at_micros != 0 ? 9 : 1),
                                     rocksdb::Slice(e.value.data(), e.value.size())};
    batch.Put(cf_of[i], rocksdb::SliceParts(&key, 1), rocksdb::SliceParts(parts, 2));
  };
  // Puts and deletes of effects [begin, end) (no prefix deletion among them), sorted, the last write of each
  // key only.
  auto add_run = [&](size_t begin, size_t end) {
    order.clear();
    for (size_t i = begin; i < end; i++) {
      if (cf_of[i] != nullptr) order.push_back(static_cast<uint32_t>(i));
    }
    if (!sort) {
      for (const uint32_t i : order) add(i);
      return;
    }
    SortForBatch(effects, cf_of, &order);
    for (size_t k = 0; k < order.size(); k++) {
      const uint32_t i = order[k];
      if (k + 1 < order.size() && cf_of[order[k + 1]] == cf_of[i] &&
          effects[order[k + 1]].key == effects[i].key) {
        continue;  // a later write of the same key in this batch replaces this one
      }
      add(i);
    }
  };

  size_t run_begin = 0;
  for (size_t i = 0; i < effects.size(); i++) {
    if (effects[i].kind != EffectKind::kDeletePrefix) continue;
    add_run(run_begin, i);
    run_begin = i + 1;
    rocksdb::ColumnFamilyHandle* cf = cf_of[i];
    if (cf == nullptr) continue;
    const std::string_view prefix = effects[i].key;
    const std::string end = PrefixUpperBound(prefix);
    if (!end.empty()) {
      batch.DeleteRange(cf, rocksdb::Slice(prefix.data(), prefix.size()), end);
      continue;
    }
    // No upper bound (empty or all-0xff prefix): delete key by key, those RocksDB holds and those this batch
    // put before this point (not in RocksDB yet). Still one write: a batch, and a RocksDB snapshot a save
    // reads, never shows a part of it.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
    const rocksdb::Slice start(prefix.data(), prefix.size());
    for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next())
      batch.Delete(cf, it->key());
    SP_RETURN_IF_ERROR(FromRocks(it->status(), "materialising a prefix deletion"));
    for (size_t j = 0; j < i; j++) {
      if (cf_of[j] == cf && effects[j].kind == EffectKind::kPut && effects[j].key.starts_with(prefix)) {
        batch.Delete(cf, rocksdb::Slice(effects[j].key.data(), effects[j].key.size()));
      }
    }
  }
  add_run(run_begin, effects.size());

  PutAppliedLsn(&batch, meta_cf_, last_lsn);
  Status s = FromRocks(db_->Write(wo, &batch), "materialising up to LSN " + std::to_string(last_lsn));
  if (s.ok()) applied_lsn_.store(last_lsn, std::memory_order_release);
  return s;
}

Status EngineImpl::apply_to_rocksdb(const std::vector<MaterializeItem>& items) {
  std::vector<PendingEffect> effects;
  uint64_t last = 0;
  for (const MaterializeItem& item : items) {
    if (item.type == wal::RecordType::kCatalogChange) {
      if (last != 0) SP_RETURN_IF_ERROR(write_effects(effects, last, /*sort=*/false));
      effects.clear();
      last = 0;
      SP_RETURN_IF_ERROR(apply_catalog_to_rocksdb(item));
      continue;
    }
    for (const Effect& e : *item.effects) {
      effects.push_back({e.keyspace_id, e.kind, e.key,
                         e.value != nullptr ? std::string_view(e.value->bytes) : std::string_view(),
                         e.expire_at_micros});
    }
    last = item.lsn;
  }
  return last != 0 ? write_effects(effects, last, /*sort=*/false) : Status::OK();
}

void EngineImpl::precreate_families(std::string_view queued) {
  // RocksDB 7.8 rewrites its OPTIONS file, listing every family, at each CreateColumnFamily: creating N
  // families one by one costs O(N^2) (124 keyspaces: ~1.5 s). Keyspaces created together (a catalogue at
  // startup) reach the queue together: their families are made in one CreateColumnFamilies. They hold no
  // rows until their catalog change publishes them; a crash before that leaves families that recovery
  // claims by name when it replays the creation (as after a crash inside CreateColumnFamily).
  std::vector<rocksdb::ColumnFamilyDescriptor> wanted;
  std::vector<uint32_t> ids;
  size_t pos = 0;
  while (pos + kQueuedHeader <= queued.size()) {
    const auto type = static_cast<wal::RecordType>(queued[pos + 8]);
    const uint32_t length = DecodeFixed32(queued.data() + pos + 9);
    if (type != wal::RecordType::kCatalogChange) break;
    CatalogOp op;
    KeyspaceDef def;
    if (!DecodeCatalogChange(queued.substr(pos + kQueuedHeader, length), &op, &def).ok()) break;
    pos += kQueuedHeader + length;
    if (op != CatalogOp::kCreate || def.options.persistence == Persistence::kVolatile ||
        precreated_families_.count(def.id) != 0) {
      continue;
    }
    bool needs_family = false;
    {
      std::shared_lock<std::shared_mutex> lock(catalog_mu_);
      for (auto& k : all_keyspaces_) {
        if (k->def.id == def.id) needs_family = k->cf == nullptr;
      }
    }
    if (!needs_family) continue;
    wanted.emplace_back(CfName(def.id), family_options(def.options.residency));
    ids.push_back(def.id);
  }
  if (wanted.size() < 2) return;  // one family: CreateColumnFamily as usual
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const rocksdb::Status rs = db_->CreateColumnFamilies(wanted, &handles);
  if (!rs.ok()) {
    // Nothing lost: each creation then tries on its own, and reports its own error.
    for (auto* h : handles) (void)db_->DestroyColumnFamilyHandle(h);
    log_->warn("savepoint: creating {} column families at once: {}", wanted.size(), rs.ToString());
    return;
  }
  for (size_t i = 0; i < handles.size(); i++) precreated_families_[ids[i]] = handles[i];
}

void EngineImpl::materializer_loop() {
  std::string taken;  // records taken from the queue, in its format
  std::vector<EffectView> views;
  std::vector<PendingEffect> effects;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mat_mu_);
      while (mat_queue_.empty() && !mat_stop_ && !mat_abandon_) {
        mat_idle_ = true;
        mat_cv_.wait(lock);
      }
      mat_idle_ = false;
      if (mat_abandon_ || (mat_stop_ && mat_queue_.empty())) return;
      taken.clear();
      taken.swap(mat_queue_);  // the queue keeps the capacity `taken` had: no allocation per pass
    }
    size_t pos = 0;
    while (pos < taken.size()) {
      // One batch: a catalog change alone, or transactions up to a catalog change or the limits.
      const size_t batch_start = pos;
      uint64_t last = 0;
      size_t records = 0;
      Status s;
      MaterializeItem catalog;
      bool is_catalog = false;
      views.clear();
      effects.clear();
      while (pos < taken.size() && records < kMaxBatchRecords && pos - batch_start < kMaxBatchBytes) {
        const uint64_t lsn = DecodeFixed64(taken.data() + pos);
        const auto type = static_cast<wal::RecordType>(taken[pos + 8]);
        const uint32_t length = DecodeFixed32(taken.data() + pos + 9);
        const std::string_view payload(taken.data() + pos + kQueuedHeader, length);
        if (type == wal::RecordType::kCatalogChange) {
          if (records > 0) break;  // a catalog change goes alone
          precreate_families(std::string_view(taken).substr(pos));
          catalog.lsn = lsn;
          catalog.type = type;
          s = DecodeCatalogChange(payload, &catalog.catalog_op, &catalog.def);
          is_catalog = true;
          last = lsn;
          pos += kQueuedHeader + length;
          break;
        }
        s = DecodeEffectViews(payload, &views);
        if (!s.ok()) break;
        last = lsn;
        records++;
        pos += kQueuedHeader + length;
      }
      if (s.ok()) {
        for (const EffectView& v : views) {
          effects.push_back({v.keyspace_id, v.kind, v.key, v.value, v.expire_at_micros});
        }
        // WAL before data: wait for the periodic (or a sync commit's) fdatasync, without forcing one.
        s = wal_->wait_durable(last, /*request_sync=*/false);
      }
      if (s.ok()) {
        SP_CRASH_POINT("engine.before_materialize");
        s = is_catalog ? apply_catalog_to_rocksdb(catalog) : write_effects(effects, last, /*sort=*/true);
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mat_mu_);
        if (mat_status_.ok()) mat_status_ = s;
        if (!mat_abandon_ && !mat_stop_) log_->error("savepoint: materializer stopped: {}", s.ToString());
        applied_cv_.notify_all();
        space_cv_.notify_all();
        return;
      }
      SP_CRASH_POINT("engine.after_materialize");
      applied_lsn_.store(last, std::memory_order_release);
      std::vector<Keyspace*> cached;
      {
        std::shared_lock<std::shared_mutex> lock(catalog_mu_);
        for (auto& [id, ks] : by_id_) {
          if (ks->hot->cached()) cached.push_back(ks);
        }
      }
      for (Keyspace* ks : cached) ks->hot->on_materialized(last);
      {
        std::lock_guard<std::mutex> lock(mat_mu_);  // also pairs with waiters' predicate checks
        mat_lag_bytes_.store(mat_lag_bytes_.load(std::memory_order_relaxed) - (pos - batch_start),
                             std::memory_order_relaxed);
        if (space_waiters_ > 0) space_cv_.notify_all();
        if (mat_abandon_) return;
      }
      applied_cv_.notify_all();
    }
    // A burst can leave `taken` as large as the lag bound; it goes back to the queue at the next swap, so
    // keep at most kMaxRetainedQueueBytes of it.
    if (taken.capacity() > kMaxRetainedQueueBytes) std::string().swap(taken);
  }
}

Status EngineImpl::wait_materialized() {
  const uint64_t target = enqueued_lsn_.load(std::memory_order_acquire);
  if (target > 0 && wal_ != nullptr) SP_RETURN_IF_ERROR(wal_->wait_durable(target));
  std::unique_lock<std::mutex> lock(mat_mu_);
  applied_cv_.wait(lock, [&] { return applied_lsn_.load() >= target || !mat_status_.ok(); });
  return mat_status_;
}

}  // namespace savepoint::engine
