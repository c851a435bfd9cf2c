// savepoint_crashtest: the crash torture driver (DESIGN.md, Crash-recovery testing), after RocksDB's
// db_crashtest.py. It loops until --duration:
//   - blackbox:  runs the workload (stress.cc) in a child process and SIGKILLs it after a random delay;
//   - whitebox:  the child arms a random named crash point, which ends it with _exit as kill -9 would;
//   - powercut:  runs the workload in this process with the WAL on a FaultInjectionFileSystem and cuts the
//                power at a random moment or at a crash point, or first fails every fsync with EIO (every
//                later commit must fail) or fills the disk (commits refused with NoSpace, working again
//                once there is space); then abandons the engine and restarts the file system with random
//                PowerCutOptions.
// After each crash it reopens the engine and checks the recovered state against the commits the workload
// acknowledged (model.h), the registry's indexes against its rows, and that the engine still commits. Then
// the snapshots (checks.h): every file under a final snapshot name, in the snapshot directory and in the
// archive, must verify completely (temp files of interrupted saves are ignored, and the next save must remove
// those of the snapshot directory); the newest one is restored into a scratch directory and opened: its LSN
// must not exceed the recovered one, the workload's invariants must hold in it, and when it was taken during
// the cycle it must be exactly the state at its LSN (model.h, VerifySnapshotState).
//
//   savepoint_crashtest [--duration=SECONDS | --cycles=N] [--seed=N] [--mode=blackbox|whitebox|powercut|all]
//                       [--crash-points=NAME,...] [--dir=PATH] [--verbose] [--no-disk-full]
//
// --no-disk-full leaves out the disk-full variant (for runs while a bug in that path is open).
// --cycles runs that many crash cycles whatever the time they take, instead of --duration.
// --crash-points limits the points armed to the listed ones. Whitebox cycles then arm them in turn and must
// reach each: the child is killed only after a safety timeout of 120 s, and a point not reached fails the run
// (so a test can assert that the workload reaches, say, every snapshot crash point, with no timing in the
// verdict). Power-cut cycles pick among them at random, as usual.
//
// On a failure it prints the seed and the command that reruns the same choices, keeps the directory and
// exits 1. Kill timing is real time, so a rerun repeats the workload and the crash choices, not every
// interleaving.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine_impl.h"
#include "savepoint/clock.h"
#include "savepoint/crash_point.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "tools/crashtest/checks.h"
#include "tools/crashtest/model.h"
#include "tools/crashtest/stress.h"

extern char** environ;

namespace savepoint::crashtest {
namespace {

constexpr const char* kMarker = "SAVEPOINT_CRASHTEST_DIR";

struct Flags {
  double duration = 60;
  uint64_t seed = 0;
  bool seed_set = false;
  std::string mode = "all";
  std::string dir;
  bool verbose = false;
  bool no_disk_full = false;              // skip the disk-full power-cut variant
  uint64_t cycles = 0;                    // 0: run for `duration`
  std::vector<std::string> crash_points;  // empty: all
  // Child mode.
  bool child = false;
  int report_fd = -1;
  std::string crash_point;
  uint64_t crash_skip = 0;
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&](const char* name, std::string* out) {
      const std::string prefix = std::string("--") + name + "=";
      if (!a.starts_with(prefix)) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    std::string v;
    try {
      if (value("duration", &v)) {
        f->duration = std::stod(v);
      } else if (value("seed", &v)) {
        f->seed = std::stoull(v);
        f->seed_set = true;
      } else if (value("mode", &v)) {
        f->mode = v;
      } else if (value("dir", &v)) {
        f->dir = v;
      } else if (a == "--verbose") {
        f->verbose = true;
      } else if (a == "--no-disk-full") {
        f->no_disk_full = true;
      } else if (value("cycles", &v)) {
        f->cycles = std::stoull(v);
      } else if (value("crash-points", &v)) {
        f->crash_points.clear();
        for (size_t start = 0; start <= v.size();) {
          size_t comma = v.find(',', start);
          if (comma == std::string::npos) comma = v.size();
          const std::string p = v.substr(start, comma - start);
          const auto& all = AllCrashPoints();
          if (std::find(all.begin(), all.end(), p) == all.end()) {
            std::fprintf(stderr, "unknown crash point \"%s\" in %s\n", p.c_str(), a.c_str());
            return false;
          }
          f->crash_points.push_back(p);
          start = comma + 1;
        }
      } else if (a == "--child") {
        f->child = true;
      } else if (value("report-fd", &v)) {
        f->report_fd = std::stoi(v);
      } else if (value("crash-point", &v)) {
        f->crash_point = v;
      } else if (value("crash-skip", &v)) {
        f->crash_skip = std::stoull(v);
      } else {
        std::fprintf(stderr, "unknown flag %s\n", a.c_str());
        return false;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "bad value in %s\n", a.c_str());
      return false;
    }
  }
  if (f->mode != "all" && f->mode != "blackbox" && f->mode != "whitebox" && f->mode != "powercut") {
    std::fprintf(stderr, "--mode must be blackbox, whitebox, powercut or all\n");
    return false;
  }
  return true;
}

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t NowMicros() { return Clock::System()->now_micros(); }

// Points reached on almost every commit get a larger skip, so the crash lands somewhere in the run.
uint64_t RandomSkip(std::string_view point, std::mt19937_64& rng) {
  if (point == "wal.after_write_before_sync" || point == "wal.after_sync_before_ack" ||
      point == "engine.after_wal_append_before_apply" || point == "engine.before_materialize" ||
      point == "engine.after_materialize") {
    return rng() % 150;
  }
  if (point == "wal.before_tail_truncate") return 0;
  return rng() % 3;
}

struct Cycle {
  uint64_t number = 0;
  std::string mode;
  uint64_t seed = 0;
  std::string what;  // how it ended, for --verbose and failure reports
  CycleLog log;
  uint64_t crash_micros = 0;
  std::string error;
  State base;                                // the state the cycle started from
  std::optional<Recovered> got;              // what the reopen found
  std::optional<RestoredSnapshot> snapshot;  // a restored snapshot whose state was found wrong
};

class Driver {
 public:
  Driver(Flags flags, std::string argv0) : f_(std::move(flags)), argv0_(std::move(argv0)) {}
  int run();

