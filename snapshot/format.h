// The snapshot file's on-disk layout (docs/snapshot_format.md): file names, the header, blocks, the index
// and the trailer. Pure functions over bytes: no I/O, no threads. The writer, the reader and the fuzzer all
// go through here, so there is one definition of "valid".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/status.h"

namespace savepoint::snapshot {

inline constexpr std::string_view kMagic = "SPSNAPSH";
inline constexpr std::string_view kEndMagic = "SPSNAPND";
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderFixedSize = 36;  // before the catalog
inline constexpr size_t kBlockHeaderSize = 32;
inline constexpr size_t kTrailerSize = 40;
inline constexpr size_t kMaxCatalogBytes = 16u << 20;
inline constexpr size_t kMaxBlockBytes = 128u << 20;  // stored or raw
inline constexpr size_t kMinFileSize = kHeaderFixedSize + 8 + 1 + kTrailerSize;
inline constexpr std::string_view kSuffix = ".snap";
inline constexpr std::string_view kTempSuffix = ".tmp";

enum class Compression : uint8_t { kNone = 0, kLz4 = 1 };

struct Header {
  uint32_t version = kFormatVersion;
  uint32_t timeline = 1;
  uint64_t lsn = 0;
  uint64_t created_micros = 0;
  std::string catalog;  // JSON, opaque here
};

// "00000001-00000000000f4240.snap"
std::string SnapshotFileName(uint32_t timeline, uint64_t lsn);
struct NameParts {
  uint32_t timeline = 0;
  uint64_t lsn = 0;
};
// nullopt when `name` is not a snapshot file name (temp files are not).
std::optional<NameParts> ParseSnapshotFileName(std::string_view name);

// Appends the whole header (fixed part, catalog, checksum).
void EncodeHeader(const Header& header, std::string* out);
// The header's total size given its fixed part: kHeaderFixedSize + catalog size + 8. REQUIRES: 36 bytes.
uint64_t HeaderSize(std::string_view fixed_part);
// Decodes a whole header (`bytes` holds at least HeaderSize bytes). Corruption with the offset of the bad
// field; InvalidArgument for a newer format version.
Status DecodeHeader(std::string_view bytes, Header* header);

struct BlockHeader {
  uint32_t keyspace_id = 0;
  Compression compression = Compression::kNone;
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
  uint32_t rows = 0;
};
// Appends the 32-byte block header for `stored` (the payload as stored) and then the payload.
void AppendBlock(const BlockHeader& header, std::string_view stored, std::string* out);
// Parses the fixed fields of a block header (no checksum check). REQUIRES: 32 bytes.
Status DecodeBlockHeader(std::string_view bytes, BlockHeader* header);
// Checks a block's checksum against its 32-byte header and stored payload.
bool BlockChecksumMatches(std::string_view header_bytes, std::string_view stored);

// Makes the raw payload of a block: rows back to back (varint32 key size, key, varint32 value size, value).
void AppendRow(std::string_view key, std::string_view value, std::string* raw);
// Turns the stored payload into the raw payload (decompressing when needed). Corruption on mismatch.
Status DecodePayload(const BlockHeader& header, std::string_view stored, std::string* scratch,
                     std::string_view* raw);

struct SectionInfo {
  uint32_t keyspace_id = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t blocks = 0;
  uint64_t rows = 0;
  uint64_t data_bytes = 0;  // keys + values
};
void EncodeIndex(const std::vector<SectionInfo>& sections, std::string* out);
Status DecodeIndex(std::string_view bytes, std::vector<SectionInfo>* sections);

struct Trailer {
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t index_checksum = 0;
  uint64_t file_checksum = 0;
};
// Appends the first 32 bytes of the trailer (without the whole-file checksum, which covers them).
void EncodeTrailerPrefix(const Trailer& trailer, std::string* out);
// Parses the 40-byte trailer; Corruption when the end magic is wrong.
Status DecodeTrailer(std::string_view bytes, Trailer* trailer);

// XXH3-64 over a stream of pieces, for the whole-file checksum.
class StreamingChecksum {
 public:
  StreamingChecksum();
  ~StreamingChecksum();
  StreamingChecksum(const StreamingChecksum&) = delete;
  StreamingChecksum& operator=(const StreamingChecksum&) = delete;
  void update(std::string_view data);
  uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t
};

}  // namespace savepoint::snapshot
