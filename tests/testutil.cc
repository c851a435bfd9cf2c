#include "tests/testutil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace savepoint::test {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  std::string templ = base + "/savepoint-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) std::abort();
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint64_t TestSeed() {
  uint64_t seed;
  if (const char* s = std::getenv("SAVEPOINT_SEED"); s != nullptr && *s != '\0') {
    seed = std::strtoull(s, nullptr, 10);
  } else {
    seed = std::random_device{}();
    seed = (seed << 32) ^ std::random_device{}();
  }
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::printf("seed=%llu (rerun with SAVEPOINT_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  return seed;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void ExpectWorkedExampleMatches(const std::string& doc_path, const std::string& file, size_t min_checked) {
  std::ifstream doc(doc_path);
  ASSERT_TRUE(doc.good()) << doc_path;
  std::string line;
  bool in_example = false;
  size_t checked = 0, max_end = 0;
  const std::regex hex_line(R"(^([0-9a-f]{4})  ((?:[0-9a-fx]{2} )*[0-9a-fx]{2})( .*)?$)");
  while (std::getline(doc, line)) {
    if (line.rfind("## Worked example", 0) == 0) in_example = true;
    if (!in_example) continue;
    std::smatch m;
    if (!std::regex_match(line, m, hex_line)) continue;
    size_t offset = std::stoul(m[1].str(), nullptr, 16);
    std::istringstream bytes(m[2].str());
    std::string b;
    while (bytes >> b) {
      ASSERT_LT(offset, file.size()) << line;
      if (b != "xx") {
        EXPECT_EQ(static_cast<unsigned char>(file[offset]), std::stoul(b, nullptr, 16))
            << "offset " << offset << " in: " << line;
        checked++;
      }
      offset++;
    }
    max_end = std::max(max_end, offset);
  }
  EXPECT_GT(checked, min_checked) << doc_path;
  EXPECT_EQ(max_end, file.size()) << doc_path << ": the example must cover the whole file";
}

}  // namespace savepoint::test
