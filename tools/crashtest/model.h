// The driver's expected-state model of one crash cycle: what the workload reported, and the check of a
// recovered state against it (DESIGN.md, Crash-recovery testing).
//
// Given the state the cycle started from (`base`), the acknowledged commits in order, the one commit that
// was in flight when the process died (`maybe`), and the last LSN the reopened engine recovered (K):
//   - durable keyspaces (bank, wallet, the registry's rows) equal `base` plus exactly the acknowledged
//     commits with LSN <= K, optionally plus the in-flight commit: only a suffix is lost, no transaction is
//     partial;
//   - every acknowledged sync commit has LSN <= K;
//   - a key written with a TTL that had expired by the crash may be missing (the TTL sweeper deleted it);
//   - the coalesced keyspace equals the state after some prefix of the commits that ends before the first
//     commit lost from the log, and not before the last coalescing that a later acknowledged sync commit made
//     durable;
//   - the volatile keyspace is empty and the gold is conserved;
//   - the game's structures (all written with sync commits) equal `base` plus every acknowledged structures
//     write, optionally plus the one in flight.
//
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/crashtest/stress.h"

namespace savepoint::crashtest {

class CycleLog {
 public:
  // Feeds one protocol line. Returns false on a line that violates the protocol (the reason in error()).
  bool feed(const std::string& text);
  // Call once the process is gone: a commit attempted and never answered becomes maybe().
  void finish();

  const std::vector<CommitRecord>& acked() const { return acked_; }
  // The first commit attempted but neither acknowledged nor refused: it may or may not have happened.
  const std::optional<CommitRecord>& maybe() const { return maybe_; }
  bool started() const { return started_; }
  uint64_t start_coalesce_count() const { return start_coalesce_; }
  const std::string& armed_point() const { return armed_point_; }
  const std::string& child_error() const { return child_error_; }
  const std::string& error() const { return error_; }
  // Commits attempted after `maybe` (each refused or failed; acknowledging one is a violation).
  uint64_t attempts_after_maybe() const { return attempts_after_maybe_; }
  // Snapshots the workload took: background saves started, synchronous saves written, saves refused Busy.
  uint64_t background_saves() const { return background_saves_; }
  uint64_t sync_saves() const { return sync_saves_; }
  uint64_t busy_saves() const { return busy_saves_; }

 private:
  std::vector<CommitRecord> acked_;
  std::optional<CommitRecord> pending_;  // the latest intent, not yet answered
  std::optional<CommitRecord> maybe_;
  uint64_t attempts_after_maybe_ = 0;
  uint64_t background_saves_ = 0, sync_saves_ = 0, busy_saves_ = 0;
  bool started_ = false;
  uint64_t start_coalesce_ = 0;
  std::string armed_point_, child_error_, error_;
};

struct Recovered {
  State state;
  uint64_t last_lsn = 0;      // K
  uint64_t sessions = 0;      // keys in the volatile keyspace
  uint64_t crash_micros = 0;  // no clock of the crashed process was later than this
};

// Returns an empty string when `got` is a correct recovery of `base` + `log`, else what is wrong.
std::string VerifyRecovery(const State& base, const CycleLog& log, const Recovered& got);

// Returns an empty string when `got`, read from a snapshot at LSN `lsn` taken during the cycle (REQUIRES:
// `lsn` >= the LSN at which the engine held `base`), is the state at that LSN, else what is wrong. A snapshot
// holds a prefix of the log, and the workload commits one at a time in the order of its reports, so:
//   - the durable keyspaces (bank, wallet, vault, the registry's rows) and the game equal `base` plus the
//     acknowledged commits up to the last one with LSN <= `lsn`, and none from the first one with LSN above;
//     the structures writes between those two (reported without an LSN) are in it up to some point;
//   - when every acknowledged commit with an LSN is in it, the one in flight may be too;
//   - a key written with a TTL that had passed by the crash may be missing (the sweeper logged its removal).
// The coalesced keyspace is not checked (its coalescings are not reported).
std::string VerifySnapshotState(const State& base, const CycleLog& log, uint64_t lsn, const State& got,
                                uint64_t crash_micros);

// "bank[k3]: expected v1 got (absent)" lines for the first few differences.
std::string DescribeDiff(const State& want, const State& got, size_t max_lines = 8);
std::string DescribeGameDiff(const Game& want, const Game& got);

}  // namespace savepoint::crashtest
