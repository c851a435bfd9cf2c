#include "wal/wal_reader.h"

#include <algorithm>

namespace savepoint::wal {

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kNotStarted: return "not started";
    case StopReason::kEndOfLog: return "end of log";
    case StopReason::kTornTail: return "torn tail";
    case StopReason::kCorruption: return "corruption";
    case StopReason::kIOError: return "I/O error";
  }
  return "unknown";
}

namespace {

class DirectorySource final : public SegmentSource {
 public:
  DirectorySource(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Result<std::vector<SegmentInfo>> list() override { return ListSegments(fs_, dir_); }
  Status load(const SegmentInfo& segment, std::string* bytes) override {
    return fs_->read_file(JoinPath(dir_, segment.name), bytes);
  }
  std::string describe(const SegmentInfo& segment) const override { return JoinPath(dir_, segment.name); }

 private:
  FileSystem* const fs_;
  const std::string dir_;
};

}  // namespace

std::unique_ptr<SegmentSource> NewDirectorySource(FileSystem* fs, std::string wal_dir) {
  return std::make_unique<DirectorySource>(fs, std::move(wal_dir));
}

Result<std::vector<SegmentInfo>> ListSegments(FileSystem* fs, const std::string& wal_dir) {
  SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(wal_dir));
  std::vector<SegmentInfo> segments;
  for (const std::string& name : names) {
    if (auto h = ParseSegmentFileName(name)) segments.push_back({name, h->timeline, h->first_lsn});
  }
  std::sort(segments.begin(), segments.end(), [](const SegmentInfo& a, const SegmentInfo& b) {
    return a.timeline != b.timeline ? a.timeline < b.timeline : a.first_lsn < b.first_lsn;
  });
  return segments;
}

Result<SealState> ReadSealState(FileSystem* fs, const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, fs->new_random_access_file(path));
  std::string head, tail;
  SP_RETURN_IF_ERROR(file->read(0, kSegmentHeaderSize, &head));
  SegmentHeader h;
  if (!DecodeSegmentHeader(head, &h).ok()) return SealState::kUnsealed;
  if (h.version < 2) return SealState::kVersion1;
  if (file->size() < kSegmentHeaderSize + kSealSize) return SealState::kUnsealed;
  SP_RETURN_IF_ERROR(file->read(file->size() - kSealSize, kSealSize, &tail));
  Record r;
  size_t next = 0;
  // A payload's last bytes could only pass for a seal by matching a 64-bit checksum as well.
  if (ParseRecord(tail, 0, &r, &next).ok() && r.type == RecordType::kSeal && r.payload.empty()) {
    return SealState::kSealed;
  }
  return SealState::kUnsealed;
}

Result<std::unique_ptr<WalReader>> WalReader::Open(FileSystem* fs, const std::string& wal_dir,
                                                   ReaderOptions options) {
  return Open(NewDirectorySource(fs, wal_dir), options);
}

Result<std::unique_ptr<WalReader>> WalReader::Open(std::unique_ptr<SegmentSource> source, ReaderOptions options) {
  std::unique_ptr<WalReader> reader(new WalReader(std::move(source), options));
  SP_RETURN_IF_ERROR(reader->init());
  return reader;
}

WalReader::WalReader(std::unique_ptr<SegmentSource> source, ReaderOptions options)
    : source_(std::move(source)), options_(options) {}

Status WalReader::init() {
  SP_ASSIGN_OR_RETURN(std::vector<SegmentInfo> all, source_->list());
  timeline_ = options_.timeline.value_or(0);
  if (!options_.timeline) {
    for (const SegmentInfo& s : all) timeline_ = std::max(timeline_, s.timeline);
  }
  for (SegmentInfo& s : all) {
    if (s.timeline == timeline_) segments_.push_back(std::move(s));
  }
  if (segments_.empty()) return Status::OK();  // an empty log: next() reports kEndOfLog at once
  if (options_.start_lsn < segments_.front().first_lsn && !options_.salvage) {
    return Status::NotFound("LSN " + std::to_string(options_.start_lsn) + " is no longer in the log: its oldest " +
                            "segment " + source_->describe(segments_.front()) + " starts at LSN " +
                            std::to_string(segments_.front().first_lsn));
  }
  // Start in the last segment whose first LSN is <= start_lsn.
  while (seg_index_ + 1 < segments_.size() && segments_[seg_index_ + 1].first_lsn <= options_.start_lsn) {
    seg_index_++;
  }
  return Status::OK();
}

