#include "wal/format.h"

#include <gtest/gtest.h>

#include "savepoint/clock.h"
#include "savepoint/file_system.h"
#include "tests/testutil.h"
#include "wal/wal_writer.h"

namespace savepoint::wal {
namespace {

TEST(WalFormat, SegmentFileNames) {
  EXPECT_EQ(SegmentFileName(1, 1), "00000001-0000000000000001.wal");
  EXPECT_EQ(SegmentFileName(0x2a, 0xa3f01), "0000002a-00000000000a3f01.wal");
  auto h = ParseSegmentFileName("0000002a-00000000000a3f01.wal");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->timeline, 0x2au);
  EXPECT_EQ(h->first_lsn, 0xa3f01u);
  for (const char* bad : {"", "00000001-0000000000000001.wa", "0000000g-0000000000000001.wal",
                          "00000000-0000000000000001.wal", "00000001-0000000000000000.wal",
                          "00000001_0000000000000001.wal", "00000001-0000000000000001.wal.lz4",
                          "00000001-000000000000000A.wal"}) {
    EXPECT_FALSE(ParseSegmentFileName(bad).has_value()) << bad;
  }
}

TEST(WalFormat, SegmentHeaderRoundTripAndDamage) {
  std::string bytes;
  EncodeSegmentHeader({7, 1234, 99}, &bytes);
  ASSERT_EQ(bytes.size(), kSegmentHeaderSize);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(bytes, &h).ok());
  EXPECT_EQ(h.timeline, 7u);
  EXPECT_EQ(h.first_lsn, 1234u);
  EXPECT_EQ(h.created_micros, 99u);
  for (size_t i = 0; i < bytes.size(); i++) {
    std::string damaged = bytes;
    damaged[i] ^= 0x10;
    EXPECT_TRUE(DecodeSegmentHeader(damaged, &h).IsCorruption()) << "byte " << i;
  }
  EXPECT_TRUE(DecodeSegmentHeader(bytes.substr(0, 47), &h).IsCorruption());
}

TEST(WalFormat, RecordRoundTripAndEveryByteMatters) {
  std::string seg;
  Record in{42, 1000, 41, RecordType::kRestorePoint, "before-patch"};
  AppendRecord(in, &seg);
  ASSERT_EQ(seg.size(), kRecordHeaderSize + in.payload.size());
  Record out;
  size_t next = 0;
  ASSERT_TRUE(ParseRecord(seg, 0, &out, &next).ok());
  EXPECT_EQ(next, seg.size());
  EXPECT_EQ(out.lsn, 42u);
  EXPECT_EQ(out.commit_micros, 1000u);
  EXPECT_EQ(out.synced_lsn, 41u);
  EXPECT_EQ(out.type, RecordType::kRestorePoint);
  EXPECT_EQ(out.payload, "before-patch");
  for (size_t i = 0; i < seg.size(); i++) {
    std::string damaged = seg;
    damaged[i] ^= 0x01;
    EXPECT_FALSE(ParseRecord(damaged, 0, &out, &next).ok()) << "byte " << i;
  }
  bool truncated = false;
  EXPECT_FALSE(ParseRecord(seg.substr(0, seg.size() - 1), 0, &out, &next, &truncated).ok());
  EXPECT_TRUE(truncated);
}

TEST(WalFormat, SealIsAnEmptyRecordNamingTheNextLsn) {
  std::string seg;
  AppendSeal(17, 1234, &seg);
  ASSERT_EQ(seg.size(), kSealSize);
  Record r;
  size_t next = 0;
  ASSERT_TRUE(ParseRecord(seg, 0, &r, &next).ok());
  EXPECT_EQ(r.type, RecordType::kSeal);
  EXPECT_EQ(r.lsn, 17u);
  EXPECT_EQ(r.synced_lsn, 16u);
  EXPECT_EQ(r.commit_micros, 1234u);
  EXPECT_TRUE(r.payload.empty());
}

TEST(WalFormat, ReadsVersion1HeadersAndRefusesNewerOnes) {
  std::string v1;
  EncodeSegmentHeader({1, 5, 99, 1}, &v1);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(v1, &h).ok());
  EXPECT_EQ(h.version, 1u);
  std::string v3;
  EncodeSegmentHeader({1, 5, 99, kFormatVersion + 1}, &v3);
  Status s = DecodeSegmentHeader(v3, &h);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("unsupported WAL format version"), std::string::npos) << s.ToString();
}

TEST(WalFormat, FindNextValidRecordSkipsGarbage) {
  std::string seg(123, '\x5a');
  const size_t at = seg.size();
  AppendRecord({1, 1, 0, RecordType::kTransaction, "x"}, &seg);
  auto p = FindNextValidRecord(seg, 0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, at);
  EXPECT_FALSE(FindNextValidRecord(seg, at + 1).has_value());
}

// The worked example of docs/wal_format.md, byte for byte (checksums, shown as xx there, are checked by
// parsing). Keeps the document and the writer from drifting apart.
TEST(WalFormat, WorkedExampleInDocsMatchesTheWriter) {
  auto fs = NewMemFileSystem();
  ManualClock clock(1700000000000000ULL);
  WriterOptions opts;
  opts.clock = &clock;
  auto w = WalWriter::Open(fs.get(), "wal", opts);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  clock.set_micros(1700000000000010ULL);
  ASSERT_TRUE((*w)->append(RecordType::kTransaction, "hi", Durability::kRelaxed).ok());
  ASSERT_TRUE((*w)->append(RecordType::kRestorePoint, "v1", Durability::kRelaxed).ok());
  ASSERT_TRUE((*w)->close().ok());
  std::string file;
  ASSERT_TRUE(fs->read_file("wal/00000001-0000000000000001.wal", &file).ok());

  test::ExpectWorkedExampleMatches(std::string(SAVEPOINT_SOURCE_DIR) + "/docs/wal_format.md", file, 100u);
  Record r;
  size_t next = 0;
  ASSERT_TRUE(ParseRecord(file, 48, &r, &next).ok());
  ASSERT_TRUE(ParseRecord(file, next, &r, &next).ok());
  ASSERT_TRUE(ParseRecord(file, next, &r, &next).ok());
  EXPECT_EQ(r.type, RecordType::kSeal);
  EXPECT_EQ(r.lsn, 3u);
  EXPECT_EQ(r.synced_lsn, 2u);
  EXPECT_EQ(next, file.size());
  EXPECT_TRUE(fs->file_exists("wal/00000001-0000000000000003.wal"));
  SegmentHeader h;
  EXPECT_TRUE(DecodeSegmentHeader(file, &h).ok());
}

}  // namespace
}  // namespace savepoint::wal
