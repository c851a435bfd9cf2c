// EngineImpl: the Engine of include/savepoint/engine.h. Split by concern like RocksDB's db_impl:
//   engine_open.cc     open, recovery, close
//   engine_write.cc    the commit sequencer and the atomic helpers
//   engine_read.cc     get, scan, count
//   materializer.cc    applying committed records to RocksDB
//   maintenance.cc     TTL sweep, coalescing, checkpoints
//   engine_stats.cc    statistics
//   snapshot.cc        background and synchronous saves, save points, retention (docs/pitr.md)
//   archiving.cc       copying sealed WAL segments and history files into the archive
//   snapshot_load.cc   building a directory from a snapshot file (RestoreSnapshot)
//   recover.cc         point-in-time recovery from the archive (Recover)
//
// Lock order: catalog_mu_ may be taken while holding commit_mu_, never the reverse; mat_mu_ is a leaf.
// The save slot's mutex (snapshot.cc, SnapshotState::mu) may be held while taking commit_mu_ or catalog_mu_.
// checkpoint_mu_, then family_mu_, then catalog_mu_ (a checkpoint's flush against a new keyspace's family).
//
// Materializer backpressure (Options::max_materializer_lag_bytes): a commit that finds the materializer's
// queue over its bound waits in wait_for_materializer(), before it takes commit_mu_, holding no lock while it
// asks the WAL for a sync: the materializer only applies durable records, and waiting for the periodic sync
// of relaxed records would hold the commit up to sync_interval. The materializer never waits for a
// committer, so a waiting commit always sees the queue shrink, the materializer fail, or the engine close.
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/effects.h"
#include "engine/hot_store.h"
#include "engine/meta.h"
#include "savepoint/clock.h"
#include "savepoint/engine.h"
#include "savepoint/file_system.h"
#include "util/histogram.h"
#include "wal/wal_writer.h"

namespace spdlog {
class logger;
}

namespace savepoint {

// The engine's record of one keyspace. Opaque to users (declared in engine.h).
class Keyspace {
 public:
  engine::KeyspaceDef def;  // options may change by an alter: read under the engine's catalog_mu_
  std::unique_ptr<engine::HotKeyspace> hot;
  rocksdb::ColumnFamilyHandle* cf = nullptr;  // null for volatile; set by the materializer/recovery
  std::atomic<bool> dropped{false};

  // Coalesced keyspaces: what changed since the last coalescing commit. GUARDED_BY(EngineImpl::commit_mu_)
  std::unordered_set<std::string> dirty_keys;
  std::vector<std::string> dirty_prefixes;
  uint64_t next_coalesce_micros = 0;

  // Set by Engine::set_decoder; read on cache misses.
  std::mutex decoder_mu;
  std::shared_ptr<const Engine::Decoder> decoder;  // GUARDED_BY(decoder_mu)

  bool logged() const { return def.options.persistence == Persistence::kDurable; }
  bool coalesced() const { return def.options.persistence == Persistence::kCoalesced; }
  bool is_volatile() const { return def.options.persistence == Persistence::kVolatile; }
};

namespace engine {

class StagingContext;
struct SnapshotState;  // snapshot.cc: saves, archiving and write refusal
std::shared_ptr<SnapshotState> MakeSnapshotState();
struct RecoveryRun;  // recover.cc

// `memtables`: the memtable factory (null: RocksDB's default skip list).
rocksdb::ColumnFamilyOptions MakeCfOptions(const Options& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           std::shared_ptr<rocksdb::MemTableRepFactory> memtables = nullptr);
// The engine's memtable factory: sorted runs for memory-resident keyspaces, skip lists otherwise
// (engine_open.cc).
std::shared_ptr<rocksdb::MemTableRepFactory> NewMemTableChooser();

// One effect for the materializer to write, viewing bytes its caller owns.
struct PendingEffect {
  uint32_t keyspace_id;
  EffectKind kind;
  std::string_view key;
  std::string_view value;  // kPut
  uint64_t expire_at_micros;
};

// The order a sorted materializer batch is written in (materializer.cc): `order`, indexes into `effects` and
// `families` (the family of each effect; none of those indexed is null), sorted by family, then key, then
// index (LSN order).
void SortForBatch(const std::vector<PendingEffect>& effects,
                  const std::vector<rocksdb::ColumnFamilyHandle*>& families, std::vector<uint32_t>* order);

// One record for recovery's replay (apply_to_rocksdb), in LSN order.
struct MaterializeItem {
  uint64_t lsn = 0;
  wal::RecordType type = wal::RecordType::kTransaction;
  std::shared_ptr<const std::vector<Effect>> effects;  // kTransaction
  CatalogOp catalog_op = CatalogOp::kCreate;           // kCatalogChange
  KeyspaceDef def;                                     // kCatalogChange
};

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const Options& options);
  ~EngineImpl() override;

