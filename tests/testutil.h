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

}  // namespace savepoint::test
