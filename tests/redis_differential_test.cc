// Differential test: seeded random sequences of string, hash, set, sorted-set, list and stream commands run
// on savepoint's Structures and on a real redis-server (started here on a free loopback port), every reply
// compared. The seed is printed on failure; SAVEPOINT_SEED replays it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "savepoint/structures.h"
#include "tests/testutil.h"

namespace savepoint {
namespace {

// A reply of either side, in one shape.
struct Reply {
  enum class Kind { kNil, kInt, kStr, kErr, kArr };
  Kind kind = Kind::kNil;
  int64_t i = 0;
  std::string s;  // kStr; kErr: the error's first word (WRONGTYPE, NOGROUP, BUSYGROUP, ERR)
  std::vector<Reply> a;
  friend bool operator==(const Reply&, const Reply&) = default;
};

Reply Nil() { return {}; }
Reply Int(int64_t v) { return {Reply::Kind::kInt, v, {}, {}}; }
Reply Str(std::string v) { return {Reply::Kind::kStr, 0, std::move(v), {}}; }
Reply Err(std::string v) { return {Reply::Kind::kErr, 0, std::move(v), {}}; }
Reply Arr(std::vector<Reply> v) { return {Reply::Kind::kArr, 0, {}, std::move(v)}; }

std::string Show(const Reply& r) {
  switch (r.kind) {
    case Reply::Kind::kNil: return "nil";
    case Reply::Kind::kInt: return std::to_string(r.i);
    case Reply::Kind::kStr: return "\"" + r.s + "\"";
    case Reply::Kind::kErr: return "(error " + r.s + ")";
    case Reply::Kind::kArr: {
      std::string out = "[";
      for (size_t i = 0; i < r.a.size(); ++i) out += (i ? ", " : "") + Show(r.a[i]);
      return out + "]";
    }
  }
  return "?";
}

std::string FormatScore(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// ------------------------------------------------------------------------------------------- redis side

class RedisServer {
 public:
  RedisServer() {
    port_ = FreePort();
    dir_ = std::make_unique<test::ScratchDir>();
    pid_ = fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", dir_->path().c_str(), "--loglevel", "warning", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500 && ctx_ == nullptr; ++i) {
      redisContext* c = redisConnect("127.0.0.1", port_);
      if (c != nullptr && c->err == 0) {
        ctx_ = c;
        break;
      }
      if (c != nullptr) redisFree(c);
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~RedisServer() {
    if (ctx_ != nullptr) redisFree(ctx_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  redisContext* ctx() { return ctx_; }

  Reply run(const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), args.data(), lens.data()));
    if (r == nullptr) return Err("CONNECTION");
    Reply out = Convert(r);
    freeReplyObject(r);
    return out;
  }

 private:
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    close(fd);
    return port;
  }
  static Reply Convert(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        return Str(std::string(r->str, r->len));
      case REDIS_REPLY_INTEGER:
        return Int(r->integer);
      case REDIS_REPLY_NIL:
        return Nil();
      case REDIS_REPLY_ERROR: {
        std::string e(r->str, r->len);
        return Err(e.substr(0, e.find(' ')));
      }
      case REDIS_REPLY_ARRAY: {
        std::vector<Reply> a;
        for (size_t i = 0; i < r->elements; ++i) a.push_back(Convert(r->element[i]));
        return Arr(std::move(a));
      }
      default:
        return Err("UNKNOWN");
    }
  }

  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<test::ScratchDir> dir_;
  redisContext* ctx_ = nullptr;
};

// Puts Redis's reply in the shape savepoint's answers take: unordered collections sorted, scores in one
// format, idle times (which depend on the wall clock) dropped.
Reply Normalize(const std::vector<std::string>& argv, Reply r) {
  const std::string& cmd = argv[0];
  auto rescore = [](Reply& s) {
    if (s.kind == Reply::Kind::kStr) s.s = FormatScore(std::strtod(s.s.c_str(), nullptr));
  };
  if (r.kind == Reply::Kind::kArr && cmd == "SMEMBERS") {
    std::sort(r.a.begin(), r.a.end(), [](const Reply& x, const Reply& y) { return x.s < y.s; });
  } else if (r.kind == Reply::Kind::kArr && cmd == "HGETALL") {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i + 1 < r.a.size(); i += 2) pairs.emplace_back(r.a[i].s, r.a[i + 1].s);
    std::sort(pairs.begin(), pairs.end());
    r.a.clear();
    for (auto& [f, v] : pairs) {
      r.a.push_back(Str(f));
      r.a.push_back(Str(v));
    }
  } else if (cmd == "ZSCORE" || cmd == "ZINCRBY") {
    rescore(r);
  } else if (r.kind == Reply::Kind::kArr &&
             std::find(argv.begin(), argv.end(), "WITHSCORES") != argv.end()) {
    for (size_t i = 1; i < r.a.size(); i += 2) rescore(r.a[i]);
  } else if (r.kind == Reply::Kind::kArr && cmd == "XPENDING" && argv.size() > 3) {
    for (Reply& e : r.a) {
      if (e.a.size() == 4) e.a.erase(e.a.begin() + 2);  // [id, consumer, idle, count] -> no idle
    }
  }
  return r;
}

