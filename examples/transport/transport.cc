// transport: the transport service's registries (../shared/seeds/000 on Redis, 001 in memory) on savepoint.
//
//   transport [--data DIR]
//
//   transport-route      TenantRegistry<Uuid, Route>            scheduled routes per tenant
//   instance-route       TenantRegistry<Uuid, InstanceRoute>    instance routes per tenant
//   instances            Registry<Uuid, Instance>               by instance id, with two secondary indexes:
//     .by_route            (tenant, route) -> instances          the seed's transport:route:{tenant}:{route} set
//     .by_character        character -> instance, unique and multi-valued over Instance::characters
//                          (the seed's transport:characters hash, kept by the engine instead of by hand)
//   channels             structures: one set per tenant of "worldId:channelId"
//
// The seeds keep this state either in Redis or in memory, "reconstructed on startup from the configuration
// service". The demo runs both choices side by side: a durable engine, whose state survives a restart, and
// a volatile one, empty after a restart and rebuilt from the configuration. It checks every answer and exits
// 1 on the first wrong one.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "savepoint/registry.h"
#include "savepoint/structures.h"

namespace transport {

using savepoint::Persistence;
using savepoint::Registry;
using savepoint::Status;
using savepoint::TenantRegistry;
using savepoint::Uuid;

struct Route {
  std::string name;
  uint32_t start_map = 0, destination_map = 0;
  uint32_t cycle_seconds = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Route, name, start_map, destination_map, cycle_seconds)

struct InstanceRoute {
  std::string name;
  uint32_t capacity = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InstanceRoute, name, capacity)

struct Instance {
  std::string tenant, route;  // UUIDs as text
  std::string state = "boarding";
  std::vector<uint32_t> characters;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Instance, tenant, route, state, characters)

using RouteKey = std::tuple<Uuid, Uuid>;  // (tenant, route): the seed's composite RouteKey

int failures = 0;
void Check(bool ok, const std::string& what) {
  std::printf("  %-70s %s\n", what.c_str(), ok ? "ok" : "WRONG");
  if (!ok) ++failures;
}

// The configuration service the in-memory seed rebuilds from: two tenants, three routes each.
struct Config {
  std::vector<Uuid> tenants;
  std::map<std::string, std::vector<Uuid>> routes;  // tenant text -> routes
};
Config MakeConfig() {
  Config c;
  for (int t = 0; t < 2; ++t) {
    Uuid tenant = Uuid::Generate();
    c.tenants.push_back(tenant);
    for (int r = 0; r < 3; ++r) c.routes[tenant.ToString()].push_back(Uuid::Generate());
  }
  return c;
}

struct Service {
  std::unique_ptr<savepoint::Engine> engine;
  std::unique_ptr<TenantRegistry<Uuid, Route>> routes;
  std::unique_ptr<TenantRegistry<Uuid, InstanceRoute>> instance_routes;
  std::unique_ptr<Registry<Uuid, Instance>> instances;
  savepoint::Index<RouteKey, Uuid, Instance>* by_route = nullptr;
  savepoint::Index<uint32_t, Uuid, Instance>* by_character = nullptr;
  std::unique_ptr<savepoint::Structures> channels;

  Status open(const std::string& dir, Persistence persistence) {
    savepoint::Options o;
    o.data_dir = dir;
    SP_ASSIGN_OR_RETURN(engine, savepoint::Engine::open(o));
    savepoint::RegistryOptions ro;
    ro.keyspace.persistence = persistence;
    SP_ASSIGN_OR_RETURN(routes, (TenantRegistry<Uuid, Route>::open(engine.get(), "transport-route", ro)));
    SP_ASSIGN_OR_RETURN(instance_routes,
                        (TenantRegistry<Uuid, InstanceRoute>::open(engine.get(), "instance-route", ro)));
    SP_ASSIGN_OR_RETURN(instances, (Registry<Uuid, Instance>::open(engine.get(), "instances", ro)));
    SP_ASSIGN_OR_RETURN(by_route, instances->add_index<RouteKey>(
                                      "by_route",
                                      [](const Instance& i) {
                                        return std::vector<RouteKey>{{*Uuid::Parse(i.tenant), *Uuid::Parse(i.route)}};
                                      },
                                      /*unique=*/false));
    SP_ASSIGN_OR_RETURN(by_character, instances->add_index<uint32_t>(
                                          "by_character", [](const Instance& i) { return i.characters; },
                                          /*unique=*/true));
    savepoint::StructuresOptions so;
    so.keyspace.persistence = persistence;
    SP_ASSIGN_OR_RETURN(channels, savepoint::Structures::open(engine.get(), "channels", so));
    return Status::OK();
  }
  Status close() {
    channels.reset();
    instances.reset();
    instance_routes.reset();
    routes.reset();
    Status s = engine->close();
    engine.reset();
    return s;
  }

