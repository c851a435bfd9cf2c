// The implementation of Structures (include/savepoint/structures.h), split by concern:
//   structures.cc              open/load, keys, TTL and the sweeper, strings, leases, idempotency, pub/sub
//   structures_collections.cc  hashes, sets, sorted sets, lists
//   structures_stream.cc       streams and consumer groups
// Storage layout: docs/structures.md.
//
// Every operation on a key runs under the lock of the key's stripe: it reads the in-memory object, builds one
// engine Transaction with the rows it changes, commits it, and only then changes the in-memory object, so a
// failed commit changes nothing and the memory always equals what the rows say.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "registries/score_index.h"
#include "registries/structures_check.h"
#include "savepoint/structures.h"

namespace savepoint::structures {

// ---------------------------------------------------------------------------------------------- rows

// The first byte after a key's prefix in the elements keyspace: which kind of element row it is.
inline constexpr char kHashField = 'f';
inline constexpr char kSetMember = 'm';
inline constexpr char kZSetMember = 'z';
inline constexpr char kListItem = 'l';
inline constexpr char kStreamEntry = 'e';
inline constexpr char kStreamGroup = 'g';
inline constexpr char kStreamPending = 'p';
inline constexpr char kStreamConsumer = 'c';

// The prefix of every element row of `key`: the key codec's string element (escaped, terminated), so no
// key's prefix is a prefix of another key's rows once the kind byte (never 0xFF) follows.
std::string ElementPrefix(std::string_view key);
// Splits an element row's key into the structure key and the rest (kind byte first). Corruption if malformed.
Status SplitElementKey(std::string_view row_key, std::string* key, std::string_view* rest);

void PutFixed64BE(std::string* out, uint64_t v);
uint64_t GetFixed64BE(const char* p);
std::string EncodeScore(double score);  // 8 bytes, big-endian IEEE bits
double DecodeScore(std::string_view bytes);
void PutLengthPrefixed(std::string* out, std::string_view s);
bool GetLengthPrefixed(std::string_view* in, std::string_view* out);
// The element kinds of a type's rows, all removed with its key ("" for types without element rows).
std::string_view ElementKinds(StructureType type);

// Stream rows (structures_stream.cc).
std::string IdBytes(StreamId id);  // ms, seq: u64 BE each
StreamId IdFrom(const char* p);    // REQUIRES: 16 bytes at p
std::string EncodeFields(const StreamFields& fields);
Status DecodeFields(std::string_view in, StreamFields* fields);
// The rest of a pending entry or consumer row: the group (length-prefixed), then the ID or consumer name.
std::string GroupScoped(std::string_view group, std::string_view rest);

// ---------------------------------------------------------------------------------------------- memory

// Heterogeneous lookup by std::string_view (Debian's abseil has its own string_view type).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
template <typename V>
using StringMap = absl::flat_hash_map<std::string, V, StringHash, StringEq>;
using StringSet = absl::flat_hash_set<std::string, StringHash, StringEq>;

struct Container {
  virtual ~Container() = default;
};

struct HashData : Container {
  StringMap<std::string> fields;
};

struct SetData : Container {
  StringSet members;
};

struct ZSetData : Container {
  StringMap<double> scores;
  ScoreIndex order;  // (score, member bytes), with rank and range in O(log n)
};
// Sets the score of `member` in both structures, adding it if new.
void ZSetPut(ZSetData* z, const std::string& member, double score);

struct ListData : Container {
  std::deque<std::string> items;
  int64_t head = 0;  // the position (row key) of items.front(); positions run head, head + 1, ...
};

struct PendingData {
  std::string consumer;
  uint64_t delivery_ms = 0;
  uint64_t delivery_count = 0;
};
struct GroupData {
  StreamId last_delivered;
  std::map<StreamId, PendingData> pending;
  std::map<std::string, uint64_t, std::less<>> consumers;  // name -> first seen (ms)
};
struct StreamData : Container {
  std::map<StreamId, StreamFields> entries;
  StreamId last_id;
  std::map<std::string, GroupData, std::less<>> groups;
};

struct Object {
  StructureType type = StructureType::kNone;
  uint64_t expire_at = 0;  // micros; 0 = never
  // kString: the value; kLease: owner/token/lease expiry; kIdempotency: state and result (EncodeMeta).
  std::string str;
  std::unique_ptr<Container> data;  // the collection types
};

// A fresh object of `type` with its empty container.
Object NewObject(StructureType type);

template <typename T>
T* DataOf(Object* obj) {
  return obj == nullptr ? nullptr : static_cast<T*>(obj->data.get());
}

// The meta row of a key: [type][expire_at fixed64 BE][type-specific payload].
std::string EncodeMeta(const Object& obj);
Status DecodeMeta(std::string_view bytes, Object* obj);

struct Stripe {
  std::mutex mu;
  StringMap<Object> objects;             // GUARDED_BY(mu)
  std::set<std::pair<uint64_t, std::string>> expiries;         // GUARDED_BY(mu): (expire_at, key)
};

// --------------------------------------------------------------------------------------------- engine

class StructuresImpl;

// The rows one operation changes, committed as one transaction.
class Batch {
 public:
  Batch(StructuresImpl* s, Durability d);
  void put_meta(std::string_view key, const Object& obj);
  void remove_meta(std::string_view key);
  void put_element(std::string_view key, char kind, std::string_view rest, std::string_view value);
  void remove_element(std::string_view key, char kind, std::string_view rest);
  // Removes every element row of `key` of `kind` whose rest starts with `rest_prefix`.
  void remove_elements(std::string_view key, char kind, std::string_view rest_prefix);
  // The meta row of a stream whose last ID becomes `last_id`.
  void put_stream_meta(std::string_view key, uint64_t expire_at, StreamId last_id);
  // Removes every row of `key` (meta and elements) of an object of `type`.
  void remove_all(std::string_view key, StructureType type);
  bool empty() const { return txn_.empty(); }
  Status commit();

