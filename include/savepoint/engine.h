// Engine: savepoint's core. Keyspaces (each its own RocksDB column family) with an in-memory hot path, a
// commit sequencer that applies transactions atomically and logs their effects to the WAL, a materializer
// that writes them to RocksDB, checkpoints, TTLs and recovery (DESIGN.md; docs/recovery.md).
//
// Thread-safety: every method may be called from any number of threads, except close(), which must not race
// with other calls. Reads never block on disk for memory-resident keyspaces; commits are serialised in one
// short critical section and wait for fsync outside it.
//
// Ownership: Keyspace pointers are owned by the engine and stay valid until it is destroyed (a dropped
// keyspace's pointer answers NotFound).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/clock.h"
#include "savepoint/options.h"
#include "savepoint/stats.h"
#include "savepoint/status.h"
#include "savepoint/value.h"

namespace savepoint {

class Keyspace;  // opaque handle

struct KeyspaceInfo {
  uint32_t id = 0;
  std::string name;
  KeyspaceOptions options;
};

// What an update function decides for its key.
struct Mutation {
  enum class Kind : uint8_t { kKeep, kPut, kRemove };
  Kind kind = Kind::kKeep;
  ValuePtr value;                 // kPut
  uint64_t expire_at_micros = 0;  // kPut; 0 = no expiry
  static Mutation Keep() { return {}; }
  static Mutation Put(ValuePtr v, uint64_t expire_at_micros = 0) {
    return {Kind::kPut, std::move(v), expire_at_micros};
  }
  static Mutation Remove() { return {Kind::kRemove, nullptr, 0}; }
};

// Runs inside the commit sequencer with the key's current entry (nullptr when absent or expired) and the
// engine's current time. A non-OK result aborts the whole transaction with that status, changing nothing.
// Must be quick and must not call back into the engine.
using UpdateFn = std::function<Result<Mutation>(const Entry* current, uint64_t now_micros)>;

// What an apply function (Transaction::apply) sees of the commit being evaluated: reads answer with the
// commit's own earlier writes included; writes join the commit. Valid only during the call.
class CommitContext {
 public:
  virtual ~CommitContext() = default;
  virtual uint64_t now_micros() const = 0;
  // NotFound when absent or expired.
  virtual Result<Entry> get(Keyspace* ks, std::string_view key) = 0;
  virtual Status put(Keyspace* ks, std::string_view key, ValuePtr value, uint64_t expire_at_micros = 0) = 0;
  virtual Status remove(Keyspace* ks, std::string_view key) = 0;
  virtual Status remove_prefix(Keyspace* ks, std::string_view prefix) = 0;
};

// Runs inside the commit sequencer, in order with the transaction's other operations; may read and write
// any keyspaces (a registry keeps its secondary indexes this way). A non-OK status aborts the whole
// transaction, changing nothing. Must be quick and must not call back into the engine.
using ApplyFn = std::function<Status(CommitContext& ctx)>;

// A set of writes and preconditions committed atomically by Engine::commit. Not thread-safe; reusable after
// commit (it is left unchanged).
class Transaction {
 public:
  explicit Transaction(Durability durability = Durability::kDefault) : durability_(durability) {}

  void put(Keyspace* ks, std::string_view key, ValuePtr value, uint64_t expire_at_micros = 0);
  void put(Keyspace* ks, std::string_view key, std::string_view bytes, uint64_t expire_at_micros = 0);
  void remove(Keyspace* ks, std::string_view key);
  // Removes every key of `ks` that starts with `prefix`.
  void remove_prefix(Keyspace* ks, std::string_view prefix);
  // Read-modify-write of one key, evaluated in order with the other operations.
  void update(Keyspace* ks, std::string_view key, UpdateFn fn);
  // Read-modify-write of any keys (see ApplyFn).
  void apply(ApplyFn fn);

  // Preconditions, checked atomically before any write; a failed one is Conflict and changes nothing.
  void require_version(Keyspace* ks, std::string_view key, uint64_t version);  // 0 = absent (WATCH)
  void require_absent(Keyspace* ks, std::string_view key);
  void require_present(Keyspace* ks, std::string_view key);
  void require_value(Keyspace* ks, std::string_view key, std::string_view bytes);  // compare-and-set

