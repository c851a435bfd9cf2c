#include "tools/crashtest/model.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <set>

namespace savepoint::crashtest {

// ---------------------------------------------------------------------------------------------- CycleLog

bool CycleLog::feed(const std::string& text) {
  Line line;
  if (!ParseLine(text, &line)) {
    error_ = "malformed report line: " + text.substr(0, 200);
    return false;
  }
  switch (line.type) {
    case 'X':
      armed_point_ = line.text;
      return true;
    case 'B':
      started_ = true;
      start_coalesce_ = line.number;
      return true;
    case 'E':
      child_error_ = line.text;
      return true;
    case 'S':
      if (line.text == "B") {
        background_saves_++;
      } else if (line.text == "S") {
        sync_saves_++;
      } else {
        busy_saves_++;
      }
      return true;
    case 'I':
      if (pending_.has_value()) {
        // The previous commit failed without being refused cleanly: it may have happened.
        if (!maybe_.has_value()) {
          maybe_ = std::move(pending_);
        } else {
          attempts_after_maybe_++;
        }
      }
      pending_ = std::move(line.commit);
      return true;
    case 'N':
      if (!pending_.has_value() || pending_->seq != line.commit.seq) {
        error_ = "refusal of commit " + std::to_string(line.commit.seq) + " that was not attempted";
        return false;
      }
      pending_.reset();
      return true;
    case 'A': {
      if (!pending_.has_value() || pending_->seq != line.commit.seq) {
        error_ = "acknowledgement of commit " + std::to_string(line.commit.seq) + " that was not attempted";
        return false;
      }
      pending_.reset();
      if (maybe_.has_value()) {
        error_ = "commit " + std::to_string(line.commit.seq) + " (LSN " + std::to_string(line.commit.lsn) +
                 ") was acknowledged after commit " + std::to_string(maybe_->seq) +
                 " failed: a failed write must make every later one fail";
        return false;
      }
      acked_.push_back(std::move(line.commit));
      return true;
    }
    default:
      error_ = "unknown report line: " + text.substr(0, 200);
      return false;
  }
}

void CycleLog::finish() {
  if (!pending_.has_value()) return;
  if (!maybe_.has_value()) {
    maybe_ = std::move(pending_);
  } else {
    attempts_after_maybe_++;
  }
  pending_.reset();
}

// --------------------------------------------------------------------------------------------- checking

namespace {

std::string RowText(const Row* r) {
  if (r == nullptr) return "(absent)";
  std::string v = r->value.size() > 24 ? r->value.substr(0, 24) + "..." : r->value;
  if (r->expire_at != 0) v += " expire_at=" + std::to_string(r->expire_at);
  return v;
}

// `got` matches `want`, except that a key whose TTL had passed by the crash may be missing.
bool TablesMatch(const Table& want, const Table& got, uint64_t crash_micros) {
  for (const auto& [key, row] : got) {
    auto it = want.find(key);
    if (it == want.end() || !(it->second == row)) return false;
  }
  for (const auto& [key, row] : want) {
    if (got.count(key)) continue;
    if (row.expire_at == 0 || row.expire_at > crash_micros) return false;
  }
  return true;
}

bool DurableMatch(const State& want, const State& got, uint64_t crash_micros) {
  return TablesMatch(want.bank, got.bank, crash_micros) &&
         TablesMatch(want.wallet, got.wallet, crash_micros) &&
         TablesMatch(want.vault, got.vault, crash_micros) && want.chars == got.chars;
}

bool Touches(const CommitRecord& c, char ks, const std::string& key) {
  for (const Op& op : c.ops) {
    if (op.ks != ks) continue;
    if (op.kind == Op::Kind::kRemovePrefix
            ? key.starts_with(op.key)
            : (op.kind != Op::Kind::kRowPut && op.kind != Op::Kind::kRowRemove && op.key == key)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string DescribeGameDiff(const Game& want, const Game& got) {
  std::string out;
  auto line = [&](const std::string& s) { out += "\n    " + s; };
  for (const auto* key : {"lb"}) {
    const auto w = want.zsets.count(key) ? want.zsets.at(key) : std::map<std::string, double>{};
    const auto g = got.zsets.count(key) ? got.zsets.at(key) : std::map<std::string, double>{};
    if (w != g) line(std::string(key) + ": " + std::to_string(w.size()) + " members expected, " + std::to_string(g.size()) + " found");
    for (const auto& [m, score] : w) {
      if (!g.count(m)) {
        line(std::string(key) + "[" + m + "] missing");
      } else if (g.at(m) != score) {
        line(std::string(key) + "[" + m + "]: expected " + std::to_string(score) + ", got " + std::to_string(g.at(m)));
      }
    }
  }
  if (want.lists != got.lists) {
    auto size = [](const Game& x) { return x.lists.count("queue") ? x.lists.at("queue").size() : 0; };
    line("queue: " + std::to_string(size(want)) + " jobs expected, " + std::to_string(size(got)) + " found");
  }
  if (want.sets != got.sets) line("the sets differ");
  for (const auto& [key, w] : want.streams) {
    const GameStream g = got.streams.count(key) ? got.streams.at(key) : GameStream{};
    if (w.entries != g.entries) {
      line(key + ": " + std::to_string(w.entries.size()) + " entries expected, " + std::to_string(g.entries.size()) + " found");
    }
    if (w.last_delivered != g.last_delivered) {
      line(key + ": last delivered " + w.last_delivered.ToString() + " expected, " + g.last_delivered.ToString() + " found");
    }
    if (w.pending != g.pending) {
      line(key + ": " + std::to_string(w.pending.size()) + " pending expected, " + std::to_string(g.pending.size()) + " found");
    }
  }
  return out;
}

std::string DescribeDiff(const State& want, const State& got, size_t max_lines) {
  std::string out;
  size_t lines = 0;
  auto table = [&](const char* name, const Table& w, const Table& g) {
    std::set<std::string> keys;
    for (auto& [k, r] : w) keys.insert(k);
    for (auto& [k, r] : g) keys.insert(k);
    for (const std::string& k : keys) {
      auto wi = w.find(k);
      auto gi = g.find(k);
      const Row* wr = wi == w.end() ? nullptr : &wi->second;
      const Row* gr = gi == g.end() ? nullptr : &gi->second;
      if ((wr == nullptr) == (gr == nullptr) && (wr == nullptr || *wr == *gr)) continue;
      if (lines++ < max_lines) {
        out += std::string("\n    ") + name + "[" + k + "]: expected " + RowText(wr) + ", got " + RowText(gr);
      }
    }
  };
  table("bank", want.bank, got.bank);
  table("wallet", want.wallet, got.wallet);
  table("vault", want.vault, got.vault);
  table("positions", want.positions, got.positions);
  std::set<int64_t> ids;
  for (auto& [id, c] : want.chars) ids.insert(id);
  for (auto& [id, c] : got.chars) ids.insert(id);
  for (int64_t id : ids) {
    auto wi = want.chars.find(id);
    auto gi = got.chars.find(id);
    auto text = [](auto it, auto end) {
      return it == end ? std::string("(absent)")
                       : it->second.name + "/level " + std::to_string(it->second.level);
    };
    if (text(wi, want.chars.end()) == text(gi, got.chars.end())) continue;
    if (lines++ < max_lines) {
      out += "\n    characters[" + std::to_string(id) + "]: expected " + text(wi, want.chars.end()) +
             ", got " + text(gi, got.chars.end());
    }
  }
  if (lines > max_lines) out += "\n    ... " + std::to_string(lines - max_lines) + " more";
  return out;
}

std::string VerifyRecovery(const State& base, const CycleLog& log, const Recovered& got) {
  const std::vector<CommitRecord>& acked = log.acked();
  const uint64_t k = got.last_lsn;
  const std::string at = " (recovered last LSN " + std::to_string(k) + ")";

  uint64_t prev = 0;
  for (const CommitRecord& c : acked) {
    if (c.lsn == 0) continue;
    if (c.lsn <= prev) {
      return "acknowledged commit " + std::to_string(c.seq) + " has LSN " + std::to_string(c.lsn) +
             ", not above the previous acknowledged LSN " + std::to_string(prev);
    }
    prev = c.lsn;
  }
  for (const CommitRecord& c : acked) {
    if (c.sync && c.lsn > k) {
      return "acknowledged sync commit " + std::to_string(c.seq) + " (LSN " + std::to_string(c.lsn) +
             ") was lost" + at;
    }
  }

  // Durable keyspaces: exactly the acknowledged commits with LSN <= K, perhaps plus the one in flight.
  State want = base;
  bool all_in = true;
  for (const CommitRecord& c : acked) {
    if (c.lsn != 0 && c.lsn <= k) {
      Apply(&want, c.ops);
    } else if (c.lsn > k) {
      all_in = false;
    }
  }
  bool durable_ok = DurableMatch(want, got.state, got.crash_micros);
  if (!durable_ok && log.maybe().has_value() && all_in) {
    State with_maybe = want;
    Apply(&with_maybe, log.maybe()->ops);
    durable_ok = DurableMatch(with_maybe, got.state, got.crash_micros);
  }
  if (!durable_ok) {
    State shown = want;
    shown.positions = got.state.positions;  // checked below
    std::string msg =
        "durable keyspaces are not the state after exactly the acknowledged commits with LSN <= " +
        std::to_string(k) + " (" + std::to_string(acked.size()) + " acknowledged" +
        (log.maybe().has_value() ? ", commit " + std::to_string(log.maybe()->seq) + " in flight" : "") +
        "):" + DescribeDiff(shown, got.state);
    // Which commits wrote the first differing plain keys.
    int shown_keys = 0;
    for (char ks : {'b', 'w', 'c'}) {
      const Table& w = ks == 'b' ? want.bank : ks == 'w' ? want.wallet : want.vault;
      const Table& g = ks == 'b' ? got.state.bank : ks == 'w' ? got.state.wallet : got.state.vault;
      std::set<std::string> keys;
      for (auto& [kk, r] : w) keys.insert(kk);
      for (auto& [kk, r] : g) keys.insert(kk);
      for (const std::string& key : keys) {
        auto wi = w.find(key);
        auto gi = g.find(key);
        if ((wi == w.end()) == (gi == g.end()) && (wi == w.end() || wi->second == gi->second)) continue;
        if (shown_keys++ >= 3) break;
        msg += std::string("\n    writes of ") +
               (ks == 'b'   ? "bank["
                : ks == 'w' ? "wallet["
                            : "vault[") +
               key + "]:";
        for (const CommitRecord& c : acked) {
          if (Touches(c, ks, key)) msg += " #" + std::to_string(c.seq) + "@" + std::to_string(c.lsn);
        }
        if (log.maybe().has_value() && Touches(*log.maybe(), ks, key)) msg += " in-flight";
      }
    }
    return msg;
  }

  // Coalesced keyspace: the state after some prefix [0, j) of the commits, floor <= j <= P.
  const size_t n = acked.size();
  size_t p = n;
  for (size_t i = 0; i < n; i++) {
    if (acked[i].lsn > k) {
      p = i;
      break;
    }
  }
  // A coalescing observed between the reads after commits q and s - 1 logged the state after at least
  // commits [0, q]; the acknowledged sync commit s, logged after it, made it durable.
  auto cc = [&](long i) {
    return i < 0 ? log.start_coalesce_count() : acked[static_cast<size_t>(i)].coalesce_count;
  };
  size_t floor = 0;
  for (size_t s = 0; s < n; s++) {
    if (!acked[s].sync) continue;
    const uint64_t before = cc(static_cast<long>(s) - 1);
    for (long q = static_cast<long>(s) - 2; q >= -1; q--) {
      if (cc(q) < before) {
        floor = std::max(floor, static_cast<size_t>(q + 1));
        break;
      }
    }
  }
  if (floor > p) {
    return "coalesced keyspace: a coalescing after commit " + std::to_string(floor) +
           " was made durable by a later acknowledged sync commit, but the log ends before commit " +
           std::to_string(p + 1) + at;
  }
  bool positions_ok = false;
  Table s = base.positions;
  for (size_t j = 0; j <= p && !positions_ok; j++) {
    if (j > 0) ApplyPositions(&s, acked[j - 1].ops);
    positions_ok = j >= floor && s == got.state.positions;
  }
  if (!positions_ok && p == n && log.maybe().has_value()) {
    ApplyPositions(&s, log.maybe()->ops);
    positions_ok = s == got.state.positions;
  }
  if (!positions_ok) {
    // Diagnosis: the prefixes it equals, if any, and the allowed prefix it is closest to.
    auto distance = [&](const Table& t) {
      size_t d = 0;
      for (auto& [key, row] : t)
        d += got.state.positions.count(key) && got.state.positions.at(key) == row ? 0 : 1;
      for (auto& [key, row] : got.state.positions) d += t.count(key) ? 0 : 1;
      return d;
    };
    std::string matches;
    Table t = base.positions, closest;
    size_t closest_j = 0, closest_d = SIZE_MAX;
    for (size_t j = 0; j <= n; j++) {
      if (j > 0) ApplyPositions(&t, acked[j - 1].ops);
      const size_t d = distance(t);
      if (d == 0) matches += " " + std::to_string(j);
      if (j >= floor && j <= p && d < closest_d) {
        closest_d = d;
        closest_j = j;
        closest = t;
      }
    }
    State w, g;
    w.positions = closest;
    g.positions = got.state.positions;
    return "coalesced keyspace is the state after no prefix of commits between " + std::to_string(floor) +
           " and " + std::to_string(p) + at +
           " (it equals the prefixes:" + (matches.empty() ? " none" : matches) +
           "); against the closest allowed one, after " + std::to_string(closest_j) +
           " commits:" + DescribeDiff(w, g);
  }

  // The game: every structures write is a sync commit, so every acknowledged one is there, the one in
  // flight perhaps, and nothing else (their order is the order of the acknowledgements).
  Game game = base.game;
  for (const CommitRecord& c : acked) ApplyGame(&game, c.ops);
  bool game_ok = game == got.state.game;
  if (!game_ok && log.maybe().has_value()) {
    Game with_maybe = game;
    ApplyGame(&with_maybe, log.maybe()->ops);
    game_ok = with_maybe == got.state.game;
  }
  if (!game_ok) {
    return "the game's structures are not the state after every acknowledged structures write" +
           std::string(log.maybe().has_value() ? " (with or without the one in flight)" : "") + ":" +
           DescribeGameDiff(game, got.state.game);
  }

  if (got.sessions != 0)
    return "volatile keyspace holds " + std::to_string(got.sessions) + " keys after a restart";
  const int64_t gold = GoldTotal(got.state);
  if (gold != kGoldKeys * kGoldEach) {
    return "gold is not conserved: " + std::to_string(gold) + " instead of " +
           std::to_string(kGoldKeys * kGoldEach);
  }
  return "";
}

std::string VerifySnapshotState(const State& base, const CycleLog& log, uint64_t lsn, const State& got,
                                uint64_t crash_micros) {
  const std::vector<CommitRecord>& acked = log.acked();
  const size_t n = acked.size();
  // The snapshot holds acked[0, j) for some lo <= j <= hi: lo is after the last commit with an LSN it must
  // hold, hi at the first commit it must not hold.
  size_t lo = 0, hi = n;
  for (size_t i = 0; i < n; i++) {
    if (acked[i].lsn != 0 && acked[i].lsn <= lsn) lo = i + 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (acked[i].lsn > lsn) {
      hi = i;
      break;
    }
  }
  // Unless the snapshot ends exactly at that last commit: then nothing after it is in.
  const bool ends_at_lo = lo > 0 && acked[lo - 1].lsn == lsn;
  if (ends_at_lo) hi = std::min(hi, lo);
  const std::string at = " (snapshot LSN " + std::to_string(lsn) + ")";
  if (lo > hi) {
    return "acknowledged commit " + std::to_string(acked[hi].seq) + " (LSN " + std::to_string(acked[hi].lsn) +
           ") comes before commit " + std::to_string(acked[lo - 1].seq) + " (LSN " +
           std::to_string(acked[lo - 1].lsn) + ")" + at;
  }
  auto matches = [&](const State& want) {
    return DurableMatch(want, got, crash_micros) && want.game == got.game;
  };
  State want = base;
  for (size_t i = 0; i < lo; i++) {
    Apply(&want, acked[i].ops);
    ApplyGame(&want.game, acked[i].ops);
  }
  const State at_lo = want;
  for (size_t j = lo; j <= hi; j++) {
    if (j > lo) {
      Apply(&want, acked[j - 1].ops);
      ApplyGame(&want.game, acked[j - 1].ops);
    }
    if (matches(want)) return "";
  }
  if (hi == n && !ends_at_lo && log.maybe().has_value()) {
    Apply(&want, log.maybe()->ops);
    ApplyGame(&want.game, log.maybe()->ops);
    if (matches(want)) return "";
  }
  State shown = at_lo;
  shown.positions = got.positions;  // not checked
  return "the snapshot is not the state after the acknowledged commits up to LSN " + std::to_string(lsn) +
         " (it must hold the first " + std::to_string(lo) + " and none of the last " +
         std::to_string(n - hi) + " of the " + std::to_string(n) + " acknowledged commits" +
         (log.maybe().has_value() ? "; one more in flight" : "") + ")" + at + "; against the first " +
         std::to_string(lo) + ":" + DescribeDiff(shown, got) + DescribeGameDiff(at_lo.game, got.game);
}

}  // namespace savepoint::crashtest
