// Point-in-time recovery (docs/pitr.md): the drill (every commit time, inclusive and exclusive, every LSN,
// every restore point, against a model), timelines (recovering again along the new and the old one),
// every refusal, and crashes while saving snapshots and archiving.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "engine/engine_impl.h"
#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/recovery.h"
#include "snapshot/snapshot_reader.h"
#include "tests/testutil.h"
#include "wal/archive.h"
#include "wal/timeline_history.h"

namespace savepoint {
namespace {

namespace fs = std::filesystem;
using State = std::map<std::string, std::string>;

constexpr uint64_t kT0 = 1'700'000'000'000'000ULL;

// One WAL record of the drill: a put, a delete or a restore point, with its LSN and commit time.
struct Rec {
  uint64_t lsn = 0;
  uint64_t micros = 0;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
  std::string restore_point;         // non-empty: a restore point (changes nothing)
};

State ModelAt(const std::vector<Rec>& recs, uint64_t end_lsn) {
  State s;
  for (const Rec& r : recs) {
    if (r.lsn > end_lsn) break;
    if (!r.restore_point.empty()) continue;
    if (r.value) {
      s[r.key] = *r.value;
    } else {
      s.erase(r.key);
    }
  }
  return s;
}

class PitrTest : public ::testing::Test {
 protected:
  void TearDown() override { DisarmAllCrashPoints(); }

  std::string archive() const { return dir_.path() + "/archive"; }
  Options MakeOptions(const std::string& name, FileSystem* fs = nullptr) {
    Options o;
    o.data_dir = dir_.path() + "/" + name;
    o.archive_dir = archive();
    o.file_system = fs;
    o.clock = &clock_;
    o.wal_segment_size = 4096;  // many segments
    o.sync_interval = std::chrono::milliseconds(2);
    o.ttl_sweep_interval = std::chrono::milliseconds(5);
    o.checkpoint_interval = std::chrono::hours(1);
    o.snapshot_keep_last = 1;  // the archive keeps every snapshot: PITR must not depend on local ones
    return o;
  }
  std::unique_ptr<Engine> Open(const Options& o) {
    auto e = Engine::open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  // Opens a recovered directory (without an archive, so that checking it adds nothing to the archive) and
  // reads keyspace "kv".
  State ReadRecovered(const std::string& dir, uint64_t* applied = nullptr) {
    Options o;
    o.data_dir = dir;
    o.clock = &clock_;
    auto e = Open(o);
    if (e == nullptr) return {{"<open failed>", ""}};
    State s;
    auto ks = e->find_keyspace("kv");
    if (!ks.ok()) return {{"<no kv>", ks.status().ToString()}};
    EXPECT_TRUE(e->scan(*ks, "", "", [&](std::string_view k, const Entry& en) {
                   s[std::string(k)] = en.value->bytes;
                   return true;
                 }).ok());
    if (applied != nullptr) *applied = e->stats().applied_lsn;
    EXPECT_TRUE(e->close().ok());
    return s;
  }
  std::string NewDir() { return dir_.path() + "/r" + std::to_string(next_dir_++); }

  Result<RecoveryPlan> RecoverTo(RecoverOptions r, std::string* into = nullptr) {
    r.archive_dir = archive();
    if (r.into_dir.empty()) r.into_dir = NewDir();
    r.clock = &clock_;
    if (into != nullptr) *into = r.into_dir;
    return Recover(r);
  }

  Rec Put(Engine* e, Keyspace* ks, uint64_t micros, const std::string& key, std::optional<std::string> value) {
    clock_.set_micros(micros);
    Transaction t(Durability::kSync);
    if (value) {
      t.put(ks, key, *value);
    } else {
      t.remove(ks, key);
    }
    auto c = e->commit(t);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c.ok() ? c->commit_micros : 0, micros);
    return Rec{c.ok() ? c->lsn : 0, micros, key, std::move(value), ""};
  }
  Rec RestorePoint(Engine* e, uint64_t micros, const std::string& name) {
    clock_.set_micros(micros);
    auto lsn = e->create_restore_point(name);
    EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
    return Rec{lsn.ok() ? *lsn : 0, micros, "", std::nullopt, name};
  }

