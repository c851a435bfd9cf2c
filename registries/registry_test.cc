#include "savepoint/registry.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine/engine_impl.h"
#include "savepoint/fault_injection.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

struct Character {
  int64_t id = 0;
  std::string name;
  int level = 1;
  std::vector<std::string> items;
  bool operator==(const Character&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Character, id, name, level, items)

struct Instance {
  std::string route;
  std::vector<int64_t> characters;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Instance, route, characters)

class RegistryTest : public ::testing::Test {
 protected:
  void Open() {
    Options o;
    o.data_dir = dir_.path() + "/data";
    o.file_system = fs_.get();
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  void Close() {
    ASSERT_TRUE(engine_->close().ok());
    engine_.reset();
  }
  void Crash() {
    fs_->cut_power();
    static_cast<engine::EngineImpl*>(engine_.get())->abandon_for_crash_test();
    engine_.reset();
    ASSERT_TRUE(fs_->restart().ok());
  }
  using Chars = Registry<int64_t, Character>;
  std::unique_ptr<Chars> OpenChars(RegistryOptions o = {}) {
    auto r = Chars::open(engine_.get(), "characters", o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  test::ScratchDir dir_;
  std::unique_ptr<FileSystem> mem_ = NewMemFileSystem();
  std::unique_ptr<FaultInjectionFileSystem> fs_ = std::make_unique<FaultInjectionFileSystem>(mem_.get());
  std::unique_ptr<Engine> engine_;
};

TEST_F(RegistryTest, TypedRowsAndDecodedValuesAcrossARestart) {
  Open();
  auto chars = OpenChars();
  ASSERT_TRUE(chars->put(7, {7, "aria", 12, {"sword"}}).ok());
  ASSERT_TRUE(chars->put(3, {3, "bren", 4, {}}).ok());
  auto a = chars->get(7);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->name, "aria");
  EXPECT_EQ(chars->get(7)->get(), a->get()) << "a get must return the stored object, not decode again";
  ASSERT_TRUE(chars->update(7, [](Character& c) {
    c.level++;
    return Status::OK();
  }).ok());
  EXPECT_EQ((*chars->get(7))->level, 13);
  EXPECT_TRUE(chars->update(99, [](Character&) { return Status::OK(); }).IsNotFound());
  std::vector<int64_t> order;
  ASSERT_TRUE(chars->for_each([&](const int64_t& k, const std::shared_ptr<const Character>&) {
    order.push_back(k);
    return true;
  }).ok());
  EXPECT_EQ(order, (std::vector<int64_t>{3, 7}));
  chars.reset();
  Close();

  Open();
  chars = OpenChars();
  auto again = chars->get(7);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(**again, (Character{7, "aria", 13, {"sword"}}));
  EXPECT_EQ(chars->get(7)->get(), again->get()) << "rows loaded at open are decoded once";
  EXPECT_EQ(*chars->count(), 2u);
  ASSERT_TRUE(chars->remove(3).ok());
  EXPECT_TRUE(chars->get(3).status().IsNotFound());
}

// A value and its object share one allocation (MakeValueWith), the object not owning itself: what get()
// returned must keep it alive through overwrites, removal, and the engine closing (ASan checks the reads).
TEST_F(RegistryTest, ObjectsFromGetOutliveTheirRowAndTheEngine) {
  Open();
  auto chars = OpenChars();
  ASSERT_TRUE(chars->put(7, {7, "aria", 12, {"sword"}}).ok());
  std::shared_ptr<const Character> written = *chars->get(7);
  ASSERT_TRUE(chars->put(7, {7, "aria", 13, {}}).ok());
  std::shared_ptr<const Character> updated = *chars->get(7);
  ASSERT_TRUE(chars->remove(7).ok());
  ASSERT_TRUE(engine_->checkpoint().ok());  // the materializer has let go of both values too
  chars.reset();
  Close();
  EXPECT_EQ(*written, (Character{7, "aria", 12, {"sword"}}));
  EXPECT_EQ(*updated, (Character{7, "aria", 13, {}}));

  Open();  // and a value decoded at open
  chars = OpenChars();
  ASSERT_TRUE(chars->put(8, {8, "bren", 4, {"shield"}}).ok());
  chars.reset();
  Close();
  Open();
  chars = OpenChars();
  std::shared_ptr<const Character> loaded = *chars->get(8);
  ASSERT_TRUE(chars->remove(8).ok());
  chars.reset();
  Close();
  EXPECT_EQ(*loaded, (Character{8, "bren", 4, {"shield"}}));
}

TEST_F(RegistryTest, TenantRowsAreOneRangeInKeyOrder) {
  Open();
  auto r = TenantRegistry<std::string, Character>::open(engine_.get(), "routes");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto& routes = **r;
  const Uuid t1 = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a962");
  const Uuid t2 = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a963");
  for (const char* k : {"m", "a", "z"}) ASSERT_TRUE(routes.put(t1, k, {0, k, 1, {}}).ok());
  ASSERT_TRUE(routes.put(t2, "b", {0, "other", 1, {}}).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(routes.for_each(t1, [&](const std::string& k, const std::shared_ptr<const Character>& v) {
    EXPECT_EQ(v->name, k);
    keys.push_back(k);
    return true;
  }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "m", "z"}));
  EXPECT_EQ(*routes.count(t2), 1u);
  EXPECT_TRUE(routes.get(t2, "a").status().IsNotFound());
}

// The index equals the index recomputed from the rows, after random writes, unique conflicts, a clean
// restart and a power cut.
TEST_F(RegistryTest, IndexesStayEqualToTheirRecomputationThroughConflictsAndCrashes) {
  std::mt19937_64 rng(test::TestSeed());
  std::map<int64_t, Character> model;
  auto check = [&](Chars& chars, Index<int64_t, int64_t, Character>* by_level,
                   Index<std::string, int64_t, Character>* by_name) {
    std::map<int64_t, std::vector<int64_t>> levels;
    for (auto& [id, c] : model) levels[c.level].push_back(id);
    for (int level = 0; level < 12; level++) {
      auto got = by_level->lookup(level);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(*got, levels[level]) << "level " << level;
    }
    for (auto& [id, c] : model) {
      auto got = by_name->lookup(c.name);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, std::vector<int64_t>{id}) << c.name;
    }
    auto range = by_level->range(3, 6);
    ASSERT_TRUE(range.ok());
    std::vector<int64_t> want;
    for (int level = 3; level < 6; level++) want.insert(want.end(), levels[level].begin(), levels[level].end());
    ASSERT_EQ(*range, want);
    ASSERT_EQ(*chars.count(), model.size());
  };
  for (int round = 0; round < 3; round++) {
    Open();
    auto chars = OpenChars();
    auto by_level = chars->add_index<int64_t>("by_level", [](const Character& c) {
      return std::vector<int64_t>{c.level};
    }, false);
    auto by_name = chars->add_index<std::string>("by_name", [](const Character& c) {
      return std::vector<std::string>{c.name};
    }, true);
    ASSERT_TRUE(by_level.ok() && by_name.ok());
    check(*chars, *by_level, *by_name);
    for (int i = 0; i < 300; i++) {
      const int64_t id = static_cast<int64_t>(rng() % 40);
      if (rng() % 5 == 0) {
        ASSERT_TRUE(chars->remove(id).ok());
        model.erase(id);
        continue;
      }
      Character c{id, "name" + std::to_string(rng() % 50), static_cast<int>(rng() % 12), {}};
      Status s = chars->put(id, c, rng() % 4 == 0 ? Durability::kSync : Durability::kDefault);
      bool taken = false;
      for (auto& [other, oc] : model) taken |= other != id && oc.name == c.name;
      if (taken) {
        ASSERT_TRUE(s.IsConflict()) << s.ToString();  // and nothing changed
      } else {
        ASSERT_TRUE(s.ok()) << s.ToString();
        model[id] = c;
      }
    }
    check(*chars, *by_level, *by_name);
    ASSERT_TRUE(engine_->sync().ok());  // all acknowledged: a power cut may not lose any
    chars.reset();
    if (round == 1) {
      Crash();
    } else {
      Close();
    }
  }
}

TEST_F(RegistryTest, IndexAddedToARegistryWithRowsIsBuiltInTheBackground) {
  Open();
  auto chars = OpenChars();
  for (int64_t i = 0; i < 3000; i++) ASSERT_TRUE(chars->put(i, {i, "n" + std::to_string(i), int(i % 7), {}}).ok());
  auto by_level = chars->add_index<int64_t>("by_level", [](const Character& c) {
    return std::vector<int64_t>{c.level};
  }, false);
  ASSERT_TRUE(by_level.ok());
  // Writes race with the build: they must all be reflected.
  for (int64_t i = 0; i < 200; i++) ASSERT_TRUE(chars->put(i, {i, "x", 6, {}}).ok());
  Status st = (*by_level)->state();
  for (int i = 0; i < 20000 && st.IsBusy(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    st = (*by_level)->state();
  }
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::map<int64_t, std::vector<int64_t>> want;
  for (int64_t i = 0; i < 3000; i++) want[i < 200 ? 6 : i % 7].push_back(i);
  for (auto& [level, ids] : want) EXPECT_EQ(*(*by_level)->lookup(level), ids) << level;
}

// The transport seed's character -> instance mapping: a unique index over a list.
TEST_F(RegistryTest, UniqueMultiValuedIndex) {
  Open();
  auto r = Registry<std::string, Instance>::open(engine_.get(), "instances");
  ASSERT_TRUE(r.ok());
  auto& instances = **r;
  auto by_character = instances.add_index<int64_t>("by_character", [](const Instance& i) { return i.characters; }, true);
  ASSERT_TRUE(by_character.ok());
  ASSERT_TRUE(instances.put("i1", {"r1", {1, 2, 3}}).ok());
  ASSERT_TRUE(instances.put("i2", {"r1", {4}}).ok());
  EXPECT_EQ(*(*by_character)->lookup(2), std::vector<std::string>{"i1"});
  Status clash = instances.put("i2", {"r1", {4, 3}});  // character 3 is in i1 already
  EXPECT_TRUE(clash.IsConflict()) << clash.ToString();
  EXPECT_EQ((*instances.get("i2"))->characters, std::vector<int64_t>{4});
  // Moving character 3 from i1 to i2 atomically in one transaction.
  Transaction move(Durability::kSync);
  instances.put(&move, "i1", {"r1", {1, 2}});
  instances.put(&move, "i2", {"r1", {4, 3}});
  ASSERT_TRUE(engine_->commit(move).ok());
  EXPECT_EQ(*(*by_character)->lookup(3), std::vector<std::string>{"i2"});
}

struct PlayerV2 {
  std::string name;
  int64_t gold = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlayerV2, name, gold)
struct PlayerV1 {
  std::string nick;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlayerV1, nick)

TEST_F(RegistryTest, OlderRowsAreUpgradedOnLoadNewerOnesRefused) {
  Open();
  {
    auto v1 = Registry<int64_t, PlayerV1>::open(engine_.get(), "players");
    ASSERT_TRUE(v1.ok());
    ASSERT_TRUE((*v1)->put(1, {"kai"}).ok());
  }
  Close();
  Open();
  RegistryOptions v2opts;
  v2opts.schema.version = 2;
  v2opts.schema.upgrades[1] = [](nlohmann::json& doc) {
    doc["name"] = doc.at("nick");
    doc.erase("nick");
    doc["gold"] = 100;
    return Status::OK();
  };
  {
    auto v2 = Registry<int64_t, PlayerV2>::open(engine_.get(), "players", v2opts);
    ASSERT_TRUE(v2.ok()) << v2.status().ToString();
    auto p = (*v2)->get(1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)->name, "kai");
    EXPECT_EQ((*p)->gold, 100);
    ASSERT_TRUE((*v2)->put(2, {"lio", 5}).ok());
  }
  Close();
  Open();
  // A build that only knows version 1 must not misread version-2 rows.
  auto old = Registry<int64_t, PlayerV1>::open(engine_.get(), "players");
  ASSERT_FALSE(old.ok());
  EXPECT_TRUE(old.status().IsCorruption()) << old.status().ToString();
  EXPECT_NE(old.status().message().find("schema version 2"), std::string::npos);
}

TEST_F(RegistryTest, RowsOfTheWrongTypeFailTheOpenClearly) {
  Open();
  {
    auto r = Registry<int64_t, Instance>::open(engine_.get(), "things");
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE((*r)->put(1, {"route", {1}}).ok());
  }
  auto wrong = Registry<int64_t, Character>::open(engine_.get(), "things");
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(wrong.status().IsCorruption()) << wrong.status().ToString();
}

// A registry opened with another key type used to open, and its first put wrote a row the correctly typed
// registry then failed on (Corruption). The key type is recorded at the first open and a mismatch refused.
TEST_F(RegistryTest, RegistryOpenedWithAnotherKeyTypeIsRefused) {
  Open();
  auto chars = OpenChars();
  ASSERT_TRUE(chars->put(7, {7, "aria", 12, {}}).ok());
  auto wrong = Registry<std::string, Character>::open(engine_.get(), "characters");
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(wrong.status().IsInvalidArgument()) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("'characters'"), std::string::npos) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("(int64)"), std::string::npos) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("(string)"), std::string::npos) << wrong.status().ToString();
  // Nothing was written: the correctly typed registry reads every row, now and after a restart.
  auto check = [&](Chars* c) {
    int rows = 0;
    ASSERT_TRUE(c->for_each([&](const int64_t& k, const auto& v) {
                   EXPECT_EQ(k, 7);
                   EXPECT_EQ(v->name, "aria");
                   rows++;
                   return true;
                 }).ok());
    EXPECT_EQ(rows, 1);
    EXPECT_TRUE(c->get(7).ok());
  };
  check(chars.get());
  chars.reset();
  Close();
  Open();
  chars = OpenChars();
  ASSERT_NE(chars, nullptr);
  check(chars.get());
  EXPECT_TRUE(
      (Registry<std::string, Character>::open(engine_.get(), "characters").status().IsInvalidArgument()));
  // Narrower integers are stored as int64: the same key type.
  EXPECT_TRUE((Registry<int32_t, Character>::open(engine_.get(), "characters").ok()));
}

