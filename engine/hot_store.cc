// HotKeyspace implementations: MemoryKeyspace (memory residency) and CachedKeyspace (cached residency).
//
// Both split keys over kShards shards chosen by a hash of the key (XXH3); a method locks only the shards it
// touches. Memory accounting (HotStats::bytes) charges every stored entry
//   key.size() + value bytes + kEntryOverhead
// where kEntryOverhead (64) stands for the node, the HotEntry and the shared Value header. It is approximate
// but exact with respect to itself: inserting, replacing and erasing an entry add and subtract the same
// charge, so bytes return to their starting value when the keys are gone. Index copies of keys (TTL index,
// dirty index) are not charged.
//
// Values displaced by a write are released after the shard lock is dropped: a Value's `decoded` object
// belongs to the layer above and may be expensive to destroy.
#include "engine/hot_store.h"

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <sys/mman.h>
#define XXH_INLINE_ALL  // KeyHash: inlined XXH3
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <queue>
#include <shared_mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>

namespace savepoint::engine {
namespace {

constexpr size_t kShards = 16;
// Fixed per-entry charge on top of key and value bytes (see the file comment).
constexpr uint64_t kEntryOverhead = 64;
// scan(): entries copied out of one shard per lock acquisition. The first batch is small so a short scan
// (a page of 10) copies little; each refill of the same shard doubles it up to kScanMaxBatch.
constexpr size_t kScanFirstBatch = 16;
constexpr size_t kScanMaxBatch = 256;
// scan(): entries examined per lock acquisition, counting expired ones, so the shared lock is held for a
// bounded time even over a long run of expired keys.
constexpr size_t kScanMaxExamined = 4 * kScanMaxBatch;

// A key's hash: the low 4 bits choose the shard; in memory residency the bits above them choose the home
// bucket in the shard's table. Keys of up to 32 bytes (most are) take a few multiplications, inline (the
// wyhash / rapidhash construction: 64x64->128-bit products folded by xor); longer ones XXH3. Seeded per
// process (from the address of a function, which ASLR varies), like absl::Hash, so the collisions of a
// key set cannot be planned from outside.
inline uint64_t Fold(uint64_t a, uint64_t b) {
  __extension__ using U128 = unsigned __int128;
  const U128 r = static_cast<U128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint64_t KeyHash(std::string_view key);
const uint64_t kHashSeed = Fold(reinterpret_cast<uintptr_t>(&KeyHash) ^ 0x2d358dccaa6c78a5ull, 0x8bb84b93962eacc9ull);

[[gnu::always_inline]] inline uint64_t KeyHash(std::string_view key) {
  constexpr uint64_t kS0 = 0xa0761d6478bd642full, kS1 = 0xe7037ed1a0b428dbull;
  const char* p = key.data();
  const size_t n = key.size();
  uint64_t a, b, seed = kHashSeed;
  if (n <= 16) {
    if (n >= 8) {
      a = Load64(p);
      b = Load64(p + n - 8);
    } else if (n >= 4) {
      a = Load32(p);
      b = Load32(p + n - 4);
    } else {
      a = n == 0 ? 0 : (uint64_t{static_cast<uint8_t>(p[0])} << 16) | (uint64_t{static_cast<uint8_t>(p[n / 2])} << 8) |
                           static_cast<uint8_t>(p[n - 1]);
      b = 0;
    }
  } else if (n <= 32) {
    seed = Fold(Load64(p) ^ kS1, Load64(p + 8) ^ seed);
    a = Load64(p + n - 16);
    b = Load64(p + n - 8);
  } else {
    return XXH3_64bits_withSeed(p, n, kHashSeed);
  }
  __extension__ using U128 = unsigned __int128;
  const U128 m = static_cast<U128>(a ^ kS1) * (b ^ seed);
  return Fold(static_cast<uint64_t>(m) ^ kS0 ^ n, static_cast<uint64_t>(m >> 64) ^ kS1);
}

size_t ShardOf(std::string_view key) { return KeyHash(key) % kShards; }

uint64_t Charge(std::string_view key, const ValuePtr& value) {
  return key.size() + (value ? value->bytes.size() : 0) + kEntryOverhead;
}

bool Expired(uint64_t expire_at_micros, uint64_t now_micros) {
  return expire_at_micros != 0 && expire_at_micros <= now_micros;
}

// The reader-writer lock of a memory-residency shard. An uncontended lock_shared() or unlock_shared() is one
// atomic add on the lock word, inline (std::shared_mutex calls into pthread_rwlock: some 60 instructions per
// read, a fifth of a get). Writers exclude each other and the readers; a writer that is waiting keeps new
// readers out, so a stream of reads cannot starve it. A waiter spins briefly, then sleeps on the lock word
// (C++20 atomic wait, a futex) after setting kSleepers; whoever changes what a sleeper waits for wakes the
// sleepers if that bit is set (the writer leaving clears it), so an uncontended unlock makes no system call.
//
// Word: kWriter while a writer holds the lock or waits for the readers to leave; kSleepers while a thread
// may sleep on the word; kReader times the readers inside (and, transiently, readers backing out because a
// writer is there).
class SharedSpinMutex {
 public:
  [[gnu::always_inline]] void lock_shared() {
    if ((word_.fetch_add(kReader, std::memory_order_acquire) & kWriter) == 0) [[likely]] return;
    lock_shared_slow();
  }

  [[gnu::always_inline]] void unlock_shared() { LeaveAsReader(std::memory_order_release); }

  void lock() {
    uint32_t w = word_.load(std::memory_order_relaxed);
    for (int spins = 0;; ++spins) {
      if ((w & kWriter) == 0) {
        if (word_.compare_exchange_weak(w, w | kWriter, std::memory_order_acquire)) break;
        continue;
      }
      Wait(w, spins);  // another writer holds it
      w = word_.load(std::memory_order_relaxed);
    }
    // Ours; wait for the readers inside to leave.
    for (int spins = 0;; ++spins) {
      w = word_.load(std::memory_order_acquire);
      if ((w & kReaderMask) == 0) return;
      Wait(w, spins);
    }
  }

  void unlock() {
    const uint32_t prev = word_.fetch_and(~(kWriter | kSleepers), std::memory_order_release);
    if ((prev & kSleepers) != 0) word_.notify_all();
  }

 private:
  static constexpr uint32_t kWriter = 1;
  static constexpr uint32_t kSleepers = 2;
  static constexpr uint32_t kReader = 4;
  static constexpr uint32_t kReaderMask = ~(kWriter | kSleepers);
  static constexpr int kSpins = 64;

  // Takes one reader out of the count; the last one out while a writer waits wakes it.
  [[gnu::always_inline]] void LeaveAsReader(std::memory_order order) {
    const uint32_t prev = word_.fetch_sub(kReader, order);
    if ((prev & (kWriter | kSleepers | kReaderMask)) == (kWriter | kSleepers | kReader)) [[unlikely]] {
      word_.notify_all();
    }
  }

  [[gnu::noinline]] void lock_shared_slow() {
    for (;;) {
      LeaveAsReader(std::memory_order_relaxed);  // back out while the writer is there
      for (int spins = 0;; ++spins) {
        const uint32_t w = word_.load(std::memory_order_relaxed);
        if ((w & kWriter) == 0) break;
        Wait(w, spins);
      }
      if ((word_.fetch_add(kReader, std::memory_order_acquire) & kWriter) == 0) return;
    }
  }

  // One step of waiting for the word to change from `seen`: a pause for the first kSpins steps, then a
  // sleep, unless the word changed before kSleepers was set (no change after it goes unannounced).
  void Wait(uint32_t seen, int spins) {
    if (spins < kSpins) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      return;
    }
    const uint32_t now = word_.fetch_or(kSleepers, std::memory_order_relaxed) | kSleepers;
    if (now != (seen | kSleepers)) {
      std::this_thread::yield();
      return;
    }
    word_.wait(now, std::memory_order_relaxed);
  }

  std::atomic<uint32_t> word_{0};
};

// (expire_at_micros, key) for every stored entry that has a TTL; ordered by expiry time.
using TtlIndex = absl::btree_set<std::pair<uint64_t, std::string>>;

// Appends to `out` up to `limit` keys of `ttl` with expire_at <= now, as (expire_at, key).
void CollectExpired(const TtlIndex& ttl, uint64_t now_micros, size_t limit,
                    std::vector<std::pair<uint64_t, std::string>>* out) {
  size_t taken = 0;
  for (auto it = ttl.begin(); it != ttl.end() && it->first <= now_micros && taken < limit; ++it, ++taken) {
    out->push_back(*it);
  }
}

// Keeps the `limit` earliest-expiring keys (the per-shard lists may together exceed it) and drops the times.
std::vector<std::string> TakeEarliest(std::vector<std::pair<uint64_t, std::string>> expired, size_t limit) {
  if (expired.size() > limit) {
    std::nth_element(expired.begin(), expired.begin() + static_cast<ptrdiff_t>(limit), expired.end());
    expired.resize(limit);
  }
  std::sort(expired.begin(), expired.end());
  std::vector<std::string> keys;
  keys.reserve(expired.size());
  for (auto& [at, key] : expired) keys.push_back(std::move(key));
  return keys;
}

// ---------------------------------------------------------------------------------------------------------
// Memory residency.
//
// A shard stores each key once, in a heap node holding the key's bytes inline after its version, expiry and
// LSN. Two indexes refer to the nodes:
//   - `table`, an open-addressing hash table (linear probing, backward-shift deletion) of {hash, node, value}
//     buckets, for point reads and writes. The bucket holds the key's value pointer, so a read's two cache
//     misses after the bucket's (the node, to compare the key, and the value's control block, to take a
//     reference) are independent and overlap; the full 64-bit hash lets a probe skip a non-matching bucket
//     without touching its node;
//   - `order`, a B-tree of node pointers ordered by key, for scan() and apply_delete_prefix; a write only
//     touches it when it adds or removes a key, never when it replaces one. A scan finds a node's value
//     through the table (the node keeps its key's hash for that).

// One stored key: everything of its entry but the value (which its bucket holds), then its `key_size` bytes
// (allocated together by MemNode::New).
struct MemNode {
  uint64_t version = 0;
  uint64_t expire_at_micros = 0;
  uint64_t lsn = 0;
  uint64_t hash = 0;  // KeyHash(key())
  uint32_t key_size = 0;

  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_size}; }

