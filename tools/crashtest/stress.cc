// The crash torture workload: the data set, the seeded operations, the report protocol and the child mode
// (see stress.h).
#include "tools/crashtest/stress.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
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
    }
  }
  Status c = engine->close();
  return s.ok() ? c : s;
}

// ------------------------------------------------------------------------------------------------ model

void Apply(State* state, const std::vector<Op>& ops) {
  for (const Op& op : ops) {
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
    } else {
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
    // A refusal that changed nothing (a full disk refuses before logging or applying anything).
    if (r.status().IsNoSpace()) reporter_->line("N " + std::to_string(c.seq));
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
  const int r = static_cast<int>(rng_() % 100);
  if (r < 25) return trade(acked);
  if (r < 55) return plain(false, false, acked);
  if (r < 65) return ttl_put(acked);
  if (r < 88) return registry(acked);
  if (r < 92) return check_reads();
  if (r < 95) return engine_->checkpoint();
  if (r < 97) return engine_->create_restore_point("rp" + std::to_string(seq_)).status();
  return engine_->sync();
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
  for (;;) {
    Status s = (*stress)->step();
    if (!s.ok()) return fail("workload step " + std::to_string((*stress)->commits()), s);
  }
}

}  // namespace savepoint::crashtest