TEST_F(RegistryTest, TupleUuidAndTenantKeyTypesAreRecordedElementByElement) {
  Open();
  using Pair = std::tuple<int64_t, std::string>;
  auto inv = Registry<Pair, int64_t>::open(engine_.get(), "inventory");
  ASSERT_TRUE(inv.ok());
  ASSERT_TRUE((*inv)->put({1, "sword"}, 1).ok());
  auto swapped = Registry<std::tuple<std::string, int64_t>, int64_t>::open(engine_.get(), "inventory");
  EXPECT_TRUE(swapped.status().IsInvalidArgument()) << swapped.status().ToString();
  EXPECT_NE(swapped.status().message().find("(int64,string)"), std::string::npos)
      << swapped.status().ToString();
  EXPECT_NE(swapped.status().message().find("(string,int64)"), std::string::npos)
      << swapped.status().ToString();
  EXPECT_TRUE((
      Registry<std::tuple<int64_t>, int64_t>::open(engine_.get(), "inventory").status().IsInvalidArgument()));

  auto by_uuid = Registry<Uuid, int64_t>::open(engine_.get(), "sessions");
  ASSERT_TRUE(by_uuid.ok());
  EXPECT_TRUE((Registry<std::string, int64_t>::open(engine_.get(), "sessions").status().IsInvalidArgument()));
  EXPECT_TRUE((Registry<uint64_t, int64_t>::open(engine_.get(), "sessions").status().IsInvalidArgument()));

  // A tenant registry's keys are (tenant, K): the tenant scoping is part of the type.
  const Uuid tenant = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a962");
  auto gold = TenantRegistry<int64_t, int64_t>::open(engine_.get(), "gold");
  ASSERT_TRUE(gold.ok());
  ASSERT_TRUE((*gold)->put(tenant, 5, 100).ok());
  EXPECT_TRUE((Registry<int64_t, int64_t>::open(engine_.get(), "gold").status().IsInvalidArgument()));
  auto other = TenantRegistry<std::string, int64_t>::open(engine_.get(), "gold");
  EXPECT_TRUE(other.status().IsInvalidArgument()) << other.status().ToString();
  EXPECT_NE(other.status().message().find("(uuid,int64)"), std::string::npos) << other.status().ToString();
  EXPECT_NE(other.status().message().find("(uuid,string)"), std::string::npos) << other.status().ToString();
  // The same layout spelled as a plain registry is the same key type.
  auto plain = Registry<std::tuple<Uuid, int64_t>, int64_t>::open(engine_.get(), "gold");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto v = (*plain)->get({tenant, 5});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, 100);
}

