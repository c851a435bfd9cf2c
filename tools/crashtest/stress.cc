// The crash torture workload: the data set, the seeded operations, the report protocol and the child mode
// (see stress.h).
#include "tools/crashtest/stress.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>

#include "savepoint/clock.h"
#include "savepoint/crash_point.h"

namespace savepoint::crashtest {

namespace {

KeyspaceOptions BankOptions() {
  KeyspaceOptions o;
  o.durability = Durability::kSync;
  return o;
}
KeyspaceOptions WalletOptions() { return KeyspaceOptions{}; }
KeyspaceOptions PositionsOptions() {
  KeyspaceOptions o;
  o.persistence = Persistence::kCoalesced;
  o.coalesce_interval = std::chrono::milliseconds(200);
  return o;
}
KeyspaceOptions VaultOptions() {
  KeyspaceOptions o;
  o.residency = Residency::kCached;
  o.cache_bytes = 2048;  // a few rows: most reads miss
  return o;
}
KeyspaceOptions SessionsOptions() {
  KeyspaceOptions o;
  o.persistence = Persistence::kVolatile;
  return o;
}

std::string GoldKey(int i) { return "gold:" + std::to_string(i); }
std::string PlainKey(int i) { return "k" + std::to_string(i); }
std::string Name(int i) { return "n" + std::to_string(i); }

Table* TableOf(State* s, char ks) {
  switch (ks) {
    case 'b':
      return &s->bank;
    case 'w':
      return &s->wallet;
    case 'p':
      return &s->positions;
    case 'c':
      return &s->vault;
    default:
      return nullptr;  // sessions: volatile, not modelled
  }
}


void ApplyToTable(Table* t, const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut:
      (*t)[op.key] = Row{op.value, op.expire_at};
      break;
    case Op::Kind::kRemove:
      t->erase(op.key);
      break;
    case Op::Kind::kRemovePrefix:
      for (auto it = t->lower_bound(op.key); it != t->end() && it->first.starts_with(op.key);)
        it = t->erase(it);
      break;
    default:
      break;
  }
}

Status ReadTable(Engine* engine, Keyspace* ks, Table* out) {
  out->clear();
  return engine->scan(ks, "", "", [&](std::string_view key, const Entry& e) {
    (*out)[std::string(key)] = Row{e.value->bytes, e.expire_at_micros};
    return true;
  });
}

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Op PutOp(char ks, std::string key, std::string value, uint64_t expire_at) {
  Op op;
  op.kind = Op::Kind::kPut;
  op.ks = ks;
  op.key = std::move(key);
  op.value = std::move(value);
  op.expire_at = expire_at;
  return op;
}

// --------------------------------------------------------------------------------------------- data set

Keyspace* Handles::keyspace(char ks) const {
  switch (ks) {
    case 'b':
      return bank;
    case 'w':
      return wallet;
    case 'p':
      return positions;
    case 's':
      return sessions;
    case 'c':
      return vault;
    default:
      return nullptr;
  }
}

Result<Handles> OpenDataSet(Engine* engine) {
  Handles h;
  SP_ASSIGN_OR_RETURN(h.bank, engine->create_keyspace("bank", BankOptions()));
  SP_ASSIGN_OR_RETURN(h.wallet, engine->create_keyspace("wallet", WalletOptions()));
  SP_ASSIGN_OR_RETURN(h.positions, engine->create_keyspace("positions", PositionsOptions()));
  SP_ASSIGN_OR_RETURN(h.sessions, engine->create_keyspace("sessions", SessionsOptions()));
  SP_ASSIGN_OR_RETURN(h.vault, engine->create_keyspace("vault", VaultOptions()));
  SP_ASSIGN_OR_RETURN(h.chars, CharRegistry::open(engine, "characters"));
  SP_ASSIGN_OR_RETURN(h.by_name,
                      h.chars->add_index<std::string>(
                          "by_name", [](const Character& c) { return std::vector<std::string>{c.name}; },
                          /*unique=*/true));
  SP_ASSIGN_OR_RETURN(h.by_level,
                      h.chars->add_index<int64_t>(
                          "by_level", [](const Character& c) { return std::vector<int64_t>{c.level}; },
                          /*unique=*/false));
  SP_ASSIGN_OR_RETURN(h.game, Structures::open(engine, "game"));
  return h;
}

Status CreateDataSet(const Options& options) {
  SP_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::open(options));
  Status s;
  {
    auto h = OpenDataSet(engine.get());
    if (!h.ok()) {
      s = h.status();
    } else {
      Transaction seed(Durability::kSync);
      for (int i = 0; i < kGoldKeys; i++) {
        seed.put(h->bank, GoldKey(i), std::to_string(kGoldEach));
        seed.put(h->wallet, GoldKey(i), "0");
      }
      s = engine->commit(seed).status();
      if (s.ok()) {
        s = h->game->xgroup_create("events", kEventsGroup, StreamId{0, 0}, /*mkstream=*/true, Durability::kSync);
      }
    }
  }
  Status c = engine->close();
  return s.ok() ? c : s;
}

// ------------------------------------------------------------------------------------------------ model

void Apply(State* state, const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    if (op.is_game()) continue;
    if (op.kind == Op::Kind::kRowPut) {
      state->chars[op.id] = op.row;
    } else if (op.kind == Op::Kind::kRowRemove) {
      state->chars.erase(op.id);
    } else if (Table* t = TableOf(state, op.ks)) {
      ApplyToTable(t, op);
    }
  }
}

void ApplyPositions(Table* positions, const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    if (op.ks == 'p' && op.kind != Op::Kind::kRowPut && op.kind != Op::Kind::kRowRemove) {
      ApplyToTable(positions, op);
    }
  }
}

