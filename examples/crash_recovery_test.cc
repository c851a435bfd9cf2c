// A game server's own crash-recovery test, written with savepoint's CrashSimulator.
//
// The server keeps three kinds of state, each in the persistence class it deserves:
//   - characters: a registry (durable; created with a sync commit), with a unique index by name;
//   - sessions:   which player is online on which character (volatile: after a crash everyone re-joins);
//   - leases:     which server owns a zone, a key with a TTL (durable, sync), so a crashed server's zone is
//                 not taken over until its lease runs out.
// The tests crash the server at chosen moments and check what the players see after the restart.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "savepoint/clock.h"
#include "savepoint/crash_simulator.h"
#include "savepoint/registry.h"

namespace game {

using savepoint::Durability;
using savepoint::Engine;
using savepoint::Result;
using savepoint::Status;

struct Character {
  std::string name;
  int64_t level = 1;
  int64_t gold = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Character, name, level, gold)
using CharacterRegistry = savepoint::Registry<int64_t, Character>;

// The part of a game server that talks to savepoint.
class GameServer {
 public:
  static Result<std::unique_ptr<GameServer>> Start(Engine* engine, std::string server_id) {
    std::unique_ptr<GameServer> s(new GameServer(engine, std::move(server_id)));
    SP_ASSIGN_OR_RETURN(s->characters_, CharacterRegistry::open(engine, "characters"));
    SP_ASSIGN_OR_RETURN(s->by_name_,
                        s->characters_->add_index<std::string>(
                            "by_name", [](const Character& c) { return std::vector<std::string>{c.name}; },
                            /*unique=*/true));
    savepoint::KeyspaceOptions sessions;
    sessions.persistence = savepoint::Persistence::kVolatile;
    SP_ASSIGN_OR_RETURN(s->sessions_, engine->create_keyspace("sessions", sessions));
    savepoint::KeyspaceOptions leases;
    leases.durability = Durability::kSync;
    SP_ASSIGN_OR_RETURN(s->leases_, engine->create_keyspace("leases", leases));
    return s;
  }

  // A new character is acknowledged only once it is on disk: the player was told it exists.
  Status create_character(int64_t id, const std::string& name) {
    return characters_->put(id, Character{name, 1, 100}, Durability::kSync);
  }
  // Levels are gained often; losing the last second of them in a crash is acceptable.
  Status gain_level(int64_t id) {
    return characters_->update(id, [](Character& c) {
      c.level++;
      return Status::OK();
    });
  }
  // Gold moves between two characters in one commit, durably: never created, never destroyed.
  Status give_gold(int64_t from, int64_t to, int64_t amount) {
    auto a = characters_->get(from);
    auto b = characters_->get(to);
    if (!a.ok() || !b.ok()) return Status::NotFound("no such character");
    if ((*a)->gold < amount) return Status::InvalidArgument("not enough gold");
    savepoint::Transaction trade(Durability::kSync);
    Character ca = **a, cb = **b;
    ca.gold -= amount;
    cb.gold += amount;
    characters_->put(&trade, from, ca);
    characters_->put(&trade, to, cb);
    return engine_->commit(trade).status();
  }
  Result<int64_t> find_by_name(const std::string& name) {
    SP_ASSIGN_OR_RETURN(std::vector<int64_t> ids, by_name_->lookup(name));
    if (ids.empty()) return Status::NotFound("no character named " + name);
    return ids.front();
  }
  Result<std::shared_ptr<const Character>> character(int64_t id) { return characters_->get(id); }

  Status join(const std::string& player, int64_t character) {
    savepoint::Transaction t;
    t.put(sessions_, player, std::to_string(character));
    return engine_->commit(t).status();
  }
  bool online(const std::string& player) { return engine_->get(sessions_, player).ok(); }

  // Takes the zone if nobody holds it (or the holder's lease ran out).
  Result<bool> take_zone(const std::string& zone, uint64_t now_micros, uint64_t lease_micros) {
    return engine_->set_if_absent(leases_, zone, savepoint::MakeValue(server_id_), now_micros + lease_micros);
  }
  Result<std::string> zone_owner(const std::string& zone) {
    SP_ASSIGN_OR_RETURN(savepoint::Entry e, engine_->get(leases_, zone));
    return e.value->bytes;
  }

 private:
  GameServer(Engine* engine, std::string server_id) : engine_(engine), server_id_(std::move(server_id)) {}

