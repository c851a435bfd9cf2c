// Structures: open and load, keys and TTL, strings, leases, idempotency keys, pub/sub (structures_internal.h).
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "registries/structures_internal.h"
#include "savepoint/key_codec.h"
#include "util/json_depth.h"

namespace savepoint {

const char* StructureTypeName(StructureType type) {
  switch (type) {
    case StructureType::kNone: return "none";
    case StructureType::kString: return "string";
    case StructureType::kHash: return "hash";
    case StructureType::kSet: return "set";
    case StructureType::kZSet: return "zset";
    case StructureType::kList: return "list";
    case StructureType::kStream: return "stream";
    case StructureType::kLease: return "lease";
    case StructureType::kIdempotency: return "idempotency";
  }
  return "unknown";
}

bool GlobMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0;
  while (pi < p.size()) {
    unsigned char c = static_cast<unsigned char>(p[pi]);
    if (c == '*') {
      while (pi + 1 < p.size() && p[pi + 1] == '*') ++pi;
      if (pi + 1 == p.size()) return true;
      for (size_t k = si; k <= s.size(); ++k) {
        if (GlobMatch(p.substr(pi + 1), s.substr(k))) return true;
      }
      return false;
    }
    if (si == s.size()) return false;
    const unsigned char t = static_cast<unsigned char>(s[si]);
    if (c == '?') {
      ++pi, ++si;
      continue;
    }
    if (c == '[') {
      ++pi;
      const bool negate = pi < p.size() && p[pi] == '^';
      if (negate) ++pi;
      bool match = false;
      while (pi < p.size() && p[pi] != ']') {
        if (p[pi] == '\\' && pi + 1 < p.size()) {
          match |= static_cast<unsigned char>(p[pi + 1]) == t;
          pi += 2;
        } else if (pi + 2 < p.size() && p[pi + 1] == '-') {
          unsigned char lo = static_cast<unsigned char>(p[pi]), hi = static_cast<unsigned char>(p[pi + 2]);
          if (lo > hi) std::swap(lo, hi);
          match |= t >= lo && t <= hi;
          pi += 3;
        } else {
          match |= static_cast<unsigned char>(p[pi]) == t;
          ++pi;
        }
      }
      if (pi < p.size()) ++pi;  // the ']'
      if (match == negate) return false;
      ++si;
      continue;
    }
    if (c == '\\' && pi + 1 < p.size()) c = static_cast<unsigned char>(p[++pi]);
    if (c != t) return false;
    ++pi, ++si;
  }
  return si == s.size();
}

std::string StreamId::ToString() const { return std::to_string(ms) + "-" + std::to_string(seq); }

Result<StreamId> StreamId::Parse(std::string_view text, uint64_t missing_seq) {
  auto parse_u64 = [](std::string_view s, uint64_t* out) {
    if (s.empty() || s.size() > 20) return false;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<uint64_t>(c - '0'), &v)) {
        return false;
      }
    }
    *out = v;
    return true;
  };
  StreamId id;
  const size_t dash = text.find('-');
  if (!parse_u64(text.substr(0, dash), &id.ms)) {
    return Status::InvalidArgument("invalid stream ID '" + std::string(text) + "'");
  }
  if (dash == std::string_view::npos) {
    id.seq = missing_seq;
  } else if (!parse_u64(text.substr(dash + 1), &id.seq)) {
    return Status::InvalidArgument("invalid stream ID '" + std::string(text) + "'");
  }
  return id;
}

Result<std::unique_ptr<Structures>> Structures::open(Engine* engine, std::string_view name,
                                                     const StructuresOptions& options) {
  if (engine == nullptr) return Status::InvalidArgument("Structures::open: no engine");
  KeyspaceOptions ko = options.keyspace;
  ko.residency = Residency::kMemory;  // the in-memory containers are loaded from every row
  ko.kind = "structures";
  SP_ASSIGN_OR_RETURN(Keyspace * meta, engine->create_keyspace(name, ko));
  ko.kind = "structures.elements";
  SP_ASSIGN_OR_RETURN(Keyspace * elements, engine->create_keyspace(std::string(name) + ".elements", ko));
  auto impl = std::make_unique<structures::StructuresImpl>(engine, meta, elements, options);
  SP_RETURN_IF_ERROR(impl->load(name).WithContext("structures " + std::string(name)));
  impl->start_sweeper();
  return std::unique_ptr<Structures>(std::move(impl));
}

namespace structures {

// ------------------------------------------------------------------------------------------- encoding

std::string ElementPrefix(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 4);
  AppendKeyString(&out, key);
  return out;
}

