// The read-only view answers exactly what recovery would rebuild, or refuses: never RocksDB's state alone
// where the WAL should continue it, never a directory a running engine is changing under it.
#include "engine/offline_view.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "savepoint/engine.h"
#include "tests/testutil.h"

namespace savepoint::engine {
namespace {

namespace fs = std::filesystem;

class OfflineViewTest : public ::testing::Test {
 protected:
  Options MakeOptions() {
    Options o;
    o.data_dir = scratch_.path() + "/data";
    o.logger = std::make_shared<spdlog::logger>("view-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    o.wal_segment_size = 4096;
    return o;
  }
  // Rows in RocksDB (a checkpoint) and more in the WAL only, then a clean close.
  void Populate() {
    auto e = Engine::open(MakeOptions());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Keyspace* ks = *(*e)->create_keyspace("kv");
    for (int i = 0; i < 50; i++) {
      Transaction t(Durability::kSync);
      t.put(ks, "k" + std::to_string(i), std::string(100, 'a'));
      ASSERT_TRUE((*e)->commit(t).ok());
    }
    ASSERT_TRUE((*e)->checkpoint().ok());
    Transaction t(Durability::kSync);
    t.put(ks, "k0", "newer");
    ASSERT_TRUE((*e)->commit(t).ok());
    ASSERT_TRUE((*e)->close().ok());
  }
  std::string wal_dir() { return scratch_.path() + "/data/wal"; }

  test::ScratchDir scratch_;
};

TEST_F(OfflineViewTest, ReadsWhatRecoveryWouldRebuild) {
  Populate();
  auto v = OfflineView::Open(scratch_.path() + "/data");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto ks = (*v)->find("kv");
  ASSERT_TRUE(ks.ok());
  auto row = (*v)->get(**ks, "k0");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->value, "newer");
}

// Issue: with wal/ missing, empty or a regular file, `export` and `get` answered RocksDB's stale state.
TEST_F(OfflineViewTest, AMissingEmptyOrFakeWalIsRefusedNotReadAsRocksDbAlone) {
  Populate();
  const std::string saved = scratch_.path() + "/wal.saved";
  fs::rename(wal_dir(), saved);
  for (const char* how : {"missing", "empty", "a regular file"}) {
    SCOPED_TRACE(std::string("wal/ ") + how);
    fs::remove_all(wal_dir());
    if (std::string(how) == "empty") fs::create_directory(wal_dir());
    if (std::string(how) == "a regular file") std::ofstream(wal_dir()) << "x";
    auto v = OfflineView::Open(scratch_.path() + "/data");
    ASSERT_FALSE(v.ok());
    EXPECT_TRUE(v.status().IsCorruption()) << v.status().ToString();
    auto e = Engine::open(MakeOptions());  // the engine refuses by the same rule
    EXPECT_FALSE(e.ok());
  }
  fs::remove_all(wal_dir());
  fs::rename(saved, wal_dir());
  // Asked for RocksDB alone, it says what RocksDB holds.
  ViewOptions no_wal;
  no_wal.overlay_wal = false;
  EXPECT_TRUE(OfflineView::Open(scratch_.path() + "/data", no_wal).ok());
}

// Issue: exports of a directory a writer was using were no prefix of the commit order.
TEST_F(OfflineViewTest, ADirectoryARunningEngineHoldsIsRefusedUnlessAskedForALiveView) {
  Populate();
  auto e = Engine::open(MakeOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto v = OfflineView::Open(scratch_.path() + "/data");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsBusy()) << v.status().ToString();
  ViewOptions live;
  live.allow_live = true;
  EXPECT_TRUE(OfflineView::Open(scratch_.path() + "/data", live).ok());
  ASSERT_TRUE((*e)->close().ok());
  e->reset();
  EXPECT_TRUE(OfflineView::Open(scratch_.path() + "/data").ok());
}

// Issue: `snapshot create` computed next_keyspace_id as the highest live id + 1, so a dropped keyspace's id
// (and its column family's name) could come back after a restore.
TEST_F(OfflineViewTest, TheCatalogKeepsTheNextIdAboveDroppedKeyspaces) {
  {
    auto e = Engine::open(MakeOptions());
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->create_keyspace("a").ok());
    ASSERT_TRUE((*e)->create_keyspace("b").ok());
    ASSERT_TRUE((*e)->checkpoint().ok());
    ASSERT_TRUE((*e)->create_keyspace("c").ok());  // in the WAL tail only
    ASSERT_TRUE((*e)->drop_keyspace("c").ok());
    ASSERT_TRUE((*e)->drop_keyspace("b").ok());
    ASSERT_TRUE((*e)->close().ok());
  }
  auto v = OfflineView::Open(scratch_.path() + "/data");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const SnapshotCatalog catalog = (*v)->catalog();
  ASSERT_EQ(catalog.keyspaces.size(), 1u);
  EXPECT_EQ(catalog.keyspaces[0].name, "a");
  EXPECT_GE(catalog.next_keyspace_id, 4u);  // a=1, b=2, c=3
}

}  // namespace
}  // namespace savepoint::engine
