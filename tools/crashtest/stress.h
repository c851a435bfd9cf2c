// The crash torture workload (DESIGN.md, Crash-recovery testing): the data set it works on, the seeded
// operations it runs, and the line protocol in which it reports every acknowledged commit to the driver.
//
// Data set, one keyspace per persistence class, plus a registry:
//   bank       durable, sync       gold:0..7 (conserved with wallet's), k0..k29
//   wallet     durable, relaxed    gold:0..7, k0..k29, ttl:0..15 (puts with a TTL, never removed)
//   positions  coalesced (200 ms)  k0..k29
//   sessions   volatile            k0..k29
//   vault      durable, relaxed, cached residency with a tiny cache (reads miss and go to RocksDB)  k0..k29
//   characters Registry<int64_t, Character>, durable relaxed, with a unique index by name and a non-unique
//              index by level
//
// Protocol (one line per event, written with one write(2) so a SIGKILL loses nothing already reported;
// lines stay well under PIPE_BUF):
//   X <point> <skip>                        the child armed a crash point
//   B <coalesce_count>                      the workload started
//   I <seq> <ops>                           a commit is about to be attempted (it may or may not happen)
//   A <seq> <lsn> <S|R> <coalesce_count> <ops>   the commit was acknowledged
//   N <seq>                                 the commit was refused and changed nothing (NoSpace)
//   E <message>                             the workload met an unexpected error and stops
// <ops> is "<n>" followed by n operations:
//   P <ks> <key> <value> <expire_at>        put (expire_at 0: none)
//   D <ks> <key>                            remove
//   X <ks> <prefix>                         remove every key with the prefix
//   RP <id> <name> <level>                  registry row put
//   RD <id>                                 registry row remove
// <ks> is one letter: b bank, w wallet, p positions, s sessions, c vault. Tokens never contain spaces.
//
// Thread-safety: none; one Stress per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "savepoint/engine.h"
#include "savepoint/registry.h"

namespace savepoint::crashtest {

struct Character {
  std::string name;
  int64_t level = 0;
  bool operator==(const Character&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Character, name, level)

using CharRegistry = Registry<int64_t, Character>;
using ByName = Index<std::string, int64_t, Character>;
using ByLevel = Index<int64_t, int64_t, Character>;

inline constexpr int kGoldKeys = 8;
inline constexpr int64_t kGoldEach = 1000;
inline constexpr int kPlainKeys = 30;
inline constexpr int kTtlKeys = 16;
inline constexpr int kCharacterIds = 30;
inline constexpr int kNames = 45;
inline constexpr int kLevels = 10;

// The open keyspaces and registry of the data set.
struct Handles {
  Keyspace* bank = nullptr;
  Keyspace* wallet = nullptr;
  Keyspace* positions = nullptr;
  Keyspace* sessions = nullptr;
  Keyspace* vault = nullptr;
  std::unique_ptr<CharRegistry> chars;
  ByName* by_name = nullptr;
  ByLevel* by_level = nullptr;

