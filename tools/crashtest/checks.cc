// The driver's checks beyond the model: indexes, snapshot files, restored snapshots (see checks.h).
#include "tools/crashtest/checks.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <memory>

#include "savepoint/engine.h"
#include "savepoint/recovery.h"
#include "snapshot/format.h"
#include "snapshot/snapshot_reader.h"

namespace savepoint::crashtest {

std::string CheckIndexes(const Handles& h, const State& s) {
  if (Status st = h.by_name->state(); !st.ok()) return "index by_name is not usable: " + st.ToString();
  if (Status st = h.by_level->state(); !st.ok()) return "index by_level is not usable: " + st.ToString();
  std::map<std::string, std::vector<int64_t>> names;
  std::map<int64_t, std::vector<int64_t>> levels;
  for (const auto& [id, c] : s.chars) {
    names[c.name].push_back(id);
    levels[c.level].push_back(id);
  }
  for (int i = 0; i < kNames; i++) {
    const std::string name = "n" + std::to_string(i);
    auto got = h.by_name->lookup(name);
    if (!got.ok()) return "by_name lookup " + name + ": " + got.status().ToString();
    if (*got != names[name]) {
      return "unique index by_name[" + name + "] holds " + std::to_string(got->size()) +
             " rows, the rows say " + std::to_string(names[name].size()) +
             (got->empty() ? "" : " (index points to row " + std::to_string(got->front()) + ")");
    }
  }
  for (int level = 0; level < kLevels; level++) {
    auto got = h.by_level->lookup(level);
    if (!got.ok()) return "by_level lookup " + std::to_string(level) + ": " + got.status().ToString();
    std::vector<int64_t> g = *got;
    std::sort(g.begin(), g.end());
    if (g != levels[level]) {
      return "index by_level[" + std::to_string(level) + "] holds " + std::to_string(g.size()) +
             " rows, the rows say " + std::to_string(levels[level].size());
    }
  }
  auto all = h.by_level->range(INT64_MIN, INT64_MAX);
  if (!all.ok()) return "by_level range: " + all.status().ToString();
  if (all->size() != s.chars.size()) {
    return "index by_level holds " + std::to_string(all->size()) + " entries for " +
           std::to_string(s.chars.size()) + " rows";
  }
  return "";
}

SnapshotFiles CheckSnapshotFiles(FileSystem* fs, const std::string& dir,
                                 std::map<std::string, uint64_t>* seen) {
  SnapshotFiles out;
  if (!fs->file_exists(dir)) {
    if (seen != nullptr) seen->clear();
    return out;
  }
  auto names = fs->list_dir(dir);
  if (!names.ok()) {
    out.error = "listing " + dir + ": " + names.status().ToString();
    return out;
  }
  std::sort(names->begin(), names->end());
  const std::string temp_suffix = std::string(snapshot::kSuffix) + std::string(snapshot::kTempSuffix);
  std::map<std::string, uint64_t> now_seen;
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    if (name.ends_with(temp_suffix)) {
      out.temps.push_back(name);
      continue;
    }
    const auto parts = snapshot::ParseSnapshotFileName(name);
    // Anything else is not a snapshot (nothing else is expected here, but nothing else is ours to judge).
    if (!parts) continue;
    auto size = fs->file_size(path);
    if (!size.ok()) {
      out.error = "size of snapshot " + path + ": " + size.status().ToString();
      return out;
    }
    if (parts->timeline > out.newest_timeline ||
        (parts->timeline == out.newest_timeline && parts->lsn >= out.newest_lsn)) {
      out.newest = path;
      out.newest_timeline = parts->timeline;
      out.newest_lsn = parts->lsn;
    }
    if (seen != nullptr) {
      auto it = seen->find(name);
      if (it != seen->end() && it->second == *size) {
        out.skipped++;
        now_seen[name] = *size;
        continue;
      }
    }
    auto reader = snapshot::SnapshotReader::Open(fs, path);
    Status s = reader.ok() ? (*reader)->verify() : reader.status();
    if (!s.ok()) {
      out.error = "snapshot " + path + " (" + std::to_string(*size) +
                  " bytes) is visible under its final name but does not verify: " + s.ToString();
      return out;
    }
    const snapshot::Header& h = (*reader)->header();
    if (h.timeline != parts->timeline || h.lsn != parts->lsn) {
      out.error = "snapshot " + path + " holds timeline " + std::to_string(h.timeline) + " LSN " +
                  std::to_string(h.lsn) + ", not what its name says";
      return out;
    }
    out.verified++;
    now_seen[name] = *size;
  }
  if (seen != nullptr) *seen = std::move(now_seen);
  return out;
}

