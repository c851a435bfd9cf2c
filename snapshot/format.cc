#include "snapshot/format.h"

#include <lz4.h>
#include <xxhash.h>

#include <cstdio>

#include "util/checksum.h"
#include "util/coding.h"

namespace savepoint::snapshot {

std::string SnapshotFileName(uint32_t timeline, uint64_t lsn) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-%016llx.snap", timeline, static_cast<unsigned long long>(lsn));
  return buf;
}

std::optional<NameParts> ParseSnapshotFileName(std::string_view name) {
  if (name.size() != 8 + 1 + 16 + kSuffix.size() || name[8] != '-' || name.substr(25) != kSuffix) {
    return std::nullopt;
  }
  uint64_t timeline, lsn;
  if (!ParseLowerHex(name.substr(0, 8), &timeline) || !ParseLowerHex(name.substr(9, 16), &lsn)) return std::nullopt;
  if (timeline == 0) return std::nullopt;
  return NameParts{static_cast<uint32_t>(timeline), lsn};
}

void EncodeHeader(const Header& header, std::string* out) {
  const size_t start = out->size();
  out->append(kMagic);
  PutFixed32(out, header.version);
  PutFixed32(out, header.timeline);
  PutFixed64(out, header.lsn);
  PutFixed64(out, header.created_micros);
  PutFixed32(out, static_cast<uint32_t>(header.catalog.size()));
  out->append(header.catalog);
  PutFixed64(out, Checksum64(std::string_view(*out).substr(start)));
}

uint64_t HeaderSize(std::string_view fixed_part) {
  return kHeaderFixedSize + uint64_t{DecodeFixed32(fixed_part.data() + 32)} + 8;
}

Status DecodeHeader(std::string_view bytes, Header* header) {
  if (bytes.size() < kHeaderFixedSize) return Status::Corruption("truncated header at offset 0");
  if (bytes.substr(0, 8) != kMagic) {
    return Status::Corruption("not a savepoint snapshot: bad magic at offset 0");
  }
  const char* p = bytes.data();
  const uint64_t catalog_size = DecodeFixed32(p + 32);
  if (catalog_size > kMaxCatalogBytes) {
    return Status::Corruption("catalog size " + std::to_string(catalog_size) + " exceeds the limit at offset 32");
  }
  const uint64_t size = kHeaderFixedSize + catalog_size + 8;
  if (bytes.size() < size) {
    return Status::Corruption("truncated header: catalog size " + std::to_string(catalog_size) +
                              " runs past the end of the file at offset 32");
  }
  const size_t sum_at = kHeaderFixedSize + static_cast<size_t>(catalog_size);
  if (DecodeFixed64(p + sum_at) != Checksum64(bytes.substr(0, sum_at))) {
    return Status::Corruption("bad header checksum at offset " + std::to_string(sum_at));
  }
  header->version = DecodeFixed32(p + 8);
  if (header->version != kFormatVersion) {
    if (header->version > kFormatVersion) {
      return Status::InvalidArgument("written by a newer savepoint (snapshot format " +
                                     std::to_string(header->version) + "); this build reads format " +
                                     std::to_string(kFormatVersion));
    }
    return Status::Corruption("unknown snapshot format version " + std::to_string(header->version) +
                              " at offset 8");
  }
  header->timeline = DecodeFixed32(p + 12);
  if (header->timeline == 0) return Status::Corruption("timeline 0 at offset 12");
  header->lsn = DecodeFixed64(p + 16);
  header->created_micros = DecodeFixed64(p + 24);
  header->catalog.assign(p + kHeaderFixedSize, static_cast<size_t>(catalog_size));
  return Status::OK();
}

void AppendBlock(const BlockHeader& header, std::string_view stored, std::string* out) {
  const size_t start = out->size();
  PutFixed64(out, 0);  // checksum, filled in below
  PutFixed32(out, header.keyspace_id);
  out->push_back(static_cast<char>(header.compression));
  out->append(3, '\0');
  PutFixed32(out, static_cast<uint32_t>(stored.size()));
  PutFixed32(out, header.raw_size);
  PutFixed32(out, header.rows);
  PutFixed32(out, 0);
  const uint64_t sum = Checksum64(std::string_view(*out).substr(start + 8, kBlockHeaderSize - 8), stored);
  EncodeFixed64(out->data() + start, sum);
  out->append(stored);
}

