// Engine semantics: keyspaces and classes, transactions and preconditions, atomic helpers, TTL, cached
// residency, bad input. Crash recovery against a model is in tests/engine_crash_test.cc.
#include "savepoint/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "engine/engine_impl.h"
#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "savepoint/crash_simulator.h"
#include "savepoint/fault_injection.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  Options MakeOptions() {
    Options o;
    o.data_dir = dir_.path() + "/data";
    o.clock = &clock_;
    o.ttl_sweep_interval = std::chrono::milliseconds(5);
    return o;
  }
  std::unique_ptr<Engine> Open(Options o) {
    auto e = Engine::open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  std::unique_ptr<Engine> Open() { return Open(MakeOptions()); }
  // Opens (recovering) an engine on `sim`'s simulated disk, with the test clock.
  std::unique_ptr<Engine> OpenOn(CrashSimulator& sim) {
    Options o = sim.options();
    o.clock = &clock_;
    auto e = sim.open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  static std::string Get(Engine* e, Keyspace* ks, std::string_view key) {
    auto r = e->get(ks, key);
    return r.ok() ? r->value->bytes : "<" + std::string(Status::CodeName(r.status().code())) + ">";
  }

  test::ScratchDir dir_;
  ManualClock clock_{1'700'000'000'000'000ULL};
};

TEST_F(EngineTest, PutGetRemoveAndReopen) {
  {
    auto e = Open();
    auto ks = e->create_keyspace("players");
    ASSERT_TRUE(ks.ok());
    Transaction t;
    t.put(*ks, "p1", "alice");
    t.put(*ks, "p2", "bob");
    ASSERT_TRUE(e->commit(t).ok());
    EXPECT_EQ(Get(e.get(), *ks, "p1"), "alice");
    Transaction d;
    d.remove(*ks, "p2");
    ASSERT_TRUE(e->commit(d).ok());
    EXPECT_EQ(Get(e.get(), *ks, "p2"), "<NotFound>");
    ASSERT_TRUE(e->close().ok());
  }
  auto e = Open();
  auto ks = e->find_keyspace("players");
  ASSERT_TRUE(ks.ok());
  EXPECT_EQ(Get(e.get(), *ks, "p1"), "alice");
  EXPECT_EQ(Get(e.get(), *ks, "p2"), "<NotFound>");
  EXPECT_EQ(*e->count(*ks), 1u);
}

TEST_F(EngineTest, ClassesAcrossACleanRestart) {
  {
    auto e = Open();
    KeyspaceOptions coalesced;
    coalesced.persistence = Persistence::kCoalesced;
    coalesced.coalesce_interval = std::chrono::hours(1);
    KeyspaceOptions vol;
    vol.persistence = Persistence::kVolatile;
    auto d = e->create_keyspace("durable");
    auto c = e->create_keyspace("positions", coalesced);
    auto v = e->create_keyspace("sessions", vol);
    ASSERT_TRUE(d.ok() && c.ok() && v.ok());
    Transaction t;
    t.put(*d, "k", "d");
    t.put(*c, "k", "c");
    t.put(*v, "k", "v");
    auto info = e->commit(t);
    ASSERT_TRUE(info.ok());
    EXPECT_GT(info->lsn, 0u);
    Transaction only_volatile;
    only_volatile.put(*v, "k2", "v2");
    auto vi = e->commit(only_volatile);
    ASSERT_TRUE(vi.ok());
    EXPECT_EQ(vi->lsn, 0u);        // nothing logged
    ASSERT_TRUE(e->close().ok());  // a clean close logs the coalesced keyspace
  }
  auto e = Open();
  EXPECT_EQ(Get(e.get(), *e->find_keyspace("durable"), "k"), "d");
  EXPECT_EQ(Get(e.get(), *e->find_keyspace("positions"), "k"), "c");
  auto v = e->find_keyspace("sessions");
  ASSERT_TRUE(v.ok());           // the definition persists...
  EXPECT_EQ(*e->count(*v), 0u);  // ...the data does not
}

TEST_F(EngineTest, FailedPreconditionChangesNothing) {
  auto e = Open();
  auto a = *e->create_keyspace("inv_a");
  auto b = *e->create_keyspace("inv_b");
  Transaction seed;
  seed.put(a, "sword", "1");
  ASSERT_TRUE(e->commit(seed).ok());
  Transaction trade(Durability::kSync);
  trade.require_present(a, "sword");
  trade.require_absent(b, "sword");
  trade.remove(a, "sword");
  trade.put(b, "sword", "1");
  trade.require_value(a, "sword", "2");  // wrong: the whole trade must be refused
  auto r = e->commit(trade);
  EXPECT_TRUE(r.status().IsConflict()) << r.status().ToString();
  EXPECT_EQ(Get(e.get(), a, "sword"), "1");
  EXPECT_EQ(Get(e.get(), b, "sword"), "<NotFound>");
  EXPECT_EQ(e->stats().conflicts, 1u);
}

TEST_F(EngineTest, UpdateSeesEarlierWritesOfItsTransaction) {
  auto e = Open();
  auto ks = *e->create_keyspace("kv");
  Transaction t;
  t.put(ks, "n", "5");
  t.update(ks, "n", [](const Entry* cur, uint64_t) -> Result<Mutation> {
    EXPECT_NE(cur, nullptr);
    return Mutation::Put(MakeValue(cur->value->bytes + "0"));
  });
  t.remove_prefix(ks, "x");
  ASSERT_TRUE(e->commit(t).ok());
  EXPECT_EQ(Get(e.get(), ks, "n"), "50");
}

// A prefix with no upper bound ("" or all 0xff) is materialised key by key: the rows RocksDB holds and the
// rows the same batch put before it go; rows after it, and outside it, stay. Checked in RocksDB itself by
// reopening (a memory-resident keyspace loads from RocksDB).
TEST_F(EngineTest, UnboundedPrefixRemovalIsMaterialisedExactly) {
  {
    auto e = Open();
    auto all = *e->create_keyspace("all");
    auto high = *e->create_keyspace("high");
    Transaction before;
    before.put(all, "old", "1");
    before.put(high, std::string("\xff\x01", 2), "1");
    before.put(high, "a", "1");
    ASSERT_TRUE(e->commit(before).ok());
    ASSERT_TRUE(e->wait_materialized().ok());
    Transaction t;
    t.put(all, "same-batch", "1");
    t.remove_prefix(all, "");
    t.put(all, "after", "2");
    t.put(high, std::string("\xff\x02", 2), "1");
    t.remove_prefix(high, "\xff");
    t.put(high, std::string("\xff\x03", 2), "3");
    ASSERT_TRUE(e->commit(t).ok());
    ASSERT_TRUE(e->close().ok());
  }
  auto e = Open();
  auto all = *e->find_keyspace("all");
  auto high = *e->find_keyspace("high");
  std::vector<std::string> keys;
  ASSERT_TRUE(e->scan(all, "", "", [&](std::string_view k, const Entry&) {
                 keys.emplace_back(k);
                 return true;
               }).ok());
  ASSERT_TRUE(e->scan(high, "", "", [&](std::string_view k, const Entry&) {
                 keys.emplace_back(k);
                 return true;
               }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"after", "a", std::string("\xff\x03", 2)}));
}

TEST_F(EngineTest, AtomicHelpers) {
  auto e = Open();
  auto ks = *e->create_keyspace("kv");
  EXPECT_EQ(*e->increment(ks, "c", 5), 5);
  EXPECT_EQ(*e->increment(ks, "c", -7), -2);
  Transaction t;
  t.put(ks, "s", "not a number");
  ASSERT_TRUE(e->commit(t).ok());
  EXPECT_TRUE(e->increment(ks, "s", 1).status().IsInvalidArgument());
  Transaction big;
  big.put(ks, "big", std::to_string(INT64_MAX));
  ASSERT_TRUE(e->commit(big).ok());
  EXPECT_TRUE(e->increment(ks, "big", 1).status().IsInvalidArgument());
  EXPECT_EQ(Get(e.get(), ks, "big"), std::to_string(INT64_MAX));

  EXPECT_TRUE(*e->set_if_absent(ks, "lock", MakeValue("me")));
  EXPECT_FALSE(*e->set_if_absent(ks, "lock", MakeValue("you")));
  EXPECT_EQ(Get(e.get(), ks, "lock"), "me");
  EXPECT_FALSE(*e->compare_and_set(ks, "lock", "you", MakeValue("x")));
  EXPECT_TRUE(*e->compare_and_set(ks, "lock", "me", MakeValue("x")));
  EXPECT_EQ(Get(e.get(), ks, "lock"), "x");

  auto doc = e->merge_patch(ks, "doc", R"({"a":1,"b":{"c":2}})");
  ASSERT_TRUE(doc.ok());
  doc = e->merge_patch(ks, "doc", R"({"b":{"c":null,"d":3},"e":[1]})");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(*doc, R"({"a":1,"b":{"d":3},"e":[1]})");
  EXPECT_TRUE(e->merge_patch(ks, "doc", "{not json").status().IsInvalidArgument());
  EXPECT_TRUE(e->merge_patch(ks, "s", "{}").status().IsInvalidArgument());

  // Nesting is bounded before nlohmann recurses: 200,000 levels would overflow the stack. A refused patch
  // changes nothing; 512 levels are fine.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_TRUE(e->merge_patch(ks, "doc", "{\"x\":" + deep + "}").status().IsInvalidArgument());
  EXPECT_EQ(Get(e.get(), ks, "doc"), R"({"a":1,"b":{"d":3},"e":[1]})");
  Transaction put_deep;
  put_deep.put(ks, "deep", deep);
  ASSERT_TRUE(e->commit(put_deep).ok());
  EXPECT_TRUE(e->merge_patch(ks, "deep", "{}").status().IsInvalidArgument());
  const std::string max = std::string(511, '[') + std::string(511, ']');
  EXPECT_TRUE(e->merge_patch(ks, "doc", "{\"x\":" + max + "}").ok());
}

// Optimistic concurrency: threads read a version, then commit only if it is unchanged (WATCH). Retries
// until success; the counter must equal the number of successful commits, with no lost update.
TEST_F(EngineTest, WatchCasAndSetIfAbsentUnderConcurrency) {
  auto e = Open();
  auto ks = *e->create_keyspace("kv");
  constexpr int kThreads = 4, kPerThread = 200;
  std::atomic<int> conflicts{0}, locks_won{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        for (;;) {
          auto cur = e->get(ks, "watched");
          const uint64_t version = cur.ok() ? cur->version : 0;
          const int value = cur.ok() ? std::stoi(cur->value->bytes) : 0;
          Transaction txn;
          txn.require_version(ks, "watched", version);
          txn.put(ks, "watched", std::to_string(value + 1));
          auto r = e->commit(txn);
          if (r.ok()) break;
          ASSERT_TRUE(r.status().IsConflict()) << r.status().ToString();
          conflicts++;
        }
        ASSERT_TRUE(e->increment(ks, "counter", 1).ok());
        if (*e->set_if_absent(ks, "lock/" + std::to_string(i), MakeValue(std::to_string(t)))) locks_won++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Get(e.get(), ks, "watched"), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(Get(e.get(), ks, "counter"), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(locks_won.load(), kPerThread);  // each lock won exactly once
  RecordProperty("conflicts", conflicts.load());
}

TEST_F(EngineTest, TtlExpiresAtTheInstantAndNeverComesBack) {
  const uint64_t t0 = clock_.now_micros();
  {
    auto e = Open();
    auto ks = *e->create_keyspace("cache");
    Transaction t;
    t.put(ks, "short", "1", t0 + 1000);
    t.put(ks, "long", "2", t0 + 10'000'000);
    t.put(ks, "forever", "3");
    ASSERT_TRUE(e->commit(t).ok());
    clock_.set_micros(t0 + 999);
    EXPECT_EQ(Get(e.get(), ks, "short"), "1");
    clock_.set_micros(t0 + 1000);  // exactly the expiry instant: gone
    EXPECT_EQ(Get(e.get(), ks, "short"), "<NotFound>");
    EXPECT_EQ(*e->count(ks), 2u);
    // The sweeper turns the expiry into a logged delete.
    for (int i = 0; i < 2000 && e->stats().expired_keys == 0; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(e->stats().expired_keys, 1u);
    ASSERT_TRUE(e->close().ok());
  }
  {
    // Reopen with the clock back before the expiry: the logged delete keeps it gone.
    clock_.set_micros(t0);
    auto e = Open();
    auto ks = *e->find_keyspace("cache");
    EXPECT_EQ(Get(e.get(), ks, "short"), "<NotFound>");
    EXPECT_EQ(Get(e.get(), ks, "long"), "2");
    // And a key that expires while the engine is down is hidden at once after the restart.
    ASSERT_TRUE(e->close().ok());
  }
  clock_.set_micros(t0 + 10'000'000);
  auto e = Open();
  auto ks = *e->find_keyspace("cache");
  EXPECT_EQ(Get(e.get(), ks, "long"), "<NotFound>");
  EXPECT_EQ(Get(e.get(), ks, "forever"), "3");
}

// get_many answers exactly what get() does, key by key, across its internal groups (16) and chunks (64):
// present, absent, expired at the exact instant, deleted, repeated keys; memory and cached residency (with
// misses that read RocksDB); and refuses a bad key before reading anything.
TEST_F(EngineTest, GetManyMatchesGetForEveryKey) {
  auto o = MakeOptions();
  o.sync_interval = std::chrono::milliseconds(1);
  auto e = Open(o);
  KeyspaceOptions cached;
  cached.residency = Residency::kCached;
  cached.cache_bytes = 16 << 10;
  const uint64_t t0 = clock_.now_micros();
  for (Keyspace* ks : {*e->create_keyspace("mem"), *e->create_keyspace("cached", cached)}) {
    Transaction t;
    for (int i = 0; i < 300; i++) {
      if (i % 3 == 0) continue;  // absent
      t.put(ks, "k" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26)),
            i % 10 == 1 ? t0 + 1000 : 0);
    }
    ASSERT_TRUE(e->commit(t).ok());
    Transaction del;
    del.remove(ks, "k2");
    ASSERT_TRUE(e->commit(del).ok());
    ASSERT_TRUE(e->wait_materialized().ok());
    clock_.set_micros(t0 + 1000);  // keys 1, 11, 21, ... expire at this instant

    std::vector<std::string> names;
    for (int i = 299; i >= 0; i--) names.push_back("k" + std::to_string(i));
    names.push_back("k4");  // twice
    std::vector<std::string_view> keys(names.begin(), names.end());
    std::vector<Entry> got;
    ASSERT_TRUE(e->get_many(ks, keys, &got).ok());
    ASSERT_EQ(got.size(), keys.size());
    size_t present = 0;
    for (size_t i = 0; i < keys.size(); i++) {
      auto one = e->get(ks, keys[i]);
      if (one.ok()) {
        present++;
        ASSERT_NE(got[i].value, nullptr) << keys[i];
        EXPECT_EQ(got[i].value->bytes, one->value->bytes) << keys[i];
        // (A cached keyspace gives a key reloaded from RocksDB a new version: compare in memory only.)
        if (!ks->hot->cached()) EXPECT_EQ(got[i].version, one->version) << keys[i];
      } else {
        ASSERT_TRUE(one.status().IsNotFound());
        EXPECT_EQ(got[i].value, nullptr) << keys[i];
      }
    }
    EXPECT_EQ(present, 200u - 1 - 20 + 1) << "200 written, k2 deleted, 20 expired, k4 twice";

    const std::string too_long(engine::kMaxKeyBytes + 1, 'x');
    std::vector<std::string_view> bad{"k4", too_long};
    EXPECT_TRUE(e->get_many(ks, bad, &got).IsInvalidArgument());
    std::vector<std::string_view> none;
    ASSERT_TRUE(e->get_many(ks, none, &got).ok());
    EXPECT_TRUE(got.empty());
    clock_.set_micros(t0);
  }
}

TEST_F(EngineTest, CachedResidencyStaysCorrectAndWithinBudget) {
  auto o = MakeOptions();
  o.sync_interval = std::chrono::milliseconds(1);
  auto e = Open(o);
  KeyspaceOptions ko;
  ko.residency = Residency::kCached;
  ko.cache_bytes = 64 << 10;
  auto ks = *e->create_keyspace("archive", ko);
  constexpr int kKeys = 4000;
  for (int i = 0; i < kKeys; i += 100) {
    Transaction t;
    for (int j = i; j < i + 100; j++)
      t.put(ks, "k" + std::to_string(j), std::string(100, static_cast<char>('a' + j % 26)));
    ASSERT_TRUE(e->commit(t).ok());
  }
  ASSERT_TRUE(e->wait_materialized().ok());
  Transaction del;
  del.remove(ks, "k7");
  ASSERT_TRUE(e->commit(del).ok());
  for (int round = 0; round < 2; round++) {
    for (int j = 0; j < kKeys; j++) {
      const std::string want = j == 7 ? "<NotFound>" : std::string(100, static_cast<char>('a' + j % 26));
      ASSERT_EQ(Get(e.get(), ks, "k" + std::to_string(j)), want) << j;
    }
  }
  ASSERT_TRUE(e->wait_materialized().ok());
  const Stats st = e->stats();
  ASSERT_EQ(st.keyspaces.size(), 1u);
  EXPECT_LE(st.keyspaces[0].memory_bytes, (64u << 10) + 16 * 512) << "over budget";
  EXPECT_GT(st.keyspaces[0].evictions, 0u);
  EXPECT_GT(st.keyspaces[0].cache_misses, 0u);
  EXPECT_EQ(*e->count(ks), static_cast<uint64_t>(kKeys - 1));
}

TEST_F(EngineTest, KeyspaceDefinitionsMigrateOrFailClearly) {
  {
    auto e = Open();
    ASSERT_TRUE(e->create_keyspace("chars").ok());
    ASSERT_TRUE(e->close().ok());
  }
  auto e = Open();
  KeyspaceOptions other_kind;
  other_kind.kind = "registry";
  auto r = e->create_keyspace("chars", other_kind);
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("kind"), std::string::npos) << r.status().ToString();
  KeyspaceOptions vol;
  vol.persistence = Persistence::kVolatile;
  EXPECT_TRUE(e->create_keyspace("chars", vol).status().IsInvalidArgument());
  KeyspaceOptions sync;
  sync.durability = Durability::kSync;
  auto migrated = e->create_keyspace("chars", sync);  // a safe migration
  ASSERT_TRUE(migrated.ok());
  EXPECT_EQ(e->keyspaces()[0].options.durability, Durability::kSync);
  ASSERT_TRUE(e->drop_keyspace("chars").ok());
  EXPECT_TRUE(e->get(*migrated, "x").status().IsNotFound());
  EXPECT_TRUE(e->find_keyspace("chars").status().IsNotFound());
  EXPECT_TRUE(e->create_keyspace("bad name!").status().IsInvalidArgument());
}

TEST_F(EngineTest, BadInputIsRefusedAndChangesNothing) {
  auto e = Open();
  auto ks = *e->create_keyspace("kv");
  Transaction big_key;
  big_key.put(ks, std::string(engine::kMaxKeyBytes + 1, 'k'), "v");
  EXPECT_TRUE(e->commit(big_key).status().IsInvalidArgument());
  Transaction empty_key;
  empty_key.put(ks, "", "v");
  EXPECT_TRUE(e->commit(empty_key).status().IsInvalidArgument());
  Transaction big_value;
  big_value.put(ks, "ok", std::string(engine::kMaxValueBytes + 1, 'v'));
  big_value.put(ks, "other", "v");
  EXPECT_TRUE(e->commit(big_value).status().IsInvalidArgument());
  EXPECT_EQ(*e->count(ks), 0u);
  Transaction null_ks;
  null_ks.put(nullptr, "k", "v");
  EXPECT_TRUE(e->commit(null_ks).status().IsInvalidArgument());
}

TEST_F(EngineTest, SecondOpenOfTheSameDirectoryIsBusy) {
  auto e = Open();
  auto second = Engine::open(MakeOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
}

TEST_F(EngineTest, FailedFsyncRefusesLaterCommitsWithFatal) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto o = MakeOptions();
  o.file_system = &fs;
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  fs.fail_next(FaultOp::kSync, FaultError::kEIO, 0, 1, "/wal/");
  Transaction t(Durability::kSync);
  t.put(ks, "a", "1");
  EXPECT_TRUE(e->commit(t).status().IsFatal());
  Transaction later;
  later.put(ks, "b", "2");
  auto r = e->commit(later);
  EXPECT_TRUE(r.status().IsFatal()) << r.status().ToString();
}

TEST_F(EngineTest, RestorePointsCheckpointsAndStats) {
  auto o = MakeOptions();
  o.archive_dir = dir_.path() + "/archive";
  o.wal_segment_size = 4096;
  auto e = Open(o);
  auto ks = *e->create_keyspace("kv");
  for (int i = 0; i < 200; i++) {
    Transaction t(Durability::kSync);
    t.put(ks, "k" + std::to_string(i), std::string(64, 'x'));
    ASSERT_TRUE(e->commit(t).ok());
  }
  auto rp = e->create_restore_point("before-maintenance");
  ASSERT_TRUE(rp.ok());
  ASSERT_TRUE(e->wait_materialized().ok());
  ASSERT_TRUE(e->checkpoint().ok());
  const Stats st = e->stats();
  EXPECT_EQ(st.checkpoints, 1u);
  EXPECT_EQ(st.commits_sync, 200u);
  EXPECT_GE(st.applied_lsn, 200u);
  EXPECT_GT(st.fsync_latency.count, 0u);
  const std::string prom = e->stats_prometheus();
  EXPECT_NE(prom.find("savepoint_commits_total{durability=\"sync\"} 200"), std::string::npos) << prom;
  EXPECT_NE(e->stats_json().find("\"checkpoints\""), std::string::npos);
  // Retired segments went to the archive first.
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/archive/wal"));
  EXPECT_FALSE(std::filesystem::is_empty(dir_.path() + "/archive/wal"));
}

TEST_F(EngineTest, CachedKeyspacesShareOneBudget) {
  auto o = MakeOptions();
  o.cached_memory_budget = 1 << 20;
  auto e = Open(o);
  KeyspaceOptions ko;
  ko.residency = Residency::kCached;
  ko.cache_bytes = 600 << 10;
  ASSERT_TRUE(e->create_keyspace("a", ko).ok());
  auto b = e->create_keyspace("b", ko);
  EXPECT_TRUE(b.status().IsInvalidArgument()) << b.status().ToString();
  ko.cache_bytes = 400 << 10;
  EXPECT_TRUE(e->create_keyspace("b", ko).ok());
}

// A full disk: commits are refused with NoSpace while it lasts, nothing acknowledged is lost, and the
// engine works again once space returns.
TEST_F(EngineTest, FullDiskRefusesCommitsAndLosesNothing) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto o = MakeOptions();
  o.file_system = &fs;
  std::vector<std::string> acked;
  {
    auto e = Open(o);
    auto ks = *e->create_keyspace("kv");
    for (int i = 0; i < 20; i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "before" + std::to_string(i), "v");
      ASSERT_TRUE(e->commit(t).ok());
      acked.push_back("before" + std::to_string(i));
    }
    // The keyspace's column family exists before the disk fills: RocksDB is on this file system too, and a
    // family that cannot be created stops the materializer (what this test looks at is the log).
    ASSERT_TRUE(e->wait_materialized().ok());
    fs.set_space_limit(1);  // the disk is full now
    Status refused;
    for (int i = 0; i < 2000 && refused.ok(); i++) {
      Transaction t;
      t.put(ks, "during" + std::to_string(i), "v");
      auto r = e->commit(t);
      refused = r.status();
      if (r.ok()) {
        acked.push_back("during" + std::to_string(i));  // accepted before the writer hit the full disk
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    ASSERT_TRUE(refused.IsNoSpace()) << refused.ToString();
    fs.clear_faults();
    Status ok_again = Status::NoSpace("not yet");
    for (int i = 0; i < 5000 && !ok_again.ok(); i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "after", "v");
      ok_again = e->commit(t).status();
      if (!ok_again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(ok_again.ok()) << ok_again.ToString();
    acked.push_back("after");
    ASSERT_TRUE(e->close().ok());
  }
  auto e = Open(o);
  auto ks = *e->find_keyspace("kv");
  for (const std::string& k : acked) EXPECT_EQ(Get(e.get(), ks, k), "v") << k;
}

// A sync commit whose record was logged just before the disk filled used to wait for as long as the disk
// stayed full. It now fails with NoSpace after Options::sync_commit_space_timeout, saying it is applied but
// not known durable; commits succeed again once space returns, and after a power cut every commit that
// returned OK is there (the timed-out one too, since a later sync commit made it durable).
TEST_F(EngineTest, SyncCommitOnAFullDiskFailsWithNoSpaceAfterItsBoundAndLosesNothingAcknowledged) {
  CrashSimulator sim(dir_.path() + "/sim");
  Options o = sim.options();
  o.clock = &clock_;
  o.sync_commit_space_timeout = std::chrono::milliseconds(50);
  auto opened = sim.open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Engine> e = std::move(opened).value();
  auto ks = *e->create_keyspace("kv");
  std::vector<std::string> acked;
  auto put = [&](const std::string& key) {
    Transaction t(Durability::kSync);
    t.put(ks, key, "v");
    Status s = e->commit(t).status();
    if (s.ok()) acked.push_back(key);
    return s;
  };
  for (int i = 0; i < 5; i++) ASSERT_TRUE(put("before" + std::to_string(i)).ok());
  ASSERT_TRUE(e->wait_materialized().ok());  // the family exists before the disk fills (RocksDB is on it too)

  sim.file_system().set_space_limit(1);  // the disk is full now
  // Logged (the WAL has not met the full disk yet), then held: the bound ends the wait.
  Status timed_out = put("in-doubt");
  ASSERT_TRUE(timed_out.IsNoSpace()) << timed_out.ToString();
  EXPECT_NE(timed_out.message().find("applied but not known durable"), std::string::npos)
      << timed_out.message();
  EXPECT_EQ(Get(e.get(), ks, "in-doubt"), "v") << "a commit that timed out waiting for space is applied";
  // Now the WAL knows the disk is full: refused at once, nothing applied.
  Status refused = put("refused");
  ASSERT_TRUE(refused.IsNoSpace()) << refused.ToString();
  EXPECT_EQ(refused.message().find("not known durable"), std::string::npos) << refused.message();
  EXPECT_EQ(Get(e.get(), ks, "refused"), "<NotFound>");
  Stats st = e->stats();
  EXPECT_EQ(st.sync_commits_waiting_for_space, 0u);
  EXPECT_EQ(st.sync_commit_space_waits, 1u);
  EXPECT_EQ(st.sync_commit_space_timeouts, 1u);
  EXPECT_NE(e->stats_json().find("\"sync_commit_space\":{\"waiting\":0,\"waits\":1,\"timeouts\":1}"),
            std::string::npos)
      << e->stats_json();
  const std::string prom = e->stats_prometheus();
  EXPECT_NE(prom.find("savepoint_sync_commits_waiting_for_space 0\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("savepoint_sync_commit_space_timeouts_total 1\n"), std::string::npos) << prom;

  sim.file_system().clear_faults();  // space returns
  Status ok_again = Status::NoSpace("not yet");
  for (int i = 0; i < 5000 && !ok_again.ok(); i++) {
    ok_again = put("after");
    if (!ok_again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(ok_again.ok()) << ok_again.ToString();
  ASSERT_TRUE(sim.cut_power(e).ok());

  e = OpenOn(sim);
  ASSERT_NE(e, nullptr);
  ks = *e->find_keyspace("kv");
  for (const std::string& k : acked) EXPECT_EQ(Get(e.get(), ks, k), "v") << k;
  // Logged before "after", which was acknowledged durable: durable with it.
  EXPECT_EQ(Get(e.get(), ks, "in-doubt"), "v");
  EXPECT_EQ(Get(e.get(), ks, "refused"), "<NotFound>");
}

// After a crash, deleting the WAL's newest segment used to lose its commits silently, acknowledged sync
// commits included: the segment before it looked like a log that ended there. Its seal says a successor
// existed, so open refuses.
TEST_F(EngineTest, OpenRefusesAWalWhoseNewestSegmentWasDeletedAfterARotation) {
  CrashSimulator sim(dir_.path() + "/sim");
  Options o = sim.options();
  o.clock = &clock_;
  o.wal_segment_size = 4096;
  auto opened = sim.open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Engine> e = std::move(opened).value();
  auto ks = *e->create_keyspace("kv");
  const std::string wal_dir = o.data_dir + "/wal";
  FileSystem& fs = sim.file_system();
  auto segments = [&] {
    auto names = fs.list_dir(wal_dir);
    EXPECT_TRUE(names.ok());
    std::vector<std::string> segs;
    for (const std::string& n : *names) {
      if (n.ends_with(".wal")) segs.push_back(n);
    }
    return segs;
  };
  // Rotate at least twice, and leave acknowledged sync commits in the newest segment.
  for (int i = 0; i < 2000 && segments().size() < 3; i++) {
    Transaction t(Durability::kSync);
    t.put(ks, "k" + std::to_string(i), std::string(100, 'v'));
    ASSERT_TRUE(e->commit(t).ok());
  }
  Transaction last(Durability::kSync);
  last.put(ks, "acknowledged", "v");
  ASSERT_TRUE(e->commit(last).ok());
  ASSERT_TRUE(sim.cut_power(e).ok());

  auto segs = segments();
  ASSERT_GE(segs.size(), 3u);
  ASSERT_TRUE(fs.remove_file(wal_dir + "/" + segs.back()).ok());
  o = sim.options();
  o.clock = &clock_;
  auto reopened = sim.open(o);
  ASSERT_FALSE(reopened.ok()) << "opened without the newest WAL segment, which held acknowledged commits";
  EXPECT_TRUE(reopened.status().IsCorruption()) << reopened.status().ToString();
  EXPECT_NE(reopened.status().message().find(segs[segs.size() - 2] + " was sealed and its successor"),
            std::string::npos)
      << reopened.status().ToString();
}

// Runs a checkpoint of `e` and, while it is held at engine.before_flush (after it listed the column families,
// before it flushes them), `during`. The checkpoint resumes once `during` has returned and the materializer
// has caught up (or, when it cannot, after half a second). Expects the checkpoint to succeed.
void CheckpointAround(Engine* e, const std::function<void()>& during) {
  std::promise<void> paused;
  std::atomic<bool> done{false};
  ArmCrashPoint("engine.before_flush", 0, [&](std::string_view) {
    paused.set_value();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (!(done && e->stats().materializer_lag_records == 0) &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::thread checkpointer([&] { EXPECT_TRUE(e->checkpoint().ok()); });
  paused.get_future().wait();
  during();  // (an ASSERT failing in it returns from it: the thread is still joined)
  done = true;
  checkpointer.join();
  DisarmAllCrashPoints();
}

// A keyspace created while a checkpoint is between listing the column families and flushing them: its
// family is not in the flush, so the flushed applied_lsn must not cover its rows. A power cut after the
// checkpoint must not lose the acknowledged sync write to the new keyspace.
TEST_F(EngineTest, KeyspaceCreatedDuringACheckpointSurvivesAPowerCut) {
  CrashSimulator sim(dir_.path() + "/data");
  {
    std::unique_ptr<Engine> e = OpenOn(sim);
    ASSERT_NE(e, nullptr);
    auto first = *e->create_keyspace("first");
    Transaction t0(Durability::kSync);
    t0.put(first, "a", "1");
    ASSERT_TRUE(e->commit(t0).ok());
    CheckpointAround(e.get(), [&] {
      auto late = e->create_keyspace("late");
      ASSERT_TRUE(late.ok()) << late.status().ToString();
      Transaction t1(Durability::kSync);
      t1.put(*late, "b", "2");
      EXPECT_TRUE(e->commit(t1).ok());
    });
    ASSERT_TRUE(sim.cut_power(e).ok());
  }
  std::unique_ptr<Engine> e = OpenOn(sim);
  ASSERT_NE(e, nullptr);
  auto late = e->find_keyspace("late");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(Get(e.get(), *late, "b"), "2");
  EXPECT_EQ(Get(e.get(), *e->find_keyspace("first"), "a"), "1");
}

// The other side of the race above: a keyspace dropped (its family dropped by the materializer) after the
// checkpoint listed the families and before it flushed them. The checkpoint still succeeds, and after a
// power cut the keyspace stays dropped, its name is free again, and the other keyspace has every sync write.
TEST_F(EngineTest, KeyspaceDroppedDuringACheckpointStaysDroppedAfterAPowerCut) {
  CrashSimulator sim(dir_.path() + "/data");
  {
    std::unique_ptr<Engine> e = OpenOn(sim);
    ASSERT_NE(e, nullptr);
    auto kept = *e->create_keyspace("kept");
    auto doomed = *e->create_keyspace("doomed");
    Transaction t0(Durability::kSync);
    t0.put(kept, "a", "1");
    t0.put(doomed, "x", "gone");
    ASSERT_TRUE(e->commit(t0).ok());
    ASSERT_TRUE(e->wait_materialized().ok());  // both families exist and hold their rows
    CheckpointAround(e.get(), [&] {
      EXPECT_TRUE(e->drop_keyspace("doomed").ok());
      Transaction t1(Durability::kSync);
      t1.put(kept, "b", "2");
      EXPECT_TRUE(e->commit(t1).ok());
    });
    ASSERT_TRUE(sim.cut_power(e).ok());
  }
  std::unique_ptr<Engine> e = OpenOn(sim);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->find_keyspace("doomed").ok());
  auto kept = e->find_keyspace("kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(Get(e.get(), *kept, "a"), "1");
  EXPECT_EQ(Get(e.get(), *kept, "b"), "2");
  auto again = e->create_keyspace("doomed");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(e->get(*again, "x").ok()) << "a new keyspace of the old name starts empty";
}

// Damage in the middle of the WAL (not a torn tail) fails the open with the file, the offset and the
// salvage command, and changes nothing.
TEST_F(EngineTest, CorruptWalMiddleFailsOpenNamingFileOffsetAndSalvage) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto o = MakeOptions();
  o.file_system = &fs;
  o.wal_segment_size = 4096;
  {
    auto e = Open(o);
    auto ks = *e->create_keyspace("kv");
    for (int i = 0; i < 100; i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "k" + std::to_string(i), std::string(100, 'x'));
      ASSERT_TRUE(e->commit(t).ok());
    }
    // A crash: RocksDB keeps nothing of this, the WAL must be replayed.
    fs.cut_power();
    static_cast<engine::EngineImpl*>(e.get())->abandon_for_crash_test();
    ASSERT_TRUE(fs.restart().ok());
  }
  const std::string wal_dir = o.data_dir + "/wal";
  auto names = mem->list_dir(wal_dir);
  ASSERT_TRUE(names.ok());
  ASSERT_GT(names->size(), 2u);
  const std::string victim = wal_dir + "/" + (*names)[1];
  std::string bytes;
  ASSERT_TRUE(mem->read_file(victim, &bytes).ok());
  bytes[200] ^= 0x08;
  {
    auto f = mem->new_writable_file(victim);
    ASSERT_TRUE((*f)->append(bytes).ok());
  }
  auto e = Engine::open(o);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsCorruption()) << e.status().ToString();
  EXPECT_NE(e.status().message().find((*names)[1]), std::string::npos) << e.status().ToString();
  EXPECT_NE(e.status().message().find("offset"), std::string::npos);
  EXPECT_NE(e.status().message().find("savepoint wal salvage"), std::string::npos);
}

// An apply function reads and writes several keys in one commit (how registries keep their indexes).
TEST_F(EngineTest, ApplyFunctionsReadTheirOwnWritesAndAbortAtomically) {
  auto e = Open();
  auto rows = *e->create_keyspace("rows");
  auto index = *e->create_keyspace("index");
  Transaction t;
  t.put(rows, "r1", "red");
  t.apply([&](CommitContext& ctx) -> Status {
    auto r = ctx.get(rows, "r1");  // sees the put above
    if (!r.ok()) return r.status();
    SP_RETURN_IF_ERROR(ctx.put(index, r->value->bytes + "/r1", MakeValue("")));
    return Status::OK();
  });
  ASSERT_TRUE(e->commit(t).ok());
  EXPECT_EQ(Get(e.get(), index, "red/r1"), "");

  Transaction bad;
  bad.put(rows, "r2", "blue");
  bad.apply([&](CommitContext& ctx) -> Status {
    SP_RETURN_IF_ERROR(ctx.put(index, "blue/r2", MakeValue("")));
    return Status::Conflict("unique index violated");
  });
  EXPECT_TRUE(e->commit(bad).status().IsConflict());
  EXPECT_EQ(Get(e.get(), rows, "r2"), "<NotFound>");
  EXPECT_EQ(Get(e.get(), index, "blue/r2"), "<NotFound>");
}

// Regression: after a recovery that replayed records (and a restore point after them), wait_materialized
// waited for an LSN the materializer would never reach.
TEST_F(EngineTest, WaitMaterializedReturnsAfterARecoveryThatReplayed) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto o = MakeOptions();
  o.file_system = &fs;
  {
    auto e = Open(o);
    auto ks = *e->create_keyspace("kv");
    for (int i = 0; i < 10; i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "k" + std::to_string(i), "v");
      ASSERT_TRUE(e->commit(t).ok());
    }
    ASSERT_TRUE(e->create_restore_point("after-ten").ok());
    fs.cut_power();
    static_cast<engine::EngineImpl*>(e.get())->abandon_for_crash_test();
    ASSERT_TRUE(fs.restart().ok());
  }
  auto e = Open(o);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_TRUE(e->wait_materialized().ok());
    returned = true;
  });
  for (int i = 0; i < 3000 && !returned; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(returned.load()) << "wait_materialized() blocked after recovery";
  waiter.join();
  EXPECT_EQ(e->stats().materializer_lag_records, 0u);
  EXPECT_EQ(Get(e.get(), *e->find_keyspace("kv"), "k9"), "v");
}

// A deleted WAL directory must not go unnoticed: commits since the last flush would be lost silently.
TEST_F(EngineTest, MissingWalIsRefused) {
  {
    auto e = Open();
    auto ks = *e->create_keyspace("kv");
    Transaction t(Durability::kSync);
    t.put(ks, "k", "v");
    ASSERT_TRUE(e->commit(t).ok());
    ASSERT_TRUE(e->close().ok());
  }
  std::filesystem::remove_all(MakeOptions().data_dir + "/wal");
  auto e = Engine::open(MakeOptions());
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsCorruption()) << e.status().ToString();
  EXPECT_NE(e.status().message().find("no WAL segment"), std::string::npos);
}

}  // namespace
}  // namespace savepoint
