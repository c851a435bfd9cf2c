// FaultInjectionFileSystem: see include/savepoint/fault_injection.h for what a power cut leaves behind.
//
// Every operation takes mu_ for its whole duration, base call included, so the tracking (synced sizes,
// durable creations, pending renames, the last append) always matches the base file system. This
// serializes I/O through the wrapper, which is fine for tests.
//
// Simplifications, chosen because recovery code must cope with them anyway or they cannot matter:
//   - removals are never undone: a file removed but not yet sync_dir()'d stays removed after restart;
//   - directories made by create_dirs() are durable at once;
//   - new_writable_file() on an existing file: the truncation counts as unsynced (synced size 0);
//   - a rename over an existing file remembers the durable part of the replaced file and puts it back
//     when the rename is undone, so an atomic replace (write tmp, rename over CURRENT) yields the old
//     or the new file after a restart, never neither.
#include "savepoint/fault_injection.h"

#include <algorithm>
#include <functional>
#include <random>

namespace savepoint {

namespace {

const char* OpName(FaultOp op) {
  switch (op) {
    case FaultOp::kAppend:
      return "append";
    case FaultOp::kSync:
      return "sync";
    case FaultOp::kCreate:
      return "create";
    case FaultOp::kRename:
      return "rename";
    case FaultOp::kRemove:
      return "remove";
    case FaultOp::kSyncDir:
      return "sync_dir";
    case FaultOp::kTruncate:
      return "truncate";
  }
  return "op";
}

Status PowerOff(const std::string& path) { return Status::IOError(path + ": power is off"); }

// Replaces the contents of `path` on `fs` and makes them durable.
Status WriteWhole(FileSystem* fs, const std::string& path, std::string_view contents) {
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs->new_writable_file(path));
  SP_RETURN_IF_ERROR(file->append(contents));
  SP_RETURN_IF_ERROR(file->sync());
  return file->close();
}

}  // namespace

class FaultInjectionFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectionFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  ~File() override {
    std::lock_guard<std::mutex> guard(fs_->mu_);
    fs_->open_files_.erase(this);
  }

  Status append(std::string_view data) override {
    std::lock_guard<std::mutex> guard(fs_->mu_);
    if (fs_->power_off_) return PowerOff(path_);
    SP_RETURN_IF_ERROR(fs_->take_fault(FaultOp::kAppend, path_));  // an injected failure writes nothing
    std::string_view fitting = data;
    Status no_space;
    if (fs_->space_limit_ > 0) {
      uint64_t used = fs_->total_size_locked();
      if (used + data.size() > fs_->space_limit_) {
        uint64_t room = fs_->space_limit_ > used ? fs_->space_limit_ - used : 0;
        fitting = data.substr(0, static_cast<size_t>(room));  // as write(2): what fits, then ENOSPC
        no_space = Status::NoSpace(path_ + ": no space left on device (limit " +
                                   std::to_string(fs_->space_limit_) + " bytes)");
      }
    }
    const uint64_t offset = base_->size();
    Status s = fitting.empty() ? Status::OK() : base_->append(fitting);
    const uint64_t written = base_->size() - offset;
    if (written > 0 && !detached_ && path_.find(fs_->tear_scope_) != std::string::npos) {
      fs_->last_append_ = LastAppend{path_, offset, written};
    }
    SP_RETURN_IF_ERROR(s);
    return no_space;
  }

  Status sync() override {
    std::lock_guard<std::mutex> guard(fs_->mu_);
    if (fs_->power_off_) return PowerOff(path_);
    SP_RETURN_IF_ERROR(fs_->take_fault(FaultOp::kSync, path_));
    SP_RETURN_IF_ERROR(base_->sync());
    fs_->sync_count_++;
    if (!detached_) {
      auto it = fs_->files_.find(path_);
      if (it != fs_->files_.end()) it->second.synced_size = base_->size();
    }
    return Status::OK();
  }

  Status close() override {
    std::lock_guard<std::mutex> guard(fs_->mu_);
    Status s = base_->close();  // release the descriptor even when the power is off
    if (fs_->power_off_) return PowerOff(path_);
    return s;
  }

  uint64_t size() const override { return base_->size(); }

 private:
  friend class FaultInjectionFileSystem;

  FaultInjectionFileSystem* const fs_;
  std::string path_;       // GUARDED_BY(fs_->mu_): follows renames
  bool detached_ = false;  // GUARDED_BY(fs_->mu_): the path was removed or replaced; writes are untracked
  const std::unique_ptr<WritableFile> base_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(FileSystem* base) : base_(base) {}

FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

// --- faults ---

void FaultInjectionFileSystem::cut_power() {
  std::lock_guard<std::mutex> guard(mu_);
  power_off_ = true;
}