// --------------------------------------------------------------------------------------- savepoint side

class SavepointSide {
 public:
  explicit SavepointSide(Structures* db) : db_(db) {}

  Reply run(const std::vector<std::string>& a) {
    const std::string& cmd = a[0];
    auto i64 = [&](size_t i) { return std::stoll(a[i]); };
    auto id = [&](const std::string& s, uint64_t missing_seq = 0) {
      if (s == "-") return StreamId::Min();
      if (s == "+") return StreamId::Max();
      return *StreamId::Parse(s, missing_seq);
    };
    auto bound = [&](const std::string& s) {
      ScoreBound b;
      std::string v = s;
      if (!v.empty() && v[0] == '(') {
        b.exclusive = true;
        v = v.substr(1);
      }
      b.value = std::strtod(v.c_str(), nullptr);
      return b;
    };
    auto strs = [&](size_t from) { return std::vector<std::string>(a.begin() + static_cast<long>(from), a.end()); };
    auto entries = [&](const std::vector<StreamEntry>& es) {
      std::vector<Reply> out;
      for (const auto& e : es) {
        std::vector<Reply> fields;
        for (const auto& [f, v] : e.fields) {
          fields.push_back(Str(f));
          fields.push_back(Str(v));
        }
        out.push_back(Arr({Str(e.id.ToString()), Arr(std::move(fields))}));
      }
      return Arr(std::move(out));
    };
    auto scored = [&](const std::vector<ScoredMember>& ms, bool with_scores) {
      std::vector<Reply> out;
      for (const auto& m : ms) {
        out.push_back(Str(m.member));
        if (with_scores) out.push_back(Str(FormatScore(m.score)));
      }
      return Arr(std::move(out));
    };
    const bool with_scores = std::find(a.begin(), a.end(), "WITHSCORES") != a.end();

    if (cmd == "SET") {
      SetOptions o;
      for (size_t i = 3; i < a.size(); ++i) {
        if (a[i] == "NX") o.nx = true;
        if (a[i] == "XX") o.xx = true;
      }
      return Wrap(db_->set(a[1], a[2], o), [](bool stored) { return stored ? Str("OK") : Nil(); });
    }
    if (cmd == "GET") return Wrap(db_->get(a[1]), [](const auto& v) { return v ? Str(*v) : Nil(); });
    if (cmd == "DEL") return Wrap(db_->del(a[1]), [](bool b) { return Int(b); });
    if (cmd == "EXISTS") return Wrap(db_->exists(a[1]), [](bool b) { return Int(b); });
    if (cmd == "TYPE") return Wrap(db_->type(a[1]), [](StructureType t) { return Str(StructureTypeName(t)); });
    if (cmd == "INCRBY") return Wrap(db_->incrby(a[1], i64(2)), Int);
    if (cmd == "SETNX") return Wrap(db_->setnx(a[1], a[2]), [](bool b) { return Int(b); });
    if (cmd == "HSET") {
      std::vector<std::pair<std::string, std::string>> fv;
      for (size_t i = 2; i + 1 < a.size(); i += 2) fv.emplace_back(a[i], a[i + 1]);
      return Wrap(db_->hset(a[1], fv), Int);
    }
    if (cmd == "HGET") return Wrap(db_->hget(a[1], a[2]), [](const auto& v) { return v ? Str(*v) : Nil(); });
    if (cmd == "HGETALL") {
      return Wrap(db_->hgetall(a[1]), [](const auto& fv) {
        std::vector<Reply> out;
        for (const auto& [f, v] : fv) {
          out.push_back(Str(f));
          out.push_back(Str(v));
        }
        return Arr(std::move(out));
      });
    }
    if (cmd == "HDEL") return Wrap(db_->hdel(a[1], strs(2)), Int);
    if (cmd == "HINCRBY") return Wrap(db_->hincrby(a[1], a[2], i64(3)), Int);
    if (cmd == "HLEN") return Wrap(db_->hlen(a[1]), Int);
    if (cmd == "SADD") return Wrap(db_->sadd(a[1], strs(2)), Int);
    if (cmd == "SREM") return Wrap(db_->srem(a[1], strs(2)), Int);
    if (cmd == "SISMEMBER") return Wrap(db_->sismember(a[1], a[2]), [](bool b) { return Int(b); });
    if (cmd == "SMEMBERS") {
      return Wrap(db_->smembers(a[1]), [](const auto& ms) {
        std::vector<Reply> out;
        for (const auto& m : ms) out.push_back(Str(m));
        return Arr(std::move(out));
      });
    }
    if (cmd == "SCARD") return Wrap(db_->scard(a[1]), Int);
    if (cmd == "ZADD") {
      ZAddOptions o;
      size_t i = 2;
      for (; i < a.size(); ++i) {
        if (a[i] == "NX") o.nx = true;
        else if (a[i] == "XX") o.xx = true;
        else if (a[i] == "GT") o.gt = true;
        else if (a[i] == "LT") o.lt = true;
        else if (a[i] == "CH") o.ch = true;
        else break;
      }
      std::vector<ScoredMember> ms;
      for (; i + 1 < a.size(); i += 2) ms.push_back({a[i + 1], std::strtod(a[i].c_str(), nullptr)});
      return Wrap(db_->zadd(a[1], ms, o), Int);
    }
    if (cmd == "ZINCRBY") {
      return Wrap(db_->zincrby(a[1], std::strtod(a[2].c_str(), nullptr), a[3]),
                  [](double d) { return Str(FormatScore(d)); });
    }
    if (cmd == "ZSCORE") return Wrap(db_->zscore(a[1], a[2]), [](const auto& v) { return v ? Str(FormatScore(*v)) : Nil(); });
    if (cmd == "ZRANK" || cmd == "ZREVRANK") {
      return Wrap(db_->zrank(a[1], a[2], cmd == "ZREVRANK"), [](const auto& v) { return v ? Int(*v) : Nil(); });
    }
    if (cmd == "ZRANGE" || cmd == "ZREVRANGE") {
      return Wrap(db_->zrange(a[1], i64(2), i64(3), cmd == "ZREVRANGE"),
                  [&](const auto& ms) { return scored(ms, with_scores); });
    }
    if (cmd == "ZRANGEBYSCORE") {
      int64_t offset = 0, count = -1;
      for (size_t i = 4; i < a.size(); ++i) {
        if (a[i] == "LIMIT") {
          offset = i64(i + 1);
          count = i64(i + 2);
        }
      }
      return Wrap(db_->zrangebyscore(a[1], bound(a[2]), bound(a[3]), offset, count),
                  [&](const auto& ms) { return scored(ms, with_scores); });
    }
    if (cmd == "ZREM") return Wrap(db_->zrem(a[1], strs(2)), Int);
    if (cmd == "ZCARD") return Wrap(db_->zcard(a[1]), Int);
    if (cmd == "ZREMRANGEBYSCORE") return Wrap(db_->zremrangebyscore(a[1], bound(a[2]), bound(a[3])), Int);
    if (cmd == "LPUSH") return Wrap(db_->lpush(a[1], strs(2)), Int);
    if (cmd == "RPUSH") return Wrap(db_->rpush(a[1], strs(2)), Int);
    if (cmd == "LPOP" || cmd == "RPOP") {
      return Wrap(cmd == "LPOP" ? db_->lpop(a[1]) : db_->rpop(a[1]),
                  [](const auto& v) { return v ? Str(*v) : Nil(); });
    }
    if (cmd == "LRANGE") {
      return Wrap(db_->lrange(a[1], i64(2), i64(3)), [](const auto& vs) {
        std::vector<Reply> out;
        for (const auto& v : vs) out.push_back(Str(v));
        return Arr(std::move(out));
      });
    }
    if (cmd == "LLEN") return Wrap(db_->llen(a[1]), Int);
    if (cmd == "XADD") {
      XAddOptions o;
      size_t i = 2;
      if (a[i] == "MAXLEN") {
        o.maxlen = static_cast<uint64_t>(i64(i + 1));
        i += 2;
      }
      o.id = id(a[i]);
      StreamFields fields;
      for (i = i + 1; i + 1 < a.size(); i += 2) fields.emplace_back(a[i], a[i + 1]);
      return Wrap(db_->xadd(a[1], fields, o), [](StreamId v) { return Str(v.ToString()); });
    }
    if (cmd == "XRANGE") return Wrap(db_->xrange(a[1], id(a[2]), id(a[3], ~0ull)), entries);
    if (cmd == "XREVRANGE") {
      return Wrap(db_->xrange(a[1], id(a[3]), id(a[2], ~0ull), i64(5), /*reverse=*/true), entries);
    }
    if (cmd == "XLEN") return Wrap(db_->xlen(a[1]), Int);
    if (cmd == "XDEL") {
      std::vector<StreamId> ids;
      for (size_t i = 2; i < a.size(); ++i) ids.push_back(id(a[i]));
      return Wrap(db_->xdel(a[1], ids), Int);
    }
    if (cmd == "XTRIM") return Wrap(db_->xtrim(a[1], static_cast<uint64_t>(i64(3))), Int);
    if (cmd == "XGROUP") {  // XGROUP CREATE key group id MKSTREAM
      Status s = db_->xgroup_create(a[2], a[3], id(a[4]), a.size() > 5);
      return s.ok() ? Str("OK") : Error(s);
    }
    if (cmd == "XREADGROUP") {  // XREADGROUP GROUP g c COUNT n STREAMS key >
      auto r = db_->xreadgroup(a[7], a[2], a[3], std::nullopt, i64(5), std::chrono::milliseconds(0));
      if (!r.ok()) return Error(r.status());
      if (r->empty()) return Nil();
      return Arr({Arr({Str(a[7]), entries(*r)})});
    }
    if (cmd == "XACK") {
      std::vector<StreamId> ids;
      for (size_t i = 3; i < a.size(); ++i) ids.push_back(id(a[i]));
      return Wrap(db_->xack(a[1], a[2], ids), Int);
    }
    if (cmd == "XCLAIM") {  // XCLAIM key group consumer 0 id
      return Wrap(db_->xclaim(a[1], a[2], a[3], 0, {id(a[5])}), entries);
    }
    if (cmd == "XPENDING" && a.size() == 3) {
      return Wrap(db_->xpending(a[1], a[2]), [](const PendingSummary& p) {
        if (p.count == 0) return Arr({Int(0), Nil(), Nil(), Nil()});
        std::vector<Reply> consumers;
        for (const auto& [c, n] : p.consumers) consumers.push_back(Arr({Str(c), Str(std::to_string(n))}));
        return Arr({Int(static_cast<int64_t>(p.count)), Str(p.smallest.ToString()), Str(p.largest.ToString()),
                    Arr(std::move(consumers))});
      });
    }
    if (cmd == "XPENDING") {  // XPENDING key group - + count
      return Wrap(db_->xpending_range(a[1], a[2], id(a[3]), id(a[4], ~0ull), i64(5)), [](const auto& ps) {
        std::vector<Reply> out;
        for (const auto& p : ps) {
          out.push_back(Arr({Str(p.id.ToString()), Str(p.consumer), Int(static_cast<int64_t>(p.delivery_count))}));
        }
        return Arr(std::move(out));
      });
    }
    return Err("UNKNOWN-COMMAND " + cmd);
  }

