// savepoint_bench: throughput and latency of savepoint on real files, in the spirit of RocksDB's db_bench.
//
//   savepoint_bench [--workloads=get,put_sync] [--threads=1,4,16,64] [--duration=5] [--keys=1000000] [--json]
//
// Each (workload, thread count) pair is one run in a fresh directory: a warm-up that is not counted, then a
// fixed measuring window. Latencies are recorded per thread in log-linear histograms merged after the run,
// and reported as percentiles: an average hides the fsync stalls that a game server's players feel.
// Workloads of sub-microsecond operations (get, put_relaxed, mixed) time one operation in
// kFastLatencyEvery (reported as latency_sampled_every) and count them all: reading the clock is ordered
// (rdtscp / lfence), so timing every one would keep the CPU from overlapping one operation's cache misses
// with the next one's, and would measure the clock as much as the engine.
//
// Two families of workloads: the log alone (fsync_raw, wal_append_*) and the engine (get, put_*, mixed,
// recovery). An engine run opens an Engine on its own directory, creates one memory-resident, durable,
// relaxed keyspace, loads --keys keys "key:%016llu" (20 bytes, like redis-benchmark's key:__rand_int__) with
// --value_size-byte values, and only then starts the clock.
//
// A new workload is a run function plus one row of kWorkloads.
#include <sys/resource.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine_impl.h"  // only for EngineImpl::abandon_for_crash_test (the recovery workload)
#include "savepoint/engine.h"
#include "savepoint/file_system.h"
#include "savepoint/recovery.h"
#include "savepoint/registry.h"
#include "savepoint/structures.h"
#include "util/histogram.h"
#include "wal/archive.h"
#include "wal/wal_writer.h"

namespace savepoint::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Config {
  double duration_s = 5;
  double warmup_s = 0.5;
  size_t value_size = 100;
  uint64_t keys = 1'000'000;  // engine workloads: resident keys loaded before the clock starts
};

// Sub-microsecond workloads time one operation in this many (see the file comment).
constexpr int kFastLatencyEvery = 16;

// What one run measured. `bytes` are payload bytes: MB/s is what the caller got through, not framing.
struct Report {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // the process's CPU time (user + system, every thread) over the window
  Histogram latency;
  std::vector<std::pair<std::string, double>> extra;  // workload-specific fields, in output order
  std::vector<Report> also;  // further result lines of the same run (snapshot_latency: with a snapshot)
};

// CPU time the process has used so far, all threads (background ones included), user and system.
double ProcessCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// Runs `op(thread)` in a loop on `threads` threads through the warm-up and the measuring window. `op` returns
// the payload bytes it moved, or an error that ends the run. `window(true)` / `window(false)` run on this
// thread as the window opens and closes, to snapshot counters. Only operations that start and end inside the
// window count; the few cut by its edges are dropped.
// `latency_every` > 1 times only one operation in that many (see the file comment); every one is counted.
Result<Report> RunTimed(const Config& cfg, int threads, const std::function<Result<uint64_t>(int)>& op,
                        const std::function<void(bool)>& window = {}, int latency_every = 1) {
  enum Phase : int { kWarmup, kMeasure, kStop };
  std::atomic<int> phase{kWarmup};
  struct alignas(64) PerThread {
    Histogram latency;
    uint64_t ops = 0;
    uint64_t bytes = 0;
    Status error;
  };
  std::vector<PerThread> per(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      PerThread& me = per[static_cast<size_t>(t)];
      int until_timed = 0;  // operations left before the next timed one
      for (;;) {
        const int before = phase.load(std::memory_order_relaxed);
        if (before == kStop) return;
        const bool timed = until_timed == 0;
        until_timed = timed ? latency_every - 1 : until_timed - 1;
        SteadyClock::time_point start, end;
        if (timed) start = SteadyClock::now();
        Result<uint64_t> moved = op(t);
        if (timed) end = SteadyClock::now();
        if (!moved.ok()) {
          me.error = moved.status();
          phase.store(kStop);
          return;
        }
        if (before == kMeasure && phase.load(std::memory_order_relaxed) == kMeasure) {
          if (timed) me.latency.record(static_cast<uint64_t>(std::chrono::nanoseconds(end - start).count()));
          me.ops++;
          me.bytes += *moved;
        }
      }
    });
  }
  // Sleeps until `deadline` or until a worker failed.
  auto sleep_until = [&](SteadyClock::time_point deadline) {
    while (phase.load() != kStop && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(
          std::min<SteadyClock::duration>(deadline - SteadyClock::now(), std::chrono::milliseconds(10)));
    }
  };
  auto seconds = [](double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
  };
  sleep_until(SteadyClock::now() + seconds(cfg.warmup_s));
  if (window) window(true);
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = SteadyClock::now();
  int expected = kWarmup;
  phase.compare_exchange_strong(expected, kMeasure);
  sleep_until(t0 + seconds(cfg.duration_s));
  phase.store(kStop);
  const auto t1 = SteadyClock::now();
  const double cpu1 = ProcessCpuSeconds();
  if (window) window(false);
  for (std::thread& w : workers) w.join();

  Report report;
  report.seconds = std::chrono::duration<double>(t1 - t0).count();
  report.cpu_seconds = cpu1 - cpu0;
  for (const PerThread& p : per) {
    if (!p.error.ok()) return p.error;
    report.latency.merge(p.latency);
    report.ops += p.ops;
    report.bytes += p.bytes;
  }
  return report;
}