Status FaultInjectionFileSystem::restart(const PowerCutOptions& options) {
  std::lock_guard<std::mutex> guard(mu_);
  Status first_error;
  // A file that is already gone has nothing left to lose; any other failure is reported.
  auto note = [&first_error](const Status& s) {
    if (!s.ok() && !s.IsNotFound() && first_error.ok()) first_error = s;
  };

  for (const auto& [path, state] : files_) {
    if (!state.creation_durable) {
      note(base_->remove_file(path));
      continue;
    }
    Result<uint64_t> size = base_->file_size(path);
    if (!size.ok()) {
      note(size.status());
      continue;
    }
    const uint64_t current = *size;
    if (options.tear_last_write_at.has_value() && last_append_.has_value() && last_append_->path == path) {
      uint64_t keep = last_append_->offset + std::min(*options.tear_last_write_at, last_append_->length);
      keep = std::max(keep, state.synced_size);  // a synced append is durable: it cannot be torn
      if (keep < current) note(base_->truncate_file(path, keep));
      continue;
    }
    if (current <= state.synced_size) continue;
    const uint64_t unsynced = current - state.synced_size;
    switch (options.unsynced) {
      case PowerCutOptions::Unsynced::kDrop:
        note(base_->truncate_file(path, state.synced_size));
        break;
      case PowerCutOptions::Unsynced::kKeepRandomPrefix: {
        std::mt19937_64 rng(options.seed ^ std::hash<std::string>{}(path));
        uint64_t kept = rng() % (unsynced + 1);
        if (kept < unsynced) note(base_->truncate_file(path, state.synced_size + kept));
        break;
      }
      case PowerCutOptions::Unsynced::kZeroFill: {
        std::string contents;
        Status s = base_->read_file(path, &contents);
        if (s.ok()) {
          std::fill(contents.begin() + static_cast<std::ptrdiff_t>(state.synced_size), contents.end(), '\0');
          s = WriteWhole(base_, path, contents);
        }
        note(s);
        break;
      }
    }
  }

  // Undo renames whose directory was never synced, newest first, so chains unwind in order.
  std::vector<PendingRename> renames;
  for (auto& [dir, list] : pending_renames_) {
    for (auto& r : list) renames.push_back(std::move(r));
  }
  std::sort(renames.begin(), renames.end(),
            [](const PendingRename& a, const PendingRename& b) { return a.seq > b.seq; });
  for (const PendingRename& r : renames) {
    if (base_->file_exists(r.to)) note(base_->rename_file(r.to, r.from));
    if (r.replaced.has_value()) note(WriteWhole(base_, r.to, *r.replaced));
  }

  power_off_ = false;
  injections_.clear();
  space_limit_ = 0;
  files_.clear();
  pending_renames_.clear();
  last_append_.reset();
  return first_error;
}

bool FaultInjectionFileSystem::power_is_off() const {
  std::lock_guard<std::mutex> guard(mu_);
  return power_off_;
}

void FaultInjectionFileSystem::fail_next(FaultOp op, FaultError error, uint32_t skip, uint32_t times,
                                         std::string_view path_part) {
  if (times == 0) return;
  std::lock_guard<std::mutex> guard(mu_);
  injections_.push_back(Injection{op, error, skip, times, std::string(path_part)});
}

void FaultInjectionFileSystem::set_tear_scope(std::string_view path_part) {
  std::lock_guard<std::mutex> guard(mu_);
  tear_scope_ = std::string(path_part);
  last_append_.reset();
}

void FaultInjectionFileSystem::set_space_limit(uint64_t bytes) {
  std::lock_guard<std::mutex> guard(mu_);
  space_limit_ = bytes;
}

void FaultInjectionFileSystem::clear_faults() {
  std::lock_guard<std::mutex> guard(mu_);
  injections_.clear();
  space_limit_ = 0;
}

uint64_t FaultInjectionFileSystem::sync_count() const {
  std::lock_guard<std::mutex> guard(mu_);
  return sync_count_;
}

Status FaultInjectionFileSystem::take_fault(FaultOp op, const std::string& path) {
  // Injections for one op are served in the order they were armed.
  auto it = std::find_if(injections_.begin(), injections_.end(), [&](const Injection& i) {
    return i.op == op && path.find(i.path_part) != std::string::npos;
  });
  if (it == injections_.end()) return Status::OK();
  if (it->skip > 0) {
    it->skip--;
    return Status::OK();
  }
  const FaultError error = it->error;
  if (--it->times == 0) injections_.erase(it);
  std::string msg = std::string(OpName(op)) + " " + path;
  if (error == FaultError::kENOSPC) return Status::NoSpace(msg + ": injected ENOSPC");
  return Status::IOError(msg + ": injected EIO");
}

uint64_t FaultInjectionFileSystem::total_size_locked() const {
  uint64_t total = 0;
  for (const auto& [path, state] : files_) {
    Result<uint64_t> size = base_->file_size(path);
    if (size.ok()) total += *size;
  }
  return total;
}

