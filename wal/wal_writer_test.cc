// The writer: LSNs and times, group commit under concurrency, recovery of its own tail, and what happens
// when the disk misbehaves: power cuts (fault-injecting FS), failed fsync, full disk, and kills at crash points.
#include "wal/wal_writer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "savepoint/crash_point.h"
#include "savepoint/fault_injection.h"
#include "tests/testutil.h"
#include "util/coding.h"

namespace savepoint::wal {
namespace {

std::vector<std::pair<Lsn, std::string>> ReadLog(FileSystem* fs, const std::string& dir, Status* status = nullptr) {
  std::vector<std::pair<Lsn, std::string>> out;
  auto reader = WalReader::Open(fs, dir);
  if (!reader.ok()) {
    if (status != nullptr) *status = reader.status();
    return out;
  }
  Record r;
  while ((*reader)->next(&r)) out.emplace_back(r.lsn, std::string(r.payload));
  if (status != nullptr) *status = (*reader)->status();
  return out;
}

TEST(WalWriter, AssignsDenseLsnsAndMonotonicTimes) {
  auto fs = NewMemFileSystem();
  ManualClock clock(5000);
  WriterOptions opts;
  opts.clock = &clock;
  auto w = WalWriter::Open(fs.get(), "wal", opts);
  ASSERT_TRUE(w.ok());
  auto a = (*w)->append(RecordType::kTransaction, "a", Durability::kRelaxed);
  clock.set_micros(4000);  // the wall clock steps back
  auto b = (*w)->append(RecordType::kTransaction, "b", Durability::kSync);
  clock.set_micros(9000);
  auto c = (*w)->append(RecordType::kTransaction, "c", Durability::kRelaxed);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->lsn, 1u);
  EXPECT_EQ(b->lsn, 2u);
  EXPECT_EQ(c->lsn, 3u);
  EXPECT_EQ(a->commit_micros, 5000u);
  EXPECT_EQ(b->commit_micros, 5000u);  // never backwards
  EXPECT_EQ(c->commit_micros, 9000u);
  EXPECT_GE((*w)->durable_lsn(), 2u);  // sync returned after fdatasync
  ASSERT_TRUE((*w)->close().ok());

  // After a restart with the clock further back, time still does not run backwards.
  clock.set_micros(1000);
  auto w2 = WalWriter::Open(fs.get(), "wal", opts);
  ASSERT_TRUE(w2.ok());
  auto d = (*w2)->append(RecordType::kTransaction, "d", Durability::kSync);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->lsn, 4u);
  EXPECT_GE(d->commit_micros, 9000u);
}

TEST(WalWriter, ReopenContinuesAfterTheLastRecordAndSealsOnClose) {
  auto fs = NewMemFileSystem();
  for (int round = 0; round < 3; round++) {
    auto w = WalWriter::Open(fs.get(), "wal");
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ((*w)->last_lsn(), static_cast<Lsn>(round * 10));
    for (int i = 0; i < 10; i++) {
      ASSERT_TRUE((*w)->append(RecordType::kTransaction, "r" + std::to_string(round * 10 + i + 1),
                               Durability::kRelaxed)
                      .ok());
    }
    ASSERT_TRUE((*w)->close().ok());
    EXPECT_TRUE((*w)->close().ok());  // idempotent
  }
  auto log = ReadLog(fs.get(), "wal");
  ASSERT_EQ(log.size(), 30u);
  for (size_t i = 0; i < log.size(); i++) {
    EXPECT_EQ(log[i].first, i + 1);
    EXPECT_EQ(log[i].second, "r" + std::to_string(i + 1));
  }
  // Every closed round sealed its segment: the newest holds no record.
  auto segs = ListSegments(fs.get(), "wal");
  ASSERT_TRUE(segs.ok());
  EXPECT_EQ(segs->back().first_lsn, 31u);
}

