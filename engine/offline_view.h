// OfflineView: the engine's read-only view of a data directory, for the reading tools (info, get, scan,
// export, check, snapshot create, the catalog of wal dump). It never calls Engine::open, which takes the
// lock, replays and writes. Instead it
//   1. opens RocksDB with DB::OpenForReadOnly, every column family listed by ListColumnFamilies, and a
//      logger that writes nothing (so not even RocksDB's LOG file is touched): the materialised state up to
//      `applied_lsn`, read through engine/meta.h like the engine reads it;
//   2. applies Engine::open's rule that the WAL must continue that state (CheckWalContinues: a missing,
//      empty or unreadable wal/ is refused, never read as "RocksDB alone");
//   3. reads the WAL tail (records after applied_lsn, on the directory's timeline) with WalReader and
//      overlays its catalog changes and effects on top, in LSN order, exactly as recovery would apply them.
// So what the view answers is exactly the state recovery would rebuild, or an error. A torn tail ends the
// tail cleanly, as in recovery; damage in the tail fails Open with the file and offset, unless `overlay_wal`
// is off (then the view is RocksDB alone, and says so).
//
// A directory an engine holds open is refused (Busy) unless ViewOptions::allow_live: RocksDB and the WAL
// change under a reader (compactions, flushes, retired segments), and an outside test found exports of a live
// directory that were no prefix of the commit order.
//
// Thread-safety: one thread at a time. The view holds RocksDB open until destroyed.
#pragma once

#include <rocksdb/db.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/effects.h"
#include "engine/snapshot_catalog.h"
#include "savepoint/status.h"
#include "wal/wal_reader.h"

namespace savepoint::engine {

struct Row {
  std::string value;
  uint64_t expire_at_micros = 0;  // 0 = never
  bool expired(uint64_t now_micros) const { return expire_at_micros != 0 && expire_at_micros <= now_micros; }
};

struct KeyspaceView {
  KeyspaceDef def;
  rocksdb::ColumnFamilyHandle* cf = nullptr;  // null: volatile, or created after RocksDB's last flush
  // The WAL tail's effect on keys: a value, or nullopt for a deletion. Takes precedence over RocksDB.
  std::map<std::string, std::optional<Row>> overlay;
  // delete_prefix effects of the tail: hide every RocksDB key starting with one of them (later puts of
  // such keys are in `overlay`).
  std::vector<std::string> deleted_prefixes;
  bool is_volatile() const { return def.options.persistence == Persistence::kVolatile; }
};

struct ViewOptions {
  // Overlay the WAL tail on RocksDB. Off: only what RocksDB holds (for a WAL that does not read).
  bool overlay_wal = true;
  // Read a directory an engine holds open (its LOCK is taken). Off, such a directory is refused (Busy):
  // RocksDB and the WAL change under the view, which can then answer with a state that is no prefix of the
  // commits. On (`savepoint info`, which reports figures, not data): what the view answers is a best effort.
  bool allow_live = false;
};

// What reading the WAL tail found.
struct WalTail {
  bool wal_present = false;  // <dir>/wal exists with segments of the directory's timeline
  uint64_t records = 0;      // records after applied_lsn
  uint64_t last_lsn = 0;     // the last LSN in the WAL (0 when it has no segment)
  wal::StopInfo stop;
  Status status;  // OK, or why the tail did not read (only when overlay_wal is off)
};

class OfflineView {
 public:
  // NotFound: no such directory, or not a savepoint data directory (no db/, no RocksDB, no meta family).
  // InvalidArgument: written by a newer savepoint. Corruption: damage in the WAL tail or the catalog.
  static Result<std::unique_ptr<OfflineView>> Open(const std::string& data_dir,
                                                   const ViewOptions& options = {});
  ~OfflineView();
  OfflineView(const OfflineView&) = delete;
  OfflineView& operator=(const OfflineView&) = delete;

  const std::string& data_dir() const { return data_dir_; }
  uint32_t format_version() const { return format_version_; }
  // Every WAL record <= this is reflected in RocksDB (the meta row, as of RocksDB's last flush).
  uint64_t applied_lsn() const { return applied_lsn_; }
  // The WAL timeline the directory writes (meta row; 1 when absent, as the engine assumes).
  uint32_t timeline() const { return timeline_; }
  const WalTail& wal_tail() const { return tail_; }

  // Live keyspaces, sorted by name.
  std::vector<const KeyspaceView*> keyspaces() const;
  // NotFound naming the keyspaces there are.
  Result<const KeyspaceView*> find(std::string_view name) const;
  // The catalog as Engine::snapshot() records it: the live keyspaces by id, and the next keyspace id, never
  // below one the directory ever gave (a dropped keyspace's id must not come back after a restore).
  SnapshotCatalog catalog() const;
  // The keyspace definition by id, including keyspaces dropped in the WAL tail; nullptr when unknown.
  const KeyspaceDef* def_by_id(uint32_t id) const;

  // nullopt when absent (expired rows are returned: the caller decides).
  Result<std::optional<Row>> get(const KeyspaceView& ks, std::string_view key) const;
  // Rows with keys in [start, end) in byte order (end empty: to the end), until `fn` returns false.
  // Corruption naming the keyspace and key on a row that does not decode.
  Status scan(const KeyspaceView& ks, std::string_view start, std::string_view end,
              const std::function<bool(std::string_view key, const Row& row)>& fn) const;

 private:
  OfflineView() = default;
  Status open(const std::string& data_dir, const ViewOptions& options);
  Status check_not_live(const ViewOptions& options) const;
  Status read_wal_tail(const ViewOptions& options);
  void apply_catalog_change(CatalogOp op, const KeyspaceDef& def);
  void apply_effect(const Effect& e);
  Status base_get(const KeyspaceView& ks, std::string_view key, std::optional<Row>* out) const;

  std::string data_dir_, db_dir_, wal_dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;  // by name
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  uint32_t format_version_ = 0;
  uint64_t applied_lsn_ = 0;
  uint32_t timeline_ = 1;
  uint32_t next_keyspace_id_ = 1;  // the meta row, raised by every id the WAL tail names
  std::map<uint32_t, std::unique_ptr<KeyspaceView>> live_;  // by id
  std::map<uint32_t, KeyspaceDef> all_defs_;                // every id seen, dropped ones too
  WalTail tail_;
};

// Who holds <dir>/LOCK, without taking it: "" when nobody, else "process <pid>" (or "another process").
std::string LockHolder(const std::string& data_dir);

}  // namespace savepoint::engine
