// Engine open, recovery and close (docs/recovery.md, Recovery).
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/table.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <unordered_set>

#include "engine/engine_impl.h"
#include "engine/meta.h"
#include "engine/rocks_env.h"
#include "engine/sorted_runs_memtable.h"
#include "util/coding.h"
#include "wal/wal_reader.h"

namespace savepoint {

Result<std::unique_ptr<Engine>> Engine::open(const Options& options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("Options::data_dir is required");
  auto engine = std::make_unique<engine::EngineImpl>(options);
  Status s = engine->open();
  if (!s.ok()) {
    engine->abandon_for_crash_test();  // releases what open acquired, writes nothing
    return s;
  }
  return std::unique_ptr<Engine>(std::move(engine));
}

namespace engine {

EngineImpl::EngineImpl(const Options& options)
    : options_(options),
      fs_(options.file_system != nullptr ? options.file_system : FileSystem::Default()),
      clock_(options.clock != nullptr ? options.clock : Clock::System()),
      log_(options.logger != nullptr ? options.logger : spdlog::default_logger()),
      wal_dir_(JoinPath(options.data_dir, "wal")),
      db_dir_(JoinPath(options.data_dir, "db")),
      rocks_env_(NewRocksEnv(fs_)) {}

EngineImpl::~EngineImpl() {
  Status s = close();
  if (!s.ok()) log_->error("savepoint: closing {}: {}", options_.data_dir, s.ToString());
}

namespace {

// The memtable of each column family. A memory-resident keyspace's family is written by the materializer and
// only ever read whole (loaded at open, saved by a snapshot), never point-read: it gets sorted runs
// (sorted_runs_memtable.h), where an insert is an append and the materializer's sorted batches are merged
// when the memtable is read, rather than RocksDB's skip list, which searches its levels on every insert
// (~10,000 instructions; the materializer's main cost at a few hundred thousand commits a second). Every
// other family (cached keyspaces read RocksDB on a miss; the meta family) keeps the skip list. A family's
// kind is known from the catalog, after it is open: its first memtable is always a skip list, the ones after
// a flush follow the choice (from the end of Engine::open on: recovery reads what it replays in order).
class MemTableChooser final : public rocksdb::MemTableRepFactory {
 public:
  const char* Name() const override { return "SavepointMemTableChooser"; }

  // From now on, new memtables of column family `id` are sorted runs.
  void use_sorted_runs(uint32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    sorted_runs_ids_.insert(id);
  }

  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* transform,
                                          rocksdb::Logger* logger) override {
    return skip_list_.CreateMemTableRep(cmp, allocator, transform, logger);
  }
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* transform, rocksdb::Logger* logger,
                                          uint32_t column_family_id) override {
    bool sorted_runs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sorted_runs = sorted_runs_ids_.count(column_family_id) != 0;
    }
    return sorted_runs ? NewSortedRunsMemTable(cmp, allocator)
                       : skip_list_.CreateMemTableRep(cmp, allocator, transform, logger, column_family_id);
  }

 private:
  std::mutex mu_;
  std::unordered_set<uint32_t> sorted_runs_ids_;  // GUARDED_BY(mu_)
  rocksdb::SkipListFactory skip_list_;
};

}  // namespace

std::shared_ptr<rocksdb::MemTableRepFactory> NewMemTableChooser() {
  return std::make_shared<MemTableChooser>();
}

void EngineImpl::tune_family(const Keyspace& ks) {
  if (ks.cf == nullptr || ks.def.options.residency != Residency::kMemory) return;
  static_cast<MemTableChooser&>(*memtables_).use_sorted_runs(ks.cf->GetID());
}

rocksdb::ColumnFamilyOptions EngineImpl::family_options(Residency residency) const {
  rocksdb::ColumnFamilyOptions cfo = MakeCfOptions(options_, block_cache_, memtables_);
  if (residency == Residency::kMemory) {
    // Never point-read, only read whole: more files at level 0 cost such a family nothing, and each
    // compaction into level 1 (a rewrite of all of level 1) then comes after twice as many flushes as
    // RocksDB's default of 4. On the development VM: ~5% less CPU per relaxed put, all threads counted.
    // Level 0 then holds up to ~8 memtables' worth of (partly overwritten) rows on disk. Given when the
    // family is opened or created, never by SetOptions: that rewrites the OPTIONS file of every family, once
    // per family (quadratic in the number of keyspaces).
    cfo.level0_file_num_compaction_trigger = 8;
  }
  return cfo;
}

