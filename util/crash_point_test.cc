#include "savepoint/crash_point.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace savepoint {
namespace {

class CrashPointTest : public ::testing::Test {
 protected:
  void TearDown() override { DisarmAllCrashPoints(); }
};

TEST_F(CrashPointTest, UnarmedDoesNothing) {
  SP_CRASH_POINT("wal.after_write_before_sync");
  EXPECT_EQ(CrashPointHits("wal.after_write_before_sync"), 0u);
}

TEST_F(CrashPointTest, SkipThenActionOnce) {
  int fired = 0;
  ArmCrashPoint("wal.after_sync_before_ack", 2, [&](std::string_view name) {
    EXPECT_EQ(name, "wal.after_sync_before_ack");
    fired++;
  });
  for (int i = 0; i < 5; i++) SP_CRASH_POINT("wal.after_sync_before_ack");
  EXPECT_EQ(fired, 1);  // third hit fired, then disarmed
  EXPECT_EQ(CrashPointHits("wal.after_sync_before_ack"), 5u);
}

TEST_F(CrashPointTest, DefaultActionExitsLikeKill) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ArmCrashPoint("wal.before_segment_create");
    SP_CRASH_POINT("wal.before_segment_create");
    _exit(0);  // not reached when the point works
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kCrashExit);
}

// Every SP_CRASH_POINT("...") in the sources is listed in AllCrashPoints(), so the torture driver reaches it.
TEST_F(CrashPointTest, EveryPointInTheCodeIsListed) {
  std::set<std::string> listed;
  for (auto n : AllCrashPoints()) listed.emplace(n);
  const std::string root = SAVEPOINT_SOURCE_DIR;
  const std::regex use(R"re(SP_CRASH_POINT\("([a-z_.]+)"\))re");
  int found = 0;
  for (const char* dir : {"util", "wal", "snapshot", "engine", "registries"}) {
    std::string cmd = "find '" + root + "/" + dir + "' -name '*.cc' 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char line[4096];
    while (fgets(line, sizeof line, p) != nullptr) {
      std::string path(line);
      path.erase(path.find_last_not_of('\n') + 1);
      if (path.find("_test.cc") != std::string::npos) continue;
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      for (std::sregex_iterator it(text.begin(), text.end(), use), end; it != end; ++it) {
        found++;
        EXPECT_TRUE(listed.count((*it)[1].str())) << (*it)[1].str() << " used in " << path << " but not listed";
      }
    }
    pclose(p);
  }
  EXPECT_GT(found, 0);
}

}  // namespace
}  // namespace savepoint
