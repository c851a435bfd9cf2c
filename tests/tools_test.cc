// The `savepoint` operator command (tools/savepoint/), run as a process against real directories built
// with the Engine and Registry APIs: outputs, JSON, exit codes, and every refusal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine_impl.h"
#include "savepoint/clock.h"
#include "savepoint/engine.h"
#include "savepoint/key_codec.h"
#include "savepoint/registry.h"
#include "savepoint/structures.h"
#include "snapshot/format.h"
#include "tests/testutil.h"
#include "wal/format.h"

extern char** environ;

namespace savepoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Character {
  int64_t id = 0;
  std::string name;
  int64_t level = 1;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Character, id, name, level)

using Characters = Registry<int64_t, Character>;

struct RunResult {
  int code = -1;
  std::string out, err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// Runs the savepoint binary with `args`, stdin from `stdin_path` (or /dev/null).
RunResult Tool(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null") {
  static int counter = 0;
  const std::string base = fs::temp_directory_path().string() + "/savepoint-tools-test-" +
                           std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string out_path = base + ".out", err_path = base + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> full{SAVEPOINT_TOOL_PATH};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  RunResult r;
  if (posix_spawn(&pid, SAVEPOINT_TOOL_PATH, &actions, nullptr, argv.data(), environ) != 0) {
    ADD_FAILURE() << "cannot spawn " << SAVEPOINT_TOOL_PATH;
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(out_path);
  r.err = ReadAll(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

std::string Show(const RunResult& r) {
  return "exit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::vector<std::string> Segments(const std::string& wal_dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(wal_dir)) {
    if (e.path().extension() == ".wal") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

constexpr uint64_t kT0 = 1'700'000'000'000'000ULL;  // 2023-11-14T22:13:20Z
const Uuid kTenant = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a962");

class ToolsTest : public ::testing::Test {
 protected:
  std::string data() const { return dir_.path() + "/data"; }
  std::string archive() const { return dir_.path() + "/archive"; }

  Options MakeOptions(bool with_archive = false) {
    Options o;
    o.data_dir = data();
    o.clock = &clock_;
    if (with_archive) {
      o.archive_dir = archive();
      o.wal_segment_size = 4096;
    }
    return o;
  }
  std::unique_ptr<Engine> Open(bool with_archive = false) {
    auto e = Engine::open(MakeOptions(with_archive));
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }

  // Builds the standard directory: a registry with a unique and a non-unique index, a kv keyspace with raw
  // keys, binary values and a TTL, tuple-keyed rows, and a volatile keyspace. Key 7 of "characters" has a
  // history: put at T0+1s, update at T0+2s, removal at T0+4s, put again at T0+5s. Leaves the engine open.
  std::unique_ptr<Engine> Build(bool with_archive = false) {
    clock_.set_micros(kT0);
    auto e = Open(with_archive);
    auto chars = Characters::open(e.get(), "characters");
    EXPECT_TRUE(chars.ok());
    auto by_name = (*chars)->add_index<std::string>(
        "by_name", [](const Character& c) { return std::vector<std::string>{c.name}; }, true);
    auto by_level = (*chars)->add_index<int64_t>(
        "by_level", [](const Character& c) { return std::vector<int64_t>{c.level}; }, false);
    EXPECT_TRUE(by_name.ok() && by_level.ok());
    clock_.set_micros(kT0 + 1'000'000);
    EXPECT_TRUE((*chars)->put(7, {7, "aria", 12}).ok());
    clock_.set_micros(kT0 + 2'000'000);
    EXPECT_TRUE((*chars)
                    ->update(7,
                             [](Character& c) {
                               c.level = 13;
                               return Status::OK();
                             })
                    .ok());
    clock_.set_micros(kT0 + 3'000'000);
    EXPECT_TRUE((*chars)->put(3, {3, "bren", 4}).ok());
    clock_.set_micros(kT0 + 4'000'000);
    EXPECT_TRUE((*chars)->remove(7).ok());
    clock_.set_micros(kT0 + 5'000'000);
    EXPECT_TRUE((*chars)->put(7, {7, "aria", 14}).ok());

    clock_.set_micros(kT0 + 6'000'000);
    auto counters = e->create_keyspace("counters");
    EXPECT_TRUE(counters.ok());
    EXPECT_TRUE(e->increment(*counters, "visits", 41).ok());
    EXPECT_TRUE(e->increment(*counters, "visits", 1).ok());
    Transaction t;
    t.put(*counters, "bin", std::string("\x00\xff\x80 bytes", 9));
    t.put(*counters, "motd", "hello \"world\"");
    t.put(*counters, "json", R"({"a":[1,2]})");
    t.put(*counters, "ttl", "short-lived", ttl_at_);
    EXPECT_TRUE(e->commit(t).ok());

    auto inv = e->create_keyspace("inventories");
    EXPECT_TRUE(inv.ok());
    Transaction ti;
    ti.put(*inv, EncodeKey({kTenant, int64_t{1}}), R"({"sword":1})");
    ti.put(*inv, EncodeKey({kTenant, int64_t{2}}), R"({"shield":1})");
    ti.put(*inv, EncodeKey({*Uuid::Parse("00000000-0000-4000-8000-000000000001"), int64_t{1}}),
           R"({"bow":1})");
    EXPECT_TRUE(e->commit(ti).ok());

    KeyspaceOptions vol;
    vol.persistence = Persistence::kVolatile;
    EXPECT_TRUE(e->create_keyspace("sessions", vol).ok());
    return e;
  }

  void BuildAndClose(bool with_archive = false) {
    auto e = Build(with_archive);
    ASSERT_TRUE(e->close().ok());
  }

  test::ScratchDir dir_;
  ManualClock clock_{kT0};
  // A TTL in the tool's (system clock) future, so the row is live for the tool and the engine alike.
  const uint64_t ttl_at_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count()) +
                           10ull * 365 * 24 * 3600 * 1'000'000;
};

// --------------------------------------------------------------------------------------------------- info

TEST_F(ToolsTest, InfoListsKeyspacesLsnsAndSegments) {
  BuildAndClose();
  RunResult r = Tool({"info", data(), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json j = json::parse(r.out);
  std::map<std::string, json> ks;
  for (auto& k : j["keyspaces"]) ks[k["name"]] = k;
  ASSERT_EQ(ks.count("characters"), 1u) << r.out;
  EXPECT_EQ(ks["characters"]["kind"], "registry");
  EXPECT_EQ(ks["characters"]["rows"], 2);
  EXPECT_EQ(ks["characters"]["class"], "durable");
  EXPECT_EQ(ks["characters"]["residency"], "memory");
  EXPECT_EQ(ks["characters.by_name"]["kind"], "unique_index");
  EXPECT_EQ(ks["characters.by_name"]["rows"], 3) << "two entries and the built marker";
  EXPECT_EQ(ks["counters"]["rows"], 5);
  EXPECT_EQ(ks["sessions"]["class"], "volatile");
  EXPECT_TRUE(ks["sessions"]["rows"].is_null());
  EXPECT_GT(j["lsn"]["applied"].get<uint64_t>(), 10u);
  // A clean close materialises every record; only its own checkpoint marker follows applied_lsn.
  EXPECT_EQ(j["lsn"]["applied"].get<uint64_t>() + 1, j["lsn"]["last"].get<uint64_t>());
  EXPECT_EQ(j["lsn"]["durable"], j["lsn"]["last"]);
  EXPECT_EQ(j["timeline"], 1);
  EXPECT_TRUE(j["lock_holder"].is_null());
  ASSERT_GE(j["wal"]["segments"].size(), 1u);
  EXPECT_EQ(j["wal"]["segments"][0]["name"].get<std::string>().substr(0, 9), "00000001-");

  r = Tool({"info", data()});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("characters.by_level"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unique_index"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lock         free"), std::string::npos) << r.out;
}

// The last save and the archive's copies, from the snapshot files' headers; a damaged one is a problem.
TEST_F(ToolsTest, InfoShowsSnapshotsOfTheDirectoryAndTheArchive) {
  uint64_t first_lsn = 0, last_lsn = 0;
  {
    auto e = Build(/*with_archive=*/true);
    auto first = e->save();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    auto counters = *e->find_keyspace("counters");
    ASSERT_TRUE(e->increment(counters, "visits", 1).ok());
    ASSERT_TRUE(e->wait_materialized().ok());
    auto last = e->save();
    ASSERT_TRUE(last.ok()) << last.status().ToString();
    first_lsn = first->lsn;
    last_lsn = last->lsn;
    ASSERT_LT(first_lsn, last_lsn);
    ASSERT_TRUE(e->close().ok());
  }
  RunResult r = Tool({"info", data(), "--archive", archive(), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json j = json::parse(r.out);
  ASSERT_EQ(j["snapshots"]["files"].size(), 2u) << r.out;
  EXPECT_EQ(j["snapshots"]["files"][0]["lsn"], first_lsn);
  EXPECT_EQ(j["snapshots"]["last"]["lsn"], last_lsn);
  EXPECT_EQ(j["snapshots"]["last"]["timeline"], 1);
  EXPECT_GT(j["snapshots"]["last"]["bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["archive"]["snapshots"]["last"]["lsn"], last_lsn) << "saves are copied into the archive";
  EXPECT_TRUE(j["problems"].empty()) << r.out;

  r = Tool({"info", data()});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("2 snapshots, last "), std::string::npos) << r.out;

  // A file under a snapshot name that is not one is reported, not skipped silently.
  const std::string bogus = data() + "/snapshots/00000001-00000000000003e7.snap";
  WriteAll(bogus, "not a snapshot");
  r = Tool({"info", data(), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  j = json::parse(r.out);
  EXPECT_EQ(j["snapshots"]["files"].size(), 2u);
  ASSERT_EQ(j["problems"].size(), 1u) << r.out;
  EXPECT_NE(j["problems"][0].get<std::string>().find("00000001-00000000000003e7.snap"), std::string::npos);

  r = Tool({"info", data(), "--snapshots", dir_.path() + "/nowhere"});
  EXPECT_EQ(r.code, 2) << Show(r);
}

// ------------------------------------------------------------------------------------------- get and scan

TEST_F(ToolsTest, GetRendersRegistryIndexJsonStringAndBinaryValues) {
  BuildAndClose();
  RunResult r = Tool({"get", data(), "characters", "7", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["key"], "(7)");
  EXPECT_EQ(j["value_encoding"], "registry");
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["value"], (json{{"id", 7}, {"level", 14}, {"name", "aria"}}));

  r = Tool({"get", data(), "characters.by_name", "\"bren\"", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["value"], "(3)");
  EXPECT_EQ(json::parse(r.out)["value_encoding"], "primary_key");

  r = Tool({"get", data(), "counters", "raw\"visits\"", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["value"], 42);

  r = Tool({"get", data(), "counters", "raw\"motd\"", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["value"], "hello \"world\"");
  EXPECT_EQ(json::parse(r.out)["value_encoding"], "string");

  r = Tool({"get", data(), "counters", "raw\"bin\"", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  j = json::parse(r.out);
  EXPECT_EQ(j["value_encoding"], "base64");
  EXPECT_EQ(j["value_b64"], "AP+AIGJ5dGVz");

  r = Tool({"get", data(), "counters", "raw\"ttl\"", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["expire_at_micros"], ttl_at_);

  r = Tool({"get", data(), "inventories", "(3b241101-e2bb-4255-8caf-4136c566a962, 2)"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("\"shield\": 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key       (3b241101-e2bb-4255-8caf-4136c566a962, 2)"), std::string::npos) << r.out;

  // Absent key and keyspace: exit 2, saying what exists.
  r = Tool({"get", data(), "characters", "99"});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("no key (99)"), std::string::npos) << r.err;
  r = Tool({"get", data(), "nope", "1"});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("keyspaces: characters"), std::string::npos) << r.err;
  r = Tool({"get", data(), "sessions", "1"});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("volatile"), std::string::npos) << r.err;
}

TEST_F(ToolsTest, ScanInKeyOrderWithPrefixAndLimit) {
  BuildAndClose();
  RunResult r = Tool({"scan", data(), "characters", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  auto rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["key"], "(3)");
  EXPECT_EQ(rows[1]["key"], "(7)");
  EXPECT_EQ(rows[1]["value"]["level"], 14);

  r = Tool({"scan", data(), "inventories", "--prefix", "(3b241101-e2bb-4255-8caf-4136c566a962)", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0]["key"], "(3b241101-e2bb-4255-8caf-4136c566a962, 1)");

  r = Tool({"scan", data(), "counters", "--prefix", "raw\"v\""});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(r.out, "raw\"visits\"  42\n");

  r = Tool({"scan", data(), "characters", "--limit", "1"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.err.find("--limit"), std::string::npos);
}

// Issue: reads of a directory a writer was using answered states that were no prefix of the commit order.
// Reads of a live directory are refused, naming the holder; `info` reports it; after a crash the reads
// overlay the WAL tail RocksDB never saw.
TEST_F(ToolsTest, ReadsOfALiveEngineAreRefusedAndAfterACrashOverlayTheWalTail) {
  auto e = Build();
  auto chars = Characters::open(e.get(), "characters");
  ASSERT_TRUE(chars.ok());
  ASSERT_TRUE((*chars)->put(8, {8, "cato", 1}, Durability::kSync).ok());
  const std::string me = "process " + std::to_string(::getpid());
  RunResult r = Tool({"get", data(), "characters", "8", "--json"});
  EXPECT_EQ(r.code, 5) << Show(r);
  EXPECT_NE(r.err.find(me), std::string::npos) << r.err;
  r = Tool({"export", data()});
  EXPECT_EQ(r.code, 5) << Show(r);

  r = Tool({"info", data(), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["lock_holder"], me);

  // Commands that open the engine refuse, naming the holder.
  r = Tool({"restore-point", data(), "nightly"});
  EXPECT_EQ(r.code, 5) << Show(r);
  EXPECT_NE(r.err.find(me), std::string::npos) << r.err;
  r = Tool({"check", data()});
  EXPECT_EQ(r.code, 5) << Show(r);
  EXPECT_NE(r.err.find(me), std::string::npos) << r.err;

  // A crash: nothing was flushed, RocksDB's files know nothing of row 8; the WAL does.
  chars->reset();
  static_cast<engine::EngineImpl*>(e.get())->abandon_for_crash_test();
  r = Tool({"get", data(), "characters", "8", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["value"]["name"], "cato");
  r = Tool({"get", data(), "characters", "8", "--no-wal"});
  EXPECT_EQ(r.code, 2) << "RocksDB alone has not seen it\n" << Show(r);
}

// ------------------------------------------------------------------------------------------ export/import

TEST_F(ToolsTest, ExportImportExportIsByteIdentical) {
  BuildAndClose();
  RunResult first = Tool({"export", data()});
  ASSERT_EQ(first.code, 0) << Show(first);
  auto lines = JsonLines(first.out);
  ASSERT_GT(lines.size(), 10u);
  EXPECT_EQ(lines[0], (json{{"format", "savepoint-export"}, {"version", 1}}));
  bool saw_ttl = false, saw_raw_key = false, saw_volatile_header = false;
  for (auto& l : lines) {
    if (l.value("keyspace", "") == "counters" && l.value("key_b64", "") == "dHRs") {
      saw_ttl = l["expire_at_micros"] == ttl_at_;
    }
    if (l.contains("key_b64")) saw_raw_key = true;
    if (l.value("type", "") == "keyspace" && l["keyspace"] == "sessions") {
      saw_volatile_header = l["definition"]["persistence"] == "volatile";
    }
  }
  EXPECT_TRUE(saw_ttl) << first.out;
  EXPECT_TRUE(saw_raw_key);
  EXPECT_TRUE(saw_volatile_header);

  const std::string file = dir_.path() + "/export.jsonl";
  WriteAll(file, first.out);
  const std::string copy = dir_.path() + "/copy";
  RunResult imp = Tool({"import", copy, "--json"}, file);
  ASSERT_EQ(imp.code, 0) << Show(imp);
  EXPECT_EQ(json::parse(imp.out)["keyspaces"]["characters"], 2);

  RunResult second = Tool({"export", copy});
  ASSERT_EQ(second.code, 0) << Show(second);
  EXPECT_EQ(second.out, first.out);

  // The copy is a working directory: the application opens it and its indexes answer.
  {
    Options o;
    o.data_dir = copy;
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    auto chars = Characters::open(e->get(), "characters");
    ASSERT_TRUE(chars.ok());
    auto by_name = (*chars)->add_index<std::string>(
        "by_name", [](const Character& c) { return std::vector<std::string>{c.name}; }, true);
    ASSERT_TRUE(by_name.ok());
    auto hit = (*by_name)->lookup("aria");
    ASSERT_TRUE(hit.ok()) << hit.status().ToString();
    EXPECT_EQ(*hit, std::vector<int64_t>{7});
    ASSERT_TRUE((*e)->close().ok());
  }

  // Importing again into keyspaces that have rows is refused without --merge.
  imp = Tool({"import", copy}, file);
  EXPECT_EQ(imp.code, 1) << Show(imp);
  EXPECT_NE(imp.err.find("--merge"), std::string::npos) << imp.err;
  imp = Tool({"import", copy, "--merge"}, file);
  EXPECT_EQ(imp.code, 0) << Show(imp);

  // A line that is not an export line names its line number.
  const std::string bad = dir_.path() + "/bad.jsonl";
  WriteAll(bad, "{\"format\":\"savepoint-export\",\"version\":1}\n{\"keyspace\":\"x\",\"key\":\"1\"}\n");
  imp = Tool({"import", dir_.path() + "/copy2"}, bad);
  EXPECT_EQ(imp.code, 1) << Show(imp);
  EXPECT_NE(imp.err.find("line 2"), std::string::npos) << imp.err;
}

// ----------------------------------------------------------------------------------------------- wal dump

TEST_F(ToolsTest, WalDumpGivesTheHistoryOfOneKeyWithTimes) {
  auto e = Build(/*with_archive=*/true);
  // Enough later writes to seal the segments holding the history, then a checkpoint archives them.
  auto kv = e->find_keyspace("counters");
  ASSERT_TRUE(kv.ok());
  for (int i = 0; i < 40; i++) {
    clock_.set_micros(kT0 + 10'000'000 + i);
    Transaction t;
    t.put(*kv, "filler" + std::to_string(i), std::string(100, 'x'));
    ASSERT_TRUE(e->commit(t).ok());
  }
  ASSERT_TRUE(e->wait_materialized().ok());
  ASSERT_TRUE(e->checkpoint().ok());
  ASSERT_TRUE(e->close().ok());

  for (const std::string& where : {archive(), data()}) {
    RunResult r = Tool({"wal", "dump", where, "--keyspace", "characters", "--key", "7", "--json"});
    if (where == data()) {
      // The live WAL no longer holds the history (archived and retired), but it reads fine.
      EXPECT_EQ(r.code, 0) << Show(r);
      continue;
    }
    ASSERT_EQ(r.code, 0) << Show(r);
    auto recs = JsonLines(r.out);
    std::vector<std::pair<std::string, std::string>> history;  // (time, op)
    for (auto& rec : recs) {
      if (rec["type"] != "transaction") continue;
      for (auto& eff : rec["effects"]) {
        EXPECT_EQ(eff["keyspace"], "characters");
        EXPECT_EQ(eff["key"], "(7)");
        history.emplace_back(rec["commit_time"], eff["op"]);
      }
    }
    const std::vector<std::pair<std::string, std::string>> want = {{"2023-11-14T22:13:21.000000Z", "put"},
                                                                   {"2023-11-14T22:13:22.000000Z", "put"},
                                                                   {"2023-11-14T22:13:24.000000Z", "delete"},
                                                                   {"2023-11-14T22:13:25.000000Z", "put"}};
    EXPECT_EQ(history, want) << r.out;
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs.back()["effects"][0]["value"]["level"], 14);
  }

  // The archive reads whole, and info reports on it.
  RunResult v = Tool({"wal", "verify", archive()});
  EXPECT_EQ(v.code, 0) << Show(v);
  EXPECT_NE(v.out.find("(WAL archive, timeline 1)"), std::string::npos) << v.out;
  v = Tool({"info", data(), "--archive", archive(), "--json"});
  ASSERT_EQ(v.code, 0) << Show(v);
  json info = json::parse(v.out);
  EXPECT_GE(info["archive"]["segments"].get<uint64_t>(), 1u) << v.out;
  EXPECT_EQ(info["archive"]["first_lsn"], 1);
  EXPECT_TRUE(info["archive"]["gaps"].empty()) << v.out;

  // A time window: what happened to key 7 between T0+2s and T0+4s.
  RunResult r = Tool({"wal", "dump", archive(), "--keyspace", "characters", "--key", "(7)", "--since",
                      "2023-11-14T22:13:22Z", "--until", "2023-11-14T22:13:24.000000Z"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("2023-11-14T22:13:22.000000Z  transaction"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    delete  characters  (7)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("22:13:21"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("22:13:25"), std::string::npos) << r.out;

  // The whole log, unfiltered: catalog changes name their keyspaces.
  r = Tool({"wal", "dump", archive()});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("catalog_change  create keyspace characters (id 1, registry, durable)"),
            std::string::npos)
      << r.out;

  r = Tool({"wal", "dump", archive(), "--key", "7"});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"wal", "dump", archive(), "--keyspace", "characters", "--since", "yesterday"});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("ISO 8601"), std::string::npos) << r.err;
}

TEST_F(ToolsTest, RestorePointIsLoggedAndDumped) {
  BuildAndClose();
  RunResult r = Tool({"restore-point", data(), "before-patch", "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  const uint64_t lsn = json::parse(r.out)["lsn"];
  r = Tool(
      {"wal", "dump", data(), "--from-lsn", std::to_string(lsn), "--to-lsn", std::to_string(lsn), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  auto recs = JsonLines(r.out);
  ASSERT_EQ(recs.size(), 1u) << r.out;
  EXPECT_EQ(recs[0]["type"], "restore_point");
  EXPECT_EQ(recs[0]["name"], "before-patch");
}

// --------------------------------------------------------------------------------- wal verify and salvage

TEST_F(ToolsTest, WalVerifyFindsCorruptionWithOffsetAndSalvageSkipsIt) {
  BuildAndClose();
  const std::string wal_dir = data() + "/wal";
  RunResult r = Tool({"wal", "verify", data()});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("result: end of log"), std::string::npos) << r.out;

  // A clean close leaves the records in a sealed segment, followed by an empty one.
  auto segs = Segments(wal_dir);
  ASSERT_GE(segs.size(), 2u);
  const std::string sealed = wal_dir + "/" + segs[segs.size() - 2];
  std::string bytes = ReadAll(sealed);
  ASSERT_GT(bytes.size(), 400u);
  const size_t flip = bytes.size() / 2;
  bytes[flip] ^= 0x10;
  WriteAll(sealed, bytes);

  r = Tool({"wal", "verify", data(), "--json"});
  ASSERT_EQ(r.code, 3) << Show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["result"], "corruption");
  EXPECT_EQ(j["stop"]["segment"], sealed);
  const uint64_t offset = j["stop"]["offset"];
  EXPECT_GT(offset, 48u);
  EXPECT_LE(offset, flip);
  EXPECT_NE(j["error"].get<std::string>().find("at offset " + std::to_string(offset)), std::string::npos)
      << r.out;
  r = Tool({"wal", "verify", data()});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.out.find(segs[segs.size() - 2]), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset " + std::to_string(offset)), std::string::npos) << r.out;

  // Salvage: read-only on the source, skips the damaged record, keeps every other LSN in place.
  const std::string out = dir_.path() + "/salvaged";
  r = Tool({"wal", "salvage", data(), "--out", out, "--json"});
  ASSERT_EQ(r.code, 3) << Show(r);
  j = json::parse(r.out);
  ASSERT_EQ(j["skipped"].size(), 1u) << r.out;
  EXPECT_EQ(j["skipped"][0]["offset"], offset);
  EXPECT_EQ(j["skipped"][0]["segment"], sealed);
  EXPECT_GE(j["placeholder_records"].get<uint64_t>(), 1u);
  EXPECT_EQ(ReadAll(sealed), bytes) << "salvage must not write to its source";

  r = Tool({"wal", "verify", out});
  EXPECT_EQ(r.code, 0) << Show(r);
  const uint64_t lost = j["lost_lsns"][0]["from_lsn"];
  r = Tool(
      {"wal", "dump", out, "--from-lsn", std::to_string(lost), "--to-lsn", std::to_string(lost), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  auto recs = JsonLines(r.out);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["name"], "savepoint-salvage: LSN " + std::to_string(lost) + " lost");
}

// The documented repair used to leave structures unusable: a middle WAL segment deleted, `wal salvage`, the
// salvaged wal/ swapped in, `check` said "result: ok", and Structures::open then refused the whole database
// ("list positions are not contiguous"). Now check reports each damaged key (exit 9) and open repairs it,
// with a warning naming the key, in a logged commit; the structures work afterwards.
TEST_F(ToolsTest, SalvagedStructuresAreReportedByCheckAndRepairedByOpen) {
  clock_.set_micros(kT0);
  Options o = MakeOptions();
  o.wal_segment_size = 4096;
  o.checkpoint_interval = std::chrono::hours(24);  // RocksDB must keep none of the writes below
  const std::string wal_dir = data() + "/wal";
  const Durability kSync = Durability::kSync;
  auto open_structures = [](Engine* e, std::shared_ptr<spdlog::logger> logger = nullptr) {
    StructuresOptions so;
    so.logger = std::move(logger);
    return Structures::open(e, "game", so);
  };
  {  // The keyspaces are in RocksDB's catalog: the lost segment holds structure writes only.
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(open_structures(e->get()).ok());
    ASSERT_TRUE((*e)->close().ok());
  }
  auto e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto opened = open_structures(e->get());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Structures* s = opened->get();
  // Writes a string key until a new segment starts: what follows is in segments of its own.
  auto next_segment = [&] {
    const size_t n = Segments(wal_dir).size();
    for (int i = 0; Segments(wal_dir).size() == n; i++) {
      ASSERT_LT(i, 1000);
      ASSERT_TRUE(s->set("filler", std::string(300, 'x'), {}, kSync).ok());
    }
  };
  auto id = [](uint64_t ms) { return StreamId{ms, 0}; };
  auto xadd = [&](uint64_t ms) {
    XAddOptions xo;
    xo.id = id(ms);
    ASSERT_TRUE(s->xadd("events", {{"n", std::to_string(ms)}}, xo, kSync).ok());
  };

  // Kept: a list of two, a stream with entry 1 and group g1.
  next_segment();
  ASSERT_TRUE(s->rpush("queue", {"a", "b"}, kSync).ok());
  xadd(1);
  ASSERT_TRUE(s->xgroup_create("events", "g1", id(0), false, kSync).ok());
  // Lost: two pushes, the sorted set's creation, entry 2, group g2, and the first reads of c1 and c2.
  next_segment();
  const std::string lost = Segments(wal_dir).back();
  ASSERT_TRUE(s->rpush("queue", {"c", "d"}, kSync).ok());
  ASSERT_TRUE(s->zadd("board", {{"alice", 10}, {"bob", 20}}, {}, kSync).ok());
  xadd(2);
  ASSERT_TRUE(s->xgroup_create("events", "g2", id(0), false, kSync).ok());
  ASSERT_EQ(s->xreadgroup("events", "g1", "c1", std::nullopt, 0, {}, kSync)->size(), 2u);
  ASSERT_EQ(s->xreadgroup("events", "g2", "c2", std::nullopt, 0, {}, kSync)->size(), 2u);
  // Kept: writes computed from a memory that had the lost ones.
  next_segment();
  const std::string after = Segments(wal_dir).back();
  ASSERT_TRUE(s->rpush("queue", {"e"}, kSync).ok());               // position 4: a gap
  ASSERT_TRUE(s->zadd("board", {{"carol", 30}}, {}, kSync).ok());  // member rows, no meta row
  ASSERT_TRUE(s->zincrby("board", 5, "bob", kSync).ok());
  ASSERT_EQ(s->xclaim("events", "g1", "c1", 0, {id(2)}, kSync)->size(), 1u);  // c1 has no consumer row
  ASSERT_EQ(s->xclaim("events", "g2", "c3", 0, {id(1)}, kSync)->size(), 1u);  // g2 has no group row
  opened->reset();
  // A crash: RocksDB loses what it had in memory; the WAL has every sync commit.
  static_cast<engine::EngineImpl*>(e->get())->abandon_for_crash_test();
  e->reset();

  // The documented repair: delete the damaged segment(s), salvage, swap wal/.
  auto segs = Segments(wal_dir);
  size_t removed = 0;
  for (const std::string& seg : segs) {
    if (seg >= lost && seg < after) removed += fs::remove(wal_dir + "/" + seg) ? 1 : 0;
  }
  ASSERT_GE(removed, 1u);
  const std::string out = dir_.path() + "/salvaged";
  RunResult r = Tool({"wal", "salvage", data(), "--out", out});
  ASSERT_EQ(r.code, 3) << Show(r);
  fs::rename(wal_dir, data() + "/wal.damaged");
  fs::rename(out + "/wal", wal_dir);

  r = Tool({"check", data(), "--json"});
  ASSERT_EQ(r.code, 9) << Show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["result"], "structure_mismatch") << r.out;
  ASSERT_EQ(j["structures"].size(), 1u) << r.out;
  EXPECT_EQ(j["structures"][0]["name"], "game");
  std::map<std::string, std::vector<std::string>> found;  // key -> problems
  for (const auto& p : j["structures"][0]["problems"]) {
    EXPECT_TRUE(p["repairable"].get<bool>()) << p;
    EXPECT_EQ(p["keyspace"].get<std::string>().rfind("game", 0), 0u) << p;
    found[p["key"].get<std::string>()].push_back(p["problem"].get<std::string>());
  }
  auto has = [&](const std::string& key, const std::string& text) {
    for (const std::string& p : found[key]) {
      if (p.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("'queue'", "list positions are not contiguous (a gap from 1 to 4)")) << r.out;
  EXPECT_TRUE(has("'board'", "element rows without a meta row: kept as a zset")) << r.out;
  EXPECT_TRUE(has("'events'", "consumer group 'g2' has pending entries or consumers but no group row"))
      << r.out;
  EXPECT_TRUE(has("'events'", "consumer 'c1' of consumer group 'g1' has pending entries but no consumer row"))
      << r.out;
  EXPECT_TRUE(
      has("'events'", "the last delivered ID 0-0 of consumer group 'g1' is below its pending entry 2-0"))
      << r.out;
  EXPECT_TRUE(has("'events'", "stream last ID 1-0 is below")) << r.out;
  EXPECT_EQ(found.count("'filler'"), 0u) << r.out;
  r = Tool({"check", data()});
  EXPECT_EQ(r.code, 9) << Show(r);
  EXPECT_NE(r.out.find("key 'queue' (keyspace game.elements): list positions"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("result: a structure's rows disagree"), std::string::npos) << r.out;

  // The server comes up: open repairs, naming each key in a warning.
  auto log_text = std::make_shared<std::ostringstream>();
  auto logger = std::make_shared<spdlog::logger>("structures-test",
                                                 std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_text));
  e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  opened = open_structures(e->get(), logger);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  s = opened->get();
  logger->flush();
  const std::string warnings = log_text->str();
  for (const char* key : {"'queue'", "'board'", "'events'"}) {
    EXPECT_NE(warnings.find(std::string("structures game: repairing key ") + key), std::string::npos)
        << warnings;
  }
  EXPECT_NE(warnings.find("[warning]"), std::string::npos) << warnings;

  // The list: what survived, in order, and pushes at both ends.
  EXPECT_EQ(*s->lrange("queue", 0, -1), (std::vector<std::string>{"a", "b", "e"}));
  ASSERT_EQ(*s->rpush("queue", {"f"}, kSync), 4);
  ASSERT_EQ(*s->lpush("queue", {"z"}, kSync), 5);
  EXPECT_EQ(*s->lrange("queue", 0, -1), (std::vector<std::string>{"z", "a", "b", "e", "f"}));
  EXPECT_EQ(**s->lpop("queue", kSync), "z");
  // The sorted set: the members whose rows survived.
  EXPECT_EQ(*s->type("board"), StructureType::kZSet);
  EXPECT_EQ(*s->zrange("board", 0, -1), (std::vector<ScoredMember>{{"bob", 25}, {"carol", 30}}));
  ASSERT_TRUE(s->zadd("board", {{"dana", 27}}, {}, kSync).ok());
  EXPECT_EQ(**s->zrank("board", "dana"), 1);
  // The stream: new IDs above everything delivered; the groups deliver, acknowledge and claim.
  auto next = s->xadd("events", {{"n", "new"}}, {}, kSync);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_GT(*next, id(2));
  auto got = s->xreadgroup("events", "g1", "c1", std::nullopt, 0, {}, kSync);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, *next);
  EXPECT_EQ(*s->xack("events", "g1", {id(2), *next}, kSync), 2);
  auto groups = s->xinfo_groups("events");
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[1].name, "g2");
  EXPECT_EQ((*groups)[1].last_delivered, id(1));
  EXPECT_EQ((*groups)[1].pending, 1u);
  got = s->xreadgroup("events", "g2", "c3", std::nullopt, 0, {}, kSync);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);  // entry 2 is lost; the new one is delivered
  EXPECT_EQ((*got)[0].id, *next);
  opened->reset();
  ASSERT_TRUE((*e)->close().ok());

  // The repair was logged: nothing left to report or repair.
  r = Tool({"check", data()});
  EXPECT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("structures game: 4 keys, every row decodes and agrees"), std::string::npos) << r.out;
  log_text->str("");
  e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  opened = open_structures(e->get(), logger);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  logger->flush();
  EXPECT_EQ(log_text->str(), "");
  EXPECT_EQ(*(*opened)->llen("queue"), 4);
  opened->reset();
  ASSERT_TRUE((*e)->close().ok());
}

// Before key types were recorded, a registry opened with another key type wrote rows its correctly typed
// openers could not read. check names such a row against the recorded key type.
TEST_F(ToolsTest, CheckNamesARegistryRowOfAnotherKeyType) {
  BuildAndClose();
  RunResult r = Tool({"check", data()});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("registry characters (keys int64): 2 rows"), std::string::npos) << r.out;
  {
    auto e = Open();
    auto ks = e->find_keyspace("characters");
    ASSERT_TRUE(ks.ok());
    Transaction t;
    t.put(*ks, EncodeKey({std::string("intruder")}),
          registry_internal::EncodeDocument(1, json{{"id", 0}, {"name", "x"}, {"level", 1}}));
    ASSERT_TRUE(e->commit(t).ok());
    ASSERT_TRUE(e->close().ok());
  }
  r = Tool({"check", data(), "--json"});
  ASSERT_EQ(r.code, 3) << Show(r);
  json j = json::parse(r.out);
  bool seen = false;
  for (const auto& reg : j["registries"]) {
    if (reg["name"] != "characters") continue;
    seen = true;
    EXPECT_EQ(reg["key_type"], "int64") << r.out;
    EXPECT_EQ(reg["undecodable_rows"], 1) << r.out;
    ASSERT_EQ(reg["problems"].size(), 1u) << r.out;
    EXPECT_EQ(reg["problems"][0], "row (\"intruder\") has a key of type (string), the registry's is (int64)")
        << r.out;
  }
  EXPECT_TRUE(seen) << r.out;
}

TEST_F(ToolsTest, WalVerifyCallsAHalfWrittenRecordATornTail) {
  BuildAndClose();
  auto segs = Segments(data() + "/wal");
  const std::string newest = data() + "/wal/" + segs.back();
  std::string bytes = ReadAll(newest);
  bytes += std::string(17, '\x5a');  // the start of a record a crash cut short
  WriteAll(newest, bytes);
  RunResult r = Tool({"wal", "verify", data()});
  EXPECT_EQ(r.code, 6) << Show(r);
  EXPECT_NE(r.out.find("torn tail"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("17 bytes discarded"), std::string::npos) << r.out;
  // It cannot know whether acknowledged records followed, and says so instead of "nothing durable was lost".
  EXPECT_NE(r.out.find("if any were acknowledged, cannot be told from an unsynced tail"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("every durable record reads"), std::string::npos) << r.out;
  // Reads ignore a torn tail, as recovery does.
  r = Tool({"get", data(), "characters", "3"});
  EXPECT_EQ(r.code, 0) << Show(r);
}

// A segment whose successor was created and is now missing is damage, not an end of log: verify said "end of
// log; every record is valid" (exit 0) and the engine opened, losing whatever the missing segment held.
TEST_F(ToolsTest, WalVerifyRefusesASealedSegmentWhoseSuccessorIsMissing) {
  BuildAndClose();
  const std::string wal_dir = data() + "/wal";
  auto segs = Segments(wal_dir);
  ASSERT_GE(segs.size(), 2u);
  fs::remove(wal_dir + "/" + segs.back());
  RunResult r = Tool({"wal", "verify", data()});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_NE(r.out.find(segs[segs.size() - 2] + " was sealed and its successor starting at LSN"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("is missing"), std::string::npos) << r.out;
  r = Tool({"wal", "verify", data(), "--json"});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_EQ(json::parse(r.out)["result"], "corruption") << r.out;

  // Salvage still copies every record that reads, and says that data was lost.
  const std::string out = dir_.path() + "/salvaged";
  r = Tool({"wal", "salvage", data(), "--out", out, "--json"});
  ASSERT_EQ(r.code, 3) << Show(r);
  json j = json::parse(r.out);
  EXPECT_GT(j["records_copied"].get<uint64_t>(), 0u) << r.out;
  ASSERT_EQ(j["skipped"].size(), 1u) << r.out;
  EXPECT_NE(j["skipped"][0]["reason"].get<std::string>().find("is missing"), std::string::npos) << r.out;
  r = Tool({"wal", "verify", out});
  EXPECT_EQ(r.code, 0) << Show(r);
}

// The empty newest segment of a cleanly closed log had its header made durable before the seal before it
// was written: a cut header there is damage, not a segment creation a crash cut short.
TEST_F(ToolsTest, WalVerifyRefusesACutHeaderAfterASeal) {
  BuildAndClose();
  const std::string wal_dir = data() + "/wal";
  auto segs = Segments(wal_dir);
  ASSERT_GE(segs.size(), 2u);
  const std::string newest = wal_dir + "/" + segs.back();
  WriteAll(newest, ReadAll(newest).substr(0, 20));
  RunResult r = Tool({"wal", "verify", data()});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_NE(r.out.find("corruption"), std::string::npos) << r.out;
}

// --------------------------------------------------------------------------------------------------- check

TEST_F(ToolsTest, CheckPassesThenFindsADanglingIndexEntryAndAMissingWal) {
  BuildAndClose();
  RunResult r = Tool({"check", data(), "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["result"], "ok");
  EXPECT_TRUE(j["wal"]["ok"].get<bool>());
  ASSERT_EQ(j["registries"].size(), 1u);
  EXPECT_EQ(j["registries"][0]["rows"], 2);
  ASSERT_EQ(j["registries"][0]["indexes"].size(), 2u);
  for (auto& idx : j["registries"][0]["indexes"]) {
    EXPECT_EQ(idx["entries"], 2) << idx;
    EXPECT_EQ(idx["dangling"], 0);
    EXPECT_TRUE(idx["built"].get<bool>());
  }

  // Remove a row behind the registry's back: its index entries now point at nothing.
  {
    auto e = Open();
    auto ks = e->find_keyspace("characters");
    ASSERT_TRUE(ks.ok());
    Transaction t;
    t.remove(*ks, EncodeKey({int64_t{3}}));
    ASSERT_TRUE(e->commit(t).ok());
    ASSERT_TRUE(e->close().ok());
  }
  r = Tool({"check", data()});
  EXPECT_EQ(r.code, 7) << Show(r);
  EXPECT_NE(r.out.find("points at row (3), which does not exist"), std::string::npos) << r.out;

  // Without its WAL, RocksDB is ahead of the log.
  for (const std::string& s : Segments(data() + "/wal")) fs::remove(data() + "/wal/" + s);
  r = Tool({"check", data()});
  EXPECT_EQ(r.code, 8) << Show(r);
  EXPECT_NE(r.out.find("DISAGREE"), std::string::npos) << r.out;
}

// ------------------------------------------------------------------------------------------------ refusals

TEST_F(ToolsTest, RefusesMissingAndForeignDirectoriesBadKeysAndNewerFormats) {
  RunResult r = Tool({"info", dir_.path() + "/nope"});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("no such directory"), std::string::npos) << r.err;

  const std::string foreign = dir_.path() + "/foreign";
  fs::create_directories(foreign);
  WriteAll(foreign + "/notes.txt", "hello");
  for (auto args : std::vector<std::vector<std::string>>{{"info", foreign},
                                                         {"get", foreign, "k", "1"},
                                                         {"scan", foreign, "k"},
                                                         {"export", foreign},
                                                         {"check", foreign},
                                                         {"restore-point", foreign, "x"},
                                                         {"wal", "verify", foreign},
                                                         {"import", foreign}}) {
    r = Tool(args);
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << Show(r);
    EXPECT_TRUE(r.err.find("not a savepoint data directory") != std::string::npos ||
                r.err.find("holds no savepoint WAL") != std::string::npos)
        << r.err;
  }
  EXPECT_FALSE(fs::exists(foreign + "/LOCK")) << "a refusal must not write";
  EXPECT_FALSE(fs::exists(foreign + "/db"));

  // A db/ that is not RocksDB, and a RocksDB that is not savepoint's.
  fs::create_directories(foreign + "/db");
  r = Tool({"info", foreign});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("not a RocksDB database"), std::string::npos) << r.err;

  BuildAndClose();
  r = Tool({"get", data(), "characters", "(7"});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("bad key syntax"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("position"), std::string::npos) << r.err;
  r = Tool({"get", data(), "counters", "raw\"unterminated"});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"scan", data(), "characters", "--prefix", "(1,"});
  EXPECT_EQ(r.code, 1) << Show(r);

  // A segment written by a newer WAL format.
  auto segs = Segments(data() + "/wal");
  const std::string seg = data() + "/wal/" + segs.front();
  std::string bytes = ReadAll(seg);
  bytes[8] = static_cast<char>(wal::kFormatVersion + 1);
  WriteAll(seg, bytes);
  r = Tool({"wal", "verify", data()});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("newer savepoint"), std::string::npos) << r.err;
}

// ----------------------------------------------------------------------------------------------- snapshot

TEST_F(ToolsTest, SnapshotCreateInspectVerifyRestoreRoundTrip) {
  BuildAndClose();
  const std::string file = dir_.path() + "/game.snap";
  RunResult r = Tool({"snapshot", "create", data(), "--out", file, "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json created = json::parse(r.out);
  EXPECT_EQ(created["timeline"], 1);
  EXPECT_GT(created["lsn"].get<uint64_t>(), 10u);
  const uint64_t rows = created["rows"].get<uint64_t>();
  EXPECT_GT(rows, 8u);
  ASSERT_TRUE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));

  r = Tool({"snapshot", "inspect", file, "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["lsn"], created["lsn"]);
  EXPECT_EQ(j["rows"], rows);
  std::map<std::string, json> ks;
  for (auto& k : j["keyspaces"]) ks[k["name"]] = k;
  EXPECT_EQ(ks["characters"]["rows"], 2);
  EXPECT_EQ(ks["counters"]["rows"], 5);
  EXPECT_EQ(ks["sessions"]["persistence"], "volatile");
  EXPECT_TRUE(ks["sessions"]["rows"].is_null()) << "volatile keyspaces have no section";
  r = Tool({"snapshot", "inspect", file});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("characters.by_name"), std::string::npos) << r.out;

  r = Tool({"snapshot", "verify", file});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find(": ok"), std::string::npos) << r.out;
  r = Tool({"snapshot", "verify", file, "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["result"], "ok");

  // Restored, the directory exports exactly what the original does.
  const std::string restored = dir_.path() + "/restored";
  r = Tool({"snapshot", "restore", file, "--to", restored, "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(json::parse(r.out)["lsn"], created["lsn"]);
  RunResult a = Tool({"export", data()});
  RunResult b = Tool({"export", restored});
  ASSERT_EQ(a.code, 0) << Show(a);
  ASSERT_EQ(b.code, 0) << Show(b);
  EXPECT_EQ(a.out, b.out);
  r = Tool({"check", restored});
  EXPECT_EQ(r.code, 0) << Show(r);

  // Refusals: an existing output file, a non-empty destination.
  r = Tool({"snapshot", "create", data(), "--out", file});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("never overwritten"), std::string::npos) << r.err;
  r = Tool({"snapshot", "restore", file, "--to", restored});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
}

TEST_F(ToolsTest, SnapshotVerifyNamesTheOffsetOfDamage) {
  BuildAndClose();
  const std::string file = dir_.path() + "/game.snap";
  RunResult r = Tool({"snapshot", "create", data(), "--out", file});
  ASSERT_EQ(r.code, 0) << Show(r);
  const std::string bytes = ReadAll(file);
  const std::string bad = dir_.path() + "/bad.snap";

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x04;
  WriteAll(bad, flipped);
  r = Tool({"snapshot", "verify", bad});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_NE(r.err.find("at offset "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  r = Tool({"snapshot", "verify", bad, "--json"});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_EQ(json::parse(r.out)["result"], "corruption");
  r = Tool({"snapshot", "restore", bad, "--to", dir_.path() + "/nowhere"});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_FALSE(fs::exists(dir_.path() + "/nowhere"));

  WriteAll(bad, bytes.substr(0, bytes.size() - 30));
  r = Tool({"snapshot", "verify", bad});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_NE(r.err.find("at offset "), std::string::npos) << r.err;

  WriteAll(bad, ReadAll(data() + "/wal/" + Segments(data() + "/wal").front()));
  r = Tool({"snapshot", "inspect", bad});
  EXPECT_EQ(r.code, 3) << Show(r);
  EXPECT_NE(r.err.find("bad magic at offset 0"), std::string::npos) << r.err;

  snapshot::Header newer;
  newer.version = 2;
  std::string header;
  snapshot::EncodeHeader(newer, &header);
  WriteAll(bad, header + std::string(200, '\0'));
  r = Tool({"snapshot", "verify", bad});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("newer savepoint"), std::string::npos) << r.err;

  r = Tool({"snapshot", "verify", dir_.path() + "/missing.snap"});
  EXPECT_EQ(r.code, 2) << Show(r);
}

// ------------------------------------------------------------------------------------------------ recover

TEST_F(ToolsTest, RecoverByTimeLsnNameLatestAndDryRun) {
  uint64_t lsn_a2 = 0;
  {
    clock_.set_micros(kT0);
    auto e = Open(/*with_archive=*/true);
    auto kv = *e->create_keyspace("kv");
    ASSERT_TRUE(e->wait_materialized().ok());
    ASSERT_TRUE(e->save().ok());
    auto put = [&](uint64_t at, const std::string& v) {
      clock_.set_micros(at);
      Transaction t(Durability::kSync);
      t.put(kv, "a", v);
      auto c = e->commit(t);
      EXPECT_TRUE(c.ok());
      return c.ok() ? c->lsn : 0;
    };
    put(kT0 + 1'000'000, "1");
    lsn_a2 = put(kT0 + 2'000'000, "2");
    clock_.set_micros(kT0 + 3'000'000);
    ASSERT_TRUE(e->create_restore_point("before-patch").ok());
    put(kT0 + 4'000'000, "3");
    put(kT0 + 5'000'000, "4");
    ASSERT_TRUE(e->close().ok());
  }
  auto value_in = [&](const std::string& dir) {
    RunResult g = Tool({"get", dir, "kv", "raw\"a\"", "--json"});
    return g.code == 0 ? json::parse(g.out)["value"].dump() : "exit " + std::to_string(g.code) + ": " + g.err;
  };
  int n = 0;
  auto recover = [&](std::vector<std::string> args, std::string* into = nullptr) {
    const std::string dir = dir_.path() + "/rec" + std::to_string(n++);
    if (into != nullptr) *into = dir;
    std::vector<std::string> full{"recover", "--archive", archive(), "--to", dir, "--timeline", "1"};
    full.insert(full.end(), args.begin(), args.end());
    return Tool(full);
  };
  std::string into;
  // 2023-11-14T22:13:22Z is kT0 + 2 s: the second put, inclusive; the first, exclusive.
  RunResult r = recover({"--time", "2023-11-14T22:13:22Z"}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(value_in(into), "2");
  EXPECT_NE(r.out.find("new timeline"), std::string::npos) << r.out;
  r = recover({"--time", "2023-11-14T22:13:22Z", "--exclusive"}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(value_in(into), "1");
  r = recover({"--time", std::to_string(kT0 + 2'000'001)}, &into);  // microseconds
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(value_in(into), "2");
  r = recover({"--lsn", std::to_string(lsn_a2 - 1)}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(value_in(into), "1");
  r = recover({"--name", "before-patch", "--json"}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  json plan = json::parse(r.out);
  EXPECT_EQ(plan["end_lsn"], lsn_a2 + 1);
  EXPECT_EQ(plan["parent_timeline"], 1);
  EXPECT_EQ(value_in(into), "2");
  r = recover({"--latest"}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_EQ(value_in(into), "4");
  r = Tool({"info", into, "--json"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_GT(json::parse(r.out)["timeline"].get<int>(), 1);

  // Dry run: the plan, nothing written.
  r = recover({"--name", "before-patch", "--dry-run", "--json"}, &into);
  ASSERT_EQ(r.code, 0) << Show(r);
  plan = json::parse(r.out);
  EXPECT_EQ(plan["dry_run"], true);
  EXPECT_EQ(plan["end_lsn"], lsn_a2 + 1);
  EXPECT_FALSE(plan["snapshot"]["file"].get<std::string>().empty());
  EXPECT_FALSE(plan["segments"].empty());
  EXPECT_FALSE(fs::exists(into));
  r = Tool({"recover", "--archive", archive(), "--latest", "--dry-run"});
  ASSERT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("dry run: nothing was written"), std::string::npos) << r.out;

  // Refusals.
  r = recover({});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("exactly one target"), std::string::npos) << r.err;
  r = recover({"--lsn", "3", "--latest"});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"recover", "--archive", archive(), "--to", data(), "--latest"});
  EXPECT_EQ(r.code, 1) << Show(r);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  r = recover({"--lsn", "100000"});
  EXPECT_EQ(r.code, 2) << Show(r);
  EXPECT_NE(r.err.find("not reachable"), std::string::npos) << r.err;
  r = recover({"--name", "never-made"});
  EXPECT_EQ(r.code, 2) << Show(r);
  r = recover({"--time", "yesterday"});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"recover", "--archive", dir_.path() + "/no-archive", "--to", dir_.path() + "/x", "--latest"});
  EXPECT_EQ(r.code, 2) << Show(r);
}

TEST_F(ToolsTest, HelpAndUsage) {
  RunResult r = Tool({"--help"});
  EXPECT_EQ(r.code, 0) << Show(r);
  EXPECT_NE(r.out.find("EXIT STATUS"), std::string::npos);
  for (auto sub : std::vector<std::vector<std::string>>{{"info", "--help"},
                                                        {"get", "--help"},
                                                        {"scan", "--help"},
                                                        {"export", "--help"},
                                                        {"import", "--help"},
                                                        {"wal", "dump", "--help"},
                                                        {"wal", "verify", "--help"},
                                                        {"wal", "salvage", "--help"},
                                                        {"restore-point", "--help"},
                                                        {"snapshot", "create", "--help"},
                                                        {"snapshot", "verify", "--help"},
                                                        {"snapshot", "inspect", "--help"},
                                                        {"snapshot", "restore", "--help"},
                                                        {"recover", "--help"},
                                                        {"check", "--help"}}) {
    r = Tool(sub);
    EXPECT_EQ(r.code, 0) << Show(r);
    EXPECT_NE(r.out.find("EXAMPLES"), std::string::npos) << sub[0] << "\n" << r.out;
    EXPECT_NE(r.out.find("EXIT STATUS"), std::string::npos) << r.out;
  }
  r = Tool({});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"frobnicate"});
  EXPECT_EQ(r.code, 1) << Show(r);
  r = Tool({"get", "onlyone"});
  EXPECT_EQ(r.code, 1) << Show(r);
}

}  // namespace
}  // namespace savepoint
