// Where the engine meets RocksDB: damaged metadata, a full or small disk, many column families. The rule for
// damage is "refuse clearly, never destroy, never answer wrong": an open either fails and leaves every file
// as it was, or succeeds with exactly the committed state.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "savepoint/crash_simulator.h"
#include "savepoint/engine.h"
#include "savepoint/fault_injection.h"
#include "savepoint/file_system.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

namespace fs = std::filesystem;
using State = std::map<std::string, std::string>;

std::shared_ptr<spdlog::logger> QuietLogger() {
  return std::make_shared<spdlog::logger>("rocksdb-safety-test",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Every file under `dir` with its contents: what "nothing was changed" compares.
std::map<std::string, std::string> Listing(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() == "LOCK") continue;  // an open writes its pid there
    std::ifstream in(e.path(), std::ios::binary);
    out[fs::relative(e.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

std::string ManifestOf(const std::string& data_dir) {
  for (const auto& e : fs::directory_iterator(data_dir + "/db")) {
    if (e.path().filename().string().starts_with("MANIFEST-")) return e.path().string();
  }
  return "";
}

class RocksDbSafetyTest : public ::testing::Test {
 protected:
  Options MakeOptions(const std::string& dir) {
    Options o;
    o.data_dir = dir;
    o.logger = QuietLogger();
    o.wal_segment_size = 4096;  // checkpoints retire segments: the WAL alone cannot rebuild the state
    return o;
  }

  // Several checkpoints' worth of rows in two keyspaces (the same commits write both), closed cleanly.
  State Populate(const std::string& dir) {
    State model;
    auto e = Engine::open(MakeOptions(dir));
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    Keyspace* a = *(*e)->create_keyspace("a");
    Keyspace* b = *(*e)->create_keyspace("b");
    for (int round = 0; round < 6; round++) {
      for (int i = 0; i < 200; i++) {
        const std::string key = "k" + std::to_string(round * 1000 + i);
        const std::string value(64, static_cast<char>('a' + round));
        Transaction t(Durability::kSync);
        t.put(a, key, value);
        t.put(b, key, value);
        EXPECT_TRUE((*e)->commit(t).ok());
        model[key] = value;
      }
      EXPECT_TRUE((*e)->checkpoint().ok());
    }
    EXPECT_TRUE((*e)->close().ok());
    return model;
  }

  // Opens `dir`: either it fails and no file changed, or both keyspaces equal `model`.
  void ExpectRefusedUnchangedOrExact(const std::string& dir, const State& model, int* refusals) {
    const auto before = Listing(dir);
    auto e = Engine::open(MakeOptions(dir));
    if (!e.ok()) {
      (*refusals)++;
      EXPECT_TRUE(Listing(dir) == before) << "a failed open changed files: " << e.status().ToString();
      return;
    }
    for (const char* name : {"a", "b"}) {
      auto ks = (*e)->find_keyspace(name);
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      State got;
      ASSERT_TRUE((*e)->scan(*ks, "", "",
                             [&](std::string_view k, const Entry& entry) {
                               got[std::string(k)] = entry.value->bytes;
                               return true;
                             })
                      .ok());
      EXPECT_TRUE(got == model) << "keyspace " << name << " has " << got.size() << " keys, expected "
                                << model.size();
    }
  }

  // Opens with `o`: keyspace "kv" holds every row of `model`.
  void ExpectReopensWith(const Options& o, const State& model) {
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Keyspace* ks = *(*e)->find_keyspace("kv");
    for (const auto& [k, v] : model) {
      auto got = (*e)->get(ks, k);
      ASSERT_TRUE(got.ok()) << k << ": " << got.status().ToString();
      EXPECT_EQ(got->value->bytes, v);
    }
  }

  test::ScratchDir scratch_;
};

// Issue: `truncate -s 1000 db/MANIFEST-*` made a failed open delete every SST file.
TEST_F(RocksDbSafetyTest, ATruncatedManifestIsRefusedAndNoFileIsDeleted) {
  const std::string golden = scratch_.path() + "/golden";
  const State model = Populate(golden);
  const uint64_t size = fs::file_size(ManifestOf(golden));
  int refusals = 0;
  for (uint64_t cut : {uint64_t{1000}, uint64_t{200}, size / 2, size - 1}) {
    SCOPED_TRACE("MANIFEST cut to " + std::to_string(cut) + " of " + std::to_string(size) + " bytes");
    const std::string dir = scratch_.path() + "/cut" + std::to_string(cut);
    fs::copy(golden, dir, fs::copy_options::recursive);
    fs::resize_file(ManifestOf(dir), cut);
    ExpectRefusedUnchangedOrExact(dir, model, &refusals);
    auto e = Engine::open(MakeOptions(dir));
    if (!e.ok()) {
      EXPECT_NE(e.status().message().find("nothing was changed"), std::string::npos) << e.status().ToString();
    }
  }
  EXPECT_GT(refusals, 0);
}

TEST_F(RocksDbSafetyTest, BitFlipsInTheManifestNeverLoseRows) {
  const std::string golden = scratch_.path() + "/golden";
  const State model = Populate(golden);
  const uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  int refusals = 0;
  for (int trial = 0; trial < 12; trial++) {
    const std::string dir = scratch_.path() + "/flip" + std::to_string(trial);
    fs::copy(golden, dir, fs::copy_options::recursive);
    const std::string manifest = ManifestOf(dir);
    std::fstream f(manifest, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t size = fs::file_size(manifest);
    const uint64_t at = rng() % size;
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ (1 << (rng() % 8)));
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
    f.close();
    SCOPED_TRACE("seed " + std::to_string(seed) + " flip at " + std::to_string(at));
    ExpectRefusedUnchangedOrExact(dir, model, &refusals);
  }
}

// Without CURRENT RocksDB would create an empty database there and purge every file.
TEST_F(RocksDbSafetyTest, AMissingCurrentIsRefusedNotRecreated) {
  const std::string dir = scratch_.path() + "/d";
  const State model = Populate(dir);
  fs::remove(dir + "/db/CURRENT");
  const auto before = Listing(dir);
  auto e = Engine::open(MakeOptions(dir));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsCorruption()) << e.status().ToString();
  EXPECT_NE(e.status().message().find("CURRENT"), std::string::npos) << e.status().ToString();
  EXPECT_TRUE(Listing(dir) == before);
}

TEST_F(RocksDbSafetyTest, AMissingSstFileIsRefusedBeforeAnythingIsPurged) {
  const std::string dir = scratch_.path() + "/d";
  Populate(dir);
  std::string victim;
  for (const auto& e : fs::directory_iterator(dir + "/db")) {
    if (e.path().extension() == ".sst") victim = e.path().string();
  }
  ASSERT_FALSE(victim.empty());
  fs::remove(victim);
  const auto before = Listing(dir);
  auto e = Engine::open(MakeOptions(dir));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(Listing(dir) == before) << e.status().ToString();
}

// A file system that counts the OPTIONS files RocksDB writes: each is a rewrite of every family's options.
class CountingFileSystem final : public FileSystem {
 public:
  explicit CountingFileSystem(FileSystem* base) : base_(base) {}
  int options_files_written() const { return options_files_; }

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    if (path.find("/OPTIONS-") != std::string::npos) options_files_++;
    return base_->new_writable_file(path);
  }
  Result<std::unique_ptr<WritableFile>> reopen_writable_file(const std::string& path) override {
    return base_->reopen_writable_file(path);
  }
  Status read_file(const std::string& path, std::string* contents) override {
    return base_->read_file(path, contents);
  }
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(const std::string& path) override {
    return base_->new_random_access_file(path);
  }
  Result<uint64_t> file_size(const std::string& path) override { return base_->file_size(path); }
  bool file_exists(const std::string& path) override { return base_->file_exists(path); }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override { return base_->list_dir(dir); }
  Status create_dirs(const std::string& dir) override { return base_->create_dirs(dir); }
  Status remove_file(const std::string& path) override { return base_->remove_file(path); }
  Status rename_file(const std::string& from, const std::string& to) override {
    return base_->rename_file(from, to);
  }
  Status truncate_file(const std::string& path, uint64_t size) override {
    return base_->truncate_file(path, size);
  }
  Status sync_dir(const std::string& dir) override { return base_->sync_dir(dir); }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    return base_->lock_file(path);
  }

 private:
  FileSystem* const base_;
  std::atomic<int> options_files_{0};
};

// Issue: reopening 400 keyspaces took 40 s, half of it rewriting the OPTIONS file once per column family.
TEST_F(RocksDbSafetyTest, ReopeningManyKeyspacesWritesTheOptionsFileAConstantNumberOfTimes) {
  auto mem = NewMemFileSystem();
  CountingFileSystem counting(mem.get());
  Options o = MakeOptions(scratch_.path() + "/many");
  o.file_system = &counting;
  constexpr int kKeyspaces = 60;
  {
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    for (int i = 0; i < kKeyspaces; i++) {
      KeyspaceOptions ko;
      ko.residency = i % 2 == 0 ? Residency::kMemory : Residency::kCached;
      ko.cache_bytes = 1 << 20;
      auto ks = (*e)->create_keyspace("store" + std::to_string(i), ko);
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      Transaction t;
      t.put(*ks, "k", "v" + std::to_string(i));
      ASSERT_TRUE((*e)->commit(t).ok());
    }
    ASSERT_TRUE((*e)->close().ok());
  }
  const int before = counting.options_files_written();
  auto e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_LE(counting.options_files_written() - before, 2) << "OPTIONS rewritten per column family at open";
  for (int i = 0; i < kKeyspaces; i++) {
    auto ks = (*e)->find_keyspace("store" + std::to_string(i));
    ASSERT_TRUE(ks.ok());
    auto got = (*e)->get(*ks, "k");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->value->bytes, "v" + std::to_string(i));
  }
}

