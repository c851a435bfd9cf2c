// SnapshotWriter and SnapshotReader on in-memory and fault-injecting file systems: round trips, every kind
// of damage reported with an offset, and crash safety of the temp-file protocol.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "savepoint/crash_point.h"
#include "savepoint/fault_injection.h"
#include "snapshot/snapshot_reader.h"
#include "snapshot/snapshot_writer.h"
#include "tests/testutil.h"

namespace savepoint::snapshot {
namespace {

using Rows = std::map<uint32_t, std::map<std::string, std::string>>;

constexpr char kDir[] = "/snaps";

Rows MakeRows(std::mt19937_64& rng, int keyspaces, int rows_each, size_t value_size) {
  Rows rows;
  for (int k = 0; k < keyspaces; k++) {
    auto& m = rows[static_cast<uint32_t>(k * 3 + 1)];
    for (int i = 0; i < rows_each; i++) {
      char key[32];
      std::snprintf(key, sizeof key, "key:%08d", i);
      std::string v = "\x00" + std::string(value_size, static_cast<char>('a' + i % 26));
      if (i % 5 == 0) v = test::RandomBytes(rng, value_size);  // incompressible now and then
      m[key] = v;
    }
  }
  return rows;
}

Status Write(FileSystem* fs, const std::string& path, const Rows& rows, uint64_t lsn = 42,
             size_t block_size = 4096, const std::atomic<bool>* cancel = nullptr) {
  Header h;
  h.timeline = 3;
  h.lsn = lsn;
  h.created_micros = 1700000000000000ULL;
  h.catalog = R"({"next_keyspace_id":9,"keyspaces":[]})";
  WriterOptions o;
  o.block_size = block_size;
  o.cancel = cancel;
  SP_ASSIGN_OR_RETURN(auto w, SnapshotWriter::Create(fs, path, h, o));
  for (auto& [id, m] : rows) {
    SP_RETURN_IF_ERROR(w->begin_section(id));
    for (auto& [k, v] : m) SP_RETURN_IF_ERROR(w->add(k, v));
    SP_RETURN_IF_ERROR(w->end_section());
  }
  return w->finish().status();
}

Result<Rows> ReadBack(FileSystem* fs, const std::string& path) {
  SP_ASSIGN_OR_RETURN(auto r, SnapshotReader::Open(fs, path));
  Rows rows;
  for (const SectionInfo& s : r->sections()) rows[s.keyspace_id];
  SP_RETURN_IF_ERROR(r->read_all([&](const SectionInfo& s, std::string_view k, std::string_view v) {
    rows[s.keyspace_id][std::string(k)] = std::string(v);
    return Status::OK();
  }));
  return rows;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::TestSeed();
    rng_.seed(seed_);
    ASSERT_TRUE(fs_->create_dirs(kDir).ok());
  }
  void TearDown() override { DisarmAllCrashPoints(); }
  std::string Path(uint64_t lsn = 42) const { return JoinPath(kDir, SnapshotFileName(3, lsn)); }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<FileSystem> fs_ = NewMemFileSystem();
};

TEST_F(SnapshotTest, RoundTripManyBlocksAndEmptySections) {
  Rows rows = MakeRows(rng_, 3, 2000, 100);
  rows[100];  // an empty keyspace: a section with no block
  ASSERT_TRUE(Write(fs_.get(), Path(), rows).ok());
  auto r = SnapshotReader::Open(fs_.get(), Path());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->header().timeline, 3u);
  EXPECT_EQ((*r)->header().lsn, 42u);
  EXPECT_EQ((*r)->rows(), 6000u);
  ASSERT_EQ((*r)->sections().size(), 4u);
  EXPECT_GT((*r)->sections()[0].blocks, 10u);
  EXPECT_EQ((*r)->sections()[3].blocks, 0u);
  auto back = ReadBack(fs_.get(), Path());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rows);
  // Mostly-repetitive values compress: the file is smaller than the data.
  std::string file;
  ASSERT_TRUE(fs_->read_file(Path(), &file).ok());
  EXPECT_LT(file.size(), (*r)->data_bytes());
  EXPECT_FALSE(fs_->file_exists(Path() + ".tmp"));
}

