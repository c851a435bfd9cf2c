// Snapshots with Redis RDB semantics (docs/pitr.md): BGSAVE (snapshot), SAVE (save), LASTSAVE (last_save),
// save points, stop-writes-on-bgsave-error, retention and the copy into the archive.
//
// A save reads a RocksDB snapshot: every materializer batch is one atomic WriteBatch carrying its
// applied_lsn row, so the applied_lsn, catalog and rows read through one RocksDB snapshot are the state at
// exactly that LSN, and the materializer and the commit path never wait for a save.
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <limits>
#include <set>
#include <system_error>

#include "engine/engine_impl.h"
#include "engine/snapshot_catalog.h"
#include "engine/snapshot_state.h"
#include "savepoint/crash_point.h"
#include "snapshot/policy.h"
#include "snapshot/snapshot_reader.h"
#include "snapshot/snapshot_writer.h"
#include "util/coding.h"

namespace savepoint::engine {

std::shared_ptr<SnapshotState> MakeSnapshotState() { return std::make_shared<SnapshotState>(); }

struct EngineImpl::SaveJob final : public SnapshotHandle {
  uint64_t lsn_ = 0;
  uint32_t timeline_ = 0;
  uint64_t created_micros = 0;
  bool background = false;
  const rocksdb::Snapshot* rocks_snapshot = nullptr;
  std::string catalog_json;
  std::vector<std::pair<uint32_t, rocksdb::ColumnFamilyHandle*>> sections;  // ascending id
  uint64_t changes_at_start = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool finished = false;  // GUARDED_BY(mu)
  Status status;          // GUARDED_BY(mu)
  SnapshotInfo info;      // GUARDED_BY(mu)

  uint64_t lsn() const override { return lsn_; }
  uint32_t timeline() const override { return timeline_; }
  bool done() const override {
    std::lock_guard<std::mutex> lock(mu);
    return finished;
  }
  Result<SnapshotInfo> wait() override {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return finished; });
    if (!status.ok()) return status;
    return info;
  }
  void complete(const Status& s, const SnapshotInfo& i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      finished = true;
      status = s;
      info = i;
    }
    cv.notify_all();
  }
};

namespace {

// A background save yields the CPU to the game loop: its thread runs at nice 10 (a fork would be a process of
// its own for the scheduler; a thread gets the same treatment this way). Best effort.
void LowerThisThreadsPriority() {
#ifdef SYS_gettid
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
#endif
}

std::string SnapshotDir(const Options& o) {
  return o.snapshot_dir.empty() ? JoinPath(o.data_dir, "snapshots") : o.snapshot_dir;
}

}  // namespace

uint64_t EngineImpl::changes_made() const {
  return commits_sync_.load(std::memory_order_relaxed) + commits_relaxed_.load(std::memory_order_relaxed) +
         coalesce_commits_.load(std::memory_order_relaxed);
}

Status EngineImpl::writes_allowed() const {
  if (!snap_->stop_writes.load(std::memory_order_relaxed)) return Status::OK();
  std::lock_guard<std::mutex> lock(snap_->mu);
  return Status::IOError("writes refused: the last background save failed (" + snap_->last_error +
                         ") and stop_writes_on_bgsave_error is set; a successful save() or snapshot() "
                         "allows writes again");
}

