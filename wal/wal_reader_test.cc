// The reader's recovery rules (docs/wal_format.md): round trips, torn tails at every byte, corruption in the
// middle, salvage. Segments are built by hand (as LevelDB's log_test does) or by the writer, on the in-memory
// file system.
#include "wal/wal_reader.h"

#include <gtest/gtest.h>

#include <random>

#include "savepoint/file_system.h"
#include "tests/testutil.h"
#include "wal/wal_writer.h"

namespace savepoint::wal {
namespace {

struct Rec {
  std::string payload;
  Lsn synced = 0;
  RecordType type = RecordType::kTransaction;
};

// A segment by hand, version 1 (no seals) unless told otherwise: most tests here are about the rules every
// version shares. `sealed`: a version-2 segment ending with its seal.
std::string BuildSegment(Timeline tl, Lsn first, const std::vector<Rec>& recs,
                         std::vector<size_t>* ends = nullptr, uint32_t version = 1, bool sealed = false) {
  std::string seg;
  EncodeSegmentHeader({tl, first, 1000, version}, &seg);
  Lsn lsn = first;
  for (const Rec& r : recs) {
    AppendRecord({lsn, 1000 + lsn, r.synced, r.type, r.payload}, &seg);
    lsn++;
    if (ends != nullptr) ends->push_back(seg.size());
  }
  if (sealed) AppendSeal(lsn, 2000, &seg);
  return seg;
}
std::string BuildV2Segment(Timeline tl, Lsn first, const std::vector<Rec>& recs, bool sealed) {
  return BuildSegment(tl, first, recs, nullptr, 2, sealed);
}

void WriteFile(FileSystem* fs, const std::string& path, std::string_view bytes) {
  ASSERT_TRUE(fs->create_dirs(DirName(path)).ok());
  auto f = fs->new_writable_file(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append(bytes).ok());
  ASSERT_TRUE((*f)->close().ok());
}

struct ReadResult {
  std::vector<Record> records;  // payloads copied into `payloads`
  std::vector<std::string> payloads;
  Status status;
  StopInfo stop;
  std::vector<SkippedRegion> skipped;
};

ReadResult ReadAll(FileSystem* fs, const std::string& dir, ReaderOptions opts = {}) {
  ReadResult out;
  auto reader = WalReader::Open(fs, dir, opts);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  Record r;
  while ((*reader)->next(&r)) {
    out.payloads.emplace_back(r.payload);
    out.records.push_back(r);
  }
  out.status = (*reader)->status();
  out.stop = (*reader)->stop();
  out.skipped = (*reader)->skipped();
  return out;
}

TEST(WalReader, EmptyDirectoryIsAnEmptyLog) {
  auto fs = NewMemFileSystem();
  ASSERT_TRUE(fs->create_dirs("wal").ok());
  ReadResult r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.stop.reason, StopReason::kEndOfLog);
}

TEST(WalReader, RoundTripAcrossManySegmentsAndSizes) {
  auto fs = NewMemFileSystem();
  std::mt19937_64 rng(test::TestSeed());
  // Empty, 1 byte, around the header size, bigger than a 32 KiB block, and one 16 MiB record.
  std::vector<size_t> sizes = {0, 1, 39, 40, 41, 100, 4095, 4096, 40000, 100000, 16u << 20, 0, 7};
  for (int i = 0; i < 300; i++) sizes.push_back(rng() % 3000);
  std::vector<std::string> written;
  {
    WriterOptions opts;
    opts.segment_size = 8192;  // many segments
    auto w = WalWriter::Open(fs.get(), "wal", opts);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (size_t i = 0; i < sizes.size(); i++) {
      written.push_back(test::RandomBytes(rng, sizes[i]));
      auto d = i % 5 == 0 ? Durability::kSync : Durability::kRelaxed;
      auto a = (*w)->append(RecordType::kTransaction, written.back(), d);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      EXPECT_EQ(a->lsn, i + 1);
    }
    ASSERT_TRUE((*w)->close().ok());
  }
  auto segs = ListSegments(fs.get(), "wal");
  ASSERT_TRUE(segs.ok());
  EXPECT_GT(segs->size(), 20u);

  ReadResult r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.stop.reason, StopReason::kEndOfLog);
  ASSERT_EQ(r.payloads.size(), written.size());
  uint64_t prev_time = 0;
  for (size_t i = 0; i < written.size(); i++) {
    EXPECT_EQ(r.records[i].lsn, i + 1);
    EXPECT_EQ(r.payloads[i], written[i]) << "LSN " << i + 1;
    EXPECT_GE(r.records[i].commit_micros, prev_time);
    prev_time = r.records[i].commit_micros;
  }