  static MemNode* New(std::string_view key, uint64_t hash) {
    void* mem = ::operator new(sizeof(MemNode) + key.size());
    auto* node = new (mem) MemNode{0, 0, 0, hash, static_cast<uint32_t>(key.size())};
    if (!key.empty()) std::memcpy(reinterpret_cast<char*>(node + 1), key.data(), key.size());
    return node;
  }
  static void Delete(MemNode* node) {
    node->~MemNode();
    ::operator delete(node);
  }
};

// a == b for keys. Keys of 8 to 32 bytes (most are) are compared inline with overlapping 8-byte loads,
// without a call to memcmp.
[[gnu::always_inline]] inline bool KeyEquals(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8 || n > 32) return n == 0 || std::memcmp(a.data(), b.data(), n) == 0;
  auto word = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  const char* x = a.data();
  const char* y = b.data();
  uint64_t diff = (word(x) ^ word(y)) | (word(x + n - 8) ^ word(y + n - 8));
  if (n > 16) diff |= (word(x + 8) ^ word(y + 8)) | (word(x + n - 16) ^ word(y + n - 16));
  return diff == 0;
}

// Orders nodes (and looks them up) by key.
struct NodeKeyLess {
  using is_transparent = void;
  static std::string_view view(const MemNode* n) { return n->key(); }
  static std::string_view view(std::string_view s) { return s; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return view(a) < view(b);
  }
};

