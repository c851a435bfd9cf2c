#include "engine/snapshot_catalog.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace savepoint::engine {

std::string EncodeSnapshotCatalog(const SnapshotCatalog& catalog) {
  std::string out = "{\"next_keyspace_id\":" + std::to_string(catalog.next_keyspace_id) + ",\"keyspaces\":[";
  for (size_t i = 0; i < catalog.keyspaces.size(); i++) {
    if (i > 0) out += ",";
    out += KeyspaceDefToJson(catalog.keyspaces[i]);
  }
  out += "]}";
  return out;
}

Status DecodeSnapshotCatalog(std::string_view json, SnapshotCatalog* catalog) {
  catalog->keyspaces.clear();
  try {
    const auto j = nlohmann::json::parse(json);
    catalog->next_keyspace_id = j.at("next_keyspace_id").get<uint32_t>();
    std::set<uint32_t> ids;
    std::set<std::string> names;
    for (const auto& def_json : j.at("keyspaces")) {
      auto def = KeyspaceDefFromJson(def_json.dump());
      if (!def.ok()) return Status::Corruption("snapshot catalog: " + def.status().message());
      if (!ids.insert(def->id).second || !names.insert(def->name).second) {
        return Status::Corruption("snapshot catalog: keyspace id " + std::to_string(def->id) + " or name \"" +
                                  def->name + "\" appears twice");
      }
      if (def->id >= catalog->next_keyspace_id) {
        return Status::Corruption("snapshot catalog: keyspace id " + std::to_string(def->id) +
                                  " is not below next_keyspace_id");
      }
      catalog->keyspaces.push_back(std::move(def).value());
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("snapshot catalog is not valid JSON: ") + e.what());
  }
  std::sort(catalog->keyspaces.begin(), catalog->keyspaces.end(),
            [](const KeyspaceDef& a, const KeyspaceDef& b) { return a.id < b.id; });
  return Status::OK();
}

}  // namespace savepoint::engine
