// FileSystem::Default(): POSIX files. Every error message names the path and the OS's reason.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "savepoint/file_system.h"

namespace savepoint {

namespace {

// strerror_r comes in a GNU flavour (returns the text) and an XSI one (fills the buffer); accept both.
[[maybe_unused]] const char* StrerrorText(int rc, const char* buf) { return rc == 0 ? buf : "unknown error"; }
[[maybe_unused]] const char* StrerrorText(const char* text, const char* /*buf*/) { return text; }

std::string ErrnoText(int err) {
  char buf[256];
  buf[0] = '\0';
  return StrerrorText(strerror_r(err, buf, sizeof(buf)), buf);
}

// Maps errno to a Status kind: a full disk is not an I/O error, and a missing file is NotFound.
Status PosixError(const std::string& context, int err) {
  std::string msg = context + ": " + ErrnoText(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Status::NoSpace(msg);
    case ENOENT:
      return Status::NotFound(msg);
    default:
      return Status::IOError(msg);
  }
}

int OpenRetrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    if (fd_ < 0) return Status::IOError(path_ + ": append after close");
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError(path_, errno);
      }
      if (n == 0) return Status::IOError(path_ + ": write made no progress");
      p += n;
      left -= static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);  // size() reports partial progress on a later failure
    }
    return Status::OK();
  }

  Status sync() override {
    if (fd_ < 0) return Status::IOError(path_ + ": sync after close");
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return PosixError(path_, errno);
    return Status::OK();
  }

  void start_writeback() override {
#ifdef SYNC_FILE_RANGE_WRITE
    if (fd_ >= 0) (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
  }

  Status close() override {
    if (fd_ < 0) return Status::OK();
    int rc = ::close(fd_);
    fd_ = -1;  // the descriptor is gone even when close() reports an error; never retry it
    if (rc != 0 && errno != EINTR) return PosixError(path_, errno);
    return Status::OK();
  }

  uint64_t size() const override { return size_; }

 private:
  const std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Status read(uint64_t offset, size_t n, std::string* out) const override {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out->data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        out->clear();
        return PosixError(path_, errno);
      }
      if (r == 0) break;  // end of file
      done += static_cast<size_t>(r);
    }
    out->resize(done);
    return Status::OK();
  }
  uint64_t size() const override { return size_; }

 private:
  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

// Paths locked by this process. fcntl locks alone do not conflict within one process when
// F_OFD_SETLK is missing, so this set is what makes a second lock_file() here fail.
struct ProcessLocks {
  std::mutex mu;
  std::set<std::string> paths;
};

ProcessLocks& process_locks() {
  static ProcessLocks* locks = new ProcessLocks();  // never destroyed: a lock may outlive static destruction
  return *locks;
}

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFileLock() override {
    ::close(fd_);  // closing the descriptor releases the fcntl lock
    ProcessLocks& locks = process_locks();
    std::lock_guard<std::mutex> guard(locks.mu);
    locks.paths.erase(path_);
  }

 private:
  const std::string path_;
  const int fd_;
};

#ifdef F_OFD_SETLK
// Open-file-description locks conflict between two descriptors of one process too.
constexpr int kSetLockCmd = F_OFD_SETLK;
#else
constexpr int kSetLockCmd = F_SETLK;
#endif

// The pid the holder wrote into the lock file, or "" when it has not (yet) written one.
std::string ReadHolderPid(int fd) {
  char buf[32];
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid;
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    int fd = OpenRetrying(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) return PosixError(path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, 0));
  }

  Result<std::unique_ptr<WritableFile>> reopen_writable_file(const std::string& path) override {
    int fd = OpenRetrying(path.c_str(), O_WRONLY | O_APPEND);
    if (fd < 0) return PosixError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = PosixError(path, errno);
      ::close(fd);
      return s;
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  Status read_file(const std::string& path, std::string* contents) override {
    contents->clear();
    int fd = OpenRetrying(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) contents->reserve(static_cast<size_t>(st.st_size));
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        Status s = PosixError(path, errno);
        ::close(fd);
        return s;
      }
      if (n == 0) break;
      contents->append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return Status::OK();
  }

  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(const std::string& path) override {
    int fd = OpenRetrying(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = PosixError(path, errno);
      ::close(fd);
      return s;
    }
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  Result<uint64_t> file_size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError(path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  bool file_exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(dir, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d);  // NOLINT(concurrency-mt-unsafe): one DIR per call, not shared
      if (e == nullptr) break;
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return PosixError(dir, err);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_dirs(const std::string& dir) override {
    if (dir.empty()) return Status::InvalidArgument("create_dirs: empty path");
    // mkdir -p: every prefix ending before a '/', then the whole path.
    for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
      std::string prefix = dir.substr(0, pos);
      if (!prefix.empty() && prefix.back() != '/' && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return PosixError(prefix, errno);
      }
      if (pos == std::string::npos) break;
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return PosixError(dir, errno);
    if (!S_ISDIR(st.st_mode)) return Status::IOError(dir + ": exists and is not a directory");
    return Status::OK();
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(path, errno);
    return Status::OK();
  }

  Status rename_file(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("rename " + from + " -> " + to, errno);
    return Status::OK();
  }

  Status truncate_file(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return PosixError(path, errno);
    // truncate(2) alone does not make the new size durable.
    int fd = OpenRetrying(path.c_str(), O_WRONLY);
    if (fd < 0) return PosixError(path, errno);
    return FsyncAndClose(path, fd);
  }

  Status sync_dir(const std::string& dir) override {
    int fd = OpenRetrying(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return PosixError(dir, errno);
    return FsyncAndClose(dir, fd);
  }

  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    ProcessLocks& locks = process_locks();
    std::lock_guard<std::mutex> guard(locks.mu);
    if (locks.paths.count(path) != 0) {
      return Status::Busy(path + " is held by process " + std::to_string(::getpid()) + " (this process)");
    }
    int fd = OpenRetrying(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return PosixError(path, errno);
    struct flock fl;
    std::memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
    if (::fcntl(fd, kSetLockCmd, &fl) != 0) {
      int err = errno;
      if (err == EAGAIN || err == EACCES) {
        std::string pid = ReadHolderPid(fd);
        ::close(fd);
        return Status::Busy(path + " is held by " + (pid.empty() ? "another process" : "process " + pid));
      }
      ::close(fd);
      return PosixError("lock " + path, err);
    }
    // Record the holder so whoever fails to lock can say who has it. Best effort: the lock is ours anyway.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
      [[maybe_unused]] ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    locks.paths.insert(path);
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd));
  }

 private:
  static Status FsyncAndClose(const std::string& path, int fd) {
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    Status s = rc != 0 ? PosixError(path, errno) : Status::OK();
    ::close(fd);
    return s;
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static FileSystem* fs = new PosixFileSystem();  // never destroyed: used until the process ends
  return fs;
}

}  // namespace savepoint
