#include "engine/sorted_runs_memtable.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace savepoint::engine {
namespace {

// ---- the memtable alone, with keys of the memtable's format: a one-byte length, then the key ----

class TestComparator final : public rocksdb::MemTableRep::KeyComparator {
 public:
  int operator()(const char* a, const char* b) const override { return Key(a).compare(Key(b)); }
  int operator()(const char* a, const rocksdb::Slice& key) const override { return Key(a).compare(key); }

  static rocksdb::Slice Key(const char* entry) { return {entry + 1, static_cast<size_t>(entry[0])}; }
};

// Entries for `keys` (each under 128 bytes), owned here.
class EntryPool {
 public:
  const char* add(const std::string& key) {
    auto entry = std::make_unique<char[]>(key.size() + 1);
    entry[0] = static_cast<char>(key.size());
    std::copy(key.begin(), key.end(), entry.get() + 1);
    entries_.push_back(std::move(entry));
    return entries_.back().get();
  }
  std::string encoded(const std::string& key) { return std::string(1, static_cast<char>(key.size())) + key; }

 private:
  std::vector<std::unique_ptr<char[]>> entries_;
};

std::string Name(uint32_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "k%07u", i);
  return buf;
}

// Distinct keys in runs: each run sorted, `runs` of them, in an order that makes every run start below the
// previous one's end.
std::vector<std::string> SortedRuns(std::mt19937& rng, size_t keys, size_t runs) {
  std::vector<std::string> all;
  for (size_t i = 0; i < keys; i++) all.push_back(Name(static_cast<uint32_t>(i)));
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<std::string> out;
  const size_t per_run = keys / runs;
  for (size_t r = 0; r < runs; r++) {
    auto begin = all.begin() + static_cast<ptrdiff_t>(r * per_run);
    auto end = r + 1 == runs ? all.end() : begin + static_cast<ptrdiff_t>(per_run);
    std::vector<std::string> run(begin, end);
    std::sort(run.begin(), run.end());
    out.insert(out.end(), run.begin(), run.end());
  }
  return out;
}

// Reads every entry of `it` from the first on.
std::vector<std::string> ReadAll(rocksdb::MemTableRep::Iterator* it) {
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(TestComparator::Key(it->key()).ToString());
  return keys;
}

// Checks `rep`, holding exactly `model`, against it: a full scan both ways, and seeks to present and absent
// keys in both directions, by internal key and by memtable key.
void ExpectMatches(rocksdb::MemTableRep* rep, const std::set<std::string>& model, std::mt19937& rng) {
  std::unique_ptr<rocksdb::MemTableRep::Iterator> it(rep->GetIterator(nullptr));
  EXPECT_EQ(ReadAll(it.get()), std::vector<std::string>(model.begin(), model.end()));
  std::vector<std::string> backwards;
  for (it->SeekToLast(); it->Valid(); it->Prev()) backwards.push_back(TestComparator::Key(it->key()).ToString());
  EXPECT_EQ(backwards, std::vector<std::string>(model.rbegin(), model.rend()));

  EntryPool pool;
  for (int i = 0; i < 200; i++) {
    // Present keys are k%07u below the key count; odd suffixes fall between them.
    std::string target = Name(static_cast<uint32_t>(rng() % (model.size() + 10)));
    if (rng() % 2 == 0) target += "x";
    const std::string encoded = pool.encoded(target);
    const bool by_memtable_key = rng() % 2 == 0;
    const rocksdb::Slice internal(target);
    const char* memtable_key = by_memtable_key ? encoded.data() : nullptr;

    it->Seek(internal, memtable_key);
    auto lower = model.lower_bound(target);
    ASSERT_EQ(it->Valid(), lower != model.end()) << target;
    if (it->Valid()) {
      EXPECT_EQ(TestComparator::Key(it->key()).ToString(), *lower);
    }

    it->SeekForPrev(internal, memtable_key);
    auto upper = model.upper_bound(target);
    ASSERT_EQ(it->Valid(), upper != model.begin()) << target;
    if (it->Valid()) {
      EXPECT_EQ(TestComparator::Key(it->key()).ToString(), *std::prev(upper));
    }
  }
}

struct Shape {
  const char* name;
  size_t keys;
  size_t runs;  // 0: no order at all
};