// Memory for large arrays (hash tables of 2 MiB and more) on transparent huge pages where the system offers
// them (madvise mode): a random read of a large keyspace misses the TLB on nearly every access, and a page
// walk costs a cache miss of its own (on the virtual machine measured, ~100 ns more per miss). Smaller
// arrays come from operator new.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = 2u << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  static size_t MappedBytes(size_t n) { return (n * sizeof(T) + kHugePage - 1) / kHugePage * kHugePage; }
  static bool Huge(size_t n) { return n * sizeof(T) >= kHugePage; }

  T* allocate(size_t n) {
    if (!Huge(n)) return static_cast<T*>(::operator new(n * sizeof(T)));
    const size_t bytes = MappedBytes(n);
    void* p = ::mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Keep the 2 MiB-aligned part: a huge page maps an aligned 2 MiB.
    const auto start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) ::munmap(p, aligned - start);
    if (const uintptr_t tail = start + bytes + kHugePage - (aligned + bytes); tail > 0) {
      ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    }
    (void)::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);  // a hint: fine if refused
    return reinterpret_cast<T*>(aligned);
  }
  void deallocate(T* p, size_t n) {
    if (!Huge(n)) {
      ::operator delete(p);
      return;
    }
    ::munmap(p, MappedBytes(n));
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

// Open-addressing hash table of {hash, node, value} buckets keyed by the node's key. Does not own the nodes;
// owns the value references. Capacity is a power of two (or 0); the load stays at or below 3/4, and the table
// halves when it falls below 1/8 (so it does not keep the memory of keys since deleted). The caller supplies
// each key's hash (the same one for a key every time).
class NodeTable {
 public:
  struct Bucket {
    uint64_t hash = 0;
    MemNode* node = nullptr;  // null: empty
    ValuePtr value;           // non-null when node is
  };
  using Buckets = std::vector<Bucket, HugePageAllocator<Bucket>>;

  size_t size() const { return size_; }

  [[gnu::always_inline]] Bucket* find(std::string_view key, uint64_t hash) {
    return const_cast<Bucket*>(static_cast<const NodeTable*>(this)->find(key, hash));
  }
  // With `prefetch_value`, a candidate's value is prefetched before its node is read for the key comparison
  // (PrefetchValue), for a read that will copy the value.
  [[gnu::always_inline]] const Bucket* find(std::string_view key, uint64_t hash, bool prefetch_value = false) const {
    if (buckets_.empty()) return nullptr;
    for (size_t i = Home(hash);; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.node == nullptr) return nullptr;
      if (b.hash != hash) continue;
      if (prefetch_value) PrefetchValue(b.value.get());
      if (KeyEquals(b.node->key(), key)) return &b;
    }
  }
  // For prefetching: the home bucket of `hash` (null when the table is empty).
  const void* home_bucket(uint64_t hash) const { return buckets_.empty() ? nullptr : &buckets_[Home(hash)]; }
  // For prefetching: the first bucket of the probe for `hash` whose hash matches (most likely the key's),
  // found without touching any node; null when none. Cheap once home_bucket(hash) is in cache.
  const Bucket* likely_bucket(uint64_t hash) const {
    if (buckets_.empty()) return nullptr;
    for (size_t i = Home(hash);; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.node == nullptr) return nullptr;
      if (b.hash == hash) return &b;
    }
  }
  // The bucket of stored node `node`. REQUIRES: `node` is present.
  const Bucket& bucket_of(const MemNode* node) const {
    size_t i = Home(node->hash);
    while (buckets_[i].node != node) i = (i + 1) & mask_;
    return buckets_[i];
  }

  // REQUIRES: no node with this key is present; `value` is non-null.
  void insert(MemNode* node, ValuePtr value) {
    if ((size_ + 1) * 4 > buckets_.size() * 3) Resize(std::max<size_t>(kMinCapacity, buckets_.size() * 2));
    Place(Bucket{node->hash, node, std::move(value)});
    ++size_;
  }

  // Removes stored node `node`; returns its value.
  ValuePtr erase(const MemNode* node) {
    size_t i = Home(node->hash);
    while (buckets_[i].node != node) i = (i + 1) & mask_;
    ValuePtr value = std::move(buckets_[i].value);
    // Backward-shift deletion: pull later entries of the probe run into the hole when their home bucket
    // does not lie cyclically in (hole, their position], so every entry stays reachable from its home.
    for (size_t j = (i + 1) & mask_; buckets_[j].node != nullptr; j = (j + 1) & mask_) {
      if (((j - Home(buckets_[j].hash)) & mask_) >= ((j - i) & mask_)) {
        buckets_[i] = std::move(buckets_[j]);
        i = j;
      }
    }
    buckets_[i] = Bucket{};
    --size_;
    if (buckets_.size() > kMinCapacity && size_ * 8 < buckets_.size()) Resize(buckets_.size() / 2);
    return value;
  }

  // Empties the table; returns the buckets (and the values they hold) for the caller to release.
  Buckets take_all() {
    Buckets all;
    all.swap(buckets_);
    mask_ = 0;
    size_ = 0;
    return all;
  }

 private:
  static constexpr size_t kMinCapacity = 16;

  size_t Home(uint64_t hash) const { return static_cast<size_t>(hash >> 4) & mask_; }

  void Place(Bucket b) {
    size_t i = Home(b.hash);
    while (buckets_[i].node != nullptr) i = (i + 1) & mask_;
    buckets_[i] = std::move(b);
  }

  // REQUIRES: `capacity` is a power of two holding size_ within the load limit.
  void Resize(size_t capacity) {
    Buckets old(capacity);
    old.swap(buckets_);
    mask_ = buckets_.size() - 1;
    for (Bucket& b : old) {
      if (b.node != nullptr) Place(std::move(b));
    }
  }

  Buckets buckets_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Invariants, per shard, under its mutex: `table` and `order` hold the same nodes, exactly one per stored
