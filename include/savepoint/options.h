// Options of the engine and of its keyspaces. Every field has a documented default; an Options{} with only
// data_dir set is a working configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace savepoint {

class Clock;
class FileSystem;

// How long a commit waits before it is acknowledged.
enum class Durability : uint8_t {
  kDefault = 0,  // the keyspace's default (for a transaction: the strongest default among the keyspaces it
                 // writes; a removal of an absent key writes nothing)
  kRelaxed,      // after the in-memory append; durable within Options::sync_interval
  kSync,         // after fdatasync (group commit)
};

// What survives a crash (DESIGN.md, Persistence classes).
enum class Persistence : uint8_t {
  kDurable,    // every commit logged
  kCoalesced,  // latest values of dirty keys logged every coalesce_interval
  kVolatile,   // never logged, empty after a restart
};

enum class Residency : uint8_t {
  kMemory,  // every key in memory: reads never touch disk
  kCached,  // an LRU-bounded subset in memory (cache_bytes); misses read RocksDB
};

struct KeyspaceOptions {
  // Free-form tag of the layer that owns the keyspace ("kv", "registry", "index", "hash", "zset", ...).
  // A keyspace reopened with another kind is refused. Default: "kv".
  std::string kind = "kv";
  // Default: kDurable.
  Persistence persistence = Persistence::kDurable;
  // For kCoalesced: how often dirty keys are logged. Default: 30 s.
  std::chrono::milliseconds coalesce_interval = std::chrono::seconds(30);
  // Default durability of commits touching this keyspace (kDefault means kRelaxed). Default: kRelaxed.
  Durability durability = Durability::kRelaxed;
  // Default: kMemory. kVolatile keyspaces are always kMemory.
  Residency residency = Residency::kMemory;
  // For kCached: the memory budget of this keyspace. Default: 64 MiB.
  uint64_t cache_bytes = 64ull << 20;
};

struct Options {
  // Directory of the engine: LOCK, wal/, db/ (docs/recovery.md). Required.
  std::string data_dir;
  // WAL archive for point-in-time recovery; empty = none. Default: none.
  std::string archive_dir;
  // File system of the WAL, the archive and the lock file. RocksDB always uses the real disk.
  // Default: FileSystem::Default(). Must outlive the engine.
  FileSystem* file_system = nullptr;
  // Commit timestamps and TTLs. Default: Clock::System(). Must outlive the engine.
  Clock* clock = nullptr;
  // Where the engine logs. Default: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;

  // Relaxed commits are fdatasync'd at least this often. Default: 1 s.
  std::chrono::microseconds sync_interval = std::chrono::seconds(1);
  // WAL segment size; at least 4096. Default: 64 MiB.
  uint64_t wal_segment_size = 64ull << 20;
  // A checkpoint runs when this many WAL bytes were written since the last one... Default: 256 MiB.
  uint64_t checkpoint_wal_bytes = 256ull << 20;
  // ...or this long after the last one, if anything was written. Default: 5 min.
  std::chrono::milliseconds checkpoint_interval = std::chrono::minutes(5);
  // The most memory all cached keyspaces together may be given (the sum of their cache_bytes); creating
  // one beyond it is refused. Default: 1 GiB.
  uint64_t cached_memory_budget = 1ull << 30;
  // How often the TTL sweeper looks for expired keys. Default: 100 ms.
  std::chrono::milliseconds ttl_sweep_interval = std::chrono::milliseconds(100);

  // RocksDB knobs that matter for this workload (the materialised store is written in batches and read on
  // cache misses and at open). Defaults: 64 MiB block cache, 64 MiB write buffer, 2 background jobs.
  uint64_t rocksdb_block_cache_bytes = 64ull << 20;
  uint64_t rocksdb_write_buffer_bytes = 64ull << 20;
  int rocksdb_background_jobs = 2;
};

}  // namespace savepoint
