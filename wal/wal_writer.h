// WalWriter: the appending side of the write-ahead log (docs/wal_format.md).
//
// Appenders frame their record into an in-memory buffer under a short lock and get its LSN and commit time at
// once. One writer thread moves buffers to the segment file and fdatasyncs in groups: a single fdatasync
// covers every `sync` append waiting at that moment (group commit). `relaxed` appends return without waiting;
// their bytes reach the OS as soon as the writer thread is free (normally well under a millisecond) and are
// fdatasync'd at least every `sync_interval`.
//
// Failures: a failed fdatasync (or a failed write other than ENOSPC) makes the log fatal: every later append
// and every wait for a record that was not durable returns Status::Fatal naming the first error, and the fsync
// is never retried. ENOSPC keeps the failed batch in memory, rejects new appends with NoSpace until a retry
// succeeds, and loses nothing. A wait_durable() with a no-space timeout gives up with NoSpace once the disk
// has been full for that long during its wait; its record stays in the buffer (see wait_durable).
//
// Thread-safety: every method may be called from any number of threads, except that close() and the
// destructor must not race with other calls.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "savepoint/clock.h"
#include "savepoint/file_system.h"
#include "util/histogram.h"
#include "wal/format.h"
#include "wal/wal_reader.h"

namespace savepoint::wal {

enum class Durability : uint8_t {
  kRelaxed,  // acknowledged once in the log buffer; durable within sync_interval
  kSync,     // acknowledged after fdatasync
};

struct WriterOptions {
  // Timeline written to. A directory holding a newer timeline is refused.
  Timeline timeline = 1;
  // First LSN when the timeline has no segment yet (a new timeline after PITR starts after its branch LSN).
  Lsn first_lsn_if_empty = 1;
  // A new segment is started once the current one reaches this size (at a write-batch boundary).
  // Default: 64 MiB.
  uint64_t segment_size = 64ull << 20;
  // Relaxed records are fdatasync'd at least this often. Default: 1 s.
  std::chrono::microseconds sync_interval = std::chrono::seconds(1);
  // While the disk is full, the writer retries the failed batch this often. Default: 100 ms.
  std::chrono::milliseconds no_space_retry = std::chrono::milliseconds(100);
  // Appenders wait while this many framed bytes are waiting for the writer thread. Default: 64 MiB.
  size_t max_buffered_bytes = 64u << 20;
  // Commit timestamps. Default: the system clock. Must outlive the writer.
  Clock* clock = Clock::System();
  // Optional: records the latency of every fdatasync, in nanoseconds. Must outlive the writer.
  ConcurrentHistogram* fsync_latency = nullptr;
};

struct Appended {
  Lsn lsn = 0;
  uint64_t commit_micros = 0;
};

struct WriterStats {
  uint64_t records = 0;
  uint64_t bytes_written = 0;  // record bytes handed to the OS
  uint64_t syncs = 0;          // fdatasync calls on segments
  uint64_t segments_created = 0;
  // Of the waits with DurableWait::count_space_waits (the engine's sync commits; not the materializer's):
  uint64_t space_waiters = 0;        // waiting now while the disk is full
  uint64_t space_waits = 0;          // found the disk full while waiting, since open
  uint64_t space_wait_timeouts = 0;  // ... and gave up with NoSpace after their no-space timeout
};

// wait_durable() without a bound on how long a full disk may hold it.
inline constexpr std::chrono::milliseconds kWaitForSpaceForever = std::chrono::milliseconds::max();

struct DurableWait {
  // The writer fdatasyncs now (group commit); without, the caller waits for the periodic sync.
  bool request_sync = true;
  // See wait_durable().
  std::chrono::milliseconds no_space_timeout = kWaitForSpaceForever;
  // Counted in WriterStats::space_* while the disk is full.
  bool count_space_waits = false;
};

class WalWriter {
 public:
  // Opens the log in `dir` (created if missing): validates the newest segment, truncates a torn tail
  // (docs/wal_format.md, Recovery rules), and starts writing after the last valid record. Fails with
  // Corruption naming the file and offset when the damage is not a torn tail. `fs` must outlive the writer.
  static Result<std::unique_ptr<WalWriter>> Open(FileSystem* fs, std::string dir, WriterOptions options = {});

  ~WalWriter();  // close(), ignoring its status
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Appends one record. kRelaxed returns once it is buffered; kSync once it is durable.
  // REQUIRES: payload.size() <= kMaxPayload.
  Result<Appended> append(RecordType type, std::string_view payload, Durability durability);
  // Appends without waiting, whatever the durability: for callers that assign LSNs under their own lock
  // and wait outside it (the engine's commit sequencer). Follow with wait_durable() for a sync commit.
  // `now_micros`, when not 0, is the time the caller just read from the writer's clock: the record's commit
  // time is then max(now_micros, the previous record's) without reading the clock again.
  Result<Appended> append_nowait(RecordType type, std::string_view payload, uint64_t now_micros = 0);
  // Returns once every record up to `lsn` is durable, or the log failed. With `request_sync` the writer
  // fdatasyncs now (group commit); without, the caller waits for the periodic sync (the materializer does).
  Status wait_durable(Lsn lsn, bool request_sync = true) {
    DurableWait w;
    w.request_sync = request_sync;
    return wait_durable(lsn, w);
  }
  // As above. While the disk is full the record cannot become durable; once it has been full for
  // `wait.no_space_timeout` during this wait (counted from the later of the wait's start and the first
  // ENOSPC), returns NoSpace. The record is NOT withdrawn then: it stays in the buffer and becomes durable
  // when a retry succeeds, unless the process stops first. So NoSpace here means "not known durable", never
  // "not logged". The bound is checked each time the writer retries the full disk
  // (WriterOptions::no_space_retry), so it may be exceeded by up to one retry interval.
  Status wait_durable(Lsn lsn, const DurableWait& wait);
  // Asks the writer thread to make every record up to `lsn` durable now (group commit), without waiting.
  // Returns the status an append would get now: OK, or why the log takes none (failed, full disk, closed).
  Status request_sync(Lsn lsn);
  // Makes everything appended so far durable.
  Status sync();

