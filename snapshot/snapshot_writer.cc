#include "snapshot/snapshot_writer.h"

#include <lz4.h>

#include "savepoint/crash_point.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace savepoint::snapshot {

namespace {

constexpr uint64_t kWritebackBytes = 4u << 20;

std::string BaseName(std::string_view path) {
  if (auto slash = path.rfind('/'); slash != std::string_view::npos) path.remove_prefix(slash + 1);
  return std::string(path);
}

}  // namespace

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(FileSystem* fs, std::string final_path,
                                                               const Header& header, WriterOptions options) {
  if (header.catalog.size() > kMaxCatalogBytes) {
    return Status::InvalidArgument("snapshot catalog of " + std::to_string(header.catalog.size()) +
                                   " bytes exceeds the limit");
  }
  if (header.timeline == 0) return Status::InvalidArgument("snapshot timeline must be >= 1");
  if (options.block_size == 0) options.block_size = 1;
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter(fs, std::move(final_path), options));
  auto file = fs->new_writable_file(w->temp_path_);
  if (!file.ok()) return file.status().WithContext("creating snapshot " + w->temp_path_);
  w->file_ = std::move(file).value();
  std::string bytes;
  EncodeHeader(header, &bytes);
  SP_RETURN_IF_ERROR(w->write(bytes));
  return w;
}

SnapshotWriter::SnapshotWriter(FileSystem* fs, std::string final_path, WriterOptions options)
    : fs_(fs), final_path_(std::move(final_path)), temp_path_(final_path_ + std::string(kTempSuffix)),
      options_(options) {
  written_.path = final_path_;
}

SnapshotWriter::~SnapshotWriter() { abandon(); }

void SnapshotWriter::abandon() {
  if (finished_) return;
  finished_ = true;
  if (file_ != nullptr) {
    (void)file_->close();
    file_.reset();
  }
  (void)fs_->remove_file(temp_path_);
}

Status SnapshotWriter::fail(Status s) {
  if (error_.ok()) error_ = s;
  abandon();
  return s;
}

Status SnapshotWriter::write(std::string_view bytes) {
  if (!error_.ok()) return error_;
  if (finished_) return Status::InvalidArgument("snapshot writer is finished");
  Status s = file_->append(bytes);
  if (!s.ok()) return fail(s.WithContext("writing snapshot " + temp_path_));
  checksum_.update(bytes);
  offset_ += bytes.size();
  return Status::OK();
}

Status SnapshotWriter::begin_section(uint32_t keyspace_id) {
  if (!error_.ok()) return error_;
  if (in_section_) return Status::InvalidArgument("snapshot section already open");
  if (!written_.sections.empty() && keyspace_id <= written_.sections.back().keyspace_id) {
    return Status::InvalidArgument("snapshot sections must come in ascending keyspace id");
  }
  in_section_ = true;
  section_ = SectionInfo{};
  section_.keyspace_id = keyspace_id;
  section_.offset = offset_;
  has_last_key_ = false;
  return Status::OK();
}

Status SnapshotWriter::add(std::string_view key, std::string_view value) {
  if (!error_.ok()) return error_;
  if (!in_section_) return Status::InvalidArgument("snapshot row outside a section");
  if (has_last_key_ && std::string_view(last_key_) >= key) {
    return Status::InvalidArgument("snapshot rows must come in strictly ascending key order");
  }
  if (key.size() > kMaxBlockBytes / 2 || value.size() > kMaxBlockBytes / 2) {
    return Status::InvalidArgument("snapshot row too large");
  }
  // A block holds at least one row; a row that would overflow a non-empty block starts the next one.
  if (raw_rows_ > 0 && raw_.size() + key.size() + value.size() + 10 > options_.block_size) {
    SP_RETURN_IF_ERROR(flush_block());
  }
  AppendRow(key, value, &raw_);
  raw_rows_++;
  last_key_.assign(key);
  has_last_key_ = true;
  section_.rows++;
  section_.data_bytes += key.size() + value.size();
  if (raw_.size() >= options_.block_size) SP_RETURN_IF_ERROR(flush_block());
  return Status::OK();
}

Status SnapshotWriter::flush_block() {
  if (raw_rows_ == 0) return Status::OK();
  if (options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed)) {
    return fail(Status::IOError("snapshot " + final_path_ + " cancelled"));
  }
  BlockHeader h;
  h.keyspace_id = section_.keyspace_id;
  h.raw_size = static_cast<uint32_t>(raw_.size());
  h.rows = raw_rows_;
  const int bound = LZ4_compressBound(static_cast<int>(raw_.size()));
  compressed_.resize(static_cast<size_t>(bound));
  const int n = LZ4_compress_default(raw_.data(), compressed_.data(), static_cast<int>(raw_.size()), bound);
  std::string_view stored = raw_;
  h.compression = Compression::kNone;
  if (n > 0 && static_cast<size_t>(n) < raw_.size()) {
    stored = std::string_view(compressed_.data(), static_cast<size_t>(n));
    h.compression = Compression::kLz4;
  }
  h.stored_size = static_cast<uint32_t>(stored.size());
  out_.clear();
  AppendBlock(h, stored, &out_);
  SP_RETURN_IF_ERROR(write(out_));
  if (offset_ - writeback_at_ >= kWritebackBytes) {
    // Let the device work while the next blocks are made: the final sync then has little left to write.
    file_->start_writeback();
    writeback_at_ = offset_;
  }
  section_.blocks++;
  raw_.clear();
  raw_rows_ = 0;
  return Status::OK();
}