 private:
  bool prepare_dir();
  Options verify_options(Clock* clock) const;
  void run_child(bool whitebox, Cycle* c);
  void run_powercut(Cycle* c);
  void crash_during_recovery(Cycle* c);
  void verify(Cycle* c);
  // RocksDB damage: a copy of the verified directory with one of RocksDB's files damaged must be refused
  // with nothing changed, or open with exactly the undamaged copy's state.
  void damage_rocksdb(Cycle* c);
  // The snapshot files and the newest snapshot after a crash (see the top of this file). Returns what is
  // wrong; fills `temps` with the temp files of interrupted saves found in the snapshot directory.
  std::string check_snapshots(Cycle* c, uint64_t recovered_lsn, Clock* clock,
                              std::vector<std::string>* temps);
  std::string snapshot_dir() const { return data_dir_ + "/snapshots"; }
  std::string archived_snapshot_dir() const { return data_dir_ + "-archive/snapshots"; }
  int fail(const Cycle& c);
  void dump_cycle(const Cycle& c, const std::string& path);

  const Flags f_;
  const std::string argv0_;
  std::string self_exe_, run_dir_, data_dir_;
  bool temp_dir_ = false;
  uint64_t t0_ = 0;
  State base_;
  std::map<std::string, uint64_t> points_hit_;
  std::map<std::string, uint64_t> cycles_by_mode_;
  uint64_t cycles_ = 0, power_cuts_ = 0, commits_verified_ = 0, whitebox_missed_ = 0, eio_ = 0, enospc_ = 0;
  uint64_t recovery_crashes_ = 0;
  std::map<std::string, uint64_t> damage_refused_, damage_exact_;  // by what was damaged
  uint64_t game_writes_verified_ = 0;  // of commits_verified_: structures writes (all sync)
  // The engine held base_ at every LSN from base_lsn_ up to the first commit of the next cycle.
  uint64_t base_lsn_ = 0;
  // Snapshots: taken by the workload, and what verification did with them.
  std::map<std::string, uint64_t> archive_seen_;  // archived snapshots verified already: name -> size
  uint64_t snap_background_ = 0, snap_sync_ = 0, snap_busy_ = 0;
  uint64_t snap_files_verified_ = 0, snap_archived_verified_ = 0, snap_restored_ = 0, snap_exact_ = 0;
  uint64_t snap_temps_ = 0, snap_temps_removed_ = 0, archived_temps_ = 0;
};

bool Driver::prepare_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (f_.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/savepoint-crashtest-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return false;
    }
    run_dir_ = templ;
    temp_dir_ = true;
  } else {
    run_dir_ = f_.dir;
    fs::create_directories(run_dir_, ec);
    if (ec) {
      std::fprintf(stderr, "cannot create %s: %s\n", run_dir_.c_str(), ec.message().c_str());
      return false;
    }
    if (!fs::is_empty(run_dir_, ec)) {
      if (!fs::exists(fs::path(run_dir_) / kMarker)) {
        std::fprintf(stderr,
                     "%s is not empty and was not made by savepoint_crashtest; refusing to clear it\n",
                     run_dir_.c_str());
        return false;
      }
      for (const auto& entry : fs::directory_iterator(run_dir_)) fs::remove_all(entry.path(), ec);
    }
  }
  std::FILE* m = std::fopen((fs::path(run_dir_) / kMarker).c_str(), "w");
  if (m != nullptr) std::fclose(m);
  data_dir_ = run_dir_ + "/data";
  return true;
}

Options Driver::verify_options(Clock* clock) const {
  Options o;
  o.data_dir = data_dir_;
  o.archive_dir = data_dir_ + "-archive";
  o.clock = clock;
  // Nothing may write between the open and reading the recovered last LSN: no checkpoint by time, and the
  // clock (frozen before every TTL the workload set) lets nothing expire.
  o.checkpoint_interval = std::chrono::hours(24);
  o.rocksdb_block_cache_bytes = 8u << 20;
  o.rocksdb_write_buffer_bytes = 4u << 20;
  return o;
}

// --------------------------------------------------------------------------------------- child cycles

