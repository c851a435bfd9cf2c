// mmo: an MMORPG's persistence strategy (../shared/seeds/004: PostgreSQL + Redis + ECS tiers) on one engine.
//
//   mmo [--data DIR] [--players N] [--seconds T] [--threads W] [--position-interval-ms MS] [--seed S]
//
// What lives where:
//   characters, inventories      registries, durable (relaxed writes; a trade is one kSync transaction
//                                moving an item between two inventories)
//   positions                    registry, coalesced: the latest position of each player logged every
//                                --position-interval-ms (default 30 s), like the ADR's batch save
//   leaderboard:pvp/level        sorted sets, durable
//   game_logs                    stream, durable, read by an "archiver" consumer group
//   sessions, cooldowns, online, rate limits, zone membership
//                                structures, volatile (Redis's tier: rebuilt on start), with TTLs
//   chat                         pub/sub
//
// N simulated players act for T seconds on W threads; then the demo logs a restore point and saves a
// snapshot before "maintenance", closes, reopens, and checks what recovery must give back: no item lost or
// duplicated by trades, leaderboards ordered by their scores and equal to the kills counted, every character
// present, volatile state gone. It prints ops/s and latency percentiles by kind and the sizes on disk.
// Exits 1 when an invariant does not hold.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "savepoint/registry.h"
#include "savepoint/structures.h"

namespace mmo {

using savepoint::Durability;
using savepoint::Engine;
using savepoint::Registry;
using savepoint::Status;
using savepoint::Structures;
using Clock = std::chrono::steady_clock;

struct Character {
  int64_t id = 0;
  std::string name;
  std::string cls;
  int level = 1;
  int64_t xp = 0;
  std::string kingdom;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Character, id, name, cls, level, xp, kingdom)

struct Inventory {
  std::vector<int64_t> items;  // item instance IDs; an instance is in exactly one inventory
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Inventory, items)

struct Position {
  int zone = 0;
  float x = 0, y = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Position, zone, x, y)

struct Config {
  std::string data = "savepoint-data";
  int players = 200;
  double seconds = 15;
  int threads = 4;
  int64_t position_interval_ms = 30'000;
  uint64_t seed = 1;
};

// Latencies of one kind of action (per thread, merged at the end).
struct Kind {
  std::vector<double> micros;
};
const char* kKinds[] = {"move", "skill", "pvp_kill", "level_up", "trade", "zone_change", "item_drop",
                        "leaderboard_read", "character_read", "chat"};
constexpr int kKindCount = sizeof(kKinds) / sizeof(kKinds[0]);

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "mmo: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

#define MMO_CHECK(expr, what)              \
  do {                                     \
    ::savepoint::Status _s = (expr);       \
    if (!_s.ok()) return Fail((what), _s); \
  } while (0)

class World {
 public:
  explicit World(const Config& cfg) : cfg_(cfg) {}

  Status open() {
    savepoint::Options o;
    o.data_dir = cfg_.data;
    o.sync_interval = std::chrono::milliseconds(200);
    SP_ASSIGN_OR_RETURN(engine_, Engine::open(o));
    SP_ASSIGN_OR_RETURN(characters_, (Registry<int64_t, Character>::open(engine_.get(), "characters")));
    SP_ASSIGN_OR_RETURN(inventories_, (Registry<int64_t, Inventory>::open(engine_.get(), "inventories")));
    savepoint::RegistryOptions coalesced;
    coalesced.keyspace.persistence = savepoint::Persistence::kCoalesced;
    coalesced.keyspace.coalesce_interval = std::chrono::milliseconds(cfg_.position_interval_ms);
    SP_ASSIGN_OR_RETURN(positions_, (Registry<int64_t, Position>::open(engine_.get(), "positions", coalesced)));
    SP_ASSIGN_OR_RETURN(game_, Structures::open(engine_.get(), "game"));
    savepoint::StructuresOptions vol;
    vol.keyspace.persistence = savepoint::Persistence::kVolatile;
    SP_ASSIGN_OR_RETURN(ephemeral_, Structures::open(engine_.get(), "ephemeral", vol));
    return Status::OK();
  }

  Status close() {
    ephemeral_.reset();
    game_.reset();
    positions_.reset();
    inventories_.reset();
    characters_.reset();
    Status s = engine_->close();
    engine_.reset();
    return s;
  }