bool WalReader::fail(StopReason reason, Status status) {
  done_ = true;
  stop_.reason = reason;
  if (seg_index_ < segments_.size()) stop_.segment = source_->describe(segments_[seg_index_]);
  stop_.offset = offset_;
  stop_.detail = status.message();
  status_ = std::move(status);
  return false;
}

bool WalReader::load_segment() {
  const SegmentInfo& seg = segments_[seg_index_];
  const std::string where = source_->describe(seg);
  offset_ = 0;
  sealed_ = cut_short_ = false;
  Status s = source_->load(seg, &buf_);
  if (!s.ok()) {
    return fail(s.IsCorruption() ? StopReason::kCorruption : StopReason::kIOError, s.WithContext("reading " + where));
  }
  loaded_ = true;

  SegmentHeader h;
  s = DecodeSegmentHeader(buf_, &h);
  if (!s.ok()) {
    // (Unless the segment before was sealed: its seal proves this header had been durable.)
    if (is_newest() && buf_.size() <= kSegmentHeaderSize && !previous_sealed_) {
      // The writer was creating this segment when it stopped: its header never became durable.
      done_ = true;
      stop_ = {StopReason::kTornTail, where, 0, buf_.size(), "segment creation cut short: " + s.message()};
      return false;
    }
    return handle_invalid(s, /*may_be_torn=*/false);
  }
  if (h.timeline != seg.timeline || h.first_lsn != seg.first_lsn) {
    return handle_invalid(Status::Corruption("segment header (timeline " + std::to_string(h.timeline) +
                                             ", first LSN " + std::to_string(h.first_lsn) +
                                             ") disagrees with its file name"),
                          false);
  }
  header_ = h;
  offset_ = kSegmentHeaderSize;
  if (expected_lsn_ != 0 && h.first_lsn != expected_lsn_) {
    Status gap = Status::Corruption("segment starts at LSN " + std::to_string(h.first_lsn) + " but LSN " +
                                    std::to_string(expected_lsn_) + " was expected (missing or overlapping " +
                                    "segment)");
    if (!options_.salvage) return fail(StopReason::kCorruption, gap.WithContext(where));
    skipped_.push_back({where, 0, 0, expected_lsn_, h.first_lsn, gap.message()});
  }
  expected_lsn_ = h.first_lsn;
  return true;
}

bool WalReader::handle_invalid(const Status& why, bool may_be_torn) {
  const std::string where = source_->describe(segments_[seg_index_]);
  if (may_be_torn && !is_newest() && header_.version >= 2 && buf_.size() - offset_ <= kSealSize &&
      rotation_cut_short()) {
    // A seal torn (cut, zeroed, garbled) by a crash between creating the next segment and sealing this one:
    // nothing follows it.
    cut_short_ = true;
    offset_ = buf_.size();
    return true;
  }
  if (may_be_torn && is_newest()) {
    // Damage in the newest segment is a torn tail unless a later valid record proves those bytes had been
    // durable (docs/wal_format.md, Recovery rules).
    bool durable_damage = false;
    size_t pos = offset_ + 1;
    while (auto p = FindNextValidRecord(buf_, pos)) {
      Record r;
      size_t next = 0;
      (void)ParseRecord(buf_, *p, &r, &next);
      if (expected_lsn_ != 0 && r.synced_lsn >= expected_lsn_) {
        durable_damage = true;
        break;
      }
      pos = next;
    }
    if (!durable_damage) {
      done_ = true;
      stop_ = {StopReason::kTornTail, where, offset_, buf_.size() - offset_, why.message()};
      return false;
    }
  }
  Status corruption = Status::Corruption(where + ": " + why.message() + " at offset " + std::to_string(offset_) +
                                         (expected_lsn_ != 0 ? " (expecting LSN " + std::to_string(expected_lsn_) + ")"
                                                             : std::string()));
  if (!options_.salvage) return fail(StopReason::kCorruption, corruption);

  SkippedRegion region{where, offset_, 0, expected_lsn_, 0, why.message()};
  if (auto p = FindNextValidRecord(buf_, offset_ + 1)) {
    Record r;
    size_t next = 0;
    (void)ParseRecord(buf_, *p, &r, &next);
    region.length = *p - offset_;
    region.resumed_lsn = r.lsn;
    expected_lsn_ = r.lsn;
    offset_ = *p;
  } else {
    region.length = buf_.size() - offset_;
    offset_ = buf_.size();
    expected_lsn_ = 0;  // unknown until the next segment's header
  }
  skipped_.push_back(std::move(region));
  return true;
}

