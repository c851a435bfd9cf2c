#include "savepoint/key_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "tests/testutil.h"

namespace savepoint {
namespace {

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// RocksDB's BytewiseComparator: memcmp over the common length, then shorter first.
int Bytewise(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  const int r = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  if (r != 0) return r < 0 ? -1 : 1;
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

int Sign(auto a, auto b) { return a < b ? -1 : (b < a ? 1 : 0); }

int CompareUnsignedBytes(std::string_view a, std::string_view b) {
  const bool less = std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<uint8_t>(x) < static_cast<uint8_t>(y);
  });
  if (less) return -1;
  return a == b ? 0 : 1;
}

// The natural order of typed tuples, written out independently of std::variant's comparison: element by
// element; across types by tag; a proper prefix first.
int NaturalCompare(const KeyTuple& a, const KeyTuple& b) {
  static constexpr uint8_t kTagOfIndex[] = {key_tag::kNull,  key_tag::kBytes,  key_tag::kString,
                                            key_tag::kInt64, key_tag::kUint64, key_tag::kBool,
                                            key_tag::kUuid};
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const KeyElement& x = a[i];
    const KeyElement& y = b[i];
    if (x.index() != y.index()) return Sign(kTagOfIndex[x.index()], kTagOfIndex[y.index()]);
    int c = 0;
    if (auto* p = std::get_if<Bytes>(&x)) c = CompareUnsignedBytes(p->data, std::get<Bytes>(y).data);
    if (auto* p = std::get_if<std::string>(&x)) c = CompareUnsignedBytes(*p, std::get<std::string>(y));
    if (auto* p = std::get_if<int64_t>(&x)) c = Sign(*p, std::get<int64_t>(y));
    if (auto* p = std::get_if<uint64_t>(&x)) c = Sign(*p, std::get<uint64_t>(y));
    if (auto* p = std::get_if<bool>(&x)) c = Sign(int{*p}, int{std::get<bool>(y)});
    if (auto* p = std::get_if<Uuid>(&x)) {
      c = CompareUnsignedBytes(
          std::string_view(reinterpret_cast<const char*>(p->bytes.data()), 16),
          std::string_view(reinterpret_cast<const char*>(std::get<Uuid>(y).bytes.data()), 16));
    }
    if (c != 0) return c;
  }
  return Sign(a.size(), b.size());
}

Uuid MustParseUuid(std::string_view s) {
  Result<Uuid> u = Uuid::Parse(s);
  EXPECT_TRUE(u.ok()) << u.status().ToString();
  return u.ok() ? *u : Uuid{};
}

// Random values drawn from small pools full of edge cases, so equal prefixes (and hence deep comparisons)
// are common.
class TupleGen {
 public:
  explicit TupleGen(uint64_t seed) : rng_(seed) {
    for (int i = 0; i < 3; ++i) uuids_.push_back(RandomUuid());
    uuids_.push_back(Uuid{});
    Uuid all_ff;
    all_ff.bytes.fill(0xff);
    uuids_.push_back(all_ff);
  }

  std::mt19937_64& rng() { return rng_; }

  // Bytes mostly from {00, 01, 'a', fe, ff}: the escape-relevant values.
  std::string RandomContent() {
    static constexpr char kAlphabet[] = {'\x00', '\x01', 'a', '\xfe', '\xff'};
    std::string s(rng_() % 5, '\0');
    for (char& c : s) c = (rng_() % 8 == 0) ? static_cast<char>(rng_()) : kAlphabet[rng_() % 5];
    return s;
  }

  Uuid RandomUuid() {
    Uuid u;
    for (auto& b : u.bytes) b = static_cast<uint8_t>(rng_());
    return u;
  }