Status SplitElementKey(std::string_view row_key, std::string* key, std::string_view* rest) {
  if (row_key.empty() || static_cast<uint8_t>(row_key[0]) != key_tag::kString) {
    return Status::Corruption("element row key does not start with a string");
  }
  key->clear();
  for (size_t i = 1; i < row_key.size(); ++i) {
    if (row_key[i] != '\0') {
      key->push_back(row_key[i]);
    } else if (i + 1 < row_key.size() && static_cast<uint8_t>(row_key[i + 1]) == 0xFF) {
      key->push_back('\0');
      ++i;
    } else {
      *rest = row_key.substr(i + 1);
      if (rest->empty()) return Status::Corruption("element row key has no element kind");
      return Status::OK();
    }
  }
  return Status::Corruption("element row key has an unterminated structure key");
}

void PutFixed64BE(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string EncodeScore(double score) {
  uint64_t bits;
  std::memcpy(&bits, &score, 8);
  std::string out;
  PutFixed64BE(&out, bits);
  return out;
}

double DecodeScore(std::string_view bytes) {
  const uint64_t bits = GetFixed64BE(bytes.data());
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

void PutLengthPrefixed(std::string* out, std::string_view s) {
  uint64_t n = s.size();
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
  out->append(s);
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t n = 0;
  int shift = 0;
  size_t i = 0;
  for (;; ++i, shift += 7) {
    if (i >= in->size() || shift > 63) return false;
    const uint8_t b = static_cast<uint8_t>((*in)[i]);
    n |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) break;
  }
  ++i;
  if (n > in->size() - i) return false;
  *out = in->substr(i, n);
  in->remove_prefix(i + n);
  return true;
}

bool ParseInt64Strict(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) ++i;
  if (i == s.size()) return false;
  if (s[i] == '0' && (s.size() > i + 1 || negative)) return false;  // "0" only: no "-0", no leading zeros
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<uint64_t>(s[i] - '0'), &v)) {
      return false;
    }
  }
  if (negative) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

std::string EncodeMeta(const Object& obj) {
  std::string out;
  out.push_back(static_cast<char>(obj.type));
  PutFixed64BE(&out, obj.expire_at);
  if (obj.type == StructureType::kStream) {
    const auto* s = static_cast<const StreamData*>(obj.data.get());
    PutFixed64BE(&out, s->last_id.ms);
    PutFixed64BE(&out, s->last_id.seq);
  } else {
    out.append(obj.str);
  }
  return out;
}

Status DecodeMeta(std::string_view bytes, Object* obj) {
  if (bytes.size() < 9) return Status::Corruption("meta row shorter than its header");
  obj->type = static_cast<StructureType>(static_cast<uint8_t>(bytes[0]));
  obj->expire_at = GetFixed64BE(bytes.data() + 1);
  std::string_view payload = bytes.substr(9);
  obj->str.clear();
  obj->data.reset();
  switch (obj->type) {
    case StructureType::kString:
    case StructureType::kLease:
    case StructureType::kIdempotency:
      obj->str.assign(payload);
      return Status::OK();
    case StructureType::kHash:
      obj->data = std::make_unique<HashData>();
      return Status::OK();
    case StructureType::kSet:
      obj->data = std::make_unique<SetData>();
      return Status::OK();
    case StructureType::kZSet:
      obj->data = std::make_unique<ZSetData>();
      return Status::OK();
    case StructureType::kList:
      obj->data = std::make_unique<ListData>();
      return Status::OK();
    case StructureType::kStream: {
      if (payload.size() != 16) return Status::Corruption("stream meta row has a bad payload");
      auto s = std::make_unique<StreamData>();
      s->last_id = {GetFixed64BE(payload.data()), GetFixed64BE(payload.data() + 8)};
      obj->data = std::move(s);
      return Status::OK();
    }
    case StructureType::kNone:
      break;
  }
  return Status::Corruption("meta row has unknown type " + std::to_string(static_cast<int>(bytes[0])));
}

Object NewObject(StructureType type) {
  Object obj;
  obj.type = type;
  switch (type) {
    case StructureType::kHash: obj.data = std::make_unique<HashData>(); break;
    case StructureType::kSet: obj.data = std::make_unique<SetData>(); break;
    case StructureType::kZSet: obj.data = std::make_unique<ZSetData>(); break;
    case StructureType::kList: obj.data = std::make_unique<ListData>(); break;
    case StructureType::kStream: obj.data = std::make_unique<StreamData>(); break;
    default: break;
  }
  return obj;
}

std::string_view ElementKinds(StructureType type) {
  switch (type) {
    case StructureType::kHash: return "f";
    case StructureType::kSet: return "m";
    case StructureType::kZSet: return "z";
    case StructureType::kList: return "l";
    case StructureType::kStream: return "cegp";
    default: return "";
  }
}