TEST(WalWriter, RotatesSegmentsAndRetiresThem) {
  auto fs = NewMemFileSystem();
  WriterOptions opts;
  opts.segment_size = 4096;
  auto w = WalWriter::Open(fs.get(), "wal", opts);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE((*w)->append(RecordType::kTransaction, std::string(100, 'v'), Durability::kSync).ok());
  }
  auto sealed = (*w)->sealed_segments();
  ASSERT_GT(sealed.size(), 3u);
  const Lsn keep_from = sealed[2].first_lsn;  // segments 0 and 1 end before this
  auto removed = (*w)->remove_sealed_segments_through(keep_from - 1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2u);
  ASSERT_TRUE((*w)->close().ok());
  ReaderOptions ro;
  ro.start_lsn = keep_from;
  auto reader = WalReader::Open(fs.get(), "wal", ro);
  ASSERT_TRUE(reader.ok());
  Record r;
  Lsn n = 0;
  while ((*reader)->next(&r)) n++;
  EXPECT_TRUE((*reader)->status().ok());
  EXPECT_EQ(n, 200 - keep_from + 1);
  ro.start_lsn = 1;
  EXPECT_TRUE(WalReader::Open(fs.get(), "wal", ro).status().IsNotFound());
}

TEST(WalWriter, RefusesANewerTimelineAndBadOptions) {
  auto fs = NewMemFileSystem();
  WriterOptions opts;
  opts.timeline = 2;
  ASSERT_TRUE(WalWriter::Open(fs.get(), "wal", opts).ok());
  opts.timeline = 1;
  EXPECT_TRUE(WalWriter::Open(fs.get(), "wal", opts).status().IsInvalidArgument());
  opts.segment_size = 10;
  EXPECT_TRUE(WalWriter::Open(fs.get(), "wal2", opts).status().IsInvalidArgument());
}

TEST(WalWriter, OpenFailsOnCorruptionNamingTheSalvageCommand) {
  auto fs = NewMemFileSystem();
  {
    auto w = WalWriter::Open(fs.get(), "wal");
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 5; i++) ASSERT_TRUE((*w)->append(RecordType::kTransaction, "xxxxxxxx", Durability::kSync).ok());
    // Keep it open-ended (no seal): copy the file as it is, as after a crash.
    std::string bytes;
    ASSERT_TRUE(fs->read_file("wal/00000001-0000000000000001.wal", &bytes).ok());
    bytes[kSegmentHeaderSize + kRecordHeaderSize + 2] ^= 1;  // record 1's payload; record 2+ declare it synced
    (*w)->close().ok();
    ASSERT_TRUE(fs->remove_file("wal/00000001-0000000000000006.wal").ok());
    auto f = fs->new_writable_file("wal/00000001-0000000000000001.wal");
    ASSERT_TRUE((*f)->append(bytes).ok());
  }
  auto w = WalWriter::Open(fs.get(), "wal");
  ASSERT_TRUE(w.status().IsCorruption()) << w.status().ToString();
  EXPECT_NE(w.status().message().find("offset 48"), std::string::npos) << w.status().ToString();
  EXPECT_NE(w.status().message().find("savepoint wal salvage"), std::string::npos);
}

TEST(WalWriter, ConcurrentSyncAndRelaxedAppendersGetDenseUniqueLsns) {
  auto fs = NewMemFileSystem();
  auto w = WalWriter::Open(fs.get(), "wal");
  ASSERT_TRUE(w.ok());
  constexpr int kThreads = 8, kPerThread = 300;
  std::vector<std::thread> threads;
  std::vector<std::vector<Lsn>> lsns(kThreads);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        const auto d = (t % 2 == 0) ? Durability::kSync : Durability::kRelaxed;
        auto a = (*w)->append(RecordType::kTransaction, std::to_string(t) + ":" + std::to_string(i), d);
        ASSERT_TRUE(a.ok());
        if (d == Durability::kSync) {
          EXPECT_GE((*w)->durable_lsn(), a->lsn);
        }
        lsns[t].push_back(a->lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*w)->close().ok());
  WriterStats stats = (*w)->stats();
  EXPECT_EQ(stats.records, static_cast<uint64_t>(kThreads * kPerThread));
  std::set<Lsn> all;
  for (auto& v : lsns) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.rbegin(), static_cast<Lsn>(kThreads * kPerThread));
  auto log = ReadLog(fs.get(), "wal");
  ASSERT_EQ(log.size(), all.size());
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < kPerThread; i++) {
      EXPECT_EQ(log[lsns[t][i] - 1].second, std::to_string(t) + ":" + std::to_string(i));
    }
  }
}

