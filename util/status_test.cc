#include "savepoint/status.h"

#include <gtest/gtest.h>

namespace savepoint {
namespace {

TEST(Status, OkAndKinds) {
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status::OK().ToString(), "OK");
  Status s = Status::Corruption("wal/x.wal: bad checksum at offset 40");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_FALSE(s.IsIOError());
  EXPECT_EQ(s.ToString(), "Corruption: wal/x.wal: bad checksum at offset 40");
  EXPECT_TRUE(Status::NoSpace("x").IsNoSpace());
  EXPECT_TRUE(Status::Fatal("x").IsFatal());
  EXPECT_TRUE(Status::Busy("x").IsBusy());
  EXPECT_TRUE(Status::Conflict("x").IsConflict());
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::InvalidArgument("x").IsInvalidArgument());
}

TEST(Status, WithContextKeepsKind) {
  Status s = Status::IOError("disk gone").WithContext("opening wal");
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.message(), "opening wal: disk gone");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  SP_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::OK();
}

TEST(Result, ValueOrStatus) {
  Result<int> r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  Result<int> e = Half(3);
  EXPECT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsInvalidArgument());
  int out = 0;
  EXPECT_TRUE(UseHalf(3, &out).IsInvalidArgument());
  EXPECT_TRUE(UseHalf(10, &out).ok());
  EXPECT_EQ(out, 5);
}

}  // namespace
}  // namespace savepoint