// key, and the shard owns them; every stored node's bucket holds a non-null value; `ttl` holds exactly
// (n->expire_at_micros, key) for every stored node n with expire_at_micros != 0; `bytes` is the sum of Charge
// over the stored entries.
class MemoryKeyspace final : public HotKeyspace {
 public:
  ~MemoryKeyspace() override {
    for (Shard& sh : shards_) sh.FreeNodes();
  }

  bool cached() const override { return false; }

  Lookup get(std::string_view key, uint64_t now_micros, Entry* entry) override {
    const uint64_t hash = KeyHash(key);
    const Shard& sh = shards_[hash % kShards];
    std::shared_lock lock(sh.mu);
    const NodeTable::Bucket* b = sh.table.find(key, hash, /*prefetch_value=*/true);
    if (b == nullptr || Expired(b->node->expire_at_micros, now_micros)) return Lookup::kAbsent;
    entry->value = b->value;
    entry->version = b->node->version;
    entry->expire_at_micros = b->node->expire_at_micros;
    return Lookup::kFound;
  }

  Lookup get_raw(std::string_view key, HotEntry* entry) override {
    const uint64_t hash = KeyHash(key);
    const Shard& sh = shards_[hash % kShards];
    std::shared_lock lock(sh.mu);
    const NodeTable::Bucket* b = sh.table.find(key, hash);
    if (b == nullptr) return Lookup::kAbsent;
    *entry = HotEntry{b->value, b->node->version, b->node->expire_at_micros, b->node->lsn};
    return Lookup::kFound;
  }

  void get_many(std::span<const std::string_view> keys, uint64_t now_micros, Lookup* found,
                Entry* entries) override {
    // Three passes over a group of keys, each starting the memory fetches the next one needs, so a group's
    // cache misses overlap instead of following one another: the home buckets; then, from the buckets, the
    // nodes (for the key comparison) and the values (for the reference); then the reads, which take the
    // shard locks again.
    constexpr size_t kGroup = 16;
    uint64_t hashes[kGroup];
    for (size_t base = 0; base < keys.size(); base += kGroup) {
      const size_t n = std::min(kGroup, keys.size() - base);
      for (size_t i = 0; i < n; i++) {
        hashes[i] = KeyHash(keys[base + i]);
        PrefetchBucket(hashes[i]);
      }
      for (size_t i = 0; i < n; i++) PrefetchEntry(hashes[i]);
      for (size_t i = 0; i < n; i++) found[base + i] = get(keys[base + i], now_micros, &entries[base + i]);
    }
  }

  void prefetch(std::string_view key, Prefetch depth) override {
    const uint64_t hash = KeyHash(key);
    depth == Prefetch::kBucket ? PrefetchBucket(hash) : PrefetchEntry(hash);
  }

  void apply_put(std::string_view key, HotEntry entry, ValuePtr* displaced_out) override {
    if (!entry.value) {  // a tombstone means nothing here: memory residency holds every key
      apply_delete(key, entry.version, entry.lsn);
      return;
    }
    ValuePtr released;  // released after the lock
    ValuePtr& displaced = displaced_out != nullptr ? *displaced_out : released;
    const uint64_t hash = KeyHash(key);
    Shard& sh = shards_[hash % kShards];
    std::unique_lock lock(sh.mu);
    NodeTable::Bucket* b = sh.table.find(key, hash);
    MemNode* n;
    if (b == nullptr) {
      n = MemNode::New(key, hash);
      sh.order.insert(n);
      sh.bytes += Charge(key, entry.value);
      sh.table.insert(n, std::move(entry.value));
    } else {
      n = b->node;
      sh.Unaccount(n, b->value);
      sh.bytes += Charge(key, entry.value);
      displaced = std::exchange(b->value, std::move(entry.value));
    }
    n->version = entry.version;
    n->expire_at_micros = entry.expire_at_micros;
    n->lsn = entry.lsn;
    if (n->expire_at_micros != 0) sh.ttl.emplace(n->expire_at_micros, std::string(key));
  }