std::string RandomBytes(size_t size) {
  std::string v(size, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>('a' + x % 26);
  }
  return v;
}

// ---- workloads ----

// The physical limit every durable commit pays: write 4 KiB at the end of a file, fdatasync, repeat. Each
// thread has its own file, so more threads show whether the device overlaps flushes.
Result<Report> RunFsyncRaw(const Config& cfg, int threads, const std::string& dir) {
  constexpr size_t kWriteSize = 4096;
  FileSystem* fs = FileSystem::Default();
  std::vector<std::unique_ptr<WritableFile>> files;
  for (int t = 0; t < threads; t++) {
    SP_ASSIGN_OR_RETURN(auto f, fs->new_writable_file(JoinPath(dir, "fsync_raw." + std::to_string(t))));
    files.push_back(std::move(f));
  }
  const std::string block = RandomBytes(kWriteSize);
  auto write_and_sync = [&](int t) -> Result<uint64_t> {
    WritableFile& f = *files[static_cast<size_t>(t)];
    SP_RETURN_IF_ERROR(f.append(block));
    SP_RETURN_IF_ERROR(f.sync());
    return kWriteSize;
  };
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, write_and_sync));
  for (auto& f : files) SP_RETURN_IF_ERROR(f->close());
  r.extra.emplace_back("write_size", kWriteSize);
  return r;
}

// `threads` appenders share one WalWriter, as a game server's sessions share its log.
Result<Report> RunWalAppend(const Config& cfg, int threads, const std::string& dir,
                            wal::Durability durability) {
  SP_ASSIGN_OR_RETURN(auto writer, wal::WalWriter::Open(FileSystem::Default(), dir));
  const std::string value = RandomBytes(cfg.value_size);
  wal::WriterStats opened, closed;
  auto append = [&](int) -> Result<uint64_t> {
    SP_RETURN_IF_ERROR(writer->append(wal::RecordType::kTransaction, value, durability).status());
    return value.size();
  };
  auto snapshot = [&](bool opening) { (opening ? opened : closed) = writer->stats(); };
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, append, snapshot));
  SP_RETURN_IF_ERROR(writer->close());
  const uint64_t records = closed.records - opened.records;
  const uint64_t syncs = closed.syncs - opened.syncs;
  r.extra.emplace_back("value_size", static_cast<double>(cfg.value_size));
  // What reached the OS during the window, framing included: the log's real write rate.
  r.extra.emplace_back("log_mb_per_sec",
                       static_cast<double>(closed.bytes_written - opened.bytes_written) / r.seconds / 1e6);
  r.extra.emplace_back("syncs", static_cast<double>(syncs));
  if (durability == wal::Durability::kSync) {
    // Group commit efficiency: how many sync commits one fdatasync covered.
    r.extra.emplace_back("commits_per_sync", syncs == 0 ? 0.0 : static_cast<double>(records) / syncs);
  }
  return r;
}

struct Workload {
  const char* name;
  std::vector<int> default_threads;  // used when --threads is not given
  const char* description;
  std::function<Result<Report>(const Config&, int threads, const std::string& dir)> run;
  bool one_run = false;  // runs once with default_threads whatever --threads says (recovery: one open)
};

Result<Report> RunWalAppendRelaxed(const Config& cfg, int threads, const std::string& dir) {
  return RunWalAppend(cfg, threads, dir, wal::Durability::kRelaxed);
}
Result<Report> RunWalAppendSync(const Config& cfg, int threads, const std::string& dir) {
  return RunWalAppend(cfg, threads, dir, wal::Durability::kSync);
}

// ---- engine workloads ----

// The keys of the engine workloads: key i is "key:%016llu" (20 bytes). A KeyName formats it into its own
// buffer with a digit-pair table, a few nanoseconds and no allocation: looking keys up in a table of a
// million would cost the measured loop a cache miss of its own per operation.
class alignas(64) KeyName {
 public:
  static constexpr size_t kKeyBytes = 20;

  KeyName() { std::memcpy(bytes_, "key:", 4); }
  KeyName(const KeyName&) = delete;
  KeyName& operator=(const KeyName&) = delete;

  // Key `i`, valid until the next call. REQUIRES: i < 10^16.
  std::string_view operator()(uint64_t i) {
    static constexpr char kPairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    for (size_t at = kKeyBytes; at > 4; at -= 2) {
      std::memcpy(&bytes_[at - 2], &kPairs[(i % 100) * 2], 2);
      i /= 100;
    }
    return {bytes_, kKeyBytes};
  }

 private:
  char bytes_[kKeyBytes];
};

// SplitMix64: a few nanoseconds per draw, one per thread (on its own cache line).
class alignas(64) Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift (Lemire), without a division.
  uint64_t uniform(uint64_t n) {
    __extension__ using U128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<U128>(next()) * n) >> 64);
  }

 private:
  uint64_t state_;
};

std::vector<Rng> MakeRngs(int threads) {
  std::vector<Rng> rngs;
  for (int t = 0; t < threads; t++) rngs.emplace_back(static_cast<uint64_t>(t) + 1);
  return rngs;
}

