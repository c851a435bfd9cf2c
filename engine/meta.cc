// The meta column family's rows (meta.h).
#include "engine/meta.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "util/coding.h"
#include "wal/wal_reader.h"

namespace savepoint::engine {

namespace {

constexpr std::string_view kFormat = "format_version";
constexpr std::string_view kApplied = "applied_lsn";
constexpr std::string_view kTimeline = "timeline";
constexpr std::string_view kNextId = "next_keyspace_id";
constexpr std::string_view kCatalogPrefix = "ks/";

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }

// Reads a fixed-width row; `*found` false when absent.
Status GetFixed(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta, const rocksdb::ReadOptions& ro,
                std::string_view key, size_t width, const std::string& where, std::string* v, bool* found) {
  rocksdb::Status s = db->Get(ro, meta, S(key), v);
  *found = s.ok();
  if (s.IsNotFound()) return Status::OK();
  SP_RETURN_IF_ERROR(FromRocks(s, "reading meta row " + std::string(key) + " in " + where));
  if (v->size() != width) {
    return Status::Corruption(where + ": meta row " + std::string(key) + " is " + std::to_string(v->size()) +
                              " bytes, not " + std::to_string(width));
  }
  return Status::OK();
}

}  // namespace

std::string CfName(uint32_t id) { return "ks" + std::to_string(id); }

std::string CatalogKey(uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return std::string(kCatalogPrefix) + buf;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNoSpace()) return Status::NoSpace(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsBusy()) return Status::Busy(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

Status AppendToMessage(const Status& s, std::string_view suffix) {
  const std::string m = s.message() + std::string(suffix);
  switch (s.code()) {
    case Status::Code::kOk:
      return s;
    case Status::Code::kNotFound:
      return Status::NotFound(m);
    case Status::Code::kCorruption:
      return Status::Corruption(m);
    case Status::Code::kIOError:
      return Status::IOError(m);
    case Status::Code::kNoSpace:
      return Status::NoSpace(m);
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(m);
    case Status::Code::kConflict:
      return Status::Conflict(m);
    case Status::Code::kBusy:
      return Status::Busy(m);
    case Status::Code::kFatal:
      return Status::Fatal(m);
    case Status::Code::kWrongType:
      return Status::WrongType(m);
  }
  return Status::IOError(m);
}

Status ReadMeta(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta, const rocksdb::ReadOptions& ro,
                const std::string& where, MetaState* out) {
  *out = MetaState();
  std::string v;
  bool found = false;
  SP_RETURN_IF_ERROR(GetFixed(db, meta, ro, kFormat, 4, where, &v, &found));
  if (!found) return Status::NotFound(where + ": its meta family has no format_version");
  out->format_version = DecodeFixed32(v.data());
  if (out->format_version > kEngineFormatVersion) {
    return Status::InvalidArgument(where + " was written by a newer savepoint (engine format " +
                                   std::to_string(out->format_version) + "); this build reads format " +
                                   std::to_string(kEngineFormatVersion));
  }
  SP_RETURN_IF_ERROR(GetFixed(db, meta, ro, kApplied, 8, where, &v, &found));
  if (found) out->applied_lsn = DecodeFixed64(v.data());
  SP_RETURN_IF_ERROR(GetFixed(db, meta, ro, kTimeline, 4, where, &v, &found));
  if (found) {
    out->timeline = DecodeFixed32(v.data());
    out->has_timeline = true;
  }
  SP_RETURN_IF_ERROR(GetFixed(db, meta, ro, kNextId, 4, where, &v, &found));
  if (found) out->next_keyspace_id = DecodeFixed32(v.data());

  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, meta));
  for (it->Seek(S(kCatalogPrefix)); it->Valid() && it->key().starts_with(S(kCatalogPrefix)); it->Next()) {
    auto def = KeyspaceDefFromJson(it->value().ToStringView());
    if (!def.ok()) return def.status().WithContext(where + " catalog row " + it->key().ToString());
    out->next_keyspace_id = std::max(out->next_keyspace_id, def->id + 1);
    out->catalog.push_back(std::move(def).value());
  }
  return FromRocks(it->status(), "reading the catalog in " + where);
}

void PutFormatVersion(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta) {
  std::string v;
  PutFixed32(&v, kEngineFormatVersion);
  (void)batch->Put(meta, S(kFormat), v);
}

void PutAppliedLsn(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint64_t lsn) {
  std::string v;
  PutFixed64(&v, lsn);
  (void)batch->Put(meta, S(kApplied), v);
}

void PutTimeline(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t timeline) {
  std::string v;
  PutFixed32(&v, timeline);
  (void)batch->Put(meta, S(kTimeline), v);
}

void PutNextKeyspaceId(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t id) {
  std::string v;
  PutFixed32(&v, id);
  (void)batch->Put(meta, S(kNextId), v);
}

void PutCatalogEntry(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, const KeyspaceDef& def) {
  (void)batch->Put(meta, CatalogKey(def.id), KeyspaceDefToJson(def));
}

void DeleteCatalogEntry(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t id) {
  (void)batch->Delete(meta, CatalogKey(id));
}

Status CheckWalContinues(FileSystem* fs, const std::string& data_dir, const MetaState& meta,
                         const std::string& manifest) {
  const std::string wal_dir = JoinPath(data_dir, "wal");
  const std::string db_dir = JoinPath(data_dir, "db");
  const std::string nothing_changed = "; nothing was changed";
  // RocksDB's state must continue into the WAL: otherwise the MANIFEST lost its newest flushes (a damaged
  // MANIFEST describes an older state, whose newer files RocksDB would then purge) or WAL segments are gone.
  auto segments = wal::ListSegments(fs, wal_dir);
  std::vector<wal::SegmentInfo> ours;
  if (segments.ok()) {
    for (const wal::SegmentInfo& seg : *segments) {
      if (seg.timeline == meta.timeline) ours.push_back(seg);
    }
  }
  const std::string at = (manifest.empty() ? "RocksDB (" + db_dir + ")" : manifest) +
                         " holds state up to LSN " + std::to_string(meta.applied_lsn);
  if (meta.applied_lsn > 0 && ours.empty()) {
    return Status::Corruption(data_dir + ": " + at + " but " + wal_dir + " has no WAL segment of timeline " +
                              std::to_string(meta.timeline) + "; restore the WAL directory" +
                              nothing_changed);
  }
  if (!ours.empty() && ours.front().first_lsn > meta.applied_lsn + 1) {
    return Status::Corruption(data_dir + ": " + at + " but the WAL starts at LSN " +
                              std::to_string(ours.front().first_lsn) +
                              ": the MANIFEST is damaged (it lost its newest flushes) or WAL segments are "
                              "missing" +
                              nothing_changed +
                              ". Restore db/ (or the WAL) from a backup, or rebuild the directory with "
                              "`savepoint recover` from the archive");
  }
  return Status::OK();
}

}  // namespace savepoint::engine