  Status open();

  Status close() override;
  Result<Keyspace*> create_keyspace(std::string_view name, const KeyspaceOptions& options) override;
  Result<Keyspace*> find_keyspace(std::string_view name) override;
  Status drop_keyspace(std::string_view name) override;
  std::vector<KeyspaceInfo> keyspaces() override;
  Status set_decoder(Keyspace* ks, Decoder decoder) override;

  Result<CommitInfo> commit(const Transaction& txn) override;
  Result<int64_t> increment(Keyspace* ks, std::string_view key, int64_t delta,
                            Durability durability) override;
  Result<bool> set_if_absent(Keyspace* ks, std::string_view key, ValuePtr value, uint64_t expire_at_micros,
                             Durability durability) override;
  Result<bool> compare_and_set(Keyspace* ks, std::string_view key, std::string_view expected, ValuePtr value,
                               Durability durability) override;
  Result<std::string> merge_patch(Keyspace* ks, std::string_view key, std::string_view patch_json,
                                  Durability durability) override;

  Result<Entry> get(Keyspace* ks, std::string_view key) override;
  Status get_many(Keyspace* ks, std::span<const std::string_view> keys, std::vector<Entry>* out) override;
  Status scan(Keyspace* ks, std::string_view start, std::string_view end,
              const std::function<bool(std::string_view key, const Entry& entry)>& fn) override;
  Result<uint64_t> count(Keyspace* ks) override;

  Status sync() override;
  // Waits for `lsn` to be durable, giving up with NoSpace after Options::sync_commit_space_timeout of a full
  // disk (counted in the stats). The wait of sync commits and of sync().
  Status wait_durable_bounded(uint64_t lsn);
  Status checkpoint() override;
  Result<uint64_t> create_restore_point(std::string_view name) override;
  Status wait_materialized() override;

  Result<std::shared_ptr<SnapshotHandle>> snapshot() override;
  Result<SnapshotInfo> save() override;
  SnapshotInfo last_save() override;

  // Point-in-time recovery (recover.cc): on a directory RestoreSnapshot built (no WAL yet), replays the
  // archived records of `run` into RocksDB, starts the new timeline and closes. Instead of open().
  Status recover_from_archive(const RecoveryRun& run);

  Clock* clock() const override { return clock_; }

  Stats stats() override;
  std::string stats_json() override;
  std::string stats_prometheus() override;

  // Tests and the crash simulator: stop every thread and release every resource without logging,
  // flushing or sealing anything, as a killed process would (the WAL file system should already have had
  // its power cut, so nothing more reaches the WAL).
  void abandon_for_crash_test();

 private:
  friend class StagingContext;

