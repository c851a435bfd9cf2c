// Engine snapshots (docs/pitr.md): SAVE / BGSAVE / LASTSAVE, one save at a time, save points on the engine
// clock, failures and stop-writes, retention, the archive copy, and RestoreSnapshot building a directory
// that opens at the snapshot's LSN. Crash points and PITR are in tests/pitr_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine/effects.h"
#include "engine/snapshot_catalog.h"
#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/recovery.h"
#include "snapshot/snapshot_reader.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

namespace fs = std::filesystem;
using State = std::map<std::string, std::string>;

class SnapshotEngineTest : public ::testing::Test {
 protected:
  void TearDown() override { DisarmAllCrashPoints(); }
  Options MakeOptions(const std::string& name = "data") {
    Options o;
    o.data_dir = dir_.path() + "/" + name;
    o.clock = &clock_;
    o.ttl_sweep_interval = std::chrono::milliseconds(5);
    return o;
  }
  std::unique_ptr<Engine> Open(const Options& o) {
    auto e = Engine::open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  static State Read(Engine* e, Keyspace* ks) {
    State s;
    EXPECT_TRUE(e->scan(ks, "", "", [&](std::string_view k, const Entry& en) {
                   s[std::string(k)] = en.value->bytes;
                   return true;
                 }).ok());
    return s;
  }
  static void Put(Engine* e, Keyspace* ks, const std::string& k, const std::string& v, uint64_t expire = 0) {
    Transaction t;
    t.put(ks, k, v, expire);
    ASSERT_TRUE(e->commit(t).ok());
  }
  // Rows of one keyspace of a snapshot file, decoded (value bytes only).
  static State SnapshotRows(const std::string& path, const std::string& keyspace) {
    State out;
    auto r = snapshot::SnapshotReader::Open(FileSystem::Default(), path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    engine::SnapshotCatalog catalog;
    EXPECT_TRUE(engine::DecodeSnapshotCatalog((*r)->header().catalog, &catalog).ok());
    uint32_t id = 0;
    for (const auto& def : catalog.keyspaces) {
      if (def.name == keyspace) id = def.id;
    }
    if (id == 0) return out;  // not created yet at the snapshot's LSN
    EXPECT_TRUE((*r)->read_all([&](const snapshot::SectionInfo& s, std::string_view k, std::string_view v) {
                      if (s.keyspace_id != id) return Status::OK();
                      uint64_t expire = 0;
                      std::string_view bytes;
                      SP_RETURN_IF_ERROR(engine::DecodeRow(v, &expire, &bytes));
                      out[std::string(k)] = std::string(bytes);
                      return Status::OK();
                    })
                    .ok());
    return out;
  }

  test::ScratchDir dir_;
  ManualClock clock_{1'700'000'000'000'000ULL};
};

TEST_F(SnapshotEngineTest, SaveThenRestoreGivesTheSameDirectory) {
  const Options o = MakeOptions();
  SnapshotInfo info;
  const uint64_t far = clock_.now_micros() + 3'600'000'000ULL;
  {
    auto e = Open(o);
    KeyspaceOptions coalesced, vol;
    coalesced.persistence = Persistence::kCoalesced;
    coalesced.coalesce_interval = std::chrono::hours(1);
    vol.persistence = Persistence::kVolatile;
    auto d = *e->create_keyspace("inventory");
    auto c = *e->create_keyspace("positions", coalesced);
    auto v = *e->create_keyspace("sessions", vol);
    auto gone = *e->create_keyspace("dropped");
    Put(e.get(), gone, "x", "y");
    ASSERT_TRUE(e->drop_keyspace("dropped").ok());
    for (int i = 0; i < 500; i++) Put(e.get(), d, "item:" + std::to_string(i), std::string(50, 'a' + i % 26));
    Put(e.get(), d, "buff", "haste", far);  // a TTL survives the snapshot
    Put(e.get(), c, "p1", "10,20");
    Put(e.get(), v, "s1", "token");
    ASSERT_TRUE(e->close().ok());  // logs the coalesced keyspace
    e = Open(o);
    ASSERT_TRUE(e->wait_materialized().ok());
    EXPECT_EQ(e->last_save().lsn, 0u);
    EXPECT_TRUE(e->last_save().path.empty());
    auto saved = e->save();
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    info = *saved;
    EXPECT_EQ(info.lsn, e->stats().applied_lsn);
    EXPECT_EQ(info.rows, 502u);
    EXPECT_TRUE(fs::exists(info.path)) << info.path;
    EXPECT_EQ(fs::path(info.path).parent_path(), fs::path(o.data_dir + "/snapshots"));
    EXPECT_EQ(e->last_save().lsn, info.lsn);
    EXPECT_EQ(e->last_save().path, info.path);
    const Stats st = e->stats();
    EXPECT_EQ(st.snapshots_ok, 1u);
    EXPECT_EQ(st.last_snapshot_lsn, info.lsn);
    EXPECT_EQ(st.changes_since_save, 0u);
    ASSERT_TRUE(e->close().ok());
  }
  const std::string restored = dir_.path() + "/restored";
  auto r = RestoreSnapshot(info.path, restored);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->lsn, info.lsn);
  EXPECT_EQ(r->rows, 502u);
  auto a = Open(o);
  auto b = Open(MakeOptions("restored"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->stats().applied_lsn, info.lsn);
  EXPECT_EQ(b->stats().last_lsn, info.lsn);  // nothing to replay, nothing new
  for (const char* name : {"inventory", "positions", "sessions"}) {
    auto ka = a->find_keyspace(name);
    auto kb = b->find_keyspace(name);
    ASSERT_TRUE(ka.ok() && kb.ok()) << name;
    if (std::string(name) == "sessions") {
      EXPECT_TRUE(Read(b.get(), *kb).empty());  // volatile: in the catalog, never in a snapshot
    } else {
      EXPECT_EQ(Read(a.get(), *ka), Read(b.get(), *kb)) << name;
    }
  }
  EXPECT_TRUE(b->find_keyspace("dropped").status().IsNotFound());
  auto buff = b->get(*b->find_keyspace("inventory"), "buff");
  ASSERT_TRUE(buff.ok());
  EXPECT_EQ(buff->expire_at_micros, far);
  // The restored directory goes on: commits continue after the snapshot's LSN, keyspace ids are not reused.
  auto inv = *b->find_keyspace("inventory");
  Put(b.get(), inv, "new", "row");
  EXPECT_EQ(b->stats().last_lsn, info.lsn + 1);
  auto fresh = b->create_keyspace("fresh");
  ASSERT_TRUE(fresh.ok());
  uint32_t max_id = 0;
  for (const auto& k : a->keyspaces()) max_id = std::max(max_id, k.id);
  for (const auto& k : b->keyspaces()) {
    if (k.name == "fresh") EXPECT_GT(k.id, max_id + 1);  // above "dropped" too
  }
  ASSERT_TRUE(b->close().ok());
  b = Open(MakeOptions("restored"));
  auto row = b->get(*b->find_keyspace("inventory"), "new");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->value->bytes, "row");
}

TEST_F(SnapshotEngineTest, RestoreRefusesANonEmptyDirectoryAndADamagedFile) {
  auto e = Open(MakeOptions());
  auto ks = *e->create_keyspace("kv");
  for (int i = 0; i < 2000; i++) Put(e.get(), ks, "k" + std::to_string(i), std::string(40, 'x'));
  ASSERT_TRUE(e->wait_materialized().ok());
  auto info = e->save();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(e->close().ok());

  fs::create_directories(dir_.path() + "/busy");
  std::ofstream(dir_.path() + "/busy/something") << "x";
  auto r = RestoreSnapshot(info->path, dir_.path() + "/busy");
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("not empty"), std::string::npos);

  // A bit flip in the middle of the data: Corruption with the offset, and the destination stays empty.
  std::string bytes;
  ASSERT_TRUE(FileSystem::Default()->read_file(info->path, &bytes).ok());
  bytes[bytes.size() / 2] ^= 0x20;
  const std::string bad = dir_.path() + "/bad.snap";
  std::ofstream(bad, std::ios::binary) << bytes;
  const std::string dest = dir_.path() + "/dest";
  fs::create_directories(dest);
  r = RestoreSnapshot(bad, dest);
  ASSERT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("at offset "), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(fs::is_empty(dest));
  // Truncated: the same.
  std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 100);
  r = RestoreSnapshot(bad, dir_.path() + "/dest2");
  ASSERT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_FALSE(fs::exists(dir_.path() + "/dest2"));
}