  // Raises the durability of this commit above the defaults of the keyspaces it writes (a trade commits
  // kSync). It never lowers them: a commit writing a kSync keyspace is always kSync.
  void set_durability(Durability d) { durability_ = d; }
  Durability durability() const { return durability_; }
  bool empty() const { return ops_.empty(); }

  struct Op {
    enum class Kind : uint8_t { kPut, kRemove, kRemovePrefix, kUpdate, kApply, kRequireVersion, kRequireAbsent,
                                kRequirePresent, kRequireValue };
    Kind kind = Kind::kPut;
    Keyspace* ks = nullptr;
    std::string key;
    ValuePtr value;
    uint64_t number = 0;  // expire_at for kPut, version for kRequireVersion
    UpdateFn fn;
    ApplyFn apply;
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  Op& add(Op::Kind kind, Keyspace* ks, std::string_view key);

  Durability durability_;
  std::vector<Op> ops_;
};

struct CommitInfo {
  uint64_t lsn = 0;      // WAL LSN; 0 when nothing was logged (volatile or coalesced keyspaces only)
  uint64_t version = 0;  // the version given to every key this commit wrote
  uint64_t commit_micros = 0;
};

// A snapshot file that was written (docs/pitr.md).
struct SnapshotInfo {
  std::string path;              // the file in the snapshot directory
  uint64_t lsn = 0;              // every commit with LSN <= this is in it, none after
  uint32_t timeline = 0;
  uint64_t created_micros = 0;   // engine clock when the save started
  uint64_t finished_micros = 0;  // engine clock when it was durable
  uint64_t rows = 0;
  uint64_t data_bytes = 0;       // keys + stored values, uncompressed
  uint64_t file_bytes = 0;
  double seconds = 0;            // wall time the save took
};

// A background save started by Engine::snapshot(). Thread-safe; may outlive the engine.
class SnapshotHandle {
 public:
  virtual ~SnapshotHandle() = default;
  // Known at once: the file will hold exactly the commits with LSN <= lsn() of timeline().
  virtual uint64_t lsn() const = 0;
  virtual uint32_t timeline() const = 0;
  virtual bool done() const = 0;
  // Blocks until the save ended: the file's description, or why it failed.
  virtual Result<SnapshotInfo> wait() = 0;
};

class Engine {
 public:
  // Opens (creating if needed) the engine in options.data_dir and recovers it (docs/recovery.md).
  static Result<std::unique_ptr<Engine>> open(const Options& options);
  virtual ~Engine() = default;  // closes; prefer close() to see its status

  // Drains the materializer, logs coalesced keyspaces, checkpoints, seals the WAL. Idempotent.
  virtual Status close() = 0;

  // --- keyspaces ---
  // Creates the keyspace, or opens it when it exists with compatible options (docs/recovery.md).
  virtual Result<Keyspace*> create_keyspace(std::string_view name, const KeyspaceOptions& options = {}) = 0;
  virtual Result<Keyspace*> find_keyspace(std::string_view name) = 0;
  virtual Status drop_keyspace(std::string_view name) = 0;
  virtual std::vector<KeyspaceInfo> keyspaces() = 0;

  // Builds the Value of stored bytes: the bytes and the object the layer above works with (registries: a
  // typed value, MakeValueWith).
  using Decoder = std::function<Result<ValuePtr>(std::string_view bytes)>;
  // From now on values of `ks` carry their decoded object: every resident value is decoded once, here, and
  // values read from disk later are decoded as they load. Registries call it when they open, so their gets
  // decode nothing. Fails, changing nothing, when a stored value does not decode (naming the key).
  // One decoder per keyspace: the last one set wins, so at most one registry object per keyspace at a time.
  virtual Status set_decoder(Keyspace* ks, Decoder decoder) = 0;

