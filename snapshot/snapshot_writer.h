// SnapshotWriter: writes one snapshot file (docs/snapshot_format.md) from rows handed to it section by
// section in key order. Knows nothing of RocksDB or keyspaces: it frames, compresses and checksums bytes,
// all through the FileSystem seam.
//
// Crash safety: the file is written as "<final>.tmp", fdatasync'd, closed, renamed to the final name, and the
// directory fsync'd. A file under a final name is always complete; a failed or abandoned writer removes its
// temp file (a crash may leave one behind: RemoveTempFiles clears them).
//
// Thread-safety: one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/file_system.h"
#include "snapshot/format.h"

namespace savepoint::snapshot {

struct WriterOptions {
  // Rows are cut into blocks of about this many uncompressed bytes. Default: 64 KiB.
  size_t block_size = 64u << 10;
  // Polled between blocks; when it becomes true the writer stops with IOError("cancelled"). Optional.
  const std::atomic<bool>* cancel = nullptr;
};

// What a finished snapshot holds.
struct WrittenSnapshot {
  std::string path;        // the final path
  uint64_t file_bytes = 0;
  uint64_t rows = 0;
  uint64_t data_bytes = 0;  // keys + values, uncompressed
  std::vector<SectionInfo> sections;
};

class SnapshotWriter {
 public:
  // Creates "<final_path>.tmp" (replacing a leftover) and writes the header. The directory must exist.
  static Result<std::unique_ptr<SnapshotWriter>> Create(FileSystem* fs, std::string final_path,
                                                        const Header& header, WriterOptions options = {});
  ~SnapshotWriter();  // abandons an unfinished file (removes the temp file)
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Starts the section of `keyspace_id`. REQUIRES: ids strictly ascending, no section open.
  Status begin_section(uint32_t keyspace_id);
  // REQUIRES: a section is open; keys strictly ascending within it (InvalidArgument otherwise).
  Status add(std::string_view key, std::string_view value);
  Status end_section();
  // Writes the index and trailer, syncs, renames to the final name and syncs the directory.
  // REQUIRES: no section open. A failed finish leaves no file under the final name.
  Result<WrittenSnapshot> finish();
  // Stops and removes the temp file. Idempotent.
  void abandon();

  uint64_t rows() const { return written_.rows; }
  uint64_t bytes_written() const { return offset_; }

 private:
  SnapshotWriter(FileSystem* fs, std::string final_path, WriterOptions options);
  Status flush_block();
  Status write(std::string_view bytes);  // appends to the file and the whole-file checksum
  Status fail(Status s);                 // remembers the first error and abandons

  FileSystem* const fs_;
  const std::string final_path_;
  const std::string temp_path_;
  const WriterOptions options_;
  std::unique_ptr<WritableFile> file_;
  StreamingChecksum checksum_;
  uint64_t offset_ = 0;
  uint64_t writeback_at_ = 0;  // offset_ at the last start_writeback()
  Status error_;
  bool finished_ = false;

  bool in_section_ = false;
  SectionInfo section_;
  std::string last_key_;
  bool has_last_key_ = false;
  std::string raw_;      // rows of the block being filled
  uint32_t raw_rows_ = 0;
  std::string out_;      // scratch: block header + stored payload
  std::string compressed_;
  WrittenSnapshot written_;
};

// Copies a complete snapshot file into `dir` under the same name, crash-safely (temp, sync, rename, sync
// dir), reading it in chunks. An identical file already there is success; a different one is an error.
Status CopySnapshotFile(FileSystem* fs, const std::string& source_path, const std::string& dir);

// Removes "*.snap.tmp" leftovers of interrupted writers in `dir`. Returns how many.
Result<size_t> RemoveTempFiles(FileSystem* fs, const std::string& dir);

}  // namespace savepoint::snapshot
