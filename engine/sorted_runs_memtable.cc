#include "engine/sorted_runs_memtable.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace savepoint::engine {
namespace {

using KeyComparator = rocksdb::MemTableRep::KeyComparator;
using Entries = std::vector<const char*>;

// Runs shorter than this on average (keys inserted in no particular order) are not worth merging: std::sort.
constexpr size_t kMinAverageRun = 64;

// Sorts `v`, which is sorted runs end to end; `starts` holds where each run but the first starts, ascending.
void SortRuns(const KeyComparator& compare, std::vector<size_t> starts, Entries* v) {
  if (starts.empty()) return;  // one run
  auto less = [&](const char* a, const char* b) { return compare(a, b) < 0; };
  if (starts.size() + 1 > v->size() / kMinAverageRun) {
    std::sort(v->begin(), v->end(), less);
    return;
  }
  // bounds[i], bounds[i + 1]: run i. Each pass merges pairs of neighbouring runs into the other buffer.
  std::vector<size_t> bounds{0};
  bounds.insert(bounds.end(), starts.begin(), starts.end());
  bounds.push_back(v->size());
  Entries other(v->size());
  Entries* from = v;
  Entries* to = &other;
  while (bounds.size() > 2) {
    std::vector<size_t> merged{0};
    for (size_t i = 0; i + 1 < bounds.size(); i += 2) {
      const size_t begin = bounds[i], middle = bounds[i + 1];
      const size_t end = i + 2 < bounds.size() ? bounds[i + 2] : middle;  // a last run without a pair: copied
      std::merge(from->begin() + static_cast<ptrdiff_t>(begin), from->begin() + static_cast<ptrdiff_t>(middle),
                 from->begin() + static_cast<ptrdiff_t>(middle), from->begin() + static_cast<ptrdiff_t>(end),
                 to->begin() + static_cast<ptrdiff_t>(begin), less);
      merged.push_back(end);
    }
    bounds.swap(merged);
    std::swap(from, to);
  }
  if (from != v) v->swap(*from);
}

// An iterator over sorted entries it shares.
class SortedIterator final : public rocksdb::MemTableRep::Iterator {
 public:
  SortedIterator(std::shared_ptr<const Entries> entries, const KeyComparator& compare)
      : entries_(std::move(entries)), compare_(compare), pos_(entries_->size()) {}

  bool Valid() const override { return pos_ < entries_->size(); }
  const char* key() const override { return (*entries_)[pos_]; }
  void Next() override { ++pos_; }
  void Prev() override { pos_ = pos_ == 0 ? entries_->size() : pos_ - 1; }  // before the first: invalid

  // The first entry >= target.
  void Seek(const rocksdb::Slice& internal_key, const char* memtable_key) override {
    pos_ = PartitionPoint([&](const char* e) { return Compare(e, internal_key, memtable_key) < 0; });
  }
  // The last entry <= target.
  void SeekForPrev(const rocksdb::Slice& internal_key, const char* memtable_key) override {
    const size_t after =
        PartitionPoint([&](const char* e) { return Compare(e, internal_key, memtable_key) <= 0; });
    pos_ = after == 0 ? entries_->size() : after - 1;
  }
  void SeekToFirst() override { pos_ = 0; }
  void SeekToLast() override { pos_ = entries_->empty() ? 0 : entries_->size() - 1; }

 private:
  int Compare(const char* entry, const rocksdb::Slice& internal_key, const char* memtable_key) const {
    return memtable_key != nullptr ? compare_(entry, memtable_key) : compare_(entry, internal_key);
  }
  template <typename Pred>
  size_t PartitionPoint(Pred pred) const {
    return static_cast<size_t>(std::partition_point(entries_->begin(), entries_->end(), pred) - entries_->begin());
  }

  const std::shared_ptr<const Entries> entries_;
  const KeyComparator& compare_;
  size_t pos_;  // entries_->size(): not valid
};

class SortedRunsMemTable final : public rocksdb::MemTableRep {
 public:
  SortedRunsMemTable(const KeyComparator& compare, rocksdb::Allocator* allocator)
      : MemTableRep(allocator), compare_(compare) {}

