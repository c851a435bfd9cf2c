// The WAL archive: sealed segments copied, LZ4-compressed, into `<archive>/wal/` for point-in-time recovery
// (docs/wal_format.md, Archive files). Each archived file records its LSN and commit-time range in its header,
// so recovery picks segments without decompressing them.
//
// Writing is crash-safe: temp file, fdatasync, rename, fsync of the directory. A file under a final name is
// always complete; archiving the same segment again is a no-op success; a different file already under that
// name is refused and left untouched.
//
// Thread-safety: the functions are stateless; concurrent archiving of distinct segments is safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "savepoint/file_system.h"
#include "wal/format.h"
#include "wal/wal_reader.h"

namespace savepoint::wal {

struct ArchivedSegment {
  std::string name;  // archive file name: "<segment name>.lz4"
  Timeline timeline = 0;
  Lsn first_lsn = 0;
  Lsn last_lsn = 0;  // first_lsn - 1 when the segment holds no record
  uint64_t first_commit_micros = 0;
  uint64_t last_commit_micros = 0;
  uint64_t segment_size = 0;  // uncompressed
  uint64_t segment_checksum = 0;
  uint64_t compressed_size = 0;
};

inline constexpr std::string_view kArchiveMagic = "SPWALARC";
inline constexpr size_t kArchiveHeaderSize = 80;
// The archive file format (docs/wal_format.md, Archive files); independent of the segment format version.
inline constexpr uint32_t kArchiveFormatVersion = 1;

// Archives the sealed segment at `segment_path` into `<archive_dir>/wal/`. The segment is validated first:
// a segment with any damage is refused with Corruption (a sealed segment must be whole).
Result<ArchivedSegment> ArchiveSegment(FileSystem* fs, const std::string& segment_path,
                                       const std::string& archive_dir);

// The archived segments in `<archive_dir>/wal/`, sorted by (timeline, first LSN), from their headers.
// Temp files of an interrupted archiving are ignored.
Result<std::vector<ArchivedSegment>> ListArchivedSegments(FileSystem* fs, const std::string& archive_dir);

// Reads an archived file: checks its header, decompresses, verifies the segment checksum.
Status ReadArchivedSegment(FileSystem* fs, const std::string& archive_path, std::string* segment,
                           ArchivedSegment* info = nullptr);

// A SegmentSource over `<archive_dir>/wal/`, so WalReader reads archived segments.
std::unique_ptr<SegmentSource> NewArchiveSource(FileSystem* fs, std::string archive_dir);

}  // namespace savepoint::wal