// ---------------------------------------------------------------------------------------------- Batch

Batch::Batch(StructuresImpl* s, Durability d) : s_(s), txn_(d) {}

void Batch::put_meta(std::string_view key, const Object& obj) { txn_.put(s_->meta_, key, EncodeMeta(obj)); }

void Batch::remove_meta(std::string_view key) { txn_.remove(s_->meta_, key); }

void Batch::put_element(std::string_view key, char kind, std::string_view rest, std::string_view value) {
  scratch_.clear();
  AppendKeyString(&scratch_, key);
  scratch_.push_back(kind);
  scratch_.append(rest);
  txn_.put(s_->elements_, scratch_, value);
}

void Batch::remove_element(std::string_view key, char kind, std::string_view rest) {
  scratch_.clear();
  AppendKeyString(&scratch_, key);
  scratch_.push_back(kind);
  scratch_.append(rest);
  txn_.remove(s_->elements_, scratch_);
}

void Batch::remove_elements(std::string_view key, char kind, std::string_view rest_prefix) {
  scratch_.clear();
  AppendKeyString(&scratch_, key);
  scratch_.push_back(kind);
  scratch_.append(rest_prefix);
  txn_.remove_prefix(s_->elements_, scratch_);
}

void Batch::put_stream_meta(std::string_view key, uint64_t expire_at, StreamId last_id) {
  std::string out;
  out.push_back(static_cast<char>(StructureType::kStream));
  PutFixed64BE(&out, expire_at);
  PutFixed64BE(&out, last_id.ms);
  PutFixed64BE(&out, last_id.seq);
  txn_.put(s_->meta_, key, out);
}

void Batch::remove_all(std::string_view key, StructureType type) {
  txn_.remove(s_->meta_, key);
  for (char kind : ElementKinds(type)) {
    scratch_.clear();
  AppendKeyString(&scratch_, key);
    scratch_.push_back(kind);
    txn_.remove_prefix(s_->elements_, scratch_);
  }
}

Status Batch::commit() {
  if (txn_.empty()) return Status::OK();
  return s_->engine_->commit(txn_).status();
}

// ------------------------------------------------------------------------------------ open, load, sweep

StructuresImpl::StructuresImpl(Engine* engine, Keyspace* meta, Keyspace* elements, const StructuresOptions& options)
    : engine_(engine), meta_(meta), elements_(elements), options_(options), clock_(engine->clock()) {}

