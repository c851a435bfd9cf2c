// libFuzzer target for the value codecs on hostile input:
//   - registry_internal::DecodeDocument: [varint schema version][CBOR], upgraded through a Schema whose
//     upgrade functions read fields that may be missing or of the wrong type;
//   - ValueCodec<V>::decode into a typed V (strings, integers of several widths, a double, containers);
//   - the JSON merge patch of Structures::merge_patch and Engine::merge_patch (RFC 7386), against a stored
//     document that may not be JSON, compared with nlohmann's own merge_patch as the reference.
// No input may crash, hang or hit undefined behaviour; every failure is a Status of the documented kind;
// every success re-encodes to something that decodes to the same thing (checked with __builtin_trap()).
//
// Input layout: byte 0 selects the mode, the rest is the payload.
//   mode % 4 == 0: the payload is a stored registry row (DecodeDocument, then ValueCodec<Player>::decode);
//   mode % 4 == 1: the payload is CBOR without the version header; it gets version 1 + (mode >> 2) % 4, so
//                  every upgrade path and the "newer schema" refusal are reached from any CBOR;
//   mode % 4 == 2: the payload is "<stored document>\0<patch>" (no \0: no stored document) for merge patch;
//   mode % 4 == 3: amplification, to reach nesting far deeper than an input's length allows:
//                  [count:u16][open_len:u8][open][close_len:u8][close][core]; the document is
//                  open * count + core + close * count, used as JSON patch, JSON stored document and CBOR.
//
// The engine (a volatile keyspace, so nothing is logged) and the Structures database are opened once per
// process on an in-memory WAL and a scratch directory removed at exit.
//
// Seeds: fuzz/corpus/value_codec/, made by make_fuzz_corpus.
#include <spdlog/logger.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/clock.h"
#include "savepoint/engine.h"
#include "savepoint/file_system.h"
#include "savepoint/registry.h"
#include "savepoint/structures.h"
#include "util/coding.h"
#include "util/json_depth.h"

