#include "wal/wal_writer.h"

#include <algorithm>

#include "savepoint/crash_point.h"

namespace savepoint::wal {

namespace {
// How soon relaxed records reach the OS when the writer thread was not woken for them.
constexpr std::chrono::microseconds kPollInterval{500};
// Under a heavy relaxed load, fdatasync every this many bytes instead of letting a whole interval's worth of
// dirty pages pile up for one long sync (RocksDB's bytes_per_sync idea): keeps rotation and close short.
constexpr uint64_t kBytesPerSync = 8u << 20;
}  // namespace

Result<std::unique_ptr<WalWriter>> WalWriter::Open(FileSystem* fs, std::string dir, WriterOptions options) {
  if (options.timeline == 0) return Status::InvalidArgument("WAL timeline must be >= 1");
  if (options.first_lsn_if_empty == 0) return Status::InvalidArgument("WAL LSNs start at 1");
  if (options.segment_size < 4096) return Status::InvalidArgument("WAL segment_size must be >= 4096");
  if (options.clock == nullptr) return Status::InvalidArgument("WAL clock is null");
  std::unique_ptr<WalWriter> w(new WalWriter(fs, std::move(dir), options));
  SP_RETURN_IF_ERROR(w->recover());
  w->thread_ = std::thread(&WalWriter::writer_loop, w.get());
  return w;
}

WalWriter::WalWriter(FileSystem* fs, std::string dir, WriterOptions options)
    : fs_(fs), dir_(std::move(dir)), options_(options) {}

WalWriter::~WalWriter() { (void)close(); }

Status WalWriter::recover() {
  SP_RETURN_IF_ERROR(fs_->create_dirs(dir_));
  for (;;) {
    SP_ASSIGN_OR_RETURN(std::vector<SegmentInfo> all, ListSegments(fs_, dir_));
    segments_.clear();
    for (SegmentInfo& s : all) {
      if (s.timeline > options_.timeline) {
        return Status::InvalidArgument(dir_ + " holds timeline " + std::to_string(s.timeline) +
                                       ", newer than the writer's timeline " + std::to_string(options_.timeline));
      }
      if (s.timeline == options_.timeline) segments_.push_back(std::move(s));
    }
    if (segments_.empty()) {
      last_lsn_ = written_lsn_ = options_.first_lsn_if_empty - 1;
      set_durable_locked(last_lsn_);
      return start_segment(options_.first_lsn_if_empty);
    }

    const SegmentInfo newest = segments_.back();
    const std::string path = JoinPath(dir_, newest.name);
    ReaderOptions ro;
    ro.timeline = options_.timeline;
    ro.start_lsn = newest.first_lsn;
    SP_ASSIGN_OR_RETURN(std::unique_ptr<WalReader> reader, WalReader::Open(fs_, dir_, ro));
    Record r;
    while (reader->next(&r)) {
    }
    if (!reader->status().ok()) {
      return Status(reader->status())
          .WithContext("cannot open the WAL; `savepoint wal salvage` copies what can be read");
    }
    const StopInfo& stop = reader->stop();
    if (stop.reason == StopReason::kTornTail) {
      SP_CRASH_POINT("wal.before_tail_truncate");
      if (stop.offset < kSegmentHeaderSize) {
        // The segment's creation was cut short: it never held a record.
        SP_RETURN_IF_ERROR(fs_->remove_file(path));
        SP_RETURN_IF_ERROR(fs_->sync_dir(dir_));
        continue;
      }
      SP_RETURN_IF_ERROR(fs_->truncate_file(path, stop.offset));
    }
    if (reader->last_lsn() < newest.first_lsn && segments_.size() >= 2) {
      // The newest holds no record. If the segment before it is a version-2 one without its seal, the
      // rotation stopped between creating this segment and sealing that one (docs/wal_format.md, Seals):
      // remove this one, which loses nothing, and rotate again, so a record is never written after an
      // unsealed segment.
      const std::string before = JoinPath(dir_, segments_[segments_.size() - 2].name);
      SP_ASSIGN_OR_RETURN(SealState seal, ReadSealState(fs_, before));
      if (seal == SealState::kUnsealed) {
        SP_RETURN_IF_ERROR(fs_->remove_file(path));
        SP_RETURN_IF_ERROR(fs_->sync_dir(dir_));
        continue;
      }
    }
    last_lsn_ = reader->last_lsn() != 0 ? reader->last_lsn() : newest.first_lsn - 1;
    last_commit_micros_ = std::max(reader->last_commit_micros(), reader->segment_header().created_micros);
    written_lsn_ = last_lsn_;
    set_durable_locked(last_lsn_);

    // Bytes a killed process left in the page cache are not yet durable: sync before building on them.
    SP_ASSIGN_OR_RETURN(file_, fs_->reopen_writable_file(path));
    SP_RETURN_IF_ERROR(file_->sync());
    file_path_ = path;
    file_version_ = reader->segment_header().version;
    if (reader->last_lsn() >= newest.first_lsn) {
      // Seal it: a later segment turns any future damage in it into Corruption instead of a torn tail.
      return start_segment(last_lsn_ + 1);
    }
    return Status::OK();  // header only: keep appending to it
  }
}

Status WalWriter::cut_back_to(uint64_t size) {
  SP_RETURN_IF_ERROR(file_->close());
  SP_RETURN_IF_ERROR(fs_->truncate_file(file_path_, size));
  SP_ASSIGN_OR_RETURN(file_, fs_->reopen_writable_file(file_path_));
  return Status::OK();
}

Status WalWriter::start_segment(Lsn first_lsn) {
  SP_CRASH_POINT("wal.before_segment_create");
  const std::string name = SegmentFileName(options_.timeline, first_lsn);
  const std::string path = JoinPath(dir_, name);
  uint64_t created;
  {
    std::lock_guard<std::mutex> lock(mu_);
    created = std::max(options_.clock->now_micros(), last_commit_micros_);
  }
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_->new_writable_file(path));
  std::string header;
  EncodeSegmentHeader({options_.timeline, first_lsn, created}, &header);
  Status s = file->append(header);
  if (s.ok()) s = file->sync();
  if (s.ok()) s = fs_->sync_dir(dir_);
  if (!s.ok()) {
    // Leave no half-made segment behind; the current one stays in use.
    (void)file->close();
    (void)fs_->remove_file(path);
    return s.WithContext("creating WAL segment " + path);
  }
  SP_CRASH_POINT("wal.after_segment_header");
  if (file_ != nullptr && file_version_ >= 2) {
    // Seal the segment now that its successor exists durably: a seal proves the successor was created, so
    // a reader that finds a seal and no successor knows the successor was lost (docs/wal_format.md, Seals).
    SP_CRASH_POINT("wal.before_seal");
    const uint64_t before = file_->size();
    std::string seal;
    AppendSeal(first_lsn, created, &seal);
    Status s = file_->append(seal);
    if (s.ok()) {
      s = file_->sync();
      // Never retried (fsyncgate); the seal's bytes may or may not be on disk.
      if (!s.ok())
        return Status::Fatal("fdatasync of " + file_path_ + " failed while sealing it: " + s.ToString());
    } else {
      // Undo both steps: the successor holds no record, so removing it loses nothing; then the partial seal.
      (void)file->close();
      Status undo = fs_->remove_file(path);
      if (undo.ok()) undo = fs_->sync_dir(dir_);
      if (undo.ok()) undo = cut_back_to(before);
      if (!undo.ok()) {
        return Status::Fatal("undoing a failed seal of " + file_path_ + " (" + s.ToString() +
                             "): " + undo.ToString());
      }
      return s.WithContext("sealing WAL segment " + file_path_);
    }
  }
  if (file_ != nullptr) (void)file_->close();
  file_ = std::move(file);
  file_path_ = path;
  file_version_ = kFormatVersion;
  std::lock_guard<std::mutex> lock(mu_);
  if (segments_.empty() || segments_.back().first_lsn != first_lsn) {
    segments_.push_back({name, options_.timeline, first_lsn});
  }
  stats_.segments_created++;
  return Status::OK();
}