// Keyspaces created back to back get their families in one RocksDB call (the materializer's precreation);
// a power cut at any moment of that leaves a directory that reopens with every keyspace and row.
TEST_F(RocksDbSafetyTest, KeyspacesCreatedTogetherSurviveAPowerCutAndAReopen) {
  CrashSimulator sim(scratch_.path() + "/together");
  constexpr int kKeyspaces = 40;
  for (int round = 0; round < 3; round++) {
    Options o = sim.options();
    o.logger = QuietLogger();
    auto e = sim.open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    std::vector<Keyspace*> created;
    for (int i = 0; i < kKeyspaces; i++) {
      auto ks = (*e)->create_keyspace("r" + std::to_string(round) + "s" + std::to_string(i));
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      created.push_back(*ks);
    }
    Transaction t(Durability::kSync);
    for (int i = 0; i < kKeyspaces; i++) t.put(created[static_cast<size_t>(i)], "k", std::to_string(i));
    ASSERT_TRUE((*e)->commit(t).ok());
    if (round == 1) ASSERT_TRUE((*e)->wait_materialized().ok());
    ASSERT_TRUE(sim.cut_power(*e).ok());  // round 0: families maybe half made; round 1: all made
  }
  Options o = sim.options();
  o.logger = QuietLogger();
  auto e = sim.open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < kKeyspaces; i++) {
      auto ks = (*e)->find_keyspace("r" + std::to_string(round) + "s" + std::to_string(i));
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      auto got = (*e)->get(*ks, "k");
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(got->value->bytes, std::to_string(i));
    }
  }
  ASSERT_TRUE((*e)->checkpoint().ok());
}

