#include "wal/archive.h"

#include <lz4.h>

#include <algorithm>

#include "savepoint/crash_point.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace savepoint::wal {

namespace {

constexpr std::string_view kArchiveSuffix = ".lz4";
constexpr std::string_view kTempSuffix = ".tmp";

std::string ArchiveWalDir(const std::string& archive_dir) { return JoinPath(archive_dir, "wal"); }

void EncodeArchiveHeader(const ArchivedSegment& a, std::string* out) {
  const size_t start = out->size();
  out->append(kArchiveMagic);
  PutFixed32(out, kArchiveFormatVersion);
  PutFixed32(out, a.timeline);
  PutFixed64(out, a.first_lsn);
  PutFixed64(out, a.last_lsn);
  PutFixed64(out, a.first_commit_micros);
  PutFixed64(out, a.last_commit_micros);
  PutFixed64(out, a.segment_size);
  PutFixed64(out, a.segment_checksum);
  PutFixed64(out, a.compressed_size);
  PutFixed64(out, Checksum64(std::string_view(*out).substr(start, 72)));
}

Status DecodeArchiveHeader(std::string_view bytes, ArchivedSegment* a) {
  if (bytes.size() < kArchiveHeaderSize) return Status::Corruption("truncated archive header");
  if (bytes.substr(0, 8) != kArchiveMagic) return Status::Corruption("bad archive magic");
  const char* p = bytes.data();
  if (DecodeFixed64(p + 72) != Checksum64(bytes.substr(0, 72))) {
    return Status::Corruption("bad archive header checksum");
  }
  if (DecodeFixed32(p + 8) != kArchiveFormatVersion) {
    return Status::Corruption("unsupported archive format version " + std::to_string(DecodeFixed32(p + 8)));
  }
  a->timeline = DecodeFixed32(p + 12);
  a->first_lsn = DecodeFixed64(p + 16);
  a->last_lsn = DecodeFixed64(p + 24);
  a->first_commit_micros = DecodeFixed64(p + 32);
  a->last_commit_micros = DecodeFixed64(p + 40);
  a->segment_size = DecodeFixed64(p + 48);
  a->segment_checksum = DecodeFixed64(p + 56);
  a->compressed_size = DecodeFixed64(p + 64);
  return Status::OK();
}

// Validates a whole sealed segment and fills in its ranges.
Status DescribeSegment(std::string_view bytes, const std::string& where, ArchivedSegment* a) {
  SegmentHeader h;
  Status s = DecodeSegmentHeader(bytes, &h);
  if (!s.ok()) return s.WithContext(where);
  a->timeline = h.timeline;
  a->first_lsn = h.first_lsn;
  a->last_lsn = h.first_lsn - 1;
  size_t offset = kSegmentHeaderSize;
  bool sealed = false;
  while (offset < bytes.size()) {
    Record r;
    size_t next = 0;
    s = ParseRecord(bytes, offset, &r, &next);
    if (s.ok() && r.lsn != a->last_lsn + 1) s = Status::Corruption("record has LSN " + std::to_string(r.lsn));
    if (s.ok() && r.type == RecordType::kSeal) {
      if (h.version < 2) s = Status::Corruption("seal record in a version-1 segment");
      if (s.ok() && next != bytes.size()) s = Status::Corruption("bytes after the segment's seal");
      if (s.ok()) {
        sealed = true;  // takes no LSN
        offset = next;
        continue;
      }
    }
    if (!s.ok()) {
      return Status::Corruption(where + ": " + s.message() + " at offset " + std::to_string(offset) +
                                " (a sealed segment must be whole)");
    }
    if (r.lsn == h.first_lsn) a->first_commit_micros = r.commit_micros;
    a->last_lsn = r.lsn;
    a->last_commit_micros = r.commit_micros;
    offset = next;
  }
  if (h.version >= 2 && !sealed) {
    // Its successor's existence is what the seal records; archived without it, the archive could not tell
    // a lost successor from the end of the archive.
    return Status::Corruption(where +
                              ": the segment is not sealed (a version-2 segment is archived once sealed)");
  }
  a->segment_size = bytes.size();
  a->segment_checksum = Checksum64(bytes);
  return Status::OK();
}

class ArchiveSource final : public SegmentSource {
 public:
  ArchiveSource(FileSystem* fs, std::string archive_dir) : fs_(fs), dir_(ArchiveWalDir(archive_dir)) {}
  Result<std::vector<SegmentInfo>> list() override {
    SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->list_dir(dir_));
    std::vector<SegmentInfo> out;
    for (const std::string& name : names) {
      if (name.size() <= kArchiveSuffix.size() || !name.ends_with(kArchiveSuffix)) continue;
      std::string seg = name.substr(0, name.size() - kArchiveSuffix.size());
      if (auto h = ParseSegmentFileName(seg)) out.push_back({seg, h->timeline, h->first_lsn});
    }
    std::sort(out.begin(), out.end(), [](const SegmentInfo& a, const SegmentInfo& b) {
      return a.timeline != b.timeline ? a.timeline < b.timeline : a.first_lsn < b.first_lsn;
    });
    return out;
  }
  Status load(const SegmentInfo& segment, std::string* bytes) override {
    return ReadArchivedSegment(fs_, path_of(segment), bytes);
  }
  std::string describe(const SegmentInfo& segment) const override { return path_of(segment); }
  bool holds_newest_segment() const override { return false; }

 private:
  std::string path_of(const SegmentInfo& s) const { return JoinPath(dir_, s.name + std::string(kArchiveSuffix)); }
  FileSystem* const fs_;
  const std::string dir_;
};

}  // namespace

