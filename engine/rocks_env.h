// How RocksDB reaches the disk and the log when the engine opens it.
//
// File system. With Options::file_system left at FileSystem::Default(), RocksDB uses its own POSIX file
// system (the fast path: direct pread/pwrite, its own buffering). With any other FileSystem (the in-memory
// one, a FaultInjectionFileSystem, a user's own), every RocksDB file operation goes through that FileSystem
// instead: RocksDB then lives inside the same crash model as the WAL (a power cut drops what RocksDB did not
// sync, an injected ENOSPC or EIO reaches RocksDB's writes, CrashSimulator's disk holds the whole data
// directory). RocksDB's durability calls map onto the FileSystem's model (file_system.h): Sync/Fsync of a
// file -> WritableFile::sync(), Fsync of a directory -> sync_dir(). What the seam has no call for is refused
// with NotSupported (hard links, memory-mapped buffers, random read-write files); the engine's RocksDB
// options ask for none of them.
//
// Logging. RocksDB's info log goes to the engine's logger (errors only: its warnings are about its own
// tuning, nothing a game server acts on), never to a LOG file of its own: RocksDB writes that file through a
// WritableFileWriter that aborts the process (an assertion Debian's build keeps) when it is written again
// after a failed write, which a full disk makes happen.
//
// Thread-safety: what these functions return may be used by RocksDB from any thread.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/options.h>

#include <memory>

#include "savepoint/file_system.h"

namespace spdlog {
class logger;
}

namespace savepoint::engine {

// A rocksdb::Env whose file system is `fs`, or nullptr when `fs` is FileSystem::Default() (RocksDB's own is
// used). `fs` must outlive the Env, and the Env every DB or SstFileWriter given it.
std::unique_ptr<rocksdb::Env> NewRocksEnv(FileSystem* fs);

// RocksDB's info log into `log` ("rocksdb: ..."), errors only.
std::shared_ptr<rocksdb::Logger> NewRocksLogger(std::shared_ptr<spdlog::logger> log);

// Sets in `dbo` what every RocksDB the engine opens shares: `env` (may be null: RocksDB's default), the
// logger, and no preallocation (RocksDB would otherwise reserve ~1.1x the write buffer for a RocksDB WAL
// file the engine never writes, and as much again for each SST being written: a 64 MiB disk could not open).
void ConfigureRocksIo(rocksdb::Env* env, std::shared_ptr<spdlog::logger> log, rocksdb::DBOptions* dbo);

}  // namespace savepoint::engine
