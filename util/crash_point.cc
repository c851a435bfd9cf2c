#include "savepoint/crash_point.h"

#include <unistd.h>

#include <map>
#include <mutex>

namespace savepoint {

namespace {

struct Armed {
  uint64_t skip = 0;
  CrashAction action;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, Armed, std::less<>> armed;
  std::map<std::string, uint64_t, std::less<>> hits;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: points may be hit during static destruction
  return *r;
}

}  // namespace

namespace crash_point_internal {

std::atomic<bool> g_any_armed{false};

void Hit(const char* name) {
  CrashAction action;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.hits[name]++;
    auto it = r.armed.find(std::string_view(name));
    if (it == r.armed.end()) return;
    if (it->second.skip > 0) {
      it->second.skip--;
      return;
    }
    action = std::move(it->second.action);
    r.armed.erase(it);
    // g_any_armed stays set: hit counting continues until DisarmAllCrashPoints().
  }
  if (action) {
    action(name);
  } else {
    _exit(kCrashExit);
  }
}

}  // namespace crash_point_internal

const std::vector<std::string_view>& AllCrashPoints() {
  static const std::vector<std::string_view> kAll = {
      // wal/
      "wal.before_segment_create",
      "wal.after_segment_header",
      "wal.before_seal",
      "wal.after_write_before_sync",
      "wal.after_sync_before_ack",
      "wal.before_tail_truncate",
      // wal/ archive
      "archive.after_temp_write",
      "archive.after_temp_sync",
      "archive.after_rename",
      // snapshot/
      "snapshot.after_temp_write",
      "snapshot.before_rename",
      "snapshot.after_rename",
      "snapshot.copy_before_rename",
      // engine/
      "engine.after_wal_append_before_apply",
      "engine.before_materialize",
      "engine.after_materialize",
      "engine.before_flush",
      "engine.after_flush",
      "engine.before_wal_retire",
      "snapshot.before_write",
      "snapshot.before_retention",
  };
  return kAll;
}

void ArmCrashPoint(std::string_view name, uint64_t skip, CrashAction action) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.armed[std::string(name)] = Armed{skip, std::move(action)};
  crash_point_internal::g_any_armed.store(true, std::memory_order_relaxed);
}

void DisarmAllCrashPoints() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.armed.clear();
  r.hits.clear();
  crash_point_internal::g_any_armed.store(false, std::memory_order_relaxed);
}

uint64_t CrashPointHits(std::string_view name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.hits.find(name);
  return it == r.hits.end() ? 0 : it->second;
}

}  // namespace savepoint