  // What the service loads from configuration on startup.
  Status load_configuration(const Config& config) {
    for (const Uuid& tenant : config.tenants) {
      int n = 0;
      for (const Uuid& route : config.routes.at(tenant.ToString())) {
        SP_RETURN_IF_ERROR(routes->put(tenant, route, Route{"route-" + std::to_string(n), 100000u + n, 200000u + n, 60}));
        SP_RETURN_IF_ERROR(instance_routes->put(tenant, route, InstanceRoute{"boat-" + std::to_string(n), 20}));
        ++n;
      }
      for (int world = 0; world < 2; ++world) {
        for (int ch = 0; ch < 3; ++ch) {
          SP_RETURN_IF_ERROR(
              channels->sadd("transport:channels:" + tenant.ToString(), {std::to_string(world) + ":" + std::to_string(ch)})
                  .status());
        }
      }
    }
    return Status::OK();
  }
};

int Run(const std::string& data) {
  std::filesystem::remove_all(data + "/durable");
  std::filesystem::remove_all(data + "/volatile");
  const Config config = MakeConfig();
  const Uuid tenant = config.tenants[0];
  const Uuid route = config.routes.at(tenant.ToString())[0];
  const Uuid other_route = config.routes.at(tenant.ToString())[1];
  std::map<std::string, Uuid> made;  // what the durable run created, to compare after the restart

  for (Persistence persistence : {Persistence::kDurable, Persistence::kVolatile}) {
    const bool durable = persistence == Persistence::kDurable;
    const std::string dir = data + (durable ? "/durable" : "/volatile");
    std::printf("\n%s registries in %s\n", durable ? "durable" : "volatile (reconstructed on startup)", dir.c_str());
    Service svc;
    Status s = svc.open(dir, persistence);
    if (!s.ok()) return std::fprintf(stderr, "transport: open: %s\n", s.ToString().c_str()), 1;
    s = svc.load_configuration(config);
    if (!s.ok()) return std::fprintf(stderr, "transport: configuration: %s\n", s.ToString().c_str()), 1;
    Check(svc.routes->count(tenant).ok() && *svc.routes->count(tenant) == 3, "three routes in the tenant's range");

    // Two boats on one route, one on another; characters board.
    const Uuid a = Uuid::Generate(), b = Uuid::Generate(), c = Uuid::Generate();
    made = {{"a", a}, {"b", b}, {"c", c}};
    Check(svc.instances->put(a, Instance{tenant.ToString(), route.ToString(), "boarding", {1, 2}}).ok(),
          "instance a boards characters 1 and 2");
    Check(svc.instances->put(b, Instance{tenant.ToString(), route.ToString(), "boarding", {3}}).ok(),
          "instance b boards character 3");
    Check(svc.instances->put(c, Instance{tenant.ToString(), other_route.ToString(), "sailing", {}}).ok(),
          "instance c on another route");
    auto on_route = svc.by_route->lookup({tenant, route});
    Check(on_route.ok() && std::set<Uuid>(on_route->begin(), on_route->end()) == std::set<Uuid>{a, b},
          "by_route: the route's instances are a and b");
    auto where = svc.by_character->lookup(3);
    Check(where.ok() && where->size() == 1 && (*where)[0] == b, "by_character: character 3 is on b");
    // A character can be on one instance only: the unique index refuses, nothing changes.
    Status dup = svc.instances->update(c, [](Instance& i) {
      i.characters.push_back(1);
      return Status::OK();
    });
    Check(dup.IsConflict(), "character 1 boarding c as well is a Conflict");
    auto c_now = svc.instances->get(c);
    Check(c_now.ok() && (*c_now)->characters.empty(), "c unchanged by the refused update");
    // Moving character 2 from a to c: one transaction, both rows and both indexes.
    savepoint::Transaction move;
    svc.instances->update(&move, a, [](Instance& i) {
      std::erase(i.characters, 2u);
      return Status::OK();
    });
    svc.instances->update(&move, c, [](Instance& i) {
      i.characters.push_back(2);
      return Status::OK();
    });
    Check(svc.engine->commit(move).ok(), "character 2 moves from a to c in one transaction");
    where = svc.by_character->lookup(2);
    Check(where.ok() && where->size() == 1 && (*where)[0] == c, "by_character: character 2 is on c");
    auto channels = svc.channels->smembers("transport:channels:" + tenant.ToString());
    Check(channels.ok() && channels->size() == 6, "six channels (worldId:channelId) for the tenant");
    if (!svc.close().ok()) return 1;

    std::printf(" restart\n");
    Service again;
    s = again.open(dir, persistence);
    if (!s.ok()) return std::fprintf(stderr, "transport: reopen: %s\n", s.ToString().c_str()), 1;
    auto count = again.instances->count();
    if (durable) {
      Check(count.ok() && *count == 3, "all three instances are back");
      where = again.by_character->lookup(2);
      Check(where.ok() && where->size() == 1 && (*where)[0] == made["c"], "by_character after restart: 2 is on c");
      on_route = again.by_route->lookup({tenant, route});
      Check(on_route.ok() && on_route->size() == 2, "by_route after restart: two instances");
      auto chs = again.channels->scard("transport:channels:" + tenant.ToString());
      Check(chs.ok() && *chs == 6, "channels after restart");
    } else {
      Check(count.ok() && *count == 0, "volatile: no instances after the restart");
      auto chs = again.channels->scard("transport:channels:" + tenant.ToString());
      Check(chs.ok() && *chs == 0, "volatile: no channels after the restart");
      Check(again.load_configuration(config).ok(), "rebuilt from the configuration service");
      auto rc = again.routes->count(tenant);
      Check(rc.ok() && *rc == 3, "routes are back after the rebuild");
    }
    if (!again.close().ok()) return 1;
  }
  if (failures > 0) {
    std::printf("\ntransport: %d wrong answer(s)\n", failures);
    return 1;
  }
  std::printf("\ntransport: every answer right\n");
  return 0;
}

}  // namespace transport

int main(int argc, char** argv) {
  std::string data = "transport-data";
  if (argc == 3 && std::string(argv[1]) == "--data") {
    data = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: transport [--data DIR]\n");
    return 2;
  }
  return transport::Run(data);
}