TEST_F(SnapshotTest, EmptySnapshotAndHugeRow) {
  ASSERT_TRUE(Write(fs_.get(), Path(0), {}, 0).ok());
  auto back = ReadBack(fs_.get(), Path(0));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->empty());
  Rows big;
  big[1]["k"] = std::string(3 << 20, 'z');  // one row larger than a block
  big[1]["l"] = "small";
  ASSERT_TRUE(Write(fs_.get(), Path(1), big, 1).ok());
  back = ReadBack(fs_.get(), Path(1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, big);
}

TEST_F(SnapshotTest, WriterRefusesBadOrderAndLeavesNoFile) {
  Header h;
  auto w = SnapshotWriter::Create(fs_.get(), Path(), h);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->begin_section(5).ok());
  ASSERT_TRUE((*w)->add("b", "x").ok());
  EXPECT_TRUE((*w)->add("b", "x").IsInvalidArgument());
  EXPECT_TRUE((*w)->add("a", "x").IsInvalidArgument());
  EXPECT_TRUE((*w)->begin_section(6).IsInvalidArgument());  // still open
  ASSERT_TRUE((*w)->end_section().ok());
  EXPECT_TRUE((*w)->begin_section(5).IsInvalidArgument());  // not ascending
  EXPECT_TRUE(fs_->file_exists(Path() + ".tmp"));
  w->reset();  // abandoned
  EXPECT_FALSE(fs_->file_exists(Path() + ".tmp"));
  EXPECT_FALSE(fs_->file_exists(Path()));
}

TEST_F(SnapshotTest, CancelStopsTheWriter) {
  std::atomic<bool> cancel{true};
  Status s = Write(fs_.get(), Path(), MakeRows(rng_, 1, 500, 100), 42, 4096, &cancel);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cancelled"), std::string::npos) << s.ToString();
  EXPECT_FALSE(fs_->file_exists(Path()));
  EXPECT_FALSE(fs_->file_exists(Path() + ".tmp"));
}

// Every single-bit flip anywhere in a small multi-section file is found, with an offset, by verify.
TEST_F(SnapshotTest, EveryBitFlipIsFoundWithAnOffset) {
  Rows rows = MakeRows(rng_, 2, 40, 20);
  ASSERT_TRUE(Write(fs_.get(), Path(), rows, 42, 256).ok());
  std::string file;
  ASSERT_TRUE(fs_->read_file(Path(), &file).ok());
  const std::string damaged_path = JoinPath(kDir, "damaged.snap");
  for (size_t i = 0; i < file.size(); i++) {
    std::string d = file;
    d[i] ^= static_cast<char>(1u << (i % 8));
    auto f = fs_->new_writable_file(damaged_path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append(d).ok());
    ASSERT_TRUE((*f)->close().ok());
    auto r = SnapshotReader::Open(fs_.get(), damaged_path);
    Status s = r.ok() ? (*r)->verify() : r.status();
    ASSERT_FALSE(s.ok()) << "flip at byte " << i << " not detected";
    EXPECT_TRUE(s.IsCorruption() || s.IsInvalidArgument()) << s.ToString();
    EXPECT_NE(s.message().find("at offset "), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(damaged_path), std::string::npos) << s.ToString();
  }
}

TEST_F(SnapshotTest, EveryTruncationIsFound) {
  ASSERT_TRUE(Write(fs_.get(), Path(), MakeRows(rng_, 2, 30, 20), 42, 256).ok());
  std::string file;
  ASSERT_TRUE(fs_->read_file(Path(), &file).ok());
  const std::string cut_path = JoinPath(kDir, "cut.snap");
  for (size_t n = 0; n < file.size(); n++) {
    auto f = fs_->new_writable_file(cut_path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append(std::string_view(file).substr(0, n)).ok());
    ASSERT_TRUE((*f)->close().ok());
    auto r = SnapshotReader::Open(fs_.get(), cut_path);
    Status s = r.ok() ? (*r)->verify() : r.status();
    ASSERT_TRUE(s.IsCorruption()) << "cut at " << n << ": " << s.ToString();
    EXPECT_NE(s.message().find("at offset "), std::string::npos) << s.ToString();
  }
}