  void apply_delete(std::string_view key, uint64_t version, uint64_t lsn) override {
    ValuePtr displaced;
    const uint64_t hash = KeyHash(key);
    Shard& sh = shards_[hash % kShards];
    std::unique_lock lock(sh.mu);
    const NodeTable::Bucket* b = sh.table.find(key, hash);
    if (b == nullptr) return;
    MemNode* n = b->node;
    auto pos = sh.order.find(n);
    displaced = sh.Remove(n, &pos);
  }

  void apply_delete_prefix(std::string_view prefix, uint64_t version, uint64_t lsn) override {
    for (Shard& sh : shards_) {
      std::vector<ValuePtr> displaced;
      std::unique_lock lock(sh.mu);
      auto it = sh.order.lower_bound(prefix);
      while (it != sh.order.end() && (*it)->key().starts_with(prefix)) {
        displaced.push_back(sh.Remove(*it, &it));
      }
      lock.unlock();
    }
  }

  void fill(std::string_view, HotEntry, uint64_t) override {}  // every key is already here

  void on_materialized(uint64_t applied_lsn) override {}  // nothing to evict

  // Not a point-in-time snapshot: each shard is read in batches under its shared lock and the batches are
  // merged (min-heap on each shard's next key) with no lock held, so `fn` may do anything but write this
  // keyspace. Keys come in strictly increasing order; each yielded entry is one whole committed state of its
  // key; a key written or deleted while the scan runs may or may not be seen, and an entry expiring during
  // the scan is judged against `now_micros` once, when its batch is read.
  void scan(std::string_view start, std::string_view end, uint64_t now_micros,
            const std::function<bool(std::string_view key, const Entry& entry)>& fn) override {
    if (!end.empty() && end <= start) return;
    std::array<ScanCursor, kShards> cursors;
    auto key_of = [&](size_t s) -> const std::string& { return cursors[s].buf[cursors[s].pos].first; };
    auto later = [&](size_t a, size_t b) { return key_of(a) > key_of(b); };
    std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
    for (size_t s = 0; s < kShards; ++s) {
      if (Refill(s, start, end, now_micros, &cursors[s])) heap.push(s);
    }
    while (!heap.empty()) {
      const size_t s = heap.top();
      heap.pop();
      ScanCursor& c = cursors[s];
      const auto& [key, entry] = c.buf[c.pos];
      if (!fn(key, entry)) return;
      // The heap no longer refers to shard s, so its buffer may be replaced.
      if (++c.pos < c.buf.size() || Refill(s, start, end, now_micros, &c)) heap.push(s);
    }
  }

  std::vector<std::string> expired_keys(uint64_t now_micros, size_t limit) override {
    std::vector<std::pair<uint64_t, std::string>> expired;
    for (const Shard& sh : shards_) {
      std::shared_lock lock(sh.mu);
      CollectExpired(sh.ttl, now_micros, limit, &expired);
    }
    return TakeEarliest(std::move(expired), limit);
  }

  HotStats stats() const override {
    HotStats st;
    for (const Shard& sh : shards_) {
      std::shared_lock lock(sh.mu);
      st.keys += sh.table.size();
      st.bytes += sh.bytes;
      st.expiring += sh.ttl.size();
    }
    return st;
  }

  // Nodes (and the values they hold) are freed after the shard lock is dropped.
  void clear() override {
    for (Shard& sh : shards_) {
      Order old;
      std::unique_lock lock(sh.mu);
      old.swap(sh.order);
      NodeTable::Buckets values = sh.table.take_all();
      sh.ttl.clear();
      sh.bytes = 0;
      lock.unlock();
      for (MemNode* n : old) MemNode::Delete(n);
    }
  }

 private:
  using Order = absl::btree_set<MemNode*, NodeKeyLess>;

  // The prefetches are issued after the shard unlock: the unlock (an atomic read-modify-write) would wait
  // for them to complete. Prefetching memory freed meanwhile is harmless.
  void PrefetchBucket(uint64_t hash) const {
    const Shard& sh = shards_[hash % kShards];
    const void* line;
    {
      std::shared_lock lock(sh.mu);
      line = sh.table.home_bucket(hash);
    }
    if (line != nullptr) __builtin_prefetch(line);
  }
  void PrefetchEntry(uint64_t hash) const {
    const Shard& sh = shards_[hash % kShards];
    const void* node = nullptr;
    const Value* value = nullptr;  // not a ValuePtr: its copy would wait for the reference counts
    {
      std::shared_lock lock(sh.mu);
      if (const NodeTable::Bucket* b = sh.table.likely_bucket(hash); b != nullptr) {
        node = b->node;
        value = b->value.get();
      }
    }
    if (node != nullptr) {
      __builtin_prefetch(node);
      PrefetchValue(value);
    }
  }

