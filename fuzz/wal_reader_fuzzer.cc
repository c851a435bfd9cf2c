// libFuzzer target for everything that parses WAL bytes from disk: the segment reader (normal and salvage),
// record framing and resynchronisation, and archive files. No input may crash, hang or read out of bounds,
// and a few properties of the reader must hold for any input (checked with __builtin_trap()).
//
// Input layout: byte 0 selects the mode, the rest is file content.
//   bit 0 set:   two segments, split at the second "SPWALSEG" magic in the content (or at its middle);
//   bit 1 set:   segment files get fixed names (timeline 1, first LSNs 1 and 2) instead of names taken from
//                the raw header bytes, so names disagreeing with headers are reached too;
//   bit 2 set:   readers start (mode >> 3) LSNs after the oldest one, so records before start_lsn are read
//                and validated without being yielded.
// The whole content is also read as an archive file ("<segment>.wal.lz4").
//
// Seeds: fuzz/corpus/wal_reader/, made by make_wal_corpus.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "savepoint/file_system.h"
#include "util/coding.h"
#include "wal/archive.h"
#include "wal/format.h"
#include "wal/wal_reader.h"

namespace savepoint::wal {
namespace {

constexpr char kWalDir[] = "/wal";
constexpr char kArchiveDir[] = "/archive";

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// Reads every payload byte, so a payload view reaching past its buffer trips ASan.
uint8_t Touch(std::string_view payload) {
  uint8_t sum = 0;
  for (char c : payload) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  return sum;
}

volatile uint8_t g_sink;

// The file name a segment would have if its header were honest, or the defaults when the fields are zero
// or missing.
std::string NameFromHeader(std::string_view part, bool fixed, Timeline timeline, Lsn first_lsn) {
  if (!fixed && part.size() >= kSegmentHeaderSize) {
    const Timeline t = DecodeFixed32(part.data() + 16);
    const Lsn l = DecodeFixed64(part.data() + 24);
    if (t != 0) timeline = t;
    if (l != 0) first_lsn = l;
  }
  return SegmentFileName(timeline, first_lsn);
}

// The records a reader yields, with checks that hold for every input. Returns (lsn, payload) pairs.
std::vector<std::pair<Lsn, std::string>> ReadAll(std::unique_ptr<SegmentSource> source, bool salvage,
                                                 Lsn skip) {
  std::vector<std::pair<Lsn, std::string>> out;
  ReaderOptions options;
  options.salvage = salvage;
  // Start at the oldest LSN the newest timeline holds (an earlier one is NotFound), plus `skip`.
  if (auto listed = source->list(); listed.ok() && !listed->empty()) {
    Timeline newest = 0;
    for (const SegmentInfo& s : *listed) newest = std::max(newest, s.timeline);
    for (const SegmentInfo& s : *listed) {
      if (s.timeline == newest) {
        options.start_lsn = s.first_lsn + skip;
        break;
      }
    }
  }
  auto reader = WalReader::Open(std::move(source), options);
  if (!reader.ok()) return out;
  Record r;
  while ((*reader)->next(&r)) {
    g_sink = Touch(r.payload);
    // Without salvage, LSNs are dense: a gap or a step back is reported, never yielded.
    if (!salvage && !out.empty()) Check(r.lsn == out.back().first + 1);
    out.emplace_back(r.lsn, std::string(r.payload));
  }
  const StopReason reason = (*reader)->stop().reason;
  Check(reason != StopReason::kNotStarted);
  // status() is OK exactly when reading ended at the end of the log or at a torn tail.
  Check((*reader)->status().ok() == (reason == StopReason::kEndOfLog || reason == StopReason::kTornTail));
  if (!salvage) Check((*reader)->skipped().empty());
  return out;
}

// Normal reading and salvage agree up to where normal reading stops: salvage only goes further.
void ReadBothWays(const std::function<std::unique_ptr<SegmentSource>()>& source, Lsn skip) {
  const auto normal = ReadAll(source(), false, skip);
  const auto salvaged = ReadAll(source(), true, skip);
  Check(salvaged.size() >= normal.size());
  for (size_t i = 0; i < normal.size(); i++) Check(normal[i] == salvaged[i]);
}

// Record parsing and resynchronisation at a few offsets, including past the end.
void ParseAt(std::string_view bytes) {
  const size_t size = bytes.size();
  for (size_t offset : {size_t{0}, kSegmentHeaderSize, size / 2, size > 40 ? size - 40 : 0, size, size + 1}) {
    Record r;
    size_t next = 0;
    bool truncated = false;
    if (ParseRecord(bytes, offset, &r, &next, &truncated).ok()) {
      Check(!truncated);
      Check(next == offset + kRecordHeaderSize + r.payload.size() && next <= size);
      Check(r.payload.data() == bytes.data() + offset + kRecordHeaderSize);
      g_sink = Touch(r.payload);
    }
    if (auto found = FindNextValidRecord(bytes, offset)) {
      Check(*found >= offset);
      Check(ParseRecord(bytes, *found, &r, &next).ok());
    }
  }
  SegmentHeader h;
  (void)DecodeSegmentHeader(bytes, &h);
  (void)ParseSegmentFileName(bytes.substr(0, 29));
}

void WriteFile(FileSystem* fs, const std::string& path, std::string_view bytes) {
  auto f = fs->new_writable_file(path);
  Check(f.ok());
  Check((*f)->append(bytes).ok());
  Check((*f)->close().ok());
}

void FuzzOne(std::string_view input) {
  if (input.empty()) return;
  const auto mode = static_cast<uint8_t>(input[0]);
  const std::string_view content = input.substr(1);
  const bool split = (mode & 1) != 0;
  const bool fixed_names = (mode & 2) != 0;
  const Lsn skip = (mode & 4) != 0 ? mode >> 3 : 0;

  std::unique_ptr<FileSystem> fs = NewMemFileSystem();
  Check(fs->create_dirs(kWalDir).ok());
  std::string_view first = content, second;
  if (split) {
    size_t at = content.find(kSegmentMagic, 1);
    if (at == std::string_view::npos) at = content.size() / 2;
    first = content.substr(0, at);
    second = content.substr(at);
  }
  const std::string first_name = NameFromHeader(first, fixed_names, 1, 1);
  WriteFile(fs.get(), JoinPath(kWalDir, first_name), first);
  if (split) {
    std::string second_name = NameFromHeader(second, fixed_names, 1, 2);
    if (second_name == first_name) second_name = SegmentFileName(1, 2);
    if (second_name != first_name) WriteFile(fs.get(), JoinPath(kWalDir, second_name), second);
  }
  ReadBothWays([&] { return NewDirectorySource(fs.get(), kWalDir); }, skip);
  ParseAt(first);
  if (split) ParseAt(second);

  // The same bytes as an archived segment.
  const std::string archive_wal = JoinPath(kArchiveDir, "wal");
  Check(fs->create_dirs(archive_wal).ok());
  const std::string archive_path = JoinPath(archive_wal, SegmentFileName(1, 1) + ".lz4");
  WriteFile(fs.get(), archive_path, content);
  std::string segment;
  ArchivedSegment info;
  if (ReadArchivedSegment(fs.get(), archive_path, &segment, &info).ok()) {
    Check(segment.size() == info.segment_size);
    ParseAt(segment);
  }
  (void)ListArchivedSegments(fs.get(), kArchiveDir);
  ReadBothWays([&] { return NewArchiveSource(fs.get(), kArchiveDir); }, skip);
}

}  // namespace
}  // namespace savepoint::wal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  savepoint::wal::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
