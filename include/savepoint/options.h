// Options of the engine and of its keyspaces. Every field has a documented default; an Options{} with only
// data_dir set is a working configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

// A Redis `save <seconds> <changes>` line: a background save starts when at least `seconds` passed since the
// last successful save and at least `changes` changes were made since (docs/pitr.md, Save points).
struct SavePoint {
  std::chrono::seconds after{0};
  uint64_t changes = 1;
};

struct Options {
  // Directory of the engine: LOCK, wal/, db/ (docs/recovery.md). Required.
  std::string data_dir;
  // WAL archive for point-in-time recovery; empty = none. Default: none.
  std::string archive_dir;
  // File system of the whole data directory: the WAL, the archive, the lock file and snapshots, and, when it
  // is not FileSystem::Default(), RocksDB's files too (then RocksDB is inside the same crash model: a
  // FaultInjectionFileSystem's power cut or ENOSPC reaches it; engine/rocks_env.h). With the default,
  // RocksDB uses its own POSIX file system. Default: FileSystem::Default(). Must outlive the engine.
  FileSystem* file_system = nullptr;
  // Commit timestamps and TTLs. Default: Clock::System(). Must outlive the engine.
  Clock* clock = nullptr;
  // Where the engine logs. Default: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;

  // Relaxed commits are fdatasync'd at least this often. Default: 1 s.
  std::chrono::microseconds sync_interval = std::chrono::seconds(1);
  // How long a sync commit (and Engine::sync()) waits for durability while the disk is full before it fails
  // with NoSpace. A commit that arrives while the WAL already knows the disk is full is refused at once with
  // NoSpace, and changed nothing. This bound is for the other case: a commit whose record entered the WAL's
  // buffer before the writer met ENOSPC. That commit is already applied (readers see it, later commits build
  // on it) and its record is not withdrawn: it is written and fdatasync'd as soon as space returns, in LSN
  // order with everything after it. So a NoSpace after this timeout means "applied, not known durable", as
  // PostgreSQL says when it stops waiting for a synchronous standby ("the transaction has already committed
  // locally, but might not have been replicated"): if the process stops before space returns the commit is
  // lost, otherwise it stays. Treat it as in doubt, never as "did not happen"; its message begins
  // "sync commit at LSN <n> is applied but not known durable" (Engine::commit). Nothing acknowledged OK is
  // ever lost. Stats::sync_commits_waiting_for_space shows commits held by a full disk now. 0 = wait without
  // bound. Default: 10 s: far beyond a normal fdatasync (milliseconds) and long enough to ride out a brief
  // fill that a cleanup frees, short enough that a request handler gets an answer before a typical client
  // timeout instead of hanging with the disk.
  std::chrono::milliseconds sync_commit_space_timeout = std::chrono::seconds(10);
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
  // Backpressure on the materializer (which writes committed records to RocksDB behind the commits): while
  // the records committed but not yet materialised take this many bytes or more (their logged payloads plus
  // 13 bytes each), Engine::commit waits before it commits, asking the WAL to sync so the materializer can
  // proceed. Bounds the queue's memory, and how much recovery replays after a crash, when commits outrun
  // RocksDB. A soft bound: commits already past the check still go in. A commit that is waiting returns the
  // error when the log or the materializer fails, and returns when the engine closes. 0 = no bound.
  // Default: 64 MiB.
  uint64_t max_materializer_lag_bytes = 64ull << 20;

  // --- snapshots (docs/pitr.md) ---
  // Where snapshot files are written. Default: <data_dir>/snapshots.
  std::string snapshot_dir;
  // Automatic background saves, as Redis's `save 900 1 300 10 60 10000` would be
  // {{900s, 1}, {300s, 10}, {60s, 10000}}. Checked on the engine clock. Default: none.
  std::vector<SavePoint> save_points;
  // After a failed background save, save points wait this long before trying again. Default: 5 s.
  std::chrono::seconds save_retry_delay = std::chrono::seconds(5);
  // Refuse commits (IOError) after a background save failed, until a save succeeds (Redis's
  // stop-writes-on-bgsave-error). Default: false.
  bool stop_writes_on_bgsave_error = false;
  // Retention in snapshot_dir after each successful save: the newest `keep_last` (0 = keep all), plus the
  // newest of each of the last `keep_hourly` hours and `keep_daily` days. Defaults: 3, 0, 0.
  uint32_t snapshot_keep_last = 3;
  uint32_t snapshot_keep_hourly = 0;
  uint32_t snapshot_keep_daily = 0;
  // With archive_dir set, copy every snapshot into <archive_dir>/snapshots (point-in-time recovery starts
  // from those). Default: true.
  bool archive_snapshots = true;
  // Uncompressed bytes per snapshot block (docs/snapshot_format.md). Default: 64 KiB.
  uint32_t snapshot_block_size = 64u << 10;

  // RocksDB knobs that matter for this workload (the materialised store is written in batches and read on
  // cache misses and at open). Defaults: 64 MiB block cache, 64 MiB write buffer per column family, 2
  // background jobs.
  uint64_t rocksdb_block_cache_bytes = 64ull << 20;
  uint64_t rocksdb_write_buffer_bytes = 64ull << 20;
  int rocksdb_background_jobs = 2;
  // The memtable memory of all column families together (every keyspace and index has one): past it RocksDB
  // flushes, whatever each family's own write buffer holds, so a catalogue of hundreds of keyspaces costs
  // this much at most, not 64 MiB each. 0 = no shared bound. Default: 256 MiB.
  uint64_t rocksdb_write_buffer_budget = 256ull << 20;
  // At open, read every RocksDB table file and check every block's checksum (data, index, filter and
  // properties blocks) before anything is read or written: RocksDB itself opens a table whose properties
  // block is damaged with default properties and can answer wrong. Costs one read of db/ at each open (the
  // memory-resident keyspaces are read whole anyway). Default: true.
  bool verify_files_at_open = true;
  // The most SST files RocksDB keeps open at once (its table cache); -1 = every file, as RocksDB's own
  // default, which grows with the number of column families and can exhaust `ulimit -n`. Default: 512.
  int rocksdb_max_open_files = 512;
};

}  // namespace savepoint