// The main crash test: sync and relaxed appenders run while the power is cut at a random moment, many times
// over the same log. After each restart: every acknowledged sync record is present; each appender's records
// form a prefix of what it appended (nothing after a gap); no record appears twice; what survived one restart
// survives all later ones.
TEST(WalWriter, PowerCutsNeverLoseAcknowledgedSyncRecords) {
  const uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  constexpr int kThreads = 4;
  int torn_tails = 0;
  std::unique_ptr<FileSystem> mem;
  std::unique_ptr<FaultInjectionFileSystem> fault;
  std::vector<std::string> durable_log;  // the log as known after the previous restart
  // 10 logs of 20 power cuts each: the log is re-read after every cut, so keep each one short.
  for (int cycle = 0; cycle < 200; cycle++) {
    if (cycle % 20 == 0) {
      fault.reset();
      mem = NewMemFileSystem();
      fault = std::make_unique<FaultInjectionFileSystem>(mem.get());
      durable_log.clear();
    }
    FaultInjectionFileSystem& fs = *fault;
    SCOPED_TRACE("cycle " + std::to_string(cycle) + " seed " + std::to_string(seed));
    WriterOptions opts;
    opts.segment_size = 4096 + rng() % 8192;
    opts.sync_interval = std::chrono::milliseconds(rng() % 3);
    auto w = WalWriter::Open(&fs, "wal", opts);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    const Lsn start = (*w)->last_lsn();
    ASSERT_EQ(start, durable_log.size());

    std::atomic<bool> stop{false};
    std::atomic<int> appended{0};
    std::vector<std::vector<std::string>> attempted(kThreads);
    std::vector<std::set<std::string>> acked_sync(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        const auto d = t < 2 ? Durability::kSync : Durability::kRelaxed;
        for (int i = 0; !stop.load(); i++) {
          std::string payload = std::to_string(cycle) + "/" + std::to_string(t) + "/" + std::to_string(i) + "/" +
                                std::string(static_cast<size_t>(i * 37 % 300), 'p');
          attempted[t].push_back(payload);
          auto a = (*w)->append(RecordType::kTransaction, payload, d);
          if (!a.ok()) break;  // the power is off
          appended++;
          if (d == Durability::kSync) acked_sync[t].insert(payload);
        }
      });
    }
    const int target = static_cast<int>(rng() % 400);
    while (appended.load() < target) std::this_thread::yield();
    fs.cut_power();
    stop = true;
    for (auto& th : threads) th.join();
    (void)(*w)->close();
    w = Status::Busy("destroyed");  // releases the writer before the restart

    PowerCutOptions cut;
    cut.seed = rng();
    switch (rng() % 4) {
      case 0: cut.unsynced = PowerCutOptions::Unsynced::kDrop; break;
      case 1: cut.unsynced = PowerCutOptions::Unsynced::kKeepRandomPrefix; break;
      case 2: cut.unsynced = PowerCutOptions::Unsynced::kZeroFill; break;
      default: cut.tear_last_write_at = rng() % 200; break;
    }
    ASSERT_TRUE(fs.restart(cut).ok());

    Status status;
    auto log = ReadLog(&fs, "wal", &status);
    ASSERT_TRUE(status.ok()) << status.ToString();
    auto reader = WalReader::Open(&fs, "wal");
    ASSERT_TRUE(reader.ok());
    Record r;
    while ((*reader)->next(&r)) {
    }
    if ((*reader)->stop().reason == StopReason::kTornTail) torn_tails++;

    // Earlier cycles' records are all still there, in place.
    ASSERT_GE(log.size(), durable_log.size());
    for (size_t i = 0; i < durable_log.size(); i++) ASSERT_EQ(log[i].second, durable_log[i]) << "LSN " << i + 1;
    // This cycle: per thread a prefix, acknowledged sync records included, nothing twice.
    std::vector<size_t> next_index(kThreads, 0);
    std::set<std::string> seen;
    for (size_t i = durable_log.size(); i < log.size(); i++) {
      const std::string& p = log[i].second;
      ASSERT_TRUE(seen.insert(p).second) << "duplicated: " << p.substr(0, 20);
      const int t = std::stoi(p.substr(p.find('/') + 1));
      ASSERT_LT(next_index[t], attempted[t].size());
      ASSERT_EQ(p, attempted[t][next_index[t]]) << "thread " << t << " has a gap before " << p.substr(0, 20);
      next_index[t]++;
    }
    for (int t = 0; t < kThreads; t++) {
      for (const std::string& p : acked_sync[t]) {
        ASSERT_TRUE(seen.count(p)) << "acknowledged sync record lost: " << p.substr(0, 20);
      }
    }
    durable_log.clear();
    for (auto& [lsn, p] : log) durable_log.push_back(p);
  }
  RecordProperty("torn_tails", torn_tails);
}

