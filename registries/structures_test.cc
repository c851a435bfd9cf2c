#include "savepoint/structures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/engine_impl.h"
#include "registries/structures_check.h"
#include "savepoint/fault_injection.h"
#include "savepoint/registry.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

using std::chrono::milliseconds;

class StructuresTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(StructuresOptions so = {}) {
    Options o;
    o.data_dir = dir_.path() + "/data";
    o.file_system = fs_.get();
    o.clock = &clock_;
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    auto s = Structures::open(engine_.get(), "db", so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    db_ = std::move(s).value();
  }
  void Close() {
    db_.reset();
    ASSERT_TRUE(engine_->close().ok());
    engine_.reset();
  }
  // Cuts the power: only what was synced survives.
  void Crash() {
    db_.reset();
    fs_->cut_power();
    static_cast<engine::EngineImpl*>(engine_.get())->abandon_for_crash_test();
    engine_.reset();
    ASSERT_TRUE(fs_->restart().ok());
  }
  void Reopen(StructuresOptions so = {}) {
    Close();
    Open(so);
  }

  test::ScratchDir dir_;
  ManualClock clock_;
  std::unique_ptr<FileSystem> mem_ = NewMemFileSystem();
  std::unique_ptr<FaultInjectionFileSystem> fs_ = std::make_unique<FaultInjectionFileSystem>(mem_.get());
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Structures> db_;
};

template <typename T>
T Ok(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : T{};
}