  KeyElement Random(size_t type_index) {
    switch (type_index) {
      case 0:
        return std::monostate{};
      case 1:
        return Bytes{RandomContent()};
      case 2:
        return RandomContent();
      case 3: {
        static constexpr int64_t kPool[] = {kI64Min, kI64Min + 1, -256, -255,        -1,     0,
                                            1,       255,         256,  kI64Max - 1, kI64Max};
        if (rng_() % 4 == 0) return static_cast<int64_t>(rng_());
        return kPool[rng_() % std::size(kPool)];
      }
      case 4: {
        static constexpr uint64_t kPool[] = {0, 1, 255, 256, uint64_t{1} << 63, kU64Max - 1, kU64Max};
        if (rng_() % 4 == 0) return static_cast<uint64_t>(rng_());
        return kPool[rng_() % std::size(kPool)];
      }
      case 5:
        return rng_() % 2 == 0;
      default:
        if (rng_() % 4 == 0) return RandomUuid();
        return uuids_[rng_() % uuids_.size()];
    }
  }

  std::vector<size_t> RandomShape(size_t max_len) {
    std::vector<size_t> shape(rng_() % (max_len + 1));
    for (size_t& t : shape) t = rng_() % std::variant_size_v<KeyElement>;
    return shape;
  }

  KeyTuple Random(const std::vector<size_t>& shape) {
    KeyTuple t;
    for (size_t type_index : shape) t.push_back(Random(type_index));
    return t;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<Uuid> uuids_;
};

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

// ---- Uuid ----

TEST(UuidTest, ParseAndFormat) {
  const Uuid u = MustParseUuid("3b241101-e2bb-4255-8caf-4136c566a962");
  EXPECT_EQ(u.bytes[0], 0x3b);
  EXPECT_EQ(u.bytes[15], 0x62);
  EXPECT_EQ(u.ToString(), "3b241101-e2bb-4255-8caf-4136c566a962");
  EXPECT_EQ(MustParseUuid("3B241101-E2BB-4255-8CAF-4136C566A962"), u);
  EXPECT_TRUE(Uuid{}.is_nil());
  EXPECT_FALSE(u.is_nil());
  EXPECT_EQ(Uuid{}.ToString(), "00000000-0000-0000-0000-000000000000");
}

TEST(UuidTest, ParseRejectsMalformed) {
  for (std::string_view bad :
       {"", "3b241101", "3b241101-e2bb-4255-8caf-4136c566a96", "3b241101-e2bb-4255-8caf-4136c566a9622",
        "3b241101e2bb-4255-8caf-4136c566a9622", "3b241101-e2bb-4255-8caf-4136c566a96g",
        "{3b241101-e2bb-4255-8caf-4136c566a96}", "3b241101-e2bb-4255-8caf_4136c566a962"}) {
    Result<Uuid> r = Uuid::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    }
  }
}

TEST(UuidTest, GenerateIsUniqueAndRoundTrips) {
  std::set<Uuid> seen;
  for (int i = 0; i < 1000; ++i) {
    const Uuid u = Uuid::Generate();
    EXPECT_FALSE(u.is_nil());
    EXPECT_TRUE(seen.insert(u).second);
    EXPECT_EQ(MustParseUuid(u.ToString()), u);
  }
}

TEST(UuidTest, ByteOrderIsTextOrder) {
  std::mt19937_64 rng(test::TestSeed());
  for (int i = 0; i < 1000; ++i) {
    Uuid a, b;
    for (auto& x : a.bytes) x = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng());
    b = a;
    b.bytes[rng() % 16] = static_cast<uint8_t>(rng());
    EXPECT_EQ(Sign(a, b), Sign(a.ToString(), b.ToString()));
  }
}

// ---- binary encoding ----