void ApplyGame(Game* game, const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kZScore:
        game->zsets[op.key][op.value] = op.score;
        break;
      case Op::Kind::kZRem: {
        auto& z = game->zsets[op.key];
        z.erase(op.value);
        if (z.empty()) game->zsets.erase(op.key);  // an emptied key is deleted, as in Redis
        break;
      }
      case Op::Kind::kLPush:
        game->lists[op.key].push_back(op.value);
        break;
      case Op::Kind::kLPop: {
        auto& l = game->lists[op.key];
        if (!l.empty()) l.pop_front();
        if (l.empty()) game->lists.erase(op.key);
        break;
      }
      case Op::Kind::kSAdd:
        game->sets[op.key].insert(op.value);
        break;
      case Op::Kind::kSRem: {
        auto& set = game->sets[op.key];
        set.erase(op.value);
        if (set.empty()) game->sets.erase(op.key);
        break;
      }
      case Op::Kind::kXAdd:
        game->streams[op.key].entries[op.stream_id] = op.value;
        break;
      case Op::Kind::kXDeliver: {
        GameStream& st = game->streams[op.key];
        st.pending[op.stream_id] = op.consumer;
        st.last_delivered = std::max(st.last_delivered, op.stream_id);
        break;
      }
      case Op::Kind::kXAck:
        game->streams[op.key].pending.erase(op.stream_id);
        break;
      case Op::Kind::kXTrim: {
        auto& entries = game->streams[op.key].entries;
        for (uint64_t i = 0; i < op.count && !entries.empty(); i++) entries.erase(entries.begin());
        break;
      }
      default:
        break;
    }
  }
}

Status ReadGame(Structures* db, Game* out) {
  *out = Game{};
  auto bad = [](const std::string& what) { return Status::Corruption("game: " + what); };
  SP_ASSIGN_OR_RETURN(std::vector<std::string> keys, db->keys("*"));
  for (const std::string& key : keys) {
    SP_ASSIGN_OR_RETURN(StructureType type, db->type(key));
    SP_ASSIGN_OR_RETURN(int64_t ttl, db->pttl(key));
    if (ttl != -1) return bad("key " + key + " has a TTL");
    if (key == "lb") {
      if (type != StructureType::kZSet) return bad("lb is a " + std::string(StructureTypeName(type)));
      SP_ASSIGN_OR_RETURN(std::vector<ScoredMember> members, db->zrange(key, 0, -1));
      SP_ASSIGN_OR_RETURN(int64_t card, db->zcard(key));
      if (card != static_cast<int64_t>(members.size())) return bad("zcard of lb disagrees with zrange");
      auto& z = out->zsets[key];
      for (size_t i = 0; i < members.size(); i++) {
        const ScoredMember& m = members[i];
        if (i > 0 && !(members[i - 1].score < m.score ||
                       (members[i - 1].score == m.score && members[i - 1].member < m.member))) {
          return bad("zrange of lb is not in (score, member) order at rank " + std::to_string(i));
        }
        SP_ASSIGN_OR_RETURN(std::optional<int64_t> rank, db->zrank(key, m.member));
        SP_ASSIGN_OR_RETURN(std::optional<double> score, db->zscore(key, m.member));
        if (rank != static_cast<int64_t>(i) || score != m.score) {
          return bad("zrank/zscore of lb member " + m.member + " disagree with zrange");
        }
        z[m.member] = m.score;
      }
    } else if (key == "queue") {
      if (type != StructureType::kList) return bad("queue is a " + std::string(StructureTypeName(type)));
      SP_ASSIGN_OR_RETURN(std::vector<std::string> items, db->lrange(key, 0, -1));
      SP_ASSIGN_OR_RETURN(int64_t len, db->llen(key));
      if (len != static_cast<int64_t>(items.size()) || items.empty()) return bad("llen of queue disagrees with lrange");
      out->lists[key].assign(items.begin(), items.end());
    } else if (key == "online" || key.starts_with("guild:")) {
      if (type != StructureType::kSet) return bad(key + " is a " + std::string(StructureTypeName(type)));
      SP_ASSIGN_OR_RETURN(std::vector<std::string> members, db->smembers(key));
      SP_ASSIGN_OR_RETURN(int64_t card, db->scard(key));
      if (card != static_cast<int64_t>(members.size()) || members.empty()) return bad("scard of " + key + " disagrees");
      for (const std::string& m : members) {
        SP_ASSIGN_OR_RETURN(bool is_member, db->sismember(key, m));
        if (!is_member) return bad("sismember " + key + " " + m + " is false");
      }
      out->sets[key].insert(members.begin(), members.end());
    } else if (key == "events") {
      if (type != StructureType::kStream) return bad("events is a " + std::string(StructureTypeName(type)));
      GameStream& st = out->streams[key];
      SP_ASSIGN_OR_RETURN(std::vector<StreamEntry> entries, db->xrange(key, StreamId::Min(), StreamId::Max()));
      SP_ASSIGN_OR_RETURN(int64_t len, db->xlen(key));
      if (len != static_cast<int64_t>(entries.size())) return bad("xlen of events disagrees with xrange");
      for (const StreamEntry& e : entries) {
        if (e.fields.size() != 1 || e.fields[0].first != "e") return bad("entry " + e.id.ToString() + " is malformed");
        st.entries[e.id] = e.fields[0].second;
      }
      SP_ASSIGN_OR_RETURN(std::vector<StreamGroupInfo> groups, db->xinfo_groups(key));
      if (groups.size() != 1 || groups[0].name != kEventsGroup) return bad("events does not have exactly its group");
      st.last_delivered = groups[0].last_delivered;
      SP_ASSIGN_OR_RETURN(std::vector<PendingEntry> pel,
                          db->xpending_range(key, kEventsGroup, StreamId::Min(), StreamId::Max(), -1));
      SP_ASSIGN_OR_RETURN(PendingSummary summary, db->xpending(key, kEventsGroup));
      if (summary.count != pel.size() || groups[0].pending != pel.size()) {
        return bad("the pending counts of events disagree (xpending, xpending_range, xinfo_groups)");
      }
      for (const PendingEntry& p : pel) {
        if (p.id > st.last_delivered) return bad("pending entry " + p.id.ToString() + " was never delivered");
        st.pending[p.id] = p.consumer;
      }
    } else {
      return bad("unexpected key " + key);
    }
  }
  if (!out->streams.count("events")) return bad("the stream events is missing");
  SP_ASSIGN_OR_RETURN(uint64_t size, db->dbsize());
  if (size != keys.size()) return bad("dbsize " + std::to_string(size) + " for " + std::to_string(keys.size()) + " keys");
  return Status::OK();
}