// A registry created before key types were recorded has none: its first opener's type is adopted when every
// stored key reads as it, and refused otherwise.
TEST_F(RegistryTest, RegistryWithoutARecordedKeyTypeAdoptsItsFirstOpenersType) {
  Open();
  KeyspaceOptions ko;
  ko.kind = "registry";
  auto ks = engine_->create_keyspace("legacy", ko);
  ASSERT_TRUE(ks.ok());
  Transaction t;
  t.put(*ks, EncodeKey({int64_t{5}}), "five");
  ASSERT_TRUE(engine_->commit(t).ok());
  ASSERT_TRUE(engine_->create_keyspace("legacy_empty", ko).ok());

  auto wrong = Registry<std::string, Bytes>::open(engine_.get(), "legacy");
  EXPECT_TRUE(wrong.status().IsInvalidArgument()) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("(5)"), std::string::npos) << wrong.status().ToString();
  auto right = Registry<int64_t, Bytes>::open(engine_.get(), "legacy");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  ASSERT_TRUE((*right)->get(5).ok());
  EXPECT_EQ((*(*right)->get(5))->data, "five");
  EXPECT_TRUE((Registry<std::string, Bytes>::open(engine_.get(), "legacy").status().IsInvalidArgument()));

  ASSERT_TRUE((Registry<std::string, Bytes>::open(engine_.get(), "legacy_empty").ok()));
  auto late = Registry<int64_t, Bytes>::open(engine_.get(), "legacy_empty");
  EXPECT_TRUE(late.status().IsInvalidArgument()) << late.status().ToString();
}

