// Tests for engine/hot_store.h: memory residency against a std::map model, cached residency (budget, dirty
// entries, tombstones, prefix tombstones, fill, LRU), and readers racing a writer and the materializer.
#include "engine/hot_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil.h"

namespace savepoint::engine {
namespace {

using savepoint::test::TestSeed;

// A fill from a RocksDB read that saw everything materialised so far.
constexpr uint64_t kReadNow = UINT64_MAX;

HotEntry Put(std::string bytes, uint64_t version, uint64_t expire_at = 0, uint64_t lsn = 0) {
  return HotEntry{MakeValue(std::move(bytes)), version, expire_at, lsn};
}

std::string Bytes(HotKeyspace& hot, std::string_view key, uint64_t now = 1) {
  Entry e;
  if (hot.get(key, now, &e) != Lookup::kFound) return "<none>";
  return e.value->bytes;
}

std::vector<std::string> ScanKeys(HotKeyspace& hot, std::string_view start, std::string_view end,
                                  uint64_t now, size_t limit = SIZE_MAX) {
  std::vector<std::string> keys;
  hot.scan(start, end, now, [&](std::string_view key, const Entry&) {
    keys.emplace_back(key);
    return keys.size() < limit;
  });
  return keys;
}

// ------------------------------------------------------------------------------------------------ memory

TEST(HotMemory, PutGetReplaceDelete) {
  auto hot = HotKeyspace::NewMemory();
  EXPECT_FALSE(hot->cached());
  Entry e;
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kAbsent);

  hot->apply_put("k", Put("v1", 1, 0, 10));
  ASSERT_EQ(hot->get("k", 1, &e), Lookup::kFound);
  EXPECT_EQ(e.value->bytes, "v1");
  EXPECT_EQ(e.version, 1u);
  EXPECT_EQ(e.expire_at_micros, 0u);

  hot->apply_put("k", Put("v2", 2, 0, 11));
  ASSERT_EQ(hot->get("k", 1, &e), Lookup::kFound);
  EXPECT_EQ(e.value->bytes, "v2");
  EXPECT_EQ(e.version, 2u);
  HotEntry raw;
  ASSERT_EQ(hot->get_raw("k", &raw), Lookup::kFound);
  EXPECT_EQ(raw.lsn, 11u);
  EXPECT_EQ(hot->stats().keys, 1u);

  hot->apply_delete("k", 3, 12);
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get_raw("k", &raw), Lookup::kAbsent);
  EXPECT_EQ(hot->stats().keys, 0u);
  hot->apply_delete("never", 4, 13);  // deleting an absent key is harmless
  EXPECT_EQ(hot->stats().keys, 0u);
}

