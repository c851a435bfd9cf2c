// Order-preserving, self-describing encoding of typed tuples into RocksDB keys (the idea of FoundationDB's
// tuple layer, written fresh and simplified).
//
// Three properties, each relied on by registries/:
//   1. Order. For tuples a and b, the memcmp order of EncodeKey(a) and EncodeKey(b) (RocksDB's
//      BytewiseComparator) equals a < b, where tuples compare lexicographically element by element, a proper
//      prefix sorting first, and elements of different types compare by type tag (the order of the table
//      below). std::vector<KeyElement>'s own operator< is exactly that order, because KeyElement's
//      alternatives are declared in tag order.
//   2. Prefixes. EncodeKey(t) is a byte prefix of EncodeKey(t + more), so "t and every tuple extending t" is
//      the RocksDB range [EncodeKey(t), TuplePrefixUpperBound(EncodeKey(t))). Use that bound, not the
//      byte-wise PrefixUpperBound, when t may end in a string or bytes: EncodeKey({"ab"}) is also a byte
//      prefix of EncodeKey({"ab\0"}) (02 61 62 00 | ff 00), which is not an extension of ("ab"). For a tuple
//      ending in a fixed-width element (a tenant UUID) both bounds select the same keys.
//   3. Self-description. Every element starts with a tag naming its type, so DecodeKey and the tools can
//      render any key without a schema. Decoding is strict: a decoded key re-encodes to the same bytes.
//
// Element encodings (tag byte first; the tag defines cross-type order):
//
//   type     tag   payload
//   null     0x00  none
//   bytes    0x01  content with each 0x00 written as 0x00 0xFF, then a terminating 0x00
//   string   0x02  as bytes (content is UTF-8 by convention; not validated)
//   int64    0x14  8 bytes big-endian of (value XOR 2^63): flipping the sign bit sorts negatives first
//   uint64   0x15  8 bytes big-endian
//   bool     0x26  one byte: 0x00 false, 0x01 true
//   uuid     0x30  16 raw bytes
//
// Escaping keeps variable-length elements prefix-free: inside content a 0x00 is always followed by 0xFF, so a
// 0x00 followed by anything else (or by the end of the key) is the terminator. No tag is 0xFF, hence
// "ab" < "ab\0" < "ab\0\0" < "ab\x01" holds for the encodings too, whatever element follows.
//
// Example: (uuid 3b241101-e2bb-4255-8caf-4136c566a962, "a\0b", int64 -1) encodes as
//   30 3b 24 11 01 e2 bb 42 55 8c af 41 36 c5 66 a9 62   02 61 00 ff 62 00   14 7f ff ff ff ff ff ff ff
//
// Text form (savepoint tools, logs, tests): KeyToText renders a tuple, ParseKeyText reads one back.
//
//   text     := ws ( tuple | element ) ws            a bare element is a 1-tuple
//   tuple    := "(" ws [ element ws ( "," ws element ws )* ] ")"
//   element  := "null" | "true" | "false"
//             | "-"? digits                          int64 (decimal, must fit)
//             | digits "u"                           uint64
//             | '"' ( char | escape )* '"'           string; char is any byte but '"' and '\'
//             | 'x"' ( hex hex )* '"'                bytes
//             | hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12}   uuid (either case)
//   escape   := '\"' | '\\' | '\x' hex hex        the byte '"', the byte '\', the byte 0xNN
//   ws       := ( " " | "\t" | "\r" | "\n" )*
//
// KeyToText writes the canonical form: always parenthesised, elements separated by ", ", lowercase hex, and
// in strings every byte outside printable ASCII 0x20..0x7e as \xNN. ParseKeyText(KeyToText(t)) == t for every
// tuple, and KeyToText(ParseKeyText(s)) == s for canonical s. Example:
//   (3b241101-e2bb-4255-8caf-4136c566a962, "a\x00b", -1, 7u, x"00ff", true, null)
//
// Thread-safety: all functions are pure; Uuid::Generate is safe to call from any thread.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "savepoint/status.h"

