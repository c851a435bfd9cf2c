// The FileSystem contract, checked against the POSIX file system (in a scratch directory) and the
// in-memory one: both must behave alike wherever savepoint relies on them.
#include "savepoint/file_system.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "tests/testutil.h"

namespace savepoint {
namespace {

TEST(FileSystemPathTest, JoinPathUsesExactlyOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a//", "/b"), "a/b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("/x/y", "wal/1.wal"), "/x/y/wal/1.wal");
}

TEST(FileSystemPathTest, DirNameAsDirname3) {
  EXPECT_EQ(DirName("a/b"), "a");
  EXPECT_EQ(DirName("/x/y/z.wal"), "/x/y");
  EXPECT_EQ(DirName("a//b"), "a");
  EXPECT_EQ(DirName("a/b/"), "a");
  EXPECT_EQ(DirName("b"), ".");
  EXPECT_EQ(DirName("/b"), "/");
  EXPECT_EQ(DirName("/"), "/");
  EXPECT_EQ(DirName(""), ".");
}

enum class Kind { kPosix, kMem };

class FileSystemTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kPosix) {
      scratch_ = std::make_unique<test::ScratchDir>();
      fs_ = FileSystem::Default();
      root_ = scratch_->path();
    } else {
      mem_ = NewMemFileSystem();
      fs_ = mem_.get();
      root_ = "/db";
      ASSERT_TRUE(fs_->create_dirs(root_).ok());
    }
  }

  std::string path(std::string_view name) const { return JoinPath(root_, name); }

  void write(const std::string& p, std::string_view data) {
    auto f = fs_->new_writable_file(p);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->append(data).ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE((*f)->close().ok());
  }

  std::string read(const std::string& p) {
    std::string contents;
    Status s = fs_->read_file(p, &contents);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return contents;
  }

  std::unique_ptr<test::ScratchDir> scratch_;
  std::unique_ptr<FileSystem> mem_;
  FileSystem* fs_ = nullptr;
  std::string root_;
};