TEST(KeyCodecTest, KnownEncodings) {
  const Uuid u = MustParseUuid("3b241101-e2bb-4255-8caf-4136c566a962");
  // The worked example in key_codec.h.
  EXPECT_EQ(Hex(EncodeKey({u, std::string("a\0b", 3), int64_t{-1}})),
            "303b241101e2bb42558caf4136c566a962"
            "026100ff6200"
            "147fffffffffffffff");
  EXPECT_EQ(Hex(EncodeKey({std::monostate{}})), "00");
  EXPECT_EQ(Hex(EncodeKey({Bytes{std::string("\0\xff", 2)}})), "0100ffff00");
  EXPECT_EQ(Hex(EncodeKey({std::string()})), "0200");
  EXPECT_EQ(Hex(EncodeKey({int64_t{0}})), "148000000000000000");
  EXPECT_EQ(Hex(EncodeKey({kI64Min})), "140000000000000000");
  EXPECT_EQ(Hex(EncodeKey({kI64Max})), "14ffffffffffffffff");
  EXPECT_EQ(Hex(EncodeKey({uint64_t{258}})), "150000000000000102");
  EXPECT_EQ(Hex(EncodeKey({false, true})), "26002601");
  EXPECT_EQ(EncodeKey({}), "");
}

TEST(KeyCodecTest, IntegerOrder) {
  const std::vector<int64_t> ordered = {kI64Min, kI64Min + 1, -65536, -256, -1, 0, 1, 255, 256, kI64Max};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_LT(Bytewise(EncodeKey({ordered[i]}), EncodeKey({ordered[i + 1]})), 0) << ordered[i];
  }
  EXPECT_LT(Bytewise(EncodeKey({uint64_t{255}}), EncodeKey({uint64_t{256}})), 0);
  EXPECT_LT(Bytewise(EncodeKey({uint64_t{1} << 63}), EncodeKey({kU64Max})), 0);
}

TEST(KeyCodecTest, StringsWithZerosOrderAndStayPrefixFree) {
  // Sorted by content; each followed by another element to check the terminator never breaks order.
  const std::vector<std::string> ordered = {"",
                                            std::string("\0", 1),
                                            std::string("\0\0", 2),
                                            std::string("\0\x01", 2),
                                            std::string("\0\xff", 2),
                                            "\x01",
                                            "a",
                                            std::string("a\0", 2),
                                            std::string("a\0\xff", 3),
                                            "a\x01",
                                            "ab",
                                            "\xff",
                                            "\xff\xff"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    for (const KeyElement& tail : {KeyElement{}, KeyElement{Uuid{}}, KeyElement{std::string("\xff")}}) {
      const std::string a = EncodeKey({ordered[i], tail});
      const std::string b = EncodeKey({ordered[i + 1]});
      EXPECT_LT(Bytewise(a, b), 0) << Hex(a) << " vs " << Hex(b);
    }
  }
}

TEST(KeyCodecTest, CrossTypeOrderFollowsTags) {
  const KeyTuple ordered = {std::monostate{}, Bytes{"\xff"}, std::string(), kI64Max,
                            uint64_t{0},      true,          Uuid{}};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_LT(Bytewise(EncodeKey({ordered[i]}), EncodeKey({ordered[i + 1]})), 0) << i;
  }
}

TEST(KeyCodecTest, RandomSameShapeOrderMatchesNaturalOrder) {
  TupleGen gen(test::TestSeed());
  int less = 0, equal = 0, greater = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::vector<size_t> shape = gen.RandomShape(4);
    const KeyTuple a = gen.Random(shape);
    const KeyTuple b = gen.Random(shape);
    const int natural = NaturalCompare(a, b);
    const std::string ea = EncodeKey(a);
    const std::string eb = EncodeKey(b);
    ASSERT_EQ(Bytewise(ea, eb), natural) << KeyToText(a) << " vs " << KeyToText(b) << "\n"
                                         << Hex(ea) << "\n"
                                         << Hex(eb);
    // The header's claim: std::variant's comparison is the same order.
    ASSERT_EQ(Sign(a, b), natural) << KeyToText(a) << " vs " << KeyToText(b);
    (natural < 0 ? less : natural == 0 ? equal : greater)++;
  }
  // The generator must exercise all outcomes, or the test proves little.
  EXPECT_GT(less, 1000);
  EXPECT_GT(equal, 100);
  EXPECT_GT(greater, 1000);
}