namespace savepoint {
namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// A typed registry value with every kind of field nlohmann converts.
struct Player {
  std::string name;
  int64_t level = 0;
  uint32_t gold = 0;
  int16_t rank = 0;
  double hp = 0;
  bool online = false;
  std::vector<int32_t> items;
  std::map<std::string, std::string> tags;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Player, name, level, gold, rank, hp, online, items, tags)

// A typed value with no integer fields: nlohmann converts any number into it without undefined behaviour.
struct Profile {
  std::string name;
  double hp = 0;
  bool online = false;
  std::vector<double> scores;
  std::map<std::string, std::vector<std::string>> lists;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Profile, name, hp, online, scores, lists)

// Whether every float in `doc` converts to each integer type of Player without undefined behaviour.
// nlohmann's from_json casts a float to the target integer type with static_cast, which is undefined for
// NaN, infinities and values out of the type's range (UBSan: float-cast-overflow in from_json.hpp). A row
// written by savepoint never holds a float in an integer field; a hostile or corrupt one, or one written
// before a field changed from double to an integer without an upgrade, can. Known and reported (it is in
// nlohmann's conversion, which the registry cannot intercept per field); such documents go to Profile only.
bool FloatsFitPlayerIntegers(const nlohmann::json& doc) {
  std::vector<const nlohmann::json*> pending = {&doc};
  while (!pending.empty()) {
    const nlohmann::json* j = pending.back();
    pending.pop_back();
    if (j->is_number_float()) {
      const double f = j->get<double>();
      if (!(f > -1.0 && f < 32768.0)) return false;  // uint32_t and int16_t fields: NaN fails too
    } else if (j->is_structured()) {
      for (const auto& child : *j) pending.push_back(&child);
    }
  }
  return true;
}

// Version 3, with upgrades that read fields the way real ones do (and so meet missing fields, wrong types,
// non-objects) and one that refuses a document with its own status.
const Schema& TestSchema() {
  static const Schema* schema = [] {
    auto* s = new Schema;
    s->version = 3;
    s->upgrades[1] = [](nlohmann::json& doc) -> Status {
      // v1 -> v2: "health" was called "hp"; throws (type_error) on a non-object, out_of_range when missing.
      doc["hp"] = doc.at("health");
      doc.erase("health");
      return Status::OK();
    };
    s->upgrades[2] = [](nlohmann::json& doc) -> Status {
      // v2 -> v3: levels start at 1; a document with a negative level is refused.
      const int64_t level = doc.value("level", int64_t{0});
      if (level < 0) return Status::InvalidArgument("negative level");
      doc["level"] = level + 1;
      return Status::OK();
    };
    return s;
  }();
  return *schema;
}

// What DecodeDocument may answer: a document, Corruption, or the status an upgrade returned (with context).
void CheckDecodeStatus(const Status& s) {
  Check(s.ok() || s.IsCorruption() || s.IsInvalidArgument());
}

// A typed decode fails exactly when the document does not convert; a decoded value re-encodes stably.
template <typename V>
void CheckTyped(std::string_view row, bool doc_ok) {
  const Schema& schema = TestSchema();
  auto v = ValueCodec<V>::decode(row, schema);
  CheckDecodeStatus(v.status());
  if (!v.ok()) return;
  Check(doc_ok);
  const std::string bytes = ValueCodec<V>::encode(*v, schema);
  auto back = ValueCodec<V>::decode(bytes, schema);
  Check(back.ok());
  Check(ValueCodec<V>::encode(*back, schema) == bytes);
}

void FuzzRow(std::string_view row) {
  const Schema& schema = TestSchema();
  auto doc = registry_internal::DecodeDocument(row, schema);
  CheckDecodeStatus(doc.status());
  if (doc.ok()) {
    // A decoded document re-encodes at the current version and decodes to the same CBOR (compared as bytes:
    // NaN != NaN as JSON).
    const std::string again = registry_internal::EncodeDocument(schema.version, *doc);
    auto doc2 = registry_internal::DecodeDocument(again, schema);
    Check(doc2.ok());
    Check(nlohmann::json::to_cbor(*doc2) == nlohmann::json::to_cbor(*doc));
  }
  if (!doc.ok() || FloatsFitPlayerIntegers(*doc)) CheckTyped<Player>(row, doc.ok());
  CheckTyped<Profile>(row, doc.ok());
  // Bytes values are stored as they are.
  auto raw = ValueCodec<Bytes>::decode(row, schema);
  Check(raw.ok() && raw->data == row);
}

// ------------------------------------------------------------------------------------------ merge patch

// One engine and one Structures database per process, both volatile.
struct Stores {
  std::string dir;
  ManualClock clock;
  std::unique_ptr<FileSystem> fs;
  std::unique_ptr<Engine> engine;
  Keyspace* kv = nullptr;
  std::unique_ptr<Structures> db;
};

Stores* g_stores = nullptr;

void CloseStores() {
  if (g_stores == nullptr) return;
  g_stores->db.reset();
  (void)g_stores->engine->close();
  g_stores->engine.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_stores->dir, ec);
  delete g_stores;
  g_stores = nullptr;
}

Stores& GetStores() {
  if (g_stores != nullptr) return *g_stores;
  auto* s = new Stores;
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/savepoint-fuzz-XXXXXX";
  Check(mkdtemp(templ.data()) != nullptr);
  s->dir = templ;
  s->fs = NewMemFileSystem();
  Options o;
  o.data_dir = s->dir + "/data";
  o.file_system = s->fs.get();
  o.clock = &s->clock;
  o.logger = std::make_shared<spdlog::logger>("fuzz-quiet");
  auto e = Engine::open(o);
  Check(e.ok());
  s->engine = std::move(e).value();
  KeyspaceOptions ko;
  ko.persistence = Persistence::kVolatile;
  auto kv = s->engine->create_keyspace("docs", ko);
  Check(kv.ok());
  s->kv = *kv;
  StructuresOptions so;
  so.keyspace.persistence = Persistence::kVolatile;
  auto db = Structures::open(s->engine.get(), "db", so);
  Check(db.ok());
  s->db = std::move(db).value();
  g_stores = s;
  std::atexit(CloseStores);
  return *s;
}