TEST(HotMemory, ExpiresExactlyAtTheInstant) {
  auto hot = HotKeyspace::NewMemory();
  hot->apply_put("k", Put("v", 1, /*expire_at=*/1000));
  Entry e;
  EXPECT_EQ(hot->get("k", 999, &e), Lookup::kFound);
  EXPECT_EQ(e.expire_at_micros, 1000u);
  EXPECT_EQ(hot->get("k", 1000, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get("k", 1001, &e), Lookup::kAbsent);
  // get_raw returns the stored entry even when expired.
  HotEntry raw;
  ASSERT_EQ(hot->get_raw("k", &raw), Lookup::kFound);
  EXPECT_EQ(raw.value->bytes, "v");
  EXPECT_EQ(ScanKeys(*hot, "", "", 999), std::vector<std::string>{"k"});
  EXPECT_TRUE(ScanKeys(*hot, "", "", 1000).empty());
}

TEST(HotMemory, DeletePrefixRemovesExactlyThePrefixedKeys) {
  auto hot = HotKeyspace::NewMemory();
  const std::vector<std::string> keys = {"",    "a",  "ab", std::string("ab\0", 3), "ab\xff",
                                         "abc", "ac", "b",  std::string("a\0b", 3)};
  for (size_t i = 0; i < keys.size(); ++i) hot->apply_put(keys[i], Put("v" + std::to_string(i), i + 1, 5000));
  hot->apply_delete_prefix("ab", 100, 100);
  std::vector<std::string> expect = {"", "a", std::string("a\0b", 3), "ac", "b"};
  EXPECT_EQ(ScanKeys(*hot, "", "", 1), expect);
  EXPECT_EQ(hot->stats().keys, expect.size());
  EXPECT_EQ(hot->stats().expiring, expect.size());
  Entry e;
  EXPECT_EQ(hot->get("ab", 1, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get("a", 1, &e), Lookup::kFound);

  hot->apply_put("\xff\xff", Put("x", 1));
  hot->apply_put("\xff", Put("y", 1));
  hot->apply_delete_prefix("\xff\xff", 101, 101);
  EXPECT_EQ(hot->get("\xff", 1, &e), Lookup::kFound);
  EXPECT_EQ(hot->get("\xff\xff", 1, &e), Lookup::kAbsent);

  hot->apply_delete_prefix("", 102, 102);  // the empty prefix covers everything
  EXPECT_EQ(hot->stats().keys, 0u);
  EXPECT_EQ(hot->stats().bytes, 0u);
  EXPECT_EQ(hot->stats().expiring, 0u);
}

// Keys from a small alphabet (including 0x00 and 0xff) so that prefixes and neighbours are common.
std::string RandomKey(std::mt19937_64& rng) {
  static const char kAlphabet[] = {'\0', 'a', 'b', 'c', '\x7f', '\x80', '\xff'};
  std::string s(rng() % 6, '\0');
  for (auto& c : s) c = kAlphabet[rng() % sizeof(kAlphabet)];
  return s;
}

TEST(HotMemory, ScanMatchesOrderedModel) {
  std::mt19937_64 rng(TestSeed());
  auto hot = HotKeyspace::NewMemory();
  struct ModelEntry {
    std::string bytes;
    uint64_t version, expire_at;
  };
  std::map<std::string, ModelEntry> model;
  for (int i = 0; i < 5000; ++i) {
    std::string key = RandomKey(rng);
    if (rng() % 5 == 0) {
      hot->apply_delete(key, i + 1, i + 1);
      model.erase(key);
      continue;
    }
    uint64_t expire = rng() % 3 == 0 ? 1 + rng() % 1000 : 0;
    std::string bytes = key + "#" + std::to_string(i);
    hot->apply_put(key, Put(bytes, i + 1, expire, i + 1));
    model[key] = {bytes, static_cast<uint64_t>(i + 1), expire};
  }
  ASSERT_GT(model.size(), 1000u);

  for (int round = 0; round < 300; ++round) {
    const std::string start = round == 0 ? "" : RandomKey(rng);
    const std::string end = round == 0 || rng() % 4 == 0 ? "" : RandomKey(rng);
    const uint64_t now = rng() % 1100;
    const size_t limit = rng() % 3 == 0 ? 1 + rng() % 50 : SIZE_MAX;

    std::vector<std::pair<std::string, ModelEntry>> expect;
    for (auto it = model.lower_bound(start); it != model.end() && (end.empty() || it->first < end); ++it) {
      if (it->second.expire_at != 0 && it->second.expire_at <= now) continue;
      if (expect.size() == limit) break;
      expect.emplace_back(*it);
    }
    std::vector<std::pair<std::string, ModelEntry>> got;
    hot->scan(start, end, now, [&](std::string_view key, const Entry& e) {
      got.push_back({std::string(key), {e.value->bytes, e.version, e.expire_at_micros}});
      return got.size() < limit;
    });
    ASSERT_EQ(got.size(), expect.size()) << "round " << round;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].first, expect[i].first) << "round " << round << " at " << i;
      ASSERT_EQ(got[i].second.bytes, expect[i].second.bytes);
      ASSERT_EQ(got[i].second.version, expect[i].second.version);
      ASSERT_EQ(got[i].second.expire_at, expect[i].second.expire_at);
    }
  }
}

// Long runs of expired keys and scans larger than one batch per shard.
TEST(HotMemory, ScanCrossesBatchesAndExpiredRuns) {
  auto hot = HotKeyspace::NewMemory();
  std::vector<std::string> expect;
  for (int i = 0; i < 20000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "k%06d", i);
    const bool expired = (i / 3000) % 2 == 1;  // alternate runs of 3000 expired keys
    hot->apply_put(key, Put("v", 1, expired ? 50 : 0));
    if (!expired) expect.push_back(key);
  }
  EXPECT_EQ(ScanKeys(*hot, "", "", 100), expect);
  EXPECT_EQ(ScanKeys(*hot, "k003000", "k006001", 100), std::vector<std::string>{"k006000"});
  EXPECT_TRUE(ScanKeys(*hot, "k5", "k1", 100).empty());  // end before start
  EXPECT_EQ(ScanKeys(*hot, "", "", 100, 1), std::vector<std::string>{"k000000"});
}