TEST(KeyCodecTest, RandomMixedShapeOrderMatchesNaturalOrder) {
  TupleGen gen(test::TestSeed());
  for (int i = 0; i < 20000; ++i) {
    KeyTuple a = gen.Random(gen.RandomShape(4));
    KeyTuple b = gen.Random(gen.RandomShape(4));
    // Half the time share a prefix so the deciding element sits deeper.
    if (gen.rng()() % 2 == 0 && !a.empty()) {
      b.insert(b.begin(), a.begin(), a.begin() + static_cast<ptrdiff_t>(gen.rng()() % (a.size() + 1)));
    }
    ASSERT_EQ(Bytewise(EncodeKey(a), EncodeKey(b)), NaturalCompare(a, b))
        << KeyToText(a) << " vs " << KeyToText(b);
  }
}

TEST(KeyCodecTest, SortingEncodedKeysSortsTuples) {
  TupleGen gen(test::TestSeed());
  std::vector<KeyTuple> tuples;
  for (int i = 0; i < 2000; ++i) tuples.push_back(gen.Random(gen.RandomShape(3)));
  std::vector<std::string> encoded;
  for (const KeyTuple& t : tuples) encoded.push_back(EncodeKey(t));
  std::sort(tuples.begin(), tuples.end(),
            [](const KeyTuple& a, const KeyTuple& b) { return NaturalCompare(a, b) < 0; });
  std::sort(encoded.begin(), encoded.end(),
            [](const std::string& a, const std::string& b) { return Bytewise(a, b) < 0; });
  for (size_t i = 0; i < tuples.size(); ++i) {
    Result<KeyTuple> d = DecodeKey(encoded[i]);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_EQ(*d, tuples[i]) << i;
  }
}

TEST(KeyCodecTest, DecodeInvertsEncode) {
  TupleGen gen(test::TestSeed());
  for (int i = 0; i < 10000; ++i) {
    const KeyTuple t = gen.Random(gen.RandomShape(6));
    const std::string e = EncodeKey(t);
    Result<KeyTuple> d = DecodeKey(e);
    ASSERT_TRUE(d.ok()) << KeyToText(t) << ": " << d.status().ToString();
    ASSERT_EQ(*d, t) << KeyToText(t);
    // Element-wise appending builds the same key.
    std::string appended;
    for (const KeyElement& el : t) AppendKeyElement(&appended, el);
    ASSERT_EQ(appended, e);
  }
}

TEST(KeyCodecTest, TenantPrefixBoundsItsRows) {
  TupleGen gen(test::TestSeed());
  const Uuid tenant = gen.RandomUuid();
  const std::string prefix = EncodeKey({tenant});
  const std::string upper = PrefixUpperBound(prefix);
  ASSERT_FALSE(upper.empty());
  EXPECT_EQ(TuplePrefixUpperBound(prefix), prefix + "\xff");
  for (int i = 0; i < 5000; ++i) {
    KeyTuple row = {tenant};
    for (const KeyElement& e : gen.Random(gen.RandomShape(3))) row.push_back(e);
    const std::string key = EncodeKey(row);
    ASSERT_EQ(key.compare(0, prefix.size(), prefix), 0) << KeyToText(row);
    ASSERT_GE(Bytewise(key, prefix), 0);
    ASSERT_LT(Bytewise(key, upper), 0) << KeyToText(row);
    ASSERT_LT(Bytewise(key, TuplePrefixUpperBound(prefix)), 0) << KeyToText(row);

    // Another tenant's rows fall outside the range.
    Uuid other = tenant;
    other.bytes[gen.rng()() % 16] ^= static_cast<uint8_t>(1 + gen.rng()() % 255);
    row[0] = other;
    const std::string other_key = EncodeKey(row);
    ASSERT_TRUE(Bytewise(other_key, prefix) < 0 || Bytewise(other_key, upper) >= 0) << KeyToText(row);
  }
}