TEST_F(RegistryTest, TradeBetweenInventoriesIsAllOrNothing) {
  Open();
  auto inv = Registry<std::tuple<int64_t, std::string>, int64_t>::open(engine_.get(), "inventory");
  ASSERT_TRUE(inv.ok());
  ASSERT_TRUE((*inv)->put({1, "sword"}, 1).ok());
  Transaction trade(Durability::kSync);
  (*inv)->remove(&trade, {1, "sword"});
  (*inv)->put(&trade, {2, "sword"}, 1);
  (*inv)->update(&trade, {2, "shield"}, [](int64_t& n) { return Status::OK(); });  // absent: aborts
  EXPECT_TRUE(engine_->commit(trade).status().IsNotFound());
  EXPECT_TRUE((*inv)->contains({1, "sword"}));
  EXPECT_FALSE((*inv)->contains({2, "sword"}));
  int n = 0;
  ASSERT_TRUE((*inv)->for_each_prefix(std::tuple<int64_t>{1}, [&](const auto&, const auto&) {
    n++;
    return true;
  }).ok());
  EXPECT_EQ(n, 1);
}

// Found by value_codec_fuzzer: nlohmann's CBOR reader recurses once per nesting level, so a row of a few
// kilobytes of 0x81 (an array holding an array holding ...) overflowed the stack (ASan: at ~4,000 levels;
// release: ~80,000). Rows nested deeper than kMaxDocumentDepth are now Corruption.
TEST(DocumentCodecTest, DeeplyNestedRowIsCorruptionNotAStackOverflow) {
  const Schema schema;
  for (const size_t depth : {size_t{5000}, size_t{200000}}) {
    std::string row = "\x01" + std::string(depth, '\x81') + "\x01";  // version 1, [[[...[1]...]]]
    auto doc = registry_internal::DecodeDocument(row, schema);
    EXPECT_TRUE(doc.status().IsCorruption()) << doc.status().ToString();
    row = "\x01";
    for (size_t i = 0; i < depth; i++) row += "\xa1\x60";  // {"": {"": ...
    row += "\x01";
    EXPECT_TRUE(registry_internal::DecodeDocument(row, schema).status().IsCorruption());
    // An array announcing more items than the row holds, with the nesting inside it.
    row = std::string("\x01\x9b\x00\x00\x01\x00\x00\x00\x00\x00", 10) + std::string(depth, '\x81') + "\x01";
    EXPECT_TRUE(registry_internal::DecodeDocument(row, schema).status().IsCorruption());
  }
}