TEST(HotMemory, ExpiredKeysAreExactlyThoseDue) {
  std::mt19937_64 rng(TestSeed());
  auto hot = HotKeyspace::NewMemory();
  std::map<std::string, uint64_t> expire_of;
  for (int i = 0; i < 3000; ++i) {
    std::string key = "key" + std::to_string(rng() % 2000);
    uint64_t expire = rng() % 4 == 0 ? 0 : 1 + rng() % 10000;
    hot->apply_put(key, Put("v", i + 1, expire));
    expire_of[key] = expire;
  }
  for (int round = 0; round < 50; ++round) {
    const uint64_t now = rng() % 11000;
    std::set<std::string> due;
    for (const auto& [key, at] : expire_of) {
      if (at != 0 && at <= now) due.insert(key);
    }
    auto all = hot->expired_keys(now, SIZE_MAX);
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), due);
    EXPECT_EQ(all.size(), due.size());  // no duplicates

    const size_t limit = rng() % 40;
    auto some = hot->expired_keys(now, limit);
    EXPECT_EQ(some.size(), std::min(limit, due.size()));
    for (const auto& key : some) EXPECT_TRUE(due.count(key)) << key;
    // The earliest-expiring keys come first.
    uint64_t worst_taken = 0;
    for (const auto& key : some) worst_taken = std::max(worst_taken, expire_of[key]);
    std::set<std::string> taken(some.begin(), some.end());
    for (const auto& key : due) {
      if (!taken.count(key)) {
        EXPECT_GE(expire_of[key], worst_taken) << key;
      }
    }
  }
}

TEST(HotMemory, TtlIndexFollowsReplaceAndDelete) {
  auto hot = HotKeyspace::NewMemory();
  hot->apply_put("k", Put("v", 1, 100));
  EXPECT_EQ(hot->stats().expiring, 1u);
  EXPECT_EQ(hot->expired_keys(100, 10), std::vector<std::string>{"k"});

  hot->apply_put("k", Put("v", 2, 200));  // TTL replaced
  EXPECT_EQ(hot->stats().expiring, 1u);
  EXPECT_TRUE(hot->expired_keys(150, 10).empty());
  EXPECT_EQ(hot->expired_keys(200, 10), std::vector<std::string>{"k"});

  hot->apply_put("k", Put("v", 3, 0));  // TTL removed
  EXPECT_EQ(hot->stats().expiring, 0u);
  EXPECT_TRUE(hot->expired_keys(UINT64_MAX, 10).empty());

  hot->apply_put("k", Put("v", 4, 300));
  hot->apply_delete("k", 5, 5);
  EXPECT_EQ(hot->stats().expiring, 0u);
  EXPECT_TRUE(hot->expired_keys(UINT64_MAX, 10).empty());

  hot->apply_put("p/1", Put("v", 6, 300));
  hot->apply_put("p/2", Put("v", 6, 300));
  hot->apply_put("q", Put("v", 6, 300));
  hot->apply_delete_prefix("p/", 7, 7);
  EXPECT_EQ(hot->stats().expiring, 1u);
  EXPECT_EQ(hot->expired_keys(UINT64_MAX, 10), std::vector<std::string>{"q"});
}

TEST(HotMemory, StatsReturnToStartAfterDeletingEverything) {
  std::mt19937_64 rng(TestSeed());
  auto hot = HotKeyspace::NewMemory();
  const HotStats start = hot->stats();
  std::set<std::string> keys;
  uint64_t value_bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string key = RandomKey(rng) + std::to_string(rng() % 500);
    std::string bytes(rng() % 100, 'x');
    if (!keys.count(key)) value_bytes += key.size();
    hot->apply_put(key, Put(bytes, i + 1, rng() % 2 ? 0 : 5));
    keys.insert(key);
  }
  HotStats mid = hot->stats();
  EXPECT_EQ(mid.keys, keys.size());
  EXPECT_GT(mid.bytes, value_bytes);  // at least the keys themselves
  EXPECT_GT(mid.expiring, 0u);
  size_t n = 0;
  for (const auto& key : keys) {
    if (n++ % 2 == 0) {
      hot->apply_delete(key, 1, 1);
    } else {
      hot->apply_put(key, Put("replacement", 2));  // replace, then delete by prefix below
    }
  }
  for (const auto& key : keys) hot->apply_delete_prefix(key, 3, 3);
  const HotStats end = hot->stats();
  EXPECT_EQ(end.keys, start.keys);
  EXPECT_EQ(end.bytes, start.bytes);
  EXPECT_EQ(end.expiring, start.expiring);

  hot->apply_put("a", Put("b", 1, 7));
  hot->clear();
  EXPECT_EQ(hot->stats().keys, 0u);
  EXPECT_EQ(hot->stats().bytes, 0u);
  EXPECT_EQ(hot->stats().expiring, 0u);
}

TEST(HotMemory, FillAndMaterializationAreNoOps) {
  auto hot = HotKeyspace::NewMemory();
  hot->fill("k", Put("old", 1), kReadNow);
  Entry e;
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kAbsent);
  hot->apply_put("k", Put("v", 2, 0, 99));
  hot->on_materialized(1000);
  EXPECT_EQ(Bytes(*hot, "k"), "v");
}