TEST(KeyCodecTest, TupleBoundExcludesLongerStringsThatShareBytes) {
  // ("ab") encodes as a byte prefix of ("ab\0"): the byte-wise bound includes it, the tuple bound must not.
  const std::string ab = EncodeKey({std::string("ab")});
  const std::string ab0 = EncodeKey({std::string("ab\0", 3)});
  const std::string ab_child = EncodeKey({std::string("ab"), kI64Max});
  const std::string ab_ff_child = EncodeKey({std::string("ab"), Uuid{}});
  ASSERT_EQ(ab0.compare(0, ab.size(), ab), 0);
  EXPECT_LT(Bytewise(ab0, PrefixUpperBound(ab)), 0);  // why PrefixUpperBound is the wrong tool here
  EXPECT_GE(Bytewise(ab0, TuplePrefixUpperBound(ab)), 0);
  EXPECT_LT(Bytewise(ab_child, TuplePrefixUpperBound(ab)), 0);
  EXPECT_LT(Bytewise(ab_ff_child, TuplePrefixUpperBound(ab)), 0);
  EXPECT_LT(Bytewise(ab, TuplePrefixUpperBound(ab)), 0);
}

TEST(KeyCodecTest, TupleBoundIsExactOnRandomTuples) {
  TupleGen gen(test::TestSeed());
  for (int i = 0; i < 20000; ++i) {
    const KeyTuple p = gen.Random(gen.RandomShape(2));
    const KeyTuple t = gen.Random(gen.RandomShape(3));
    const std::string ep = EncodeKey(p);
    const std::string et = EncodeKey(t);
    const bool extends = t.size() >= p.size() && std::equal(p.begin(), p.end(), t.begin());
    const bool in_range = Bytewise(et, ep) >= 0 && Bytewise(et, TuplePrefixUpperBound(ep)) < 0;
    ASSERT_EQ(in_range, extends) << KeyToText(p) << " / " << KeyToText(t);
  }
}

TEST(KeyCodecTest, PrefixUpperBound) {
  EXPECT_EQ(PrefixUpperBound("abc"), "abd");
  EXPECT_EQ(PrefixUpperBound(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixUpperBound(std::string("\x01\xfe", 2)), "\x01\xff");
  EXPECT_EQ(PrefixUpperBound(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixUpperBound(""), "");
  std::mt19937_64 rng(test::TestSeed());
  for (int i = 0; i < 5000; ++i) {
    const std::string prefix = test::RandomBytes(rng, rng() % 4);
    const std::string key = prefix + test::RandomBytes(rng, rng() % 4);
    const std::string upper = PrefixUpperBound(prefix);
    if (upper.empty()) continue;
    ASSERT_LT(Bytewise(key, upper), 0) << Hex(prefix) << " " << Hex(key);
    ASSERT_GT(Bytewise(upper, prefix), 0);
    // Smallest: nothing between the prefix range and the bound, i.e. the bound itself does not start with
    // the prefix, and dropping its last byte gives a proper prefix of `prefix`.
    ASSERT_NE(upper.compare(0, prefix.size(), prefix), 0);
  }
}

TEST(KeyCodecTest, DecodeRejectsMalformed) {
  struct Case {
    std::string bytes;
    std::string offset;  // expected "key byte N" in the message
  };
  const std::vector<Case> cases = {
      {"\x07", "key byte 0:"},                      // unknown tag
      {std::string("\x00\xff", 2), "key byte 1:"},  // 0xFF is never a tag
      {std::string("\x02"
                   "abc",
                   4),
       "key byte 0:"},                                  // unterminated string
      {std::string("\x01\x00\xff", 3), "key byte 0:"},  // escape then end: unterminated
      {std::string("\x14\x80\x00", 3), "key byte 0:"},  // truncated int64
      {std::string("\x00\x15\x00\x00\x00\x00\x00\x00\x00", 9), "key byte 1:"},  // truncated uint64
      {std::string("\x26", 1), "key byte 0:"},                                  // truncated bool
      {std::string("\x26\x02", 2), "key byte 1:"},                              // bool byte not 0/1
      {std::string("\x30\x01\x02", 3), "key byte 0:"},                          // truncated uuid
      {std::string("\x02"
                   "a\x00\x00\xfe",
                   5),
       "key byte 4:"},  // string, null, bad tag 0xfe
      {std::string("\x02"
                   "a\x00\xfe",
                   4),
       "key byte 3:"},  // 0x00 then not 0xFF: tag 0xfe
  };
  for (const Case& c : cases) {
    Result<KeyTuple> r = DecodeKey(c.bytes);
    ASSERT_FALSE(r.ok()) << Hex(c.bytes);
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.offset), std::string::npos)
        << Hex(c.bytes) << ": " << r.status().ToString();
  }
}

