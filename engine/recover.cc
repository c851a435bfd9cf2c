// Point-in-time recovery from the WAL archive (docs/pitr.md, Recover): plan (target -> end LSN, snapshot,
// segments, new timeline), load the snapshot, replay the archived WAL along the target timeline's path,
// start the new timeline with its history file.
#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <limits>

#include "engine/engine_impl.h"
#include "engine/snapshot_load.h"
#include "savepoint/clock.h"
#include "savepoint/recovery.h"
#include "snapshot/format.h"
#include "snapshot/snapshot_reader.h"
#include "util/coding.h"
#include "wal/archive.h"
#include "wal/timeline_history.h"
#include "wal/wal_writer.h"

namespace savepoint {

namespace engine {

// What recover_from_archive carries out.
struct RecoveryRun {
  std::string archive_dir;
  std::vector<wal::TimelineLeg> legs;  // the target timeline's path
  uint64_t from_lsn = 1;               // the snapshot's LSN + 1
  uint64_t end_lsn = 0;
  wal::TimelineHistory history;  // of the new timeline
};

namespace {

std::string FormatMicros(uint64_t micros) {
  const auto secs = static_cast<time_t>(micros / 1'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lluZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned long long>(micros % 1'000'000));
  return buf;
}

std::string ArchiveWalDir(const std::string& archive) { return JoinPath(archive, "wal"); }

// Reads the records of an archive along a path of timelines, from `from` to `to` (inclusive), in LSN order.
class ArchivePathReader {
 public:
  ArchivePathReader(FileSystem* fs, std::string archive, std::vector<wal::TimelineLeg> legs, uint64_t from,
                    uint64_t to)
      : fs_(fs), archive_(std::move(archive)), legs_(std::move(legs)), expected_(from), to_(to) {}

  bool next(wal::Record* r) {
    for (;;) {
      if (done_ || expected_ > to_) {
        done_ = true;
        return false;
      }
      while (leg_ < legs_.size() && expected_ > legs_[leg_].last) {
        leg_++;
        reader_.reset();
      }
      if (leg_ == legs_.size())
        return fail(Status::Corruption("LSN " + std::to_string(expected_) + " is on no timeline"));
      if (reader_ == nullptr) {
        wal::ReaderOptions ro;
        ro.start_lsn = expected_;
        ro.timeline = legs_[leg_].timeline;
        auto reader = wal::WalReader::Open(wal::NewArchiveSource(fs_, archive_), ro);
        if (!reader.ok())
          return fail(reader.status().WithContext("reading the archived WAL of timeline " +
                                                  std::to_string(legs_[leg_].timeline)));
        reader_ = std::move(reader).value();
      }
      if (!reader_->next(r)) {
        if (!reader_->status().ok()) return fail(reader_->status());
        return fail(Status::NotFound("the archived WAL of timeline " + std::to_string(legs_[leg_].timeline) +
                                     " ends at LSN " + std::to_string(reader_->last_lsn()) + ", before LSN " +
                                     std::to_string(expected_)));
      }
      if (r->lsn != expected_) {
        return fail(Status::Corruption("archived WAL of timeline " + std::to_string(legs_[leg_].timeline) +
                                       ": expected LSN " + std::to_string(expected_) + ", read " +
                                       std::to_string(r->lsn)));
      }
      expected_++;
      last_commit_micros_ = r->commit_micros;
      return true;
    }
  }
  const Status& status() const { return status_; }
  uint64_t last_commit_micros() const { return last_commit_micros_; }

 private:
  bool fail(Status s) {
    status_ = std::move(s);
    done_ = true;
    return false;
  }
  FileSystem* const fs_;
  const std::string archive_;
  const std::vector<wal::TimelineLeg> legs_;
  size_t leg_ = 0;
  uint64_t expected_;
  const uint64_t to_;
  std::unique_ptr<wal::WalReader> reader_;
  bool done_ = false;
  Status status_;
  uint64_t last_commit_micros_ = 0;
};

// One archived segment's part of the path.
struct Piece {
  const wal::ArchivedSegment* segment;
  uint64_t from, to;  // LSNs of the segment this leg takes
};

// Calls fn(record) for the records of `piece`, in order, until it returns false.
Status ForEachRecord(FileSystem* fs, const std::string& archive, const Piece& piece,
                     const std::function<bool(const wal::Record&)>& fn) {
  std::string bytes;
  const std::string path = JoinPath(ArchiveWalDir(archive), piece.segment->name);
  SP_RETURN_IF_ERROR(wal::ReadArchivedSegment(fs, path, &bytes));
  size_t offset = wal::kSegmentHeaderSize;
  while (offset < bytes.size()) {
    wal::Record r;
    size_t next = 0;
    Status s = wal::ParseRecord(bytes, offset, &r, &next);
    if (!s.ok())
      return Status::Corruption(path + ": " + s.message() + " at offset " + std::to_string(offset));
    offset = next;
    if (r.lsn < piece.from) continue;
    if (r.lsn > piece.to) break;
    if (!fn(r)) break;
  }
  return Status::OK();
}

struct SnapshotEntry {
  std::string path;
  std::string name;
  snapshot::Header header;
};

// The leg of `legs` holding LSN `lsn` as state: a snapshot at the first LSN - 1 of a leg is on it too.
bool OnPath(const std::vector<wal::TimelineLeg>& legs, uint32_t timeline, uint64_t lsn) {
  for (const wal::TimelineLeg& leg : legs) {
    if (leg.timeline == timeline && lsn + 1 >= leg.first && lsn <= leg.last) return true;
  }
  return false;
}

std::string DescribeTarget(const RecoverOptions& o) {
  const char* incl = o.inclusive ? "inclusive" : "exclusive";
  if (o.target_time_micros) {
    return "time " + FormatMicros(*o.target_time_micros) + " (" + std::to_string(*o.target_time_micros) +
           " us) " + incl;
  }
  if (o.target_lsn) return "lsn " + std::to_string(*o.target_lsn) + " " + incl;
  if (o.target_name) return "name \"" + *o.target_name + "\" " + incl;
  return "latest";
}

}  // namespace

Status EngineImpl::recover_from_archive(const RecoveryRun& run) {
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    closed_ = true;  // never opened for commits: close() has nothing to do
  }
  SP_RETURN_IF_ERROR(fs_->create_dirs(options_.data_dir));
  auto lock = fs_->lock_file(JoinPath(options_.data_dir, "LOCK"));
  if (!lock.ok()) return lock.status().WithContext("recovering into " + options_.data_dir);
  lock_ = std::move(lock).value();
  Status s = open_rocksdb(/*expect_wal=*/false);  // RestoreSnapshot built it; the archive is its log
  if (s.ok()) s = load_catalog();
  ArchivePathReader reader(fs_, run.archive_dir, run.legs, run.from_lsn, run.end_lsn);
  if (s.ok()) s = replay_records([&](wal::Record* r) { return reader.next(r); });
  if (s.ok()) s = reader.status();
  if (s.ok() && run.end_lsn > applied_lsn_) {
    // The last records were restore points or checkpoint markers: the state is the same, but the applied
    // LSN must say where the new timeline branches.
    rocksdb::WriteBatch batch;
    PutAppliedLsn(&batch, meta_cf_, run.end_lsn);
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    s = FromRocks(db_->Write(wo, &batch), "writing applied_lsn");
    if (s.ok()) applied_lsn_ = run.end_lsn;
  }
  if (s.ok()) {
    rocksdb::WriteBatch batch;
    PutTimeline(&batch, meta_cf_, run.history.timeline);
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    s = FromRocks(db_->Write(wo, &batch), "writing the timeline");
  }
  if (s.ok()) {
    std::vector<rocksdb::ColumnFamilyHandle*> families{meta_cf_};
    {
      std::shared_lock<std::shared_mutex> cl(catalog_mu_);
      for (auto& [id, ks] : by_id_) {
        if (ks->cf != nullptr) families.push_back(ks->cf);
      }
    }
    rocksdb::FlushOptions fo;
    fo.wait = true;
    s = FromRocks(db_->Flush(fo, families), "flushing the recovered state");
  }
  if (s.ok()) s = wal::WriteHistoryFile(fs_, wal_dir_, run.history);
  if (s.ok()) {
    wal::WriterOptions wo;
    wo.timeline = run.history.timeline;
    wo.first_lsn_if_empty = run.end_lsn + 1;
    wo.segment_size = options_.wal_segment_size;
    wo.clock = clock_;
    auto w = wal::WalWriter::Open(fs_, wal_dir_, wo);
    if (!w.ok()) {
      s = w.status().WithContext("starting timeline " + std::to_string(run.history.timeline));
    } else {
      std::string payload;
      PutFixed32(&payload, run.history.timeline);
      PutFixed32(&payload, run.history.branches.back().parent);
      PutFixed64(&payload, run.end_lsn);
      s = (*w)->append(wal::RecordType::kTimelineSwitch, payload, wal::Durability::kSync).status();
      Status c = (*w)->close();
      if (s.ok()) s = c;
    }
  }
  if (s.ok()) s = wal::WriteHistoryFile(fs_, ArchiveWalDir(run.archive_dir), run.history);
  release_resources();
  return s;
}

}  // namespace engine

Result<RecoveryPlan> Recover(const RecoverOptions& o) {
  FileSystem* fs = o.file_system != nullptr ? o.file_system : FileSystem::Default();
  Clock* clock = o.clock != nullptr ? o.clock : Clock::System();
  auto log = o.logger != nullptr ? o.logger : spdlog::default_logger();

  // 1. The request.
  const int targets = (o.target_time_micros ? 1 : 0) + (o.target_lsn ? 1 : 0) + (o.target_name ? 1 : 0) +
                      (o.target_latest ? 1 : 0);
  if (targets != 1) {
    return Status::InvalidArgument("a recovery needs exactly one target (time, lsn, name or latest); " +
                                   std::to_string(targets) + " given");
  }
  if (o.target_latest && !o.inclusive)
    return Status::InvalidArgument("the latest target cannot be exclusive");
  if (o.target_lsn && *o.target_lsn == 0) return Status::InvalidArgument("LSNs start at 1");
  if (o.target_name && (o.target_name->empty() || o.target_name->size() > wal::kMaxRestorePointName)) {
    return Status::InvalidArgument("restore point names are 1 to 255 bytes");
  }
  if (o.archive_dir.empty()) return Status::InvalidArgument("no archive directory");
  if (!o.dry_run) {
    if (o.into_dir.empty()) return Status::InvalidArgument("no destination directory");
    SP_RETURN_IF_ERROR(engine::CheckEmptyDestination(fs, o.into_dir));
  }
  if (!fs->file_exists(engine::ArchiveWalDir(o.archive_dir))) {
    return Status::NotFound(o.archive_dir + " is not a WAL archive (no wal/ directory)");
  }

  RecoveryPlan plan;
  plan.target = engine::DescribeTarget(o);

  // 2. What the archive holds.
  SP_ASSIGN_OR_RETURN(std::vector<wal::ArchivedSegment> segments,
                      wal::ListArchivedSegments(fs, o.archive_dir));
  SP_ASSIGN_OR_RETURN(auto histories, wal::ReadHistoryFiles(fs, engine::ArchiveWalDir(o.archive_dir)));
  std::vector<engine::SnapshotEntry> snapshots;
  uint32_t max_timeline = 1;
  for (const auto& s : segments) max_timeline = std::max(max_timeline, s.timeline);
  for (const auto& [tl, h] : histories) max_timeline = std::max(max_timeline, tl);
  const std::string snap_dir = JoinPath(o.archive_dir, "snapshots");
  if (fs->file_exists(snap_dir)) {
    SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(snap_dir));
    for (const std::string& name : names) {
      if (!snapshot::ParseSnapshotFileName(name)) continue;
      engine::SnapshotEntry e{JoinPath(snap_dir, name), name, {}};
      Status s = snapshot::ReadSnapshotHeader(fs, e.path, &e.header);
      if (!s.ok()) {
        plan.notes.push_back("skipped snapshot " + name + ": " + s.ToString());
        continue;
      }
      max_timeline = std::max(max_timeline, e.header.timeline);
      snapshots.push_back(std::move(e));
    }
  }

