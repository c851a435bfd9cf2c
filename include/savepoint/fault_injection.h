// FaultInjectionFileSystem: wraps a FileSystem to simulate what a crash or a failing disk does to files.
// Used by savepoint's own crash tests, the torture driver and users' CrashSimulator.
//
// Power cut, in two steps, because a process is still running when its machine loses power:
//   1. cut_power(): from now on every operation fails with IOError("power is off"), so nothing the running
//      code does after the cut can reach the disk or be acknowledged as durable.
//   2. restart(options): applies to the wrapped file system what a real power loss leaves behind, then
//      clears every fault, so the next open sees the files as after a reboot:
//        - in every file written since its last sync, the unsynced bytes are dropped, or a random prefix of
//          them survives, or they read as zeros (PowerCutOptions::unsynced);
//        - optionally the last append survives only up to a chosen byte (tear_last_write_at);
//        - files created, and renames done, since the last sync_dir() of their directory are undone.
//
// Injected errors: fail_next() makes the next matching operations fail with EIO or ENOSPC; set_space_limit()
// makes the disk hold at most N bytes in all (an append that does not fit writes what fits, then fails
// with NoSpace, as write(2) does).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/file_system.h"

namespace savepoint {

enum class FaultOp : unsigned char { kAppend, kSync, kCreate, kRename, kRemove, kSyncDir, kTruncate };
enum class FaultError : unsigned char { kEIO, kENOSPC };

struct PowerCutOptions {
  enum class Unsynced : unsigned char {
    kDrop,              // files end at their last synced size
    kKeepRandomPrefix,  // a random prefix of the unsynced bytes survives (chosen with `seed`)
    kZeroFill,          // the unsynced bytes read as zeros: the size survived, the data did not
  };
  Unsynced unsynced = Unsynced::kDrop;
  uint64_t seed = 0;
  // When set, the most recent append (to a file in the scope of set_tear_scope()) survives only up to this
  // many bytes, and every byte before that append survives. Applies to the file of that append; other files
  // follow `unsynced`.
  std::optional<uint64_t> tear_last_write_at;
};

class FaultInjectionFileSystem : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(FileSystem* base);  // `base` must outlive this
  ~FaultInjectionFileSystem() override;

  // --- faults ---
  void cut_power();
  // REQUIRES: every WritableFile from this file system has been destroyed.
  Status restart(const PowerCutOptions& options = {});
  bool power_is_off() const;

  // The next `times` operations of kind `op` on a path containing `path_part` (every path when empty), after
  // skipping `skip` of them, fail with `error`. An engine's RocksDB files are on its file system too
  // (Options::file_system): "/wal/" aims a fault at the WAL alone, "/db/" at RocksDB.
  void fail_next(FaultOp op, FaultError error, uint32_t skip = 0, uint32_t times = 1,
                 std::string_view path_part = {});
  // Which appends PowerCutOptions::tear_last_write_at tears: the last one to a path containing `path_part`
  // (default "": the last append to any file). "/wal/" tears the WAL's last write, whatever RocksDB wrote
  // after it.
  void set_tear_scope(std::string_view path_part);
  // At most `bytes` in all files; 0 removes the limit.
  void set_space_limit(uint64_t bytes);
  void clear_faults();  // removes injected errors and the space limit (not a power cut)

  // --- observation ---
  uint64_t sync_count() const;  // successful WritableFile::sync() calls

  // --- FileSystem ---
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> reopen_writable_file(const std::string& path) override;
  Status read_file(const std::string& path, std::string* contents) override;
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(const std::string& path) override;
  Result<uint64_t> file_size(const std::string& path) override;
  bool file_exists(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  Status create_dirs(const std::string& dir) override;
  Status remove_file(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status truncate_file(const std::string& path, uint64_t size) override;
  Status sync_dir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;

 private:
  class File;
  friend class File;
  // What a power cut would leave of one file written through this wrapper.
  struct FileState {
    uint64_t synced_size = 0;       // size at the last successful sync() or truncate_file()
    bool creation_durable = false;  // false until sync_dir() of its directory after new_writable_file()
  };
  struct PendingRename {
    std::string from, to;
    uint64_t seq = 0;  // renames are undone newest first, across directories
    // What `to` held before the rename (its durable part), restored on undo; nullopt if `to` was absent.
    std::optional<std::string> replaced;
  };

  // Returns the error to inject for `op`, or OK. REQUIRES: mu_ held.
  Status take_fault(FaultOp op, const std::string& path);
  uint64_t total_size_locked() const;  // REQUIRES: mu_ held

  FileSystem* const base_;
  mutable std::mutex mu_;
  bool power_off_ = false;
  struct Injection {
    FaultOp op;
    FaultError error;
    uint32_t skip;
    uint32_t times;
    std::string path_part;
  };
  std::vector<Injection> injections_;
  uint64_t space_limit_ = 0;
  uint64_t sync_count_ = 0;
  // Per path written through this wrapper: synced size, whether the creation is durable.
  std::map<std::string, FileState> files_;
  std::map<std::string, std::vector<PendingRename>> pending_renames_;  // by directory
  struct LastAppend {
    std::string path;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  std::optional<LastAppend> last_append_;
  std::string tear_scope_;  // GUARDED_BY(mu_)
  uint64_t next_rename_seq_ = 0;
  std::set<File*> open_files_;  // so a rename or removal can re-point their tracking
};

}  // namespace savepoint
