// FaultInjectionFileSystem: what survives a simulated power cut, and injected EIO / ENOSPC.
#include "savepoint/fault_injection.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/testutil.h"

namespace savepoint {
namespace {

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(base_->create_dirs(kDir).ok()); }

  static std::string path(std::string_view name) { return JoinPath(kDir, name); }

  std::unique_ptr<WritableFile> create(const std::string& p) {
    auto f = fs_.new_writable_file(p);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  // Reads through the base, which is what a restarted process would see.
  std::string contents(const std::string& p) {
    std::string data;
    Status s = base_->read_file(p, &data);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return data;
  }

  // A file whose creation is durable, with `synced` synced and `unsynced` appended after.
  void write_durable(const std::string& p, std::string_view synced, std::string_view unsynced) {
    auto f = create(p);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->append(synced).ok());
    ASSERT_TRUE(f->sync().ok());
    ASSERT_TRUE(fs_.sync_dir(kDir).ok());
    ASSERT_TRUE(f->append(unsynced).ok());
  }

  static constexpr const char* kDir = "/db";
  std::unique_ptr<FileSystem> base_ = NewMemFileSystem();
  FaultInjectionFileSystem fs_{base_.get()};
};

TEST_F(FaultInjectionTest, UnsyncedBytesDroppedOnRestart) {
  write_durable(path("a"), "synced", "-unsynced");
  EXPECT_EQ(contents(path("a")), "synced-unsynced");
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_EQ(contents(path("a")), "synced");
}

TEST_F(FaultInjectionTest, SyncedBytesSurviveRestart) {
  write_durable(path("a"), "one", "two");
  {
    auto f = fs_.reopen_writable_file(path("a"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->sync().ok());  // syncs "two" as well
  }
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_EQ(contents(path("a")), "onetwo");
}

TEST_F(FaultInjectionTest, KeepRandomPrefixKeepsAPrefixOfTheUnsyncedBytes) {
  const std::string synced = "SYNCED";
  const std::string unsynced = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::set<size_t> sizes;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    write_durable(path("a"), synced, unsynced);
    fs_.cut_power();
    PowerCutOptions options;
    options.unsynced = PowerCutOptions::Unsynced::kKeepRandomPrefix;
    options.seed = seed;
    ASSERT_TRUE(fs_.restart(options).ok());
    std::string got = contents(path("a"));
    ASSERT_GE(got.size(), synced.size()) << "seed " << seed;
    EXPECT_EQ(got, (synced + unsynced).substr(0, got.size())) << "seed " << seed;
    sizes.insert(got.size());
  }
  EXPECT_GT(sizes.size(), 1u) << "the kept prefix never varied with the seed";
}

TEST_F(FaultInjectionTest, ZeroFillKeepsSizeButZeroesUnsyncedBytes) {
  write_durable(path("a"), "synced", "lost");
  fs_.cut_power();
  PowerCutOptions options;
  options.unsynced = PowerCutOptions::Unsynced::kZeroFill;
  ASSERT_TRUE(fs_.restart(options).ok());
  EXPECT_EQ(contents(path("a")), std::string("synced\0\0\0\0", 10));
}

