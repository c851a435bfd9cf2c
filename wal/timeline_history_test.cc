#include "wal/timeline_history.h"

#include <gtest/gtest.h>

#include <limits>

namespace savepoint::wal {
namespace {

TEST(TimelineHistory, NamesRoundTrip) {
  EXPECT_EQ(HistoryFileName(2), "00000002.history");
  EXPECT_EQ(ParseHistoryFileName("0000002a.history"), Timeline{42});
  for (const char* bad : {"00000001.history", "00000000.history", "0000002A.history", "00000002.histor",
                          "00000002.history.tmp", "2.history"}) {
    EXPECT_FALSE(ParseHistoryFileName(bad).has_value()) << bad;
  }
}

TEST(TimelineHistory, EncodeDecodeAndPath) {
  TimelineHistory h;
  h.timeline = 3;
  h.branches = {{1, 500, 1700000123000000, "lsn 500 inclusive"}, {2, 780, 1700000456000000, "name\tx"}};
  const std::string text = EncodeHistory(h);
  EXPECT_NE(text.find("1\t500\t1700000123000000\tlsn 500 inclusive\n"), std::string::npos) << text;
  TimelineHistory back;
  ASSERT_TRUE(DecodeHistory(3, text, &back).ok());
  ASSERT_EQ(back.branches.size(), 2u);
  EXPECT_EQ(back.branches[1].parent, 2u);
  EXPECT_EQ(back.branches[1].branch_lsn, 780u);
  EXPECT_EQ(back.branches[1].target, "name x");  // tabs in the target cannot break the format
  const auto legs = PathOf(back);
  ASSERT_EQ(legs.size(), 3u);
  EXPECT_EQ(legs[0].timeline, 1u);
  EXPECT_EQ(legs[0].first, 1u);
  EXPECT_EQ(legs[0].last, 500u);
  EXPECT_EQ(legs[1].timeline, 2u);
  EXPECT_EQ(legs[1].first, 501u);
  EXPECT_EQ(legs[1].last, 780u);
  EXPECT_EQ(legs[2].timeline, 3u);
  EXPECT_EQ(legs[2].first, 781u);
  EXPECT_EQ(legs[2].last, std::numeric_limits<Lsn>::max());
}

TEST(TimelineHistory, MalformedIsCorruption) {
  TimelineHistory h;
  for (const char* bad : {"", "# only a comment\n", "1\t500\n", "x\t500\t0\tt\n", "1\t-5\t0\tt\n",
                          "3\t500\t0\tt\n", "0\t500\t0\tt\n", "1\t500\t0\tt\n2\t400\t0\tt\n",
                          "1\t500\t0\tt\n1\t600\t0\tt\n"}) {
    EXPECT_TRUE(DecodeHistory(3, bad, &h).IsCorruption()) << bad;
  }
}

TEST(TimelineHistory, FilesAreWrittenOnceAndReadBack) {
  auto fs = NewMemFileSystem();
  TimelineHistory h;
  h.timeline = 2;
  h.branches = {{1, 10, 5, "latest"}};
  ASSERT_TRUE(WriteHistoryFile(fs.get(), "/a/wal", h).ok());
  ASSERT_TRUE(WriteHistoryFile(fs.get(), "/a/wal", h).ok());  // identical: a retry
  TimelineHistory other = h;
  other.branches[0].branch_lsn = 11;
  EXPECT_TRUE(WriteHistoryFile(fs.get(), "/a/wal", other).IsInvalidArgument());
  auto all = ReadHistoryFiles(fs.get(), "/a/wal");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->count(2), 1u);
  EXPECT_EQ(all->at(2).branches[0].branch_lsn, 10u);
  EXPECT_TRUE(ReadHistoryFiles(fs.get(), "/missing")->empty());
}

}  // namespace
}  // namespace savepoint::wal
