#include "savepoint/clock.h"

#include <chrono>

namespace savepoint {

namespace {
class SystemClock final : public Clock {
 public:
  uint64_t now_micros() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
};
}  // namespace

Clock* Clock::System() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace savepoint