int64_t GoldTotal(const State& state) {
  int64_t total = 0;
  for (const Table* t : {&state.bank, &state.wallet}) {
    for (const auto& [k, row] : *t) {
      if (k.starts_with("gold:")) total += std::stoll(row.value);
    }
  }
  return total;
}

Result<State> ReadState(Engine* engine, const Handles& h, uint64_t* sessions) {
  State s;
  SP_RETURN_IF_ERROR(ReadTable(engine, h.bank, &s.bank));
  SP_RETURN_IF_ERROR(ReadTable(engine, h.wallet, &s.wallet));
  SP_RETURN_IF_ERROR(ReadTable(engine, h.positions, &s.positions));
  SP_RETURN_IF_ERROR(ReadTable(engine, h.vault, &s.vault));
  SP_RETURN_IF_ERROR(h.chars->for_each([&](const int64_t& id, const std::shared_ptr<const Character>& c) {
    s.chars[id] = *c;
    return true;
  }));
  if (sessions != nullptr) {
    SP_ASSIGN_OR_RETURN(*sessions, engine->count(h.sessions));
  }
  SP_RETURN_IF_ERROR(ReadGame(h.game.get(), &s.game));
  return s;
}

// --------------------------------------------------------------------------------------------- protocol

std::string EncodeOps(const std::vector<Op>& ops) {
  std::string out = std::to_string(ops.size());
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut:
        out += " P " + std::string(1, op.ks) + " " + op.key + " " + op.value + " " +
               std::to_string(op.expire_at);
        break;
      case Op::Kind::kRemove:
        out += " D " + std::string(1, op.ks) + " " + op.key;
        break;
      case Op::Kind::kRemovePrefix:
        out += " X " + std::string(1, op.ks) + " " + op.key;
        break;
      case Op::Kind::kRowPut:
        out += " RP " + std::to_string(op.id) + " " + op.row.name + " " + std::to_string(op.row.level);
        break;
      case Op::Kind::kRowRemove:
        out += " RD " + std::to_string(op.id);
        break;
      case Op::Kind::kZScore: {
        char score[40];
        std::snprintf(score, sizeof score, "%.17g", op.score);
        out += " ZS " + op.key + " " + op.value + " " + score;
        break;
      }
      case Op::Kind::kZRem:
        out += " ZR " + op.key + " " + op.value;
        break;
      case Op::Kind::kLPush:
        out += " LP " + op.key + " " + op.value;
        break;
      case Op::Kind::kLPop:
        out += " LO " + op.key + " " + op.value;
        break;
      case Op::Kind::kSAdd:
        out += " SA " + op.key + " " + op.value;
        break;
      case Op::Kind::kSRem:
        out += " SR " + op.key + " " + op.value;
        break;
      case Op::Kind::kXAdd:
        out += " XA " + op.key + " " + op.stream_id.ToString() + " " + op.value;
        break;
      case Op::Kind::kXDeliver:
        out += " XD " + op.key + " " + op.group + " " + op.consumer + " " + op.stream_id.ToString();
        break;
      case Op::Kind::kXAck:
        out += " XK " + op.key + " " + op.group + " " + op.stream_id.ToString();
        break;
      case Op::Kind::kXTrim:
        out += " XT " + op.key + " " + std::to_string(op.count);
        break;
    }
  }
  return out;
}

std::string EncodeIntent(const CommitRecord& c) {
  return "I " + std::to_string(c.seq) + " " + EncodeOps(c.ops);
}

std::string EncodeAck(const CommitRecord& c) {
  return "A " + std::to_string(c.seq) + " " + std::to_string(c.lsn) + " " + (c.sync ? "S" : "R") + " " +
         std::to_string(c.coalesce_count) + " " + EncodeOps(c.ops);
}

namespace {

bool ParseU64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && end == s.c_str() + s.size();
}
bool ParseI64(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && end == s.c_str() + s.size();
}

bool ParseStreamId(const std::string& s, StreamId* id) {
  auto r = StreamId::Parse(s);
  if (!r.ok() || r->ToString() != s) return false;
  *id = *r;
  return true;
}