  Keyspace* keyspace(char ks) const;
};

// Opens (creating if needed) every keyspace and the registry with its indexes. Creating writes to the WAL;
// opening an existing data set writes nothing.
Result<Handles> OpenDataSet(Engine* engine);

// Creates the data set in a fresh directory, seeds the gold (all of it in bank) and closes cleanly.
Status CreateDataSet(const Options& options);

// --------------------------------------------------------------------------------------------- model

struct Row {
  std::string value;
  uint64_t expire_at = 0;
  bool operator==(const Row&) const = default;
};
using Table = std::map<std::string, Row>;

struct State {
  Table bank, wallet, positions, vault;
  std::map<int64_t, Character> chars;
  bool operator==(const State&) const = default;
};

struct Op {
  enum class Kind : uint8_t { kPut, kRemove, kRemovePrefix, kRowPut, kRowRemove };
  Kind kind = Kind::kPut;
  char ks = 'b';
  std::string key;  // key or prefix
  std::string value;
  uint64_t expire_at = 0;
  int64_t id = 0;  // registry row
  Character row;
};

// A put of `value` at `key` of keyspace `ks` (with an expiry, or 0).
Op PutOp(char ks, std::string key, std::string value, uint64_t expire_at = 0);

struct CommitRecord {
  uint64_t seq = 0;
  uint64_t lsn = 0;  // 0: nothing logged
  bool sync = false;
  uint64_t coalesce_count = 0;  // Stats::coalesce_commits read right after the acknowledgement
  std::vector<Op> ops;
};

// Applies `ops` in order. Only the keyspaces a State models are touched (sessions are volatile).
void Apply(State* state, const std::vector<Op>& ops);
// Only the operations on `positions`.
void ApplyPositions(Table* positions, const std::vector<Op>& ops);
int64_t GoldTotal(const State& state);

// Reads the whole data set (registry rows through the registry). `sessions` gets the volatile keyspace's
// key count.
Result<State> ReadState(Engine* engine, const Handles& h, uint64_t* sessions = nullptr);

// ------------------------------------------------------------------------------------------ protocol

std::string EncodeOps(const std::vector<Op>& ops);
std::string EncodeIntent(const CommitRecord& c);
std::string EncodeAck(const CommitRecord& c);

// A parsed protocol line. Returns false when malformed.
struct Line {
  char type = 0;  // 'X', 'B', 'I', 'A', 'E'
  CommitRecord commit;
  std::string text;     // X: point; E: message
  uint64_t number = 0;  // X: skip; B: coalesce count
};
bool ParseLine(const std::string& line, Line* out);

// ------------------------------------------------------------------------------------------ workload

// Where the workload reports. Called on the workload's thread.
class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void line(const std::string& text) = 0;  // one protocol line, without the newline
};

class Stress {
 public:
  // Loads the model from the engine. REQUIRES: `engine` and `h` outlive the Stress.
  static Result<std::unique_ptr<Stress>> Start(Engine* engine, Handles* h, uint64_t seed, Reporter* reporter);

  enum class Kind { kAny, kSyncCommit, kRelaxedCommit };
  // One random operation. OK when it was acknowledged (or needed no commit); otherwise the status of the
  // commit that failed, whose intent was reported (it may or may not have happened).
  // `acked` tells whether a commit was acknowledged.
  Status step(Kind kind = Kind::kAny, bool* acked = nullptr);

  uint64_t commits() const { return seq_; }
  const State& model() const { return model_; }

 private:
  Stress(Engine* engine, Handles* h, uint64_t seed, Reporter* reporter)
      : engine_(engine), h_(h), rng_(seed), reporter_(reporter) {}

  // Commits `txn` whose effective writes are `ops`: reports the intent, commits, reports the ack.
  Status commit(const Transaction& txn, std::vector<Op> ops, bool sync, bool* acked);
  Status trade(bool* acked);
  Status plain(bool force_sync, bool relaxed_only, bool* acked);
  Status ttl_put(bool* acked);
  Status registry(bool* acked);
  Status check_reads();
  std::string random_value();
  uint64_t coalesce_count();

  Engine* const engine_;
  Handles* const h_;
  std::mt19937_64 rng_;
  Reporter* const reporter_;
  State model_;
  uint64_t seq_ = 0;
};

// Child mode: opens the engine on `data_dir`, arms `crash_point` (if not empty) before the open, and runs the
// workload until killed, reporting on `report_fd`. Returns the process exit code.
int RunChild(const std::string& data_dir, uint64_t seed, const std::string& crash_point, uint64_t crash_skip,
             int report_fd, bool verbose);

// Engine options of the workload (the child's, and the in-process power-cut runs').
Options WorkloadOptions(const std::string& data_dir, uint64_t seed);

}  // namespace savepoint::crashtest