 private:
  static Reply Error(const Status& s) {
    if (s.IsWrongType()) return Err("WRONGTYPE");
    const std::string first = s.message().substr(0, s.message().find(' '));
    if (first == "NOGROUP" || first == "BUSYGROUP") return Err(first);
    return Err("ERR");
  }
  template <typename T, typename F>
  static Reply Wrap(Result<T> r, F f) {
    if (!r.ok()) return Error(r.status());
    return f(*r);
  }

  Structures* db_;
};

// ------------------------------------------------------------------------------------------- generator

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  std::vector<std::string> next() {
    // Mostly a key of the command's own family, sometimes a shared one (type clashes: WRONGTYPE, SET over
    // a collection).
    const uint64_t c = pick(40);
    const char* family = c <= 6 ? "s" : c <= 11 ? "h" : c <= 16 ? "set" : c <= 25 ? "z" : c <= 29 ? "l" : "x";
    const std::string k = pick(6) == 0 ? "k" + std::to_string(pick(3)) : family + std::to_string(pick(3));
    switch (c) {
      case 0: return {"SET", k, value()};
      case 1: return {"SET", k, value(), pick(2) ? "NX" : "XX"};
      case 2: return {"GET", k};
      case 3: return {"DEL", k};
      case 4: return {"EXISTS", k};
      case 5: return {"INCRBY", k, std::to_string(static_cast<int64_t>(pick(2001)) - 1000)};
      case 6: return {"TYPE", k};
      case 7: return {"HSET", k, member(), value(), member(), value()};
      case 8: return {"HGET", k, member()};
      case 9: return {"HGETALL", k};
      case 10: return {"HDEL", k, member(), member()};
      case 11: return {"HINCRBY", k, member(), std::to_string(static_cast<int64_t>(pick(21)) - 10)};
      case 12: return {"SADD", k, member(), member()};
      case 13: return {"SREM", k, member()};
      case 14: return {"SISMEMBER", k, member()};
      case 15: return {"SMEMBERS", k};
      case 16: return {"SCARD", k};
      case 17: {
        std::vector<std::string> c{"ZADD", k};
        const char* flags[] = {"NX", "XX", "GT", "LT", "CH"};
        if (pick(3) == 0) c.push_back(flags[pick(5)]);
        if (pick(4) == 0) c.push_back("CH");
        c.push_back(score());
        c.push_back(member());
        c.push_back(score());
        c.push_back(member());
        return c;
      }
      case 18: return {"ZINCRBY", k, score(), member()};
      case 19: return {"ZSCORE", k, member()};
      case 20: return {pick(2) ? "ZRANK" : "ZREVRANK", k, member()};
      case 21: {
        std::vector<std::string> c{pick(2) ? "ZRANGE" : "ZREVRANGE", k, index(), index()};
        if (pick(2)) c.push_back("WITHSCORES");
        return c;
      }
      case 22: {
        std::vector<std::string> c{"ZRANGEBYSCORE", k, bound(), bound(), "WITHSCORES"};
        if (pick(3) == 0) {
          c.insert(c.end(), {"LIMIT", std::to_string(pick(4)), std::to_string(static_cast<int>(pick(4)) - 1)});
        }
        return c;
      }
      case 23: return {"ZREM", k, member(), member()};
      case 24: return {"ZCARD", k};
      case 25: return {"ZREMRANGEBYSCORE", k, bound(), bound()};
      case 26: return {pick(2) ? "LPUSH" : "RPUSH", k, value(), value()};
      case 27: return {pick(2) ? "LPOP" : "RPOP", k};
      case 28: return {"LRANGE", k, index(), index()};
      case 29: return {"LLEN", k};
      case 30: {
        std::vector<std::string> c{"XADD", k};
        if (pick(4) == 0) c.insert(c.end(), {"MAXLEN", std::to_string(pick(4))});
        c.push_back(stream_id());
        c.insert(c.end(), {member(), value()});
        return c;
      }
      case 31: return {"XRANGE", k, "-", "+"};
      case 32: return {"XREVRANGE", k, "+", "-", "COUNT", std::to_string(1 + pick(3))};
      case 33: return {"XLEN", k};
      case 34: return pick(2) ? std::vector<std::string>{"XDEL", k, known_id()}
                              : std::vector<std::string>{"XTRIM", k, "MAXLEN", std::to_string(pick(3))};
      case 35: return {"XGROUP", "CREATE", k, group(), pick(2) ? "0" : known_id(), "MKSTREAM"};
      case 36: return {"XREADGROUP", "GROUP", group(), consumer(), "COUNT", std::to_string(1 + pick(3)), "STREAMS", k, ">"};
      case 37: return {"XACK", k, group(), known_id()};
      case 38: return pick(2) ? std::vector<std::string>{"XPENDING", k, group()}
                              : std::vector<std::string>{"XPENDING", k, group(), "-", "+", "10"};
      default: return {"XCLAIM", k, group(), consumer(), "0", known_id()};
    }
  }

 private:
  uint64_t pick(uint64_t n) { return rng_() % n; }
  std::string member() { return "m" + std::to_string(pick(6)); }
  std::string group() { return "g" + std::to_string(pick(2)); }
  std::string consumer() { return "c" + std::to_string(pick(3)); }
  std::string value() {
    switch (pick(4)) {
      case 0: return std::to_string(static_cast<int64_t>(pick(200)) - 100);
      case 1: return "v" + std::to_string(pick(50));
      case 2: return "";
      default: return std::to_string(pick(10));
    }
  }
  std::string score() {
    switch (pick(8)) {
      case 0: return "inf";
      case 1: return "-inf";
      case 2: return std::to_string(static_cast<int>(pick(9)) - 4) + ".5";
      default: return std::to_string(static_cast<int>(pick(9)) - 4);
    }
  }
  std::string bound() {
    std::string b = pick(4) == 0 ? "(" : "";
    switch (pick(6)) {
      case 0: return b + "-inf";
      case 1: return b + "+inf";
      default: return b + std::to_string(static_cast<int>(pick(11)) - 5);
    }
  }
  std::string index() { return std::to_string(static_cast<int>(pick(9)) - 4); }
  std::string stream_id() {
    // Mostly increasing; sometimes a repeat or an older ID, which both sides must refuse.
    if (pick(8) != 0) next_ms_ += pick(3);
    const uint64_t ms = pick(10) == 0 && next_ms_ > 2 ? next_ms_ - 2 : next_ms_;
    return std::to_string(ms) + "-" + std::to_string(pick(3));
  }
  std::string known_id() { return std::to_string(next_ms_ == 0 ? 0 : pick(next_ms_ + 1)) + "-" + std::to_string(pick(3)); }

  std::mt19937_64 rng_;
  uint64_t next_ms_ = 1;
};