Result<std::shared_ptr<EngineImpl::SaveJob>> EngineImpl::begin_save(bool background) {
  std::unique_lock<std::mutex> lock(snap_->mu);
  if (closing_ || db_ == nullptr || wal_ == nullptr)
    return Status::InvalidArgument("save on a closed engine");
  if (snap_->running) {
    return Status::Busy("a save is already in progress (LSN " + std::to_string(snap_->running_lsn) +
                        "); one save runs at a time");
  }
  if (snap_->thread.joinable()) snap_->thread.join();  // the previous background save has published

  auto job = std::make_shared<SaveJob>();
  job->background = background;
  job->rocks_snapshot = db_->GetSnapshot();
  auto release = [&] { db_->ReleaseSnapshot(job->rocks_snapshot); };
  rocksdb::ReadOptions ro;
  ro.snapshot = job->rocks_snapshot;
  MetaState meta;
  Status ms = ReadMeta(db_.get(), meta_cf_, ro, options_.data_dir, &meta);
  if (!ms.ok() && !ms.IsNotFound()) {
    release();
    return ms.WithContext("reading the meta rows for a snapshot");
  }
  job->lsn_ = meta.applied_lsn;
  SnapshotCatalog catalog;
  catalog.next_keyspace_id = meta.next_keyspace_id;
  catalog.keyspaces = std::move(meta.catalog);
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (const KeyspaceDef& def : catalog.keyspaces) {
      if (def.options.persistence == Persistence::kVolatile) continue;
      rocksdb::ColumnFamilyHandle* cf = nullptr;
      for (const auto& ks : all_keyspaces_) {
        if (ks->def.id == def.id) cf = ks->cf;
      }
      if (cf == nullptr) {
        release();
        return Status::Corruption("keyspace " + def.name + " (id " + std::to_string(def.id) +
                                  ") is in the catalog but has no column family");
      }
      job->sections.emplace_back(def.id, cf);
    }
  }
  job->catalog_json = EncodeSnapshotCatalog(catalog);
  job->timeline_ = wal_->timeline();
  job->created_micros = clock_->now_micros();
  {
    // The changes this save covers: those up to its LSN. Records after it (committed but not yet
    // materialised) still count as unsaved; a restore point or checkpoint marker among them makes this count
    // a change short, which at worst brings the next save point forward.
    std::lock_guard<std::mutex> commit_lock(commit_mu_);
    const uint64_t last = wal_->last_lsn();
    const uint64_t made = changes_made();
    const uint64_t after = last > job->lsn_ ? last - job->lsn_ : 0;
    job->changes_at_start = made > after ? made - after : 0;
  }
  snap_->running = true;
  snap_->running_lsn = job->lsn_;
  snap_->cancel = false;
  if (background) {
    try {
      snap_->thread = std::thread([this, job] {  // publishes under mu: after us
        LowerThisThreadsPriority();
        run_save(job);
      });
    } catch (const std::system_error& e) {  // no thread to be had: say so, as a Status
      snap_->running = false;
      release();
      return Status::IOError(std::string("cannot start the background save thread: ") + e.what());
    }
  }
  return job;
}