TEST(SortedRunsMemTableTest, ReadsInOrderWhateverTheRuns) {
  const TestComparator compare;
  // Odd run counts leave a run without a partner in a merge pass; one run needs no merge; keys in no order
  // (and runs too short to merge) take std::sort.
  const Shape shapes[] = {{"empty", 0, 1},         {"one key", 1, 1},           {"one run", 1000, 1},
                          {"two runs", 1000, 2},   {"seven runs", 7000, 7},     {"thirty runs", 30000, 30},
                          {"no order", 5000, 0},   {"short runs", 4000, 200}};
  for (const Shape& shape : shapes) {
    SCOPED_TRACE(shape.name);
    std::mt19937 rng(static_cast<uint32_t>(shape.keys + shape.runs));
    std::vector<std::string> keys;
    if (shape.runs == 0) {
      for (size_t i = 0; i < shape.keys; i++) keys.push_back(Name(static_cast<uint32_t>(i)));
      std::shuffle(keys.begin(), keys.end(), rng);
    } else if (shape.keys > 0) {
      keys = SortedRuns(rng, shape.keys, shape.runs);
    }
    EntryPool pool;
    std::unique_ptr<rocksdb::MemTableRep> rep(NewSortedRunsMemTable(compare, nullptr));
    std::set<std::string> model;
    // Half the keys, read while mutable (a sorted copy); the rest; then read-only (sorted in place, once).
    const size_t half = keys.size() / 2;
    for (size_t i = 0; i < half; i++) {
      rep->Insert(const_cast<char*>(pool.add(keys[i])));
      model.insert(keys[i]);
    }
    ExpectMatches(rep.get(), model, rng);
    std::unique_ptr<rocksdb::MemTableRep::Iterator> before_rest(rep->GetIterator(nullptr));
    const std::vector<std::string> first_half(model.begin(), model.end());
    for (size_t i = half; i < keys.size(); i++) {
      rep->Insert(const_cast<char*>(pool.add(keys[i])));
      model.insert(keys[i]);
    }
    EXPECT_EQ(ReadAll(before_rest.get()), first_half) << "an iterator sees the memtable as it was";
    ExpectMatches(rep.get(), model, rng);
    rep->MarkReadOnly();
    ExpectMatches(rep.get(), model, rng);
    ExpectMatches(rep.get(), model, rng);
    if (!keys.empty()) {
      EXPECT_TRUE(rep->Contains(pool.encoded(keys.front()).data()));
      EXPECT_FALSE(rep->Contains(pool.encoded(keys.front() + "x").data()));
    }
    EXPECT_GE(rep->ApproximateMemoryUsage(), keys.size() * sizeof(const char*));
  }
}

// ---- the memtable in RocksDB, as the engine uses it ----

class SortedRunsFactory final : public rocksdb::MemTableRepFactory {
 public:
  const char* Name() const override { return "SortedRunsFactoryForTest"; }
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override {
    return NewSortedRunsMemTable(compare, allocator);
  }
};

class SortedRunsInRocksDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("sorted_runs_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             std::to_string(reinterpret_cast<uintptr_t>(this))))
               .string();
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.allow_concurrent_memtable_write = false;
    options.memtable_factory = std::make_shared<SortedRunsFactory>();
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_, &db).ok());
    db_.reset(db);
  }

  // Every way RocksDB reads the memtable (or, after a flush, the table it wrote): a scan both ways, seeks
  // both ways, and point reads, against `model`.
  void ExpectDbMatches(const std::map<std::string, std::string>& model, std::mt19937& rng) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    std::map<std::string, std::string> seen;
    for (it->SeekToFirst(); it->Valid(); it->Next()) seen[it->key().ToString()] = it->value().ToString();
    ASSERT_TRUE(it->status().ok());
    EXPECT_EQ(seen, model);
    size_t backwards = 0;
    std::optional<std::string> previous;
    for (it->SeekToLast(); it->Valid(); it->Prev(), backwards++) {
      if (previous) {
        EXPECT_LT(it->key().ToString(), *previous);
      }
      previous = it->key().ToString();
    }
    EXPECT_EQ(backwards, model.size());
    for (int i = 0; i < 100; i++) {
      const std::string target = Name(static_cast<uint32_t>(rng() % 3000)) + (rng() % 2 ? "x" : "");
      it->Seek(target);
      auto lower = model.lower_bound(target);
      ASSERT_EQ(it->Valid(), lower != model.end());
      if (it->Valid()) {
        EXPECT_EQ(it->key().ToString(), lower->first);
      }
      it->SeekForPrev(target);
      auto upper = model.upper_bound(target);
      ASSERT_EQ(it->Valid(), upper != model.begin());
      if (it->Valid()) {
        EXPECT_EQ(it->key().ToString(), std::prev(upper)->first);
      }
      std::string value;
      const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), target, &value);
      auto found = model.find(target);
      ASSERT_EQ(s.ok(), found != model.end()) << s.ToString();
      if (s.ok()) {
        EXPECT_EQ(value, found->second);
      }
    }
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Batches of overwrites and deletions, some sorted (as the materializer writes them) and some not, read from
// the memtable (halfway through its writes too), then from the table its flush wrote (the flush reads the
// memtable read-only), then after a reopen.
TEST_F(SortedRunsInRocksDbTest, ReadsAndFlushesWhatWasWritten) {
  std::mt19937 rng(7);
  std::map<std::string, std::string> model;
  for (int round = 0; round < 3; round++) {
    for (int b = 0; b < 40; b++) {
      std::vector<std::pair<std::string, int>> ops;  // key, value number (-1: delete)
      for (int i = 0; i < 200; i++) {
        const int value = rng() % 10 == 0 ? -1 : static_cast<int>(rng() % 1000000);
        ops.emplace_back(Name(static_cast<uint32_t>(rng() % 3000)), value);
      }
      if (b % 4 != 3) {
        std::stable_sort(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
      }
      rocksdb::WriteBatch batch;
      for (const auto& [key, v] : ops) {
        if (v < 0) {
          ASSERT_TRUE(batch.Delete(key).ok());
          model.erase(key);
        } else {
          ASSERT_TRUE(batch.Put(key, std::to_string(v)).ok());
          model[key] = std::to_string(v);
        }
      }
      rocksdb::WriteOptions wo;
      wo.disableWAL = true;
      ASSERT_TRUE(db_->Write(wo, &batch).ok());
      if (b == 20) ExpectDbMatches(model, rng);  // the first point read of this memtable, with writes to come
    }
    ExpectDbMatches(model, rng);
    ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
    ExpectDbMatches(model, rng);
  }
  db_.reset();
  Open();
  ExpectDbMatches(model, rng);
}

}  // namespace
}  // namespace savepoint::engine
