// Registry<K, V>: a typed table on one engine keyspace, with secondary indexes and schema versions
// (DESIGN.md, Registries and structures). TenantRegistry<K, V> scopes keys by a tenant UUID, like the seeds'
// TenantRegistry[uuid.UUID, Model].
//
//   K: int64_t (and narrower integers), uint64_t, std::string, Uuid, or std::tuple of those. Keys are encoded
//      order-preserving (savepoint/key_codec.h), so a tenant's rows, or every key with a given tuple prefix,
//      are one range.
//   V: any type with nlohmann to_json/from_json, stored as CBOR behind a schema-version header; or Bytes,
//      stored as is.
//
// The engine keeps each value decoded next to its bytes: get() returns a shared_ptr<const V> and decodes
// nothing. Secondary indexes live in keyspaces of their own and change in the same commit as the primary
// row; a unique index refuses a second row with the same index key (Conflict, nothing changed).
//
// Thread-safety: every method may be called from any thread. Ownership: a Registry must not outlive its
// Engine; an Index pointer lives as long as its Registry.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "savepoint/engine.h"
#include "savepoint/key_codec.h"

namespace savepoint {

// ---------------------------------------------------------------------------------------------- keys

template <typename T, typename = void>
struct KeyTraits;  // how a C++ key type maps onto key-codec elements

template <typename T>
struct KeyTraits<T, std::enable_if_t<std::is_integral_v<T> && std::is_signed_v<T>>> {
  static constexpr std::string_view kName = "int64";  // narrower integers are stored as int64
  static void describe(std::string* out) { out->append(out->empty() ? "" : ",").append(kName); }
  static void append(KeyTuple* t, T v) { t->emplace_back(static_cast<int64_t>(v)); }
  static void encode(std::string* out, T v) { AppendKeyInt64(out, static_cast<int64_t>(v)); }
  static bool take(const KeyTuple& t, size_t* i, T* out) {
    if (*i >= t.size() || !std::holds_alternative<int64_t>(t[*i])) return false;
    *out = static_cast<T>(std::get<int64_t>(t[(*i)++]));
    return true;
  }
};
template <typename T>
struct KeyTraits<T, std::enable_if_t<std::is_integral_v<T> && std::is_unsigned_v<T>>> {
  static constexpr std::string_view kName = "uint64";
  static void describe(std::string* out) { out->append(out->empty() ? "" : ",").append(kName); }
  static void append(KeyTuple* t, T v) { t->emplace_back(static_cast<uint64_t>(v)); }
  static void encode(std::string* out, T v) { AppendKeyUint64(out, static_cast<uint64_t>(v)); }
  static bool take(const KeyTuple& t, size_t* i, T* out) {
    if (*i >= t.size() || !std::holds_alternative<uint64_t>(t[*i])) return false;
    *out = static_cast<T>(std::get<uint64_t>(t[(*i)++]));
    return true;
  }
};
template <>
struct KeyTraits<std::string> {
  static constexpr std::string_view kName = "string";
  static void describe(std::string* out) { out->append(out->empty() ? "" : ",").append(kName); }
  static void append(KeyTuple* t, const std::string& v) { t->emplace_back(v); }
  static void encode(std::string* out, const std::string& v) { AppendKeyString(out, v); }
  static bool take(const KeyTuple& t, size_t* i, std::string* out) {
    if (*i >= t.size() || !std::holds_alternative<std::string>(t[*i])) return false;
    *out = std::get<std::string>(t[(*i)++]);
    return true;
  }
};
template <>
struct KeyTraits<Uuid> {
  static constexpr std::string_view kName = "uuid";
  static void describe(std::string* out) { out->append(out->empty() ? "" : ",").append(kName); }
  static void append(KeyTuple* t, const Uuid& v) { t->emplace_back(v); }
  static void encode(std::string* out, const Uuid& v) { AppendKeyUuid(out, v); }
  static bool take(const KeyTuple& t, size_t* i, Uuid* out) {
    if (*i >= t.size() || !std::holds_alternative<Uuid>(t[*i])) return false;
    *out = std::get<Uuid>(t[(*i)++]);
    return true;
  }
};
template <typename... Ts>
struct KeyTraits<std::tuple<Ts...>> {
  static void describe(std::string* out) { (KeyTraits<Ts>::describe(out), ...); }
  static void append(KeyTuple* t, const std::tuple<Ts...>& v) {
    std::apply([&](const auto&... e) { (KeyTraits<std::decay_t<decltype(e)>>::append(t, e), ...); }, v);
  }
  static void encode(std::string* out, const std::tuple<Ts...>& v) {
    std::apply([&](const auto&... e) { (KeyTraits<std::decay_t<decltype(e)>>::encode(out, e), ...); }, v);
  }
  static bool take(const KeyTuple& t, size_t* i, std::tuple<Ts...>* out) {
    return std::apply([&](auto&... e) { return (KeyTraits<std::decay_t<decltype(e)>>::take(t, i, &e) && ...); },
                      *out);
  }
};

// The key type as the key codec sees it: its elements' types in order, tuples flattened ("uuid,int64" for a
// TenantRegistry<int64_t, V>), which is what decides how stored keys read back. Recorded with each registry.
template <typename K>
std::string KeyTypeName() {
  std::string out;
  KeyTraits<K>::describe(&out);
  return out;
}

// The key's encoding, written directly (no KeyTuple): the same bytes as EncodeKey of its elements.
template <typename K>
std::string EncodeTypedKey(const K& key) {
  std::string out;
  KeyTraits<K>::encode(&out, key);
  return out;
}

template <typename K>
Result<K> DecodeTypedKey(std::string_view bytes) {
  SP_ASSIGN_OR_RETURN(KeyTuple t, DecodeKey(bytes));
  K key{};
  size_t i = 0;
  if (!KeyTraits<K>::take(t, &i, &key) || i != t.size()) {
    return Status::Corruption("key " + KeyToText(t) + " does not have the registry's key type");
  }
  return key;
}

// --------------------------------------------------------------------------------------------- values

// A schema: the version this build writes, and how to bring older documents up to it.
struct Schema {
  uint32_t version = 1;
  // upgrades[v] turns a version-v document into a version-(v + 1) one.
  std::map<uint32_t, std::function<Status(nlohmann::json&)>> upgrades;
};

namespace registry_internal {
// The deepest nesting of arrays and objects a stored document may have. The JSON and CBOR code of nlohmann
// recurses once per level, so a hostile or corrupt row must not get to choose the depth: a few kilobytes of
// nested arrays would overflow the stack. Real values nest a few levels; keep them under this one, since a
// deeper value is written but then refused when read.
inline constexpr size_t kMaxDocumentDepth = 512;
// [varint schema version][CBOR document]
std::string EncodeDocument(uint32_t version, const nlohmann::json& doc);
// Decodes and upgrades to schema.version. Corruption when malformed, nested deeper than kMaxDocumentDepth,
// or written by a newer schema.
Result<nlohmann::json> DecodeDocument(std::string_view bytes, const Schema& schema);

// Each registry's key type (KeyTypeName) is recorded when it is first opened, and every later open must
// name the same one: keys are stored as encoded bytes, so a registry opened with another key type would
// write rows its correctly typed openers cannot read. InvalidArgument naming the registry and both types on
// a mismatch. A registry created before key types were recorded adopts its first opener's key type, once
// every stored key reads as it (`key_reads` says whether one does); otherwise InvalidArgument, nothing
// recorded. The record lives in the durable keyspace kKeyTypesKeyspace (key: registry name, value: the
// type name) and survives a drop of the registry's keyspace.
inline constexpr std::string_view kKeyTypesKeyspace = "savepoint:registry_key_types";
// The key type name of a stored key's elements, in KeyTypeName's spelling (tools check stored keys against
// a registry's recorded type with it). Elements no registry key has are "null", "bytes" and "bool".
std::string KeyTypeNameOf(const KeyTuple& key);
Status CheckKeyType(Engine* engine, Keyspace* registry, std::string_view name, std::string_view key_type,
                    const std::function<bool(std::string_view key)>& key_reads);
}  // namespace registry_internal

// A stored document converts to V with V's from_json. A mismatch nlohmann detects (a string where a number is
// wanted, a missing field without a default) is Corruption. One it does not: a float stored where V now has an
// integer field is converted with static_cast, undefined for NaN, infinities and out-of-range values. Rows
// savepoint writes never hold one; when a field changes from floating point to integer, the schema upgrade
// must convert it (the value-codec fuzzer keeps such documents to float-only types for this reason).
template <typename V>
struct ValueCodec {
  static std::string encode(const V& v, const Schema& schema) {
    return registry_internal::EncodeDocument(schema.version, nlohmann::json(v));
  }
  static Result<V> decode(std::string_view bytes, const Schema& schema) {
    SP_ASSIGN_OR_RETURN(nlohmann::json doc, registry_internal::DecodeDocument(bytes, schema));
    try {
      return doc.get<V>();
    } catch (const nlohmann::json::exception& e) {
      return Status::Corruption(std::string("value does not match the registry's type: ") + e.what());
    }
  }
};
template <>
struct ValueCodec<Bytes> {
  static std::string encode(const Bytes& v, const Schema&) { return v.data; }
  static Result<Bytes> decode(std::string_view bytes, const Schema&) {
    return Bytes{std::string(bytes)};
  }
};

// --------------------------------------------------------------------------------------------- indexes

// The type-erased part of a secondary index: encoded index keys -> encoded primary keys.
class IndexBase {
 public:
  virtual ~IndexBase() = default;
  const std::string& name() const { return name_; }
  bool unique() const { return unique_; }
  // OK once queryable; Busy while the background build runs; the build's error if it failed.
  Status state() const;

