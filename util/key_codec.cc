#include "savepoint/key_codec.h"

#include <uuid/uuid.h>

#include <cstring>
#include <limits>
#include <type_traits>

namespace savepoint {

namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr char kHexDigits[] = "0123456789abcdef";

void AppendBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(static_cast<uint8_t>(v));
    v >>= 8;
  }
  out->append(buf, sizeof(buf));
}

uint64_t DecodeBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Content with 0x00 -> 0x00 0xFF, then the 0x00 terminator.
void AppendEscaped(std::string* out, uint8_t tag, std::string_view content) {
  out->push_back(static_cast<char>(tag));
  size_t start = 0;
  for (size_t zero = content.find('\0'); zero != std::string_view::npos; zero = content.find('\0', start)) {
    out->append(content.data() + start, zero - start + 1);
    out->push_back('\xff');
    start = zero + 1;
  }
  out->append(content.data() + start, content.size() - start);
  out->push_back('\0');
}

std::string HexByte(uint8_t b) {
  std::string s(2, '0');
  s[0] = kHexDigits[b >> 4];
  s[1] = kHexDigits[b & 0xf];
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when text starts with the canonical 8-4-4-4-12 shape (hex digits of either case).
bool LooksLikeUuid(std::string_view text) {
  constexpr size_t kLen = 36;
  if (text.size() < kLen) return false;
  for (size_t i = 0; i < kLen; ++i) {
    const bool dash_position = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash_position ? text[i] != '-' : HexValue(text[i]) < 0) return false;
  }
  return true;
}

// ---- binary decoding ----

class KeyDecoder {
 public:
  explicit KeyDecoder(std::string_view key) : key_(key) {}

  Result<KeyTuple> Run() {
    KeyTuple out;
    while (pos_ < key_.size()) {
      const size_t start = pos_;
      const uint8_t tag = static_cast<uint8_t>(key_[pos_++]);
      switch (tag) {
        case key_tag::kNull:
          out.emplace_back(std::monostate{});
          break;
        case key_tag::kBytes: {
          std::string content;
          SP_RETURN_IF_ERROR(Unescape(start, "bytes", &content));
          out.emplace_back(Bytes{std::move(content)});
          break;
        }
        case key_tag::kString: {
          std::string content;
          SP_RETURN_IF_ERROR(Unescape(start, "string", &content));
          out.emplace_back(std::move(content));
          break;
        }
        case key_tag::kInt64: {
          SP_RETURN_IF_ERROR(Need(start, 8, "int64"));
          out.emplace_back(static_cast<int64_t>(DecodeBigEndian64(key_.data() + pos_) ^ kSignBit));
          pos_ += 8;
          break;
        }
        case key_tag::kUint64: {
          SP_RETURN_IF_ERROR(Need(start, 8, "uint64"));
          out.emplace_back(DecodeBigEndian64(key_.data() + pos_));
          pos_ += 8;
          break;
        }
        case key_tag::kBool: {
          SP_RETURN_IF_ERROR(Need(start, 1, "bool"));
          const uint8_t b = static_cast<uint8_t>(key_[pos_]);
          if (b > 1) {
            return Error(pos_, "bool byte 0x" + HexByte(b) + " is neither 0x00 nor 0x01");
          }
          out.emplace_back(b == 1);
          pos_ += 1;
          break;
        }
        case key_tag::kUuid: {
          SP_RETURN_IF_ERROR(Need(start, 16, "uuid"));
          Uuid u;
          std::memcpy(u.bytes.data(), key_.data() + pos_, 16);
          out.emplace_back(u);
          pos_ += 16;
          break;
        }
        default:
          return Error(start, "unknown type tag 0x" + HexByte(tag));
      }
    }
    return out;
  }

 private:
  Status Error(size_t offset, const std::string& what) const {
    return Status::Corruption("key byte " + std::to_string(offset) + ": " + what);
  }