namespace {

Options RestoredOptions(const std::string& dir, Clock* clock) {
  Options o;
  o.data_dir = dir;  // no archive: a restored directory must not archive into its origin's (docs/pitr.md)
  o.clock = clock;
  o.checkpoint_interval = std::chrono::hours(24);
  o.rocksdb_block_cache_bytes = 8u << 20;
  o.rocksdb_write_buffer_bytes = 4u << 20;
  return o;
}

std::string CheckOpenedSnapshot(Engine* engine, uint64_t lsn, RestoredSnapshot* out) {
  const uint64_t opened_at = engine->stats().last_lsn;
  if (opened_at != lsn) {
    return "the engine restored from it opened at LSN " + std::to_string(opened_at) +
           ", not the snapshot's " + std::to_string(lsn);
  }
  auto h = OpenDataSet(engine);
  if (!h.ok()) return "opening the data set on it failed: " + h.status().ToString();
  if (engine->stats().last_lsn != lsn) {
    return "opening the data set on it wrote to the WAL (last LSN " + std::to_string(lsn) + " -> " +
           std::to_string(engine->stats().last_lsn) + "): a keyspace or index is missing from the snapshot";
  }
  uint64_t sessions = 0;
  auto st = ReadState(engine, *h, &sessions);
  if (!st.ok()) return "reading its state failed: " + st.status().ToString();
  if (std::string e = CheckIndexes(*h, *st); !e.empty()) return e;
  if (sessions != 0) return "its volatile keyspace holds " + std::to_string(sessions) + " keys";
  const int64_t gold = GoldTotal(*st);
  if (gold != kGoldKeys * kGoldEach) {
    return "gold is not conserved in it: " + std::to_string(gold) + " instead of " +
           std::to_string(kGoldKeys * kGoldEach);
  }
  out->state = std::move(st).value();
  return "";
}

}  // namespace

std::string CheckRestoredSnapshot(const std::string& snapshot_path, const std::string& scratch_dir,
                                  Clock* clock, uint64_t recovered_lsn, RestoredSnapshot* out) {
  namespace stdfs = std::filesystem;
  std::error_code ec;
  stdfs::remove_all(scratch_dir, ec);
  std::string error = [&]() -> std::string {
    auto info = RestoreSnapshot(snapshot_path, scratch_dir);
    if (!info.ok()) return "RestoreSnapshot failed: " + info.status().ToString();
    out->lsn = info->lsn;
    if (info->lsn > recovered_lsn) {
      return "it holds LSN " + std::to_string(info->lsn) + ", above the last LSN " +
             std::to_string(recovered_lsn) + " the engine recovered: a snapshot holds commits the log lost";
    }
    auto engine = Engine::open(RestoredOptions(scratch_dir, clock));
    if (!engine.ok()) return "opening the engine restored from it failed: " + engine.status().ToString();
    std::string e = CheckOpenedSnapshot(engine->get(), info->lsn, out);
    Status s = (*engine)->close();
    if (e.empty() && !s.ok()) e = "closing the engine restored from it failed: " + s.ToString();
    return e;
  }();
  stdfs::remove_all(scratch_dir, ec);
  if (!error.empty()) return "snapshot " + snapshot_path + ": " + error;
  return "";
}

}  // namespace savepoint::crashtest
