// Timeline history files (docs/pitr.md, Timelines and history files): which timeline holds which LSNs on the
// way to a given timeline. `<dir>/<timeline:8 hex>.history`, tab-separated text like PostgreSQL's, written
// once by point-in-time recovery and never changed.
//
// Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/file_system.h"
#include "wal/format.h"

namespace savepoint::wal {

// One branch on the way to a timeline: LSNs up to `branch_lsn` (after the previous branch) come from
// `parent`.
struct TimelineBranch {
  Timeline parent = 0;
  Lsn branch_lsn = 0;
  uint64_t micros = 0;  // when the recovery that branched ran
  std::string target;   // what it recovered to, free text
};

struct TimelineHistory {
  Timeline timeline = 1;
  std::vector<TimelineBranch> branches;  // oldest first; empty for timeline 1
};

// The LSNs one timeline contributes to a path: [first, last] (last = UINT64_MAX for the path's end).
struct TimelineLeg {
  Timeline timeline = 0;
  Lsn first = 1;
  Lsn last = 0;
};

inline constexpr std::string_view kHistorySuffix = ".history";

std::string HistoryFileName(Timeline timeline);  // "00000002.history"
std::optional<Timeline> ParseHistoryFileName(std::string_view name);

std::string EncodeHistory(const TimelineHistory& history);
// Corruption naming the line on malformed text; `timeline` comes from the file name.
Status DecodeHistory(Timeline timeline, std::string_view text, TimelineHistory* history);

// The legs of the path to `history.timeline`, oldest first: each ancestor up to its branch LSN, then the
// timeline itself to the end.
std::vector<TimelineLeg> PathOf(const TimelineHistory& history);

// Writes `<dir>/<name>` crash-safely (temp, sync, rename, sync dir). An identical file already there is
// success; a different one is an error (a history never changes).
Status WriteHistoryFile(FileSystem* fs, const std::string& dir, const TimelineHistory& history);
// Every history file in `dir`, by timeline (an absent directory has none). Corruption names a bad file.
Result<std::map<Timeline, TimelineHistory>> ReadHistoryFiles(FileSystem* fs, const std::string& dir);

}  // namespace savepoint::wal