  // Characters with three items each, unless a previous run left them.
  Status seed_players() {
    SP_ASSIGN_OR_RETURN(uint64_t existing, characters_->count());
    if (existing >= static_cast<uint64_t>(cfg_.players)) return Status::OK();
    const char* classes[] = {"warrior", "mage", "ranger", "cleric"};
    const char* kingdoms[] = {"north", "south", "east"};
    for (int64_t id = static_cast<int64_t>(existing); id < cfg_.players; ++id) {
      savepoint::Transaction txn;
      characters_->put(&txn, id, Character{id, "player-" + std::to_string(id), classes[id % 4], 1, 0, kingdoms[id % 3]});
      inventories_->put(&txn, id, Inventory{{id * 1000 + 1, id * 1000 + 2, id * 1000 + 3}});
      SP_RETURN_IF_ERROR(engine_->commit(txn).status());
    }
    return Status::OK();
  }

  // Every item instance in every inventory (the conservation check).
  savepoint::Result<std::multiset<int64_t>> all_items() {
    std::multiset<int64_t> items;
    SP_RETURN_IF_ERROR(inventories_->for_each([&](const int64_t&, const std::shared_ptr<const Inventory>& inv) {
      items.insert(inv->items.begin(), inv->items.end());
      return true;
    }));
    return items;
  }

  // One simulated player action. Returns the kind it was.
  savepoint::Result<int> act(std::mt19937_64& rng, uint64_t thread_id) {
    const auto p = static_cast<int64_t>(rng() % static_cast<uint64_t>(cfg_.players));
    const std::string ps = std::to_string(p);
    const int roll = static_cast<int>(rng() % 100);
    if (roll < 40) {  // move: coalesced position, heartbeat of the online flag
      Position pos{static_cast<int>(p % 10), static_cast<float>(rng() % 1000), static_cast<float>(rng() % 1000)};
      SP_RETURN_IF_ERROR(positions_->put(p, pos));
      savepoint::SetOptions online;
      online.expire_ms = 5 * 60 * 1000;
      SP_RETURN_IF_ERROR(ephemeral_->set("player:" + ps + ":online", "1", online).status());
      return 0;
    }
    if (roll < 55) {  // skill: rate limit counter with TTL, cooldown with TTL
      const std::string rl = "rate_limit:" + ps + ":cast";
      SP_ASSIGN_OR_RETURN(int64_t casts, ephemeral_->incrby(rl, 1));
      if (casts == 1) SP_RETURN_IF_ERROR(ephemeral_->pexpire(rl, 1000).status());
      const std::string cd = "cooldown:" + ps + ":fireball";
      savepoint::SetOptions nx;
      nx.nx = true;
      nx.expire_ms = 1500;
      SP_RETURN_IF_ERROR(ephemeral_->set(cd, "1", nx).status());  // refused while cooling down
      return 1;
    }
    if (roll < 62) {  // pvp kill: leaderboard + game log
      SP_RETURN_IF_ERROR(game_->zincrby("leaderboard:pvp", 1, ps).status());
      kills_[static_cast<size_t>(p)].fetch_add(1);
      SP_RETURN_IF_ERROR(
          game_->xadd("game_logs", {{"event", "pvp_kill"}, {"killer", ps}, {"t", std::to_string(thread_id)}}).status());
      return 2;
    }
    if (roll < 67) {  // level up: immediate save of the character and the level leaderboard
      int level = 0;
      SP_RETURN_IF_ERROR(characters_->update(p, [&](Character& c) {
        c.level += 1;
        c.xp = 0;
        level = c.level;
        return Status::OK();
      }));
      SP_RETURN_IF_ERROR(game_->zadd("leaderboard:level", {{ps, static_cast<double>(level)}}).status());
      return 3;
    }
    if (roll < 72) {  // trade: one item from p to q, both inventories in one kSync transaction
      const auto q = static_cast<int64_t>(rng() % static_cast<uint64_t>(cfg_.players));
      if (q == p) return 4;
      savepoint::Transaction txn(Durability::kSync);
      auto moved = std::make_shared<int64_t>(0);
      inventories_->update(&txn, p, [moved](Inventory& inv) {
        if (inv.items.empty()) return Status::Conflict("nothing to trade");
        *moved = inv.items.back();
        inv.items.pop_back();
        return Status::OK();
      });
      inventories_->update(&txn, q, [moved](Inventory& inv) {
        inv.items.push_back(*moved);
        return Status::OK();
      });
      auto r = engine_->commit(txn);
      if (r.ok()) {
        trades_.fetch_add(1);
        SP_RETURN_IF_ERROR(
            game_->xadd("game_logs", {{"event", "trade"}, {"from", ps}, {"item", std::to_string(*moved)}}).status());
      } else if (!r.status().IsConflict()) {
        return r.status();
      }
      return 4;
    }
    if (roll < 78) {  // zone change: membership sets
      const int from = static_cast<int>(rng() % 10), to = static_cast<int>(rng() % 10);
      SP_RETURN_IF_ERROR(ephemeral_->srem("zone:" + std::to_string(from) + ":players", {ps}).status());
      SP_RETURN_IF_ERROR(ephemeral_->sadd("zone:" + std::to_string(to) + ":players", {ps}).status());
      return 5;
    }
    if (roll < 81) {  // item drop: a new item instance, logged
      const int64_t item = drop_base_ + drops_.fetch_add(1);
      SP_RETURN_IF_ERROR(inventories_->update(p, [&](Inventory& inv) {
        inv.items.push_back(item);
        return Status::OK();
      }));
      dropped_.fetch_add(1);
      SP_RETURN_IF_ERROR(game_->xadd("game_logs", {{"event", "drop"}, {"item", std::to_string(item)}}).status());
      return 6;
    }
    if (roll < 88) {  // leaderboard read: top 10 and own rank
      SP_RETURN_IF_ERROR(game_->zrange("leaderboard:pvp", 0, 9, /*reverse=*/true).status());
      SP_RETURN_IF_ERROR(game_->zrank("leaderboard:pvp", ps, /*reverse=*/true).status());
      return 7;
    }
    if (roll < 97) {  // character read (the hot path: decoded value, no disk)
      auto c = characters_->get(p);
      if (!c.ok()) return c.status();
      return 8;
    }
    const int64_t n = game_->publish("global_chat", "gg from " + ps);  // chat
    (void)n;
    return 9;
  }

