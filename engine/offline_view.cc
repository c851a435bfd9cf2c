#include "engine/offline_view.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "engine/meta.h"
#include "engine/rocks_env.h"
#include "savepoint/file_system.h"
#include "savepoint/key_codec.h"
#include "util/coding.h"

namespace savepoint::engine {

namespace {

// RocksDB's info log, silenced: a read-only open must not create or rotate <db>/LOG.
class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

std::string KeyText(std::string_view key) { return rocksdb::Slice(key.data(), key.size()).ToString(true); }

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

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
  SP_RETURN_IF_ERROR(check_not_live(options));

  rocksdb::DBOptions dbo;
  dbo.info_log = std::make_shared<NullLogger>();
  dbo.create_if_missing = false;
  dbo.max_open_files = 256;
  std::vector<std::string> names;
  rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(dbo, db_dir_, &names);
  if (!ls.ok()) {
    auto names_there = FileSystem::Default()->list_dir(db_dir_);
    bool rocks_files = false;
    if (names_there.ok()) {
      for (const std::string& n : *names_there) {
        rocks_files |= n.starts_with("MANIFEST-") || n.ends_with(".sst") || n == "CURRENT";
      }
    }
    if (ls.IsCorruption() || rocks_files) {
      return Status::Corruption("reading the RocksDB MANIFEST in " + db_dir_ + ": " + ls.ToString() +
                                " (db/ holds RocksDB files: the directory is damaged)");
    }
    return Status::NotFound(not_ours + ": db/ is not a RocksDB database (" + ls.ToString() + ")");
  }
  if (std::find(names.begin(), names.end(), kMetaFamily) == names.end()) {
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
    if (names[i] == kMetaFamily) meta_ = handles_[i];
  }

  MetaState meta;
  Status ms = ReadMeta(db_.get(), meta_, rocksdb::ReadOptions(), data_dir, &meta);
  if (ms.IsNotFound()) {
    // Engine::open's rule: meta rows never flushed (a crash before the first flush) are a new directory,
    // all of whose state is in the WAL, which must then start at LSN 1 (read_wal_tail checks).
    meta = MetaState();
    meta.format_version = kEngineFormatVersion;
    ms = Status::OK();
  }
  SP_RETURN_IF_ERROR(ms);
  format_version_ = meta.format_version;
  applied_lsn_ = meta.applied_lsn;
  timeline_ = meta.timeline;
  next_keyspace_id_ = meta.next_keyspace_id;
  for (const KeyspaceDef& def : meta.catalog) apply_catalog_change(CatalogOp::kCreate, def);
  return read_wal_tail(options);
}

Status OfflineView::check_not_live(const ViewOptions& options) const {
  if (options.allow_live) return Status::OK();
  const std::string holder = LockHolder(data_dir_);
  if (holder.empty()) return Status::OK();
  return Status::Busy(
      data_dir_ + " is in use by " + holder +
      ": a read beside a running engine cannot be exact (RocksDB and the WAL change under it). "
      "Read it after the engine closes, or from a snapshot the engine saves (Engine::save)");
}

void OfflineView::apply_catalog_change(CatalogOp op, const KeyspaceDef& def) {
  all_defs_[def.id] = def;
  next_keyspace_id_ = std::max(next_keyspace_id_, def.id + 1);
  auto it = live_.find(def.id);
  if (op == CatalogOp::kDrop) {
    if (it != live_.end()) live_.erase(it);
    return;
  }
  if (it != live_.end()) {
    it->second->def = def;
    return;
  }
  if (op == CatalogOp::kAlter) return;  // an alter of a keyspace not live: the engine ignores it too
  auto ks = std::make_unique<KeyspaceView>();
  ks->def = def;
  if (!ks->is_volatile()) {
    if (auto f = families_.find(CfName(def.id)); f != families_.end()) ks->cf = f->second;
  }
  live_[def.id] = std::move(ks);
}

void OfflineView::apply_effect(const Effect& e) {
  auto it = live_.find(e.keyspace_id);
  if (it == live_.end()) return;  // dropped since: the materializer skips these too
  KeyspaceView& ks = *it->second;
  switch (e.kind) {
    case EffectKind::kPut:
      ks.overlay[e.key] = Row{e.value != nullptr ? e.value->bytes : std::string(), e.expire_at_micros};
      break;
    case EffectKind::kDelete:
      ks.overlay[e.key] = std::nullopt;
      break;
    case EffectKind::kDeletePrefix:
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
  auto all = wal::ListSegments(fs, wal_dir_);
  std::vector<wal::SegmentInfo> segments;
  if (all.ok()) {
    for (auto& seg : *all) {
      if (seg.timeline == timeline_) segments.push_back(seg);
    }
  }
  tail_.wal_present = !segments.empty();
  if (!segments.empty()) tail_.last_lsn = segments.back().first_lsn - 1;
  if (!options.overlay_wal) return Status::OK();

  const std::string hint = " (reading the WAL after RocksDB's applied LSN " + std::to_string(applied_lsn_) +
                           "; --no-wal shows what RocksDB holds without it, `savepoint wal verify " +
                           data_dir_ + "` tells more)";
  // The rule Engine::open applies: a read of RocksDB's state alone, where the WAL should continue it, would
  // be stale, not exact.
  MetaState meta;
  meta.applied_lsn = applied_lsn_;
  meta.timeline = timeline_;
  Status s = CheckWalContinues(fs, data_dir_, meta, "");
  if (!s.ok()) return AppendToMessage(s, hint);
  if (segments.empty()) return Status::OK();
  wal::ReaderOptions ro;
  ro.start_lsn = applied_lsn_ + 1;
  ro.timeline = timeline_;
  auto reader = wal::WalReader::Open(fs, wal_dir_, ro);
  if (!reader.ok()) return AppendToMessage(reader.status(), hint);
  wal::Record r;
  std::vector<Effect> effects;
  while ((*reader)->next(&r)) {
    tail_.records++;
    if (r.type == wal::RecordType::kTransaction) {
      s = DecodeEffects(r.payload, &effects);
      if (!s.ok())
        return AppendToMessage(s.WithContext("WAL record " + std::to_string(r.lsn) + " in " + wal_dir_),
                               hint);
      for (const Effect& e : effects) apply_effect(e);
    } else if (r.type == wal::RecordType::kCatalogChange) {
      CatalogOp op;
      KeyspaceDef def;
      s = DecodeCatalogChange(r.payload, &op, &def);
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

SnapshotCatalog OfflineView::catalog() const {
  SnapshotCatalog out;
  out.next_keyspace_id = next_keyspace_id_;
  for (const auto& [id, ks] : live_) out.keyspaces.push_back(ks->def);  // live_ is by id
  return out;
}

const KeyspaceDef* OfflineView::def_by_id(uint32_t id) const {
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
  Status d = DecodeRow(raw, &expire_at, &value);
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
    Status d = DecodeRow(it->value().ToStringView(), &expire_at, &value);
    if (!d.ok())
      return d.WithContext("keyspace " + ks.def.name + " key " + KeyText(it->key().ToStringView()));
    if (!fn(it->key().ToStringView(), Row{std::string(value), expire_at})) return Status::OK();
    it->Next();
  }
  if (it != nullptr) return FromRocks(it->status(), "scanning keyspace " + ks.def.name);
  return Status::OK();
}

}  // namespace savepoint::engine
