// A model fuzzer for Structures (RocksDB's fuzz/db_map_fuzzer.cc idea, grown to Redis's data structures): the
// input drives a sequence of operations on savepoint::Structures and on a plain in-memory model (std::map,
// std::set, std::deque), over an Engine whose WAL lives on a FaultInjectionFileSystem. Between operations
// the input may close and reopen the engine cleanly, cut the power and reopen, or arm a named crash point
// whose hit cuts the power in the middle of whatever reaches it. Every write uses Durability::kSync, so
// nothing acknowledged may be lost; the one operation that failed because the power went off may or may
// not have happened (both are accepted, nothing else).
//
// Checked with __builtin_trap() (after a line on stderr saying what differed):
//   - every operation's result (value or Status kind: WrongType, InvalidArgument, NotFound, Conflict) equals
//     the model's; reads of every kind (ranges by rank and score, pending lists, groups) agree;
//   - after every reopen the whole database equals the model: the live keys, each key's type, TTL and
//     content, stream groups with their pending entries; and after a sweep the engine holds exactly one
//     meta row per live key (expired keys never come back);
//   - the database opens after every crash (the loader's checks pass: list positions contiguous, rows
//     well-formed).
//
// Input format: structures_model_ops.h. At most kMaxOps operations per input keep executions fast; each
// input starts from an empty engine (the in-memory WAL is replaced and the RocksDB directory, on /dev/shm
// when it exists, is wiped), with the clock at a fixed time, so an input replays the same way.
//
// Seeds: fuzz/corpus/structures_model/, made by make_fuzz_corpus. SAVEPOINT_FUZZ_TRACE=1 in the environment
// prints each operation and its result. Crash points cut the power from whatever thread reaches them (the
// materializer, a flush), so an input that fails may not fail on every run.
#include <spdlog/logger.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_impl.h"
#include "fuzz/structures_model_ops.h"
#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/structures.h"

namespace savepoint::fuzz {
namespace {

constexpr int kMaxOps = 64;
constexpr uint64_t kStartMicros = 1'700'000'000'000'000ULL;
constexpr Durability kSync = Durability::kSync;

// SAVEPOINT_FUZZ_TRACE=1 prints every operation and its result (to follow a failing input).
const bool kTrace = std::getenv("SAVEPOINT_FUZZ_TRACE") != nullptr;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "structures_model_fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

std::string Printable(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto b = static_cast<uint8_t>(c);
    if (b >= 0x20 && b < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
    }
  }
  return out + "\"";
}

// ------------------------------------------------------------------------------------------------ input

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint8_t peek() const { return pos_ < size_ ? data_[pos_] : 0; }
  bool done() const { return pos_ >= size_; }
  template <typename T, size_t N>
  const T& pick(const T (&pool)[N]) {
    return pool[byte() % N];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Pools. Keys include names that are byte prefixes of each other ("a", "a\0", "a\0\xff"), whose element rows
// must never mix, and the empty key, which the engine refuses to write (so every write to it must fail and
// change nothing).
const std::string kKeys[] = {"a", "a", "b", "b", std::string("a\0", 2), "c", std::string("a\0\xff", 3), ""};
const std::string kFields[] = {"f", "g", "", std::string("\0", 1), "h\xff", std::string("f\0", 2)};
const std::string kValues[] = {"v", "1", "-5", "9223372036854775807", "-9223372036854775808", "01", "x y", ""};
const int64_t kDeltas[] = {1, -1, 5, 0, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                           100, -100};
const double kScores[] = {0.0, -0.0, 1.0, -1.0, 2.5, HUGE_VAL, -HUGE_VAL, std::nan(""), 1e300, 1e-300};
const std::string kGroups[] = {"g1", "g2", std::string("g\0", 2)};
const std::string kConsumers[] = {"c1", "c2", "c1", ""};
const int64_t kExpireMs[] = {-1, 0, 1, 2, 1000, 5000};
const uint64_t kSetPx[] = {1, 2, 1000};
const uint64_t kClockSteps[] = {1, 999, 1000, 2000, 1'000'000, 5'000'000};
const int64_t kCounts[] = {0, 1, 2, -1};
const uint64_t kMaxLens[] = {0, 1, 2, 3};
const uint64_t kMinIdle[] = {0, 1, 1000};
const char* const kPatches[] = {R"({"a":1})", R"({"a":null})", R"({"b":{"c":2}})", "[1]", R"("x")", "null", "{",
                                R"({"b":{"c":null,"d":[]}})"};
const char* const kCrashPoints[] = {"wal.after_write_before_sync", "wal.after_sync_before_ack",
                                    "engine.after_wal_append_before_apply", "wal.before_segment_create",
                                    "wal.after_segment_header", "engine.before_materialize",
                                    "engine.after_materialize", "engine.before_flush", "engine.after_flush",
                                    "engine.before_wal_retire"};

// ------------------------------------------------------------------------------------------------ model

struct MPending {
  std::string consumer;
  uint64_t delivery_ms = 0;
  uint64_t count = 0;
  bool operator==(const MPending&) const = default;
};
struct MGroup {
  StreamId last_delivered;
  std::map<StreamId, MPending> pending;
  std::set<std::string> consumers;
  bool operator==(const MGroup&) const = default;
};
struct MObj {
  StructureType type = StructureType::kNone;
  uint64_t expire_at = 0;
  std::string str;
  std::map<std::string, std::string> hash;
  std::set<std::string> set;
  std::map<std::string, double> zset;
  std::deque<std::string> list;
  std::map<StreamId, StreamFields> entries;
  StreamId last_id;
  std::map<std::string, MGroup, std::less<>> groups;
};

using Code = Status::Code;

// What the model says an operation returns.
template <typename T>
struct Want {
  Code code = Code::kOk;
  T value{};
};
template <typename T>
Want<T> Error(Code c) {
  return Want<T>{c, T{}};
}

bool SameDouble(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Redis's strict integer (what incrby accepts): the canonical decimal text of an int64.
bool ParseStrict(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  errno = 0;
  char* end = nullptr;
  const long long parsed = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  if (std::to_string(parsed) != s) return false;
  *v = parsed;
  return true;
}

class Model {
 public:
  std::map<std::string, MObj> objs;

  // The live object of `key`; an expired one is dropped (it reads as absent, and a write starts afresh).
  MObj* live(const std::string& key, uint64_t now) {
    auto it = objs.find(key);
    if (it == objs.end()) return nullptr;
    if (it->second.expire_at != 0 && it->second.expire_at <= now) {
      objs.erase(it);
      return nullptr;
    }
    return &it->second;
  }
  // A live object of `type`, nullptr when absent; WrongType in *code when of another type.
  MObj* typed(const std::string& key, StructureType type, uint64_t now, Code* code) {
    MObj* o = live(key, now);
    *code = o != nullptr && o->type != type ? Code::kWrongType : Code::kOk;
    return *code == Code::kOk ? o : nullptr;
  }
  MObj& create(const std::string& key, StructureType type) {
    MObj& o = objs[key];
    o = MObj{};
    o.type = type;
    return o;
  }
  std::vector<std::string> live_keys(uint64_t now) {
    std::vector<std::string> out;
    for (auto it = objs.begin(); it != objs.end();) {
      if (it->second.expire_at != 0 && it->second.expire_at <= now) {
        it = objs.erase(it);
      } else {
        out.push_back(it->first);
        ++it;
      }
    }
    return out;
  }
};

// Sorted-set members in (score, member) order.
std::vector<ScoredMember> ZOrder(const MObj& o) {
  std::vector<ScoredMember> v;
  for (const auto& [m, s] : o.zset) v.push_back({m, s});
  std::sort(v.begin(), v.end(), [](const ScoredMember& a, const ScoredMember& b) {
    return a.score < b.score || (!(b.score < a.score) && a.member < b.member);
  });
  return v;
}

bool SameMembers(const std::vector<ScoredMember>& a, const std::vector<ScoredMember>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].member != b[i].member || !SameDouble(a[i].score, b[i].score)) return false;
  }
  return true;
}

