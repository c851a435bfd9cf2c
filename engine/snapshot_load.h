// Building a data directory from a snapshot file (docs/pitr.md, Loading): SST files written with
// rocksdb::SstFileWriter from the snapshot's rows and ingested, the meta rows, and (optionally) an empty WAL.
// Used by RestoreSnapshot and by point-in-time recovery.
#pragma once

#include <cstdint>
#include <string>

#include "savepoint/engine.h"
#include "savepoint/file_system.h"
#include "savepoint/options.h"

namespace savepoint::engine {

struct LoadOptions {
  // The timeline written to meta (and the WAL). 0: the snapshot's.
  uint32_t timeline = 0;
  // Create <data_dir>/wal with an empty segment at the snapshot's LSN + 1 (RestoreSnapshot). PITR creates
  // the WAL itself, after replaying.
  bool create_wal = true;
};

// InvalidArgument when `dir` exists and holds anything.
Status CheckEmptyDestination(FileSystem* fs, const std::string& dir);

// Loads `snapshot_path` into options.data_dir (missing or empty), with the RocksDB options of `options`.
// On failure nothing is left in data_dir but what was there (an empty directory stays).
Result<SnapshotInfo> LoadSnapshotIntoDirectory(FileSystem* fs, const std::string& snapshot_path,
                                               const Options& options, const LoadOptions& load = {});

}  // namespace savepoint::engine