  Status Need(size_t start, size_t n, const char* type) const {
    if (key_.size() - pos_ >= n) return Status::OK();
    return Error(start, std::string(type) + " truncated: needs " + std::to_string(n) + " bytes, " +
                            std::to_string(key_.size() - pos_) + " left");
  }

  // Reads escaped content up to its terminator; pos_ starts after the tag and ends after the terminator.
  Status Unescape(size_t start, const char* type, std::string* content) {
    for (;;) {
      const size_t zero = key_.find('\0', pos_);
      if (zero == std::string_view::npos) {
        return Error(start, std::string("unterminated ") + type);
      }
      content->append(key_.data() + pos_, zero - pos_);
      if (zero + 1 < key_.size() && static_cast<uint8_t>(key_[zero + 1]) == 0xff) {
        content->push_back('\0');  // escaped 0x00
        pos_ = zero + 2;
      } else {
        pos_ = zero + 1;  // terminator
        return Status::OK();
      }
    }
  }

  std::string_view key_;
  size_t pos_ = 0;
};

// ---- text ----

void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    const uint8_t b = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (b >= 0x20 && b <= 0x7e) {
      out->push_back(c);
    } else {
      out->append("\\x");
      out->append(HexByte(b));
    }
  }
  out->push_back('"');
}

void AppendElementText(std::string* out, const KeyElement& e) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out->append("null");
        } else if constexpr (std::is_same_v<T, Bytes>) {
          out->append("x\"");
          for (char c : v.data) out->append(HexByte(static_cast<uint8_t>(c)));
          out->push_back('"');
        } else if constexpr (std::is_same_v<T, std::string>) {
          AppendQuoted(out, v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->append(std::to_string(v));
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          out->append(std::to_string(v));
          out->push_back('u');
        } else if constexpr (std::is_same_v<T, bool>) {
          out->append(v ? "true" : "false");
        } else {
          static_assert(std::is_same_v<T, Uuid>);
          out->append(v.ToString());
        }
      },
      e);
}

class TextParser {
 public:
  explicit TextParser(std::string_view text) : text_(text) {}

  Result<KeyTuple> Run() {
    KeyTuple out;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      SkipSpace();
      if (Peek() == ')') {
        ++pos_;
      } else {
        for (;;) {
          SP_RETURN_IF_ERROR(ParseElement(&out));
          SkipSpace();
          if (Peek() == ',') {
            ++pos_;
            SkipSpace();
            continue;
          }
          if (Peek() == ')') {
            ++pos_;
            break;
          }
          return Error(AtEnd() ? "missing ')'" : "expected ',' or ')'");
        }
      }
    } else {
      if (AtEnd()) return Error("empty key text (write () for the empty tuple)");
      SP_RETURN_IF_ERROR(ParseElement(&out));
    }
    SkipSpace();
    if (!AtEnd()) return Error("unexpected text after the key");
    return out;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsWordChar(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  }

