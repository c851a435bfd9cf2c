#include "snapshot/policy.h"

#include <algorithm>
#include <set>

namespace savepoint::snapshot {

std::optional<SavePoint> DueSavePoint(const std::vector<SavePoint>& points, uint64_t micros_since_last_save,
                                      uint64_t changes_since_last_save) {
  for (const SavePoint& p : points) {
    const uint64_t seconds = micros_since_last_save / 1'000'000;
    if (seconds >= p.seconds && changes_since_last_save >= std::max<uint64_t>(p.changes, 1)) return p;
  }
  return std::nullopt;
}

std::vector<std::string> SnapshotsToDelete(std::vector<SnapshotFile> files, const RetentionPolicy& policy) {
  if (policy.keep_last == 0) return {};
  // Newest first.
  std::sort(files.begin(), files.end(), [](const SnapshotFile& a, const SnapshotFile& b) {
    return a.created_micros != b.created_micros ? a.created_micros > b.created_micros : a.name > b.name;
  });
  std::set<std::string> keep;
  for (size_t i = 0; i < files.size() && i < policy.keep_last; i++) keep.insert(files[i].name);
  auto keep_per_bucket = [&](uint64_t bucket_micros, uint32_t buckets) {
    std::set<uint64_t> seen;
    for (const SnapshotFile& f : files) {
      if (seen.size() >= buckets) break;
      if (seen.insert(f.created_micros / bucket_micros).second) keep.insert(f.name);
    }
  };
  if (policy.keep_hourly > 0) keep_per_bucket(3600ull * 1'000'000, policy.keep_hourly);
  if (policy.keep_daily > 0) keep_per_bucket(86400ull * 1'000'000, policy.keep_daily);
  std::vector<std::string> out;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    if (keep.count(it->name) == 0) out.push_back(it->name);
  }
  return out;
}

}  // namespace savepoint::snapshot