  Engine* engine() { return engine_.get(); }
  Structures* game() { return game_.get(); }
  Structures* ephemeral() { return ephemeral_.get(); }
  Registry<int64_t, Character>* characters() { return characters_.get(); }
  Registry<int64_t, Position>* positions() { return positions_.get(); }

  std::vector<std::atomic<int64_t>> kills_ = std::vector<std::atomic<int64_t>>(100'000);
  std::atomic<int64_t> trades_{0}, drops_{0}, dropped_{0};
  int64_t drop_base_ = 1'000'000'000;  // dropped item instances get IDs from here: above any earlier run's

 private:
  Config cfg_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Registry<int64_t, Character>> characters_;
  std::unique_ptr<Registry<int64_t, Inventory>> inventories_;
  std::unique_ptr<Registry<int64_t, Position>> positions_;
  std::unique_ptr<Structures> game_;
  std::unique_ptr<Structures> ephemeral_;
};

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

int Run(const Config& cfg) {
  if (cfg.players <= 0 || cfg.players > 100'000 || cfg.threads <= 0 || cfg.seconds <= 0) {
    std::fprintf(stderr, "mmo: --players must be 1..100000, --threads and --seconds positive\n");
    return 2;
  }
  std::printf("mmo: %d players for %.1f s on %d threads, data in %s (positions coalesced every %lld ms)\n",
              cfg.players, cfg.seconds, cfg.threads, cfg.data.c_str(),
              static_cast<long long>(cfg.position_interval_ms));
  World world(cfg);
  MMO_CHECK(world.open(), "open");
  MMO_CHECK(world.seed_players(), "seed players");
  auto before = world.all_items();
  if (!before.ok()) return Fail("read inventories", before.status());
  if (!before->empty()) world.drop_base_ = std::max(world.drop_base_, *before->rbegin() + 1);
  // Leaderboard kills already there from a previous run on this directory count too.
  auto previous = world.game()->zrange("leaderboard:pvp", 0, -1);
  if (!previous.ok()) return Fail("read leaderboard", previous.status());
  for (const auto& m : *previous) world.kills_[static_cast<size_t>(std::stoll(m.member))] = static_cast<int64_t>(m.score);

  // The archiver: a consumer group on the game log, acknowledging what it has "written to cold storage".
  Status group = world.game()->xgroup_create("game_logs", "archiver", savepoint::StreamId{}, /*mkstream=*/true);
  if (!group.ok() && !group.IsConflict()) return Fail("create consumer group", group);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> archived{0};
  std::thread archiver([&] {
    while (!stop.load()) {
      auto batch = world.game()->xreadgroup("game_logs", "archiver", "archiver-1", std::nullopt, 256,
                                            std::chrono::milliseconds(100));
      if (!batch.ok()) break;
      std::vector<savepoint::StreamId> ids;
      for (const auto& e : *batch) ids.push_back(e.id);
      if (!ids.empty() && world.game()->xack("game_logs", "archiver", ids).ok()) archived += static_cast<int64_t>(ids.size());
    }
  });
  std::atomic<int64_t> chat_seen{0};
  auto chat = world.game()->subscribe("global_chat", [&](std::string_view, std::string_view) { chat_seen++; });

  std::vector<std::vector<Kind>> per_thread(static_cast<size_t>(cfg.threads), std::vector<Kind>(kKindCount));
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  Status first_error;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(cfg.seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < cfg.threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(cfg.seed * 1000003 + static_cast<uint64_t>(t));
      auto& kinds = per_thread[static_cast<size_t>(t)];
      while (!failed.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        if (t0 >= deadline) break;
        auto r = world.act(rng, static_cast<uint64_t>(t));
        if (!r.ok()) {
          std::lock_guard<std::mutex> l(err_mu);
          first_error = r.status();
          failed = true;
          break;
        }
        kinds[static_cast<size_t>(*r)].micros.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  archiver.join();
  chat.reset();
  if (failed) return Fail("simulation", first_error);

  // Report.
  std::printf("\n%-18s %10s %10s %10s %10s %10s\n", "action", "ops", "ops/s", "p50 us", "p99 us", "max us");
  uint64_t total = 0;
  for (int k = 0; k < kKindCount; ++k) {
    std::vector<double> all;
    for (auto& th : per_thread) all.insert(all.end(), th[static_cast<size_t>(k)].micros.begin(), th[static_cast<size_t>(k)].micros.end());
    total += all.size();
    const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
    const double p50 = Percentile(all, 0.50), p99 = Percentile(all, 0.99);
    std::printf("%-18s %10zu %10.0f %10.1f %10.1f %10.1f\n", kKinds[k], all.size(),
                static_cast<double>(all.size()) / elapsed, p50, p99, max);
  }
  std::printf("%-18s %10llu %10.0f\n", "total", static_cast<unsigned long long>(total),
              static_cast<double>(total) / elapsed);
  std::printf("\ntrades committed (sync): %lld, items dropped: %lld, game-log entries archived: %lld, chat "
              "messages delivered: %lld\n",
              static_cast<long long>(world.trades_.load()), static_cast<long long>(world.dropped_.load()),
              static_cast<long long>(archived.load()), static_cast<long long>(chat_seen.load()));
  const savepoint::Stats st = world.engine()->stats();
  std::printf("engine: %llu sync commits, %llu relaxed commits, %llu coalescing commits, WAL %llu bytes\n",
              static_cast<unsigned long long>(st.commits_sync), static_cast<unsigned long long>(st.commits_relaxed),
              static_cast<unsigned long long>(st.coalesce_commits), static_cast<unsigned long long>(st.wal_bytes));

  // Before maintenance: a restore point PITR can return to (savepoint recover --name before-maintenance).
  auto rp = world.engine()->create_restore_point("before-maintenance");
  if (!rp.ok()) return Fail("restore point", rp.status());
  std::printf("restore point 'before-maintenance' at LSN %llu\n", static_cast<unsigned long long>(*rp));
  // And a snapshot (Redis SAVE), as a server would back up before maintenance: one file of every durable row.
  // A save writes what the materializer has applied; waiting for it first makes the file hold every commit
  // before the restore point.
  MMO_CHECK(world.engine()->wait_materialized(), "wait for the materializer");
  auto saved = world.engine()->save();
  if (!saved.ok()) return Fail("snapshot", saved.status());
  std::printf("snapshot at LSN %llu: %llu rows, %.1f MiB of data in a %.1f MiB file, %.2f s (%s)\n",
              static_cast<unsigned long long>(saved->lsn), static_cast<unsigned long long>(saved->rows),
              static_cast<double>(saved->data_bytes) / (1 << 20), static_cast<double>(saved->file_bytes) / (1 << 20),
              saved->seconds, saved->path.c_str());

  // Remember what recovery must give back.
  std::vector<int64_t> levels(static_cast<size_t>(cfg.players));
  for (int64_t p = 0; p < cfg.players; ++p) {
    auto c = world.characters()->get(p);
    if (!c.ok()) return Fail("read character", c.status());
    levels[static_cast<size_t>(p)] = (*c)->level;
  }
  auto pos7 = world.positions()->get(7);
  auto items_before_close = world.all_items();
  if (!items_before_close.ok()) return Fail("read inventories", items_before_close.status());
  MMO_CHECK(world.close(), "close");
  std::printf("closed: data directory %s holds %.1f MiB (WAL %.1f MiB, snapshots %.1f MiB)\n", cfg.data.c_str(),
              static_cast<double>(DirBytes(cfg.data)) / (1 << 20),
              static_cast<double>(DirBytes(cfg.data + "/wal")) / (1 << 20),
              static_cast<double>(DirBytes(cfg.data + "/snapshots")) / (1 << 20));

  // Recovery and the invariants.
  const auto t_open = Clock::now();
  MMO_CHECK(world.open(), "reopen");
  std::printf("reopened in %.0f ms\n", std::chrono::duration<double, std::milli>(Clock::now() - t_open).count());
  int violations = 0;
  auto check = [&](bool ok, const std::string& what) {
    std::printf("  %-64s %s\n", what.c_str(), ok ? "ok" : "VIOLATED");
    if (!ok) ++violations;
  };
  auto after = world.all_items();
  if (!after.ok()) return Fail("read inventories", after.status());
  std::multiset<int64_t> expected = *before;
  for (int64_t i = 0; i < world.dropped_.load(); ++i) expected.insert(world.drop_base_ + i);
  check(*after == expected, "no item lost or duplicated by " + std::to_string(world.trades_.load()) + " trades");
  check(*after == *items_before_close, "inventories equal what they were at close");
  bool levels_ok = true;
  for (int64_t p = 0; p < cfg.players; ++p) {
    auto c = world.characters()->get(p);
    levels_ok = levels_ok && c.ok() && (*c)->level == levels[static_cast<size_t>(p)];
  }
  check(levels_ok, "every character present with its level");
  auto lb = world.game()->zrange("leaderboard:pvp", 0, -1);
  bool sorted = lb.ok(), counted = lb.ok();
  if (lb.ok()) {
    for (size_t i = 1; i < lb->size(); ++i) {
      const auto& a = (*lb)[i - 1];
      const auto& b = (*lb)[i];
      sorted = sorted && (a.score < b.score || (a.score == b.score && a.member < b.member));
    }
    for (const auto& m : *lb) counted = counted && world.kills_[static_cast<size_t>(std::stoll(m.member))] == static_cast<int64_t>(m.score);
  }
  check(sorted, "PvP leaderboard ordered by score (a sort of the scores)");
  check(counted, "PvP leaderboard scores equal the kills counted");
  auto pos7_after = world.positions()->get(7);
  check(pos7.ok() == pos7_after.ok() && (!pos7.ok() || ((*pos7)->x == (*pos7_after)->x && (*pos7)->y == (*pos7_after)->y)),
        "coalesced positions written at close are back");
  auto online = world.ephemeral()->dbsize();
  check(online.ok() && *online == 0, "volatile sessions, cooldowns and zone sets are gone (rebuilt on start)");
  auto pending = world.game()->xpending("game_logs", "archiver");
  check(pending.ok(), "game-log consumer group and its pending list recovered");
  MMO_CHECK(world.close(), "close");
  if (violations > 0) {
    std::printf("mmo: %d invariant(s) violated\n", violations);
    return 1;
  }
  std::printf("mmo: all invariants hold\n");
  return 0;
}

}  // namespace mmo

int main(int argc, char** argv) {
  mmo::Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mmo: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--data") cfg.data = value();
      else if (a == "--players") cfg.players = std::stoi(value());
      else if (a == "--seconds") cfg.seconds = std::stod(value());
      else if (a == "--threads") cfg.threads = std::stoi(value());
      else if (a == "--position-interval-ms") cfg.position_interval_ms = std::stoll(value());
      else if (a == "--seed") cfg.seed = std::stoull(value());
      else {
        std::fprintf(stderr,
                     "usage: mmo [--data DIR] [--players N] [--seconds T] [--threads W] "
                     "[--position-interval-ms MS] [--seed S]\n");
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "mmo: bad value for %s\n", a.c_str());
      return 2;
    }
  }
  return mmo::Run(cfg);
}
