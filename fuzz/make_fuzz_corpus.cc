// make_fuzz_corpus: writes the seed inputs of the key codec, value codec and structures model fuzzers.
//
//   make_fuzz_corpus key_codec|value_codec|structures_model OUTPUT_DIR
//
// Seeds are built with the codecs themselves (so they are valid by the encoder's definition) plus a few
// hand-made hostile ones; each file starts with its fuzzer's mode byte (see the fuzzer's header comment).
// The output is the same on every run.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz/structures_model_ops.h"
#include "savepoint/key_codec.h"
#include "savepoint/registry.h"

namespace savepoint {
namespace {

using namespace std::string_literals;

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_fuzz_corpus: cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

std::string Mode(uint8_t mode, const std::string& rest) { return std::string(1, static_cast<char>(mode)) + rest; }

void KeyCodecCorpus(const std::string& dir) {
  const Uuid tenant = *Uuid::Parse("3b241101-e2bb-4255-8caf-4136c566a962");
  const KeyTuple doc_example = {tenant, ("a\0b"s), int64_t{-1}};
  const KeyTuple all_types = {std::monostate{}, Bytes{("\0\xff"s)}, std::string("ab"), int64_t{7},
                              uint64_t{7}, true, tenant};
  Write(dir, "doc_example", Mode(0, EncodeKey(doc_example)));
  Write(dir, "all_types", Mode(0, EncodeKey(all_types)));
  Write(dir, "extremes", Mode(0, EncodeKey({int64_t{INT64_MIN}, int64_t{INT64_MAX}, uint64_t{UINT64_MAX},
                                            ("\0\0"s), Bytes{"\xff\xff"}})));
  // Two keys for the order check: "ab" vs "ab\0" (a byte prefix that is not a tuple prefix).
  const std::string a = EncodeKey({std::string("ab"), int64_t{1}}), b = EncodeKey({("ab\0"s)});
  Write(dir, "pair_prefix_strings", Mode(static_cast<uint8_t>(((64 * a.size() / (a.size() + b.size()) + 1) << 2) | 1),
                                         a + b));
  Write(dir, "pair_tenant", Mode(static_cast<uint8_t>((32 << 2) | 1),
                                 EncodeKey({tenant, int64_t{5}}) + EncodeKey({tenant, std::string("x")})));
  // Recipes (mode 2): element kinds 0..6 with small payloads; 0x80 in the mode shares a prefix.
  Write(dir, "recipe_strings", Mode(2, ("\x03\x02\x03\x00\x01\x03\x01\x03\x00\x01\x00"s)));
  Write(dir, "recipe_shared_prefix", Mode(0x80 | (2 << 3) | 2, ("\x04\x06\x07\x03\x00\x05\x02\x04\x06\x07\x02"
                                                                           "\x02\x01\x00"s)));
  // Text seeds: canonical and hand-written forms, and broken ones.
  Write(dir, "text_canonical", KeyToText(all_types));
  Write(dir, "text_doc_example",
        std::string("(3b241101-e2bb-4255-8caf-4136c566a962, \"a\\x00b\", -1, 7u, x\"00ff\", true, null)"));
  Write(dir, "text_loose", std::string(" ( -9223372036854775808 ,18446744073709551615u,\"\\\"\\\\\" ) "));
  Write(dir, "text_broken", std::string("(1, \"unterminated"));
  // Hostile bytes: unknown tag, truncated int, unterminated string, bad bool.
  Write(dir, "bad_tag", Mode(0, ("\x02" "a\0\x7f"s)));
  Write(dir, "bad_truncated_int", Mode(0, ("\x14\x80\x00\x00"s)));
  Write(dir, "bad_unterminated", Mode(0, ("\x01" "ab\0\xff"s)));
  Write(dir, "bad_bool", Mode(0, ("\x26\x02"s)));
}

void ValueCodecCorpus(const std::string& dir) {
  using nlohmann::json;
  const json v1 = {{"name", "kara"}, {"health", 90}, {"level", 3}, {"items", {1, 2, 3}}};
  const json v3 = {{"name", "kara"}, {"hp", 90.5},     {"level", 4},  {"gold", 100},
                   {"rank", -2},     {"online", true}, {"items", {7}}, {"tags", {{"guild", "owls"}}}};
  Write(dir, "row_v1", Mode(0, registry_internal::EncodeDocument(1, v1)));
  Write(dir, "row_v2_negative_level", Mode(0, registry_internal::EncodeDocument(2, {{"level", -1}})));
  Write(dir, "row_v3", Mode(0, registry_internal::EncodeDocument(3, v3)));
  Write(dir, "row_v4_newer", Mode(0, registry_internal::EncodeDocument(4, v3)));
  Write(dir, "row_wrong_types", Mode(0, registry_internal::EncodeDocument(3, {{"level", "high"}, {"items", 5}})));
  Write(dir, "row_not_object", Mode(0, registry_internal::EncodeDocument(1, json::array({1, "x", nullptr}))));
  Write(dir, "row_big_numbers",
        Mode(0, registry_internal::EncodeDocument(3, {{"level", 1e300}, {"gold", -1}, {"rank", 70000}, {"hp", -0.0}})));
  std::vector<uint8_t> cbor = json::to_cbor(v3);
  Write(dir, "cbor_v3", Mode(1 | (2 << 2), std::string(cbor.begin(), cbor.end())));
  cbor = json::to_cbor(v1);
  Write(dir, "cbor_v1", Mode(1, std::string(cbor.begin(), cbor.end())));
  Write(dir, "cbor_binary_and_half_float", Mode(1 | (2 << 2), ("\xa2\x61" "a\x42\x00\xff\x61" "b\xf9\x7e\x00"s)));
  Write(dir, "cbor_indefinite", Mode(1 | (2 << 2), ("\xbf\x61" "a\x9f\x01\x02\xff\xff"s)));
  Write(dir, "cbor_tag", Mode(1, ("\xc1\x1a\x51\x4b\x67\xb0"s)));
  // Merge patches: "<stored>\0<patch>".
  Write(dir, "patch_rfc7386", Mode(2, ("{\"a\":\"b\",\"c\":{\"d\":\"e\",\"f\":\"g\"}}\0"
                                                  "{\"a\":\"z\",\"c\":{\"f\":null}}"s)));
  Write(dir, "patch_absent", Mode(2, "{\"hp\":10,\"pos\":{\"x\":1}}"));
  Write(dir, "patch_not_json", Mode(2, ("{\"a\":1}\0{not json"s)));
  Write(dir, "patch_stored_not_json", Mode(2, ("plain text\0{}"s)));
  Write(dir, "patch_array_replaces", Mode(2, ("{\"a\":[1,2]}\0[3]"s)));
  // Amplified nesting: [count u16][open_len][open][close_len][close][core].
  auto amplify = [](uint16_t count, const std::string& open, const std::string& close, const std::string& core) {
    std::string out;
    out.push_back(static_cast<char>(count & 0xff));
    out.push_back(static_cast<char>(count >> 8));
    out.push_back(static_cast<char>(open.size()));
    out += open;
    out.push_back(static_cast<char>(close.size()));
    out += close;
    return Mode(3, out + core);
  };
  Write(dir, "deep_arrays", amplify(600, "[", "]", "1"));
  Write(dir, "deep_objects", amplify(513, "{\"a\":", "}", "null"));
  Write(dir, "deep_cbor_arrays", amplify(60000, "\x81", "", "\x01"));
  Write(dir, "deep_cbor_maps", amplify(60000, ("\xa1\x60"s), "", "\x01"));
  // Found by the fuzzer: indefinite-length byte strings nested in each other (nlohmann recursed per chunk).
  Write(dir, "regression_nested_indefinite_bytes", amplify(15192, "\x5f", "]", "2"));
}

// Op sequences (structures_model_ops.h).
void StructuresModelCorpus(const std::string& dir) {
  using namespace fuzz;
  auto seq = [](std::initializer_list<int> bytes) {
    std::string out;
    for (int b : bytes) out.push_back(static_cast<char>(b));
    return out;
  };
  // A leaderboard: zadd, zincrby, ranged reads, power cut, zremrangebyscore, clean reopen.
  Write(dir, "leaderboard", seq({kZAdd, 0, 0, 2, 0, kZAdd, 0, 1, 4, 32, 2, 5, kZIncrBy, 0, 2, 0, kZIncrBy, 0, 4, 1,
                                 kRead, 0, 0, 0xff, 1, 0, 2, 3, kPowerCut, 0, 0, 0, kZRemRangeByScore, 0, 3, 2, 1,
                                 kRead, 0, 0, 2, 0, 1, kReopen}));
  // A queue: rpush, lpop, a crash point in the WAL between write and sync, then pops.
  Write(dir, "queue", seq({kPush, 2, 0, 0, 1, 1, kPush, 2, 0, 6, 0, kPop, 2, 1, kArmCrashPoint, 0, 2, kPush, 2, 1, 7,
                           0, kPop, 2, 0, kRead, 2, 0, 0xff, 0, 0, kPowerCut, 1, 7, 0}));
  // A stream with a consumer group: xadd, group, readgroup, ack, claim after time passes, reopen.
  Write(dir, "stream_group", seq({kXAdd, 3, 0, 0, 0, 0, 0, kXAdd, 3, 1, 1, 4, 0, 0, 2, 3, kXGroupCreate, 3, 0, 1, 0,
                                  kXReadGroup, 3, 0, 0, 2, 1, kXAdd, 3, 2, 2, 0, 0, 0, kXReadGroup, 3, 0, 1, 0, 1,
                                  kXAck, 3, 0, 0, kAdvanceClock, 4, kXClaim, 3, 0, 1, 2, 0x40, kReopen, kXReadGroup,
                                  3, 0, 0, 0, 0, kXTrim, 3, 1, kXDel, 3, 0, kPowerCut, 2, 9, 0}));
  // Sets and hashes on names that are byte prefixes of each other, then WrongType and the empty key.
  Write(dir, "prefix_keys", seq({kSAdd, 0, 0, 1, 1, kSAdd, 4, 0, 0, kHSet, 6, 0, 0, 1, 1, 1, kSRem, 4, 0, 0, kGet, 0,
                                 kHIncrBy, 6, 1, 0, kSAdd, 7, 0, 0, kSet, 7, 0, 0, kIncrBy, 5, 4, kIncrBy, 5, 0,
                                 kPowerCut, 4, 0, 30}));
  // TTLs: set with px, pexpire, the exact instant, sweep, persist, reopen.
  Write(dir, "ttl", seq({kSet, 0, 0, 8, 0, kPExpire, 2, 3, kSAdd, 2, 0, 0, kPExpire, 2, 2, kAdvanceClock, 1,
                         kRead, 2, 0, 0, 0, 0, kAdvanceClock, 0, kRead, 2, 0, 0, 0, 0, kSweep, kPersist, 0, kReopen,
                         kAdvanceClock, 4, kSAdd, 2, 1, 0, kPowerCut, 0, 0, 0}));
  // Strings: cas, merge patch, incrby overflow, set nx/xx/keepttl.
  Write(dir, "strings", seq({kSet, 5, 1, 0, kIncrBy, 5, 4, kCompareAndSet, 5, 1, 0, kMergePatch, 1, 2, kMergePatch, 1,
                             1, kMergePatch, 1, 6, kSet, 1, 0, 1, kSet, 1, 2, 0x82, kSet, 1, 3, 4, kCheckpoint,
                             kPowerCut, 0, 0, 0}));
  // Crash points in the materializer and a checkpoint with writes around them.
  Write(dir, "checkpoint_crash", seq({kHSet, 0, 0, 0, 0, kCheckpoint, kArmCrashPoint, 7, 0, kHSet, 0, 1, 1, 0,
                                      kCheckpoint, kHSet, 0, 2, 2, 0, kReopen, kArmCrashPoint, 5, 1, kZAdd, 2, 0, 2,
                                      0, kZAdd, 2, 1, 3, 0}));
}

}  // namespace
}  // namespace savepoint

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_fuzz_corpus key_codec|value_codec|structures_model OUTPUT_DIR\n");
    return 2;
  }
  const std::string kind = argv[1], dir = argv[2];
  std::filesystem::create_directories(dir);
  if (kind == "key_codec") {
    savepoint::KeyCodecCorpus(dir);
  } else if (kind == "value_codec") {
    savepoint::ValueCodecCorpus(dir);
  } else if (kind == "structures_model") {
    savepoint::StructuresModelCorpus(dir);
  } else {
    std::fprintf(stderr, "make_fuzz_corpus: unknown corpus %s\n", kind.c_str());
    return 2;
  }
  return 0;
}
