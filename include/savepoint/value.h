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
  // Optional. It may not own its object (MakeValueWith): to keep the object beyond the Value, share the
  // Value's ownership, std::shared_ptr<const T>(value_ptr, static_cast<const T*>(value_ptr->decoded.get())),
  // never a copy of this pointer.
  std::shared_ptr<const void> decoded;
};
using ValuePtr = std::shared_ptr<const Value>;

inline ValuePtr MakeValue(std::string bytes, std::shared_ptr<const void> decoded = nullptr) {
  return std::make_shared<const Value>(Value{std::move(bytes), std::move(decoded)});
}

// A Value whose decoded object is `object`, both in one allocation: a read that reaches the Value (and its
// reference counts) finds the object in the next cache lines instead of behind another pointer. `decoded`
// points into that allocation without owning it; the Value's owners own both.
template <typename T>
ValuePtr MakeValueWith(std::string bytes, T object) {
  struct Block {
    Block(std::string b, T o) : value{std::move(b), nullptr}, object(std::move(o)) {}
    Value value;  // first, as in MakeValue: the reference counts sit just before it (engine/hot_store.h)
    const T object;
  };
  auto block = std::make_shared<Block>(std::move(bytes), std::move(object));
  block->value.decoded = std::shared_ptr<const void>(std::shared_ptr<const void>(), &block->object);
  const Value* value = &block->value;
  return ValuePtr(std::move(block), value);
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
