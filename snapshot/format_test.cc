#include "snapshot/format.h"

#include <gtest/gtest.h>

#include "savepoint/file_system.h"
#include "snapshot/snapshot_reader.h"
#include "snapshot/snapshot_writer.h"
#include "tests/testutil.h"
#include "util/coding.h"

namespace savepoint::snapshot {
namespace {

TEST(SnapshotFormat, FileNames) {
  EXPECT_EQ(SnapshotFileName(1, 1000000), "00000001-00000000000f4240.snap");
  auto p = ParseSnapshotFileName("0000002a-00000000000f4240.snap");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->timeline, 0x2au);
  EXPECT_EQ(p->lsn, 1000000u);
  EXPECT_TRUE(ParseSnapshotFileName("00000001-0000000000000000.snap").has_value());  // LSN 0: empty engine
  for (const char* bad : {"", "00000001-00000000000f4240.snap.tmp", "00000000-00000000000f4240.snap",
                          "00000001-00000000000F4240.snap", "00000001_00000000000f4240.snap",
                          "00000001-00000000000f4240.wal"}) {
    EXPECT_FALSE(ParseSnapshotFileName(bad).has_value()) << bad;
  }
}

TEST(SnapshotFormat, HeaderRoundTripAndEveryByteMatters) {
  Header h;
  h.timeline = 7;
  h.lsn = 1234;
  h.created_micros = 99;
  h.catalog = R"({"keyspaces":[]})";
  std::string bytes;
  EncodeHeader(h, &bytes);
  ASSERT_EQ(bytes.size(), kHeaderFixedSize + h.catalog.size() + 8);
  EXPECT_EQ(HeaderSize(bytes), bytes.size());
  Header out;
  ASSERT_TRUE(DecodeHeader(bytes, &out).ok());
  EXPECT_EQ(out.timeline, 7u);
  EXPECT_EQ(out.lsn, 1234u);
  EXPECT_EQ(out.created_micros, 99u);
  EXPECT_EQ(out.catalog, h.catalog);
  for (size_t i = 0; i < bytes.size(); i++) {
    std::string damaged = bytes;
    damaged[i] ^= 0x04;
    EXPECT_FALSE(DecodeHeader(damaged, &out).ok()) << "byte " << i;
  }
  // A newer version with a valid checksum is "newer", not corruption.
  Header newer = h;
  newer.version = 2;
  bytes.clear();
  EncodeHeader(newer, &bytes);
  EXPECT_TRUE(DecodeHeader(bytes, &out).IsInvalidArgument());
}

TEST(SnapshotFormat, IndexRoundTrip) {
  std::vector<SectionInfo> in = {{1, 101, 50, 1, 2, 14}, {9, 151, 0, 0, 0, 0}};
  std::string bytes;
  EncodeIndex(in, &bytes);
  std::vector<SectionInfo> out;
  ASSERT_TRUE(DecodeIndex(bytes, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].offset, 101u);
  EXPECT_EQ(out[1].keyspace_id, 9u);
  EXPECT_FALSE(DecodeIndex(bytes.substr(0, bytes.size() - 1), &out).ok());
  EXPECT_FALSE(DecodeIndex(bytes + "x", &out).ok());
  std::string huge;
  PutVarint32(&huge, 1u << 30);
  EXPECT_FALSE(DecodeIndex(huge, &out).ok());
}

// The worked example of docs/snapshot_format.md, byte for byte (checksums, shown as xx there, are checked by
// reading the file back). Keeps the document and the writer from drifting apart.
TEST(SnapshotFormat, WorkedExampleInDocsMatchesTheWriter) {
  auto fs = NewMemFileSystem();
  ASSERT_TRUE(fs->create_dirs("/snap").ok());
  Header h;
  h.timeline = 1;
  h.lsn = 3;
  h.created_micros = 1700000000000000ULL;
  h.catalog = R"({"next_keyspace_id":2,"keyspaces":[{"id":1,"name":"kv"}]})";
  auto w = SnapshotWriter::Create(fs.get(), "/snap/00000001-0000000000000003.snap", h);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->begin_section(1).ok());
  ASSERT_TRUE((*w)->add("a", std::string("\x00x", 2)).ok());
  std::string row_b = "\x01";
  PutFixed64(&row_b, 1700000060000000ULL);
  row_b += "y";
  ASSERT_TRUE((*w)->add("b", row_b).ok());
  ASSERT_TRUE((*w)->end_section().ok());
  auto written = (*w)->finish();
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  std::string file;
  ASSERT_TRUE(fs->read_file("/snap/00000001-0000000000000003.snap", &file).ok());
  EXPECT_EQ(written->file_bytes, file.size());

  test::ExpectWorkedExampleMatches(std::string(SAVEPOINT_SOURCE_DIR) + "/docs/snapshot_format.md", file, 150u);

  auto r = SnapshotReader::Open(fs.get(), "/snap/00000001-0000000000000003.snap");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE((*r)->read_all([&](const SectionInfo& s, std::string_view k, std::string_view v) {
                   EXPECT_EQ(s.keyspace_id, 1u);
                   rows.emplace_back(k, v);
                   return Status::OK();
                 }).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].second, row_b);
}

}  // namespace
}  // namespace savepoint::snapshot
