// wal_demo: the write-ahead log as a game server uses it, on real files.
//
//   wal_demo [DATA_DIR]        (default: savepoint-data; the log lives in DATA_DIR/wal)
//
// Four "shard" threads log player moves (relaxed: fast, durable within a second) and trades (sync: durable
// before the call returns, sharing fdatasyncs through group commit), then a restore point marks the state
// before maintenance. The demo closes the log, reads it back and prints what recovery finds. Run it again
// on the same directory and it recovers the previous log and continues after its last LSN.
//
// Exits 1 if anything fails, or if the log read back does not hold exactly the records written.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "savepoint/file_system.h"
#include "wal/wal_reader.h"
#include "wal/wal_writer.h"

namespace savepoint {
namespace {

constexpr int kShards = 4;
constexpr int kRecordsPerShard = 750;
constexpr int kTradeEvery = 10;  // every 10th record of a shard is a trade, appended with kSync
constexpr std::string_view kRestorePoint = "before-maintenance";

using SteadyClock = std::chrono::steady_clock;

double MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// "2025-01-31 12:00:00.123456 UTC"
std::string FormatMicros(uint64_t micros) {
  const auto seconds = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06llu UTC", date, static_cast<unsigned long long>(micros % 1'000'000));
  return out;
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "wal_demo: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

// One shard's game events. Returns the first error.
Status PlayShard(wal::WalWriter* writer, int shard) {
  char payload[96];
  for (int i = 0; i < kRecordsPerShard; i++) {
    const int player = shard * 1000 + i % 37;
    wal::Durability durability = wal::Durability::kRelaxed;
    if (i % kTradeEvery == kTradeEvery - 1) {
      // Items change hands: the trade must survive a crash before either player sees it done.
      std::snprintf(payload, sizeof payload, "trade %d: sword from player %d to player %d", shard * 1000 + i,
                    player, player + 1);
      durability = wal::Durability::kSync;
    } else {
      std::snprintf(payload, sizeof payload, "player %d moved to (%d,%d)", player, (i * 7) % 512,
                    (i * 13) % 512);
    }
    SP_RETURN_IF_ERROR(writer->append(wal::RecordType::kTransaction, payload, durability).status());
  }
  return Status::OK();
}

int Main(int argc, char** argv) {
  const std::string data_dir = argc > 1 ? argv[1] : "savepoint-data";
  const std::string wal_dir = JoinPath(data_dir, "wal");
  FileSystem* fs = FileSystem::Default();
  std::printf("savepoint WAL demo: log in %s\n", wal_dir.c_str());

  // What a previous run left, read before the writer repairs anything, so a torn tail shows.
  if (fs->file_exists(wal_dir)) {
    auto before = wal::WalReader::Open(fs, wal_dir);
    if (!before.ok()) return Fail("reading the previous log", before.status());
    wal::Record r;
    uint64_t count = 0;
    while ((*before)->next(&r)) count++;
    const wal::StopInfo& stop = (*before)->stop();
    if (count > 0 || !(*before)->segments().empty()) {
      std::printf(
          "previous log: %llu records in %zu segments, stopped at: %s%s\n",
          static_cast<unsigned long long>(count), (*before)->segments().size(),
          wal::StopReasonName(stop.reason),
          stop.reason == wal::StopReason::kTornTail
              ? (" (" + std::to_string(stop.bytes_discarded) + " bytes of a torn tail dropped)").c_str()
              : "");
    }
  }

  auto started = SteadyClock::now();
  auto opened = wal::WalWriter::Open(fs, wal_dir);
  if (!opened.ok()) return Fail("opening the WAL writer", opened.status());
  std::unique_ptr<wal::WalWriter> writer = std::move(opened).value();
  const wal::Lsn previous_last = writer->last_lsn();
  if (previous_last > 0) {
    std::printf("recovered in %.1f ms: continuing after LSN %llu\n", MillisSince(started),
                static_cast<unsigned long long>(previous_last));
  } else {
    std::printf("no previous log: starting a new one at LSN 1 (open took %.1f ms)\n", MillisSince(started));
  }

  started = SteadyClock::now();
  std::vector<Status> results(kShards);
  std::vector<std::thread> shards;
  for (int s = 0; s < kShards; s++) shards.emplace_back([&, s] { results[s] = PlayShard(writer.get(), s); });
  for (std::thread& t : shards) t.join();
  for (const Status& s : results) {
    if (!s.ok()) return Fail("appending", s);
  }
  auto point = writer->append(wal::RecordType::kRestorePoint, kRestorePoint, wal::Durability::kSync);
  if (!point.ok()) return Fail("appending the restore point", point.status());
  const double append_ms = MillisSince(started);
  const wal::WriterStats stats = writer->stats();
  constexpr int kTrades = kShards * (kRecordsPerShard / kTradeEvery);
  constexpr int kWritten = kShards * kRecordsPerShard + 1;
  std::printf(
      "appended %d records in %.1f ms from %d threads: %d relaxed moves, %d sync trades, restore point "
      "\"%.*s\" at LSN %llu\n",
      kWritten, append_ms, kShards, kWritten - 1 - kTrades, kTrades, static_cast<int>(kRestorePoint.size()),
      kRestorePoint.data(), static_cast<unsigned long long>(point->lsn));
  std::printf(
      "group commit: %llu records, %d of them sync, took %llu fdatasyncs (%.2f sync appends per "
      "fdatasync); durable LSN %llu\n",
      static_cast<unsigned long long>(stats.records), kTrades + 1,
      static_cast<unsigned long long>(stats.syncs),
      stats.syncs == 0 ? 0.0 : static_cast<double>(kTrades + 1) / static_cast<double>(stats.syncs),
      static_cast<unsigned long long>(writer->durable_lsn()));
  started = SteadyClock::now();
  if (Status s = writer->close(); !s.ok()) return Fail("closing the WAL", s);
  std::printf("closed in %.1f ms (flushed and sealed the segment)\n", MillisSince(started));
  writer.reset();

  // Recovery's view: read the whole log back.
  started = SteadyClock::now();
  auto reader = wal::WalReader::Open(fs, wal_dir);
  if (!reader.ok()) return Fail("opening the WAL reader", reader.status());
  std::map<std::string, uint64_t> by_type;
  wal::Record r, first, last;
  uint64_t total = 0, this_run = 0;
  std::vector<std::string> restore_points;
  while ((*reader)->next(&r)) {
    if (total++ == 0) first = r;
    last = r;
    if (r.lsn > previous_last) this_run++;
    by_type[wal::RecordTypeName(r.type)]++;
    if (r.type == wal::RecordType::kRestorePoint) {
      restore_points.push_back("\"" + std::string(r.payload) + "\"@" + std::to_string(r.lsn));
    }
  }
  if (!(*reader)->status().ok()) return Fail("reading the log back", (*reader)->status());
  std::printf("read back in %.1f ms: %llu records, LSN %llu..%llu, stopped at: %s\n", MillisSince(started),
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(first.lsn),
              static_cast<unsigned long long>(last.lsn), wal::StopReasonName((*reader)->stop().reason));
  std::string types;
  for (const auto& [name, n] : by_type) types += "  " + name + " " + std::to_string(n);
  std::printf("  by type:%s\n", types.c_str());
  std::printf("  first commit %s, last commit %s\n", FormatMicros(first.commit_micros).c_str(),
              FormatMicros(last.commit_micros).c_str());
  std::string points;
  for (size_t i = restore_points.size() > 3 ? restore_points.size() - 3 : 0; i < restore_points.size(); i++) {
    points += " " + restore_points[i];
  }
  std::printf("  restore points: %zu (latest:%s)\n", restore_points.size(), points.c_str());

  auto segments = wal::ListSegments(fs, wal_dir);
  if (!segments.ok()) return Fail("listing segments", segments.status());
  std::printf("  %zu segment files:", segments->size());
  for (size_t i = 0; i < segments->size(); i++) {
    if (segments->size() > 4 && i == 2) {
      std::printf(" ... %zu more ...", segments->size() - 4);
      i = segments->size() - 2;
    }
    auto size = fs->file_size(JoinPath(wal_dir, (*segments)[i].name));
    std::printf(" %s (%llu B)", (*segments)[i].name.c_str(),
                size.ok() ? static_cast<unsigned long long>(*size) : 0);
  }
  std::printf("\n");

  // The demo doubles as a check: everything this run appended is back, right after the previous run's log.
  if (this_run != static_cast<uint64_t>(kWritten) || last.lsn != previous_last + kWritten ||
      (previous_last == 0 && first.lsn != 1)) {
    std::fprintf(stderr, "wal_demo: expected %d records after LSN %llu, read back %llu ending at LSN %llu\n",
                 kWritten, static_cast<unsigned long long>(previous_last),
                 static_cast<unsigned long long>(this_run), static_cast<unsigned long long>(last.lsn));
    return 1;
  }
  std::printf("this run: LSN %llu..%llu, all %d records read back intact\n",
              static_cast<unsigned long long>(previous_last + 1), static_cast<unsigned long long>(last.lsn),
              kWritten);
  return 0;
}

}  // namespace
}  // namespace savepoint

int main(int argc, char** argv) { return savepoint::Main(argc, argv); }