// Point operations and scans against a model through heavy churn: the hash table grows, keys are erased from
// the middle of probe runs (backward-shift deletion) and reinserted, keys range from 1 byte to longer than
// any inline string buffer and include NUL bytes, and delete_prefix removes whole runs.
TEST(HotMemory, PointOpsMatchModelThroughChurn) {
  std::mt19937_64 rng(TestSeed());
  auto hot = HotKeyspace::NewMemory();
  hot->apply_put("x", Put("", 1));
  const uint64_t per_entry = hot->stats().bytes - 1;  // the charge beyond key and value bytes
  hot->apply_delete("x", 2, 2);
  std::map<std::string, std::string> model;
  auto key_of = [&](uint64_t n) {
    std::string key = "k";
    key += std::to_string(n % 20000);
    if (n % 7 == 0) key += std::string(n % 40, static_cast<char>('a' + n % 26));
    if (n % 11 == 0) key.push_back('\0');
    return key;
  };
  for (int i = 0; i < 200000; ++i) {
    const std::string key = key_of(rng());
    const uint64_t op = rng() % 100;
    if (op < 55) {
      std::string bytes = std::to_string(i);
      hot->apply_put(key, Put(bytes, i + 1, 0, i + 1));
      model[key] = bytes;
    } else if (op < 99) {
      hot->apply_delete(key, i + 1, i + 1);
      model.erase(key);
    } else {
      const std::string prefix = key.substr(0, 3);
      hot->apply_delete_prefix(prefix, i + 1, i + 1);
      model.erase(model.lower_bound(prefix), model.lower_bound(prefix + std::string(1, '\xff')));
    }
    if (i % 50000 == 49999) {
      uint64_t bytes = 0;
      for (uint64_t n = 0; n < 30000; ++n) {
        const std::string k = key_of(n);
        auto it = model.find(k);
        HotEntry raw;
        if (it == model.end()) {
          ASSERT_EQ(hot->get_raw(k, &raw), Lookup::kAbsent) << "i " << i << " n " << n;
        } else {
          ASSERT_EQ(hot->get_raw(k, &raw), Lookup::kFound) << "i " << i << " n " << n;
          ASSERT_EQ(raw.value->bytes, it->second);
          ASSERT_EQ(Bytes(*hot, k), it->second);
        }
      }
      std::vector<std::pair<std::string, std::string>> got;
      hot->scan("", "", 1, [&](std::string_view key, const Entry& e) {
        got.emplace_back(std::string(key), e.value->bytes);
        return true;
      });
      const std::vector<std::pair<std::string, std::string>> expect(model.begin(), model.end());
      ASSERT_EQ(got, expect);
      for (const auto& [k, v] : model) bytes += k.size() + v.size() + per_entry;
      const HotStats st = hot->stats();
      EXPECT_EQ(st.keys, model.size());
      EXPECT_EQ(st.bytes, bytes);
    }
  }
  for (const auto& [k, v] : model) hot->apply_delete(k, 1, 1);
  EXPECT_EQ(hot->stats().keys, 0u);
  EXPECT_EQ(hot->stats().bytes, 0u);
  EXPECT_TRUE(ScanKeys(*hot, "", "", 1).empty());
  hot->apply_put("k1", Put("again", 1));  // a drained table takes new keys
  EXPECT_EQ(Bytes(*hot, "k1"), "again");
}

// delete_prefix removes a long run of adjacent keys, including one equal to the prefix, and nothing past it.
TEST(HotMemory, DeletePrefixRemovesLongRuns) {
  auto hot = HotKeyspace::NewMemory();
  for (int i = 0; i < 5000; ++i) {
    const std::string n = std::to_string(i);
    hot->apply_put(std::string("p/").append(n), Put("v", 1));
    hot->apply_put(std::string("q/").append(n), Put("v", 1));
  }
  hot->apply_put("p/", Put("v", 1));
  hot->apply_put("p", Put("v", 1));
  hot->apply_delete_prefix("p/", 2, 2);
  EXPECT_EQ(hot->stats().keys, 5001u);
  EXPECT_EQ(Bytes(*hot, "p"), "v");
  EXPECT_EQ(Bytes(*hot, "p/"), "<none>");
  EXPECT_EQ(Bytes(*hot, "p/17"), "<none>");
  EXPECT_EQ(Bytes(*hot, "q/17"), "v");
  const auto keys = ScanKeys(*hot, "", "", 1, 2);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], "p");
  EXPECT_EQ(keys[1], "q/0");
}

