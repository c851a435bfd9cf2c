// Engine statistics: a plain struct, also rendered as JSON and as Prometheus text (Engine::stats_json,
// Engine::stats_prometheus). Latencies in microseconds, from histograms (percentiles, never averages).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace savepoint {

struct LatencySummary {
  uint64_t count = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

struct KeyspaceStats {
  uint32_t id = 0;
  std::string name;
  std::string kind;
  std::string persistence;  // durable, coalesced, volatile
  std::string residency;    // memory, cached
  uint64_t keys = 0;        // in memory (cached: the cached subset)
  uint64_t memory_bytes = 0;
  uint64_t expiring_keys = 0;
  uint64_t cache_hits = 0, cache_misses = 0, evictions = 0;
};

struct Stats {
  std::vector<KeyspaceStats> keyspaces;
  uint64_t commits_sync = 0;
  uint64_t commits_relaxed = 0;
  uint64_t commits_unlogged = 0;  // volatile / coalesced only
  uint64_t conflicts = 0;         // commits refused by a precondition
  uint64_t expired_keys = 0;      // deletes logged by the TTL sweeper
  uint64_t coalesce_commits = 0;
  LatencySummary commit_latency_sync;
  LatencySummary commit_latency_relaxed;
  LatencySummary fsync_latency;
  uint64_t wal_records = 0, wal_bytes = 0, wal_syncs = 0;
  uint64_t last_lsn = 0, durable_lsn = 0, applied_lsn = 0;
  uint64_t materializer_lag_records = 0;  // last_lsn - applied_lsn
  uint64_t materializer_lag_bytes = 0;    // what Options::max_materializer_lag_bytes bounds
  uint64_t commit_backpressure_waits = 0;  // commits that waited for the materializer
  // Sync commits (and Engine::sync calls) held by a full disk (Options::sync_commit_space_timeout):
  uint64_t sync_commits_waiting_for_space = 0;  // waiting now
  uint64_t sync_commit_space_waits = 0;         // found the disk full while waiting, since open
  uint64_t sync_commit_space_timeouts = 0;      // ... and returned NoSpace, not known durable, since open
  uint64_t checkpoints = 0;
  uint64_t last_checkpoint_micros = 0;  // engine clock time of the last checkpoint
  double last_checkpoint_ms = 0;        // how long it took
  uint64_t memory_bytes = 0;            // sum over keyspaces
  // Snapshots (docs/pitr.md).
  uint64_t snapshots_ok = 0, snapshots_failed = 0;
  bool snapshot_in_progress = false;
  uint64_t changes_since_save = 0;       // changes since the last successful save (save points count these)
  uint64_t last_snapshot_lsn = 0;        // of the last successful save
  uint64_t last_snapshot_micros = 0;     // engine clock time it finished (the open time before any)
  double last_snapshot_seconds = 0;      // how long it took
  uint64_t last_snapshot_bytes = 0;      // its file size
  std::string last_snapshot_error;       // of the last failed save since the last success; empty if none
  bool writes_refused = false;           // stop_writes_on_bgsave_error is in force
  uint64_t archived_segments = 0;        // WAL segments archived since open
};

}  // namespace savepoint