TEST_F(FaultInjectionTest, TearLastWriteKeepsOffsetPlusN) {
  write_durable(path("other"), "s", "unsynced-other");
  write_durable(path("a"), "synced", "-kept-before");
  auto f = fs_.reopen_writable_file(path("a"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("LASTWRITE").ok());  // the most recent append, at offset 18
  f->reset();
  fs_.cut_power();
  PowerCutOptions options;
  options.tear_last_write_at = 4;
  ASSERT_TRUE(fs_.restart(options).ok());
  // Everything before the last append survives, unsynced or not; the append keeps 4 bytes.
  EXPECT_EQ(contents(path("a")), "synced-kept-beforeLAST");
  // Other files follow `unsynced` (kDrop).
  EXPECT_EQ(contents(path("other")), "s");
}

TEST_F(FaultInjectionTest, TearBeyondTheAppendKeepsAllOfIt) {
  write_durable(path("a"), "synced", "tail");
  fs_.cut_power();
  PowerCutOptions options;
  options.tear_last_write_at = 100;
  ASSERT_TRUE(fs_.restart(options).ok());
  EXPECT_EQ(contents(path("a")), "syncedtail");
}

// A synced append is durable: tearing it would break the sync() promise.
TEST_F(FaultInjectionTest, TearNeverCutsSyncedBytes) {
  write_durable(path("a"), "synced", "");
  auto f = fs_.reopen_writable_file(path("a"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("LASTWRITE").ok());
  ASSERT_TRUE((*f)->sync().ok());
  f->reset();
  fs_.cut_power();
  PowerCutOptions options;
  options.tear_last_write_at = 2;
  ASSERT_TRUE(fs_.restart(options).ok());
  EXPECT_EQ(contents(path("a")), "syncedLASTWRITE");
}

TEST_F(FaultInjectionTest, FileCreatedWithoutSyncDirVanishes) {
  auto f = create(path("new"));
  ASSERT_TRUE(f->append("data").ok());
  ASSERT_TRUE(f->sync().ok());  // the bytes are durable, the directory entry is not
  f.reset();
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(base_->file_exists(path("new")));
}

TEST_F(FaultInjectionTest, FileCreatedWithSyncDirSurvives) {
  auto f = create(path("new"));
  ASSERT_TRUE(f->append("data").ok());
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(fs_.sync_dir(kDir).ok());
  f.reset();
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_EQ(contents(path("new")), "data");
}

TEST_F(FaultInjectionTest, SyncDirOfAnotherDirectoryDoesNotHelp) {
  ASSERT_TRUE(fs_.create_dirs(path("sub")).ok());
  auto f = create(path("sub/new"));
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(fs_.sync_dir(kDir).ok());
  f.reset();
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(base_->file_exists(path("sub/new")));
}

TEST_F(FaultInjectionTest, PreexistingFileReopenedIsDurable) {
  {
    auto f = base_->new_writable_file(path("old"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append("before").ok());
  }
  auto f = fs_.reopen_writable_file(path("old"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("-after").ok());
  f->reset();
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_EQ(contents(path("old")), "before");
}

TEST_F(FaultInjectionTest, RenameWithoutSyncDirIsUndone) {
  write_durable(path("from"), "payload", "");
  ASSERT_TRUE(fs_.rename_file(path("from"), path("to")).ok());
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(base_->file_exists(path("to")));
  EXPECT_EQ(contents(path("from")), "payload");
}

TEST_F(FaultInjectionTest, RenameWithSyncDirIsKept) {
  write_durable(path("from"), "payload", "");
  ASSERT_TRUE(fs_.rename_file(path("from"), path("to")).ok());
  ASSERT_TRUE(fs_.sync_dir(kDir).ok());
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(base_->file_exists(path("from")));
  EXPECT_EQ(contents(path("to")), "payload");
}

// The atomic-replace pattern (write tmp, sync, rename over CURRENT) must leave the old or the new CURRENT
// after a crash, never neither.
TEST_F(FaultInjectionTest, UndoneRenameOverExistingFileRestoresIt) {
  write_durable(path("CURRENT"), "old", "");
  auto tmp = create(path("CURRENT.tmp"));
  ASSERT_TRUE(tmp->append("new").ok());
  ASSERT_TRUE(tmp->sync().ok());
  tmp.reset();
  ASSERT_TRUE(fs_.rename_file(path("CURRENT.tmp"), path("CURRENT")).ok());
  EXPECT_EQ(contents(path("CURRENT")), "new");
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_EQ(contents(path("CURRENT")), "old");
  EXPECT_FALSE(base_->file_exists(path("CURRENT.tmp")));  // its creation was never made durable
}

TEST_F(FaultInjectionTest, CutPowerFailsEverythingAndNothingAfterSurvives) {
  write_durable(path("a"), "synced", "");
  auto f = fs_.reopen_writable_file(path("a"));
  ASSERT_TRUE(f.ok());
  fs_.cut_power();
  EXPECT_TRUE(fs_.power_is_off());
  Status s = (*f)->append("after");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("power is off"), std::string::npos);
  EXPECT_TRUE((*f)->sync().IsIOError());
  EXPECT_EQ(fs_.sync_count(), 1u);  // only the sync before the cut
  EXPECT_TRUE((*f)->close().IsIOError());
  EXPECT_TRUE(fs_.new_writable_file(path("b")).status().IsIOError());
  EXPECT_TRUE(fs_.reopen_writable_file(path("a")).status().IsIOError());
  EXPECT_TRUE(fs_.rename_file(path("a"), path("c")).IsIOError());
  EXPECT_TRUE(fs_.remove_file(path("a")).IsIOError());
  EXPECT_TRUE(fs_.truncate_file(path("a"), 0).IsIOError());
  EXPECT_TRUE(fs_.sync_dir(kDir).IsIOError());
  EXPECT_TRUE(fs_.create_dirs(path("d")).IsIOError());
  EXPECT_TRUE(fs_.lock_file(path("LOCK")).status().IsIOError());
  std::string data;
  EXPECT_TRUE(fs_.read_file(path("a"), &data).IsIOError());
  EXPECT_TRUE(fs_.list_dir(kDir).status().IsIOError());
  EXPECT_TRUE(fs_.file_size(path("a")).status().IsIOError());
  EXPECT_FALSE(fs_.file_exists(path("a")));
  f->reset();

  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(fs_.power_is_off());
  EXPECT_EQ(contents(path("a")), "synced");
  auto names = fs_.list_dir(kDir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"a"});
}

TEST_F(FaultInjectionTest, FailNextSkipsThenFailsTimes) {
  auto f = create(path("a"));
  fs_.fail_next(FaultOp::kAppend, FaultError::kEIO, /*skip=*/2, /*times=*/2);
  EXPECT_TRUE(f->append("1").ok());
  EXPECT_TRUE(f->append("2").ok());
  Status s = f->append("3");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("injected EIO"), std::string::npos);
  EXPECT_TRUE(f->append("4").IsIOError());
  EXPECT_TRUE(f->append("5").ok());
  // An injected append failure writes nothing.
  EXPECT_EQ(f->size(), 3u);
  EXPECT_EQ(contents(path("a")), "125");
}

TEST_F(FaultInjectionTest, FailNextEachOpKind) {
  write_durable(path("a"), "x", "");
  auto f = fs_.reopen_writable_file(path("a"));
  ASSERT_TRUE(f.ok());

  fs_.fail_next(FaultOp::kSync, FaultError::kEIO);
  EXPECT_TRUE((*f)->sync().IsIOError());
  EXPECT_TRUE((*f)->sync().ok());

  fs_.fail_next(FaultOp::kCreate, FaultError::kENOSPC);
  Status s = fs_.new_writable_file(path("b")).status();
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_NE(s.message().find("injected ENOSPC"), std::string::npos);
  EXPECT_FALSE(base_->file_exists(path("b")));

  fs_.fail_next(FaultOp::kRename, FaultError::kEIO);
  EXPECT_TRUE(fs_.rename_file(path("a"), path("c")).IsIOError());
  EXPECT_TRUE(base_->file_exists(path("a")));

  fs_.fail_next(FaultOp::kRemove, FaultError::kEIO);
  EXPECT_TRUE(fs_.remove_file(path("a")).IsIOError());
  EXPECT_TRUE(base_->file_exists(path("a")));

  fs_.fail_next(FaultOp::kSyncDir, FaultError::kEIO);
  EXPECT_TRUE(fs_.sync_dir(kDir).IsIOError());

  fs_.fail_next(FaultOp::kTruncate, FaultError::kEIO);
  EXPECT_TRUE(fs_.truncate_file(path("a"), 0).IsIOError());
  EXPECT_EQ(contents(path("a")), "x");

  // Each injection was used up.
  EXPECT_TRUE(fs_.truncate_file(path("a"), 0).ok());
  EXPECT_TRUE(fs_.sync_dir(kDir).ok());
}

TEST_F(FaultInjectionTest, FailedSyncDirLeavesCreationUndurable) {
  auto f = create(path("new"));
  ASSERT_TRUE(f->sync().ok());
  fs_.fail_next(FaultOp::kSyncDir, FaultError::kEIO);
  EXPECT_FALSE(fs_.sync_dir(kDir).ok());
  f.reset();
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  EXPECT_FALSE(base_->file_exists(path("new")));
}

TEST_F(FaultInjectionTest, ClearFaultsRemovesInjections) {
  auto f = create(path("a"));
  fs_.fail_next(FaultOp::kAppend, FaultError::kEIO);
  fs_.set_space_limit(1);
  fs_.clear_faults();
  EXPECT_TRUE(f->append("hello").ok());
}

TEST_F(FaultInjectionTest, SpaceLimitWritesTheFittingPartThenNoSpace) {
  write_durable(path("a"), "0123456789", "");  // 10 bytes used
  auto f = create(path("b"));
  fs_.set_space_limit(16);
  EXPECT_TRUE(f->append("abc").ok());  // 13
  Status s = f->append("defghijk");    // 3 of 8 fit
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(f->size(), 6u);
  EXPECT_EQ(contents(path("b")), "abcdef");
  EXPECT_TRUE(f->append("x").IsNoSpace());
  EXPECT_EQ(f->size(), 6u);
  // Freeing space makes room again.
  ASSERT_TRUE(fs_.truncate_file(path("a"), 0).ok());
  EXPECT_TRUE(f->append("xyz").ok());
  fs_.set_space_limit(0);
  EXPECT_TRUE(f->append(std::string(1000, 'z')).ok());
}

TEST_F(FaultInjectionTest, SyncCountCountsSuccessfulSyncs) {
  auto f = create(path("a"));
  EXPECT_EQ(fs_.sync_count(), 0u);
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(f->sync().ok());
  fs_.fail_next(FaultOp::kSync, FaultError::kEIO);
  EXPECT_FALSE(f->sync().ok());
  EXPECT_EQ(fs_.sync_count(), 2u);
  fs_.cut_power();
  EXPECT_FALSE(f->sync().ok());
  EXPECT_EQ(fs_.sync_count(), 2u);
}

TEST_F(FaultInjectionTest, RestartClearsInjectionsAndLimit) {
  fs_.fail_next(FaultOp::kCreate, FaultError::kEIO);
  fs_.set_space_limit(1);
  fs_.cut_power();
  ASSERT_TRUE(fs_.restart().ok());
  auto f = create(path("a"));
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->append("more than one byte").ok());
}

// The wrapper over real files: zero-fill rewrites the file on disk.
TEST(FaultInjectionPosixTest, ZeroFillOnRealFiles) {
  test::ScratchDir dir;
  FaultInjectionFileSystem fs(FileSystem::Default());
  std::string p = JoinPath(dir.path(), "a");
  {
    auto f = fs.new_writable_file(p);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append("keep").ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE(fs.sync_dir(dir.path()).ok());
    ASSERT_TRUE((*f)->append("zero").ok());
  }
  fs.cut_power();
  PowerCutOptions options;
  options.unsynced = PowerCutOptions::Unsynced::kZeroFill;
  ASSERT_TRUE(fs.restart(options).ok());
  std::string data;
  ASSERT_TRUE(FileSystem::Default()->read_file(p, &data).ok());
  EXPECT_EQ(data, std::string("keep\0\0\0\0", 8));
}

}  // namespace
}  // namespace savepoint
