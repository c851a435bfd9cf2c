#include "wal/archive.h"

#include <gtest/gtest.h>

#include "savepoint/crash_point.h"
#include "savepoint/fault_injection.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "wal/wal_writer.h"

namespace savepoint::wal {
namespace {

// A log of `n` records with times 1000 + lsn, sealed, in "wal" on `fs`.
void WriteLog(FileSystem* fs, int n, std::string_view tag = "record ") {
  ManualClock clock(1000);
  WriterOptions opts;
  opts.segment_size = 4096;
  opts.clock = &clock;
  auto w = WalWriter::Open(fs, "wal", opts);
  ASSERT_TRUE(w.ok());
  for (int i = 1; i <= n; i++) {
    clock.set_micros(1000 + static_cast<uint64_t>(i));
    // Sync appends: each is its own write batch, so segments rotate at their size.
    ASSERT_TRUE((*w)->append(RecordType::kTransaction, std::string(tag) + std::to_string(i) + std::string(50, 'v'),
                             Durability::kSync)
                    .ok());
  }
  ASSERT_TRUE((*w)->close().ok());
}

class WalArchiveTest : public ::testing::Test {
 protected:
  void TearDown() override { DisarmAllCrashPoints(); }
};

TEST_F(WalArchiveTest, ArchivesSealedSegmentsWithRangesAndReadsThemBack) {
  auto fs = NewMemFileSystem();
  WriteLog(fs.get(), 300);
  auto segs = ListSegments(fs.get(), "wal");
  ASSERT_TRUE(segs.ok());
  ASSERT_GT(segs->size(), 3u);
  for (size_t i = 0; i + 1 < segs->size(); i++) {  // the newest (empty) one stays live
    auto a = ArchiveSegment(fs.get(), "wal/" + (*segs)[i].name, "archive");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->first_lsn, (*segs)[i].first_lsn);
    EXPECT_EQ(a->last_lsn, (*segs)[i + 1].first_lsn - 1);
    EXPECT_EQ(a->first_commit_micros, 1000 + a->first_lsn);
    EXPECT_EQ(a->last_commit_micros, 1000 + a->last_lsn);
    EXPECT_LT(a->compressed_size, a->segment_size);
  }
  auto listed = ListArchivedSegments(fs.get(), "archive");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), segs->size() - 1);
  EXPECT_EQ(listed->front().first_lsn, 1u);
  EXPECT_EQ(listed->back().last_lsn, 300u);

  // The reader over the archive yields what the live log holds.
  auto reader = WalReader::Open(NewArchiveSource(fs.get(), "archive"), {});
  ASSERT_TRUE(reader.ok());
  Record r;
  Lsn n = 0;
  while ((*reader)->next(&r)) {
    n++;
    ASSERT_EQ(r.lsn, n);
    ASSERT_EQ(std::string(r.payload).substr(0, 7 + std::to_string(n).size()), "record " + std::to_string(n));
  }
  EXPECT_TRUE((*reader)->status().ok()) << (*reader)->status().ToString();
  EXPECT_EQ(n, 300u);
}

TEST_F(WalArchiveTest, IdenticalReArchiveSucceedsAndAConflictingFileIsRefused) {
  auto fs = NewMemFileSystem();
  WriteLog(fs.get(), 100);
  auto segs = ListSegments(fs.get(), "wal");
  const std::string seg = "wal/" + (*segs)[0].name;
  ASSERT_TRUE(ArchiveSegment(fs.get(), seg, "archive").ok());
  auto again = ArchiveSegment(fs.get(), seg, "archive");
  ASSERT_TRUE(again.ok()) << again.status().ToString();

  // Another log's segment with the same name (a different history) must not overwrite the archived one.
  auto other = NewMemFileSystem();
  WriteLog(other.get(), 90, "other! ");
  std::string other_bytes, before;
  ASSERT_TRUE(other->read_file(seg, &other_bytes).ok());
  auto f = fs->new_writable_file(seg);
  ASSERT_TRUE((*f)->append(other_bytes).ok());
  const std::string archived = "archive/wal/" + (*segs)[0].name + ".lz4";
  ASSERT_TRUE(fs->read_file(archived, &before).ok());
  auto conflict = ArchiveSegment(fs.get(), seg, "archive");
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(conflict.status().IsInvalidArgument()) << conflict.status().ToString();
  std::string after;
  ASSERT_TRUE(fs->read_file(archived, &after).ok());
  EXPECT_EQ(before, after);
}