// A full disk reaches RocksDB's flushes (RocksDB on the fault-injecting file system): checkpoints and close
// fail with an error, never abort the process, and every sync commit survives once there is space again.
TEST_F(RocksDbSafetyTest, CheckpointsFlushesAndCloseOnAFullDiskFailCleanly) {
  auto mem = NewMemFileSystem();
  FaultInjectionFileSystem disk(mem.get());
  Options o = MakeOptions(scratch_.path() + "/full");
  o.file_system = &disk;
  o.wal_segment_size = 1 << 20;
  State model;
  {
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Keyspace* ks = *(*e)->create_keyspace("kv");
    for (int i = 0; i < 300; i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "k" + std::to_string(i), std::string(200, 'v'));
      ASSERT_TRUE((*e)->commit(t).ok());
      model["k" + std::to_string(i)] = std::string(200, 'v');
    }
    ASSERT_TRUE((*e)->wait_materialized().ok());
    // No room for the flush's SST file: the checkpoint fails, with NoSpace or the I/O error RocksDB saw.
    disk.fail_next(FaultOp::kAppend, FaultError::kENOSPC, 0, 1000000);
    Status c = (*e)->checkpoint();
    EXPECT_FALSE(c.ok());
    EXPECT_FALSE((*e)->checkpoint().ok());  // again, as a periodic checkpoint would
    Status closed = (*e)->close();
    EXPECT_FALSE(closed.ok());
  }
  disk.clear_faults();
  ExpectReopensWith(o, model);
}

