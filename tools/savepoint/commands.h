// The subcommands of `savepoint` (tools/savepoint/README.md). Each Run* function does one subcommand and
// returns its exit status (common.h, ExitCode); main.cc parses the command line into these arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace savepoint::tools {

struct InfoArgs {
  std::string dir;
  std::string archive;    // optional WAL archive to report on
  std::string snapshots;  // snapshot directory; empty: <dir>/snapshots (Options::snapshot_dir's default)
  bool json = false;
  bool no_wal = false;
};
int RunInfo(const InfoArgs& a);

struct GetArgs {
  std::string dir, keyspace, key;
  bool json = false;
  bool no_wal = false;
  bool include_expired = false;
};
int RunGet(const GetArgs& a);

struct ScanArgs {
  std::string dir, keyspace;
  std::string prefix;  // empty: every key
  bool has_prefix = false;
  uint64_t limit = 0;  // 0: no limit
  bool json = false;
  bool no_wal = false;
  bool include_expired = false;
  bool full = false;
};
int RunScan(const ScanArgs& a);

struct ExportArgs {
  std::string dir;
  std::vector<std::string> keyspaces;  // empty: all
  bool no_wal = false;
  bool include_expired = false;
};
int RunExport(const ExportArgs& a);

struct ImportArgs {
  std::string dir;
  std::string input = "-";  // "-": stdin
  bool merge = false;
  bool json = false;
};
int RunImport(const ImportArgs& a);

struct WalDumpArgs {
  std::string path;
  uint64_t from_lsn = 0, to_lsn = 0;  // 0: unbounded
  std::string keyspace, key, since, until;
  uint32_t timeline = 0;  // 0: the newest
  bool json = false;
  bool full = false;
};
int RunWalDump(const WalDumpArgs& a);

struct WalVerifyArgs {
  std::string path;
  uint32_t timeline = 0;
  bool json = false;
};
int RunWalVerify(const WalVerifyArgs& a);

struct WalSalvageArgs {
  std::string path, out;
  uint32_t timeline = 0;
  uint64_t segment_size = 64ull << 20;
  bool json = false;
};
int RunWalSalvage(const WalSalvageArgs& a);

struct RestorePointArgs {
  std::string dir, name;
  bool json = false;
};
int RunRestorePoint(const RestorePointArgs& a);

struct CheckArgs {
  std::string dir;
  bool json = false;
};
int RunCheck(const CheckArgs& a);

struct SnapshotCreateArgs {
  std::string dir, out;
  bool json = false;
};
int RunSnapshotCreate(const SnapshotCreateArgs& a);

struct SnapshotFileArgs {
  std::string file;
  bool json = false;
};
int RunSnapshotVerify(const SnapshotFileArgs& a);
int RunSnapshotInspect(const SnapshotFileArgs& a);

struct SnapshotRestoreArgs {
  std::string file, to;
  bool json = false;
};
int RunSnapshotRestore(const SnapshotRestoreArgs& a);

struct RecoverArgs {
  std::string archive, to;
  std::optional<std::string> time;
  std::optional<uint64_t> lsn;
  std::optional<std::string> name;
  bool latest = false;
  bool exclusive = false;
  uint32_t timeline = 0;
  bool dry_run = false;
  bool json = false;
};
int RunRecover(const RecoverArgs& a);

}  // namespace savepoint::tools
