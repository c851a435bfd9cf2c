// Copying into the WAL archive (docs/pitr.md, The WAL archive): sealed segments as soon as the maintenance
// thread sees them, before a checkpoint retires them, and at close; timeline history files at open. Each
// segment is archived at most once per open (archiving an archived segment again compares it byte for byte,
// which costs a decompression).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "engine/snapshot_state.h"
#include "wal/archive.h"
#include "wal/timeline_history.h"

namespace savepoint::engine {

Status EngineImpl::archive_segment_once(const wal::SegmentInfo& segment) {
  if (options_.archive_dir.empty()) return Status::OK();
  std::lock_guard<std::mutex> lock(snap_->archive_mu);
  if (snap_->archived.count(segment.name) != 0) return Status::OK();
  auto a = wal::ArchiveSegment(fs_, JoinPath(wal_dir_, segment.name), options_.archive_dir);
  if (!a.ok()) return a.status();
  snap_->archived.insert(segment.name);
  snap_->archived_segments++;
  return Status::OK();
}

Status EngineImpl::archive_sealed_segments() {
  if (options_.archive_dir.empty() || wal_ == nullptr) return Status::OK();
  for (const wal::SegmentInfo& segment : wal_->sealed_segments()) {
    Status s = archive_segment_once(segment);
    if (!s.ok()) {
      // The maintenance thread retries every tick: say so once a minute, not ten times a second.
      const uint64_t now = clock_->now_micros();
      std::lock_guard<std::mutex> lock(snap_->archive_mu);
      if (snap_->archive_error_logged_micros == 0 || now >= snap_->archive_error_logged_micros + 60'000'000) {
        snap_->archive_error_logged_micros = now;
        log_->error("savepoint: archiving WAL segment {} failed (retrying; it will not be deleted): {}",
                    segment.name, s.ToString());
      }
      return s;
    }
  }
  return Status::OK();
}

Status EngineImpl::archive_history_files() {
  if (options_.archive_dir.empty()) return Status::OK();
  SP_ASSIGN_OR_RETURN(auto histories, wal::ReadHistoryFiles(fs_, wal_dir_));
  for (const auto& [timeline, history] : histories) {
    SP_RETURN_IF_ERROR(wal::WriteHistoryFile(fs_, JoinPath(options_.archive_dir, "wal"), history)
                           .WithContext("archiving the history of timeline " + std::to_string(timeline)));
  }
  return Status::OK();
}

}  // namespace savepoint::engine