// A real small filesystem (tmpfs), where the test may mount one: RocksDB's own file system and its info log
// are on the real path here. Skipped, saying so, where mounting is not allowed.
class SmallDiskTest : public RocksDbSafetyTest {
 protected:
  void SetUp() override {
    mount_point_ = scratch_.path() + "/mnt";
    fs::create_directories(mount_point_);
    if (::geteuid() != 0 || ::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=64m") != 0) {
      GTEST_SKIP() << "cannot mount a 64 MiB tmpfs here (needs root): " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_point_.c_str(), MNT_DETACH);
  }
  void Fill(uint64_t bytes) {
    std::ofstream out(mount_point_ + "/filler", std::ios::binary);
    const std::string chunk(1 << 20, 'x');
    for (uint64_t i = 0; i < bytes / chunk.size(); i++) out.write(chunk.data(), chunk.size());
  }
  std::string mount_point_;
  bool mounted_ = false;
};

// Issue: on a 64 MiB filesystem with 35 MiB free, opening an empty directory failed with NoSpace (RocksDB
// preallocated ~70 MiB for a log file the engine never writes).
TEST_F(SmallDiskTest, AnEmptyDirectoryOpensAndCommitsOnASmallDisk) {
  Fill(29ull << 20);
  Options o = MakeOptions(mount_point_ + "/data");
  o.wal_segment_size = 1 << 20;
  auto e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Keyspace* ks = *(*e)->create_keyspace("kv");
  for (int i = 0; i < 100; i++) {
    Transaction t(Durability::kSync);
    t.put(ks, "k" + std::to_string(i), std::string(100, 'v'));
    ASSERT_TRUE((*e)->commit(t).ok());
  }
  EXPECT_TRUE((*e)->checkpoint().ok());
  EXPECT_TRUE((*e)->close().ok());
}

// Issue: a checkpoint on a full disk ended in SIGABRT (an assertion in RocksDB's file logger). Filling the
// disk until a flush fails must give errors only; the process goes on and reopens with every sync commit.
TEST_F(SmallDiskTest, CheckpointsOnAFullRealDiskReturnAnErrorAndLoseNothing) {
  Options o = MakeOptions(mount_point_ + "/data");
  o.wal_segment_size = 1 << 20;
  State model;
  {
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Keyspace* ks = *(*e)->create_keyspace("kv");
    std::mt19937_64 rng(7);
    int failures = 0;
    for (int round = 0; round < 200 && failures < 3; round++) {
      for (int i = 0; i < 50; i++) {
        const std::string key = "k" + std::to_string(round * 50 + i);
        Transaction t(Durability::kSync);
        std::string value = test::RandomBytes(rng, 4000);  // incompressible
        t.put(ks, key, value);
        auto r = (*e)->commit(t);
        if (r.ok()) model[key] = value;
      }
      if (!(*e)->checkpoint().ok()) failures++;
    }
    EXPECT_GT(failures, 0) << "the disk never filled";
    (void)(*e)->close();
  }
  // Room again, as an operator would make it: the filesystem grows.
  ASSERT_EQ(::mount("tmpfs", mount_point_.c_str(), "tmpfs", MS_REMOUNT, "size=256m"), 0)
      << std::strerror(errno);
  ExpectReopensWith(o, model);
}

}  // namespace
}  // namespace savepoint
