// Materializer backpressure (Options::max_materializer_lag_bytes): commits wait while the records not yet in
// RocksDB take the bound or more. The bound holds, and a waiting commit always comes back: when the
// materializer catches up (the waiting commit has the log synced: with a one-hour sync_interval nothing else
// would), when the engine closes, and when the log fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine_impl.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/file_system.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

constexpr uint64_t kLimit = 32 << 10;
constexpr int kThreads = 4;
constexpr size_t kValueBytes = 200;
// A queued record of one put of kValueBytes (key under 16 bytes) takes less than this.
constexpr uint64_t kMaxRecordBytes = kValueBytes + 64;

class MaterializerBackpressureTest : public ::testing::Test {
 protected:
  Options MakeOptions(FileSystem* fs) {
    Options o;
    o.data_dir = dir_.path() + "/data";
    o.file_system = fs;
    o.max_materializer_lag_bytes = kLimit;
    // The periodic sync would come too late to matter: only the waiting commits get records synced.
    o.sync_interval = std::chrono::hours(1);
    return o;
  }
  std::unique_ptr<Engine> Open(const Options& o) {
    auto e = Engine::open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  // Thread `thread` writes 50 keys in turn; value i begins with the decimal i.
  static std::string Key(int thread, int k) {
    std::string key = "t";
    key.append(std::to_string(thread)).append("-").append(std::to_string(k));
    return key;
  }
  static Status Put(Engine* e, Keyspace* ks, int thread, int i) {
    Transaction t(Durability::kRelaxed);
    std::string value = std::to_string(i);
    value.resize(kValueBytes, 'v');
    t.put(ks, Key(thread, i % 50), value);
    return e->commit(t).status();
  }

  test::ScratchDir dir_;
};

TEST_F(MaterializerBackpressureTest, LagStaysWithinTheBoundWhileCommitsOutrunTheMaterializer) {
  auto mem = NewMemFileSystem();
  const Options o = MakeOptions(mem.get());
  constexpr int kPerThread = 3000;
  {
    auto e = Open(o);
    ASSERT_NE(e, nullptr);
    Keyspace* ks = *e->create_keyspace("kv");
    std::atomic<bool> done{false};
    std::atomic<uint64_t> max_lag{0};
    std::thread monitor([&] {
      while (!done.load()) {
        const uint64_t lag = e->stats().materializer_lag_bytes;
        if (lag > max_lag.load()) max_lag = lag;
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> committers;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; t++) {
      committers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; i++) {
          Status s = Put(e.get(), ks, t, i);
          if (!s.ok()) {
            ADD_FAILURE() << s.ToString();
            failures++;
            return;
          }
        }
      });
    }
    for (std::thread& c : committers) c.join();
    done = true;
    monitor.join();
    ASSERT_EQ(failures.load(), 0);
    const Stats st = e->stats();
    // The queue filled (with a one-hour sync interval nothing else syncs), so commits did wait...
    EXPECT_GT(st.commit_backpressure_waits, 0u);
    // ...and the bound held: a commit checks it before it takes the sequencer, so at most one record per
    // committing thread goes in past it.
    EXPECT_LE(max_lag.load(), kLimit + kThreads * kMaxRecordBytes);
    EXPECT_LE(st.materializer_lag_bytes, kLimit + kThreads * kMaxRecordBytes);
    ASSERT_TRUE(e->wait_materialized().ok());
    ASSERT_TRUE(e->close().ok());
  }
  // Nothing was lost on the way: RocksDB has the last value of every key.
  auto e = Open(o);
  ASSERT_NE(e, nullptr);
  Keyspace* ks = *e->find_keyspace("kv");
  for (int t = 0; t < kThreads; t++) {
    for (int k = 0; k < 50; k++) {
      const int last = kPerThread - 50 + k;
      auto r = e->get(ks, Key(t, k));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->value->bytes.substr(0, std::to_string(last).size()), std::to_string(last));
    }
  }
  EXPECT_EQ(*e->count(ks), static_cast<uint64_t>(kThreads * 50));
}

// Commits racing close() (which the API does not allow, but a server shutting down may do) must come back,
// and close() must not wait for them.
TEST_F(MaterializerBackpressureTest, CloseReturnsAndReleasesCommitsThatWait) {
  auto mem = NewMemFileSystem();
  auto e = Open(MakeOptions(mem.get()));
  ASSERT_NE(e, nullptr);
  Keyspace* ks = *e->create_keyspace("kv");
  std::vector<Status> last(kThreads);
  std::vector<std::thread> committers;
  for (int t = 0; t < kThreads; t++) {
    committers.emplace_back([&, t] {
      for (int i = 0; i < 1'000'000 && last[t].ok(); i++) last[t] = Put(e.get(), ks, t, i);
    });
  }
  // Close once commits have been held by backpressure.
  while (e->stats().commit_backpressure_waits < 10) std::this_thread::yield();
  EXPECT_TRUE(e->close().ok());
  for (std::thread& c : committers) c.join();
  for (int t = 0; t < kThreads; t++) {
    EXPECT_TRUE(last[t].IsInvalidArgument()) << "thread " << t << ": " << last[t].ToString();
  }
}