// A latch for crash-point actions: the background save stops at a point until the test lets it go.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false, open = false;
  void arrive_and_wait() {
    std::unique_lock<std::mutex> l(mu);
    reached = true;
    cv.notify_all();
    cv.wait(l, [&] { return open; });
  }
  void wait_reached() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return reached; });
  }
  void release() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
};

TEST_F(SnapshotEngineTest, BackgroundSaveReturnsAtOnceOneAtATime) {
  auto e = Open(MakeOptions());
  auto ks = *e->create_keyspace("kv");
  for (int i = 0; i < 100; i++) Put(e.get(), ks, "k" + std::to_string(i), "v");
  ASSERT_TRUE(e->wait_materialized().ok());
  const uint64_t applied = e->stats().applied_lsn;
  Gate gate;
  ArmCrashPoint("snapshot.before_rename", 0, [&](std::string_view) { gate.arrive_and_wait(); });
  auto h = e->snapshot();
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)->lsn(), applied);
  EXPECT_EQ((*h)->timeline(), 1u);
  gate.wait_reached();  // the file is written, not yet renamed: the save is in progress
  EXPECT_FALSE((*h)->done());
  EXPECT_TRUE(e->stats().snapshot_in_progress);
  // Commits go on while it runs.
  Put(e.get(), ks, "during", "save");
  auto second = e->snapshot();
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  EXPECT_TRUE(e->save().status().IsBusy());
  EXPECT_EQ(e->last_save().lsn, 0u);  // LASTSAVE moves only when a save succeeds
  gate.release();
  auto info = (*h)->wait();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE((*h)->done());
  EXPECT_EQ(info->lsn, applied);
  EXPECT_EQ(info->rows, 100u);
  EXPECT_EQ(SnapshotRows(info->path, "kv").count("during"), 0u);  // after its LSN
  EXPECT_EQ(e->last_save().lsn, applied);
  // The slot is free again.
  ASSERT_TRUE(e->wait_materialized().ok());
  auto next = e->save();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_GT(next->lsn, applied);
  EXPECT_EQ(SnapshotRows(next->path, "kv").at("during"), "save");
}

