// A RocksDB memtable for a family whose writer inserts sorted runs: the materializer writes each batch of a
// memory-resident keyspace sorted by key, so its memtable is a few dozen sorted runs end to end.
//
// Like RocksDB's VectorRep, an insert appends to a vector (no search), and the entries are sorted when the
// memtable is read: by its flush, or by a snapshot's scan. VectorRep sorts them with std::sort, ~log2(n)
// comparisons per entry (~19 for a 64 MiB memtable); on the development VM that sort was most of the flush
// thread's time. This one notes where each run starts (one comparison with the previous entry per insert)
// and merges the runs pairwise: ~log2(runs) comparisons per entry (~5 for 30 runs). With many short runs
// (keys written in no order) it falls back to std::sort.
//
// Point reads (Get; the engine makes none in these families) go to a VectorRep holding the same entries, made
// by the first one: see Get in the .cc for why.
//
// Thread-safety: as RocksDB requires of a memtable without concurrent inserts: one writer, concurrent with
// readers (Get, iterators). A read of the mutable memtable sorts a copy of it, as VectorRep does.
#pragma once

#include <rocksdb/memtablerep.h>

namespace savepoint::engine {

rocksdb::MemTableRep* NewSortedRunsMemTable(const rocksdb::MemTableRep::KeyComparator& compare,
                                            rocksdb::Allocator* allocator);

}  // namespace savepoint::engine
