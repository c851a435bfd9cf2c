// libFuzzer target for the key codec (savepoint/key_codec.h): the binary decoder on hostile bytes, the text
// parser on hostile text, and the three properties registries rely on, checked with __builtin_trap():
//   - strict decoding: when DecodeKey(x) succeeds, EncodeKey(DecodeKey(x)) == x;
//   - text round trip: ParseKeyText(KeyToText(t)) == t, and KeyToText is canonical (a fixed point);
//   - order: memcmp order of two encodings == tuple order, and every prefix bound contains exactly the
//     extensions of its tuple.
//
// Input layout: byte 0 selects how the rest is used (the other uses run on the whole input too, so every
// input exercises the decoder and the parser):
//   mode % 3 == 0: the rest is one encoded key (decoded, re-encoded, rendered, parsed back);
//   mode % 3 == 1: the rest is two encoded keys, split at byte (mode >> 2) * rest.size() / 64;
//   mode % 3 == 2: the rest is a recipe that builds two well-formed tuples of every element type
//                  (BuildTuple below), so the order property also runs on keys the decoder would rarely
//                  accept, e.g. with zeros and 0xff inside strings.
//
// Seeds: fuzz/corpus/key_codec/, made by make_fuzz_corpus.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "savepoint/key_codec.h"

