#include "savepoint/registry.h"

#include "util/coding.h"
#include "util/json_depth.h"

namespace savepoint {

namespace {
// In an index keyspace, beyond every encoded key (tags are < 0xff): present once the index is complete.
const std::string kBuiltMarker = "\xff" "built";
constexpr size_t kBuildBatch = 512;
}  // namespace

namespace registry_internal {

// The public constant (registry.h cannot include util/) is the engine's JSON depth limit.
static_assert(kMaxDocumentDepth == kMaxJsonDepth);

namespace {

// nlohmann's CBOR reader recurses once per nesting level of arrays and maps, and once per chunk of an
// indefinite-length string (it accepts chunks that are themselves indefinite-length strings, which RFC 8949
// 3.2.3 forbids). So a hostile or corrupt row of a few kilobytes (0x81 0x81 ... or 0x5f 0x5f ...) would
// overflow the stack. This walks the item heads without recursion first: Corruption when arrays and maps
// nest deeper than kMaxDocumentDepth or a string chunk is not a definite-length string of its string's type.
// Every other malformation (truncation, reserved values, tags, trailing bytes) is left to nlohmann, which
// reports it; the walk only stops early.
Status CheckCborNesting(std::string_view in) {
  size_t pos = 0;
  // The head's argument: the value, or (for additional information 31) indefinite. False when malformed.
  auto head = [&](uint8_t ib, uint64_t* value, bool* indefinite) {
    const uint8_t info = ib & 31;
    *indefinite = info == 31;
    if (info < 24) {
      *value = info;
      return true;
    }
    if (info > 27) return info == 31;
    const size_t n = size_t{1} << (info - 24);
    if (in.size() - pos < n) return false;
    *value = 0;
    for (size_t i = 0; i < n; i++) *value = (*value << 8) | static_cast<uint8_t>(in[pos++]);
    return true;
  };
  struct Open {
    uint64_t items_left;  // definite arrays and maps
    bool indefinite;      // ended by a break (0xff)
  };
  std::vector<Open> open;
  bool top_seen = false;
  for (;;) {
    while (!open.empty() && !open.back().indefinite && open.back().items_left == 0) open.pop_back();
    if (open.empty() && top_seen) return Status::OK();
    if (pos >= in.size()) return Status::OK();  // truncated
    const uint8_t ib = static_cast<uint8_t>(in[pos++]);
    if (ib == 0xff) {  // break
      if (open.empty() || !open.back().indefinite) return Status::OK();  // misplaced
      open.pop_back();
      continue;
    }
    // This item is one of its container's items (or the document).
    if (open.empty()) {
      top_seen = true;
    } else if (!open.back().indefinite) {
      open.back().items_left--;
    }
    const uint8_t major = ib >> 5;
    uint64_t value = 0;
    bool indefinite = false;
    if (!head(ib, &value, &indefinite)) return Status::OK();
    switch (major) {
      case 2:    // byte string
      case 3: {  // text string
        if (!indefinite) {
          if (value > in.size() - pos) return Status::OK();
          pos += value;
          break;
        }
        for (;;) {
          if (pos >= in.size()) return Status::OK();
          const uint8_t chunk = static_cast<uint8_t>(in[pos++]);
          if (chunk == 0xff) break;
          if (chunk >> 5 != major || (chunk & 31) == 31) {
            return Status::Corruption("row has an indefinite-length string with a chunk that is not a definite-length "
                                      "string of its type");
          }
          bool chunk_indefinite = false;
          if (!head(chunk, &value, &chunk_indefinite) || value > in.size() - pos) return Status::OK();
          pos += value;
        }
        break;
      }
      case 4:    // array
      case 5: {  // map: a key and a value per entry
        if (!indefinite && value == 0) break;
        // More items than bytes is a truncation nlohmann reports, but only after reading what is there.
        const uint64_t items = major == 4 ? value : value > UINT64_MAX / 2 ? UINT64_MAX : 2 * value;
        open.push_back({items, indefinite});
        if (open.size() > kMaxDocumentDepth) {
          return Status::Corruption("row is nested deeper than " + std::to_string(kMaxDocumentDepth) + " levels");
        }
        break;
      }
      case 6:  // a tag: refused by nlohmann (cbor_tag_handler_t::error)
        return Status::OK();
      default:  // integers, floats, simple values
        if (indefinite) return Status::OK();  // malformed
        break;
    }
  }
}

}  // namespace

std::string EncodeDocument(uint32_t version, const nlohmann::json& doc) {
  std::string out;
  PutVarint32(&out, version);
  const std::vector<uint8_t> cbor = nlohmann::json::to_cbor(doc);
  out.append(reinterpret_cast<const char*>(cbor.data()), cbor.size());
  return out;
}

Result<nlohmann::json> DecodeDocument(std::string_view bytes, const Schema& schema) {
  Decoder d(bytes);
  uint32_t version = 0;
  if (!d.GetVarint32(&version) || version == 0) return Status::Corruption("row without a schema version");
  if (version > schema.version) {
    return Status::Corruption("row written by schema version " + std::to_string(version) +
                              "; this build knows versions up to " + std::to_string(schema.version));
  }
  const std::string_view rest = d.rest();
  SP_RETURN_IF_ERROR(CheckCborNesting(rest));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::from_cbor(rest.begin(), rest.end());
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("row is not CBOR: ") + e.what());
  }
  for (uint32_t v = version; v < schema.version; v++) {
    auto it = schema.upgrades.find(v);
    if (it == schema.upgrades.end()) {
      return Status::Corruption("no upgrade from schema version " + std::to_string(v) + " to " +
                                std::to_string(v + 1));
    }
    try {
      SP_RETURN_IF_ERROR(it->second(doc).WithContext("upgrading from schema version " + std::to_string(v)));
    } catch (const nlohmann::json::exception& e) {
      return Status::Corruption("upgrading from schema version " + std::to_string(v) + ": " + e.what());
    }
  }
  return doc;
}