Status ReadArchivedSegment(FileSystem* fs, const std::string& archive_path, std::string* segment,
                           ArchivedSegment* info) {
  std::string file;
  SP_RETURN_IF_ERROR(fs->read_file(archive_path, &file));
  ArchivedSegment a;
  Status s = DecodeArchiveHeader(file, &a);
  if (!s.ok()) return s.WithContext(archive_path);
  // Check the sizes before allocating anything: a damaged or hostile header must not make us allocate
  // gigabytes. LZ4 expands at most ~255x, and archived segments are below 2 GiB (ArchiveSegment refuses more).
  if (a.compressed_size != file.size() - kArchiveHeaderSize || a.segment_size > (1ull << 31) ||
      a.segment_size > a.compressed_size * 255 + 16 ||
      a.compressed_size > static_cast<uint64_t>(LZ4_compressBound(static_cast<int>(a.segment_size)))) {
    return Status::Corruption(archive_path + ": archive sizes disagree with the file (" +
                              std::to_string(file.size()) + " bytes)");
  }
  segment->resize(a.segment_size);
  const int n = LZ4_decompress_safe(file.data() + kArchiveHeaderSize, segment->data(),
                                    static_cast<int>(a.compressed_size), static_cast<int>(a.segment_size));
  if (n < 0 || static_cast<uint64_t>(n) != a.segment_size) {
    return Status::Corruption(archive_path + ": LZ4 data does not decompress to the recorded size");
  }
  if (Checksum64(*segment) != a.segment_checksum) {
    return Status::Corruption(archive_path + ": decompressed segment checksum mismatch");
  }
  if (info != nullptr) {
    *info = a;
    std::string_view base = archive_path;
    if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
    info->name = std::string(base);
  }
  return Status::OK();
}

Result<ArchivedSegment> ArchiveSegment(FileSystem* fs, const std::string& segment_path,
                                       const std::string& archive_dir) {
  std::string_view seg_name = segment_path;
  if (auto slash = seg_name.rfind('/'); slash != std::string_view::npos) seg_name.remove_prefix(slash + 1);
  if (!ParseSegmentFileName(seg_name)) return Status::InvalidArgument(segment_path + " is not a WAL segment");

  std::string bytes;
  SP_RETURN_IF_ERROR(fs->read_file(segment_path, &bytes));
  if (bytes.size() > (1ull << 31)) return Status::InvalidArgument(segment_path + " is too large to archive");
  ArchivedSegment a;
  SP_RETURN_IF_ERROR(DescribeSegment(bytes, segment_path, &a));
  a.name = std::string(seg_name) + std::string(kArchiveSuffix);

  std::string out;
  const int bound = LZ4_compressBound(static_cast<int>(bytes.size()));
  std::string compressed(static_cast<size_t>(bound), '\0');
  const int n = LZ4_compress_default(bytes.data(), compressed.data(), static_cast<int>(bytes.size()), bound);
  if (n <= 0) return Status::IOError("LZ4 compression of " + segment_path + " failed");
  a.compressed_size = static_cast<uint64_t>(n);
  EncodeArchiveHeader(a, &out);
  out.append(compressed.data(), static_cast<size_t>(n));

  const std::string dir = ArchiveWalDir(archive_dir);
  const std::string final_path = JoinPath(dir, a.name);
  SP_RETURN_IF_ERROR(fs->create_dirs(dir));
  if (fs->file_exists(final_path)) {
    // Already archived (a retry after a crash or a second checkpoint)? Same segment: success.
    std::string existing;
    ArchivedSegment old;
    Status s = ReadArchivedSegment(fs, final_path, &existing, &old);
    if (s.ok() && old.segment_checksum == a.segment_checksum && existing == bytes) return old;
    return Status::InvalidArgument("archive " + final_path + " already holds a different segment (" +
                                   (s.ok() ? "content differs" : s.ToString()) +
                                   "); refusing to overwrite it");
  }

  const std::string temp_path = final_path + std::string(kTempSuffix);
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs->new_writable_file(temp_path));
  Status s = f->append(out);
  SP_CRASH_POINT("archive.after_temp_write");
  if (s.ok()) s = f->sync();
  if (s.ok()) s = f->close();
  SP_CRASH_POINT("archive.after_temp_sync");
  if (s.ok()) s = fs->rename_file(temp_path, final_path);
  SP_CRASH_POINT("archive.after_rename");
  if (s.ok()) s = fs->sync_dir(dir);
  if (!s.ok()) {
    (void)fs->remove_file(temp_path);
    return s.WithContext("archiving " + segment_path);
  }
  return a;
}

Result<std::vector<ArchivedSegment>> ListArchivedSegments(FileSystem* fs, const std::string& archive_dir) {
  const std::string dir = ArchiveWalDir(archive_dir);
  if (!fs->file_exists(dir)) return std::vector<ArchivedSegment>{};
  SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(dir));
  std::vector<ArchivedSegment> out;
  for (const std::string& name : names) {
    if (!name.ends_with(kArchiveSuffix)) continue;  // skips *.tmp left by an interrupted archiving
    std::string header;
    SP_RETURN_IF_ERROR(fs->read_file(JoinPath(dir, name), &header));
    ArchivedSegment a;
    Status s = DecodeArchiveHeader(header, &a);
    if (!s.ok()) return s.WithContext(JoinPath(dir, name));
    a.name = name;
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const ArchivedSegment& x, const ArchivedSegment& y) {
    return x.timeline != y.timeline ? x.timeline < y.timeline : x.first_lsn < y.first_lsn;
  });
  return out;
}

std::unique_ptr<SegmentSource> NewArchiveSource(FileSystem* fs, std::string archive_dir) {
  return std::make_unique<ArchiveSource>(fs, std::move(archive_dir));
}

}  // namespace savepoint::wal