  Lsn last_lsn() const;     // the last LSN assigned
  Lsn durable_lsn() const;  // every record <= this is fdatasync'd
  Timeline timeline() const { return options_.timeline; }
  WriterStats stats() const;
  // OK, or the Fatal status every append now gets.
  Status health() const;

  // Every segment of the timeline, oldest first; the last is the one being written.
  std::vector<SegmentInfo> segments() const;
  // Sealed segments (every segment but the one being written), oldest first.
  std::vector<SegmentInfo> sealed_segments() const;
  // Deletes sealed segments whose records all have LSN <= `lsn` (a checkpoint made them redundant; archive
  // them first when an archive is configured). Returns how many were removed.
  Result<size_t> remove_sealed_segments_through(Lsn lsn);

  // Writes and syncs everything, then seals the segment by starting the next, empty one. Idempotent.
  Status close();

 private:
  WalWriter(FileSystem* fs, std::string dir, WriterOptions options);
  Status recover();
  Status start_segment(Lsn first_lsn);  // writer thread or open only
  // Cuts the current segment back to `size` bytes (durably) and reopens it for appending: undoes a partial
  // write. Writer thread or open only.
  Status cut_back_to(uint64_t size);
  Status seal_and_rotate(Lsn next_lsn);
  void writer_loop();
  Status frame_locked(RecordType type, std::string_view payload, uint64_t now_micros,
                      Appended* out);  // REQUIRES: mu_ held
  void set_fatal_locked(const Status& cause);                                     // REQUIRES: mu_ held

  FileSystem* const fs_;
  const std::string dir_;
  const WriterOptions options_;

  mutable std::mutex mu_;
  // Sync waiters sleep on wake_epoch_ (a futex, through std::atomic::wait). When durability advances, or the
  // log fails or closes, the writer bumps it and wakes every waiter with one call; each re-checks its own
  // LSN and the late ones sleep again. Answering waiters one by one costs the writer a syscall each between
  // two fsyncs, and on two cores that delay split the groups; a shared mutex + condition variable made every
  // woken waiter queue on mu_ instead.
  std::atomic<uint32_t> wake_epoch_{0};
  std::atomic<Lsn> durable_published_{0};    // durable_lsn_, readable without mu_
  std::atomic<bool> waiters_must_stop_{false};  // the log failed or closed: waiters take their status
  // steady_clock nanoseconds since its epoch when the writer met ENOSPC and kept the batch; 0 while writes
  // succeed. Waiters read it to apply their no-space timeout; the writer wakes them at every retry.
  std::atomic<int64_t> disk_full_since_ns_{0};
  std::atomic<uint64_t> space_waiters_{0};
  std::atomic<uint64_t> space_waits_{0};
  std::atomic<uint64_t> space_wait_timeouts_{0};
  void set_durable_locked(Lsn lsn);  // REQUIRES: mu_ held
  void wake_waiters();               // bumps the epoch and wakes every waiter

  std::condition_variable work_cv_;     // wakes the writer thread
  std::condition_variable durable_cv_;  // wakes appenders held back by a full buffer
  std::string buffer_;                  // GUARDED_BY(mu_): framed records not yet taken by the writer thread
  Lsn last_lsn_ = 0;                    // GUARDED_BY(mu_)
  uint64_t last_commit_micros_ = 0;     // GUARDED_BY(mu_)
  Lsn written_lsn_ = 0;                 // GUARDED_BY(mu_): handed to the OS
  Lsn durable_lsn_ = 0;                 // GUARDED_BY(mu_)
  Lsn sync_requested_lsn_ = 0;          // GUARDED_BY(mu_): the highest LSN a waiter needs durable
  Status fatal_;                        // GUARDED_BY(mu_)
  bool no_space_ = false;               // GUARDED_BY(mu_)
  Status no_space_cause_;               // GUARDED_BY(mu_)
  bool closing_ = false;                // GUARDED_BY(mu_)
  bool closed_ = false;                 // GUARDED_BY(mu_)
  // What the writer thread is doing. While it polls (it wrote a batch moments ago and will look again within
  // kPollInterval) relaxed appends need not wake it: this saves a futex wake per append under load.
  enum class WriterState { kBusy, kPolling, kSleeping };
  WriterState writer_state_ = WriterState::kBusy;  // GUARDED_BY(mu_)
  Status close_status_;                 // GUARDED_BY(mu_)
  WriterStats stats_;                   // GUARDED_BY(mu_)
  std::vector<SegmentInfo> segments_;   // GUARDED_BY(mu_): all segments of the timeline, the last is current

  // Owned by the writer thread (and by Open before the thread starts).
  std::unique_ptr<WritableFile> file_;
  std::string file_path_;
  uint32_t file_version_ = kFormatVersion;  // of file_'s segment: a version-1 segment is never sealed
  std::thread thread_;
};

}  // namespace savepoint::wal