void Driver::run_child(bool whitebox, Cycle* c) {
  std::mt19937_64 rng(c->seed);
  std::vector<std::string> args = {self_exe_, "--child", "--dir=" + data_dir_,
                                   "--seed=" + std::to_string(c->seed), "--report-fd=3"};
  std::string point;
  if (whitebox) {
    // A torn tail needs a power cut: wal.before_tail_truncate is left to crash_during_recovery().
    std::vector<std::string_view> points;
    for (std::string_view p : AllCrashPoints()) {
      if (p != "wal.before_tail_truncate") points.push_back(p);
    }
    point = std::string(points[rng() % points.size()]);
    // Chosen points are armed in turn (the draw above still happens, so the rest of the cycle's choices
    // stay those of the seed).
    if (!f_.crash_points.empty()) point = f_.crash_points[(c->number - 1) % f_.crash_points.size()];
    const uint64_t skip = RandomSkip(point, rng);
    args.push_back("--crash-point=" + point);
    args.push_back("--crash-skip=" + std::to_string(skip));
    c->what = "crash point " + point + " skip " + std::to_string(skip);
  }
  if (f_.verbose) args.push_back("--verbose");
  int kill_after_ms = whitebox ? 3500 : 30 + static_cast<int>(rng() % 2500);
  const bool must_reach = whitebox && !f_.crash_points.empty();
  if (must_reach) kill_after_ms = 120'000;  // a safety net, not a verdict: see --crash-points

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    c->error = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  int wfd = fds[1];
  if (wfd == 3) {  // dup2(3, 3) would keep close-on-exec
    wfd = fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
    close(fds[1]);
  }
  const std::string log_path = run_dir_ + "/child.log";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wfd, 3);
  posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self_exe_.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(wfd);
  if (rc != 0) {
    close(fds[0]);
    c->error = std::string("posix_spawn: ") + std::strerror(rc);
    return;
  }

  const auto start = std::chrono::steady_clock::now();
  const auto kill_at = start + std::chrono::milliseconds(kill_after_ms);
  bool killed = false;
  std::string buf;
  char chunk[65536];
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && now >= kill_at) {
      kill(pid, SIGKILL);
      killed = true;
    }
    const int timeout =
        killed
            ? -1
            : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - now).count()) +
                  1;
    pollfd p{fds[0], POLLIN, 0};
    const int pr = poll(&p, 1, timeout);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    const ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is gone
    buf.append(chunk, static_cast<size_t>(n));
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      const std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      if (!c->log.feed(line) && c->error.empty()) c->error = c->log.error();
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  c->crash_micros = NowMicros();
  c->log.finish();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // `buf` may hold a line cut short by the kill: it was never reported.
  if (WIFEXITED(status) && WEXITSTATUS(status) == kCrashExit && whitebox) {
    points_hit_[point]++;
    c->what += ": reached after " + std::to_string(static_cast<int>(ms)) + " ms";
  } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && killed) {
    if (whitebox) {
      whitebox_missed_++;
      c->what += ": not reached, killed";
      if (must_reach && c->error.empty()) {
        c->error = "the workload did not reach the crash point " + point + " in " +
                   std::to_string(kill_after_ms / 1000) +
                   " s (--crash-points requires every one to be reached)";
      }
    } else {
      c->what = "SIGKILL after " + std::to_string(kill_after_ms) + " ms";
    }
  } else if (c->error.empty()) {
    c->error = "the workload process ended by itself (" +
               (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                  : "signal " + std::to_string(WTERMSIG(status))) +
               ")" + (c->log.child_error().empty() ? "" : ": " + c->log.child_error()) +
               "; its output is in " + log_path;
  }
}

// ------------------------------------------------------------------------------------ power-cut cycles

class LogReporter final : public Reporter {
 public:
  explicit LogReporter(Cycle* c) : c_(c) {}
  void line(const std::string& text) override {
    if (!c_->log.feed(text) && c_->error.empty()) c_->error = c_->log.error();
  }

 private:
  Cycle* const c_;
};

