// Structures: Redis-style data structures on the engine (DESIGN.md, Registries and structures;
// docs/structures.md has the storage layout and where the semantics differ from Redis).
//
// One Structures object is one Redis-like database: a namespace of keys, each holding one kind of structure
// (string, hash, set, sorted set, list, stream, lease, idempotency record), in two engine keyspaces of the
// same persistence class: `<name>` holds one row per key (its type, TTL and small state) and `<name>.elements`
// one row per element (hash field, set member, sorted-set member, list item, stream entry, consumer-group
// state). Changing one member of a million-member leaderboard writes one row; deleting a key removes its rows
// with one range removal. In memory each key has the container its queries need (hash map; an
// order-statistics tree for sorted sets, so rank and range are O(log n)); reads never touch disk.
//
// An operation against a key of another kind fails with Status::WrongType and changes nothing. Every write
// is one engine commit (atomic), logged as its keyspaces' persistence class says, with the durability given
// per call (kDefault: the keyspace default).
//
// TTL: any key may expire (expire/pexpire/persist; set with an expiry). An expired key reads as absent at
// once and is removed by a logged deletion (lazily on access, and by a sweep every sweep_interval), so
// replay is deterministic and an expired key never comes back after recovery.
//
// Thread-safety: every method may be called from any thread. Operations on one key are serialised (a
// striped lock); operations on different keys run in parallel. Blocking calls (blpop, xread with a timeout)
// wait without holding any lock. Pub/sub callbacks run on the publisher's thread, outside every lock.
// Ownership: a Structures object must not outlive its Engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "savepoint/engine.h"

namespace savepoint {

enum class StructureType : uint8_t {
  kNone = 0,  // the key does not exist
  kString = 1,
  kHash = 2,
  kSet = 3,
  kZSet = 4,
  kList = 5,
  kStream = 6,
  kLease = 7,
  kIdempotency = 8,
};
// "none", "string", "hash", "set", "zset", "list", "stream", "lease", "idempotency" (Redis TYPE).
const char* StructureTypeName(StructureType type);

struct StructuresOptions {
  // Persistence class, default durability and coalescing interval of both keyspaces. The kind and the
  // residency are set by Structures (kind "structures", memory residency). Default: durable, relaxed.
  KeyspaceOptions keyspace;
  // How often expired keys are looked for and deleted. Default: 100 ms.
  std::chrono::milliseconds sweep_interval = std::chrono::milliseconds(100);
  // Where open logs what it repaired (docs/structures.md, "What open checks and repairs"): one warning per
  // problem, naming the database, the key and the repair. Default: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;
};

// SET's options (Redis SET key value [NX|XX] [PX ms] [KEEPTTL]).
struct SetOptions {
  uint64_t expire_ms = 0;  // PX; 0 = no expiry (the key's TTL is cleared unless keep_ttl)
  bool nx = false;         // only if absent
  bool xx = false;         // only if present
  bool keep_ttl = false;   // KEEPTTL
};

// ZADD's flags. nx and xx exclude each other, as do nx and gt/lt.
struct ZAddOptions {
  bool nx = false;  // only add new members
  bool xx = false;  // only update existing members
  bool gt = false;  // update only when the new score is greater
  bool lt = false;  // update only when the new score is less
  bool ch = false;  // count changed members, not only added ones
};

// A score bound of ZRANGEBYSCORE: inclusive unless `exclusive` ("(1.5").
struct ScoreBound {
  double value = 0;
  bool exclusive = false;
};

struct ScoredMember {
  std::string member;
  double score = 0;
  friend bool operator==(const ScoredMember&, const ScoredMember&) = default;
};

// A stream entry ID, "<ms>-<seq>".
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
  std::string ToString() const;
  // "ms-seq" or "ms" (seq = 0, or `missing_seq` for range ends: XRANGE's "-"/"+" and bare ms).
  static Result<StreamId> Parse(std::string_view text, uint64_t missing_seq = 0);
  static constexpr StreamId Min() { return {0, 0}; }
  static constexpr StreamId Max() { return {~0ull, ~0ull}; }
};