 private:
  StructuresImpl* s_;
  Transaction txn_;
  std::string scratch_;
};

class StructuresImpl final : public Structures {
 public:
  StructuresImpl(Engine* engine, Keyspace* meta, Keyspace* elements, const StructuresOptions& options);
  ~StructuresImpl() override;

  // Loads every row of the database `name`, repairing what a lost WAL record left (LoadStructures) with
  // one logged commit and a warning per problem. Corruption naming the keys when a row does not decode.
  Status load(std::string_view name);
  void start_sweeper();

  // keys
  Result<StructureType> type(std::string_view key) override;
  Result<bool> exists(std::string_view key) override;
  Result<bool> del(std::string_view key, Durability d) override;
  Result<bool> pexpire(std::string_view key, int64_t ms, Durability d) override;
  Result<bool> expire(std::string_view key, int64_t seconds, Durability d) override;
  Result<int64_t> pttl(std::string_view key) override;
  Result<bool> persist(std::string_view key, Durability d) override;
  Result<std::vector<std::string>> keys(std::string_view pattern) override;
  Result<ScanPage> scan(std::string_view cursor, std::string_view pattern, size_t count) override;
  Result<uint64_t> dbsize() override;

  // strings
  Result<bool> set(std::string_view key, std::string_view value, const SetOptions& options, Durability d) override;
  Result<std::optional<std::string>> get(std::string_view key) override;
  Result<int64_t> incrby(std::string_view key, int64_t delta, Durability d) override;
  Result<bool> setnx(std::string_view key, std::string_view value, Durability d) override;
  Result<bool> compare_and_set(std::string_view key, std::string_view expected, std::string_view value,
                               Durability d) override;
  Result<std::string> merge_patch(std::string_view key, std::string_view patch_json, Durability d) override;

  // hashes
  Result<int64_t> hset(std::string_view key, const std::vector<std::pair<std::string, std::string>>& fields,
                       Durability d) override;
  Result<std::optional<std::string>> hget(std::string_view key, std::string_view field) override;
  Result<std::vector<std::pair<std::string, std::string>>> hgetall(std::string_view key) override;
  Result<int64_t> hdel(std::string_view key, const std::vector<std::string>& fields, Durability d) override;
  Result<int64_t> hincrby(std::string_view key, std::string_view field, int64_t delta, Durability d) override;
  Result<int64_t> hlen(std::string_view key) override;

  // sets
  Result<int64_t> sadd(std::string_view key, const std::vector<std::string>& members, Durability d) override;
  Result<int64_t> srem(std::string_view key, const std::vector<std::string>& members, Durability d) override;
  Result<bool> sismember(std::string_view key, std::string_view member) override;
  Result<std::vector<std::string>> smembers(std::string_view key) override;
  Result<int64_t> scard(std::string_view key) override;

