// Value and Entry: what the engine stores per key.
//
// A Value holds the encoded bytes (what is logged and materialised) and, optionally, the decoded object the
// layer above built from them: registries keep their typed value there so a get decodes nothing. Values are
// immutable once shared; a write replaces the pointer, never the object.
//
// Thread-safety: immutable, so freely shared across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace savepoint {

struct Value {
  std::string bytes;
  std::shared_ptr<const void> decoded;  // optional; owned by the layer that set it
};
using ValuePtr = std::shared_ptr<const Value>;

inline ValuePtr MakeValue(std::string bytes, std::shared_ptr<const void> decoded = nullptr) {
  return std::make_shared<const Value>(Value{std::move(bytes), std::move(decoded)});
}

// One key's state as a read sees it.
struct Entry {
  ValuePtr value;
  // Changes on every write of the key (Redis WATCH). Never 0 for a present key.
  uint64_t version = 0;
  // Microseconds since the epoch on the engine clock; 0 = never expires.
  uint64_t expire_at_micros = 0;
};

}  // namespace savepoint