// The file of a background save holds exactly the state at its LSN, while commits keep changing the keys.
TEST_F(SnapshotEngineTest, SnapshotUnderConcurrentCommitsEqualsTheStateAtItsLsn) {
  const uint64_t seed = test::TestSeed();
  Options o = MakeOptions();
  o.snapshot_keep_last = 0;
  o.snapshot_block_size = 64;  // many blocks, and a fresh RocksDB iterator every 4 KiB of rows
  o.sync_interval = std::chrono::milliseconds(1);  // the materializer follows closely
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  std::mutex mu;
  std::map<uint64_t, std::pair<std::string, std::optional<std::string>>> log;  // lsn -> key, value
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> commits{0};
  std::thread writer([&] {
    std::mt19937_64 rng(seed);
    while (!stop) {
      const std::string key = "k" + std::to_string(rng() % 300);
      Transaction t;
      std::optional<std::string> value;
      if (rng() % 5 == 0) {
        t.remove(ks, key);
      } else {
        value = std::to_string(rng());
        t.put(ks, key, *value);
      }
      auto c = e->commit(t);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      if (c->lsn != 0) {
        std::lock_guard<std::mutex> l(mu);
        log[c->lsn] = {key, value};
      }
      commits++;
    }
  });
  std::vector<SnapshotInfo> saves;
  uint64_t last_lsn = 0;
  for (int i = 0; i < 6; i++) {
    while (e->stats().applied_lsn < last_lsn + 200) std::this_thread::yield();
    clock_.advance_micros(1000);  // distinct creation times
    // Hold the save between its RocksDB snapshot and its first read until the materializer has moved
    // RocksDB well past the snapshot's LSN: the file must still show the state at its LSN.
    Gate gate;
    ArmCrashPoint("snapshot.before_write", 0, [&](std::string_view) { gate.arrive_and_wait(); });
    auto h = e->snapshot();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    gate.wait_reached();
    while (e->stats().applied_lsn < (*h)->lsn() + 200) std::this_thread::yield();
    gate.release();
    auto info = (*h)->wait();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    saves.push_back(*info);
    last_lsn = info->lsn;
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(e->close().ok());
  for (const SnapshotInfo& s : saves) {
    State model;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& [lsn, kv] : log) {
        if (lsn > s.lsn) break;
        if (kv.second) {
          model[kv.first] = *kv.second;
        } else {
          model.erase(kv.first);
        }
      }
    }
    EXPECT_GE(model.size(), 50u);
    EXPECT_EQ(SnapshotRows(s.path, "kv"), model) << "snapshot at LSN " << s.lsn << " (seed " << seed << ")";
  }
}