 protected:
  friend class RegistryCore;
  IndexBase(std::string name, bool unique) : name_(std::move(name)), unique_(unique) {}
  // Encoded index keys of a decoded value.
  virtual std::vector<std::string> keys_of(const void* value) const = 0;
  // Encoded primary keys under `index_key` (unique: at most one).
  Result<std::vector<std::string>> primaries(std::string_view index_key) const;
  Status primaries_in_range(std::string_view from, std::string_view to,
                            const std::function<bool(std::string_view primary)>& fn) const;

  Engine* engine_ = nullptr;
  Keyspace* ks_ = nullptr;
  const std::string name_;
  const bool unique_;
  mutable std::mutex state_mu_;
  Status state_;  // GUARDED_BY(state_mu_)
};

// The type-erased part of a registry: rows, index maintenance, background index builds.
class RegistryCore {
 public:
  RegistryCore(Engine* engine, Keyspace* ks, Schema schema) : engine_(engine), ks_(ks), schema_(std::move(schema)) {}
  ~RegistryCore();  // waits for background index builds

  Engine* engine() const { return engine_; }
  Keyspace* keyspace() const { return ks_; }
  const Schema& schema() const { return schema_; }

  // The decoded object of a row's value, sharing the value's ownership. Decodes only values the engine has
  // not (foreign writes); a registry's own values are always already decoded.
  Result<std::shared_ptr<const void>> decoded(ValuePtr value) const;
  Status get_row(std::string_view primary, std::shared_ptr<const void>* out) const;