// The physical limit of a point read: one dependent load from memory at a random place, as a hash-table
// probe into a large keyspace is. A random cycle (Sattolo) through one 8-byte slot per 64-byte line of a
// 256 MiB array, far beyond the caches; each op follows 16 links (the clock is read once per op) and counts
// 16 loads. A get in a large keyspace needs at least two such loads one after the other (its bucket, then
// its node and value), so 1 / (2 x this latency) bounds one thread's get rate.
Result<Report> RunMemoryLatency(const Config& cfg, int threads, const std::string&) {
  constexpr size_t kLine = 64 / sizeof(uint64_t);
  constexpr size_t kLines = (256u << 20) / 64;
  std::vector<uint64_t> slots(kLines * kLine);
  std::vector<uint64_t> order(kLines);
  for (size_t i = 0; i < kLines; i++) order[i] = i;
  Rng rng(0x5eed);
  for (size_t i = kLines - 1; i > 0; i--) std::swap(order[i], order[rng.uniform(i)]);  // Sattolo: one cycle
  for (size_t i = 0; i < kLines; i++) slots[order[i] * kLine] = order[(i + 1) % kLines] * kLine;
  constexpr int kLinks = 16;
  std::vector<uint64_t> at(static_cast<size_t>(threads), 0);
  auto chase = [&](int t) -> Result<uint64_t> {
    uint64_t p = at[static_cast<size_t>(t)];
    for (int i = 0; i < kLinks; i++) p = slots[p];
    at[static_cast<size_t>(t)] = p;
    return 0;
  };
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, chase));
  r.ops *= kLinks;
  r.extra.emplace_back("array_mib", static_cast<double>(kLines * 64 >> 20));
  r.extra.emplace_back("ns_per_load", r.seconds * 1e9 / static_cast<double>(r.ops));
  r.extra.emplace_back("latency_is_per", kLinks);
  return r;
}

// Resident set size from /proc/self/statm, after handing the allocator's wholly free pages back to the OS
// (malloc_trim), so that memory an earlier run freed neither hides nor inflates this run's growth. It still
// counts the allocator's per-chunk overhead and partly used pages, so it is an upper bound of what the data
// needs.
uint64_t ResidentBytes() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
  unsigned long long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// The engine logs to stderr, warnings and worse only: stdout carries the results (--json lines), and an
