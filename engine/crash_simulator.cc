// CrashSimulator: see include/savepoint/crash_simulator.h.
#include "savepoint/crash_simulator.h"

#include <algorithm>

#include "engine/engine_impl.h"
#include "savepoint/crash_point.h"

namespace savepoint {

CrashSimulator::CrashSimulator(std::string data_dir)
    : data_dir_(std::move(data_dir)),
      memory_(NewMemFileSystem()),
      fs_(std::make_unique<FaultInjectionFileSystem>(memory_.get())),
      reached_(std::make_shared<std::atomic<bool>>(false)) {
  // PowerCutOptions::tear_last_write_at tears the WAL's last write, as it did when only the WAL was on the
  // simulated disk: RocksDB's own writes (unsynced until its flushes end) are dropped or kept by `unsynced`.
  fs_->set_tear_scope("/wal/");
}

CrashSimulator::~CrashSimulator() {
  std::lock_guard<std::mutex> lock(mu_);
  // An armed point's action refers to fs_: it must not outlive it.
  if (armed_) DisarmAllCrashPoints();
}

Options CrashSimulator::options() const {
  Options o;
  o.data_dir = data_dir_;
  o.file_system = fs_.get();
  return o;
}

Result<std::unique_ptr<Engine>> CrashSimulator::open(Options options) {
  if (options.file_system == nullptr) options.file_system = fs_.get();
  if (options.data_dir.empty()) options.data_dir = data_dir_;
  if (options.file_system != fs_.get()) {
    return Status::InvalidArgument("CrashSimulator::open: Options::file_system must be the simulator's");
  }
  if (options.data_dir != data_dir_) {
    return Status::InvalidArgument("CrashSimulator::open: Options::data_dir must be " + data_dir_);
  }
  if (fs_->power_is_off()) {
    return Status::InvalidArgument(
        "CrashSimulator::open: the power is off (a crash point was reached); "
        "call cut_power() first");
  }
  SP_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::open(options));
  std::lock_guard<std::mutex> lock(mu_);
  engines_.insert(engine.get());
  return engine;
}

Status CrashSimulator::cut_power(std::unique_ptr<Engine>& engine, const PowerCutOptions& how) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (engine != nullptr && engines_.erase(engine.get()) == 0) {
      return Status::InvalidArgument(
          "CrashSimulator::cut_power: the engine was not opened by this simulator");
    }
  }
  // Power first, so nothing the engine's threads do from here on reaches the disk; then stop them as a
  // crash would.
  fs_->cut_power();
  if (engine != nullptr) {
    // Engine::open only ever makes an EngineImpl.
    static_cast<engine::EngineImpl*>(engine.get())->abandon_for_crash_test();
    engine.reset();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (armed_) {
      DisarmAllCrashPoints();
      armed_ = false;
    }
  }
  return fs_->restart(how);
}

Status CrashSimulator::crash_at(std::string_view point, uint64_t skip) {
  const auto& all = AllCrashPoints();
  if (std::find(all.begin(), all.end(), point) == all.end()) {
    return Status::InvalidArgument("unknown crash point \"" + std::string(point) + "\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  reached_->store(false);
  FaultInjectionFileSystem* fs = fs_.get();
  std::shared_ptr<std::atomic<bool>> reached = reached_;
  ArmCrashPoint(point, skip, [fs, reached](std::string_view) {
    fs->cut_power();
    reached->store(true);
  });
  armed_ = true;
  return Status::OK();
}

}  // namespace savepoint