rocksdb::ColumnFamilyOptions MakeCfOptions(const Options& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           std::shared_ptr<rocksdb::MemTableRepFactory> memtables) {
  rocksdb::ColumnFamilyOptions cfo;
  if (memtables != nullptr) cfo.memtable_factory = std::move(memtables);
  cfo.write_buffer_size = options.rocksdb_write_buffer_bytes;
  cfo.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cfo;
}

namespace {

// RocksDB's own files in db/: what a directory RocksDB never created holds none of.
bool IsRocksDbFile(const std::string& name) {
  return name == "CURRENT" || name == "IDENTITY" || name.starts_with("MANIFEST-") ||
         name.starts_with("OPTIONS-") || name.ends_with(".sst") || name.ends_with(".log") ||
         name.ends_with(".blob");
}

}  // namespace

rocksdb::DBOptions EngineImpl::db_options() const {
  rocksdb::DBOptions dbo;
  // One consistent point for all families, and no RocksDB WAL: the savepoint WAL is the log.
  dbo.atomic_flush = true;
  dbo.allow_concurrent_memtable_write =
      false;  // one writer (the materializer); sorted-runs memtables need it
  dbo.avoid_flush_during_shutdown = true;
  dbo.max_background_jobs = options_.rocksdb_background_jobs;
  dbo.max_open_files = options_.rocksdb_max_open_files;
  dbo.db_write_buffer_size = options_.rocksdb_write_buffer_budget;
  dbo.keep_log_file_num = 3;
  ConfigureRocksIo(rocks_env_.get(), log_, &dbo);
  return dbo;
}

Status EngineImpl::inspect_rocksdb(const std::vector<std::string>& families, MetaState* meta,
                                   std::string* manifest_out) {
  std::string& manifest = *manifest_out;
  // Read-only: RocksDB neither writes a new MANIFEST nor purges a file here, whatever it finds.
  rocksdb::DBOptions dbo = db_options();
  dbo.max_open_files = 16;  // nothing is read but the meta rows
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : families) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const std::string nothing_changed = "; nothing was changed";
  rocksdb::Status rs = rocksdb::DB::OpenForReadOnly(dbo, db_dir_, descriptors, &handles, &raw);
  if (!rs.ok()) {
    return FromRocks(rs, "opening RocksDB in " + db_dir_ +
                             " (its MANIFEST or a file it lists is damaged or "
                             "missing" +
                             nothing_changed + ")");
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  auto close = [&] {
    for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
  };
  {
    std::vector<std::string> live;
    uint64_t manifest_size = 0;
    if (db->GetLiveFiles(live, &manifest_size, /*flush_memtable=*/false).ok()) {
      for (const std::string& f : live) {
        if (f.find("MANIFEST-") != std::string::npos) manifest = JoinPath(db_dir_, f);
      }
    }
    // Every SST file the MANIFEST lists must be there before anything may write.
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    for (const rocksdb::LiveFileMetaData& f : files) {
      const std::string path = JoinPath(f.db_path, f.name);
      if (!fs_->file_exists(path)) {
        close();
        return Status::Corruption(db_dir_ + ": " + (manifest.empty() ? "the MANIFEST" : manifest) +
                                  " lists " + path + ", which is missing" + nothing_changed);
      }
    }
  }
  if (options_.verify_files_at_open) {
    // RocksDB opens a table whose properties block is damaged with default properties (it only logs a
    // warning) and can then answer wrong: an ingested file loses its sequence number, filters and index
    // settings go astray. The torture found a row silently missing that way. Every block's checksum, meta
    // blocks included, is checked before anything may read or write.
    const rocksdb::Status vs = db->VerifyChecksum();
    if (!vs.ok()) {
      close();
      return FromRocks(vs,
                       "checking the table files of " + db_dir_ + " (a file is damaged" + nothing_changed +
                           "; restore db/ from a backup or rebuild the directory with `savepoint recover`)");
    }
  }
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  for (size_t i = 0; i < families.size(); i++) {
    if (families[i] == kMetaFamily) meta_cf = handles[i];
  }
  Status s;
  if (meta_cf != nullptr) {
    s = ReadMeta(db.get(), meta_cf, rocksdb::ReadOptions(), options_.data_dir, meta);
    if (s.IsNotFound()) {
      // Never flushed (the first open crashed before its first checkpoint): the meta rows are written with
      // the first flush, and every family's rows only ever with them (atomic flush), so the families hold
      // nothing yet. A new directory, provided the WAL starts at LSN 1 (check_wal_continues).
      *meta = MetaState();
      s = Status::OK();
    }
  }
  close();
  SP_RETURN_IF_ERROR(s);
  // The families the catalog names must exist: a MANIFEST that lost them lost their rows.
  for (const KeyspaceDef& def : meta->catalog) {
    if (def.options.persistence == Persistence::kVolatile || def.created_lsn > meta->applied_lsn) continue;
    if (std::find(families.begin(), families.end(), CfName(def.id)) == families.end()) {
      return Status::Corruption(db_dir_ + ": the catalog has keyspace " + def.name + " but " +
                                (manifest.empty() ? "the MANIFEST" : manifest) + " has no column family " +
                                CfName(def.id) + nothing_changed);
    }
  }
  return Status::OK();
}

