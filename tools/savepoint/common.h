// Pieces shared by the subcommands of the `savepoint` operator command (tools/savepoint/README.md): exit
// codes, the text forms of keys, values and times, base64, JSON output and progress reporting.
//
// Thread-safety: the tool is single-threaded; nothing here is meant to be shared between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "engine/meta.h"
#include "savepoint/status.h"

namespace savepoint::tools {

// Exit status of every subcommand (documented in --help and README.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,       // bad invocation, bad key syntax, or input this build cannot use (a newer format)
  kExitNotFound = 2,    // no such directory, keyspace or key; not a savepoint directory
  kExitCorruption = 3,  // damaged data (names the file and offset)
  kExitIO = 4,          // an I/O error
  kExitBusy = 5,        // another process holds the directory's LOCK
  kExitTornTail = 6,  // wal verify: the log ends in a torn tail, as a crash leaves (wal_format.md, Seals)
  kExitIndexMismatch = 7,      // check: a secondary index disagrees with its registry
  kExitWalMismatch = 8,        // check: RocksDB and the WAL disagree
  kExitStructureMismatch = 9,  // check: a structure's rows disagree with each other (open repairs them)
};

// The exit code for a failed Status.
int ExitCodeFor(const Status& s);
// A Status of the same kind as `s` whose message is "<message><suffix>" (WithContext prepends instead).
using engine::AppendToMessage;
// Prints "savepoint: <message>" to stderr and returns ExitCodeFor(s).
int Fail(const Status& s);
// Prints "savepoint: warning: <message>" to stderr.
void Warn(std::string_view message);

using Json = nlohmann::ordered_json;
// Compact JSON (one line); invalid UTF-8 inside strings becomes U+FFFD instead of throwing.
std::string DumpJson(const Json& j);
std::string DumpJsonPretty(const Json& j);
// Writes `line` and a newline to stdout.
void PrintLine(std::string_view line);

std::string Base64Encode(std::string_view bytes);
// InvalidArgument on characters outside the standard alphabet or bad padding.
Result<std::string> Base64Decode(std::string_view text);
bool IsValidUtf8(std::string_view bytes);

// "2024-05-01T12:00:00.123456Z" (ISO 8601, UTC, microseconds).
std::string FormatTime(uint64_t micros);
// Accepts the form above, with or without fraction (1..6 digits) and with "Z", "+HH:MM" or "-HH:MM" or no
// zone (UTC); a date alone ("2024-05-01", midnight UTC); or a plain integer of microseconds since the epoch.
Result<uint64_t> ParseTime(std::string_view text);
uint64_t NowMicros();

// --- keys ---
// The readable form of a stored key: KeyToText of its tuple when the bytes are a key-codec key (strictly:
// they decode and re-encode to themselves), else raw"<bytes>" with the escapes of a KeyToText string
// (printable ASCII as is, \" \\ and \xNN for the rest). Exact: ParseKeyArg(KeyText(k)) == k for every key.
std::string KeyText(std::string_view key);
// Parses a key given on the command line: the key_codec text form (a tuple or a bare element) or raw"...".
// InvalidArgument naming the character position on bad syntax.
Result<std::string> ParseKeyArg(std::string_view text);
// Like ParseKeyArg, for a prefix: also returns the exclusive upper bound of the keys it selects (a tuple
// prefix selects its tuple and every extension of it; a raw prefix every key starting with its bytes).
Result<std::pair<std::string, std::string>> ParsePrefixArg(std::string_view text);

// --- values ---
// How a value is shown (README.md, "Values"), in order of preference:
//   registry     keyspace kind "registry": [varint schema version][CBOR] decoded to its JSON document
//   primary_key  keyspace kind "index"/"unique_index": the primary key the row points at, as key text
//   json         bytes that are valid UTF-8 and parse as one JSON value: that value
//   string       other valid UTF-8: a JSON string
//   base64       anything else: the base64 of the bytes, as a JSON string
struct RenderedValue {
  Json value;
  std::string encoding;
  uint32_t schema_version = 0;  // registry only
};
RenderedValue RenderValue(std::string_view keyspace_kind, std::string_view bytes);
// One-line summary for human output and wal dump: compact JSON of the rendered value, cut at `max_chars`
// with "…" and the byte count when longer.
std::string SummarizeValue(const RenderedValue& v, size_t bytes, size_t max_chars);

// "1 record", "2 records"
std::string Plural(uint64_t n, std::string_view noun, std::string_view plural = "");

// "1.5 KiB"
std::string HumanBytes(uint64_t bytes);

// Progress on stderr for operations over a second, only when stderr is a terminal. Rewrites one line; the
// destructor clears it.
class Progress {
 public:
  explicit Progress(std::string what);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Cheap when nothing is printed: a clock read every 1024 calls.
  void update(uint64_t done, std::string_view unit);

 private:
  const std::string what_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
  uint64_t calls_ = 0;
  bool printed_ = false;
};

}  // namespace savepoint::tools
