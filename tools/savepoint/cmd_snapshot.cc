// savepoint snapshot create|verify|inspect|restore and savepoint recover (docs/snapshot_format.md,
// docs/pitr.md).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "engine/effects.h"
#include "engine/snapshot_catalog.h"
#include "savepoint/recovery.h"
#include "snapshot/snapshot_reader.h"
#include "snapshot/snapshot_writer.h"
#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"

namespace savepoint::tools {

std::shared_ptr<spdlog::logger> StderrLogger();

namespace {

std::string PersistenceName(Persistence p) {
  return p == Persistence::kDurable ? "durable" : p == Persistence::kCoalesced ? "coalesced" : "volatile";
}

// The snapshot at `path`, with its catalog decoded (keyspace names for the sections).
struct OpenedSnapshot {
  std::unique_ptr<snapshot::SnapshotReader> reader;
  engine::SnapshotCatalog catalog;
  std::map<uint32_t, const engine::KeyspaceDef*> by_id;
};

Result<OpenedSnapshot> OpenSnapshot(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("no such file: " + path);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(path + " is not a file");
  OpenedSnapshot o;
  SP_ASSIGN_OR_RETURN(o.reader, snapshot::SnapshotReader::Open(FileSystem::Default(), path));
  Status s = engine::DecodeSnapshotCatalog(o.reader->header().catalog, &o.catalog);
  if (!s.ok()) return Status::Corruption(path + ": " + s.message());
  for (const auto& def : o.catalog.keyspaces) o.by_id[def.id] = &def;
  return o;
}

Json SnapshotJson(const OpenedSnapshot& o) {
  const snapshot::SnapshotReader& r = *o.reader;
  Json j;
  j["file"] = r.path();
  j["format_version"] = r.header().version;
  j["timeline"] = r.header().timeline;
  j["lsn"] = r.header().lsn;
  j["created_micros"] = r.header().created_micros;
  j["created"] = FormatTime(r.header().created_micros);
  j["file_bytes"] = r.file_size();
  j["rows"] = r.rows();
  j["data_bytes"] = r.data_bytes();
  j["next_keyspace_id"] = o.catalog.next_keyspace_id;
  Json kss = Json::array();
  for (const auto& def : o.catalog.keyspaces) {
    Json k;
    k["id"] = def.id;
    k["name"] = def.name;
    k["kind"] = def.options.kind;
    k["persistence"] = PersistenceName(def.options.persistence);
    const snapshot::SectionInfo* sec = nullptr;
    for (const auto& s : r.sections()) {
      if (s.keyspace_id == def.id) sec = &s;
    }
    if (sec != nullptr) {
      k["rows"] = sec->rows;
      k["blocks"] = sec->blocks;
      k["data_bytes"] = sec->data_bytes;
      k["file_bytes"] = sec->length;
      k["offset"] = sec->offset;
    }
    kss.push_back(std::move(k));
  }
  j["keyspaces"] = std::move(kss);
  return j;
}

void PrintSummary(const OpenedSnapshot& o) {
  const snapshot::SnapshotReader& r = *o.reader;
  std::printf("file         %s (%s)\n", r.path().c_str(), HumanBytes(r.file_size()).c_str());
  std::printf("format       snapshot %u\n", r.header().version);
  std::printf("state        timeline %u, LSN %llu (every commit up to it, none after)\n", r.header().timeline,
              static_cast<unsigned long long>(r.header().lsn));
  std::printf("created      %s\n", FormatTime(r.header().created_micros).c_str());
  std::printf("rows         %s (%s of keys and values)\n", Plural(r.rows(), "row").c_str(),
              HumanBytes(r.data_bytes()).c_str());
  std::printf("\nkeyspaces (%zu)\n", o.catalog.keyspaces.size());
  std::printf("  %-20s %-13s %-10s %10s %8s %12s %12s\n", "NAME", "KIND", "CLASS", "ROWS", "BLOCKS", "DATA",
              "IN FILE");
  for (const auto& def : o.catalog.keyspaces) {
    const snapshot::SectionInfo* sec = nullptr;
    for (const auto& s : r.sections()) {
      if (s.keyspace_id == def.id) sec = &s;
    }
    if (sec == nullptr) {
      std::printf("  %-20s %-13s %-10s %10s %8s %12s %12s\n", def.name.c_str(), def.options.kind.c_str(),
                  PersistenceName(def.options.persistence).c_str(), "-", "-", "-", "-");
      continue;
    }
    std::printf("  %-20s %-13s %-10s %10llu %8llu %12s %12s\n", def.name.c_str(), def.options.kind.c_str(),
                PersistenceName(def.options.persistence).c_str(), static_cast<unsigned long long>(sec->rows),
                static_cast<unsigned long long>(sec->blocks), HumanBytes(sec->data_bytes).c_str(),
                HumanBytes(sec->length).c_str());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------- snapshot create

int RunSnapshotCreate(const SnapshotCreateArgs& a) {
  if (a.out.empty()) return Fail(Status::InvalidArgument("--out FILE is required"));
  struct stat st;
  if (::stat(a.out.c_str(), &st) == 0) {
    return Fail(Status::InvalidArgument(a.out + " exists; a snapshot file is never overwritten"));
  }
  auto view = OfflineView::Open(a.dir);
  if (!view.ok()) return Fail(view.status());
  const OfflineView& v = **view;
  const uint64_t lsn = std::max(v.applied_lsn(), v.wal_tail().last_lsn);
  const engine::SnapshotCatalog catalog = v.catalog();
  snapshot::Header header;
  header.timeline = v.timeline();
  header.lsn = lsn;
  header.created_micros = NowMicros();
  header.catalog = engine::EncodeSnapshotCatalog(catalog);
  auto writer = snapshot::SnapshotWriter::Create(FileSystem::Default(), a.out, header);
  if (!writer.ok()) return Fail(writer.status());
  Progress progress("snapshot " + a.dir);
  uint64_t rows = 0;
  for (const engine::KeyspaceDef& def : catalog.keyspaces) {
    if (def.options.persistence == Persistence::kVolatile) continue;
    auto ks = v.find(def.name);
    if (!ks.ok()) return Fail(ks.status());
    Status s = (*writer)->begin_section(def.id);
    Status inner;
    if (s.ok()) {
      s = v.scan(**ks, "", "", [&](std::string_view key, const Row& row) {
        std::string encoded;
        engine::EncodeRow(row.expire_at_micros, row.value, &encoded);
        inner = (*writer)->add(key, encoded);
        progress.update(++rows, "rows");
        return inner.ok();
      });
    }
    if (s.ok()) s = inner;
    if (s.ok()) s = (*writer)->end_section();
    if (!s.ok()) return Fail(s);
  }
  auto done = (*writer)->finish();
  if (!done.ok()) return Fail(done.status());
  if (a.json) {
    Json j;
    j["directory"] = a.dir;
    j["file"] = a.out;
    j["timeline"] = header.timeline;
    j["lsn"] = lsn;
    j["rows"] = done->rows;
    j["data_bytes"] = done->data_bytes;
    j["file_bytes"] = done->file_bytes;
    PrintLine(DumpJson(j));
  } else {
    std::printf("snapshot of %s at LSN %llu (timeline %u): %s in %s, %s -> %s\n", a.dir.c_str(),
                static_cast<unsigned long long>(lsn), header.timeline, Plural(done->rows, "row").c_str(),
                Plural(catalog.keyspaces.size(), "keyspace").c_str(), HumanBytes(done->file_bytes).c_str(),
                a.out.c_str());
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------- snapshot verify

int RunSnapshotVerify(const SnapshotFileArgs& a) {
  auto o = OpenSnapshot(a.file);
  if (!o.ok()) {
    if (a.json) {
      Json j;
      j["file"] = a.file;
      j["result"] = o.status().IsCorruption() ? "corruption"
                    : o.status().IsNotFound() ? "not_found"
                                              : "error";
      j["error"] = o.status().message();
      PrintLine(DumpJson(j));
    }
    return Fail(o.status());
  }
  Progress progress("verify " + a.file);
  uint64_t rows = 0;
  Status s = o->reader->read_all([&](const snapshot::SectionInfo&, std::string_view, std::string_view value) {
    progress.update(++rows, "rows");
    uint64_t expire = 0;
    std::string_view bytes;
    return engine::DecodeRow(value, &expire, &bytes);
  });
  if (!s.ok() && !s.message().starts_with(a.file)) s = Status::Corruption(a.file + ": " + s.message());
  if (a.json) {
    Json j = SnapshotJson(*o);
    j["result"] = s.ok() ? "ok" : "corruption";
    if (!s.ok()) j["error"] = s.message();
    PrintLine(DumpJson(j));
    if (!s.ok()) return ExitCodeFor(s);
  } else if (s.ok()) {
    std::printf(
        "%s: ok: timeline %u, LSN %llu, %s in %s, %s, every block and the whole-file checksum "
        "verified\n",
        a.file.c_str(), o->reader->header().timeline,
        static_cast<unsigned long long>(o->reader->header().lsn), Plural(o->reader->rows(), "row").c_str(),
        Plural(o->reader->sections().size(), "section").c_str(), HumanBytes(o->reader->file_size()).c_str());
  }
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

// --------------------------------------------------------------------------------------- snapshot inspect

int RunSnapshotInspect(const SnapshotFileArgs& a) {
  auto o = OpenSnapshot(a.file);
  if (!o.ok()) return Fail(o.status());
  if (a.json) {
    PrintLine(DumpJson(SnapshotJson(*o)));
  } else {
    PrintSummary(*o);
    std::printf("\n(header, index and trailer checked; `savepoint snapshot verify` reads every block)\n");
  }
  return kExitOk;
}

// --------------------------------------------------------------------------------------- snapshot restore

int RunSnapshotRestore(const SnapshotRestoreArgs& a) {
  auto o = OpenSnapshot(a.file);  // clear errors (not found, newer format) before anything is created
  if (!o.ok()) return Fail(o.status());
  auto r = RestoreSnapshot(a.file, a.to);
  if (!r.ok()) return Fail(r.status());
  if (a.json) {
    Json j;
    j["file"] = a.file;
    j["directory"] = a.to;
    j["timeline"] = r->timeline;
    j["lsn"] = r->lsn;
    j["rows"] = r->rows;
    j["seconds"] = r->seconds;
    PrintLine(DumpJson(j));
  } else {
    std::printf("restored %s (timeline %u, LSN %llu, %s) into %s in %.2f s\n", a.file.c_str(), r->timeline,
                static_cast<unsigned long long>(r->lsn), Plural(r->rows, "row").c_str(), a.to.c_str(),
                r->seconds);
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------- recover

int RunRecover(const RecoverArgs& a) {
  RecoverOptions r;
  r.archive_dir = a.archive;
  r.into_dir = a.to;
  r.inclusive = !a.exclusive;
  r.timeline = a.timeline;
  r.dry_run = a.dry_run;
  r.logger = StderrLogger();
  if (a.time) {
    auto t = ParseTime(*a.time);
    if (!t.ok()) return Fail(t.status());
    r.target_time_micros = *t;
  }
  r.target_lsn = a.lsn;
  r.target_name = a.name;
  r.target_latest = a.latest;
  if (!a.dry_run && a.to.empty()) return Fail(Status::InvalidArgument("--to DIR is required (or --dry-run)"));
  struct stat st;
  if (::stat(a.archive.c_str(), &st) != 0) return Fail(Status::NotFound("no such directory: " + a.archive));
  auto plan = Recover(r);
  if (!plan.ok()) return Fail(plan.status());
  const RecoveryPlan& p = *plan;
  if (a.json) {
    Json j;
    j["dry_run"] = a.dry_run;
    j["archive"] = a.archive;
    if (!a.dry_run) j["directory"] = a.to;
    j["target"] = p.target;
    j["target_timeline"] = p.target_timeline;
    Json path = Json::array();
    for (const auto& leg : p.path) {
      path.push_back({{"timeline", leg.timeline}, {"first_lsn", leg.first_lsn}, {"last_lsn", leg.last_lsn}});
    }
    j["path"] = std::move(path);
    j["snapshot"] = {{"file", p.snapshot_path}, {"timeline", p.snapshot_timeline}, {"lsn", p.snapshot_lsn}};
    j["segments"] = p.segments;
    j["records_to_replay"] = p.records_to_replay;
    j["end_lsn"] = p.end_lsn;
    j["end_commit_micros"] = p.end_commit_micros;
    j["new_timeline"] = p.new_timeline;
    j["parent_timeline"] = p.parent_timeline;
    j["notes"] = p.notes;
    PrintLine(DumpJson(j));
    return kExitOk;
  }
  std::printf("target       %s on timeline %u\n", p.target.c_str(), p.target_timeline);
  std::string path;
  for (const auto& leg : p.path) {
    path += (path.empty() ? "" : ", ") + std::string("timeline ") + std::to_string(leg.timeline) + " LSN " +
            std::to_string(leg.first_lsn) + ".." +
            (leg.last_lsn == UINT64_MAX ? std::string("") : std::to_string(leg.last_lsn));
  }
  std::printf("path         %s\n", path.c_str());
  std::printf("snapshot     %s (timeline %u, LSN %llu)\n", p.snapshot_path.c_str(), p.snapshot_timeline,
              static_cast<unsigned long long>(p.snapshot_lsn));
  std::printf("replay       %s from %s\n", Plural(p.records_to_replay, "record").c_str(),
              Plural(p.segments.size(), "archived segment").c_str());
  for (const std::string& s : p.segments) std::printf("               %s\n", s.c_str());
  std::printf(
      "end          LSN %llu%s\n", static_cast<unsigned long long>(p.end_lsn),
      p.end_commit_micros != 0 ? (" (committed " + FormatTime(p.end_commit_micros) + ")").c_str() : "");
  std::printf("new timeline %u, branching from timeline %u at LSN %llu\n", p.new_timeline, p.parent_timeline,
              static_cast<unsigned long long>(p.end_lsn));
  for (const std::string& n : p.notes) std::printf("note         %s\n", n.c_str());
  if (a.dry_run) {
    std::printf("dry run: nothing was written\n");
  } else {
    std::printf("recovered into %s; it opens like any data directory\n", a.to.c_str());
  }
  return kExitOk;
}

}  // namespace savepoint::tools