  struct Shard {
    mutable SharedSpinMutex mu;
    NodeTable table;    // GUARDED_BY(mu)
    Order order;        // GUARDED_BY(mu)
    TtlIndex ttl;       // GUARDED_BY(mu)
    uint64_t bytes = 0;  // GUARDED_BY(mu)

    // REQUIRES: mu held exclusively (for the helpers below). Removes stored node n's charge (its value is
    // `value`) and TTL index row.
    void Unaccount(const MemNode* n, const ValuePtr& value) {
      bytes -= Charge(n->key(), value);
      if (n->expire_at_micros != 0) ttl.erase(std::make_pair(n->expire_at_micros, std::string(n->key())));
    }

    // Unlinks and frees stored node `n` (`*pos` is its place in `order`, advanced to the next node); returns
    // its value for the caller to release after the lock.
    ValuePtr Remove(MemNode* n, Order::iterator* pos) {
      ValuePtr value = table.erase(n);
      Unaccount(n, value);
      *pos = order.erase(*pos);
      MemNode::Delete(n);
      return value;
    }

    void FreeNodes() {
      for (MemNode* n : order) MemNode::Delete(n);
      order.clear();
      (void)table.take_all();
    }
  };

  // One shard's position in a scan: buffered entries and where to resume.
  struct ScanCursor {
    std::vector<std::pair<std::string, Entry>> buf;
    size_t pos = 0;
    std::string resume_after;  // last key examined (valid when `started`)
    bool started = false;
    bool exhausted = false;  // no more keys in [start, end)
    size_t batch = kScanFirstBatch;
  };

  // Replaces c->buf with the shard's next unexpired entries in [start, end); false when there are none.
  bool Refill(size_t s, std::string_view start, std::string_view end, uint64_t now_micros, ScanCursor* c) {
    c->buf.clear();
    c->pos = 0;
    const Shard& sh = shards_[s];
    while (c->buf.empty() && !c->exhausted) {
      std::shared_lock lock(sh.mu);
      auto it = c->started ? sh.order.upper_bound(std::string_view(c->resume_after)) : sh.order.lower_bound(start);
      const MemNode* last = nullptr;
      size_t examined = 0;
      for (; it != sh.order.end() && c->buf.size() < c->batch && examined < kScanMaxExamined;
           ++it, ++examined) {
        const MemNode* n = *it;
        if (!end.empty() && n->key() >= end) break;
        last = n;
        if (Expired(n->expire_at_micros, now_micros)) continue;
        c->buf.emplace_back(std::string(n->key()),
                            Entry{sh.table.bucket_of(n).value, n->version, n->expire_at_micros});
      }
      if (it == sh.order.end() || (!end.empty() && (*it)->key() >= end)) c->exhausted = true;
      if (last != nullptr) {
        c->resume_after = last->key();
        c->started = true;
      }
    }
    c->batch = std::min(c->batch * 2, kScanMaxBatch);
    return !c->buf.empty();
  }

  std::array<Shard, kShards> shards_;
};

// ---------------------------------------------------------------------------------------------------------
// Cached residency.
//
// Each shard keeps its entries (tombstones included) in a hash map. An entry is *clean* when its lsn is at or
// below the applied LSN known when it was placed, else *dirty*. Clean entries sit in the LRU list (front =
// most recently used) and only they are ever evicted; dirty entries sit in the dirty index, ordered by lsn,
// and on_materialized moves those now covered to the LRU front. Eviction therefore pops the LRU tail in O(1)
// per entry and never walks past dirty entries. (An entry written while on_materialized runs may land in the
// dirty index with an lsn already covered; the next on_materialized moves it. That only delays its eviction.)
//
// Invariants, per shard, under its mutex:
//   - every map entry is in exactly one of `lru` (node.in_lru) and `dirty` (as (entry.lsn, key));
//   - `ttl` holds (expire_at, key) for every non-tombstone entry with expire_at != 0;
//   - `bytes` is the sum of Charge over the map; `live` counts its non-tombstones;
//   - `prefix_tombstones` maps a deleted prefix to the newest lsn deleting it; rows at or below the applied
//     LSN are dropped by on_materialized (and ignored before that).
// Every shard holds a copy of each prefix tombstone, so a miss consults only its own shard's lock.
class CachedKeyspace final : public HotKeyspace {
 public:
  explicit CachedKeyspace(uint64_t budget_bytes) : shard_budget_(budget_bytes / kShards) {}

  bool cached() const override { return true; }

  Lookup get(std::string_view key, uint64_t now_micros, Entry* entry) override {
    Shard& sh = shards_[ShardOf(key)];
    std::lock_guard lock(sh.mu);
    auto it = sh.map.find(key);
    if (it == sh.map.end()) {
      if (sh.CoveredByPrefixTombstone(key, applied())) {
        ++sh.hits;
        return Lookup::kAbsent;
      }
      ++sh.misses;
      return Lookup::kNotCached;
    }
    ++sh.hits;
    sh.Touch(it->second);
    const HotEntry& e = it->second.entry;
    if (!e.value || Expired(e.expire_at_micros, now_micros)) return Lookup::kAbsent;
    entry->value = e.value;
    entry->version = e.version;
    entry->expire_at_micros = e.expire_at_micros;
    return Lookup::kFound;
  }

