#include "tools/savepoint/offline_view.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "savepoint/file_system.h"
#include "savepoint/key_codec.h"
#include "tools/savepoint/common.h"
#include "tools/savepoint/wal_source.h"
#include "util/coding.h"

namespace savepoint::tools {

namespace {

constexpr uint32_t kEngineFormatVersion = 1;  // engine/engine_open.cc
constexpr std::string_view kMetaCatalogPrefix = "ks/";

std::string CfName(uint32_t id) { return "ks" + std::to_string(id); }

// RocksDB's info log, silenced: a read-only open must not create or rotate <db>/LOG.
class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  const std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsBusy()) return Status::Busy(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

std::string LockHolder(const std::string& data_dir) {
  const std::string path = JoinPath(data_dir, "LOCK");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
#ifdef F_OFD_GETLK
  int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
#else
  int rc = ::fcntl(fd, F_GETLK, &fl);
#endif
  std::string holder;
  if (rc == 0 && fl.l_type != F_UNLCK) {
    char buf[32];
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) pid += buf[i];
    holder = pid.empty() ? "another process" : "process " + pid;
  }
  ::close(fd);
  return holder;
}

Result<std::unique_ptr<OfflineView>> OfflineView::Open(const std::string& data_dir,
                                                       const ViewOptions& options) {
  std::unique_ptr<OfflineView> view(new OfflineView());
  SP_RETURN_IF_ERROR(view->open(data_dir, options));
  return view;
}

OfflineView::~OfflineView() {
  if (db_ != nullptr) {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }
}

Status OfflineView::open(const std::string& data_dir, const ViewOptions& options) {
  data_dir_ = data_dir;
  db_dir_ = JoinPath(data_dir, "db");
  wal_dir_ = JoinPath(data_dir, "wal");
  struct stat st;
  if (::stat(data_dir.c_str(), &st) != 0) return Status::NotFound("no such directory: " + data_dir);
  if (!S_ISDIR(st.st_mode)) return Status::NotFound(data_dir + " is not a directory");
  const std::string not_ours = data_dir + " is not a savepoint data directory";
  if (!IsDirectory(db_dir_)) {
    return Status::NotFound(not_ours + ": it has no db/ (a data directory holds LOCK, wal/ and db/)");
  }

  rocksdb::DBOptions dbo;
  dbo.info_log = std::make_shared<NullLogger>();
  dbo.create_if_missing = false;
  dbo.max_open_files = 256;
  std::vector<std::string> names;
  rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(dbo, db_dir_, &names);
  if (!ls.ok()) {
    if (ls.IsCorruption()) return FromRocks(ls, "reading the RocksDB manifest in " + db_dir_);
    return Status::NotFound(not_ours + ": db/ is not a RocksDB database (" + ls.ToString() + ")");
  }
  if (std::find(names.begin(), names.end(), "meta") == names.end()) {
    return Status::NotFound(not_ours + ": its RocksDB has no \"meta\" column family");
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(dbo, db_dir_, descriptors, &handles_, &raw);
  if (!s.ok()) return FromRocks(s, "opening RocksDB read-only in " + db_dir_);
  db_.reset(raw);
  for (size_t i = 0; i < names.size(); i++) {
    families_[names[i]] = handles_[i];
    if (names[i] == "meta") meta_ = handles_[i];
  }

  std::string v;
  s = db_->Get(rocksdb::ReadOptions(), meta_, "format_version", &v);
  if (s.IsNotFound()) return Status::NotFound(not_ours + ": its meta family has no format_version");
  SP_RETURN_IF_ERROR(FromRocks(s, "reading meta in " + db_dir_));
  if (v.size() != 4)
    return Status::Corruption(db_dir_ + ": format_version row is " + std::to_string(v.size()) + " bytes");
  format_version_ = DecodeFixed32(v.data());
  if (format_version_ > kEngineFormatVersion) {
    return Status::InvalidArgument(data_dir + " was written by a newer savepoint (engine format " +
                                   std::to_string(format_version_) + "); this build reads format " +
                                   std::to_string(kEngineFormatVersion));
  }
  s = db_->Get(rocksdb::ReadOptions(), meta_, "applied_lsn", &v);
  if (s.ok() && v.size() == 8) applied_lsn_ = DecodeFixed64(v.data());
  s = db_->Get(rocksdb::ReadOptions(), meta_, "timeline", &v);
  if (s.ok() && v.size() == 4) timeline_ = DecodeFixed32(v.data());
  SP_RETURN_IF_ERROR(load_catalog());
  return read_wal_tail(options);
}

Status OfflineView::load_catalog() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->Seek(kMetaCatalogPrefix); it->Valid() && it->key().starts_with(kMetaCatalogPrefix); it->Next()) {
    auto def = engine::KeyspaceDefFromJson(it->value().ToStringView());
    if (!def.ok()) return def.status().WithContext(db_dir_ + " catalog row " + it->key().ToString());
    apply_catalog_change(engine::CatalogOp::kCreate, *def);
  }
  return FromRocks(it->status(), "reading the catalog in " + db_dir_);
}