// info line per open would interleave with the table. `extra` also sees every message from info level.
std::shared_ptr<spdlog::logger> EngineLogger(std::shared_ptr<spdlog::sinks::sink> extra = nullptr) {
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  err->set_level(spdlog::level::warn);
  std::vector<spdlog::sink_ptr> sinks{err};
  if (extra != nullptr) sinks.push_back(std::move(extra));
  auto logger = std::make_shared<spdlog::logger>("savepoint_bench", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  return logger;
}

// --no-verify-files: Options::verify_files_at_open off, to measure what the check costs an open.
bool g_verify_files_at_open = true;

Options EngineOptions(const std::string& run_dir, std::shared_ptr<spdlog::logger> logger = nullptr) {
  Options options;
  options.data_dir = JoinPath(run_dir, "engine");
  options.verify_files_at_open = g_verify_files_at_open;
  options.logger = logger != nullptr ? std::move(logger) : EngineLogger();
  return options;
}

struct OpenedEngine {
  std::unique_ptr<Engine> engine;
  Keyspace* ks = nullptr;
};

// Opens the engine and its one keyspace: memory-resident, durable, relaxed by default.
Result<OpenedEngine> OpenBenchEngine(const Options& options) {
  SP_ASSIGN_OR_RETURN(auto engine, Engine::open(options));
  KeyspaceOptions ko;
  ko.persistence = Persistence::kDurable;
  ko.residency = Residency::kMemory;
  ko.durability = Durability::kRelaxed;
  SP_ASSIGN_OR_RETURN(Keyspace * ks, engine->create_keyspace("bench", ko));
  return OpenedEngine{std::move(engine), ks};
}

// Puts every key (each with its own Value, as a server's writes would make them) in transactions of 1000,
// then waits until RocksDB has them all. Not timed.
Status LoadKeys(Engine& engine, Keyspace* ks, uint64_t keys, std::string_view value) {
  constexpr uint64_t kPerTransaction = 1000;
  KeyName name;
  for (uint64_t first = 0; first < keys; first += kPerTransaction) {
    Transaction txn(Durability::kRelaxed);
    for (uint64_t i = first; i < std::min(keys, first + kPerTransaction); i++) txn.put(ks, name(i), value);
    SP_RETURN_IF_ERROR(engine.commit(txn).status());
  }
  return engine.wait_materialized();
}

// One single-put transaction, as a game server saves one player: a fresh Value per write.
Result<uint64_t> PutOne(Engine& engine, Keyspace* ks, std::string_view key, std::string_view value,
                        Durability durability) {
  Transaction txn(durability);
  txn.put(ks, key, value);
  SP_RETURN_IF_ERROR(engine.commit(txn).status());
  return value.size();
}

Result<uint64_t> GetOne(Engine& engine, Keyspace* ks, std::string_view key) {
  SP_ASSIGN_OR_RETURN(Entry e, engine.get(ks, key));
  return e.value->bytes.size();
}

// Uniformly random gets over --keys resident keys. Also reports what the keys cost in memory: the engine's
// own estimate (Stats::memory_bytes) and the growth of the process's RSS across the load (allocator overhead
// included; RocksDB's memtable is flushed by a checkpoint first so it is mostly the hot store). Compare with
// redis-server's used_memory per key for the same keys and values (~200 bytes with jemalloc, Redis 7.0).
// `batch` 1: Engine::get per key. More: Engine::get_many of `batch` random keys per operation (MGET; what
// redis-benchmark -P `batch` does with GETs); ops then count keys read and latencies are per batch.
Result<Report> RunGets(const Config& cfg, int threads, const std::string& dir, size_t batch) {
  const uint64_t keys = cfg.keys;
  const std::string value = RandomBytes(cfg.value_size);
  SP_ASSIGN_OR_RETURN(OpenedEngine e, OpenBenchEngine(EngineOptions(dir)));
  const uint64_t rss_before = ResidentBytes();
  SP_RETURN_IF_ERROR(LoadKeys(*e.engine, e.ks, keys, value));
  SP_RETURN_IF_ERROR(e.engine->checkpoint());
  const uint64_t rss_after = ResidentBytes();
  const Stats loaded = e.engine->stats();

  std::vector<Rng> rngs = MakeRngs(threads);
  std::vector<std::unique_ptr<KeyName[]>> names;
  std::vector<std::vector<std::string_view>> batch_keys(static_cast<size_t>(threads));
  std::vector<std::vector<Entry>> batch_entries(static_cast<size_t>(threads));
  for (int t = 0; t < threads; t++) names.push_back(std::make_unique<KeyName[]>(batch));
  auto get = [&](int t) -> Result<uint64_t> {
    const auto i = static_cast<size_t>(t);
    if (batch == 1) return GetOne(*e.engine, e.ks, names[i][0](rngs[i].uniform(keys)));
    std::vector<std::string_view>& ks = batch_keys[i];
    ks.clear();
    for (size_t k = 0; k < batch; k++) ks.push_back(names[i][k](rngs[i].uniform(keys)));
    SP_RETURN_IF_ERROR(e.engine->get_many(e.ks, ks, &batch_entries[i]));
    uint64_t bytes = 0;
    for (const Entry& entry : batch_entries[i]) {
      if (entry.value == nullptr) return Status::Corruption("get_many missed a loaded key");
      bytes += entry.value->bytes.size();
    }
    return bytes;
  };
  const int latency_every = batch == 1 ? kFastLatencyEvery : 1;
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, get, {}, latency_every));
  SP_RETURN_IF_ERROR(e.engine->close());
  r.ops *= batch;
  if (batch > 1) r.extra.emplace_back("batch", static_cast<double>(batch));
  const double n = static_cast<double>(keys);
  r.extra.emplace_back("keys", n);
  r.extra.emplace_back("value_size", static_cast<double>(cfg.value_size));
  r.extra.emplace_back("memory_bytes_per_key", static_cast<double>(loaded.memory_bytes) / n);
  r.extra.emplace_back("rss_bytes_per_key",
                       rss_after > rss_before ? static_cast<double>(rss_after - rss_before) / n : 0.0);
  r.extra.emplace_back("latency_sampled_every", latency_every);
  return r;
}

Result<Report> RunGet(const Config& cfg, int threads, const std::string& dir) {
  return RunGets(cfg, threads, dir, 1);
}

Result<Report> RunGetMany(const Config& cfg, int threads, const std::string& dir) {
  return RunGets(cfg, threads, dir, 32);
}

// Single-put transactions on uniformly random keys among --keys already-loaded ones (overwrites).
Result<Report> RunPut(const Config& cfg, int threads, const std::string& dir, Durability durability) {
  const uint64_t keys = cfg.keys;
  const std::string value = RandomBytes(cfg.value_size);
  SP_ASSIGN_OR_RETURN(OpenedEngine e, OpenBenchEngine(EngineOptions(dir)));
  SP_RETURN_IF_ERROR(LoadKeys(*e.engine, e.ks, keys, value));

  std::vector<Rng> rngs = MakeRngs(threads);
  std::vector<KeyName> names(static_cast<size_t>(threads));
  auto put = [&](int t) {
    const auto i = static_cast<size_t>(t);
    return PutOne(*e.engine, e.ks, names[i](rngs[i].uniform(keys)), value, durability);
  };
  Stats opened, closed;
  auto snapshot = [&](bool opening) { (opening ? opened : closed) = e.engine->stats(); };
  const int latency_every = durability == Durability::kSync ? 1 : kFastLatencyEvery;
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, put, snapshot, latency_every));
  SP_RETURN_IF_ERROR(e.engine->close());  // drains the materializer: not timed
  const uint64_t syncs = closed.wal_syncs - opened.wal_syncs;
  r.extra.emplace_back("keys", static_cast<double>(keys));
  r.extra.emplace_back("value_size", static_cast<double>(cfg.value_size));
  r.extra.emplace_back("syncs", static_cast<double>(syncs));
  if (durability == Durability::kSync) {
    const uint64_t commits = closed.commits_sync - opened.commits_sync;
    r.extra.emplace_back("commits_per_sync", syncs == 0 ? 0.0 : static_cast<double>(commits) / syncs);
  }
  // Records committed but not yet in RocksDB as the window closed (bounded by
  // Options::max_materializer_lag_records: commits wait rather than let it grow).
  r.extra.emplace_back("materializer_lag", static_cast<double>(closed.materializer_lag_records));
  r.extra.emplace_back("backpressure_waits", static_cast<double>(closed.commit_backpressure_waits -
                                                                 opened.commit_backpressure_waits));
  if (latency_every > 1) r.extra.emplace_back("latency_sampled_every", latency_every);
  return r;
}

