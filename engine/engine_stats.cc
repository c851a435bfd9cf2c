// Statistics as a struct, JSON and Prometheus text exposition format.
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine_impl.h"

namespace savepoint::engine {

namespace {

LatencySummary Summarize(const ConcurrentHistogram& h) {
  const Histogram snap = h.snapshot();
  LatencySummary s;
  s.count = snap.count();
  s.p50_us = static_cast<double>(snap.percentile(0.50)) / 1000.0;
  s.p99_us = static_cast<double>(snap.percentile(0.99)) / 1000.0;
  s.p999_us = static_cast<double>(snap.percentile(0.999)) / 1000.0;
  s.max_us = static_cast<double>(snap.max()) / 1000.0;
  return s;
}

nlohmann::ordered_json ToJson(const LatencySummary& l) {
  return {{"count", l.count},
          {"p50_us", l.p50_us},
          {"p99_us", l.p99_us},
          {"p999_us", l.p999_us},
          {"max_us", l.max_us}};
}

const char* PersistenceName(Persistence p) {
  return p == Persistence::kDurable ? "durable" : p == Persistence::kCoalesced ? "coalesced" : "volatile";
}

// Prometheus label values escape backslash, quote and newline.
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

Stats EngineImpl::stats() {
  Stats st;
  {
    std::shared_lock<std::shared_mutex> cl(catalog_mu_);
    for (auto& [name, ks] : by_name_) {
      const HotStats h = ks->hot->stats();
      KeyspaceStats k;
      k.id = ks->def.id;
      k.name = name;
      k.kind = ks->def.options.kind;
      k.persistence = PersistenceName(ks->def.options.persistence);
      k.residency = ks->def.options.residency == Residency::kCached ? "cached" : "memory";
      k.keys = h.keys;
      k.memory_bytes = h.bytes;
      k.expiring_keys = h.expiring;
      k.cache_hits = h.hits;
      k.cache_misses = h.misses;
      k.evictions = h.evictions;
      st.memory_bytes += h.bytes;
      st.keyspaces.push_back(std::move(k));
    }
  }
  st.commits_sync = commits_sync_;
  st.commits_relaxed = commits_relaxed_;
  st.commits_unlogged = commits_unlogged_;
  st.conflicts = conflicts_;
  st.expired_keys = expired_keys_;
  st.coalesce_commits = coalesce_commits_;
  st.commit_latency_sync = Summarize(commit_sync_latency_);
  st.commit_latency_relaxed = Summarize(commit_relaxed_latency_);
  st.fsync_latency = Summarize(fsync_latency_);
  if (wal_ != nullptr) {
    const wal::WriterStats ws = wal_->stats();
    st.wal_records = ws.records;
    st.wal_bytes = ws.bytes_written;
    st.wal_syncs = ws.syncs;
    st.last_lsn = wal_->last_lsn();
    st.durable_lsn = wal_->durable_lsn();
    st.sync_commits_waiting_for_space = ws.space_waiters;
    st.sync_commit_space_waits = ws.space_waits;
    st.sync_commit_space_timeouts = ws.space_wait_timeouts;
  }
  st.applied_lsn = applied_lsn_;
  const uint64_t enqueued = enqueued_lsn_;
  st.materializer_lag_records = enqueued > st.applied_lsn ? enqueued - st.applied_lsn : 0;
  st.materializer_lag_bytes = mat_lag_bytes_.load(std::memory_order_relaxed);
  st.commit_backpressure_waits = backpressure_waits_.load(std::memory_order_relaxed);
  st.checkpoints = checkpoints_;
  st.last_checkpoint_micros = last_checkpoint_micros_;
  st.last_checkpoint_ms = static_cast<double>(last_checkpoint_ns_) / 1e6;
  fill_snapshot_stats(&st);
  return st;
}

std::string EngineImpl::stats_json() {
  const Stats st = stats();
  nlohmann::ordered_json j;
  nlohmann::ordered_json kss = nlohmann::ordered_json::array();
  for (const KeyspaceStats& k : st.keyspaces) {
    kss.push_back({{"id", k.id},
                   {"name", k.name},
                   {"kind", k.kind},
                   {"persistence", k.persistence},
                   {"residency", k.residency},
                   {"keys", k.keys},
                   {"memory_bytes", k.memory_bytes},
                   {"expiring_keys", k.expiring_keys},
                   {"cache_hits", k.cache_hits},
                   {"cache_misses", k.cache_misses},
                   {"evictions", k.evictions}});
  }
  j["keyspaces"] = kss;
  j["commits"] = {{"sync", st.commits_sync},
                  {"relaxed", st.commits_relaxed},
                  {"unlogged", st.commits_unlogged},
                  {"conflicts", st.conflicts},
                  {"coalesce", st.coalesce_commits}};
  j["expired_keys"] = st.expired_keys;
  j["commit_latency_sync"] = ToJson(st.commit_latency_sync);
  j["commit_latency_relaxed"] = ToJson(st.commit_latency_relaxed);
  j["fsync_latency"] = ToJson(st.fsync_latency);
  j["wal"] = {{"records", st.wal_records},
              {"bytes", st.wal_bytes},
              {"syncs", st.wal_syncs},
              {"last_lsn", st.last_lsn},
              {"durable_lsn", st.durable_lsn}};
  j["applied_lsn"] = st.applied_lsn;
  j["materializer_lag_records"] = st.materializer_lag_records;
  j["materializer_lag_bytes"] = st.materializer_lag_bytes;
  j["commit_backpressure_waits"] = st.commit_backpressure_waits;
  j["sync_commit_space"] = {{"waiting", st.sync_commits_waiting_for_space},
                            {"waits", st.sync_commit_space_waits},
                            {"timeouts", st.sync_commit_space_timeouts}};
  j["checkpoints"] = {{"count", st.checkpoints},
                      {"last_micros", st.last_checkpoint_micros},
                      {"last_ms", st.last_checkpoint_ms}};
  j["memory_bytes"] = st.memory_bytes;
  j["snapshots"] = {{"ok", st.snapshots_ok},
                    {"failed", st.snapshots_failed},
                    {"in_progress", st.snapshot_in_progress},
                    {"changes_since_save", st.changes_since_save},
                    {"last_lsn", st.last_snapshot_lsn},
                    {"last_micros", st.last_snapshot_micros},
                    {"last_seconds", st.last_snapshot_seconds},
                    {"last_bytes", st.last_snapshot_bytes},
                    {"last_error", st.last_snapshot_error},
                    {"writes_refused", st.writes_refused}};
  j["archived_segments"] = st.archived_segments;
  return j.dump();
}

std::string EngineImpl::stats_prometheus() {
  const Stats st = stats();
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  // A metric of one unlabelled sample: the name is written once.
  auto single = [&](const char* name, const char* type, const char* help, auto value) {
    metric(name, type, help);
    o << name << ' ' << value << '\n';
  };
  metric("savepoint_commits_total", "counter", "Commits by durability.");
  o << "savepoint_commits_total{durability=\"sync\"} " << st.commits_sync << '\n'
    << "savepoint_commits_total{durability=\"relaxed\"} " << st.commits_relaxed << '\n'
    << "savepoint_commits_total{durability=\"unlogged\"} " << st.commits_unlogged << '\n';
  single("savepoint_commit_conflicts_total", "counter", "Commits refused by a precondition.", st.conflicts);
  single("savepoint_expired_keys_total", "counter", "Keys deleted by the TTL sweeper.", st.expired_keys);
  metric("savepoint_commit_latency_microseconds", "summary", "Commit latency.");
  for (auto [label, l] :
       {std::pair{"sync", st.commit_latency_sync}, std::pair{"relaxed", st.commit_latency_relaxed}}) {
    o << "savepoint_commit_latency_microseconds{durability=\"" << label << "\",quantile=\"0.5\"} " << l.p50_us
      << '\n'
      << "savepoint_commit_latency_microseconds{durability=\"" << label << "\",quantile=\"0.99\"} "
      << l.p99_us << '\n'
      << "savepoint_commit_latency_microseconds{durability=\"" << label << "\",quantile=\"0.999\"} "
      << l.p999_us << '\n'
      << "savepoint_commit_latency_microseconds_count{durability=\"" << label << "\"} " << l.count << '\n';
  }
  metric("savepoint_fsync_latency_microseconds", "summary", "WAL fdatasync latency.");
  o << "savepoint_fsync_latency_microseconds{quantile=\"0.5\"} " << st.fsync_latency.p50_us << '\n'
    << "savepoint_fsync_latency_microseconds{quantile=\"0.99\"} " << st.fsync_latency.p99_us << '\n'
    << "savepoint_fsync_latency_microseconds_count " << st.fsync_latency.count << '\n';
  single("savepoint_wal_bytes_total", "counter", "WAL bytes written.", st.wal_bytes);
  single("savepoint_wal_syncs_total", "counter", "WAL fdatasync calls.", st.wal_syncs);
  metric("savepoint_lsn", "gauge", "Log sequence numbers.");
  o << "savepoint_lsn{which=\"last\"} " << st.last_lsn << '\n'
    << "savepoint_lsn{which=\"durable\"} " << st.durable_lsn << '\n'
    << "savepoint_lsn{which=\"applied\"} " << st.applied_lsn << '\n';
  single("savepoint_materializer_lag_records", "gauge", "Committed records not yet in RocksDB.",
         st.materializer_lag_records);
  single("savepoint_materializer_lag_bytes", "gauge", "Bytes of committed records not yet in RocksDB.",
         st.materializer_lag_bytes);
  single("savepoint_commit_backpressure_waits_total", "counter", "Commits that waited for the materializer.",
         st.commit_backpressure_waits);
  single("savepoint_sync_commits_waiting_for_space", "gauge",
         "Sync commits waiting for durability while the disk is full.", st.sync_commits_waiting_for_space);
  single("savepoint_sync_commit_space_waits_total", "counter", "Sync commits that found the disk full.",
         st.sync_commit_space_waits);
  single("savepoint_sync_commit_space_timeouts_total", "counter",
         "Sync commits that returned NoSpace, not known durable, after sync_commit_space_timeout.",
         st.sync_commit_space_timeouts);
  single("savepoint_checkpoints_total", "counter", "Checkpoints completed.", st.checkpoints);
  metric("savepoint_snapshots_total", "counter", "Saves by outcome.");
  o << "savepoint_snapshots_total{result=\"ok\"} " << st.snapshots_ok << '\n'
    << "savepoint_snapshots_total{result=\"failed\"} " << st.snapshots_failed << '\n';
  single("savepoint_snapshot_in_progress", "gauge", "1 while a save runs.", st.snapshot_in_progress ? 1 : 0);
  single("savepoint_changes_since_save", "gauge", "Changes since the last successful save.",
         st.changes_since_save);
  single("savepoint_last_snapshot_seconds", "gauge", "Duration of the last successful save.",
         st.last_snapshot_seconds);
  single("savepoint_archived_segments_total", "counter", "WAL segments archived since open.",
         st.archived_segments);
  metric("savepoint_keyspace_keys", "gauge", "Keys in memory per keyspace.");
  for (const KeyspaceStats& k : st.keyspaces) {
    o << "savepoint_keyspace_keys{keyspace=\"" << LabelValue(k.name) << "\",persistence=\"" << k.persistence
      << "\"} " << k.keys << '\n';
  }
  metric("savepoint_keyspace_memory_bytes", "gauge", "Approximate memory per keyspace.");
  for (const KeyspaceStats& k : st.keyspaces) {
    o << "savepoint_keyspace_memory_bytes{keyspace=\"" << LabelValue(k.name) << "\"} " << k.memory_bytes
      << '\n';
  }
  return o.str();
}

}  // namespace savepoint::engine