// The game's tokens (see stress.h). *i is after the kind token; on success it is after the operation.
bool ParseGameOp(const std::string& kind, const std::vector<std::string>& t, size_t* i, Op* op) {
  op->ks = 'g';
  auto take = [&](size_t n) {
    if (*i + n > t.size()) return false;
    op->key = t[*i];
    return true;
  };
  if (kind == "ZS") {
    if (!take(3)) return false;
    op->kind = Op::Kind::kZScore;
    op->value = t[*i + 1];
    char* end = nullptr;
    op->score = std::strtod(t[*i + 2].c_str(), &end);
    if (end != t[*i + 2].c_str() + t[*i + 2].size()) return false;
    *i += 3;
    return true;
  }
  static const std::map<std::string, Op::Kind> kTwo = {{"ZR", Op::Kind::kZRem}, {"LP", Op::Kind::kLPush},
                                                        {"LO", Op::Kind::kLPop}, {"SA", Op::Kind::kSAdd},
                                                        {"SR", Op::Kind::kSRem}};
  if (auto it = kTwo.find(kind); it != kTwo.end()) {
    if (!take(2)) return false;
    op->kind = it->second;
    op->value = t[*i + 1];
    *i += 2;
    return true;
  }
  if (kind == "XA") {
    if (!take(3) || !ParseStreamId(t[*i + 1], &op->stream_id)) return false;
    op->kind = Op::Kind::kXAdd;
    op->value = t[*i + 2];
    *i += 3;
    return true;
  }
  if (kind == "XD") {
    if (!take(4) || !ParseStreamId(t[*i + 3], &op->stream_id)) return false;
    op->kind = Op::Kind::kXDeliver;
    op->group = t[*i + 1];
    op->consumer = t[*i + 2];
    *i += 4;
    return true;
  }
  if (kind == "XK") {
    if (!take(3) || !ParseStreamId(t[*i + 2], &op->stream_id)) return false;
    op->kind = Op::Kind::kXAck;
    op->group = t[*i + 1];
    *i += 3;
    return true;
  }
  if (kind == "XT") {
    if (!take(2) || !ParseU64(t[*i + 1], &op->count)) return false;
    op->kind = Op::Kind::kXTrim;
    *i += 2;
    return true;
  }
  return false;
}

bool ParseOps(const std::vector<std::string>& t, size_t i, std::vector<Op>* ops) {
  uint64_t n = 0;
  if (i >= t.size() || !ParseU64(t[i++], &n) || n > 1000) return false;
  for (uint64_t k = 0; k < n; k++) {
    if (i >= t.size()) return false;
    const std::string& kind = t[i++];
    Op op;
    auto ks = [&](char* out) {
      if (i >= t.size() || t[i].size() != 1 ||
          std::string_view("bwpsc").find(t[i][0]) == std::string_view::npos) {
        return false;
      }
      *out = t[i++][0];
      return true;
    };
    if (kind == "P") {
      op.kind = Op::Kind::kPut;
      if (!ks(&op.ks) || i + 3 > t.size()) return false;
      op.key = t[i++];
      op.value = t[i++];
      if (!ParseU64(t[i++], &op.expire_at)) return false;
    } else if (kind == "D" || kind == "X") {
      op.kind = kind == "D" ? Op::Kind::kRemove : Op::Kind::kRemovePrefix;
      if (!ks(&op.ks) || i >= t.size()) return false;
      op.key = t[i++];
    } else if (kind == "RP") {
      op.kind = Op::Kind::kRowPut;
      if (i + 3 > t.size() || !ParseI64(t[i], &op.id) || !ParseI64(t[i + 2], &op.row.level)) return false;
      op.row.name = t[i + 1];
      i += 3;
    } else if (kind == "RD") {
      op.kind = Op::Kind::kRowRemove;
      if (i >= t.size() || !ParseI64(t[i++], &op.id)) return false;
    } else if (!ParseGameOp(kind, t, &i, &op)) {
      return false;
    }
    ops->push_back(std::move(op));
  }
  return i == t.size();
}

}  // namespace

bool ParseLine(const std::string& line, Line* out) {
  std::vector<std::string> t;
  std::istringstream in(line);
  for (std::string tok; in >> tok;) t.push_back(tok);
  if (t.empty() || t[0].size() != 1) return false;
  *out = Line{};
  out->type = t[0][0];
  switch (out->type) {
    case 'X':
      if (t.size() != 3) return false;
      out->text = t[1];
      return ParseU64(t[2], &out->number);
    case 'B':
      return t.size() == 2 && ParseU64(t[1], &out->number);
    case 'N':
      return t.size() == 2 && ParseU64(t[1], &out->commit.seq);
    case 'S':
      if (t.size() != 3 || (t[1] != "B" && t[1] != "S" && t[1] != "Y")) return false;
      out->text = t[1];
      return ParseU64(t[2], &out->number);
    case 'I':
      return t.size() >= 3 && ParseU64(t[1], &out->commit.seq) && ParseOps(t, 2, &out->commit.ops);
    case 'A':
      if (t.size() < 6 || !ParseU64(t[1], &out->commit.seq) || !ParseU64(t[2], &out->commit.lsn) ||
          (t[3] != "S" && t[3] != "R") || !ParseU64(t[4], &out->commit.coalesce_count)) {
        return false;
      }
      out->commit.sync = t[3] == "S";
      return ParseOps(t, 5, &out->commit.ops);
    case 'E':
      out->text = line.size() > 2 ? line.substr(2) : "";
      return true;
    default:
      return false;
  }
}

// --------------------------------------------------------------------------------------------- workload

Result<std::unique_ptr<Stress>> Stress::Start(Engine* engine, Handles* h, uint64_t seed, Reporter* reporter) {
  std::unique_ptr<Stress> s(new Stress(engine, h, seed, reporter));
  SP_ASSIGN_OR_RETURN(s->model_, ReadState(engine, *h));
  reporter->line("B " + std::to_string(s->coalesce_count()));
  return s;
}

uint64_t Stress::coalesce_count() { return engine_->stats().coalesce_commits; }

std::string Stress::random_value() {
  return "v" + std::to_string(rng_() % 1000000) + "-" + std::string(rng_() % 80, 'x');
}

