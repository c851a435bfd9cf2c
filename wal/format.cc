#include "wal/format.h"

#include <cstdio>
#include <cstring>

#include "util/checksum.h"
#include "util/coding.h"

namespace savepoint::wal {

bool IsKnownRecordType(uint8_t type) { return type >= 1 && type <= 6; }

const char* RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kTransaction: return "transaction";
    case RecordType::kRestorePoint: return "restore_point";
    case RecordType::kCheckpoint: return "checkpoint";
    case RecordType::kCatalogChange: return "catalog_change";
    case RecordType::kTimelineSwitch: return "timeline_switch";
    case RecordType::kSeal: return "seal";
  }
  return "unknown";
}

std::string SegmentFileName(Timeline timeline, Lsn first_lsn) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-%016llx.wal", timeline, static_cast<unsigned long long>(first_lsn));
  return buf;
}

std::optional<SegmentHeader> ParseSegmentFileName(std::string_view name) {
  // 8 hex + '-' + 16 hex + ".wal"
  if (name.size() != 8 + 1 + 16 + 4 || name[8] != '-' || name.substr(25) != ".wal") return std::nullopt;
  uint64_t timeline, lsn;
  if (!ParseLowerHex(name.substr(0, 8), &timeline) || !ParseLowerHex(name.substr(9, 16), &lsn)) return std::nullopt;
  if (timeline == 0 || lsn == 0) return std::nullopt;
  SegmentHeader h;
  h.timeline = static_cast<Timeline>(timeline);
  h.first_lsn = lsn;
  return h;
}

void EncodeSegmentHeader(const SegmentHeader& header, std::string* out) {
  const size_t start = out->size();
  out->append(kSegmentMagic);
  PutFixed32(out, header.version);
  PutFixed32(out, kSegmentHeaderSize);
  PutFixed32(out, header.timeline);
  PutFixed32(out, 0);
  PutFixed64(out, header.first_lsn);
  PutFixed64(out, header.created_micros);
  PutFixed64(out, Checksum64(std::string_view(*out).substr(start, 40)));
}

Status DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header) {
  if (bytes.size() < kSegmentHeaderSize) return Status::Corruption("truncated segment header");
  if (bytes.substr(0, 8) != kSegmentMagic) return Status::Corruption("bad segment magic");
  const char* p = bytes.data();
  if (DecodeFixed64(p + 40) != Checksum64(bytes.substr(0, 40))) {
    return Status::Corruption("bad segment header checksum");
  }
  const uint32_t version = DecodeFixed32(p + 8);
  if (version < kOldestReadableFormatVersion || version > kFormatVersion) {
    return Status::Corruption("unsupported WAL format version " + std::to_string(version) +
                              " (this build reads versions " + std::to_string(kOldestReadableFormatVersion) +
                              " to " + std::to_string(kFormatVersion) + ")");
  }
  if (DecodeFixed32(p + 12) != kSegmentHeaderSize) return Status::Corruption("bad segment header size");
  header->timeline = DecodeFixed32(p + 16);
  header->first_lsn = DecodeFixed64(p + 24);
  header->created_micros = DecodeFixed64(p + 32);
  header->version = version;
  if (header->timeline == 0 || header->first_lsn == 0) return Status::Corruption("zero timeline or LSN");
  return Status::OK();
}

void AppendRecord(const Record& record, std::string* out) {
  const size_t start = out->size();
  out->resize(start + kRecordHeaderSize);
  char* h = out->data() + start;
  EncodeFixed32(h + 8, static_cast<uint32_t>(record.payload.size()));
  h[12] = static_cast<char>(record.type);
  h[13] = h[14] = h[15] = 0;
  EncodeFixed64(h + 16, record.lsn);
  EncodeFixed64(h + 24, record.commit_micros);
  EncodeFixed64(h + 32, record.synced_lsn);
  out->append(record.payload);
  // One pass over the contiguous header tail + payload.
  const uint64_t sum = Checksum64(std::string_view(*out).substr(start + 8));
  EncodeFixed64(out->data() + start, sum);
}

void AppendSeal(Lsn next_lsn, uint64_t created_micros, std::string* out) {
  // Synced LSN: the segment's last record. The writer synced all of it before it created the successor.
  AppendRecord({next_lsn, created_micros, next_lsn - 1, RecordType::kSeal, std::string_view()}, out);
}

Status ParseRecord(std::string_view segment, size_t offset, Record* record, size_t* next_offset,
                   bool* truncated) {
  if (truncated != nullptr) *truncated = false;
  if (offset > segment.size() || segment.size() - offset < kRecordHeaderSize) {
    if (truncated != nullptr) *truncated = true;
    return Status::Corruption("truncated record header");
  }
  const char* h = segment.data() + offset;
  const uint32_t length = DecodeFixed32(h + 8);
  const auto type = static_cast<uint8_t>(h[12]);
  if (!IsKnownRecordType(type)) return Status::Corruption("unknown record type " + std::to_string(type));
  if (h[13] != 0 || h[14] != 0 || h[15] != 0) return Status::Corruption("nonzero reserved bytes");
  if (length > kMaxPayload) return Status::Corruption("payload length " + std::to_string(length) + " too large");
  if (segment.size() - offset - kRecordHeaderSize < length) {
    if (truncated != nullptr) *truncated = true;
    return Status::Corruption("truncated record payload");
  }
  const std::string_view covered = segment.substr(offset + 8, kRecordHeaderSize - 8 + length);
  if (DecodeFixed64(h) != Checksum64(covered)) return Status::Corruption("bad record checksum");
  record->lsn = DecodeFixed64(h + 16);
  record->commit_micros = DecodeFixed64(h + 24);
  record->synced_lsn = DecodeFixed64(h + 32);
  record->type = static_cast<RecordType>(type);
  record->payload = segment.substr(offset + kRecordHeaderSize, length);
  *next_offset = offset + kRecordHeaderSize + length;
  return Status::OK();
}

std::optional<size_t> FindNextValidRecord(std::string_view segment, size_t offset) {
  if (segment.size() < kRecordHeaderSize) return std::nullopt;
  const size_t last = segment.size() - kRecordHeaderSize;
  for (size_t pos = offset; pos <= last; pos++) {
    const char* h = segment.data() + pos;
    // Cheap plausibility first, so scanning a damaged megabyte costs little: known type, zero reserved
    // bytes, a payload that fits. Only then the checksum.
    if (!IsKnownRecordType(static_cast<uint8_t>(h[12])) || h[13] != 0 || h[14] != 0 || h[15] != 0) continue;
    if (DecodeFixed32(h + 8) > segment.size() - pos - kRecordHeaderSize) continue;
    Record r;
    size_t next;
    if (ParseRecord(segment, pos, &r, &next).ok()) return pos;
  }
  return std::nullopt;
}

}  // namespace savepoint::wal