  // Stages a write of `value` (null: a removal) of `primary`, keeping every index in step.
  void stage(Transaction* txn, std::string primary, ValuePtr value) const;
  // Stages a read-modify-write: `fn` gets the current object (nullptr when absent) and returns the new
  // value (nullptr: remove) or an error that aborts the transaction.
  using Mutator = std::function<Result<ValuePtr>(const void* current)>;
  void stage_update(Transaction* txn, std::string primary, Mutator fn) const;

  // Registers an index and, when the registry already has rows the index lacks, builds it in the
  // background.
  Status attach_index(std::unique_ptr<IndexBase> index, Keyspace* index_ks);
  std::vector<IndexBase*> indexes() const;

  void set_decode(Engine::Decoder fn) { decode_ = std::move(fn); }

 private:
  // The row's object as the commit sees it; nullptr when absent.
  Result<std::shared_ptr<const void>> current_row(CommitContext& ctx, const std::string& primary) const;
  Status maintain(CommitContext& ctx, const std::string& primary, const void* old_value,
                  const void* new_value) const;
  void build(IndexBase* index);

  Engine* const engine_;
  Keyspace* const ks_;
  const Schema schema_;
  Engine::Decoder decode_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<IndexBase>> indexes_;  // GUARDED_BY(mu_); never shrinks
  std::vector<std::thread> builders_;                // GUARDED_BY(mu_)
  std::atomic<bool> stopping_{false};
};

template <typename IK, typename K, typename V>
class Index final : public IndexBase {
 public:
  using Extractor = std::function<std::vector<IK>(const V&)>;

