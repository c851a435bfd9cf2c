#include "tools/savepoint/common.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "savepoint/key_codec.h"
#include "savepoint/registry.h"
#include "util/coding.h"

namespace savepoint::tools {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kNotFound:
      return kExitNotFound;
    case Status::Code::kCorruption:
      return kExitCorruption;
    case Status::Code::kIOError:
    case Status::Code::kNoSpace:
    case Status::Code::kFatal:
      return kExitIO;
    case Status::Code::kBusy:
      return kExitBusy;
    case Status::Code::kInvalidArgument:
    case Status::Code::kConflict:
    case Status::Code::kWrongType:
      return kExitUsage;
  }
  return kExitIO;
}


int Fail(const Status& s) {
  std::fflush(stdout);
  const char* kind = "";
  switch (s.code()) {
    case Status::Code::kCorruption:
      kind = "corruption: ";
      break;
    case Status::Code::kIOError:
      kind = "I/O error: ";
      break;
    case Status::Code::kNoSpace:
      kind = "no space: ";
      break;
    case Status::Code::kBusy:
      kind = "busy: ";
      break;
    case Status::Code::kFatal:
      kind = "fatal: ";
      break;
    default:
      break;
  }
  std::fprintf(stderr, "savepoint: %s%s\n", kind, s.message().c_str());
  return ExitCodeFor(s);
}

void Warn(std::string_view message) {
  std::fflush(stdout);
  std::fprintf(stderr, "savepoint: warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
std::string DumpJsonPretty(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace); }

void PrintLine(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

// ------------------------------------------------------------------------------------------------ base64

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        pad++;
        continue;
      }
      if (pad > 0) return Status::InvalidArgument("base64 padding in the middle");
      v[k] = B64Value(c);
      if (v[k] < 0) return Status::InvalidArgument("invalid base64 character at " + std::to_string(i + k));
    }
    const uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; k++) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n + 1;
  }
  return true;
}

// ------------------------------------------------------------------------------------------------- time

std::string FormatTime(uint64_t micros) {
  const time_t secs = static_cast<time_t>(micros / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(micros % 1000000));
  return buf;
}

uint64_t NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

namespace {
bool TakeDigits(std::string_view s, size_t* pos, size_t n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}
}  // namespace

Result<uint64_t> ParseTime(std::string_view text) {
  const Status bad = Status::InvalidArgument(
      "bad time \"" + std::string(text) +
      "\": expected ISO 8601 such as 2024-05-01T12:00:00Z or 2024-05-01T12:00:00.123456+02:00, a date "
      "2024-05-01, or microseconds since the epoch");
  if (text.empty()) return bad;
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 19) return bad;
    return static_cast<uint64_t>(std::stoull(std::string(text)));
  }
  size_t p = 0;
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!TakeDigits(text, &p, 4, &year) || p >= text.size() || text[p++] != '-' ||
      !TakeDigits(text, &p, 2, &mon) || p >= text.size() || text[p++] != '-' ||
      !TakeDigits(text, &p, 2, &day)) {
    return bad;
  }
  uint64_t frac = 0;
  int64_t offset_secs = 0;
  if (p < text.size()) {
    if (text[p] != 'T' && text[p] != 't' && text[p] != ' ') return bad;
    p++;
    if (!TakeDigits(text, &p, 2, &hour) || p >= text.size() || text[p++] != ':' ||
        !TakeDigits(text, &p, 2, &min)) {
      return bad;
    }
    if (p < text.size() && text[p] == ':') {
      p++;
      if (!TakeDigits(text, &p, 2, &sec)) return bad;
      if (p < text.size() && (text[p] == '.' || text[p] == ',')) {
        p++;
        size_t digits = 0;
        while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
          if (digits < 6) frac = frac * 10 + static_cast<uint64_t>(text[p] - '0');
          digits++;
          p++;
        }
        if (digits == 0) return bad;
        for (size_t d = digits; d < 6; d++) frac *= 10;
      }
    }
    if (p < text.size()) {
      if (text[p] == 'Z' || text[p] == 'z') {
        p++;
      } else if (text[p] == '+' || text[p] == '-') {
        const int sign = text[p] == '-' ? -1 : 1;
        p++;
        int oh, om = 0;
        if (!TakeDigits(text, &p, 2, &oh)) return bad;
        if (p < text.size() && text[p] == ':') p++;
        if (!TakeDigits(text, &p, 2, &om)) return bad;
        offset_secs = sign * (oh * 3600 + om * 60);
      } else {
        return bad;
      }
    }
  }
  if (p != text.size() || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 ||
      year < 1970) {
    return bad;
  }
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_secs;
  if (secs < 0) return bad;
  return static_cast<uint64_t>(secs) * 1000000 + frac;
}

// ------------------------------------------------------------------------------------------------- keys

namespace {

void AppendEscaped(std::string* out, std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += ch;
    } else if (c >= 0x20 && c <= 0x7e) {
      *out += ch;
    } else {
      *out += "\\x";
      *out += kHex[c >> 4];
      *out += kHex[c & 15];
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kRawPrefix = "raw\"";

std::string_view TrimWs(std::string_view s, size_t* lead) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) e--;
  *lead = b;
  return s.substr(b, e - b);
}