StructuresImpl::~StructuresImpl() {
  {
    std::lock_guard<std::mutex> l(sweeper_mu_);
    sweeper_stop_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

Stripe& StructuresImpl::stripe_of(std::string_view key) {
  return stripes_[absl::Hash<std::string_view>{}(key) % kStripes];
}

Status StructuresImpl::load(std::string_view name) {
  StringMap<Object> objects;
  std::vector<StructureProblem> problems;
  // The repair is a logged commit like any write, so a later replay of the WAL reproduces it. kSync: it is
  // durable before open returns, and a crash right after cannot undo what the warnings say was repaired.
  Transaction fix(Durability::kSync);
  SP_RETURN_IF_ERROR(LoadStructures(engine_, name, meta_, elements_, &objects, &problems, &fix));
  std::string refused;
  size_t unrepairable = 0;
  for (const StructureProblem& p : problems) {
    if (p.repairable) continue;
    if (unrepairable++ < 5) {
      refused += (refused.empty() ? "" : "; ") + std::string("key ") + QuoteStructureKey(p.key) +
                 " (keyspace " + p.keyspace + "): " + p.what;
    }
  }
  if (unrepairable > 0) {
    return Status::Corruption(std::to_string(unrepairable) +
                              " rows do not decode (`savepoint check` lists them): " + refused);
  }
  const auto log = options_.logger != nullptr ? options_.logger : spdlog::default_logger();
  for (const StructureProblem& p : problems) {
    log->warn("structures {}: repairing key {} (keyspace {}): {}", std::string(name),
              QuoteStructureKey(p.key), p.keyspace, p.what);
  }
  if (!fix.empty()) {
    SP_RETURN_IF_ERROR(engine_->commit(fix).status().WithContext(
        "committing the repair of " + std::to_string(problems.size()) + " problems"));
  }
  for (auto& [key, obj] : objects) {
    Stripe& s = stripe_of(key);
    std::lock_guard<std::mutex> l(s.mu);
    install(s, key, std::move(obj));
  }
  return Status::OK();
}

void StructuresImpl::start_sweeper() {
  sweeper_ = std::thread([this] { sweeper_loop(); });
}

void StructuresImpl::sweeper_loop() {
  std::unique_lock<std::mutex> l(sweeper_mu_);
  while (!sweeper_stop_) {
    sweeper_cv_.wait_for(l, options_.sweep_interval);
    if (sweeper_stop_) break;
    l.unlock();
    (void)sweep_expired();  // a failure (engine closing, WAL fatal) leaves the keys for the next round
    l.lock();
  }
}

Result<int64_t> StructuresImpl::sweep_expired() {
  int64_t removed = 0;
  const uint64_t t = now();
  for (Stripe& s : stripes_) {
    std::lock_guard<std::mutex> l(s.mu);
    if (s.expiries.empty() || s.expiries.begin()->first > t) continue;
    Batch batch(this, Durability::kDefault);
    std::vector<std::string> keys;
    for (auto it = s.expiries.begin(); it != s.expiries.end() && it->first <= t; ++it) {
      batch.remove_all(it->second, s.objects.at(it->second).type);
      keys.push_back(it->second);
    }
    SP_RETURN_IF_ERROR(batch.commit());
    for (const std::string& k : keys) erase(s, k);
    removed += static_cast<int64_t>(keys.size());
  }
  if (removed > 0) notify_waiters();
  return removed;
}

// ---------------------------------------------------------------------------------------- object table

Object* StructuresImpl::find(Stripe& stripe, std::string_view key, uint64_t t) {
  auto it = stripe.objects.find(key);
  if (it == stripe.objects.end()) return nullptr;
  if (it->second.expire_at != 0 && it->second.expire_at <= t) return nullptr;
  return &it->second;
}

Result<Object*> StructuresImpl::find_typed(Stripe& stripe, std::string_view key, StructureType type, uint64_t t) {
  Object* obj = find(stripe, key, t);
  if (obj != nullptr && obj->type != type) {
    return Status::WrongType("WRONGTYPE Operation against a key holding the wrong kind of value");
  }
  return obj;
}

Result<Object*> StructuresImpl::find_for_write(Stripe& stripe, std::string_view key, StructureType type, uint64_t t,
                                               Batch* batch, bool* expired) {
  *expired = false;
  auto it = stripe.objects.find(key);
  if (it == stripe.objects.end()) return nullptr;
  if (it->second.expire_at != 0 && it->second.expire_at <= t) {
    batch->remove_all(key, it->second.type);
    *expired = true;
    return nullptr;
  }
  if (it->second.type != type) {
    return Status::WrongType("WRONGTYPE Operation against a key holding the wrong kind of value");
  }
  return &it->second;
}

Object& StructuresImpl::install(Stripe& stripe, std::string_view key, Object obj) {
  auto [it, inserted] = stripe.objects.try_emplace(key);
  if (!inserted && it->second.expire_at != 0) stripe.expiries.erase({it->second.expire_at, std::string(key)});
  it->second = std::move(obj);
  if (it->second.expire_at != 0) stripe.expiries.emplace(it->second.expire_at, std::string(key));
  return it->second;
}

void StructuresImpl::erase(Stripe& stripe, std::string_view key) {
  auto it = stripe.objects.find(key);
  if (it == stripe.objects.end()) return;
  if (it->second.expire_at != 0) stripe.expiries.erase({it->second.expire_at, std::string(key)});
  stripe.objects.erase(it);
}

void StructuresImpl::set_expiry(Stripe& stripe, std::string_view key, Object& obj, uint64_t expire_at) {
  if (obj.expire_at != 0) stripe.expiries.erase({obj.expire_at, std::string(key)});
  obj.expire_at = expire_at;
  if (expire_at != 0) stripe.expiries.emplace(expire_at, std::string(key));
}

void StructuresImpl::notify_waiters() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (waiters_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> l(wait_mu_);
  wait_cv_.notify_all();
}

bool StructuresImpl::wait_for_change(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(wait_mu_);
  waiters_.fetch_add(1, std::memory_order_acq_rel);
  const bool changed = wait_cv_.wait_until(l, deadline, [&] { return generation() != seen; });
  waiters_.fetch_sub(1, std::memory_order_acq_rel);
  return changed;
}

// ------------------------------------------------------------------------------------------------ keys

Result<StructureType> StructuresImpl::type(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Object* obj = find(s, key, now());
  return obj == nullptr ? StructureType::kNone : obj->type;
}

Result<bool> StructuresImpl::exists(std::string_view key) {
  SP_ASSIGN_OR_RETURN(StructureType t, type(key));
  return t != StructureType::kNone;
}

Result<bool> StructuresImpl::del(std::string_view key, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  auto it = s.objects.find(key);
  if (it == s.objects.end()) return false;
  const bool live = it->second.expire_at == 0 || it->second.expire_at > now();
  Batch batch(this, d);
  batch.remove_all(key, it->second.type);
  SP_RETURN_IF_ERROR(batch.commit());
  erase(s, key);
  notify_waiters();
  return live;
}

Result<bool> StructuresImpl::pexpire(std::string_view key, int64_t ms, Durability d) {
  Stripe& s = stripe_of(key);
  std::unique_lock<std::mutex> l(s.mu);
  const uint64_t t = now();
  Object* obj = find(s, key, t);
  if (obj == nullptr) return false;
  if (ms <= 0) {
    l.unlock();
    SP_RETURN_IF_ERROR(del(key, d).status());
    return true;
  }
  uint64_t expire_at;
  if (__builtin_mul_overflow(static_cast<uint64_t>(ms), 1000, &expire_at) ||
      __builtin_add_overflow(expire_at, t, &expire_at)) {
    return Status::InvalidArgument("invalid expire time");
  }
  const uint64_t old = obj->expire_at;
  obj->expire_at = expire_at;
  Batch batch(this, d);
  batch.put_meta(key, *obj);
  obj->expire_at = old;
  SP_RETURN_IF_ERROR(batch.commit());
  set_expiry(s, key, *obj, expire_at);
  return true;
}

Result<bool> StructuresImpl::expire(std::string_view key, int64_t seconds, Durability d) {
  int64_t ms;
  if (__builtin_mul_overflow(seconds, 1000, &ms)) return Status::InvalidArgument("invalid expire time");
  return pexpire(key, ms, d);
}

Result<int64_t> StructuresImpl::pttl(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  Object* obj = find(s, key, t);
  if (obj == nullptr) return int64_t{-2};
  if (obj->expire_at == 0) return int64_t{-1};
  return static_cast<int64_t>((obj->expire_at - t) / 1000);
}

Result<bool> StructuresImpl::persist(std::string_view key, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Object* obj = find(s, key, now());
  if (obj == nullptr || obj->expire_at == 0) return false;
  const uint64_t old = obj->expire_at;
  obj->expire_at = 0;
  Batch batch(this, d);
  batch.put_meta(key, *obj);
  obj->expire_at = old;
  SP_RETURN_IF_ERROR(batch.commit());
  set_expiry(s, key, *obj, 0);
  return true;
}

Result<std::vector<std::string>> StructuresImpl::keys(std::string_view pattern) {
  std::vector<std::string> out;
  const uint64_t t = now();
  for (Stripe& s : stripes_) {
    std::lock_guard<std::mutex> l(s.mu);
    for (const auto& [key, obj] : s.objects) {
      if ((obj.expire_at == 0 || obj.expire_at > t) && GlobMatch(pattern, key)) out.push_back(key);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<ScanPage> StructuresImpl::scan(std::string_view cursor, std::string_view pattern, size_t count) {
  ScanPage page;
  std::string start(cursor);
  if (!start.empty()) start.push_back('\0');  // the smallest key after the cursor
  const uint64_t t = now();
  const size_t want = std::max<size_t>(count, 1);
  bool more = false;
  Status st;
  SP_RETURN_IF_ERROR(engine_->scan(meta_, start, "", [&](std::string_view key, const Entry& e) {
    if (page.keys.size() == want) {
      more = true;
      return false;
    }
    if (e.value->bytes.size() < 9) {
      st = Status::Corruption("meta row of key '" + std::string(key) + "' shorter than its header");
      return false;
    }
    const uint64_t expire_at = GetFixed64BE(e.value->bytes.data() + 1);
    if ((expire_at == 0 || expire_at > t) && GlobMatch(pattern, key)) page.keys.emplace_back(key);
    return true;
  }));
  SP_RETURN_IF_ERROR(st);
  if (more) page.next_cursor = page.keys.back();
  return page;
}

Result<uint64_t> StructuresImpl::dbsize() { return engine_->count(meta_); }

// --------------------------------------------------------------------------------------------- strings

Result<bool> StructuresImpl::set(std::string_view key, std::string_view value, const SetOptions& options,
                                 Durability d) {
  if (options.nx && options.xx) return Status::InvalidArgument("SET: NX and XX exclude each other");
  if (options.keep_ttl && options.expire_ms != 0) return Status::InvalidArgument("SET: KEEPTTL with an expiry");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  auto it = s.objects.find(key);
  const bool exists = it != s.objects.end();
  const bool live = exists && (it->second.expire_at == 0 || it->second.expire_at > t);
  if ((options.nx && live) || (options.xx && !live)) return false;
  Object obj;
  obj.type = StructureType::kString;
  obj.str.assign(value);
  if (options.expire_ms != 0) {
    if (__builtin_mul_overflow(options.expire_ms, 1000, &obj.expire_at) ||
        __builtin_add_overflow(obj.expire_at, t, &obj.expire_at)) {
      return Status::InvalidArgument("invalid expire time in SET");
    }
  } else if (options.keep_ttl && live) {
    obj.expire_at = it->second.expire_at;
  }
  Batch batch(this, d);
  if (exists && it->second.type != StructureType::kString) batch.remove_all(key, it->second.type);
  batch.put_meta(key, obj);
  SP_RETURN_IF_ERROR(batch.commit());
  install(s, key, std::move(obj));
  return true;
}

Result<std::optional<std::string>> StructuresImpl::get(std::string_view key) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kString, now()));
  if (obj == nullptr) return std::optional<std::string>();
  return std::optional<std::string>(obj->str);
}

Result<int64_t> StructuresImpl::incrby(std::string_view key, int64_t delta, Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kString, now(), &batch, &expired));
  int64_t v = 0;
  if (obj != nullptr && !ParseInt64Strict(obj->str, &v)) {
    return Status::InvalidArgument("value is not an integer or out of range");
  }
  if (__builtin_add_overflow(v, delta, &v)) return Status::InvalidArgument("increment or decrement would overflow");
  Object next;
  next.type = StructureType::kString;
  next.expire_at = obj != nullptr ? obj->expire_at : 0;
  next.str = std::to_string(v);
  batch.put_meta(key, next);
  SP_RETURN_IF_ERROR(batch.commit());
  install(s, key, std::move(next));
  return v;
}

