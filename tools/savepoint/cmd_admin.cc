// savepoint restore-point / check: the subcommands that open the engine (and so take the directory's lock).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <set>

#include "engine/effects.h"
#include "registries/structures_check.h"
#include "savepoint/engine.h"
#include "savepoint/key_codec.h"
#include "savepoint/registry.h"
#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"
#include "util/coding.h"
#include "wal/format.h"

namespace savepoint::tools {

std::shared_ptr<spdlog::logger> StderrLogger();

namespace {

// NotFound unless `dir` is an existing data directory: Engine::open would otherwise create a new one.
Status RequireDataDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::NotFound("no such directory: " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::NotFound(dir + " is not a directory");
  if (::stat(JoinPath(dir, "db").c_str(), &st) != 0) {
    return Status::NotFound(dir + " is not a savepoint data directory: it has no db/");
  }
  return Status::OK();
}

Result<std::unique_ptr<Engine>> OpenEngine(const std::string& dir) {
  Options o;
  o.data_dir = dir;
  o.logger = StderrLogger();
  auto e = Engine::open(o);
  if (!e.ok() && e.status().IsBusy()) {
    return Status::Busy(e.status().message() + " (stop the process that has it open, or ask it to do this)");
  }
  return e;
}

}  // namespace

// ------------------------------------------------------------------------------------------ restore-point

int RunRestorePoint(const RestorePointArgs& a) {
  if (a.name.empty() || a.name.size() > wal::kMaxRestorePointName) {
    return Fail(Status::InvalidArgument("a restore point name is 1 to 255 bytes"));
  }
  if (!IsValidUtf8(a.name)) return Fail(Status::InvalidArgument("a restore point name is UTF-8"));
  Status s = RequireDataDir(a.dir);
  if (!s.ok()) return Fail(s);
  // Make sure it is a savepoint directory of a format this build writes before opening it for writing.
  {
    ViewOptions vo;
    vo.overlay_wal = false;
    auto view = OfflineView::Open(a.dir, vo);
    if (!view.ok()) return Fail(view.status());
  }
  auto engine = OpenEngine(a.dir);
  if (!engine.ok()) return Fail(engine.status());
  auto lsn = (*engine)->create_restore_point(a.name);
  Status c = (*engine)->close();
  if (!lsn.ok()) return Fail(lsn.status());
  if (!c.ok()) return Fail(c);
  if (a.json) {
    Json j;
    j["directory"] = a.dir;
    j["name"] = a.name;
    j["lsn"] = *lsn;
    PrintLine(DumpJson(j));
  } else {
    std::printf("restore point %s at LSN %llu in %s\n", DumpJson(Json(a.name)).c_str(),
                static_cast<unsigned long long>(*lsn), a.dir.c_str());
  }
  return kExitOk;
}

// -------------------------------------------------------------------------------------------------- check

namespace {

const std::string kBuiltMarker =
    "\xff"
    "built";  // registries/registry.cc

bool IsTuple(std::string_view bytes) {
  auto t = DecodeKey(bytes);
  return t.ok() && !t->empty() && EncodeKey(*t) == bytes;
}

struct IndexReport {
  std::string name;  // keyspace name "<registry>.<index>"
  bool unique = false;
  bool built = false;
  uint64_t entries = 0, dangling = 0, malformed = 0;
  std::vector<std::string> examples;  // the first few problems
};

struct StructuresReport {
  std::string name;  // the database: keyspaces <name> and <name>.elements
  uint64_t keys = 0;
  std::vector<structures::StructureProblem> problems;
};

struct RegistryReport {
  std::string name;
  std::string key_type;  // as recorded (registry_internal::CheckKeyType); empty: none recorded yet
  uint64_t rows = 0, undecodable = 0;
  std::vector<std::string> examples;
  std::vector<IndexReport> indexes;
};

void Note(std::vector<std::string>* examples, std::string what) {
  if (examples->size() < 5) examples->push_back(std::move(what));
}

// Every entry of an index keyspace points at an existing row of its registry. Scans in batches: the scan
// callback must not call into the engine.
Status CheckIndex(Engine* engine, Keyspace* registry, Keyspace* index, IndexReport* rep) {
  std::string after;
  bool first = true;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> batch;
    const std::string start = first ? std::string() : after + std::string(1, '\0');
    SP_RETURN_IF_ERROR(engine->scan(index, start, "", [&](std::string_view key, const Entry& e) {
      batch.emplace_back(std::string(key), e.value->bytes);
      return batch.size() < 4096;
    }));
    if (batch.empty()) break;
    first = false;
    after = batch.back().first;
    for (const auto& [key, primary] : batch) {
      if (key == kBuiltMarker) {
        rep->built = true;
        continue;
      }
      rep->entries++;
      // Unique: index key -> primary. Non-unique: index key + primary -> primary.
      bool ok_shape = IsTuple(primary);
      if (ok_shape) {
        if (rep->unique) {
          ok_shape = IsTuple(key);
        } else {
          ok_shape = key.size() > primary.size() && std::string_view(key).ends_with(primary) &&
                     IsTuple(std::string_view(key).substr(0, key.size() - primary.size()));
        }
      }
      if (!ok_shape) {
        rep->malformed++;
        Note(&rep->examples, "entry " + KeyText(key) + " -> " + KeyText(primary) + " is not an index entry");
        continue;
      }
      auto row = engine->get(registry, primary);
      if (row.status().IsNotFound()) {
        rep->dangling++;
        Note(&rep->examples,
             "entry " + KeyText(key) + " points at row " + KeyText(primary) + ", which does not exist");
      } else if (!row.ok()) {
        return row.status();
      }
    }
  }
  return Status::OK();
}

}  // namespace

