// RocksDB on savepoint's FileSystem seam, and RocksDB's info log on the engine's logger (rocks_env.h).
#include "engine/rocks_env.h"

#include <rocksdb/file_system.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstring>

namespace savepoint::engine {

namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

IOStatus ToIo(const Status& s) {
  if (s.ok()) return IOStatus::OK();
  switch (s.code()) {
    case Status::Code::kNotFound:
      return IOStatus::PathNotFound(s.message());
    case Status::Code::kNoSpace:
      return IOStatus::NoSpace(s.message());
    case Status::Code::kBusy:
      return IOStatus::Busy(s.message());
    case Status::Code::kInvalidArgument:
      return IOStatus::InvalidArgument(s.message());
    case Status::Code::kCorruption:
      return IOStatus::Corruption(s.message());
    default:
      return IOStatus::IOError(s.message());
  }
}

class SeamWritableFile final : public rocksdb::FSWritableFile {
 public:
  SeamWritableFile(FileSystem* fs, std::string path, std::unique_ptr<WritableFile> file)
      : fs_(fs), path_(std::move(path)), file_(std::move(file)) {}
  ~SeamWritableFile() override {
    if (file_ != nullptr) (void)file_->close();
  }

  IOStatus Append(const rocksdb::Slice& data, const IOOptions&, IODebugContext*) override {
    return ToIo(file_->append(std::string_view(data.data(), data.size())));
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo&,
                  IODebugContext* dbg) override {
    return Append(data, o, dbg);
  }
  IOStatus Truncate(uint64_t size, const IOOptions&, IODebugContext*) override {
    // RocksDB truncates a file only to cut preallocated space off its end, which the seam never adds.
    if (size == file_->size()) return IOStatus::OK();
    return ToIo(fs_->truncate_file(path_, size));
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override {
    Status s = file_->close();
    file_.reset();
    return ToIo(s);
  }
  IOStatus Flush(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Sync(const IOOptions&, IODebugContext*) override { return ToIo(file_->sync()); }
  IOStatus Fsync(const IOOptions&, IODebugContext*) override { return ToIo(file_->sync()); }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return file_->size(); }

 private:
  FileSystem* const fs_;
  const std::string path_;
  std::unique_ptr<WritableFile> file_;
};

class SeamRandomAccessFile final : public rocksdb::FSRandomAccessFile {
 public:
  explicit SeamRandomAccessFile(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions&, rocksdb::Slice* result, char* scratch,
                IODebugContext*) const override {
    std::string buf;
    Status s = file_->read(offset, n, &buf);
    if (!s.ok()) return ToIo(s);
    const size_t got = std::min(n, buf.size());
    if (got > 0) std::memcpy(scratch, buf.data(), got);
    *result = rocksdb::Slice(scratch, got);
    return IOStatus::OK();
  }

 private:
  const std::unique_ptr<RandomAccessFile> file_;
};

class SeamSequentialFile final : public rocksdb::FSSequentialFile {
 public:
  explicit SeamSequentialFile(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

  IOStatus Read(size_t n, const IOOptions&, rocksdb::Slice* result, char* scratch, IODebugContext*) override {
    std::string buf;
    Status s = file_->read(offset_, n, &buf);
    if (!s.ok()) return ToIo(s);
    const size_t got = std::min(n, buf.size());
    if (got > 0) std::memcpy(scratch, buf.data(), got);
    offset_ += got;
    *result = rocksdb::Slice(scratch, got);
    return IOStatus::OK();
  }
  IOStatus Skip(uint64_t n) override {
    offset_ += n;
    return IOStatus::OK();
  }

 private:
  const std::unique_ptr<RandomAccessFile> file_;
  uint64_t offset_ = 0;
};

class SeamDirectory final : public rocksdb::FSDirectory {
 public:
  SeamDirectory(FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  IOStatus Fsync(const IOOptions&, IODebugContext*) override { return ToIo(fs_->sync_dir(path_)); }
  IOStatus Close(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }

 private:
  FileSystem* const fs_;
  const std::string path_;
};

class SeamFileLock final : public rocksdb::FileLock {
 public:
  explicit SeamFileLock(std::unique_ptr<savepoint::FileLock> lock) : lock_(std::move(lock)) {}

 private:
  std::unique_ptr<savepoint::FileLock> lock_;
};

class SeamFileSystem final : public rocksdb::FileSystem {
 public:
  explicit SeamFileSystem(savepoint::FileSystem* fs) : fs_(fs) {}
  const char* Name() const override { return "SavepointFileSystem"; }