Status Stress::commit(const Transaction& txn, std::vector<Op> ops, bool sync, bool* acked) {
  CommitRecord c;
  c.seq = ++seq_;
  c.ops = std::move(ops);
  reporter_->line(EncodeIntent(c));
  auto r = engine_->commit(txn);
  if (!r.ok()) {
    // A refusal that changed nothing (a full disk refuses before logging or applying anything). A sync commit
    // that timed out waiting for space is not one: it stays in doubt (its intent line says it may be there).
    if (r.status().IsNoSpace() && !CommitInDoubt(r.status())) reporter_->line("N " + std::to_string(c.seq));
    return r.status();
  }
  bool logged = false;
  for (const Op& op : c.ops)
    logged |= op.ks == 'b' || op.ks == 'w' || op.ks == 'c' || op.kind == Op::Kind::kRowPut ||
              op.kind == Op::Kind::kRowRemove;
  if (logged != (r->lsn > 0)) {
    return Status::Corruption("commit " + std::to_string(c.seq) + " got LSN " + std::to_string(r->lsn) +
                              (logged ? " but writes durable keyspaces" : " but writes no durable keyspace"));
  }
  c.lsn = r->lsn;
  c.sync = sync && c.lsn > 0;
  c.coalesce_count = coalesce_count();
  Apply(&model_, c.ops);
  reporter_->line(EncodeAck(c));
  if (acked != nullptr) *acked = true;
  return Status::OK();
}

Status Stress::trade(bool* acked) {
  const char from_ks = rng_() % 2 ? 'b' : 'w', to_ks = rng_() % 2 ? 'b' : 'w';
  const int from_i = static_cast<int>(rng_() % kGoldKeys);
  int to_i = static_cast<int>(rng_() % kGoldKeys);
  if (from_ks == to_ks && from_i == to_i) to_i = (to_i + 1) % kGoldKeys;
  const std::string from = GoldKey(from_i), to = GoldKey(to_i);
  Table* from_t = TableOf(&model_, from_ks);
  Table* to_t = TableOf(&model_, to_ks);
  if (!from_t->count(from) || !to_t->count(to)) return Status::Corruption("gold key missing from the model");
  const int64_t have = std::stoll((*from_t)[from].value);
  const int64_t amount = std::min<int64_t>(have, static_cast<int64_t>(rng_() % 60));
  const std::string new_from = std::to_string(have - amount);
  const std::string new_to = std::to_string(std::stoll((*to_t)[to].value) + amount);

  Transaction txn;
  std::vector<Op> ops;
  txn.require_value(h_->keyspace(from_ks), from, (*from_t)[from].value);
  txn.put(h_->keyspace(from_ks), from, new_from);
  txn.put(h_->keyspace(to_ks), to, new_to);
  ops.push_back(PutOp(from_ks, from, new_from));
  ops.push_back(PutOp(to_ks, to, new_to));
  if (rng_() % 10 < 3 && !model_.chars.empty()) {
    // The buyer levels up in the same commit: registry row and both indexes change with the gold.
    auto it = model_.chars.begin();
    std::advance(it, static_cast<long>(rng_() % model_.chars.size()));
    Character c = it->second;
    c.level = static_cast<int64_t>(rng_() % kLevels);
    h_->chars->put(&txn, it->first, c);
    Op op;
    op.kind = Op::Kind::kRowPut;
    op.id = it->first;
    op.row = c;
    ops.push_back(op);
  }
  for (char ks : {'p', 's'}) {
    if (rng_() % 5 == 0) {
      const std::string key = PlainKey(static_cast<int>(rng_() % kPlainKeys)), value = random_value();
      txn.put(h_->keyspace(ks), key, value);
      ops.push_back(PutOp(ks, key, value));
    }
  }
  const bool force_sync = rng_() % 10 == 0;
  if (force_sync) txn.set_durability(Durability::kSync);
  return commit(txn, std::move(ops), force_sync || from_ks == 'b' || to_ks == 'b', acked);
}

Status Stress::plain(bool force_sync, bool relaxed_only, bool* acked) {
  Transaction txn;
  std::vector<Op> ops;
  State scratch = model_;
  bool sync = force_sync;
  const int n = 1 + static_cast<int>(rng_() % 4);
  for (int i = 0; i < n; i++) {
    char ks;
    if (force_sync && i == 0) {
      ks = 'b';  // a sync commit that certainly logs
    } else if (relaxed_only) {
      ks = rng_() % 2 ? 'w' : 'p';
    } else {
      ks = "bwpsc"[rng_() % 5];
    }
    Keyspace* k = h_->keyspace(ks);
    const std::string key = PlainKey(static_cast<int>(rng_() % kPlainKeys));
    const int what = static_cast<int>(rng_() % 20);
    Table* t = TableOf(&scratch, ks);
    Op op;
    op.ks = ks;
    if (what < 4 && !(force_sync && i == 0)) {
      txn.remove(k, key);
      if (ks != 's' && !t->count(key)) continue;  // removing an absent key writes nothing
      op.kind = Op::Kind::kRemove;
      op.key = key;
    } else if (what == 4 && (ks == 'w' || ks == 'p' || ks == 'c') && !(force_sync && i == 0)) {
      op.kind = Op::Kind::kRemovePrefix;
      op.key = "k" + std::to_string(1 + rng_() % 2);
      txn.remove_prefix(k, op.key);
    } else {
      op.kind = Op::Kind::kPut;
      op.key = key;
      op.value = random_value();
      txn.put(k, key, op.value);
    }
    if (t != nullptr) ApplyToTable(t, op);
    sync |= ks == 'b';
    ops.push_back(std::move(op));
  }
  if (force_sync || (!relaxed_only && rng_() % 10 == 0)) {
    txn.set_durability(Durability::kSync);
    sync = true;
  }
  return commit(txn, std::move(ops), sync, acked);
}

