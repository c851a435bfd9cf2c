// When to save and what to keep (docs/pitr.md, Save points and Retention): pure functions, so the rules are
// tested without an engine or a clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace savepoint::snapshot {

// Redis `save <seconds> <changes>`.
struct SavePoint {
  uint64_t seconds = 0;
  uint64_t changes = 0;
};

// The first save point that is due: at least `seconds` since the last save and at least `changes` changes
// since then (a point with 0 changes needs at least one change: an unchanged state is not saved again).
std::optional<SavePoint> DueSavePoint(const std::vector<SavePoint>& points, uint64_t micros_since_last_save,
                                      uint64_t changes_since_last_save);

struct RetentionPolicy {
  uint32_t keep_last = 3;  // 0: keep everything
  uint32_t keep_hourly = 0;
  uint32_t keep_daily = 0;
};

struct SnapshotFile {
  std::string name;
  uint64_t created_micros = 0;
};

// The names to delete from `files` under `policy`: every file not kept by one of the rules (the newest
// keep_last; the newest of each of the keep_hourly most recent hours that have one; the same per day).
// Ties in creation time are broken by name. Returned oldest first.
std::vector<std::string> SnapshotsToDelete(std::vector<SnapshotFile> files, const RetentionPolicy& policy);

}  // namespace savepoint::snapshot