// A log that fails while commits wait: they get the failure instead of waiting for a sync that cannot come.
TEST_F(MaterializerBackpressureTest, FailedLogSyncReleasesCommitsThatWait) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto e = Open(MakeOptions(&fs));
  ASSERT_NE(e, nullptr);
  Keyspace* ks = *e->create_keyspace("kv");
  // The first fdatasync from now on fails: the one a waiting commit asks for.
  fs.fail_next(FaultOp::kSync, FaultError::kEIO, 0, 1, "/wal/");
  std::vector<Status> last(kThreads);
  std::vector<std::thread> committers;
  for (int t = 0; t < kThreads; t++) {
    committers.emplace_back([&, t] {
      for (int i = 0; i < 1'000'000 && last[t].ok(); i++) last[t] = Put(e.get(), ks, t, i);
    });
  }
  for (std::thread& c : committers) c.join();
  for (int t = 0; t < kThreads; t++)
    EXPECT_TRUE(last[t].IsFatal()) << "thread " << t << ": " << last[t].ToString();
  EXPECT_GT(e->stats().commit_backpressure_waits, 0u);
  EXPECT_FALSE(e->close().ok());
}

// Regression: the commit path shrank its reused payload buffer (over 1 MiB) before handing the record to the
// materializer, which then got an empty record and stopped.
TEST_F(MaterializerBackpressureTest, TransactionsOverAMebibyteReachRocksDB) {
  auto mem = NewMemFileSystem();
  const Options o = MakeOptions(mem.get());
  {
    auto e = Open(o);
    ASSERT_NE(e, nullptr);
    Keyspace* ks = *e->create_keyspace("kv");
    for (int round = 0; round < 3; round++) {
      Transaction t(Durability::kRelaxed);
      for (int i = 0; i < 3; i++)
        t.put(ks, Key(round, i), std::string(600 << 10, static_cast<char>('a' + i)));
      ASSERT_TRUE(e->commit(t).ok());
    }
    ASSERT_TRUE(e->wait_materialized().ok());
    ASSERT_TRUE(e->close().ok());
  }
  auto e = Open(o);
  ASSERT_NE(e, nullptr);
  Keyspace* ks = *e->find_keyspace("kv");
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 3; i++) {
      auto r = e->get(ks, Key(round, i));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->value->bytes, std::string(600 << 10, static_cast<char>('a' + i)));
    }
  }
}

}  // namespace
}  // namespace savepoint

// ---- SortForBatch: the order a materializer batch is written in ----

namespace savepoint::engine {
namespace {

// Keys built to exercise the integer prefix the sort compares first: long shared prefixes, keys that are
// prefixes of others, zero and 0xff bytes, repeats, and three families.
TEST(SortForBatchTest, OrdersByFamilyThenKeyThenIndex) {
  alignas(8) static char families_storage[3][8];
  rocksdb::ColumnFamilyHandle* const family[3] = {
      reinterpret_cast<rocksdb::ColumnFamilyHandle*>(families_storage[0]),  // compared, never dereferenced
      reinterpret_cast<rocksdb::ColumnFamilyHandle*>(families_storage[1]),
      reinterpret_cast<rocksdb::ColumnFamilyHandle*>(families_storage[2])};
  std::mt19937 rng(11);
  const std::string alphabet(
      "\0\x01"
      "09az\xfe\xff",
      8);
  for (int round = 0; round < 200; round++) {
    const std::string shared =
        round % 3 == 0 ? "" : std::string("player:0000000") + std::string(round % 5, 'x');
    const size_t n = 1 + rng() % 300;
    std::vector<std::string> keys;
    for (size_t i = 0; i < n; i++) {
      if (!keys.empty() && rng() % 8 == 0) {
        keys.push_back(keys[rng() % keys.size()]);  // a repeat
        continue;
      }
      std::string key = shared;
      for (size_t len = rng() % 14; len > 0; len--) key.push_back(alphabet[rng() % alphabet.size()]);
      keys.push_back(key);
    }
    std::vector<PendingEffect> effects;
    std::vector<rocksdb::ColumnFamilyHandle*> families;
    for (const std::string& k : keys) {
      effects.push_back({0, EffectKind::kPut, k, "v", 0});
      families.push_back(family[rng() % (round % 4 == 0 ? 1 : 3)]);
    }
    std::vector<uint32_t> order, expected;
    for (uint32_t i = 0; i < n; i++) {
      if (rng() % 10 != 0) order.push_back(i);  // not every effect takes part (a dropped family's do not)
    }
    expected = order;
    std::stable_sort(expected.begin(), expected.end(), [&](uint32_t a, uint32_t b) {
      if (families[a] != families[b]) return families[a] < families[b];
      return keys[a] < keys[b];
    });
    SortForBatch(effects, families, &order);
    ASSERT_EQ(order, expected) << "round " << round;
  }
}

}  // namespace
}  // namespace savepoint::engine
