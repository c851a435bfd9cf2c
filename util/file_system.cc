// Path helpers shared by every FileSystem implementation.
#include "savepoint/file_system.h"

namespace savepoint {

namespace {

// The default RandomAccessFile: the whole file, read once.
class StringRandomAccessFile final : public RandomAccessFile {
 public:
  explicit StringRandomAccessFile(std::string contents) : contents_(std::move(contents)) {}
  Status read(uint64_t offset, size_t n, std::string* out) const override {
    out->clear();
    if (offset < contents_.size()) out->assign(contents_, static_cast<size_t>(offset), n);
    return Status::OK();
  }
  uint64_t size() const override { return contents_.size(); }

 private:
  const std::string contents_;
};

}  // namespace

Result<std::unique_ptr<RandomAccessFile>> FileSystem::new_random_access_file(const std::string& path) {
  std::string contents;
  SP_RETURN_IF_ERROR(read_file(path, &contents));
  return std::unique_ptr<RandomAccessFile>(new StringRandomAccessFile(std::move(contents)));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (name.empty()) return std::string(dir);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  std::string out(dir);
  if (out.back() != '/') out += '/';  // dir == "/" already ends with one
  out += name;
  return out;
}

std::string DirName(std::string_view path) {
  // As dirname(3): trailing slashes do not count, repeated separators collapse.
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  std::string_view parent = path.substr(0, slash);
  while (!parent.empty() && parent.back() == '/') parent.remove_suffix(1);
  if (parent.empty()) return "/";
  return std::string(parent);
}

std::string NormalizePath(std::string_view path) {
  const bool absolute = !path.empty() && path.front() == '/';
  std::string out = absolute ? "/" : "";
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    if (!part.empty() && part != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += part;
    }
    pos = end + 1;
  }
  return out.empty() ? "." : out;
}

}  // namespace savepoint
