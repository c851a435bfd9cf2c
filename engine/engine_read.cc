// Reads: memory-resident keyspaces answer from the hot store alone; cached ones fall through to RocksDB on a
// miss and remember what they read.
#include "engine/engine_impl.h"

namespace savepoint::engine {

Result<HotEntry> EngineImpl::read_materialized(Keyspace* ks, std::string_view key) {
  if (ks->cf == nullptr || db_ == nullptr) return Status::NotFound("not materialised");
  const uint64_t read_at = applied_lsn_.load(std::memory_order_acquire);
  std::string row;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ks->cf, rocksdb::Slice(key.data(), key.size()), &row);
  if (s.IsNotFound()) {
    ks->hot->fill(key, HotEntry{nullptr, 0, 0, 0}, read_at);  // remember the absence
    return Status::NotFound("absent");
  }
  SP_RETURN_IF_ERROR(FromRocks(s, "reading " + ks->def.name + " from RocksDB"));
  uint64_t expire_at = 0;
  std::string_view value;
  SP_RETURN_IF_ERROR(DecodeRow(row, &expire_at, &value).WithContext("keyspace " + ks->def.name));
  std::shared_ptr<const Decoder> decoder;
  {
    std::lock_guard<std::mutex> lock(ks->decoder_mu);
    decoder = ks->decoder;
  }
  ValuePtr v;
  if (decoder != nullptr) {
    auto d = (*decoder)(value);
    if (!d.ok()) return d.status().WithContext("decoding " + ks->def.name + " key " + rocksdb::Slice(key).ToString(true));
    v = std::move(d).value();
  } else {
    v = MakeValue(std::string(value));
  }
  HotEntry e{std::move(v), next_version_.fetch_add(1), expire_at, 0};
  ks->hot->fill(key, e, read_at);
  return e;
}

Status EngineImpl::set_decoder(Keyspace* ks, Decoder decoder) {
  SP_RETURN_IF_ERROR(live(ks).status());
  auto shared = std::make_shared<const Decoder>(std::move(decoder));
  std::lock_guard<std::mutex> commit_lock(commit_mu_);  // no write may slip between the decode and the swap
  if (!ks->hot->cached()) {
    std::vector<std::pair<std::string, HotEntry>> decoded;
    Status failed;
    // Every value, even one already carrying an object: it may be of another type (a keyspace reopened by a
    // registry of a different value type must fail here, not misread).
    ks->hot->scan("", "", 0, [&](std::string_view key, const Entry& e) {
      auto d = (*shared)(e.value->bytes);
      if (!d.ok()) {
        failed = d.status().WithContext("decoding " + ks->def.name + " key " + rocksdb::Slice(key).ToString(true));
        return false;
      }
      decoded.emplace_back(std::string(key), HotEntry{std::move(d).value(), e.version, e.expire_at_micros, 0});
      return true;
    });
    SP_RETURN_IF_ERROR(failed);
    for (auto& [key, entry] : decoded) {
      HotEntry raw;
      if (ks->hot->get_raw(key, &raw) == Lookup::kFound) entry.lsn = raw.lsn;
      ks->hot->apply_put(key, std::move(entry));
    }
  }
  std::lock_guard<std::mutex> lock(ks->decoder_mu);
  ks->decoder = std::move(shared);
  return Status::OK();
}

Result<Entry> EngineImpl::get(Keyspace* ks, std::string_view key) {
  // The checks of live() and check_key() inline: on the hot path they cost a few instructions, and the
  // Status objects are only built for the error.
  if (ks == nullptr || ks->dropped.load(std::memory_order_acquire)) [[unlikely]] return live(ks).status();
  if (key.empty() || key.size() > kMaxKeyBytes) [[unlikely]] return check_key(key);
  Entry e;
  // The clock is read only for keys with a TTL: a `now` of 0 never expires anything.
  switch (ks->hot->get(key, 0, &e)) {
    case Lookup::kFound:
      if (e.expire_at_micros != 0 && e.expire_at_micros <= clock_->now_micros()) return Status::NotFound("expired");
      return e;
    case Lookup::kAbsent:
      return Status::NotFound("no such key");
    case Lookup::kNotCached:
      break;
  }
  const uint64_t now = clock_->now_micros();
  SP_ASSIGN_OR_RETURN(HotEntry h, read_materialized(ks, key));
  if (h.expire_at_micros != 0 && h.expire_at_micros <= now) return Status::NotFound("no such key");
  return Entry{std::move(h.value), h.version, h.expire_at_micros};
}

Status EngineImpl::get_many(Keyspace* ks, std::span<const std::string_view> keys, std::vector<Entry>* out) {
  SP_RETURN_IF_ERROR(live(ks).status());
  for (const std::string_view key : keys) SP_RETURN_IF_ERROR(check_key(key));
  out->clear();
  out->resize(keys.size());
  if (keys.empty()) return Status::OK();
  // As get(): `now` 0 in the hot store, the clock read once and only if some entry has a TTL.
  constexpr size_t kChunk = 64;
  Lookup found[kChunk];
  uint64_t now = 0;
  for (size_t base = 0; base < keys.size(); base += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - base);
    ks->hot->get_many(keys.subspan(base, n), 0, found, out->data() + base);
    for (size_t i = 0; i < n; i++) {
      Entry& e = (*out)[base + i];
      if (found[i] == Lookup::kNotCached) {
        auto h = read_materialized(ks, keys[base + i]);
        if (!h.ok() && !h.status().IsNotFound()) return h.status();
        e = h.ok() ? Entry{std::move(h->value), h->version, h->expire_at_micros} : Entry{};
      } else if (found[i] == Lookup::kAbsent) {
        e = Entry{};
      }
      if (e.expire_at_micros != 0) {
        if (now == 0) now = clock_->now_micros();
        if (e.expire_at_micros <= now) e = Entry{};
      }
    }
  }
  return Status::OK();
}

Status EngineImpl::scan(Keyspace* ks, std::string_view start, std::string_view end,
                        const std::function<bool(std::string_view key, const Entry& entry)>& fn) {
  SP_RETURN_IF_ERROR(live(ks).status());
  const uint64_t now = clock_->now_micros();
  if (!ks->hot->cached()) {
    ks->hot->scan(start, end, now, fn);
    return Status::OK();
  }
  // Cached: RocksDB holds every key once the materializer has caught up with all commits so far.
  SP_RETURN_IF_ERROR(wait_materialized());
  rocksdb::ReadOptions ro;
  std::string upper(end);
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, ks->cf));
  for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
    uint64_t expire_at = 0;
    std::string_view value;
    SP_RETURN_IF_ERROR(DecodeRow(it->value().ToStringView(), &expire_at, &value).WithContext(ks->def.name));
    if (expire_at != 0 && expire_at <= now) continue;
    HotEntry cached;
    const uint64_t version = ks->hot->get_raw(it->key().ToStringView(), &cached) == Lookup::kFound
                                 ? cached.version
                                 : next_version_.fetch_add(1);
    if (!fn(it->key().ToStringView(), Entry{MakeValue(std::string(value)), version, expire_at})) break;
  }
  return FromRocks(it->status(), "scanning " + ks->def.name);
}

Result<uint64_t> EngineImpl::count(Keyspace* ks) {
  uint64_t n = 0;
  SP_RETURN_IF_ERROR(scan(ks, "", "", [&](std::string_view, const Entry&) {
    n++;
    return true;
  }));
  return n;
}

}  // namespace savepoint::engine