TEST(RedisDifferential, RandomCommandSequencesMatchRedis) {
  RedisServer redis;
  ASSERT_NE(redis.ctx(), nullptr) << "could not start redis-server (scripts/setup.sh installs it)";
  test::ScratchDir dir;
  Options o;
  o.data_dir = dir.path() + "/data";
  auto engine = Engine::open(o);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto db = Structures::open(engine->get(), "db");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  SavepointSide ours(db->get());

  const uint64_t seed = test::TestSeed();
  constexpr int kRounds = 4, kOps = 1500;
  std::map<std::string, int> outcomes;  // what the replies were, so a vacuous run is caught
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(redis.run({"FLUSHALL"}), Str("OK"));
    auto keys = (*db)->keys("*");
    ASSERT_TRUE(keys.ok());
    for (const std::string& k : *keys) ASSERT_TRUE((*db)->del(k).ok());
    Generator gen(seed + static_cast<uint64_t>(round));
    std::vector<std::string> history;
    for (int i = 0; i < kOps; ++i) {
      const std::vector<std::string> cmd = gen.next();
      std::string line;
      for (const auto& a : cmd) line += (line.empty() ? "" : " ") + a;
      history.push_back(line);
      const Reply theirs = Normalize(cmd, redis.run(cmd));
      const Reply mine = ours.run(cmd);
      const char* kinds[] = {"nil", "int", "str", "err", "arr"};
      std::string outcome = kinds[static_cast<int>(theirs.kind)];
      if (theirs.kind == Reply::Kind::kErr) outcome += " " + theirs.s;
      if (theirs.kind == Reply::Kind::kArr && !theirs.a.empty()) outcome += " non-empty";
      ++outcomes[outcome];
      if (mine != theirs) {
        std::string context;
        for (size_t h = history.size() > 15 ? history.size() - 15 : 0; h < history.size(); ++h) {
          context += "  " + history[h] + "\n";
        }
        FAIL() << "seed " << seed << " round " << round << " op " << i << ": " << line << "\n  redis:     "
               << Show(theirs) << "\n  savepoint: " << Show(mine) << "\nlast commands:\n" << context;
      }
    }
  }
  std::string summary;
  for (const auto& [o, n] : outcomes) summary += o + "=" + std::to_string(n) + " ";
  std::printf("reply kinds: %s\n", summary.c_str());
  for (const char* expected : {"nil", "int", "str", "arr non-empty", "err WRONGTYPE", "err ERR", "err NOGROUP"}) {
    EXPECT_GT(outcomes[expected], 0) << "no reply of kind '" << expected << "': the generator lost coverage";
  }
  db->reset();
  ASSERT_TRUE((*engine)->close().ok());
}

}  // namespace
}  // namespace savepoint