// Redis's rank range: negative indexes from the end; [lo, hi] or empty.
bool RankRange(int64_t len, int64_t start, int64_t stop, int64_t* lo, int64_t* hi) {
  if (start < 0) start = std::max<int64_t>(start + len, 0);
  if (stop < 0) stop += len;
  if (stop >= len) stop = len - 1;
  if (start > stop || start >= len) return false;
  *lo = start;
  *hi = stop;
  return true;
}

bool InScoreRange(double s, ScoreBound min, ScoreBound max) {
  const bool above = min.exclusive ? s > min.value : s >= min.value;
  const bool below = max.exclusive ? s < max.value : s <= max.value;
  return above && below;
}

// ---------------------------------------------------------------------------------------------- harness

std::string Describe(const std::string& s) { return Printable(s); }
std::string Describe(int64_t v) { return std::to_string(v); }
std::string Describe(bool v) { return v ? "true" : "false"; }
std::string Describe(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}
std::string Describe(StreamId id) { return id.ToString(); }
std::string Describe(const std::optional<std::string>& v) { return v ? Printable(*v) : "(nil)"; }
std::string Describe(const std::optional<double>& v) { return v ? Describe(*v) : "(nil)"; }
std::string Describe(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "(nil)"; }
template <typename T>
std::string Describe(const std::vector<T>& v) {
  return "[" + std::to_string(v.size()) + " items]";
}
std::string Describe(const std::monostate&) { return "-"; }

template <typename T>
bool Same(const T& a, const T& b) {
  return a == b;
}
template <>
bool Same<double>(const double& a, const double& b) {
  return SameDouble(a, b);
}
template <>
bool Same<std::optional<double>>(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a || SameDouble(*a, *b));
}
template <>
bool Same<std::vector<ScoredMember>>(const std::vector<ScoredMember>& a, const std::vector<ScoredMember>& b) {
  return SameMembers(a, b);
}

class Harness {
 public:
  Harness() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    if (tmp == nullptr && std::filesystem::is_directory("/dev/shm")) base = "/dev/shm";
    std::string templ = base + "/savepoint-fuzz-structures-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) Fail("mkdtemp failed");
    dir_ = templ;
    logger_ = std::make_shared<spdlog::logger>("fuzz-quiet");
  }
  ~Harness() {
    shutdown();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void run(const uint8_t* data, size_t size);

 private:
  // --- engine lifecycle ---
  Options options() {
    Options o;
    o.data_dir = dir_ + "/data";
    o.file_system = fs_.get();
    o.clock = &clock_;
    o.logger = logger_;
    o.wal_segment_size = 4096;  // segments roll every few commits: recovery reads across many
    o.checkpoint_interval = std::chrono::hours(1);
    o.rocksdb_block_cache_bytes = 1 << 20;
    o.rocksdb_write_buffer_bytes = 1 << 20;
    o.rocksdb_background_jobs = 1;
    return o;
  }
  void open() {
    auto e = Engine::open(options());
    if (!e.ok()) Fail("Engine::open: " + e.status().ToString());
    engine_ = std::move(e).value();
    StructuresOptions so;
    so.sweep_interval = std::chrono::hours(1);  // sweeps only when the input says so
    auto db = Structures::open(engine_.get(), "db", so);
    if (!db.ok()) Fail("Structures::open: " + db.status().ToString());
    db_ = std::move(db).value();
  }
  void abandon() {
    db_.reset();
    if (engine_ != nullptr) {
      fs_->cut_power();
      static_cast<engine::EngineImpl*>(engine_.get())->abandon_for_crash_test();
      engine_.reset();
    }
    DisarmAllCrashPoints();
  }
  void shutdown() {
    abandon();
    fs_.reset();
    mem_.reset();
  }
  void reset() {
    shutdown();
    std::error_code ec;
    std::filesystem::remove_all(dir_ + "/data", ec);
    mem_ = NewMemFileSystem();
    fs_ = std::make_unique<FaultInjectionFileSystem>(mem_.get());
    clock_.set_micros(kStartMicros);
    model_ = Model{};
    open();
  }
  // Cuts the power, restarts the disk as `how` says and reopens; the database must equal one of the
  // candidates (the model, or the model with the operation in flight applied).
  void power_cut(const PowerCutOptions& how, const std::optional<Model>& maybe) {
    if (kTrace) {
      std::fprintf(stderr, "  power cut%s\n", maybe.has_value() ? " (an operation in flight)" : "");
    }
    abandon();
    Status s = fs_->restart(how);
    if (!s.ok()) Fail("restart after the power cut: " + s.ToString());
    open();
    verify(maybe);
  }
  void reopen() {
    db_.reset();
    Status s = engine_->close();
    if (!s.ok()) {
      // A crash point cut the power during the close: a power cut after all.
      if (!fs_->power_is_off()) Fail("close: " + s.ToString());
      power_cut({}, std::nullopt);
      return;
    }
    engine_.reset();
    DisarmAllCrashPoints();
    open();
    verify(std::nullopt);
  }
  void verify(const std::optional<Model>& maybe) {
    std::string diff = compare_all(model_);
    if (diff.empty()) return;
    if (maybe.has_value()) {
      Model with = *maybe;
      const std::string diff2 = compare_all(with);
      if (diff2.empty()) {
        model_ = std::move(with);
        return;
      }
      diff += "; nor with the operation in flight: " + diff2;
    }
    Fail("after reopening, the database differs from the model: " + diff);
  }

  uint64_t now() { return clock_.now_micros(); }

  // --- comparison of one operation ---
  // Called after the model applied an operation (model_ changed from before_): `got` must match `want`.
  // When the power went off, a failed operation may or may not have happened.
  template <typename T, typename G>
  void settle(const char* op, const std::string& key, const Result<G>& got, const Want<T>& want) {
    if (kTrace) {
      std::fprintf(stderr, "  %s %s: %s\n", op, Printable(key).c_str(),
                   got.ok() ? Describe(static_cast<const T&>(*got)).c_str() : got.status().ToString().c_str());
    }
    if (got.ok() && want.code == Code::kOk && Same<T>(static_cast<const T&>(*got), want.value)) return;
    if (!got.ok() && got.status().code() == want.code) {
      model_ = before_;  // refused: nothing changed
      return;
    }
    if (!got.ok() && fs_->power_is_off()) {
      std::optional<Model> maybe;
      if (want.code == Code::kOk) maybe = model_;
      model_ = before_;
      power_cut({}, maybe);
      return;
    }
    std::string msg = std::string(op) + " " + Printable(key) + ": got ";
    msg += got.ok() ? Describe(static_cast<const T&>(*got)) : got.status().ToString();
    msg += ", the model says ";
    msg += want.code == Code::kOk ? Describe(want.value) : "status code " + std::to_string(static_cast<int>(want.code));
    Fail(msg);
  }
  // The empty key cannot be written: a write that would change it is refused by the engine.
  template <typename T>
  Want<T> finish(const std::string& key, Want<T> want, bool mutates) {
    if (key.empty() && mutates && want.code == Code::kOk) {
      model_ = before_;
      return Error<T>(Code::kInvalidArgument);
    }
    return want;
  }
  void begin() { before_ = model_; }

  // --- whole-database comparison ---
  std::string compare_all(Model& m);
  std::string compare_key(const std::string& key, const MObj* o);

  // --- operations ---
  void step(Input& in);
  void op_set(Input& in);
  void op_get(Input& in);
  void op_del(Input& in);
  void op_incrby(Input& in);
  void op_hset(Input& in);
  void op_hdel(Input& in);
  void op_hincrby(Input& in);
  void op_sadd_srem(Input& in, bool add);
  void op_zadd(Input& in);
  void op_zincrby(Input& in);
  void op_zrem(Input& in);
  void op_zremrangebyscore(Input& in);
  void op_push(Input& in);
  void op_pop(Input& in);
  void op_xadd(Input& in);
  void op_xdel(Input& in);
  void op_xtrim(Input& in);
  void op_xgroup_create(Input& in);
  void op_xreadgroup(Input& in);
  void op_xack(Input& in);
  void op_xclaim(Input& in);
  void op_xgroup_destroy(Input& in);
  void op_pexpire(Input& in);
  void op_persist(Input& in);
  void op_read(Input& in);
  void op_cas(Input& in);
  void op_merge_patch(Input& in);

  std::string dir_;
  std::shared_ptr<spdlog::logger> logger_;
  ManualClock clock_{kStartMicros};
  std::unique_ptr<FileSystem> mem_;
  std::unique_ptr<FaultInjectionFileSystem> fs_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Structures> db_;
  Model model_, before_;
};