  void SkipSpace() {
    while (!AtEnd() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }

  Status Error(const std::string& what) const { return ErrorAt(pos_, what); }
  static Status ErrorAt(size_t pos, const std::string& what) {
    return Status::InvalidArgument("key text position " + std::to_string(pos) + ": " + what);
  }

  // An element must end at a delimiter, so "12ab" or "nullx" is an error rather than two tokens.
  Status EndOfToken() const {
    if (!AtEnd() && IsWordChar(text_[pos_])) return Error("unexpected character in element");
    return Status::OK();
  }

  Status ParseElement(KeyTuple* out) {
    if (AtEnd()) return Error("expected an element");
    const char c = text_[pos_];
    if (c == '"') {
      std::string s;
      SP_RETURN_IF_ERROR(ParseQuoted(&s));
      out->emplace_back(std::move(s));
      return Status::OK();
    }
    if (c == 'x' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') return ParseHexBytes(out);
    if (LooksLikeUuid(text_.substr(pos_))) {
      Result<Uuid> u = Uuid::Parse(text_.substr(pos_, 36));
      if (!u.ok()) return Error(u.status().message());
      pos_ += 36;
      SP_RETURN_IF_ERROR(EndOfToken());
      out->emplace_back(*u);
      return Status::OK();
    }
    if (c == '-' || IsDigit(c)) return ParseInteger(out);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      const size_t start = pos_;
      while (!AtEnd() && IsWordChar(text_[pos_])) ++pos_;
      const std::string_view word = text_.substr(start, pos_ - start);
      if (word == "null") {
        out->emplace_back(std::monostate{});
      } else if (word == "true") {
        out->emplace_back(true);
      } else if (word == "false") {
        out->emplace_back(false);
      } else {
        return ErrorAt(start, "unknown word '" + std::string(word) + "'");
      }
      return Status::OK();
    }
    return Error("expected an element");
  }

  Status ParseInteger(KeyTuple* out) {
    const size_t start = pos_;
    const bool negative = text_[pos_] == '-';
    if (negative) ++pos_;
    if (AtEnd() || !IsDigit(text_[pos_])) return Error("expected a digit");
    uint64_t magnitude = 0;
    while (!AtEnd() && IsDigit(text_[pos_])) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        return ErrorAt(start, "integer out of range");
      }
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (Peek() == 'u') {
      if (negative) return ErrorAt(start, "a uint64 cannot be negative");
      ++pos_;
      SP_RETURN_IF_ERROR(EndOfToken());
      out->emplace_back(magnitude);
      return Status::OK();
    }
    SP_RETURN_IF_ERROR(EndOfToken());
    if (negative) {
      if (magnitude > kSignBit) return ErrorAt(start, "integer out of int64 range");
      // -2^63 has no positive counterpart; 0 - magnitude in uint64 arithmetic is its two's complement.
      out->emplace_back(static_cast<int64_t>(uint64_t{0} - magnitude));
    } else {
      if (magnitude >= kSignBit)
        return ErrorAt(start, "integer out of int64 range (write a u suffix for uint64)");
      out->emplace_back(static_cast<int64_t>(magnitude));
    }
    return Status::OK();
  }

  // REQUIRES: text_[pos_] == '"'.
  Status ParseQuoted(std::string* s) {
    const size_t start = pos_;
    ++pos_;
    for (;;) {
      if (AtEnd()) return ErrorAt(start, "unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::OK();
      }
      if (c != '\\') {
        s->push_back(c);
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) return ErrorAt(start, "unterminated string");
      const char e = text_[pos_ + 1];
      if (e == '"' || e == '\\') {
        s->push_back(e);
        pos_ += 2;
      } else if (e == 'x') {
        const int hi = pos_ + 2 < text_.size() ? HexValue(text_[pos_ + 2]) : -1;
        const int lo = pos_ + 3 < text_.size() ? HexValue(text_[pos_ + 3]) : -1;
        if (hi < 0 || lo < 0) return Error("\\x needs two hex digits");
        s->push_back(static_cast<char>(hi * 16 + lo));
        pos_ += 4;
      } else {
        return Error("unknown escape (only \\\" \\\\ \\xNN)");
      }
    }
  }

  // REQUIRES: text_ at pos_ starts with x".
  Status ParseHexBytes(KeyTuple* out) {
    const size_t start = pos_;
    pos_ += 2;
    std::string data;
    for (;;) {
      if (AtEnd()) return ErrorAt(start, "unterminated bytes");
      if (text_[pos_] == '"') {
        ++pos_;
        break;
      }
      const int hi = HexValue(text_[pos_]);
      if (hi < 0) return Error("expected a hex digit in bytes");
      if (pos_ + 1 >= text_.size()) return ErrorAt(start, "unterminated bytes");
      const int lo = HexValue(text_[pos_ + 1]);
      if (lo < 0) {
        return ErrorAt(pos_ + 1, text_[pos_ + 1] == '"' ? "odd number of hex digits in bytes"
                                                        : "expected a hex digit in bytes");
      }
      data.push_back(static_cast<char>(hi * 16 + lo));
      pos_ += 2;
    }
    out->emplace_back(Bytes{std::move(data)});
    return Status::OK();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

// ---- Uuid ----

Result<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36 || !LooksLikeUuid(text)) {
    return Status::InvalidArgument("not a UUID (want 8-4-4-4-12 hex digits): '" + std::string(text) + "'");
  }
  char buf[37];
  std::memcpy(buf, text.data(), 36);
  buf[36] = '\0';
  Uuid u;
  if (uuid_parse(buf, u.bytes.data()) != 0) {
    return Status::InvalidArgument("not a UUID: '" + std::string(text) + "'");
  }
  return u;
}