  // 3. The path of the target timeline.
  const uint32_t target_tl = o.timeline != 0 ? o.timeline : max_timeline;
  plan.target_timeline = target_tl;
  wal::TimelineHistory history;
  history.timeline = target_tl;
  if (target_tl != 1) {
    auto it = histories.find(target_tl);
    if (it == histories.end()) {
      if (o.timeline != 0 && target_tl > max_timeline) {
        return Status::InvalidArgument("timeline " + std::to_string(target_tl) +
                                       " is not in the archive (its " + "newest timeline is " +
                                       std::to_string(max_timeline) + ")");
      }
      return Status::Corruption("the archive holds timeline " + std::to_string(target_tl) +
                                " but not its history " + "file " + wal::HistoryFileName(target_tl));
    }
    history = it->second;
  }
  const std::vector<wal::TimelineLeg> legs = wal::PathOf(history);
  for (const auto& leg : legs) plan.path.push_back({leg.timeline, leg.first, leg.last});

  // The archived pieces along the path, in LSN order.
  std::vector<engine::Piece> pieces;
  for (const wal::TimelineLeg& leg : legs) {
    for (const wal::ArchivedSegment& seg : segments) {
      if (seg.timeline != leg.timeline || seg.last_lsn < seg.first_lsn) continue;  // other timeline, or empty
      if (seg.last_lsn < leg.first || seg.first_lsn > leg.last) continue;
      pieces.push_back({&seg, std::max(seg.first_lsn, leg.first), std::min(seg.last_lsn, leg.last)});
    }
  }
  if (pieces.empty()) {
    return Status::NotFound("the archive " + o.archive_dir + " holds no WAL record on the path of timeline " +
                            std::to_string(target_tl));
  }
  const uint64_t first_archived = pieces.front().from, last_archived = pieces.back().to;
  const std::string range =
      "archived LSNs " + std::to_string(first_archived) + ".." + std::to_string(last_archived);

