#include "savepoint/crash_simulator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

class CrashSimulatorTest : public ::testing::Test {
 protected:
  void TearDown() override { DisarmAllCrashPoints(); }

  // Relaxed commits are never fdatasync'd on their own during a test: only a sync commit makes them durable.
  Options Opts() {
    Options o = sim_.options();
    o.clock = &clock_;
    o.sync_interval = std::chrono::hours(1);
    return o;
  }
  void Open() {
    auto e = sim_.open(Opts());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    auto ks = engine_->create_keyspace("inventory");
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    inv_ = *ks;
  }
  Status Put(std::string_view key, std::string_view value, Durability d) {
    Transaction t(d);
    t.put(inv_, key, value);
    return engine_->commit(t).status();
  }
  std::optional<std::string> Get(std::string_view key) {
    auto e = engine_->get(inv_, key);
    if (e.status().IsNotFound()) return std::nullopt;
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::optional<std::string>(e->value->bytes) : std::nullopt;
  }
  // Waits until the WAL writer has handed `bytes` more to the (simulated) OS than `before`: relaxed commits
  // return before their bytes are written, and a test about unsynced bytes needs them written.
  void WaitWalBytes(uint64_t before, uint64_t bytes = 1) {
    for (int i = 0; i < 20000 && engine_->stats().wal_bytes < before + bytes; i++) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ASSERT_GE(engine_->stats().wal_bytes, before + bytes);
  }
  void Cut(const PowerCutOptions& how = {}) {
    inv_ = nullptr;
    ASSERT_TRUE(sim_.cut_power(engine_, how).ok());
    ASSERT_EQ(engine_, nullptr);
  }

  test::ScratchDir dir_;
  CrashSimulator sim_{dir_.path() + "/data"};
  ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  Keyspace* inv_ = nullptr;
};

TEST_F(CrashSimulatorTest, RelaxedCommitsAreLostAtACutSyncOnesKept) {
  Open();
  ASSERT_TRUE(Put("sword", "1", Durability::kSync).ok());
  const uint64_t before = engine_->stats().wal_bytes;
  ASSERT_TRUE(Put("shield", "1", Durability::kRelaxed).ok());
  WaitWalBytes(before);  // written, never synced
  EXPECT_EQ(Get("shield"), "1");
  Cut();
  Open();
  EXPECT_EQ(Get("sword"), "1") << "an acknowledged sync commit was lost";
  EXPECT_EQ(Get("shield"), std::nullopt) << "an unsynced relaxed commit survived a power cut";
}

TEST_F(CrashSimulatorTest, ASyncCommitMakesEarlierRelaxedCommitsDurable) {
  Open();
  ASSERT_TRUE(Put("bow", "1", Durability::kRelaxed).ok());
  ASSERT_TRUE(Put("arrow", "20", Durability::kSync).ok());
  Cut();
  Open();
  EXPECT_EQ(Get("bow"), "1");
  EXPECT_EQ(Get("arrow"), "20");
}

TEST_F(CrashSimulatorTest, CrashAtAPointBeforeTheFsyncLosesTheUnacknowledgedCommit) {
  Open();
  ASSERT_TRUE(Put("a", "1", Durability::kSync).ok());
  ASSERT_TRUE(sim_.crash_at("wal.after_write_before_sync").ok());
  Status s = Put("b", "2", Durability::kSync);
  EXPECT_FALSE(s.ok()) << "a sync commit was acknowledged although the power went off before its fsync";
  EXPECT_TRUE(sim_.crash_point_reached());
  EXPECT_FALSE(Put("c", "3", Durability::kSync).ok()) << "the engine wrote on after the power cut";
  Cut();
  Open();
  EXPECT_EQ(Get("a"), "1");
  EXPECT_EQ(Get("b"), std::nullopt);
  EXPECT_EQ(Get("c"), std::nullopt);
  ASSERT_TRUE(Put("d", "4", Durability::kSync).ok()) << "the recovered engine does not commit";
}

TEST_F(CrashSimulatorTest, CrashAfterTheFsyncKeepsTheCommitAcknowledgedOrNot) {
  Open();
  ASSERT_TRUE(sim_.crash_at("wal.after_sync_before_ack").ok());
  (void)Put("a", "1", Durability::kSync);  // durable either way; whether it is acknowledged does not matter
  EXPECT_TRUE(sim_.crash_point_reached());
  Cut();
  Open();
  EXPECT_EQ(Get("a"), "1") << "a commit that reached the disk was lost";
}

TEST_F(CrashSimulatorTest, CrashDuringRecoveryThenRecoverAgain) {
  Open();
  ASSERT_TRUE(Put("a", "1", Durability::kSync).ok());
  const uint64_t before = engine_->stats().wal_bytes;
  ASSERT_TRUE(Put("b", std::string(500, 'x'), Durability::kRelaxed).ok());
  WaitWalBytes(before);
  PowerCutOptions torn;
  torn.tear_last_write_at = 7;  // the relaxed record survives as 7 bytes: a torn tail
  Cut(torn);

  ASSERT_TRUE(sim_.crash_at("wal.before_tail_truncate").ok());
  auto failed = sim_.open(Opts());
  EXPECT_FALSE(failed.ok()) << "the open went through the crash point";
  EXPECT_TRUE(sim_.crash_point_reached());
  std::unique_ptr<Engine> none;
  ASSERT_TRUE(sim_.cut_power(none).ok());

  Open();
  EXPECT_EQ(Get("a"), "1");
  EXPECT_EQ(Get("b"), std::nullopt);
  ASSERT_TRUE(Put("c", "3", Durability::kSync).ok());
}

