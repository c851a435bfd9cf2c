// The materializer: applies committed records to RocksDB in LSN order, in batches, with the RocksDB WAL off,
// writing applied_lsn in the same batch (docs/recovery.md). It only applies records that are durable in the
// savepoint WAL, so RocksDB can never get ahead of the log ("WAL before data", as PostgreSQL's bufmgr).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"
#include "util/coding.h"
#include "savepoint/key_codec.h"

namespace savepoint::engine {

namespace {
constexpr size_t kMaxBatchRecords = 4096;
}  // namespace

void EngineImpl::enqueue(MaterializeItem item) {
  enqueued_lsn_.store(item.lsn, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mat_mu_);
    mat_queue_.push_back(std::move(item));
  }
  mat_cv_.notify_one();
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
    SP_RETURN_IF_ERROR(FromRocks(db_->CreateColumnFamily(MakeCfOptions(options_, block_cache_),
                                                         CfName(item.def.id), &cf),
                                 "creating the column family of keyspace " + item.def.name));
    std::unique_lock<std::shared_mutex> lock(catalog_mu_);
    ks->cf = cf;
  }
  if (item.catalog_op == CatalogOp::kDrop) {
    if (ks != nullptr && ks->cf != nullptr) {
      // The handle stays valid for readers racing with the drop; it is destroyed at close.
      SP_RETURN_IF_ERROR(FromRocks(db_->DropColumnFamily(ks->cf), "dropping keyspace " + item.def.name));
    }
    batch.Delete(meta_cf_, CatalogKey(item.def.id));
  } else {
    batch.Put(meta_cf_, CatalogKey(item.def.id), KeyspaceDefToJson(item.def));
  }
  std::string next_id, applied;
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    PutFixed32(&next_id, next_keyspace_id_);
  }
  PutFixed64(&applied, item.lsn);
  batch.Put(meta_cf_, "next_keyspace_id", next_id);
  batch.Put(meta_cf_, "applied_lsn", applied);
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  Status s = FromRocks(db_->Write(wo, &batch), "materialising catalog change at LSN " + std::to_string(item.lsn));
  if (s.ok()) applied_lsn_.store(item.lsn, std::memory_order_release);
  return s;
}

Status EngineImpl::apply_to_rocksdb(const std::vector<MaterializeItem>& items) {
  rocksdb::WriteBatch batch;
  uint64_t last = 0;
  auto write = [&]() -> Status {
    if (last == 0) return Status::OK();
    std::string applied;
    PutFixed64(&applied, last);
    batch.Put(meta_cf_, "applied_lsn", applied);
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    Status s = FromRocks(db_->Write(wo, &batch), "materialising up to LSN " + std::to_string(last));
    if (s.ok()) applied_lsn_.store(last, std::memory_order_release);
    batch.Clear();
    last = 0;
    return s;
  };
  for (const MaterializeItem& item : items) {
    if (item.type == wal::RecordType::kCatalogChange) {
      SP_RETURN_IF_ERROR(write());
      SP_RETURN_IF_ERROR(apply_catalog_to_rocksdb(item));
      continue;
    }
    for (const Effect& e : *item.effects) {
      rocksdb::ColumnFamilyHandle* cf = nullptr;
      {
        std::shared_lock<std::shared_mutex> lock(catalog_mu_);
        auto it = by_id_.find(e.keyspace_id);
        if (it == by_id_.end()) continue;  // dropped since: its family goes with it
        cf = it->second->cf;
      }
      if (cf == nullptr) {
        // Effects are only logged for keyspaces with a family, created by their (earlier) catalog change.
        return Status::Corruption("LSN " + std::to_string(item.lsn) + " writes keyspace id " +
                                  std::to_string(e.keyspace_id) + ", which has no column family");
      }
      switch (e.kind) {
        case EffectKind::kPut: {
          std::string row;
          EncodeRow(e.expire_at_micros, e.value->bytes, &row);
          batch.Put(cf, e.key, row);
          break;
        }
        case EffectKind::kDelete:
          batch.Delete(cf, e.key);
          break;
        case EffectKind::kDeletePrefix: {
          const std::string end = PrefixUpperBound(e.key);
          if (!end.empty()) {
            batch.DeleteRange(cf, e.key, end);
          } else {
            // No upper bound (empty or all-0xff prefix): delete key by key.
            std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
            for (it->Seek(e.key); it->Valid() && it->key().starts_with(e.key); it->Next()) {
              batch.Delete(cf, it->key());
            }
          }
          break;
        }
      }
    }
    last = item.lsn;
  }
  return write();
}

void EngineImpl::materializer_loop() {
  std::vector<MaterializeItem> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mat_mu_);
      mat_cv_.wait(lock, [&] { return !mat_queue_.empty() || mat_stop_ || mat_abandon_; });
      if (mat_abandon_ || (mat_stop_ && mat_queue_.empty())) return;
      while (!mat_queue_.empty() && batch.size() < kMaxBatchRecords) {
        const bool catalog = mat_queue_.front().type == wal::RecordType::kCatalogChange;
        if (catalog && !batch.empty()) break;  // a catalog change goes alone
        batch.push_back(std::move(mat_queue_.front()));
        mat_queue_.pop_front();
        if (catalog) break;
      }
    }
    const uint64_t last = batch.back().lsn;
    // WAL before data: wait for the periodic (or a sync commit's) fdatasync, without forcing one.
    Status s = wal_->wait_durable(last, /*request_sync=*/false);
    if (s.ok()) {
      SP_CRASH_POINT("engine.before_materialize");
      s = apply_to_rocksdb(batch);
    }
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mat_mu_);
      if (mat_status_.ok()) mat_status_ = s;
      if (!mat_abandon_ && !mat_stop_) log_->error("savepoint: materializer stopped: {}", s.ToString());
      applied_cv_.notify_all();
      return;
    }
    SP_CRASH_POINT("engine.after_materialize");
    applied_lsn_.store(last, std::memory_order_release);
    batch.clear();
    std::vector<Keyspace*> cached;
    {
      std::shared_lock<std::shared_mutex> lock(catalog_mu_);
      for (auto& [id, ks] : by_id_) {
        if (ks->hot->cached()) cached.push_back(ks);
      }
    }
    for (Keyspace* ks : cached) ks->hot->on_materialized(last);
    {
      std::lock_guard<std::mutex> lock(mat_mu_);  // pairs with waiters' predicate check
    }
    applied_cv_.notify_all();
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