Result<Report> RunPutRelaxed(const Config& cfg, int threads, const std::string& dir) {
  return RunPut(cfg, threads, dir, Durability::kRelaxed);
}
Result<Report> RunPutSync(const Config& cfg, int threads, const std::string& dir) {
  return RunPut(cfg, threads, dir, Durability::kSync);
}

// 90% gets, 10% relaxed single-put transactions, on uniformly random keys among --keys loaded ones.
Result<Report> RunMixed(const Config& cfg, int threads, const std::string& dir) {
  const uint64_t keys = cfg.keys;
  const std::string value = RandomBytes(cfg.value_size);
  SP_ASSIGN_OR_RETURN(OpenedEngine e, OpenBenchEngine(EngineOptions(dir)));
  SP_RETURN_IF_ERROR(LoadKeys(*e.engine, e.ks, keys, value));

  std::vector<Rng> rngs = MakeRngs(threads);
  std::vector<KeyName> names(static_cast<size_t>(threads));
  auto op = [&](int t) -> Result<uint64_t> {
    Rng& rng = rngs[static_cast<size_t>(t)];
    const bool is_put = rng.uniform(10) == 0;
    const std::string_view key = names[static_cast<size_t>(t)](rng.uniform(keys));
    return is_put ? PutOne(*e.engine, e.ks, key, value, Durability::kRelaxed) : GetOne(*e.engine, e.ks, key);
  };
  Stats opened, closed;
  auto snapshot = [&](bool opening) { (opening ? opened : closed) = e.engine->stats(); };
  SP_ASSIGN_OR_RETURN(Report r, RunTimed(cfg, threads, op, snapshot, kFastLatencyEvery));
  SP_RETURN_IF_ERROR(e.engine->close());
  r.extra.emplace_back("keys", static_cast<double>(keys));
  r.extra.emplace_back("value_size", static_cast<double>(cfg.value_size));
  r.extra.emplace_back("puts", static_cast<double>(closed.commits_relaxed - opened.commits_relaxed));
  r.extra.emplace_back("latency_sampled_every", kFastLatencyEvery);
  return r;
}

// Counts the WAL records the engine says it replayed at open (its "replayed N WAL records" info line, logged
// when replay ends and before the hot stores are loaded): what recovery really did, and when replay finished.
class ReplayCountSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  uint64_t replayed() const { return replayed_.load(); }
  // When the replay line was logged; nullopt if it was not.
  std::optional<SteadyClock::time_point> replay_done() const {
    const int64_t ticks = replay_done_.load();
    if (ticks == 0) return std::nullopt;
    return SteadyClock::time_point(SteadyClock::duration(ticks));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {  // called with mutex_ held
    const std::string text(msg.payload.data(), msg.payload.size());
    unsigned long long n = 0;
    const size_t at = text.find("replayed ");
    if (at != std::string::npos && std::sscanf(text.c_str() + at, "replayed %llu WAL records", &n) == 1) {
      replayed_ += n;
      replay_done_ = SteadyClock::now().time_since_epoch().count();
    }
  }
  void flush_() override {}

 private:
  std::atomic<uint64_t> replayed_{0};
  std::atomic<int64_t> replay_done_{0};  // SteadyClock ticks; 0 = not logged
};