  // 4. The end LSN.
  uint64_t end = 0;
  uint64_t end_time = 0;
  if (o.target_latest) {
    end = last_archived;
    end_time = pieces.back().segment->last_commit_micros;
  } else if (o.target_lsn) {
    if (*o.target_lsn > last_archived) {
      return Status::NotFound("target LSN " + std::to_string(*o.target_lsn) +
                              " is not reachable: the path of " + "timeline " + std::to_string(target_tl) +
                              " is archived up to LSN " + std::to_string(last_archived));
    }
    end = o.inclusive ? *o.target_lsn : *o.target_lsn - 1;
  } else if (o.target_name) {
    bool found = false;
    for (const engine::Piece& p : pieces) {
      SP_RETURN_IF_ERROR(engine::ForEachRecord(fs, o.archive_dir, p, [&](const wal::Record& r) {
        if (r.type == wal::RecordType::kRestorePoint && r.payload == *o.target_name) {
          found = true;
          end = o.inclusive ? r.lsn : r.lsn - 1;
          end_time = r.commit_micros;
          return false;
        }
        return true;
      }));
      if (found) break;
    }
    if (!found) {
      return Status::NotFound("no restore point named \"" + *o.target_name + "\" on the path of timeline " +
                              std::to_string(target_tl) + " (" + range + ")");
    }
  } else {
    const uint64_t t = *o.target_time_micros;
    auto qualifies = [&](uint64_t commit) { return o.inclusive ? commit <= t : commit < t; };
    bool reached = false, any = false;
    uint64_t last_before_gap = 0;
    for (size_t i = 0; i < pieces.size() && !reached; i++) {
      const engine::Piece& p = pieces[i];
      if (i > 0 && p.from != pieces[i - 1].to + 1) last_before_gap = pieces[i - 1].to;
      const bool whole = p.from == p.segment->first_lsn && p.to == p.segment->last_lsn;
      if (whole && qualifies(p.segment->last_commit_micros)) {
        end = p.to;
        end_time = p.segment->last_commit_micros;
        any = true;
        continue;
      }
      if (p.from == p.segment->first_lsn && !qualifies(p.segment->first_commit_micros)) {
        reached = true;
        break;
      }
      SP_RETURN_IF_ERROR(engine::ForEachRecord(fs, o.archive_dir, p, [&](const wal::Record& r) {
        if (!qualifies(r.commit_micros)) {
          reached = true;
          return false;
        }
        end = r.lsn;
        end_time = r.commit_micros;
        any = true;
        return true;
      }));
    }
    if (!reached) {
      return Status::NotFound("target time " + engine::FormatMicros(t) +
                              " is not reachable: the last archived commit on " + "the path of timeline " +
                              std::to_string(target_tl) + " is LSN " + std::to_string(last_archived) +
                              " at " + engine::FormatMicros(pieces.back().segment->last_commit_micros) +
                              ", and a later commit may not be archived yet (use latest)");
    }
    if (!any) {
      if (first_archived > 1) {
        return Status::NotFound("target time " + engine::FormatMicros(t) +
                                " is before the first archived record (LSN " +
                                std::to_string(first_archived) + ")");
      }
      end = 0;
    }
    if (any && last_before_gap != 0 && end == last_before_gap) {
      return Status::Corruption("gap in the archived WAL after LSN " + std::to_string(end) +
                                ": the target time may fall in it");
    }
  }
  plan.end_lsn = end;
  plan.end_commit_micros = end_time;

