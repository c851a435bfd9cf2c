#include "engine/effects.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "util/coding.h"

namespace savepoint::engine {

void EncodeEffectCount(uint64_t count, std::string* out) { PutVarint64(out, count); }

namespace {

char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

}  // namespace

// One resize and direct writes: the commit path encodes an effect per write.
void EncodeEffect(EffectKind kind, uint32_t keyspace_id, std::string_view key, uint64_t expire_at_micros,
                  std::string_view value, std::string* out) {
  const bool put = kind == EffectKind::kPut;
  const size_t start = out->size();
  out->resize(start + 1 + kMaxVarint32Length + 2 * kMaxVarint64Length + key.size() +
              (put ? kMaxVarint64Length + value.size() : 0));
  char* p = out->data() + start;
  *p++ = static_cast<char>(kind);
  p = WriteVarint(p, keyspace_id);
  p = WriteVarint(p, key.size());
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  p += key.size();
  if (put) {
    p = WriteVarint(p, expire_at_micros);
    p = WriteVarint(p, value.size());
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
  }
  out->resize(static_cast<size_t>(p - out->data()));
}

void EncodeEffects(const std::vector<Effect>& effects, std::string* out) {
  EncodeEffectCount(effects.size(), out);
  for (const Effect& e : effects) {
    EncodeEffect(e.kind, e.keyspace_id, e.key, e.expire_at_micros,
                 e.value != nullptr ? std::string_view(e.value->bytes) : std::string_view(), out);
  }
}

Status DecodeEffectViews(std::string_view payload, std::vector<EffectView>* effects) {
  Decoder d(payload);
  uint64_t count = 0;
  if (!d.GetVarint64(&count) || count > payload.size()) return Status::Corruption("bad effect count");
  for (uint64_t i = 0; i < count; i++) {
    std::string_view kind;
    EffectView e;
    if (!d.GetBytes(1, &kind) || !d.GetVarint32(&e.keyspace_id) || !d.GetLengthPrefixed(&e.key)) {
      return Status::Corruption("truncated effect " + std::to_string(i));
    }
    e.kind = static_cast<EffectKind>(kind[0]);
    switch (e.kind) {
      case EffectKind::kPut:
        if (!d.GetVarint64(&e.expire_at_micros) || !d.GetLengthPrefixed(&e.value)) {
          return Status::Corruption("truncated put effect " + std::to_string(i));
        }
        break;
      case EffectKind::kDelete:
      case EffectKind::kDeletePrefix:
        break;
      default:
        return Status::Corruption("unknown effect kind " + std::to_string(static_cast<int>(kind[0])));
    }
    effects->push_back(e);
  }
  if (!d.empty()) return Status::Corruption("trailing bytes after effects");
  return Status::OK();
}

Status DecodeEffects(std::string_view payload, std::vector<Effect>* effects) {
  std::vector<EffectView> views;
  SP_RETURN_IF_ERROR(DecodeEffectViews(payload, &views));
  effects->clear();
  effects->reserve(views.size());
  for (const EffectView& v : views) {
    effects->push_back({v.kind, v.keyspace_id, std::string(v.key), v.expire_at_micros,
                        v.kind == EffectKind::kPut ? MakeValue(std::string(v.value)) : nullptr});
  }
  return Status::OK();
}

void EncodeRow(uint64_t expire_at_micros, std::string_view value, std::string* out) {
  out->push_back(static_cast<char>(expire_at_micros != 0 ? 1 : 0));
  if (expire_at_micros != 0) PutFixed64(out, expire_at_micros);
  out->append(value);
}

Status DecodeRow(std::string_view row, uint64_t* expire_at_micros, std::string_view* value) {
  if (row.empty()) return Status::Corruption("empty row");
  const auto flags = static_cast<uint8_t>(row[0]);
  if ((flags & ~1u) != 0) return Status::Corruption("unknown row flags " + std::to_string(flags));
  row.remove_prefix(1);
  *expire_at_micros = 0;
  if (flags & 1u) {
    if (row.size() < 8) return Status::Corruption("truncated row expiry");
    *expire_at_micros = DecodeFixed64(row.data());
    row.remove_prefix(8);
  }
  *value = row;
  return Status::OK();
}

namespace {

const char* PersistenceName(Persistence p) {
  switch (p) {
    case Persistence::kDurable:
      return "durable";
    case Persistence::kCoalesced:
      return "coalesced";
    case Persistence::kVolatile:
      return "volatile";
  }
  return "?";
}
const char* DurabilityName(Durability d) { return d == Durability::kSync ? "sync" : "relaxed"; }
const char* ResidencyName(Residency r) { return r == Residency::kCached ? "cached" : "memory"; }

}  // namespace

std::string KeyspaceDefToJson(const KeyspaceDef& def) {
  nlohmann::ordered_json j;
  j["id"] = def.id;
  j["name"] = def.name;
  j["kind"] = def.options.kind;
  j["persistence"] = PersistenceName(def.options.persistence);
  j["coalesce_ms"] =
      def.options.persistence == Persistence::kCoalesced ? def.options.coalesce_interval.count() : 0;
  j["durability"] = DurabilityName(def.options.durability);
  j["residency"] = ResidencyName(def.options.residency);
  j["cache_bytes"] = def.options.residency == Residency::kCached ? def.options.cache_bytes : 0;
  j["created_lsn"] = def.created_lsn;
  return j.dump();
}

Result<KeyspaceDef> KeyspaceDefFromJson(std::string_view json) {
  // nlohmann throws on malformed input: caught here, at the codec boundary.
  try {
    auto j = nlohmann::json::parse(json);
    KeyspaceDef def;
    def.id = j.at("id").get<uint32_t>();
    def.name = j.at("name").get<std::string>();
    def.options.kind = j.at("kind").get<std::string>();
    const std::string p = j.at("persistence").get<std::string>();
    if (p == "durable") {
      def.options.persistence = Persistence::kDurable;
    } else if (p == "coalesced") {
      def.options.persistence = Persistence::kCoalesced;
    } else if (p == "volatile") {
      def.options.persistence = Persistence::kVolatile;
    } else {
      return Status::Corruption("unknown persistence \"" + p + "\"");
    }
    def.options.coalesce_interval = std::chrono::milliseconds(j.at("coalesce_ms").get<int64_t>());
    const std::string d = j.at("durability").get<std::string>();
    if (d != "sync" && d != "relaxed") return Status::Corruption("unknown durability \"" + d + "\"");
    def.options.durability = d == "sync" ? Durability::kSync : Durability::kRelaxed;
    const std::string r = j.at("residency").get<std::string>();
    if (r != "cached" && r != "memory") return Status::Corruption("unknown residency \"" + r + "\"");
    def.options.residency = r == "cached" ? Residency::kCached : Residency::kMemory;
    def.options.cache_bytes = j.at("cache_bytes").get<uint64_t>();
    def.created_lsn = j.at("created_lsn").get<uint64_t>();
    return def;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("keyspace definition: ") + e.what());
  }
}