bool WalReader::rotation_cut_short() {
  if (seg_index_ + 2 != segments_.size()) return false;
  std::string next;
  if (!source_->load(segments_[seg_index_ + 1], &next).ok()) return false;  // reported when it is read
  return next.size() <= kSegmentHeaderSize;
}

bool WalReader::handle_seal(const Record& seal, size_t end) {
  const std::string where = source_->describe(segments_[seg_index_]);
  if (header_.version < 2)
    return handle_invalid(Status::Corruption("seal record in a version-1 segment"), false);
  if (expected_lsn_ != 0 && seal.lsn != expected_lsn_) {
    return handle_invalid(Status::Corruption("seal names LSN " + std::to_string(seal.lsn)), false);
  }
  if (end != buf_.size()) {
    offset_ = end;
    return handle_invalid(Status::Corruption("bytes after the segment's seal"), false);
  }
  const size_t seal_offset = offset_;
  offset_ = end;
  sealed_ = true;
  if (!is_newest()) return true;
  if (!source_->holds_newest_segment()) {
    // The end of an archive: the successor is still in the live WAL.
    done_ = true;
    stop_ = {StopReason::kEndOfLog, where, offset_, 0, "sealed; later records are not archived yet"};
    return false;
  }
  Status lost =
      Status::Corruption(where + " was sealed and its successor starting at LSN " + std::to_string(seal.lsn) +
                         " (" + SegmentFileName(timeline_, seal.lsn) +
                         ") is missing: every record from LSN " + std::to_string(seal.lsn) + " on was lost");
  if (!options_.salvage) {
    offset_ = seal_offset;
    return fail(StopReason::kCorruption, lost);
  }
  skipped_.push_back({where, seal_offset, 0, seal.lsn, 0, lost.message()});
  done_ = true;
  stop_ = {StopReason::kEndOfLog, where, offset_, 0, lost.message()};
  return false;
}

bool WalReader::next(Record* record) {
  while (!done_) {
    if (seg_index_ >= segments_.size()) {
      done_ = true;
      stop_.reason = StopReason::kEndOfLog;
      return false;
    }
    if (!loaded_ && !load_segment()) return false;
    if (offset_ >= buf_.size()) {
      if (is_newest()) {
        done_ = true;
        stop_ = {StopReason::kEndOfLog, source_->describe(segments_[seg_index_]), offset_, 0, ""};
        return false;
      }
      if (header_.version >= 2 && !sealed_ && !cut_short_ && !rotation_cut_short()) {
        // A version-2 segment ends with its seal once its successor exists; only a rotation cut short
        // before the seal (its successor still empty) leaves it without one.
        // No record is lost by that alone (the next header's LSN is still checked), so salvage reads on.
        if (!options_.salvage) {
          return fail(StopReason::kCorruption,
                      Status::Corruption(source_->describe(segments_[seg_index_]) +
                                         ": segment ends without its seal at offset " +
                                         std::to_string(offset_) + " but a later segment holds records"));
        }
      }
      previous_sealed_ = sealed_;
      seg_index_++;
      loaded_ = false;
      continue;
    }
    Record r;
    size_t next = 0;
    Status s = ParseRecord(buf_, offset_, &r, &next);
    if (!s.ok()) {
      if (!handle_invalid(s, /*may_be_torn=*/true)) return false;
      continue;
    }
    if (r.type == RecordType::kSeal) {
      if (!handle_seal(r, next)) return false;
      continue;
    }
    if (expected_lsn_ != 0 && r.lsn != expected_lsn_) {
      // A checksummed record with the wrong LSN is never the result of a crash.
      if (!handle_invalid(Status::Corruption("record has LSN " + std::to_string(r.lsn)), false)) return false;
      continue;
    }
    offset_ = next;
    expected_lsn_ = r.lsn + 1;
    last_lsn_ = r.lsn;
    last_commit_micros_ = r.commit_micros;
    if (r.lsn >= options_.start_lsn) {
      *record = r;
      return true;
    }
  }
  return false;
}

}  // namespace savepoint::wal