TEST(WalWriter, FailedFsyncIsFatalForEveryLaterAppend) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto w = WalWriter::Open(&fs, "wal");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->append(RecordType::kTransaction, "before", Durability::kSync).ok());
  fs.fail_next(FaultOp::kSync, FaultError::kEIO);
  auto failed = (*w)->append(RecordType::kTransaction, "during", Durability::kSync);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsFatal()) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("fdatasync"), std::string::npos);
  // Never retried, even though the next fsync would succeed.
  for (auto d : {Durability::kRelaxed, Durability::kSync}) {
    auto later = (*w)->append(RecordType::kTransaction, "after", d);
    ASSERT_FALSE(later.ok());
    EXPECT_TRUE(later.status().IsFatal());
  }
  EXPECT_TRUE((*w)->health().IsFatal());
  EXPECT_FALSE((*w)->close().ok());
  // A new writer (a restart) reads "before" intact and works.
  auto w2 = WalWriter::Open(&fs, "wal");
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  ASSERT_TRUE((*w2)->append(RecordType::kTransaction, "restarted", Durability::kSync).ok());
  ASSERT_TRUE((*w2)->close().ok());
  auto log = ReadLog(&fs, "wal");
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log.front().second, "before");
  EXPECT_EQ(log.back().second, "restarted");
}

// request_sync: a relaxed record becomes durable without a wait for sync_interval (the engine's commits held
// by materializer backpressure rely on it), and the status says when the log takes no more.
TEST(WalWriter, RequestSyncMakesRecordsDurableWithoutWaiting) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  WriterOptions opts;
  opts.sync_interval = std::chrono::hours(1);
  auto w = WalWriter::Open(&fs, "wal", opts);
  ASSERT_TRUE(w.ok());
  auto a = (*w)->append(RecordType::kTransaction, "relaxed", Durability::kRelaxed);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*w)->request_sync(a->lsn + 100).ok());  // beyond the last LSN: up to the last
  // Would wait an hour without the request.
  ASSERT_TRUE((*w)->wait_durable(a->lsn, /*request_sync=*/false).ok());
  EXPECT_GE((*w)->durable_lsn(), a->lsn);

  fs.fail_next(FaultOp::kSync, FaultError::kEIO);
  auto b = (*w)->append(RecordType::kTransaction, "doomed", Durability::kRelaxed);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*w)->request_sync(b->lsn).ok());
  EXPECT_TRUE((*w)->wait_durable(b->lsn, /*request_sync=*/false).IsFatal());
  EXPECT_TRUE((*w)->request_sync(b->lsn).IsFatal());
  EXPECT_FALSE((*w)->close().ok());
  EXPECT_FALSE((*w)->request_sync(b->lsn).ok());
}

TEST(WalWriter, FailedWriteIsFatal) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  auto w = WalWriter::Open(&fs, "wal");
  ASSERT_TRUE(w.ok());
  fs.fail_next(FaultOp::kAppend, FaultError::kEIO);
  auto a = (*w)->append(RecordType::kTransaction, "x", Durability::kSync);
  EXPECT_TRUE(a.status().IsFatal()) << a.status().ToString();
  EXPECT_TRUE((*w)->append(RecordType::kTransaction, "y", Durability::kRelaxed).status().IsFatal());
}

