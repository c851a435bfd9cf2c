// Checksums of every on-disk byte savepoint writes: XXH3-64 (libxxhash). Chosen over CRC32C because it is
// faster in software on any x86-64/ARM (no SSE4.2 dependency), its 64 bits make a random match of garbage
// negligible (2^-64 vs 2^-32 for a resynchronising reader scanning a damaged segment), and Debian ships it.
// docs/wal_format.md records the choice.
#pragma once

#include <cstdint>
#include <string_view>

namespace savepoint {

uint64_t Checksum64(std::string_view data);
// Checksum of the concatenation a + b, without building it.
uint64_t Checksum64(std::string_view a, std::string_view b);

}  // namespace savepoint