// Save points run on the engine clock: "60 3" saves once 60 s passed and 3 changes were made, not before.
TEST_F(SnapshotEngineTest, SavePointsFollowTheEngineClock) {
  Options o = MakeOptions();
  o.save_points = {{std::chrono::seconds(60), 3}};
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  Put(e.get(), ks, "a", "1");
  Put(e.get(), ks, "b", "2");
  clock_.advance_micros(61'000'000);
  ASSERT_TRUE(e->wait_materialized().ok());
  // Two changes only: no save may start, however long we look (a wrong one shows up as a save here).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(e->stats().snapshots_ok + e->stats().snapshots_failed, 0u);
  EXPECT_EQ(e->stats().changes_since_save, 2u);
  Transaction t;
  t.put(ks, "c", "3");
  auto third = e->commit(t);
  ASSERT_TRUE(third.ok());
  for (int i = 0; i < 6000 && e->stats().snapshots_ok == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const Stats st = e->stats();
  ASSERT_EQ(st.snapshots_ok, 1u) << "the save point did not fire";
  EXPECT_GE(e->last_save().lsn, third->lsn - 1);
  // The save covers its LSN; a change it did not reach (still being materialised) stays unsaved.
  EXPECT_EQ(st.changes_since_save, third->lsn - e->last_save().lsn);
  EXPECT_EQ(e->last_save().finished_micros, clock_.now_micros());
}

TEST_F(SnapshotEngineTest, FailedBackgroundSaveIsReportedAndCanStopWrites) {
  FaultInjectionFileSystem fsi(FileSystem::Default());
  Options o = MakeOptions();
  o.file_system = &fsi;
  o.stop_writes_on_bgsave_error = true;
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  Put(e.get(), ks, "a", "1");
  ASSERT_TRUE(e->wait_materialized().ok());
  fsi.fail_next(FaultOp::kRename, FaultError::kEIO, 0, 1, "/snapshots/");  // the save's rename
  auto h = e->snapshot();
  ASSERT_TRUE(h.ok());
  auto r = (*h)->wait();
  ASSERT_FALSE(r.ok());
  Stats st = e->stats();
  EXPECT_EQ(st.snapshots_failed, 1u);
  EXPECT_EQ(st.snapshots_ok, 0u);
  EXPECT_NE(st.last_snapshot_error.find("rename"), std::string::npos) << st.last_snapshot_error;
  EXPECT_TRUE(st.writes_refused);
  EXPECT_EQ(e->last_save().lsn, 0u);
  EXPECT_TRUE(fs::is_empty(o.data_dir + "/snapshots"));  // no temp file, no final file
  Transaction t;
  t.put(ks, "b", "2");
  auto refused = e->commit(t);
  ASSERT_TRUE(refused.status().IsIOError()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("stop_writes_on_bgsave_error"), std::string::npos);
  EXPECT_NE(e->stats_json().find("\"writes_refused\":true"), std::string::npos);
  // A successful save lifts the refusal.
  auto ok = e->save();
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(e->commit(t).ok());
  st = e->stats();
  EXPECT_FALSE(st.writes_refused);
  EXPECT_TRUE(st.last_snapshot_error.empty());
  EXPECT_NE(e->stats_prometheus().find("savepoint_snapshots_total{result=\"failed\"} 1"), std::string::npos);
}

TEST_F(SnapshotEngineTest, RetentionKeepsTheNewestAndTheArchiveKeepsAll) {
  Options o = MakeOptions();
  o.archive_dir = dir_.path() + "/archive";
  o.snapshot_keep_last = 2;
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  std::vector<SnapshotInfo> saves;
  for (int i = 0; i < 5; i++) {
    Put(e.get(), ks, "k", std::to_string(i));
    ASSERT_TRUE(e->wait_materialized().ok());
    clock_.advance_micros(1'000'000);
    auto s = e->save();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    saves.push_back(*s);
  }
  for (size_t i = 0; i < saves.size(); i++) {
    EXPECT_EQ(fs::exists(saves[i].path), i >= 3) << i;
    EXPECT_TRUE(fs::exists(o.archive_dir + "/snapshots/" + fs::path(saves[i].path).filename().string())) << i;
  }
  // Saving again at the same LSN is the same file: success, nothing rewritten.
  auto again = e->save();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->path, saves.back().path);
  EXPECT_EQ(again->rows, 1u);
}

// close() during a background save: whatever the save had done, nothing half-written stays.
TEST_F(SnapshotEngineTest, CloseDuringABackgroundSaveLeavesNoTempFile) {
  Options o = MakeOptions();
  o.snapshot_block_size = 1024;
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  for (int i = 0; i < 20; i++) {
    Transaction t;
    for (int j = 0; j < 1000; j++) t.put(ks, "k" + std::to_string(i * 1000 + j), std::string(100, 'v'));
    ASSERT_TRUE(e->commit(t).ok());
  }
  ASSERT_TRUE(e->wait_materialized().ok());
  auto h = e->snapshot();
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(e->close().ok());
  auto r = (*h)->wait();  // the handle outlives the engine's threads
  for (const auto& entry : fs::directory_iterator(o.data_dir + "/snapshots")) {
    EXPECT_EQ(entry.path().extension(), ".snap") << entry.path();
    auto reader = snapshot::SnapshotReader::Open(FileSystem::Default(), entry.path().string());
    ASSERT_TRUE(reader.ok());
    EXPECT_TRUE((*reader)->verify().ok());
  }
  if (!r.ok()) EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(e->stats().snapshots_failed, 0u);  // a cancelled save is not a failure
}

}  // namespace
}  // namespace savepoint
