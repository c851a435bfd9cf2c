// savepoint: the operator command of a savepoint data directory (tools/savepoint/README.md), in the spirit
// of RocksDB's ldb, pg_waldump and redis-check-aof. Parses the command line and runs one subcommand.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "tools/savepoint/commands.h"
#include "tools/savepoint/common.h"

namespace savepoint::tools {

// The engine's log goes to stderr, so that stdout carries only the command's output.
std::shared_ptr<spdlog::logger> StderrLogger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("savepoint", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_level(spdlog::level::warn);
    return l;
  }();
  return logger;
}

namespace {

constexpr const char* kExitCodes = R"(EXIT STATUS
  0  success
  1  usage error, bad key or time syntax, or input this build cannot use (a newer format version)
  2  not found: no such directory, keyspace or key; not a savepoint data directory
  3  corruption (the message names the file and the offset)
  4  I/O error
  5  busy: another process holds the directory's LOCK (the message names its pid)
  6  wal verify only: the log ends in a torn tail, as a crash leaves (records after its last valid
     one, if any were acknowledged, cannot be told from an unsynced tail)
  7  check only: a secondary index disagrees with its registry
  8  check only: RocksDB and the WAL disagree
  9  check only: a structure's rows disagree with each other (Structures::open repairs them)
)";

constexpr const char* kKeys = R"(
KEYS
  Keys are written in the key_codec text form: 42 (int64), 7u (uint64), "name" (string, escapes \" \\ \xNN),
  x"00ff" (bytes), true, false, null, a UUID 3b241101-e2bb-4255-8caf-4136c566a962, or a tuple of those:
  (3b241101-e2bb-4255-8caf-4136c566a962, "aria", 7). A key that is not a key_codec tuple (a plain kv key) is
  written raw"bytes" with the same escapes, e.g. raw"visits:2024". Quote keys for the shell: '"aria"'.
)";

constexpr const char* kReadOnly = R"(
This command is read-only: it never opens the engine or takes the LOCK. It reads RocksDB read-only and
overlays the WAL records after RocksDB's applied LSN, so the output shows every durable commit, exactly as
recovery would rebuild it. A directory a running engine holds is refused (exit 5, naming the process): its
files change under a reader, and the answer could be no prefix of the commits. --no-wal shows RocksDB alone
(for a WAL that does not read).
)";

std::string Footer(const std::string& examples, bool with_keys = false) {
  return std::string(with_keys ? kKeys : "") + "\nEXAMPLES\n" + examples + "\n\n" + kExitCodes;
}

// A subcommand's description is its one-line summary, a blank line, then the full text: lists of
// subcommands show the summary, the subcommand's own --help all of it.
void Describe(CLI::App* sub, const std::string& text) {
  sub->description(sub->get_description() + "\n\n" + text);
}

// Digits only: CLI11 would otherwise read "-1" into an unsigned option as its largest value.
CLI::Validator Unsigned() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
          return "\"" + v + "\" is not a non-negative integer";
        }
        return "";
      },
      "", "unsigned");
}

