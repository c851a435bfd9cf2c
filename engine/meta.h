// The meta column family: the engine's own rows inside RocksDB (docs/recovery.md, The meta family). This file
// is the one owner of their names and encodings; the engine, recovery, snapshots, restores and the read-only
// view all read and write them through it.
//
//   row                     value
//   format_version          fixed32: the engine format (kEngineFormatVersion); written when RocksDB is
//   created applied_lsn             fixed64: every WAL record <= this is in RocksDB (written in each
//   materialised batch) timeline                fixed32: the WAL timeline this directory writes (1 when
//   absent) next_keyspace_id        fixed32: the id the next keyspace gets; never decreases, so a dropped
//   keyspace's
//                           id (and its column family name) never comes back
//   ks/<id:8 lowercase hex> the keyspace's definition as JSON (KeyspaceDefToJson)
//
// Thread-safety: free functions; RocksDB's own rules apply to the DB passed in.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/effects.h"
#include "savepoint/file_system.h"
#include "savepoint/status.h"

namespace savepoint::engine {

inline constexpr uint32_t kEngineFormatVersion = 1;
inline constexpr std::string_view kMetaFamily = "meta";

std::string CfName(uint32_t keyspace_id);      // "ks<id>": the column family of a keyspace
std::string CatalogKey(uint32_t keyspace_id);  // "ks/<id:8 hex>"

// The meta rows as read at one point (a DB, or a RocksDB snapshot of it).
struct MetaState {
  uint32_t format_version = 0;
  uint64_t applied_lsn = 0;
  uint32_t timeline = 1;
  bool has_timeline = false;
  uint32_t next_keyspace_id = 1;     // never below any catalog id + 1
  std::vector<KeyspaceDef> catalog;  // by id
};

// RocksDB status -> savepoint Status, naming what was being done. The one mapping every RocksDB caller uses.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

// `s` with `suffix` appended to its message, of the same kind (OK stays OK).
Status AppendToMessage(const Status& s, std::string_view suffix);

// Reads every meta row through `ro`. `where` names the directory in errors. NotFound when the family has no
// format_version row (RocksDB was created but the engine never initialised it); InvalidArgument for a format
// newer than this build reads; Corruption for a row of the wrong size or a catalog entry that does not
// decode.
Status ReadMeta(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta, const rocksdb::ReadOptions& ro,
                const std::string& where, MetaState* out);

// Corruption unless the WAL of `data_dir` continues RocksDB's state `meta`: a segment of its timeline exists
// when applied_lsn > 0, and the first starts at or before applied_lsn + 1. Otherwise RocksDB's state is older
// than what the WAL still holds (its MANIFEST lost flushes) or segments are missing, and neither an open nor
// a read may go on. `manifest` (may be empty) names RocksDB's MANIFEST in the message. Engine::open and the
// read-only view apply this one rule.
Status CheckWalContinues(FileSystem* fs, const std::string& data_dir, const MetaState& meta,
                         const std::string& manifest);

// Writers, into a batch (the engine writes meta rows only in batches with the data they describe).
void PutFormatVersion(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta);
void PutAppliedLsn(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint64_t lsn);
void PutTimeline(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t timeline);
void PutNextKeyspaceId(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t id);
void PutCatalogEntry(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, const KeyspaceDef& def);
void DeleteCatalogEntry(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta, uint32_t id);

}  // namespace savepoint::engine