int RunCheck(const CheckArgs& a) {
  Status s = RequireDataDir(a.dir);
  if (!s.ok()) return Fail(s);

  // 1. RocksDB agrees with the WAL, checked offline under the lock before the engine replays anything.
  Json wal_json;
  std::vector<std::string> wal_problems;
  {
    ViewOptions vo;
    vo.overlay_wal = false;
    {
      // A savepoint directory of a format this build reads? Asked before taking the lock, which creates LOCK.
      auto probe = OfflineView::Open(a.dir, vo);
      if (!probe.ok()) return Fail(probe.status());
    }
    auto lock = FileSystem::Default()->lock_file(JoinPath(a.dir, "LOCK"));
    if (!lock.ok()) return Fail(lock.status().WithContext("checking " + a.dir));
    vo.allow_live = true;  // the lock is ours: no engine runs
    auto view = OfflineView::Open(a.dir, vo);
    if (!view.ok()) return Fail(view.status());
    const uint64_t applied = (*view)->applied_lsn();
    const WalTail& tail = (*view)->wal_tail();
    uint64_t wal_last = tail.last_lsn, tail_records = 0;
    std::string stop_reason = "no WAL";
    if (tail.wal_present) {
      const std::string wal_dir = JoinPath(a.dir, "wal");
      auto segments = wal::ListSegments(FileSystem::Default(), wal_dir);
      uint64_t first = 0;
      if (segments.ok()) {
        for (const auto& seg : *segments) {
          if (seg.timeline == (*view)->timeline()) {
            first = seg.first_lsn;
            break;
          }
        }
      }
      if (applied + 1 < first) {
        wal_problems.push_back("the WAL starts at LSN " + std::to_string(first) +
                               " but RocksDB holds state only up to LSN " + std::to_string(applied) +
                               ": the records between are missing");
      } else {
        wal::ReaderOptions ro;
        ro.start_lsn = applied + 1;
        ro.timeline = (*view)->timeline();
        auto reader = wal::WalReader::Open(FileSystem::Default(), wal_dir, ro);
        if (!reader.ok()) return Fail(reader.status());
        wal::Record r;
        while ((*reader)->next(&r)) {
          tail_records++;
          Status ps = engine::ValidateRecordPayload(r.type, r.payload);
          if (!ps.ok()) {
            wal_problems.push_back("WAL record " + std::to_string(r.lsn) +
                                   " does not decode: " + ps.message());
            break;
          }
        }
        stop_reason = wal::StopReasonName((*reader)->stop().reason);
        wal_last = std::max(wal_last, (*reader)->last_lsn());
        if (!(*reader)->status().ok()) {
          wal_problems.push_back("the WAL after applied LSN " + std::to_string(applied) +
                                 " does not read cleanly: " + (*reader)->status().message());
        }
      }
    }
    if (!tail.wal_present && applied > 0) {
      wal_problems.push_back("the WAL has no segment of timeline " + std::to_string((*view)->timeline()) +
                             " (wal/ missing or emptied) while RocksDB holds state up to LSN " +
                             std::to_string(applied) +
                             ": whatever was logged after RocksDB's last flush is gone");
    } else if (applied > wal_last) {
      wal_problems.push_back("RocksDB holds state up to LSN " + std::to_string(applied) +
                             " but the WAL ends at LSN " + std::to_string(wal_last) +
                             " (WAL segments missing?)");
    }
    wal_json["applied_lsn"] = applied;
    wal_json["wal_last_lsn"] = wal_last;
    wal_json["tail_records"] = tail_records;
    wal_json["stop"] = stop_reason;
    wal_json["ok"] = wal_problems.empty();
    wal_json["problems"] = wal_problems;
  }

  // 2. Registries and their indexes, through the engine (which replays the WAL tail first).
  std::vector<RegistryReport> registries;
  std::vector<std::string> orphan_indexes;
  std::vector<StructuresReport> structure_dbs;
  bool corrupt_rows = false, index_problems = false, structure_problems = false;
  if (wal_problems.empty()) {
    auto engine = OpenEngine(a.dir);
    if (!engine.ok()) return Fail(engine.status());
    Engine* e = engine->get();
    std::vector<KeyspaceInfo> all = e->keyspaces();
    std::sort(all.begin(), all.end(),
              [](const KeyspaceInfo& x, const KeyspaceInfo& y) { return x.name < y.name; });
    std::set<std::string> claimed;
    Status err;
    for (const KeyspaceInfo& info : all) {
      if (info.options.kind != "registry") continue;
      RegistryReport rep;
      rep.name = info.name;
      auto rks = e->find_keyspace(info.name);
      if (!rks.ok()) {
        err = rks.status();
        break;
      }
      if (auto types = e->find_keyspace(registry_internal::kKeyTypesKeyspace); types.ok()) {
        auto recorded = e->get(*types, info.name);
        if (recorded.ok()) rep.key_type = recorded->value->bytes;
      }
      err = e->scan(*rks, "", "", [&](std::string_view key, const Entry& entry) {
        rep.rows++;
        // A key of another type than the registry's (written by a registry opened with the wrong key type,
        // before the type was recorded) makes every read of the registry fail.
        if (auto t = DecodeKey(key); t.ok() && !rep.key_type.empty() && IsTuple(key) &&
                                     registry_internal::KeyTypeNameOf(*t) != rep.key_type) {
          rep.undecodable++;
          Note(&rep.examples, "row " + KeyText(key) + " has a key of type (" +
                                  registry_internal::KeyTypeNameOf(*t) + "), the registry's is (" +
                                  rep.key_type + ")");
          return true;
        }
        Decoder d(entry.value->bytes);
        uint32_t version = 0;
        bool ok = d.GetVarint32(&version) && version >= 1;
        if (ok) {
          Schema schema;
          schema.version = version;
          ok = registry_internal::DecodeDocument(entry.value->bytes, schema).ok();
        }
        if (!ok || !IsTuple(key)) {
          rep.undecodable++;
          Note(&rep.examples,
               "row " + KeyText(key) + (ok ? " has a key that is not a tuple" : " does not decode"));
        }
        return true;
      });
      if (!err.ok()) break;
      if (rep.undecodable > 0) corrupt_rows = true;
      for (const KeyspaceInfo& idx : all) {
        if ((idx.options.kind != "index" && idx.options.kind != "unique_index") ||
            !idx.name.starts_with(info.name + ".")) {
          continue;
        }
        claimed.insert(idx.name);
        IndexReport ir;
        ir.name = idx.name;
        ir.unique = idx.options.kind == "unique_index";
        auto iks = e->find_keyspace(idx.name);
        if (!iks.ok()) {
          err = iks.status();
          break;
        }
        err = CheckIndex(e, *rks, *iks, &ir);
        if (!err.ok()) break;
        if (ir.dangling > 0 || ir.malformed > 0) index_problems = true;
        rep.indexes.push_back(std::move(ir));
      }
      if (!err.ok()) break;
      registries.push_back(std::move(rep));
    }
    for (const KeyspaceInfo& idx : all) {
      if ((idx.options.kind == "index" || idx.options.kind == "unique_index") &&
          claimed.count(idx.name) == 0) {
        orphan_indexes.push_back(idx.name);
        index_problems = true;
      }
    }
    // 3. Structures: the same rules Structures::open repairs by (registries/structures_check.h).
    for (const KeyspaceInfo& info : all) {
      if (!err.ok()) break;
      if (info.options.kind != "structures") continue;
      StructuresReport sr;
      sr.name = info.name;
      err = structures::CheckStructures(e, info.name, &sr.problems, &sr.keys);
      for (const auto& p : sr.problems) (p.repairable ? structure_problems : corrupt_rows) = true;
      structure_dbs.push_back(std::move(sr));
    }
    Status c = e->close();
    if (!err.ok()) return Fail(err);
    if (!c.ok()) return Fail(c);
  }

  int code = kExitOk;
  if (corrupt_rows)
    code = kExitCorruption;
  else if (!wal_problems.empty())
    code = kExitWalMismatch;
  else if (index_problems)
    code = kExitIndexMismatch;
  else if (structure_problems)
    code = kExitStructureMismatch;

  if (a.json) {
    Json j;
    j["directory"] = a.dir;
    j["wal"] = wal_json;
    Json ra = Json::array();
    for (const auto& r : registries) {
      Json x;
      x["name"] = r.name;
      x["rows"] = r.rows;
      x["key_type"] = r.key_type.empty() ? Json() : Json(r.key_type);
      x["undecodable_rows"] = r.undecodable;
      x["problems"] = r.examples;
      Json ia = Json::array();
      for (const auto& i : r.indexes) {
        ia.push_back({{"name", i.name},
                      {"unique", i.unique},
                      {"built", i.built},
                      {"entries", i.entries},
                      {"dangling", i.dangling},
                      {"malformed", i.malformed},
                      {"problems", i.examples}});
      }
      x["indexes"] = std::move(ia);
      ra.push_back(std::move(x));
    }
    j["registries"] = std::move(ra);
    j["orphan_indexes"] = orphan_indexes;
    Json sa = Json::array();
    for (const auto& sr : structure_dbs) {
      Json pa = Json::array();
      for (const auto& p : sr.problems) {
        pa.push_back({{"keyspace", p.keyspace},
                      {"key", structures::QuoteStructureKey(p.key)},
                      {"problem", p.what},
                      {"repairable", p.repairable}});
      }
      sa.push_back({{"name", sr.name}, {"keys", sr.keys}, {"problems", std::move(pa)}});
    }
    j["structures"] = std::move(sa);
    j["result"] = code == kExitOk              ? "ok"
                  : code == kExitCorruption    ? "corruption"
                  : code == kExitWalMismatch   ? "wal_mismatch"
                  : code == kExitIndexMismatch ? "index_mismatch"
                                               : "structure_mismatch";
    j["exit_code"] = code;
    PrintLine(DumpJsonPretty(j));
    return code;
  }
  std::printf("RocksDB and WAL: %s (applied LSN %llu, WAL ends at LSN %llu, %s to replay, %s)\n",
              wal_problems.empty() ? "agree" : "DISAGREE",
              static_cast<unsigned long long>(wal_json["applied_lsn"].get<uint64_t>()),
              static_cast<unsigned long long>(wal_json["wal_last_lsn"].get<uint64_t>()),
              Plural(wal_json["tail_records"].get<uint64_t>(), "record").c_str(),
              wal_json["stop"].get<std::string>().c_str());
  for (const auto& p : wal_problems) std::printf("  %s\n", p.c_str());
  if (!wal_problems.empty())
    std::printf("registries, indexes and structures: not checked (the engine would not open cleanly)\n");
  for (const auto& r : registries) {
    std::printf("registry %s%s: %s%s\n", r.name.c_str(),
                r.key_type.empty() ? "" : (" (keys " + r.key_type + ")").c_str(),
                Plural(r.rows, "row").c_str(),
                r.undecodable > 0 ? (", " + std::to_string(r.undecodable) + " DO NOT DECODE").c_str() : "");
    for (const auto& p : r.examples) std::printf("  %s\n", p.c_str());
    for (const auto& i : r.indexes) {
      std::printf("  index %s (%s): %s, %s%s\n", i.name.c_str(), i.unique ? "unique" : "non-unique",
                  Plural(i.entries, "entry", "entries").c_str(),
                  i.dangling + i.malformed == 0 ? "every entry points at a row"
                                                : (std::to_string(i.dangling) + " DANGLING, " +
                                                   std::to_string(i.malformed) + " MALFORMED")
                                                      .c_str(),
                  i.built ? "" : " (build not finished: it resumes when the application opens the registry)");
      for (const auto& p : i.examples) std::printf("    %s\n", p.c_str());
    }
  }
  for (const auto& o : orphan_indexes) std::printf("index keyspace %s has no registry\n", o.c_str());
  for (const auto& sr : structure_dbs) {
    std::printf("structures %s: %s, %s\n", sr.name.c_str(), Plural(sr.keys, "key").c_str(),
                sr.problems.empty()
                    ? "every row decodes and agrees"
                    : (Plural(sr.problems.size(), "problem") + " (Structures::open repairs those "
                                                               "marked repairable)")
                          .c_str());
    for (const auto& p : sr.problems) {
      std::printf("  key %s (keyspace %s): %s%s\n", structures::QuoteStructureKey(p.key).c_str(),
                  p.keyspace.c_str(), p.what.c_str(), p.repairable ? " [repairable]" : " [NOT repairable]");
    }
  }
  std::printf("result: %s\n", code == kExitOk              ? "ok"
                              : code == kExitCorruption    ? "corruption"
                              : code == kExitWalMismatch   ? "RocksDB and the WAL disagree"
                              : code == kExitIndexMismatch ? "an index disagrees with its registry"
                                                           : "a structure's rows disagree");
  return code;
}

}  // namespace savepoint::tools
