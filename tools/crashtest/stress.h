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
//   game       Structures, durable; every write kSync: a leaderboard (sorted set "lb", zincrby/zrem), a job
//              queue (list "queue", rpush/lpop), an event stream "events" with the consumer group "workers"
//              (xadd with IDs chosen as the auto-ID would be, xreadgroup ">", xack, xtrim), and sets
//              ("online", "guild:0..2"). Each structures operation is its own commit, predicted from the model
//              before it runs (so the one in flight at a crash can be applied or not), and reported with LSN 0:
//              the Structures API does not return LSNs, and being sync, every acknowledged one must survive.
//
// Protocol (one line per event, written with one write(2) so a SIGKILL loses nothing already reported;
// lines stay well under PIPE_BUF):
//   X <point> <skip>                        the child armed a crash point
//   B <coalesce_count>                      the workload started
//   I <seq> <ops>                           a commit is about to be attempted (it may or may not happen)
//   A <seq> <lsn> <S|R> <coalesce_count> <ops>   the commit was acknowledged
//   N <seq>                                 the commit was refused and changed nothing (NoSpace)
//   S <B|S|Y> <lsn>                         a snapshot: B a background save started (Engine::snapshot) at
//                                           <lsn>, S a synchronous save (Engine::save) wrote <lsn>, Y refused
//                                           with Busy (another save runs; <lsn> 0)
//   E <message>                             the workload met an unexpected error and stops
// <ops> is "<n>" followed by n operations:
//   P <ks> <key> <value> <expire_at>        put (expire_at 0: none)
//   D <ks> <key>                            remove
//   X <ks> <prefix>                         remove every key with the prefix
//   RP <id> <name> <level>                  registry row put
//   RD <id>                                 registry row remove
//   ZS <key> <member> <score>               game: the member's score is now <score> (zincrby)
//   ZR <key> <member>                       game: zrem
//   LP <key> <value>                        game: rpush
//   LO <key> <value>                        game: lpop, which returned <value>
//   SA <key> <member> / SR <key> <member>   game: sadd / srem
//   XA <key> <id> <value>                   game: xadd of the entry {e: <value>} with ID <id>
//   XD <key> <group> <consumer> <id>        game: xreadgroup ">" delivered <id> to <consumer>
//   XK <key> <group> <id>                   game: xack
//   XT <key> <count>                        game: xtrim removed the oldest <count> entries
// <ks> is one letter: b bank, w wallet, p positions, s sessions, c vault. Tokens never contain spaces.
//
// Thread-safety: none; one Stress per thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "savepoint/engine.h"
#include "savepoint/registry.h"
#include "savepoint/structures.h"

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
  std::unique_ptr<Structures> game;

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

// The game's structures (one consumer group per stream).
struct GameStream {
  std::map<StreamId, std::string> entries;  // the value of each entry's one field "e"
  StreamId last_delivered;                   // of the group
  std::map<StreamId, std::string> pending;   // the group's pending entries: ID -> consumer
  bool operator==(const GameStream&) const = default;
};
struct Game {
  std::map<std::string, std::map<std::string, double>> zsets;
  std::map<std::string, std::deque<std::string>> lists;
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, GameStream> streams;
  bool operator==(const Game&) const = default;
};
inline constexpr char kEventsGroup[] = "workers";

struct State {
  Table bank, wallet, positions, vault;
  std::map<int64_t, Character> chars;
  Game game;
  bool operator==(const State&) const = default;
};

struct Op {
  enum class Kind : uint8_t {
    kPut, kRemove, kRemovePrefix, kRowPut, kRowRemove,
    // The game's structures (protocol tokens above).
    kZScore, kZRem, kLPush, kLPop, kSAdd, kSRem, kXAdd, kXDeliver, kXAck, kXTrim,
  };
  Kind kind = Kind::kPut;
  char ks = 'b';
  std::string key;  // key or prefix; for the game, the structure's key
  std::string value;  // for the game: member, list value, entry value
  uint64_t expire_at = 0;
  int64_t id = 0;  // registry row
  Character row;
  // The game.
  double score = 0;
  StreamId stream_id;
  std::string group, consumer;
  uint64_t count = 0;
  bool is_game() const { return kind >= Kind::kZScore; }
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

// Applies `ops` in order. Only the keyspaces a State models are touched (sessions are volatile). Game
// operations are not applied here (their commits have no LSN to order them by): see ApplyGame.
void Apply(State* state, const std::vector<Op>& ops);
// Applies the game operations of `ops` in order.
void ApplyGame(Game* game, const std::vector<Op>& ops);
// Reads the game through the Structures API and checks that it is well-formed (every key of the type its
// name says; ranks, lengths, pending summaries agreeing with the contents). Corruption naming what is wrong.
Status ReadGame(Structures* db, Game* out);
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
  char type = 0;  // 'X', 'B', 'I', 'A', 'N', 'S', 'E'
  CommitRecord commit;
  std::string text;     // X: point; E: message; S: B, S or Y
  uint64_t number = 0;  // X: skip; B: coalesce count; S: LSN
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
  // kAny mixes, per 1000 steps: 220 trades, 250 plain commits, 80 TTL puts, 180 registry commits, 150
  // structures writes, 40 read checks, 30 checkpoints, 15 restore points, 10 background snapshots (not
  // waited for), 3 synchronous saves, 22 syncs.
  Status step(Kind kind = Kind::kAny, bool* acked = nullptr);

  uint64_t commits() const { return seq_; }
  const State& model() const { return model_; }
  // When set, a background save that failed (Stats::snapshots_failed) fails the next snapshot step: for runs
  // without injected faults. Default: false.
  void set_saves_must_succeed(bool v) { saves_must_succeed_ = v; }

 private:
  Stress(Engine* engine, Handles* h, uint64_t seed, Reporter* reporter)
      : engine_(engine), h_(h), rng_(seed), reporter_(reporter) {}

  // Commits `txn` whose effective writes are `ops`: reports the intent, commits, reports the ack.
  Status commit(const Transaction& txn, std::vector<Op> ops, bool sync, bool* acked);
  Status trade(bool* acked);
  Status plain(bool force_sync, bool relaxed_only, bool* acked);
  Status ttl_put(bool* acked);
  Status registry(bool* acked);
  Status structures(bool* acked);
  // Reports the intent of `ops`, runs `call` (one Structures write), and reports the acknowledgement.
  Status commit_game(std::vector<Op> ops, const std::function<Status()>& call, bool* acked);
  Status check_reads();
  // A snapshot as a game server takes one: a background save it does not wait for (Busy is a normal answer
  // while the last one runs), or a synchronous one.
  Status snapshot(bool background);
  std::string random_value();
  uint64_t coalesce_count();

  Engine* const engine_;
  Handles* const h_;
  std::mt19937_64 rng_;
  Reporter* const reporter_;
  State model_;
  uint64_t seq_ = 0;
  bool saves_must_succeed_ = false;
};

// Child mode: opens the engine on `data_dir`, arms `crash_point` (if not empty) before the open, and runs the
// workload until killed, reporting on `report_fd`. Returns the process exit code.
int RunChild(const std::string& data_dir, uint64_t seed, const std::string& crash_point, uint64_t crash_skip,
             int report_fd, bool verbose);

// Engine options of the workload (the child's, and the in-process power-cut runs').
Options WorkloadOptions(const std::string& data_dir, uint64_t seed);

}  // namespace savepoint::crashtest