void OfflineView::apply_catalog_change(engine::CatalogOp op, const engine::KeyspaceDef& def) {
  all_defs_[def.id] = def;
  auto it = live_.find(def.id);
  if (op == engine::CatalogOp::kDrop) {
    if (it != live_.end()) live_.erase(it);
    return;
  }
  if (it != live_.end()) {
    it->second->def = def;
    return;
  }
  if (op == engine::CatalogOp::kAlter) return;  // an alter of a keyspace not live: the engine ignores it too
  auto ks = std::make_unique<KeyspaceView>();
  ks->def = def;
  if (!ks->is_volatile()) {
    if (auto f = families_.find(CfName(def.id)); f != families_.end()) ks->cf = f->second;
  }
  live_[def.id] = std::move(ks);
}

void OfflineView::apply_effect(const engine::Effect& e) {
  auto it = live_.find(e.keyspace_id);
  if (it == live_.end()) return;  // dropped since: the materializer skips these too
  KeyspaceView& ks = *it->second;
  switch (e.kind) {
    case engine::EffectKind::kPut:
      ks.overlay[e.key] = Row{e.value != nullptr ? e.value->bytes : std::string(), e.expire_at_micros};
      break;
    case engine::EffectKind::kDelete:
      ks.overlay[e.key] = std::nullopt;
      break;
    case engine::EffectKind::kDeletePrefix:
      for (auto o = ks.overlay.lower_bound(e.key); o != ks.overlay.end() && o->first.starts_with(e.key);
           ++o) {
        o->second = std::nullopt;
      }
      ks.deleted_prefixes.push_back(e.key);
      break;
  }
}

Status OfflineView::read_wal_tail(const ViewOptions& options) {
  FileSystem* fs = FileSystem::Default();
  if (!IsDirectory(wal_dir_)) return Status::OK();
  SP_ASSIGN_OR_RETURN(std::vector<wal::SegmentInfo> all, wal::ListSegments(fs, wal_dir_));
  std::vector<wal::SegmentInfo> segments;
  for (auto& seg : all) {
    if (seg.timeline == timeline_) segments.push_back(seg);
  }
  if (segments.empty()) return Status::OK();
  tail_.wal_present = true;
  tail_.last_lsn = segments.back().first_lsn - 1;
  if (!options.overlay_wal) return Status::OK();

  Status s = CheckSegmentVersions(fs, wal_dir_, segments);
  if (!s.ok()) return s;
  const std::string hint = " (reading the WAL after RocksDB's applied LSN " + std::to_string(applied_lsn_) +
                           "; --no-wal shows what RocksDB holds without it, `savepoint wal verify " +
                           data_dir_ + "` tells more)";
  if (applied_lsn_ + 1 < segments.front().first_lsn) {
    return Status::Corruption(data_dir_ + ": RocksDB holds state up to LSN " + std::to_string(applied_lsn_) +
                              " but the WAL starts at LSN " + std::to_string(segments.front().first_lsn) +
                              " (WAL segments missing)" + hint);
  }
  wal::ReaderOptions ro;
  ro.start_lsn = applied_lsn_ + 1;
  ro.timeline = timeline_;
  auto reader = wal::WalReader::Open(fs, wal_dir_, ro);
  if (!reader.ok()) return AppendToMessage(reader.status(), hint);
  wal::Record r;
  std::vector<engine::Effect> effects;
  while ((*reader)->next(&r)) {
    tail_.records++;
    if (r.type == wal::RecordType::kTransaction) {
      s = engine::DecodeEffects(r.payload, &effects);
      if (!s.ok())
        return AppendToMessage(s.WithContext("WAL record " + std::to_string(r.lsn) + " in " + wal_dir_),
                               hint);
      for (const engine::Effect& e : effects) apply_effect(e);
    } else if (r.type == wal::RecordType::kCatalogChange) {
      engine::CatalogOp op;
      engine::KeyspaceDef def;
      s = engine::DecodeCatalogChange(r.payload, &op, &def);
      if (!s.ok())
        return AppendToMessage(s.WithContext("WAL record " + std::to_string(r.lsn) + " in " + wal_dir_),
                               hint);
      apply_catalog_change(op, def);
    }
  }
  tail_.stop = (*reader)->stop();
  tail_.last_lsn = std::max(tail_.last_lsn, (*reader)->last_lsn());
  if (!(*reader)->status().ok()) return AppendToMessage((*reader)->status(), hint);
  return Status::OK();
}

