// Opens an engine, writes a typed row, reads it back: proof that the installed headers and libraries
// are enough for a game server.
#include <savepoint/engine.h>
#include <savepoint/registry.h>

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
  std::printf("consumer: %s is level %d\n", (*hero)->name.c_str(), (*hero)->level);
  return (*engine)->close().ok() ? 0 : 1;
}