Status EngineImpl::open_rocksdb(bool expect_wal) {
  SP_RETURN_IF_ERROR(fs_->create_dirs(db_dir_));
  block_cache_ = rocksdb::NewLRUCache(options_.rocksdb_block_cache_bytes);
  SP_ASSIGN_OR_RETURN(std::vector<std::string> present, fs_->list_dir(db_dir_));
  const bool has_current = std::find(present.begin(), present.end(), "CURRENT") != present.end();
  std::vector<std::string> names;
  MetaState meta;
  std::string manifest;
  if (has_current) {
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(db_options(), db_dir_, &names);
    if (!ls.ok()) {
      return FromRocks(ls, "reading the RocksDB MANIFEST in " + db_dir_ +
                               " (damaged or missing; nothing was "
                               "changed)");
    }
    SP_RETURN_IF_ERROR(inspect_rocksdb(names, &meta, &manifest));
  } else {
    // Only a db/ RocksDB never wrote to may be created: with files but no CURRENT, a create would start
    // an empty database and purge every file there.
    for (const std::string& n : present) {
      if (IsRocksDbFile(n)) {
        return Status::Corruption(db_dir_ + " holds RocksDB file " + n +
                                  " but no CURRENT (it names the MANIFEST): the directory is damaged; "
                                  "nothing was changed");
      }
    }
    names = {std::string(rocksdb::kDefaultColumnFamilyName)};
  }
  if (expect_wal) SP_RETURN_IF_ERROR(CheckWalContinues(fs_, options_.data_dir, meta, manifest));
  if (std::find(names.begin(), names.end(), kMetaFamily) == names.end()) names.emplace_back(kMetaFamily);

  rocksdb::DBOptions dbo = db_options();
  dbo.create_if_missing = !has_current;
  dbo.create_missing_column_families = true;
  std::map<std::string, Residency> residency;
  for (const KeyspaceDef& def : meta.catalog) residency[CfName(def.id)] = def.options.residency;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names) {
    auto r = residency.find(n);
    descriptors.emplace_back(n, family_options(r == residency.end() ? Residency::kCached : r->second));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, db_dir_, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "opening RocksDB in " + db_dir_);
  db_.reset(raw);
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i] == kMetaFamily) {
      meta_cf_ = handles[i];
    } else if (names[i] == rocksdb::kDefaultColumnFamilyName) {
      default_cf_.push_back(handles[i]);
    } else {
      orphan_cfs_[names[i]] = handles[i];
    }
  }
  return Status::OK();
}