std::vector<const KeyspaceView*> OfflineView::keyspaces() const {
  std::vector<const KeyspaceView*> out;
  for (auto& [id, ks] : live_) out.push_back(ks.get());
  std::sort(out.begin(), out.end(),
            [](const KeyspaceView* a, const KeyspaceView* b) { return a->def.name < b->def.name; });
  return out;
}

Result<const KeyspaceView*> OfflineView::find(std::string_view name) const {
  for (auto& [id, ks] : live_) {
    if (ks->def.name == name) return ks.get();
  }
  std::string names;
  for (const KeyspaceView* ks : keyspaces()) names += (names.empty() ? "" : ", ") + ks->def.name;
  return Status::NotFound("no keyspace \"" + std::string(name) + "\" in " + data_dir_ +
                          (names.empty() ? std::string(" (it has none)") : " (keyspaces: " + names + ")"));
}

const engine::KeyspaceDef* OfflineView::def_by_id(uint32_t id) const {
  auto it = all_defs_.find(id);
  return it == all_defs_.end() ? nullptr : &it->second;
}

Status OfflineView::base_get(const KeyspaceView& ks, std::string_view key, std::optional<Row>* out) const {
  out->reset();
  if (ks.cf == nullptr) return Status::OK();
  for (const std::string& p : ks.deleted_prefixes) {
    if (key.starts_with(p)) return Status::OK();
  }
  std::string raw;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ks.cf, rocksdb::Slice(key.data(), key.size()), &raw);
  if (s.IsNotFound()) return Status::OK();
  SP_RETURN_IF_ERROR(FromRocks(s, "reading keyspace " + ks.def.name));
  uint64_t expire_at = 0;
  std::string_view value;
  Status d = engine::DecodeRow(raw, &expire_at, &value);
  if (!d.ok()) return d.WithContext("keyspace " + ks.def.name + " key " + KeyText(key));
  *out = Row{std::string(value), expire_at};
  return Status::OK();
}

Result<std::optional<Row>> OfflineView::get(const KeyspaceView& ks, std::string_view key) const {
  if (auto it = ks.overlay.find(std::string(key)); it != ks.overlay.end()) return it->second;
  std::optional<Row> row;
  SP_RETURN_IF_ERROR(base_get(ks, key, &row));
  return row;
}

Status OfflineView::scan(const KeyspaceView& ks, std::string_view start, std::string_view end,
                         const std::function<bool(std::string_view key, const Row& row)>& fn) const {
  const std::string start_s(start), end_s(end);
  auto ov = ks.overlay.lower_bound(start_s);
  auto ov_done = [&] { return ov == ks.overlay.end() || (!end_s.empty() && ov->first >= end_s); };

  std::unique_ptr<rocksdb::Iterator> it;
  rocksdb::Slice upper(end_s);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  if (!end_s.empty()) ro.iterate_upper_bound = &upper;
  if (ks.cf != nullptr) {
    it.reset(db_->NewIterator(ro, ks.cf));
    it->Seek(start_s);
  }
  auto hidden = [&](std::string_view key) {
    if (ks.overlay.count(std::string(key)) != 0) return true;  // the overlay answers for it
    for (const std::string& p : ks.deleted_prefixes) {
      if (key.starts_with(p)) return true;
    }
    return false;
  };
  for (;;) {
    while (it != nullptr && it->Valid() && hidden(it->key().ToStringView())) it->Next();
    while (!ov_done() && !ov->second.has_value()) ++ov;
    const bool base_ok = it != nullptr && it->Valid();
    const bool ov_ok = !ov_done();
    if (!base_ok && !ov_ok) break;
    if (ov_ok && (!base_ok || std::string_view(ov->first) < it->key().ToStringView())) {
      if (!fn(ov->first, *ov->second)) return Status::OK();
      ++ov;
      continue;
    }
    uint64_t expire_at = 0;
    std::string_view value;
    Status d = engine::DecodeRow(it->value().ToStringView(), &expire_at, &value);
    if (!d.ok())
      return d.WithContext("keyspace " + ks.def.name + " key " + KeyText(it->key().ToStringView()));
    if (!fn(it->key().ToStringView(), Row{std::string(value), expire_at})) return Status::OK();
    it->Next();
  }
  if (it != nullptr) return FromRocks(it->status(), "scanning keyspace " + ks.def.name);
  return Status::OK();
}

}  // namespace savepoint::tools
