// make_wal_corpus: writes the seed inputs of wal_reader_fuzzer (fuzz/corpus/wal_reader/).
//
//   make_wal_corpus OUTPUT_DIR
//
// Seeds are real WalWriter output on an in-memory file system with a manual clock, so they are valid by the
// writer's own definition and the same on every run; a few are then damaged the ways a crash or a bad disk
// damages a log. Each file starts with the fuzzer's mode byte (see wal_reader_fuzzer.cc).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/corpus_seeds.h"
#include "savepoint/clock.h"
#include "savepoint/file_system.h"
#include "util/coding.h"
#include "wal/archive.h"
#include "wal/wal_writer.h"

namespace savepoint::wal {
namespace {

constexpr char kSingle = 0x00;
constexpr char kSplit = 0x01;
constexpr char kDir[] = "/wal";

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "make_wal_corpus: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

void Must(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

// One writer session: opens the log in kDir, appends `count` game-like records of every type, closes (which
// seals the segment). Returns nothing; the segments are read back from `fs`.
void WriteSession(FileSystem* fs, ManualClock* clock, int session, int count, Timeline timeline = 1,
                  Lsn first_lsn = 1) {
  WriterOptions options;
  options.timeline = timeline;
  options.first_lsn_if_empty = first_lsn;
  options.clock = clock;
  options.sync_interval = std::chrono::hours(1);  // no timer syncs: synced LSNs depend only on the appends
  auto writer = WalWriter::Open(fs, kDir, options);
  if (!writer.ok()) Die("open", writer.status());
  for (int i = 0; i < count; i++) {
    clock->advance_micros(1000);
    std::string payload;
    RecordType type = RecordType::kTransaction;
    Durability durability = i % 3 == 2 ? Durability::kSync : Durability::kRelaxed;
    switch (i % 7) {
      case 3:
        type = RecordType::kRestorePoint;
        payload = "before-boss-" + std::to_string(session);
        break;
      case 5:
        type = RecordType::kCheckpoint;
        PutFixed64(&payload, static_cast<uint64_t>(i));
        break;
      case 6:
        type = RecordType::kCatalogChange;
        payload = "create keyspace inventory" + std::to_string(session);
        break;
      default:
        payload = i % 2 == 0 ? "player " + std::to_string(40 + i) + " moved to (" + std::to_string(i * 3) +
                                   "," + std::to_string(i * 5) + ")"
                             : "trade " + std::to_string(i) + ": sword from A to B";
    }
    if (session == 0 && i == count - 1) {
      type = RecordType::kTimelineSwitch;
      payload.clear();
      PutFixed32(&payload, 2);
      PutFixed32(&payload, 1);
      PutFixed64(&payload, static_cast<uint64_t>(i));
    }
    auto appended = (*writer)->append(type, payload, durability);
    if (!appended.ok()) Die("append", appended.status());
  }
  Must((*writer)->close(), "close");
}

std::string Read(FileSystem* fs, const std::string& path) {
  std::string bytes;
  Must(fs->read_file(path, &bytes), "read " + path);
  return bytes;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_wal_corpus OUTPUT_DIR\n");
    return 2;
  }
  const std::string out_dir = argv[1];
  std::unique_ptr<FileSystem> mem = NewMemFileSystem();
  ManualClock clock;

  // Three sessions: segments 1, 2 and 3 hold records; a fourth, header-only segment is left by the last
  // close.
  WriteSession(mem.get(), &clock, 0, 9);
  WriteSession(mem.get(), &clock, 1, 6);
  WriteSession(mem.get(), &clock, 2, 5);
  auto segments = ListSegments(mem.get(), kDir);
  if (!segments.ok()) Die("list", segments.status());
  if (segments->size() != 4) Die("expected 4 segments, got " + std::to_string(segments->size()), Status());
  std::vector<std::string> seg;
  for (const SegmentInfo& s : *segments) seg.push_back(Read(mem.get(), JoinPath(kDir, s.name)));

  std::map<std::string, std::string> seeds;
  seeds["single_segment"] = kSingle + seg[0];
  seeds["two_segments"] = kSplit + seg[0] + seg[1];
  seeds["gap_between_segments"] = kSplit + seg[0] + seg[2];
  seeds["header_only"] = kSingle + seg[3];
  seeds["sealed_then_header_only"] = kSplit + seg[2] + seg[3];
  // A crash in the middle of the last write.
  seeds["torn_tail"] = kSingle + seg[0].substr(0, seg[0].size() - 11);
  // A flipped payload bit in record 1, which later records declare durable: corruption, salvage skips it.
  std::string flipped = seg[0];
  flipped[kSegmentHeaderSize + kRecordHeaderSize + 3] ^= 0x10;
  seeds["corrupt_first_record"] = kSingle + flipped;
  // Zeros where the last record's tail should be: what a power cut leaves when the size survived.
  std::string zeroed = seg[1];
  for (size_t i = zeroed.size() - 20; i < zeroed.size(); i++) zeroed[i] = '\0';
  seeds["zeroed_tail"] = kSingle + zeroed;

  // The first segment archived (LZ4 + archive header).
  auto archived = ArchiveSegment(mem.get(), JoinPath(kDir, (*segments)[0].name), "/archive");
  if (!archived.ok()) Die("archive", archived.status());
  seeds["archive"] = kSingle + Read(mem.get(), JoinPath("/archive/wal", archived->name));

  // Another timeline starting at LSN 100, named after its header.
  {
    std::unique_ptr<FileSystem> fs2 = NewMemFileSystem();
    WriteSession(fs2.get(), &clock, 3, 4, /*timeline=*/2, /*first_lsn=*/100);
    auto s2 = ListSegments(fs2.get(), kDir);
    if (!s2.ok() || s2->empty()) Die("list timeline 2", s2.ok() ? Status() : s2.status());
    seeds["timeline_2"] = kSingle + Read(fs2.get(), JoinPath(kDir, s2->front().name));
  }

  fuzz::WriteSeeds("make_wal_corpus", out_dir, seeds);
  return 0;
}

}  // namespace
}  // namespace savepoint::wal

int main(int argc, char** argv) { return savepoint::wal::Main(argc, argv); }
