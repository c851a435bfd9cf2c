// savepoint get / scan: rows of one keyspace from the read-only view (RocksDB plus the WAL tail).
#include <cstdio>

#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"

namespace savepoint::tools {

namespace {

Result<const KeyspaceView*> FindReadable(const OfflineView& view, const std::string& name) {
  SP_ASSIGN_OR_RETURN(const KeyspaceView* ks, view.find(name));
  if (ks->is_volatile()) {
    return Status::NotFound(
        "keyspace \"" + name +
        "\" is volatile: its rows live only in the memory of the process that has it open");
  }
  return ks;
}

Json RowJson(const KeyspaceView& ks, std::string_view key, const Row& row, bool with_keyspace) {
  const RenderedValue v = RenderValue(ks.def.options.kind, row.value);
  Json j;
  if (with_keyspace) j["keyspace"] = ks.def.name;
  j["key"] = KeyText(key);
  j["value"] = v.value;
  j["value_encoding"] = v.encoding;
  if (v.encoding == "registry") j["schema_version"] = v.schema_version;
  j["value_size"] = row.value.size();
  j["expire_at_micros"] = row.expire_at_micros;
  j["expire_at"] = row.expire_at_micros != 0 ? Json(FormatTime(row.expire_at_micros)) : Json(nullptr);
  j["value_b64"] = Base64Encode(row.value);
  return j;
}

Result<std::unique_ptr<OfflineView>> OpenView(const std::string& dir, bool no_wal) {
  ViewOptions vo;
  vo.overlay_wal = !no_wal;
  return OfflineView::Open(dir, vo);
}

}  // namespace

int RunGet(const GetArgs& a) {
  auto view = OpenView(a.dir, a.no_wal);
  if (!view.ok()) return Fail(view.status());
  auto ks = FindReadable(**view, a.keyspace);
  if (!ks.ok()) return Fail(ks.status());
  auto key = ParseKeyArg(a.key);
  if (!key.ok()) return Fail(key.status());
  auto row = (*view)->get(**ks, *key);
  if (!row.ok()) return Fail(row.status());
  const std::string key_text = KeyText(*key);
  if (!row->has_value()) {
    return Fail(Status::NotFound("no key " + key_text + " in keyspace " + a.keyspace));
  }
  const Row& r = **row;
  if (r.expired(NowMicros()) && !a.include_expired) {
    return Fail(Status::NotFound("key " + key_text + " in keyspace " + a.keyspace + " expired at " +
                                 FormatTime(r.expire_at_micros) +
                                 " (not swept yet; --include-expired shows it)"));
  }
  if (a.json) {
    PrintLine(DumpJson(RowJson(**ks, *key, r, /*with_keyspace=*/true)));
    return kExitOk;
  }
  const RenderedValue v = RenderValue((*ks)->def.options.kind, r.value);
  std::printf("keyspace  %s (%s)\n", a.keyspace.c_str(), (*ks)->def.options.kind.c_str());
  std::printf("key       %s\n", key_text.c_str());
  std::printf("expires   %s\n", r.expire_at_micros != 0 ? FormatTime(r.expire_at_micros).c_str() : "never");
  std::string enc = v.encoding;
  if (v.encoding == "registry") enc += ", schema version " + std::to_string(v.schema_version);
  std::printf("value     %zu bytes (%s)\n", r.value.size(), enc.c_str());
  PrintLine(v.value.is_structured() ? DumpJsonPretty(v.value) : DumpJson(v.value));
  return kExitOk;
}

int RunScan(const ScanArgs& a) {
  auto view = OpenView(a.dir, a.no_wal);
  if (!view.ok()) return Fail(view.status());
  auto ks = FindReadable(**view, a.keyspace);
  if (!ks.ok()) return Fail(ks.status());
  std::string start, end;
  if (a.has_prefix) {
    auto p = ParsePrefixArg(a.prefix);
    if (!p.ok()) return Fail(p.status());
    start = p->first;
    end = p->second;
  }
  const uint64_t now = NowMicros();
  uint64_t shown = 0;
  bool truncated = false;
  Progress progress("scanning " + a.keyspace);
  Status s = (*view)->scan(**ks, start, end, [&](std::string_view key, const Row& row) {
    progress.update(shown, "rows");
    if (row.expired(now) && !a.include_expired) return true;
    if (a.limit != 0 && shown >= a.limit) {
      truncated = true;
      return false;
    }
    shown++;
    if (a.json) {
      PrintLine(DumpJson(RowJson(**ks, key, row, /*with_keyspace=*/false)));
    } else {
      const RenderedValue v = RenderValue((*ks)->def.options.kind, row.value);
      std::string line = KeyText(key) + "  " + SummarizeValue(v, row.value.size(), a.full ? SIZE_MAX : 200);
      if (row.expire_at_micros != 0) line += "  [expires " + FormatTime(row.expire_at_micros) + "]";
      PrintLine(line);
    }
    return true;
  });
  if (!s.ok()) return Fail(s);
  if (truncated) {
    std::fflush(stdout);
    std::fprintf(stderr, "savepoint: stopped after %s (--limit)\n", Plural(shown, "row").c_str());
  }
  return kExitOk;
}

}  // namespace savepoint::tools