void Driver::run_powercut(Cycle* c) {
  std::mt19937_64 rng(c->seed);
  auto fs = std::make_unique<FaultInjectionFileSystem>(FileSystem::Default());
  Options o = WorkloadOptions(data_dir_, c->seed);
  o.file_system = fs.get();
  // After a cut the engine's threads log every failed write; only --verbose wants to see them.
  if (!f_.verbose) o.logger = std::make_shared<spdlog::logger>("crashtest-quiet");
  enum { kRandomCut, kCrashPoint, kEio, kEnospc } variant = static_cast<decltype(kRandomCut)>(rng() % 4);
  if (variant == kEnospc && f_.no_disk_full) variant = kRandomCut;
  const int max_ops = 50 + static_cast<int>(rng() % 600);
  const int inject_at = static_cast<int>(rng() % 50);  // < max_ops

  std::string point;
  std::atomic<bool> point_hit{false};
  if (variant == kCrashPoint) {
    const auto& all = AllCrashPoints();
    point = std::string(all[rng() % all.size()]);
    if (!f_.crash_points.empty()) point = f_.crash_points[rng() % f_.crash_points.size()];
    const uint64_t skip = RandomSkip(point, rng);
    FaultInjectionFileSystem* raw = fs.get();
    ArmCrashPoint(point, skip, [raw, &point_hit](std::string_view) {
      raw->cut_power();
      point_hit = true;
    });
    c->what = "power cut at crash point " + point + " skip " + std::to_string(skip);
  } else if (variant == kRandomCut) {
    c->what = "power cut at a random moment";
  } else if (variant == kEio) {
    c->what = "EIO on every fsync after op " + std::to_string(inject_at) + ", then a power cut";
  } else {
    c->what = "disk full after op " + std::to_string(inject_at) + ", then space again, then a power cut";
  }

  LogReporter reporter(c);
  std::unique_ptr<Engine> engine;
  {
    auto e = Engine::open(o);
    if (e.ok()) {
      engine = std::move(e).value();
    } else if (!fs->power_is_off()) {
      c->error = "opening the engine failed without a fault: " + e.status().ToString();
    }
  }
  std::optional<Handles> h;
  std::unique_ptr<Stress> stress;
  if (engine != nullptr) {
    auto hh = OpenDataSet(engine.get());
    if (hh.ok()) {
      h = std::move(hh).value();
      auto s = Stress::Start(engine.get(), &*h, c->seed, &reporter);
      if (s.ok()) {
        stress = std::move(s).value();
      } else if (!fs->power_is_off()) {
        c->error = "starting the workload failed without a fault: " + s.status().ToString();
      }
    } else if (!fs->power_is_off()) {
      c->error = "opening the data set failed without a fault: " + hh.status().ToString();
    }
  }

  std::mutex cut_mu;
  std::condition_variable cut_cv;
  bool cut_stop = false;
  std::thread cutter;
  if (variant == kRandomCut) {
    const auto delay = std::chrono::milliseconds(rng() % 700);
    FaultInjectionFileSystem* raw = fs.get();
    cutter = std::thread([&, raw, delay] {
      std::unique_lock<std::mutex> lock(cut_mu);
      if (!cut_cv.wait_for(lock, delay, [&] { return cut_stop; })) raw->cut_power();
    });
  }

  for (int i = 0; stress != nullptr && c->error.empty() && i < max_ops; i++) {
    if (variant == kEio && i == inject_at) {
      eio_++;
      fs->fail_next(FaultOp::kSync, FaultError::kEIO, 0, 1u << 30);
      bool acked = false;
      Status s = stress->step(Stress::Kind::kSyncCommit, &acked);
      if (s.ok()) {
        c->error = "a sync commit was acknowledged although every fsync fails with EIO";
        break;
      }
      if (!s.IsFatal()) {
        c->error = "a sync commit whose fsync failed returned " + s.ToString() + ", not Fatal";
        break;
      }
      for (int k = 0; k < 5 && c->error.empty(); k++) {
        s = stress->step(Stress::Kind::kSyncCommit, &acked);
        if (s.ok())
          c->error = "a commit was acknowledged after an fsync failed";
        else if (!s.IsFatal())
          c->error = "a commit after a failed fsync returned " + s.ToString() + ", not Fatal";
      }
      if (c->error.empty() && engine->sync().ok())
        c->error = "Engine::sync() succeeded after an fsync failed";
      break;
    }
    if (variant == kEnospc && i == inject_at) {
      enospc_++;
      fs->set_space_limit(1);
      bool refused = false;
      for (int k = 0; k < 3000 && !refused && c->error.empty(); k++) {
        Status s = stress->step(Stress::Kind::kRelaxedCommit);
        if (s.IsNoSpace()) {
          refused = true;
        } else if (!s.ok()) {
          c->error = "on a full disk a commit failed with " + s.ToString() + " instead of NoSpace";
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
      if (!c->error.empty()) break;
      if (!refused) {
        c->error = "no commit was refused with NoSpace on a full disk";
        break;
      }
      for (int k = 0; k < 3 && c->error.empty(); k++) {
        Status s = stress->step(Stress::Kind::kSyncCommit);
        if (!s.IsNoSpace()) c->error = "while the disk is full a sync commit returned " + s.ToString();
      }
      if (!c->error.empty()) break;
      fs->clear_faults();
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      bool recovered = false;
      while (!recovered && c->error.empty() && std::chrono::steady_clock::now() < give_up) {
        bool acked = false;
        Status s = stress->step(Stress::Kind::kSyncCommit, &acked);
        if (s.ok()) {
          recovered = true;
        } else if (s.IsNoSpace()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        } else {
          c->error = "after the disk had space again a sync commit failed with " + s.ToString();
        }
      }
      if (c->error.empty() && !recovered)
        c->error = "commits were still refused 20 s after the disk had space again";
      if (!c->error.empty()) break;
      continue;
    }
    Status s = stress->step();
    if (!s.ok()) {
      if (!fs->power_is_off()) c->error = "a workload step failed without a fault: " + s.ToString();
      break;
    }
    if (fs->power_is_off()) break;
  }

  if (cutter.joinable()) {
    {
      std::lock_guard<std::mutex> lock(cut_mu);
      cut_stop = true;
    }
    cut_cv.notify_all();
    cutter.join();
  }
  fs->cut_power();
  stress.reset();
  h.reset();
  if (engine != nullptr) static_cast<engine::EngineImpl*>(engine.get())->abandon_for_crash_test();
  engine.reset();
  DisarmAllCrashPoints();
  if (point_hit) {
    points_hit_[point]++;
    c->what += ": reached";
  } else if (variant == kCrashPoint) {
    c->what += ": not reached, cut at the end";
  }
  PowerCutOptions cut;
  cut.seed = rng();
  cut.unsynced = static_cast<PowerCutOptions::Unsynced>(rng() % 3);
  if (rng() % 4 == 0) cut.tear_last_write_at = rng() % 200;
  static const char* kUnsynced[] = {"dropped", "random prefix kept", "zero-filled"};
  c->what +=
      std::string("; unsynced bytes ") + kUnsynced[static_cast<int>(cut.unsynced)] +
      (cut.tear_last_write_at ? ", last write torn at " + std::to_string(*cut.tear_last_write_at) : "");
  Status r = fs->restart(cut);
  if (!r.ok() && c->error.empty())
    c->error = "restarting the file system after the power cut: " + r.ToString();
  power_cuts_++;
  c->crash_micros = NowMicros();
  c->log.finish();
}

// A second crash while the engine recovers from the first, at a step only recovery takes: truncating a torn
// tail, or starting a fresh segment after the last one written. The recovery writes nothing the model needs
// to know (the clock is frozen before every TTL, so nothing expires), and the next open must cope.
void Driver::crash_during_recovery(Cycle* c) {
  std::mt19937_64 rng(Mix(c->seed ^ 0x7265636f76ull));
  static const char* kPoints[] = {"wal.before_tail_truncate", "wal.before_segment_create",
                                  "wal.after_segment_header"};
  const std::string point = kPoints[rng() % 3];
  auto fs = std::make_unique<FaultInjectionFileSystem>(FileSystem::Default());
  ManualClock clock(t0_);
  Options o = verify_options(&clock);
  o.file_system = fs.get();
  if (!f_.verbose) o.logger = std::make_shared<spdlog::logger>("crashtest-quiet");
  std::atomic<bool> hit{false};
  FaultInjectionFileSystem* raw = fs.get();
  ArmCrashPoint(point, 0, [raw, &hit](std::string_view) {
    raw->cut_power();
    hit = true;
  });
  auto e = Engine::open(o);
  fs->cut_power();
  if (e.ok()) {
    static_cast<engine::EngineImpl*>(e->get())->abandon_for_crash_test();
    e->reset();
  } else if (!hit) {
    c->error = "recovery failed without a fault: " + e.status().ToString();
  }
  DisarmAllCrashPoints();
  PowerCutOptions cut;
  cut.seed = rng();
  cut.unsynced = static_cast<PowerCutOptions::Unsynced>(rng() % 3);
  Status r = fs->restart(cut);
  if (!r.ok() && c->error.empty())
    c->error = "restarting the file system after a crash in recovery: " + r.ToString();
  if (hit) {
    points_hit_[point]++;
    recovery_crashes_++;
    power_cuts_++;
    c->what += "; crashed again in recovery at " + point;
  }
}

// --------------------------------------------------------------------------------------------- verify

std::string Driver::check_snapshots(Cycle* c, uint64_t recovered_lsn, Clock* clock,
                                    std::vector<std::string>* temps) {
  FileSystem* fs = FileSystem::Default();
  SnapshotFiles here = CheckSnapshotFiles(fs, snapshot_dir());
  if (!here.error.empty()) return here.error;
  snap_files_verified_ += here.verified;
  snap_temps_ += here.temps.size();
  *temps = here.temps;
  // Archived copies are never deleted: each is verified once (it is never modified either).
  SnapshotFiles archived = CheckSnapshotFiles(fs, archived_snapshot_dir(), &archive_seen_);
  if (!archived.error.empty()) return "in the archive: " + archived.error;
  snap_archived_verified_ += archived.verified;
  archived_temps_ = archived.temps.size();
  if (here.newest.empty()) return "";

  RestoredSnapshot r;
  std::string e = CheckRestoredSnapshot(here.newest, run_dir_ + "/restored", clock, recovered_lsn, &r);
  if (!e.empty()) return e;
  snap_restored_++;
  // Taken during this cycle (or by the last verification, at base_lsn_): the model knows its exact state.
  if (r.lsn >= base_lsn_) {
    snap_exact_++;
    e = VerifySnapshotState(base_, c->log, r.lsn, r.state, c->crash_micros);
    if (!e.empty()) {
      c->snapshot = std::move(r);
      return "snapshot " + here.newest + ": " + e;
    }
  }
  return "";
}

void Driver::verify(Cycle* c) {
  ManualClock clock(t0_);
  auto e = Engine::open(verify_options(&clock));
  if (!e.ok()) {
    c->error = "reopening after the crash failed: " + e.status().ToString();
    return;
  }
  Engine* engine = e->get();
  Recovered got;
  got.last_lsn = engine->stats().last_lsn;
  got.crash_micros = c->crash_micros;
  const std::string probe = "cycle" + std::to_string(c->number);
  uint64_t base_lsn = 0;
  {
    auto h = OpenDataSet(engine);
    if (!h.ok()) {
      c->error = "opening the data set after the crash failed: " + h.status().ToString();
      return;
    }
    if (engine->stats().last_lsn != got.last_lsn) {
      c->error = "opening the existing data set wrote to the WAL (last LSN " + std::to_string(got.last_lsn) +
                 " -> " + std::to_string(engine->stats().last_lsn) + ")";
      return;
    }
    auto st = ReadState(engine, *h, &got.sessions);
    if (!st.ok()) {
      c->error = "reading the recovered state failed: " + st.status().ToString();
      return;
    }
    got.state = std::move(st).value();
    c->got = got;
    c->error = VerifyRecovery(base_, c->log, got);
    if (c->error.empty()) c->error = CheckIndexes(*h, got.state);
    std::vector<std::string> temps;
    if (c->error.empty()) c->error = check_snapshots(c, got.last_lsn, &clock, &temps);
    if (!c->error.empty()) return;

    // The engine keeps working.
    Transaction txn(Durability::kSync);
    txn.put(h->bank, "probe", probe);
    auto r = engine->commit(txn);
    if (!r.ok()) {
      c->error = "a commit after recovery failed: " + r.status().ToString();
      return;
    }
    auto back = engine->get(h->bank, "probe");
    if (!back.ok() || back->value->bytes != probe) {
      c->error = "a commit after recovery did not read back: " + back.status().ToString();
      return;
    }
    // The structures keep working too: a job goes in and comes back out, leaving the queue as it was.
    auto pushed = h->game->rpush("queue", {probe}, Durability::kSync);
    auto popped = h->game->rpop("queue", Durability::kSync);
    if (!pushed.ok() || !popped.ok() || *popped != std::optional<std::string>(probe)) {
      c->error = "a structures write after recovery failed: " +
                 (!pushed.ok() ? pushed.status() : popped.status()).ToString();
      return;
    }
    base_lsn = engine->stats().last_lsn;
    // An interrupted save may have left temp files: the engine ignores them until its next save, which must
    // remove them. Take that save now (at base_lsn: the state the next cycle starts from).
    if (!temps.empty()) {
      Status w = engine->wait_materialized();
      auto saved = w.ok() ? engine->save() : Result<SnapshotInfo>(w);
      if (!saved.ok()) {
        c->error = "a save after recovery failed: " + saved.status().ToString();
        return;
      }
      SnapshotFiles after = CheckSnapshotFiles(FileSystem::Default(), snapshot_dir());
      if (!after.error.empty()) {
        c->error = "after a save that followed recovery: " + after.error;
        return;
      }
      for (const std::string& t : temps) {
        if (std::find(after.temps.begin(), after.temps.end(), t) != after.temps.end()) {
          c->error = "a save after recovery left the temp file " + t + " of an interrupted save in " +
                     snapshot_dir();
          return;
        }
      }
      snap_temps_removed_ += temps.size();
    }
  }
  Status s = engine->close();
  if (!s.ok()) {
    c->error = "closing after verification failed: " + s.ToString();
    return;
  }
  base_ = std::move(got.state);
  base_.bank["probe"] = Row{probe, 0};
  base_lsn_ = base_lsn;
  commits_verified_ += c->log.acked().size();
  snap_background_ += c->log.background_saves();
  snap_sync_ += c->log.sync_saves();
  snap_busy_ += c->log.busy_saves();
  for (const CommitRecord& r : c->log.acked()) {
    if (!r.ops.empty() && r.ops.front().is_game()) game_writes_verified_++;
  }
  if (f_.verbose) {
    std::printf("cycle %llu %s (%s): %zu commits acknowledged%s, recovered to LSN %llu: ok\n",
                static_cast<unsigned long long>(c->number), c->mode.c_str(), c->what.c_str(),
                c->log.acked().size(), c->log.maybe().has_value() ? " + 1 in flight" : "",
                static_cast<unsigned long long>(got.last_lsn));
    std::fflush(stdout);
  }
}

namespace {

// Every row of every keyspace, with its expiry: what "the exact state" compares.
Result<std::map<std::string, std::string>> DumpAll(Engine* engine) {
  std::map<std::string, std::string> out;
  for (const KeyspaceInfo& info : engine->keyspaces()) {
    SP_ASSIGN_OR_RETURN(Keyspace * ks, engine->find_keyspace(info.name));
    SP_RETURN_IF_ERROR(engine->scan(ks, "", "", [&](std::string_view key, const Entry& e) {
      out[info.name + '\0' + std::string(key)] = e.value->bytes + '@' + std::to_string(e.expire_at_micros);
      return true;
    }));
  }
  return out;
}

std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() == "LOCK") continue;  // an open writes its pid there
    std::string bytes;
    if (FileSystem::Default()->read_file(e.path().string(), &bytes).ok()) {
      out[std::filesystem::relative(e.path(), dir).string()] = std::move(bytes);
    }
  }
  return out;
}

}  // namespace

