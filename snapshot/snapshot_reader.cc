#include "snapshot/snapshot_reader.h"

#include <algorithm>

#include "util/checksum.h"
#include "util/coding.h"

namespace savepoint::snapshot {

namespace {
constexpr uint64_t kReadChunk = 1u << 20;
}  // namespace

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(FileSystem* fs, const std::string& path) {
  auto file = fs->new_random_access_file(path);
  if (!file.ok()) return file.status().WithContext("opening snapshot " + path);
  std::unique_ptr<SnapshotReader> r(new SnapshotReader(path, std::move(file).value()));
  SP_RETURN_IF_ERROR(r->open());
  return r;
}

SnapshotReader::SnapshotReader(std::string path, std::unique_ptr<RandomAccessFile> file)
    : path_(std::move(path)), file_(std::move(file)), file_size_(file_->size()) {}

Status SnapshotReader::corrupt(const std::string& reason, uint64_t offset) const {
  return Status::Corruption(path_ + ": " + reason + " at offset " + std::to_string(offset));
}

Status SnapshotReader::read_exact(uint64_t offset, uint64_t n, std::string_view* out) {
  if (offset > file_size_ || n > file_size_ - offset) {
    return corrupt("truncated: " + std::to_string(n) + " bytes needed, the file has " +
                       std::to_string(file_size_),
                   std::min(offset, file_size_));
  }
  if (offset < buf_offset_ || offset + n > buf_offset_ + buf_.size()) {
    const uint64_t want = std::min(std::max(n, kReadChunk), file_size_ - offset);
    Status s = file_->read(offset, static_cast<size_t>(want), &buf_);
    buf_offset_ = offset;
    if (!s.ok()) {
      buf_.clear();
      return s.WithContext("reading snapshot " + path_);
    }
    if (buf_.size() < n) {
      return corrupt("truncated while reading (the file shrank?)", offset + buf_.size());
    }
  }
  *out = std::string_view(buf_).substr(static_cast<size_t>(offset - buf_offset_), static_cast<size_t>(n));
  return Status::OK();
}

Status SnapshotReader::open() {
  std::string_view bytes;
  const uint64_t head = std::min<uint64_t>(file_size_, kHeaderFixedSize);
  SP_RETURN_IF_ERROR(read_exact(0, head, &bytes));
  const size_t magic_bytes = std::min<size_t>(bytes.size(), kMagic.size());
  if (bytes.substr(0, magic_bytes) != kMagic.substr(0, magic_bytes)) {
    return corrupt("not a savepoint snapshot: bad magic", 0);
  }
  if (file_size_ < kMinFileSize) {
    return corrupt("truncated: " + std::to_string(file_size_) + " bytes, less than the smallest snapshot (" +
                       std::to_string(kMinFileSize) + " bytes)",
                   file_size_);
  }
  header_size_ = HeaderSize(bytes);
  if (header_size_ > file_size_ - 1 - kTrailerSize) {
    return corrupt("truncated: the header's catalog size (" + std::to_string(header_size_ - kHeaderFixedSize - 8) +
                       " bytes) runs into the end of the file",
                   32);
  }
  SP_RETURN_IF_ERROR(read_exact(0, header_size_, &bytes));
  Status s = DecodeHeader(bytes, &header_);
  if (s.IsInvalidArgument()) return s.WithContext(path_);
  if (!s.ok()) return Status::Corruption(path_ + ": " + s.message());

  const uint64_t trailer_at = file_size_ - kTrailerSize;
  SP_RETURN_IF_ERROR(read_exact(trailer_at, kTrailerSize, &bytes));
  if (!DecodeTrailer(bytes, &trailer_).ok()) {
    return corrupt("bad end magic (truncated or not a whole snapshot)", trailer_at + 24);
  }
  if (trailer_.index_offset < header_size_ || trailer_.index_offset > trailer_at ||
      trailer_.index_size != trailer_at - trailer_.index_offset || trailer_.index_size == 0) {
    return corrupt("trailer's index position (offset " + std::to_string(trailer_.index_offset) + ", " +
                       std::to_string(trailer_.index_size) + " bytes) does not fit the file",
                   trailer_at);
  }
  SP_RETURN_IF_ERROR(read_exact(trailer_.index_offset, trailer_.index_size, &bytes));
  if (Checksum64(bytes) != trailer_.index_checksum) return corrupt("bad index checksum", trailer_.index_offset);
  s = DecodeIndex(bytes, &sections_);
  if (!s.ok()) return corrupt(s.message(), trailer_.index_offset);
  uint64_t expected = header_size_;
  for (size_t i = 0; i < sections_.size(); i++) {
    const SectionInfo& sec = sections_[i];
    if (i > 0 && sec.keyspace_id <= sections_[i - 1].keyspace_id) {
      return corrupt("index: sections not in ascending keyspace id", trailer_.index_offset);
    }
    if (sec.offset != expected || sec.length > trailer_.index_offset - sec.offset) {
      return corrupt("index: section of keyspace " + std::to_string(sec.keyspace_id) + " (offset " +
                         std::to_string(sec.offset) + ", " + std::to_string(sec.length) +
                         " bytes) is not where the previous one ended",
                     trailer_.index_offset);
    }
    if (sec.blocks > sec.length / kBlockHeaderSize || sec.rows < sec.blocks || (sec.length > 0) != (sec.blocks > 0)) {
      return corrupt("index: section of keyspace " + std::to_string(sec.keyspace_id) +
                         " has impossible block or row counts",
                     trailer_.index_offset);
    }
    expected = sec.offset + sec.length;
  }
  if (expected != trailer_.index_offset) {
    return corrupt("index: sections end at offset " + std::to_string(expected) + ", not at the index",
                   trailer_.index_offset);
  }
  return Status::OK();
}

uint64_t SnapshotReader::rows() const {
  uint64_t n = 0;
  for (const SectionInfo& s : sections_) n += s.rows;
  return n;
}

uint64_t SnapshotReader::data_bytes() const {
  uint64_t n = 0;
  for (const SectionInfo& s : sections_) n += s.data_bytes;
  return n;
}

Status SnapshotReader::read_all(const RowFn& on_row) {
  StreamingChecksum sum;
  std::string_view bytes;
  SP_RETURN_IF_ERROR(read_exact(0, header_size_, &bytes));
  sum.update(bytes);
  std::string last_key;
  for (const SectionInfo& sec : sections_) {
    const uint64_t end = sec.offset + sec.length;
    uint64_t pos = sec.offset, blocks = 0, rows = 0, data_bytes = 0;
    bool has_last = false;
    while (pos < end) {
      const std::string where = " (keyspace " + std::to_string(sec.keyspace_id) + ", block " +
                                std::to_string(blocks) + ")";
      if (end - pos < kBlockHeaderSize) return corrupt("block header runs past its section" + where, pos);
      SP_RETURN_IF_ERROR(read_exact(pos, kBlockHeaderSize, &bytes));
      BlockHeader h;
      Status s = DecodeBlockHeader(bytes, &h);
      if (!s.ok()) {
        // Say "checksum" when the header's own bytes are damaged, which is what happened.
        std::string_view stored;
        const uint64_t n = DecodeFixed32(bytes.data() + 16);
        if (n <= end - pos - kBlockHeaderSize && read_exact(pos, kBlockHeaderSize + n, &stored).ok() &&
            !BlockChecksumMatches(stored.substr(0, kBlockHeaderSize), stored.substr(kBlockHeaderSize))) {
          return corrupt("bad block checksum" + where, pos);
        }
        return corrupt(s.message() + where, pos);
      }
      if (h.stored_size > end - pos - kBlockHeaderSize) {
        return corrupt("block of " + std::to_string(h.stored_size) + " bytes runs past its section" + where, pos);
      }
      SP_RETURN_IF_ERROR(read_exact(pos, kBlockHeaderSize + h.stored_size, &bytes));
      const std::string_view stored = bytes.substr(kBlockHeaderSize);
      if (!BlockChecksumMatches(bytes.substr(0, kBlockHeaderSize), stored)) {
        return corrupt("bad block checksum" + where, pos);
      }
      if (h.keyspace_id != sec.keyspace_id) {
        return corrupt("block of keyspace " + std::to_string(h.keyspace_id) + " in the section of keyspace " +
                           std::to_string(sec.keyspace_id),
                       pos);
      }
      sum.update(bytes);
      std::string_view raw;
      s = DecodePayload(h, stored, &scratch_, &raw);
      if (!s.ok()) return corrupt(s.message() + where, pos);
      Decoder d(raw);
      for (uint32_t i = 0; i < h.rows; i++) {
        uint32_t ks = 0, vs = 0;
        std::string_view key, value;
        if (!d.GetVarint32(&ks) || !d.GetBytes(ks, &key) || !d.GetVarint32(&vs) || !d.GetBytes(vs, &value)) {
          return corrupt("malformed row " + std::to_string(i) + where, pos);
        }
        if (has_last && std::string_view(last_key) >= key) {
          return corrupt("keys out of order in row " + std::to_string(i) + where, pos);
        }
        last_key.assign(key);
        has_last = true;
        rows++;
        data_bytes += key.size() + value.size();
        if (on_row) SP_RETURN_IF_ERROR(on_row(sec, key, value));
      }
      if (!d.empty()) return corrupt("block has bytes after its last row" + where, pos);
      blocks++;
      pos += kBlockHeaderSize + h.stored_size;
    }
    if (blocks != sec.blocks || rows != sec.rows || data_bytes != sec.data_bytes) {
      return corrupt("section of keyspace " + std::to_string(sec.keyspace_id) + " holds " +
                         std::to_string(blocks) + " blocks, " + std::to_string(rows) + " rows, " +
                         std::to_string(data_bytes) + " data bytes; the index says " +
                         std::to_string(sec.blocks) + ", " + std::to_string(sec.rows) + ", " +
                         std::to_string(sec.data_bytes),
                     trailer_.index_offset);
    }
  }
  SP_RETURN_IF_ERROR(read_exact(trailer_.index_offset, file_size_ - 8 - trailer_.index_offset, &bytes));
  sum.update(bytes);
  if (sum.digest() != trailer_.file_checksum) return corrupt("whole-file checksum mismatch", file_size_ - 8);
  return Status::OK();
}

Status ReadSnapshotHeader(FileSystem* fs, const std::string& path, Header* header) {
  SP_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> r, SnapshotReader::Open(fs, path));
  *header = r->header();
  return Status::OK();
}

}  // namespace savepoint::snapshot