  void Insert(rocksdb::KeyHandle handle) override {
    const char* key = static_cast<const char*>(handle);
    std::lock_guard<std::mutex> lock(mu_);
    if (!entries_->empty() && compare_(key, entries_->back()) < 0) starts_.push_back(entries_->size());
    entries_->push_back(key);
    if (point_reads_ != nullptr) point_reads_->Insert(handle);
    memory_.store(entries_->capacity() * sizeof(const char*) * (point_reads_ != nullptr ? 2 : 1) +
                      starts_.capacity() * sizeof(size_t),
                  std::memory_order_relaxed);
  }

  bool Contains(const char* key) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(entries_->begin(), entries_->end(), [&](const char* e) { return compare_(e, key) == 0; });
  }

  void MarkReadOnly() override {
    std::lock_guard<std::mutex> lock(mu_);
    read_only_ = true;
    if (point_reads_ != nullptr) point_reads_->MarkReadOnly();
  }

  // Read on every insert (RocksDB's flush trigger): no lock.
  size_t ApproximateMemoryUsage() override { return memory_.load(std::memory_order_relaxed); }

  // A point read (the engine makes none in these families) goes to a VectorRep of the same entries, made
  // by the first one. MemTableRep's own Get would read GetDynamicPrefixIterator() and never delete it
  // (RocksDB 7.8), and a Get of our own could not read its LookupKey, whose accessors are not in the public
  // headers.
  void Get(const rocksdb::LookupKey& key, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override {
    rocksdb::MemTableRep* point_reads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (point_reads_ == nullptr) {
        point_reads_.reset(rocksdb::VectorRepFactory().CreateMemTableRep(compare_, allocator_, nullptr, nullptr));
        for (const char* entry : *entries_) point_reads_->Insert(const_cast<char*>(entry));
        if (read_only_) point_reads_->MarkReadOnly();
      }
      point_reads = point_reads_.get();  // lives as long as this memtable; it locks its own reads and inserts
    }
    point_reads->Get(key, callback_args, callback_func);
  }

  rocksdb::MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    std::shared_ptr<const Entries> sorted = Sorted();
    if (arena == nullptr) return new SortedIterator(std::move(sorted), compare_);
    // The caller destroys an iterator it had placed in `arena` but leaves the memory to the arena. Arena is
    // not in RocksDB's public headers, so the memory comes from here instead, freed with this memtable,
    // which outlives its iterators (they point into its entries). A memtable has few iterators over its
    // life (a flush, a save's scan).
    std::lock_guard<std::mutex> lock(mu_);
    iterator_memory_.push_back(std::make_unique<std::byte[]>(sizeof(SortedIterator)));
    return new (iterator_memory_.back().get()) SortedIterator(std::move(sorted), compare_);
  }

 private:
  // The entries in order. Once read-only, the memtable's own, sorted in place by the first reader; before,
  // a sorted copy (inserts go on).
  std::shared_ptr<const Entries> Sorted() {
    std::unique_lock<std::mutex> lock(mu_);
    if (read_only_) {
      SortRuns(compare_, std::move(starts_), entries_.get());
      starts_.clear();
      return entries_;
    }
    auto copy = std::make_shared<Entries>(*entries_);
    std::vector<size_t> starts = starts_;
    lock.unlock();
    SortRuns(compare_, std::move(starts), copy.get());
    return copy;
  }

  const KeyComparator& compare_;
  mutable std::mutex mu_;
  std::shared_ptr<Entries> entries_ = std::make_shared<Entries>();  // GUARDED_BY(mu_)
  std::vector<size_t> starts_;  // GUARDED_BY(mu_): where each run of entries_ but the first starts
  bool read_only_ = false;      // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<std::byte[]>> iterator_memory_;  // GUARDED_BY(mu_)
  std::unique_ptr<rocksdb::MemTableRep> point_reads_;  // GUARDED_BY(mu_): null until a Get; then every entry
  std::atomic<size_t> memory_{0};  // of entries_, starts_ and point_reads_
};

}  // namespace

rocksdb::MemTableRep* NewSortedRunsMemTable(const KeyComparator& compare, rocksdb::Allocator* allocator) {
  return new SortedRunsMemTable(compare, allocator);
}

}  // namespace savepoint::engine