void WalWriter::set_fatal_locked(const Status& cause) {
  if (fatal_.ok()) fatal_ = cause.IsFatal() || cause.IsNoSpace() ? cause : Status::Fatal(cause.ToString());
  durable_cv_.notify_all();  // appenders held back by a full buffer
  // Sync waiters are answered by the writer thread's wake_waiters() on its next turn.
}

Status WalWriter::frame_locked(RecordType type, std::string_view payload, uint64_t now_micros, Appended* out) {
  if (closing_) return Status::InvalidArgument("append to a closed WAL");
  if (!fatal_.ok()) return fatal_;
  if (no_space_) {
    return Status::NoSpace("WAL rejects appends while the disk is full (" + no_space_cause_.message() +
                           "); records accepted earlier are kept and written when space returns");
  }
  if (payload.size() > kMaxPayload) {
    return Status::InvalidArgument("WAL record of " + std::to_string(payload.size()) + " bytes exceeds the " +
                                   std::to_string(kMaxPayload) + "-byte limit");
  }
  out->lsn = ++last_lsn_;
  if (now_micros == 0) now_micros = options_.clock->now_micros();
  out->commit_micros = last_commit_micros_ = std::max(now_micros, last_commit_micros_);
  AppendRecord({out->lsn, out->commit_micros, durable_lsn_, type, payload}, &buffer_);
  stats_.records++;
  if (writer_state_ == WriterState::kSleeping) work_cv_.notify_one();
  return Status::OK();
}