TEST(KeyCodecTest, DecodeRandomGarbage) {
  std::mt19937_64 rng(test::TestSeed());
  int errors = 0;
  const int kRounds = 20000;
  for (int i = 0; i < kRounds; ++i) {
    const std::string garbage = test::RandomBytes(rng, 1 + rng() % 40);
    // Exact-size heap copy so ASan catches any overread.
    std::vector<char> exact(garbage.begin(), garbage.end());
    Result<KeyTuple> r = DecodeKey(std::string_view(exact.data(), exact.size()));
    if (!r.ok()) {
      ++errors;
      ASSERT_TRUE(r.status().IsCorruption());
      continue;
    }
    // Whatever decodes is canonical: it re-encodes to the same bytes.
    ASSERT_EQ(EncodeKey(*r), garbage) << Hex(garbage);
  }
  EXPECT_GT(errors, kRounds * 9 / 10);
}

TEST(KeyCodecTest, DecodeTruncationsOfValidKeysFailOrAreShorterTuples) {
  TupleGen gen(test::TestSeed());
  for (int i = 0; i < 2000; ++i) {
    const KeyTuple t = gen.Random(gen.RandomShape(4));
    const std::string e = EncodeKey(t);
    for (size_t len = 0; len < e.size(); ++len) {
      const std::string cut = e.substr(0, len);
      Result<KeyTuple> r = DecodeKey(cut);
      if (r.ok()) {
        ASSERT_EQ(EncodeKey(*r), cut);
      }
    }
  }
}

// ---- text ----

TEST(KeyTextTest, Canonical) {
  const Uuid u = MustParseUuid("3b241101-e2bb-4255-8caf-4136c566a962");
  const KeyTuple t = {u,
                      std::string("a\0b\"\\\n\xe9", 7),
                      int64_t{-1},
                      uint64_t{7},
                      Bytes{std::string("\x00\xff", 2)},
                      true,
                      false,
                      std::monostate{},
                      kI64Min,
                      kU64Max};
  const std::string text = KeyToText(t);
  EXPECT_EQ(
      text,
      "(3b241101-e2bb-4255-8caf-4136c566a962, \"a\\x00b\\\"\\\\\\x0a\\xe9\", -1, 7u, x\"00ff\", true, false, "
      "null, -9223372036854775808, 18446744073709551615u)");
  Result<KeyTuple> back = ParseKeyText(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, t);
  EXPECT_EQ(KeyToText(KeyTuple{}), "()");
}

TEST(KeyTextTest, ParsesNonCanonicalForms) {
  struct Case {
    std::string text;
    KeyTuple want;
  };
  const Uuid u = MustParseUuid("3b241101-e2bb-4255-8caf-4136c566a962");
  const std::vector<Case> cases = {
      {"123", {int64_t{123}}},
      {"  -5  ", {int64_t{-5}}},
      {"0u", {uint64_t{0}}},
      {"\"x\"", {std::string("x")}},
      {"x\"\"", {Bytes{}}},
      {"x\"AbCd\"", {Bytes{"\xab\xcd"}}},
      {"3B241101-E2BB-4255-8CAF-4136C566A962", {u}},
      {"( 1 ,\n\t\"s\" ,null )", {int64_t{1}, std::string("s"), std::monostate{}}},
      {"()", {}},
      {" ( ) ", {}},
      {"(\"\\xFF\")", {std::string("\xff")}},
      {"\"caf\xc3\xa9\"", {std::string("caf\xc3\xa9")}},  // raw UTF-8 accepted
      {"-0", {int64_t{0}}},
      {"9223372036854775807", {kI64Max}},
      {"(deadbeef-0000-0000-0000-000000000000)", {MustParseUuid("deadbeef-0000-0000-0000-000000000000")}},
  };
  for (const Case& c : cases) {
    Result<KeyTuple> r = ParseKeyText(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.want) << c.text;
  }
}