// Rows a lost WAL record leaves disagreeing (docs/structures.md, "What open checks and repairs"): the check
// names each key, open repairs them durably, and a row that does not decode is refused naming its key.
TEST_F(StructuresTest, OpenRepairsRowsThatDisagreeAndTheCheckNamesEachKey) {
  ASSERT_TRUE(db_->hset("h", {{"f", "1"}}).ok());
  ASSERT_TRUE(db_->sadd("s", {"m"}).ok());
  ASSERT_TRUE(db_->set("str", "v").ok());
  db_.reset();
  Keyspace* meta = Ok(engine_->find_keyspace("db"));
  Keyspace* elements = Ok(engine_->find_keyspace("db.elements"));
  auto row = [](std::string_view key, char kind, std::string_view rest) {
    std::string out;
    AppendKeyString(&out, key);
    out.push_back(kind);
    out.append(rest);
    return out;
  };
  Transaction damage(Durability::kSync);
  damage.remove(meta, "h");                                                     // a hash without its meta row
  damage.put(elements, row("str", 'l', std::string(8, '\x80')), "stale item");  // a list item of a string
  damage.remove(elements, row("s", 'm', "m"));                                  // a set without members
  ASSERT_TRUE(engine_->commit(damage).ok());

  std::vector<structures::StructureProblem> problems;
  uint64_t keys = 0;
  ASSERT_TRUE(structures::CheckStructures(engine_.get(), "db", &problems, &keys).ok());
  std::map<std::string, std::string> by_key;
  for (const auto& p : problems) {
    EXPECT_TRUE(p.repairable) << p.what;
    by_key[p.key] += p.keyspace + ": " + p.what + "\n";
  }
  ASSERT_EQ(by_key.size(), 3u);
  EXPECT_NE(by_key["h"].find("db.elements: element rows without a meta row: kept as a hash"),
            std::string::npos)
      << by_key["h"];
  EXPECT_NE(by_key["str"].find("1 element row(s) of another type than the key's (string)"), std::string::npos)
      << by_key["str"];
  EXPECT_NE(by_key["s"].find("db: a set without elements: deleted"), std::string::npos) << by_key["s"];

  db_ = Ok(Structures::open(engine_.get(), "db"));  // repairs, in a synced commit
  EXPECT_EQ(Ok(db_->hget("h", "f")), std::optional<std::string>("1"));
  EXPECT_EQ(Ok(db_->type("s")), StructureType::kNone);
  EXPECT_EQ(Ok(db_->get("str")), std::optional<std::string>("v"));
  EXPECT_EQ(Ok(db_->dbsize()), 2u);
  Crash();
  Open();
  problems.clear();
  ASSERT_TRUE(structures::CheckStructures(engine_.get(), "db", &problems, &keys).ok());
  EXPECT_TRUE(problems.empty()) << problems[0].what;
  EXPECT_EQ(keys, 2u);

  // A row that does not decode is not what a lost record leaves: refused, naming the key.
  ASSERT_TRUE(db_->zadd("z", {{"a", 1}}).ok());
  db_.reset();
  Transaction bad(Durability::kSync);
  bad.put(Ok(engine_->find_keyspace("db.elements")), row("z", 'z', "b"), "abc");
  ASSERT_TRUE(engine_->commit(bad).ok());
  problems.clear();
  ASSERT_TRUE(structures::CheckStructures(engine_.get(), "db", &problems, &keys).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_FALSE(problems[0].repairable);
  EXPECT_EQ(problems[0].key, "z");
  auto refused = Structures::open(engine_.get(), "db");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  EXPECT_NE(
      refused.status().message().find("key 'z' (keyspace db.elements): a sorted-set score does not decode"),
      std::string::npos)
      << refused.status().ToString();
}

TEST(GlobMatch, RedisPatterns) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("h?llo", "hello"));
  EXPECT_FALSE(GlobMatch("h?llo", "hllo"));
  EXPECT_TRUE(GlobMatch("h*llo", "heeeello"));
  EXPECT_TRUE(GlobMatch("h[ae]llo", "hallo"));
  EXPECT_FALSE(GlobMatch("h[ae]llo", "hillo"));
  EXPECT_TRUE(GlobMatch("h[^e]llo", "hallo"));
  EXPECT_FALSE(GlobMatch("h[^e]llo", "hello"));
  EXPECT_TRUE(GlobMatch("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(GlobMatch("h[b-a]llo", "hallo"));  // reversed range
  EXPECT_TRUE(GlobMatch("zone:\\*", "zone:*"));
  EXPECT_FALSE(GlobMatch("zone:\\*", "zone:1"));
  EXPECT_TRUE(GlobMatch("player:*:pos", "player:42:pos"));
  EXPECT_FALSE(GlobMatch("player:*:pos", "player:42:hp"));
}

TEST(StreamIdTest, ParseAndOrder) {
  EXPECT_EQ(StreamId::Parse("5-3")->ToString(), "5-3");
  EXPECT_EQ(StreamId::Parse("7", 9)->seq, 9u);
  EXPECT_FALSE(StreamId::Parse("x-1").ok());
  EXPECT_FALSE(StreamId::Parse("1-").ok());
  EXPECT_FALSE(StreamId::Parse("99999999999999999999999").ok());
  EXPECT_LT((StreamId{1, 9}), (StreamId{2, 0}));
}

TEST_F(StructuresTest, StringsSetGetNxXxAndWrongType) {
  EXPECT_EQ(Ok(db_->get("k")), std::nullopt);
  EXPECT_TRUE(Ok(db_->set("k", "v")));
  EXPECT_EQ(Ok(db_->get("k")), "v");
  SetOptions nx;
  nx.nx = true;
  EXPECT_FALSE(Ok(db_->set("k", "w", nx)));
  EXPECT_EQ(Ok(db_->get("k")), "v");
  SetOptions xx;
  xx.xx = true;
  EXPECT_FALSE(Ok(db_->set("missing", "w", xx)));
  EXPECT_EQ(Ok(db_->get("missing")), std::nullopt);
  EXPECT_TRUE(Ok(db_->set("k", "w", xx)));
  EXPECT_TRUE(Ok(db_->setnx("n", "1")));
  EXPECT_FALSE(Ok(db_->setnx("n", "2")));

  EXPECT_EQ(Ok(db_->sadd("s", {"a"})), 1);
  EXPECT_TRUE(db_->get("s").status().IsWrongType());
  EXPECT_TRUE(db_->incrby("s", 1).status().IsWrongType());
  EXPECT_TRUE(db_->hset("k", {{"f", "v"}}).status().IsWrongType());
  EXPECT_EQ(Ok(db_->smembers("s")), std::vector<std::string>{"a"});  // untouched by the refused calls
  // SET replaces a key of any type, and its elements go with it.
  EXPECT_TRUE(Ok(db_->set("s", "now a string")));
  EXPECT_EQ(Ok(db_->type("s")), StructureType::kString);
  Reopen();
  EXPECT_EQ(Ok(db_->get("s")), "now a string");
  EXPECT_EQ(Ok(db_->sadd("s2", {"x"})), 1);
  EXPECT_EQ(Ok(db_->get("k")), "w");
  EXPECT_TRUE(db_->set("k", "v", SetOptions{0, true, true, false}).status().IsInvalidArgument());
}

TEST_F(StructuresTest, IncrementsEdgeCases) {
  EXPECT_EQ(Ok(db_->incrby("c", 5)), 5);
  EXPECT_EQ(Ok(db_->incrby("c", -7)), -2);
  EXPECT_TRUE(Ok(db_->set("max", std::to_string(std::numeric_limits<int64_t>::max()))));
  EXPECT_TRUE(db_->incrby("max", 1).status().IsInvalidArgument());
  EXPECT_EQ(Ok(db_->get("max")), std::to_string(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(Ok(db_->set("min", std::to_string(std::numeric_limits<int64_t>::min()))));
  EXPECT_EQ(Ok(db_->incrby("min", 0)), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(db_->incrby("min", -1).status().IsInvalidArgument());
  for (const char* bad : {"abc", " 1", "1 ", "+1", "01", "-0", "", "1.5", "99999999999999999999"}) {
    EXPECT_TRUE(Ok(db_->set("bad", bad)));
    EXPECT_TRUE(db_->incrby("bad", 1).status().IsInvalidArgument()) << bad;
  }
  EXPECT_EQ(Ok(db_->hincrby("h", "f", std::numeric_limits<int64_t>::max())), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(db_->hincrby("h", "f", 1).status().IsInvalidArgument());
}

TEST_F(StructuresTest, CompareAndSetAndMergePatch) {
  EXPECT_FALSE(Ok(db_->compare_and_set("k", "a", "b")));
  EXPECT_TRUE(Ok(db_->set("k", "a")));
  EXPECT_FALSE(Ok(db_->compare_and_set("k", "x", "b")));
  EXPECT_TRUE(Ok(db_->compare_and_set("k", "a", "b")));
  EXPECT_EQ(Ok(db_->get("k")), "b");

  EXPECT_EQ(Ok(db_->merge_patch("doc", R"({"hp":10,"pos":{"x":1}})")), R"({"hp":10,"pos":{"x":1}})");
  EXPECT_EQ(Ok(db_->merge_patch("doc", R"({"pos":{"y":2},"hp":null})")), R"({"pos":{"x":1,"y":2}})");
  EXPECT_TRUE(db_->merge_patch("doc", "{not json").status().IsInvalidArgument());
  EXPECT_TRUE(db_->merge_patch("k", "{}").status().IsInvalidArgument());  // "b" is not JSON
  Reopen();
  EXPECT_EQ(Ok(db_->get("doc")), R"({"pos":{"x":1,"y":2}})");
}

// Found by value_codec_fuzzer: a patch of "[[[[..." overflowed the stack in nlohmann's recursive dump and
// merge_patch (~100 KB of brackets in a release build). Patches and stored documents nested deeper than
// kMaxDocumentDepth are refused, and refusing changes nothing.
TEST_F(StructuresTest, DeeplyNestedMergePatchIsRefusedNotAStackOverflow) {
  const size_t too_deep = registry_internal::kMaxDocumentDepth + 1;
  for (const size_t depth : {too_deep, size_t{300000}}) {
    EXPECT_TRUE(db_->merge_patch("doc", std::string(depth, '[') + std::string(depth, ']'))
                    .status()
                    .IsInvalidArgument());
    std::string objects;
    for (size_t i = 0; i < depth; i++) objects += R"({"a":)";
    objects += "1" + std::string(depth, '}');
    EXPECT_TRUE(db_->merge_patch("doc", objects).status().IsInvalidArgument());
    EXPECT_FALSE(Ok(db_->exists("doc")));
    // A stored document that deep is refused too, and stays as it was.
    ASSERT_TRUE(Ok(db_->set("stored", objects)));
    EXPECT_TRUE(db_->merge_patch("stored", R"({"b":2})").status().IsInvalidArgument());
    EXPECT_EQ(Ok(db_->get("stored")), objects);
  }
  // Brackets inside strings do not count, and the deepest allowed patch applies.
  const size_t max = registry_internal::kMaxDocumentDepth;
  const std::string in_string = R"({"s":")" + std::string(100000, '[') + R"("})";
  EXPECT_EQ(Ok(db_->merge_patch("str", in_string)), in_string);
  const std::string deepest = std::string(max, '[') + std::string(max, ']');
  EXPECT_EQ(Ok(db_->merge_patch("deepest", deepest)), deepest);
}

TEST_F(StructuresTest, TtlAtTheExactInstantAndAcrossRecovery) {
  SetOptions px;
  px.expire_ms = 1000;
  EXPECT_TRUE(Ok(db_->set("session", "s1", px)));
  EXPECT_EQ(Ok(db_->pttl("session")), 1000);
  EXPECT_EQ(Ok(db_->pttl("nokey")), -2);
  EXPECT_TRUE(Ok(db_->set("forever", "x")));
  EXPECT_EQ(Ok(db_->pttl("forever")), -1);
  EXPECT_EQ(Ok(db_->sadd("zone", {"p1", "p2"})), 2);
  EXPECT_TRUE(Ok(db_->pexpire("zone", 1000)));

  clock_.advance_micros(999'999);
  EXPECT_EQ(Ok(db_->get("session")), "s1");  // one microsecond before the instant
  clock_.advance_micros(1);
  EXPECT_EQ(Ok(db_->get("session")), std::nullopt);  // at the instant: gone
  EXPECT_FALSE(Ok(db_->exists("zone")));
  EXPECT_EQ(Ok(db_->scard("zone")), 0);
  // A write to an expired key starts from nothing: the old members do not come back.
  EXPECT_EQ(Ok(db_->sadd("zone", {"p3"})), 1);
  EXPECT_EQ(Ok(db_->smembers("zone")), std::vector<std::string>{"p3"});
  Reopen();
  EXPECT_EQ(Ok(db_->get("session")), std::nullopt);
  EXPECT_EQ(Ok(db_->smembers("zone")), std::vector<std::string>{"p3"});

  // persist, and expire <= 0 deletes.
  EXPECT_TRUE(Ok(db_->expire("forever", 10)));
  EXPECT_TRUE(Ok(db_->persist("forever")));
  EXPECT_FALSE(Ok(db_->persist("forever")));
  EXPECT_EQ(Ok(db_->pttl("forever")), -1);
  EXPECT_TRUE(Ok(db_->pexpire("forever", 0)));
  EXPECT_FALSE(Ok(db_->exists("forever")));
  EXPECT_TRUE(db_->expire("zone", std::numeric_limits<int64_t>::max()).status().IsInvalidArgument());
}

TEST_F(StructuresTest, SweepDeletesExpiredKeysWithALoggedDelete) {
  SetOptions px;
  px.expire_ms = 50;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Ok(db_->set("k" + std::to_string(i), "v", px)));
  EXPECT_EQ(Ok(db_->rpush("list", {"a", "b"})), 2);
  ASSERT_TRUE(Ok(db_->pexpire("list", 50)));
  EXPECT_EQ(Ok(db_->dbsize()), 21u);
  clock_.advance_micros(50'000);
  EXPECT_EQ(Ok(db_->sweep_expired()), 21);
  EXPECT_EQ(Ok(db_->dbsize()), 0u);
  // The deletes were logged: after a crash (sync to be sure the log is on disk), nothing comes back, even
  // with the clock moved back before the expiry.
  ASSERT_TRUE(engine_->sync().ok());
  Crash();
  clock_.set_micros(clock_.now_micros() - 40'000);
  Open();
  EXPECT_EQ(Ok(db_->dbsize()), 0u);
  EXPECT_EQ(Ok(db_->llen("list")), 0);
}

TEST_F(StructuresTest, Hashes) {
  EXPECT_EQ(Ok(db_->hset("h", {{"a", "1"}, {"b", "2"}, {"a", "3"}})), 2);
  EXPECT_EQ(Ok(db_->hset("h", {{"a", "4"}, {"c", "5"}})), 1);
  EXPECT_EQ(Ok(db_->hget("h", "a")), "4");
  EXPECT_EQ(Ok(db_->hget("h", "zz")), std::nullopt);
  EXPECT_EQ(Ok(db_->hlen("h")), 3);
  EXPECT_EQ(Ok(db_->hincrby("h", "n", -5)), -5);
  EXPECT_TRUE(db_->hincrby("h", "a", 1).ok());
  EXPECT_TRUE(Ok(db_->hset("h", {{"s", "x"}})) == 1);
  EXPECT_TRUE(db_->hincrby("h", "s", 1).status().IsInvalidArgument());
  EXPECT_EQ(Ok(db_->hdel("h", {"a", "a", "missing"})), 1);
  Reopen();
  using F = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(Ok(db_->hgetall("h")), (F{{"b", "2"}, {"c", "5"}, {"n", "-5"}, {"s", "x"}}));
  EXPECT_EQ(Ok(db_->hdel("h", {"b", "c", "n", "s"})), 4);
  EXPECT_FALSE(Ok(db_->exists("h")));  // an emptied hash is gone
  EXPECT_EQ(Ok(db_->hgetall("h")), F{});
  Reopen();
  EXPECT_FALSE(Ok(db_->exists("h")));
}

TEST_F(StructuresTest, Sets) {
  EXPECT_EQ(Ok(db_->sadd("s", {"b", "a", "b"})), 2);
  EXPECT_EQ(Ok(db_->sadd("s", {"a"})), 0);
  EXPECT_TRUE(Ok(db_->sismember("s", "a")));
  EXPECT_FALSE(Ok(db_->sismember("s", "z")));
  EXPECT_FALSE(Ok(db_->sismember("nokey", "z")));
  EXPECT_EQ(Ok(db_->scard("s")), 2);
  EXPECT_EQ(Ok(db_->srem("s", {"a", "zz"})), 1);
  std::string binary("\0\xff\x01", 3);
  EXPECT_EQ(Ok(db_->sadd("s", {binary, ""})), 2);
  Reopen();
  EXPECT_EQ(Ok(db_->smembers("s")), (std::vector<std::string>{"", binary, "b"}));
  EXPECT_EQ(Ok(db_->srem("s", {"b", "", binary})), 3);
  EXPECT_EQ(Ok(db_->type("s")), StructureType::kNone);
}

TEST_F(StructuresTest, KeysWhoseNamesArePrefixesOfEachOtherKeepTheirOwnElements) {
  // "ab" and "ab\0" share an encoded prefix; deleting one must not touch the other.
  const std::string a = "ab", b = std::string("ab\0", 3), c = std::string("ab\0\xff", 4);
  EXPECT_EQ(Ok(db_->sadd(a, {"1"})), 1);
  EXPECT_EQ(Ok(db_->sadd(b, {"2"})), 1);
  EXPECT_EQ(Ok(db_->sadd(c, {"3"})), 1);
  EXPECT_TRUE(Ok(db_->del(a)));
  Reopen();
  EXPECT_EQ(Ok(db_->smembers(a)), std::vector<std::string>{});
  EXPECT_EQ(Ok(db_->smembers(b)), std::vector<std::string>{"2"});
  EXPECT_EQ(Ok(db_->smembers(c)), std::vector<std::string>{"3"});
}

TEST_F(StructuresTest, SortedSets) {
  EXPECT_EQ(Ok(db_->zadd("lb", {{"alice", 10}, {"bob", 20}, {"carol", 15}, {"dave", 15}})), 4);
  EXPECT_EQ(Ok(db_->zrank("lb", "alice")), 0);
  EXPECT_EQ(Ok(db_->zrank("lb", "carol")), 1);  // ties order by member
  EXPECT_EQ(Ok(db_->zrank("lb", "dave")), 2);
  EXPECT_EQ(Ok(db_->zrank("lb", "bob", true)), 0);
  EXPECT_EQ(Ok(db_->zrank("lb", "nobody")), std::nullopt);
  EXPECT_EQ(Ok(db_->zincrby("lb", 100, "alice")), 110);
  EXPECT_EQ(Ok(db_->zrange("lb", 0, 0, true)), (std::vector<ScoredMember>{{"alice", 110}}));
  EXPECT_EQ(Ok(db_->zrange("lb", -2, -1)), (std::vector<ScoredMember>{{"bob", 20}, {"alice", 110}}));
  EXPECT_EQ(Ok(db_->zrange("lb", 5, 10)), std::vector<ScoredMember>{});
  EXPECT_EQ(Ok(db_->zrange("lb", 2, 1)), std::vector<ScoredMember>{});
  EXPECT_EQ(Ok(db_->zrangebyscore("lb", {15, false}, {20, false})),
            (std::vector<ScoredMember>{{"carol", 15}, {"dave", 15}, {"bob", 20}}));
  EXPECT_EQ(Ok(db_->zrangebyscore("lb", {15, true}, {HUGE_VAL, false})),
            (std::vector<ScoredMember>{{"bob", 20}, {"alice", 110}}));
  EXPECT_EQ(Ok(db_->zrangebyscore("lb", {-HUGE_VAL, false}, {HUGE_VAL, false}, 1, 2)),
            (std::vector<ScoredMember>{{"dave", 15}, {"bob", 20}}));
  EXPECT_EQ(Ok(db_->zrangebyscore("lb", {-HUGE_VAL, false}, {HUGE_VAL, false}, -1, 2)), std::vector<ScoredMember>{});

  // Flags.
  ZAddOptions nx;
  nx.nx = true;
  EXPECT_EQ(Ok(db_->zadd("lb", {{"bob", 1}, {"erin", 1}}, nx)), 1);
  EXPECT_EQ(Ok(db_->zscore("lb", "bob")), 20);
  ZAddOptions gt_ch;
  gt_ch.gt = true;
  gt_ch.ch = true;
  EXPECT_EQ(Ok(db_->zadd("lb", {{"bob", 5}, {"carol", 50}, {"frank", 1}}, gt_ch)), 2);
  EXPECT_EQ(Ok(db_->zscore("lb", "bob")), 20);
  EXPECT_EQ(Ok(db_->zscore("lb", "carol")), 50);
  ZAddOptions xx;
  xx.xx = true;
  EXPECT_EQ(Ok(db_->zadd("lb", {{"ghost", 1}}, xx)), 0);
  EXPECT_EQ(Ok(db_->zscore("lb", "ghost")), std::nullopt);
  ZAddOptions bad;
  bad.nx = bad.gt = true;
  EXPECT_TRUE(db_->zadd("lb", {{"x", 1}}, bad).status().IsInvalidArgument());
  EXPECT_TRUE(db_->zadd("lb", {{"x", std::nan("")}}).status().IsInvalidArgument());
  EXPECT_EQ(Ok(db_->zadd("inf", {{"a", HUGE_VAL}})), 1);
  EXPECT_TRUE(db_->zincrby("inf", -HUGE_VAL, "a").status().IsInvalidArgument());  // inf - inf is NaN
  EXPECT_EQ(Ok(db_->zscore("inf", "a")), HUGE_VAL);

  EXPECT_EQ(Ok(db_->zremrangebyscore("lb", {1, false}, {20, false})), 4);  // erin, frank, dave, bob
  Reopen();
  EXPECT_EQ(Ok(db_->zrange("lb", 0, -1)), (std::vector<ScoredMember>{{"carol", 50}, {"alice", 110}}));
  EXPECT_EQ(Ok(db_->zrem("lb", {"carol", "alice", "nobody"})), 2);
  EXPECT_EQ(Ok(db_->zcard("lb")), 0);
  EXPECT_FALSE(Ok(db_->exists("lb")));
}

// Integer deltas make many ties (ordered by member), fractional ones mostly keep a member between its
// neighbours (the in-place update), large ones move it across many; the order is checked in memory, against
// ZRANGE and ZRANK, as it goes, and again after a reopen.
TEST_F(StructuresTest, SortedSetRankMatchesASortOfTheScores) {
  std::mt19937_64 rng(test::TestSeed());
  std::map<std::string, double> model;
  auto sorted_model = [&] {
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& [m, s] : model) sorted.emplace_back(s, m);
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  };
  auto expect_order = [&](const std::vector<std::pair<double, std::string>>& sorted) {
    auto all = Ok(db_->zrange("lb", 0, -1));
    ASSERT_EQ(all.size(), sorted.size());
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].member, sorted[i].second) << "rank " << i;
      ASSERT_EQ(all[i].score, sorted[i].first) << "rank " << i;
    }
  };
  for (int i = 0; i < 3000; ++i) {
    const std::string m = "p" + std::to_string(rng() % 500);
    double delta = static_cast<double>(static_cast<int>(rng() % 21) - 10);
    if (rng() % 3 == 0) delta = static_cast<double>(rng() % 1000) / 4096;
    if (rng() % 50 == 0) delta = static_cast<double>(static_cast<int>(rng() % 2001) - 1000);
    model[m] += delta;
    ASSERT_EQ(Ok(db_->zincrby("lb", delta, m)), model[m]);
    if (i % 300 == 299) ASSERT_NO_FATAL_FAILURE(expect_order(sorted_model()));
  }
  const auto sorted = sorted_model();
  for (size_t i = 0; i < sorted.size(); i += 7) {
    ASSERT_EQ(Ok(db_->zrank("lb", sorted[i].second)), static_cast<int64_t>(i));
  }
  Reopen();
  ASSERT_NO_FATAL_FAILURE(expect_order(sorted));
}

TEST_F(StructuresTest, Lists) {
  EXPECT_EQ(Ok(db_->rpush("l", {"a", "b"})), 2);
  EXPECT_EQ(Ok(db_->lpush("l", {"x", "y"})), 4);  // y x a b
  EXPECT_EQ(Ok(db_->lrange("l", 0, -1)), (std::vector<std::string>{"y", "x", "a", "b"}));
  EXPECT_EQ(Ok(db_->lrange("l", -2, 100)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Ok(db_->lrange("l", 3, 1)), std::vector<std::string>{});
  EXPECT_EQ(Ok(db_->lpop("l")), "y");
  EXPECT_EQ(Ok(db_->rpop("l")), "b");
  Reopen();
  EXPECT_EQ(Ok(db_->lrange("l", 0, -1)), (std::vector<std::string>{"x", "a"}));
  EXPECT_EQ(Ok(db_->lpush("l", {"w"})), 3);
  EXPECT_EQ(Ok(db_->llen("l")), 3);
  EXPECT_EQ(Ok(db_->rpop("l")), "a");
  EXPECT_EQ(Ok(db_->rpop("l")), "x");
  EXPECT_EQ(Ok(db_->rpop("l")), "w");
  EXPECT_EQ(Ok(db_->rpop("l")), std::nullopt);
  EXPECT_FALSE(Ok(db_->exists("l")));
  EXPECT_TRUE(db_->rpush("l", {}).status().IsInvalidArgument());
}

TEST_F(StructuresTest, BlockingPopWaitsForAPushAndTimesOut) {
  auto none = Ok(db_->blpop({"q1", "q2"}, milliseconds(20)));
  EXPECT_EQ(none, std::nullopt);
  std::thread pusher([&] {
    std::this_thread::sleep_for(milliseconds(30));
    ASSERT_TRUE(db_->rpush("q2", {"job"}).ok());
  });
  auto got = Ok(db_->blpop({"q1", "q2"}, milliseconds(10'000)));
  pusher.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, "q2");
  EXPECT_EQ(got->second, "job");
  EXPECT_EQ(Ok(db_->set("str", "x")), true);
  EXPECT_TRUE(db_->brpop({"str"}, milliseconds(1)).status().IsWrongType());
}

TEST_F(StructuresTest, BlockingPopHandsEachItemToExactlyOneWaiter) {
  constexpr int kItems = 200;
  std::atomic<int> popped{0};
  std::vector<std::thread> consumers;
  std::mutex mu;
  std::multiset<std::string> seen;
  for (int t = 0; t < 4; ++t) {
    consumers.emplace_back([&] {
      while (popped.load() < kItems) {
        auto r = db_->brpop({"work"}, milliseconds(50));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (r->has_value()) {
          std::lock_guard<std::mutex> l(mu);
          seen.insert((*r)->second);
          popped.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < kItems; ++i) ASSERT_TRUE(db_->lpush("work", {std::to_string(i)}).ok());
  for (auto& t : consumers) t.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(seen.count(std::to_string(i)), 1u);
}

TEST_F(StructuresTest, StreamsAddRangeTrimAndAutoIds) {
  XAddOptions explicit_id;
  explicit_id.id = StreamId{5, 1};
  EXPECT_EQ(Ok(db_->xadd("log", {{"ev", "login"}}, explicit_id)), (StreamId{5, 1}));
  explicit_id.id = StreamId{5, 1};
  EXPECT_TRUE(db_->xadd("log", {{"ev", "x"}}, explicit_id).status().IsInvalidArgument());
  explicit_id.id = StreamId{0, 0};
  EXPECT_TRUE(db_->xadd("new", {{"ev", "x"}}, explicit_id).status().IsInvalidArgument());
  const uint64_t now_ms = clock_.now_micros() / 1000;
  const StreamId a = Ok(db_->xadd("log", {{"ev", "move"}, {"x", "1"}}));
  const StreamId b = Ok(db_->xadd("log", {{"ev", "move"}, {"x", "2"}}));
  EXPECT_EQ(a, (StreamId{now_ms, 0}));
  EXPECT_EQ(b, (StreamId{now_ms, 1}));  // same millisecond: next sequence
  EXPECT_EQ(Ok(db_->xlen("log")), 3);
  auto all = Ok(db_->xrange("log", StreamId::Min(), StreamId::Max()));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].fields, (StreamFields{{"ev", "move"}, {"x", "1"}}));
  auto rev = Ok(db_->xrange("log", StreamId::Min(), StreamId::Max(), 2, true));
  ASSERT_EQ(rev.size(), 2u);
  EXPECT_EQ(rev[0].id, b);
  EXPECT_EQ(Ok(db_->xtrim("log", 2)), 1);
  XAddOptions capped;
  capped.maxlen = 2;
  const StreamId c = Ok(db_->xadd("log", {{"ev", "logout"}}, capped));
  Reopen();
  all = Ok(db_->xrange("log", StreamId::Min(), StreamId::Max()));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, b);
  EXPECT_EQ(all[1].id, c);
  EXPECT_EQ(Ok(db_->xdel("log", {b, b, StreamId{1, 1}})), 1);
  EXPECT_EQ(Ok(db_->xtrim("log", 0)), 1);
  EXPECT_TRUE(Ok(db_->exists("log")));  // an empty stream stays, as in Redis
  // IDs never go back, even after the newest entry was deleted and the engine restarted.
  Reopen();
  explicit_id.id = c;
  EXPECT_TRUE(db_->xadd("log", {{"ev", "x"}}, explicit_id).status().IsInvalidArgument());
}

TEST_F(StructuresTest, StreamConsumerGroups) {
  EXPECT_TRUE(db_->xgroup_create("log", "g", std::nullopt).IsNotFound());
  ASSERT_TRUE(db_->xgroup_create("log", "g", StreamId{}, /*mkstream=*/true).ok());
  EXPECT_TRUE(db_->xgroup_create("log", "g", StreamId{}).IsConflict());
  std::vector<StreamId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Ok(db_->xadd("log", {{"n", std::to_string(i)}})));
  auto first = Ok(db_->xreadgroup("log", "g", "alice", std::nullopt, 2, milliseconds(0)));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, ids[0]);
  auto second = Ok(db_->xreadgroup("log", "g", "bob", std::nullopt, 10, milliseconds(0)));
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(Ok(db_->xreadgroup("log", "g", "bob", std::nullopt, 10, milliseconds(0))).size(), 0u);
  auto summary = Ok(db_->xpending("log", "g"));
  EXPECT_EQ(summary.count, 5u);
  EXPECT_EQ(summary.smallest, ids[0]);
  EXPECT_EQ(summary.largest, ids[4]);
  EXPECT_EQ(summary.consumers, (std::vector<std::pair<std::string, uint64_t>>{{"alice", 2}, {"bob", 3}}));
  EXPECT_EQ(Ok(db_->xack("log", "g", {ids[0], ids[0], StreamId{9, 9}})), 1);
  // History: alice's own pending entries.
  auto history = Ok(db_->xreadgroup("log", "g", "alice", StreamId{}, 10, milliseconds(0)));
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].id, ids[1]);
  // Claim bob's entries once they are idle long enough.
  EXPECT_EQ(Ok(db_->xclaim("log", "g", "carol", 1000, {ids[2], ids[3]})).size(), 0u);
  clock_.advance_micros(2'000'000);
  ASSERT_EQ(Ok(db_->xdel("log", {ids[3]})), 1);
  auto claimed = Ok(db_->xclaim("log", "g", "carol", 1000, {ids[2], ids[3]}));
  ASSERT_EQ(claimed.size(), 1u);  // ids[3] was deleted: dropped from the pending list
  EXPECT_EQ(claimed[0].id, ids[2]);
  Reopen();
  auto pending = Ok(db_->xpending_range("log", "g", StreamId::Min(), StreamId::Max(), 10));
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].id, ids[1]);
  EXPECT_EQ(pending[0].consumer, "alice");
  EXPECT_EQ(pending[1].id, ids[2]);
  EXPECT_EQ(pending[1].consumer, "carol");
  EXPECT_EQ(pending[1].delivery_count, 2u);
  EXPECT_EQ(pending[2].id, ids[4]);
  auto groups = Ok(db_->xinfo_groups("log"));
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].last_delivered, ids[4]);
  EXPECT_EQ(groups[0].consumers, 3u);
  EXPECT_EQ(groups[0].pending, 3u);
  EXPECT_TRUE(db_->xreadgroup("log", "nogroup", "a", std::nullopt, 1, milliseconds(0)).status().IsNotFound());
  EXPECT_TRUE(Ok(db_->xgroup_destroy("log", "g")));
  Reopen();
  EXPECT_EQ(Ok(db_->xinfo_groups("log")).size(), 0u);
  EXPECT_TRUE(db_->xpending("log", "g").status().IsNotFound());
}

