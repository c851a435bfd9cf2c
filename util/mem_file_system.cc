// NewMemFileSystem(): an in-memory tree for fast tests. It mirrors the POSIX rules tests depend on: a file
// can only be created in an existing directory, an open file keeps writing to its contents after a rename
// or a removal (as to an inode), and a second lock on a path is Busy. sync() and sync_dir() are no-ops:
// durability is the FaultInjectionFileSystem's business.
//
// Thread-safety: one mutex guards the whole tree, including every file's contents.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "savepoint/file_system.h"

namespace savepoint {

namespace {


struct Tree {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<std::string>> files;  // normalized path -> contents
  std::set<std::string> dirs{"/", "."};
  std::set<std::string> locked;

  // REQUIRES: mu held.
  Status check_parent(const std::string& path) const {
    std::string parent = DirName(path);
    if (dirs.count(parent) == 0) return Status::NotFound(path + ": directory " + parent + " does not exist");
    return Status::OK();
  }
};

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::shared_ptr<Tree> tree, std::string path, std::shared_ptr<std::string> contents)
      : tree_(std::move(tree)), path_(std::move(path)), contents_(std::move(contents)) {}

  Status append(std::string_view data) override {
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (closed_) return Status::IOError(path_ + ": append after close");
    contents_->append(data);
    return Status::OK();
  }
  Status sync() override {
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (closed_) return Status::IOError(path_ + ": sync after close");
    return Status::OK();
  }
  Status close() override {
    std::lock_guard<std::mutex> guard(tree_->mu);
    closed_ = true;
    return Status::OK();
  }
  uint64_t size() const override {
    std::lock_guard<std::mutex> guard(tree_->mu);
    return contents_->size();
  }

 private:
  const std::shared_ptr<Tree> tree_;
  const std::string path_;
  const std::shared_ptr<std::string> contents_;
  bool closed_ = false;
};

class MemFileLock final : public FileLock {
 public:
  MemFileLock(std::shared_ptr<Tree> tree, std::string path)
      : tree_(std::move(tree)), path_(std::move(path)) {}
  ~MemFileLock() override {
    std::lock_guard<std::mutex> guard(tree_->mu);
    tree_->locked.erase(path_);
  }

 private:
  const std::shared_ptr<Tree> tree_;
  const std::string path_;
};

class MemFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    SP_RETURN_IF_ERROR(check_creatable(p));
    auto& contents = tree_->files[p];
    if (contents == nullptr) {
      contents = std::make_shared<std::string>();
    } else {
      contents->clear();  // O_TRUNC: writers still holding the old file see it emptied too
    }
    return std::unique_ptr<WritableFile>(new MemWritableFile(tree_, p, contents));
  }

  Result<std::unique_ptr<WritableFile>> reopen_writable_file(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    auto it = tree_->files.find(p);
    if (it == tree_->files.end()) return not_found(p);
    return std::unique_ptr<WritableFile>(new MemWritableFile(tree_, p, it->second));
  }

  Status read_file(const std::string& path, std::string* contents) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    auto it = tree_->files.find(p);
    if (it == tree_->files.end()) return not_found(p);
    *contents = *it->second;
    return Status::OK();
  }

  Result<uint64_t> file_size(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    auto it = tree_->files.find(p);
    if (it == tree_->files.end()) return not_found(p);
    return static_cast<uint64_t>(it->second->size());
  }

  bool file_exists(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    return tree_->files.count(p) != 0 || tree_->dirs.count(p) != 0;
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (tree_->dirs.count(d) == 0) {
      if (tree_->files.count(d) != 0) return Status::IOError(d + ": not a directory");
      return not_found(d);
    }
    std::vector<std::string> names;
    auto add_children = [&](const std::string& p) {
      if (p != d && DirName(p) == d) names.push_back(p.substr(p.rfind('/') + 1));
    };
    for (const auto& [p, contents] : tree_->files) add_children(p);
    for (const auto& p : tree_->dirs) add_children(p);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_dirs(const std::string& dir) override {
    std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> guard(tree_->mu);
    // Every prefix ending before a '/', then the whole path (mkdir -p).
    for (size_t pos = d.find('/', 1);; pos = d.find('/', pos + 1)) {
      std::string prefix = d.substr(0, pos);
      if (tree_->files.count(prefix) != 0) return Status::IOError(prefix + ": exists and is not a directory");
      tree_->dirs.insert(prefix);
      if (pos == std::string::npos) break;
    }
    return Status::OK();
  }

  Status remove_file(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (tree_->files.erase(p) == 0) {
      if (tree_->dirs.count(p) != 0) return Status::IOError(p + ": is a directory");
      return not_found(p);
    }
    return Status::OK();
  }

  Status rename_file(const std::string& from, const std::string& to) override {
    std::string f = NormalizePath(from);
    std::string t = NormalizePath(to);
    std::lock_guard<std::mutex> guard(tree_->mu);
    auto it = tree_->files.find(f);
    if (it == tree_->files.end()) return not_found("rename " + f + " -> " + t + ": " + f);
    if (f == t) return Status::OK();
    SP_RETURN_IF_ERROR(check_creatable(t).WithContext("rename " + f + " -> " + t));
    std::shared_ptr<std::string> contents = std::move(it->second);
    tree_->files.erase(it);
    tree_->files[t] = std::move(contents);
    return Status::OK();
  }

  Status truncate_file(const std::string& path, uint64_t size) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    auto it = tree_->files.find(p);
    if (it == tree_->files.end()) return not_found(p);
    it->second->resize(static_cast<size_t>(size), '\0');  // as truncate(2): growing zero-fills
    return Status::OK();
  }

  Status sync_dir(const std::string& dir) override {
    std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (tree_->dirs.count(d) == 0) return not_found(d);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> guard(tree_->mu);
    if (tree_->locked.count(p) != 0) return Status::Busy(p + " is held by this process");
    if (tree_->files.count(p) == 0) {
      SP_RETURN_IF_ERROR(check_creatable(p));
      tree_->files[p] = std::make_shared<std::string>();
    }
    tree_->locked.insert(p);
    return std::unique_ptr<FileLock>(new MemFileLock(tree_, p));
  }

 private:
  static Status not_found(const std::string& path) { return Status::NotFound(path + ": no such file"); }

  // A regular file may be created at `path`. REQUIRES: tree_->mu held.
  Status check_creatable(const std::string& path) const {
    if (tree_->dirs.count(path) != 0) return Status::IOError(path + ": is a directory");
    return tree_->check_parent(path);
  }

  const std::shared_ptr<Tree> tree_ = std::make_shared<Tree>();
};

}  // namespace

std::unique_ptr<FileSystem> NewMemFileSystem() { return std::make_unique<MemFileSystem>(); }

}  // namespace savepoint