  // Primary keys of the rows whose value yields `key` (unique index: at most one).
  Result<std::vector<K>> lookup(const IK& key) const {
    SP_RETURN_IF_ERROR(state());
    SP_ASSIGN_OR_RETURN(std::vector<std::string> encoded, primaries(EncodeTypedKey(key)));
    return decode_all(encoded);
  }
  // Primary keys of the rows with an index key in [from, to), in index-key order.
  Result<std::vector<K>> range(const IK& from, const IK& to) const {
    SP_RETURN_IF_ERROR(state());
    std::vector<std::string> encoded;
    SP_RETURN_IF_ERROR(primaries_in_range(EncodeTypedKey(from), EncodeTypedKey(to), [&](std::string_view p) {
      encoded.emplace_back(p);
      return true;
    }));
    return decode_all(encoded);
  }

 private:
  template <typename, typename>
  friend class Registry;
  Index(std::string name, bool unique, Extractor extract)
      : IndexBase(std::move(name), unique), extract_(std::move(extract)) {}
  std::vector<std::string> keys_of(const void* value) const override {
    std::vector<std::string> out;
    for (const IK& k : extract_(*static_cast<const V*>(value))) out.push_back(EncodeTypedKey(k));
    return out;
  }
  static Result<std::vector<K>> decode_all(const std::vector<std::string>& encoded) {
    std::vector<K> keys;
    for (const std::string& e : encoded) {
      SP_ASSIGN_OR_RETURN(K k, DecodeTypedKey<K>(e));
      keys.push_back(std::move(k));
    }
    return keys;
  }
  const Extractor extract_;
};

// ---------------------------------------------------------------------------------------------- Registry

struct RegistryOptions {
  KeyspaceOptions keyspace;  // its kind is always "registry"
  Schema schema;
};

template <typename K, typename V>
class Registry {
 public:
  using ValueType = V;
  using KeyType = K;

  // Opens (creating if needed) the registry `name` on `engine`. Every stored row is decoded once, here;
  // a row that does not decode, or was written by a newer schema version, fails the open (Corruption).
  // A registry recorded with another key type K is refused (InvalidArgument;
  // registry_internal::CheckKeyType).
  static Result<std::unique_ptr<Registry>> open(Engine* engine, std::string_view name, RegistryOptions options = {}) {
    options.keyspace.kind = "registry";
    SP_ASSIGN_OR_RETURN(Keyspace * ks, engine->create_keyspace(name, options.keyspace));
    SP_RETURN_IF_ERROR(
        registry_internal::CheckKeyType(engine, ks, name, KeyTypeName<K>(),
                                        [](std::string_view key) { return DecodeTypedKey<K>(key).ok(); }));
    std::unique_ptr<Registry> r(new Registry(engine, ks, std::string(name), std::move(options.schema)));
    // The engine keeps this decoder after the registry is gone (cache misses use it): it owns its schema.
    auto schema = std::make_shared<const Schema>(r->core_->schema());
    auto decode = [schema](std::string_view bytes) -> Result<ValuePtr> {
      SP_ASSIGN_OR_RETURN(V v, ValueCodec<V>::decode(bytes, *schema));
      return MakeValueWith(std::string(bytes), std::move(v));
    };
    r->core_->set_decode(decode);
    SP_RETURN_IF_ERROR(engine->set_decoder(ks, decode));
    return r;
  }

