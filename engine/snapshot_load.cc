// Loading a snapshot into an empty directory (docs/pitr.md, Loading): one SST file per keyspace, built from
// the snapshot's rows in key order and ingested, so a load costs one sequential write of the data instead of
// a memtable, flushes and compactions.
#include "engine/snapshot_load.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "engine/engine_impl.h"
#include "engine/meta.h"
#include "engine/rocks_env.h"
#include "engine/snapshot_catalog.h"
#include "savepoint/clock.h"
#include "savepoint/recovery.h"
#include "snapshot/snapshot_reader.h"
#include "util/coding.h"
#include "wal/wal_writer.h"

namespace savepoint {

namespace engine {

Status CheckEmptyDestination(FileSystem* fs, const std::string& dir) {
  if (!fs->file_exists(dir)) return Status::OK();
  auto names = fs->list_dir(dir);
  if (!names.ok()) return names.status().WithContext("destination " + dir);
  if (!names->empty()) {
    std::string some;
    for (size_t i = 0; i < names->size() && i < 3; i++) some += (i > 0 ? ", " : "") + (*names)[i];
    if (names->size() > 3) some += ", ...";
    return Status::InvalidArgument("destination " + dir + " is not empty (" + some +
                                   "); a restore or recovery writes only into a new or empty directory");
  }
  return Status::OK();
}

namespace {

// Removes the files under `dir` through `fs` (directories stay: the seam has no call to remove one).
void RemoveFilesUnder(FileSystem* fs, const std::string& dir) {
  auto names = fs->list_dir(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    const std::string path = JoinPath(dir, n);
    if (!fs->remove_file(path).ok()) RemoveFilesUnder(fs, path);
  }
}

// Removes a directory tree the load wrote: on the real disk whole, on another file system its files.
void RemoveTree(FileSystem* fs, bool real_disk, const std::string& dir) {
  if (real_disk) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  } else {
    RemoveFilesUnder(fs, dir);
  }
}

// Removes what a failed load created under data_dir, leaving the directory as it was.
class LoadCleanup {
 public:
  LoadCleanup(FileSystem* fs, std::string data_dir, bool created_dir)
      : fs_(fs), data_dir_(std::move(data_dir)), created_dir_(created_dir) {}
  ~LoadCleanup() {
    if (done_) return;
    const bool real_disk = fs_ == FileSystem::Default();
    RemoveTree(fs_, real_disk, JoinPath(data_dir_, "db"));
    RemoveTree(fs_, real_disk, JoinPath(data_dir_, "db.load"));
    RemoveTree(fs_, real_disk, JoinPath(data_dir_, "wal"));
    std::error_code ec;
    if (created_dir_ && real_disk) std::filesystem::remove(data_dir_, ec);  // only if still empty
  }
  void release() { done_ = true; }

 private:
  FileSystem* const fs_;
  const std::string data_dir_;
  const bool created_dir_;
  bool done_ = false;
};

}  // namespace

Result<SnapshotInfo> LoadSnapshotIntoDirectory(FileSystem* fs, const std::string& snapshot_path,
                                               const Options& options, const LoadOptions& load) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& dir = options.data_dir;
  if (dir.empty()) return Status::InvalidArgument("no destination directory");
  SP_RETURN_IF_ERROR(CheckEmptyDestination(fs, dir));
  SP_ASSIGN_OR_RETURN(auto reader, snapshot::SnapshotReader::Open(fs, snapshot_path));
  const snapshot::Header& header = reader->header();
  SnapshotCatalog catalog;
  Status s = DecodeSnapshotCatalog(header.catalog, &catalog);
  if (!s.ok()) return s.WithContext(snapshot_path);
  std::map<uint32_t, const KeyspaceDef*> persistent;
  for (const KeyspaceDef& def : catalog.keyspaces) {
    if (def.options.persistence != Persistence::kVolatile) persistent[def.id] = &def;
  }
  {
    std::map<uint32_t, bool> seen;
    for (const snapshot::SectionInfo& sec : reader->sections()) {
      if (persistent.count(sec.keyspace_id) == 0) {
        return Status::Corruption(snapshot_path + ": a section of keyspace id " +
                                  std::to_string(sec.keyspace_id) +
                                  ", which its catalog does not list as persistent");
      }
      seen[sec.keyspace_id] = true;
    }
    for (const auto& [id, def] : persistent) {
      if (!seen.count(id)) {
        return Status::Corruption(snapshot_path + ": keyspace " + def->name + " has no section");
      }
    }
  }

  const bool existed = fs->file_exists(dir);
  SP_RETURN_IF_ERROR(fs->create_dirs(dir));
  LoadCleanup cleanup(fs, dir, !existed);
  const std::string db_dir = JoinPath(dir, "db");
  const std::string staging = JoinPath(dir, "db.load");
  SP_RETURN_IF_ERROR(fs->create_dirs(staging));
  SP_RETURN_IF_ERROR(fs->create_dirs(db_dir));
  // RocksDB and its SST writer on the same file system as the rest of the directory (rocks_env.h).
  const std::unique_ptr<rocksdb::Env> env = NewRocksEnv(fs);
  rocksdb::DBOptions dbo;
  ConfigureRocksIo(env.get(), options.logger != nullptr ? options.logger : spdlog::default_logger(), &dbo);