Result<Appended> WalWriter::append_nowait(RecordType type, std::string_view payload, uint64_t now_micros) {
  std::unique_lock<std::mutex> lock(mu_);
  if (buffer_.size() >= options_.max_buffered_bytes) {
    // Backpressure: the disk is slower than the appenders.
    durable_cv_.wait(lock, [&] {
      return buffer_.size() < options_.max_buffered_bytes || !fatal_.ok() || closing_ || no_space_;
    });
  }
  Appended a;
  SP_RETURN_IF_ERROR(frame_locked(type, payload, now_micros, &a));
  return a;
}

Result<Appended> WalWriter::append(RecordType type, std::string_view payload, Durability durability) {
  SP_ASSIGN_OR_RETURN(Appended a, append_nowait(type, payload));
  if (durability == Durability::kSync) SP_RETURN_IF_ERROR(wait_durable(a.lsn));
  return a;
}

Status WalWriter::wait_durable(Lsn lsn, const DurableWait& wait) {
  const std::chrono::milliseconds no_space_timeout = wait.no_space_timeout;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lsn > last_lsn_) return Status::InvalidArgument("wait for LSN " + std::to_string(lsn) + " never assigned");
    if (durable_lsn_ >= lsn) return Status::OK();
    if (!fatal_.ok()) return fatal_;
    if (closed_) return close_status_.ok() ? Status::IOError("WAL is closed") : close_status_;
    if (wait.request_sync && lsn > sync_requested_lsn_) {
      sync_requested_lsn_ = lsn;
      if (writer_state_ != WriterState::kBusy) work_cv_.notify_one();
    }
  }
  using SteadyClock = std::chrono::steady_clock;
  const SteadyClock::time_point wait_start = SteadyClock::now();
  // Counted in space_waiters_ while the disk is full during this wait; uncounted on every way out.
  struct SpaceWaiter {
    WalWriter* w;
    bool enabled;
    bool counted = false;
    void count(bool full) {
      if (!enabled) return;
      if (full && !counted) {
        w->space_waiters_.fetch_add(1, std::memory_order_relaxed);
        w->space_waits_.fetch_add(1, std::memory_order_relaxed);
      } else if (!full && counted) {
        w->space_waiters_.fetch_sub(1, std::memory_order_relaxed);
      }
      counted = full;
    }
    ~SpaceWaiter() { count(false); }
  } space{this, wait.count_space_waits};
  for (;;) {
    const uint32_t epoch = wake_epoch_.load(std::memory_order_acquire);
    if (durable_published_.load(std::memory_order_acquire) >= lsn) return Status::OK();
    if (waiters_must_stop_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (durable_lsn_ >= lsn) return Status::OK();
      if (!fatal_.ok()) return fatal_;
      return close_status_.ok() ? Status::IOError("WAL closed before LSN " + std::to_string(lsn) + " became durable")
                                : close_status_;
    }
    const int64_t full_since_ns = disk_full_since_ns_.load(std::memory_order_acquire);
    space.count(full_since_ns != 0);
    if (full_since_ns != 0 && no_space_timeout != kWaitForSpaceForever) {
      const SteadyClock::time_point full_since{
          std::chrono::duration_cast<SteadyClock::duration>(std::chrono::nanoseconds(full_since_ns))};
      if (SteadyClock::now() - std::max(wait_start, full_since) >= no_space_timeout) {
        std::lock_guard<std::mutex> lock(mu_);
        if (durable_lsn_ >= lsn) return Status::OK();
        if (no_space_) {
          if (wait.count_space_waits) space_wait_timeouts_.fetch_add(1, std::memory_order_relaxed);
          return Status::NoSpace(
              "LSN " + std::to_string(lsn) + " is not known durable: the disk has been full for " +
              std::to_string(no_space_timeout.count()) + " ms (" + no_space_cause_.message() +
              "); the record stays in the WAL buffer and becomes durable when space returns, "
              "unless the process stops first");
        }
      }
    }
    wake_epoch_.wait(epoch, std::memory_order_acquire);
  }
}

void WalWriter::set_durable_locked(Lsn lsn) {
  durable_lsn_ = lsn;
  durable_published_.store(lsn, std::memory_order_release);
}