std::string KeyTypeNameOf(const KeyTuple& key) {
  std::string out;
  for (const KeyElement& e : key) {
    if (!out.empty()) out.push_back(',');
    if (std::holds_alternative<int64_t>(e)) {
      out.append(KeyTraits<int64_t>::kName);
    } else if (std::holds_alternative<uint64_t>(e)) {
      out.append(KeyTraits<uint64_t>::kName);
    } else if (std::holds_alternative<std::string>(e)) {
      out.append(KeyTraits<std::string>::kName);
    } else if (std::holds_alternative<Uuid>(e)) {
      out.append(KeyTraits<Uuid>::kName);
    } else {
      out.append(std::holds_alternative<Bytes>(e)  ? "bytes"
                 : std::holds_alternative<bool>(e) ? "bool"
                                                   : "null");
    }
  }
  return out;
}

Status CheckKeyType(Engine* engine, Keyspace* registry, std::string_view name, std::string_view key_type,
                    const std::function<bool(std::string_view key)>& key_reads) {
  // Durable and synced whatever the registry's class: a volatile registry's keyspace definition outlives a
  // restart, and so must the key type its rows are written with.
  KeyspaceOptions ko;
  ko.kind = "registry_key_types";
  ko.durability = Durability::kSync;
  SP_ASSIGN_OR_RETURN(Keyspace * types, engine->create_keyspace(kKeyTypesKeyspace, ko));
  auto recorded = engine->get(types, name);
  if (recorded.status().IsNotFound()) {
    // New, or created before key types were recorded: the first opener's type is adopted if every stored
    // key reads as it.
    std::string unreadable;
    SP_RETURN_IF_ERROR(engine->scan(registry, "", "", [&](std::string_view key, const Entry&) {
      if (key_reads(key)) return true;
      auto t = DecodeKey(key);
      unreadable = t.ok() ? KeyToText(*t) : "a malformed key";
      return false;
    }));
    if (!unreadable.empty()) {
      return Status::InvalidArgument("registry '" + std::string(name) + "' holds key " + unreadable +
                                     ", which is not of the key type (" + std::string(key_type) +
                                     ") it is opened with");
    }
    SP_ASSIGN_OR_RETURN(bool stored, engine->set_if_absent(types, name, MakeValue(std::string(key_type)), 0,
                                                           Durability::kSync));
    if (stored) return Status::OK();
    recorded = engine->get(types, name);  // another opener recorded it first
  }
  if (!recorded.ok())
    return recorded.status().WithContext("key type of registry '" + std::string(name) + "'");
  if (recorded->value->bytes != key_type) {
    return Status::InvalidArgument("registry '" + std::string(name) + "' has keys of type (" +
                                   recorded->value->bytes + "), opened with keys of type (" +
                                   std::string(key_type) + ")");
  }
  return Status::OK();
}

}  // namespace registry_internal

