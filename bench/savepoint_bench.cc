// savepoint_bench: throughput and latency of savepoint on real files, in the spirit of RocksDB's db_bench.
//
//   savepoint_bench [--workloads=fsync_raw,wal_append_sync] [--threads=1,4,16,64] [--duration=5] [--json]
//
// Each (workload, thread count) pair is one run in a fresh directory: a warm-up that is not counted, then a
// fixed measuring window. Latencies are recorded per thread in log-linear histograms merged after the run,
// and reported as percentiles: an average hides the fsync stalls that a game server's players feel.
//
// A new workload is a run function plus one row of kWorkloads.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "savepoint/file_system.h"
#include "wal/wal_writer.h"

namespace savepoint::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Nanosecond samples in HdrHistogram's layout: one bucket per value below 2^kSubBits, then 2^kSubBits buckets
// per power of two, so a reported percentile is within 1/64 (1.6%) of the true sample at any magnitude.
class Histogram {
 public:
  void record(uint64_t nanos) {
    counts_[index(nanos)]++;
    count_++;
    max_ = std::max(max_, nanos);
  }
  void merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; i++) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  // The smallest bucket top at or below which a fraction `q` of the samples lie (never above the maximum).
  uint64_t max() const { return max_; }
  uint64_t percentile(double q) const {
    if (count_ == 0) return 0;
    const auto rank =
        std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; i++) {
      seen += counts_[i];
      if (seen >= rank) return std::min(bucket_top(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = 1ull << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

  static size_t index(uint64_t v) {
    if (v < kSub) return v;
    const int shift = std::bit_width(v) - 1 - kSubBits;  // keeps kSubBits + 1 significant bits
    return static_cast<size_t>(shift + 1) * kSub + static_cast<size_t>((v >> shift) - kSub);
  }
  static uint64_t bucket_top(size_t i) {
    if (i < kSub) return i;
    const size_t shift = i / kSub - 1;
    const uint64_t mantissa = kSub + i % kSub;
    return ((mantissa + 1) << shift) - 1;
  }

  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

struct Config {
  double duration_s = 5;
  double warmup_s = 0.5;
  size_t value_size = 100;
};

// What one run measured. `bytes` are payload bytes: MB/s is what the caller got through, not framing.
struct Report {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  Histogram latency;
  std::vector<std::pair<std::string, double>> extra;  // workload-specific fields, in output order
};

// Runs `op(thread)` in a loop on `threads` threads through the warm-up and the measuring window. `op` returns
// the payload bytes it moved, or an error that ends the run. `window(true)` / `window(false)` run on this
// thread as the window opens and closes, to snapshot counters. Only operations that start and end inside the
// window count; the few cut by its edges are dropped.
Result<Report> RunTimed(const Config& cfg, int threads, const std::function<Result<uint64_t>(int)>& op,
                        const std::function<void(bool)>& window = {}) {
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
      for (;;) {
        const int before = phase.load(std::memory_order_relaxed);
        if (before == kStop) return;
        const auto start = SteadyClock::now();
        Result<uint64_t> moved = op(t);
        const auto end = SteadyClock::now();
        if (!moved.ok()) {
          me.error = moved.status();
          phase.store(kStop);
          return;
        }
        if (before == kMeasure && phase.load(std::memory_order_relaxed) == kMeasure) {
          me.latency.record(static_cast<uint64_t>(std::chrono::nanoseconds(end - start).count()));
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
  const auto t0 = SteadyClock::now();
  int expected = kWarmup;
  phase.compare_exchange_strong(expected, kMeasure);
  sleep_until(t0 + seconds(cfg.duration_s));
  phase.store(kStop);
  const auto t1 = SteadyClock::now();
  if (window) window(false);
  for (std::thread& w : workers) w.join();

  Report report;
  report.seconds = std::chrono::duration<double>(t1 - t0).count();
  for (const PerThread& p : per) {
    if (!p.error.ok()) return p.error;
    report.latency.merge(p.latency);
    report.ops += p.ops;
    report.bytes += p.bytes;
  }
  return report;
}

std::string MakeValue(size_t size) {
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
  const std::string block = MakeValue(kWriteSize);
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
  const std::string value = MakeValue(cfg.value_size);
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
};

Result<Report> RunWalAppendRelaxed(const Config& cfg, int threads, const std::string& dir) {
  return RunWalAppend(cfg, threads, dir, wal::Durability::kRelaxed);
}
Result<Report> RunWalAppendSync(const Config& cfg, int threads, const std::string& dir) {
  return RunWalAppend(cfg, threads, dir, wal::Durability::kSync);
}

// clang-format off
const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> kWorkloads = {
      {"fsync_raw", {1}, "4 KiB append + fdatasync per op, one file per thread (the disk's limit)", RunFsyncRaw},
      {"wal_append_relaxed", {1}, "WalWriter appends of value_size bytes, kRelaxed", RunWalAppendRelaxed},
      {"wal_append_sync", {1, 4, 16, 64}, "WalWriter appends of value_size bytes, kSync (group commit)",
       RunWalAppendSync},
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
    if (key == "duration_s" || key == "value_size") continue;  // in the banner
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
  app.add_option("--value_size", cfg.value_size, "payload bytes per WAL record")
      ->check(CLI::Range(0, 1 << 24));
  app.add_option("--dir", dir, "where runs write (default: a temp dir under /tmp, removed at exit)");
  app.add_flag("--json", json, "one JSON object per line per run instead of a table");
  app.add_flag("--quick", quick, "same as --duration=1 (for the test suite)");
  app.add_flag("--list", list, "list the workloads and exit");
  CLI11_PARSE(app, argc, argv);
  if (quick) cfg.duration_s = 1;

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
    std::printf("savepoint_bench: %.1f s per run after %.1f s warm-up, value_size=%zu, dir=%s, %u CPUs\n",
                cfg.duration_s, cfg.warmup_s, cfg.value_size, (*bench_dir)->path().c_str(),
                std::thread::hardware_concurrency());
    PrintTableHeader();
  }
  int failures = 0;
  for (const Workload* w : selected) {
    for (int threads : thread_counts.empty() ? w->default_threads : thread_counts) {
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
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace savepoint::bench

int main(int argc, char** argv) { return savepoint::bench::Main(argc, argv); }