  // 5. The snapshot.
  const engine::SnapshotEntry* chosen = nullptr;
  std::vector<std::string> off_path;
  const engine::SnapshotEntry* oldest = nullptr;
  for (const engine::SnapshotEntry& e : snapshots) {
    if (oldest == nullptr || e.header.lsn < oldest->header.lsn) oldest = &e;
    if (e.header.lsn > end) continue;
    if (!engine::OnPath(legs, e.header.timeline, e.header.lsn)) {
      std::string why = "snapshot " + e.name + " (timeline " + std::to_string(e.header.timeline) + ", LSN " +
                        std::to_string(e.header.lsn) + ") is not on the path of timeline " +
                        std::to_string(target_tl);
      if (auto h = histories.find(e.header.timeline); h != histories.end() && !h->second.branches.empty()) {
        why += ": timeline " + std::to_string(e.header.timeline) + " branched from timeline " +
               std::to_string(h->second.branches.back().parent) + " at LSN " +
               std::to_string(h->second.branches.back().branch_lsn);
      }
      off_path.push_back(why);
      continue;
    }
    if (chosen == nullptr || e.header.lsn > chosen->header.lsn) chosen = &e;
  }
  for (const std::string& n : off_path) plan.notes.push_back("skipped " + n);
  if (chosen == nullptr) {
    if (!off_path.empty()) {
      std::string all;
      for (const std::string& n : off_path) all += (all.empty() ? "" : "; ") + n;
      return Status::NotFound("no usable snapshot at or below LSN " + std::to_string(end) + ": " + all);
    }
    if (oldest != nullptr) {
      return Status::NotFound("the target (LSN " + std::to_string(end) + ") is before the oldest snapshot " +
                              oldest->name + " (LSN " + std::to_string(oldest->header.lsn) + ")");
    }
    return Status::NotFound("no snapshot in " + snap_dir + ": a recovery starts from a snapshot");
  }
  plan.snapshot_path = chosen->path;
  plan.snapshot_lsn = chosen->header.lsn;
  plan.snapshot_timeline = chosen->header.timeline;
  plan.records_to_replay = end - chosen->header.lsn;