Status Stress::ttl_put(bool* acked) {
  const std::string key = "ttl:" + std::to_string(rng_() % kTtlKeys);
  const uint64_t now = Clock::System()->now_micros();
  const uint64_t ttl = rng_() % 2 ? 20'000 + rng_() % 1'500'000 : 86'400'000'000ull;
  Op op;
  op.kind = Op::Kind::kPut;
  op.ks = 'w';
  op.key = key;
  op.value = random_value();
  op.expire_at = now + ttl;
  Transaction txn;
  txn.put(h_->wallet, key, op.value, op.expire_at);
  const bool sync = rng_() % 10 == 0;
  if (sync) txn.set_durability(Durability::kSync);
  return commit(txn, {op}, sync, acked);
}

Status Stress::registry(bool* acked) {
  Transaction txn;
  std::vector<Op> ops;
  const int64_t id = static_cast<int64_t>(rng_() % kCharacterIds);
  const int what = static_cast<int>(rng_() % 10);
  auto owner_of = [&](const std::string& name) -> int64_t {
    for (auto& [other, c] : model_.chars) {
      if (c.name == name) return other;
    }
    return -1;
  };
  if (what < 6) {
    Character c{Name(static_cast<int>(rng_() % kNames)), static_cast<int64_t>(rng_() % kLevels)};
    const int64_t owner = owner_of(c.name);
    if (owner != -1 && owner != id) {
      if (rng_() % 3 == 0) {
        // A unique-index conflict, together with a gold-free bank write: the whole commit must change
        // nothing.
        const std::string key = PlainKey(static_cast<int>(rng_() % kPlainKeys));
        txn.put(h_->bank, key, random_value());
        h_->chars->put(&txn, id, c);
        auto r = engine_->commit(txn);
        if (!r.status().IsConflict()) {
          return Status::Corruption("registry put of row " + std::to_string(id) + " named " + c.name +
                                    " (owned by row " + std::to_string(owner) +
                                    ") was not refused as a conflict: " + r.status().ToString());
        }
        auto e = engine_->get(h_->bank, key);
        const bool present = e.ok();
        const bool want = model_.bank.count(key) > 0;
        if (present != want || (present && e->value->bytes != model_.bank[key].value)) {
          return Status::Corruption("a commit refused by a unique index changed bank[" + key + "]");
        }
        return Status::OK();
      }
      // Pick a free name instead.
      c.name.clear();
      const int start = static_cast<int>(rng_() % kNames);
      for (int k = 0; k < kNames && c.name.empty(); k++) {
        const std::string n = Name((start + k) % kNames);
        const int64_t o = owner_of(n);
        if (o == -1 || o == id) c.name = n;
      }
      if (c.name.empty()) return Status::OK();
    }
    h_->chars->put(&txn, id, c);
    Op op;
    op.kind = Op::Kind::kRowPut;
    op.id = id;
    op.row = c;
    ops.push_back(op);
  } else if (what < 8) {
    h_->chars->remove(&txn, id);
    if (model_.chars.count(id)) {
      Op op;
      op.kind = Op::Kind::kRowRemove;
      op.id = id;
      ops.push_back(op);
    }
  } else {
    if (!model_.chars.count(id)) return Status::OK();
    const int64_t level = static_cast<int64_t>(rng_() % kLevels);
    h_->chars->update(&txn, id, [level](Character& c) {
      c.level = level;
      return Status::OK();
    });
    Op op;
    op.kind = Op::Kind::kRowPut;
    op.id = id;
    op.row = model_.chars[id];
    op.row.level = level;
    ops.push_back(op);
  }
  if (rng_() % 4 == 0) {
    // The same commit writes the wallet too.
    const std::string key = PlainKey(static_cast<int>(rng_() % kPlainKeys)), value = random_value();
    txn.put(h_->wallet, key, value);
    ops.push_back(PutOp('w', key, value));
  }
  const bool sync = rng_() % 7 == 0;
  if (sync) txn.set_durability(Durability::kSync);
  return commit(txn, std::move(ops), sync, acked);
}

Status Stress::commit_game(std::vector<Op> ops, const std::function<Status()>& call, bool* acked) {
  CommitRecord c;
  c.seq = ++seq_;
  c.ops = std::move(ops);
  reporter_->line(EncodeIntent(c));
  Status s = call();
  if (!s.ok()) {
    if (s.IsNoSpace() && !CommitInDoubt(s)) reporter_->line("N " + std::to_string(c.seq));
    return s;
  }
  c.coalesce_count = coalesce_count();  // LSN 0, not sync: see stress.h
  ApplyGame(&model_.game, c.ops);
  reporter_->line(EncodeAck(c));
  if (acked != nullptr) *acked = true;
  return Status::OK();
}