// ------------------------------------------------------------------------------------------ comparison

std::string Harness::compare_key(const std::string& key, const MObj* o) {
  const std::string k = Printable(key);
  auto type = db_->type(key);
  if (!type.ok()) return "type " + k + ": " + type.status().ToString();
  const StructureType want_type = o == nullptr ? StructureType::kNone : o->type;
  if (*type != want_type) {
    return "type " + k + " is " + StructureTypeName(*type) + ", the model says " + StructureTypeName(want_type);
  }
  auto ttl = db_->pttl(key);
  const int64_t want_ttl = o == nullptr ? -2 : o->expire_at == 0 ? -1 : static_cast<int64_t>((o->expire_at - now()) / 1000);
  if (!ttl.ok() || *ttl != want_ttl) {
    return "pttl " + k + " is " + (ttl.ok() ? std::to_string(*ttl) : ttl.status().ToString()) + ", the model says " +
           std::to_string(want_ttl);
  }
  if (o == nullptr) return "";
  switch (o->type) {
    case StructureType::kString: {
      auto v = db_->get(key);
      if (!v.ok() || !v->has_value() || **v != o->str) return "get " + k + " differs";
      return "";
    }
    case StructureType::kHash: {
      auto v = db_->hgetall(key);
      std::vector<std::pair<std::string, std::string>> want(o->hash.begin(), o->hash.end());
      if (!v.ok() || *v != want) {
        auto fields = [](const std::vector<std::pair<std::string, std::string>>& f) {
          std::string out;
          for (const auto& [name, value] : f) out += " " + Printable(name) + "=" + Printable(value);
          return out;
        };
        return "hgetall " + k + " is" + (v.ok() ? fields(*v) : " " + v.status().ToString()) + ", the model says" +
               fields(want);
      }
      auto n = db_->hlen(key);
      if (!n.ok() || *n != static_cast<int64_t>(want.size())) return "hlen " + k + " differs";
      return "";
    }
    case StructureType::kSet: {
      auto v = db_->smembers(key);
      std::vector<std::string> want(o->set.begin(), o->set.end());
      if (!v.ok() || *v != want) return "smembers " + k + " differs";
      auto n = db_->scard(key);
      if (!n.ok() || *n != static_cast<int64_t>(want.size())) return "scard " + k + " differs";
      return "";
    }
    case StructureType::kZSet: {
      auto v = db_->zrange(key, 0, -1);
      if (!v.ok() || !SameMembers(*v, ZOrder(*o))) return "zrange " + k + " differs";
      auto n = db_->zcard(key);
      if (!n.ok() || *n != static_cast<int64_t>(o->zset.size())) return "zcard " + k + " differs";
      return "";
    }
    case StructureType::kList: {
      auto v = db_->lrange(key, 0, -1);
      if (!v.ok() || *v != std::vector<std::string>(o->list.begin(), o->list.end())) return "lrange " + k + " differs";
      auto n = db_->llen(key);
      if (!n.ok() || *n != static_cast<int64_t>(o->list.size())) return "llen " + k + " differs";
      return "";
    }
    case StructureType::kStream: {
      auto v = db_->xrange(key, StreamId::Min(), StreamId::Max());
      std::vector<StreamEntry> want;
      for (const auto& [id, f] : o->entries) want.push_back({id, f});
      if (!v.ok() || *v != want) {
        return "xrange " + k + " has " + (v.ok() ? std::to_string(v->size()) : v.status().ToString()) +
               " entries, the model " + std::to_string(want.size());
      }
      auto groups = db_->xinfo_groups(key);
      if (!groups.ok() || groups->size() != o->groups.size()) return "xinfo_groups " + k + " differs in size";
      size_t i = 0;
      const uint64_t now_ms = now() / 1000;
      for (const auto& [name, g] : o->groups) {
        const StreamGroupInfo& got = (*groups)[i++];
        if (got.name != name || got.last_delivered != g.last_delivered || got.consumers != g.consumers.size() ||
            got.pending != g.pending.size()) {
          return "group " + Printable(name) + " of " + k + ": last delivered " + got.last_delivered.ToString() +
                 " (model " + g.last_delivered.ToString() + "), consumers " + std::to_string(got.consumers) +
                 " (model " + std::to_string(g.consumers.size()) + "), pending " + std::to_string(got.pending) +
                 " (model " + std::to_string(g.pending.size()) + ")";
        }
        auto pel = db_->xpending_range(key, name, StreamId::Min(), StreamId::Max(), -1);
        if (!pel.ok() || pel->size() != g.pending.size()) return "xpending_range " + k + " differs in size";
        size_t j = 0;
        for (const auto& [id, p] : g.pending) {
          const PendingEntry& e = (*pel)[j++];
          const uint64_t idle = now_ms > p.delivery_ms ? now_ms - p.delivery_ms : 0;
          if (e.id != id || e.consumer != p.consumer || e.idle_ms != idle || e.delivery_count != p.count) {
            return "pending entry " + id.ToString() + " of group " + Printable(name) + " of " + k + " differs";
          }
        }
      }
      return "";
    }
    default:
      return "unexpected type in the model";
  }
}