  // 6. Every LSN from the snapshot to the end is archived.
  uint64_t cursor = chosen->header.lsn + 1;
  for (size_t i = 0; i < pieces.size() && cursor <= end; i++) {
    const engine::Piece& p = pieces[i];
    if (p.to < cursor) continue;
    if (p.from > cursor) {
      std::string before = i > 0 ? pieces[i - 1].segment->name : std::string("(none)");
      return Status::Corruption("gap in the archived WAL: LSNs " + std::to_string(cursor) + ".." +
                                std::to_string(std::min(end, p.from - 1)) + " of timeline " +
                                std::to_string(p.segment->timeline) + " are missing (between " + before +
                                " and " + p.segment->name + ")");
    }
    plan.segments.push_back(p.segment->name);
    cursor = p.to + 1;
  }
  if (cursor <= end) {
    return Status::NotFound("the archived WAL ends at LSN " + std::to_string(cursor - 1) + ", before LSN " +
                            std::to_string(end));
  }

  // 7. The new timeline and its history.
  plan.new_timeline = max_timeline + 1;
  size_t parent_leg = 0;
  while (parent_leg + 1 < legs.size() && end > legs[parent_leg].last) parent_leg++;
  plan.parent_timeline = legs[parent_leg].timeline;
  engine::RecoveryRun run;
  run.archive_dir = o.archive_dir;
  run.legs = legs;
  run.from_lsn = chosen->header.lsn + 1;
  run.end_lsn = end;
  run.history.timeline = plan.new_timeline;
  for (size_t i = 0; i < parent_leg; i++) run.history.branches.push_back(history.branches[i]);
  run.history.branches.push_back({plan.parent_timeline, end, clock->now_micros(), plan.target});
  if (o.dry_run) return plan;

  // 8. Load, replay, branch.
  log->info(
      "savepoint: recovering {} into {}: snapshot {} (LSN {}), replaying {} records to LSN {}, new timeline "
      "{}",
      o.archive_dir, o.into_dir, chosen->name, chosen->header.lsn, plan.records_to_replay, end,
      plan.new_timeline);
  Options options;
  options.data_dir = o.into_dir;
  options.file_system = fs;
  options.clock = clock;
  options.logger = log;
  const bool existed = fs->file_exists(o.into_dir);
  auto cleanup = [&] {
    std::error_code ec;
    for (const char* sub : {"db", "wal", "LOCK", "db.load"})
      std::filesystem::remove_all(JoinPath(o.into_dir, sub), ec);
    if (!existed) std::filesystem::remove(o.into_dir, ec);
  };
  engine::LoadOptions load;
  load.timeline = plan.new_timeline;
  load.create_wal = false;
  auto loaded = engine::LoadSnapshotIntoDirectory(fs, chosen->path, options, load);
  if (!loaded.ok()) return loaded.status();
  Status s;
  {
    engine::EngineImpl impl(options);
    s = impl.recover_from_archive(run);
  }
  if (!s.ok()) {
    cleanup();
    return s.WithContext("recovering into " + o.into_dir);
  }
  log->info("savepoint: recovered {} to LSN {} on new timeline {}", o.into_dir, end, plan.new_timeline);
  return plan;
}

}  // namespace savepoint