// Parses raw"..." (already trimmed, starting with raw"). `base` is the position of the text in the argument.
Result<std::string> ParseRaw(std::string_view t, size_t base) {
  std::string out;
  size_t i = kRawPrefix.size();
  auto err = [&](size_t pos, const std::string& what) {
    return Status::InvalidArgument("bad key syntax at position " + std::to_string(base + pos) + ": " + what);
  };
  for (;;) {
    if (i >= t.size()) return err(i, "unterminated raw\"...\"");
    const char c = t[i];
    if (c == '"') {
      i++;
      break;
    }
    if (c == '\\') {
      if (i + 1 >= t.size()) return err(i, "unterminated escape");
      const char e = t[i + 1];
      if (e == '"' || e == '\\') {
        out += e;
        i += 2;
      } else if (e == 'x') {
        if (i + 3 >= t.size() || HexValue(t[i + 2]) < 0 || HexValue(t[i + 3]) < 0) {
          return err(i, "\\x needs two hex digits");
        }
        out += static_cast<char>(HexValue(t[i + 2]) * 16 + HexValue(t[i + 3]));
        i += 4;
      } else {
        return err(i, "unknown escape \\" + std::string(1, e) + " (use \\\" \\\\ or \\xNN)");
      }
      continue;
    }
    out += c;
    i++;
  }
  if (i != t.size()) return err(i, "unexpected text after raw\"...\"");
  return out;
}

}  // namespace

std::string KeyText(std::string_view key) {
  auto t = DecodeKey(key);
  if (t.ok() && !t->empty() && EncodeKey(*t) == key) return KeyToText(*t);
  std::string out(kRawPrefix);
  AppendEscaped(&out, key);
  out += '"';
  return out;
}

Result<std::string> ParseKeyArg(std::string_view text) {
  size_t lead = 0;
  const std::string_view t = TrimWs(text, &lead);
  if (t.starts_with(kRawPrefix)) {
    SP_ASSIGN_OR_RETURN(std::string raw, ParseRaw(t, lead));
    if (raw.empty()) return Status::InvalidArgument("bad key: a key is 1 byte or more");
    return raw;
  }
  auto tuple = ParseKeyText(text);
  if (!tuple.ok()) {
    return Status::InvalidArgument(
        "bad key syntax: " + tuple.status().message() +
        " (keys are key_codec text: 42, \"name\", 3b241101-e2bb-4255-8caf-4136c566a962, "
        "(tenant-uuid, 7), 7u, x\"00ff\", true, null; or raw\"bytes\\x00\" for a key that is not a tuple)");
  }
  if (tuple->empty()) return Status::InvalidArgument("bad key: () is empty; a key has at least one element");
  return EncodeKey(*tuple);
}

Result<std::pair<std::string, std::string>> ParsePrefixArg(std::string_view text) {
  size_t lead = 0;
  const std::string_view t = TrimWs(text, &lead);
  if (t.starts_with(kRawPrefix)) {
    SP_ASSIGN_OR_RETURN(std::string raw, ParseRaw(t, lead));
    std::string end = PrefixUpperBound(raw);
    return std::make_pair(std::move(raw), std::move(end));
  }
  auto tuple = ParseKeyText(text);
  if (!tuple.ok()) return Status::InvalidArgument("bad prefix syntax: " + tuple.status().message());
  std::string start = EncodeKey(*tuple);
  std::string end = start.empty() ? std::string() : TuplePrefixUpperBound(start);
  return std::make_pair(std::move(start), std::move(end));
}

// ----------------------------------------------------------------------------------------------- values

RenderedValue RenderValue(std::string_view keyspace_kind, std::string_view bytes) {
  RenderedValue out;
  if (keyspace_kind == "registry") {
    Decoder d(bytes);
    uint32_t version = 0;
    if (d.GetVarint32(&version) && version >= 1) {
      Schema schema;
      schema.version = version;  // decode as written: no upgrades
      auto doc = registry_internal::DecodeDocument(bytes, schema);
      if (doc.ok()) {
        out.value = Json(*doc);
        out.encoding = "registry";
        out.schema_version = version;
        return out;
      }
    }
  } else if (keyspace_kind == "index" || keyspace_kind == "unique_index") {
    auto t = DecodeKey(bytes);
    if (t.ok() && !t->empty() && EncodeKey(*t) == bytes) {
      out.value = KeyToText(*t);
      out.encoding = "primary_key";
      return out;
    }
  }
  if (IsValidUtf8(bytes)) {
    if (!bytes.empty()) {
      try {
        out.value = Json::parse(bytes);
        out.encoding = "json";
        return out;
      } catch (const nlohmann::json::exception&) {
        // not JSON: a string
      }
    }
    out.value = std::string(bytes);
    out.encoding = "string";
    return out;
  }
  out.value = Base64Encode(bytes);
  out.encoding = "base64";
  return out;
}

std::string SummarizeValue(const RenderedValue& v, size_t bytes, size_t max_chars) {
  std::string s = DumpJson(v.value);
  if (v.encoding == "base64") s = "base64:" + s;
  if (s.size() <= max_chars) return s;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<uint8_t>(s[cut]) & 0xc0) == 0x80) cut--;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "… (" + std::to_string(bytes) + " bytes)";
}

std::string Plural(uint64_t n, std::string_view noun, std::string_view plural) {
  std::string out = std::to_string(n) + " ";
  if (n == 1) return out.append(noun);
  if (!plural.empty()) return out.append(plural);
  return out.append(noun).append("s");
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

// --------------------------------------------------------------------------------------------- progress

Progress::Progress(std::string what)
    : what_(std::move(what)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (printed_) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(uint64_t done, std::string_view unit) {
  if (!enabled_ || (++calls_ & 1023) != 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds(1)) return;
  if (printed_ && now - last_print_ < std::chrono::milliseconds(250)) return;
  last_print_ = now;
  printed_ = true;
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s: %llu %.*s (%.0f s)", what_.c_str(), static_cast<unsigned long long>(done),
               static_cast<int>(unit.size()), unit.data(), secs);
  std::fflush(stderr);
}

}  // namespace savepoint::tools
