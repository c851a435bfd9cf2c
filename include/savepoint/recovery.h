// Building a data directory from a snapshot, and point-in-time recovery from a WAL archive (PostgreSQL
// semantics): docs/pitr.md.
//
// Both write a new directory and leave it closed; Engine::open then opens it like any other. Neither touches
// a directory an engine has open (the destination must be empty).
//
// Thread-safety: the functions are independent; two recoveries into the same archive at the same moment may
// pick the same new timeline id, and the second then fails writing its history file (nothing is lost).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "savepoint/engine.h"
#include "savepoint/status.h"

namespace spdlog {
class logger;
}

namespace savepoint {

class Clock;
class FileSystem;

// Loads the snapshot file `snapshot_path` into `data_dir` (missing or empty): SST files built from its rows
// and ingested into a fresh RocksDB, the catalog and LSN in the meta rows, an empty WAL on the snapshot's
// timeline. A damaged snapshot fails with Corruption naming the offset and leaves `data_dir` as it was.
// `fs` (default FileSystem::Default()) reads the snapshot and writes the WAL; RocksDB uses the real disk.
Result<SnapshotInfo> RestoreSnapshot(const std::string& snapshot_path, const std::string& data_dir,
                                     FileSystem* fs = nullptr);

struct RecoverOptions {
  // The WAL archive (Options::archive_dir of the engine that wrote it). Required.
  std::string archive_dir;
  // The directory to create; must not exist or be empty. Required unless dry_run.
  std::string into_dir;

  // Exactly one target.
  std::optional<uint64_t> target_time_micros;  // commit timestamp, microseconds since the epoch
  std::optional<uint64_t> target_lsn;
  std::optional<std::string> target_name;      // a restore point (Engine::create_restore_point)
  bool target_latest = false;                  // everything archived
  // Whether the target itself is included (a time: commits at exactly that microsecond; an LSN or a
  // restore point: that record). Default: true.
  bool inclusive = true;
  // The timeline whose history is followed. Default (0): the newest timeline in the archive.
  uint32_t timeline = 0;
  // Only work out the plan (and every refusal); write nothing.
  bool dry_run = false;

  FileSystem* file_system = nullptr;  // Default: FileSystem::Default()
  Clock* clock = nullptr;             // the time written in the history file. Default: Clock::System()
  std::shared_ptr<spdlog::logger> logger;  // Default: spdlog's default logger
};

struct RecoveryPlan {
  std::string target;  // "time 2023-11-14T22:13:20.000000Z inclusive", "lsn 120 exclusive", ...
  uint32_t target_timeline = 0;
  // The timelines the path goes through, oldest first: LSNs [first, last] of each.
  struct Leg {
    uint32_t timeline = 0;
    uint64_t first_lsn = 0, last_lsn = 0;
  };
  std::vector<Leg> path;
  std::string snapshot_path;
  uint64_t snapshot_lsn = 0;
  uint32_t snapshot_timeline = 0;
  std::vector<std::string> segments;  // archived segment files replayed, in order
  uint64_t end_lsn = 0;               // the last LSN of the recovered state (the branch LSN)
  uint64_t end_commit_micros = 0;     // its commit time (0 when no record was replayed)
  uint64_t records_to_replay = 0;     // end_lsn - snapshot_lsn
  uint32_t new_timeline = 0;
  uint32_t parent_timeline = 0;       // the timeline of end_lsn on the path
  std::vector<std::string> notes;     // snapshots skipped and why
};

// Point-in-time recovery (docs/pitr.md, Recover): the newest snapshot at or below the target on the target
// timeline's path, the archived WAL replayed from it up to the target, a new timeline with its history file
// (also written into the archive). Returns the plan it carried out (with dry_run: the plan only).
// Refusals: InvalidArgument (no or two targets, a non-empty destination, a bad timeline), NotFound (an
// unreachable target, a target before the oldest usable snapshot), Corruption (a gap in the archived WAL, a
// damaged snapshot or segment or history file).
Result<RecoveryPlan> Recover(const RecoverOptions& options);

}  // namespace savepoint