  // Starting in the middle yields from exactly that LSN.
  ReaderOptions from;
  from.start_lsn = 200;
  ReadResult mid = ReadAll(fs.get(), "wal", from);
  ASSERT_TRUE(mid.status.ok());
  ASSERT_EQ(mid.records.size(), written.size() - 199);
  EXPECT_EQ(mid.records.front().lsn, 200u);
  EXPECT_EQ(mid.payloads.front(), written[199]);
}

TEST(WalReader, StartBeforeTheOldestSegmentIsNotFound) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000064.wal", BuildSegment(1, 100, {{"a"}, {"b"}}));
  ReadResult r = ReadAll(fs.get(), "wal", ReaderOptions{.start_lsn = 5});
  EXPECT_TRUE(r.status.IsNotFound()) << r.status.ToString();
  r = ReadAll(fs.get(), "wal", ReaderOptions{.start_lsn = 100});
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.records.size(), 2u);
}

// Cut the newest segment at every byte: the reader yields exactly the records wholly before the cut and
// reports a clean end (torn tail, or end of log at a record boundary).
TEST(WalReader, TornTailAtEveryByteYieldsTheCompletePrefix) {
  std::vector<size_t> ends;
  std::vector<Rec> recs = {{"first"}, {""}, {std::string(300, 'x')}, {"z"}, {std::string(70, 'q')}};
  const std::string seg = BuildSegment(1, 1, recs, &ends);
  for (size_t cut = 0; cut <= seg.size(); cut++) {
    auto fs = NewMemFileSystem();
    WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", std::string_view(seg).substr(0, cut));
    ReadResult r = ReadAll(fs.get(), "wal");
    ASSERT_TRUE(r.status.ok()) << "cut " << cut << ": " << r.status.ToString();
    size_t expect = 0;
    while (expect < ends.size() && ends[expect] <= cut) expect++;
    ASSERT_EQ(r.records.size(), expect) << "cut " << cut;
    for (size_t i = 0; i < expect; i++) EXPECT_EQ(r.payloads[i], recs[i].payload);
    const bool at_boundary = cut == kSegmentHeaderSize || (expect > 0 && ends[expect - 1] == cut);
    EXPECT_EQ(r.stop.reason, at_boundary ? StopReason::kEndOfLog : StopReason::kTornTail) << "cut " << cut;
  }
}

TEST(WalReader, ZeroFilledTailIsTorn) {
  auto fs = NewMemFileSystem();
  std::string seg = BuildSegment(1, 1, {{"a", 0}, {"b", 1}});
  seg.append(4096, '\0');
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", seg);
  ReadResult r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.stop.reason, StopReason::kTornTail);
  EXPECT_EQ(r.stop.bytes_discarded, 4096u);
}

// Damage before the tail: in a sealed segment always Corruption naming the file and offset.
TEST(WalReader, FlippedBitInSealedSegmentIsCorruptionNamingFileAndOffset) {
  auto fs = NewMemFileSystem();
  std::vector<size_t> ends;
  std::string seg1 = BuildSegment(1, 1, {{"aaaa"}, {"bbbb"}, {"cccc"}}, &ends);
  const std::string seg2 = BuildSegment(1, 4, {{"dddd", 3}});
  const size_t damaged_offset = ends[0];  // record 2 starts here
  seg1[damaged_offset + kRecordHeaderSize + 1] ^= 0x04;
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", seg1);
  WriteFile(fs.get(), "wal/00000001-0000000000000004.wal", seg2);
  ReadResult r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption());
  EXPECT_NE(r.status.message().find("wal/00000001-0000000000000001.wal"), std::string::npos) << r.status.ToString();
  EXPECT_NE(r.status.message().find("offset " + std::to_string(damaged_offset)), std::string::npos)
      << r.status.ToString();
  EXPECT_EQ(r.stop.reason, StopReason::kCorruption);
  EXPECT_EQ(r.stop.offset, damaged_offset);
  EXPECT_EQ(r.records.size(), 1u);  // the record before the damage

  // Salvage skips the damaged record, reports it, and reads the rest.
  ReadResult s = ReadAll(fs.get(), "wal", ReaderOptions{.salvage = true});
  ASSERT_TRUE(s.status.ok()) << s.status.ToString();
  ASSERT_EQ(s.records.size(), 3u);
  EXPECT_EQ(s.payloads[0], "aaaa");
  EXPECT_EQ(s.payloads[1], "cccc");
  EXPECT_EQ(s.payloads[2], "dddd");
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_EQ(s.skipped[0].offset, damaged_offset);
  EXPECT_EQ(s.skipped[0].length, ends[1] - ends[0]);
  EXPECT_EQ(s.skipped[0].expected_lsn, 2u);
  EXPECT_EQ(s.skipped[0].resumed_lsn, 3u);
}