TEST_P(FileSystemTest, CreateAppendSizeRead) {
  auto f = fs_->new_writable_file(path("a"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->size(), 0u);
  ASSERT_TRUE((*f)->append("hello ").ok());
  ASSERT_TRUE((*f)->append(std::string("wor\0ld", 6)).ok());
  EXPECT_EQ((*f)->size(), 12u);
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_TRUE(fs_->file_exists(path("a")));
  auto size = fs_->file_size(path("a"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 12u);
  EXPECT_EQ(read(path("a")), std::string("hello wor\0ld", 12));
}

TEST_P(FileSystemTest, NewWritableFileTruncatesExisting) {
  write(path("a"), "old contents");
  write(path("a"), "new");
  EXPECT_EQ(read(path("a")), "new");
}

TEST_P(FileSystemTest, ReopenAppendsAtEnd) {
  write(path("a"), "abc");
  auto f = fs_->reopen_writable_file(path("a"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->size(), 3u);
  ASSERT_TRUE((*f)->append("def").ok());
  EXPECT_EQ((*f)->size(), 6u);
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_EQ(read(path("a")), "abcdef");
}

TEST_P(FileSystemTest, AppendAfterCloseFails) {
  auto f = fs_->new_writable_file(path("a"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_FALSE((*f)->append("x").ok());
}

TEST_P(FileSystemTest, ListDirIsSortedNamesWithoutDots) {
  write(path("c"), "");
  write(path("a"), "");
  write(path("b10"), "");
  write(path("b2"), "");
  ASSERT_TRUE(fs_->create_dirs(path("sub/deeper")).ok());
  write(path("sub/inner"), "");
  auto names = fs_->list_dir(root_);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b10", "b2", "c", "sub"}));
  auto sub = fs_->list_dir(path("sub"));
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(*sub, (std::vector<std::string>{"deeper", "inner"}));
  auto empty = fs_->list_dir(path("sub/deeper"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_P(FileSystemTest, CreateDirsIsRecursiveAndIdempotent) {
  ASSERT_TRUE(fs_->create_dirs(path("x/y/z")).ok());
  ASSERT_TRUE(fs_->create_dirs(path("x/y/z")).ok());
  ASSERT_TRUE(fs_->create_dirs(path("x/y/")).ok());
  write(path("x/y/z/f"), "data");
  EXPECT_EQ(read(path("x/y/z/f")), "data");
  EXPECT_TRUE(fs_->sync_dir(path("x/y/z")).ok());
}

TEST_P(FileSystemTest, CreateDirsOverAFileFails) {
  write(path("f"), "");
  EXPECT_FALSE(fs_->create_dirs(path("f")).ok());
}

TEST_P(FileSystemTest, RenameReplacesDestination) {
  write(path("from"), "new");
  write(path("to"), "old and longer");
  ASSERT_TRUE(fs_->rename_file(path("from"), path("to")).ok());
  EXPECT_FALSE(fs_->file_exists(path("from")));
  EXPECT_EQ(read(path("to")), "new");
  ASSERT_TRUE(fs_->sync_dir(root_).ok());
}

TEST_P(FileSystemTest, OpenFileFollowsRename) {
  auto f = fs_->new_writable_file(path("from"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("ab").ok());
  ASSERT_TRUE(fs_->rename_file(path("from"), path("to")).ok());
  ASSERT_TRUE((*f)->append("cd").ok());
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_EQ(read(path("to")), "abcd");
}

TEST_P(FileSystemTest, TruncateShrinks) {
  write(path("a"), "0123456789");
  ASSERT_TRUE(fs_->truncate_file(path("a"), 4).ok());
  EXPECT_EQ(read(path("a")), "0123");
  auto size = fs_->file_size(path("a"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 4u);
}

TEST_P(FileSystemTest, RemoveDeletes) {
  write(path("a"), "x");
  ASSERT_TRUE(fs_->remove_file(path("a")).ok());
  EXPECT_FALSE(fs_->file_exists(path("a")));
  EXPECT_TRUE(fs_->remove_file(path("a")).IsNotFound());
}

TEST_P(FileSystemTest, MissingPathsAreNotFound) {
  std::string contents;
  EXPECT_TRUE(fs_->read_file(path("nope"), &contents).IsNotFound());
  EXPECT_TRUE(fs_->file_size(path("nope")).status().IsNotFound());
  EXPECT_FALSE(fs_->file_exists(path("nope")));
  EXPECT_TRUE(fs_->list_dir(path("nodir")).status().IsNotFound());
  EXPECT_TRUE(fs_->reopen_writable_file(path("nope")).status().IsNotFound());
  EXPECT_TRUE(fs_->remove_file(path("nope")).IsNotFound());
  EXPECT_TRUE(fs_->rename_file(path("nope"), path("other")).IsNotFound());
  EXPECT_TRUE(fs_->truncate_file(path("nope"), 0).IsNotFound());
  EXPECT_TRUE(fs_->sync_dir(path("nodir")).IsNotFound());
  // A file can only be created in an existing directory.
  EXPECT_TRUE(fs_->new_writable_file(path("nodir/f")).status().IsNotFound());
  EXPECT_TRUE(fs_->lock_file(path("nodir/LOCK")).status().IsNotFound());
}

TEST_P(FileSystemTest, ErrorMessagesNameThePath) {
  std::string contents;
  Status s = fs_->read_file(path("missing-file"), &contents);
  EXPECT_NE(s.message().find(path("missing-file")), std::string::npos) << s.ToString();
}

TEST_P(FileSystemTest, SecondLockIsBusyUntilFirstIsReleased) {
  auto first = fs_->lock_file(path("LOCK"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(fs_->file_exists(path("LOCK")));
  auto second = fs_->lock_file(path("LOCK"));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  EXPECT_NE(second.status().message().find(path("LOCK")), std::string::npos);
  // Another path is independent.
  auto other = fs_->lock_file(path("OTHER"));
  EXPECT_TRUE(other.ok()) << other.status().ToString();
  first->reset();
  auto third = fs_->lock_file(path("LOCK"));
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(All, FileSystemTest, ::testing::Values(Kind::kPosix, Kind::kMem),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kPosix ? "Posix" : "Mem";
                         });

TEST(PosixFileSystemTest, BusyMessageNamesThisProcess) {
  test::ScratchDir dir;
  FileSystem* fs = FileSystem::Default();
  std::string lock_path = JoinPath(dir.path(), "LOCK");
  auto first = fs->lock_file(lock_path);
  ASSERT_TRUE(first.ok());
  std::string contents;
  ASSERT_TRUE(fs->read_file(lock_path, &contents).ok());
  EXPECT_EQ(contents, std::to_string(getpid()) + "\n");
  auto second = fs->lock_file(lock_path);
  ASSERT_TRUE(second.status().IsBusy());
  EXPECT_NE(second.status().message().find(std::to_string(getpid())), std::string::npos)
      << second.status().ToString();
}

// A lock held by another process: the fcntl lock, not the in-process set, must refuse it, and the message
// must name the holder read from the file.
TEST(PosixFileSystemTest, BusyMessageNamesOtherProcessPid) {
  test::ScratchDir dir;
  std::string lock_path = JoinPath(dir.path(), "LOCK");
  int locked[2];
  int release[2];
  ASSERT_EQ(pipe(locked), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(locked[0]);
    close(release[1]);  // else the read below never sees the parent's end close
    auto lock = FileSystem::Default()->lock_file(lock_path);
    char c = lock.ok() ? 'y' : 'n';
    (void)!write(locked[1], &c, 1);
    (void)!read(release[0], &c, 1);  // hold the lock until the parent has looked
    _exit(lock.ok() ? 0 : 1);
  }
  close(locked[1]);
  close(release[0]);
  char c = 0;
  ASSERT_EQ(read(locked[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');

  auto mine = FileSystem::Default()->lock_file(lock_path);
  EXPECT_FALSE(mine.ok());
  EXPECT_TRUE(mine.status().IsBusy()) << mine.status().ToString();
  EXPECT_NE(mine.status().message().find("process " + std::to_string(child)), std::string::npos)
      << mine.status().ToString();

  close(release[1]);  // the child exits, and its lock goes with it
  close(locked[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto after = FileSystem::Default()->lock_file(lock_path);
  EXPECT_TRUE(after.ok()) << after.status().ToString();
}

}  // namespace
}  // namespace savepoint