// Recovery after a crash: --keys keys materialised and checkpointed, then a tail of --keys single-put
// commits that only the WAL holds. The timed part is Engine::open: RocksDB open, WAL replay into RocksDB,
// loading the hot store. ops_per_sec = records replayed per second of the whole open (`seconds`);
// replay_seconds is the part up to the end of the replay (RocksDB open + replay, without the hot-store load).
Result<Report> RunRecovery(const Config& cfg, int threads, const std::string& dir) {
  const uint64_t keys = cfg.keys;
  KeyName name;
  const std::string value = RandomBytes(cfg.value_size);
  Options build = EngineOptions(dir);
  // No byte of the tail may reach RocksDB's files before the crash, or open would replay less: no automatic
  // checkpoint, and a memtable large enough for the whole tail (a full memtable is flushed together with the
  // applied LSN). The reopen below uses the default options.
  build.checkpoint_wal_bytes = std::numeric_limits<uint64_t>::max();
  build.checkpoint_interval = std::chrono::hours(24 * 365);
  build.rocksdb_write_buffer_bytes = 4ull << 30;
  Stats at_checkpoint, before_crash;
  {
    SP_ASSIGN_OR_RETURN(OpenedEngine e, OpenBenchEngine(build));
    SP_RETURN_IF_ERROR(LoadKeys(*e.engine, e.ks, keys, value));
    SP_RETURN_IF_ERROR(e.engine->checkpoint());
    at_checkpoint = e.engine->stats();
    for (uint64_t i = 0; i < keys; i++) {
      SP_RETURN_IF_ERROR(PutOne(*e.engine, e.ks, name(i), value, Durability::kRelaxed).status());
    }
    SP_RETURN_IF_ERROR(e.engine->sync());  // the whole tail is in the WAL, durably
    before_crash = e.engine->stats();
    // The crash: stop without checkpointing, dropping RocksDB's memtable (the tail that was materialised).
    // Engine::open returns an EngineImpl; reaching past the public API to abandon it is what the crash tests
    // do, and a benchmark of recovery needs the same.
    static_cast<engine::EngineImpl*>(e.engine.get())->abandon_for_crash_test();
  }

  auto counter = std::make_shared<ReplayCountSink>();
  counter->set_level(spdlog::level::info);
  const Options reopen = EngineOptions(dir, EngineLogger(counter));
  const auto t0 = SteadyClock::now();
  SP_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::open(reopen));
  const auto t1 = SteadyClock::now();
  const Stats after = engine->stats();
  SP_ASSIGN_OR_RETURN(Keyspace * ks, engine->find_keyspace("bench"));
  SP_ASSIGN_OR_RETURN(Entry last, engine->get(ks, name(keys - 1)));
  if (last.value->bytes != value) return Status::Corruption("recovery: the last key has the wrong value");
  SP_RETURN_IF_ERROR(engine->close());

  const uint64_t replayed = counter->replayed();
  const auto replay_done = counter->replay_done();
  if (replayed < keys) {
    std::fprintf(stderr,
                 "savepoint_bench: recovery replayed only %llu WAL records, expected at least %llu "
                 "(applied LSN %llu at the checkpoint, %llu before the crash; last LSN %llu)\n",
                 static_cast<unsigned long long>(replayed), static_cast<unsigned long long>(keys),
                 static_cast<unsigned long long>(at_checkpoint.applied_lsn),
                 static_cast<unsigned long long>(before_crash.applied_lsn),
                 static_cast<unsigned long long>(before_crash.last_lsn));
  }
  Report r;
  r.ops = replayed;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.bytes = before_crash.wal_bytes - at_checkpoint.wal_bytes;  // the tail's log bytes
  r.latency.record(static_cast<uint64_t>(std::chrono::nanoseconds(t1 - t0).count()));
  r.extra.emplace_back("seconds", r.seconds);
  r.extra.emplace_back("replayed", static_cast<double>(replayed));
  if (replay_done.has_value()) {
    const double replay_s = std::chrono::duration<double>(*replay_done - t0).count();
    r.extra.emplace_back("replay_seconds", replay_s);
    r.extra.emplace_back("replay_records_per_sec",
                         replay_s > 0 ? static_cast<double>(replayed) / replay_s : 0.0);
  }
  r.extra.emplace_back("keys", static_cast<double>(keys));
  r.extra.emplace_back("value_size", static_cast<double>(cfg.value_size));
  r.extra.emplace_back("checkpoint_lsn", static_cast<double>(at_checkpoint.applied_lsn));
  r.extra.emplace_back("applied_lsn_before_crash", static_cast<double>(before_crash.applied_lsn));
  r.extra.emplace_back("last_lsn", static_cast<double>(before_crash.last_lsn));
  r.extra.emplace_back("applied_lsn_after_open", static_cast<double>(after.applied_lsn));
  r.extra.emplace_back("resident_keys_after_open",
                       after.keyspaces.empty() ? 0.0 : static_cast<double>(after.keyspaces.front().keys));
  return r;
}

#include "bench/keyspace_workloads.inc"  // reopen_keyspaces, catchup_keyspaces
#include "bench/registry_workloads.inc"  // registry_get, registry_put, index_lookup, zincrby, zrank, stream
#include "bench/snapshot_workloads.inc"  // snapshot_write, snapshot_load, snapshot_latency, pitr

