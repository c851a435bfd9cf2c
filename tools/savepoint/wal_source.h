// Where the wal subcommands read segments from. A path given to `savepoint wal ...` may be:
//   - a data directory (<dir>/db and <dir>/wal/*.wal): its live WAL, with keyspace names from its catalog;
//   - a WAL archive (<dir>/wal/*.wal.lz4, written by Options::archive_dir), read with wal::NewArchiveSource;
//   - a directory holding <dir>/wal/*.wal but no db/ (what `wal salvage --out` writes);
//   - a bare WAL directory holding *.wal segments.
//
// Thread-safety: plain functions and values.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/effects.h"
#include "savepoint/file_system.h"
#include "wal/wal_reader.h"

namespace savepoint::tools {

struct WalLocation {
  enum class Kind { kDataDir, kWalDir, kArchive };
  Kind kind = Kind::kWalDir;
  std::string path;         // as given
  std::string wal_dir;      // kDataDir, kWalDir: the directory holding the *.wal segments
  std::string archive_dir;  // kArchive: the directory holding wal/*.lz4
  std::string data_dir;     // kDataDir
  const char* kind_name() const;
};

// NotFound when `path` does not exist or holds no WAL in any of the forms above.
Result<WalLocation> LocateWal(const std::string& path);
std::unique_ptr<wal::SegmentSource> MakeSource(FileSystem* fs, const WalLocation& where);

// InvalidArgument when a segment (or archive file) was written by a newer WAL format than this build reads,
// so that the tool says "newer format" instead of "corruption". Reads only the first bytes of each file.
Status CheckSegmentVersions(FileSystem* fs, const std::string& wal_dir,
                            const std::vector<wal::SegmentInfo>& segments);
Status CheckFormatVersions(FileSystem* fs, const WalLocation& where,
                           const std::vector<wal::SegmentInfo>& segments);

// Keyspace names by id for rendering effects: a data directory's catalog, completed by the catalog-change
// records met in the WAL. Ids are never reused, so an id names one keyspace for the life of a directory.
class KeyspaceNames {
 public:
  void add(const engine::KeyspaceDef& def) { defs_[def.id] = def; }
  const engine::KeyspaceDef* find(uint32_t id) const {
    auto it = defs_.find(id);
    return it == defs_.end() ? nullptr : &it->second;
  }
  // Every id that ever had this name (a name can be dropped and created again).
  std::vector<uint32_t> ids_of(std::string_view name) const {
    std::vector<uint32_t> out;
    for (auto& [id, def] : defs_) {
      if (def.name == name) out.push_back(id);
    }
    return out;
  }
  // "characters", or "#7" when the id is unknown.
  std::string name_of(uint32_t id) const {
    const engine::KeyspaceDef* d = find(id);
    return d != nullptr ? d->name : "#" + std::to_string(id);
  }
  const std::string& kind_of(uint32_t id) const {
    static const std::string kEmpty;
    const engine::KeyspaceDef* d = find(id);
    return d != nullptr ? d->options.kind : kEmpty;
  }
  bool empty() const { return defs_.empty(); }

 private:
  std::map<uint32_t, engine::KeyspaceDef> defs_;
};

// The directory's keyspace definitions from RocksDB's meta family (read-only), when `where` is a data
// directory; empty otherwise or when RocksDB does not open (a warning says why).
KeyspaceNames LoadCatalog(const WalLocation& where);

// The readable name of a keyspace option set ("durable", "coalesced 30000 ms", "volatile").
std::string PersistenceText(const KeyspaceOptions& o);

}  // namespace savepoint::tools
