#include "engine/effects.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/testutil.h"

namespace savepoint::engine {
namespace {

TEST(Effects, RoundTrip) {
  std::vector<Effect> in = {
      {EffectKind::kPut, 3, "player:1", 1234, MakeValue(std::string("v\0v", 3))},
      {EffectKind::kDelete, 4, "gone", 0, nullptr},
      {EffectKind::kDeletePrefix, 5, "", 0, nullptr},
      {EffectKind::kPut, 3, std::string(1000, 'k'), 0, MakeValue("")},
  };
  std::string payload;
  EncodeEffects(in, &payload);
  std::vector<Effect> out;
  ASSERT_TRUE(DecodeEffects(payload, &out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); i++) {
    EXPECT_EQ(out[i].kind, in[i].kind);
    EXPECT_EQ(out[i].keyspace_id, in[i].keyspace_id);
    EXPECT_EQ(out[i].key, in[i].key);
    EXPECT_EQ(out[i].expire_at_micros, in[i].expire_at_micros);
    if (in[i].kind == EffectKind::kPut) EXPECT_EQ(out[i].value->bytes, in[i].value->bytes);
  }
}

TEST(Effects, TruncatedOrGarbageIsCorruptionNeverACrash) {
  std::vector<Effect> in = {{EffectKind::kPut, 1, "key", 99, MakeValue("value")},
                            {EffectKind::kDelete, 2, "k2", 0, nullptr}};
  std::string payload;
  EncodeEffects(in, &payload);
  std::vector<Effect> out;
  for (size_t cut = 0; cut < payload.size(); cut++) {
    EXPECT_TRUE(DecodeEffects(payload.substr(0, cut), &out).IsCorruption()) << cut;
  }
  EXPECT_TRUE(DecodeEffects(payload + "x", &out).IsCorruption());
  std::mt19937_64 rng(test::TestSeed());
  for (int i = 0; i < 2000; i++) {
    std::string junk = test::RandomBytes(rng, rng() % 64);
    (void)DecodeEffects(junk, &out);
  }
}

TEST(Effects, Rows) {
  std::string row;
  EncodeRow(0, "plain", &row);
  uint64_t exp = 7;
  std::string_view v;
  ASSERT_TRUE(DecodeRow(row, &exp, &v).ok());
  EXPECT_EQ(exp, 0u);
  EXPECT_EQ(v, "plain");
  row.clear();
  EncodeRow(42, "ttl", &row);
  ASSERT_TRUE(DecodeRow(row, &exp, &v).ok());
  EXPECT_EQ(exp, 42u);
  EXPECT_EQ(v, "ttl");
  EXPECT_TRUE(DecodeRow("", &exp, &v).IsCorruption());
  EXPECT_TRUE(DecodeRow("\x01short", &exp, &v).IsCorruption());
  EXPECT_TRUE(DecodeRow("\x04x", &exp, &v).IsCorruption());
}

TEST(Effects, CatalogDefinitionsAndCompatibility) {
  KeyspaceDef def;
  def.id = 9;
  def.name = "positions";
  def.options.persistence = Persistence::kCoalesced;
  def.options.coalesce_interval = std::chrono::seconds(30);
  def.created_lsn = 17;
  std::string payload;
  EncodeCatalogChange(CatalogOp::kCreate, def, &payload);
  CatalogOp op;
  KeyspaceDef back;
  ASSERT_TRUE(DecodeCatalogChange(payload, &op, &back).ok());
  EXPECT_EQ(op, CatalogOp::kCreate);
  EXPECT_EQ(KeyspaceDefToJson(back), KeyspaceDefToJson(def));
  EXPECT_TRUE(KeyspaceDefFromJson("{\"id\": 1").status().IsCorruption());
  EXPECT_TRUE(KeyspaceDefFromJson("[]").status().IsCorruption());

  KeyspaceOptions same = def.options;
  EXPECT_TRUE(CheckCompatible(def, same).ok());
  KeyspaceOptions durable = def.options;
  durable.persistence = Persistence::kDurable;
  EXPECT_TRUE(CheckCompatible(def, durable).ok());
  KeyspaceOptions vol = def.options;
  vol.persistence = Persistence::kVolatile;
  EXPECT_TRUE(CheckCompatible(def, vol).IsInvalidArgument());
  KeyspaceOptions kind = def.options;
  kind.kind = "zset";
  EXPECT_TRUE(CheckCompatible(def, kind).IsInvalidArgument());

  EXPECT_TRUE(ValidateKeyspaceName("players.v2:eu-1").ok());
  EXPECT_TRUE(ValidateKeyspaceName("").IsInvalidArgument());
  EXPECT_TRUE(ValidateKeyspaceName("a b").IsInvalidArgument());
  EXPECT_TRUE(ValidateKeyspaceName(std::string(129, 'a')).IsInvalidArgument());
}

TEST(Effects, RecordPayloadValidation) {
  std::string tx;
  EncodeEffects({{EffectKind::kDelete, 1, "k", 0, nullptr}}, &tx);
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kTransaction, tx).ok());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kTransaction, tx.substr(0, 2)).IsCorruption());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kCatalogChange, "x").IsCorruption());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kCheckpoint, std::string(8, '\0')).ok());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kCheckpoint, "1234567").IsCorruption());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kTimelineSwitch, std::string(16, '\0')).ok());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kRestorePoint, "v1").ok());
  EXPECT_TRUE(ValidateRecordPayload(wal::RecordType::kRestorePoint, "").IsCorruption());
}

}  // namespace
}  // namespace savepoint::engine
