// savepoint_microbench: Google Benchmark timings of the functions on every WAL record's path: framing on
// append, the checksum, and parsing on recovery. savepoint_bench measures the system; this isolates the CPU.
#include <benchmark/benchmark.h>

#include <string>

#include "util/checksum.h"
#include "wal/format.h"

namespace savepoint {
namespace {

constexpr uint64_t kCommitMicros = 1'700'000'000'000'000ull;

void BM_AppendRecord(benchmark::State& state) {
  const std::string payload(static_cast<size_t>(state.range(0)), 'p');
  std::string buffer;
  wal::Lsn lsn = 0;
  for (auto _ : state) {
    buffer.clear();  // keeps its capacity, as the writer's buffer does between batches
    wal::AppendRecord({++lsn, kCommitMicros, lsn - 1, wal::RecordType::kTransaction, payload}, &buffer);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AppendRecord)->Arg(100);

void BM_Checksum64(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'c');
  for (auto _ : state) benchmark::DoNotOptimize(Checksum64(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum64)->Arg(100)->Arg(4096);

void BM_ParseRecord(benchmark::State& state) {
  const std::string payload(static_cast<size_t>(state.range(0)), 'p');
  std::string segment;
  wal::AppendRecord({1, kCommitMicros, 0, wal::RecordType::kTransaction, payload}, &segment);
  for (auto _ : state) {
    wal::Record record;
    size_t next = 0;
    benchmark::DoNotOptimize(wal::ParseRecord(segment, 0, &record, &next).ok());
    benchmark::DoNotOptimize(record.payload.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ParseRecord)->Arg(100);

}  // namespace
}  // namespace savepoint

BENCHMARK_MAIN();
