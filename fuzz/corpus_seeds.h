// Shared by the seed-corpus generators (fuzz/make_*_corpus.cc): writes a set of seeds to a directory.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "savepoint/file_system.h"

namespace savepoint::fuzz {

// Writes each seed as <out_dir>/<name> (creating out_dir) and prints its name and size. On any failure,
// says so on stderr, prefixed with `tool`, and exits with status 1.
inline void WriteSeeds(const char* tool, const std::string& out_dir,
                       const std::map<std::string, std::string>& seeds) {
  auto fail = [&](const std::string& what, const Status& s) {
    std::fprintf(stderr, "%s: %s: %s\n", tool, what.c_str(), s.ToString().c_str());
    std::exit(1);
  };
  FileSystem* disk = FileSystem::Default();
  if (Status s = disk->create_dirs(out_dir); !s.ok()) fail("create " + out_dir, s);
  for (const auto& [name, bytes] : seeds) {
    const std::string path = JoinPath(out_dir, name);
    auto f = disk->new_writable_file(path);
    if (!f.ok()) fail("create " + path, f.status());
    if (Status s = (*f)->append(bytes); !s.ok()) fail("write " + path, s);
    if (Status s = (*f)->close(); !s.ok()) fail("close " + path, s);
    std::printf("%-28s %6zu bytes\n", name.c_str(), bytes.size());
  }
}

}  // namespace savepoint::fuzz
