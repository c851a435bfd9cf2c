// The WAL's on-disk layout (docs/wal_format.md): segment names, the segment header, record framing, and the
// validation of one segment's bytes. Pure functions over bytes: no I/O, no threads. The reader, the writer,
// the archiver and the fuzzer all parse through here, so there is one definition of "valid".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "savepoint/status.h"

namespace savepoint::wal {

using Lsn = uint64_t;
using Timeline = uint32_t;

enum class RecordType : uint8_t {
  kTransaction = 1,
  kRestorePoint = 2,
  kCheckpoint = 3,
  kCatalogChange = 4,
  kTimelineSwitch = 5,
  // Ends a version-2 segment once its successor exists (docs/wal_format.md, Seals). Not a log record: it
  // takes no LSN (its LSN field is the successor's first LSN) and readers never yield it.
  kSeal = 6,
};
bool IsKnownRecordType(uint8_t type);
const char* RecordTypeName(RecordType type);

inline constexpr size_t kSegmentHeaderSize = 48;
inline constexpr size_t kRecordHeaderSize = 40;
// The segment format this build writes, and the oldest it reads. Version 2 added the seal (type 6).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestReadableFormatVersion = 1;
// A seal is a record header with an empty payload.
inline constexpr size_t kSealSize = kRecordHeaderSize;
inline constexpr uint32_t kMaxPayload = 1u << 30;
inline constexpr std::string_view kSegmentMagic = "SPWALSEG";
inline constexpr size_t kMaxRestorePointName = 255;

struct SegmentHeader {
  Timeline timeline = 0;
  Lsn first_lsn = 0;
  uint64_t created_micros = 0;
  uint32_t version = kFormatVersion;  // a version-1 segment holds no seal
};

// "00000001-0000000000000001.wal"
std::string SegmentFileName(Timeline timeline, Lsn first_lsn);
// Parses a segment file name; nullopt when `name` is not one.
std::optional<SegmentHeader> ParseSegmentFileName(std::string_view name);

void EncodeSegmentHeader(const SegmentHeader& header, std::string* out);
// Corruption (with the reason) when `bytes` does not start with a valid header of a version this build reads.
Status DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header);

// A record as stored. `payload` points into the buffer it was parsed from.
struct Record {
  Lsn lsn = 0;
  uint64_t commit_micros = 0;
  Lsn synced_lsn = 0;
  RecordType type = RecordType::kTransaction;
  std::string_view payload;
};

// Appends the framed record (40-byte header + payload) to `out`.
void AppendRecord(const Record& record, std::string* out);

// Appends the seal of a segment whose successor starts at `next_lsn` and was created at `created_micros`.
void AppendSeal(Lsn next_lsn, uint64_t created_micros, std::string* out);

// Parses the record at `offset` of `segment` (the whole file). On success sets *record and *next_offset.
// Fails with Corruption and a reason ("truncated header", "bad checksum", ...) otherwise. `truncated` is set
// when the bytes ran out before the record was complete (as opposed to bytes that are present but wrong).
Status ParseRecord(std::string_view segment, size_t offset, Record* record, size_t* next_offset,
                   bool* truncated = nullptr);

// Scans forward from `offset` for the first position where a valid record starts. Returns nullopt if none.
std::optional<size_t> FindNextValidRecord(std::string_view segment, size_t offset);

}  // namespace savepoint::wal