std::string Harness::compare_all(Model& m) {
  std::swap(m, model_);  // compare_key reads model_ objects through `o` only; now() is shared
  const std::vector<std::string> want = model_.live_keys(now());
  std::string diff;
  auto keys = db_->keys("*");
  if (!keys.ok()) {
    diff = "keys: " + keys.status().ToString();
  } else if (*keys != want) {
    diff = "keys: the database has " + std::to_string(keys->size()) + " live keys, the model " +
           std::to_string(want.size());
    for (const std::string& k : *keys) {
      if (!std::binary_search(want.begin(), want.end(), k)) diff += "; extra " + Printable(k);
    }
    for (const std::string& k : want) {
      if (!std::binary_search(keys->begin(), keys->end(), k)) diff += "; missing " + Printable(k);
    }
  }
  for (size_t i = 0; diff.empty() && i < want.size(); i++) diff = compare_key(want[i], &model_.objs[want[i]]);
  if (diff.empty()) {
    // Expired keys are deleted by a sweep and never come back: then the engine holds one meta row per key.
    auto swept = db_->sweep_expired();
    auto size = db_->dbsize();
    if (!swept.ok() || !size.ok() || *size != want.size()) {
      diff = "after a sweep the database holds " + (size.ok() ? std::to_string(*size) : size.status().ToString()) +
             " keys, the model " + std::to_string(want.size());
    }
  }
  std::swap(m, model_);
  return diff;
}

// ------------------------------------------------------------------------------------------ operations

void Harness::op_set(Input& in) {
  const std::string key = in.pick(kKeys), value = in.pick(kValues);
  const uint8_t flags = in.byte();
  SetOptions o;
  o.nx = (flags & 1) != 0;
  o.xx = (flags & 2) != 0 && (flags & 0x80) != 0;  // both only rarely
  o.keep_ttl = (flags & 4) != 0;
  o.expire_ms = (flags & 8) != 0 ? in.pick(kSetPx) : 0;
  begin();
  Want<bool> want;
  bool mutates = false;
  if ((o.nx && o.xx) || (o.keep_ttl && o.expire_ms != 0)) {
    want = Error<bool>(Code::kInvalidArgument);
  } else {
    MObj* cur = model_.live(key, now());
    if ((o.nx && cur != nullptr) || (o.xx && cur == nullptr)) {
      want.value = false;
    } else {
      const uint64_t keep = o.keep_ttl && cur != nullptr ? cur->expire_at : 0;
      MObj& obj = model_.create(key, StructureType::kString);
      obj.str = value;
      obj.expire_at = o.expire_ms != 0 ? now() + o.expire_ms * 1000 : keep;
      want.value = true;
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  settle("set", key, db_->set(key, value, o, kSync), want);
}

void Harness::op_get(Input& in) {
  const std::string key = in.pick(kKeys);
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kString, now(), &c);
  Want<std::optional<std::string>> want{c, o != nullptr ? std::optional<std::string>(o->str) : std::nullopt};
  settle("get", key, db_->get(key), want);
}

void Harness::op_del(Input& in) {
  const std::string key = in.pick(kKeys);
  begin();
  Want<bool> want;
  want.value = model_.live(key, now()) != nullptr;
  model_.objs.erase(key);
  settle("del", key, db_->del(key, kSync), want);
}

void Harness::op_incrby(Input& in) {
  const std::string key = in.pick(kKeys);
  const int64_t delta = in.pick(kDeltas);
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kString, now(), &c);
  Want<int64_t> want{c, 0};
  bool mutates = false;
  if (c == Code::kOk) {
    int64_t v = 0;
    if (o != nullptr && !ParseStrict(o->str, &v)) {
      want.code = Code::kInvalidArgument;
    } else if (__builtin_add_overflow(v, delta, &v)) {
      want.code = Code::kInvalidArgument;
    } else {
      const uint64_t expire_at = o != nullptr ? o->expire_at : 0;
      MObj& n = model_.create(key, StructureType::kString);
      n.str = std::to_string(v);
      n.expire_at = expire_at;
      want.value = v;
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  settle("incrby", key, db_->incrby(key, delta, kSync), want);
}

void Harness::op_hset(Input& in) {
  const std::string key = in.pick(kKeys);
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back(in.pick(kFields), in.pick(kValues));
  if (in.byte() & 1) fields.emplace_back(in.pick(kFields), in.pick(kValues));
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kHash, now(), &c);
  Want<int64_t> want{c, 0};
  if (c == Code::kOk) {
    if (o == nullptr) o = &model_.create(key, StructureType::kHash);
    std::set<std::string> fresh;
    for (const auto& [f, v] : fields) {
      if (!o->hash.contains(f)) fresh.insert(f);
    }
    // A field named twice: the later value wins, and it counts once.
    for (const auto& [f, v] : fields) o->hash[f] = v;
    want.value = static_cast<int64_t>(fresh.size());
  }
  want = finish(key, want, c == Code::kOk);
  settle("hset", key, db_->hset(key, fields, kSync), want);
}

void Harness::op_hdel(Input& in) {
  const std::string key = in.pick(kKeys);
  std::vector<std::string> fields = {in.pick(kFields)};
  if (in.byte() & 1) fields.push_back(in.pick(kFields));
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kHash, now(), &c);
  Want<int64_t> want{c, 0};
  if (o != nullptr) {
    for (const std::string& f : fields) want.value += o->hash.erase(f);
    if (o->hash.empty()) model_.objs.erase(key);
  }
  settle("hdel", key, db_->hdel(key, fields, kSync), want);
}

