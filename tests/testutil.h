// Helpers shared by the tests: scratch directories on the real file system and seeded randomness that is
// printed when a test fails, so every failure can be replayed.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace savepoint::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when destroyed.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The seed for a randomized test: $SAVEPOINT_SEED when set, else a fresh one. Recorded as a test property
// so a failure report shows it.
uint64_t TestSeed();

// A random string of `n` bytes (all byte values).
std::string RandomBytes(std::mt19937_64& rng, size_t n);

// Checks a format document's "## Worked example" against `file`, the bytes the code wrote for it: every hex
// dump line ("0030  1a 2b xx ..", offset then bytes, xx for bytes the example cannot fix) must match, at
// least `min_checked` bytes must be checked, and the dump must end where the file ends. Fails the test
// (gtest) otherwise: the document and the code cannot drift apart.
void ExpectWorkedExampleMatches(const std::string& doc_path, const std::string& file, size_t min_checked);

}  // namespace savepoint::test
