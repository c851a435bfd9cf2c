// HotKeyspace: the in-memory state of one keyspace (the hot path: reads never touch disk for memory-resident
// keyspaces). Two layouts behind one interface:
//   - memory residency: every key, in 16 shards (by key hash); each shard is a hash table of nodes (entry and
//     key in one allocation) for point operations plus a B-tree of node pointers in key order, so a get
//     is about three memory accesses and range scans merge the shards' B-trees in key order;
//   - cached residency: an LRU-bounded subset, in 16 shards of hash maps with an LRU list. Entries written but
//     not yet materialised to RocksDB (lsn > applied_lsn) are never evicted; deletes leave a tombstone until
//     materialised, so a miss may safely fall through to RocksDB.
//
// Thread-safety: every method is safe from any thread; each locks only the shards it touches (shared for
// reads of memory residency, exclusive for writes and for cached reads, which update the LRU). The engine
// calls apply_* from its commit sequencer only, one at a time, so a key's writes are ordered by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/value.h"

namespace savepoint::engine {

// What a write stores in the hot store.
struct HotEntry {
  ValuePtr value;                 // null: a tombstone (cached residency only)
  uint64_t version = 0;
  uint64_t expire_at_micros = 0;  // 0 = none
  uint64_t lsn = 0;               // WAL LSN of the write; 0 if not logged (volatile, or coalesced until logged)
};

enum class Lookup {
  kFound,      // *entry set (not expired)
  kAbsent,     // known absent: deleted, expired, or (memory residency) never written
  kNotCached,  // cached residency only: not in memory, the caller must read RocksDB
};

struct HotStats {
  uint64_t keys = 0;         // present keys (tombstones excluded)
  uint64_t bytes = 0;        // approximate memory: keys + values + per-entry overhead
  uint64_t expiring = 0;     // keys with a TTL
  uint64_t evictions = 0;    // cached residency
  uint64_t hits = 0, misses = 0;  // cached residency
};

// For prefetching: where the reference counts of `value` live. Values are made by make_shared, either alone
// (MakeValue) or as the first member of a block (MakeValueWith), and make_shared puts the control block
// (libstdc++: vtable pointer and two counts, 16 bytes) just before the object. Only ever prefetched, never
// dereferenced, so a wrong guess costs a wasted fetch, not correctness.
inline const void* ControlBlockOf(const Value* value) {
  return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(value) - 16);
}

// Starts fetching the first cache lines of `value`'s allocation: its reference counts, which a read's copy
// of the pointer updates with a locked instruction (executed only at retirement, so never early by itself),
// and what follows them (the Value, and a registry's decoded object: MakeValueWith). Issued as soon as the
// bucket is known, these fetches overlap the one of the node for the key comparison.
inline void PrefetchValue(const Value* value) {
  const char* cb = static_cast<const char*>(ControlBlockOf(value));
  __builtin_prefetch(cb, 1);
  __builtin_prefetch(cb + 64);
  __builtin_prefetch(cb + 128);
}

class HotKeyspace {
 public:
  virtual ~HotKeyspace() = default;

  // Memory residency.
  static std::unique_ptr<HotKeyspace> NewMemory();
  // Cached residency bounded to about `budget_bytes`.
  static std::unique_ptr<HotKeyspace> NewCached(uint64_t budget_bytes);

  virtual bool cached() const = 0;

  // Point read at time `now_micros`: an entry whose expire_at_micros <= now is reported kAbsent.
  virtual Lookup get(std::string_view key, uint64_t now_micros, Entry* entry) = 0;
  // Like get but returns the raw stored entry, expired or not (the commit path and the sweeper use it).
  virtual Lookup get_raw(std::string_view key, HotEntry* entry) = 0;

  // get() of each of `keys` into found[i] and entries[i] (arrays of keys.size()), with the memory accesses of
  // several keys overlapping (memory residency). Each key is read atomically; the set of keys is not.
  virtual void get_many(std::span<const std::string_view> keys, uint64_t now_micros, Lookup* found,
                        Entry* entries) = 0;

  // Warms the cache lines a write or read of `key` will touch, so that their fetch overlaps the caller's
  // work in between: kBucket, its hash bucket; kEntry, through the bucket, its node and value (the bucket
  // should be in cache by then, from an earlier kBucket; otherwise this waits for it). Changes nothing.
  // Memory residency only; a no-op for cached residency.
  enum class Prefetch { kBucket, kEntry };
  virtual void prefetch(std::string_view key, Prefetch depth = Prefetch::kBucket) = 0;

  // --- writes (one writer at a time) ---
  // With `displaced` non-null, the value the put replaces (if any) is moved to *displaced for the caller to
  // release; otherwise it is released here, after the shard lock.
  virtual void apply_put(std::string_view key, HotEntry entry, ValuePtr* displaced = nullptr) = 0;
  // Removes the key (memory) or leaves a tombstone at `lsn` (cached).
  virtual void apply_delete(std::string_view key, uint64_t version, uint64_t lsn) = 0;
  // Removes every key starting with `prefix` (cached: tombstones for those in memory, plus a prefix tombstone
  // so misses under the prefix read as absent until `lsn` is materialised).
  virtual void apply_delete_prefix(std::string_view prefix, uint64_t version, uint64_t lsn) = 0;
  // Fills a cached keyspace after a miss read RocksDB at `read_at_applied_lsn` (the applied LSN loaded
  // before the read). Ignored when the key is present (a present entry is at least as new), or when an
  // entry newer than the read was evicted from its shard since (the read may predate it). Safe from any
  // thread. No-op for memory residency.
  virtual void fill(std::string_view key, HotEntry entry, uint64_t read_at_applied_lsn) = 0;

  // Materialisation progress: entries with lsn <= applied_lsn may be evicted (cached). Evicts down to budget.
  virtual void on_materialized(uint64_t applied_lsn) = 0;

  // Ordered scan over [start, end) (end empty = unbounded) of present, unexpired keys; stops when `fn`
  // returns false. Memory residency only (cached keyspaces scan RocksDB). The callback must not write.
  virtual void scan(std::string_view start, std::string_view end, uint64_t now_micros,
                    const std::function<bool(std::string_view key, const Entry& entry)>& fn) = 0;

  // Up to `limit` keys whose expire_at_micros <= now, for the TTL sweeper.
  virtual std::vector<std::string> expired_keys(uint64_t now_micros, size_t limit) = 0;

  virtual HotStats stats() const = 0;
  virtual void clear() = 0;
};

}  // namespace savepoint::engine
