// CrashSimulator: crash-recovery tests for the game server's own code. It opens engines whose write-ahead log
// lives on an in-memory file system behind a FaultInjectionFileSystem, so a test can cut the power at any
// moment, or at a named step of the write path, and reopen the engine to see what a real power loss would
// have left: every acknowledged sync commit, relaxed commits up to the last fdatasync, coalesced keyspaces as
// of their last logged coalescing, volatile keyspaces empty (docs/recovery.md).
//
//   CrashSimulator sim(scratch_dir);
//   auto engine = sim.open(sim.options());
//   ... commits ...
//   ASSERT_TRUE(sim.cut_power(*engine).ok());   // the engine is gone, as in a crash
//   engine = sim.open(sim.options());           // recovery, as after a reboot
//
// What is simulated: the whole data directory is on the simulated disk, the WAL, the archive, the lock file,
// snapshots and the materialised store (RocksDB, through engine/rocks_env.h) alike, and every file loses what
// was not fdatasync'd (PowerCutOptions says how: dropped, a random prefix kept, zero-filled, or the last
// write torn); files and renames whose directory was not fsync'd are undone. So RocksDB's own durability
// (its MANIFEST, CURRENT, flushed SST files) is inside the test, and what the engine recovers is what it would
// recover after a real power loss.
//
// Crash points are process-wide (savepoint/crash_point.h): crash_at() arms one for the whole process, and
// cut_power() and the destructor disarm every armed point. Use one CrashSimulator at a time per process
// when arming crash points.
//
// Thread-safety: every method may be called from any thread, except that cut_power() must not race with other
// calls on the engine it cuts (like Engine::close()). Ownership: the simulator owns the simulated disk; every
// engine it opened must be cut or destroyed before the simulator is, and objects built on an engine
// (registries, Keyspace pointers) must be dropped before the engine is cut.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/file_system.h"
#include "savepoint/options.h"
#include "savepoint/status.h"

namespace savepoint {

class CrashSimulator {
 public:
  // `data_dir` names the data directory on the simulated (in-memory) disk; nothing is written to the real
  // disk. Nothing is created until open().
  explicit CrashSimulator(std::string data_dir);
  ~CrashSimulator();
  CrashSimulator(const CrashSimulator&) = delete;
  CrashSimulator& operator=(const CrashSimulator&) = delete;

  // Options with data_dir and file_system set; every other field has its usual default. Tweak and pass to
  // open() (a ManualClock in Options::clock makes TTLs and coalescing deterministic).
  Options options() const;

  // Opens (recovering) the engine on the simulated disk. options.file_system must be unset or
  // &file_system(), options.data_dir unset or the simulator's. Fails like Engine::open, and with
  // InvalidArgument while the power is off (after a crash point was reached: call cut_power() first).
  Result<std::unique_ptr<Engine>> open(Options options);

  // Cuts the power: the engine stops as a crashed process would (no close, no flush, no last fdatasync),
  // `engine` is reset, and the simulated disk keeps only what a power loss would leave, as `how` says.
  // Every crash point is disarmed. The next open() recovers from what is left.
  // `engine` may be null (an open() that failed at a crash point). REQUIRES: a non-null `engine` came from
  // this simulator's open(); otherwise InvalidArgument, and nothing is cut.
  Status cut_power(std::unique_ptr<Engine>& engine, const PowerCutOptions& how = {});

  // Arms the crash point `point` (one of AllCrashPoints()): its first `skip` hits pass, at the next one the
  // power is cut at that instant. From then on every disk operation of the engine fails: a sync commit
  // waiting for that fdatasync fails, relaxed commits may still be acknowledged from memory but are lost, and
  // the engine reports the failure on later writes. Then call cut_power(). InvalidArgument for an unknown
  // point.
  Status crash_at(std::string_view point, uint64_t skip = 0);
  // Whether the point armed by crash_at() was reached since.
  bool crash_point_reached() const { return reached_->load(); }

  // The simulated disk, for finer faults (fail_next(), set_space_limit()) and observation (sync_count()).
  FaultInjectionFileSystem& file_system() { return *fs_; }

 private:
  const std::string data_dir_;
  const std::unique_ptr<FileSystem> memory_;
  const std::unique_ptr<FaultInjectionFileSystem> fs_;
  // Shared with the armed crash point's action, which may run on an engine thread.
  const std::shared_ptr<std::atomic<bool>> reached_;
  mutable std::mutex mu_;
  std::set<const Engine*> engines_;  // GUARDED_BY(mu_): opened and not yet cut
  bool armed_ = false;               // GUARDED_BY(mu_)
};

}  // namespace savepoint
