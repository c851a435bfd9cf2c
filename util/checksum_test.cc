#include "util/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace savepoint {
namespace {

TEST(Checksum, SplitEqualsWhole) {
  std::string a = "header bytes", b = "payload bytes";
  EXPECT_EQ(Checksum64(a + b), Checksum64(a, b));
  EXPECT_EQ(Checksum64(""), Checksum64("", ""));
}

TEST(Checksum, EveryBitFlipChangesIt) {
  std::string s(300, 'x');
  for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>(i * 7);
  const uint64_t base = Checksum64(s);
  for (size_t byte = 0; byte < s.size(); byte++) {
    for (int bit = 0; bit < 8; bit++) {
      s[byte] ^= static_cast<char>(1 << bit);
      EXPECT_NE(Checksum64(s), base) << byte << ":" << bit;
      s[byte] ^= static_cast<char>(1 << bit);
    }
  }
}

}  // namespace
}  // namespace savepoint
