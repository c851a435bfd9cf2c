// Named crash points: places in the write path where a test, the torture driver or a user's CrashSimulator
// can stop the process (or run an action) to see what recovery makes of the files left behind.
//
// Cost while nothing is armed: one relaxed atomic load per point, so they stay in release builds (RocksDB's
// TEST_KILL_RANDOM idea). Names say which step they interrupt: "wal.after_write_before_sync".
//
// Thread-safety: arm/disarm/hit may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace savepoint {

namespace crash_point_internal {
extern std::atomic<bool> g_any_armed;
void Hit(const char* name);
}  // namespace crash_point_internal

// Every crash point in the code, in write-path order. The torture driver picks from this list; a test fails
// when a name is used in the code but missing here (CrashPoints_test).
const std::vector<std::string_view>& AllCrashPoints();

// What happens when an armed point is reached. The default ends the process at once with _exit(kCrashExit),
// as kill -9 would: no destructors, no flushing of user-space buffers.
using CrashAction = std::function<void(std::string_view name)>;
inline constexpr int kCrashExit = 77;

// Arms `name`: the first `skip` hits pass, the next one runs `action` (or _exit) and disarms the point.
void ArmCrashPoint(std::string_view name, uint64_t skip = 0, CrashAction action = nullptr);
void DisarmAllCrashPoints();
// Number of times `name` was reached while any point was armed (counting starts at the first arm).
uint64_t CrashPointHits(std::string_view name);

}  // namespace savepoint

// Marks a crash point. `name` must be a string literal listed in AllCrashPoints().
#define SP_CRASH_POINT(name)                                                                 \
  do {                                                                                       \
    if (::savepoint::crash_point_internal::g_any_armed.load(std::memory_order_relaxed)) {   \
      ::savepoint::crash_point_internal::Hit(name);                                          \
    }                                                                                        \
  } while (0)
