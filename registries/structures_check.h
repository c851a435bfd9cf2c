// Checking a Structures database's rows against each other (docs/structures.md, "What open checks and
// repairs"). The rules have one owner, the loader (LoadStructures, registries/structures_load.cc):
// Structures::open repairs what they find and `savepoint check` reports it through CheckStructures, so the
// two can never disagree about what is damaged.
//
// Thread-safety: CheckStructures reads through the engine only; it may run beside other readers. On a
// database an application has open, writes racing the scan may show as problems: check it offline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "savepoint/engine.h"

namespace savepoint::structures {

// One thing wrong with the rows of one structure key.
struct StructureProblem {
  std::string keyspace;  // the keyspace of the rows at fault: "<db>" (meta rows) or "<db>.elements"
  std::string key;       // the structure key (raw bytes; QuoteStructureKey for messages)
  std::string what;      // what is wrong and, when repairable, what Structures::open does about it
  // Repairable: what a lost WAL record leaves (rows that decode but disagree), which open repairs with a
  // logged commit. Not: a row that does not decode, which open refuses (Corruption naming the key).
  bool repairable = true;
};

// The key in single quotes, every byte outside printable ASCII (and the quote and backslash) as \xNN.
std::string QuoteStructureKey(std::string_view key);

// Checks every row of the structures database `db` (keyspaces `db` and `db.elements`) and appends what is
// wrong to `problems`; `*keys` is the number of structure keys found. Changes nothing. Errors: the scan's.
Status CheckStructures(Engine* engine, std::string_view db, std::vector<StructureProblem>* problems,
                       uint64_t* keys);

}  // namespace savepoint::structures