// clang-format off
const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> kWorkloads = {
      {"fsync_raw", {1}, "4 KiB append + fdatasync per op, one file per thread (the disk's limit)", RunFsyncRaw},
      {"memory_latency", {1}, "dependent random loads over 256 MiB (the memory latency a point read pays)",
       RunMemoryLatency},
      {"wal_append_relaxed", {1}, "WalWriter appends of value_size bytes, kRelaxed", RunWalAppendRelaxed},
      {"wal_append_sync", {1, 4, 16, 64}, "WalWriter appends of value_size bytes, kSync (group commit)",
       RunWalAppendSync},
      {"get", {1}, "Engine::get of uniformly random keys among --keys memory-resident ones", RunGet},
      {"get_many", {1}, "Engine::get_many of 32 uniformly random keys (MGET; as redis -P 32); ops = keys read",
       RunGetMany},
      {"put_relaxed", {1}, "single-put transactions on random keys, kRelaxed", RunPutRelaxed},
      {"put_sync", {1, 4, 16, 64}, "single-put transactions on random keys, kSync (group commit)", RunPutSync},
      {"mixed", {1, 2}, "90% get / 10% relaxed single-put transactions on random keys", RunMixed},
      {"recovery", {1}, "Engine::open after a crash: --keys checkpointed keys + a --keys-record WAL tail",
       RunRecovery, /*one_run=*/true},
      {"snapshot_write", {1}, "background save of --keys keys (Engine::snapshot to a durable file)",
       RunSnapshotWrite, /*one_run=*/true},
      {"snapshot_load", {1}, "RestoreSnapshot of --keys keys (SST ingest) + Engine::open of the result",
       RunSnapshotLoad, /*one_run=*/true},
      {"snapshot_latency", {1}, "relaxed single-put transactions without, then with, background saves running",
       RunSnapshotLatency},
      {"pitr", {1}, "Recover to a restore point in the middle of a --keys-record archived WAL", RunPitr,
       /*one_run=*/true},
      {"registry_get", {1}, "Registry<int64_t, Player>::get of random rows among --keys (~200-byte JSON model, decoded)",
       RunRegistryGet},
      {"registry_put", {1}, "Registry::put of a fresh ~200-byte Player to a random row, kRelaxed", RunRegistryPut},
      {"index_lookup", {1}, "unique secondary index (name -> id) lookups of random names among --keys rows",
       RunIndexLookup},
      {"zincrby", {1}, "Structures::zincrby by 1 of random members of a --keys-member sorted set, kRelaxed",
       RunZincrby},
      {"zrank", {1}, "Structures::zrank of random members of a --keys-member sorted set", RunZrank},
      {"stream", {1}, "XADD + XREADGROUP (COUNT 1) + XACK per op on one stream and consumer group, kRelaxed",
       RunStream},
      {"reopen_keyspaces", {1}, "Engine::open of 50, 200 and 400 keyspaces (seconds and open files each)",
       RunReopenKeyspaces, /*one_run=*/true},
      {"catchup_keyspaces", {1}, "248,000 relaxed rows into 1 keyspace, then over 124: seconds until materialized",
       RunCatchupKeyspaces, /*one_run=*/true},
  };
  return kWorkloads;
}
// clang-format on

// ---- output ----

std::string FormatNumber(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", v);
  }
  return buf;
}

struct Row {
  std::string workload;
  int threads = 0;
  double ops_per_sec = 0, mb_per_sec = 0, p50_us = 0, p99_us = 0, p999_us = 0;
  std::vector<std::pair<std::string, double>> extra;
};

Row MakeRow(const std::string& workload, int threads, const Report& r) {
  Row row;
  row.workload = workload;
  row.threads = threads;
  row.ops_per_sec = static_cast<double>(r.ops) / r.seconds;
  row.mb_per_sec = static_cast<double>(r.bytes) / r.seconds / 1e6;
  row.p50_us = static_cast<double>(r.latency.percentile(0.50)) / 1e3;
  row.p99_us = static_cast<double>(r.latency.percentile(0.99)) / 1e3;
  row.p999_us = static_cast<double>(r.latency.percentile(0.999)) / 1e3;
  row.extra = r.extra;
  row.extra.emplace(row.extra.begin(), "ops", static_cast<double>(r.ops));
  row.extra.emplace(row.extra.begin() + 1, "duration_s", r.seconds);
  // The worst stall: percentiles say how often, this says how bad (relaxed appends held by backpressure).
  row.extra.emplace(row.extra.begin() + 2, "max_us", static_cast<double>(r.latency.max()) / 1e3);
  // What an operation costs in CPU, background threads (materializer, RocksDB's flushes and compactions)
  // included: steadier than ops/s on a shared machine, where another tenant's load moves the rate.
  if (r.cpu_seconds > 0 && r.ops > 0) {
    row.extra.emplace_back("cpu_cores", r.cpu_seconds / r.seconds);
    row.extra.emplace_back("cpu_us_per_op", r.cpu_seconds * 1e6 / static_cast<double>(r.ops));
  }
  return row;
}

void PrintJson(const Row& row) {
  std::printf(
      "{\"workload\":\"%s\",\"threads\":%d,\"ops_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"p50_us\":%.2f,"
      "\"p99_us\":%.2f,\"p999_us\":%.2f",
      row.workload.c_str(), row.threads, row.ops_per_sec, row.mb_per_sec, row.p50_us, row.p99_us,
      row.p999_us);
  for (const auto& [key, value] : row.extra)
    std::printf(",\"%s\":%s", key.c_str(), FormatNumber(value).c_str());
  std::printf("}\n");
  std::fflush(stdout);
}

void PrintTableHeader() {
  std::printf("%-20s %7s %12s %9s %10s %10s %10s  %s\n", "workload", "threads", "ops/s", "MB/s", "p50 us",
              "p99 us", "p99.9 us", "notes");
}

void PrintTableRow(const Row& row) {
  std::string notes;
  for (const auto& [key, value] : row.extra) {
    if (key == "duration_s" || key == "value_size" || key == "keys") continue;  // in the banner
    notes += (notes.empty() ? "" : " ") + key + "=" + FormatNumber(value);
  }
  std::printf("%-20s %7d %12.0f %9.2f %10.2f %10.2f %10.2f  %s\n", row.workload.c_str(), row.threads,
              row.ops_per_sec, row.mb_per_sec, row.p50_us, row.p99_us, row.p999_us, notes.c_str());
  std::fflush(stdout);
}

