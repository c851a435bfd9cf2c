// libFuzzer target for everything that parses snapshot bytes from disk (docs/snapshot_format.md): the
// header, the trailer, the index, every block (LZ4 or raw) and its rows, and the whole-file checksum. No input
// may crash, hang or read out of bounds, and a few properties of the reader must hold for any input (checked
// with __builtin_trap()). The input is the whole file; it is also read as a timeline history file.
//
// Seeds: fuzz/corpus/snapshot_reader/, made by make_snapshot_corpus.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "savepoint/file_system.h"
#include "snapshot/format.h"
#include "snapshot/snapshot_reader.h"
#include "wal/timeline_history.h"

namespace savepoint::snapshot {
namespace {

constexpr char kPath[] = "/s/00000001-0000000000000001.snap";

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

volatile uint8_t g_sink;

uint8_t Touch(std::string_view bytes) {
  uint8_t sum = 0;
  for (char c : bytes) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  return sum;
}

void FuzzOne(std::string_view input) {
  std::unique_ptr<FileSystem> fs = NewMemFileSystem();
  Check(fs->create_dirs("/s").ok());
  {
    auto f = fs->new_writable_file(kPath);
    Check(f.ok());
    Check((*f)->append(input).ok());
    Check((*f)->close().ok());
  }
  auto reader = SnapshotReader::Open(fs.get(), kPath);
  if (reader.ok()) {
    SnapshotReader& r = **reader;
    // What Open accepted is consistent: sections contiguous from the header to the index, ids ascending.
    uint64_t at = r.header_size();
    for (size_t i = 0; i < r.sections().size(); i++) {
      const SectionInfo& s = r.sections()[i];
      Check(s.offset == at);
      if (i > 0) Check(s.keyspace_id > r.sections()[i - 1].keyspace_id);
      at += s.length;
    }
    Check(at == r.trailer().index_offset);
    Check(r.trailer().index_offset + r.trailer().index_size + kTrailerSize == r.file_size());
    g_sink = Touch(r.header().catalog);

    // Rows come section by section, keys strictly ascending within each, never more than the index says.
    uint64_t rows = 0;
    const SectionInfo* current = nullptr;
    std::string last;
    Status s = r.read_all([&](const SectionInfo& sec, std::string_view key, std::string_view value) {
      if (current != &sec) {
        Check(current == nullptr || sec.keyspace_id > current->keyspace_id);
        current = &sec;
      } else {
        Check(std::string_view(last) < key);
      }
      last.assign(key);
      g_sink = Touch(key) + Touch(value);
      rows++;
      return Status::OK();
    });
    Check(rows <= r.rows() || !s.ok());
    if (s.ok()) Check(rows == r.rows());
    Check(s.ok() || s.IsCorruption() || s.IsIOError());
    // verify() is read_all without rows: the same verdict.
    Status v = r.verify();
    Check(v.ok() == s.ok());
  } else {
    const Status& s = reader.status();
    Check(s.IsCorruption() || s.IsInvalidArgument() || s.IsIOError());
    Check(!s.IsCorruption() || s.message().find("at offset ") != std::string::npos);
  }
  Header h;
  (void)ReadSnapshotHeader(fs.get(), kPath, &h);
  (void)ParseSnapshotFileName(input.substr(0, 30));

  wal::TimelineHistory history;
  if (wal::DecodeHistory(7, input, &history).ok()) {
    const auto legs = wal::PathOf(history);
    Check(!legs.empty() && legs.back().timeline == 7);
    for (size_t i = 0; i + 1 < legs.size(); i++) Check(legs[i].last + 1 == legs[i + 1].first);
  }
}

}  // namespace
}  // namespace savepoint::snapshot

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  savepoint::snapshot::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