TEST_F(SnapshotTest, WrongMagicAndForeignFiles) {
  ASSERT_TRUE(Write(fs_.get(), Path(), MakeRows(rng_, 1, 10, 10)).ok());
  std::string file;
  ASSERT_TRUE(fs_->read_file(Path(), &file).ok());
  for (std::string bytes : {std::string("SPWALSEG") + file.substr(8), std::string("hello"), std::string(),
                            std::string(4096, '\0'), test::RandomBytes(rng_, 1000)}) {
    auto f = fs_->new_writable_file(JoinPath(kDir, "x.snap"));
    ASSERT_TRUE((*f)->append(bytes).ok());
    ASSERT_TRUE((*f)->close().ok());
    auto r = SnapshotReader::Open(fs_.get(), JoinPath(kDir, "x.snap"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find("at offset 0"), std::string::npos) << r.status().ToString();
  }
  EXPECT_TRUE(SnapshotReader::Open(fs_.get(), JoinPath(kDir, "missing.snap")).status().IsNotFound());
}

TEST_F(SnapshotTest, NewerVersionIsNotCorruption) {
  Header h;
  h.version = 2;
  std::string bytes;
  EncodeHeader(h, &bytes);
  bytes += std::string(100, '\0');
  auto f = fs_->new_writable_file(Path());
  ASSERT_TRUE((*f)->append(bytes).ok());
  ASSERT_TRUE((*f)->close().ok());
  auto r = SnapshotReader::Open(fs_.get(), Path());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("newer"), std::string::npos);
}

// A row callback's error stops the walk and comes back unchanged.
TEST_F(SnapshotTest, RowCallbackErrorStops) {
  ASSERT_TRUE(Write(fs_.get(), Path(), MakeRows(rng_, 1, 100, 10)).ok());
  auto r = SnapshotReader::Open(fs_.get(), Path());
  ASSERT_TRUE(r.ok());
  int seen = 0;
  Status s = (*r)->read_all([&](const SectionInfo&, std::string_view, std::string_view) {
    return ++seen == 7 ? Status::NoSpace("disk full") : Status::OK();
  });
  EXPECT_TRUE(s.IsNoSpace());
  EXPECT_EQ(seen, 7);
}

// A power cut at each step of finish(): the final name holds either nothing or the whole file, an older
// snapshot stays readable, and a restart drops or keeps the temp file but never a partial final file.
TEST_F(SnapshotTest, CrashAtEveryStepLeavesNoPartialFinalFile) {
  for (const char* point : {"snapshot.after_temp_write", "snapshot.before_rename", "snapshot.after_rename"}) {
    SCOPED_TRACE(point);
    auto mem = NewMemFileSystem();
    FaultInjectionFileSystem fs(mem.get());
    ASSERT_TRUE(fs.create_dirs(kDir).ok());
    ASSERT_TRUE(fs.sync_dir("/").ok());
    const Rows old_rows = MakeRows(rng_, 1, 50, 10);
    ASSERT_TRUE(Write(&fs, Path(10), old_rows, 10).ok());
    ArmCrashPoint(point, 0, [&](std::string_view) { fs.cut_power(); });
    Status s = Write(&fs, Path(), MakeRows(rng_, 2, 300, 50), 42);
    DisarmAllCrashPoints();
    EXPECT_FALSE(s.ok());
    ASSERT_TRUE(fs.restart().ok());
    auto old_back = ReadBack(&fs, Path(10));
    ASSERT_TRUE(old_back.ok()) << old_back.status().ToString();
    EXPECT_EQ(*old_back, old_rows);
    if (fs.file_exists(Path())) {
      auto r = SnapshotReader::Open(&fs, Path());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE((*r)->verify().ok());
    }
    auto removed = RemoveTempFiles(&fs, kDir);
    ASSERT_TRUE(removed.ok());
    EXPECT_FALSE(fs.file_exists(Path() + ".tmp"));
  }
}