  // NotFound when absent.
  Result<std::shared_ptr<const V>> get(const K& key) const {
    std::shared_ptr<const void> v;
    SP_RETURN_IF_ERROR(core_->get_row(EncodeTypedKey(key), &v));
    return std::static_pointer_cast<const V>(std::move(v));
  }
  bool contains(const K& key) const { return get(key).ok(); }

  Status put(const K& key, V value, Durability durability = Durability::kDefault) {
    Transaction txn(durability);
    put(&txn, key, std::move(value));
    return engine_->commit(txn).status();
  }
  Status remove(const K& key, Durability durability = Durability::kDefault) {
    Transaction txn(durability);
    remove(&txn, key);
    return engine_->commit(txn).status();
  }
  // Read-modify-write in one commit: `fn` edits a copy of the current value. NotFound when absent.
  Status update(const K& key, const std::function<Status(V&)>& fn, Durability durability = Durability::kDefault) {
    Transaction txn(durability);
    update(&txn, key, fn);
    return engine_->commit(txn).status();
  }

  // The same, as part of a caller's transaction (atomic across registries and structures).
  void put(Transaction* txn, const K& key, V value) const {
    std::string bytes = ValueCodec<V>::encode(value, core_->schema());
    core_->stage(txn, EncodeTypedKey(key), MakeValueWith(std::move(bytes), std::move(value)));
  }
  void remove(Transaction* txn, const K& key) const { core_->stage(txn, EncodeTypedKey(key), nullptr); }
  void update(Transaction* txn, const K& key, std::function<Status(V&)> fn) const {
    const Schema* schema = &core_->schema();
    core_->stage_update(txn, EncodeTypedKey(key), [fn = std::move(fn), schema](const void* cur) -> Result<ValuePtr> {
      if (cur == nullptr) return Status::NotFound("no such row");
      V copy = *static_cast<const V*>(cur);
      SP_RETURN_IF_ERROR(fn(copy));
      std::string bytes = ValueCodec<V>::encode(copy, *schema);
      return MakeValueWith(std::move(bytes), std::move(copy));
    });
  }

  Result<uint64_t> count() const { return engine_->count(core_->keyspace()); }

  // Every row in key order; stops when `fn` returns false.
  Status for_each(const std::function<bool(const K&, const std::shared_ptr<const V>&)>& fn) const {
    return scan("", "", fn);
  }
  // Every row whose key starts with the tuple `prefix` (for tuple keys: a leading subset of the elements).
  template <typename... P>
  Status for_each_prefix(const std::tuple<P...>& prefix,
                         const std::function<bool(const K&, const std::shared_ptr<const V>&)>& fn) const {
    const std::string start = EncodeTypedKey(prefix);
    return scan(start, TuplePrefixUpperBound(start), fn);
  }

  // Declares a secondary index. `extract` returns the index keys of a value (zero or more). On a registry
  // that already has rows the index is built in the background; until then lookups answer Busy.
  template <typename IK>
  Result<Index<IK, K, V>*> add_index(std::string_view index_name, std::function<std::vector<IK>(const V&)> extract,
                                     bool unique) {
    KeyspaceOptions ko;  // same class as the rows: an index must survive exactly what its rows survive
    ko.kind = unique ? "unique_index" : "index";
    for (const KeyspaceInfo& info : engine_->keyspaces()) {
      if (info.name == name_) {
        ko.persistence = info.options.persistence;
        ko.coalesce_interval = info.options.coalesce_interval;
        ko.durability = info.options.durability;
      }
    }
    SP_ASSIGN_OR_RETURN(Keyspace * iks, engine_->create_keyspace(name_ + "." + std::string(index_name), ko));
    std::unique_ptr<Index<IK, K, V>> index(new Index<IK, K, V>(std::string(index_name), unique, std::move(extract)));
    Index<IK, K, V>* raw = index.get();
    SP_RETURN_IF_ERROR(core_->attach_index(std::move(index), iks));
    return raw;
  }

