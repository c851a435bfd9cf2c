// savepoint wal dump / verify / salvage: the write-ahead log, record by record (docs/wal_format.md).
#include <cstdio>
#include <set>

#include "engine/effects.h"
#include "savepoint/clock.h"
#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"
#include "tools/savepoint/wal_source.h"
#include "util/coding.h"
#include "wal/wal_writer.h"

namespace savepoint::tools {

namespace {

const char* OpName(engine::EffectKind k) {
  switch (k) {
    case engine::EffectKind::kPut:
      return "put";
    case engine::EffectKind::kDelete:
      return "delete";
    case engine::EffectKind::kDeletePrefix:
      return "delete_prefix";
  }
  return "?";
}

const char* CatalogOpName(engine::CatalogOp op) {
  switch (op) {
    case engine::CatalogOp::kCreate:
      return "create";
    case engine::CatalogOp::kDrop:
      return "drop";
    case engine::CatalogOp::kAlter:
      return "alter";
  }
  return "?";
}

// The segments of the timeline to read, and the reader over them.
struct OpenedWal {
  WalLocation where;
  std::vector<wal::SegmentInfo> segments;  // of the chosen timeline
  std::set<wal::Timeline> timelines;       // every timeline present
  wal::Timeline timeline = 0;
};

Result<OpenedWal> OpenWal(const std::string& path, uint32_t timeline) {
  OpenedWal w;
  SP_ASSIGN_OR_RETURN(w.where, LocateWal(path));
  FileSystem* fs = FileSystem::Default();
  auto source = MakeSource(fs, w.where);
  SP_ASSIGN_OR_RETURN(std::vector<wal::SegmentInfo> all, source->list());
  for (const auto& s : all) w.timelines.insert(s.timeline);
  w.timeline = timeline != 0 ? timeline : (w.timelines.empty() ? 1 : *w.timelines.rbegin());
  for (auto& s : all) {
    if (s.timeline == w.timeline) w.segments.push_back(s);
  }
  if (timeline != 0 && w.segments.empty() && !w.timelines.empty()) {
    return Status::NotFound("no segments of timeline " + std::to_string(timeline) + " in " + path);
  }
  SP_RETURN_IF_ERROR(CheckFormatVersions(fs, w.where, w.segments));
  return w;
}

Result<std::unique_ptr<wal::WalReader>> OpenReader(const OpenedWal& w, uint64_t start_lsn, bool salvage) {
  wal::ReaderOptions ro;
  ro.timeline = w.timeline;
  ro.salvage = salvage;
  ro.start_lsn = std::max<uint64_t>(start_lsn, w.segments.empty() ? 1 : w.segments.front().first_lsn);
  return wal::WalReader::Open(MakeSource(FileSystem::Default(), w.where), ro);
}

Json StopJson(const wal::WalReader& r) {
  const wal::StopInfo& s = r.stop();
  Json j;
  j["reason"] = wal::StopReasonName(s.reason);
  j["segment"] = s.segment;
  j["offset"] = s.offset;
  if (s.reason == wal::StopReason::kTornTail) j["bytes_discarded"] = s.bytes_discarded;
  j["detail"] = s.detail;
  return j;
}

// What no reader can know (docs/wal_format.md, Seals): a log that ends in its newest segment looks the same
// whether a crash cut its unsynced tail or durable records after it were lost. Said, not claimed away.
std::string TailCaveat(uint64_t last_lsn) {
  return "records after LSN " + std::to_string(last_lsn) +
         ", if any were acknowledged, cannot be told from an unsynced tail";
}

// Names of ids not in the directory's catalog: one extra pass over the catalog-change records.
void LearnNamesFromWal(const OpenedWal& w, KeyspaceNames* names) {
  auto reader = OpenReader(w, 0, /*salvage=*/true);
  if (!reader.ok()) return;
  wal::Record r;
  while ((*reader)->next(&r)) {
    if (r.type != wal::RecordType::kCatalogChange) continue;
    engine::CatalogOp op;
    engine::KeyspaceDef def;
    if (engine::DecodeCatalogChange(r.payload, &op, &def).ok() && names->find(def.id) == nullptr)
      names->add(def);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------ dump

int RunWalDump(const WalDumpArgs& a) {
  if (!a.key.empty() && a.keyspace.empty()) {
    return Fail(Status::InvalidArgument("--key needs --keyspace (a key belongs to one keyspace)"));
  }
  std::optional<std::string> key;
  if (!a.key.empty()) {
    auto k = ParseKeyArg(a.key);
    if (!k.ok()) return Fail(k.status());
    key = *k;
  }
  uint64_t since = 0, until = UINT64_MAX;
  if (!a.since.empty()) {
    auto t = ParseTime(a.since);
    if (!t.ok()) return Fail(t.status());
    since = *t;
  }
  if (!a.until.empty()) {
    auto t = ParseTime(a.until);
    if (!t.ok()) return Fail(t.status());
    until = *t;
  }
  auto w = OpenWal(a.path, a.timeline);
  if (!w.ok()) return Fail(w.status());
  if (w->segments.empty()) {
    Warn(a.path + ": the WAL has no segments");
    return kExitOk;
  }
  KeyspaceNames names = LoadCatalog(w->where);
  std::set<uint32_t> ks_ids;
  if (!a.keyspace.empty()) {
    auto ids = names.ids_of(a.keyspace);
    if (ids.empty()) {
      LearnNamesFromWal(*w, &names);
      ids = names.ids_of(a.keyspace);
    }
    if (ids.empty()) {
      return Fail(Status::NotFound("no keyspace \"" + a.keyspace + "\" in the catalog of " + a.path +
                                   " or in its WAL"));
    }
    ks_ids.insert(ids.begin(), ids.end());
  }
  const bool filtered = !ks_ids.empty();
  bool learned = false;  // whether the WAL was scanned for names of unknown ids

  auto reader = OpenReader(*w, a.from_lsn, /*salvage=*/false);
  if (!reader.ok()) return Fail(reader.status());
  wal::Record r;
  std::vector<engine::Effect> effects;
  uint64_t shown = 0, read = 0;
  Progress progress("reading " + a.path);
  const size_t max_value = a.full ? SIZE_MAX : 100;
  Status payload_error;
  while ((*reader)->next(&r)) {
    progress.update(++read, "records");
    if (a.to_lsn != 0 && r.lsn > a.to_lsn) break;
    if (r.commit_micros > until) break;  // commit times never go backwards in a log
    // Catalog changes update the names whether or not the record is shown.
    engine::CatalogOp cop = engine::CatalogOp::kCreate;
    engine::KeyspaceDef cdef;
    if (r.type == wal::RecordType::kCatalogChange) {
      Status s = engine::DecodeCatalogChange(r.payload, &cop, &cdef);
      if (!s.ok()) {
        payload_error = s.WithContext("LSN " + std::to_string(r.lsn));
        break;
      }
      names.add(cdef);
    }
    if (r.commit_micros < since) continue;

    Json j;
    j["lsn"] = r.lsn;
    j["commit_time"] = FormatTime(r.commit_micros);
    j["commit_micros"] = r.commit_micros;
    j["type"] = wal::RecordTypeName(r.type);
    std::string head = "LSN " + std::to_string(r.lsn) + "  " + FormatTime(r.commit_micros) + "  " +
                       wal::RecordTypeName(r.type);
    std::vector<std::string> lines;
    bool show = !filtered;
    switch (r.type) {
      case wal::RecordType::kTransaction: {
        Status s = engine::DecodeEffects(r.payload, &effects);
        if (!s.ok()) {
          payload_error = s.WithContext("LSN " + std::to_string(r.lsn));
          break;
        }
        Json ej = Json::array();
        size_t matched = 0;
        for (const engine::Effect& e : effects) {
          if (filtered && ks_ids.count(e.keyspace_id) == 0) continue;
          if (key.has_value()) {
            const bool hits =
                e.kind == engine::EffectKind::kDeletePrefix ? key->starts_with(e.key) : e.key == *key;
            if (!hits) continue;
          }
          if (names.find(e.keyspace_id) == nullptr && !learned) {
            learned = true;
            LearnNamesFromWal(*w, &names);
          }
          matched++;
          Json x;
          x["op"] = OpName(e.kind);
          x["keyspace"] = names.name_of(e.keyspace_id);
          x["keyspace_id"] = e.keyspace_id;
          x[e.kind == engine::EffectKind::kDeletePrefix ? "prefix" : "key"] = KeyText(e.key);
          std::string line = std::string("    ") + OpName(e.kind) + "  " + names.name_of(e.keyspace_id) +
                             "  " + KeyText(e.key);
          if (e.kind == engine::EffectKind::kPut) {
            const std::string& bytes = e.value->bytes;
            const RenderedValue v = RenderValue(names.kind_of(e.keyspace_id), bytes);
            x["value"] = v.value;
            x["value_encoding"] = v.encoding;
            x["value_size"] = bytes.size();
            x["expire_at_micros"] = e.expire_at_micros;
            line += "  " + SummarizeValue(v, bytes.size(), max_value);
            if (e.expire_at_micros != 0) line += "  [expires " + FormatTime(e.expire_at_micros) + "]";
          }
          ej.push_back(std::move(x));
          lines.push_back(std::move(line));
        }
        if (matched > 0) show = true;
        if (!filtered && effects.empty()) show = true;
        j["effect_count"] = effects.size();
        j["effects"] = std::move(ej);
        head += " (" + std::to_string(effects.size()) + (effects.size() == 1 ? " effect)" : " effects)");
        if (filtered && matched < effects.size()) head += ", " + std::to_string(matched) + " shown";
        break;
      }
      case wal::RecordType::kCatalogChange: {
        if (filtered && ks_ids.count(cdef.id) != 0) show = true;
        j["op"] = CatalogOpName(cop);
        j["keyspace"] = cdef.name;
        j["keyspace_id"] = cdef.id;
        j["definition"] = Json::parse(engine::KeyspaceDefToJson(cdef));
        head += "  " + std::string(CatalogOpName(cop)) + " keyspace " + cdef.name + " (id " +
                std::to_string(cdef.id) + ", " + cdef.options.kind + ", " + PersistenceText(cdef.options) +
                ")";
        break;
      }
      case wal::RecordType::kRestorePoint: {
        const std::string name(r.payload);
        j["name"] = name;
        head += "  " + DumpJson(Json(name));
        break;
      }
      case wal::RecordType::kCheckpoint: {
        const uint64_t applied = r.payload.size() == 8 ? DecodeFixed64(r.payload.data()) : 0;
        j["applied_lsn"] = applied;
        head += "  applied_lsn " + std::to_string(applied);
        break;
      }
      case wal::RecordType::kTimelineSwitch: {
        if (r.payload.size() == 16) {
          j["new_timeline"] = DecodeFixed32(r.payload.data());
          j["parent_timeline"] = DecodeFixed32(r.payload.data() + 4);
          j["branch_lsn"] = DecodeFixed64(r.payload.data() + 8);
          head += "  new " + std::to_string(DecodeFixed32(r.payload.data())) + ", parent " +
                  std::to_string(DecodeFixed32(r.payload.data() + 4)) + ", branch LSN " +
                  std::to_string(DecodeFixed64(r.payload.data() + 8));
        }
        break;
      }
      case wal::RecordType::kSeal:
        break;  // never yielded by the reader
    }
    if (!payload_error.ok()) break;
    if (!show) continue;
    shown++;
    if (a.json) {
      PrintLine(DumpJson(j));
    } else {
      PrintLine(head);
      for (const std::string& l : lines) PrintLine(l);
    }
  }
  if (!payload_error.ok()) return Fail(Status::Corruption(payload_error.message()));
  const wal::WalReader& rd = **reader;
  if (!rd.status().ok()) return Fail(rd.status());
  if (rd.stop().reason == wal::StopReason::kTornTail) {
    Warn("the log ends in a torn tail: " + rd.stop().segment + " at offset " +
         std::to_string(rd.stop().offset) + " (" + std::to_string(rd.stop().bytes_discarded) +
         " bytes discarded: " + rd.stop().detail + "); " + TailCaveat(rd.last_lsn()));
  }
  if (filtered && shown == 0 && !a.json) {
    std::fflush(stdout);
    std::fprintf(stderr, "savepoint: no record matched\n");
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------- verify

int RunWalVerify(const WalVerifyArgs& a) {
  auto w = OpenWal(a.path, a.timeline);
  if (!w.ok()) return Fail(w.status());
  auto reader = OpenReader(*w, 0, /*salvage=*/false);
  if (!reader.ok()) return Fail(reader.status());
  wal::Record r;
  uint64_t records = 0, first_lsn = 0, first_time = 0, last_time = 0;
  std::map<std::string, uint64_t> by_type;
  std::vector<std::string> payload_errors;
  Progress progress("verifying " + a.path);
  while ((*reader)->next(&r)) {
    progress.update(records, "records");
    if (records++ == 0) {
      first_lsn = r.lsn;
      first_time = r.commit_micros;
    }
    last_time = r.commit_micros;
    by_type[wal::RecordTypeName(r.type)]++;
    Status s = engine::ValidateRecordPayload(r.type, r.payload);
    if (!s.ok()) {
      const auto& seg = (*reader)->segments()[(*reader)->segment_index()];
      payload_errors.push_back(seg.name + ": LSN " + std::to_string(r.lsn) + ": " + s.message());
    }
  }
  const wal::WalReader& rd = **reader;
  Status st = rd.status();
  // RocksDB's applied_lsn is durable knowledge of the log's end kept outside the log: a WAL that ends before
  // it lost durable records, whatever its last segment looks like (the engine refuses to open it too).
  uint64_t applied_lsn = 0;
  if (st.ok() && w->where.kind == WalLocation::Kind::kDataDir) {
    ViewOptions vo;
    vo.overlay_wal = false;
    auto view = OfflineView::Open(w->where.data_dir, vo);
    if (view.ok()) {
      applied_lsn = (*view)->applied_lsn();
      if (applied_lsn > rd.last_lsn()) {
        st = Status::Corruption("RocksDB holds state up to LSN " + std::to_string(applied_lsn) +
                                " but the WAL ends at LSN " + std::to_string(rd.last_lsn()) + ": LSNs " +
                                std::to_string(rd.last_lsn() + 1) + ".." + std::to_string(applied_lsn) +
                                " were durable and are missing");
      }
    } else {
      Warn("RocksDB's applied LSN is unavailable (" + view.status().message() +
           "); the WAL's end is checked against the WAL alone");
    }
  }
  const bool archive = w->where.kind == WalLocation::Kind::kArchive;
  int code = kExitOk;
  std::string result;
  if (!st.ok()) {
    code = ExitCodeFor(st);
    result = st.IsCorruption() ? "corruption" : st.IsIOError() ? "I/O error" : Status::CodeName(st.code());
  } else if (!payload_errors.empty()) {
    code = kExitCorruption;
    result = "corruption";
  } else if (rd.stop().reason == wal::StopReason::kTornTail) {
    code = kExitTornTail;
    result = "torn tail";
  } else {
    result = "end of log";
  }
  if (a.json) {
    Json j;
    j["path"] = a.path;
    j["source"] = w->where.kind_name();
    j["timeline"] = w->timeline;
    j["segments"] = w->segments.size();
    j["records"] = records;
    j["first_lsn"] = records > 0 ? Json(first_lsn) : Json(nullptr);
    j["last_lsn"] = records > 0 ? Json(rd.last_lsn()) : Json(nullptr);
    j["first_commit_time"] = records > 0 ? Json(FormatTime(first_time)) : Json(nullptr);
    j["last_commit_time"] = records > 0 ? Json(FormatTime(last_time)) : Json(nullptr);
    j["records_by_type"] = by_type;
    j["result"] = result;
    j["stop"] = StopJson(rd);
    if (!st.ok()) j["error"] = st.message();
    if (st.ok() && !archive) j["caveat"] = TailCaveat(rd.last_lsn());
    if (applied_lsn != 0) j["rocksdb_applied_lsn"] = applied_lsn;
    j["payload_errors"] = payload_errors;
    j["exit_code"] = code;
    PrintLine(DumpJsonPretty(j));
    return code;
  }
  std::printf("%s (%s, timeline %u): %zu segments, %llu records", a.path.c_str(), w->where.kind_name(),
              w->timeline, w->segments.size(), static_cast<unsigned long long>(records));
  if (records > 0) {
    std::printf(", LSN %llu..%llu, %s .. %s", static_cast<unsigned long long>(first_lsn),
                static_cast<unsigned long long>(rd.last_lsn()), FormatTime(first_time).c_str(),
                FormatTime(last_time).c_str());
  }
  std::printf("\n");
  std::string types;
  for (auto& [t, n] : by_type) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  if (!types.empty()) std::printf("records: %s\n", types.c_str());
  const wal::StopInfo& s = rd.stop();
  if (!st.ok()) {
    std::printf("result: %s: %s\n", result.c_str(), st.message().c_str());
  } else if (s.reason == wal::StopReason::kTornTail) {
    std::printf(
        "result: torn tail in %s at offset %llu (%llu bytes discarded: %s), as a crash leaves; "
        "the log ends at LSN %llu and every record before the tail reads; %s\n",
        s.segment.c_str(), static_cast<unsigned long long>(s.offset),
        static_cast<unsigned long long>(s.bytes_discarded), s.detail.c_str(),
        static_cast<unsigned long long>(rd.last_lsn()), TailCaveat(rd.last_lsn()).c_str());
  } else if (!payload_errors.empty()) {
    std::printf("result: corruption: %zu records whose payload does not decode\n", payload_errors.size());
  } else {
    if (archive) {
      std::printf(
          "result: end of the archive at LSN %llu; every record is valid "
          "(later records are in the live WAL)\n",
          static_cast<unsigned long long>(rd.last_lsn()));
    } else {
      std::printf("result: end of log at LSN %llu; every record is valid; %s\n",
                  static_cast<unsigned long long>(rd.last_lsn()), TailCaveat(rd.last_lsn()).c_str());
    }
  }
  for (size_t i = 0; i < payload_errors.size() && i < 20; i++)
    std::printf("  %s\n", payload_errors[i].c_str());
  return code;
}

// --------------------------------------------------------------------------------------------- salvage

int RunWalSalvage(const WalSalvageArgs& a) {
  auto w = OpenWal(a.path, a.timeline);
  if (!w.ok()) return Fail(w.status());
  FileSystem* fs = FileSystem::Default();
  const std::string out_wal = JoinPath(a.out, "wal");
  if (fs->file_exists(a.out)) {
    auto names = fs->list_dir(a.out);
    if (!names.ok()) return Fail(names.status());
    if (!names->empty()) {
      return Fail(Status::InvalidArgument("refusing to write into " + a.out + ": it is not empty"));
    }
  }
  if (w->segments.empty()) return Fail(Status::NotFound(a.path + ": the WAL has no segments"));
  auto reader = OpenReader(*w, 0, /*salvage=*/true);
  if (!reader.ok()) return Fail(reader.status());

  ManualClock clock(0);
  std::unique_ptr<wal::WalWriter> writer;
  wal::Record r;
  uint64_t copied = 0, first_lsn = 0, last_copied = 0, expected = 0, fillers = 0, last_time = 0;
  std::vector<std::pair<uint64_t, uint64_t>> gaps;  // LSN ranges filled with placeholders
  std::vector<uint64_t> dropped;                    // records out of LSN order
  Progress progress("salvaging " + a.path);
  Status s;
  while ((*reader)->next(&r)) {
    progress.update(copied, "records");
    if (writer == nullptr) {
      s = fs->create_dirs(out_wal);
      if (!s.ok()) break;
      wal::WriterOptions wo;
      wo.timeline = (*reader)->timeline();
      wo.first_lsn_if_empty = r.lsn;
      wo.segment_size = a.segment_size;
      wo.sync_interval = std::chrono::seconds(3600);
      wo.clock = &clock;
      auto opened = wal::WalWriter::Open(fs, out_wal, wo);
      if (!opened.ok()) {
        s = opened.status();
        break;
      }
      writer = std::move(opened).value();
      first_lsn = expected = r.lsn;
    }
    if (r.lsn < expected) {
      dropped.push_back(r.lsn);  // a stale record after a damaged region: the log cannot go back
      continue;
    }
    if (r.lsn > expected) {
      // Keep every surviving record at its own LSN, so RocksDB's applied_lsn still means what it meant:
      // each lost LSN becomes a restore point named after the loss, which changes no state.
      gaps.emplace_back(expected, r.lsn - 1);
      for (uint64_t lsn = expected; lsn < r.lsn; lsn++) {
        const std::string name = "savepoint-salvage: LSN " + std::to_string(lsn) + " lost";
        auto ap = writer->append(wal::RecordType::kRestorePoint, name, wal::Durability::kRelaxed);
        if (!ap.ok()) {
          s = ap.status();
          break;
        }
        fillers++;
      }
      if (!s.ok()) break;
    }
    clock.set_micros(r.commit_micros);
    auto ap = writer->append(r.type, r.payload, wal::Durability::kRelaxed);
    if (!ap.ok()) {
      s = ap.status();
      break;
    }
    if (ap->lsn != r.lsn) {
      s = Status::Corruption("salvage wrote LSN " + std::to_string(ap->lsn) + " for record " +
                             std::to_string(r.lsn));
      break;
    }
    expected = r.lsn + 1;
    last_copied = r.lsn;
    last_time = r.commit_micros;
    copied++;
  }
  if (writer != nullptr && s.ok()) {
    // Records lost at the end of a segment are known to have existed when a later segment starts after
    // them: keep the copy's next LSN where the source's is.
    const uint64_t known_last = w->segments.back().first_lsn - 1;
    if (expected <= known_last) {
      gaps.emplace_back(expected, known_last);
      for (uint64_t lsn = expected; lsn <= known_last && s.ok(); lsn++) {
        const std::string name = "savepoint-salvage: LSN " + std::to_string(lsn) + " lost";
        s = writer->append(wal::RecordType::kRestorePoint, name, wal::Durability::kRelaxed).status();
        fillers++;
      }
      expected = known_last + 1;
    }
  }
  if (writer != nullptr) {
    Status c = writer->close();
    if (s.ok()) s = c;
  }
  if (!s.ok()) return Fail(s.WithContext("writing " + out_wal));
  const wal::WalReader& rd = **reader;
  const auto& skipped = rd.skipped();
  const bool lost = !skipped.empty() || !gaps.empty() || !dropped.empty();
  int code = lost ? kExitCorruption : kExitOk;
  if (!rd.status().ok() && copied == 0) code = ExitCodeFor(rd.status());
  if (a.json) {
    Json j;
    j["source"] = a.path;
    j["out"] = out_wal;
    j["records_copied"] = copied;
    j["first_lsn"] = copied > 0 ? Json(first_lsn) : Json(nullptr);
    j["last_lsn"] = copied > 0 ? Json(last_copied) : Json(nullptr);
    j["last_commit_time"] = copied > 0 ? Json(FormatTime(last_time)) : Json(nullptr);
    Json sk = Json::array();
    for (const auto& reg : skipped) {
      Json x;
      x["segment"] = reg.segment;
      x["offset"] = reg.offset;
      x["length"] = reg.length;
      x["expected_lsn"] = reg.expected_lsn;
      x["resumed_lsn"] = reg.resumed_lsn;
      x["reason"] = reg.reason;
      sk.push_back(std::move(x));
    }
    j["skipped"] = std::move(sk);
    Json g = Json::array();
    for (auto& [from, to] : gaps) g.push_back({{"from_lsn", from}, {"to_lsn", to}});
    j["lost_lsns"] = std::move(g);
    j["placeholder_records"] = fillers;
    j["dropped_out_of_order_lsns"] = dropped;
    j["stop"] = StopJson(rd);
    if (!rd.status().ok()) j["error"] = rd.status().message();
    j["exit_code"] = code;
    PrintLine(DumpJsonPretty(j));
    return code;
  }
  if (copied == 0) {
    std::printf("nothing readable in %s\n", a.path.c_str());
  } else {
    std::printf("copied %llu records (LSN %llu..%llu) to %s\n", static_cast<unsigned long long>(copied),
                static_cast<unsigned long long>(first_lsn), static_cast<unsigned long long>(last_copied),
                out_wal.c_str());
  }
  for (const auto& reg : skipped) {
    std::printf(
        "skipped %s offset %llu, %llu bytes (%s): expected LSN %llu, resumed at %s\n", reg.segment.c_str(),
        static_cast<unsigned long long>(reg.offset), static_cast<unsigned long long>(reg.length),
        reg.reason.c_str(), static_cast<unsigned long long>(reg.expected_lsn),
        reg.resumed_lsn != 0 ? ("LSN " + std::to_string(reg.resumed_lsn)).c_str() : "the next segment");
  }
  for (auto& [from, to] : gaps) {
    std::printf("lost LSN %llu..%llu: written as restore points named \"savepoint-salvage: LSN <n> lost\"\n",
                static_cast<unsigned long long>(from), static_cast<unsigned long long>(to));
  }
  for (uint64_t lsn : dropped)
    std::printf("dropped a stale record with LSN %llu (out of order)\n",
                static_cast<unsigned long long>(lsn));
  if (rd.stop().reason == wal::StopReason::kTornTail) {
    std::printf("the source ends in a torn tail at %s offset %llu (%llu bytes discarded); %s\n",
                rd.stop().segment.c_str(), static_cast<unsigned long long>(rd.stop().offset),
                static_cast<unsigned long long>(rd.stop().bytes_discarded),
                TailCaveat(rd.last_lsn()).c_str());
  }
  if (!rd.status().ok()) std::printf("reading stopped: %s\n", rd.status().message().c_str());
  std::printf(lost ? "result: data was lost; the copy holds every record that could be read\n"
                   : "result: complete copy; nothing was skipped\n");
  return code;
}

}  // namespace savepoint::tools