Status ValidateKeyspaceName(std::string_view name) {
  if (name.empty() || name.size() > 128)
    return Status::InvalidArgument("keyspace name must be 1 to 128 bytes");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("keyspace name \"" + std::string(name) +
                                     "\" may only hold letters, digits and _ . : -");
    }
  }
  return Status::OK();
}

Status CheckCompatible(const KeyspaceDef& existing, const KeyspaceOptions& wanted) {
  const KeyspaceOptions& have = existing.options;
  const std::string who = "keyspace \"" + existing.name + "\"";
  if (have.kind != wanted.kind) {
    return Status::InvalidArgument(who + " holds kind \"" + have.kind + "\", reopened as \"" + wanted.kind +
                                   "\"");
  }
  const bool was_volatile = have.persistence == Persistence::kVolatile;
  const bool is_volatile = wanted.persistence == Persistence::kVolatile;
  if (was_volatile != is_volatile) {
    return Status::InvalidArgument(who + " is " + PersistenceName(have.persistence) + ", reopened as " +
                                   PersistenceName(wanted.persistence) +
                                   ": moving between volatile and logged needs a drop and a re-create");
  }
  if (is_volatile && wanted.residency == Residency::kCached) {
    return Status::InvalidArgument(who + ": a volatile keyspace must be memory-resident");
  }
  return Status::OK();
}

void EncodeCatalogChange(CatalogOp op, const KeyspaceDef& def, std::string* out) {
  out->push_back(static_cast<char>(op));
  PutLengthPrefixed(out, KeyspaceDefToJson(def));
}

Status DecodeCatalogChange(std::string_view payload, CatalogOp* op, KeyspaceDef* def) {
  Decoder d(payload);
  std::string_view kind, json;
  if (!d.GetBytes(1, &kind) || !d.GetLengthPrefixed(&json) || !d.empty()) {
    return Status::Corruption("malformed catalog change");
  }
  const auto k = static_cast<uint8_t>(kind[0]);
  if (k < 1 || k > 3) return Status::Corruption("unknown catalog change " + std::to_string(k));
  *op = static_cast<CatalogOp>(k);
  SP_ASSIGN_OR_RETURN(*def, KeyspaceDefFromJson(json));
  return Status::OK();
}

Status ValidateRecordPayload(wal::RecordType type, std::string_view payload) {
  switch (type) {
    case wal::RecordType::kTransaction: {
      std::vector<Effect> effects;
      return DecodeEffects(payload, &effects);
    }
    case wal::RecordType::kCatalogChange: {
      CatalogOp op;
      KeyspaceDef def;
      return DecodeCatalogChange(payload, &op, &def);
    }
    case wal::RecordType::kCheckpoint:
      if (payload.size() == 8) return Status::OK();
      return Status::Corruption("checkpoint payload is " + std::to_string(payload.size()) + " bytes, not 8");
    case wal::RecordType::kTimelineSwitch:
      if (payload.size() == 16) return Status::OK();
      return Status::Corruption("timeline switch payload is " + std::to_string(payload.size()) +
                                " bytes, not 16");
    case wal::RecordType::kRestorePoint:
      if (!payload.empty() && payload.size() <= wal::kMaxRestorePointName) return Status::OK();
      return Status::Corruption("restore point name of " + std::to_string(payload.size()) + " bytes");
    case wal::RecordType::kSeal:
      // The reader never yields a seal (docs/wal_format.md, Seals): one here is out of place.
      return Status::Corruption("a segment seal is not a log record");
  }
  return Status::Corruption("unknown record type");
}

}  // namespace savepoint::engine