void EngineImpl::run_save(const std::shared_ptr<SaveJob>& job) {
  const auto start = std::chrono::steady_clock::now();
  const std::string dir = SnapshotDir(options_);
  const std::string name = snapshot::SnapshotFileName(job->timeline_, job->lsn_);
  const std::string path = JoinPath(dir, name);
  SnapshotInfo info;
  info.path = path;
  info.lsn = job->lsn_;
  info.timeline = job->timeline_;
  info.created_micros = job->created_micros;

  auto write = [&]() -> Status {
    SP_CRASH_POINT("snapshot.before_write");  // the RocksDB snapshot is taken, no file exists yet
    SP_RETURN_IF_ERROR(fs_->create_dirs(dir));
    SP_RETURN_IF_ERROR(snapshot::RemoveTempFiles(fs_, dir).status());
    if (fs_->file_exists(path)) {
      // The state at one LSN of one timeline is unique: a complete file for it is this save, done already.
      SP_ASSIGN_OR_RETURN(auto reader, snapshot::SnapshotReader::Open(fs_, path));
      info.rows = reader->rows();
      info.data_bytes = reader->data_bytes();
      info.file_bytes = reader->file_size();
      info.created_micros = reader->header().created_micros;
      return Status::OK();
    }
    snapshot::Header header;
    header.timeline = job->timeline_;
    header.lsn = job->lsn_;
    header.created_micros = job->created_micros;
    header.catalog = job->catalog_json;
    snapshot::WriterOptions wo;
    wo.block_size = options_.snapshot_block_size;
    wo.cancel = &snap_->cancel;
    SP_ASSIGN_OR_RETURN(auto writer, snapshot::SnapshotWriter::Create(fs_, path, header, wo));
    rocksdb::ReadOptions ro;
    ro.snapshot = job->rocks_snapshot;
    ro.fill_cache = false;  // a save must not evict what the game reads
    ro.readahead_size = 2u << 20;
    // An iterator pins the memtables that existed when it was made: under a heavy write load, every memtable
    // flushed during the save would stay in memory until its end. Making a fresh iterator (same RocksDB
    // snapshot, so the same view) every 64 blocks' worth of rows (4 MiB by default) lets them go.
    const uint64_t kIteratorBytes = uint64_t{64} * std::max<uint32_t>(options_.snapshot_block_size, 1);
    std::string resume_key;
    for (const auto& [id, cf] : job->sections) {
      SP_RETURN_IF_ERROR(writer->begin_section(id));
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
      uint64_t since_new = 0;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        SP_RETURN_IF_ERROR(writer->add(it->key().ToStringView(), it->value().ToStringView()));
        since_new += it->key().size() + it->value().size();
        if (since_new >= kIteratorBytes) {
          SP_RETURN_IF_ERROR(FromRocks(it->status(), "reading keyspace id " + std::to_string(id)));
          resume_key.assign(it->key().data(), it->key().size());
          it.reset(db_->NewIterator(ro, cf));
          it->Seek(resume_key);
          if (!it->Valid() || it->key() != rocksdb::Slice(resume_key)) {
            SP_RETURN_IF_ERROR(FromRocks(it->status(), "reading keyspace id " + std::to_string(id)));
            return Status::Corruption("keyspace id " + std::to_string(id) +
                                      ": a snapshot's view lost the key it had just read");
          }
          since_new = 0;
        }
      }
      SP_RETURN_IF_ERROR(
          FromRocks(it->status(), "reading keyspace id " + std::to_string(id) + " for a snapshot"));
      SP_RETURN_IF_ERROR(writer->end_section());
    }
    SP_ASSIGN_OR_RETURN(snapshot::WrittenSnapshot written, writer->finish());
    info.rows = written.rows;
    info.data_bytes = written.data_bytes;
    info.file_bytes = written.file_bytes;
    return Status::OK();
  };

  Status s = write();
  if (s.ok() && !options_.archive_dir.empty() && options_.archive_snapshots) {
    s = snapshot::CopySnapshotFile(fs_, path, JoinPath(options_.archive_dir, "snapshots"));
  }
  db_->ReleaseSnapshot(job->rocks_snapshot);
  job->rocks_snapshot = nullptr;
  if (s.ok()) {
    SP_CRASH_POINT("snapshot.before_retention");
    apply_retention(dir, name);
  }
  info.finished_micros = clock_->now_micros();
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const bool cancelled = !s.ok() && snap_->cancel.load();
  {
    std::lock_guard<std::mutex> lock(snap_->mu);
    snap_->running = false;
    if (s.ok()) {
      snap_->last = info;
      snap_->changes_at_last_save = job->changes_at_start;
      snap_->last_error.clear();
      snap_->last_failure_micros = 0;
      snap_->stop_writes = false;
      snap_->ok++;
    } else if (!cancelled) {
      snap_->failed++;
      snap_->last_error = s.ToString();
      snap_->last_failure_micros = info.finished_micros;
      if (job->background && options_.stop_writes_on_bgsave_error) snap_->stop_writes = true;
    }
  }
  if (s.ok()) {
    log_->info("savepoint: {} saved {} rows ({} bytes) at LSN {} in {:.3f} s", path, info.rows,
               info.file_bytes, info.lsn, info.seconds);
  } else if (cancelled) {
    log_->info("savepoint: save of {} cancelled: the engine is closing", path);
    s = Status::IOError("save of " + path + " cancelled: the engine closed");
  } else {
    log_->error("savepoint: {} save at LSN {} failed: {}{}", job->background ? "background" : "synchronous",
                info.lsn, s.ToString(),
                job->background && options_.stop_writes_on_bgsave_error
                    ? " (writes are refused until a save succeeds)"
                    : "");
  }
  job->complete(s, info);
}

void EngineImpl::apply_retention(const std::string& dir, const std::string& just_written) {
  snapshot::RetentionPolicy policy;
  policy.keep_last = options_.snapshot_keep_last;
  policy.keep_hourly = options_.snapshot_keep_hourly;
  policy.keep_daily = options_.snapshot_keep_daily;
  if (policy.keep_last == 0) return;
  auto names = fs_->list_dir(dir);
  if (!names.ok()) {
    log_->warn("savepoint: snapshot retention: {}", names.status().ToString());
    return;
  }
  std::vector<snapshot::SnapshotFile> files;
  for (const std::string& name : *names) {
    if (!snapshot::ParseSnapshotFileName(name)) continue;
    snapshot::Header h;
    Status s = snapshot::ReadSnapshotHeader(fs_, JoinPath(dir, name), &h);
    if (!s.ok()) {
      log_->warn("savepoint: snapshot retention leaves {} alone: {}", name, s.ToString());
      continue;
    }
    files.push_back({name, name == just_written ? std::numeric_limits<uint64_t>::max() : h.created_micros});
  }
  bool removed = false;
  for (const std::string& name : snapshot::SnapshotsToDelete(std::move(files), policy)) {
    if (name == just_written) continue;
    Status s = fs_->remove_file(JoinPath(dir, name));
    if (!s.ok()) {
      log_->warn("savepoint: snapshot retention: {}", s.ToString());
      continue;
    }
    removed = true;
    log_->info("savepoint: snapshot retention removed {}", JoinPath(dir, name));
  }
  if (removed) {
    Status s = fs_->sync_dir(dir);
    if (!s.ok()) log_->warn("savepoint: snapshot retention: {}", s.ToString());
  }
}