void FuzzMergePatch(std::optional<std::string_view> stored, std::string_view patch) {
  Stores& s = GetStores();
  const std::string key = "doc";

  // The reference: nlohmann alone, for documents shallow enough for its recursion.
  // Deeper documents must be refused with InvalidArgument (and not overflow the stack).
  const bool shallow = JsonNestingDepth(patch) <= kMaxJsonDepth &&
                       (!stored || JsonNestingDepth(*stored) <= kMaxJsonDepth);
  std::optional<std::string> want;  // nullopt: InvalidArgument expected
  if (shallow) {
    nlohmann::json p = nlohmann::json::parse(patch, nullptr, /*allow_exceptions=*/false);
    nlohmann::json doc;
    bool ok = !p.is_discarded();
    if (ok && stored) {
      doc = nlohmann::json::parse(*stored, nullptr, false);
      ok = !doc.is_discarded();
    }
    if (ok) {
      doc.merge_patch(p);
      want = doc.dump();
    }
  }

  // Structures::merge_patch.
  Check(s.db->del(key).ok());
  if (stored) Check(*s.db->set(key, *stored));
  auto got = s.db->merge_patch(key, patch);
  if (!shallow) {
    Check(got.status().IsInvalidArgument());  // refused, not a stack overflow
  } else if (!want) {
    Check(got.status().IsInvalidArgument());
  } else {
    Check(got.ok() && *got == *want);
    auto back = s.db->get(key);
    Check(back.ok() && back->has_value() && **back == *want);
    // The result is JSON, and a second application of the same patch changes nothing (RFC 7386: merge
    // patches are idempotent).
    auto twice = s.db->merge_patch(key, patch);
    Check(twice.ok() && *twice == *want);
  }
  if (!stored) {
    // An absent document reads as null: the result does not depend on any earlier value.
  } else {
    auto cur = s.db->get(key);
    Check(cur.ok());
    // A refused patch leaves the stored document alone.
    if (!got.ok()) Check(cur->has_value() && **cur == *stored);
  }
  Check(s.db->del(key).ok());

  // Engine::merge_patch: the same results and refusals.
  Transaction clear;
  clear.remove(s.kv, key);
  if (stored) clear.put(s.kv, key, *stored);
  Check(s.engine->commit(clear).ok());
  auto egot = s.engine->merge_patch(s.kv, key, patch);
  if (!shallow || !want) {
    Check(egot.status().IsInvalidArgument());
  } else {
    Check(egot.ok() && *egot == *want);
    auto e = s.engine->get(s.kv, key);
    Check(e.ok() && e->value->bytes == *want);
  }
}

void FuzzOne(std::string_view input) {
  if (input.empty()) return;
  const auto mode = static_cast<uint8_t>(input[0]);
  const std::string_view payload = input.substr(1);
  switch (mode % 4) {
    case 0:
      FuzzRow(payload);
      break;
    case 1: {
      std::string row;
      PutVarint32(&row, 1 + (mode >> 2) % 4);
      row.append(payload);
      FuzzRow(row);
      break;
    }
    case 2: {
      const size_t zero = payload.find('\0');
      if (zero == std::string_view::npos) {
        FuzzMergePatch(std::nullopt, payload);
      } else {
        FuzzMergePatch(payload.substr(0, zero), payload.substr(zero + 1));
      }
      break;
    }
    default: {
      Decoder d(payload);
      std::string_view count_bytes, len, open, close;
      if (!d.GetBytes(2, &count_bytes)) return;
      const size_t count = static_cast<uint8_t>(count_bytes[0]) |
                           (static_cast<size_t>(static_cast<uint8_t>(count_bytes[1])) << 8);
      if (!d.GetBytes(1, &len) || !d.GetBytes(static_cast<uint8_t>(len[0]) % 8, &open)) return;
      if (!d.GetBytes(1, &len) || !d.GetBytes(static_cast<uint8_t>(len[0]) % 8, &close)) return;
      const std::string_view core = d.rest();
      std::string doc;
      doc.reserve(count * (open.size() + close.size()) + core.size());
      for (size_t i = 0; i < count; i++) doc.append(open);
      doc.append(core);
      for (size_t i = 0; i < count; i++) doc.append(close);
      std::string row;
      PutVarint32(&row, 3);
      row.append(doc);
      FuzzRow(row);
      FuzzMergePatch(std::nullopt, doc);
      FuzzMergePatch(doc, "{\"a\":1}");
      break;
    }
  }
}

}  // namespace
}  // namespace savepoint

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  savepoint::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