Uuid Uuid::Generate() {
  Uuid u;
  uuid_generate(u.bytes.data());
  return u;
}

std::string Uuid::ToString() const {
  char buf[37];
  uuid_unparse_lower(bytes.data(), buf);
  return std::string(buf, 36);
}

bool Uuid::is_nil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

// ---- binary ----

void AppendKeyElement(std::string* out, const KeyElement& element) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out->push_back(static_cast<char>(key_tag::kNull));
        } else if constexpr (std::is_same_v<T, Bytes>) {
          AppendEscaped(out, key_tag::kBytes, v.data);
        } else if constexpr (std::is_same_v<T, std::string>) {
          AppendEscaped(out, key_tag::kString, v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->push_back(static_cast<char>(key_tag::kInt64));
          AppendBigEndian64(out, static_cast<uint64_t>(v) ^ kSignBit);
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          out->push_back(static_cast<char>(key_tag::kUint64));
          AppendBigEndian64(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out->push_back(static_cast<char>(key_tag::kBool));
          out->push_back(v ? '\x01' : '\x00');
        } else {
          static_assert(std::is_same_v<T, Uuid>);
          out->push_back(static_cast<char>(key_tag::kUuid));
          out->append(reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size());
        }
      },
      element);
}

void AppendKeyInt64(std::string* out, int64_t v) {
  out->push_back(static_cast<char>(key_tag::kInt64));
  AppendBigEndian64(out, static_cast<uint64_t>(v) ^ kSignBit);
}

void AppendKeyUint64(std::string* out, uint64_t v) {
  out->push_back(static_cast<char>(key_tag::kUint64));
  AppendBigEndian64(out, v);
}

void AppendKeyString(std::string* out, std::string_view v) { AppendEscaped(out, key_tag::kString, v); }

void AppendKeyUuid(std::string* out, const Uuid& v) {
  out->push_back(static_cast<char>(key_tag::kUuid));
  out->append(reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size());
}

std::string EncodeKey(std::span<const KeyElement> elements) {
  std::string out;
  for (const KeyElement& e : elements) AppendKeyElement(&out, e);
  return out;
}

std::string EncodeKey(std::initializer_list<KeyElement> elements) {
  return EncodeKey(std::span<const KeyElement>(elements.begin(), elements.size()));
}

Result<KeyTuple> DecodeKey(std::string_view key) { return KeyDecoder(key).Run(); }

std::string PrefixUpperBound(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<uint8_t>(bound.back()) == 0xff) bound.pop_back();
  if (!bound.empty()) bound.back() = static_cast<char>(static_cast<uint8_t>(bound.back()) + 1);
  return bound;
}

std::string TuplePrefixUpperBound(std::string_view encoded_tuple) {
  std::string bound(encoded_tuple);
  bound.push_back('\xff');
  return bound;
}

// ---- text ----

std::string KeyToText(std::span<const KeyElement> elements) {
  std::string out = "(";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out.append(", ");
    AppendElementText(&out, elements[i]);
  }
  out.push_back(')');
  return out;
}

Result<KeyTuple> ParseKeyText(std::string_view text) { return TextParser(text).Run(); }

}  // namespace savepoint