  IOStatus NewSequentialFile(const std::string& path, const rocksdb::FileOptions&,
                             std::unique_ptr<rocksdb::FSSequentialFile>* result, IODebugContext*) override {
    auto f = fs_->new_random_access_file(path);
    if (!f.ok()) return ToIo(f.status());
    *result = std::make_unique<SeamSequentialFile>(std::move(f).value());
    return IOStatus::OK();
  }
  IOStatus NewRandomAccessFile(const std::string& path, const rocksdb::FileOptions&,
                               std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                               IODebugContext*) override {
    auto f = fs_->new_random_access_file(path);
    if (!f.ok()) return ToIo(f.status());
    *result = std::make_unique<SeamRandomAccessFile>(std::move(f).value());
    return IOStatus::OK();
  }
  IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions&,
                           std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext*) override {
    auto f = fs_->new_writable_file(path);
    if (!f.ok()) return ToIo(f.status());
    *result = std::make_unique<SeamWritableFile>(fs_, path, std::move(f).value());
    return IOStatus::OK();
  }
  IOStatus ReopenWritableFile(const std::string& path, const rocksdb::FileOptions&,
                              std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext*) override {
    auto f = fs_->reopen_writable_file(path);
    if (!f.ok()) return ToIo(f.status());
    *result = std::make_unique<SeamWritableFile>(fs_, path, std::move(f).value());
    return IOStatus::OK();
  }
  IOStatus ReuseWritableFile(const std::string&, const std::string&, const rocksdb::FileOptions&,
                             std::unique_ptr<rocksdb::FSWritableFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("savepoint's file system does not recycle files");
  }
  IOStatus NewDirectory(const std::string& path, const IOOptions&,
                        std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext*) override {
    auto names = fs_->list_dir(path);
    if (!names.ok()) return ToIo(names.status());
    *result = std::make_unique<SeamDirectory>(fs_, path);
    return IOStatus::OK();
  }
  IOStatus FileExists(const std::string& path, const IOOptions&, IODebugContext*) override {
    if (fs_->file_exists(path)) return IOStatus::OK();
    return IOStatus::NotFound(path);
  }
  IOStatus GetChildren(const std::string& dir, const IOOptions&, std::vector<std::string>* result,
                       IODebugContext*) override {
    auto names = fs_->list_dir(dir);
    if (!names.ok()) return ToIo(names.status());
    *result = std::move(names).value();
    return IOStatus::OK();
  }
  IOStatus DeleteFile(const std::string& path, const IOOptions&, IODebugContext*) override {
    return ToIo(fs_->remove_file(path));
  }
  IOStatus Truncate(const std::string& path, size_t size, const IOOptions&, IODebugContext*) override {
    return ToIo(fs_->truncate_file(path, size));
  }
  IOStatus CreateDir(const std::string& dir, const IOOptions& o, IODebugContext* dbg) override {
    return CreateDirIfMissing(dir, o, dbg);
  }
  IOStatus CreateDirIfMissing(const std::string& dir, const IOOptions&, IODebugContext*) override {
    return ToIo(fs_->create_dirs(dir));
  }
  IOStatus DeleteDir(const std::string& dir, const IOOptions&, IODebugContext*) override {
    return IOStatus::NotSupported("savepoint's file system does not remove directories: " + dir);
  }
  IOStatus GetFileSize(const std::string& path, const IOOptions&, uint64_t* size, IODebugContext*) override {
    auto s = fs_->file_size(path);
    if (!s.ok()) return ToIo(s.status());
    *size = *s;
    return IOStatus::OK();
  }
  IOStatus GetFileModificationTime(const std::string& path, const IOOptions&, uint64_t*,
                                   IODebugContext*) override {
    return IOStatus::NotSupported("savepoint's file system keeps no modification times: " + path);
  }
  IOStatus RenameFile(const std::string& from, const std::string& to, const IOOptions&,
                      IODebugContext*) override {
    return ToIo(fs_->rename_file(from, to));
  }
  IOStatus LockFile(const std::string& path, const IOOptions&, rocksdb::FileLock** lock,
                    IODebugContext*) override {
    auto l = fs_->lock_file(path);
    if (!l.ok()) return ToIo(l.status());
    *lock = new SeamFileLock(std::move(l).value());
    return IOStatus::OK();
  }
  IOStatus UnlockFile(rocksdb::FileLock* lock, const IOOptions&, IODebugContext*) override {
    delete lock;
    return IOStatus::OK();
  }
  IOStatus GetTestDirectory(const IOOptions&, std::string* path, IODebugContext*) override {
    *path = "/tmp";
    return IOStatus::OK();
  }
  IOStatus NewLogger(const std::string& path, const IOOptions&, std::shared_ptr<rocksdb::Logger>*,
                     IODebugContext*) override {
    // The engine always gives RocksDB its logger (ConfigureRocksIo).
    return IOStatus::NotSupported("no RocksDB log file on savepoint's file system: " + path);
  }
  IOStatus GetAbsolutePath(const std::string& path, const IOOptions&, std::string* out,
                           IODebugContext*) override {
    *out = path;
    return IOStatus::OK();
  }
  IOStatus IsDirectory(const std::string& path, const IOOptions&, bool* is_dir, IODebugContext*) override {
    *is_dir = fs_->list_dir(path).ok();
    return IOStatus::OK();
  }

 private:
  savepoint::FileSystem* const fs_;
};

class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  explicit SpdlogRocksLogger(std::shared_ptr<spdlog::logger> log)
      : rocksdb::Logger(rocksdb::InfoLogLevel::ERROR_LEVEL), log_(std::move(log)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    if (n < 0) return;
    const std::string_view text(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
    log_->log(spdlog::level::err, "rocksdb: {}", text);
  }

 private:
  const std::shared_ptr<spdlog::logger> log_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewRocksEnv(FileSystem* fs) {
  if (fs == nullptr || fs == FileSystem::Default()) return nullptr;
  return rocksdb::NewCompositeEnv(std::make_shared<SeamFileSystem>(fs));
}

std::shared_ptr<rocksdb::Logger> NewRocksLogger(std::shared_ptr<spdlog::logger> log) {
  return std::make_shared<SpdlogRocksLogger>(std::move(log));
}

void ConfigureRocksIo(rocksdb::Env* env, std::shared_ptr<spdlog::logger> log, rocksdb::DBOptions* dbo) {
  if (env != nullptr) dbo->env = env;
  dbo->info_log = NewRocksLogger(std::move(log));
  dbo->info_log_level = rocksdb::InfoLogLevel::ERROR_LEVEL;
  dbo->allow_fallocate = false;
}

}  // namespace savepoint::engine