using StreamFields = std::vector<std::pair<std::string, std::string>>;
struct StreamEntry {
  StreamId id;
  StreamFields fields;
  friend bool operator==(const StreamEntry&, const StreamEntry&) = default;
};

// XADD's options.
struct XAddOptions {
  std::optional<StreamId> id;      // explicit ID; nullopt = "*" (auto: max(now ms, last ms), next seq)
  std::optional<uint64_t> maxlen;  // trim to at most this many entries (exact trimming, also for "~")
  bool nomkstream = false;         // do not create a missing stream (returns NotFound)
};

struct PendingEntry {
  StreamId id;
  std::string consumer;
  uint64_t idle_ms = 0;
  uint64_t delivery_count = 0;
};
// XPENDING's summary form.
struct PendingSummary {
  uint64_t count = 0;
  StreamId smallest, largest;  // valid when count > 0
  std::vector<std::pair<std::string, uint64_t>> consumers;  // name -> pending count, in name order
};

struct StreamGroupInfo {
  std::string name;
  StreamId last_delivered;
  uint64_t consumers = 0;
  uint64_t pending = 0;
};

// A lease (a distributed-lock-like ownership with a TTL). The fencing token increases on every acquisition
// of the lease name, across owners, expiries and restarts: a resource that remembers the highest token it
// has seen refuses a stale owner.
struct Lease {
  std::string owner;
  uint64_t fencing_token = 0;
  uint64_t expire_at_micros = 0;
};

// What idempotency_begin found.
struct IdempotencyState {
  enum class Kind : uint8_t {
    kFirst,       // the caller claimed the key and must call idempotency_finish with its result
    kInProgress,  // another caller claimed it and has not finished
    kDone,        // finished: `result` is the first caller's result
  };
  Kind kind = Kind::kFirst;
  std::string result;
};

// One page of a cursor scan over key names.
struct ScanPage {
  std::string next_cursor;  // "" when the scan is complete
  std::vector<std::string> keys;
};

// A pub/sub subscription; unsubscribes when destroyed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// Redis glob-style pattern matching (KEYS, SCAN MATCH, PSUBSCRIBE): * ? [abc] [^a] [a-z] and \ escapes.
bool GlobMatch(std::string_view pattern, std::string_view text);

class Structures {
 public:
  // Opens the database `name` on `engine` (creating its keyspaces if needed) and loads it into memory.
  static Result<std::unique_ptr<Structures>> open(Engine* engine, std::string_view name,
                                                  const StructuresOptions& options = {});
  virtual ~Structures() = default;

  // --- keys ---
  virtual Result<StructureType> type(std::string_view key) = 0;
  virtual Result<bool> exists(std::string_view key) = 0;
  // Removes the key and every element of it. Returns whether it existed.
  virtual Result<bool> del(std::string_view key, Durability d = Durability::kDefault) = 0;
  // Sets the key's expiry; `ms` <= 0 deletes the key (Redis). Returns whether the key exists.
  virtual Result<bool> pexpire(std::string_view key, int64_t ms, Durability d = Durability::kDefault) = 0;
  virtual Result<bool> expire(std::string_view key, int64_t seconds, Durability d = Durability::kDefault) = 0;
  // Milliseconds left: -2 when absent, -1 when the key has no expiry (Redis PTTL).
  virtual Result<int64_t> pttl(std::string_view key) = 0;
  // Removes the expiry. Returns whether there was one.
  virtual Result<bool> persist(std::string_view key, Durability d = Durability::kDefault) = 0;
  // Every key matching `pattern`, in byte order.
  virtual Result<std::vector<std::string>> keys(std::string_view pattern) = 0;
  // Up to `count` keys after `cursor` ("" to start) matching `pattern`, in byte order. Every key present
  // during the whole scan is returned exactly once.
  virtual Result<ScanPage> scan(std::string_view cursor, std::string_view pattern, size_t count) = 0;
  virtual Result<uint64_t> dbsize() = 0;

