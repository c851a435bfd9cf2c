// The torture driver's snapshot checks must report every broken snapshot they claim to catch (a damaged or
// misnamed file, a snapshot ahead of the recovered log, a snapshot whose data set breaks the workload's
// invariants) and accept good ones: a check that cannot fail finds nothing.
#include "tools/crashtest/checks.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "savepoint/clock.h"
#include "snapshot/format.h"
#include "tests/testutil.h"
#include "tools/crashtest/model.h"
#include "tools/crashtest/stress.h"

namespace savepoint::crashtest {
namespace {

namespace stdfs = std::filesystem;

class NullReporter final : public Reporter {
 public:
  void line(const std::string&) override {}
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A data set made by the workload, with the engine open on a clock frozen before every TTL it sets.
class SnapshotChecksTest : public ::testing::Test {
 protected:
  SnapshotChecksTest() : clock_(Clock::System()->now_micros()) {
    options_.data_dir = dir_.path() + "/data";
    options_.clock = &clock_;
    options_.rocksdb_block_cache_bytes = 8u << 20;
    options_.rocksdb_write_buffer_bytes = 4u << 20;
    options_.logger = std::make_shared<spdlog::logger>("checks-test-quiet");  // no sinks
    snapshot_dir_ = options_.data_dir + "/snapshots";
    scratch_ = dir_.path() + "/restored";
  }

  void SetUp() override {
    ASSERT_TRUE(CreateDataSet(options_).ok());
    Open();
  }
  void TearDown() override { Close(); }

  void Open() {
    auto e = Engine::open(options_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    auto h = OpenDataSet(engine_.get());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h_ = std::move(h).value();
  }
  void Close() {
    h_.reset();
    if (engine_ != nullptr) EXPECT_TRUE(engine_->close().ok());
    engine_.reset();
  }

  // Runs the seeded workload for `steps` steps (it takes snapshots of its own now and then).
  void Work(int steps) {
    auto stress = Stress::Start(engine_.get(), &*h_, test::TestSeed(), &reporter_);
    ASSERT_TRUE(stress.ok()) << stress.status().ToString();
    (*stress)->set_saves_must_succeed(true);
    for (int i = 0; i < steps; i++) ASSERT_TRUE((*stress)->step().ok());
  }

  // A synchronous save of everything committed so far (after a background save still running, if any).
  SnapshotInfo Save() {
    EXPECT_TRUE(engine_->wait_materialized().ok());
    for (;;) {
      auto info = engine_->save();
      if (info.status().IsBusy()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      EXPECT_TRUE(info.ok()) << info.status().ToString();
      return info.ok() ? *info : SnapshotInfo{};
    }
  }

  State LiveState() {
    auto st = ReadState(engine_.get(), *h_);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? *st : State{};
  }

  std::string Restore(const std::string& path, uint64_t recovered_lsn, RestoredSnapshot* out = nullptr) {
    RestoredSnapshot r;
    return CheckRestoredSnapshot(path, scratch_, &clock_, recovered_lsn, out != nullptr ? out : &r);
  }

  test::ScratchDir dir_;
  ManualClock clock_;
  Options options_;
  std::string snapshot_dir_, scratch_;
  NullReporter reporter_;
  std::unique_ptr<Engine> engine_;
  std::optional<Handles> h_;
};

TEST_F(SnapshotChecksTest, AcceptsTheSnapshotsOfTheWorkloadAndRestoresTheNewestToItsExactState) {
  Work(400);
  const SnapshotInfo info = Save();
  State live = LiveState();

  SnapshotFiles files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_);
  EXPECT_EQ(files.error, "");
  EXPECT_GE(files.verified, 1u);
  EXPECT_EQ(files.newest, info.path);
  EXPECT_EQ(files.newest_lsn, info.lsn);

  RestoredSnapshot r;
  ASSERT_EQ(Restore(info.path, info.lsn, &r), "");
  EXPECT_EQ(r.lsn, info.lsn);
  live.positions = r.state.positions;  // coalesced: the snapshot holds its last coalescing
  EXPECT_TRUE(r.state == live) << DescribeDiff(live, r.state) << DescribeGameDiff(live.game, r.state.game);
  EXPECT_FALSE(stdfs::exists(scratch_)) << "the scratch directory is removed after the check";
}

TEST_F(SnapshotChecksTest, ReportsAFlippedByteATruncationAndAMisnamedSnapshot) {
  Work(200);
  const SnapshotInfo info = Save();
  ASSERT_EQ(CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_).error, "");
  const std::string good = ReadBytes(info.path);
  ASSERT_GT(good.size(), 200u);

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  WriteBytes(info.path, flipped);
  SnapshotFiles files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_);
  EXPECT_NE(files.error.find(info.path), std::string::npos) << files.error;
  EXPECT_NE(files.error.find("Corruption"), std::string::npos) << files.error;
  EXPECT_NE(Restore(info.path, info.lsn), "") << "a damaged snapshot must not restore";

