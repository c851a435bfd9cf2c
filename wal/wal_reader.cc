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
  Status s = source_->load(seg, &buf_);
  if (!s.ok()) {
    return fail(s.IsCorruption() ? StopReason::kCorruption : StopReason::kIOError, s.WithContext("reading " + where));
  }
  loaded_ = true;

  SegmentHeader h;
  s = DecodeSegmentHeader(buf_, &h);
  if (!s.ok()) {
    if (is_newest() && buf_.size() <= kSegmentHeaderSize) {
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