  // --- writes ---
  virtual Result<CommitInfo> commit(const Transaction& txn) = 0;
  // Adds `delta` to the decimal integer stored at `key` (absent = 0), as Redis INCRBY; returns the new value.
  // InvalidArgument if the value is not an integer or the result overflows int64.
  virtual Result<int64_t> increment(Keyspace* ks, std::string_view key, int64_t delta,
                                    Durability durability = Durability::kDefault) = 0;
  // Stores `value` only if `key` is absent (SETNX). Returns whether it stored.
  virtual Result<bool> set_if_absent(Keyspace* ks, std::string_view key, ValuePtr value,
                                     uint64_t expire_at_micros = 0,
                                     Durability durability = Durability::kDefault) = 0;
  // Stores `value` only if the current bytes equal `expected`. Returns whether it stored.
  virtual Result<bool> compare_and_set(Keyspace* ks, std::string_view key, std::string_view expected,
                                       ValuePtr value, Durability durability = Durability::kDefault) = 0;
  // Applies an RFC 7386 JSON merge patch to the JSON document stored at `key` (absent = null). Returns the
  // new document. InvalidArgument when the patch or the stored value is not JSON, or is nested deeper than
  // 512 levels of arrays and objects (the JSON code recurses per level).
  virtual Result<std::string> merge_patch(Keyspace* ks, std::string_view key, std::string_view patch_json,
                                          Durability durability = Durability::kDefault) = 0;

  // --- reads ---
  // NotFound when absent or expired.
  virtual Result<Entry> get(Keyspace* ks, std::string_view key) = 0;
  // MGET: the entries of `keys`, in order, into *out (resized to keys.size()); a key that is absent or expired
  // gets an Entry with a null value. In a memory-resident keyspace the reads overlap their memory accesses, so
  // a batch costs far less than one get() per key (the way a Redis client pipelines GETs). Each entry is read
  // atomically, the batch as a whole is not. InvalidArgument (nothing read) for an invalid key.
  virtual Status get_many(Keyspace* ks, std::span<const std::string_view> keys, std::vector<Entry>* out) = 0;
  // Keys in [start, end) in byte order (end empty = to the end); stops when `fn` returns false. The callback
  // must not call into the engine. Cached keyspaces are scanned from RocksDB once it has caught up.
  virtual Status scan(Keyspace* ks, std::string_view start, std::string_view end,
                      const std::function<bool(std::string_view key, const Entry& entry)>& fn) = 0;
  virtual Result<uint64_t> count(Keyspace* ks) = 0;

  // --- durability and maintenance ---
  // Waits until every commit so far is durable.
  virtual Status sync() = 0;
  // Flushes RocksDB and retires (archiving first, if configured) WAL segments it made redundant.
  virtual Status checkpoint() = 0;
  // Logs a named restore point; returns its LSN.
  virtual Result<uint64_t> create_restore_point(std::string_view name) = 0;
  // Waits until the materializer has applied every durable record (tests, tools).
  virtual Status wait_materialized() = 0;

  // --- snapshots (Redis RDB semantics; docs/pitr.md) ---
  // BGSAVE: starts writing a snapshot of every persistent keyspace at the current applied LSN on a background
  // thread and returns at once. Commits are not blocked. Busy while another save runs (not queued).
  virtual Result<std::shared_ptr<SnapshotHandle>> snapshot() = 0;
  // SAVE: the same, on the calling thread. Busy while another save runs.
  virtual Result<SnapshotInfo> save() = 0;
  // LASTSAVE: the last successful save since open; before the first, lsn 0, an empty path and
  // finished_micros = the time the engine opened.
  virtual SnapshotInfo last_save() = 0;

  // The clock of commit timestamps and TTLs (Options::clock): layers above read time from it too.
  virtual Clock* clock() const = 0;

  virtual Stats stats() = 0;
  virtual std::string stats_json() = 0;
  virtual std::string stats_prometheus() = 0;
};

// Whether `s`, returned by a commit (or sync()), leaves it in doubt: logged and applied, but not known
// durable, because the disk stayed full longer than Options::sync_commit_space_timeout. Its record becomes
// durable when space returns unless the process stops first. Any other NoSpace from a commit means it was
// refused and changed nothing.
bool CommitInDoubt(const Status& s);

}  // namespace savepoint