void WalWriter::wake_waiters() {
  wake_epoch_.fetch_add(1, std::memory_order_acq_rel);
  wake_epoch_.notify_all();
}

Status WalWriter::request_sync(Lsn lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) return Status::InvalidArgument("WAL is closed");
  if (!fatal_.ok()) return fatal_;
  if (no_space_) return Status::NoSpace("WAL rejects appends while the disk is full (" + no_space_cause_.message() + ")");
  lsn = std::min(lsn, last_lsn_);
  if (lsn > durable_lsn_ && lsn > sync_requested_lsn_) {
    sync_requested_lsn_ = lsn;
    if (writer_state_ != WriterState::kBusy) work_cv_.notify_one();
  }
  return Status::OK();
}

Status WalWriter::sync() {
  Lsn last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = last_lsn_;
  }
  return last == 0 ? Status::OK() : wait_durable(last);
}

Lsn WalWriter::last_lsn() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_lsn_;
}

Lsn WalWriter::durable_lsn() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_lsn_;
}

WriterStats WalWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WriterStats s = stats_;
  s.space_waiters = space_waiters_.load(std::memory_order_relaxed);
  s.space_waits = space_waits_.load(std::memory_order_relaxed);
  s.space_wait_timeouts = space_wait_timeouts_.load(std::memory_order_relaxed);
  return s;
}

Status WalWriter::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fatal_;
}

std::vector<SegmentInfo> WalWriter::segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_;
}

std::vector<SegmentInfo> WalWriter::sealed_segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (segments_.empty()) return {};
  return std::vector<SegmentInfo>(segments_.begin(), segments_.end() - 1);
}

Result<size_t> WalWriter::remove_sealed_segments_through(Lsn lsn) {
  std::vector<SegmentInfo> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Segment i holds LSNs [first_i, first_{i+1} - 1]; the newest is never removed.
    for (size_t i = 0; i + 1 < segments_.size() && segments_[i + 1].first_lsn - 1 <= lsn; i++) {
      doomed.push_back(segments_[i]);
    }
  }
  size_t removed = 0;
  Status s;
  for (const SegmentInfo& seg : doomed) {
    s = fs_->remove_file(JoinPath(dir_, seg.name));
    if (!s.ok()) break;
    removed++;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(removed));
  }
  if (removed > 0) {
    Status d = fs_->sync_dir(dir_);
    if (s.ok()) s = d;
  }
  if (!s.ok()) return s.WithContext("retiring WAL segments");
  return removed;
}

Status WalWriter::seal_and_rotate(Lsn next_lsn) {
  // The segment must be durable in full before a later one exists (docs/wal_format.md, Recovery rules).
  bool synced;
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced = durable_lsn_ >= written_lsn_;
  }
  if (!synced) {
    Status s = file_->sync();
    if (!s.ok()) return Status::Fatal("fdatasync of " + file_path_ + " failed: " + s.ToString());
    std::lock_guard<std::mutex> lock(mu_);
    set_durable_locked(written_lsn_);
    stats_.syncs++;
    wake_waiters();
  }
  return start_segment(next_lsn);
}

