// The operations of structures_model_fuzzer, shared with make_fuzz_corpus (which writes seeds as op
// sequences). An input is a sequence of [op byte][argument bytes...]; the op is the byte modulo kOpCount and
// each op reads its arguments from the following bytes (a missing byte reads as 0). Arguments pick from
// small pools (keys, fields, values, scores, ...) so that operations meet each other on the same keys.
#pragma once

#include <cstdint>

namespace savepoint::fuzz {

enum Op : uint8_t {
  kSet,              // key value flags(nx 1, xx 2, keepttl 4, px 8) px
  kGet,              // key
  kDel,              // key
  kIncrBy,           // key delta
  kHSet,             // key field value [second field: flag 1] field value
  kHDel,             // key field field2-flag field
  kHIncrBy,          // key field delta
  kSAdd,             // key member second-flag member
  kSRem,             // key member second-flag member
  kZAdd,             // key member score flags(nx 1, xx 2, gt 4, lt 8, ch 16, second member 32) member score
  kZIncrBy,          // key delta member
  kZRem,             // key member
  kZRemRangeByScore, // key min max flags(min exclusive 1, max exclusive 2)
  kPush,             // key left-flag value second-flag value
  kPop,              // key left-flag
  kXAdd,             // key field value flags(explicit id 1, maxlen 2, second field 4, nomkstream 8) id maxlen
  kXDel,             // key which
  kXTrim,            // key maxlen
  kXGroupCreate,     // key group start(0 "$", 1 0-0, 2 last) mkstream
  kXReadGroup,       // key group consumer count history-flag
  kXAck,             // key group which
  kXClaim,           // key group consumer min-idle which
  kXGroupDestroy,    // key group
  kPExpire,          // key ms
  kPersist,          // key
  kAdvanceClock,     // step
  kSweep,            //
  kCheckpoint,       //
  kReopen,           // clean close and reopen
  kPowerCut,         // how(unsynced kind, tear) seed tear-at: power cut and reopen
  kArmCrashPoint,    // point skip: the power is cut when the point is reached
  kRead,             // key start stop flags member: ranged reads compared with the model
  kCompareAndSet,    // key expected value
  kMergePatch,       // key patch
  kOpCount,
};

}  // namespace savepoint::fuzz
