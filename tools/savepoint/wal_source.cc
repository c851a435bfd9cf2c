#include "tools/savepoint/wal_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tools/savepoint/common.h"
#include "tools/savepoint/offline_view.h"
#include "util/coding.h"
#include "wal/archive.h"
#include "wal/format.h"

namespace savepoint::tools {

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// What kinds of WAL files `dir` holds directly.
void Survey(FileSystem* fs, const std::string& dir, bool* segments, bool* archives) {
  *segments = *archives = false;
  auto names = fs->list_dir(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    if (wal::ParseSegmentFileName(n)) *segments = true;
    if (n.size() > 4 && n.ends_with(".lz4") && wal::ParseSegmentFileName(n.substr(0, n.size() - 4)))
      *archives = true;
  }
}

// The first `n` bytes of `path`; fewer when the file is shorter.
Status ReadPrefix(const std::string& path, size_t n, std::string* out) {
  out->assign(n, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(path + ": " + std::strerror(errno));
  const ssize_t got = ::pread(fd, out->data(), n, 0);
  const int err = errno;
  ::close(fd);
  if (got < 0) return Status::IOError(path + ": " + std::strerror(err));
  out->resize(static_cast<size_t>(got));
  return Status::OK();
}

Status CheckVersionAt(const std::string& path, std::string_view magic, const char* what, uint32_t newest) {
  std::string head;
  SP_RETURN_IF_ERROR(ReadPrefix(path, 12, &head));
  if (head.size() < 12 || std::string_view(head).substr(0, 8) != magic)
    return Status::OK();  // the reader reports it
  const uint32_t version = DecodeFixed32(head.data() + 8);
  if (version > newest) {
    return Status::InvalidArgument(path + " was written by a newer savepoint (" + what + " format version " +
                                   std::to_string(version) + "); this build reads up to version " +
                                   std::to_string(newest));
  }
  return Status::OK();
}

}  // namespace

const char* WalLocation::kind_name() const {
  switch (kind) {
    case Kind::kDataDir:
      return "data directory";
    case Kind::kWalDir:
      return "WAL directory";
    case Kind::kArchive:
      return "WAL archive";
  }
  return "?";
}

Result<WalLocation> LocateWal(const std::string& path) {
  FileSystem* fs = FileSystem::Default();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("no such directory: " + path);
  if (!S_ISDIR(st.st_mode)) return Status::NotFound(path + " is not a directory");
  WalLocation w;
  w.path = path;
  const std::string sub = JoinPath(path, "wal");
  bool segs = false, arcs = false;
  if (IsDirectory(sub)) {
    Survey(fs, sub, &segs, &arcs);
    if (IsDirectory(JoinPath(path, "db"))) {
      w.kind = WalLocation::Kind::kDataDir;
      w.wal_dir = sub;
      w.data_dir = path;
      return w;
    }
    if (arcs && !segs) {
      w.kind = WalLocation::Kind::kArchive;
      w.archive_dir = path;
      return w;
    }
    if (segs) {
      w.kind = WalLocation::Kind::kWalDir;
      w.wal_dir = sub;
      return w;
    }
  }
  Survey(fs, path, &segs, &arcs);
  if (segs) {
    w.kind = WalLocation::Kind::kWalDir;
    w.wal_dir = path;
    return w;
  }
  return Status::NotFound(path +
                          " holds no savepoint WAL: expected a data directory (db/ and wal/), a WAL archive "
                          "(wal/*.wal.lz4) or a directory of *.wal segments");
}

std::unique_ptr<wal::SegmentSource> MakeSource(FileSystem* fs, const WalLocation& where) {
  if (where.kind == WalLocation::Kind::kArchive) return wal::NewArchiveSource(fs, where.archive_dir);
  return wal::NewDirectorySource(fs, where.wal_dir);
}

Status CheckSegmentVersions(FileSystem* fs, const std::string& wal_dir,
                            const std::vector<wal::SegmentInfo>& segments) {
  (void)fs;
  for (const wal::SegmentInfo& s : segments) {
    SP_RETURN_IF_ERROR(
        CheckVersionAt(JoinPath(wal_dir, s.name), wal::kSegmentMagic, "WAL", wal::kFormatVersion));
  }
  return Status::OK();
}

Status CheckFormatVersions(FileSystem* fs, const WalLocation& where,
                           const std::vector<wal::SegmentInfo>& segments) {
  if (where.kind != WalLocation::Kind::kArchive) return CheckSegmentVersions(fs, where.wal_dir, segments);
  for (const wal::SegmentInfo& s : segments) {
    SP_RETURN_IF_ERROR(CheckVersionAt(JoinPath(JoinPath(where.archive_dir, "wal"), s.name + ".lz4"),
                                      wal::kArchiveMagic, "WAL archive", wal::kArchiveFormatVersion));
  }
  return Status::OK();
}

KeyspaceNames LoadCatalog(const WalLocation& where) {
  KeyspaceNames names;
  if (where.kind != WalLocation::Kind::kDataDir) return names;
  ViewOptions vo;
  vo.overlay_wal = false;  // the WAL's own catalog changes are read as the dump goes
  vo.allow_live = true;    // names only
  auto view = OfflineView::Open(where.data_dir, vo);
  if (!view.ok()) {
    Warn("keyspace names from the catalog are unavailable (" + view.status().message() +
         "); names come from catalog changes in the WAL only");
    return names;
  }
  for (const KeyspaceView* ks : (*view)->keyspaces()) names.add(ks->def);
  return names;
}

std::string PersistenceText(const KeyspaceOptions& o) {
  switch (o.persistence) {
    case Persistence::kDurable:
      return "durable";
    case Persistence::kCoalesced:
      return "coalesced";
    case Persistence::kVolatile:
      return "volatile";
  }
  return "?";
}

}  // namespace savepoint::tools