// The parent of every run's directory: --dir, or a fresh temp directory removed (with all in it) at exit.
class BenchDir {
 public:
  static Result<std::unique_ptr<BenchDir>> Make(const std::string& requested) {
    if (!requested.empty()) {
      SP_RETURN_IF_ERROR(FileSystem::Default()->create_dirs(requested));
      return std::unique_ptr<BenchDir>(new BenchDir(requested, false));
    }
    std::string tmpl = "/tmp/savepoint_bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::IOError("mkdtemp " + tmpl + " failed");
    return std::unique_ptr<BenchDir>(new BenchDir(tmpl, true));
  }
  ~BenchDir() {
    std::error_code ec;
    if (owned_) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  BenchDir(std::string path, bool owned) : path_(std::move(path)), owned_(owned) {}
  const std::string path_;
  const bool owned_;
};

int Main(int argc, char** argv) {
  CLI::App app{"savepoint_bench: throughput and latency percentiles of savepoint on real files"};
  std::vector<std::string> workload_names = {"fsync_raw", "wal_append_relaxed", "wal_append_sync"};
  std::vector<int> thread_counts;
  Config cfg;
  std::string dir;
  bool json = false, quick = false, list = false;
  app.add_option("--workloads", workload_names, "comma list of workloads to run, in order")->delimiter(',');
  app.add_option("--threads", thread_counts,
                 "comma list of thread counts, each run separately "
                 "(default: per workload, see --list)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option("--duration", cfg.duration_s, "seconds measured per run")->check(CLI::PositiveNumber);
  app.add_option("--warmup", cfg.warmup_s, "seconds run before measuring, not counted")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--value_size", cfg.value_size, "payload bytes per WAL record / engine value")
      ->check(CLI::Range(0, 1 << 24));
  CLI::Option* keys_option =
      app.add_option("--keys", cfg.keys,
                     "keys loaded by the engine workloads (default 1000000; --quick: 100000)")
          ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--dir", dir, "where runs write (default: a temp dir under /tmp, removed at exit)");
  app.add_flag("--json", json, "one JSON object per line per run instead of a table");
  app.add_flag("--quick", quick, "same as --duration=1 --keys=100000 (for the test suite)");
  app.add_flag("--list", list, "list the workloads and exit");
  bool no_verify = false;
  app.add_flag("--no-verify-files", no_verify, "open engines without Options::verify_files_at_open");
  CLI11_PARSE(app, argc, argv);
  g_verify_files_at_open = !no_verify;
  if (quick) {
    cfg.duration_s = 1;
    if (keys_option->count() == 0) cfg.keys = 100'000;
  }

  if (list) {
    for (const Workload& w : Workloads()) {
      std::string threads;
      for (int t : w.default_threads) threads += (threads.empty() ? "" : ",") + std::to_string(t);
      std::printf("%-20s threads=%-10s %s\n", w.name, threads.c_str(), w.description);
    }
    return 0;
  }
  std::vector<const Workload*> selected;
  for (const std::string& name : workload_names) {
    auto it = std::find_if(Workloads().begin(), Workloads().end(),
                           [&](const Workload& w) { return name == w.name; });
    if (it == Workloads().end()) {
      std::fprintf(stderr, "savepoint_bench: unknown workload '%s' (--list shows them)\n", name.c_str());
      return 2;
    }
    selected.push_back(&*it);
  }

  auto bench_dir = BenchDir::Make(dir);
  if (!bench_dir.ok()) {
    std::fprintf(stderr, "savepoint_bench: %s\n", bench_dir.status().ToString().c_str());
    return 1;
  }
  if (!json) {
    std::printf(
        "savepoint_bench: %.1f s per run after %.1f s warm-up, value_size=%zu, keys=%llu, dir=%s, %u CPUs\n",
        cfg.duration_s, cfg.warmup_s, cfg.value_size, static_cast<unsigned long long>(cfg.keys),
        (*bench_dir)->path().c_str(), std::thread::hardware_concurrency());
    PrintTableHeader();
  }
  int failures = 0;
  for (const Workload* w : selected) {
    for (int threads : thread_counts.empty() || w->one_run ? w->default_threads : thread_counts) {
      // A fresh directory per run, removed afterwards: a relaxed run can write gigabytes.
      const std::string run_dir =
          JoinPath((*bench_dir)->path(), std::string(w->name) + "-" + std::to_string(threads));
      std::error_code ec;
      std::filesystem::remove_all(run_dir, ec);
      Status s = FileSystem::Default()->create_dirs(run_dir);
      Result<Report> r = s.ok() ? w->run(cfg, threads, run_dir) : Result<Report>(s);
      std::filesystem::remove_all(run_dir, ec);
      if (!r.ok()) {
        std::fprintf(stderr, "savepoint_bench: %s with %d threads failed: %s\n", w->name, threads,
                     r.status().ToString().c_str());
        failures++;
        continue;
      }
      const Row row = MakeRow(w->name, threads, *r);
      json ? PrintJson(row) : PrintTableRow(row);
      for (const Report& more : r->also) {
        const Row extra_row = MakeRow(w->name, threads, more);
        json ? PrintJson(extra_row) : PrintTableRow(extra_row);
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace savepoint::bench

int main(int argc, char** argv) { return savepoint::bench::Main(argc, argv); }