void Harness::op_hincrby(Input& in) {
  const std::string key = in.pick(kKeys), field = in.pick(kFields);
  const int64_t delta = in.pick(kDeltas);
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kHash, now(), &c);
  Want<int64_t> want{c, 0};
  bool mutates = false;
  if (c == Code::kOk) {
    int64_t v = 0;
    auto it = o != nullptr ? o->hash.find(field) : std::map<std::string, std::string>::iterator{};
    if (o != nullptr && it != o->hash.end() && !ParseStrict(it->second, &v)) {
      want.code = Code::kInvalidArgument;
    } else if (__builtin_add_overflow(v, delta, &v)) {
      want.code = Code::kInvalidArgument;
    } else {
      if (o == nullptr) o = &model_.create(key, StructureType::kHash);
      o->hash[field] = std::to_string(v);
      want.value = v;
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  settle("hincrby", key, db_->hincrby(key, field, delta, kSync), want);
}

void Harness::op_sadd_srem(Input& in, bool add) {
  const std::string key = in.pick(kKeys);
  std::vector<std::string> members = {in.pick(kFields)};
  if (in.byte() & 1) members.push_back(in.pick(kFields));
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kSet, now(), &c);
  Want<int64_t> want{c, 0};
  if (c == Code::kOk && add) {
    if (o == nullptr) o = &model_.create(key, StructureType::kSet);
    for (const std::string& m : members) want.value += o->set.insert(m).second ? 1 : 0;
  } else if (o != nullptr) {
    for (const std::string& m : members) want.value += static_cast<int64_t>(o->set.erase(m));
    if (o->set.empty()) model_.objs.erase(key);
  }
  want = finish(key, want, add && want.value > 0);
  if (add) {
    settle("sadd", key, db_->sadd(key, members, kSync), want);
  } else {
    settle("srem", key, db_->srem(key, members, kSync), want);
  }
}

void Harness::op_zadd(Input& in) {
  const std::string key = in.pick(kKeys);
  std::vector<ScoredMember> members = {{in.pick(kFields), in.pick(kScores)}};
  const uint8_t flags = in.byte();
  if (flags & 32) members.push_back({in.pick(kFields), in.pick(kScores)});
  ZAddOptions o;
  o.nx = flags & 1;
  o.xx = flags & 2;
  o.gt = flags & 4;
  o.lt = flags & 8;
  o.ch = flags & 16;
  begin();
  Want<int64_t> want;
  bool mutates = false;
  bool nan = false;
  for (const ScoredMember& m : members) nan |= std::isnan(m.score);
  if ((o.nx && o.xx) || (o.gt && o.lt) || (o.nx && (o.gt || o.lt)) || nan) {
    want.code = Code::kInvalidArgument;
  } else {
    Code c;
    MObj* z = model_.typed(key, StructureType::kZSet, now(), &c);
    want.code = c;
    if (c == Code::kOk) {
      std::map<std::string, double> next = z != nullptr ? z->zset : std::map<std::string, double>{};
      int64_t added = 0, changed = 0;
      for (const ScoredMember& m : members) {
        auto it = next.find(m.member);
        if (it == next.end()) {
          if (o.xx) continue;
          next[m.member] = m.score;
          ++added;
        } else {
          const double cur = it->second;
          if (o.nx || (o.gt && !(m.score > cur)) || (o.lt && !(m.score < cur)) || m.score == cur) continue;
          it->second = m.score;
          ++changed;
        }
      }
      mutates = added + changed > 0;
      if (mutates) {
        if (z == nullptr) z = &model_.create(key, StructureType::kZSet);
        z->zset = std::move(next);
      }
      want.value = o.ch ? added + changed : added;
    }
  }
  want = finish(key, want, mutates);
  settle("zadd", key, db_->zadd(key, members, o, kSync), want);
}

void Harness::op_zincrby(Input& in) {
  const std::string key = in.pick(kKeys);
  const double delta = in.pick(kScores);
  const std::string member = in.pick(kFields);
  begin();
  Want<double> want;
  bool mutates = false;
  if (std::isnan(delta)) {
    want.code = Code::kInvalidArgument;
  } else {
    Code c;
    MObj* z = model_.typed(key, StructureType::kZSet, now(), &c);
    want.code = c;
    if (c == Code::kOk) {
      double score = delta;
      if (z != nullptr && z->zset.contains(member)) score = z->zset[member] + delta;
      if (std::isnan(score)) {
        want.code = Code::kInvalidArgument;
      } else {
        if (z == nullptr) z = &model_.create(key, StructureType::kZSet);
        z->zset[member] = score;
        want.value = score;
        mutates = true;
      }
    }
  }
  want = finish(key, want, mutates);
  settle("zincrby", key, db_->zincrby(key, delta, member, kSync), want);
}

void Harness::op_zrem(Input& in) {
  const std::string key = in.pick(kKeys), member = in.pick(kFields);
  begin();
  Code c;
  MObj* z = model_.typed(key, StructureType::kZSet, now(), &c);
  Want<int64_t> want{c, 0};
  if (z != nullptr) {
    want.value = static_cast<int64_t>(z->zset.erase(member));
    if (z->zset.empty()) model_.objs.erase(key);
  }
  settle("zrem", key, db_->zrem(key, {member}, kSync), want);
}

void Harness::op_zremrangebyscore(Input& in) {
  const std::string key = in.pick(kKeys);
  ScoreBound min{in.pick(kScores)}, max{in.pick(kScores)};
  const uint8_t flags = in.byte();
  min.exclusive = flags & 1;
  max.exclusive = flags & 2;
  begin();
  Code c;
  MObj* z = model_.typed(key, StructureType::kZSet, now(), &c);
  Want<int64_t> want{c, 0};
  if (z != nullptr && !std::isnan(min.value) && !std::isnan(max.value)) {
    for (auto it = z->zset.begin(); it != z->zset.end();) {
      if (InScoreRange(it->second, min, max)) {
        it = z->zset.erase(it);
        ++want.value;
      } else {
        ++it;
      }
    }
    if (z->zset.empty()) model_.objs.erase(key);
  }
  settle("zremrangebyscore", key, db_->zremrangebyscore(key, min, max, kSync), want);
}

void Harness::op_push(Input& in) {
  const std::string key = in.pick(kKeys);
  const bool left = in.byte() & 1;
  std::vector<std::string> values = {in.pick(kValues)};
  if (in.byte() & 1) values.push_back(in.pick(kValues));
  begin();
  Code c;
  MObj* l = model_.typed(key, StructureType::kList, now(), &c);
  Want<int64_t> want{c, 0};
  if (c == Code::kOk) {
    if (l == nullptr) l = &model_.create(key, StructureType::kList);
    for (const std::string& v : values) {
      if (left) {
        l->list.push_front(v);
      } else {
        l->list.push_back(v);
      }
    }
    want.value = static_cast<int64_t>(l->list.size());
  }
  want = finish(key, want, c == Code::kOk);
  settle(left ? "lpush" : "rpush", key, left ? db_->lpush(key, values, kSync) : db_->rpush(key, values, kSync),
         want);
}

void Harness::op_pop(Input& in) {
  const std::string key = in.pick(kKeys);
  const bool left = in.byte() & 1;
  begin();
  Code c;
  MObj* l = model_.typed(key, StructureType::kList, now(), &c);
  Want<std::optional<std::string>> want{c, std::nullopt};
  if (l != nullptr) {
    if (left) {
      want.value = l->list.front();
      l->list.pop_front();
    } else {
      want.value = l->list.back();
      l->list.pop_back();
    }
    if (l->list.empty()) model_.objs.erase(key);
  }
  settle(left ? "lpop" : "rpop", key, left ? db_->lpop(key, kSync) : db_->rpop(key, kSync), want);
}

