// Background upkeep on one thread: the TTL sweeper (expiries become logged deletes), the coalescer (dirty
// keys of coalesced keyspaces logged once per interval), and the checkpoint trigger.
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"
#include "util/coding.h"
#include "wal/archive.h"

namespace savepoint::engine {

namespace {
constexpr size_t kSweepBatch = 1024;
}

void EngineImpl::maintenance_loop() {
  const auto tick = std::min<std::chrono::milliseconds>(options_.ttl_sweep_interval, std::chrono::milliseconds(100));
  auto last_checkpoint = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(maint_mu_);
      maint_cv_.wait_for(lock, tick, [&] { return maint_stop_; });
      if (maint_stop_) return;
    }
    sweep_expired();
    Status s = coalesce(/*all=*/false);
    if (!s.ok()) log_->warn("savepoint: coalescing failed: {}", s.ToString());
    run_save_points();                  // snapshot.cc
    (void)archive_sealed_segments();    // archiving.cc: logs its own failures
    const wal::WriterStats ws = wal_->stats();
    const uint64_t since = ws.bytes_written - wal_bytes_at_checkpoint_;
    const bool by_size = since >= options_.checkpoint_wal_bytes;
    const bool by_time =
        since > 0 && std::chrono::steady_clock::now() - last_checkpoint >= options_.checkpoint_interval;
    if (by_size || by_time) {
      s = checkpoint();
      if (!s.ok()) log_->warn("savepoint: checkpoint failed: {}", s.ToString());
      last_checkpoint = std::chrono::steady_clock::now();
    }
  }
}

void EngineImpl::sweep_expired() {
  std::vector<Keyspace*> targets;
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (auto& [id, ks] : by_id_) targets.push_back(ks);
  }
  for (Keyspace* ks : targets) {
    const uint64_t now = clock_->now_micros();
    std::vector<std::string> keys = ks->hot->expired_keys(now, kSweepBatch);
    if (keys.empty()) continue;
    std::unique_lock<std::mutex> lock(commit_mu_);
    if (closing_ || ks->dropped) return;
    std::vector<Staged> staged;
    for (std::string& key : keys) {
      HotEntry e;
      // Re-check under the sequencer: the key may have been rewritten since it was listed.
      if (ks->hot->get_raw(key, &e) == Lookup::kFound && e.expire_at_micros != 0 && e.expire_at_micros <= now) {
        staged.push_back({ks, EffectKind::kDelete, key, nullptr, 0});  // `keys` outlives publish()
      }
    }
    const size_t n = staged.size();
    auto r = publish(staged, Durability::kRelaxed, now, lock);
    if (r.ok()) {
      expired_keys_ += n;
    } else {
      log_->warn("savepoint: expiring keys of {}: {}", ks->def.name, r.status().ToString());
    }
  }
}

Status EngineImpl::coalesce(bool all) {
  std::vector<Keyspace*> targets;
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (auto& [id, ks] : by_id_) {
      if (ks->coalesced() || !ks->dirty_keys.empty() || !ks->dirty_prefixes.empty()) targets.push_back(ks);
    }
  }
  for (Keyspace* ks : targets) {
    std::lock_guard<std::mutex> lock(commit_mu_);
    if (closing_ || ks->dropped) return Status::OK();
    const uint64_t now = clock_->now_micros();
    if (!all && now < ks->next_coalesce_micros) continue;
    if (ks->dirty_keys.empty() && ks->dirty_prefixes.empty()) {
      // A fixed cadence: an interval with nothing to log still starts the next one.
      ks->next_coalesce_micros = now + static_cast<uint64_t>(ks->def.options.coalesce_interval.count()) * 1000;
      continue;
    }
    // The latest state of every dirty key, prefix deletions first (docs/recovery.md).
    auto effects = std::make_shared<std::vector<Effect>>();
    for (const std::string& prefix : ks->dirty_prefixes) {
      effects->push_back({EffectKind::kDeletePrefix, ks->def.id, prefix, 0, nullptr});
    }
    for (const std::string& key : ks->dirty_keys) {
      HotEntry e;
      if (ks->hot->get_raw(key, &e) == Lookup::kFound) {
        effects->push_back({EffectKind::kPut, ks->def.id, key, e.expire_at_micros, e.value});
      } else {
        effects->push_back({EffectKind::kDelete, ks->def.id, key, 0, nullptr});
      }
    }
    std::string payload;
    EncodeEffects(*effects, &payload);
    auto a = wal_->append_nowait(wal::RecordType::kTransaction, payload);
    if (!a.ok()) return a.status().WithContext("coalescing " + ks->def.name);
    enqueue(a->lsn, wal::RecordType::kTransaction, payload);
    ks->dirty_keys.clear();
    ks->dirty_prefixes.clear();
    ks->next_coalesce_micros = now + static_cast<uint64_t>(ks->def.options.coalesce_interval.count()) * 1000;
    coalesce_commits_++;
  }
  return Status::OK();
}

Status EngineImpl::checkpoint() {
  if (closing_) return Status::InvalidArgument("checkpoint on a closed engine");
  return checkpoint_locked();
}

Status EngineImpl::checkpoint_locked() {
  std::lock_guard<std::mutex> ck(checkpoint_mu_);
  if (db_ == nullptr || wal_ == nullptr) return Status::InvalidArgument("engine is closed");
  const auto start = std::chrono::steady_clock::now();
  const uint64_t applied = applied_lsn_.load(std::memory_order_acquire);
  const uint64_t wal_bytes = wal_->stats().bytes_written;
  std::vector<rocksdb::ColumnFamilyHandle*> families{meta_cf_};
  // No column family may start receiving rows between this list and the flush: the flushed meta family's
  // applied_lsn would then cover rows of a family left out of the flush, which a crash loses and replay
  // (from that applied_lsn) never restores. The materializer publishes a new family under family_mu_.
  std::unique_lock<std::mutex> family_lock(family_mu_);
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (auto& [id, ks] : by_id_) {
      if (ks->cf != nullptr) families.push_back(ks->cf);
    }
  }
  SP_CRASH_POINT("engine.before_flush");
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  rocksdb::Status fs = db_->Flush(fo, families);  // atomic_flush: one consistent point for all of them
  family_lock.unlock();
  SP_RETURN_IF_ERROR(FromRocks(fs, "checkpoint flush"));
  SP_CRASH_POINT("engine.after_flush");
  {
    std::string marker;
    PutFixed64(&marker, applied);
    std::lock_guard<std::mutex> lock(commit_mu_);  // every WAL append happens under the sequencer
    SP_RETURN_IF_ERROR(wal_->append(wal::RecordType::kCheckpoint, marker, wal::Durability::kRelaxed).status());
  }
  SP_CRASH_POINT("engine.before_wal_retire");
  if (!options_.archive_dir.empty()) {
    // Segment i holds LSNs up to the next one's first LSN - 1; the last (current) one is never archived here.
    const std::vector<wal::SegmentInfo> segments = wal_->segments();
    for (size_t i = 0; i + 1 < segments.size(); i++) {
      if (segments[i + 1].first_lsn - 1 > applied) break;
      Status a = archive_segment_once(segments[i]);
      if (!a.ok()) return a.WithContext("archiving before retiring WAL segments");
    }
  }
  SP_RETURN_IF_ERROR(wal_->remove_sealed_segments_through(applied).status());
  wal_bytes_at_checkpoint_ = wal_bytes;
  checkpoints_++;
  last_checkpoint_micros_ = clock_->now_micros();
  last_checkpoint_ns_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  return Status::OK();
}

}  // namespace savepoint::engine
