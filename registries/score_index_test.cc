// ScoreIndex against a std::set model: random inserts, erases and score changes (ties, small moves that stay
// in their leaf, large ones that do not), with every query checked against the model as it goes. Tiny nodes
// make the tree split, merge and shrink all the time.
#include "registries/score_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "tests/testutil.h"

namespace savepoint::structures {
namespace {

using Key = std::pair<double, std::string>;

template <typename Index>
void ExpectSameAsModel(const Index& index, const std::set<Key>& model, std::mt19937_64& rng) {
  ASSERT_EQ(index.size(), model.size());
  size_t rank = 0;
  auto it = index.begin();
  for (const Key& k : model) {
    ASSERT_FALSE(it == index.end()) << "rank " << rank;
    ASSERT_EQ(it.score(), k.first) << "rank " << rank;
    ASSERT_EQ(it.member(), k.second) << "rank " << rank;
    ++it;
    ++rank;
  }
  EXPECT_TRUE(it == index.end());
  for (auto m = model.rbegin(); m != model.rend(); ++m) {  // backwards from end()
    --it;
    ASSERT_EQ(it.member(), m->second);
  }
  EXPECT_TRUE(it == index.begin());
  for (int probe = 0; probe < 20 && !model.empty(); ++probe) {
    const size_t r = rng() % model.size();
    const Key& k = *std::next(model.begin(), static_cast<std::ptrdiff_t>(r));
    ASSERT_EQ(index.rank(k.first, k.second), r);
    auto at = index.at(r);
    ASSERT_EQ(at.member(), k.second);
    // lower_bound of a key present, and of one just below it (between two members, or before all).
    ASSERT_EQ(index.lower_bound(k.first, k.second).member(), k.second);
    auto below = index.lower_bound(k.first, "");
    auto expected = model.lower_bound({k.first, ""});
    ASSERT_EQ(below.member(), expected->second);
  }
  EXPECT_TRUE(index.at(model.size()) == index.end());
  EXPECT_TRUE(index.lower_bound(1e300, "") == index.end());
}

template <typename Index>
void RunAgainstModel(int ops, int members) {
  const uint64_t seed = test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Index index;
  std::set<Key> model;
  std::map<std::string, double> scores;
  for (int op = 0; op < ops; ++op) {
    const std::string member = "m" + std::to_string(rng() % static_cast<uint64_t>(members));
    auto cur = scores.find(member);
    const int kind = static_cast<int>(rng() % 10);
    if (cur == scores.end()) {
      const double score = static_cast<double>(rng() % 50);  // many ties
      index.insert(score, member);
      model.insert({score, member});
      scores[member] = score;
    } else if (kind < 3) {
      ASSERT_TRUE(index.erase(cur->second, member));
      ASSERT_FALSE(index.erase(cur->second, member)) << "erased twice";
      model.erase({cur->second, member});
      scores.erase(cur);
    } else {
      double next = cur->second + (kind < 8 ? 1 : static_cast<double>(static_cast<int>(rng() % 101) - 50));
      if (kind == 9) next = cur->second + 1.0 / 1024;  // moves past no other key
      index.update(cur->second, next, member);
      model.erase({cur->second, member});
      model.insert({next, member});
      cur->second = next;
    }
    if (op % 97 == 0) ASSERT_NO_FATAL_FAILURE(ExpectSameAsModel(index, model, rng));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsModel(index, model, rng));
  // Empty it completely, then use it again.
  for (const auto& [member, score] : scores) ASSERT_TRUE(index.erase(score, member));
  ASSERT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.begin() == index.end());
  index.insert(1, "again");
  EXPECT_EQ(index.begin().member(), "again");
}

TEST(ScoreIndexTest, TinyNodesMatchTheModel) { RunAgainstModel<BasicScoreIndex<8, 4>>(60000, 400); }

TEST(ScoreIndexTest, DefaultNodesMatchTheModel) { RunAgainstModel<ScoreIndex>(60000, 3000); }

TEST(ScoreIndexTest, GrowsAndShrinksThroughManyLevels) {
  BasicScoreIndex<8, 4> index;
  std::set<Key> model;
  std::mt19937_64 rng(test::TestSeed());
  for (int i = 0; i < 5000; ++i) {
    index.insert(static_cast<double>(i % 7), "k" + std::to_string(i));
    model.insert({static_cast<double>(i % 7), "k" + std::to_string(i)});
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsModel(index, model, rng));
  for (int i = 0; i < 5000; i += 2) {  // every other key: leaves run low and merge
    ASSERT_TRUE(index.erase(static_cast<double>(i % 7), "k" + std::to_string(i)));
    model.erase({static_cast<double>(i % 7), "k" + std::to_string(i)});
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameAsModel(index, model, rng));
  EXPECT_FALSE(index.erase(0, "absent"));
}

}  // namespace
}  // namespace savepoint::structures
