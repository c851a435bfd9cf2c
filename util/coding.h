// Endian-neutral encoding of integers and byte strings into std::string buffers, and a bounds-checked cursor
// for reading them back (LevelDB util/coding.h in spirit).
//
// - Fixed-width integers are little-endian: PutFixed32(&s, 0x04030201) appends 01 02 03 04.
// - Varints are LEB128: 7 bits per byte, least significant group first, high bit set on every byte but the
//   last. A varint32 takes 1..5 bytes, a varint64 1..10.
// - A length-prefixed string is varint64(size) followed by the bytes.
//
// Every on-disk format of savepoint (WAL records, snapshot blocks) is built from these pieces, so Decoder
// treats its input as untrusted: a getter never reads outside the view it was given and returns false on
// truncated or overlong input, leaving the cursor where it was.
//
// Thread-safety: the free functions are pure; a Decoder is a value with no shared state (one per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace savepoint {

// Largest encodings, for callers that reserve buffer space.
inline constexpr size_t kMaxVarint32Length = 5;
inline constexpr size_t kMaxVarint64Length = 10;

// Writes the little-endian encoding of `value` to dst[0..N).  REQUIRES: dst has room for N bytes.
void EncodeFixed16(char* dst, uint16_t value);
void EncodeFixed32(char* dst, uint32_t value);
void EncodeFixed64(char* dst, uint64_t value);

// Reads a little-endian integer from src[0..N).  REQUIRES: src has N readable bytes.
uint16_t DecodeFixed16(const char* src);
uint32_t DecodeFixed32(const char* src);
uint64_t DecodeFixed64(const char* src);

// Append to *dst.
void PutFixed16(std::string* dst, uint16_t value);
void PutFixed32(std::string* dst, uint32_t value);
void PutFixed64(std::string* dst, uint64_t value);
void PutVarint32(std::string* dst, uint32_t value);
void PutVarint64(std::string* dst, uint64_t value);
// varint64(value.size()) then the bytes of value.
void PutLengthPrefixed(std::string* dst, std::string_view value);

// Parses lowercase hex digits (file names: "00000001-00000000000f4240.wal"). False on any other character;
// the caller bounds the length (16 digits fit).
bool ParseLowerHex(std::string_view s, uint64_t* value);

// Number of bytes PutVarint64(value) appends (1..10); also right for varint32 of a 32-bit value.
size_t VarintLength(uint64_t value);

// A read cursor over an encoded buffer. Each getter either consumes exactly one well-formed item and returns
// true, or returns false and consumes nothing. Views handed out (GetLengthPrefixed, GetBytes, rest) point
// into the original buffer and are valid as long as it is.
class Decoder {
 public:
  explicit Decoder(std::string_view input) : input_(input) {}

  [[nodiscard]] bool GetFixed16(uint16_t* value);
  [[nodiscard]] bool GetFixed32(uint32_t* value);
  [[nodiscard]] bool GetFixed64(uint64_t* value);
  // False when truncated (last byte still has the continuation bit), longer than 5 bytes, or the value does
  // not fit in 32 bits.
  [[nodiscard]] bool GetVarint32(uint32_t* value);
  // False when truncated, longer than 10 bytes, or the value does not fit in 64 bits.
  [[nodiscard]] bool GetVarint64(uint64_t* value);
  // False when the length is malformed or larger than what remains.
  [[nodiscard]] bool GetLengthPrefixed(std::string_view* value);
  // The next n bytes; false when fewer than n remain.
  [[nodiscard]] bool GetBytes(size_t n, std::string_view* value);

  bool empty() const { return input_.empty(); }
  size_t remaining() const { return input_.size(); }
  // The unread bytes.
  std::string_view rest() const { return input_; }

 private:
  std::string_view input_;
};

}  // namespace savepoint