// Deleting most keys shrinks the hash tables (rehashing as they go); the keys left stay readable in order.
TEST(HotMemory, SurvivorsReadableAfterMassDelete) {
  auto hot = HotKeyspace::NewMemory();
  std::vector<std::string> survivors;
  for (int i = 0; i < 20000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "m%06d", i);
    hot->apply_put(key, Put(key, 1));
    if (i % 50 == 0) survivors.push_back(key);
  }
  for (int i = 0; i < 20000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "m%06d", i);
    if (i % 50 != 0) hot->apply_delete(key, 2, 2);
  }
  EXPECT_EQ(hot->stats().keys, survivors.size());
  for (const auto& key : survivors) EXPECT_EQ(Bytes(*hot, key), key);
  EXPECT_EQ(Bytes(*hot, "m000001"), "<none>");
  EXPECT_EQ(ScanKeys(*hot, "", "", 1), survivors);
  hot->apply_delete_prefix("m", 3, 3);
  EXPECT_EQ(hot->stats().keys, 0u);
  EXPECT_EQ(hot->stats().bytes, 0u);
}

// ------------------------------------------------------------------------------------------------ cached

// The charge of one entry with `key_len`-byte key and `value_len`-byte value, measured through stats().
uint64_t ChargeOf(size_t key_len, size_t value_len) {
  auto hot = HotKeyspace::NewCached(UINT64_MAX);
  hot->apply_put(std::string(key_len, 'k'), Put(std::string(value_len, 'v'), 1));
  return hot->stats().bytes;
}

// Keys "s<i>" of the same length that land in the same shard as "s0000", found through the public interface:
// in a store whose shards each hold one entry, filling a second key evicts the first iff they share a shard.
std::vector<std::string> SameShardKeys(size_t n) {
  const uint64_t charge = ChargeOf(5, 1);
  std::vector<std::string> keys = {"s0000"};
  for (int i = 1; keys.size() < n && i < 10000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "s%04d", i);
    auto hot = HotKeyspace::NewCached(16 * charge);
    hot->fill(keys[0], Put("v", 1), kReadNow);
    hot->fill(key, Put("v", 1), kReadNow);
    HotEntry raw;
    if (hot->get_raw(keys[0], &raw) == Lookup::kNotCached) keys.push_back(key);
  }
  return keys;
}

TEST(HotCached, PutGetDeleteTombstone) {
  auto hot = HotKeyspace::NewCached(1 << 20);
  EXPECT_TRUE(hot->cached());
  Entry e;
  HotEntry raw;
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->get_raw("k", &raw), Lookup::kNotCached);
  hot->apply_put("k", Put("v1", 1, 0, 1));
  EXPECT_EQ(Bytes(*hot, "k"), "v1");
  hot->apply_delete("k", 2, 2);
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get_raw("k", &raw), Lookup::kAbsent);
  EXPECT_EQ(hot->stats().keys, 0u);  // tombstones are not keys
  hot->on_materialized(2);
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kAbsent);  // still resident (negative cache) until evicted

  hot->apply_put("t", Put("v", 3, 500, 3));
  EXPECT_EQ(hot->get("t", 499, &e), Lookup::kFound);
  EXPECT_EQ(hot->get("t", 500, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get_raw("t", &raw), Lookup::kFound);
  EXPECT_EQ(hot->expired_keys(500, 10), std::vector<std::string>{"t"});
  EXPECT_EQ(hot->stats().expiring, 1u);

  const HotStats st = hot->stats();
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.hits, 5u);  // get_raw counts neither
}

TEST(HotCached, BudgetRespectedOnceMaterialized) {
  std::mt19937_64 rng(TestSeed());
  const uint64_t budget = 64 * 1024;
  auto hot = HotKeyspace::NewCached(budget);
  uint64_t lsn = 0;
  const uint64_t overhead = ChargeOf(0, 0);
  uint64_t max_charge = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string key = "key" + std::to_string(rng() % 5000);
    std::string bytes(rng() % 300, 'v');
    max_charge = std::max<uint64_t>(max_charge, overhead + key.size() + bytes.size());
    if (rng() % 2) {
      hot->apply_put(key, Put(bytes, i + 1, 0, ++lsn));
    } else {
      hot->fill(key, Put(bytes, i + 1), kReadNow);
    }
    if (i % 100 == 0) hot->on_materialized(lsn);
  }
  hot->on_materialized(lsn);
  const HotStats st = hot->stats();
  EXPECT_LE(st.bytes, budget);
  EXPECT_GT(st.bytes, budget - 16 * max_charge);  // full, not emptied
  EXPECT_GT(st.evictions, 0u);
}

