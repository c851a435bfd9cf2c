// The torture driver's model must reject every wrong recovery it claims to check, and accept every right one
// (a check that cannot fail finds nothing).
#include "tools/crashtest/model.h"

#include <gtest/gtest.h>

namespace savepoint::crashtest {
namespace {

Op Put(char ks, std::string key, std::string value, uint64_t expire_at = 0) {
  return PutOp(ks, std::move(key), std::move(value), expire_at);
}
Op RemovePrefix(char ks, std::string prefix) {
  Op op;
  op.kind = Op::Kind::kRemovePrefix;
  op.ks = ks;
  op.key = std::move(prefix);
  return op;
}

class ModelTest : public ::testing::Test {
 protected:
  ModelTest() {
    for (int i = 0; i < kGoldKeys; i++) {
      base_.bank["gold:" + std::to_string(i)] = Row{std::to_string(kGoldEach), 0};
      base_.wallet["gold:" + std::to_string(i)] = Row{"0", 0};
    }
    EXPECT_TRUE(log_.feed("B 0"));
  }
  // Reports one acknowledged commit through the protocol, as the workload does.
  void Ack(uint64_t lsn, bool sync, std::vector<Op> ops, uint64_t coalesce_count = 0) {
    CommitRecord c;
    c.seq = ++seq_;
    c.lsn = lsn;
    c.sync = sync;
    c.coalesce_count = coalesce_count;
    c.ops = std::move(ops);
    ASSERT_TRUE(log_.feed(EncodeIntent(c))) << log_.error();
    ASSERT_TRUE(log_.feed(EncodeAck(c))) << log_.error();
  }
  void InFlight(std::vector<Op> ops) {
    CommitRecord c;
    c.seq = ++seq_;
    c.ops = std::move(ops);
    ASSERT_TRUE(log_.feed(EncodeIntent(c)));
  }
  // The state after applying the first `n` acknowledged commits to base_.
  State After(size_t n) {
    State s = base_;
    for (size_t i = 0; i < n; i++) {
      Apply(&s, log_.acked()[i].ops);
      ApplyGame(&s.game, log_.acked()[i].ops);
    }
    return s;
  }
  std::string Verify(const State& got, uint64_t last_lsn, uint64_t sessions = 0, uint64_t crash_micros = 0) {
    log_.finish();
    Recovered r;
    r.state = got;
    r.last_lsn = last_lsn;
    r.sessions = sessions;
    r.crash_micros = crash_micros;
    return VerifyRecovery(base_, log_, r);
  }