Result<bool> StructuresImpl::setnx(std::string_view key, std::string_view value, Durability d) {
  SetOptions o;
  o.nx = true;
  return set(key, value, o, d);
}

Result<bool> StructuresImpl::compare_and_set(std::string_view key, std::string_view expected, std::string_view value,
                                             Durability d) {
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kString, now()));
  if (obj == nullptr || obj->str != expected) return false;
  Object next;
  next.type = StructureType::kString;
  next.expire_at = obj->expire_at;
  next.str.assign(value);
  Batch batch(this, d);
  batch.put_meta(key, next);
  SP_RETURN_IF_ERROR(batch.commit());
  obj->str = std::move(next.str);
  return true;
}

Result<std::string> StructuresImpl::merge_patch(std::string_view key, std::string_view patch_json, Durability d) {
  // nlohmann's merge_patch and dump recurse once per nesting level: a patch of "[[[[..." from a client must
  // not choose how deep (a stack overflow at ~100 KB of brackets).
  if (JsonNestingDepth(patch_json) > kMaxJsonDepth) {
    return Status::InvalidArgument("merge patch is nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json patch = nlohmann::json::parse(patch_json, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) return Status::InvalidArgument("merge patch is not JSON");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kString, now(), &batch, &expired));
  nlohmann::json doc;  // null when absent
  if (obj != nullptr) {
    if (JsonNestingDepth(obj->str) > kMaxJsonDepth) {
      return Status::InvalidArgument("value of '" + std::string(key) + "' is nested deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels");
    }
    doc = nlohmann::json::parse(obj->str, nullptr, false);
    if (doc.is_discarded()) return Status::InvalidArgument("value of '" + std::string(key) + "' is not JSON");
  }
  doc.merge_patch(patch);
  Object next;
  next.type = StructureType::kString;
  next.expire_at = obj != nullptr ? obj->expire_at : 0;
  next.str = doc.dump();
  batch.put_meta(key, next);
  SP_RETURN_IF_ERROR(batch.commit());
  std::string result = next.str;
  install(s, key, std::move(next));
  return result;
}

// ---------------------------------------------------------------------------------------------- leases

namespace {

struct LeaseState {
  std::string owner;
  uint64_t token = 0;
  uint64_t expire_at = 0;
};

std::string EncodeLease(const LeaseState& l) {
  std::string out;
  PutLengthPrefixed(&out, l.owner);
  PutFixed64BE(&out, l.token);
  PutFixed64BE(&out, l.expire_at);
  return out;
}

Status DecodeLease(std::string_view in, LeaseState* l) {
  std::string_view owner;
  if (!GetLengthPrefixed(&in, &owner) || in.size() != 16) return Status::Corruption("malformed lease");
  l->owner.assign(owner);
  l->token = GetFixed64BE(in.data());
  l->expire_at = GetFixed64BE(in.data() + 8);
  return Status::OK();
}

}  // namespace

Result<Lease> StructuresImpl::lease_take(std::string_view name, std::string_view owner,
                                         std::chrono::milliseconds ttl, bool must_hold, Durability d) {
  if (owner.empty()) return Status::InvalidArgument("a lease owner must not be empty");
  if (ttl.count() <= 0) return Status::InvalidArgument("a lease TTL must be positive");
  Stripe& s = stripe_of(name);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, name, StructureType::kLease, t, &batch, &expired));
  LeaseState cur;
  if (obj != nullptr) SP_RETURN_IF_ERROR(DecodeLease(obj->str, &cur));
  const bool held = !cur.owner.empty() && cur.expire_at > t;
  if (held && cur.owner != owner) return Status::Conflict("lease '" + std::string(name) + "' is held by another owner");
  if (must_hold && !held) return Status::Conflict("lease '" + std::string(name) + "' is not held by this owner");
  LeaseState next{std::string(owner), held ? cur.token : cur.token + 1, t + static_cast<uint64_t>(ttl.count()) * 1000};
  Object obj2;
  obj2.type = StructureType::kLease;
  obj2.expire_at = obj != nullptr ? obj->expire_at : 0;
  obj2.str = EncodeLease(next);
  batch.put_meta(name, obj2);
  SP_RETURN_IF_ERROR(batch.commit());
  install(s, name, std::move(obj2));
  return Lease{next.owner, next.token, next.expire_at};
}

