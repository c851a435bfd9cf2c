#include "wal/timeline_history.h"

#include <charconv>
#include <cstdio>
#include <limits>

#include "util/coding.h"

namespace savepoint::wal {

namespace {

template <typename T>
bool ParseDecimal(std::string_view s, T* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string HistoryFileName(Timeline timeline) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x.history", timeline);
  return buf;
}

std::optional<Timeline> ParseHistoryFileName(std::string_view name) {
  if (name.size() != 8 + kHistorySuffix.size() || name.substr(8) != kHistorySuffix) return std::nullopt;
  uint64_t v = 0;
  if (!ParseLowerHex(name.substr(0, 8), &v)) return std::nullopt;
  if (v < 2) return std::nullopt;  // timeline 1 has no history
  return static_cast<Timeline>(v);
}

std::string EncodeHistory(const TimelineHistory& history) {
  std::string out = "# savepoint timeline history of timeline " + std::to_string(history.timeline) + "\n";
  out += "# parent timeline, branch LSN, recovery time (us since the epoch), recovery target\n";
  for (const TimelineBranch& b : history.branches) {
    std::string target = b.target;
    for (char& c : target) {
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    }
    out += std::to_string(b.parent) + "\t" + std::to_string(b.branch_lsn) + "\t" + std::to_string(b.micros) +
           "\t" + target + "\n";
  }
  return out;
}

Status DecodeHistory(Timeline timeline, std::string_view text, TimelineHistory* history) {
  history->timeline = timeline;
  history->branches.clear();
  size_t line_no = 0;
  while (!text.empty()) {
    line_no++;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::string_view fields[4];
    for (int i = 0; i < 3; i++) {
      size_t tab = line.find('\t');
      if (tab == std::string_view::npos) {
        return Status::Corruption("history of timeline " + std::to_string(timeline) + " line " +
                                  std::to_string(line_no) + ": expected 4 tab-separated fields");
      }
      fields[i] = line.substr(0, tab);
      line.remove_prefix(tab + 1);
    }
    fields[3] = line;
    TimelineBranch b;
    if (!ParseDecimal(fields[0], &b.parent) || !ParseDecimal(fields[1], &b.branch_lsn) ||
        !ParseDecimal(fields[2], &b.micros) || b.parent == 0 || b.parent == timeline) {
      return Status::Corruption("history of timeline " + std::to_string(timeline) + " line " +
                                std::to_string(line_no) + ": bad parent timeline, branch LSN or time");
    }
    if (!history->branches.empty() && b.branch_lsn < history->branches.back().branch_lsn) {
      return Status::Corruption("history of timeline " + std::to_string(timeline) + " line " +
                                std::to_string(line_no) + ": branch LSNs go backwards");
    }
    for (const TimelineBranch& earlier : history->branches) {
      if (earlier.parent == b.parent) {
        return Status::Corruption("history of timeline " + std::to_string(timeline) + " line " +
                                  std::to_string(line_no) + ": timeline " + std::to_string(b.parent) +
                                  " appears twice");
      }
    }
    b.target = std::string(fields[3]);
    history->branches.push_back(std::move(b));
  }
  if (timeline != 1 && history->branches.empty()) {
    return Status::Corruption("history of timeline " + std::to_string(timeline) + " has no branch");
  }
  return Status::OK();
}

std::vector<TimelineLeg> PathOf(const TimelineHistory& history) {
  std::vector<TimelineLeg> legs;
  Lsn first = 1;
  for (const TimelineBranch& b : history.branches) {
    legs.push_back({b.parent, first, b.branch_lsn});
    first = b.branch_lsn + 1;
  }
  legs.push_back({history.timeline, first, std::numeric_limits<Lsn>::max()});
  return legs;
}

Status WriteHistoryFile(FileSystem* fs, const std::string& dir, const TimelineHistory& history) {
  const std::string text = EncodeHistory(history);
  const std::string path = JoinPath(dir, HistoryFileName(history.timeline));
  SP_RETURN_IF_ERROR(fs->create_dirs(dir));
  if (fs->file_exists(path)) {
    std::string existing;
    SP_RETURN_IF_ERROR(fs->read_file(path, &existing));
    if (existing == text) return Status::OK();
    return Status::InvalidArgument(path + " already exists with a different history; timeline " +
                                   std::to_string(history.timeline) + " is taken");
  }
  const std::string temp = path + ".tmp";
  SP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs->new_writable_file(temp));
  Status s = f->append(text);
  if (s.ok()) s = f->sync();
  Status c = f->close();
  if (s.ok()) s = c;
  if (s.ok()) s = fs->rename_file(temp, path);
  if (s.ok()) s = fs->sync_dir(dir);
  if (!s.ok()) {
    (void)fs->remove_file(temp);
    return s.WithContext("writing " + path);
  }
  return Status::OK();
}

Result<std::map<Timeline, TimelineHistory>> ReadHistoryFiles(FileSystem* fs, const std::string& dir) {
  std::map<Timeline, TimelineHistory> out;
  if (!fs->file_exists(dir)) return out;
  SP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(dir));
  for (const std::string& name : names) {
    auto tl = ParseHistoryFileName(name);
    if (!tl) continue;
    std::string text;
    SP_RETURN_IF_ERROR(fs->read_file(JoinPath(dir, name), &text));
    TimelineHistory h;
    Status s = DecodeHistory(*tl, text, &h);
    if (!s.ok()) return s.WithContext(JoinPath(dir, name));
    out[*tl] = std::move(h);
  }
  return out;
}

}  // namespace savepoint::wal
