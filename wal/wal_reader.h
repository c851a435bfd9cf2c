// WalReader: iterates the records of one timeline in LSN order across segments, applying the recovery rules of
// docs/wal_format.md: a torn tail is a clean end, damage before it is Corruption naming the segment and offset.
// In salvage mode it skips damaged regions instead, and reports each one.
//
// Segments come from a SegmentSource: a live WAL directory, or an archive directory of LZ4-compressed sealed
// segments (wal/archive.h), so recovery, PITR and the tools share one reader.
//
// Thread-safety: a WalReader is used by one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "savepoint/file_system.h"
#include "wal/format.h"

namespace savepoint::wal {

struct SegmentInfo {
  std::string name;  // "00000001-0000000000000001.wal"
  Timeline timeline = 0;
  Lsn first_lsn = 0;
};

// Where segments are listed and loaded from.
class SegmentSource {
 public:
  virtual ~SegmentSource() = default;
  // Every segment, sorted by (timeline, first LSN).
  virtual Result<std::vector<SegmentInfo>> list() = 0;
  // The segment's bytes as written by the WAL writer.
  virtual Status load(const SegmentInfo& segment, std::string* bytes) = 0;
  // "wal/00000001-0000000000000001.wal": how messages name a segment.
  virtual std::string describe(const SegmentInfo& segment) const = 0;
  // Whether the newest segment listed is the log's newest. True for a WAL directory, where a sealed newest
  // segment means its successor was lost; false for an archive, whose newest archived segment is sealed and
  // continues in the live WAL (docs/wal_format.md, Seals).
  virtual bool holds_newest_segment() const { return true; }
};

// The segments of a live WAL directory. `fs` must outlive the source.
std::unique_ptr<SegmentSource> NewDirectorySource(FileSystem* fs, std::string wal_dir);
Result<std::vector<SegmentInfo>> ListSegments(FileSystem* fs, const std::string& wal_dir);

// How a segment file ends, from its header and its last kSealSize bytes only (cheap on a large segment).
enum class SealState {
  kVersion1,  // a version-1 segment: never sealed
  kSealed,    // ends with a valid seal
  kUnsealed,  // version 2 without a seal at its end (or a header that does not decode)
};
Result<SealState> ReadSealState(FileSystem* fs, const std::string& path);

struct ReaderOptions {
  // First LSN to yield. Earlier records of its segment are read and validated, not yielded.
  Lsn start_lsn = 1;
  // Timeline to read. Default: the newest timeline present.
  std::optional<Timeline> timeline;
  // Skip damaged regions and go on, reporting them in skipped(), instead of stopping at Corruption.
  bool salvage = false;
};

enum class StopReason {
  kNotStarted,
  kEndOfLog,    // read everything; the last segment ended exactly after a valid record (or, in an archive, a
                // seal)
  kTornTail,    // the newest segment ends in bytes a crash can leave (not proven durable): a clean end
  kCorruption,  // damage in bytes that had been durable; status() names segment and offset
  kIOError,
};
const char* StopReasonName(StopReason reason);

struct StopInfo {
  StopReason reason = StopReason::kNotStarted;
  std::string segment;           // the segment where reading stopped (described), empty if there was none
  uint64_t offset = 0;           // where the last valid record of that segment ends (= where damage starts)
  uint64_t bytes_discarded = 0;  // torn tail: bytes from `offset` to the end of the segment
  std::string detail;            // the reason for a torn tail or corruption ("bad record checksum")
};

struct SkippedRegion {
  std::string segment;
  uint64_t offset = 0;
  uint64_t length = 0;
  Lsn expected_lsn = 0;  // the LSN that should have come next
  Lsn resumed_lsn = 0;   // the LSN read after the region; 0 if none in this segment
  std::string reason;
};

class WalReader {
 public:
  static Result<std::unique_ptr<WalReader>> Open(std::unique_ptr<SegmentSource> source, ReaderOptions options);
  static Result<std::unique_ptr<WalReader>> Open(FileSystem* fs, const std::string& wal_dir,
                                                 ReaderOptions options = {});

  // Moves to the next record with LSN >= start_lsn. Returns false at the end of the log or at an error;
  // then status() and stop() say which. The payload stays valid until the next call.
  bool next(Record* record);

  // OK after kEndOfLog or kTornTail; Corruption or IOError otherwise (including salvage finding nothing).
  const Status& status() const { return status_; }
  const StopInfo& stop() const { return stop_; }
  const std::vector<SkippedRegion>& skipped() const { return skipped_; }

  // The last valid record read (yielded or not); 0 when none.
  Lsn last_lsn() const { return last_lsn_; }
  uint64_t last_commit_micros() const { return last_commit_micros_; }
  Timeline timeline() const { return timeline_; }
  // The header of the last segment loaded (created time: never less than any earlier commit time).
  const SegmentHeader& segment_header() const { return header_; }
  // The segments being read, and the index of the current one.
  const std::vector<SegmentInfo>& segments() const { return segments_; }
  size_t segment_index() const { return seg_index_; }

 private:
  WalReader(std::unique_ptr<SegmentSource> source, ReaderOptions options);
  Status init();
  bool load_segment();                     // loads segments_[seg_index_] into buf_, validating its header
  // Applies the recovery rules to damage at offset_. `may_be_torn`: the damage is of a kind a crash can leave.
  // Returns true to go on reading (salvage skipped the region), false when reading stopped.
  bool handle_invalid(const Status& why, bool may_be_torn);
  bool fail(StopReason reason, Status status);
  bool is_newest() const { return seg_index_ + 1 == segments_.size(); }
  // The rotation was cut short between creating the next segment and sealing this one: the next segment is
  // the newest and holds no more than its header (docs/wal_format.md, Seals).
  bool rotation_cut_short();
  // Applies the seal just parsed at offset_ (ending at `end`). Returns true to go on reading.
  bool handle_seal(const Record& seal, size_t end);

  std::unique_ptr<SegmentSource> source_;
  const ReaderOptions options_;
  Timeline timeline_ = 0;
  std::vector<SegmentInfo> segments_;
  size_t seg_index_ = 0;
  bool loaded_ = false;  // buf_ holds segments_[seg_index_]
  bool done_ = false;
  std::string buf_;
  size_t offset_ = 0;
  SegmentHeader header_;
  bool sealed_ = false;     // the current segment ended with its seal
  bool cut_short_ = false;  // the current segment ended in a cut-short rotation (no seal, or a torn one)
  bool previous_sealed_ = false;  // the segment read before the current one ended with its seal
  Lsn expected_lsn_ = 0;  // 0 until the first segment header is read
  Lsn last_lsn_ = 0;
  uint64_t last_commit_micros_ = 0;
  Status status_;
  StopInfo stop_;
  std::vector<SkippedRegion> skipped_;
};

}  // namespace savepoint::wal