Result<Lease> StructuresImpl::lease_acquire(std::string_view name, std::string_view owner,
                                            std::chrono::milliseconds ttl, Durability d) {
  return lease_take(name, owner, ttl, /*must_hold=*/false, d);
}

Result<Lease> StructuresImpl::lease_renew(std::string_view name, std::string_view owner,
                                          std::chrono::milliseconds ttl, Durability d) {
  return lease_take(name, owner, ttl, /*must_hold=*/true, d);
}

Status StructuresImpl::lease_release(std::string_view name, std::string_view owner, Durability d) {
  Stripe& s = stripe_of(name);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, name, StructureType::kLease, t));
  LeaseState cur;
  if (obj != nullptr) SP_RETURN_IF_ERROR(DecodeLease(obj->str, &cur));
  if (obj == nullptr || cur.owner != owner || cur.expire_at <= t) {
    return Status::Conflict("lease '" + std::string(name) + "' is not held by this owner");
  }
  cur.owner.clear();
  cur.expire_at = 0;
  Object next;
  next.type = StructureType::kLease;
  next.expire_at = obj->expire_at;
  next.str = EncodeLease(cur);
  Batch batch(this, d);
  batch.put_meta(name, next);
  SP_RETURN_IF_ERROR(batch.commit());
  obj->str = std::move(next.str);
  return Status::OK();
}