Result<std::shared_ptr<SnapshotHandle>> EngineImpl::snapshot() {
  SP_ASSIGN_OR_RETURN(std::shared_ptr<SaveJob> job, begin_save(/*background=*/true));
  return std::shared_ptr<SnapshotHandle>(std::move(job));
}

Result<SnapshotInfo> EngineImpl::save() {
  SP_ASSIGN_OR_RETURN(std::shared_ptr<SaveJob> job, begin_save(/*background=*/false));
  run_save(job);
  return job->wait();
}

SnapshotInfo EngineImpl::last_save() {
  std::lock_guard<std::mutex> lock(snap_->mu);
  return snap_->last;
}

void EngineImpl::run_save_points() {
  if (options_.save_points.empty() || closing_) return;
  const uint64_t now = clock_->now_micros();
  uint64_t since = 0, changes = 0;
  {
    std::lock_guard<std::mutex> lock(snap_->mu);
    if (snap_->running) return;
    const uint64_t retry = static_cast<uint64_t>(options_.save_retry_delay.count()) * 1'000'000;
    if (snap_->last_failure_micros != 0 && now < snap_->last_failure_micros + retry) return;
    since = now > snap_->last.finished_micros ? now - snap_->last.finished_micros : 0;
    const uint64_t made = changes_made();
    changes = made > snap_->changes_at_last_save ? made - snap_->changes_at_last_save : 0;
  }
  std::vector<snapshot::SavePoint> points;
  for (const SavePoint& p : options_.save_points) {
    points.push_back({static_cast<uint64_t>(std::max<int64_t>(p.after.count(), 0)), p.changes});
  }
  auto due = snapshot::DueSavePoint(points, since, changes);
  if (!due) return;
  log_->info("savepoint: save point \"{} {}\" reached ({} changes in {} s): starting a background save",
             due->seconds, due->changes, changes, since / 1'000'000);
  auto job = begin_save(/*background=*/true);
  if (!job.ok() && !job.status().IsBusy()) {
    log_->warn("savepoint: save point could not start a save: {}", job.status().ToString());
  }
}

void EngineImpl::stop_saves() {
  snap_->cancel = true;
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(snap_->mu);
    t = std::move(snap_->thread);
  }
  if (t.joinable()) t.join();
}

Status EngineImpl::open_snapshots() {
  {
    std::lock_guard<std::mutex> lock(snap_->mu);
    snap_->last.finished_micros = clock_->now_micros();
    snap_->changes_at_last_save = 0;
  }
  // Recover writes history files into the archive itself; this only catches up after a failure there. An
  // archive that cannot be written must not keep the engine from opening: log it, as failed archiving is.
  Status s = archive_history_files();
  if (!s.ok()) log_->error("savepoint: archiving timeline history files failed: {}", s.ToString());
  return Status::OK();
}

void EngineImpl::fill_snapshot_stats(Stats* st) {
  std::lock_guard<std::mutex> lock(snap_->mu);
  st->snapshots_ok = snap_->ok;
  st->snapshots_failed = snap_->failed;
  st->snapshot_in_progress = snap_->running;
  const uint64_t made = changes_made();
  st->changes_since_save = made > snap_->changes_at_last_save ? made - snap_->changes_at_last_save : 0;
  st->last_snapshot_lsn = snap_->last.lsn;
  st->last_snapshot_micros = snap_->last.finished_micros;
  st->last_snapshot_seconds = snap_->last.seconds;
  st->last_snapshot_bytes = snap_->last.file_bytes;
  st->last_snapshot_error = snap_->last_error;
  st->writes_refused = snap_->stop_writes;
  st->archived_segments = snap_->archived_segments;
}

}  // namespace savepoint::engine