// A full disk rejects new appends with NoSpace, keeps what it accepted, and works again once space returns.
TEST(WalWriter, FullDiskRejectsAppendsAndLosesNothing) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  WriterOptions opts;
  opts.no_space_retry = std::chrono::milliseconds(2);
  auto w = WalWriter::Open(&fs, "wal", opts);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE((*w)->append(RecordType::kTransaction, "early" + std::to_string(i), Durability::kSync).ok());
  }
  auto used = fs.file_size("wal/00000001-0000000000000001.wal");
  ASSERT_TRUE(used.ok());
  fs.set_space_limit(*used + 30);  // the next record (40-byte header) does not fit

  // This append is accepted (the writer has not met the full disk yet) but cannot be written: its sync
  // waiter waits for space. Appended here, not on the waiting thread, so that it is accepted before the
  // rejected appends below however the threads are scheduled.
  auto accepted = (*w)->append(RecordType::kTransaction, "while-full", Durability::kRelaxed);
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  std::atomic<bool> done{false};
  Status pending_status;
  std::thread pending([&] {
    pending_status = (*w)->wait_durable(accepted->lsn);
    done = true;
  });
  // New appends are rejected at once.
  Status rejected;
  for (int i = 0; i < 10000 && rejected.ok(); i++) {
    rejected = (*w)->append(RecordType::kTransaction, "rejected", Durability::kRelaxed).status();
    if (rejected.ok()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_TRUE(rejected.IsNoSpace()) << rejected.ToString();
  EXPECT_FALSE(done.load());
  // Every earlier record is readable meanwhile.
  auto log = ReadLog(mem.get(), "wal");
  EXPECT_GE(log.size(), 10u);
  EXPECT_EQ(log[0].second, "early0");

  fs.clear_faults();  // space returns
  pending.join();
  EXPECT_TRUE(pending_status.ok()) << pending_status.ToString();
  ASSERT_TRUE((*w)->append(RecordType::kTransaction, "after", Durability::kSync).ok());
  ASSERT_TRUE((*w)->close().ok());
  log = ReadLog(&fs, "wal");
  std::vector<std::string> payloads;
  for (auto& [lsn, p] : log) payloads.push_back(p);
  // "rejected" appends before the first NoSpace may have been accepted; nothing else is missing or extra.
  std::vector<std::string> core;
  for (auto& p : payloads) {
    if (p != "rejected") core.push_back(p);
  }
  std::vector<std::string> expect;
  for (int i = 0; i < 10; i++) expect.push_back("early" + std::to_string(i));
  expect.push_back("while-full");
  expect.push_back("after");
  EXPECT_EQ(core, expect);
}

// A sync wait on a full disk used to wait for as long as the disk stayed full. With a no-space timeout it
// gives up with NoSpace, and the record, already in the log's buffer, is kept and becomes durable when space
// returns: "not known durable", never "not logged".
TEST(WalWriter, SyncWaitOnAFullDiskGivesUpWithNoSpaceAndKeepsTheRecord) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  WriterOptions opts;
  opts.no_space_retry = std::chrono::milliseconds(2);
  auto w = WalWriter::Open(&fs, "wal", opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->append(RecordType::kTransaction, "early", Durability::kSync).ok());
  fs.set_space_limit(1);  // already over: nothing more fits
  // Accepted: the writer has not met the full disk yet.
  auto in_doubt = (*w)->append_nowait(RecordType::kTransaction, "in-doubt");
  ASSERT_TRUE(in_doubt.ok()) << in_doubt.status().ToString();
  DurableWait bounded;
  bounded.no_space_timeout = std::chrono::milliseconds(20);
  bounded.count_space_waits = true;
  Status s = (*w)->wait_durable(in_doubt->lsn, bounded);
  ASSERT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_NE(s.message().find("not known durable"), std::string::npos) << s.message();
  WriterStats st = (*w)->stats();
  EXPECT_EQ(st.space_waiters, 0u);
  EXPECT_EQ(st.space_waits, 1u);
  EXPECT_EQ(st.space_wait_timeouts, 1u);

  // A wait without a bound is counted as waiting for space for as long as the disk is full.
  Status unbounded_status = Status::IOError("not returned");
  DurableWait unbounded;
  unbounded.count_space_waits = true;
  std::thread waiter([&] { unbounded_status = (*w)->wait_durable(in_doubt->lsn, unbounded); });
  while ((*w)->stats().space_waiters == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  fs.clear_faults();  // space returns: the kept record is written
  waiter.join();
  EXPECT_TRUE(unbounded_status.ok()) << unbounded_status.ToString();
  st = (*w)->stats();
  EXPECT_EQ(st.space_waiters, 0u);
  EXPECT_EQ(st.space_waits, 2u);
  EXPECT_EQ(st.space_wait_timeouts, 1u);
  ASSERT_TRUE((*w)->close().ok());
  auto log = ReadLog(&fs, "wal");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].second, "in-doubt");
}

