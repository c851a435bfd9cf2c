#include "util/coding.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "tests/testutil.h"

namespace savepoint {
namespace {

TEST(CodingTest, FixedIsLittleEndian) {
  std::string s;
  PutFixed16(&s, 0x0201);
  PutFixed32(&s, 0x06050403);
  PutFixed64(&s, 0x0e0d0c0b0a090807ull);
  ASSERT_EQ(s, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e", 14));
  EXPECT_EQ(DecodeFixed16(s.data()), 0x0201);
  EXPECT_EQ(DecodeFixed32(s.data() + 2), 0x06050403u);
  EXPECT_EQ(DecodeFixed64(s.data() + 6), 0x0e0d0c0b0a090807ull);

  char buf[8];
  EncodeFixed32(buf, 0xdeadbeef);
  EXPECT_EQ(std::string(buf, 4), "\xef\xbe\xad\xde");
  EncodeFixed64(buf, 0xfedcba9876543210ull);
  EXPECT_EQ(DecodeFixed64(buf), 0xfedcba9876543210ull);
}

TEST(CodingTest, FixedRoundTripThroughDecoder) {
  std::string s;
  const std::vector<uint64_t> values = {
      0, 1, 0xff, 0x100, 0xffffffffull, 0x100000000ull, std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : values) {
    PutFixed16(&s, static_cast<uint16_t>(v));
    PutFixed32(&s, static_cast<uint32_t>(v));
    PutFixed64(&s, v);
  }
  Decoder d(s);
  for (uint64_t v : values) {
    uint16_t a;
    uint32_t b;
    uint64_t c;
    ASSERT_TRUE(d.GetFixed16(&a));
    ASSERT_TRUE(d.GetFixed32(&b));
    ASSERT_TRUE(d.GetFixed64(&c));
    EXPECT_EQ(a, static_cast<uint16_t>(v));
    EXPECT_EQ(b, static_cast<uint32_t>(v));
    EXPECT_EQ(c, v);
  }
  EXPECT_TRUE(d.empty());
}

TEST(CodingTest, VarintBoundaries) {
  struct Case {
    uint64_t value;
    size_t length;
  };
  const std::vector<Case> cases = {
      {0, 1},
      {1, 1},
      {127, 1},
      {128, 2},
      {16383, 2},
      {16384, 3},
      {(1ull << 28) - 1, 4},
      {1ull << 28, 5},
      {std::numeric_limits<uint32_t>::max(), 5},
      {1ull << 32, 5},
      {(1ull << 35) - 1, 5},
      {1ull << 35, 6},
      {(1ull << 63) - 1, 9},
      {1ull << 63, 10},
      {std::numeric_limits<uint64_t>::max(), 10},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    std::string s;
    PutVarint64(&s, c.value);
    EXPECT_EQ(s.size(), c.length);
    EXPECT_EQ(VarintLength(c.value), c.length);
    Decoder d(s);
    uint64_t v = 12345;
    ASSERT_TRUE(d.GetVarint64(&v));
    EXPECT_EQ(v, c.value);
    EXPECT_TRUE(d.empty());

    if (c.value <= std::numeric_limits<uint32_t>::max()) {
      std::string s32;
      PutVarint32(&s32, static_cast<uint32_t>(c.value));
      EXPECT_EQ(s32, s);
      Decoder d32(s32);
      uint32_t v32 = 0;
      ASSERT_TRUE(d32.GetVarint32(&v32));
      EXPECT_EQ(v32, c.value);
      EXPECT_TRUE(d32.empty());
    } else {
      // Does not fit 32 bits: a varint32 reader must refuse rather than wrap.
      Decoder d32(s);
      uint32_t v32 = 0;
      EXPECT_FALSE(d32.GetVarint32(&v32));
      EXPECT_EQ(d32.remaining(), s.size());
    }
  }
}

TEST(CodingTest, VarintKnownBytes) {
  std::string s;
  PutVarint32(&s, 300);
  EXPECT_EQ(s, "\xac\x02");
  s.clear();
  PutVarint64(&s, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s, std::string(9, '\xff') + "\x01");
}

TEST(CodingTest, TruncatedVarintRejectedAndCursorUnchanged) {
  for (uint64_t value : {uint64_t{128}, uint64_t{1} << 32, std::numeric_limits<uint64_t>::max()}) {
    std::string s;
    PutVarint64(&s, value);
    for (size_t len = 0; len < s.size(); ++len) {
      SCOPED_TRACE(testing::Message() << value << " cut to " << len);
      Decoder d(std::string_view(s).substr(0, len));
      uint64_t v;
      EXPECT_FALSE(d.GetVarint64(&v));
      EXPECT_EQ(d.remaining(), len);
      uint32_t v32;
      EXPECT_FALSE(d.GetVarint32(&v32));
      EXPECT_EQ(d.remaining(), len);
    }
  }
}

TEST(CodingTest, OverlongVarintRejected) {
  // 11 bytes with continuation bits: longer than any varint64.
  std::string s(10, '\x80');
  s.push_back('\x00');
  uint64_t v;
  EXPECT_FALSE(Decoder(s).GetVarint64(&v));

  // 10 bytes whose last group carries bits beyond 64.
  std::string over = std::string(9, '\xff') + "\x02";
  EXPECT_FALSE(Decoder(over).GetVarint64(&v));
  std::string max = std::string(9, '\xff') + "\x01";
  ASSERT_TRUE(Decoder(max).GetVarint64(&v));
  EXPECT_EQ(v, std::numeric_limits<uint64_t>::max());

  // varint32: fifth byte may carry at most 4 bits; a sixth byte is never allowed.
  uint32_t v32;
  EXPECT_FALSE(Decoder(std::string("\xff\xff\xff\xff\x10", 5)).GetVarint32(&v32));
  ASSERT_TRUE(Decoder(std::string("\xff\xff\xff\xff\x0f", 5)).GetVarint32(&v32));
  EXPECT_EQ(v32, std::numeric_limits<uint32_t>::max());
  EXPECT_FALSE(Decoder(std::string("\x80\x80\x80\x80\x80\x00", 6)).GetVarint32(&v32));
}

TEST(CodingTest, TruncatedFixedRejected) {
  std::string s;
  PutFixed64(&s, 42);
  for (size_t len = 0; len < 8; ++len) {
    Decoder d(std::string_view(s).substr(0, len));
    uint64_t v64;
    uint32_t v32;
    uint16_t v16;
    EXPECT_FALSE(d.GetFixed64(&v64));
    EXPECT_EQ(d.GetFixed32(&v32), len >= 4);
    Decoder d2(std::string_view(s).substr(0, len));
    EXPECT_EQ(d2.GetFixed16(&v16), len >= 2);
  }
}

TEST(CodingTest, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "");
  PutLengthPrefixed(&s, "hello");
  PutLengthPrefixed(&s, std::string(300, 'x'));
  PutLengthPrefixed(&s, std::string("a\0b", 3));
  Decoder d(s);
  std::string_view v;
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, "");
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, "hello");
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, std::string(300, 'x'));
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, std::string("a\0b", 3));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(d.GetLengthPrefixed(&v));
}

