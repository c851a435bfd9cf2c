// make_snapshot_corpus: writes the seed inputs of snapshot_reader_fuzzer (fuzz/corpus/snapshot_reader/).
//
//   make_snapshot_corpus OUTPUT_DIR
//
// Seeds are real SnapshotWriter output on an in-memory file system, so they are valid by the writer's own
// definition and the same on every run; a few are then damaged the ways a crash or a bad disk damages a file.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "fuzz/corpus_seeds.h"
#include "savepoint/file_system.h"
#include "snapshot/snapshot_writer.h"
#include "util/coding.h"
#include "wal/timeline_history.h"

namespace savepoint::snapshot {
namespace {

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "make_snapshot_corpus: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

void Must(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

// A snapshot of `keyspaces` keyspaces with `rows` game-like rows each, in blocks of `block_size` bytes.
std::string Make(FileSystem* fs, int keyspaces, int rows, size_t block_size, int big_row = 0) {
  static int n = 0;
  const std::string path = "/s/" + SnapshotFileName(1, static_cast<uint64_t>(++n));
  Header h;
  h.lsn = static_cast<uint64_t>(n);
  h.created_micros = 1'700'000'000'000'000ULL;
  h.catalog = R"({"next_keyspace_id":4,"keyspaces":[{"id":1,"name":"characters"}]})";
  WriterOptions o;
  o.block_size = block_size;
  auto w = SnapshotWriter::Create(fs, path, h, o);
  if (!w.ok()) Die("create", w.status());
  for (int k = 0; k < keyspaces; k++) {
    Must((*w)->begin_section(static_cast<uint32_t>(k + 1)), "section");
    for (int i = 0; i < rows; i++) {
      char key[32];
      std::snprintf(key, sizeof key, "char:%06d", i);
      std::string row(1, static_cast<char>(i % 3 == 0 ? 1 : 0));
      if (i % 3 == 0) PutFixed64(&row, 1'700'000'100'000'000ULL + static_cast<uint64_t>(i));
      row += "{\"level\":" + std::to_string(i % 60) + ",\"zone\":\"harbor\"}";
      if (i == 0 && big_row > 0) row += std::string(static_cast<size_t>(big_row), 'x');
      Must((*w)->add(key, row), "add");
    }
    Must((*w)->end_section(), "end section");
  }
  auto done = (*w)->finish();
  if (!done.ok()) Die("finish", done.status());
  std::string bytes;
  Must(fs->read_file(path, &bytes), "read");
  return bytes;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_snapshot_corpus OUTPUT_DIR\n");
    return 2;
  }
  std::unique_ptr<FileSystem> mem = NewMemFileSystem();
  Must(mem->create_dirs("/s"), "mkdir");
  std::map<std::string, std::string> seeds;
  seeds["empty"] = Make(mem.get(), 0, 0, 4096);
  seeds["one_raw_block"] = Make(mem.get(), 1, 2, 4096);
  seeds["lz4_blocks"] = Make(mem.get(), 3, 40, 512);
  seeds["big_row"] = Make(mem.get(), 1, 3, 256, 3000);
  std::string flipped = seeds["lz4_blocks"];
  flipped[flipped.size() / 2] ^= 0x08;
  seeds["bit_flip"] = flipped;
  seeds["truncated"] = seeds["lz4_blocks"].substr(0, seeds["lz4_blocks"].size() - 17);
  wal::TimelineHistory h;
  h.timeline = 7;
  h.branches = {{1, 500, 1700000123000000, "lsn 500 inclusive"}, {3, 780, 1700000456000000, "latest"}};
  seeds["history"] = wal::EncodeHistory(h);

  fuzz::WriteSeeds("make_snapshot_corpus", argv[1], seeds);
  return 0;
}

}  // namespace
}  // namespace savepoint::snapshot

int main(int argc, char** argv) { return savepoint::snapshot::Main(argc, argv); }