// ------------------------------------------------------------------------------------------ IndexBase

Status IndexBase::state() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return state_;
}

Result<std::vector<std::string>> IndexBase::primaries(std::string_view index_key) const {
  std::vector<std::string> out;
  if (unique_) {
    auto e = engine_->get(ks_, index_key);
    if (e.status().IsNotFound()) return out;
    if (!e.ok()) return e.status();
    out.push_back(e->value->bytes);
    return out;
  }
  // Non-unique rows are keyed (index key, primary key) and hold the primary key.
  SP_RETURN_IF_ERROR(engine_->scan(ks_, index_key, TuplePrefixUpperBound(std::string(index_key)),
                                   [&](std::string_view, const Entry& e) {
                                     out.push_back(e.value->bytes);
                                     return true;
                                   }));
  return out;
}

Status IndexBase::primaries_in_range(std::string_view from, std::string_view to,
                                     const std::function<bool(std::string_view primary)>& fn) const {
  return engine_->scan(ks_, from, to, [&](std::string_view, const Entry& e) { return fn(e.value->bytes); });
}

// --------------------------------------------------------------------------------------- RegistryCore

RegistryCore::~RegistryCore() {
  stopping_ = true;
  std::vector<std::thread> builders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    builders.swap(builders_);
  }
  for (std::thread& t : builders) t.join();
}

Result<std::shared_ptr<const void>> RegistryCore::decoded(ValuePtr value) const {
  if (value->decoded == nullptr) {  // a foreign write
    if (!decode_) return Status::InvalidArgument("registry has no decoder");
    SP_ASSIGN_OR_RETURN(value, decode_(value->bytes));
  }
  // Shares the Value's ownership: its object may not own itself (MakeValueWith).
  const void* object = value->decoded.get();
  return std::shared_ptr<const void>(std::move(value), object);
}

Status RegistryCore::get_row(std::string_view primary, std::shared_ptr<const void>* out) const {
  SP_ASSIGN_OR_RETURN(Entry e, engine_->get(ks_, primary));
  SP_ASSIGN_OR_RETURN(*out, decoded(std::move(e.value)));  // moved: a get changes no reference count
  return Status::OK();
}

std::vector<IndexBase*> RegistryCore::indexes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<IndexBase*> out;
  for (auto& i : indexes_) out.push_back(i.get());
  return out;
}

Status RegistryCore::maintain(CommitContext& ctx, const std::string& primary, const void* old_value,
                              const void* new_value) const {
  for (IndexBase* index : indexes()) {
    std::vector<std::string> old_keys = old_value ? index->keys_of(old_value) : std::vector<std::string>{};
    std::vector<std::string> new_keys = new_value ? index->keys_of(new_value) : std::vector<std::string>{};
    std::set<std::string> old_set(old_keys.begin(), old_keys.end()), new_set(new_keys.begin(), new_keys.end());
    for (const std::string& k : old_set) {
      if (new_set.count(k)) continue;
      SP_RETURN_IF_ERROR(ctx.remove(index->ks_, index->unique() ? k : k + primary));
    }
    for (const std::string& k : new_set) {
      if (old_set.count(k)) continue;
      if (index->unique()) {
        auto held = ctx.get(index->ks_, k);
        if (held.ok() && held->value->bytes != primary) {
          auto key = DecodeKey(k);
          return Status::Conflict("unique index " + index->name() + ": " +
                                  (key.ok() ? KeyToText(*key) : std::string("key")) + " already belongs to row " +
                                  [&] {
                                    auto p = DecodeKey(held->value->bytes);
                                    return p.ok() ? KeyToText(*p) : std::string("?");
                                  }());
        }
        if (!held.ok() && !held.status().IsNotFound()) return held.status();
        SP_RETURN_IF_ERROR(ctx.put(index->ks_, k, MakeValue(primary)));
      } else {
        SP_RETURN_IF_ERROR(ctx.put(index->ks_, k + primary, MakeValue(primary)));
      }
    }
  }
  return Status::OK();
}

Result<std::shared_ptr<const void>> RegistryCore::current_row(CommitContext& ctx, const std::string& primary) const {
  auto cur = ctx.get(ks_, primary);
  if (cur.status().IsNotFound()) return std::shared_ptr<const void>();
  if (!cur.ok()) return cur.status();
  return decoded(std::move(cur->value));
}