class Formatter final : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    const std::string& d = sub->get_description();
    CLI::detail::format_help(out, sub->get_display_name(true), d.substr(0, d.find('\n')), column_width_);
    return out.str();
  }
};

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "savepoint: inspect, verify, export and repair savepoint data directories.\n\n"
      "A data directory holds LOCK, wal/ (the write-ahead log) and db/ (RocksDB, the materialised state).\n"
      "Reading commands (info, get, scan, export, wal dump, wal verify, snapshot create|verify|inspect) never\n"
      "write to it; restore-point, import and check open the engine and need the directory not to be open\n"
      "elsewhere; snapshot restore and recover write only into a new or empty directory.\n"
      "Every command takes --json for output meant for scripts.",
      "savepoint"};
  auto formatter = std::make_shared<Formatter>();
  formatter->column_width(34);
  app.formatter(formatter);  // before the subcommands: they copy it
  app.set_version_flag("--version", "savepoint 0.1.0 (engine format 1, WAL format 1)");
  app.require_subcommand(1);

  // info
  InfoArgs info;
  auto* c_info =
      app.add_subcommand("info", "Keyspaces, LSNs, timeline, WAL segments and archive of a data directory");
  Describe(c_info,
           "Shows what a data directory holds: each keyspace (name, kind, persistence class, residency, live "
           "rows and\n"
           "bytes of keys + values), the LSNs (applied: materialised in RocksDB; durable and last: in the "
           "WAL), the\n"
           "timeline, the lock holder, every WAL segment with its size and LSN and time range, and with "
           "--archive\n"
           "a summary of a WAL archive (segments, LSN and time range, gaps, its snapshots), and the snapshots of "
           "the\n"
           "snapshot directory (LSN, timeline, time, size; the newest is the last save).\n" +
               std::string(kReadOnly));
  c_info->add_option("DIR", info.dir, "The data directory")->required();
  c_info->add_option("--archive", info.archive,
                     "A WAL archive directory (Options::archive_dir) to report on");
  c_info->add_option("--snapshots", info.snapshots,
                     "The snapshot directory (Options::snapshot_dir), when not DIR/snapshots");
  c_info->add_flag("--json", info.json, "One JSON object");
  c_info->add_flag("--no-wal", info.no_wal, "Count rows in RocksDB alone, without the WAL tail");
  c_info->footer(Footer(
      "  savepoint info /srv/game/data\n  savepoint info /srv/game/data --archive /backup/game --json"));

  // get
  GetArgs get;
  auto* c_get = app.add_subcommand("get", "One row of a keyspace, its value rendered as JSON");
  Describe(c_get,
           "Prints the row stored under KEY in KEYSPACE: its expiry and its value. Registry values\n"
           "([varint schema version][CBOR]) print as their JSON document; index rows as the primary key they "
           "point\n"
           "at; other values as JSON when they are UTF-8 JSON, else as a JSON string when they are UTF-8, "
           "else as\n"
           "base64. --json adds value_b64, the exact bytes.\n" +
               std::string(kReadOnly));
  c_get->add_option("DIR", get.dir, "The data directory")->required();
  c_get->add_option("KEYSPACE", get.keyspace, "The keyspace name")->required();
  c_get->add_option("KEY", get.key, "The key, in key text form (see KEYS)")->required();
  c_get->add_flag("--json", get.json,
                  "One JSON object: key, value, value_encoding, expire_at_micros, value_b64");
  c_get->add_flag("--no-wal", get.no_wal, "Read RocksDB alone, without the WAL tail");
  c_get->add_flag("--include-expired", get.include_expired,
                  "Show a row whose TTL passed but was not swept yet");
  c_get->footer(Footer(
      "  savepoint get /srv/game/data characters 7\n"
      "  savepoint get /srv/game/data guild_members '(3b241101-e2bb-4255-8caf-4136c566a962, \"aria\")'\n"
      "  savepoint get /srv/game/data counters 'raw\"visits\"' --json",
      true));

  // scan
  ScanArgs scan;
  auto* c_scan = app.add_subcommand("scan", "Rows of a keyspace in key order, optionally under a key prefix");
  Describe(
      c_scan,
      "Prints the rows of KEYSPACE in key order, one per line: the key, the value rendered as for get (cut "
      "at\n"
      "200 characters unless --full), and the expiry. --prefix selects a tuple and every tuple extending it\n"
      "(a tenant's rows: --prefix '(3b241101-e2bb-4255-8caf-4136c566a962)'), or with raw\"...\" every key\n"
      "starting with those bytes. With --json each row is one JSON line (as get --json).\n" +
          std::string(kReadOnly));
  c_scan->add_option("DIR", scan.dir, "The data directory")->required();
  c_scan->add_option("KEYSPACE", scan.keyspace, "The keyspace name")->required();
  auto* prefix_opt =
      c_scan->add_option("--prefix", scan.prefix, "Only keys under this tuple (or raw\"...\") prefix");
  c_scan->add_option("--limit", scan.limit, "Stop after N rows (0: no limit)")->check(Unsigned());
  c_scan->add_flag("--json", scan.json, "One JSON object per row (JSON lines)");
  c_scan->add_flag("--full", scan.full, "Do not shorten long values");
  c_scan->add_flag("--no-wal", scan.no_wal, "Read RocksDB alone, without the WAL tail");
  c_scan->add_flag("--include-expired", scan.include_expired,
                   "Include rows whose TTL passed but were not swept yet");
  c_scan->footer(Footer(
      "  savepoint scan /srv/game/data characters --limit 20\n"
      "  savepoint scan /srv/game/data inventories --prefix '(3b241101-e2bb-4255-8caf-4136c566a962)' --json",
      true));

  // export
  ExportArgs exp;
  auto* c_export = app.add_subcommand("export", "Every row as JSON lines (exact: keys, bytes and TTLs)");
  Describe(
      c_export,
      "Writes the directory's keyspaces to stdout as JSON lines: a header {\"format\":\"savepoint-export\",\n"
      "\"version\":1}; per keyspace (in name order) a line {\"type\":\"keyspace\",\"keyspace\":NAME,\n"
      "\"definition\":{...}} and then its rows in key order, "
      "{\"keyspace\":NAME,\"key\":TEXT,\"value_b64\":B64,\n"
      "\"expire_at_micros\":N} (\"key_b64\" instead of \"key\" for a key that is not a tuple). Values are "
      "base64 so\n"
      "any bytes survive; `import` reads this back, and export -> import -> export gives identical bytes.\n"
      "Rows already expired are left out unless --include-expired. Volatile keyspaces export their header "
      "only.\n" +
          std::string(kReadOnly));
  c_export->add_option("DIR", exp.dir, "The data directory")->required();
  c_export->add_option("--keyspace", exp.keyspaces, "Export only this keyspace (repeatable)");
  c_export->add_flag("--no-wal", exp.no_wal, "Read RocksDB alone, without the WAL tail");
  c_export->add_flag("--include-expired", exp.include_expired,
                     "Include rows whose TTL passed but were not swept yet");
  c_export->add_flag("--json")->description("Accepted for symmetry: the output is always JSON lines");
  c_export->footer(
      Footer("  savepoint export /srv/game/data > game.jsonl\n"
             "  savepoint export /srv/game/data --keyspace characters --keyspace characters.by_name | gzip > "
             "chars.jsonl.gz"));

  // import
  ImportArgs imp;
  auto* c_import =
      app.add_subcommand("import", "Load JSON lines written by export (writes: opens the engine)");
  Describe(c_import,
           "Reads an export (stdin, or --input FILE) into DIR, creating DIR when it does not exist and each "
           "keyspace\n"
           "from its header line, then writing the rows with their exact bytes and expiry in batches of "
           "1000. Opens\n"
           "the engine, so DIR must not be open elsewhere (exit 5). Refuses to write into a keyspace that "
           "already\n"
           "has rows unless --merge. Not atomic: after an error, the rows committed before it stay.");
  c_import->add_option("DIR", imp.dir, "The data directory to import into (created if missing)")->required();
  c_import->add_option("--input", imp.input, "Read this file instead of stdin");
  c_import->add_flag("--merge", imp.merge,
                     "Write into keyspaces that already have rows (rows with equal keys are replaced)");
  c_import->add_flag("--json", imp.json, "Print the summary as JSON");
  c_import->footer(
      Footer("  savepoint import /srv/game/data-new < game.jsonl\n"
             "  savepoint export old | savepoint import new"));

  // wal
  auto* c_wal = app.add_subcommand("wal", "Write-ahead log tools: dump, verify, salvage");
  c_wal->require_subcommand(1);
  Describe(c_wal,
           "The wal subcommands read a data directory's live WAL (DIR/wal), a WAL archive "
           "(ARCHIVE/wal/*.wal.lz4,\n"
           "Options::archive_dir), or a directory of *.wal segments.");
  c_wal->footer(
      Footer("  savepoint wal verify /srv/game/data\n  savepoint wal dump /backup/game --keyspace characters "
             "--key 7"));

  WalDumpArgs dump;
  auto* c_dump =
      c_wal->add_subcommand("dump", "Every record: LSN, commit time, type and effects (the audit trail)");
  Describe(c_dump,
           "Prints the WAL's records in LSN order: the LSN, the commit time (ISO 8601 UTC, microseconds), "
           "the type,\n"
           "and for a transaction each effect: op (put, delete, delete_prefix), keyspace (named from the "
           "directory's\n"
           "catalog and the catalog changes in the log), key, and a summary of the value (rendered as for "
           "get, cut\n"
           "at 100 characters unless --full; --json gives the whole value). --keyspace and --key keep the "
           "effects on\n"
           "that keyspace or key (a delete_prefix covering the key counts), and --since/--until the records "
           "of a time\n"
           "window: together they answer \"what happened to key X between T1 and T2\". Read-only.\n\n"
           "TIME is ISO 8601 (2024-05-01T12:00:00Z, 2024-05-01T12:00:00.123456+02:00, 2024-05-01) or "
           "microseconds\n"
           "since the epoch.");
  c_dump->add_option("PATH", dump.path, "A data directory, a WAL archive or a directory of *.wal segments")
      ->required();
  c_dump->add_option("--from-lsn", dump.from_lsn, "First LSN to show")->check(Unsigned());
  c_dump->add_option("--to-lsn", dump.to_lsn, "Last LSN to show")->check(Unsigned());
  c_dump->add_option("--keyspace", dump.keyspace, "Only effects on this keyspace (and its catalog changes)");
  c_dump->add_option("--key", dump.key,
                     "Only effects on this key (needs --keyspace; key text form, see KEYS)");
  c_dump->add_option("--since", dump.since, "Only records committed at or after TIME");
  c_dump->add_option("--until", dump.until, "Only records committed at or before TIME");
  c_dump->add_option("--timeline", dump.timeline, "Timeline to read (default: the newest)")
      ->check(Unsigned());
  c_dump->add_flag("--json", dump.json, "One JSON object per record (JSON lines), values in full");
  c_dump->add_flag("--full", dump.full, "Do not shorten values");
  c_dump->footer(
      Footer("  savepoint wal dump /srv/game/data --from-lsn 1200 --to-lsn 1300\n"
             "  savepoint wal dump /backup/game --keyspace characters --key 7 \\\n"
             "      --since 2024-05-01T18:00:00Z --until 2024-05-01T19:00:00Z\n"
             "  savepoint wal dump /srv/game/data --json | jq 'select(.type == \"restore_point\")'",
             true));

  WalVerifyArgs verify;
  auto* c_verify = c_wal->add_subcommand("verify", "Read the whole log and say where and why it ends");
  Describe(
      c_verify,
      "Reads every record of the timeline, checking framing, checksums, LSN order and that each engine "
      "payload\n"
      "decodes, and reports how the log ends: end of log (exit 0), a torn tail (exit 6: bytes a crash left\n"
      "half-written; the engine truncates them at open) or corruption naming the segment file and\n"
      "the offset (exit 3), including a sealed segment whose successor is missing. Records after the\n"
      "last one that reads, if any were acknowledged, cannot be told from an unsynced tail; the output\n"
      "says so. Read-only.");
  c_verify
      ->add_option("PATH", verify.path, "A data directory, a WAL archive or a directory of *.wal segments")
      ->required();
  c_verify->add_option("--timeline", verify.timeline, "Timeline to read (default: the newest)")
      ->check(Unsigned());
  c_verify->add_flag("--json", verify.json, "One JSON object");
  c_verify->footer(
      Footer("  savepoint wal verify /srv/game/data\n  savepoint wal verify /backup/game --json"));

  WalSalvageArgs salvage;
  auto* c_salvage =
      c_wal->add_subcommand("salvage", "Copy every readable record into a new WAL, skipping damage");
  Describe(
      c_salvage,
      "Reads PATH in salvage mode, which skips damaged regions instead of stopping, and writes every record "
      "it\n"
      "can read, with its LSN, type, payload and commit time, to a new WAL in OUT/wal. Each lost LSN is "
      "written\n"
      "as a restore point named \"savepoint-salvage: LSN <n> lost\" (which changes no state), so every "
      "surviving\n"
      "record keeps its LSN and RocksDB's applied LSN keeps its meaning. Reports each skipped region "
      "(segment,\n"
      "offset, length, reason). PATH is only read. Exit 0 when nothing was skipped, 3 when data was lost.\n\n"
      "To recover a directory whose WAL is damaged: stop the server, salvage DIR --out NEW, move DIR/wal "
      "aside,\n"
      "move NEW/wal to DIR/wal, and open the directory.");
  c_salvage
      ->add_option("PATH", salvage.path, "A data directory, a WAL archive or a directory of *.wal segments")
      ->required();
  c_salvage->add_option("--out", salvage.out, "Directory to write OUT/wal into (missing or empty)")
      ->required();
  c_salvage->add_option("--timeline", salvage.timeline, "Timeline to read (default: the newest)")
      ->check(Unsigned());
  c_salvage
      ->add_option("--segment-size", salvage.segment_size,
                   "Segment size of the copy in bytes (default 64 MiB)")
      ->check(Unsigned());
  c_salvage->add_flag("--json", salvage.json, "One JSON object");
  c_salvage->footer(Footer("  savepoint wal salvage /srv/game/data --out /srv/game/salvaged"));

  // snapshot
  auto* c_snap = app.add_subcommand("snapshot", "Snapshot files: create, verify, inspect, restore");
  c_snap->require_subcommand(1);
  Describe(c_snap,
           "A snapshot is one self-contained, checksummed, LZ4-compressed file holding every persistent "
           "keyspace of\n"
           "a directory at one LSN of one timeline (docs/snapshot_format.md). The engine writes them with "
           "Engine::save\n"
           "and Engine::snapshot (and save points); these commands make, check and load them offline.");
  c_snap->footer(Footer("  savepoint snapshot create /srv/game/data --out /backup/game.snap\n"
                        "  savepoint snapshot verify /backup/game.snap\n"
                        "  savepoint snapshot restore /backup/game.snap --to /srv/game/data-restored"));

  SnapshotCreateArgs snap_create;
  auto* c_snap_create =
      c_snap->add_subcommand("create", "Write a snapshot of a data directory to a file (reads DIR only)");
  Describe(c_snap_create,
           "Writes every durable and coalesced keyspace of DIR, with the keyspace catalog, to FILE (written as\n"
           "FILE.tmp, fsynced, renamed: FILE is complete or absent). The state is what the reading commands "
           "show:\n"
           "RocksDB plus the WAL tail, i.e. every durable commit, at the last LSN in the WAL. Volatile "
           "keyspaces\n"
           "are in the catalog without rows. DIR is only read (no lock taken: it works on a directory a server "
           "has\n"
           "open); FILE must not exist.");
  c_snap_create->add_option("DIR", snap_create.dir, "The data directory")->required();
  c_snap_create->add_option("--out", snap_create.out, "The snapshot file to write (must not exist)")->required();
  c_snap_create->add_flag("--json", snap_create.json, "One JSON object");
  c_snap_create->footer(Footer("  savepoint snapshot create /srv/game/data --out /backup/game-2024-05-01.snap"));

  SnapshotFileArgs snap_verify;
  auto* c_snap_verify =
      c_snap->add_subcommand("verify", "Read every byte of a snapshot and check every checksum (read-only)");
  Describe(c_snap_verify,
           "Checks the header, the index and the trailer, then every block (checksum, LZ4, rows, key order, "
           "the\n"
           "rows' encoding) and the whole-file checksum. Exit 0 when the file is sound, 3 with the file and "
           "offset\n"
           "of the first damage, 1 for a snapshot of a newer format, 2 when FILE does not exist.");
  c_snap_verify->add_option("FILE", snap_verify.file, "The snapshot file")->required();
  c_snap_verify->add_flag("--json", snap_verify.json, "One JSON object (result, error, header, keyspaces)");
  c_snap_verify->footer(Footer("  savepoint snapshot verify /backup/game.snap"));

  SnapshotFileArgs snap_inspect;
  auto* c_snap_inspect =
      c_snap->add_subcommand("inspect", "Header, catalog and sections of a snapshot (read-only)");
  Describe(c_snap_inspect,
           "Prints the snapshot's timeline, LSN and creation time, and per keyspace its kind, class, rows, "
           "blocks,\n"
           "logical and stored size. Reads the header, index and trailer only; `snapshot verify` reads "
           "everything.");
  c_snap_inspect->add_option("FILE", snap_inspect.file, "The snapshot file")->required();
  c_snap_inspect->add_flag("--json", snap_inspect.json, "One JSON object");
  c_snap_inspect->footer(Footer("  savepoint snapshot inspect /backup/game.snap --json | jq .keyspaces"));

  SnapshotRestoreArgs snap_restore;
  auto* c_snap_restore =
      c_snap->add_subcommand("restore", "Build a data directory from a snapshot (writes DIR, which must be empty)");
  Describe(c_snap_restore,
           "Loads FILE into the new or empty directory DIR: one SST file per keyspace built from the rows and\n"
           "ingested into RocksDB, the catalog and LSN in the meta rows, an empty WAL on the snapshot's "
           "timeline.\n"
           "The snapshot is fully checked first: a damaged file is refused (exit 3, with the offset) and DIR is "
           "left\n"
           "as it was. A non-empty DIR is refused (exit 1). The result opens with Engine::open at the "
           "snapshot's LSN.");
  c_snap_restore->add_option("FILE", snap_restore.file, "The snapshot file")->required();
  c_snap_restore->add_option("--to", snap_restore.to, "The directory to create (missing or empty)")->required();
  c_snap_restore->add_flag("--json", snap_restore.json, "One JSON object");
  c_snap_restore->footer(Footer("  savepoint snapshot restore /backup/game.snap --to /srv/game/data-restored"));

  // recover
  RecoverArgs rec;
  std::string rec_time, rec_name;
  uint64_t rec_lsn = 0;
  auto* c_recover = app.add_subcommand(
      "recover", "Point-in-time recovery from a WAL archive into a new directory (writes DIR and the archive)");
  Describe(c_recover,
           "Recovers the state at a target from ARCHIVE (an engine's Options::archive_dir) into the new or empty\n"
           "directory DIR, with PostgreSQL semantics (docs/pitr.md): the newest archived snapshot at or below "
           "the\n"
           "target on the target timeline's path, the archived WAL replayed from it up to the target, and a "
           "new\n"
           "timeline started with a history file (written into DIR/wal and ARCHIVE/wal). Exactly one target:\n"
           "  --time T     the last commit at or before T (with --exclusive: before T); T is ISO 8601 or "
           "microseconds\n"
           "  --lsn L      LSN L (with --exclusive: L - 1)\n"
           "  --name N     the first restore point named N (with --exclusive: the record before it)\n"
           "  --latest     everything archived\n"
           "--timeline picks the timeline whose history is followed (default: the newest in the archive).\n"
           "--dry-run prints the plan (snapshot, segments, end LSN, new timeline) and writes nothing.\n"
           "Refused: two targets or none, a non-empty DIR (exit 1); an unreachable target, a target before "
           "the\n"
           "oldest usable snapshot (exit 2); a gap in the archived WAL, damaged files (exit 3).");
  c_recover->add_option("--archive", rec.archive, "The WAL archive")->required();
  c_recover->add_option("--to", rec.to, "The directory to recover into (missing or empty)");
  auto* o_time = c_recover->add_option("--time", rec_time, "Target commit time (ISO 8601 or microseconds)");
  auto* o_lsn = c_recover->add_option("--lsn", rec_lsn, "Target LSN")->check(Unsigned());
  auto* o_name = c_recover->add_option("--name", rec_name, "Target restore point name");
  c_recover->add_flag("--latest", rec.latest, "Target: everything archived");
  c_recover->add_flag("--exclusive", rec.exclusive, "Stop just before the target instead of just after it");
  c_recover->add_option("--timeline", rec.timeline, "Timeline to follow (default: the newest)")->check(Unsigned());
  c_recover->add_flag("--dry-run", rec.dry_run, "Print the plan, write nothing");
  c_recover->add_flag("--json", rec.json, "The plan as one JSON object");
  c_recover->footer(Footer(
      "  savepoint recover --archive /backup/game --to /srv/game/data-0142 --time 2024-05-01T14:32:00Z --exclusive\n"
      "  savepoint recover --archive /backup/game --to /srv/game/data-rp --name before-patch-1.4\n"
      "  savepoint recover --archive /backup/game --latest --dry-run"));

  // restore-point
  RestorePointArgs rp;
  auto* c_rp = app.add_subcommand("restore-point", "Log a named restore point (writes: opens the engine)");
  Describe(
      c_rp,
      "Opens the engine on DIR, logs a restore point NAME (a target for point-in-time recovery) with a sync\n"
      "commit, and closes the engine, printing its LSN. Refuses with exit 5, naming the holder's pid, when\n"
      "another process has DIR open: ask that process to create it instead.");
  c_rp->add_option("DIR", rp.dir, "The data directory")->required();
  c_rp->add_option("NAME", rp.name, "The restore point's name, 1 to 255 bytes of UTF-8")->required();
  c_rp->add_flag("--json", rp.json, "One JSON object");
  c_rp->footer(Footer("  savepoint restore-point /srv/game/data before-patch-1.4"));

  // check
  CheckArgs check;
  auto* c_check = app.add_subcommand(
      "check", "Check that RocksDB agrees with the WAL, indexes with their registries, and structures' rows");
  Describe(
      c_check,
      "1. Under the directory's LOCK, reads RocksDB and the WAL without replaying: RocksDB's applied LSN "
      "must\n"
      "   not be beyond the WAL's last LSN, and the WAL from applied LSN + 1 must read cleanly and decode\n"
      "   (exit 8 otherwise).\n"
      "2. Opens the engine normally (it replays the WAL tail and, at close, checkpoints: the directory is\n"
      "   changed as by any open and clean close) and checks every registry: each row decodes\n"
      "   ([varint schema version][CBOR]) and has a key of the registry's recorded key type (exit 3\n"
      "   otherwise), and each index keyspace \"<registry>.<index>\" "
      "holds\n"
      "   well-formed entries that point at existing rows (exit 7 otherwise). Index extractors are "
      "application\n"
      "   code, so the tool cannot recompute which entries a row should have; it checks structure and "
      "reports\n"
      "   counts.\n"
      "3. Checks every structures database (docs/structures.md): each row decodes (exit 3 otherwise), and\n"
      "   the rows of each key agree: a meta row for its element rows, of their type; contiguous list\n"
      "   positions; a row for every consumer group and consumer with pending entries; a stream last ID\n"
      "   not below its entries, delivered and pending IDs (exit 9 otherwise; Structures::open repairs\n"
      "   these, naming each key in a warning).\n"
      "Needs the directory not to be open elsewhere (exit 5). When several checks fail the exit status is "
      "the\n"
      "first of 3, 8, 7, 9.");
  c_check->add_option("DIR", check.dir, "The data directory")->required();
  c_check->add_flag("--json", check.json, "One JSON object");
  c_check->footer(
      Footer("  savepoint check /srv/game/data\n  savepoint check /srv/game/data --json | jq .result"));

  app.footer(std::string("\nRun `savepoint <command> --help` for a command's arguments and examples.\n\n") +
             kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (prefix_opt->count() > 0) scan.has_prefix = true;

  if (c_info->parsed()) return RunInfo(info);
  if (c_get->parsed()) return RunGet(get);
  if (c_scan->parsed()) return RunScan(scan);
  if (c_export->parsed()) return RunExport(exp);
  if (c_import->parsed()) return RunImport(imp);
  if (c_dump->parsed()) return RunWalDump(dump);
  if (c_verify->parsed()) return RunWalVerify(verify);
  if (c_salvage->parsed()) return RunWalSalvage(salvage);
  if (c_rp->parsed()) return RunRestorePoint(rp);
  if (c_snap_create->parsed()) return RunSnapshotCreate(snap_create);
  if (c_snap_verify->parsed()) return RunSnapshotVerify(snap_verify);
  if (c_snap_inspect->parsed()) return RunSnapshotInspect(snap_inspect);
  if (c_snap_restore->parsed()) return RunSnapshotRestore(snap_restore);
  if (c_recover->parsed()) {
    if (o_time->count() > 0) rec.time = rec_time;
    if (o_lsn->count() > 0) rec.lsn = rec_lsn;
    if (o_name->count() > 0) rec.name = rec_name;
    return RunRecover(rec);
  }
  if (c_check->parsed()) return RunCheck(check);
  std::cerr << app.help();
  return kExitUsage;
}

}  // namespace savepoint::tools

int main(int argc, char** argv) { return savepoint::tools::Main(argc, argv); }