  test::ScratchDir dir_;
  ManualClock clock_{kT0};
  int next_dir_ = 0;
};

// The drill of the issue: known timestamps (commits sharing a microsecond, commits one microsecond apart),
// restore points, two snapshots; recovery to every commit time inclusive and exclusive, every LSN inclusive
// and exclusive, every restore point; each result compared with the model at the expected end LSN.
TEST_F(PitrTest, DrillEveryTimeLsnAndName) {
  const uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  std::vector<Rec> recs;
  uint64_t snap0 = 0, snap1 = 0;
  {
    auto e = Open(MakeOptions("live"));
    clock_.set_micros(kT0);
    auto ks = *e->create_keyspace("kv");
    ASSERT_TRUE(e->wait_materialized().ok());
    auto s0 = e->save();
    ASSERT_TRUE(s0.ok()) << s0.status().ToString();
    snap0 = s0->lsn;
    uint64_t t = kT0 + 1000;
    for (int i = 0; i < 40; i++) {
      const int step = static_cast<int>(rng() % 4);  // 0: the same microsecond, 1: the next one, else a jump
      t += step == 0 ? 0 : step == 1 ? 1 : 1000 + rng() % 1000;
      const std::string key = "k" + std::to_string(rng() % 8);
      std::optional<std::string> value;
      if (rng() % 4 != 0) value = std::string(400 + rng() % 400, static_cast<char>('a' + i % 26));  // fills segments
      recs.push_back(Put(e.get(), ks, t, key, value));
      if (i == 12) recs.push_back(RestorePoint(e.get(), t, "before-boss"));
      if (i == 25) recs.push_back(RestorePoint(e.get(), ++t, "dup"));
      if (i == 33) recs.push_back(RestorePoint(e.get(), t, "dup"));  // the first "dup" is the target
      if (i == 20) {
        ASSERT_TRUE(e->wait_materialized().ok());
        auto s1 = e->save();
        ASSERT_TRUE(s1.ok()) << s1.status().ToString();
        snap1 = s1->lsn;
      }
    }
    // A commit well after every target, so that every target time is provably reached.
    recs.push_back(Put(e.get(), ks, t + 10'000'000, "tail", "x"));
    ASSERT_TRUE(e->close().ok());
  }
  ASSERT_GT(snap1, snap0);
  auto segs = wal::ListArchivedSegments(FileSystem::Default(), archive());
  ASSERT_TRUE(segs.ok());
  ASSERT_GT(segs->size(), 3u) << "the drill should span several archived segments";
  const uint64_t last_lsn = recs.back().lsn;

  auto check = [&](RecoverOptions r, uint64_t expected_end, const std::string& what) {
    r.timeline = 1;  // earlier recoveries of this drill add timelines; the drill stays on the first
    std::string into;
    auto plan = RecoverTo(r, &into);
    ASSERT_TRUE(plan.ok()) << what << ": " << plan.status().ToString() << " (seed " << seed << ")";
    EXPECT_EQ(plan->end_lsn, expected_end) << what;
    EXPECT_EQ(plan->snapshot_lsn, expected_end >= snap1 ? snap1 : snap0) << what;
    uint64_t applied = 0;
    EXPECT_EQ(ReadRecovered(into, &applied), ModelAt(recs, expected_end)) << what << " (seed " << seed << ")";
    EXPECT_EQ(applied, expected_end) << what;
  };

  std::set<uint64_t> times;
  for (const Rec& r : recs) times.insert(r.micros);
  for (uint64_t t : times) {
    uint64_t incl = snap0, excl = snap0;
    for (const Rec& r : recs) {
      if (r.micros <= t) incl = std::max(incl, r.lsn);
      if (r.micros < t) excl = std::max(excl, r.lsn);
    }
    RecoverOptions r;
    r.target_time_micros = t;
    if (t == recs.back().micros) {
      // Nothing archived after the last commit proves that no later commit shares its microsecond.
      EXPECT_TRUE(RecoverTo(r).status().IsNotFound());
    } else {
      check(r, incl, "time " + std::to_string(t) + " inclusive");
    }
    r.inclusive = false;
    check(r, excl, "time " + std::to_string(t) + " exclusive");
  }
  for (uint64_t lsn = snap0 + 1; lsn <= last_lsn; lsn += 2) {
    RecoverOptions r;
    r.target_lsn = lsn;
    check(r, lsn, "lsn " + std::to_string(lsn));
    r.inclusive = false;
    check(r, lsn - 1, "lsn " + std::to_string(lsn) + " exclusive");
  }
  for (const char* name : {"before-boss", "dup"}) {
    uint64_t at = 0;
    for (const Rec& r : recs) {
      if (r.restore_point == name && at == 0) at = r.lsn;
    }
    RecoverOptions r;
    r.target_name = name;
    check(r, at, std::string("name ") + name);
    r.inclusive = false;
    check(r, at - 1, std::string("name ") + name + " exclusive");
  }
  RecoverOptions latest;
  latest.target_latest = true;
  check(latest, segs->back().last_lsn, "latest");  // the close's checkpoint marker is the last record
  EXPECT_GE(segs->back().last_lsn, last_lsn);
}

// A recovered directory opens normally on a new timeline; recovering again follows the history files,
// along the new timeline or the old one.
TEST_F(PitrTest, TimelinesAreFollowedBothWays) {
  std::vector<Rec> tl1;
  uint64_t branch = 0;
  {
    auto e = Open(MakeOptions("live"));
    auto ks = *e->create_keyspace("kv");
    ASSERT_TRUE(e->wait_materialized().ok());
    ASSERT_TRUE(e->save().ok());
    for (int i = 0; i < 20; i++) {
      tl1.push_back(Put(e.get(), ks, kT0 + 1000 * (i + 1), "k" + std::to_string(i % 7), "tl1-" + std::to_string(i)));
      if (i == 9) {
        ASSERT_TRUE(e->wait_materialized().ok());
        ASSERT_TRUE(e->save().ok());
      }
    }
    branch = tl1[13].lsn;
    ASSERT_TRUE(e->close().ok());
  }
  // Branch: timeline 2 from LSN `branch` of timeline 1.
  std::string a;
  RecoverOptions r;
  r.target_lsn = branch;
  auto plan = RecoverTo(r, &a);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->new_timeline, 2u);
  EXPECT_EQ(plan->parent_timeline, 1u);
  EXPECT_EQ(plan->end_lsn, branch);
  auto histories = wal::ReadHistoryFiles(FileSystem::Default(), archive() + "/wal");
  ASSERT_TRUE(histories.ok());
  ASSERT_EQ(histories->count(2), 1u);
  EXPECT_EQ(histories->at(2).branches.at(0).parent, 1u);
  EXPECT_EQ(histories->at(2).branches.at(0).branch_lsn, branch);
  EXPECT_TRUE(fs::exists(a + "/wal/00000002.history"));