  Engine* engine_;
  std::string server_id_;
  std::unique_ptr<CharacterRegistry> characters_;
  savepoint::Index<std::string, int64_t, Character>* by_name_ = nullptr;
  savepoint::Keyspace* sessions_ = nullptr;
  savepoint::Keyspace* leases_ = nullptr;
};

class CrashRecoveryTest : public ::testing::Test {
 protected:
  CrashRecoveryTest() {
    std::string templ = (std::filesystem::temp_directory_path() / "game-crash-test-XXXXXX").string();
    dir_ = mkdtemp(templ.data());
    sim_ = std::make_unique<savepoint::CrashSimulator>(dir_ + "/data");
  }
  ~CrashRecoveryTest() override {
    server_.reset();
    engine_.reset();
    sim_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Boot(const std::string& server_id) {
    savepoint::Options o = sim_->options();
    o.clock = &clock_;  // TTLs follow the test's clock
    auto e = sim_->open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    auto s = GameServer::Start(engine_.get(), server_id);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void PowerCut() {
    server_.reset();  // what refers to the engine goes first
    ASSERT_TRUE(sim_->cut_power(engine_).ok());
  }

  std::string dir_;
  std::unique_ptr<savepoint::CrashSimulator> sim_;
  savepoint::ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<GameServer> server_;
};

TEST_F(CrashRecoveryTest, PlayersRejoinCharactersSurviveZoneLeasesRunOut) {
  Boot("server-a");
  ASSERT_TRUE(server_->create_character(1, "aria").ok());
  ASSERT_TRUE(server_->create_character(2, "bren").ok());
  ASSERT_TRUE(server_->join("player-1", 1).ok());
  ASSERT_TRUE(server_->join("player-2", 2).ok());
  const uint64_t lease = 30'000'000;  // 30 s
  ASSERT_TRUE(*server_->take_zone("harbor", clock_.now_micros(), lease));
  EXPECT_TRUE(server_->online("player-1"));

  PowerCut();
  clock_.advance_micros(5'000'000);
  Boot("server-b");

  // Characters were acknowledged after fsync: they are all there, and the unique index agrees.
  auto id = server_->find_by_name("aria");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 1);
  EXPECT_EQ((*server_->character(2))->name, "bren");
  EXPECT_TRUE(server_->create_character(3, "aria").IsConflict()) << "names stay unique after a crash";

  // Sessions are volatile: everyone must re-join.
  EXPECT_FALSE(server_->online("player-1"));
  EXPECT_FALSE(server_->online("player-2"));
  ASSERT_TRUE(server_->join("player-1", 1).ok());
  EXPECT_TRUE(server_->online("player-1"));

  // The crashed server's lease still holds the zone until it runs out; then the new server takes it.
  EXPECT_FALSE(*server_->take_zone("harbor", clock_.now_micros(), lease));
  EXPECT_EQ(*server_->zone_owner("harbor"), "server-a");
  clock_.advance_micros(lease);
  EXPECT_TRUE(*server_->take_zone("harbor", clock_.now_micros(), lease));
  EXPECT_EQ(*server_->zone_owner("harbor"), "server-b");
}

TEST_F(CrashRecoveryTest, LevelsGainedSinceTheLastSyncMayBeLostCharactersNever) {
  Boot("server-a");
  ASSERT_TRUE(server_->create_character(1, "aria").ok());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(server_->gain_level(1).ok());  // relaxed: may be lost
  PowerCut();
  Boot("server-a");
  auto c = server_->character(1);
  ASSERT_TRUE(c.ok()) << "a character acknowledged with a sync commit was lost";
  EXPECT_GE((*c)->level, 1);
  EXPECT_LE((*c)->level, 6);
}

TEST_F(CrashRecoveryTest, ACrashInTheMiddleOfATradeIsAllOrNothing) {
  Boot("server-a");
  ASSERT_TRUE(server_->create_character(1, "aria").ok());
  ASSERT_TRUE(server_->create_character(2, "bren").ok());
  // The power goes off after the trade's bytes were written but before they were fsync'd.
  ASSERT_TRUE(sim_->crash_at("wal.after_write_before_sync").ok());
  Status trade = server_->give_gold(1, 2, 60);
  EXPECT_FALSE(trade.ok()) << "the trade was acknowledged although it never reached the disk";
  EXPECT_TRUE(sim_->crash_point_reached());
  PowerCut();
  Boot("server-a");
  const int64_t a = (*server_->character(1))->gold, b = (*server_->character(2))->gold;
  EXPECT_EQ(a + b, 200) << "gold was created or destroyed";
  EXPECT_TRUE((a == 100 && b == 100) || (a == 40 && b == 160)) << a << " / " << b;
  // The players retry the trade: it goes through now.
  ASSERT_TRUE(server_->give_gold(1, 2, 60).ok());
}

}  // namespace game
