// FileSystem: the one seam every savepoint file operation goes through (WAL segments, archives, snapshots,
// lock files). Three implementations:
//   - FileSystem::Default(): POSIX files (pwrite/fdatasync/rename/fsync of the directory);
//   - NewMemFileSystem(): an in-memory tree for fast tests;
//   - FaultInjectionFileSystem: wraps another FileSystem and simulates power cuts (unsynced bytes dropped,
//     the last write torn, files whose directory entry was never synced vanish) and injects EIO / ENOSPC on
//     chosen operations, like LevelDB's fault_injection_test and RocksDB's FaultInjectionTestFS.
//
// Durability model (what the fault-injecting wrapper enforces, and what POSIX guarantees on ext4/xfs):
//   - bytes appended to a file are durable after WritableFile::sync() returns OK;
//   - a new file, a removal or a rename is durable after sync_dir() of its parent directory returns OK;
//   - truncate_file() returns after the new size is durable.
//
// Paths are plain strings joined with '/'. Thread-safety: a FileSystem may be used from many threads at once;
// a WritableFile is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/status.h"

namespace savepoint {

// A file open for appending. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data` at the end. On failure part of `data` may have been written (size() says how much).
  virtual Status append(std::string_view data) = 0;
  // fdatasync: every appended byte and the file size are durable when this returns OK.
  virtual Status sync() = 0;
  virtual Status close() = 0;
  // Bytes in the file, including appended but unsynced bytes.
  virtual uint64_t size() const = 0;
  // A hint: start writing the appended bytes to the device now, without waiting (sync_file_range), so that a
  // later sync() of a large file has little left to do. Promises no durability. Default: nothing.
  virtual void start_writeback() {}
};

// A file open for reading at any offset (snapshots, which can be far larger than memory). Thread-safe: reads
// do not move a shared position.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `n` bytes at `offset` into *out (replacing its contents); fewer only at the end of the file.
  virtual Status read(uint64_t offset, size_t n, std::string* out) const = 0;
  // The file's size when it was opened.
  virtual uint64_t size() const = 0;
};

// An exclusive lock on a path, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The POSIX file system. Process lifetime; never delete it.
  static FileSystem* Default();

  // Creates `path`, truncating an existing file, open for appending.
  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) = 0;
  // Opens the existing `path` for appending at its end. NotFound if absent.
  virtual Result<std::unique_ptr<WritableFile>> reopen_writable_file(const std::string& path) = 0;

  // Reads the whole file. NotFound if absent.
  virtual Status read_file(const std::string& path, std::string* contents) = 0;
  // Opens `path` for reads at any offset. NotFound if absent. The default reads the whole file into memory
  // once (read_file); implementations that can read in place override it.
  virtual Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(const std::string& path);
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  virtual bool file_exists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, sorted, without "." and "..". NotFound if absent.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;

  // Creates `dir` and missing parents; OK if it exists.
  virtual Status create_dirs(const std::string& dir) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  // Shrinks `path` to `size` bytes and makes the new size durable.
  virtual Status truncate_file(const std::string& path, uint64_t size) = 0;
  // Makes the entries of `dir` (creations, removals, renames) durable.
  virtual Status sync_dir(const std::string& dir) = 0;

  // Takes an exclusive lock on `path` (created if absent) for this process. Busy if another process or
  // another lock in this process holds it; the message names the holder's pid when known.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) = 0;
};

// A fresh, empty in-memory file system.
std::unique_ptr<FileSystem> NewMemFileSystem();

// Joins two path parts with exactly one '/'.
std::string JoinPath(std::string_view dir, std::string_view name);
// The parent directory of `path` ("." when it has none).
std::string DirName(std::string_view path);
// One spelling per path: repeated and trailing '/' and "." components removed ("" and "./" become ".").
std::string NormalizePath(std::string_view path);

}  // namespace savepoint