// One structures write on the game, predicted from the model; the result must be what the model says.
Status Stress::structures(bool* acked) {
  Structures* db = h_->game.get();
  Game& g = model_.game;
  constexpr Durability kSync = Durability::kSync;
  auto differs = [](const std::string& what) { return Status::Corruption("game: " + what + " differs from the model"); };
  auto game_op = [](Op::Kind kind, std::string key, std::string value = "") {
    Op op;
    op.kind = kind;
    op.ks = 'g';
    op.key = std::move(key);
    op.value = std::move(value);
    return op;
  };
  const int what = static_cast<int>(rng_() % 100);
  if (what < 30) {  // leaderboard: a player scores
    const std::string member = "p" + std::to_string(rng_() % 20);
    const double delta = static_cast<double>(static_cast<int>(rng_() % 25) - 5);
    Op op = game_op(Op::Kind::kZScore, "lb", member);
    auto& z = g.zsets["lb"];
    op.score = (z.count(member) ? z[member] : 0) + delta;
    if (z.empty()) g.zsets.erase("lb");
    return commit_game({op}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(double score, db->zincrby("lb", delta, member, kSync));
      return score == op.score ? Status::OK() : differs("zincrby lb " + member);
    }, acked);
  }
  if (what < 35) {  // a player leaves the leaderboard
    if (!g.zsets.count("lb")) return Status::OK();
    auto& z = g.zsets["lb"];
    auto it = z.begin();
    std::advance(it, static_cast<long>(rng_() % z.size()));
    const std::string member = it->first;
    return commit_game({game_op(Op::Kind::kZRem, "lb", member)}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(int64_t n, db->zrem("lb", {member}, kSync));
      return n == 1 ? Status::OK() : differs("zrem lb " + member);
    }, acked);
  }
  if (what < 50) {  // a job is queued
    const std::string job = "job" + std::to_string(seq_ + 1);
    const int64_t want_len = static_cast<int64_t>(g.lists.count("queue") ? g.lists["queue"].size() : 0) + 1;
    return commit_game({game_op(Op::Kind::kLPush, "queue", job)}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(int64_t len, db->rpush("queue", {job}, kSync));
      return len == want_len ? Status::OK() : differs("rpush queue");
    }, acked);
  }
  if (what < 62) {  // a worker takes the oldest job
    if (!g.lists.count("queue")) return Status::OK();
    const std::string job = g.lists["queue"].front();
    return commit_game({game_op(Op::Kind::kLPop, "queue", job)}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(std::optional<std::string> v, db->lpop("queue", kSync));
      return v == job ? Status::OK() : differs("lpop queue");
    }, acked);
  }
  GameStream& st = g.streams["events"];
  if (what < 74) {  // an event, with the ID the auto-ID would take
    const StreamId last = st.entries.empty() ? StreamId{} : st.entries.rbegin()->first;
    const uint64_t now_ms = Clock::System()->now_micros() / 1000;
    StreamId id = now_ms > last.ms ? StreamId{now_ms, 0} : StreamId{last.ms, last.seq + 1};
    Op op = game_op(Op::Kind::kXAdd, "events", "v" + std::to_string(seq_ + 1));
    op.stream_id = id;
    XAddOptions o;
    o.id = id;
    return commit_game({op}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(StreamId got, db->xadd("events", {{"e", op.value}}, o, kSync));
      return got == id ? Status::OK() : differs("xadd events");
    }, acked);
  }
  if (what < 84) {  // a worker reads new events through the group
    const std::string consumer = "w" + std::to_string(rng_() % 3);
    const int64_t count = 1 + static_cast<int64_t>(rng_() % 3);
    std::vector<Op> ops;
    std::vector<StreamEntry> want;
    for (auto it = st.entries.upper_bound(st.last_delivered);
         it != st.entries.end() && static_cast<int64_t>(want.size()) < count; ++it) {
      Op op = game_op(Op::Kind::kXDeliver, "events");
      op.group = kEventsGroup;
      op.consumer = consumer;
      op.stream_id = it->first;
      ops.push_back(op);
      want.push_back({it->first, {{"e", it->second}}});
    }
    if (ops.empty()) return Status::OK();  // nothing new: no commit
    return commit_game(std::move(ops), [&]() -> Status {
      SP_ASSIGN_OR_RETURN(std::vector<StreamEntry> got,
                          db->xreadgroup("events", kEventsGroup, consumer, std::nullopt, count,
                                         std::chrono::milliseconds(0), kSync));
      return got == want ? Status::OK() : differs("xreadgroup events");
    }, acked);
  }
  if (what < 95) {  // a worker acknowledges an event
    if (st.pending.empty()) return Status::OK();
    auto it = st.pending.begin();
    std::advance(it, static_cast<long>(rng_() % st.pending.size()));
    Op op = game_op(Op::Kind::kXAck, "events");
    op.group = kEventsGroup;
    op.stream_id = it->first;
    return commit_game({op}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(int64_t n, db->xack("events", kEventsGroup, {op.stream_id}, kSync));
      return n == 1 ? Status::OK() : differs("xack events");
    }, acked);
  }
  if (what < 97) {  // the stream is trimmed (never to empty, so its newest entry gives the last ID)
    if (st.entries.size() <= 30) return Status::OK();
    Op op = game_op(Op::Kind::kXTrim, "events");
    op.count = st.entries.size() - 20;
    return commit_game({op}, [&]() -> Status {
      SP_ASSIGN_OR_RETURN(int64_t n, db->xtrim("events", 20, kSync));
      return n == static_cast<int64_t>(op.count) ? Status::OK() : differs("xtrim events");
    }, acked);
  }
  // A player comes online / leaves, or joins / leaves a guild.
  const std::string key = rng_() % 2 ? "online" : "guild:" + std::to_string(rng_() % 3);
  const std::string member = "p" + std::to_string(rng_() % 20);
  const bool present = g.sets.count(key) && g.sets[key].count(member);
  if (!g.sets.count(key) || g.sets[key].empty()) g.sets.erase(key);
  return commit_game({game_op(present ? Op::Kind::kSRem : Op::Kind::kSAdd, key, member)}, [&]() -> Status {
    SP_ASSIGN_OR_RETURN(int64_t n, present ? db->srem(key, {member}, kSync) : db->sadd(key, {member}, kSync));
    return n == 1 ? Status::OK() : differs((present ? "srem " : "sadd ") + key);
  }, acked);
}