void Harness::op_xadd(Input& in) {
  const std::string key = in.pick(kKeys);
  StreamFields fields = {{in.pick(kFields), in.pick(kValues)}};
  const uint8_t flags = in.byte();
  const uint8_t id_kind = in.byte(), maxlen_pick = in.byte();
  if (flags & 4) fields.emplace_back(in.pick(kFields), in.pick(kValues));
  XAddOptions o;
  o.nomkstream = (flags & 8) != 0;
  if (flags & 2) o.maxlen = kMaxLens[maxlen_pick % std::size(kMaxLens)];
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  const StreamId last = s != nullptr ? s->last_id : StreamId{};
  if (flags & 1) {
    switch (id_kind % 6) {
      case 0: o.id = StreamId{0, 0}; break;
      case 1: o.id = StreamId{1, 1}; break;
      case 2: o.id = last; break;
      case 3: o.id = StreamId{last.ms, last.seq + 1}; break;  // wraps at the very end: then it is refused
      case 4: o.id = StreamId{now() / 1000 + 5, 0}; break;
      default: o.id = StreamId{~0ull, ~0ull - (id_kind >> 3) % 2}; break;
    }
  }
  Want<StreamId> want{c, {}};
  bool mutates = false;
  if (c == Code::kOk) {
    StreamId id;
    if (s == nullptr && o.nomkstream) {
      want.code = Code::kNotFound;
    } else if (o.id.has_value()) {
      id = *o.id;
      if (id == StreamId{} || id <= last) want.code = Code::kInvalidArgument;
    } else {
      const uint64_t ms = now() / 1000;
      if (ms > last.ms) {
        id = {ms, 0};
      } else if (last.seq != ~0ull) {
        id = {last.ms, last.seq + 1};
      } else if (last.ms != ~0ull) {
        id = {last.ms + 1, 0};
      } else {
        want.code = Code::kInvalidArgument;  // the stream has used the last possible ID
      }
    }
    if (want.code == Code::kOk) {
      if (s == nullptr) s = &model_.create(key, StructureType::kStream);
      s->entries[id] = fields;
      s->last_id = id;
      if (o.maxlen.has_value()) {
        while (s->entries.size() > *o.maxlen) s->entries.erase(s->entries.begin());
      }
      want.value = id;
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  settle("xadd", key, db_->xadd(key, fields, o, kSync), want);
}

// An entry ID of the stream at `key` chosen by `which` (an existing one, or one that does not exist).
StreamId PickEntry(const MObj* s, uint8_t which) {
  if (s == nullptr || s->entries.empty() || which % 4 == 3) return StreamId{7, which};
  auto it = s->entries.begin();
  std::advance(it, which % s->entries.size());
  return it->first;
}

void Harness::op_xdel(Input& in) {
  const std::string key = in.pick(kKeys);
  const uint8_t which = in.byte();
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  const StreamId id = PickEntry(s, which);
  Want<int64_t> want{c, 0};
  if (s != nullptr) want.value = static_cast<int64_t>(s->entries.erase(id));
  settle("xdel", key, db_->xdel(key, {id}, kSync), want);
}

void Harness::op_xtrim(Input& in) {
  const std::string key = in.pick(kKeys);
  const uint64_t maxlen = in.pick(kMaxLens);
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  Want<int64_t> want{c, 0};
  if (s != nullptr) {
    while (s->entries.size() > maxlen) {
      s->entries.erase(s->entries.begin());
      ++want.value;
    }
  }
  settle("xtrim", key, db_->xtrim(key, maxlen, kSync), want);
}

void Harness::op_xgroup_create(Input& in) {
  const std::string key = in.pick(kKeys), group = in.pick(kGroups);
  const uint8_t start_kind = in.byte();
  const bool mkstream = in.byte() & 1;
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  std::optional<StreamId> start;
  if (start_kind % 3 == 1) start = StreamId{0, 0};
  if (start_kind % 3 == 2) start = s != nullptr && !s->entries.empty() ? s->entries.begin()->first : StreamId{1, 0};
  Want<std::monostate> want{c, {}};
  bool mutates = false;
  if (c == Code::kOk) {
    if (s == nullptr && !mkstream) {
      want.code = Code::kNotFound;
    } else if (s != nullptr && s->groups.contains(group)) {
      want.code = Code::kConflict;
    } else {
      const StreamId last_delivered = start.value_or(s != nullptr ? s->last_id : StreamId{});
      if (s == nullptr) s = &model_.create(key, StructureType::kStream);
      s->groups[group] = MGroup{last_delivered, {}, {}};
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  Status st = db_->xgroup_create(key, group, start, mkstream, kSync);
  settle("xgroup_create", key, st.ok() ? Result<std::monostate>(std::monostate{}) : Result<std::monostate>(st), want);
}

void Harness::op_xreadgroup(Input& in) {
  const std::string key = in.pick(kKeys), group = in.pick(kGroups), consumer = in.pick(kConsumers);
  const int64_t count = in.pick(kCounts);
  const bool history = in.byte() % 4 == 0;
  begin();
  Want<std::vector<StreamEntry>> want;
  if (consumer.empty()) {
    want.code = Code::kInvalidArgument;
  } else {
    Code c;
    MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
    want.code = c;
    auto g = s != nullptr ? s->groups.find(group) : decltype(s->groups)::iterator{};
    if (c == Code::kOk && (s == nullptr || g == s->groups.end())) {
      want.code = Code::kNotFound;
    } else if (c == Code::kOk && history) {
      for (const auto& [id, p] : g->second.pending) {
        if (count > 0 && static_cast<int64_t>(want.value.size()) >= count) break;
        if (p.consumer != consumer) continue;
        auto e = s->entries.find(id);
        want.value.push_back({id, e != s->entries.end() ? e->second : StreamFields{}});
      }
    } else if (c == Code::kOk) {
      MGroup& grp = g->second;
      for (auto it = s->entries.upper_bound(grp.last_delivered); it != s->entries.end(); ++it) {
        if (count > 0 && static_cast<int64_t>(want.value.size()) >= count) break;
        want.value.push_back({it->first, it->second});
      }
      grp.consumers.insert(consumer);
      for (const StreamEntry& e : want.value) grp.pending[e.id] = MPending{consumer, now() / 1000, 1};
      if (!want.value.empty()) grp.last_delivered = want.value.back().id;
    }
  }
  settle("xreadgroup", key,
         db_->xreadgroup(key, group, consumer, history ? std::optional<StreamId>(StreamId{0, 0}) : std::nullopt, count,
                         std::chrono::milliseconds(0), kSync),
         want);
}

void Harness::op_xack(Input& in) {
  const std::string key = in.pick(kKeys), group = in.pick(kGroups);
  const uint8_t which = in.byte();
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  StreamId id{9, which};
  Want<int64_t> want{c, 0};
  if (s != nullptr) {
    auto g = s->groups.find(group);
    if (g != s->groups.end()) {
      if (!g->second.pending.empty() && which % 4 != 3) {
        auto it = g->second.pending.begin();
        std::advance(it, which % g->second.pending.size());
        id = it->first;
      }
      want.value = static_cast<int64_t>(g->second.pending.erase(id));
    }
  }
  settle("xack", key, db_->xack(key, group, {id}, kSync), want);
}

void Harness::op_xclaim(Input& in) {
  const std::string key = in.pick(kKeys), group = in.pick(kGroups), consumer = in.pick(kConsumers);
  const uint64_t min_idle = in.pick(kMinIdle);
  const uint8_t which = in.byte();
  begin();
  std::vector<StreamId> ids;
  Want<std::vector<StreamEntry>> want;
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  auto g = s != nullptr ? s->groups.find(group) : decltype(s->groups)::iterator{};
  if (s != nullptr && g != s->groups.end() && !g->second.pending.empty()) {
    // One or two pending IDs (perhaps the same one twice), and sometimes one that is not pending.
    auto it = g->second.pending.begin();
    std::advance(it, which % g->second.pending.size());
    ids.push_back(it->first);
    if (which & 0x40) ids.push_back(g->second.pending.rbegin()->first);
  }
  if (which & 0x80) ids.push_back(StreamId{3, which});
  if (consumer.empty()) {
    want.code = Code::kInvalidArgument;
  } else if (c != Code::kOk) {
    want.code = c;
  } else if (s == nullptr || g == s->groups.end()) {
    want.code = Code::kNotFound;
  } else {
    const uint64_t now_ms = now() / 1000;
    std::set<StreamId> done;
    for (StreamId id : ids) {
      if (!done.insert(id).second) continue;
      auto p = g->second.pending.find(id);
      if (p == g->second.pending.end()) continue;
      const uint64_t idle = now_ms > p->second.delivery_ms ? now_ms - p->second.delivery_ms : 0;
      if (idle < min_idle) continue;
      auto e = s->entries.find(id);
      if (e == s->entries.end()) {
        g->second.pending.erase(p);  // deleted from the stream: dropped
        continue;
      }
      p->second = MPending{consumer, now_ms, p->second.count + 1};
      want.value.push_back({id, e->second});
    }
    if (!want.value.empty()) g->second.consumers.insert(consumer);
  }
  settle("xclaim", key, db_->xclaim(key, group, consumer, min_idle, ids, kSync), want);
}

void Harness::op_xgroup_destroy(Input& in) {
  const std::string key = in.pick(kKeys), group = in.pick(kGroups);
  begin();
  Code c;
  MObj* s = model_.typed(key, StructureType::kStream, now(), &c);
  Want<bool> want{c, false};
  if (c == Code::kOk && s == nullptr) {
    want.code = Code::kNotFound;
  } else if (s != nullptr) {
    want.value = s->groups.erase(group) > 0;
  }
  settle("xgroup_destroy", key, db_->xgroup_destroy(key, group, kSync), want);
}

void Harness::op_pexpire(Input& in) {
  const std::string key = in.pick(kKeys);
  const int64_t ms = in.pick(kExpireMs);
  begin();
  MObj* o = model_.live(key, now());
  Want<bool> want{Code::kOk, o != nullptr};
  if (o != nullptr) {
    if (ms <= 0) {
      model_.objs.erase(key);
    } else {
      o->expire_at = now() + static_cast<uint64_t>(ms) * 1000;
    }
  }
  settle("pexpire", key, db_->pexpire(key, ms, kSync), want);
}

void Harness::op_persist(Input& in) {
  const std::string key = in.pick(kKeys);
  begin();
  MObj* o = model_.live(key, now());
  Want<bool> want{Code::kOk, o != nullptr && o->expire_at != 0};
  if (want.value) o->expire_at = 0;
  settle("persist", key, db_->persist(key, kSync), want);
}

void Harness::op_cas(Input& in) {
  const std::string key = in.pick(kKeys), expected = in.pick(kValues), value = in.pick(kValues);
  begin();
  Code c;
  MObj* o = model_.typed(key, StructureType::kString, now(), &c);
  Want<bool> want{c, false};
  if (o != nullptr && o->str == expected) {
    o->str = value;
    want.value = true;
  }
  settle("compare_and_set", key, db_->compare_and_set(key, expected, value, kSync), want);
}

void Harness::op_merge_patch(Input& in) {
  const std::string key = in.pick(kKeys);
  const std::string patch = in.pick(kPatches);
  begin();
  Want<std::string> want;
  bool mutates = false;
  const nlohmann::json p = nlohmann::json::parse(patch, nullptr, false);
  if (p.is_discarded()) {
    want.code = Code::kInvalidArgument;
  } else {
    Code c;
    MObj* o = model_.typed(key, StructureType::kString, now(), &c);
    want.code = c;
    nlohmann::json doc;
    if (o != nullptr) {
      doc = nlohmann::json::parse(o->str, nullptr, false);
      if (doc.is_discarded()) want.code = Code::kInvalidArgument;
    }
    if (want.code == Code::kOk) {
      doc.merge_patch(p);
      const uint64_t expire_at = o != nullptr ? o->expire_at : 0;
      MObj& n = model_.create(key, StructureType::kString);
      n.str = doc.dump();
      n.expire_at = expire_at;
      want.value = n.str;
      mutates = true;
    }
  }
  want = finish(key, want, mutates);
  settle("merge_patch", key, db_->merge_patch(key, patch, kSync), want);
}

// Ranged reads of one key, compared with the model (no writes).
void Harness::op_read(Input& in) {
  const std::string key = in.pick(kKeys);
  const int64_t start = static_cast<int8_t>(in.byte()) % 5, stop = static_cast<int8_t>(in.byte()) % 5;
  const uint8_t flags = in.byte();
  const std::string member = in.pick(kFields);
  begin();
  MObj* o = model_.live(key, now());
  const std::string diff = compare_key(key, o);
  if (!diff.empty()) Fail("read: " + diff);
  if (o == nullptr) return;
  const bool reverse = flags & 1;
  if (o->type == StructureType::kZSet) {
    std::vector<ScoredMember> order = ZOrder(*o);
    const auto len = static_cast<int64_t>(order.size());
    std::vector<ScoredMember> want;
    int64_t lo, hi;
    if (RankRange(len, start, stop, &lo, &hi)) {
      for (int64_t i = lo; i <= hi; i++) want.push_back(order[static_cast<size_t>(reverse ? len - 1 - i : i)]);
    }
    settle("zrange", key, db_->zrange(key, start, stop, reverse), Want<std::vector<ScoredMember>>{Code::kOk, want});
    std::optional<int64_t> rank;
    for (int64_t i = 0; i < len; i++) {
      if (order[static_cast<size_t>(i)].member == member) rank = reverse ? len - 1 - i : i;
    }
    settle("zrank", key, db_->zrank(key, member, reverse), Want<std::optional<int64_t>>{Code::kOk, rank});
    std::optional<double> score;
    if (o->zset.contains(member)) score = o->zset.at(member);
    settle("zscore", key, db_->zscore(key, member), Want<std::optional<double>>{Code::kOk, score});
    const ScoreBound min{in.pick(kScores), (flags & 2) != 0}, max{in.pick(kScores), (flags & 4) != 0};
    const int64_t offset = (flags >> 3) % 3, count = static_cast<int64_t>((flags >> 5) % 4) - 1;
    std::vector<ScoredMember> by_score;
    if (!std::isnan(min.value) && !std::isnan(max.value)) {
      int64_t skipped = 0;
      for (const ScoredMember& m : order) {
        if (!InScoreRange(m.score, min, max)) continue;
        if (skipped++ < offset) continue;
        if (count >= 0 && static_cast<int64_t>(by_score.size()) >= count) break;
        by_score.push_back(m);
      }
    }
    settle("zrangebyscore", key, db_->zrangebyscore(key, min, max, offset, count),
           Want<std::vector<ScoredMember>>{Code::kOk, by_score});
  } else if (o->type == StructureType::kList) {
    std::vector<std::string> want;
    int64_t lo, hi;
    if (RankRange(static_cast<int64_t>(o->list.size()), start, stop, &lo, &hi)) {
      want.assign(o->list.begin() + lo, o->list.begin() + hi + 1);
    }
    settle("lrange", key, db_->lrange(key, start, stop), Want<std::vector<std::string>>{Code::kOk, want});
  } else if (o->type == StructureType::kHash) {
    std::optional<std::string> v;
    if (o->hash.contains(member)) v = o->hash.at(member);
    settle("hget", key, db_->hget(key, member), Want<std::optional<std::string>>{Code::kOk, v});
  } else if (o->type == StructureType::kSet) {
    settle("sismember", key, db_->sismember(key, member), Want<bool>{Code::kOk, o->set.contains(member)});
  } else if (o->type == StructureType::kStream) {
    // XRANGE between two entries (or an empty range), forwards or backwards, with a count.
    const StreamId a = PickEntry(o, static_cast<uint8_t>(start)), b = PickEntry(o, static_cast<uint8_t>(stop));
    const int64_t count = static_cast<int64_t>((flags >> 1) % 4) - 1;
    std::vector<StreamEntry> want;
    if (a <= b && count != 0) {
      std::vector<StreamEntry> all;
      for (auto it = o->entries.lower_bound(a); it != o->entries.end() && it->first <= b; ++it) {
        all.push_back({it->first, it->second});
      }
      if (reverse) std::reverse(all.begin(), all.end());
      for (const StreamEntry& e : all) {
        if (count > 0 && static_cast<int64_t>(want.size()) >= count) break;
        want.push_back(e);
      }
    }
    settle("xrange", key, db_->xrange(key, a, b, count, reverse), Want<std::vector<StreamEntry>>{Code::kOk, want});
  }
}

void Harness::step(Input& in) {
  const uint8_t op = in.byte() % kOpCount;
  if (kTrace) std::fprintf(stderr, "op %d (power %s)\n", op, fs_->power_is_off() ? "off" : "on");
  switch (op) {
    case kSet: return op_set(in);
    case kGet: return op_get(in);
    case kDel: return op_del(in);
    case kIncrBy: return op_incrby(in);
    case kHSet: return op_hset(in);
    case kHDel: return op_hdel(in);
    case kHIncrBy: return op_hincrby(in);
    case kSAdd: return op_sadd_srem(in, true);
    case kSRem: return op_sadd_srem(in, false);
    case kZAdd: return op_zadd(in);
    case kZIncrBy: return op_zincrby(in);
    case kZRem: return op_zrem(in);
    case kZRemRangeByScore: return op_zremrangebyscore(in);
    case kPush: return op_push(in);
    case kPop: return op_pop(in);
    case kXAdd: return op_xadd(in);
    case kXDel: return op_xdel(in);
    case kXTrim: return op_xtrim(in);
    case kXGroupCreate: return op_xgroup_create(in);
    case kXReadGroup: return op_xreadgroup(in);
    case kXAck: return op_xack(in);
    case kXClaim: return op_xclaim(in);
    case kXGroupDestroy: return op_xgroup_destroy(in);
    case kPExpire: return op_pexpire(in);
    case kPersist: return op_persist(in);
    case kAdvanceClock:
      clock_.advance_micros(in.pick(kClockSteps));
      return;
    case kSweep: {
      auto r = db_->sweep_expired();
      if (!r.ok() && !fs_->power_is_off()) Fail("sweep_expired: " + r.status().ToString());
      return;
    }
    case kCheckpoint: {
      Status s = engine_->checkpoint();
      if (!s.ok() && !fs_->power_is_off()) Fail("checkpoint: " + s.ToString());
      return;
    }
    case kReopen:
      return reopen();
    case kPowerCut: {
      const uint8_t how = in.byte();
      PowerCutOptions cut;
      cut.unsynced = static_cast<PowerCutOptions::Unsynced>(how % 3);
      cut.seed = in.byte();
      const uint8_t tear = in.byte();
      if (how & 4) cut.tear_last_write_at = tear;
      return power_cut(cut, std::nullopt);
    }
    case kArmCrashPoint: {
      const char* point = in.pick(kCrashPoints);
      const uint64_t skip = in.byte() % 8;
      FaultInjectionFileSystem* fs = fs_.get();
      DisarmAllCrashPoints();
      ArmCrashPoint(point, skip, [fs](std::string_view) { fs->cut_power(); });
      return;
    }
    case kRead: return op_read(in);
    case kCompareAndSet: return op_cas(in);
    case kMergePatch: return op_merge_patch(in);
    default: return;
  }
}

void Harness::run(const uint8_t* data, size_t size) {
  reset();
  Input in(data, size);
  bool verified = false;  // nothing happened since the last reopen
  for (int i = 0; i < kMaxOps && !in.done(); i++) {
    const uint8_t op = in.peek() % kOpCount;
    step(in);
    verified = op == kReopen || op == kPowerCut;
    // A crash point reached outside an operation's own commit (the materializer, a flush): reopen now.
    if (fs_->power_is_off()) {
      power_cut({}, std::nullopt);
      verified = true;
    }
  }
  // Every input ends with a power cut: whatever it did must survive it.
  if (!verified) power_cut({}, std::nullopt);
  abandon();
}

}  // namespace
}  // namespace savepoint::fuzz

namespace {
savepoint::fuzz::Harness* g_harness = nullptr;  // one scratch directory per process, removed at exit
void DeleteHarness() {
  delete g_harness;
  g_harness = nullptr;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_harness == nullptr) {
    g_harness = new savepoint::fuzz::Harness();
    std::atexit(DeleteHarness);
  }
  g_harness->run(data, size);
  return 0;
}