Result<Lease> StructuresImpl::lease_get(std::string_view name) {
  Stripe& s = stripe_of(name);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, name, StructureType::kLease, t));
  LeaseState cur;
  if (obj != nullptr) SP_RETURN_IF_ERROR(DecodeLease(obj->str, &cur));
  if (cur.owner.empty() || cur.expire_at <= t) return Status::NotFound("lease '" + std::string(name) + "' is free");
  return Lease{cur.owner, cur.token, cur.expire_at};
}

// ----------------------------------------------------------------------------------------- idempotency

// kIdempotency payload: one state byte ('0' claimed, '1' finished), then the result.
Result<IdempotencyState> StructuresImpl::idempotency_begin(std::string_view key, std::chrono::milliseconds ttl,
                                                           Durability d) {
  if (ttl.count() <= 0) return Status::InvalidArgument("an idempotency TTL must be positive");
  Stripe& s = stripe_of(key);
  std::lock_guard<std::mutex> l(s.mu);
  const uint64_t t = now();
  Batch batch(this, d);
  bool expired;
  SP_ASSIGN_OR_RETURN(Object * obj, find_for_write(s, key, StructureType::kIdempotency, t, &batch, &expired));
  if (obj != nullptr) {
    if (obj->str.empty()) return Status::Corruption("malformed idempotency record");
    if (obj->str[0] == '0') return IdempotencyState{IdempotencyState::Kind::kInProgress, {}};
    return IdempotencyState{IdempotencyState::Kind::kDone, obj->str.substr(1)};
  }
  Object claim;
  claim.type = StructureType::kIdempotency;
  claim.expire_at = t + static_cast<uint64_t>(ttl.count()) * 1000;
  claim.str = "0";
  batch.put_meta(key, claim);
  SP_RETURN_IF_ERROR(batch.commit());
  install(s, key, std::move(claim));
  return IdempotencyState{IdempotencyState::Kind::kFirst, {}};
}