// The running engine answers reads as the model says (cached keyspaces read through to RocksDB).
Status Stress::check_reads() {
  const char ks = "bwpc"[rng_() % 4];
  const Table& t = *TableOf(&model_, ks);
  if (rng_() % 4 == 0) {
    Table got;
    SP_RETURN_IF_ERROR(ReadTable(engine_, h_->keyspace(ks), &got));
    for (auto it = got.begin(); it != got.end();)
      it = it->first.starts_with("ttl:") ? got.erase(it) : std::next(it);
    Table want = t;
    for (auto it = want.begin(); it != want.end();)
      it = it->first.starts_with("ttl:") ? want.erase(it) : std::next(it);
    if (got != want) {
      return Status::Corruption(std::string("a scan of keyspace ") + ks + " returned " +
                                std::to_string(got.size()) + " rows where the workload wrote " +
                                std::to_string(want.size()));
    }
    return Status::OK();
  }
  const std::string key = PlainKey(static_cast<int>(rng_() % kPlainKeys));
  auto e = engine_->get(h_->keyspace(ks), key);
  auto it = t.find(key);
  if (e.status().IsNotFound() && it == t.end()) return Status::OK();
  if (!e.ok()) {
    return it == t.end() ? e.status()
                         : Status::Corruption(std::string("get ") + ks + "[" + key +
                                              "]: " + e.status().ToString() + ", the workload wrote it");
  }
  if (it == t.end() || e->value->bytes != it->second.value) {
    return Status::Corruption(std::string("get ") + ks + "[" + key + "] returned " +
                              e->value->bytes.substr(0, 24) + ", the workload " +
                              (it == t.end() ? "removed it" : "wrote " + it->second.value.substr(0, 24)));
  }
  return Status::OK();
}

Status Stress::step(Kind kind, bool* acked) {
  if (acked != nullptr) *acked = false;
  if (kind == Kind::kSyncCommit) return plain(/*force_sync=*/true, false, acked);
  if (kind == Kind::kRelaxedCommit) return plain(false, /*relaxed_only=*/true, acked);
  const int r = static_cast<int>(rng_() % 1000);
  if (r < 220) return trade(acked);
  if (r < 470) return plain(false, false, acked);
  if (r < 550) return ttl_put(acked);
  if (r < 730) return registry(acked);
  if (r < 880) return structures(acked);
  if (r < 920) return check_reads();
  if (r < 950) return engine_->checkpoint();
  if (r < 965) return engine_->create_restore_point("rp" + std::to_string(seq_)).status();
  if (r < 975) return snapshot(/*background=*/true);
  if (r < 978) return snapshot(/*background=*/false);
  return engine_->sync();
}

Status Stress::snapshot(bool background) {
  if (saves_must_succeed_) {
    const Stats st = engine_->stats();
    if (st.snapshots_failed != 0) {
      return Status::Corruption("a background save failed without an injected fault: " +
                                st.last_snapshot_error);
    }
  }
  if (background) {
    auto handle = engine_->snapshot();  // not waited for: it runs while the workload goes on
    if (handle.ok()) {
      reporter_->line("S B " + std::to_string((*handle)->lsn()));
      return Status::OK();
    }
    if (handle.status().IsBusy()) {
      reporter_->line("S Y 0");
      return Status::OK();
    }
    return handle.status().WithContext("Engine::snapshot()");
  }
  auto info = engine_->save();
  if (info.ok()) {
    reporter_->line("S S " + std::to_string(info->lsn));
    return Status::OK();
  }
  if (info.status().IsBusy()) {
    reporter_->line("S Y 0");
    return Status::OK();
  }
  return info.status().WithContext("Engine::save()");
}

// ------------------------------------------------------------------------------------------------ child

Options WorkloadOptions(const std::string& data_dir, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eed0f0e7105ull);
  Options o;
  o.data_dir = data_dir;
  o.archive_dir = data_dir + "-archive";
  o.wal_segment_size = 16384 + rng() % 200000;
  static constexpr std::chrono::microseconds kIntervals[] = {
      std::chrono::milliseconds(1), std::chrono::milliseconds(20), std::chrono::milliseconds(200),
      std::chrono::hours(1)};
  o.sync_interval = kIntervals[rng() % 4];
  o.checkpoint_wal_bytes = 65536 + rng() % 1000000;
  o.checkpoint_interval = std::chrono::milliseconds(300 + rng() % 3000);
  o.ttl_sweep_interval = std::chrono::milliseconds(20);
  o.rocksdb_block_cache_bytes = 8u << 20;
  o.rocksdb_write_buffer_bytes = 4u << 20;
  return o;
}

namespace {

class FdReporter final : public Reporter {
 public:
  explicit FdReporter(int fd) : fd_(fd) {}
  void line(const std::string& text) override {
    if (!WriteAll(fd_, text + "\n")) _exit(5);  // the driver is gone
  }

 private:
  const int fd_;
};

}  // namespace

int RunChild(const std::string& data_dir, uint64_t seed, const std::string& crash_point, uint64_t crash_skip,
             int report_fd, bool verbose) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the driver
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);
  FdReporter reporter(report_fd);
  auto fail = [&](const std::string& what, const Status& s) {
    const std::string msg = what + ": " + s.ToString();
    std::fprintf(stderr, "crashtest child: %s\n", msg.c_str());
    std::string one_line = msg;
    for (char& c : one_line) {
      if (c == '\n') c = ' ';
    }
    reporter.line("E " + one_line.substr(0, 2000));
    return 3;
  };
  if (!crash_point.empty()) {
    reporter.line("X " + crash_point + " " + std::to_string(crash_skip));
    ArmCrashPoint(crash_point, crash_skip);  // default action: _exit(kCrashExit), as kill -9
  }
  auto engine = Engine::open(WorkloadOptions(data_dir, seed));
  if (!engine.ok()) return fail("opening the engine", engine.status());
  auto h = OpenDataSet(engine->get());
  if (!h.ok()) return fail("opening the data set", h.status());
  auto stress = Stress::Start(engine->get(), &*h, seed, &reporter);
  if (!stress.ok()) return fail("starting the workload", stress.status());
  (*stress)->set_saves_must_succeed(true);  // no faults are injected here
  for (;;) {
    Status s = (*stress)->step();
    if (!s.ok()) return fail("workload step " + std::to_string((*stress)->commits()), s);
  }
}

}  // namespace savepoint::crashtest