TEST(HotCached, DirtyEntriesAreNeverEvicted) {
  const uint64_t charge = ChargeOf(8, 10);
  const uint64_t budget = 16 * 4 * charge;
  auto hot = HotKeyspace::NewCached(budget);
  auto key = [](int i) {
    char k[16];
    std::snprintf(k, sizeof(k), "d%07d", i);
    return std::string(k);
  };
  for (int i = 1; i <= 1000; ++i) hot->apply_put(key(i), Put(std::string(10, 'a' + i % 26), i, 0, i));
  HotStats st = hot->stats();
  EXPECT_EQ(st.keys, 1000u);
  EXPECT_EQ(st.evictions, 0u);
  EXPECT_GT(st.bytes, budget);
  for (int i = 1; i <= 1000; ++i) ASSERT_EQ(Bytes(*hot, key(i)), std::string(10, 'a' + i % 26)) << i;

  hot->on_materialized(500);  // 1..500 become evictable; the shards are still over budget with 501..1000
  st = hot->stats();
  EXPECT_EQ(st.evictions, 500u);
  EXPECT_EQ(st.keys, 500u);
  Entry e;
  for (int i = 1; i <= 500; ++i) ASSERT_EQ(hot->get(key(i), 1, &e), Lookup::kNotCached) << i;
  for (int i = 501; i <= 1000; ++i) ASSERT_EQ(Bytes(*hot, key(i)), std::string(10, 'a' + i % 26)) << i;

  hot->on_materialized(1000);
  st = hot->stats();
  EXPECT_LE(st.bytes, budget);
  EXPECT_GT(st.evictions, 500u);
}