  // Touches the LRU like get; does not count hits or misses.
  Lookup get_raw(std::string_view key, HotEntry* entry) override {
    Shard& sh = shards_[ShardOf(key)];
    std::lock_guard lock(sh.mu);
    auto it = sh.map.find(key);
    if (it == sh.map.end()) {
      return sh.CoveredByPrefixTombstone(key, applied()) ? Lookup::kAbsent : Lookup::kNotCached;
    }
    sh.Touch(it->second);
    if (!it->second.entry.value) return Lookup::kAbsent;
    *entry = it->second.entry;
    return Lookup::kFound;
  }

  void get_many(std::span<const std::string_view> keys, uint64_t now_micros, Lookup* found,
                Entry* entries) override {
    for (size_t i = 0; i < keys.size(); i++) found[i] = get(keys[i], now_micros, &entries[i]);
  }

  void prefetch(std::string_view, Prefetch) override {}

  void apply_put(std::string_view key, HotEntry entry, ValuePtr* displaced) override {
    Store(key, std::move(entry), false, 0, displaced);
  }

  void apply_delete(std::string_view key, uint64_t version, uint64_t lsn) override {
    Store(key, HotEntry{nullptr, version, 0, lsn}, false);
  }

  void apply_delete_prefix(std::string_view prefix, uint64_t version, uint64_t lsn) override {
    for (Shard& sh : shards_) {
      std::vector<ValuePtr> displaced;
      std::unique_lock lock(sh.mu);
      const uint64_t applied_lsn = applied();
      for (auto& [key, node] : sh.map) {
        if (!key.starts_with(prefix) || !node.entry.value) continue;
        sh.Unlink(key, node);
        displaced.push_back(std::move(node.entry.value));
        node.entry = HotEntry{nullptr, version, 0, lsn};
        sh.Link(key, node, applied_lsn);
      }
      if (lsn > applied_lsn) {
        uint64_t& at = sh.prefix_tombstones[std::string(prefix)];
        at = std::max(at, lsn);
      }
      lock.unlock();
    }
  }

  // Ignored when the key is present (a present entry, even a tombstone, is at least as new as RocksDB) or
  // under a pending prefix tombstone (the RocksDB read may predate the delete). A null value caches "absent".
  void fill(std::string_view key, HotEntry entry, uint64_t read_at_applied_lsn) override {
    Store(key, std::move(entry), true, read_at_applied_lsn);
  }

  void on_materialized(uint64_t applied_lsn) override {
    uint64_t prev = applied_.load(std::memory_order_relaxed);
    while (prev < applied_lsn && !applied_.compare_exchange_weak(prev, applied_lsn, std::memory_order_release,
                                                                 std::memory_order_relaxed)) {
    }
    applied_lsn = applied();
    for (Shard& sh : shards_) {
      std::vector<ValuePtr> evicted;
      std::unique_lock lock(sh.mu);
      while (!sh.dirty.empty() && sh.dirty.begin()->first <= applied_lsn) {
        auto it = sh.map.find(sh.dirty.begin()->second);
        sh.dirty.erase(sh.dirty.begin());
        it->second.lru = sh.lru.insert(sh.lru.begin(), &it->first);
        it->second.in_lru = true;
      }
      for (auto it = sh.prefix_tombstones.begin(); it != sh.prefix_tombstones.end();) {
        if (it->second <= applied_lsn) {
          sh.forgotten_lsn = std::max(sh.forgotten_lsn, it->second);
          it = sh.prefix_tombstones.erase(it);
        } else {
          ++it;
        }
      }
      sh.Evict(shard_budget_, &evicted);
      lock.unlock();
    }
  }

  void scan(std::string_view start, std::string_view end, uint64_t now_micros,
            const std::function<bool(std::string_view key, const Entry& entry)>& fn) override {
    // Not supported: a cached keyspace holds a subset of its keys, so the engine scans RocksDB instead.
  }

  // Only resident entries are indexed; the sweeper finds evicted expiring keys in RocksDB.
  std::vector<std::string> expired_keys(uint64_t now_micros, size_t limit) override {
    std::vector<std::pair<uint64_t, std::string>> expired;
    for (Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      CollectExpired(sh.ttl, now_micros, limit, &expired);
    }
    return TakeEarliest(std::move(expired), limit);
  }

  HotStats stats() const override {
    HotStats st;
    for (const Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      st.keys += sh.live;
      st.bytes += sh.bytes;
      st.expiring += sh.ttl.size();
      st.evictions += sh.evictions;
      st.hits += sh.hits;
      st.misses += sh.misses;
    }
    return st;
  }

  // Drops every entry, dirty ones included, and every prefix tombstone. Counters (hits, misses, evictions)
  // are cumulative and kept, as is the applied LSN.
  void clear() override {
    for (Shard& sh : shards_) {
      decltype(sh.map) old;
      std::unique_lock lock(sh.mu);
      old.swap(sh.map);
      sh.lru.clear();
      sh.dirty.clear();
      sh.ttl.clear();
      sh.prefix_tombstones.clear();
      sh.bytes = 0;
      sh.live = 0;
      lock.unlock();
    }
  }

