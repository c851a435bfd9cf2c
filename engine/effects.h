// The engine's WAL payloads and RocksDB row values (docs/recovery.md): transaction effects, catalog
// changes, and rows with their expiry. Pure encoding; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/options.h"
#include "savepoint/status.h"
#include "savepoint/value.h"
#include "wal/format.h"

namespace savepoint::engine {

enum class EffectKind : uint8_t { kPut = 1, kDelete = 2, kDeletePrefix = 3 };

struct Effect {
  EffectKind kind = EffectKind::kPut;
  uint32_t keyspace_id = 0;
  std::string key;  // the prefix for kDeletePrefix
  uint64_t expire_at_micros = 0;
  ValuePtr value;  // kPut only
};

void EncodeEffects(const std::vector<Effect>& effects, std::string* out);
// Values come back as Values holding only bytes. Corruption on malformed input.
Status DecodeEffects(std::string_view payload, std::vector<Effect>* effects);

// The same encoding a piece at a time, for a writer that has no vector of Effects: the count, then each
// effect. EncodeEffects(effects) == EncodeEffectCount(n) + EncodeEffect(...) for each.
void EncodeEffectCount(uint64_t count, std::string* out);
void EncodeEffect(EffectKind kind, uint32_t keyspace_id, std::string_view key, uint64_t expire_at_micros,
                  std::string_view value, std::string* out);

// One effect decoded without copying: key and value view the payload.
struct EffectView {
  EffectKind kind = EffectKind::kPut;
  uint32_t keyspace_id = 0;
  std::string_view key;
  uint64_t expire_at_micros = 0;
  std::string_view value;  // kPut only
};
// Appends the effects of `payload` to `*effects` (valid as long as the payload). Corruption on malformed
// input, with `*effects` holding whatever came before plus some of this payload's effects.
Status DecodeEffectViews(std::string_view payload, std::vector<EffectView>* effects);

// Row value in a keyspace column family: flags, optional expiry, value bytes.
void EncodeRow(uint64_t expire_at_micros, std::string_view value, std::string* out);
Status DecodeRow(std::string_view row, uint64_t* expire_at_micros, std::string_view* value);

struct KeyspaceDef {
  uint32_t id = 0;
  std::string name;
  KeyspaceOptions options;
  uint64_t created_lsn = 0;
};

std::string KeyspaceDefToJson(const KeyspaceDef& def);
Result<KeyspaceDef> KeyspaceDefFromJson(std::string_view json);
// InvalidArgument naming the problem when `name` is not a valid keyspace name (docs/recovery.md, Bounds).
Status ValidateKeyspaceName(std::string_view name);
// Whether an existing keyspace may be reopened with `wanted`: OK (identical or a safe migration: durability,
// coalesce interval, residency, cache size, durable <-> coalesced) or InvalidArgument saying what differs.
Status CheckCompatible(const KeyspaceDef& existing, const KeyspaceOptions& wanted);

enum class CatalogOp : uint8_t { kCreate = 1, kDrop = 2, kAlter = 3 };
void EncodeCatalogChange(CatalogOp op, const KeyspaceDef& def, std::string* out);
Status DecodeCatalogChange(std::string_view payload, CatalogOp* op, KeyspaceDef* def);

// Checks that a WAL record's payload is what the engine writes for its type (docs/recovery.md): effects and
// catalog changes decode, a checkpoint marker is 8 bytes, a timeline switch 16, a restore point name 1 to
// 255 bytes. Corruption naming the problem otherwise. For tools that verify a log without applying it.
Status ValidateRecordPayload(wal::RecordType type, std::string_view payload);

inline constexpr size_t kMaxKeyBytes = 16u << 10;
inline constexpr size_t kMaxValueBytes = 64u << 20;

}  // namespace savepoint::engine
