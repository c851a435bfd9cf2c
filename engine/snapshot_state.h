// The engine's state of saves, archiving and write refusal (EngineImpl::snap_), shared by snapshot.cc and
// archiving.cc. Internal to engine/.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "savepoint/engine.h"

namespace savepoint::engine {

struct SnapshotState {
  std::mutex mu;
  bool running = false;               // GUARDED_BY(mu): a save holds the slot
  uint64_t running_lsn = 0;           // GUARDED_BY(mu)
  std::thread thread;                 // GUARDED_BY(mu): the last background save's thread
  SnapshotInfo last;                  // GUARDED_BY(mu): the last success (finished_micros = open time before)
  uint64_t changes_at_last_save = 0;  // GUARDED_BY(mu)
  uint64_t last_failure_micros = 0;   // GUARDED_BY(mu): engine clock, for save_retry_delay
  std::string last_error;             // GUARDED_BY(mu): since the last success
  std::atomic<bool> cancel{false};    // close(): running saves stop between blocks
  std::atomic<bool> stop_writes{false};
  std::atomic<uint64_t> ok{0}, failed{0};

  // Archiving (archiving.cc).
  std::mutex archive_mu;
  std::set<std::string> archived;       // GUARDED_BY(archive_mu): segment names archived since open
  uint64_t archive_error_logged_micros = 0;  // GUARDED_BY(archive_mu)
  std::atomic<uint64_t> archived_segments{0};
};

}  // namespace savepoint::engine