Status DecodeBlockHeader(std::string_view bytes, BlockHeader* header) {
  const char* p = bytes.data();
  header->keyspace_id = DecodeFixed32(p + 8);
  const auto compression = static_cast<uint8_t>(p[12]);
  if (compression > 1) return Status::Corruption("unknown block compression " + std::to_string(compression));
  header->compression = static_cast<Compression>(compression);
  if (p[13] != 0 || p[14] != 0 || p[15] != 0 || DecodeFixed32(p + 28) != 0) {
    return Status::Corruption("nonzero reserved bytes in block header");
  }
  header->stored_size = DecodeFixed32(p + 16);
  header->raw_size = DecodeFixed32(p + 20);
  header->rows = DecodeFixed32(p + 24);
  if (header->stored_size > kMaxBlockBytes || header->raw_size > kMaxBlockBytes) {
    return Status::Corruption("block sizes exceed the limit");
  }
  if (header->rows == 0) return Status::Corruption("block with no rows");
  if (header->compression == Compression::kNone && header->stored_size != header->raw_size) {
    return Status::Corruption("uncompressed block whose stored and raw sizes differ");
  }
  return Status::OK();
}

bool BlockChecksumMatches(std::string_view header_bytes, std::string_view stored) {
  return DecodeFixed64(header_bytes.data()) == Checksum64(header_bytes.substr(8, kBlockHeaderSize - 8), stored);
}

void AppendRow(std::string_view key, std::string_view value, std::string* raw) {
  PutVarint32(raw, static_cast<uint32_t>(key.size()));
  raw->append(key);
  PutVarint32(raw, static_cast<uint32_t>(value.size()));
  raw->append(value);
}

Status DecodePayload(const BlockHeader& header, std::string_view stored, std::string* scratch,
                     std::string_view* raw) {
  if (header.compression == Compression::kNone) {
    *raw = stored;
    return Status::OK();
  }
  // LZ4 expands at most ~255x; a raw size beyond that is a damaged header, not worth allocating for.
  if (uint64_t{header.raw_size} > uint64_t{header.stored_size} * 255 + 16) {
    return Status::Corruption("LZ4 block raw size is impossible for its stored size");
  }
  scratch->resize(header.raw_size);
  const int n = LZ4_decompress_safe(stored.data(), scratch->data(), static_cast<int>(stored.size()),
                                    static_cast<int>(header.raw_size));
  if (n < 0 || static_cast<uint32_t>(n) != header.raw_size) {
    return Status::Corruption("LZ4 block does not decompress to its raw size");
  }
  *raw = *scratch;
  return Status::OK();
}

void EncodeIndex(const std::vector<SectionInfo>& sections, std::string* out) {
  PutVarint32(out, static_cast<uint32_t>(sections.size()));
  for (const SectionInfo& s : sections) {
    PutVarint32(out, s.keyspace_id);
    PutVarint64(out, s.offset);
    PutVarint64(out, s.length);
    PutVarint64(out, s.blocks);
    PutVarint64(out, s.rows);
    PutVarint64(out, s.data_bytes);
  }
}

Status DecodeIndex(std::string_view bytes, std::vector<SectionInfo>* sections) {
  Decoder d(bytes);
  uint32_t n = 0;
  if (!d.GetVarint32(&n)) return Status::Corruption("malformed index: section count");
  // Each entry takes at least 6 bytes: a count beyond that is damage, not a reason to allocate.
  if (n > bytes.size() / 6) return Status::Corruption("malformed index: " + std::to_string(n) + " sections");
  sections->clear();
  sections->reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    SectionInfo s;
    if (!d.GetVarint32(&s.keyspace_id) || !d.GetVarint64(&s.offset) || !d.GetVarint64(&s.length) ||
        !d.GetVarint64(&s.blocks) || !d.GetVarint64(&s.rows) || !d.GetVarint64(&s.data_bytes)) {
      return Status::Corruption("malformed index entry " + std::to_string(i));
    }
    sections->push_back(s);
  }
  if (!d.empty()) return Status::Corruption("malformed index: trailing bytes");
  return Status::OK();
}

void EncodeTrailerPrefix(const Trailer& trailer, std::string* out) {
  PutFixed64(out, trailer.index_offset);
  PutFixed64(out, trailer.index_size);
  PutFixed64(out, trailer.index_checksum);
  out->append(kEndMagic);
}

Status DecodeTrailer(std::string_view bytes, Trailer* trailer) {
  const char* p = bytes.data();
  if (bytes.substr(24, 8) != kEndMagic) return Status::Corruption("bad end magic");
  trailer->index_offset = DecodeFixed64(p);
  trailer->index_size = DecodeFixed64(p + 8);
  trailer->index_checksum = DecodeFixed64(p + 16);
  trailer->file_checksum = DecodeFixed64(p + 32);
  return Status::OK();
}

StreamingChecksum::StreamingChecksum() : state_(XXH3_createState()) {
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}
StreamingChecksum::~StreamingChecksum() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void StreamingChecksum::update(std::string_view data) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}
uint64_t StreamingChecksum::digest() const { return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_)); }

}  // namespace savepoint::snapshot