  State base_;
  CycleLog log_;
  uint64_t seq_ = 0;
};

TEST_F(ModelTest, AcceptsALostRelaxedSuffix) {
  Ack(10, true, {Put('b', "k1", "a")});
  Ack(11, false, {Put('w', "k1", "b")});
  Ack(12, false, {Put('w', "k2", "c")});
  State got = After(1);
  got.positions = base_.positions;
  EXPECT_EQ(Verify(got, 10), "");
}

TEST_F(ModelTest, RejectsALostSyncCommit) {
  Ack(10, false, {Put('w', "k1", "a")});
  Ack(11, true, {Put('b', "k1", "b")});
  EXPECT_NE(Verify(After(1), 10), "");
}

TEST_F(ModelTest, RejectsAHoleAndAPartialTransaction) {
  Ack(10, false, {Put('w', "k1", "a")});
  Ack(11, false, {Put('w', "k2", "b"), Put('b', "k2", "b")});
  Ack(12, false, {Put('w', "k3", "c")});
  State hole = After(3);
  hole.wallet.erase("k2");
  hole.bank.erase("k2");
  EXPECT_NE(Verify(hole, 12), "");
  State partial = After(2);
  partial.bank.erase("k2");
  EXPECT_NE(Verify(partial, 11), "");
  EXPECT_EQ(Verify(After(2), 11), "");
}

TEST_F(ModelTest, AcceptsTheInFlightCommitEitherWayButNothingAfterALoss) {
  Ack(10, false, {Put('w', "k1", "a")});
  InFlight({Put('w', "k2", "b")});
  State with = After(1);
  with.wallet["k2"] = Row{"b", 0};
  EXPECT_EQ(Verify(with, 11), "");
  EXPECT_EQ(Verify(After(1), 10), "");
}

TEST_F(ModelTest, RejectsTheInFlightCommitWhenAnEarlierOneWasLost) {
  Ack(10, false, {Put('w', "k1", "a")});
  InFlight({Put('w', "k2", "b")});
  State got = base_;
  got.wallet["k2"] = Row{"b", 0};
  EXPECT_NE(Verify(got, 9), "");
}

TEST_F(ModelTest, AnExpiredTtlKeyMayBeMissingAnUnexpiredOneMayNot) {
  Ack(10, false, {Put('w', "ttl:1", "a", 1000)});
  State got = base_;
  EXPECT_EQ(Verify(got, 10, 0, /*crash_micros=*/1000), "");
  EXPECT_NE(Verify(got, 10, 0, /*crash_micros=*/999), "");
}

TEST_F(ModelTest, CoalescedKeyspaceIsAPrefixNotBeforeTheDurableCoalescing) {
  Ack(0, false, {Put('p', "k1", "a")});                        // coalesce count 0 after it
  Ack(0, false, {Put('p', "k2", "b")}, /*coalesce_count=*/1);  // a coalescing happened after commit 1
  Ack(10, true, {Put('b', "x", "1")}, 1);                      // ...and this sync commit made it durable
  State none = After(3);
  none.positions.clear();
  EXPECT_NE(Verify(none, 10), "") << "the durable coalescing was lost";
  State first = After(3);
  first.positions.erase("k2");
  EXPECT_EQ(Verify(first, 10), "");
  State odd = After(3);
  odd.positions.erase("k1");
  EXPECT_NE(Verify(odd, 10), "") << "no prefix of the commits has k2 without k1";
}

TEST_F(ModelTest, VolatileMustBeEmptyAndGoldConserved) {
  Ack(10, true, {Put('b', "gold:0", "990"), Put('w', "gold:0", "10")});
  EXPECT_EQ(Verify(After(1), 10), "");
  EXPECT_NE(Verify(After(1), 10, /*sessions=*/1), "");
}

TEST_F(ModelTest, GoldCreatedIsCaught) {
  Ack(10, true, {Put('b', "gold:0", "990"), Put('w', "gold:0", "11")});
  EXPECT_NE(Verify(After(1), 10), "");
}

TEST_F(ModelTest, PrefixRemovalAppliesToTheModel) {
  Ack(0, false, {Put('p', "k1", "a"), Put('p', "k12", "b"), Put('p', "k2", "c")});
  Ack(0, false, {RemovePrefix('p', "k1")});
  State s = After(2);
  EXPECT_EQ(s.positions.size(), 1u);
  EXPECT_EQ(s.positions.count("k2"), 1u);
}

Op Game(Op::Kind kind, std::string key, std::string value) {
  Op op;
  op.kind = kind;
  op.ks = 'g';
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}
Op ZScore(std::string member, double score) {
  Op op = Game(Op::Kind::kZScore, "lb", std::move(member));
  op.score = score;
  return op;
}
Op Deliver(StreamId id, std::string consumer) {
  Op op = Game(Op::Kind::kXDeliver, "events", "");
  op.group = kEventsGroup;
  op.consumer = std::move(consumer);
  op.stream_id = id;
  return op;
}

TEST_F(ModelTest, EveryAcknowledgedStructuresWriteMustSurvive) {
  Op add = Game(Op::Kind::kXAdd, "events", "v1");
  add.stream_id = StreamId{5, 0};
  Ack(0, false, {ZScore("p1", 5)});
  Ack(0, false, {Game(Op::Kind::kLPush, "queue", "job1")});
  Ack(0, false, {add});
  Ack(0, false, {Deliver(StreamId{5, 0}, "w1")});
  Ack(11, false, {Put('w', "k1", "a")});  // a relaxed commit lost with the suffix: that is allowed
  State got = After(5);
  got.wallet.erase("k1");
  EXPECT_EQ(Verify(got, 10), "");
  State lost = got;
  lost.game.lists.erase("queue");
  EXPECT_NE(Verify(lost, 10), "") << "an acknowledged rpush is missing";
  State undelivered = got;
  undelivered.game.streams["events"].pending.clear();
  EXPECT_NE(Verify(undelivered, 10), "") << "an acknowledged delivery is missing";
  State extra = got;
  extra.game.sets["online"].insert("p9");
  EXPECT_NE(Verify(extra, 10), "") << "a structures write nobody made";
}

TEST_F(ModelTest, TheStructuresWriteInFlightMayOrMayNotHaveHappened) {
  Ack(0, false, {ZScore("p1", 5)});
  InFlight({ZScore("p1", 12)});
  State before = After(1);
  EXPECT_EQ(Verify(before, 10), "");
  State after = before;
  after.game.zsets["lb"]["p1"] = 12;
  EXPECT_EQ(Verify(after, 10), "");
  State wrong = before;
  wrong.game.zsets["lb"]["p1"] = 7;
  EXPECT_NE(Verify(wrong, 10), "");
}

TEST_F(ModelTest, EmptiedStructuresAreDeleted) {
  Ack(0, false, {Game(Op::Kind::kLPush, "queue", "job1")});
  Ack(0, false, {Game(Op::Kind::kLPop, "queue", "job1"), Game(Op::Kind::kSAdd, "online", "p1")});
  Ack(0, false, {Game(Op::Kind::kSRem, "online", "p1")});
  const State s = After(3);
  EXPECT_TRUE(s.game.lists.empty());
  EXPECT_TRUE(s.game.sets.empty());
}

// A snapshot at LSN L taken during the cycle: exactly the commits up to L, the structures writes among them
// in order up to some point, the one in flight only when every acknowledged commit is in.
class SnapshotModelTest : public ModelTest {
 protected:
  std::string VerifySnap(uint64_t lsn, const State& got, uint64_t crash_micros = 0) {
    log_.finish();
    return VerifySnapshotState(base_, log_, lsn, got, crash_micros);
  }
};

TEST_F(SnapshotModelTest, AcceptsExactlyTheCommitsUpToItsLsn) {
  Ack(10, false, {Put('w', "k1", "a")});
  Ack(11, true, {Put('b', "k1", "b")});
  Ack(12, false, {Put('c', "k1", "c")});
  EXPECT_EQ(VerifySnap(11, After(2)), "");
  EXPECT_EQ(VerifySnap(9, After(0)), "");
  EXPECT_EQ(VerifySnap(12, After(3)), "");
  EXPECT_NE(VerifySnap(11, After(1)), "") << "commit LSN 11 is missing from a snapshot at 11";
  EXPECT_NE(VerifySnap(11, After(3)), "") << "commit LSN 12 is in a snapshot at 11";
  State partial = After(2);
  partial.wallet.erase("k1");
  EXPECT_NE(VerifySnap(11, partial), "") << "a hole: LSN 10 missing, 11 present";
  State changed = After(2);
  changed.chars[3] = Character{"n1", 2};
  EXPECT_NE(VerifySnap(11, changed), "") << "a registry row nobody wrote";
}

TEST_F(SnapshotModelTest, StructuresWritesBetweenTwoLsnsAreInItUpToSomePoint) {
  Ack(10, false, {Put('w', "k1", "a")});
  Ack(0, false, {ZScore("p1", 5)});                          // LSN 11, not reported
  Ack(0, false, {Game(Op::Kind::kLPush, "queue", "job1")});  // LSN 12, not reported
  Ack(13, false, {Put('w', "k2", "b")});
  Ack(0, false, {ZScore("p2", 1)});                          // LSN 14, not reported
  EXPECT_EQ(VerifySnap(10, After(1)), "");
  EXPECT_NE(VerifySnap(10, After(2)), "") << "a snapshot that ends at LSN 10 holds nothing after it";
  EXPECT_EQ(VerifySnap(11, After(1)), "");
  EXPECT_EQ(VerifySnap(11, After(2)), "");
  EXPECT_EQ(VerifySnap(11, After(3)), "");
  State out_of_order = After(1);
  out_of_order.game.lists["queue"].push_back("job1");  // the rpush without the zincrby before it
  EXPECT_NE(VerifySnap(11, out_of_order), "");
  EXPECT_NE(VerifySnap(13, After(3)), "") << "commit LSN 13 is missing";
  EXPECT_EQ(VerifySnap(13, After(4)), "");
  EXPECT_NE(VerifySnap(13, After(5)), "") << "a structures write after LSN 13 in a snapshot that ends at 13";
  EXPECT_EQ(VerifySnap(14, After(4)), "");
  EXPECT_EQ(VerifySnap(14, After(5)), "");
  State lost = After(4);
  lost.game.zsets.erase("lb");
  EXPECT_NE(VerifySnap(13, lost), "") << "a structures write before LSN 13 is missing";
}

TEST_F(SnapshotModelTest, TheCommitInFlightOnlyAfterEveryAcknowledgedOne) {
  Ack(10, false, {Put('w', "k1", "a")});
  InFlight({Put('w', "k2", "b")});
  State with = After(1);
  with.wallet["k2"] = Row{"b", 0};
  EXPECT_EQ(VerifySnap(11, with), "");
  EXPECT_EQ(VerifySnap(11, After(1)), "");
  EXPECT_NE(VerifySnap(10, with), "") << "its LSN is above 10, the last acknowledged one";
}

TEST_F(SnapshotModelTest, AnExpiredTtlKeyMayBeMissing) {
  Ack(10, false, {Put('w', "ttl:1", "a", 1000)});
  State got = base_;
  EXPECT_EQ(VerifySnap(10, got, /*crash_micros=*/1000), "");
  EXPECT_NE(VerifySnap(10, got, /*crash_micros=*/999), "");
}

TEST(CycleLogTest, CountsTheSnapshotsTaken) {
  CycleLog log;
  ASSERT_TRUE(log.feed("S B 12"));
  ASSERT_TRUE(log.feed("S Y 0"));
  ASSERT_TRUE(log.feed("S S 15"));
  ASSERT_TRUE(log.feed("S B 20"));
  EXPECT_FALSE(log.feed("S Q 20"));
  EXPECT_FALSE(log.feed("S B"));
  EXPECT_EQ(log.background_saves(), 2u);
  EXPECT_EQ(log.sync_saves(), 1u);
  EXPECT_EQ(log.busy_saves(), 1u);
}

TEST(CycleLogTest, AnAcknowledgementAfterAFailedCommitIsAViolation) {
  CycleLog log;
  ASSERT_TRUE(log.feed("B 0"));
  ASSERT_TRUE(log.feed("I 1 1 P w k1 v 0"));
  ASSERT_TRUE(log.feed("I 2 1 P w k2 v 0"));  // commit 1 failed (no answer)
  EXPECT_FALSE(log.feed("A 2 5 R 0 1 P w k2 v 0"));
}

TEST(CycleLogTest, ARefusalIsNotInFlight) {
  CycleLog log;
  ASSERT_TRUE(log.feed("I 1 1 P w k1 v 0"));
  ASSERT_TRUE(log.feed("N 1"));
  ASSERT_TRUE(log.feed("I 2 1 P w k2 v 0"));
  ASSERT_TRUE(log.feed("A 2 5 R 0 1 P w k2 v 0"));
  log.finish();
  EXPECT_FALSE(log.maybe().has_value());
  EXPECT_EQ(log.acked().size(), 1u);
  EXPECT_FALSE(log.feed("A 9 5 R 0 1 P w k2 v 0")) << "an acknowledgement of a commit never attempted";
  EXPECT_FALSE(log.feed("Q what"));
}

TEST(ProtocolTest, LinesRoundTrip) {
  CommitRecord c;
  c.seq = 7;
  c.lsn = 42;
  c.sync = true;
  c.coalesce_count = 3;
  c.ops.push_back(Put('w', "ttl:1", "v1-xx", 123));
  Op row;
  row.kind = Op::Kind::kRowPut;
  row.id = 5;
  row.row = Character{"n3", 4};
  c.ops.push_back(row);
  c.ops.push_back(RemovePrefix('p', "k1"));
  c.ops.push_back(ZScore("p3", -2.5));
  c.ops.push_back(Game(Op::Kind::kLPop, "queue", "job7"));
  c.ops.push_back(Deliver(StreamId{1700000000000, 3}, "w2"));
  Op trim = Game(Op::Kind::kXTrim, "events", "");
  trim.count = 12;
  c.ops.push_back(trim);
  Line line;
  ASSERT_TRUE(ParseLine(EncodeAck(c), &line));
  EXPECT_EQ(EncodeAck(line.commit), EncodeAck(c));
  ASSERT_EQ(line.commit.ops.size(), c.ops.size());
  EXPECT_EQ(line.commit.ops[3].score, -2.5);
  EXPECT_EQ(line.commit.ops[5].stream_id, (StreamId{1700000000000, 3}));
  EXPECT_FALSE(ParseLine("A 7 0 R 3 1 XD events workers w1 5-x", &line)) << "a malformed stream ID";
  EXPECT_FALSE(ParseLine("A 7 42 S 3 2 P w k1 v 0", &line)) << "fewer operations than announced";
}

}  // namespace
}  // namespace savepoint::crashtest