  // Life goes on on timeline 2, archived into the same archive, with a snapshot of its own.
  std::vector<Rec> tl2;
  uint64_t tl2_snapshot = 0;
  {
    Options o = MakeOptions("unused");
    o.data_dir = a;
    auto e = Open(o);
    auto ks = *e->find_keyspace("kv");
    EXPECT_EQ(e->stats().last_lsn, branch + 1);  // the timeline switch record
    for (int i = 0; i < 8; i++) {
      tl2.push_back(Put(e.get(), ks, kT0 + 100'000 + 1000 * i, "k" + std::to_string(i % 5), "tl2-" + std::to_string(i)));
      if (i == 4) {
        ASSERT_TRUE(e->wait_materialized().ok());
        auto s = e->save();
        ASSERT_TRUE(s.ok()) << s.status().ToString();
        EXPECT_EQ(s->timeline, 2u);
        tl2_snapshot = s->lsn;
      }
    }
    ASSERT_TRUE(e->close().ok());
  }
  State expected_tl2 = ModelAt(tl1, branch);
  for (const Rec& rec : tl2) expected_tl2[rec.key] = *rec.value;

  // Latest along the newest timeline (2): timeline 1 up to the branch, then timeline 2.
  std::string b;
  RecoverOptions latest;
  latest.target_latest = true;
  plan = RecoverTo(latest, &b);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->target_timeline, 2u);
  EXPECT_EQ(plan->snapshot_lsn, tl2_snapshot);
  EXPECT_EQ(plan->snapshot_timeline, 2u);
  EXPECT_EQ(plan->new_timeline, 3u);
  EXPECT_EQ(ReadRecovered(b), expected_tl2);

  // A point of timeline 2 before its own snapshot: from timeline 1's snapshot, through the branch.
  RecoverOptions mid;
  mid.timeline = 2;
  mid.target_lsn = tl2[2].lsn;
  std::string c;
  plan = RecoverTo(mid, &c);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->snapshot_timeline, 1u);
  ASSERT_EQ(plan->path.size(), 2u);
  EXPECT_EQ(plan->path[0].last_lsn, branch);
  EXPECT_EQ(plan->parent_timeline, 2u);
  State expected_mid = ModelAt(tl1, branch);
  for (int i = 0; i <= 2; i++) expected_mid[tl2[i].key] = *tl2[i].value;
  EXPECT_EQ(ReadRecovered(c), expected_mid);