Keyspace* EngineImpl::install_keyspace(const KeyspaceDef& def) {
  auto ks = std::make_unique<Keyspace>();
  ks->def = def;
  ks->hot = def.options.residency == Residency::kCached ? HotKeyspace::NewCached(def.options.cache_bytes)
                                                        : HotKeyspace::NewMemory();
  if (auto it = orphan_cfs_.find(CfName(def.id)); it != orphan_cfs_.end()) {
    ks->cf = it->second;
    orphan_cfs_.erase(it);
  }
  Keyspace* p = ks.get();
  all_keyspaces_.push_back(std::move(ks));
  by_name_[def.name] = p;
  by_id_[def.id] = p;
  next_keyspace_id_ = std::max(next_keyspace_id_, def.id + 1);
  return p;
}

Status EngineImpl::load_catalog() {
  MetaState meta;
  Status s = ReadMeta(db_.get(), meta_cf_, rocksdb::ReadOptions(), options_.data_dir, &meta);
  if (s.IsNotFound()) {
    // A new directory (inspect_rocksdb let nothing else through): the engine's rows, in one batch.
    rocksdb::WriteBatch batch;
    PutFormatVersion(&batch, meta_cf_);
    PutTimeline(&batch, meta_cf_, 1);
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;  // like every engine write: durable with a flush, here at once
    SP_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "writing meta"));
    rocksdb::FlushOptions fo;
    fo.wait = true;
    SP_RETURN_IF_ERROR(FromRocks(db_->Flush(fo, meta_cf_), "flushing meta"));
    meta = MetaState();
    meta.has_timeline = true;
  } else {
    SP_RETURN_IF_ERROR(s);
  }
  applied_lsn_ = meta.applied_lsn;
  timeline_at_open_ = meta.timeline;
  std::unique_lock<std::shared_mutex> lock(catalog_mu_);
  next_keyspace_id_ = meta.next_keyspace_id;
  for (const KeyspaceDef& def : meta.catalog) install_keyspace(def);
  return Status::OK();
}

Status EngineImpl::replay_wal() {
  wal::ReaderOptions ro;
  ro.start_lsn = applied_lsn_ + 1;
  ro.timeline = wal_->timeline();
  auto reader = wal::WalReader::Open(fs_, wal_dir_, ro);
  if (!reader.ok()) return reader.status().WithContext("replaying the WAL of " + options_.data_dir);
  SP_RETURN_IF_ERROR(replay_records([&](wal::Record* r) { return (*reader)->next(r); }));
  if (!(*reader)->status().ok()) {
    return (*reader)->status().WithContext("replaying the WAL of " + options_.data_dir +
                                           " (`savepoint wal salvage` copies what can be read)");
  }
  return Status::OK();
}

Status EngineImpl::replay_records(const std::function<bool(wal::Record*)>& next) {
  std::vector<MaterializeItem> batch;
  uint64_t replayed = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    Status s = apply_to_rocksdb(batch);
    batch.clear();
    return s;
  };
  wal::Record r;
  while (next(&r)) {
    if (r.type == wal::RecordType::kTransaction || r.type == wal::RecordType::kCatalogChange) replayed++;
    if (r.type == wal::RecordType::kTransaction) {
      auto effects = std::make_shared<std::vector<Effect>>();
      Status s = DecodeEffects(r.payload, effects.get());
      if (!s.ok()) return s.WithContext("WAL record " + std::to_string(r.lsn));
      MaterializeItem item;
      item.lsn = r.lsn;
      item.effects = std::move(effects);
      batch.push_back(std::move(item));
      if (batch.size() >= 4096) SP_RETURN_IF_ERROR(flush());
    } else if (r.type == wal::RecordType::kCatalogChange) {
      MaterializeItem item;
      item.lsn = r.lsn;
      item.type = r.type;
      Status s = DecodeCatalogChange(r.payload, &item.catalog_op, &item.def);
      if (!s.ok()) return s.WithContext("WAL record " + std::to_string(r.lsn));
      SP_RETURN_IF_ERROR(flush());
      {
        std::unique_lock<std::shared_mutex> lock(catalog_mu_);
        auto it = by_id_.find(item.def.id);
        if (item.catalog_op == CatalogOp::kCreate && it == by_id_.end()) {
          install_keyspace(item.def);
        } else if (item.catalog_op == CatalogOp::kAlter && it != by_id_.end()) {
          it->second->def = item.def;
        } else if (item.catalog_op == CatalogOp::kDrop && it != by_id_.end()) {
          it->second->dropped = true;
          by_name_.erase(it->second->def.name);
          by_id_.erase(it);
        }
        next_keyspace_id_ = std::max(next_keyspace_id_, item.def.id + 1);
      }
      batch.push_back(std::move(item));
      SP_RETURN_IF_ERROR(flush());
    }
    // Restore points, checkpoint markers and timeline switches change no state.
  }
  SP_RETURN_IF_ERROR(flush());
  if (replayed > 0) log_->info("savepoint: replayed {} WAL records into {}", replayed, options_.data_dir);
  return Status::OK();
}