// Also found by value_codec_fuzzer, after the fix above: nlohmann reads each chunk of an indefinite-length
// string by recursing, and accepts chunks that are indefinite-length strings themselves, so 15,000 bytes of
// 0x5f (or 0x7f) overflowed the stack without any array or map. Such chunks are invalid CBOR: Corruption.
TEST(DocumentCodecTest, NestedIndefiniteLengthStringsAreCorruptionNotAStackOverflow) {
  const Schema schema;
  for (const char start : {'\x5f', '\x7f'}) {
    const std::string row = "\x01" + std::string(200000, start) + "\x40";
    EXPECT_TRUE(registry_internal::DecodeDocument(row, schema).status().IsCorruption());
    // One level with definite-length chunks is valid CBOR and decodes: h'0102' or "ab".
    std::string valid = "\x01";
    valid += start;
    valid += start == '\x5f' ? "\x41\x01\x41\x02\xff" : "\x61" "a" "\x61" "b" "\xff";
    auto doc = registry_internal::DecodeDocument(valid, schema);
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    if (start == '\x7f') EXPECT_EQ(*doc, "ab");
  }
}

TEST(DocumentCodecTest, DeepestAllowedNestingDecodes) {
  const Schema schema;
  // The deepest allowed nesting still decodes, and round-trips.
  nlohmann::json deep = 1;
  for (size_t i = 0; i < registry_internal::kMaxDocumentDepth; i++) deep = nlohmann::json::array({deep});
  auto back = registry_internal::DecodeDocument(registry_internal::EncodeDocument(1, deep), schema);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, deep);
  nlohmann::json deeper = nlohmann::json::array({deep});
  EXPECT_TRUE(registry_internal::DecodeDocument(registry_internal::EncodeDocument(1, deeper), schema)
                  .status()
                  .IsCorruption());
}

TEST(DocumentCodecTest, HostileRowsAreCorruption) {
  const Schema schema;
  for (const std::string& row : {std::string(""), std::string(1, '\0'), std::string("\x01"),
                                std::string("\x01\xff"), std::string("\x01\x9f\x01"),  // unterminated
                                std::string("\x01\xc1\x01"),                          // a tag
                                std::string("\x01\x7b\xff\xff\xff\xff\xff\xff\xff\xff"),  // huge string
                                std::string("\x01\x9b\xff\xff\xff\xff\xff\xff\xff\xff"),  // huge array
                                std::string("\x01\x01\x01")}) {  // trailing bytes
    auto doc = registry_internal::DecodeDocument(row, schema);
    EXPECT_TRUE(doc.status().IsCorruption()) << doc.status().ToString();
  }
}

}  // namespace
}  // namespace savepoint
