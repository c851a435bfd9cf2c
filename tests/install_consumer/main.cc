// Opens an engine, writes a typed row, reads it back: proof that the installed headers and libraries
// are enough for a game server.
#include <savepoint/engine.h>
#include <savepoint/registry.h>
#include <savepoint/structures.h>

#include <cstdio>

struct Hero {
  std::string name;
  int level = 1;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Hero, name, level)

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  savepoint::Options options;
  options.data_dir = argv[1];
  auto engine = savepoint::Engine::open(options);
  if (!engine.ok()) return 1;
  auto heroes = savepoint::Registry<int64_t, Hero>::open(engine->get(), "heroes");
  if (!heroes.ok() || !(*heroes)->put(1, {"aria", 7}).ok()) return 1;
  auto hero = (*heroes)->get(1);
  if (!hero.ok() || (*hero)->level != 7) return 1;
  auto game = savepoint::Structures::open(engine->get(), "game");
  if (!game.ok() || !(*game)->zincrby("leaderboard", 3, "aria").ok()) return 1;
  auto rank = (*game)->zrank("leaderboard", "aria");
  if (!rank.ok() || *rank != std::optional<int64_t>(0)) return 1;
  game->reset();
  std::printf("consumer: %s is level %d, rank %lld\n", (*hero)->name.c_str(), (*hero)->level,
              static_cast<long long>(**rank));
  return (*engine)->close().ok() ? 0 : 1;
}
