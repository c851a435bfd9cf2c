// SnapshotReader: reads and checks a snapshot file (docs/snapshot_format.md, Reading rules). The file is
// untrusted: any damage (a flipped bit, a truncation, another file's bytes) is reported as Corruption naming
// the file and the offset of the first bad byte found, never a crash or a read outside the file. A file of a
// newer format version is InvalidArgument.
//
// Open() checks the header, the trailer and the index, which is enough to list what a snapshot holds;
// read_all() walks every block and ends with the whole-file checksum; verify() is read_all without rows.
// Reads go through FileSystem::new_random_access_file in chunks, so a snapshot larger than memory is fine.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/file_system.h"
#include "snapshot/format.h"

namespace savepoint::snapshot {

class SnapshotReader {
 public:
  static Result<std::unique_ptr<SnapshotReader>> Open(FileSystem* fs, const std::string& path);

  const std::string& path() const { return path_; }
  const Header& header() const { return header_; }
  uint64_t header_size() const { return header_size_; }
  const std::vector<SectionInfo>& sections() const { return sections_; }
  const Trailer& trailer() const { return trailer_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t rows() const;        // from the index
  uint64_t data_bytes() const;  // from the index

  // Called for every row in file order: sections in ascending keyspace id, keys ascending within each.
  // Views are valid during the call. A non-OK status stops the walk and is returned as is.
  using RowFn = std::function<Status(const SectionInfo& section, std::string_view key, std::string_view value)>;
  // Walks every block, checking each (docs/snapshot_format.md), then every section's counts against the
  // index and the whole-file checksum. Rows reach `on_row` before the whole-file checksum is checked: a
  // caller that must not act on a damaged file keeps what it builds invisible until this returns OK.
  Status read_all(const RowFn& on_row = nullptr);
  Status verify() { return read_all(nullptr); }

 private:
  SnapshotReader(std::string path, std::unique_ptr<RandomAccessFile> file);
  Status open();
  Status corrupt(const std::string& reason, uint64_t offset) const;
  // A view of file bytes [offset, offset + n), valid until the next call; Corruption when they are not all
  // there.
  Status read_exact(uint64_t offset, uint64_t n, std::string_view* out);

  const std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  uint64_t file_size_ = 0;
  Header header_;
  uint64_t header_size_ = 0;
  Trailer trailer_;
  std::vector<SectionInfo> sections_;
  std::string buf_;            // read buffer
  uint64_t buf_offset_ = 0;    // file offset of buf_[0]
  std::string scratch_;        // decompressed payload
};

// Reads and checks only the header of the snapshot at `path` (listing snapshots).
Status ReadSnapshotHeader(FileSystem* fs, const std::string& path, Header* header);

}  // namespace savepoint::snapshot