TEST(WalWriter, CloseWhileTheDiskIsFullFailsThePendingSyncAppendAndKeepsTheRest) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem fs(mem.get());
  WriterOptions opts;
  opts.no_space_retry = std::chrono::milliseconds(1);
  auto w = WalWriter::Open(&fs, "wal", opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->append(RecordType::kTransaction, "kept", Durability::kSync).ok());
  fs.set_space_limit(1);  // already over: nothing more fits
  Status pending_status;
  std::thread pending([&] {
    pending_status = (*w)->append(RecordType::kTransaction, "never-durable", Durability::kSync).status();
  });
  while ((*w)->append(RecordType::kTransaction, "probe", Durability::kRelaxed).ok()) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  Status closed = (*w)->close();
  pending.join();
  EXPECT_TRUE(closed.IsNoSpace()) << closed.ToString();
  EXPECT_FALSE(pending_status.ok());
  fs.clear_faults();
  auto log = ReadLog(&fs, "wal");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].second, "kept");
  for (auto& [lsn, p] : log) EXPECT_NE(p, "never-durable");
  // And the log reopens and continues.
  auto w2 = WalWriter::Open(&fs, "wal");
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ((*w2)->last_lsn(), log.size());
}

// Kill the process (as kill -9 would, _exit at the point) at every WAL crash point, on real files; the
// parent reopens and checks that every acknowledged sync record is there.
TEST(WalWriter, KillAtEveryCrashPointKeepsAcknowledgedRecords) {
  const uint64_t seed = test::TestSeed();
  for (std::string_view point : AllCrashPoints()) {
    if (!point.starts_with("wal.")) continue;
    for (uint64_t skip : {0, 1, 5}) {
      SCOPED_TRACE(std::string(point) + " skip " + std::to_string(skip));
      test::ScratchDir dir;
      const std::string wal_dir = dir.path() + "/wal";
      // Seed a log with a torn tail so "wal.before_tail_truncate" is reachable.
      {
        auto w = WalWriter::Open(FileSystem::Default(), wal_dir);
        ASSERT_TRUE(w.ok());
        ASSERT_TRUE((*w)->append(RecordType::kTransaction, "seed", Durability::kSync).ok());
        ASSERT_TRUE((*w)->close().ok());
        auto segs = ListSegments(FileSystem::Default(), wal_dir);
        auto f = FileSystem::Default()->reopen_writable_file(wal_dir + "/" + segs->back().name);
        ASSERT_TRUE((*f)->append("torn!").ok());
      }
      int fds[2];
      ASSERT_EQ(pipe(fds), 0);
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        close(fds[0]);
        ArmCrashPoint(point, skip);
        std::mt19937_64 rng(seed);
        WriterOptions opts;
        opts.segment_size = 4096;
        auto w = WalWriter::Open(FileSystem::Default(), wal_dir, opts);
        if (!w.ok()) _exit(3);
        for (int i = 0; i < 400; i++) {
          std::string payload = "rec" + std::to_string(i) + std::string(rng() % 200, 'x');
          auto a = (*w)->append(RecordType::kTransaction, payload, i % 3 == 0 ? Durability::kSync : Durability::kRelaxed);
          if (!a.ok()) _exit(4);
          if (i % 3 == 0) {
            std::string line = payload + "\n";
            if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
          }
        }
        _exit(0);  // point not reached with this skip: a plain exit without close
      }
      close(fds[1]);
      std::string acked;
      char buf[4096];
      ssize_t n;
      while ((n = read(fds[0], buf, sizeof buf)) > 0) acked.append(buf, static_cast<size_t>(n));
      close(fds[0]);
      int wstatus = 0;
      ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
      ASSERT_TRUE(WIFEXITED(wstatus));
      ASSERT_TRUE(WEXITSTATUS(wstatus) == kCrashExit || WEXITSTATUS(wstatus) == 0) << WEXITSTATUS(wstatus);

      auto w = WalWriter::Open(FileSystem::Default(), wal_dir);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      ASSERT_TRUE((*w)->close().ok());
      auto log = ReadLog(FileSystem::Default(), wal_dir);
      std::set<std::string> present;
      for (auto& [lsn, p] : log) present.insert(p);
      size_t pos = 0, count = 0;
      while (pos < acked.size()) {
        size_t nl = acked.find('\n', pos);
        ASSERT_TRUE(present.count(acked.substr(pos, nl - pos))) << "lost " << acked.substr(pos, 8);
        pos = nl + 1;
        count++;
      }
      ASSERT_TRUE(present.count("seed"));
    }
  }
}

}  // namespace
}  // namespace savepoint::wal