namespace savepoint {
namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

int Sign(int c) { return c < 0 ? -1 : c > 0 ? 1 : 0; }

// Reads bytes of a recipe; 0 once exhausted, so every recipe builds something.
class Recipe {
 public:
  explicit Recipe(std::string_view bytes) : bytes_(bytes) {}
  uint8_t byte() { return pos_ < bytes_.size() ? static_cast<uint8_t>(bytes_[pos_++]) : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | byte();
    return v;
  }
  std::string str() {
    const size_t n = byte() % 8;
    std::string s;
    // Mostly bytes that matter to the escaping: 0x00, 0xff, 0x01, 'a'.
    static constexpr char kAlphabet[] = {'\0', '\xff', '\x01', 'a', 'b', '\xfe'};
    for (size_t i = 0; i < n; i++) {
      const uint8_t b = byte();
      s.push_back(b < 0xc0 ? kAlphabet[b % sizeof kAlphabet] : static_cast<char>(b));
    }
    return s;
  }
  bool done() const { return pos_ >= bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

KeyElement BuildElement(Recipe* r) {
  switch (r->byte() % 7) {
    case 0:
      return std::monostate{};
    case 1:
      return Bytes{r->str()};
    case 2:
      return r->str();
    case 3: {
      // Small values collide often (so equal prefixes happen); extremes come from the raw bits.
      const uint8_t how = r->byte();
      return how < 128 ? int64_t{static_cast<int8_t>(r->byte())} : static_cast<int64_t>(r->u64());
    }
    case 4: {
      const uint8_t how = r->byte();
      return how < 128 ? uint64_t{r->byte()} : r->u64();
    }
    case 5:
      return (r->byte() & 1) != 0;
    default: {
      Uuid u;
      const uint8_t fill = r->byte();
      for (size_t i = 0; i < u.bytes.size(); i++) u.bytes[i] = i < 15 ? fill : r->byte();
      return u;
    }
  }
}

// Up to 4 elements; a zero byte ends the tuple early (so one tuple is often a prefix of the other).
KeyTuple BuildTuple(Recipe* r) {
  KeyTuple t;
  const size_t n = r->byte() % 5;
  for (size_t i = 0; i < n && !r->done(); i++) t.push_back(BuildElement(r));
  return t;
}

// Properties of one well-formed tuple and its encoding.
void CheckTuple(const KeyTuple& t) {
  const std::string enc = EncodeKey(t);
  auto back = DecodeKey(enc);
  Check(back.ok() && *back == t);
  // Text: the canonical form parses back to the tuple and renders to itself.
  const std::string text = KeyToText(t);
  auto parsed = ParseKeyText(text);
  Check(parsed.ok() && *parsed == t);
  Check(KeyToText(*parsed) == text);
  // Prefixes: the encoding of every leading part is a byte prefix, and the tuple lies inside its bound.
  std::string prefix;
  for (size_t i = 0; i < t.size(); i++) {
    Check(enc.compare(0, prefix.size(), prefix) == 0);
    const std::string bound = TuplePrefixUpperBound(prefix);
    Check(enc < bound);
    AppendKeyElement(&prefix, t[i]);
  }
  Check(prefix == enc);
  const std::string bound = PrefixUpperBound(enc);
  Check(bound.empty() || enc < bound);
}

// Order and bounds of two well-formed tuples.
void CheckPair(const KeyTuple& a, const KeyTuple& b) {
  const std::string ea = EncodeKey(a), eb = EncodeKey(b);
  const int tuple_order = a < b ? -1 : (b < a ? 1 : 0);
  Check(Sign(ea.compare(eb)) == tuple_order);
  Check((ea == eb) == (a == b));
  // b extends a exactly when eb lies in [ea, TuplePrefixUpperBound(ea)).
  const bool extends = b.size() >= a.size() && std::equal(a.begin(), a.end(), b.begin());
  Check(extends == (eb >= ea && eb < TuplePrefixUpperBound(ea)));
}

// Hostile bytes: decode; on success the decoding is strict and the tuple well-formed.
void FuzzEncoded(std::string_view bytes, KeyTuple* out, bool* ok) {
  auto t = DecodeKey(bytes);
  *ok = t.ok();
  if (!t.ok()) {
    Check(t.status().IsCorruption());
    return;
  }
  Check(EncodeKey(*t) == bytes);
  CheckTuple(*t);
  *out = std::move(t).value();
}

// Hostile text: parse; on success the tuple is well-formed and its canonical text is a fixed point.
void FuzzText(std::string_view text) {
  auto t = ParseKeyText(text);
  if (!t.ok()) {
    Check(t.status().IsInvalidArgument());
    return;
  }
  CheckTuple(*t);
  // A UUID-looking prefix goes through Uuid::Parse too.
  if (text.size() >= 36) {
    auto u = Uuid::Parse(text.substr(0, 36));
    if (u.ok()) {
      auto again = Uuid::Parse(u->ToString());
      Check(again.ok() && *again == *u);
    }
  }
}

void FuzzOne(std::string_view input) {
  FuzzText(input);
  if (input.empty()) return;
  const auto mode = static_cast<uint8_t>(input[0]);
  const std::string_view rest = input.substr(1);
  KeyTuple whole;
  bool whole_ok = false;
  FuzzEncoded(input, &whole, &whole_ok);
  switch (mode % 3) {
    case 0: {
      KeyTuple t;
      bool ok = false;
      FuzzEncoded(rest, &t, &ok);
      if (ok && whole_ok) CheckPair(t, whole);
      break;
    }
    case 1: {
      const size_t at = static_cast<size_t>(mode >> 2) * rest.size() / 64;
      KeyTuple a, b;
      bool a_ok = false, b_ok = false;
      FuzzEncoded(rest.substr(0, at), &a, &a_ok);
      FuzzEncoded(rest.substr(at), &b, &b_ok);
      if (a_ok && b_ok) {
        CheckPair(a, b);
        CheckPair(b, a);
        // The concatenation of two keys is the concatenation of their tuples.
        KeyTuple ab = a;
        ab.insert(ab.end(), b.begin(), b.end());
        auto joined = DecodeKey(rest);
        Check(joined.ok() && *joined == ab);
      }
      break;
    }
    default: {
      Recipe r(rest);
      const KeyTuple a = BuildTuple(&r);
      KeyTuple b = BuildTuple(&r);
      // Often make b share a's leading elements, so deep comparisons happen.
      if (!a.empty() && (mode & 0x80) != 0) {
        const size_t keep = (mode >> 3) % (a.size() + 1);
        b.insert(b.begin(), a.begin(), a.begin() + static_cast<std::ptrdiff_t>(keep));
      }
      CheckTuple(a);
      CheckTuple(b);
      CheckPair(a, b);
      CheckPair(b, a);
      FuzzText(KeyToText(a));
      break;
    }
  }
}

}  // namespace
}  // namespace savepoint

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  savepoint::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