Status SnapshotWriter::end_section() {
  if (!error_.ok()) return error_;
  if (!in_section_) return Status::InvalidArgument("no snapshot section open");
  SP_RETURN_IF_ERROR(flush_block());
  section_.length = offset_ - section_.offset;
  written_.rows += section_.rows;
  written_.data_bytes += section_.data_bytes;
  written_.sections.push_back(section_);
  in_section_ = false;
  return Status::OK();
}

Result<WrittenSnapshot> SnapshotWriter::finish() {
  if (!error_.ok()) return error_;
  if (finished_) return Status::InvalidArgument("snapshot writer is finished");
  if (in_section_) return Status::InvalidArgument("snapshot section still open");
  std::string index;
  EncodeIndex(written_.sections, &index);
  Trailer t;
  t.index_offset = offset_;
  t.index_size = index.size();
  t.index_checksum = Checksum64(index);
  std::string tail = index;
  EncodeTrailerPrefix(t, &tail);
  SP_RETURN_IF_ERROR(write(tail));
  std::string sum;
  PutFixed64(&sum, checksum_.digest());
  Status s = file_->append(sum);
  offset_ += sum.size();
  SP_CRASH_POINT("snapshot.after_temp_write");
  if (s.ok()) s = file_->sync();
  if (s.ok()) s = file_->close();
  SP_CRASH_POINT("snapshot.before_rename");
  if (s.ok()) s = fs_->rename_file(temp_path_, final_path_);
  if (!s.ok()) return fail(s.WithContext("writing snapshot " + temp_path_));
  finished_ = true;  // the temp name is gone: nothing to abandon any more
  file_.reset();
  SP_CRASH_POINT("snapshot.after_rename");
  s = fs_->sync_dir(DirName(final_path_));
  if (!s.ok()) {
    // The file is complete but its name may not survive a power cut: do not claim it.
    (void)fs_->remove_file(final_path_);
    error_ = s;
    return s.WithContext("syncing the directory of snapshot " + final_path_);
  }
  written_.file_bytes = offset_;
  return written_;
}

Status CopySnapshotFile(FileSystem* fs, const std::string& source_path, const std::string& dir) {
  const std::string name = BaseName(source_path);
  const std::string final_path = JoinPath(dir, name);
  SP_RETURN_IF_ERROR(fs->create_dirs(dir));
  SP_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> src, fs->new_random_access_file(source_path));
  constexpr size_t kChunk = 4u << 20;
  if (fs->file_exists(final_path)) {
    // Already copied (a retry): same bytes is success. Snapshot files are never modified, so compare.
    SP_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> old, fs->new_random_access_file(final_path));
    bool same = old->size() == src->size();
    std::string a, b;
    for (uint64_t off = 0; same && off < src->size(); off += kChunk) {
      SP_RETURN_IF_ERROR(src->read(off, kChunk, &a));
      SP_RETURN_IF_ERROR(old->read(off, kChunk, &b));
      same = a == b;
    }
    if (same) return Status::OK();
    return Status::InvalidArgument(final_path + " already holds a different snapshot; refusing to overwrite it");
  }
  const std::string temp_path = final_path + std::string(kTempSuffix);
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs->new_writable_file(temp_path));
  Status s;
  std::string chunk;
  for (uint64_t off = 0; s.ok() && off < src->size(); off += kChunk) {
    s = src->read(off, kChunk, &chunk);
    if (s.ok() && chunk.empty()) s = Status::IOError(source_path + " shrank while being copied");
    if (s.ok()) s = out->append(chunk);
    if (s.ok()) out->start_writeback();
  }
  if (s.ok()) s = out->sync();
  Status c = out->close();
  if (s.ok()) s = c;
  SP_CRASH_POINT("snapshot.copy_before_rename");
  if (s.ok()) s = fs->rename_file(temp_path, final_path);
  if (!s.ok()) {
    (void)fs->remove_file(temp_path);
    return s.WithContext("copying snapshot " + source_path + " to " + dir);
  }
  s = fs->sync_dir(dir);
  if (!s.ok()) {
    (void)fs->remove_file(final_path);
    return s.WithContext("copying snapshot " + source_path + " to " + dir);
  }
  return Status::OK();
}

Result<size_t> RemoveTempFiles(FileSystem* fs, const std::string& dir) {
  if (!fs->file_exists(dir)) return size_t{0};
  SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(dir));
  size_t removed = 0;
  for (const std::string& name : names) {
    if (!name.ends_with(std::string(kSuffix) + std::string(kTempSuffix))) continue;
    SP_RETURN_IF_ERROR(fs->remove_file(JoinPath(dir, name)));
    removed++;
  }
  return removed;
}

}  // namespace savepoint::snapshot