 private:
  struct Node {
    HotEntry entry;
    std::list<const std::string*>::iterator lru;  // valid when in_lru
    bool in_lru = false;
  };

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  struct Shard {
    mutable std::mutex mu;
    // Node-based: the key strings the LRU list points to stay put across rehashing.
    std::unordered_map<std::string, Node, StringHash, std::equal_to<>> map;  // GUARDED_BY(mu)
    std::list<const std::string*> lru;                                       // GUARDED_BY(mu)
    absl::btree_set<std::pair<uint64_t, std::string>> dirty;                 // GUARDED_BY(mu)
    TtlIndex ttl;                                                            // GUARDED_BY(mu)
    absl::btree_map<std::string, uint64_t, std::less<>> prefix_tombstones;   // GUARDED_BY(mu)
    uint64_t bytes = 0, live = 0;                                            // GUARDED_BY(mu)
    uint64_t hits = 0, misses = 0, evictions = 0;                            // GUARDED_BY(mu)
    // The newest LSN of anything this shard forgot (evicted entries, dropped prefix tombstones): a fill from
    // a RocksDB read older than this may be stale.                            GUARDED_BY(mu)
    uint64_t forgotten_lsn = 0;

    // REQUIRES: mu held (for all the helpers below).

    // Places a stored node: charge, TTL row, and the LRU front (clean) or the dirty index.
    void Link(const std::string& key, Node& node, uint64_t applied_lsn) {
      const HotEntry& e = node.entry;
      bytes += Charge(key, e.value);
      if (e.value) {
        ++live;
        if (e.expire_at_micros != 0) ttl.emplace(e.expire_at_micros, key);
      }
      if (e.lsn > applied_lsn) {
        dirty.emplace(e.lsn, key);
        node.in_lru = false;
      } else {
        node.lru = lru.insert(lru.begin(), &key);
        node.in_lru = true;
      }
    }

    // Undoes Link; the node stays in the map.
    void Unlink(const std::string& key, Node& node) {
      const HotEntry& e = node.entry;
      bytes -= Charge(key, e.value);
      if (e.value) {
        --live;
        if (e.expire_at_micros != 0) ttl.erase(std::make_pair(e.expire_at_micros, key));
      }
      if (node.in_lru) {
        lru.erase(node.lru);
      } else {
        dirty.erase(std::make_pair(e.lsn, key));
      }
    }

    void Touch(Node& node) {
      if (node.in_lru) lru.splice(lru.begin(), lru, node.lru);
    }

    // Whether a key absent from the map reads as deleted: some prefix of it has a tombstone not yet applied.
    bool CoveredByPrefixTombstone(std::string_view key, uint64_t applied_lsn) const {
      if (prefix_tombstones.empty()) return false;
      auto live_at = [&](uint64_t lsn) { return lsn > applied_lsn; };
      if (prefix_tombstones.size() <= key.size() + 1) {
        for (const auto& [prefix, lsn] : prefix_tombstones) {
          if (key.starts_with(prefix) && live_at(lsn)) return true;
        }
        return false;
      }
      for (size_t n = 0; n <= key.size(); ++n) {
        auto it = prefix_tombstones.find(key.substr(0, n));
        if (it != prefix_tombstones.end() && live_at(it->second)) return true;
      }
      return false;
    }

    // Evicts clean entries from the LRU tail until within `budget`; dirty ones are not in the LRU.
    void Evict(uint64_t budget, std::vector<ValuePtr>* evicted) {
      while (bytes > budget && !lru.empty()) {
        auto it = map.find(*lru.back());
        forgotten_lsn = std::max(forgotten_lsn, it->second.entry.lsn);
        Unlink(it->first, it->second);
        evicted->push_back(std::move(it->second.entry.value));
        map.erase(it);
        ++evictions;
      }
    }
  };

  uint64_t applied() const { return applied_.load(std::memory_order_acquire); }

  void Store(std::string_view key, HotEntry entry, bool is_fill, uint64_t read_at_applied_lsn = 0,
             ValuePtr* displaced_out = nullptr) {
    std::vector<ValuePtr> displaced;  // released after the lock
    Shard& sh = shards_[ShardOf(key)];
    std::unique_lock lock(sh.mu);
    if (is_fill && sh.forgotten_lsn > read_at_applied_lsn) return;
    const uint64_t applied_lsn = applied();
    auto it = sh.map.find(key);
    if (it == sh.map.end()) {
      if (is_fill && sh.CoveredByPrefixTombstone(key, applied_lsn)) return;
      it = sh.map.emplace(std::string(key), Node{}).first;
    } else {
      if (is_fill) return;
      sh.Unlink(it->first, it->second);
      if (displaced_out != nullptr) {
        *displaced_out = std::move(it->second.entry.value);
      } else {
        displaced.push_back(std::move(it->second.entry.value));
      }
    }
    it->second.entry = std::move(entry);
    sh.Link(it->first, it->second, applied_lsn);
    sh.Evict(shard_budget_, &displaced);
    lock.unlock();
  }

  const uint64_t shard_budget_;
  std::atomic<uint64_t> applied_{0};  // the newest LSN passed to on_materialized
  std::array<Shard, kShards> shards_;
};

}  // namespace

std::unique_ptr<HotKeyspace> HotKeyspace::NewMemory() { return std::make_unique<MemoryKeyspace>(); }

std::unique_ptr<HotKeyspace> HotKeyspace::NewCached(uint64_t budget_bytes) {
  return std::make_unique<CachedKeyspace>(budget_bytes);
}

}  // namespace savepoint::engine
