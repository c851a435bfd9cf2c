// savepoint info: what a data directory holds, read-only (keyspaces, LSNs, timeline, WAL segments, snapshots,
// archive).
#include <algorithm>
#include <cstdio>
#include <set>

#include "snapshot/format.h"
#include "snapshot/snapshot_reader.h"
#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"
#include "tools/savepoint/wal_source.h"
#include "wal/archive.h"

namespace savepoint::tools {

namespace {

struct SegmentStat {
  wal::SegmentInfo info;
  uint64_t size = 0;
  uint64_t records = 0;
  uint64_t first_lsn = 0, last_lsn = 0;  // of the records read; 0 when none
  uint64_t first_micros = 0, last_micros = 0;
};

struct KeyspaceStat {
  const KeyspaceView* ks = nullptr;
  uint64_t rows = 0, expired = 0, bytes = 0;
};

struct SnapshotStat {
  std::string name;
  snapshot::Header header;
  uint64_t size = 0;
};

// The snapshot files of `dir` (temp files are not), oldest first, read as far as their headers. A file whose
// header does not read is a problem, named with the reason; an absent directory has none.
Status ListSnapshotFiles(FileSystem* fs, const std::string& dir, std::vector<SnapshotStat>* out,
                         std::vector<std::string>* problems) {
  if (!fs->file_exists(dir)) return Status::OK();
  auto names = fs->list_dir(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!snapshot::ParseSnapshotFileName(name).has_value()) continue;
    SnapshotStat st;
    st.name = name;
    const std::string path = JoinPath(dir, name);
    Status s = snapshot::ReadSnapshotHeader(fs, path, &st.header);
    if (!s.ok()) {
      problems->push_back("snapshot " + path + " does not read: " + s.ToString());
      continue;
    }
    auto size = fs->file_size(path);
    if (!size.ok()) return size.status();
    st.size = *size;
    out->push_back(std::move(st));
  }
  std::sort(out->begin(), out->end(), [](const SnapshotStat& x, const SnapshotStat& y) {
    return x.header.lsn != y.header.lsn ? x.header.lsn < y.header.lsn : x.header.timeline < y.header.timeline;
  });
  return Status::OK();
}

Json SnapshotsJson(const std::string& dir, const std::vector<SnapshotStat>& snaps) {
  Json j;
  j["path"] = dir;
  Json files = Json::array();
  for (const auto& st : snaps) {
    files.push_back({{"name", st.name},
                     {"lsn", st.header.lsn},
                     {"timeline", st.header.timeline},
                     {"created", FormatTime(st.header.created_micros)},
                     {"bytes", st.size}});
  }
  j["files"] = std::move(files);
  j["last"] = snaps.empty() ? Json(nullptr) : j["files"].back();
  return j;
}

// "3 snapshots, last 00000001-00000000000004b0.snap: LSN 1200 (timeline 1), created 2026-..., 4.1 MiB", or
// "none".
std::string SnapshotsText(const std::vector<SnapshotStat>& snaps) {
  if (snaps.empty()) return "none";
  const SnapshotStat& last = snaps.back();
  return Plural(snaps.size(), "snapshot") + ", last " + last.name + ": LSN " +
         std::to_string(last.header.lsn) + " (timeline " + std::to_string(last.header.timeline) +
         "), created " + FormatTime(last.header.created_micros) + ", " + HumanBytes(last.size);
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

int RunInfo(const InfoArgs& a) {
  ViewOptions vo;
  vo.allow_live = true;  // figures of a running engine are worth seeing; `lock_holder` says it runs
  vo.overlay_wal = !a.no_wal;
  Status tail_error;
  auto view = OfflineView::Open(a.dir, vo);
  if (!view.ok() && vo.overlay_wal && view.status().IsCorruption()) {
    // Report the rest of the directory anyway, from RocksDB alone.
    tail_error = view.status();
    vo.overlay_wal = false;
    view = OfflineView::Open(a.dir, vo);
  }
  if (!view.ok()) return Fail(view.status());
  const OfflineView& v = **view;
  FileSystem* fs = FileSystem::Default();
  std::vector<std::string> problems, notes;
  int code = kExitOk;
  if (!tail_error.ok()) {
    notes.push_back("row counts are RocksDB's alone: the WAL after its applied LSN does not read");
    code = kExitCorruption;
  }

  // --- the WAL, every segment of the directory's timeline, read in full ---
  const std::string wal_dir = JoinPath(a.dir, "wal");
  std::vector<wal::SegmentInfo> all_segments;
  if (fs->file_exists(wal_dir)) {
    auto listed = wal::ListSegments(fs, wal_dir);
    if (!listed.ok()) return Fail(listed.status());
    all_segments = *listed;
  }
  std::set<uint32_t> timelines;
  std::vector<SegmentStat> segs;
  for (const auto& s : all_segments) {
    timelines.insert(s.timeline);
    if (s.timeline != v.timeline()) continue;
    SegmentStat st;
    st.info = s;
    st.size = fs->file_size(JoinPath(wal_dir, s.name)).ok() ? *fs->file_size(JoinPath(wal_dir, s.name)) : 0;
    segs.push_back(st);
  }
  if (!timelines.empty() && *timelines.rbegin() > v.timeline()) {
    problems.push_back("the WAL holds timeline " + std::to_string(*timelines.rbegin()) +
                       ", newer than timeline " + std::to_string(v.timeline()) +
                       " this directory writes (the engine refuses to open it)");
    code = kExitCorruption;
  }
  uint64_t last_lsn = 0, durable_lsn = 0, max_synced = 0;
  wal::StopInfo stop;
  Status wal_status;
  if (!segs.empty()) {
    Status vs = CheckSegmentVersions(fs, wal_dir, all_segments);
    if (!vs.ok()) return Fail(vs);
    wal::ReaderOptions ro;
    ro.timeline = v.timeline();
    ro.start_lsn = segs.front().info.first_lsn;
    auto reader = wal::WalReader::Open(fs, wal_dir, ro);
    if (!reader.ok()) return Fail(reader.status());
    wal::Record r;
    Progress progress("reading the WAL");
    uint64_t n = 0;
    while ((*reader)->next(&r)) {
      progress.update(++n, "records");
      SegmentStat& st = segs[(*reader)->segment_index()];
      if (st.records++ == 0) {
        st.first_lsn = r.lsn;
        st.first_micros = r.commit_micros;
      }
      st.last_lsn = r.lsn;
      st.last_micros = r.commit_micros;
      max_synced = std::max(max_synced, r.synced_lsn);
    }
    stop = (*reader)->stop();
    wal_status = (*reader)->status();
    last_lsn = std::max((*reader)->last_lsn(), segs.back().info.first_lsn - 1);
    // Durable for sure: every record of a sealed segment, and what a later record declares synced.
    durable_lsn = max_synced;
    for (size_t i = 0; i + 1 < segs.size(); i++) durable_lsn = std::max(durable_lsn, segs[i].last_lsn);
    if (segs.back().records == 0) durable_lsn = last_lsn;
    durable_lsn = std::min(durable_lsn, last_lsn);
    if (!wal_status.ok()) {
      problems.push_back(wal_status.message());
      code = ExitCodeFor(wal_status);
    } else if (!tail_error.ok()) {
      problems.push_back(tail_error.message());  // the records read, but a payload did not decode
    }
    if (v.applied_lsn() > last_lsn) {
      problems.push_back("RocksDB holds state up to LSN " + std::to_string(v.applied_lsn()) +
                         " but the WAL ends at LSN " + std::to_string(last_lsn) + " (WAL segments missing?)");
      code = kExitCorruption;
    } else if (v.applied_lsn() + 1 < segs.front().info.first_lsn) {
      problems.push_back("RocksDB holds state up to LSN " + std::to_string(v.applied_lsn()) +
                         " but the WAL starts at LSN " + std::to_string(segs.front().info.first_lsn));
      code = kExitCorruption;
    }
  } else if (v.applied_lsn() > 0) {
    problems.push_back("the WAL has no segment of timeline " + std::to_string(v.timeline()) + " in " +
                       wal_dir + " while RocksDB holds state up to LSN " + std::to_string(v.applied_lsn()) +
                       ": whatever was logged after RocksDB's last flush is gone");
    code = kExitCorruption;
  } else {
    notes.push_back("no WAL segments of timeline " + std::to_string(v.timeline()) + " in " + wal_dir);
  }

  // --- keyspaces ---
  std::vector<KeyspaceStat> kstats;
  const uint64_t now = NowMicros();
  {
    Progress progress("counting rows");
    uint64_t n = 0;
    for (const KeyspaceView* ks : v.keyspaces()) {
      KeyspaceStat st;
      st.ks = ks;
      Status s = v.scan(*ks, "", "", [&](std::string_view key, const Row& row) {
        progress.update(++n, "rows");
        if (row.expired(now)) {
          st.expired++;
        } else {
          st.rows++;
          st.bytes += key.size() + row.value.size();
        }
        return true;
      });
      if (!s.ok()) return Fail(s);
      kstats.push_back(st);
    }
  }

  // --- archive ---
  Json archive_json;
  std::string archive_text;
  if (!a.archive.empty()) {
    if (!fs->file_exists(a.archive)) return Fail(Status::NotFound("no such directory: " + a.archive));
    auto archived = wal::ListArchivedSegments(fs, a.archive);
    if (!archived.ok()) return Fail(archived.status());
    uint64_t compressed = 0, uncompressed = 0;
    std::vector<std::string> gaps;
    for (size_t i = 0; i < archived->size(); i++) {
      const auto& x = (*archived)[i];
      compressed += x.compressed_size;
      uncompressed += x.segment_size;
      if (i > 0 && x.timeline == (*archived)[i - 1].timeline &&
          x.first_lsn != (*archived)[i - 1].last_lsn + 1) {
        gaps.push_back("LSN " + std::to_string((*archived)[i - 1].last_lsn + 1) + ".." +
                       std::to_string(x.first_lsn - 1));
      }
    }
    archive_json["path"] = a.archive;
    archive_json["segments"] = archived->size();
    archive_json["compressed_bytes"] = compressed;
    archive_json["segment_bytes"] = uncompressed;
    if (!archived->empty()) {
      const auto& f = archived->front();
      const auto& l = archived->back();
      archive_json["first_lsn"] = f.first_lsn;
      archive_json["last_lsn"] = l.last_lsn;
      archive_json["first_commit_time"] = FormatTime(f.first_commit_micros);
      archive_json["last_commit_time"] = FormatTime(l.last_commit_micros);
      if (!segs.empty() && segs.front().info.first_lsn > l.last_lsn + 1) {
        gaps.push_back("LSN " + std::to_string(l.last_lsn + 1) + ".." +
                       std::to_string(segs.front().info.first_lsn - 1) +
                       " (between the archive and the live WAL)");
      }
      archive_text = std::to_string(archived->size()) + " segments, LSN " + std::to_string(f.first_lsn) +
                     ".." + std::to_string(l.last_lsn) + ", " + FormatTime(f.first_commit_micros) + " .. " +
                     FormatTime(l.last_commit_micros) + ", " + HumanBytes(compressed) + " compressed (" +
                     HumanBytes(uncompressed) + ")";
    } else {
      archive_text = "empty";
    }
    archive_json["gaps"] = gaps;
    for (const auto& g : gaps)
      problems.push_back("the archive misses " + g + ": point-in-time recovery cannot cross it");
  }

  // --- snapshots: the engine's directory, and the archive's copies ---
  const std::string snapshot_dir = a.snapshots.empty() ? JoinPath(a.dir, "snapshots") : a.snapshots;
  if (!a.snapshots.empty() && !fs->file_exists(a.snapshots)) {
    return Fail(Status::NotFound("no such directory: " + a.snapshots));
  }
  std::vector<SnapshotStat> snaps, archived_snaps;
  if (Status s = ListSnapshotFiles(fs, snapshot_dir, &snaps, &problems); !s.ok()) return Fail(s);
  if (!a.archive.empty()) {
    const std::string dir = JoinPath(a.archive, "snapshots");
    if (Status s = ListSnapshotFiles(fs, dir, &archived_snaps, &problems); !s.ok()) return Fail(s);
    archive_json["snapshots"] = SnapshotsJson(dir, archived_snaps);
    archive_text += "; " + SnapshotsText(archived_snaps);
  }

  const std::string holder = LockHolder(a.dir);
  if (a.json) {
    Json j;
    j["directory"] = a.dir;
    j["format_version"] = v.format_version();
    j["timeline"] = v.timeline();
    j["wal_timelines"] = timelines;
    j["lock_holder"] = holder.empty() ? Json(nullptr) : Json(holder);
    j["lsn"] = {{"applied", v.applied_lsn()}, {"durable", durable_lsn}, {"last", last_lsn}};
    Json ka = Json::array();
    for (const auto& st : kstats) {
      const auto& o = st.ks->def.options;
      Json k;
      k["name"] = st.ks->def.name;
      k["id"] = st.ks->def.id;
      k["kind"] = o.kind;
      k["class"] = PersistenceText(o);
      if (o.persistence == Persistence::kCoalesced) k["coalesce_ms"] = o.coalesce_interval.count();
      k["durability"] = o.durability == Durability::kSync ? "sync" : "relaxed";
      k["residency"] = o.residency == Residency::kCached ? "cached" : "memory";
      if (o.residency == Residency::kCached) k["cache_bytes"] = o.cache_bytes;
      k["rows"] = st.ks->is_volatile() ? Json(nullptr) : Json(st.rows);
      k["expired_rows"] = st.expired;
      k["bytes"] = st.bytes;
      ka.push_back(std::move(k));
    }
    j["keyspaces"] = std::move(ka);
    Json sa = Json::array();
    for (size_t i = 0; i < segs.size(); i++) {
      const auto& st = segs[i];
      Json x;
      x["name"] = st.info.name;
      x["size"] = st.size;
      x["sealed"] = i + 1 < segs.size();
      x["records"] = st.records;
      x["first_lsn"] = st.records > 0 ? Json(st.first_lsn) : Json(nullptr);
      x["last_lsn"] = st.records > 0 ? Json(st.last_lsn) : Json(nullptr);
      x["first_commit_time"] = st.records > 0 ? Json(FormatTime(st.first_micros)) : Json(nullptr);
      x["last_commit_time"] = st.records > 0 ? Json(FormatTime(st.last_micros)) : Json(nullptr);
      sa.push_back(std::move(x));
    }
    Json wj;
    wj["segments"] = std::move(sa);
    wj["tail_records"] = v.wal_tail().records;
    wj["stop"] = {{"reason", wal::StopReasonName(stop.reason)},
                  {"segment", stop.segment},
                  {"offset", stop.offset},
                  {"detail", stop.detail}};
    j["wal"] = std::move(wj);
    j["snapshots"] = SnapshotsJson(snapshot_dir, snaps);
    if (!a.archive.empty()) j["archive"] = archive_json;
    j["problems"] = problems;
    j["notes"] = notes;
    PrintLine(DumpJsonPretty(j));
    return code;
  }

  std::printf("directory    %s\n", a.dir.c_str());
  std::printf("format       engine %u, WAL %u\n", v.format_version(), wal::kFormatVersion);
  std::printf("lock         %s\n", holder.empty() ? "free" : ("held by " + holder).c_str());
  std::printf("timeline     %u\n", v.timeline());
  std::printf("LSNs         applied %llu (RocksDB), durable %llu, last %llu (WAL); %s after applied\n",
              static_cast<unsigned long long>(v.applied_lsn()), static_cast<unsigned long long>(durable_lsn),
              static_cast<unsigned long long>(last_lsn), Plural(v.wal_tail().records, "WAL record").c_str());
  if (!segs.empty()) {
    std::string ends = wal::StopReasonName(stop.reason);
    if (stop.reason == wal::StopReason::kTornTail) {
      ends += " at offset " + std::to_string(stop.offset) + " of " + stop.segment + " (" +
              std::to_string(stop.bytes_discarded) + " bytes discarded, not known durable)";
    }
    std::printf("WAL ends     %s\n", ends.c_str());
  }
  std::printf("\nkeyspaces (%zu)\n", kstats.size());
  if (!kstats.empty()) {
    size_t w = 4;
    for (const auto& st : kstats) w = std::max(w, st.ks->def.name.size());
    std::printf("  %s  %-12s  %-9s  %-9s  %10s  %10s\n", Pad("NAME", w).c_str(), "KIND", "CLASS", "RESIDENCY",
                "ROWS", "BYTES");
    for (const auto& st : kstats) {
      const auto& o = st.ks->def.options;
      std::string rows = st.ks->is_volatile() ? "-" : std::to_string(st.rows);
      std::printf("  %s  %-12s  %-9s  %-9s  %10s  %10s%s\n", Pad(st.ks->def.name, w).c_str(), o.kind.c_str(),
                  PersistenceText(o).c_str(), o.residency == Residency::kCached ? "cached" : "memory",
                  rows.c_str(), st.ks->is_volatile() ? "-" : HumanBytes(st.bytes).c_str(),
                  st.expired > 0 ? ("  (+" + std::to_string(st.expired) + " expired)").c_str() : "");
    }
  }
  std::printf("\nWAL segments (%zu)\n", segs.size());
  for (size_t i = 0; i < segs.size(); i++) {
    const auto& st = segs[i];
    std::string range = st.records > 0
                            ? "LSN " + std::to_string(st.first_lsn) + ".." + std::to_string(st.last_lsn) +
                                  "  " + FormatTime(st.first_micros) + " .. " + FormatTime(st.last_micros)
                            : std::string("(no records)");
    std::printf("  %s  %10s  %s%s\n", st.info.name.c_str(), HumanBytes(st.size).c_str(), range.c_str(),
                i + 1 < segs.size() ? "" : "  (current)");
  }
  std::printf("\nsnapshots    %s: %s\n", snapshot_dir.c_str(), SnapshotsText(snaps).c_str());
  if (!a.archive.empty()) std::printf("archive      %s: %s\n", a.archive.c_str(), archive_text.c_str());
  for (const auto& n : notes) std::printf("\nnote: %s\n", n.c_str());
  if (!problems.empty()) {
    std::printf("\nproblems (%zu)\n", problems.size());
    for (const auto& p : problems) std::printf("  %s\n", p.c_str());
  }
  return code;
}

}  // namespace savepoint::tools