  // --- open / recovery (engine_open.cc) ---
  // Opens RocksDB for writing, creating it only in a db/ that holds no RocksDB file. An existing one is first
  // inspected read-only (inspect_rocksdb) and, with `expect_wal`, checked against the WAL
  // (CheckWalContinues): a damaged MANIFEST or a lost WAL is refused before RocksDB may purge a file.
  Status open_rocksdb(bool expect_wal = true);
  rocksdb::DBOptions db_options() const;
  rocksdb::ColumnFamilyOptions family_options(Residency residency) const;
  // Reads the meta rows of db/ without writing anything, checking that every SST file the MANIFEST lists
  // exists and that every family the catalog needs is there. `manifest` gets the MANIFEST's path.
  Status inspect_rocksdb(const std::vector<std::string>& families, MetaState* meta, std::string* manifest);
  Status load_catalog();
  Status replay_wal();
  Status load_hot_stores();
  Keyspace* install_keyspace(const KeyspaceDef& def);  // REQUIRES: catalog_mu_ held exclusively
  // Sets what `ks`'s column family's settings owe to its residency: the kind of memtable it gets from its
  // next one on (memtables_), and when its level 0 is compacted. A failure (RocksDB could not write its
  // OPTIONS file) is logged: the family works as it is, only less economically.
  void tune_family(const Keyspace& ks);
  Status stop_threads();
  void release_resources();  // CF handles, RocksDB (closed without flushing), WAL, lock

  // --- commit path (engine_write.cc) ---
  struct Staged {
    Keyspace* ks;
    EffectKind kind;
    std::string_view key;  // lives at least until publish() returns (the transaction's, or the caller's)
    ValuePtr value;
    uint64_t expire_at_micros = 0;
    bool bucket_prefetched = false;  // commit() asked for the key's bucket before the sequencer
  };
  // Logs (when needed), applies to the hot stores and hands to the materializer the staged writes of one
  // commit. REQUIRES: commit_mu_ held via `lock`; releases it before waiting for a sync commit.
  // `synced` tells whether the commit waited for fsync.
  Result<CommitInfo> publish(std::vector<Staged>& staged, Durability durability, uint64_t now,
                             std::unique_lock<std::mutex>& lock, bool* synced = nullptr);
  // The key's state as seen by the transaction being evaluated: its own staged writes first.
  // REQUIRES: commit_mu_ held.
  Result<bool> current_entry(const std::vector<Staged>& staged, Keyspace* ks, std::string_view key,
                             uint64_t now, HotEntry* out);
  Status check_key(std::string_view key) const;
  Result<Keyspace*> live(Keyspace* ks) const;
  // A catalog change is logged (sync), then applied to the in-memory catalog by the caller, then handed to
  // the materializer, in that order: the materializer creates the column family on the installed keyspace.
  Result<uint64_t> log_catalog_change(CatalogOp op, const KeyspaceDef& def);  // REQUIRES: commit_mu_ held
  void enqueue_catalog_change(uint64_t lsn, CatalogOp op,
                              const KeyspaceDef& def);  // REQUIRES: commit_mu_ held
  // Reads the key from RocksDB (cached keyspaces on a miss). NotFound when absent.
  Result<HotEntry> read_materialized(Keyspace* ks, std::string_view key);

  // --- materializer (materializer.cc) ---
  // Hands a logged record (its WAL payload) to the materializer. REQUIRES: commit_mu_ held (keeps LSN order).
  void enqueue(uint64_t lsn, wal::RecordType type, std::string_view payload);
  void materializer_loop();
  // Waits while the materializer's queue holds max_materializer_lag_bytes or more. REQUIRES: no engine lock
  // held. Not OK when the wait ended because the log or the materializer failed.
  Status wait_for_materializer();
  // Writes records to RocksDB: recovery's replay.
  Status apply_to_rocksdb(const std::vector<MaterializeItem>& items);
  Status apply_catalog_to_rocksdb(const MaterializeItem& item);
  // Makes, in one RocksDB call, the families of the keyspace creations at the head of `queued` (records in
  // the queue's format), for apply_catalog_to_rocksdb to publish. Materializer thread only.
  void precreate_families(std::string_view queued);
  // Writes `effects` (in LSN order, catalog changes excluded) and applied_lsn = `last_lsn` to RocksDB in one
  // atomic batch; with `sort`, sorted by key and each key once (materializer.cc says when that pays).
  Status write_effects(const std::vector<PendingEffect>& effects, uint64_t last_lsn, bool sort);