  Keyspace* keyspace() const { return core_->keyspace(); }
  const std::string& name() const { return name_; }

 private:
  Registry(Engine* engine, Keyspace* ks, std::string name, Schema schema)
      : engine_(engine), name_(std::move(name)), core_(std::make_unique<RegistryCore>(engine, ks, std::move(schema))) {}

  Status scan(std::string_view start, std::string_view end,
              const std::function<bool(const K&, const std::shared_ptr<const V>&)>& fn) const {
    Status failed;
    SP_RETURN_IF_ERROR(engine_->scan(core_->keyspace(), start, end, [&](std::string_view key, const Entry& e) {
      auto k = DecodeTypedKey<K>(key);
      auto v = core_->decoded(e.value);
      if (!k.ok() || !v.ok()) {
        failed = !k.ok() ? k.status() : v.status();
        return false;
      }
      return fn(*k, std::static_pointer_cast<const V>(*v));
    }));
    return failed;
  }

  Engine* const engine_;
  const std::string name_;
  std::unique_ptr<RegistryCore> core_;
};

// Rows scoped by a tenant UUID: key (tenant, K).
template <typename K, typename V>
class TenantRegistry {
 public:
  using Inner = Registry<std::tuple<Uuid, K>, V>;

  static Result<std::unique_ptr<TenantRegistry>> open(Engine* engine, std::string_view name,
                                                      RegistryOptions options = {}) {
    SP_ASSIGN_OR_RETURN(std::unique_ptr<Inner> inner, Inner::open(engine, name, std::move(options)));
    return std::unique_ptr<TenantRegistry>(new TenantRegistry(std::move(inner)));
  }

  Result<std::shared_ptr<const V>> get(const Uuid& tenant, const K& key) const { return inner_->get({tenant, key}); }
  bool contains(const Uuid& tenant, const K& key) const { return inner_->contains({tenant, key}); }
  Status put(const Uuid& tenant, const K& key, V value, Durability d = Durability::kDefault) {
    return inner_->put({tenant, key}, std::move(value), d);
  }
  Status remove(const Uuid& tenant, const K& key, Durability d = Durability::kDefault) {
    return inner_->remove({tenant, key}, d);
  }
  Status update(const Uuid& tenant, const K& key, const std::function<Status(V&)>& fn,
                Durability d = Durability::kDefault) {
    return inner_->update({tenant, key}, fn, d);
  }
  void put(Transaction* txn, const Uuid& tenant, const K& key, V value) const {
    inner_->put(txn, {tenant, key}, std::move(value));
  }
  void remove(Transaction* txn, const Uuid& tenant, const K& key) const { inner_->remove(txn, {tenant, key}); }
  // Every row of one tenant, in key order: one range.
  Status for_each(const Uuid& tenant, const std::function<bool(const K&, const std::shared_ptr<const V>&)>& fn) const {
    return inner_->for_each_prefix(std::tuple<Uuid>{tenant},
                                   [&](const std::tuple<Uuid, K>& k, const std::shared_ptr<const V>& v) {
                                     return fn(std::get<1>(k), v);
                                   });
  }
  Result<uint64_t> count(const Uuid& tenant) const {
    uint64_t n = 0;
    SP_RETURN_IF_ERROR(for_each(tenant, [&](const K&, const std::shared_ptr<const V>&) {
      n++;
      return true;
    }));
    return n;
  }
  Inner& rows() { return *inner_; }

 private:
  explicit TenantRegistry(std::unique_ptr<Inner> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<Inner> inner_;
};

}  // namespace savepoint