TEST_F(SnapshotTest, FailedSyncOrRenameLeavesNothing) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  ASSERT_TRUE(fs.create_dirs(kDir).ok());
  for (FaultOp op : {FaultOp::kAppend, FaultOp::kSync, FaultOp::kRename, FaultOp::kSyncDir}) {
    fs.fail_next(op, FaultError::kEIO);
    Status s = Write(&fs, Path(), MakeRows(rng_, 1, 100, 10));
    EXPECT_FALSE(s.ok()) << static_cast<int>(op);
    EXPECT_FALSE(fs.file_exists(Path())) << static_cast<int>(op);
    EXPECT_FALSE(fs.file_exists(Path() + ".tmp")) << static_cast<int>(op);
    fs.clear_faults();
  }
  fs.set_space_limit(2000);
  Status s = Write(&fs, Path(), MakeRows(rng_, 1, 100, 100));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_FALSE(fs.file_exists(Path()));
}

TEST_F(SnapshotTest, CopyIsCrashSafeAndIdempotent) {
  const Rows rows = MakeRows(rng_, 2, 200, 30);
  ASSERT_TRUE(Write(fs_.get(), Path(), rows).ok());
  ASSERT_TRUE(CopySnapshotFile(fs_.get(), Path(), "/archive/snapshots").ok());
  ASSERT_TRUE(CopySnapshotFile(fs_.get(), Path(), "/archive/snapshots").ok());  // a retry
  auto back = ReadBack(fs_.get(), JoinPath("/archive/snapshots", SnapshotFileName(3, 42)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rows);
  // A different file under the same name is refused and left alone.
  ASSERT_TRUE(Write(fs_.get(), Path(), MakeRows(rng_, 1, 5, 5)).ok());
  EXPECT_TRUE(CopySnapshotFile(fs_.get(), Path(), "/archive/snapshots").IsInvalidArgument());
  back = ReadBack(fs_.get(), JoinPath("/archive/snapshots", SnapshotFileName(3, 42)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rows);

  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  ASSERT_TRUE(fs.create_dirs(kDir).ok());
  ASSERT_TRUE(fs.sync_dir("/").ok());
  ASSERT_TRUE(Write(&fs, Path(), rows).ok());
  ArmCrashPoint("snapshot.copy_before_rename", 0, [&](std::string_view) { fs.cut_power(); });
  EXPECT_FALSE(CopySnapshotFile(&fs, Path(), "/archive/snapshots").ok());
  DisarmAllCrashPoints();
  ASSERT_TRUE(fs.restart().ok());
  EXPECT_FALSE(fs.file_exists(JoinPath("/archive/snapshots", SnapshotFileName(3, 42))));
  ASSERT_TRUE(CopySnapshotFile(&fs, Path(), "/archive/snapshots").ok());
  EXPECT_TRUE(ReadBack(&fs, JoinPath("/archive/snapshots", SnapshotFileName(3, 42))).ok());
}

// The POSIX file system too: the reader reads in place with pread, in chunks.
TEST_F(SnapshotTest, PosixRoundTrip) {
  test::ScratchDir dir;
  FileSystem* fs = FileSystem::Default();
  const std::string path = JoinPath(dir.path(), SnapshotFileName(3, 42));
  const Rows rows = MakeRows(rng_, 2, 20000, 100);  // more than one read chunk
  ASSERT_TRUE(Write(fs, path, rows, 42, 64 << 10).ok());
  auto back = ReadBack(fs, path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rows);
}

}  // namespace
}  // namespace savepoint::snapshot