  // The old timeline, past the branch point: its own later commits, timeline 2's snapshot skipped.
  RecoverOptions old;
  old.timeline = 1;
  old.target_latest = true;
  std::string d;
  plan = RecoverTo(old, &d);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_GE(plan->end_lsn, tl1.back().lsn);  // and the checkpoint marker of the close after it
  EXPECT_EQ(plan->snapshot_timeline, 1u);
  EXPECT_EQ(ReadRecovered(d), ModelAt(tl1, tl1.back().lsn));

  // Timeline 3 (recovered from 2, nothing archived of its own yet) leads through 2 and 1.
  RecoverOptions three;
  three.timeline = 3;
  three.target_latest = true;
  plan = RecoverTo(three);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->path.size(), 3u);
  EXPECT_GE(plan->end_lsn, tl2.back().lsn);

  // Only snapshots of a timeline that branched off before them: refused, naming the branch.
  for (const auto& entry : fs::directory_iterator(archive() + "/snapshots")) {
    auto h = snapshot::SnapshotReader::Open(FileSystem::Default(), entry.path().string());
    ASSERT_TRUE(h.ok());
    if ((*h)->header().timeline == 1) fs::remove(entry.path());
  }
  RecoverOptions off;
  off.timeline = 1;
  off.target_lsn = tl1.back().lsn;
  auto refused = RecoverTo(off);
  ASSERT_TRUE(refused.status().IsNotFound()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("branched from timeline 1 at LSN " + std::to_string(branch)),
            std::string::npos)
      << refused.status().ToString();
}