  // sorted sets
  Result<int64_t> zadd(std::string_view key, const std::vector<ScoredMember>& members, const ZAddOptions& options,
                       Durability d) override;
  Result<double> zincrby(std::string_view key, double delta, std::string_view member, Durability d) override;
  Result<std::optional<double>> zscore(std::string_view key, std::string_view member) override;
  Result<std::optional<int64_t>> zrank(std::string_view key, std::string_view member, bool reverse) override;
  Result<std::vector<ScoredMember>> zrange(std::string_view key, int64_t start, int64_t stop, bool reverse) override;
  Result<std::vector<ScoredMember>> zrangebyscore(std::string_view key, ScoreBound min, ScoreBound max,
                                                  int64_t offset, int64_t count) override;
  Result<int64_t> zrem(std::string_view key, const std::vector<std::string>& members, Durability d) override;
  Result<int64_t> zcard(std::string_view key) override;
  Result<int64_t> zremrangebyscore(std::string_view key, ScoreBound min, ScoreBound max, Durability d) override;

  // lists
  Result<int64_t> lpush(std::string_view key, const std::vector<std::string>& values, Durability d) override;
  Result<int64_t> rpush(std::string_view key, const std::vector<std::string>& values, Durability d) override;
  Result<std::optional<std::string>> lpop(std::string_view key, Durability d) override;
  Result<std::optional<std::string>> rpop(std::string_view key, Durability d) override;
  Result<std::vector<std::string>> lrange(std::string_view key, int64_t start, int64_t stop) override;
  Result<int64_t> llen(std::string_view key) override;
  Result<std::optional<std::pair<std::string, std::string>>> blpop(const std::vector<std::string>& keys,
                                                                   std::chrono::milliseconds timeout,
                                                                   Durability d) override;
  Result<std::optional<std::pair<std::string, std::string>>> brpop(const std::vector<std::string>& keys,
                                                                   std::chrono::milliseconds timeout,
                                                                   Durability d) override;

  // streams
  Result<StreamId> xadd(std::string_view key, const StreamFields& fields, const XAddOptions& options,
                        Durability d) override;
  Result<std::vector<StreamEntry>> xrange(std::string_view key, StreamId start, StreamId end, int64_t count,
                                          bool reverse) override;
  Result<int64_t> xlen(std::string_view key) override;
  Result<std::vector<StreamEntry>> xread(std::string_view key, std::optional<StreamId> after, int64_t count,
                                         std::chrono::milliseconds block) override;
  Result<int64_t> xtrim(std::string_view key, uint64_t maxlen, Durability d) override;
  Result<int64_t> xdel(std::string_view key, const std::vector<StreamId>& ids, Durability d) override;
  Status xgroup_create(std::string_view key, std::string_view group, std::optional<StreamId> start, bool mkstream,
                       Durability d) override;
  Result<bool> xgroup_destroy(std::string_view key, std::string_view group, Durability d) override;
  Result<std::vector<StreamEntry>> xreadgroup(std::string_view key, std::string_view group,
                                              std::string_view consumer, std::optional<StreamId> id, int64_t count,
                                              std::chrono::milliseconds block, Durability d) override;
  Result<int64_t> xack(std::string_view key, std::string_view group, const std::vector<StreamId>& ids,
                       Durability d) override;
  Result<PendingSummary> xpending(std::string_view key, std::string_view group) override;
  Result<std::vector<PendingEntry>> xpending_range(std::string_view key, std::string_view group, StreamId start,
                                                   StreamId end, int64_t count, std::string_view consumer) override;
  Result<std::vector<StreamEntry>> xclaim(std::string_view key, std::string_view group, std::string_view consumer,
                                          uint64_t min_idle_ms, const std::vector<StreamId>& ids,
                                          Durability d) override;
  Result<std::vector<StreamGroupInfo>> xinfo_groups(std::string_view key) override;

  // leases
  Result<Lease> lease_acquire(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl,
                              Durability d) override;
  Result<Lease> lease_renew(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl,
                            Durability d) override;
  Status lease_release(std::string_view name, std::string_view owner, Durability d) override;
  Result<Lease> lease_get(std::string_view name) override;

