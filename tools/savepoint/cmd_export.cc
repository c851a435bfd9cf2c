// savepoint export / import: JSON lines that round-trip exactly (README.md, "Export format").
//
//   {"format":"savepoint-export","version":1}
//   {"type":"keyspace","keyspace":"characters","definition":{"kind":"registry","persistence":"durable",...}}
//   {"keyspace":"characters","key":"(7)","value_b64":"AaJi...","expire_at_micros":0}
//   {"keyspace":"characters.by_name","key_b64":"/2J1aWx0","value_b64":"","expire_at_micros":0}
//
// Keyspaces in name order, each header followed by its rows in key order. "key" is the key_codec text of
// keys that are tuples; other keys are given as "key_b64". Values are always base64: exact for any bytes.
// The definition leaves out what is local to a directory (id, created_lsn), so export -> import -> export
// gives the same bytes.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "engine/effects.h"
#include "savepoint/engine.h"
#include "savepoint/key_codec.h"
#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"

namespace savepoint::tools {

namespace {

constexpr int kExportVersion = 1;
constexpr std::string_view kExportFormat = "savepoint-export";

Json PortableDefinition(const engine::KeyspaceDef& def) {
  Json j = Json::parse(engine::KeyspaceDefToJson(def));
  j.erase("id");
  j.erase("created_lsn");
  j.erase("name");
  return j;
}

// The key_codec text of `key` when it is a tuple, else nothing.
std::optional<std::string> TupleText(std::string_view key) {
  auto t = DecodeKey(key);
  if (t.ok() && !t->empty() && EncodeKey(*t) == key) return KeyToText(*t);
  return std::nullopt;
}

}  // namespace

std::shared_ptr<spdlog::logger> StderrLogger();

int RunExport(const ExportArgs& a) {
  ViewOptions vo;
  vo.overlay_wal = !a.no_wal;
  auto view = OfflineView::Open(a.dir, vo);
  if (!view.ok()) return Fail(view.status());
  std::vector<const KeyspaceView*> selected;
  if (a.keyspaces.empty()) {
    selected = (*view)->keyspaces();
  } else {
    for (const std::string& name : a.keyspaces) {
      auto ks = (*view)->find(name);
      if (!ks.ok()) return Fail(ks.status());
      selected.push_back(*ks);
    }
    std::sort(selected.begin(), selected.end(),
              [](const KeyspaceView* x, const KeyspaceView* y) { return x->def.name < y->def.name; });
    selected.erase(std::unique(selected.begin(), selected.end()), selected.end());
  }
  Json file_header;
  file_header["format"] = kExportFormat;
  file_header["version"] = kExportVersion;
  PrintLine(DumpJson(file_header));
  const uint64_t now = NowMicros();
  uint64_t rows = 0;
  Progress progress("exporting");
  for (const KeyspaceView* ks : selected) {
    Json header;
    header["type"] = "keyspace";
    header["keyspace"] = ks->def.name;
    header["definition"] = PortableDefinition(ks->def);
    PrintLine(DumpJson(header));
    Status s = (*view)->scan(*ks, "", "", [&](std::string_view key, const Row& row) {
      if (row.expired(now) && !a.include_expired) return true;
      Json j;
      j["keyspace"] = ks->def.name;
      if (auto text = TupleText(key)) {
        j["key"] = *text;
      } else {
        j["key_b64"] = Base64Encode(key);
      }
      j["value_b64"] = Base64Encode(row.value);
      j["expire_at_micros"] = row.expire_at_micros;
      PrintLine(DumpJson(j));
      progress.update(++rows, "rows");
      return true;
    });
    if (!s.ok()) return Fail(s);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return Fail(Status::IOError("writing the export to stdout"));
  return kExitOk;
}

namespace {

bool DirIsEmptyOrMissing(const std::string& dir, bool* exists) {
  struct stat st;
  *exists = ::stat(dir.c_str(), &st) == 0;
  if (!*exists) return true;
  auto names = FileSystem::Default()->list_dir(dir);
  return names.ok() && names->empty();
}

// One keyspace being imported.
struct Target {
  Keyspace* ks = nullptr;
  uint64_t rows = 0;
};

class Importer {
 public:
  Importer(Engine* engine, bool merge) : engine_(engine), merge_(merge) {}

  Status line(std::string_view text) {
    Json j;
    try {
      j = Json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) return Status::InvalidArgument("not a JSON object");
    try {
      if (j.contains("format")) return file_header(j);
      if (j.value("type", "") == "keyspace") return keyspace_header(j);
      return row(j);
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(std::string("bad field: ") + e.what());
    }
  }

  Status flush() {
    if (txn_.empty()) return Status::OK();
    Status s = engine_->commit(txn_).status();
    txn_ = Transaction(Durability::kRelaxed);
    pending_bytes_ = 0;
    return s;
  }

  uint64_t rows() const { return rows_; }
  const std::map<std::string, Target>& targets() const { return targets_; }

 private:
  Status file_header(const Json& j) {
    if (j.at("format").get<std::string>() != kExportFormat) {
      return Status::InvalidArgument("not a savepoint export (format \"" + j.at("format").get<std::string>() +
                                     "\")");
    }
    const int v = j.at("version").get<int>();
    if (v > kExportVersion) {
      return Status::InvalidArgument("the export was written by a newer savepoint (export version " +
                                     std::to_string(v) + "); this build reads version " +
                                     std::to_string(kExportVersion));
    }
    return Status::OK();
  }

  Status keyspace_header(const Json& j) {
    const std::string name = j.at("keyspace").get<std::string>();
    Json def_json = j.at("definition");
    def_json["id"] = 0;
    def_json["name"] = name;
    def_json["created_lsn"] = 0;
    SP_ASSIGN_OR_RETURN(engine::KeyspaceDef def, engine::KeyspaceDefFromJson(def_json.dump()));
    SP_RETURN_IF_ERROR(flush());
    const bool existed = engine_->find_keyspace(name).ok();
    SP_ASSIGN_OR_RETURN(Keyspace * ks, engine_->create_keyspace(name, def.options));
    if (existed && !merge_) {
      SP_ASSIGN_OR_RETURN(uint64_t n, engine_->count(ks));
      if (n > 0) {
        return Status::InvalidArgument(
            "keyspace \"" + name + "\" already has " + std::to_string(n) +
            " rows; import into a fresh directory, or pass --merge to write into it");
      }
    }
    targets_[name].ks = ks;
    return Status::OK();
  }

  Status row(const Json& j) {
    const std::string name = j.at("keyspace").get<std::string>();
    auto t = targets_.find(name);
    if (t == targets_.end()) {
      return Status::InvalidArgument("row of keyspace \"" + name +
                                     "\" before its {\"type\":\"keyspace\"} header");
    }
    std::string key;
    if (j.contains("key")) {
      SP_ASSIGN_OR_RETURN(key, ParseKeyArg(j.at("key").get<std::string>()));
    } else {
      SP_ASSIGN_OR_RETURN(key, Base64Decode(j.at("key_b64").get<std::string>()));
    }
    SP_ASSIGN_OR_RETURN(std::string value, Base64Decode(j.at("value_b64").get<std::string>()));
    const uint64_t expire_at = j.value("expire_at_micros", uint64_t{0});
    pending_bytes_ += key.size() + value.size();
    txn_.put(t->second.ks, key, value, expire_at);
    t->second.rows++;
    rows_++;
    if (++pending_rows_ >= 1000 || pending_bytes_ >= (8u << 20)) {
      pending_rows_ = 0;
      return flush();
    }
    return Status::OK();
  }

  Engine* const engine_;
  const bool merge_;
  Transaction txn_{Durability::kRelaxed};
  size_t pending_rows_ = 0, pending_bytes_ = 0;
  uint64_t rows_ = 0;
  std::map<std::string, Target> targets_;
};

}  // namespace

int RunImport(const ImportArgs& a) {
  bool exists = false;
  if (!DirIsEmptyOrMissing(a.dir, &exists)) {
    struct stat st;
    if (::stat(JoinPath(a.dir, "db").c_str(), &st) != 0) {
      return Fail(Status::NotFound(a.dir + " is not a savepoint data directory (no db/) and is not empty; "
                                           "import into a new directory or an existing data directory"));
    }
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (a.input != "-") {
    file.open(a.input, std::ios::binary);
    if (!file) return Fail(Status::NotFound("cannot open " + a.input));
    in = &file;
  }
  Options o;
  o.data_dir = a.dir;
  o.logger = StderrLogger();
  auto engine = Engine::open(o);
  if (!engine.ok()) return Fail(engine.status());
  Importer importer(engine->get(), a.merge);
  std::string text;
  uint64_t line_no = 0;
  Status s;
  Progress progress("importing");
  while (std::getline(*in, text)) {
    line_no++;
    if (text.empty() || text == "\r") continue;
    s = importer.line(text);
    if (!s.ok()) {
      s = s.WithContext((a.input == "-" ? std::string("stdin") : a.input) + " line " +
                        std::to_string(line_no));
      break;
    }
    progress.update(importer.rows(), "rows");
  }
  if (s.ok() && in->bad())
    s = Status::IOError("reading " + (a.input == "-" ? std::string("stdin") : a.input));
  if (s.ok()) s = importer.flush();
  Status c = (*engine)->close();
  if (s.ok()) s = c;
  if (!s.ok()) {
    if (importer.rows() > 0) Warn("rows committed before the error stay imported");
    return Fail(s);
  }
  if (a.json) {
    Json j;
    j["directory"] = a.dir;
    j["rows"] = importer.rows();
    Json ks = Json::object();
    for (auto& [name, t] : importer.targets()) ks[name] = t.rows;
    j["keyspaces"] = ks;
    PrintLine(DumpJson(j));
  } else {
    std::printf("imported %llu rows into %zu keyspaces of %s\n",
                static_cast<unsigned long long>(importer.rows()), importer.targets().size(), a.dir.c_str());
  }
  return kExitOk;
}

}  // namespace savepoint::tools
