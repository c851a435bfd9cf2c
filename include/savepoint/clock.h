// Clock: the time source of commit timestamps, TTLs, sync intervals and save points. Injectable so tests and
// PITR drills control time to the microsecond.
//
// Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace savepoint {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, microseconds since the Unix epoch. Used for commit timestamps and TTLs.
  virtual uint64_t now_micros() = 0;
  // The system clock. Process lifetime; never delete it.
  static Clock* System();
};

// A clock that moves only when told to. Starts at `start_micros`.
class ManualClock : public Clock {
 public:
  explicit ManualClock(uint64_t start_micros = 1'700'000'000'000'000ULL) : now_(start_micros) {}
  uint64_t now_micros() override { return now_.load(std::memory_order_acquire); }
  void set_micros(uint64_t t) { now_.store(t, std::memory_order_release); }
  void advance_micros(uint64_t d) { now_.fetch_add(d, std::memory_order_acq_rel); }

 private:
  std::atomic<uint64_t> now_;
};

}  // namespace savepoint
