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
};
bool IsKnownRecordType(uint8_t type);
const char* RecordTypeName(RecordType type);

inline constexpr size_t kSegmentHeaderSize = 48;
inline constexpr size_t kRecordHeaderSize = 40;
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint32_t kMaxPayload = 1u << 30;
inline constexpr std::string_view kSegmentMagic = "SPWALSEG";
inline constexpr size_t kMaxRestorePointName = 255;

struct SegmentHeader {
  Timeline timeline = 0;
  Lsn first_lsn = 0;
  uint64_t created_micros = 0;
};

// "00000001-0000000000000001.wal"
std::string SegmentFileName(Timeline timeline, Lsn first_lsn);
// Parses a segment file name; nullopt when `name` is not one.
std::optional<SegmentHeader> ParseSegmentFileName(std::string_view name);

void EncodeSegmentHeader(const SegmentHeader& header, std::string* out);
// Corruption (with the reason) when `bytes` does not start with a valid header.
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

// Parses the record at `offset` of `segment` (the whole file). On success sets *record and *next_offset.
// Fails with Corruption and a reason ("truncated header", "bad checksum", ...) otherwise. `truncated` is set
// when the bytes ran out before the record was complete (as opposed to bytes that are present but wrong).
Status ParseRecord(std::string_view segment, size_t offset, Record* record, size_t* next_offset,
                   bool* truncated = nullptr);

// Scans forward from `offset` for the first position where a valid record starts. Returns nullopt if none.
std::optional<size_t> FindNextValidRecord(std::string_view segment, size_t offset);

}  // namespace savepoint::wal
