#include "util/coding.h"

namespace savepoint {

namespace {

// Shifts rather than memcpy so the code is right on any host byte order; compilers turn these into one load
// or store on little-endian machines.
template <typename T>
void EncodeLittleEndian(char* dst, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    dst[i] = static_cast<char>(static_cast<uint8_t>(value >> (8 * i)));
  }
}

template <typename T>
T DecodeLittleEndian(const char* src) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(static_cast<uint8_t>(src[i])) << (8 * i);
  }
  return value;
}

template <typename T>
void PutFixed(std::string* dst, T value) {
  char buf[sizeof(T)];
  EncodeLittleEndian(buf, value);
  dst->append(buf, sizeof(buf));
}

// Parses a varint of at most `max_bytes` bytes whose value fits in `max_bits` bits. Returns the number of
// bytes consumed, or 0 when the input is truncated, too long or out of range.
size_t ParseVarint(std::string_view in, size_t max_bytes, unsigned max_bits, uint64_t* value) {
  uint64_t result = 0;
  for (size_t i = 0; i < max_bytes && i < in.size(); ++i) {
    const uint64_t byte = static_cast<uint8_t>(in[i]);
    const unsigned shift = static_cast<unsigned>(7 * i);
    const uint64_t group = byte & 0x7f;
    // Bits of this group that land at or above max_bits would be lost: reject instead of wrapping.
    if (shift + 7 > max_bits && (group >> (max_bits - shift)) != 0) return 0;
    result |= group << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return i + 1;
    }
  }
  return 0;  // ran out of input or of allowed bytes with the continuation bit still set
}

}  // namespace

void EncodeFixed16(char* dst, uint16_t value) { EncodeLittleEndian(dst, value); }
void EncodeFixed32(char* dst, uint32_t value) { EncodeLittleEndian(dst, value); }
void EncodeFixed64(char* dst, uint64_t value) { EncodeLittleEndian(dst, value); }

uint16_t DecodeFixed16(const char* src) { return DecodeLittleEndian<uint16_t>(src); }
uint32_t DecodeFixed32(const char* src) { return DecodeLittleEndian<uint32_t>(src); }
uint64_t DecodeFixed64(const char* src) { return DecodeLittleEndian<uint64_t>(src); }

void PutFixed16(std::string* dst, uint16_t value) { PutFixed(dst, value); }
void PutFixed32(std::string* dst, uint32_t value) { PutFixed(dst, value); }
void PutFixed64(std::string* dst, uint64_t value) { PutFixed(dst, value); }

void PutVarint64(std::string* dst, uint64_t value) {
  char buf[kMaxVarint64Length];
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  dst->append(buf, n);
}

void PutVarint32(std::string* dst, uint32_t value) { PutVarint64(dst, value); }

void PutLengthPrefixed(std::string* dst, std::string_view value) {
  PutVarint64(dst, value.size());
  dst->append(value.data(), value.size());
}

bool ParseLowerHex(std::string_view s, uint64_t* value) {
  *value = 0;
  for (const char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    *value = (*value << 4) | static_cast<uint64_t>(d);
  }
  return true;
}

size_t VarintLength(uint64_t value) {
  size_t len = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++len;
  }
  return len;
}

bool Decoder::GetFixed16(uint16_t* value) {
  if (input_.size() < sizeof(uint16_t)) return false;
  *value = DecodeFixed16(input_.data());
  input_.remove_prefix(sizeof(uint16_t));
  return true;
}

bool Decoder::GetFixed32(uint32_t* value) {
  if (input_.size() < sizeof(uint32_t)) return false;
  *value = DecodeFixed32(input_.data());
  input_.remove_prefix(sizeof(uint32_t));
  return true;
}

bool Decoder::GetFixed64(uint64_t* value) {
  if (input_.size() < sizeof(uint64_t)) return false;
  *value = DecodeFixed64(input_.data());
  input_.remove_prefix(sizeof(uint64_t));
  return true;
}

bool Decoder::GetVarint32(uint32_t* value) {
  uint64_t v;
  const size_t n = ParseVarint(input_, kMaxVarint32Length, 32, &v);
  if (n == 0) return false;
  *value = static_cast<uint32_t>(v);
  input_.remove_prefix(n);
  return true;
}

bool Decoder::GetVarint64(uint64_t* value) {
  uint64_t v;
  const size_t n = ParseVarint(input_, kMaxVarint64Length, 64, &v);
  if (n == 0) return false;
  *value = v;
  input_.remove_prefix(n);
  return true;
}

bool Decoder::GetLengthPrefixed(std::string_view* value) {
  uint64_t len;
  const size_t n = ParseVarint(input_, kMaxVarint64Length, 64, &len);
  if (n == 0 || len > input_.size() - n) return false;
  *value = input_.substr(n, static_cast<size_t>(len));
  input_.remove_prefix(n + static_cast<size_t>(len));
  return true;
}

bool Decoder::GetBytes(size_t n, std::string_view* value) {
  if (n > input_.size()) return false;
  *value = input_.substr(0, n);
  input_.remove_prefix(n);
  return true;
}

}  // namespace savepoint
