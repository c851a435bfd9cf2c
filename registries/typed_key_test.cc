#include <gtest/gtest.h>

#include "savepoint/registry.h"

namespace savepoint {
namespace {

// EncodeTypedKey writes the bytes directly; they must be exactly the key codec's encoding of the elements.
TEST(TypedKey, DirectEncodingEqualsTheCodecs) {
  const Uuid u = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a962");
  EXPECT_EQ(EncodeTypedKey(int64_t{-5}), EncodeKey({int64_t{-5}}));
  EXPECT_EQ(EncodeTypedKey(int32_t{7}), EncodeKey({int64_t{7}}));
  EXPECT_EQ(EncodeTypedKey(uint32_t{7}), EncodeKey({uint64_t{7}}));
  EXPECT_EQ(EncodeTypedKey(std::string("a\0b", 3)), EncodeKey({std::string("a\0b", 3)}));
  EXPECT_EQ(EncodeTypedKey(u), EncodeKey({u}));
  const auto t = std::make_tuple(u, std::string("x"), int64_t{1} << 40, uint64_t{9});
  EXPECT_EQ(EncodeTypedKey(t), EncodeKey({u, std::string("x"), int64_t{1} << 40, uint64_t{9}}));
  auto back = DecodeTypedKey<std::tuple<Uuid, std::string, int64_t, uint64_t>>(EncodeTypedKey(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, t);
}

}  // namespace
}  // namespace savepoint