TEST(CodingTest, LengthPrefixedTruncatedOrHugeRejected) {
  std::string s;
  PutLengthPrefixed(&s, "hello world");
  for (size_t len = 0; len < s.size(); ++len) {
    Decoder d(std::string_view(s).substr(0, len));
    std::string_view v;
    EXPECT_FALSE(d.GetLengthPrefixed(&v)) << len;
    EXPECT_EQ(d.remaining(), len);
  }
  // A length near 2^64 must not wrap the bounds check.
  std::string huge;
  PutVarint64(&huge, std::numeric_limits<uint64_t>::max());
  huge += "abc";
  std::string_view v;
  EXPECT_FALSE(Decoder(huge).GetLengthPrefixed(&v));
}

TEST(CodingTest, GetBytesAndRest) {
  Decoder d("abcdef");
  std::string_view v;
  ASSERT_TRUE(d.GetBytes(2, &v));
  EXPECT_EQ(v, "ab");
  EXPECT_EQ(d.rest(), "cdef");
  EXPECT_EQ(d.remaining(), 4u);
  EXPECT_FALSE(d.GetBytes(5, &v));
  EXPECT_EQ(d.rest(), "cdef");
  ASSERT_TRUE(d.GetBytes(4, &v));
  EXPECT_EQ(v, "cdef");
  EXPECT_TRUE(d.empty());
  ASSERT_TRUE(d.GetBytes(0, &v));
  EXPECT_EQ(v, "");
}

TEST(CodingTest, RandomVarintStreamRoundTrips) {
  std::mt19937_64 rng(test::TestSeed());
  std::vector<uint64_t> values;
  std::string s;
  for (int i = 0; i < 5000; ++i) {
    // Spread over all lengths: random value masked to a random bit width.
    const unsigned bits = static_cast<unsigned>(rng() % 65);
    const uint64_t v = bits == 64 ? rng() : (rng() & ((uint64_t{1} << bits) - 1));
    values.push_back(v);
    PutVarint64(&s, v);
  }
  Decoder d(s);
  for (uint64_t expected : values) {
    uint64_t v;
    ASSERT_TRUE(d.GetVarint64(&v));
    ASSERT_EQ(v, expected);
  }
  EXPECT_TRUE(d.empty());
}

TEST(CodingTest, RandomGarbageNeverReadsOutOfBounds) {
  // Run under ASan: every getter on arbitrary bytes must stay inside the view (copied to an exact-size heap
  // buffer so an overread is caught).
  std::mt19937_64 rng(test::TestSeed());
  for (int i = 0; i < 2000; ++i) {
    const std::string garbage = test::RandomBytes(rng, rng() % 24);
    std::vector<char> exact(garbage.begin(), garbage.end());
    Decoder d(std::string_view(exact.data(), exact.size()));
    while (!d.empty()) {
      const size_t before = d.remaining();
      uint64_t v64;
      uint32_t v32;
      std::string_view sv;
      bool ok = false;
      switch (rng() % 6) {
        case 0:
          ok = d.GetVarint64(&v64);
          break;
        case 1:
          ok = d.GetVarint32(&v32);
          break;
        case 2:
          ok = d.GetFixed32(&v32);
          break;
        case 3:
          ok = d.GetFixed64(&v64);
          break;
        case 4:
          ok = d.GetLengthPrefixed(&sv);
          break;
        default:
          ok = d.GetBytes(rng() % 4, &sv);
          break;
      }
      ASSERT_LE(d.remaining(), before);
      if (!ok) {
        ASSERT_EQ(d.remaining(), before);
        std::string_view skip;
        ASSERT_TRUE(d.GetBytes(1, &skip));
      }
    }
  }
}

}  // namespace
}  // namespace savepoint