TEST_F(WalArchiveTest, DamagedSegmentIsRefused) {
  auto fs = NewMemFileSystem();
  WriteLog(fs.get(), 50);
  auto segs = ListSegments(fs.get(), "wal");
  const std::string seg = "wal/" + (*segs)[0].name;
  std::string bytes;
  ASSERT_TRUE(fs->read_file(seg, &bytes).ok());
  bytes[bytes.size() / 2] ^= 0x20;
  auto f = fs->new_writable_file(seg);
  ASSERT_TRUE((*f)->append(bytes).ok());
  auto a = ArchiveSegment(fs.get(), seg, "archive");
  EXPECT_TRUE(a.status().IsCorruption()) << a.status().ToString();
  EXPECT_FALSE(fs->file_exists("archive/wal/" + (*segs)[0].name + ".lz4"));
}

TEST_F(WalArchiveTest, DamagedArchiveFileIsCorruption) {
  auto fs = NewMemFileSystem();
  WriteLog(fs.get(), 50);
  auto segs = ListSegments(fs.get(), "wal");
  ASSERT_TRUE(ArchiveSegment(fs.get(), "wal/" + (*segs)[0].name, "archive").ok());
  const std::string path = "archive/wal/" + (*segs)[0].name + ".lz4";
  std::string bytes;
  ASSERT_TRUE(fs->read_file(path, &bytes).ok());
  for (size_t at : {size_t{3}, size_t{20}, kArchiveHeaderSize + 5, bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[at] ^= 0x01;
    auto f = fs->new_writable_file(path);
    ASSERT_TRUE((*f)->append(damaged).ok());
    std::string out;
    EXPECT_TRUE(ReadArchivedSegment(fs.get(), path, &out).IsCorruption()) << "byte " << at;
  }
  auto f = fs->new_writable_file(path);
  ASSERT_TRUE((*f)->append(bytes.substr(0, bytes.size() - 7)).ok());
  std::string out;
  EXPECT_TRUE(ReadArchivedSegment(fs.get(), path, &out).IsCorruption());
}

// A power cut at any step of archiving leaves no partial file under the final name, and archiving again
// after the restart succeeds.
TEST_F(WalArchiveTest, CrashMidArchiveLeavesNoPartialFile) {
  for (const char* point : {"archive.after_temp_write", "archive.after_temp_sync", "archive.after_rename"}) {
    SCOPED_TRACE(point);
    auto mem = NewMemFileSystem();
    WriteLog(mem.get(), 100);
    FaultInjectionFileSystem fs(mem.get());
    auto segs = ListSegments(&fs, "wal");
    const std::string seg = "wal/" + (*segs)[0].name;
    const std::string final_path = "archive/wal/" + (*segs)[0].name + ".lz4";
    ArmCrashPoint(point, 0, [&](std::string_view) { fs.cut_power(); });
    EXPECT_FALSE(ArchiveSegment(&fs, seg, "archive").ok());
    DisarmAllCrashPoints();
    ASSERT_TRUE(fs.restart({.unsynced = PowerCutOptions::Unsynced::kKeepRandomPrefix, .seed = 7}).ok());
    if (fs.file_exists(final_path)) {
      std::string out;
      EXPECT_TRUE(ReadArchivedSegment(&fs, final_path, &out).ok()) << "partial file under the final name";
    }
    auto a = ArchiveSegment(&fs, seg, "archive");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    std::string out;
    EXPECT_TRUE(ReadArchivedSegment(&fs, final_path, &out).ok());
  }
}

// Regression (found by wal_reader_fuzzer): a header claiming a 3 GiB segment in a tiny file made the reader
// allocate 3 GiB before looking at the data. Sizes are checked first now.
TEST_F(WalArchiveTest, HugeClaimedSizeIsCorruptionWithoutAllocating) {
  auto fs = NewMemFileSystem();
  std::string header(kArchiveMagic);
  PutFixed32(&header, kFormatVersion);
  PutFixed32(&header, 1);                 // timeline
  PutFixed64(&header, 1);                 // first LSN
  PutFixed64(&header, 1);                 // last LSN
  PutFixed64(&header, 0);                 // first time
  PutFixed64(&header, 0);                 // last time
  PutFixed64(&header, 3ull << 30);        // segment size: 3 GiB
  PutFixed64(&header, 0);                 // segment checksum
  PutFixed64(&header, 1);                 // compressed size
  PutFixed64(&header, Checksum64(header));
  ASSERT_TRUE(fs->create_dirs("archive/wal").ok());
  auto f = fs->new_writable_file("archive/wal/00000001-0000000000000001.wal.lz4");
  ASSERT_TRUE((*f)->append(header + "x").ok());
  std::string out;
  Status s = ReadArchivedSegment(fs.get(), "archive/wal/00000001-0000000000000001.wal.lz4", &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_LT(out.capacity(), 1u << 20);
}

}  // namespace
}  // namespace savepoint::wal