  // --- strings ---
  // Returns whether it stored (false when NX/XX said no).
  virtual Result<bool> set(std::string_view key, std::string_view value, const SetOptions& options = {},
                           Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  // INCRBY: InvalidArgument if the value is not a decimal int64 or the result overflows.
  virtual Result<int64_t> incrby(std::string_view key, int64_t delta, Durability d = Durability::kDefault) = 0;
  virtual Result<bool> setnx(std::string_view key, std::string_view value, Durability d = Durability::kDefault) = 0;
  // Stores `value` only when the current value equals `expected`. Returns whether it stored.
  virtual Result<bool> compare_and_set(std::string_view key, std::string_view expected, std::string_view value,
                                       Durability d = Durability::kDefault) = 0;
  // RFC 7386 merge patch of the JSON document at `key` (absent = null); keeps the TTL. Returns the result.
  // InvalidArgument when the patch or the stored value is not JSON, or is nested deeper than 512 levels
  // (the JSON code recurses per level).
  virtual Result<std::string> merge_patch(std::string_view key, std::string_view patch_json,
                                          Durability d = Durability::kDefault) = 0;

  // --- hashes ---
  // Returns how many fields were added (not updated).
  virtual Result<int64_t> hset(std::string_view key, const std::vector<std::pair<std::string, std::string>>& fields,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<std::string>> hget(std::string_view key, std::string_view field) = 0;
  // In field byte order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> hgetall(std::string_view key) = 0;
  virtual Result<int64_t> hdel(std::string_view key, const std::vector<std::string>& fields,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> hincrby(std::string_view key, std::string_view field, int64_t delta,
                                  Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> hlen(std::string_view key) = 0;

  // --- sets ---
  virtual Result<int64_t> sadd(std::string_view key, const std::vector<std::string>& members,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> srem(std::string_view key, const std::vector<std::string>& members,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<bool> sismember(std::string_view key, std::string_view member) = 0;
  // In byte order.
  virtual Result<std::vector<std::string>> smembers(std::string_view key) = 0;
  virtual Result<int64_t> scard(std::string_view key) = 0;

  // --- sorted sets (ordered by score, then member bytes) ---
  // Returns the number of members added (or changed, with ch). InvalidArgument for a NaN score or
  // conflicting flags.
  virtual Result<int64_t> zadd(std::string_view key, const std::vector<ScoredMember>& members,
                               const ZAddOptions& options = {}, Durability d = Durability::kDefault) = 0;
  // Returns the new score. InvalidArgument when the result is NaN.
  virtual Result<double> zincrby(std::string_view key, double delta, std::string_view member,
                                 Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<double>> zscore(std::string_view key, std::string_view member) = 0;
  // 0-based rank, ascending (reverse: descending). nullopt when absent.
  virtual Result<std::optional<int64_t>> zrank(std::string_view key, std::string_view member,
                                               bool reverse = false) = 0;
  // Members with rank in [start, stop]; negative indexes count from the end (Redis ZRANGE).
  virtual Result<std::vector<ScoredMember>> zrange(std::string_view key, int64_t start, int64_t stop,
                                                   bool reverse = false) = 0;
  // Members with min <= score <= max (bounds may be exclusive), ascending; offset/count as LIMIT
  // (count < 0 = all).
  virtual Result<std::vector<ScoredMember>> zrangebyscore(std::string_view key, ScoreBound min, ScoreBound max,
                                                          int64_t offset = 0, int64_t count = -1) = 0;
  virtual Result<int64_t> zrem(std::string_view key, const std::vector<std::string>& members,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> zcard(std::string_view key) = 0;
  virtual Result<int64_t> zremrangebyscore(std::string_view key, ScoreBound min, ScoreBound max,
                                           Durability d = Durability::kDefault) = 0;

  // --- lists ---
  // Each value in turn pushed at the head (lpush) or tail (rpush). Returns the new length.
  virtual Result<int64_t> lpush(std::string_view key, const std::vector<std::string>& values,
                                Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> rpush(std::string_view key, const std::vector<std::string>& values,
                                Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<std::string>> lpop(std::string_view key, Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<std::string>> rpop(std::string_view key, Durability d = Durability::kDefault) = 0;
  virtual Result<std::vector<std::string>> lrange(std::string_view key, int64_t start, int64_t stop) = 0;
  virtual Result<int64_t> llen(std::string_view key) = 0;
  // BLPOP/BRPOP over `keys` in order: pops from the first non-empty list, waiting up to `timeout` for one.
  // nullopt on timeout; the pair is (key, value).
  virtual Result<std::optional<std::pair<std::string, std::string>>> blpop(
      const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
      Durability d = Durability::kDefault) = 0;
  virtual Result<std::optional<std::pair<std::string, std::string>>> brpop(
      const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
      Durability d = Durability::kDefault) = 0;

  // --- streams ---
  // Returns the ID of the new entry. InvalidArgument when an explicit ID is not greater than the last one
  // (or is 0-0), or fields are empty.
  virtual Result<StreamId> xadd(std::string_view key, const StreamFields& fields, const XAddOptions& options = {},
                                Durability d = Durability::kDefault) = 0;
  // Entries with start <= id <= end, ascending (reverse: descending from end), at most `count` (< 0 = all).
  virtual Result<std::vector<StreamEntry>> xrange(std::string_view key, StreamId start, StreamId end,
                                                  int64_t count = -1, bool reverse = false) = 0;
  virtual Result<int64_t> xlen(std::string_view key) = 0;
  // XREAD for one stream: entries with id > after, at most `count`, waiting up to `block` for some when there
  // are none (0 = do not wait). `after` = nullopt means "$" (only entries added after the call).
  virtual Result<std::vector<StreamEntry>> xread(std::string_view key, std::optional<StreamId> after,
                                                 int64_t count, std::chrono::milliseconds block) = 0;
  // XTRIM MAXLEN. Returns how many entries were removed.
  virtual Result<int64_t> xtrim(std::string_view key, uint64_t maxlen, Durability d = Durability::kDefault) = 0;
  virtual Result<int64_t> xdel(std::string_view key, const std::vector<StreamId>& ids,
                               Durability d = Durability::kDefault) = 0;
  // XGROUP CREATE key group <id|$> [MKSTREAM]. `start` nullopt = "$". Conflict (BUSYGROUP) if it exists;
  // NotFound when the stream is missing and !mkstream.
  virtual Status xgroup_create(std::string_view key, std::string_view group, std::optional<StreamId> start,
                               bool mkstream = false, Durability d = Durability::kDefault) = 0;
  virtual Result<bool> xgroup_destroy(std::string_view key, std::string_view group,
                                      Durability d = Durability::kDefault) = 0;
  // XREADGROUP for one stream. `id` nullopt = ">" (new entries: delivered to `consumer` and added to the
  // group's pending list; waits up to `block` when there are none); an explicit id re-reads the consumer's
  // own pending entries after it. NotFound (NOGROUP) when the group or the stream is missing.
  virtual Result<std::vector<StreamEntry>> xreadgroup(std::string_view key, std::string_view group,
                                                      std::string_view consumer, std::optional<StreamId> id,
                                                      int64_t count, std::chrono::milliseconds block,
                                                      Durability d = Durability::kDefault) = 0;
  // Returns how many of `ids` were pending and are now acknowledged.
  virtual Result<int64_t> xack(std::string_view key, std::string_view group, const std::vector<StreamId>& ids,
                               Durability d = Durability::kDefault) = 0;
  virtual Result<PendingSummary> xpending(std::string_view key, std::string_view group) = 0;
  // XPENDING's extended form: pending entries in [start, end], at most count, optionally of one consumer.
  virtual Result<std::vector<PendingEntry>> xpending_range(std::string_view key, std::string_view group,
                                                           StreamId start, StreamId end, int64_t count,
                                                           std::string_view consumer = {}) = 0;
  // XCLAIM: gives `consumer` the entries of `ids` that are pending and idle for at least min_idle_ms;
  // returns them (entries deleted from the stream meanwhile are dropped from the pending list).
  virtual Result<std::vector<StreamEntry>> xclaim(std::string_view key, std::string_view group,
                                                  std::string_view consumer, uint64_t min_idle_ms,
                                                  const std::vector<StreamId>& ids,
                                                  Durability d = Durability::kDefault) = 0;
  virtual Result<std::vector<StreamGroupInfo>> xinfo_groups(std::string_view key) = 0;

  // --- leases ---
  // Acquires `name` for `owner` for `ttl` when it is free, expired or already held by `owner` (then it is
  // renewed, keeping its token). Conflict when another owner holds it. Returns the lease.
  virtual Result<Lease> lease_acquire(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl,
                                      Durability d = Durability::kDefault) = 0;
  // Extends the lease; Conflict unless `owner` holds it (unexpired).
  virtual Result<Lease> lease_renew(std::string_view name, std::string_view owner, std::chrono::milliseconds ttl,
                                    Durability d = Durability::kDefault) = 0;
  // Releases the lease; Conflict unless `owner` holds it. The fencing counter is kept.
  virtual Status lease_release(std::string_view name, std::string_view owner,
                               Durability d = Durability::kDefault) = 0;
  // The current holder; NotFound when free or expired.
  virtual Result<Lease> lease_get(std::string_view name) = 0;

  // --- idempotency keys ---
  // Claims `key` for `ttl` (from now) if nobody has, else reports who did. The claim and the result expire
  // together `ttl` after the claim.
  virtual Result<IdempotencyState> idempotency_begin(std::string_view key, std::chrono::milliseconds ttl,
                                                     Durability d = Durability::kDefault) = 0;
  // Stores the claimed key's result (for every later caller) and wakes waiters. NotFound when the claim
  // expired; Conflict when it is already finished.
  virtual Status idempotency_finish(std::string_view key, std::string_view result,
                                    Durability d = Durability::kDefault) = 0;
  // The whole protocol: the first caller runs `fn` and stores its result; callers that arrive while it runs
  // wait up to `wait` for it; later callers get the stored result without running `fn`. If `fn` fails, the
  // claim is abandoned (deleted) so a retry can run it. Busy when `wait` passes while another caller runs.
  virtual Result<std::string> idempotent(std::string_view key, std::chrono::milliseconds ttl,
                                         const std::function<Result<std::string>()>& fn,
                                         std::chrono::milliseconds wait = std::chrono::seconds(5)) = 0;

  // --- pub/sub (in process; nothing is stored) ---
  using MessageFn = std::function<void(std::string_view channel, std::string_view message)>;
  // Called for every message published to `channel`, until the Subscription is destroyed.
  virtual std::unique_ptr<Subscription> subscribe(std::string_view channel, MessageFn fn) = 0;
  // Called for every message to a channel matching the glob `pattern`.
  virtual std::unique_ptr<Subscription> psubscribe(std::string_view pattern, MessageFn fn) = 0;
  // Returns how many subscriptions received it.
  virtual int64_t publish(std::string_view channel, std::string_view message) = 0;

  // Deletes every expired key now (the sweeper does this every sweep_interval). Returns how many.
  virtual Result<int64_t> sweep_expired() = 0;
};

}  // namespace savepoint