// In the newest segment, damage is a torn tail unless a later valid record proves it had been durable.
TEST(WalReader, DamageInNewestSegmentUsesSyncedLsnEvidence) {
  for (Lsn synced_in_record3 : {Lsn{0}, Lsn{1}, Lsn{2}}) {
    auto fs = NewMemFileSystem();
    std::vector<size_t> ends;
    std::string seg = BuildSegment(1, 1, {{"aaaa"}, {"bbbb"}, {"cccc", synced_in_record3}}, &ends);
    seg[ends[0] + 3] ^= 0x40;  // record 2's checksum
    WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", seg);
    ReadResult r = ReadAll(fs.get(), "wal");
    if (synced_in_record3 >= 2) {
      EXPECT_TRUE(r.status.IsCorruption()) << "synced " << synced_in_record3;
      EXPECT_EQ(r.stop.offset, ends[0]);
    } else {
      EXPECT_TRUE(r.status.ok()) << r.status.ToString();
      EXPECT_EQ(r.stop.reason, StopReason::kTornTail);
      EXPECT_EQ(r.records.size(), 1u);
    }
  }
}

TEST(WalReader, MissingMiddleSegmentIsCorruption) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildSegment(1, 1, {{"a"}, {"b"}}));
  WriteFile(fs.get(), "wal/00000001-0000000000000005.wal", BuildSegment(1, 5, {{"e", 4}}));
  ReadResult r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption());
  EXPECT_NE(r.status.message().find("LSN 3 was expected"), std::string::npos) << r.status.ToString();
  ReadResult s = ReadAll(fs.get(), "wal", ReaderOptions{.salvage = true});
  EXPECT_TRUE(s.status.ok());
  EXPECT_EQ(s.records.size(), 3u);
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_EQ(s.skipped[0].expected_lsn, 3u);
  EXPECT_EQ(s.skipped[0].resumed_lsn, 5u);
}

TEST(WalReader, HeaderDisagreeingWithNameIsCorruption) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildSegment(1, 1, {{"a"}}));
  WriteFile(fs.get(), "wal/00000001-0000000000000002.wal", BuildSegment(1, 3, {{"b", 1}}));
  ReadResult r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption());
  EXPECT_NE(r.status.message().find("disagrees with its file name"), std::string::npos) << r.status.ToString();
}

TEST(WalReader, NewestSegmentWithTornHeaderHoldsNothing) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildSegment(1, 1, {{"a"}, {"b"}}));
  std::string header = BuildSegment(1, 3, {});
  WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", header.substr(0, 20));
  ReadResult r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.stop.reason, StopReason::kTornTail);
  // A sealed segment with a bad header is Corruption.
  WriteFile(fs.get(), "wal/00000001-0000000000000004.wal", BuildSegment(1, 4, {}));
  r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption());
}

TEST(WalReader, ReadsTheNewestTimelineByDefault) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildSegment(1, 1, {{"a"}, {"b"}, {"c"}}));
  WriteFile(fs.get(), "wal/00000002-0000000000000003.wal", BuildSegment(2, 3, {{"C"}}));
  ReadResult r = ReadAll(fs.get(), "wal", ReaderOptions{.start_lsn = 3});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.payloads[0], "C");
  r = ReadAll(fs.get(), "wal", ReaderOptions{.start_lsn = 1, .timeline = 1});
  ASSERT_EQ(r.records.size(), 3u);
}

// --- seals (docs/wal_format.md, Seals) ---

// The newest segment deleted after a rotation used to read as a clean end of log.
TEST(WalReader, SealedNewestSegmentMeansItsSuccessorIsMissing) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildV2Segment(1, 1, {{"a"}, {"b"}}, true));
  WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", BuildV2Segment(1, 3, {{"c", 2}}, false));
  ReadResult r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.stop.reason, StopReason::kEndOfLog);

  ASSERT_TRUE(fs->remove_file("wal/00000001-0000000000000003.wal").ok());
  r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
  EXPECT_EQ(r.stop.reason, StopReason::kCorruption);
  EXPECT_NE(
      r.status.message().find("wal/00000001-0000000000000001.wal was sealed and its successor starting at "
                              "LSN 3 (00000001-0000000000000003.wal) is missing"),
      std::string::npos)
      << r.status.ToString();
  EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b"}));
  // Salvage reads what is there and reports the loss.
  r = ReadAll(fs.get(), "wal", ReaderOptions{.salvage = true});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].expected_lsn, 3u);
  // And a writer refuses to build on it.
  auto w = WalWriter::Open(fs.get(), "wal");
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsCorruption()) << w.status().ToString();
}