TEST_F(CrashSimulatorTest, RandomPrefixCutsKeepAPrefixOfTheRelaxedCommits) {
  for (uint64_t seed = 1; seed <= 6; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Open();
    const std::string p = "s" + std::to_string(seed) + ":";
    const uint64_t before = engine_->stats().wal_bytes;
    for (int i = 0; i < 40; i++)
      ASSERT_TRUE(Put(p + std::to_string(i), std::string(100, 'v'), Durability::kRelaxed).ok());
    WaitWalBytes(before, 40 * 100);
    PowerCutOptions how;
    how.unsynced =
        seed % 2 ? PowerCutOptions::Unsynced::kKeepRandomPrefix : PowerCutOptions::Unsynced::kZeroFill;
    how.seed = seed;
    Cut(how);
    Open();
    int present = 0;
    for (int i = 0; i < 40; i++) {
      if (Get(p + std::to_string(i)).has_value()) {
        ASSERT_EQ(present, i) << "commit " << i << " survived but an earlier one was lost";
        present++;
      }
    }
    ASSERT_TRUE(Put("sync" + std::to_string(seed), "1", Durability::kSync).ok());
    Cut();
  }
}

TEST_F(CrashSimulatorTest, RefusesUnknownPointsAndForeignEngines) {
  EXPECT_TRUE(sim_.crash_at("wal.no_such_step").IsInvalidArgument());
  auto foreign = Engine::open(sim_.options());
  ASSERT_TRUE(foreign.ok()) << foreign.status().ToString();
  EXPECT_TRUE(sim_.cut_power(*foreign).IsInvalidArgument());
  ASSERT_NE(*foreign, nullptr) << "a refused cut must leave the engine alone";
  EXPECT_TRUE((*foreign)->close().ok());
  Options other = sim_.options();
  other.file_system = FileSystem::Default();
  EXPECT_TRUE(sim_.open(other).status().IsInvalidArgument());
}

// Found by savepoint_crashtest (powercut mode, disk full). A commit the WAL refuses (NoSpace: "nothing
// applied") has already marked its coalesced keys and prefix removals dirty in EngineImpl::publish(); the
// next coalescing then logs a prefix removal that never happened, so keys the running engine still shows
// are gone after a restart. No crash is needed: a clean close coalesces and shows it.
// Disabled until engine/engine_write.cc is fixed (the dirty marks must be taken only after the append
// succeeds); run with --gtest_also_run_disabled_tests to see it fail.
TEST_F(CrashSimulatorTest, DiskFullRefusedCommitDoesNotLogItsCoalescedPrefixRemovalLater) {
  Open();
  KeyspaceOptions co;
  co.persistence = Persistence::kCoalesced;
  co.coalesce_interval = std::chrono::hours(1);
  auto positions = engine_->create_keyspace("positions", co);
  ASSERT_TRUE(positions.ok());
  {
    Transaction t;
    t.put(*positions, "k1", "a");
    ASSERT_TRUE(engine_->commit(t).ok());
  }
  // Logged by the close; after the reopen k1 is not dirty, so no later coalescing writes it again.
  inv_ = nullptr;
  ASSERT_TRUE(engine_->close().ok());
  engine_.reset();
  Open();
  positions = engine_->create_keyspace("positions", co);
  ASSERT_TRUE(positions.ok());
  ASSERT_TRUE(engine_->get(*positions, "k1").ok());
  // The disk fills: the first relaxed commit is kept in memory, later ones are refused.
  sim_.file_system().set_space_limit(1);
  Status refused;
  for (int i = 0; i < 2000 && !refused.IsNoSpace(); i++) {
    refused = Put("w" + std::to_string(i), "1", Durability::kRelaxed);
    if (refused.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(refused.IsNoSpace()) << refused.ToString();
  {
    Transaction t;
    t.put(inv_, "x", "1");
    t.remove_prefix(*positions, "k");
    ASSERT_TRUE(engine_->commit(t).status().IsNoSpace());
  }
  ASSERT_TRUE(engine_->get(*positions, "k1").ok()) << "the refused commit changed the running engine";
  sim_.file_system().clear_faults();
  Status s;
  for (int i = 0; i < 4000; i++) {
    s = Put("after", "1", Durability::kSync);
    if (!s.IsNoSpace()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  inv_ = nullptr;
  ASSERT_TRUE(engine_->close().ok());
  engine_.reset();

  Open();
  positions = engine_->create_keyspace("positions", co);
  ASSERT_TRUE(positions.ok());
  auto k1 = engine_->get(*positions, "k1");
  EXPECT_TRUE(k1.ok()) << "positions[k1] was removed by a prefix removal whose commit was refused: "
                       << k1.status().ToString();
}

}  // namespace
}  // namespace savepoint