Status StructuresImpl::idempotency_finish(std::string_view key, std::string_view result, Durability d) {
  {
    Stripe& s = stripe_of(key);
    std::lock_guard<std::mutex> l(s.mu);
    SP_ASSIGN_OR_RETURN(Object * obj, find_typed(s, key, StructureType::kIdempotency, now()));
    if (obj == nullptr) return Status::NotFound("idempotency claim '" + std::string(key) + "' expired");
    if (obj->str.empty() || obj->str[0] != '0') {
      return Status::Conflict("idempotency key '" + std::string(key) + "' is already finished");
    }
    Object done;
    done.type = StructureType::kIdempotency;
    done.expire_at = obj->expire_at;
    done.str = "1";
    done.str.append(result);
    Batch batch(this, d);
    batch.put_meta(key, done);
    SP_RETURN_IF_ERROR(batch.commit());
    obj->str = std::move(done.str);
  }
  notify_waiters();
  return Status::OK();
}

Result<std::string> StructuresImpl::idempotent(std::string_view key, std::chrono::milliseconds ttl,
                                               const std::function<Result<std::string>()>& fn,
                                               std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const uint64_t seen = generation();
    SP_ASSIGN_OR_RETURN(IdempotencyState state, idempotency_begin(key, ttl, Durability::kDefault));
    switch (state.kind) {
      case IdempotencyState::Kind::kDone:
        return std::move(state.result);
      case IdempotencyState::Kind::kFirst: {
        Result<std::string> r = fn();
        if (!r.ok()) {
          (void)del(key, Durability::kDefault);  // abandon the claim so a retry may run
          return r.status();
        }
        SP_RETURN_IF_ERROR(idempotency_finish(key, *r, Durability::kDefault));
        return r;
      }
      case IdempotencyState::Kind::kInProgress:
        if (!wait_for_change(seen, deadline)) {
          return Status::Busy("idempotency key '" + std::string(key) + "' is still being processed");
        }
        break;
    }
  }
}

// --------------------------------------------------------------------------------------------- pub/sub

struct StructuresImpl::SubscriptionState {
  std::recursive_mutex mu;  // held while delivering; recursive so a callback may drop its own subscription
  bool active = true;       // GUARDED_BY(mu)
  bool pattern = false;
  std::string channel;
  MessageFn fn;
};

class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(StructuresImpl* owner, uint64_t id, std::shared_ptr<StructuresImpl::SubscriptionState> state)
      : owner_(owner), id_(id), state_(std::move(state)) {}
  ~SubscriptionImpl() override {
    owner_->unsubscribe(id_);
    std::lock_guard<std::recursive_mutex> l(state_->mu);  // waits for a delivery in progress on another thread
    state_->active = false;
  }

 private:
  StructuresImpl* owner_;
  uint64_t id_;
  std::shared_ptr<StructuresImpl::SubscriptionState> state_;
};

std::unique_ptr<Subscription> StructuresImpl::subscribe(std::string_view channel, MessageFn fn) {
  auto state = std::make_shared<SubscriptionState>();
  state->channel.assign(channel);
  state->fn = std::move(fn);
  std::lock_guard<std::mutex> l(subs_mu_);
  const uint64_t id = next_sub_id_++;
  subs_.emplace(id, state);
  return std::make_unique<SubscriptionImpl>(this, id, std::move(state));
}

std::unique_ptr<Subscription> StructuresImpl::psubscribe(std::string_view pattern, MessageFn fn) {
  auto state = std::make_shared<SubscriptionState>();
  state->pattern = true;
  state->channel.assign(pattern);
  state->fn = std::move(fn);
  std::lock_guard<std::mutex> l(subs_mu_);
  const uint64_t id = next_sub_id_++;
  subs_.emplace(id, state);
  return std::make_unique<SubscriptionImpl>(this, id, std::move(state));
}

void StructuresImpl::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> l(subs_mu_);
  subs_.erase(id);
}

int64_t StructuresImpl::publish(std::string_view channel, std::string_view message) {
  std::vector<std::shared_ptr<SubscriptionState>> targets;
  {
    std::lock_guard<std::mutex> l(subs_mu_);
    for (const auto& [id, st] : subs_) {
      if (st->pattern ? GlobMatch(st->channel, channel) : st->channel == channel) targets.push_back(st);
    }
  }
  int64_t delivered = 0;
  for (const auto& st : targets) {
    std::lock_guard<std::recursive_mutex> l(st->mu);
    if (!st->active) continue;
    st->fn(channel, message);
    ++delivered;
  }
  return delivered;
}

}  // namespace structures
}  // namespace savepoint