void WalWriter::writer_loop() {
  using SteadyClock = std::chrono::steady_clock;
  auto last_sync = SteadyClock::now();
  std::string batch;
  bool recently_active = false;
  uint64_t unsynced_bytes = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Wait for something to do.
    for (;;) {
      if (!fatal_.ok() && !waiters_must_stop_.load(std::memory_order_relaxed)) {
        waiters_must_stop_ = true;  // nothing will become durable any more
        wake_waiters();
      }
      const bool sync_due = written_lsn_ > durable_lsn_ &&
                            (sync_requested_lsn_ > durable_lsn_ ||
                             SteadyClock::now() - last_sync >= options_.sync_interval);
      if (closing_ || (fatal_.ok() && (!buffer_.empty() || sync_requested_lsn_ > written_lsn_ || sync_due))) break;
      if (recently_active && fatal_.ok()) {
        writer_state_ = WriterState::kPolling;
        work_cv_.wait_for(lock, kPollInterval);
        recently_active = false;
      } else if (fatal_.ok() && written_lsn_ > durable_lsn_) {
        writer_state_ = WriterState::kSleeping;
        work_cv_.wait_until(lock, last_sync + options_.sync_interval);
      } else {
        writer_state_ = WriterState::kSleeping;
        work_cv_.wait(lock);
      }
      writer_state_ = WriterState::kBusy;
    }
    if (!fatal_.ok()) break;  // closing after a failure: nothing more may reach the disk

    // Write the buffered records as one batch.
    batch.clear();
    batch.swap(buffer_);
    const Lsn batch_last = last_lsn_;
    recently_active = !batch.empty();
    if (batch.size() >= options_.max_buffered_bytes) durable_cv_.notify_all();  // appenders held back
    lock.unlock();
    Status s;
    if (!batch.empty()) {
      const uint64_t before = file_->size();
      s = file_->append(batch);
      if (s.IsNoSpace()) {
        // Cut the partial write off, keep the batch, reject new appends until it fits.
        Status undo = cut_back_to(before);
        lock.lock();
        if (!undo.ok()) {
          set_fatal_locked(undo.WithContext("undoing a partial WAL write after " + s.ToString()));
          continue;
        }
        buffer_.insert(0, batch);
        no_space_ = true;
        no_space_cause_ = s;
        if (disk_full_since_ns_.load(std::memory_order_relaxed) == 0) {
          const auto now_ns =
              std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch());
          disk_full_since_ns_.store(now_ns.count() | 1, std::memory_order_release);  // | 1: never 0
        }
        if (closing_) {
          set_fatal_locked(Status::NoSpace("WAL closed with " + std::to_string(buffer_.size()) +
                                           " unwritten bytes: " + s.message()));
          break;
        }
        // Sync waiters count themselves as waiting for space and check their no-space timeout, at every
        // retry.
        wake_waiters();
        work_cv_.wait_for(lock, options_.no_space_retry);
        continue;
      }
      if (!s.ok()) {
        lock.lock();
        set_fatal_locked(Status::Fatal("write to " + file_path_ + " failed: " + s.ToString()));
        continue;
      }
      SP_CRASH_POINT("wal.after_write_before_sync");
    }

    lock.lock();
    if (!batch.empty()) {
      written_lsn_ = batch_last;
      stats_.bytes_written += batch.size();
      no_space_ = false;
      disk_full_since_ns_.store(0, std::memory_order_release);
    }
    if (!batch.empty()) unsynced_bytes += batch.size();
    const bool need_sync = written_lsn_ > durable_lsn_ &&
                           (sync_requested_lsn_ > durable_lsn_ || closing_ || unsynced_bytes >= kBytesPerSync ||
                            SteadyClock::now() - last_sync >= options_.sync_interval);
    const Lsn sync_target = written_lsn_;
    lock.unlock();

    if (need_sync) {
      const auto sync_start = SteadyClock::now();
      unsynced_bytes = 0;
      s = file_->sync();
      last_sync = SteadyClock::now();
      if (options_.fsync_latency != nullptr) {
        options_.fsync_latency->record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(last_sync - sync_start).count()));
      }
      if (!s.ok()) {
        lock.lock();
        // Never retried: after a failed fsync the kernel may have dropped the dirty pages.
        set_fatal_locked(Status::Fatal("fdatasync of " + file_path_ + " failed, the WAL accepts no more writes: " +
                                       s.ToString()));
        continue;
      }
      SP_CRASH_POINT("wal.after_sync_before_ack");
      lock.lock();
      set_durable_locked(sync_target);
      stats_.syncs++;
      lock.unlock();
      wake_waiters();
    }

    if (file_->size() >= options_.segment_size) {
      s = seal_and_rotate(sync_target + 1);
      if (!s.ok() && !s.IsNoSpace()) {
        lock.lock();
        set_fatal_locked(s);
        continue;
      }
      // NoSpace: keep writing to the current segment; rotation is retried after the next batch.
      last_sync = SteadyClock::now();
    }

    lock.lock();
    if (closing_ && buffer_.empty() && durable_lsn_ == last_lsn_) break;
  }

  // Closing (lock held).
  if (fatal_.ok()) {
    const Lsn next = last_lsn_ + 1;
    lock.unlock();
    // Seal the last segment unless it holds no record yet.
    bool has_records;
    {
      std::lock_guard<std::mutex> g(mu_);
      has_records = !segments_.empty() && segments_.back().first_lsn < next;
    }
    Status s = has_records ? start_segment(next) : Status::OK();
    lock.lock();
    close_status_ = s;
  } else {
    close_status_ = fatal_;
  }
  lock.unlock();
  if (file_ != nullptr) {
    Status c = file_->close();
    lock.lock();
    if (close_status_.ok()) close_status_ = c;
    lock.unlock();
    file_.reset();
  }
  lock.lock();
  closed_ = true;
  waiters_must_stop_ = true;
  wake_waiters();
  durable_cv_.notify_all();
}

Status WalWriter::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) {
      closing_ = true;
      work_cv_.notify_one();
    }
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return close_status_;
}

}  // namespace savepoint::wal