TEST(KeyTextTest, RejectsMalformedNamingPosition) {
  struct Case {
    std::string text;
    size_t position;
  };
  const std::vector<Case> cases = {
      {"", 0},
      {"   ", 3},
      {"(", 1},
      {"(1", 2},
      {"(1,", 3},
      {"(1,)", 3},
      {"(,1)", 1},
      {"(1 2)", 3},
      {"1 2", 2},
      {"(1))", 3},
      {"abc", 0},
      {"nullx", 0},
      {"12ab", 2},
      {"-", 1},
      {"--1", 1},
      {"-1u", 0},
      {"9223372036854775808", 0},    // int64 max + 1 without u
      {"-9223372036854775809", 0},   // below int64 min
      {"18446744073709551616u", 0},  // above uint64 max
      {"\"abc", 0},
      {"\"a\\q\"", 2},
      {"\"a\\x4\"", 2},
      {"\"a\\", 0},
      {"x\"abc\"", 5},
      {"x\"zz\"", 2},
      {"x\"ab", 0},
      {"3b241101-e2bb-4255-8caf-4136c566a96", 1},  // too short: reads as integer 3, then 'b'
      {"3b241101-e2bb-4255-8caf-4136c566a962f", 36},
      {"(true false)", 6},
      {"@", 0},
  };
  for (const Case& c : cases) {
    Result<KeyTuple> r = ParseKeyText(c.text);
    ASSERT_FALSE(r.ok()) << "accepted: " << c.text;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    const std::string want = "position " + std::to_string(c.position) + ":";
    EXPECT_NE(r.status().message().find(want), std::string::npos)
        << c.text << " -> " << r.status().ToString() << " (want " << want << ")";
  }
}

TEST(KeyTextTest, RandomRoundTrip) {
  TupleGen gen(test::TestSeed());
  for (int i = 0; i < 10000; ++i) {
    const KeyTuple t = gen.Random(gen.RandomShape(5));
    const std::string text = KeyToText(t);
    Result<KeyTuple> back = ParseKeyText(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status().ToString();
    ASSERT_EQ(*back, t) << text;
    ASSERT_EQ(KeyToText(*back), text);
    // Text is printable ASCII only, so it is safe in logs and terminals.
    for (char c : text) ASSERT_TRUE(c >= 0x20 && c <= 0x7e) << text;
    // A bare single element parses as a 1-tuple.
    if (t.size() == 1) {
      Result<KeyTuple> bare = ParseKeyText(text.substr(1, text.size() - 2));
      ASSERT_TRUE(bare.ok()) << text;
      ASSERT_EQ(*bare, t);
    }
  }
}

TEST(KeyTextTest, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(test::TestSeed());
  static constexpr char kAlphabet[] = "()\", \\x0123456789abcdefu-ntrl";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 16, ' ');
    for (char& c : text) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    std::vector<char> exact(text.begin(), text.end());
    Result<KeyTuple> r = ParseKeyText(std::string_view(exact.data(), exact.size()));
    if (r.ok()) {
      ++accepted;
      // Anything accepted renders to canonical text that parses back to the same tuple.
      Result<KeyTuple> again = ParseKeyText(KeyToText(*r));
      ASSERT_TRUE(again.ok()) << text;
      ASSERT_EQ(*again, *r) << text;
    } else {
      ASSERT_TRUE(r.status().IsInvalidArgument()) << text;
    }
  }
  RecordProperty("accepted", accepted);
}

}  // namespace
}  // namespace savepoint