  WriteBytes(info.path, good.substr(0, good.size() - 1));
  files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_);
  EXPECT_NE(files.error.find(info.path), std::string::npos) << files.error;

  // A complete file under the name of another LSN.
  WriteBytes(info.path, good);
  const std::string misnamed =
      JoinPath(snapshot_dir_, snapshot::SnapshotFileName(info.timeline, info.lsn + 1000));
  WriteBytes(misnamed, good);
  files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_);
  EXPECT_NE(files.error.find("not what its name says"), std::string::npos) << files.error;
  stdfs::remove(misnamed);
  EXPECT_EQ(CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_).error, "");
}

TEST_F(SnapshotChecksTest, IgnoresTempFilesAndVerifiesAFileAgainOnlyWhenItChanged) {
  Work(100);
  const SnapshotInfo info = Save();
  const std::string temp = info.path + ".tmp";  // an interrupted save of the same LSN: half a file
  const std::string good = ReadBytes(info.path);
  WriteBytes(temp, good.substr(0, good.size() / 3));
  std::map<std::string, uint64_t> seen;
  SnapshotFiles files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_, &seen);
  EXPECT_EQ(files.error, "");
  ASSERT_EQ(files.temps.size(), 1u);
  EXPECT_EQ(files.temps[0], stdfs::path(temp).filename().string());
  EXPECT_EQ(files.newest, info.path);
  const uint64_t verified = files.verified;
  EXPECT_GE(verified, 1u);

  files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_, &seen);
  EXPECT_EQ(files.verified, 0u);
  EXPECT_EQ(files.skipped, verified);

  WriteBytes(info.path, good + "x");  // changed size: read again, and the trailer is no longer at the end
  files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_, &seen);
  EXPECT_NE(files.error.find(info.path), std::string::npos) << files.error;

  // The engine's next save removes the leftover.
  WriteBytes(info.path, good);
  Work(20);
  Save();
  files = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir_);
  EXPECT_EQ(files.error, "");
  EXPECT_TRUE(files.temps.empty());
}

TEST_F(SnapshotChecksTest, ReportsASnapshotAheadOfTheRecoveredLog) {
  Work(100);
  const SnapshotInfo info = Save();
  EXPECT_EQ(Restore(info.path, info.lsn), "");
  const std::string e = Restore(info.path, info.lsn - 1);
  EXPECT_NE(e.find("above the last LSN"), std::string::npos) << e;
}

TEST_F(SnapshotChecksTest, ReportsASnapshotThatBreaksConservationOfGold) {
  Work(100);
  Transaction txn(Durability::kSync);
  txn.put(h_->bank, "gold:0", "1");  // gold out of nowhere... or into nowhere
  ASSERT_TRUE(engine_->commit(txn).ok());
  const SnapshotInfo info = Save();
  const std::string e = Restore(info.path, info.lsn);
  EXPECT_NE(e.find("gold is not conserved"), std::string::npos) << e;
}

TEST_F(SnapshotChecksTest, ReportsASnapshotWhoseIndexDisagreesWithTheRows) {
  Work(300);
  ASSERT_FALSE(LiveState().chars.empty());
  // Remove one entry of the index by level behind the registry's back.
  auto iks = engine_->find_keyspace("characters.by_level");
  ASSERT_TRUE(iks.ok()) << iks.status().ToString();
  std::string first;
  Status scanned = engine_->scan(*iks, "", "", [&](std::string_view key, const Entry&) {
    first = std::string(key);
    return false;
  });
  ASSERT_TRUE(scanned.ok()) << scanned.ToString();
  ASSERT_FALSE(first.empty());
  Transaction txn(Durability::kSync);
  txn.remove(*iks, first);
  ASSERT_TRUE(engine_->commit(txn).ok());
  const SnapshotInfo info = Save();
  const std::string e = Restore(info.path, info.lsn);
  EXPECT_NE(e.find("by_level"), std::string::npos) << e;
}

TEST_F(SnapshotChecksTest, ReportsASnapshotWithoutTheDataSet) {
  // A snapshot of a directory that never had the data set: opening the data set on it must create keyspaces.
  Close();
  Options bare = options_;
  bare.data_dir = dir_.path() + "/bare";
  auto e = Engine::open(bare);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->create_keyspace("bank").ok());
  auto info = (*e)->save();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE((*e)->close().ok());
  const std::string err = Restore(info->path, info->lsn);
  EXPECT_NE(err.find("opening the data set on it"), std::string::npos) << err;
  Open();
}

}  // namespace
}  // namespace savepoint::crashtest