  // --- snapshots (snapshot.cc) and archiving (archiving.cc) ---
  struct SaveJob;
  // Reserves the one save slot (Busy when taken) and takes the RocksDB snapshot the save will write.
  Result<std::shared_ptr<SaveJob>> begin_save(bool background);
  void run_save(const std::shared_ptr<SaveJob>& job);  // writes the file and publishes the outcome
  void run_save_points();                              // maintenance thread: starts a due background save
  void stop_saves();                                   // close: cancels a running save and joins its thread
  // Deletes snapshots of `dir` that retention does not keep (never `just_written`); failures are logged.
  void apply_retention(const std::string& dir, const std::string& just_written);
  Status open_snapshots();  // open(): save clock, history files to the archive
  void fill_snapshot_stats(Stats* st);
  Status writes_allowed() const;  // commit(): stop_writes_on_bgsave_error
  uint64_t changes_made() const;  // what save points count
  // Archives one sealed segment unless this engine already did (never twice per open).
  Status archive_segment_once(const wal::SegmentInfo& segment);
  Status archive_sealed_segments();  // every sealed segment not archived yet
  Status archive_history_files();    // <data>/wal/*.history into the archive (open)
  // Replays records from `next` (in LSN order) into RocksDB: recovery and PITR.
  Status replay_records(const std::function<bool(wal::Record*)>& next);

  // --- maintenance (maintenance.cc) ---
  void maintenance_loop();
  void sweep_expired();
  Status coalesce(bool all);  // logs dirty keys of coalesced keyspaces whose interval passed (or all)
  Status checkpoint_locked();

  const Options options_;
  FileSystem* fs_;
  Clock* clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::string wal_dir_, db_dir_;
  std::unique_ptr<FileLock> lock_;

  // RocksDB's Env when it runs on fs_ (rocks_env.h); null: RocksDB's own. Outlives db_.
  std::unique_ptr<rocksdb::Env> rocks_env_;
  std::unique_ptr<rocksdb::DB> db_;
  uint32_t timeline_at_open_ = 1;  // the meta row read at open
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::shared_ptr<rocksdb::MemTableRepFactory> memtables_ = NewMemTableChooser();
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> default_cf_;            // the default family: opened, never used
  std::map<std::string, rocksdb::ColumnFamilyHandle*> orphan_cfs_;  // found at open, not yet claimed
  // Families made ahead of their keyspace's catalog change (precreate_families), by keyspace id; the
  // materializer's alone while it runs, released at close.
  std::map<uint32_t, rocksdb::ColumnFamilyHandle*> precreated_families_;
  std::unique_ptr<wal::WalWriter> wal_;
  ConcurrentHistogram fsync_latency_;

  // Catalog: every keyspace ever installed lives until the engine is destroyed.
  mutable std::shared_mutex catalog_mu_;
  std::vector<std::unique_ptr<Keyspace>> all_keyspaces_;   // GUARDED_BY(catalog_mu_)
  std::map<std::string, Keyspace*, std::less<>> by_name_;  // GUARDED_BY(catalog_mu_): live only
  std::map<uint32_t, Keyspace*> by_id_;                    // GUARDED_BY(catalog_mu_): live only
  uint32_t next_keyspace_id_ = 1;                          // GUARDED_BY(commit_mu_)

