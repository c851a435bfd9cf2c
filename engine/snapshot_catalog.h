// The catalog a snapshot's header carries (docs/snapshot_format.md, Catalog): the keyspace definitions and
// the next keyspace id, as JSON. Shared by the engine (writing and loading snapshots) and the tools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/effects.h"
#include "savepoint/status.h"

namespace savepoint::engine {

struct SnapshotCatalog {
  uint32_t next_keyspace_id = 1;
  std::vector<KeyspaceDef> keyspaces;  // ascending id
};

std::string EncodeSnapshotCatalog(const SnapshotCatalog& catalog);
// Corruption naming the problem when the JSON is not a catalog (duplicate ids or names included).
Status DecodeSnapshotCatalog(std::string_view json, SnapshotCatalog* catalog);

}  // namespace savepoint::engine