void Driver::damage_rocksdb(Cycle* c) {
  namespace fs = std::filesystem;
  std::mt19937_64 rng(Mix(c->seed ^ 0x726f636b73ull));
  const std::string good = run_dir_ + "/damage-good", bad = run_dir_ + "/damage-bad";
  std::error_code ec;
  fs::remove_all(good, ec);
  fs::remove_all(bad, ec);
  fs::copy(data_dir_, good, fs::copy_options::recursive, ec);
  if (ec) {
    c->error = "copying the data directory for the damage check: " + ec.message();
    return;
  }
  ManualClock clock(t0_);
  auto options_for = [&](const std::string& dir) {
    Options o = verify_options(&clock);
    o.data_dir = dir;
    o.archive_dir.clear();  // never into the run's archive
    o.snapshot_dir = dir + "/snapshots";
    o.logger = std::make_shared<spdlog::logger>("crashtest-damage");
    return o;
  };
  std::map<std::string, std::string> expected;
  {
    auto e = Engine::open(options_for(good));
    if (!e.ok()) {
      c->error = "opening an undamaged copy failed: " + e.status().ToString();
      return;
    }
    auto d = DumpAll(e->get());
    if (!d.ok()) {
      c->error = "reading an undamaged copy failed: " + d.status().ToString();
      return;
    }
    expected = std::move(d).value();
    if (Status s = (*e)->close(); !s.ok()) {
      c->error = "closing an undamaged copy failed: " + s.ToString();
      return;
    }
  }
  fs::copy(good, bad, fs::copy_options::recursive, ec);
  // The victim: one of RocksDB's own files, by kind.
  std::map<std::string, std::vector<std::string>> by_kind;
  for (const auto& f : fs::directory_iterator(bad + "/db")) {
    const std::string name = f.path().filename().string();
    if (name.starts_with("MANIFEST-")) by_kind["MANIFEST"].push_back(f.path().string());
    if (name == "CURRENT") by_kind["CURRENT"].push_back(f.path().string());
    if (name.ends_with(".sst")) by_kind["SST"].push_back(f.path().string());
    if (name.starts_with("OPTIONS-")) by_kind["OPTIONS"].push_back(f.path().string());
  }
  if (by_kind.empty()) return;
  auto kind_it = std::next(by_kind.begin(), static_cast<long>(rng() % by_kind.size()));
  const std::string victim = kind_it->second[rng() % kind_it->second.size()];
  const uint64_t size = fs::file_size(victim, ec);
  std::string what = kind_it->first + " ";
  switch (rng() % 3) {
    case 0:
      fs::remove(victim, ec);
      what += "deleted";
      break;
    case 1: {
      const uint64_t cut = size == 0 ? 0 : rng() % size;
      fs::resize_file(victim, cut, ec);
      what += "truncated";
      break;
    }
    default: {
      std::string bytes;
      (void)FileSystem::Default()->read_file(victim, &bytes);
      if (!bytes.empty()) bytes[rng() % bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
      auto w = FileSystem::Default()->new_writable_file(victim);
      if (w.ok()) (void)(*w)->append(bytes), (void)(*w)->close();
      what += "bit flipped";
      break;
    }
  }
  const auto before = FilesUnder(bad);
  auto e = Engine::open(options_for(bad));
  Result<std::map<std::string, std::string>> got =
      e.ok() ? DumpAll(e->get()) : Result<std::map<std::string, std::string>>(e.status());
  if (e.ok()) (void)(*e)->close();
  if (!e.ok()) {
    if (FilesUnder(bad) != before) {
      c->error = "RocksDB damage (" + what + " " + victim + "): the open failed (" + e.status().ToString() +
                 ") and changed files";
      return;
    }
    damage_refused_[what]++;
  } else if (!got.ok()) {
    damage_refused_[what]++;  // a read refused the damage: an error, not a wrong answer
  } else if (*got != expected) {
    c->error = "RocksDB damage (" + what + " " + victim +
               "): the open succeeded with a state other than the "
               "undamaged copy's (" +
               std::to_string(got->size()) + " rows, expected " + std::to_string(expected.size()) + ")";
    return;
  } else {
    damage_exact_[what]++;
  }
  fs::remove_all(good, ec);
  fs::remove_all(bad, ec);
}

namespace {
void DumpTable(std::FILE* out, const char* name, const Table& t) {
  std::fprintf(out, "%s:", name);
  for (auto& [k, r] : t) std::fprintf(out, " %s=%s", k.c_str(), r.value.substr(0, 8).c_str());
  std::fprintf(out, "\n");
}
void DumpState(std::FILE* out, const char* what, const State& s) {
  std::fprintf(out, "%s\n", what);
  DumpTable(out, "  bank", s.bank);
  DumpTable(out, "  wallet", s.wallet);
  DumpTable(out, "  vault", s.vault);
  DumpTable(out, "  positions", s.positions);
  std::fprintf(out, "  characters:");
  for (auto& [id, c] : s.chars)
    std::fprintf(out, " %lld=%s/%lld", static_cast<long long>(id), c.name.c_str(),
                 static_cast<long long>(c.level));
  std::fprintf(out, "\n  game lb:");
  if (s.game.zsets.count("lb")) {
    for (auto& [m, score] : s.game.zsets.at("lb")) std::fprintf(out, " %s=%g", m.c_str(), score);
  }
  std::fprintf(out, "\n  game queue:");
  if (s.game.lists.count("queue")) {
    for (auto& job : s.game.lists.at("queue")) std::fprintf(out, " %s", job.c_str());
  }
  for (auto& [key, members] : s.game.sets) {
    std::fprintf(out, "\n  game %s:", key.c_str());
    for (auto& m : members) std::fprintf(out, " %s", m.c_str());
  }
  for (auto& [key, st] : s.game.streams) {
    std::fprintf(out, "\n  game %s: last delivered %s, entries:", key.c_str(),
                 st.last_delivered.ToString().c_str());
    for (auto& [id, v] : st.entries) std::fprintf(out, " %s=%s", id.ToString().c_str(), v.c_str());
    std::fprintf(out, "; pending:");
    for (auto& [id, consumer] : st.pending)
      std::fprintf(out, " %s@%s", id.ToString().c_str(), consumer.c_str());
  }
  std::fprintf(out, "\n");
}
}  // namespace

// The cycle's reports, the state it started from and what was recovered, for the post-mortem.
void Driver::dump_cycle(const Cycle& c, const std::string& path) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return;
  std::fprintf(out, "cycle %llu %s: %s\n%s\nstart coalesce count %llu\n",
               static_cast<unsigned long long>(c.number), c.mode.c_str(), c.what.c_str(), c.error.c_str(),
               static_cast<unsigned long long>(c.log.start_coalesce_count()));
  for (const CommitRecord& r : c.log.acked()) std::fprintf(out, "%s\n", EncodeAck(r).c_str());
  if (c.log.maybe()) std::fprintf(out, "in flight: %s\n", EncodeIntent(*c.log.maybe()).c_str());
  DumpState(out, "base (the state the cycle started from):", c.base);
  if (c.got.has_value()) {
    DumpState(out, ("recovered (last LSN " + std::to_string(c.got->last_lsn) + "):").c_str(), c.got->state);
  }
  if (c.snapshot.has_value()) {
    DumpState(out, ("the newest snapshot (LSN " + std::to_string(c.snapshot->lsn) + "):").c_str(),
              c.snapshot->state);
  }
  std::fclose(out);
}