  // 1. SST files, one per non-empty section, while the reader checks every block and the whole file.
  auto cache = rocksdb::NewLRUCache(8u << 20);
  const rocksdb::ColumnFamilyOptions cfo = MakeCfOptions(options, cache);
  const rocksdb::Options sst_options(dbo, cfo);
  std::unique_ptr<rocksdb::SstFileWriter> sst;
  uint32_t sst_keyspace = 0;
  std::map<uint32_t, std::string> sst_files;
  auto finish_sst = [&]() -> Status {
    if (sst == nullptr) return Status::OK();
    rocksdb::Status rs = sst->Finish();
    sst.reset();
    return FromRocks(rs, "finishing the SST file of keyspace id " + std::to_string(sst_keyspace));
  };
  s = reader->read_all([&](const snapshot::SectionInfo& sec, std::string_view key,
                           std::string_view value) -> Status {
    if (sst == nullptr || sec.keyspace_id != sst_keyspace) {
      SP_RETURN_IF_ERROR(finish_sst());
      sst_keyspace = sec.keyspace_id;
      const std::string path = JoinPath(staging, CfName(sec.keyspace_id) + ".sst");
      rocksdb::EnvOptions env;
      env.bytes_per_sync = 1u << 20;  // write back as it goes: Finish()'s fsync then has little left
      sst = std::make_unique<rocksdb::SstFileWriter>(env, sst_options);
      SP_RETURN_IF_ERROR(FromRocks(sst->Open(path), "creating " + path));
      sst_files[sec.keyspace_id] = path;
    }
    uint64_t expire_at = 0;
    std::string_view bytes;
    Status rs = DecodeRow(value, &expire_at, &bytes);
    if (!rs.ok()) {
      return Status::Corruption(snapshot_path + ": keyspace " + persistent[sec.keyspace_id]->name + " key " +
                                rocksdb::Slice(key.data(), key.size()).ToString(true) + ": " + rs.message());
    }
    return FromRocks(
        sst->Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size())),
        "writing an SST file");
  });
  if (s.ok()) s = finish_sst();
  sst.reset();
  if (!s.ok()) return s;

  // 2. RocksDB with every family, the SST files ingested, the meta rows.
  const uint32_t timeline = load.timeline != 0 ? load.timeline : header.timeline;
  {
    dbo.create_if_missing = true;
    dbo.create_missing_column_families = true;
    dbo.atomic_flush = true;
    dbo.avoid_flush_during_shutdown = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cfo);
    descriptors.emplace_back(std::string(kMetaFamily), cfo);
    for (const auto& [id, def] : persistent) descriptors.emplace_back(CfName(id), cfo);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    s = FromRocks(rocksdb::DB::Open(dbo, db_dir, descriptors, &handles, &raw),
                  "creating RocksDB in " + db_dir);
    if (!s.ok()) return s;
    std::unique_ptr<rocksdb::DB> db(raw);
    auto close_db = [&]() -> Status {
      for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
      handles.clear();
      Status c = FromRocks(db->Close(), "closing RocksDB in " + db_dir);
      db.reset();
      return c;
    };
    size_t i = 2;
    for (const auto& [id, def] : persistent) {
      auto it = sst_files.find(id);
      if (it != sst_files.end()) {
        rocksdb::IngestExternalFileOptions ifo;
        ifo.move_files = true;
        s = FromRocks(db->IngestExternalFile(handles[i], {it->second}, ifo),
                      "ingesting keyspace " + def->name);
        if (!s.ok()) {
          (void)close_db();
          return s;
        }
      }
      i++;
    }
    rocksdb::WriteBatch batch;
    PutFormatVersion(&batch, handles[1]);
    PutAppliedLsn(&batch, handles[1], header.lsn);
    PutTimeline(&batch, handles[1], timeline);
    PutNextKeyspaceId(&batch, handles[1], catalog.next_keyspace_id);
    for (const KeyspaceDef& def : catalog.keyspaces) PutCatalogEntry(&batch, handles[1], def);
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    s = FromRocks(db->Write(wo, &batch), "writing the meta rows");
    if (s.ok()) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      s = FromRocks(db->Flush(fo, handles), "flushing RocksDB in " + db_dir);
    }
    Status c = close_db();
    if (s.ok()) s = c;
    if (!s.ok()) return s;
  }
  RemoveTree(fs, fs == FileSystem::Default(), staging);

  // 3. The WAL: an empty segment where the snapshot ends, so the directory opens like any other.
  if (load.create_wal) {
    wal::WriterOptions wo;
    wo.timeline = timeline;
    wo.first_lsn_if_empty = header.lsn + 1;
    wo.segment_size = options.wal_segment_size;
    wo.clock = options.clock != nullptr ? options.clock : Clock::System();
    auto w = wal::WalWriter::Open(fs, JoinPath(dir, "wal"), wo);
    if (!w.ok()) return w.status().WithContext("creating the WAL of " + dir);
    SP_RETURN_IF_ERROR((*w)->close());
  }
  cleanup.release();

  SnapshotInfo info;
  info.path = snapshot_path;
  info.lsn = header.lsn;
  info.timeline = timeline;
  info.created_micros = header.created_micros;
  info.rows = reader->rows();
  info.data_bytes = reader->data_bytes();
  info.file_bytes = reader->file_size();
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return info;
}

}  // namespace engine

Result<SnapshotInfo> RestoreSnapshot(const std::string& snapshot_path, const std::string& data_dir,
                                     FileSystem* fs) {
  Options options;
  options.data_dir = data_dir;
  return engine::LoadSnapshotIntoDirectory(fs != nullptr ? fs : FileSystem::Default(), snapshot_path,
                                           options);
}

}  // namespace savepoint
