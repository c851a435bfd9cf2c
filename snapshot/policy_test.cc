#include "snapshot/policy.h"

#include <gtest/gtest.h>

#include <set>

namespace savepoint::snapshot {
namespace {

constexpr uint64_t kSec = 1'000'000, kHour = 3600 * kSec, kDay = 24 * kHour;

TEST(SavePoints, RedisSemantics) {
  const std::vector<SavePoint> points = {{900, 1}, {300, 10}, {60, 10000}};
  EXPECT_FALSE(DueSavePoint(points, 59 * kSec, 1'000'000).has_value());
  EXPECT_EQ(DueSavePoint(points, 60 * kSec, 10000)->seconds, 60u);
  EXPECT_FALSE(DueSavePoint(points, 299 * kSec, 9999).has_value());
  EXPECT_EQ(DueSavePoint(points, 300 * kSec, 10)->seconds, 300u);
  EXPECT_FALSE(DueSavePoint(points, 899 * kSec, 9).has_value());
  EXPECT_EQ(DueSavePoint(points, 900 * kSec, 1)->seconds, 900u);
  EXPECT_FALSE(DueSavePoint(points, 100000 * kSec, 0).has_value());  // nothing changed: nothing to save
  EXPECT_FALSE(DueSavePoint({}, 100000 * kSec, 100).has_value());
  EXPECT_TRUE(DueSavePoint({{0, 0}}, 0, 1).has_value());
}

TEST(Retention, KeepLast) {
  std::vector<SnapshotFile> files;
  for (int i = 0; i < 6; i++) files.push_back({"s" + std::to_string(i), 1000 + static_cast<uint64_t>(i)});
  EXPECT_EQ(SnapshotsToDelete(files, {3, 0, 0}), (std::vector<std::string>{"s0", "s1", "s2"}));
  EXPECT_TRUE(SnapshotsToDelete(files, {0, 0, 0}).empty());  // keep everything
  EXPECT_TRUE(SnapshotsToDelete(files, {10, 0, 0}).empty());
  EXPECT_EQ(SnapshotsToDelete(files, {1, 0, 0}).size(), 5u);
}

TEST(Retention, HourlyAndDailyKeepTheNewestOfEachBucket) {
  std::vector<SnapshotFile> files;
  // Two snapshots an hour for 5 hours, on two days.
  const uint64_t t0 = 10 * kDay;
  for (int h = 0; h < 5; h++) {
    files.push_back({"h" + std::to_string(h) + "a", t0 + h * kHour + 10 * kSec});
    files.push_back({"h" + std::to_string(h) + "b", t0 + h * kHour + 20 * kSec});
  }
  files.push_back({"yesterday", t0 - kHour});
  auto del = SnapshotsToDelete(files, {1, 3, 2});
  std::set<std::string> deleted(del.begin(), del.end());
  // Kept: h4b (last, and hour 4), h3b, h2b (hours 3, 2), yesterday (the other day).
  for (const char* kept : {"h4b", "h3b", "h2b", "yesterday"}) EXPECT_EQ(deleted.count(kept), 0u) << kept;
  for (const char* gone : {"h4a", "h3a", "h2a", "h1a", "h1b", "h0a", "h0b"}) EXPECT_EQ(deleted.count(gone), 1u) << gone;
  // Oldest first.
  EXPECT_EQ(del.front(), "h0a");
}

}  // namespace
}  // namespace savepoint::snapshot