int Driver::fail(const Cycle& c) {
  std::fflush(stdout);
  dump_cycle(c, run_dir_ + "/failed_cycle.txt");
  char length[64];
  if (f_.cycles != 0) {
    std::snprintf(length, sizeof length, "--cycles=%llu", static_cast<unsigned long long>(f_.cycles));
  } else {
    std::snprintf(length, sizeof length, "--duration=%g", f_.duration);
  }
  std::string points;
  for (const std::string& p : f_.crash_points) points += (points.empty() ? " --crash-points=" : ",") + p;
  std::fprintf(stderr,
               "\nFAILED in cycle %llu (%s: %s):\n  %s\n"
               "seed=%llu\n"
               "reproduce: %s --seed=%llu --mode=%s %s%s%s --verbose\n"
               "  (same workload and crash choices; kill timing is real time)\n"
               "data directory kept: %s (the cycle's reports: failed_cycle.txt)\n",
               static_cast<unsigned long long>(c.number), c.mode.c_str(), c.what.c_str(), c.error.c_str(),
               static_cast<unsigned long long>(f_.seed), argv0_.c_str(),
               static_cast<unsigned long long>(f_.seed), f_.mode.c_str(), length, points.c_str(),
               f_.no_disk_full ? " --no-disk-full" : "", run_dir_.c_str());
  return 1;
}

