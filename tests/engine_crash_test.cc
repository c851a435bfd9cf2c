// Model-based crash recovery of the engine (issue: "reopened at random points ... compared with an in-memory
// model"). One thread runs random transactions over four keyspaces, one per persistence class and
// durability, including trade-like moves of gold between two keyspaces. Each cycle ends in a clean close, a
// power cut at a random moment, or a power cut at a named crash point (WAL append, hot-store apply,
// materialize, flush, WAL retirement, segment creation). After the reopen:
//   - durable keyspaces equal the model after exactly the commits with LSN <= the recovered last LSN (so: no
//     partial transaction, only a suffix lost), and every acknowledged sync commit is among them;
//   - the coalesced keyspace equals the model at one of its coalescing points, never older than the last
//     one followed by an acknowledged sync commit;
//   - the volatile keyspace is empty;
//   - gold is conserved.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

using State = std::map<std::string, std::string>;
constexpr int kSyncKs = 0, kRelaxedKs = 1, kCoalescedKs = 2, kVolatileKs = 3, kKeyspaces = 4;
constexpr int kGoldKeys = 8;
constexpr int64_t kGoldEach = 1000;

struct Write {
  int ks;
  std::string key;
  std::optional<std::string> value;  // nullopt = removed
};

struct Commit {
  uint64_t lsn;
  std::vector<Write> writes;
};

void Apply(std::array<State, kKeyspaces>* s, const std::vector<Write>& writes) {
  for (const Write& w : writes) {
    if (w.value) {
      (*s)[w.ks][w.key] = *w.value;
    } else {
      (*s)[w.ks].erase(w.key);
    }
  }
}

class EngineCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::TestSeed();
    rng_.seed(seed_);
    mem_ = NewMemFileSystem();
    fs_ = std::make_unique<FaultInjectionFileSystem>(mem_.get());
  }
  void TearDown() override { DisarmAllCrashPoints(); }

  Options MakeOptions() {
    Options o;
    o.data_dir = dir_.path() + "/data";
    o.file_system = fs_.get();
    o.clock = &clock_;
    o.wal_segment_size = 4096 + rng_() % 16384;
    // Sometimes relaxed commits stay unsynced for the whole cycle: then a checkpoint must not persist them
    // in RocksDB ahead of the WAL.
    o.sync_interval = rng_() % 3 == 0 ? std::chrono::microseconds(std::chrono::hours(1))
                                      : std::chrono::microseconds(std::chrono::milliseconds(rng_() % 5));
    o.ttl_sweep_interval = std::chrono::milliseconds(2);
    o.checkpoint_interval = std::chrono::hours(1);
    return o;
  }

  void OpenAndCreate() {
    auto e = Engine::open(MakeOptions());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    const char* names[kKeyspaces] = {"inv_sync", "inv_relaxed", "positions", "sessions"};
    KeyspaceOptions opts[kKeyspaces];
    opts[kSyncKs].durability = Durability::kSync;
    opts[kCoalescedKs].persistence = Persistence::kCoalesced;
    opts[kCoalescedKs].coalesce_interval = std::chrono::seconds(30);
    opts[kVolatileKs].persistence = Persistence::kVolatile;
    for (int i = 0; i < kKeyspaces; i++) {
      auto ks = engine_->create_keyspace(names[i], opts[i]);
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      ks_[i] = *ks;
    }
  }

  State Read(int i) {
    State s;
    EXPECT_TRUE(engine_->scan(ks_[i], "", "", [&](std::string_view k, const Entry& e) {
      s[std::string(k)] = e.value->bytes;
      return true;
    }).ok());
    return s;
  }

  static int64_t Gold(const std::array<State, kKeyspaces>& s) {
    int64_t total = 0;
    for (int ks : {kSyncKs, kRelaxedKs}) {
      for (auto& [k, v] : s[ks]) {
        if (k.starts_with("gold:")) total += std::stoll(v);
      }
    }
    return total;
  }

  // One random transaction; returns false when the engine refused it (the power is off).
  bool RandomCommit() {
    Transaction txn;
    std::vector<Write> writes;
    const int kind = static_cast<int>(rng_() % 10);
    if (kind < 3) {  // a trade: gold moves between the sync and the relaxed keyspace, all or nothing
      const int from_ks = rng_() % 2 ? kSyncKs : kRelaxedKs, to_ks = from_ks == kSyncKs ? kRelaxedKs : kSyncKs;
      const std::string from = "gold:" + std::to_string(rng_() % kGoldKeys);
      const std::string to = "gold:" + std::to_string(rng_() % kGoldKeys);
      const int64_t have = std::stoll(model_[from_ks][from]);
      const int64_t amount = static_cast<int64_t>(rng_() % 50);
      if (have < amount) return true;
      const std::string new_from = std::to_string(have - amount);
      const std::string new_to = std::to_string(std::stoll(model_[to_ks][to]) + amount);
      txn.require_value(ks_[from_ks], from, model_[from_ks][from]);
      txn.put(ks_[from_ks], from, new_from);
      txn.put(ks_[to_ks], to, new_to);
      writes = {{from_ks, from, new_from}, {to_ks, to, new_to}};
    } else {
      const int n = 1 + static_cast<int>(rng_() % 3);
      for (int i = 0; i < n; i++) {
        const int ks = static_cast<int>(rng_() % kKeyspaces);
        const std::string key = "k" + std::to_string(rng_() % 40);
        if (rng_() % 4 == 0) {
          txn.remove(ks_[ks], key);
          writes.push_back({ks, key, std::nullopt});
        } else {
          const std::string value = "v" + std::to_string(rng_() % 100000) + std::string(rng_() % 300, 'x');
          txn.put(ks_[ks], key, value);
          writes.push_back({ks, key, value});
        }
      }
      if (rng_() % 8 == 0) txn.set_durability(Durability::kSync);
    }
    // A removal of an absent key writes nothing (and so does not make the commit sync).
    {
      std::array<State, kKeyspaces> scratch = model_;
      std::vector<Write> effective;
      for (const Write& w : writes) {
        if (!w.value && !scratch[w.ks].count(w.key)) continue;
        Apply(&scratch, {w});
        effective.push_back(w);
      }
      writes = std::move(effective);
    }
    bool touches_sync = txn.durability() == Durability::kSync;
    for (const Write& w : writes) {
      touches_sync |= w.ks == kSyncKs;
      coalesced_dirty_ |= w.ks == kCoalescedKs;
    }
    auto r = engine_->commit(txn);
    if (!r.ok()) {
      EXPECT_FALSE(r.status().IsConflict()) << r.status().ToString();
      maybe_ = writes;  // may or may not have reached the disk
      return false;
    }
    Apply(&model_, writes);
    if (r->lsn > 0) {  // 0: only removals of absent keys, or no durable keyspace touched
      std::vector<Write> durable_writes;
      for (const Write& w : writes) {
        if (w.ks == kSyncKs || w.ks == kRelaxedKs) durable_writes.push_back(w);
      }
      history_.push_back({r->lsn, durable_writes});
      if (touches_sync) {
        max_acked_sync_ = std::max(max_acked_sync_, r->lsn);
        coalesce_floor_ = coalesce_points_.size() - 1;
      }
    }
    return true;
  }

  // Advances the clock past the coalescing interval and waits for the coalescer to log. Only when something
  // is dirty: otherwise the coalescer would just start a new interval, and a write right after could be
  // logged at a moment the test does not know.
  void Coalesce() {
    if (!coalesced_dirty_) return;
    coalesced_dirty_ = false;
    const uint64_t before = engine_->stats().coalesce_commits;
    clock_.advance_micros(31'000'000);
    for (int i = 0; i < 5000 && engine_->stats().coalesce_commits == before; i++) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    coalesce_points_.push_back(model_[kCoalescedKs]);
  }

  void VerifyAfterReopen(bool clean) {
    const uint64_t k = engine_->stats().last_lsn;
    std::array<State, kKeyspaces> expect = base_;
    for (const Commit& c : history_) {
      if (c.lsn <= k) Apply(&expect, c.writes);
    }
    ASSERT_GE(k, max_acked_sync_) << "an acknowledged sync commit was lost";
    for (int ks : {kSyncKs, kRelaxedKs}) {
      const State got = Read(ks);
      if (got != expect[ks] && maybe_) {
        std::array<State, kKeyspaces> with_maybe = expect;
        Apply(&with_maybe, *maybe_);
        if (got == with_maybe[ks]) continue;
      }
      ASSERT_EQ(got, expect[ks]) << "keyspace " << ks << " is not the model after LSN " << k;
    }
    if (clean) {
      ASSERT_EQ(Read(kCoalescedKs), model_[kCoalescedKs]);
    } else {
      const State got = Read(kCoalescedKs);
      bool found = false;
      for (size_t i = coalesce_floor_; i < coalesce_points_.size() && !found; i++) found = got == coalesce_points_[i];
      if (!found) {
        std::string dump = "recovered:";
        for (auto& [k, v] : got) dump += " " + k + "=" + v.substr(0, 8);
        for (size_t i = 0; i < coalesce_points_.size(); i++) {
          dump += "\npoint " + std::to_string(i) + ":";
          for (auto& [k, v] : coalesce_points_[i]) dump += " " + k + "=" + v.substr(0, 8);
        }
        FAIL() << "coalesced keyspace is at none of its coalescing points since " << coalesce_floor_ << "\n" << dump;
      }
    }
    ASSERT_TRUE(Read(kVolatileKs).empty());
    // The recovered state is the model from here on.
    for (int ks = 0; ks < kKeyspaces; ks++) model_[ks] = Read(ks);
    ASSERT_EQ(Gold(model_), Gold(base_)) << "gold was created or destroyed";
    base_ = model_;
    history_.clear();
    maybe_.reset();
    max_acked_sync_ = 0;
    coalesce_points_ = {model_[kCoalescedKs]};
    coalesce_floor_ = 0;
    coalesced_dirty_ = false;
  }

  void Crash(const PowerCutOptions& cut) {
    fs_->cut_power();
    static_cast<engine::EngineImpl*>(engine_.get())->abandon_for_crash_test();
    engine_.reset();
    DisarmAllCrashPoints();
    ASSERT_TRUE(fs_->restart(cut).ok());
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  test::ScratchDir dir_;
  ManualClock clock_{1'700'000'000'000'000ULL};
  std::unique_ptr<FileSystem> mem_;
  std::unique_ptr<FaultInjectionFileSystem> fs_;
  std::unique_ptr<Engine> engine_;
  Keyspace* ks_[kKeyspaces] = {};
  std::array<State, kKeyspaces> model_, base_;
  std::vector<Commit> history_;
  std::optional<std::vector<Write>> maybe_;
  uint64_t max_acked_sync_ = 0;
  std::vector<State> coalesce_points_{State{}};
  size_t coalesce_floor_ = 0;
  bool last_clean_ = true;
  bool coalesced_dirty_ = false;
};

TEST_F(EngineCrashTest, RandomTransactionsSurviveCleanClosesPowerCutsAndCrashPoints) {
  std::vector<std::string_view> points;
  for (auto p : AllCrashPoints()) {
    if (p.starts_with("wal.") || p.starts_with("engine.")) points.push_back(p);
  }
  std::map<std::string, int> hits;
  int clean = 0, cuts = 0;

  OpenAndCreate();
  {
    // Seed the gold, all in the sync keyspace.
    Transaction t;
    std::vector<Write> writes;
    for (int i = 0; i < kGoldKeys; i++) {
      t.put(ks_[kSyncKs], "gold:" + std::to_string(i), std::to_string(kGoldEach));
      t.put(ks_[kRelaxedKs], "gold:" + std::to_string(i), "0");
      writes.push_back({kSyncKs, "gold:" + std::to_string(i), std::to_string(kGoldEach)});
      writes.push_back({kRelaxedKs, "gold:" + std::to_string(i), "0"});
    }
    ASSERT_TRUE(engine_->commit(t).ok());
    Apply(&model_, writes);
    base_ = model_;
    ASSERT_TRUE(engine_->close().ok());
    engine_.reset();
  }

  for (int cycle = 0; cycle < 60; cycle++) {
    SCOPED_TRACE("cycle " + std::to_string(cycle) + " seed " + std::to_string(seed_));
    OpenAndCreate();
    if (HasFatalFailure()) return;
    VerifyAfterReopen(cycle == 0 || last_clean_);
    if (HasFatalFailure()) return;

    const int ending = static_cast<int>(rng_() % 10);  // 0-2 clean, 3-5 random cut, 6-9 crash point
    std::string point;
    if (ending >= 6) {
      point = std::string(points[rng_() % points.size()]);
      ArmCrashPoint(point, rng_() % 4, [this, &hits, point](std::string_view) {
        fs_->cut_power();
        hits[point]++;
      });
    }
    const int ops = 20 + static_cast<int>(rng_() % 150);
    const int cut_at = ending >= 3 && ending < 6 ? static_cast<int>(rng_() % ops) : -1;
    for (int i = 0; i < ops; i++) {
      if (i == cut_at) fs_->cut_power();
      if (!RandomCommit()) break;
      if (rng_() % 25 == 0) Coalesce();
      if (rng_() % 12 == 0) (void)engine_->checkpoint();
      if (rng_() % 40 == 0) (void)engine_->create_restore_point("rp" + std::to_string(i));
      if (fs_->power_is_off()) break;
    }
    if (ending < 3 && !fs_->power_is_off()) {
      ASSERT_TRUE(engine_->close().ok());
      engine_.reset();
      last_clean_ = true;
      clean++;
    } else {
      PowerCutOptions cut;
      cut.seed = rng_();
      cut.unsynced = static_cast<PowerCutOptions::Unsynced>(rng_() % 3);
      if (rng_() % 4 == 0) cut.tear_last_write_at = rng_() % 100;
      Crash(cut);
      last_clean_ = false;
      cuts++;
    }
  }
  OpenAndCreate();
  VerifyAfterReopen(last_clean_);
  std::string covered;
  for (auto& [p, n] : hits) covered += p + "=" + std::to_string(n) + " ";
  RecordProperty("crash_points_hit", covered);
  RecordProperty("clean_closes", clean);
  RecordProperty("power_cuts", cuts);
  std::printf("clean closes %d, power cuts %d, crash points hit: %s\n", clean, cuts, covered.c_str());
}

}  // namespace
}  // namespace savepoint