TEST_F(StructuresTest, BlockingStreamReads) {
  ASSERT_TRUE(db_->xgroup_create("log", "g", std::nullopt, true).ok());
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    ASSERT_TRUE(db_->xadd("log", {{"k", "v"}}).ok());
  });
  auto got = Ok(db_->xreadgroup("log", "g", "c", std::nullopt, 1, milliseconds(10'000)));
  writer.join();
  ASSERT_EQ(got.size(), 1u);
  auto after = Ok(db_->xread("log", std::nullopt, 10, milliseconds(20)));  // "$": nothing new
  EXPECT_TRUE(after.empty());
  auto from_start = Ok(db_->xread("log", StreamId{}, 10, milliseconds(0)));
  EXPECT_EQ(from_start.size(), 1u);
}

TEST_F(StructuresTest, LeasesFenceStaleOwners) {
  auto l1 = Ok(db_->lease_acquire("boss", "node-a", milliseconds(1000)));
  EXPECT_EQ(l1.fencing_token, 1u);
  EXPECT_TRUE(db_->lease_acquire("boss", "node-b", milliseconds(1000)).status().IsConflict());
  EXPECT_TRUE(db_->lease_renew("boss", "node-b", milliseconds(1000)).status().IsConflict());
  auto renewed = Ok(db_->lease_acquire("boss", "node-a", milliseconds(1000)));
  EXPECT_EQ(renewed.fencing_token, 1u);  // the holder renewing keeps its token
  clock_.advance_micros(1'000'000);      // expired at exactly the instant
  EXPECT_TRUE(db_->lease_get("boss").status().IsNotFound());
  EXPECT_TRUE(db_->lease_release("boss", "node-a").IsConflict());
  auto l2 = Ok(db_->lease_acquire("boss", "node-b", milliseconds(1000)));
  EXPECT_EQ(l2.fencing_token, 2u);
  EXPECT_TRUE(db_->lease_release("boss", "node-a").IsConflict());
  Reopen();
  EXPECT_EQ(Ok(db_->lease_get("boss")).owner, "node-b");
  EXPECT_TRUE(db_->lease_release("boss", "node-b").ok());
  EXPECT_TRUE(db_->lease_get("boss").status().IsNotFound());
  Reopen();
  EXPECT_EQ(Ok(db_->lease_acquire("boss", "node-c", milliseconds(10))).fencing_token, 3u);  // survives restarts
  EXPECT_TRUE(db_->lease_acquire("boss", "", milliseconds(10)).status().IsInvalidArgument());
}

TEST_F(StructuresTest, IdempotencyKeysRunOnceAndShareTheResult) {
  int runs = 0;
  auto purchase = [&]() -> Result<std::string> {
    ++runs;
    return std::string("order-17");
  };
  EXPECT_EQ(Ok(db_->idempotent("req-1", milliseconds(60'000), purchase)), "order-17");
  EXPECT_EQ(Ok(db_->idempotent("req-1", milliseconds(60'000), purchase)), "order-17");
  EXPECT_EQ(runs, 1);
  Reopen();
  EXPECT_EQ(Ok(db_->idempotent("req-1", milliseconds(60'000), purchase)), "order-17");
  EXPECT_EQ(runs, 1);
  // A failing first attempt leaves the key free for a retry.
  auto failing = []() -> Result<std::string> { return Status::Busy("shop offline"); };
  EXPECT_TRUE(db_->idempotent("req-2", milliseconds(60'000), failing).status().IsBusy());
  EXPECT_EQ(Ok(db_->idempotent("req-2", milliseconds(60'000), purchase)), "order-17");
  EXPECT_EQ(runs, 2);
  // After the TTL the key may run again.
  clock_.advance_micros(60'000'000);
  EXPECT_EQ(Ok(db_->idempotent("req-1", milliseconds(60'000), purchase)), "order-17");
  EXPECT_EQ(runs, 3);
  // Begin/finish by hand: a second caller sees the claim in progress, then the result.
  EXPECT_EQ(Ok(db_->idempotency_begin("req-3", milliseconds(1000))).kind, IdempotencyState::Kind::kFirst);
  EXPECT_EQ(Ok(db_->idempotency_begin("req-3", milliseconds(1000))).kind, IdempotencyState::Kind::kInProgress);
  ASSERT_TRUE(db_->idempotency_finish("req-3", "r3").ok());
  EXPECT_TRUE(db_->idempotency_finish("req-3", "again").IsConflict());
  auto done = Ok(db_->idempotency_begin("req-3", milliseconds(1000)));
  EXPECT_EQ(done.kind, IdempotencyState::Kind::kDone);
  EXPECT_EQ(done.result, "r3");
}

TEST_F(StructuresTest, ConcurrentIdempotentCallersRunTheFunctionOnce) {
  std::atomic<int> runs{0};
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = db_->idempotent("pay", milliseconds(60'000), [&]() -> Result<std::string> {
        runs.fetch_add(1);
        std::this_thread::sleep_for(milliseconds(20));
        return std::string("paid");
      });
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      results[static_cast<size_t>(t)] = *r;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  for (const auto& r : results) EXPECT_EQ(r, "paid");
}

TEST_F(StructuresTest, PubSubChannelsAndPatterns) {
  std::vector<std::string> got;
  auto exact = db_->subscribe("zone:1", [&](std::string_view ch, std::string_view msg) {
    got.push_back(std::string(ch) + "=" + std::string(msg));
  });
  auto pattern = db_->psubscribe("zone:*", [&](std::string_view ch, std::string_view msg) {
    got.push_back("p:" + std::string(ch) + "=" + std::string(msg));
  });
  EXPECT_EQ(db_->publish("zone:1", "hello"), 2);
  EXPECT_EQ(db_->publish("zone:2", "hi"), 1);
  EXPECT_EQ(db_->publish("chat", "x"), 0);
  exact.reset();
  EXPECT_EQ(db_->publish("zone:1", "bye"), 1);
  EXPECT_EQ(got, (std::vector<std::string>{"zone:1=hello", "p:zone:1=hello", "p:zone:2=hi", "p:zone:1=bye"}));
  // A callback may drop its own subscription.
  std::unique_ptr<Subscription> self;
  int calls = 0;
  self = db_->subscribe("once", [&](std::string_view, std::string_view) {
    ++calls;
    self.reset();
  });
  EXPECT_EQ(db_->publish("once", "1"), 1);
  EXPECT_EQ(db_->publish("once", "2"), 0);
  EXPECT_EQ(calls, 1);
}

TEST_F(StructuresTest, KeysAndCursorScan) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Ok(db_->set("player:" + std::to_string(i), "x")));
  ASSERT_EQ(Ok(db_->sadd("zone:1", {"a"})), 1);
  auto players = Ok(db_->keys("player:*"));
  EXPECT_EQ(players.size(), 50u);
  EXPECT_TRUE(std::is_sorted(players.begin(), players.end()));
  std::set<std::string> scanned;
  std::string cursor;
  int pages = 0;
  do {
    auto page = Ok(db_->scan(cursor, "player:*", 7));
    for (auto& k : page.keys) EXPECT_TRUE(scanned.insert(k).second) << "returned twice: " << k;
    // Keys deleted or added behind the cursor do not disturb it.
    if (pages == 2) ASSERT_TRUE(Ok(db_->del("player:0")));
    cursor = page.next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 100);
  EXPECT_GE(scanned.size(), 49u);
  EXPECT_EQ(Ok(db_->dbsize()), 50u);
}

TEST_F(StructuresTest, PersistenceClasses) {
  // Durable with sync writes: everything acknowledged survives a power cut.
  ASSERT_EQ(Ok(db_->zadd("lb", {{"a", 1}}, {}, Durability::kSync)), 1);
  ASSERT_EQ(Ok(db_->rpush("q", {"x"}, Durability::kSync)), 1);
  db_.reset();
  StructuresOptions vol;
  vol.keyspace.persistence = Persistence::kVolatile;
  auto v = Structures::open(engine_.get(), "cache", vol);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(Ok((*v)->sadd("online", {"p1"})), 1);
  StructuresOptions coal;
  coal.keyspace.persistence = Persistence::kCoalesced;
  coal.keyspace.coalesce_interval = milliseconds(1000);
  auto c = Structures::open(engine_.get(), "positions", coal);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(Ok((*c)->hset("pos", {{"p1", "1,1"}})), 1);
  v->reset();
  c->reset();
  Crash();
  Open();
  EXPECT_EQ(Ok(db_->zscore("lb", "a")), 1);
  EXPECT_EQ(Ok(db_->lrange("q", 0, -1)), std::vector<std::string>{"x"});
  v = Structures::open(engine_.get(), "cache", vol);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Ok((*v)->scard("online")), 0);  // volatile: empty after a restart
  c = Structures::open(engine_.get(), "positions", coal);
  ASSERT_TRUE(c.ok());
  // Coalesced: the interval had not passed, so nothing was logged.
  EXPECT_EQ(Ok((*c)->hlen("pos")), 0);
  ASSERT_EQ(Ok((*c)->hset("pos", {{"p1", "2,2"}})), 1);
  v->reset();
  c->reset();
  Reopen();  // a clean close logs coalesced keyspaces
  c = Structures::open(engine_.get(), "positions", coal);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Ok((*c)->hget("pos", "p1")), "2,2");
}

// Random operations with sync durability, a power cut at a random point, and a comparison with a model of
// what was acknowledged: every acknowledged write survives, nothing else appears.
TEST_F(StructuresTest, PowerCutKeepsEveryAcknowledgedSyncWrite) {
  const uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, std::map<std::string, double>> zsets;
  std::map<std::string, std::vector<std::string>> lists;
  for (int round = 0; round < 3; ++round) {
    const int ops = 100 + static_cast<int>(rng() % 200);
    for (int i = 0; i < ops; ++i) {
      const std::string key = "k" + std::to_string(rng() % 6);
      const std::string m = "m" + std::to_string(rng() % 10);
      switch (rng() % 6) {
        case 0:
          if (Ok(db_->sadd("s" + key, {m}, Durability::kSync)) == 1) sets["s" + key].insert(m);
          break;
        case 1:
          if (Ok(db_->srem("s" + key, {m}, Durability::kSync)) == 1) sets["s" + key].erase(m);
          break;
        case 2:
          zsets["z" + key][m] = Ok(db_->zincrby("z" + key, 1, m, Durability::kSync));
          break;
        case 3:
          if (Ok(db_->zrem("z" + key, {m}, Durability::kSync)) == 1) zsets["z" + key].erase(m);
          break;
        case 4:
          Ok(db_->rpush("l" + key, {m}, Durability::kSync));
          lists["l" + key].push_back(m);
          break;
        case 5:
          if (Ok(db_->lpop("l" + key, Durability::kSync)).has_value()) {
            ASSERT_FALSE(lists["l" + key].empty()) << "seed " << seed;
            lists["l" + key].erase(lists["l" + key].begin());
          }
          break;
      }
    }
    // Relaxed writes after the last sync may be lost; a sync write is never lost.
    Crash();
    Open();
    for (const auto& [k, members] : sets) {
      auto got = Ok(db_->smembers(k));
      ASSERT_EQ(std::set<std::string>(got.begin(), got.end()), members) << "seed " << seed << " key " << k;
    }
    for (const auto& [k, members] : zsets) {
      for (const auto& [m, score] : members) ASSERT_EQ(Ok(db_->zscore(k, m)), score) << "seed " << seed;
      ASSERT_EQ(Ok(db_->zcard(k)), static_cast<int64_t>(members.size())) << "seed " << seed;
    }
    for (const auto& [k, items] : lists) ASSERT_EQ(Ok(db_->lrange(k, 0, -1)), items) << "seed " << seed;
  }
}

TEST_F(StructuresTest, ConcurrentWritersOnDifferentAndSameKeys) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(db_->zincrby("shared", 1, "m" + std::to_string(i % 10)).ok());
        ASSERT_TRUE(db_->incrby("counter", 1).ok());
        ASSERT_TRUE(db_->hset("h" + std::to_string(t), {{std::to_string(i), "v"}}).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Ok(db_->get("counter")), "2000");
  double total = 0;
  for (const auto& sm : Ok(db_->zrange("shared", 0, -1))) total += sm.score;
  EXPECT_EQ(total, 2000);
  Reopen();
  EXPECT_EQ(Ok(db_->get("counter")), "2000");
  for (int t = 0; t < 4; ++t) EXPECT_EQ(Ok(db_->hlen("h" + std::to_string(t))), 500);
}

TEST_F(StructuresTest, RefusedCommitChangesNothing) {
  ASSERT_EQ(Ok(db_->sadd("s", {"a"})), 1);
  // A member too large for a row key: the engine refuses the commit; neither memory nor disk changes.
  const std::string huge(20'000, 'm');
  EXPECT_TRUE(db_->sadd("s", {"b", huge}).status().IsInvalidArgument());
  EXPECT_FALSE(Ok(db_->sismember("s", "b")));
  EXPECT_TRUE(db_->zadd("new", {{"x", 1}, {huge, 2}}).status().IsInvalidArgument());
  EXPECT_FALSE(Ok(db_->exists("new")));
  EXPECT_TRUE(db_->set(std::string(20'000, 'k'), "v").status().IsInvalidArgument());
  Reopen();
  EXPECT_EQ(Ok(db_->smembers("s")), std::vector<std::string>{"a"});
  EXPECT_FALSE(Ok(db_->exists("new")));
}

}  // namespace
}  // namespace savepoint