Status EngineImpl::load_hot_stores() {
  std::vector<Keyspace*> targets;
  {
    std::shared_lock<std::shared_mutex> lock(catalog_mu_);
    for (auto& [id, ks] : by_id_) {
      if (ks->cf != nullptr && ks->def.options.residency == Residency::kMemory) targets.push_back(ks);
    }
  }
  for (Keyspace* ks : targets) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, ks->cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t expire_at = 0;
      std::string_view value;
      Status s = DecodeRow(it->value().ToStringView(), &expire_at, &value);
      if (!s.ok()) return s.WithContext("keyspace " + ks->def.name + " key " + it->key().ToString(true));
      // Expired rows are loaded too: the sweeper then deletes them with a logged delete.
      ks->hot->apply_put(it->key().ToStringView(), HotEntry{MakeValue(std::string(value)), 1, expire_at, 0});
    }
    SP_RETURN_IF_ERROR(FromRocks(it->status(), "loading keyspace " + ks->def.name));
  }
  return Status::OK();
}

Status EngineImpl::open() {
  SP_RETURN_IF_ERROR(fs_->create_dirs(options_.data_dir));
  auto lock = fs_->lock_file(JoinPath(options_.data_dir, "LOCK"));
  if (!lock.ok()) return lock.status().WithContext("opening " + options_.data_dir);
  lock_ = std::move(lock).value();

  SP_RETURN_IF_ERROR(open_rocksdb());
  SP_RETURN_IF_ERROR(load_catalog());

  wal::WriterOptions wo;
  wo.timeline = timeline_at_open_;
  wo.first_lsn_if_empty = applied_lsn_ + 1;
  wo.segment_size = options_.wal_segment_size;
  wo.sync_interval = options_.sync_interval;
  wo.clock = clock_;
  wo.fsync_latency = &fsync_latency_;
  // The writer truncates a torn tail and syncs what a killed process left in the page cache, so replay only
  // ever materialises durable records.
  auto wal = wal::WalWriter::Open(fs_, wal_dir_, wo);
  if (!wal.ok()) return wal.status().WithContext("opening the WAL of " + options_.data_dir);
  wal_ = std::move(wal).value();
  if (wal_->last_lsn() < applied_lsn_) {
    return Status::Corruption(options_.data_dir + ": RocksDB holds state up to LSN " +
                              std::to_string(applied_lsn_) + " but the WAL ends at LSN " +
                              std::to_string(wal_->last_lsn()) + " (WAL segments missing?)");
  }
  SP_RETURN_IF_ERROR(replay_wal());
  SP_RETURN_IF_ERROR(load_hot_stores());
  {
    // Only now: replay and the hot-store load above read the memtables replay filled, which a skip list
    // serves in order where sorted runs would first be copied and sorted.
    std::shared_lock<std::shared_mutex> lock(catalog_mu_);
    for (auto& [id, ks] : by_id_) tune_family(*ks);
  }
  SP_RETURN_IF_ERROR(open_snapshots());
  // Everything replayed is applied; later records (restore points, checkpoint markers) need no materialising.
  enqueued_lsn_ = applied_lsn_.load();
  wal_bytes_at_checkpoint_ = 0;

  const uint64_t now = clock_->now_micros();
  {
    std::shared_lock<std::shared_mutex> lock(catalog_mu_);
    for (auto& [id, ks] : by_id_) {
      ks->next_coalesce_micros =
          now + static_cast<uint64_t>(ks->def.options.coalesce_interval.count()) * 1000;
    }
  }
  materializer_ = std::thread(&EngineImpl::materializer_loop, this);
  maintenance_ = std::thread(&EngineImpl::maintenance_loop, this);
  return Status::OK();
}

