// What the torture driver checks beyond the model of one cycle (model.h): the registry's indexes against its
// rows, the snapshot files the engine left behind, and the data set a snapshot restores to (DESIGN.md,
// Crash-recovery testing; docs/pitr.md).
//
// Thread-safety: none; each function works on what it is given.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "savepoint/clock.h"
#include "savepoint/file_system.h"
#include "tools/crashtest/stress.h"

namespace savepoint::crashtest {

// Empty when the indexes of `h` (by_name, by_level) are usable and hold exactly the entries recomputed from
// the rows `s`, else what differs.
std::string CheckIndexes(const Handles& h, const State& s);

// The snapshot files of one directory.
struct SnapshotFiles {
  std::string error;               // empty when every complete snapshot verified
  uint64_t verified = 0;           // complete snapshots read through and verified by this call
  uint64_t skipped = 0;            // complete snapshots verified before (`seen`), not read again
  std::vector<std::string> temps;  // names of "*.snap.tmp" leftovers of interrupted saves: ignored
  std::string newest;              // path of the complete snapshot with the highest (timeline, LSN), or empty
  uint32_t newest_timeline = 0;
  uint64_t newest_lsn = 0;
};

// Every file of `dir` under a final snapshot name (docs/snapshot_format.md) must be complete: the snapshot
// reader opens it and walks every block and the whole-file checksum (SnapshotReader::verify), and its header
// names the timeline and LSN of its file name. Temp files are counted, never read. A missing `dir` holds
// nothing. `seen` (optional) maps names verified before to their sizes: a file with the same name and size is
// not read again (a complete snapshot is never modified); files verified now are added, gone ones dropped.
SnapshotFiles CheckSnapshotFiles(FileSystem* fs, const std::string& dir,
                                 std::map<std::string, uint64_t>* seen = nullptr);

struct RestoredSnapshot {
  uint64_t lsn = 0;  // the snapshot's, which the restored engine opened at
  State state;       // read from the restored engine
};

// Restores the snapshot `snapshot_path` with RestoreSnapshot into `scratch_dir` (cleared first, removed
// after), opens it as an Engine on `clock` (frozen before every TTL the workload set, so nothing expires)
// and checks that:
//   - it opens cleanly, at exactly the snapshot's LSN, and that LSN is <= `recovered_lsn`, the last LSN the
//     engine that wrote it recovered after the crash (a snapshot never holds a commit the log lost);
//   - opening the data set on it writes nothing (every keyspace and index is in the snapshot);
//   - the workload's invariants hold: the structures well-formed (ReadGame), the indexes equal to the ones
//     recomputed from the rows, the volatile keyspace empty, the gold conserved;
//   - it closes cleanly.
// Returns what is wrong, or an empty string and the snapshot's state in *out.
std::string CheckRestoredSnapshot(const std::string& snapshot_path, const std::string& scratch_dir,
                                  Clock* clock, uint64_t recovered_lsn, RestoredSnapshot* out);

}  // namespace savepoint::crashtest