  // Commit sequencer.
  std::mutex commit_mu_;
  // Scratch of the commit being published, reused so a commit allocates nothing for them.
  std::vector<Staged> commit_staged_;          // GUARDED_BY(commit_mu_)
  std::deque<std::string> commit_owned_keys_;  // GUARDED_BY(commit_mu_): keys apply functions staged
  std::string commit_payload_;                 // GUARDED_BY(commit_mu_)
  uint64_t last_commit_now_ = 0;               // GUARDED_BY(commit_mu_): the latest commit's `now`
  // Values displaced by commits, released 32 at a time outside the sequencer (ReleaseValues in
  // engine_write.cc): releasing one costs two cache misses, which a batch overlaps.
  using RetiredValues = std::array<ValuePtr, 32>;
  RetiredValues retired_;     // GUARDED_BY(commit_mu_)
  size_t retired_count_ = 0;  // GUARDED_BY(commit_mu_)
  // REQUIRES: commit_mu_ held. Keeps `value` for the next batch release (releases it at once when the batch
  // is full: a commit that displaced more values than a batch holds).
  void retire(ValuePtr value) {
    if (retired_count_ < retired_.size()) retired_[retired_count_++] = std::move(value);
  }
  std::atomic<uint64_t> next_version_{2};  // 1 = loaded at open; written under commit_mu_
  std::atomic<bool> closing_{false};
  std::mutex close_mu_;
  bool closed_ = false;  // GUARDED_BY(close_mu_)
  Status close_status_;  // GUARDED_BY(close_mu_)

  // Materializer.
  std::mutex mat_mu_;
  std::condition_variable mat_cv_;      // work arrived or stopping
  std::condition_variable applied_cv_;  // applied_lsn_ advanced
  std::condition_variable space_cv_;    // the queue shrank, or the materializer stopped (backpressure)
  // Records waiting for the materializer, back to back, each [lsn fixed64][type u8][length fixed32][payload]:
  // one buffer rather than an object per record, so a commit appends bytes and the materializer frees
  // nothing per record.                 GUARDED_BY(mat_mu_)
  std::string mat_queue_;
  bool mat_idle_ = false;  // GUARDED_BY(mat_mu_): the materializer sleeps on mat_cv_
  int space_waiters_ = 0;  // GUARDED_BY(mat_mu_): commits in wait_for_materializer()
  // Bytes of the records enqueued and not yet applied (queued or being applied): what backpressure bounds.
  // Written under mat_mu_; read without it by commits.
  std::atomic<uint64_t> mat_lag_bytes_{0};
  std::atomic<uint64_t> backpressure_waits_{0};
  bool mat_stop_ = false;     // GUARDED_BY(mat_mu_): drain what is durable, then stop
  bool mat_abandon_ = false;  // GUARDED_BY(mat_mu_): stop at once (crash simulation)
  Status mat_status_;         // GUARDED_BY(mat_mu_): first failure
  std::atomic<uint64_t> applied_lsn_{0};
  std::atomic<uint64_t> enqueued_lsn_{0};
  std::thread materializer_;

  // Maintenance.
  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool maint_stop_ = false;  // GUARDED_BY(maint_mu_)
  std::thread maintenance_;
  std::mutex checkpoint_mu_;
  // Held by a checkpoint from listing the column families to flushing them, and by the materializer while it
  // publishes a new keyspace's family (ks->cf): a flush never misses a family that holds rows its applied_lsn
  // covers. Lock order: checkpoint_mu_, family_mu_, catalog_mu_.
  std::mutex family_mu_;
  std::atomic<uint64_t> wal_bytes_at_checkpoint_{0};

  // Snapshots, archiving, write refusal (snapshot.cc).
  std::shared_ptr<SnapshotState> snap_ = MakeSnapshotState();

  // Statistics.
  std::atomic<uint64_t> commits_sync_{0}, commits_relaxed_{0}, commits_unlogged_{0}, conflicts_{0};
  std::atomic<uint64_t> expired_keys_{0}, coalesce_commits_{0}, checkpoints_{0};
  std::atomic<uint64_t> last_checkpoint_micros_{0}, last_checkpoint_ns_{0};
  ConcurrentHistogram commit_sync_latency_, commit_relaxed_latency_;
};

}  // namespace engine
}  // namespace savepoint
