// How deeply JSON text nests, found without recursion. nlohmann's parser, dump and merge_patch recurse once
// per level of arrays and objects, so text from a client or a corrupt row must be checked before it gets to
// choose the stack depth (a few hundred kilobytes of "[[[[" overflow it).
#pragma once

#include <cstddef>
#include <string_view>

namespace savepoint {

// The deepest nesting allowed in a JSON document savepoint parses (merge patches, stored documents).
// Real game documents nest a few levels.
inline constexpr size_t kMaxJsonDepth = 512;

// The deepest nesting of arrays and objects in `text` (brackets outside strings; exact for valid JSON, an
// upper bound for anything else).
size_t JsonNestingDepth(std::string_view text);

}  // namespace savepoint