  // idempotency
  Result<IdempotencyState> idempotency_begin(std::string_view key, std::chrono::milliseconds ttl,
                                             Durability d) override;
  Status idempotency_finish(std::string_view key, std::string_view result, Durability d) override;
  Result<std::string> idempotent(std::string_view key, std::chrono::milliseconds ttl,
                                 const std::function<Result<std::string>()>& fn,
                                 std::chrono::milliseconds wait) override;

  // pub/sub
  std::unique_ptr<Subscription> subscribe(std::string_view channel, MessageFn fn) override;
  std::unique_ptr<Subscription> psubscribe(std::string_view pattern, MessageFn fn) override;
  int64_t publish(std::string_view channel, std::string_view message) override;

  Result<int64_t> sweep_expired() override;

 private:
  friend class Batch;

  static constexpr size_t kStripes = 64;
  Stripe& stripe_of(std::string_view key);
  uint64_t now() const { return clock_->now_micros(); }

  // The live object of `key` in `stripe`, or nullptr when absent or expired. REQUIRES: stripe.mu held.
  Object* find(Stripe& stripe, std::string_view key, uint64_t now);
  // As find, but WrongType when the key holds another type.
  Result<Object*> find_typed(Stripe& stripe, std::string_view key, StructureType type, uint64_t now);
  // For a write: the live object of `key` of `type`, or nullptr; an expired object's rows are added to
  // `batch` for removal (the write then starts from an absent key) and `*expired` is set so the caller
  // erases it after committing. REQUIRES: stripe.mu held.
  Result<Object*> find_for_write(Stripe& stripe, std::string_view key, StructureType type, uint64_t now,
                                 Batch* batch, bool* expired);
  // Replaces the in-memory object of `key` (after a successful commit). REQUIRES: stripe.mu held.
  Object& install(Stripe& stripe, std::string_view key, Object obj);
  void erase(Stripe& stripe, std::string_view key);
  void set_expiry(Stripe& stripe, std::string_view key, Object& obj, uint64_t expire_at);

  // Blocking calls: writers that may satisfy a waiter bump the generation and notify.
  void notify_waiters();
  // Waits until the generation moves past `seen` or `deadline`. Returns false at the deadline.
  bool wait_for_change(uint64_t seen, std::chrono::steady_clock::time_point deadline);
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  Result<std::optional<std::pair<std::string, std::string>>> bpop(const std::vector<std::string>& keys,
                                                                  std::chrono::milliseconds timeout, bool left,
                                                                  Durability d);
  Result<std::optional<std::string>> pop(std::string_view key, bool left, Durability d);
  Result<int64_t> push(std::string_view key, const std::vector<std::string>& values, bool left, Durability d);
  Result<Lease> lease_take(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl,
                           bool must_hold, Durability d);
  Result<std::vector<StreamEntry>> read_new_for_group(Stripe& stripe, std::string_view key, std::string_view group,
                                                      std::string_view consumer, int64_t count, Durability d,
                                                      bool* waitable);
  void sweeper_loop();

  Engine* engine_;
  Keyspace* meta_;
  Keyspace* elements_;
  const StructuresOptions options_;
  Clock* clock_;
  std::array<Stripe, kStripes> stripes_;

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> waiters_{0};

  struct SubscriptionState;
  std::mutex subs_mu_;
  std::map<uint64_t, std::shared_ptr<SubscriptionState>> subs_;  // GUARDED_BY(subs_mu_)
  uint64_t next_sub_id_ = 1;                                     // GUARDED_BY(subs_mu_)
  friend class SubscriptionImpl;
  void unsubscribe(uint64_t id);

  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool sweeper_stop_ = false;  // GUARDED_BY(sweeper_mu_)
  std::thread sweeper_;
};

// Redis's strict decimal int64 parse (no spaces, no '+', no leading zeros).
bool ParseInt64Strict(std::string_view s, int64_t* out);

// ------------------------------------------------------------------------------------------ loading

// Reads every row of a structures database into `objects` (by key), checking the rules of
// docs/structures.md ("What open checks and repairs") on the way: the one owner of those rules, used by
// Structures::open and `savepoint check` (CheckStructures). Each problem found is appended to `problems`;
// for a repairable one the row changes that repair it are staged in `fix`, and `objects` already holds the
// repaired state. A failed scan is the returned Status; problems are not.
Status LoadStructures(Engine* engine, std::string_view db, Keyspace* meta, Keyspace* elements,
                      StringMap<Object>* objects, std::vector<StructureProblem>* problems, Transaction* fix);

}  // namespace savepoint::structures