// Version-1 segments carry no seal: read as before (a missing newest one cannot be detected there).
TEST(WalReader, ReadsVersion1SegmentsAsBefore) {
  auto fs = NewMemFileSystem();
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", BuildSegment(1, 1, {{"a"}, {"b"}}));
  WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", BuildSegment(1, 3, {{"c", 2}}));
  ReadResult r = ReadAll(fs.get(), "wal");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b", "c"}));
  // A seal in a version-1 segment is not one.
  std::string v1 = BuildSegment(1, 1, {{"a"}, {"b"}});
  AppendSeal(3, 2000, &v1);
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", v1);
  r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption()) << r.status.ToString();
}

// Between creating the successor and sealing: the successor holds only its header, and the segment before
// it has no seal, or a torn one. Nothing is lost; both read to the end.
TEST(WalReader, RotationCutShortBeforeTheSealReadsToTheEnd) {
  const std::string full = BuildV2Segment(1, 1, {{"a"}, {"b"}}, true);
  const std::string header_only = BuildV2Segment(1, 3, {}, false);
  for (size_t cut = 0; cut < kSealSize; cut++) {
    auto fs = NewMemFileSystem();
    WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", full.substr(0, full.size() - kSealSize + cut));
    WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", header_only);
    ReadResult r = ReadAll(fs.get(), "wal");
    ASSERT_TRUE(r.status.ok()) << "cut " << cut << ": " << r.status.ToString();
    EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b"}));
    // Once the successor holds a record the seal had been durable: its absence is damage.
    WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", BuildV2Segment(1, 3, {{"c", 2}}, false));
    r = ReadAll(fs.get(), "wal");
    EXPECT_TRUE(r.status.IsCorruption()) << "cut " << cut;
  }
}

// A writer opening the cut-short rotation completes it: the segment before ends sealed, nothing is lost, and
// the records written next read after it.
TEST(WalReader, WriterRepairsARotationCutShortBeforeTheSeal) {
  const std::string full = BuildV2Segment(1, 1, {{"a"}, {"b"}}, true);
  for (size_t cut : {size_t{0}, size_t{17}}) {
    auto fs = NewMemFileSystem();
    WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", full.substr(0, full.size() - kSealSize + cut));
    WriteFile(fs.get(), "wal/00000001-0000000000000003.wal", BuildV2Segment(1, 3, {}, false));
    {
      auto w = WalWriter::Open(fs.get(), "wal");
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_EQ((*w)->last_lsn(), 2u);
      ASSERT_TRUE((*w)->append(RecordType::kTransaction, "c", Durability::kSync).ok());
      auto sealed = ReadSealState(fs.get(), "wal/00000001-0000000000000001.wal");
      ASSERT_TRUE(sealed.ok());
      EXPECT_EQ(*sealed, SealState::kSealed) << "cut " << cut;
    }
    ReadResult r = ReadAll(fs.get(), "wal");
    ASSERT_TRUE(r.status.ok()) << "cut " << cut << ": " << r.status.ToString();
    EXPECT_EQ(r.payloads, (std::vector<std::string>{"a", "b", "c"}));
  }
}

TEST(WalReader, SealMustBeLastAndNameTheNextLsn) {
  auto fs = NewMemFileSystem();
  std::string seg = BuildV2Segment(1, 1, {{"a"}}, true);
  seg += "x";
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", seg);
  WriteFile(fs.get(), "wal/00000001-0000000000000002.wal", BuildV2Segment(1, 2, {{"b", 1}}, false));
  EXPECT_TRUE(ReadAll(fs.get(), "wal").status.IsCorruption());
  seg = BuildV2Segment(1, 1, {{"a"}}, false);
  AppendSeal(5, 2000, &seg);
  WriteFile(fs.get(), "wal/00000001-0000000000000001.wal", seg);
  ReadResult r = ReadAll(fs.get(), "wal");
  EXPECT_TRUE(r.status.IsCorruption()) << r.status.ToString();
  EXPECT_NE(r.status.message().find("seal names LSN 5"), std::string::npos) << r.status.ToString();
}

}  // namespace
}  // namespace savepoint::wal