TEST_F(PitrTest, RefusalsAreClear) {
  std::vector<Rec> recs;
  uint64_t snap = 0;
  {
    auto e = Open(MakeOptions("live"));
    auto ks = *e->create_keyspace("kv");
    for (int i = 0; i < 5; i++) recs.push_back(Put(e.get(), ks, kT0 + 1000 * (i + 1), "a", std::to_string(i)));
    ASSERT_TRUE(e->wait_materialized().ok());
    auto s = e->save();
    ASSERT_TRUE(s.ok());
    snap = s->lsn;
    for (int i = 0; i < 60; i++) {
      recs.push_back(Put(e.get(), ks, kT0 + 10'000 + 1000 * i, "b" + std::to_string(i), std::string(300, 'z')));
    }
    recs.push_back(RestorePoint(e.get(), kT0 + 100'000, "here"));
    recs.push_back(Put(e.get(), ks, kT0 + 200'000, "c", "1"));
    ASSERT_TRUE(e->close().ok());
  }
  auto expect = [&](RecoverOptions r, Status::Code code, const std::string& words) {
    auto p = RecoverTo(r);
    ASSERT_FALSE(p.ok()) << words;
    EXPECT_EQ(p.status().code(), code) << p.status().ToString();
    EXPECT_NE(p.status().message().find(words), std::string::npos) << p.status().ToString();
  };
  RecoverOptions none;
  expect(none, Status::Code::kInvalidArgument, "exactly one target");
  RecoverOptions two;
  two.target_lsn = 10;
  two.target_name = "here";
  expect(two, Status::Code::kInvalidArgument, "2 given");
  RecoverOptions excl_latest;
  excl_latest.target_latest = true;
  excl_latest.inclusive = false;
  expect(excl_latest, Status::Code::kInvalidArgument, "latest");

  RecoverOptions busy;
  busy.target_latest = true;
  busy.into_dir = dir_.path() + "/live";
  expect(busy, Status::Code::kInvalidArgument, "not empty");

  auto archived = wal::ListArchivedSegments(FileSystem::Default(), archive());
  ASSERT_TRUE(archived.ok());
  RecoverOptions beyond;
  beyond.target_lsn = archived->back().last_lsn + 1;
  expect(beyond, Status::Code::kNotFound, "not reachable");
  RecoverOptions unknown;
  unknown.target_name = "nowhere";
  expect(unknown, Status::Code::kNotFound, "no restore point named \"nowhere\"");
  RecoverOptions late;
  late.target_time_micros = recs.back().micros;  // nothing archived after it proves it was reached
  expect(late, Status::Code::kNotFound, "not reachable");
  RecoverOptions early;
  early.target_lsn = snap - 1;
  expect(early, Status::Code::kNotFound, "before the oldest snapshot");
  RecoverOptions early_time;
  early_time.target_time_micros = recs[1].micros;
  expect(early_time, Status::Code::kNotFound, "before the oldest snapshot");
  RecoverOptions bad_tl;
  bad_tl.target_latest = true;
  bad_tl.timeline = 9;
  expect(bad_tl, Status::Code::kInvalidArgument, "timeline 9");
  RecoverOptions no_archive;
  no_archive.target_latest = true;
  no_archive.archive_dir = dir_.path() + "/nothing";
  no_archive.into_dir = NewDir();
  EXPECT_TRUE(Recover(no_archive).status().IsNotFound());

  // Dry run: the plan, and nothing written.
  RecoverOptions dry;
  dry.target_name = "here";
  dry.dry_run = true;
  std::string into;
  auto plan = RecoverTo(dry, &into);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->end_lsn, recs[recs.size() - 2].lsn);
  EXPECT_EQ(plan->snapshot_lsn, snap);
  EXPECT_EQ(plan->records_to_replay, plan->end_lsn - snap);
  EXPECT_FALSE(plan->segments.empty());
  EXPECT_EQ(plan->new_timeline, 2u);
  EXPECT_FALSE(fs::exists(into));
  EXPECT_FALSE(fs::exists(archive() + "/wal/00000002.history"));

  // A gap: one archived segment in the middle goes missing.
  auto segs = wal::ListArchivedSegments(FileSystem::Default(), archive());
  ASSERT_TRUE(segs.ok());
  ASSERT_GE(segs->size(), 4u);
  const wal::ArchivedSegment& victim = (*segs)[segs->size() / 2];
  ASSERT_GT(victim.first_lsn, snap);
  fs::remove(archive() + "/wal/" + victim.name);
  RecoverOptions across;
  across.target_latest = true;
  auto gap = RecoverTo(across);
  ASSERT_TRUE(gap.status().IsCorruption()) << gap.status().ToString();
  EXPECT_NE(gap.status().message().find("gap in the archived WAL: LSNs " + std::to_string(victim.first_lsn) + ".." +
                                        std::to_string(victim.last_lsn)),
            std::string::npos)
      << gap.status().ToString();
  // Before the gap is still fine.
  RecoverOptions before_gap;
  before_gap.target_lsn = victim.first_lsn - 1;
  std::string ok_dir;
  auto fine = RecoverTo(before_gap, &ok_dir);
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(ReadRecovered(ok_dir), ModelAt(recs, victim.first_lsn - 1));
}

// Power cuts at every step of a save: the previous snapshot stays loadable, no partial file under a final
// name, retention never took what was kept, and the next save works.
TEST_F(PitrTest, CrashWhileSavingKeepsThePreviousSnapshot) {
  for (const char* point : {"snapshot.before_write", "snapshot.after_temp_write", "snapshot.before_rename",
                            "snapshot.after_rename", "snapshot.copy_before_rename", "snapshot.before_retention"}) {
    SCOPED_TRACE(point);
    clock_.set_micros(kT0);
    auto mem = NewMemFileSystem();
    FaultInjectionFileSystem fsi(mem.get());
    Options o = MakeOptions(std::string("crash-") + point, &fsi);
    o.archive_dir = "/archive";
    o.snapshot_dir = "/snaps";
    State first_state;
    SnapshotInfo first;
    {
      auto e = Open(o);
      auto ks = *e->create_keyspace("kv");
      for (int i = 0; i < 50; i++) Put(e.get(), ks, kT0 + i + 1, "k" + std::to_string(i), "v1");
      ASSERT_TRUE(e->wait_materialized().ok());
      auto s = e->save();
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      first = *s;
      for (int i = 0; i < 50; i++) Put(e.get(), ks, kT0 + 100 + i, "k" + std::to_string(i), "v2");
      ASSERT_TRUE(e->wait_materialized().ok());
      ArmCrashPoint(point, 0, [&](std::string_view) { fsi.cut_power(); });
      auto second = e->save();
      DisarmAllCrashPoints();
      // After the file is durable (and copied), only retention is left: its failures are logged, the save
      // stands.
      if (std::string_view(point) != "snapshot.before_retention") EXPECT_FALSE(second.ok());
      static_cast<engine::EngineImpl*>(e.get())->abandon_for_crash_test();
    }
    ASSERT_TRUE(fsi.restart().ok());
    // Every file under a snapshot name, here and in the archive, is whole; the first one is there.
    for (const std::string dir : {"/snaps", "/archive/snapshots"}) {
      auto names = fsi.list_dir(dir);
      ASSERT_TRUE(names.ok()) << dir;
      bool has_first = false;
      for (const std::string& n : *names) {
        ASSERT_TRUE(n.ends_with(".snap") || n.ends_with(".tmp")) << n;
        if (!n.ends_with(".snap")) continue;
        auto r = snapshot::SnapshotReader::Open(&fsi, JoinPath(dir, n));
        ASSERT_TRUE(r.ok()) << n << ": " << r.status().ToString();
        EXPECT_TRUE((*r)->verify().ok()) << n;
        has_first |= n == fs::path(first.path).filename().string();
      }
      EXPECT_TRUE(has_first) << dir;
    }
    const std::string restored = NewDir();
    auto loaded = RestoreSnapshot(JoinPath("/snaps", fs::path(first.path).filename().string()), restored, &fsi);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    // The engine reopens and saves again; temp files go.
    auto e = Open(o);
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->wait_materialized().ok());
    auto again = e->save();
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    auto names = fsi.list_dir("/snaps");
    ASSERT_TRUE(names.ok());
    for (const std::string& n : *names) EXPECT_TRUE(n.ends_with(".snap")) << n;
    EXPECT_EQ(names->size(), 1u);  // keep_last 1
    ASSERT_TRUE(e->close().ok());
  }
}

// Power cuts while archiving segments: no partial file under a final name, archiving resumes after the
// restart, and every acknowledged sync commit is recoverable from the archive.
TEST_F(PitrTest, CrashWhileArchivingLosesNothing) {
  for (const char* point : {"archive.after_temp_write", "archive.after_temp_sync", "archive.after_rename"}) {
    SCOPED_TRACE(point);
    auto mem = NewMemFileSystem();
    FaultInjectionFileSystem fsi(mem.get());
    Options o = MakeOptions(std::string("arch-") + point, &fsi);
    o.archive_dir = "/archive";
    std::vector<Rec> recs;
    {
      auto e = Open(o);
      auto ks = *e->create_keyspace("kv");
      ASSERT_TRUE(e->wait_materialized().ok());
      ASSERT_TRUE(e->save().ok());
      ArmCrashPoint(point, 2, [&](std::string_view) { fsi.cut_power(); });
      for (int i = 0; i < 200 && !fsi.power_is_off(); i++) {
        Transaction t(Durability::kSync);
        const std::string v(300, static_cast<char>('a' + i % 26));
        t.put(ks, "k" + std::to_string(i % 40), v);
        auto c = e->commit(t);
        if (c.ok()) recs.push_back(Rec{c->lsn, 0, "k" + std::to_string(i % 40), v, ""});
      }
      // The maintenance thread archives: wait until the point fired (or give up: then it was never reached).
      for (int i = 0; i < 4000 && !fsi.power_is_off(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      DisarmAllCrashPoints();
      fsi.cut_power();
      static_cast<engine::EngineImpl*>(e.get())->abandon_for_crash_test();
    }
    ASSERT_TRUE(fsi.restart().ok());
    auto archived = wal::ListArchivedSegments(&fsi, "/archive");
    ASSERT_TRUE(archived.ok()) << archived.status().ToString();
    for (const auto& a : *archived) {
      std::string bytes;
      EXPECT_TRUE(wal::ReadArchivedSegment(&fsi, "/archive/wal/" + a.name, &bytes).ok()) << a.name;
    }
    {
      auto e = Open(o);
      ASSERT_NE(e, nullptr);
      ASSERT_TRUE(e->close().ok());  // archives every sealed segment
    }
    RecoverOptions r;
    r.archive_dir = "/archive";
    r.into_dir = NewDir();
    r.target_latest = true;
    r.file_system = &fsi;
    r.clock = &clock_;
    auto plan = Recover(r);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_FALSE(recs.empty());
    EXPECT_GE(plan->end_lsn, recs.back().lsn);  // every acknowledged sync commit
    Options ro;
    ro.data_dir = r.into_dir;
    ro.file_system = &fsi;
    ro.clock = &clock_;
    auto e = Open(ro);
    ASSERT_NE(e, nullptr);
    auto ks = *e->find_keyspace("kv");
    for (const auto& [k, v] : ModelAt(recs, recs.back().lsn)) {
      auto got = e->get(ks, k);
      ASSERT_TRUE(got.ok()) << k;
      EXPECT_EQ(got->value->bytes, v) << k;
    }
  }
}

}  // namespace
}  // namespace savepoint