void RegistryCore::stage(Transaction* txn, std::string primary, ValuePtr value) const {
  txn->apply([this, primary = std::move(primary), value = std::move(value)](CommitContext& ctx) -> Status {
    if (!indexes().empty()) {
      SP_ASSIGN_OR_RETURN(std::shared_ptr<const void> old, current_row(ctx, primary));
      SP_RETURN_IF_ERROR(maintain(ctx, primary, old.get(), value ? value->decoded.get() : nullptr));
    }
    return value ? ctx.put(ks_, primary, value) : ctx.remove(ks_, primary);
  });
}

void RegistryCore::stage_update(Transaction* txn, std::string primary, Mutator fn) const {
  txn->apply([this, primary = std::move(primary), fn = std::move(fn)](CommitContext& ctx) -> Status {
    SP_ASSIGN_OR_RETURN(std::shared_ptr<const void> old, current_row(ctx, primary));
    SP_ASSIGN_OR_RETURN(ValuePtr value, fn(old.get()));
    SP_RETURN_IF_ERROR(maintain(ctx, primary, old.get(), value ? value->decoded.get() : nullptr));
    return value ? ctx.put(ks_, primary, value) : ctx.remove(ks_, primary);
  });
}

Status RegistryCore::attach_index(std::unique_ptr<IndexBase> index, Keyspace* index_ks) {
  index->engine_ = engine_;
  index->ks_ = index_ks;
  IndexBase* raw = index.get();
  {
    // Registered first: every commit from now on keeps it in step, so the build below only has to cover
    // rows written before.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& existing : indexes_) {
      if (existing->name() == raw->name()) return Status::InvalidArgument("index " + raw->name() + " exists");
    }
    indexes_.push_back(std::move(index));
  }
  if (engine_->get(index_ks, kBuiltMarker).ok()) return Status::OK();
  bool has_rows = false;
  SP_RETURN_IF_ERROR(engine_->scan(ks_, "", "", [&](std::string_view, const Entry&) {
    has_rows = true;
    return false;
  }));
  if (!has_rows) {
    Transaction txn;
    txn.put(index_ks, kBuiltMarker, "");
    return engine_->commit(txn).status();
  }
  {
    std::lock_guard<std::mutex> lock(raw->state_mu_);
    raw->state_ = Status::Busy("index " + raw->name() + " is being built");
  }
  std::lock_guard<std::mutex> lock(mu_);
  builders_.emplace_back(&RegistryCore::build, this, raw);
  return Status::OK();
}

void RegistryCore::build(IndexBase* index) {
  std::string after;
  bool first = true;
  Status s;
  while (!stopping_) {
    std::vector<std::string> batch;
    const std::string start = first ? std::string() : after + std::string(1, '\0');
    s = engine_->scan(ks_, start, "", [&](std::string_view key, const Entry&) {
      batch.emplace_back(key);
      return batch.size() < kBuildBatch;
    });
    if (!s.ok() || batch.empty()) break;
    // Each batch indexes the rows as they are at commit time, so racing writes are never undone.
    Transaction txn;
    txn.apply([&](CommitContext& ctx) -> Status {
      for (const std::string& primary : batch) {
        auto cur = ctx.get(ks_, primary);
        if (cur.status().IsNotFound()) continue;
        if (!cur.ok()) return cur.status();
        SP_ASSIGN_OR_RETURN(std::shared_ptr<const void> value, decoded(std::move(cur->value)));
        for (const std::string& k : index->keys_of(value.get())) {
          if (index->unique()) {
            auto held = ctx.get(index->ks_, k);
            if (held.ok() && held->value->bytes != primary) {
              return Status::Conflict("unique index " + index->name() + " cannot be built: two rows share a key");
            }
            SP_RETURN_IF_ERROR(ctx.put(index->ks_, k, MakeValue(primary)));
          } else {
            SP_RETURN_IF_ERROR(ctx.put(index->ks_, k + primary, MakeValue(primary)));
          }
        }
      }
      return Status::OK();
    });
    s = engine_->commit(txn).status();
    if (!s.ok()) break;
    after = batch.back();
    first = false;
  }
  if (s.ok() && !stopping_) {
    Transaction done;
    done.put(index->ks_, kBuiltMarker, "");
    s = engine_->commit(done).status();
  }
  std::lock_guard<std::mutex> lock(index->state_mu_);
  index->state_ = stopping_ && s.ok() ? Status::Busy("index build interrupted") : s;
}

}  // namespace savepoint