// --- FileSystem ---

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::new_writable_file(const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(p);
  SP_RETURN_IF_ERROR(take_fault(FaultOp::kCreate, p));
  // Truncating a file whose directory entry is already durable is not a creation.
  auto tracked = files_.find(p);
  const bool durable = base_->file_exists(p) && (tracked == files_.end() || tracked->second.creation_durable);
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> base_file, base_->new_writable_file(p));
  files_[p] = FileState{0, durable};
  if (last_append_.has_value() && last_append_->path == p) last_append_.reset();  // those bytes are gone
  auto file = std::make_unique<File>(this, p, std::move(base_file));
  open_files_.insert(file.get());
  return std::unique_ptr<WritableFile>(std::move(file));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::reopen_writable_file(
    const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(p);
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> base_file, base_->reopen_writable_file(p));
  // A file not written through this wrapper is taken as durable as it stands.
  files_.try_emplace(p, FileState{base_file->size(), true});
  auto file = std::make_unique<File>(this, p, std::move(base_file));
  open_files_.insert(file.get());
  return std::unique_ptr<WritableFile>(std::move(file));
}

Status FaultInjectionFileSystem::read_file(const std::string& path, std::string* contents) {
  if (power_is_off()) return PowerOff(path);
  return base_->read_file(path, contents);
}

Result<std::unique_ptr<RandomAccessFile>> FaultInjectionFileSystem::new_random_access_file(
    const std::string& path) {
  if (power_is_off()) return PowerOff(path);
  return base_->new_random_access_file(path);
}

Result<uint64_t> FaultInjectionFileSystem::file_size(const std::string& path) {
  if (power_is_off()) return PowerOff(path);
  return base_->file_size(path);
}

bool FaultInjectionFileSystem::file_exists(const std::string& path) {
  if (power_is_off()) return false;
  return base_->file_exists(path);
}

Result<std::vector<std::string>> FaultInjectionFileSystem::list_dir(const std::string& dir) {
  if (power_is_off()) return PowerOff(dir);
  return base_->list_dir(dir);
}

Status FaultInjectionFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(dir);
  return base_->create_dirs(dir);
}

Status FaultInjectionFileSystem::remove_file(const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(p);
  SP_RETURN_IF_ERROR(take_fault(FaultOp::kRemove, p));
  SP_RETURN_IF_ERROR(base_->remove_file(p));
  files_.erase(p);
  for (File* f : open_files_) {
    if (f->path_ == p) f->detached_ = true;
  }
  if (last_append_.has_value() && last_append_->path == p) last_append_.reset();
  return Status::OK();
}

Status FaultInjectionFileSystem::rename_file(const std::string& from, const std::string& to) {
  const std::string f = NormalizePath(from);
  const std::string t = NormalizePath(to);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(t);
  SP_RETURN_IF_ERROR(take_fault(FaultOp::kRename, f + " -> " + t));
  if (f == t) return base_->rename_file(f, t);

  // Remember the durable part of the file being replaced, to put it back if the rename is undone.
  std::optional<std::string> replaced;
  if (base_->file_exists(t)) {
    auto tracked = files_.find(t);
    if (tracked == files_.end() || tracked->second.creation_durable) {
      std::string contents;
      if (base_->read_file(t, &contents).ok()) {
        if (tracked != files_.end() && contents.size() > tracked->second.synced_size) {
          contents.resize(static_cast<size_t>(tracked->second.synced_size));
        }
        replaced = std::move(contents);
      }
    }
  }
  SP_RETURN_IF_ERROR(base_->rename_file(f, t));

  files_.erase(t);
  if (auto node = files_.extract(f); !node.empty()) {
    node.key() = t;
    files_.insert(std::move(node));
  }
  for (File* file : open_files_) {
    if (file->path_ == t) file->detached_ = true;  // its file was replaced
  }
  for (File* file : open_files_) {
    if (file->path_ == f && !file->detached_) file->path_ = t;
  }
  if (last_append_.has_value()) {
    if (last_append_->path == t) {
      last_append_.reset();
    } else if (last_append_->path == f) {
      last_append_->path = t;
    }
  }
  pending_renames_[DirName(t)].push_back(PendingRename{f, t, next_rename_seq_++, std::move(replaced)});
  return Status::OK();
}

Status FaultInjectionFileSystem::truncate_file(const std::string& path, uint64_t size) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(p);
  SP_RETURN_IF_ERROR(take_fault(FaultOp::kTruncate, p));
  SP_RETURN_IF_ERROR(base_->truncate_file(p, size));
  if (auto it = files_.find(p); it != files_.end()) it->second.synced_size = size;
  if (last_append_.has_value() && last_append_->path == p) {
    if (size <= last_append_->offset) {
      last_append_.reset();
    } else {
      last_append_->length = std::min(last_append_->length, size - last_append_->offset);
    }
  }
  return Status::OK();
}

Status FaultInjectionFileSystem::sync_dir(const std::string& dir) {
  const std::string d = NormalizePath(dir);
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(d);
  SP_RETURN_IF_ERROR(take_fault(FaultOp::kSyncDir, d));
  SP_RETURN_IF_ERROR(base_->sync_dir(d));
  for (auto& [path, state] : files_) {
    if (DirName(path) == d) state.creation_durable = true;
  }
  pending_renames_.erase(d);
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> FaultInjectionFileSystem::lock_file(const std::string& path) {
  std::lock_guard<std::mutex> guard(mu_);
  if (power_off_) return PowerOff(path);
  return base_->lock_file(path);
}

}  // namespace savepoint