TEST(HotCached, PrefixTombstoneUntilMaterialized) {
  auto hot = HotKeyspace::NewCached(1 << 20);
  hot->apply_put("p/a", Put("va", 1, 0, 1));
  hot->apply_put("p", Put("vp", 2, 0, 2));
  hot->apply_put("q/a", Put("vq", 3, 0, 3));
  hot->on_materialized(3);
  hot->apply_delete_prefix("p/", 4, 4);
  Entry e;
  HotEntry raw;
  EXPECT_EQ(hot->get("p/a", 1, &e), Lookup::kAbsent);        // tombstoned in memory
  EXPECT_EQ(hot->get("p/unknown", 1, &e), Lookup::kAbsent);  // covered by the prefix tombstone
  EXPECT_EQ(hot->get_raw("p/unknown", &raw), Lookup::kAbsent);
  EXPECT_EQ(hot->get("p/", 1, &e), Lookup::kAbsent);
  EXPECT_EQ(Bytes(*hot, "p"), "vp");  // not under the prefix
  EXPECT_EQ(Bytes(*hot, "q/a"), "vq");
  EXPECT_EQ(hot->get("q/unknown", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->stats().keys, 2u);

  hot->fill("p/unknown", Put("stale", 1), kReadNow);  // the RocksDB read may predate the delete
  EXPECT_EQ(hot->get("p/unknown", 1, &e), Lookup::kAbsent);
  hot->apply_put("p/new", Put("fresh", 5, 0, 5));  // a newer write under the prefix reads normally
  EXPECT_EQ(Bytes(*hot, "p/new"), "fresh");

  hot->on_materialized(3);  // not yet
  EXPECT_EQ(hot->get("p/unknown", 1, &e), Lookup::kAbsent);
  hot->on_materialized(4);
  EXPECT_EQ(hot->get("p/unknown", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->get("p/a", 1, &e), Lookup::kAbsent);  // its own tombstone is still resident
  EXPECT_EQ(Bytes(*hot, "p/new"), "fresh");
  hot->fill("p/unknown", Put("from-rocksdb", 6), kReadNow);
  EXPECT_EQ(Bytes(*hot, "p/unknown"), "from-rocksdb");
}

TEST(HotCached, PrefixTombstoneLookupWithManyPrefixes) {
  auto hot = HotKeyspace::NewCached(1 << 20);
  for (int i = 0; i < 100; ++i) hot->apply_delete_prefix("user/" + std::to_string(i) + "/", i + 1, i + 1);
  Entry e;
  EXPECT_EQ(hot->get("user/42/x", 1, &e), Lookup::kAbsent);
  EXPECT_EQ(hot->get("user/420/x", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->get("user/4", 1, &e), Lookup::kNotCached);
  hot->on_materialized(43);  // "user/42/" was deleted at lsn 43
  EXPECT_EQ(hot->get("user/42/x", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->get("user/43/x", 1, &e), Lookup::kAbsent);
}

TEST(HotCached, FillNeverReplacesANewerEntry) {
  auto hot = HotKeyspace::NewCached(1 << 20);
  hot->apply_put("k", Put("new", 5, 0, 5));
  hot->fill("k", Put("old", 1), kReadNow);
  EXPECT_EQ(Bytes(*hot, "k"), "new");
  hot->on_materialized(5);
  hot->fill("k", Put("old", 1), kReadNow);
  EXPECT_EQ(Bytes(*hot, "k"), "new");

  hot->apply_delete("d", 6, 6);
  hot->fill("d", Put("old", 1), kReadNow);
  Entry e;
  EXPECT_EQ(hot->get("d", 1, &e), Lookup::kAbsent);

  hot->fill("f", Put("filled", 7), kReadNow);
  EXPECT_EQ(Bytes(*hot, "f"), "filled");
  hot->fill("n", HotEntry{nullptr, 0, 0, 0}, kReadNow);  // RocksDB said absent: cached as a tombstone
  EXPECT_EQ(hot->get("n", 1, &e), Lookup::kAbsent);
}

TEST(HotCached, RecentlyReadKeySurvivesEviction) {
  const auto keys = SameShardKeys(5);
  ASSERT_EQ(keys.size(), 5u);
  const uint64_t charge = ChargeOf(5, 1);
  for (bool read_first : {true, false}) {
    auto hot = HotKeyspace::NewCached(16 * 3 * charge);  // three entries per shard
    for (int i = 0; i < 3; ++i) hot->apply_put(keys[i], Put("v", 1));
    if (read_first) {
      EXPECT_EQ(Bytes(*hot, keys[0]), "v");
    }
    hot->apply_put(keys[3], Put("v", 1));  // evicts the least recently used of the shard
    HotEntry raw;
    EXPECT_EQ(hot->get_raw(keys[0], &raw) == Lookup::kFound, read_first);
    EXPECT_EQ(hot->get_raw(keys[1], &raw) == Lookup::kFound, !read_first);
    EXPECT_EQ(hot->get_raw(keys[2], &raw), Lookup::kFound);
    EXPECT_EQ(hot->get_raw(keys[3], &raw), Lookup::kFound);
    EXPECT_EQ(hot->stats().evictions, 1u);
  }
}

TEST(HotCached, ClearDropsEverything) {
  auto hot = HotKeyspace::NewCached(1 << 20);
  hot->apply_put("a", Put("v", 1, 9, 1));
  hot->apply_delete_prefix("p", 2, 2);
  hot->clear();
  const HotStats st = hot->stats();
  EXPECT_EQ(st.keys, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.expiring, 0u);
  Entry e;
  EXPECT_EQ(hot->get("a", 1, &e), Lookup::kNotCached);
  EXPECT_EQ(hot->get("p1", 1, &e), Lookup::kNotCached);
}

// ------------------------------------------------------------------------------------------------
// concurrency

// A value's bytes are determined by its key and version, so a reader can tell a torn or mismatched read.
std::string Expected(std::string_view key, uint64_t version) {
  std::string s(key);
  s += '@';
  s += std::to_string(version);
  while (s.size() < 96) s += static_cast<char>('a' + (s.size() * 7 + version) % 26);
  return s;
}

void RunReadersAgainstWriter(HotKeyspace& hot, uint64_t seed) {
  constexpr int kKeys = 200;
  constexpr int kWrites = 8000;
  constexpr int kReaderIterations = 4000;
  auto key = [](uint64_t i) { return "g" + std::to_string(i % 10) + "/" + std::to_string(i); };
  std::atomic<bool> done{false};
  std::atomic<uint64_t> committed_lsn{0};
  std::atomic<uint64_t> failures{0};

  std::thread writer([&] {
    std::mt19937_64 rng(seed);
    for (uint64_t lsn = 1; lsn <= kWrites; ++lsn) {
      const uint64_t k = rng() % kKeys;
      const uint64_t version = lsn + 1;  // > 1: readers fill at version 1
      switch (rng() % 20) {
        case 0:
          hot.apply_delete(key(k), version, lsn);
          break;
        case 1:
          hot.apply_delete_prefix("g" + std::to_string(k % 10) + "/", version, lsn);
          break;
        default:
          hot.apply_put(key(k), HotEntry{MakeValue(Expected(key(k), version)), version,
                                         rng() % 4 == 0 ? uint64_t{1'000'000} : uint64_t{0}, lsn});
      }
      committed_lsn.store(lsn, std::memory_order_release);
    }
    done.store(true);
  });
  std::thread materializer([&] {
    while (!done.load()) {
      hot.on_materialized(committed_lsn.load(std::memory_order_acquire));
      std::this_thread::yield();
    }
    hot.on_materialized(kWrites);
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(seed + 1 + r);
      // A fixed amount of work (not "until the writer is done") keeps the run time bounded on small machines,
      // where a reader-preferring shared_mutex lets four readers slow the writer down a lot.
      for (int iter = 0; iter < kReaderIterations; ++iter) {
        const uint64_t k = rng() % kKeys;
        const uint64_t now = rng() % 2'000'000;
        Entry e;
        const Lookup got = hot.get(key(k), now, &e);
        if (got == Lookup::kFound && e.value->bytes != Expected(key(k), e.version)) failures.fetch_add(1);
        if (got == Lookup::kNotCached) hot.fill(key(k), HotEntry{MakeValue(Expected(key(k), 1)), 1, 0, 0}, kReadNow);
        HotEntry raw;
        if (hot.get_raw(key(k), &raw) == Lookup::kFound &&
            raw.value->bytes != Expected(key(k), raw.version)) {
          failures.fetch_add(1);
        }
        if (!hot.cached() && iter % 20 == 0) {
          std::string prev;
          bool first = true;
          const std::string start = "g" + std::to_string(rng() % 10);
          hot.scan(start, "", now, [&](std::string_view sk, const Entry& se) {
            if ((!first && sk <= prev) || sk < start || se.value->bytes != Expected(sk, se.version) ||
                (se.expire_at_micros != 0 && se.expire_at_micros <= now)) {
              failures.fetch_add(1);
            }
            prev = sk;
            first = false;
            return true;
          });
        }
        if (iter % 50 == 0) (void)hot.stats();
        if (iter % 100 == 0) (void)hot.expired_keys(now, 16);
      }
    });
  }
  writer.join();
  materializer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0u);
}

TEST(HotConcurrency, MemoryReadersRaceWriterAndMaterializer) {
  auto hot = HotKeyspace::NewMemory();
  RunReadersAgainstWriter(*hot, TestSeed());
  EXPECT_LE(hot->stats().keys, 200u);
}

TEST(HotConcurrency, CachedReadersRaceWriterAndMaterializer) {
  auto hot = HotKeyspace::NewCached(16 * 1024);  // small: constant eviction
  RunReadersAgainstWriter(*hot, TestSeed());
  const HotStats st = hot->stats();
  EXPECT_LE(st.bytes, 16u * 1024u);  // everything materialised at the end
  EXPECT_GT(st.evictions, 0u);
}


// The memory shards' reader-writer lock under its slow paths: writers holding shards for long (prefix
// deletions of thousands of keys) make readers and the other writer wait long enough to sleep. Two writers
// on disjoint prefixes (the engine has one; the hot store allows any number), four readers. No read sees a
// half-made write, nothing deadlocks, and the end state is exact.
TEST(HotConcurrency, ShardLockSlowPathsUnderLongWrites) {
  auto hot = HotKeyspace::NewMemory();
  constexpr int kKeysPerWriter = 3000;
  constexpr int kRounds = 6;
  auto key = [](int w, int i) { return "w" + std::to_string(w) + "/" + std::to_string(i); };
  std::atomic<int> writers_left{2};
  std::atomic<uint64_t> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 1; round <= kRounds; ++round) {
        const uint64_t version = static_cast<uint64_t>(round) * 2 + static_cast<uint64_t>(w);
        for (int i = 0; i < kKeysPerWriter; ++i) {
          hot->apply_put(key(w, i), HotEntry{MakeValue(Expected(key(w, i), version)), version, 0, 0});
        }
        if (round < kRounds) hot->apply_delete_prefix("w" + std::to_string(w) + "/", version + 1, 0);
      }
      writers_left--;
    });
  }
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(TestSeed() + static_cast<uint64_t>(r));
      while (writers_left.load() > 0) {
        const int w = static_cast<int>(rng() % 2);
        const std::string k = key(w, static_cast<int>(rng() % kKeysPerWriter));
        Entry e;
        if (hot->get(k, 0, &e) == Lookup::kFound && e.value->bytes != Expected(k, e.version)) failures++;
        if (rng() % 64 == 0) {
          hot->scan("w", "x", 0, [&](std::string_view sk, const Entry& se) {
            if (se.value->bytes != Expected(sk, se.version)) failures++;
            return rng() % 512 != 0;
          });
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(hot->stats().keys, 2u * kKeysPerWriter);
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < kKeysPerWriter; i += 97) {
      Entry e;
      ASSERT_EQ(hot->get(key(w, i), 0, &e), Lookup::kFound);
      EXPECT_EQ(e.version, static_cast<uint64_t>(kRounds) * 2 + static_cast<uint64_t>(w));
    }
  }
}

// Regression: a reader that missed, read RocksDB, and fills after a newer write of the same key was
// materialised and evicted must not bring the old value back.
TEST(HotCached, FillOlderThanAnEvictionIsIgnored) {
  auto hot = HotKeyspace::NewCached(16 * 100);  // each shard holds one small entry, not a 200-byte one
  hot->apply_put("k", Put(std::string(200, 'n'), 2, 0, 5));
  hot->on_materialized(5);  // the new value reaches RocksDB, then leaves memory (too big for the shard)
  Entry e;
  ASSERT_EQ(hot->get("k", 1, &e), Lookup::kNotCached);
  hot->fill("k", Put("old", 1), /*read_at_applied_lsn=*/4);  // read before LSN 5 was materialised
  EXPECT_EQ(hot->get("k", 1, &e), Lookup::kNotCached) << "a stale value came back";
  hot->fill("k", Put("cur", 3), /*read_at_applied_lsn=*/5);
  ASSERT_EQ(hot->get("k", 1, &e), Lookup::kFound);
  EXPECT_EQ(e.value->bytes, "cur");
}

}  // namespace
}  // namespace savepoint::engine