Status EngineImpl::stop_threads() {
  {
    std::lock_guard<std::mutex> lock(maint_mu_);
    maint_stop_ = true;
  }
  maint_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  {
    std::lock_guard<std::mutex> lock(mat_mu_);
    mat_stop_ = true;
  }
  mat_cv_.notify_all();
  space_cv_.notify_all();  // commits held by backpressure return
  if (materializer_.joinable()) materializer_.join();
  std::unique_lock<std::mutex> lock(mat_mu_);
  // They may still be asking the WAL for a sync: the WAL must outlive them.
  space_cv_.wait(lock, [&] { return space_waiters_ == 0; });
  return mat_status_;
}

Status EngineImpl::close() {
  std::lock_guard<std::mutex> commit_lock(close_mu_);
  if (closed_) return close_status_;
  closed_ = true;
  Status s;
  if (db_ != nullptr && wal_ != nullptr) {
    // Stop the maintenance thread first: it commits.
    {
      std::lock_guard<std::mutex> lock(maint_mu_);
      maint_stop_ = true;
    }
    maint_cv_.notify_all();
    if (maintenance_.joinable()) maintenance_.join();
    s = coalesce(/*all=*/true);
    closing_ = true;  // from here on commits are refused
    stop_saves();     // a running background save is cancelled (its temp file removed)
    {
      std::lock_guard<std::mutex> lock(commit_mu_);  // waits for a commit in flight
    }
    Status w = wal_->sync();
    if (s.ok()) s = w;
    Status m = stop_threads();  // the materializer drains every durable record first
    if (s.ok()) s = m;
    if (s.ok()) s = checkpoint_locked();
    Status c = wal_->close();
    if (s.ok()) s = c;
    // Close sealed the last segment. A failure is logged and loses nothing: the segment stays in wal/ and the
    // next open archives it.
    (void)archive_sealed_segments();
  }
  release_resources();
  close_status_ = s;
  return s;
}

void EngineImpl::abandon_for_crash_test() {
  std::lock_guard<std::mutex> commit_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(mat_mu_);
    mat_abandon_ = true;
  }
  // Close the WAL first: it answers the materializer if it is waiting for a sync that will never come.
  if (wal_ != nullptr) (void)wal_->close();
  stop_saves();
  (void)stop_threads();
  release_resources();  // RocksDB closes without flushing: its memtables are lost, as in a crash
}

void EngineImpl::release_resources() {
  if (db_ != nullptr) {
    std::unique_lock<std::shared_mutex> lock(catalog_mu_);
    for (auto& ks : all_keyspaces_) {
      if (ks->cf != nullptr) {
        (void)db_->DestroyColumnFamilyHandle(ks->cf);
        ks->cf = nullptr;
      }
    }
    for (auto& [name, cf] : orphan_cfs_) (void)db_->DestroyColumnFamilyHandle(cf);
    orphan_cfs_.clear();
    for (auto& [id, cf] : precreated_families_) (void)db_->DestroyColumnFamilyHandle(cf);
    precreated_families_.clear();
    for (auto* cf : default_cf_) (void)db_->DestroyColumnFamilyHandle(cf);
    default_cf_.clear();
    if (meta_cf_ != nullptr) (void)db_->DestroyColumnFamilyHandle(meta_cf_);
    meta_cf_ = nullptr;
    (void)db_->Close();
    db_.reset();
  }
  wal_.reset();
  lock_.reset();
}

}  // namespace engine
}  // namespace savepoint