int Driver::run() {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    std::perror("readlink /proc/self/exe");
    return 2;
  }
  self_exe_.assign(exe, static_cast<size_t>(n));
  if (!prepare_dir()) return 2;
  signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(f_.verbose ? spdlog::level::info : spdlog::level::warn);
  if (f_.cycles != 0) {
    std::printf("savepoint_crashtest: seed=%llu mode=%s cycles=%llu dir=%s\n",
                static_cast<unsigned long long>(f_.seed), f_.mode.c_str(),
                static_cast<unsigned long long>(f_.cycles), run_dir_.c_str());
  } else {
    std::printf("savepoint_crashtest: seed=%llu mode=%s duration=%gs dir=%s\n",
                static_cast<unsigned long long>(f_.seed), f_.mode.c_str(), f_.duration, run_dir_.c_str());
  }
  std::fflush(stdout);

  t0_ = NowMicros();  // every TTL the workload sets expires after this
  {
    Options o = verify_options(nullptr);
    Status s = CreateDataSet(o);
    if (!s.ok()) {
      std::fprintf(stderr, "creating the data set failed: %s\n", s.ToString().c_str());
      return 2;
    }
    for (int i = 0; i < kGoldKeys; i++) {
      base_.bank["gold:" + std::to_string(i)] = Row{std::to_string(kGoldEach), 0};
      base_.wallet["gold:" + std::to_string(i)] = Row{"0", 0};
    }
    base_.game.streams["events"] = GameStream{};  // created with its consumer group, empty
    Cycle setup;
    setup.mode = "setup";
    setup.what = "clean close";
    verify(&setup);
    if (!setup.error.empty()) return fail(setup);
  }

  static const char* kModes[] = {"blackbox", "whitebox", "powercut"};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(f_.duration * 1000));
  while (f_.cycles != 0 ? cycles_ < f_.cycles : std::chrono::steady_clock::now() < deadline) {
    Cycle c;
    c.number = ++cycles_;
    c.mode = f_.mode == "all" ? kModes[cycles_ % 3] : f_.mode;
    c.seed = Mix(f_.seed + c.number);
    cycles_by_mode_[c.mode]++;
    c.base = base_;
    if (c.mode == "powercut") {
      run_powercut(&c);
    } else {
      run_child(c.mode == "whitebox", &c);
    }
    if (c.error.empty() && !c.log.child_error().empty())
      c.error = "the workload failed: " + c.log.child_error();
    if (c.error.empty() && Mix(c.seed) % 3 == 0) crash_during_recovery(&c);
    if (c.error.empty()) verify(&c);
    if (c.error.empty() && Mix(c.seed ^ 0x64616d61ull) % 4 == 0) damage_rocksdb(&c);
    if (!c.error.empty()) return fail(c);
    // The last three cycles' reports stay on disk for a post-mortem of a failure found later.
    dump_cycle(c, run_dir_ + "/cycle-" + std::to_string(c.number % 3) + ".txt");
  }

  std::printf("cycles run: %llu (", static_cast<unsigned long long>(cycles_));
  bool first = true;
  for (auto& [mode, count] : cycles_by_mode_) {
    std::printf("%s%s %llu", first ? "" : ", ", mode.c_str(), static_cast<unsigned long long>(count));
    first = false;
  }
  std::printf(")\ncrash points hit: %llu", [&] {
    uint64_t t = 0;
    for (auto& [p, k] : points_hit_) t += k;
    return static_cast<unsigned long long>(t);
  }());
  for (auto& [p, k] : points_hit_) std::printf("\n  %s: %llu", p.c_str(), static_cast<unsigned long long>(k));
  std::string never;
  for (std::string_view p : AllCrashPoints()) {
    if (!points_hit_.count(std::string(p))) never += " " + std::string(p);
  }
  if (!never.empty()) std::printf("\n  not reached this run:%s", never.c_str());
  std::printf("\n  whitebox points armed but not reached (killed instead): %llu\n",
              static_cast<unsigned long long>(whitebox_missed_));
  std::printf(
      "power cuts simulated: %llu (of them after EIO on fsync: %llu, after a full disk: %llu, "
      "during recovery: %llu)\n",
      static_cast<unsigned long long>(power_cuts_), static_cast<unsigned long long>(eio_),
      static_cast<unsigned long long>(enospc_), static_cast<unsigned long long>(recovery_crashes_));
  uint64_t refused = 0, exact = 0;
  std::string damage_kinds;
  for (auto& [what, n] : damage_refused_) refused += n;
  for (auto& [what, n] : damage_exact_) exact += n;
  std::set<std::string> kinds;
  for (auto& [what, n] : damage_refused_) kinds.insert(what);
  for (auto& [what, n] : damage_exact_) kinds.insert(what);
  for (const std::string& k : kinds) {
    damage_kinds += (damage_kinds.empty() ? "" : ", ") + k + " " + std::to_string(damage_refused_[k]) + "/" +
                    std::to_string(damage_exact_[k]);
  }
  std::printf(
      "RocksDB files damaged: %llu (refused with nothing changed: %llu, opened with the exact state: "
      "%llu; refused/exact by damage: %s)\n",
      static_cast<unsigned long long>(refused + exact), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(exact), damage_kinds.empty() ? "none" : damage_kinds.c_str());
  std::printf("commits verified: %llu (of them structures writes: %llu)\n",
              static_cast<unsigned long long>(commits_verified_),
              static_cast<unsigned long long>(game_writes_verified_));
  std::printf(
      "snapshots taken: %llu (background %llu, synchronous %llu; refused as busy: %llu)\n"
      "snapshots verified: %llu files read through (%llu in the snapshot directory, %llu archived copies), "
      "%llu restored and opened (%llu compared with the model's exact state at their LSN, the others checked "
      "for the invariants only); temp files of interrupted saves ignored: %llu (removed by the next save: "
      "%llu; left in the archive: %llu)\n",
      static_cast<unsigned long long>(snap_background_ + snap_sync_),
      static_cast<unsigned long long>(snap_background_), static_cast<unsigned long long>(snap_sync_),
      static_cast<unsigned long long>(snap_busy_),
      static_cast<unsigned long long>(snap_files_verified_ + snap_archived_verified_),
      static_cast<unsigned long long>(snap_files_verified_),
      static_cast<unsigned long long>(snap_archived_verified_),
      static_cast<unsigned long long>(snap_restored_), static_cast<unsigned long long>(snap_exact_),
      static_cast<unsigned long long>(snap_temps_), static_cast<unsigned long long>(snap_temps_removed_),
      static_cast<unsigned long long>(archived_temps_));
  std::fflush(stdout);
  if (temp_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
  }
  return 0;
}

}  // namespace
}  // namespace savepoint::crashtest

int main(int argc, char** argv) {
  using namespace savepoint::crashtest;
  Flags f;
  if (!ParseFlags(argc, argv, &f)) return 2;
  if (f.child) {
    if (f.dir.empty() || f.report_fd < 0) {
      std::fprintf(stderr, "--child needs --dir and --report-fd\n");
      return 2;
    }
    return RunChild(f.dir, f.seed, f.crash_point, f.crash_skip, f.report_fd, f.verbose);
  }
  if (!f.seed_set) f.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  Driver driver(std::move(f), argv[0]);
  return driver.run();
}