namespace savepoint {

// A 128-bit UUID in RFC 4122 byte order (the order of its canonical text, so byte order == text order).
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // Canonical 8-4-4-4-12 hex text, either case. InvalidArgument otherwise.
  static Result<Uuid> Parse(std::string_view text);
  // A random (version 4 where the system offers it) UUID.
  static Uuid Generate();
  // Lowercase canonical text, e.g. "3b241101-e2bb-4255-8caf-4136c566a962".
  std::string ToString() const;

  bool is_nil() const;

  friend auto operator<=>(const Uuid&, const Uuid&) = default;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// Raw bytes, distinct from a (UTF-8) string in a key: its own tag, rendered as x"hex".
struct Bytes {
  std::string data;

  friend auto operator<=>(const Bytes&, const Bytes&) = default;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

// One element of a key tuple. std::monostate is null. Alternatives are declared in tag order, so
// std::variant's comparison (by alternative, then by value) is the encoded order. std::string and Bytes
// compare as unsigned bytes, like memcmp. Build integers with an explicit width: KeyElement{int64_t{5}}.
using KeyElement = std::variant<std::monostate,  // null    0x00
                                Bytes,           // bytes   0x01
                                std::string,     // string  0x02
                                int64_t,         // int64   0x14
                                uint64_t,        // uint64  0x15
                                bool,            // bool    0x26
                                Uuid>;           // uuid    0x30
using KeyTuple = std::vector<KeyElement>;

namespace key_tag {
inline constexpr uint8_t kNull = 0x00;
inline constexpr uint8_t kBytes = 0x01;
inline constexpr uint8_t kString = 0x02;
inline constexpr uint8_t kInt64 = 0x14;
inline constexpr uint8_t kUint64 = 0x15;
inline constexpr uint8_t kBool = 0x26;
inline constexpr uint8_t kUuid = 0x30;
}  // namespace key_tag

// Appends the encoding of one element; a key is the concatenation of its elements' encodings, so callers can
// build a prefix and extend it.
void AppendKeyElement(std::string* out, const KeyElement& element);
// The same for one element of a known type, without building a KeyElement (the registries' hot path).
void AppendKeyInt64(std::string* out, int64_t v);
void AppendKeyUint64(std::string* out, uint64_t v);
void AppendKeyString(std::string* out, std::string_view v);
void AppendKeyUuid(std::string* out, const Uuid& v);
std::string EncodeKey(std::span<const KeyElement> elements);
std::string EncodeKey(std::initializer_list<KeyElement> elements);

// The elements of an encoded key. Corruption naming the byte offset on an unknown tag, a truncated
// fixed-width element, an unterminated string or bytes, or a bool byte other than 0 or 1.
Result<KeyTuple> DecodeKey(std::string_view key);

// The smallest string greater than every string that starts with `prefix` (for a RocksDB
// iterate_upper_bound): drop trailing 0xFF bytes and increment the last remaining byte. Empty when there is
// no such bound (prefix empty or all 0xFF), meaning "no upper bound".
std::string PrefixUpperBound(std::string_view prefix);

// The exclusive upper bound of the keys of tuples that start with the elements encoded in `encoded_tuple`
// (including that tuple itself): encoded_tuple + 0xFF. Tight because the byte after a complete element is a
// tag (< 0xFF), while 0xFF after a terminator-like 0x00 means the string or bytes element goes on.
// REQUIRES: encoded_tuple is a whole number of encoded elements.
std::string TuplePrefixUpperBound(std::string_view encoded_tuple);

// The text form described above.
std::string KeyToText(std::span<const KeyElement> elements);
// InvalidArgument naming the 0-based character position of the first error.
Result<KeyTuple> ParseKeyText(std::string_view text);

}  // namespace savepoint
