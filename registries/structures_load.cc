// Loading a Structures database from its rows, and the rules its rows must keep (structures_check.h;
// layout and rules in docs/structures.md).
//
// Every operation commits all the rows it changes in one transaction, so rows never disagree after a
// crash. They can after `wal salvage`: the records of a lost segment are gone, and the records after it
// were computed from a memory that had them. What that leaves, and how it is repaired, is decided here only:
//   - element rows without a meta row (the record that created the key is lost): the key is kept, with the
//     type its rows say, and its meta row is written;
//   - element rows of a kind the key's type does not have (the record that deleted the key and made it
//     again as another type is lost; the meta row says what the key is now): the rows are removed;
//   - a list whose positions have gaps (pushes lost): the items keep their order and are renumbered from
//     the head, so the positions are contiguous again;
//   - a hash, set, sorted set or list meta row without elements: the key is deleted, as an emptied key is;
//   - a consumer group with pending entries or consumers but no group row (XGROUP CREATE lost): the row is
//     written, its last delivered ID the newest pending ID;
//   - a pending entry whose consumer has no row (its first read lost): the consumer row is written;
//   - a group whose last delivered ID is below one of its pending IDs (the read that delivered it lost):
//     the last delivered ID is raised to the newest pending ID;
//   - a stream whose last ID is below an entry, a group's last delivered ID or a pending ID (XADDs lost
//     whose entries were then read): the last ID is raised, so new IDs never go back behind what consumers
//     were given.
// A pending entry whose stream entry is gone is not a problem: XDEL and trimming leave them, as in Redis.
// A row that does not decode is not repaired (it is not what a lost record leaves): open refuses it.
#include <algorithm>
#include <climits>
#include <cmath>
#include <map>

#include "registries/structures_internal.h"

namespace savepoint::structures {

std::string QuoteStructureKey(std::string_view key) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : key) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && c != '\'' && c != '\\') {
      out.push_back(c);
    } else {
      out.append("\\x");
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  out.push_back('\'');
  return out;
}

namespace {

StructureType TypeOfKind(char kind) {
  for (StructureType t : {StructureType::kHash, StructureType::kSet, StructureType::kZSet,
                          StructureType::kList, StructureType::kStream}) {
    if (ElementKinds(t).find(kind) != std::string_view::npos) return t;
  }
  return StructureType::kNone;
}

std::string ElementRowKey(std::string_view key, char kind, std::string_view rest) {
  std::string out = ElementPrefix(key);
  out.push_back(kind);
  out.append(rest);
  return out;
}

// What the loader notes about a key beyond its object, for the rules that need all of its rows.
struct KeyNotes {
  bool adopted = false;       // it had element rows but no meta row
  uint64_t foreign_rows = 0;  // element rows of a kind its type does not have (removed)
  // Lists with gaps: the index of the first item after the first gap, the old positions of the items from
  // there on, and how many gaps there are.
  size_t first_moved = SIZE_MAX;
  std::vector<int64_t> moved_positions;
  uint64_t gaps = 0;
  std::string first_gap;  // "from 1 to 4"
  // Streams: the groups that have a group row.
  std::set<std::string, std::less<>> groups_with_row;
};

class Loader {
 public:
  Loader(Engine* engine, std::string_view db, Keyspace* meta, Keyspace* elements, StringMap<Object>* objects,
         std::vector<StructureProblem>* problems, Transaction* fix)
      : engine_(engine),
        meta_name_(db),
        elements_name_(std::string(db) + ".elements"),
        meta_(meta),
        elements_(elements),
        objects_(objects),
        problems_(problems),
        fix_(fix) {}

  Status run() {
    const size_t first_problem = problems_->size();
    SP_RETURN_IF_ERROR(engine_->scan(meta_, "", "", [&](std::string_view key, const Entry& e) {
      Object obj;
      Status s = DecodeMeta(e.value->bytes, &obj);
      if (!s.ok()) {
        undecodable_meta_.emplace(key);
        problem(meta_name_, key, "meta row does not decode: " + s.message(), /*repairable=*/false);
      } else {
        objects_->emplace(key, std::move(obj));
      }
      return true;
    }));
    // Rows in key order: a key's rows are together, a list's positions and a stream's IDs ascend.
    SP_RETURN_IF_ERROR(engine_->scan(elements_, "", "", [&](std::string_view row_key, const Entry& e) {
      element(row_key, e.value->bytes);
      return true;
    }));
    std::vector<std::string> emptied;
    for (auto& [key, obj] : *objects_) {
      auto it = notes_.find(key);
      if (!finish(key, obj, it == notes_.end() ? nullptr : &it->second)) emptied.push_back(key);
    }
    for (const std::string& key : emptied) objects_->erase(key);
    // Key order, as the rows: the objects' map iterates in an order that differs between processes.
    std::stable_sort(problems_->begin() + first_problem, problems_->end(),
                     [](const StructureProblem& a, const StructureProblem& b) { return a.key < b.key; });
    return Status::OK();
  }

 private:
  void problem(std::string_view keyspace, std::string_view key, std::string what, bool repairable = true) {
    problems_->push_back({std::string(keyspace), std::string(key), std::move(what), repairable});
  }

  void element(std::string_view row_key, std::string_view value) {
    std::string key;
    std::string_view rest;
    Status s = SplitElementKey(row_key, &key, &rest);
    if (!s.ok()) {
      problem(elements_name_, row_key, "element row key does not parse: " + s.message(), false);
      return;
    }
    if (undecodable_meta_.contains(key)) return;  // reported with the meta row; open refuses the key
    const char kind = rest[0];
    rest.remove_prefix(1);
    auto it = objects_->find(key);
    if (it == objects_->end()) {
      const StructureType type = TypeOfKind(kind);
      if (type == StructureType::kNone) {
        problem(elements_name_, key,
                "element row of unknown kind " + std::to_string(static_cast<uint8_t>(kind)), false);
        return;
      }
      it = objects_->emplace(key, NewObject(type)).first;
      notes_[key].adopted = true;
    }
    Object& obj = it->second;
    if (ElementKinds(obj.type).find(kind) == std::string_view::npos) {
      fix_->remove(elements_, row_key);
      notes_[key].foreign_rows++;
      return;
    }
    auto bad = [&](std::string_view what) {
      problem(elements_name_, key, std::string(what) + " does not decode", false);
    };
    switch (kind) {
      case kHashField:
        static_cast<HashData*>(obj.data.get())->fields.emplace(std::string(rest), std::string(value));
        return;
      case kSetMember:
        static_cast<SetData*>(obj.data.get())->members.emplace(rest);
        return;
      case kZSetMember:
        if (value.size() != 8 || std::isnan(DecodeScore(value))) return bad("a sorted-set score");
        ZSetPut(static_cast<ZSetData*>(obj.data.get()), std::string(rest), DecodeScore(value));
        return;
      case kListItem: {
        if (rest.size() != 8) return bad("a list position");
        auto* list = static_cast<ListData*>(obj.data.get());
        const int64_t pos = static_cast<int64_t>(GetFixed64BE(rest.data()) ^ (1ull << 63));
        if (list->items.empty()) {
          list->head = pos;
        } else {
          const int64_t expected = list->head + static_cast<int64_t>(list->items.size());
          // The notes of the list being read, once it has a gap (a key's rows are together, and no other
          // key's notes are added while they are read, so the pointer stays valid).
          if (gapped_list_ != nullptr && gapped_list_key_ != key) gapped_list_ = nullptr;
          if (pos != expected) {
            if (gapped_list_ == nullptr) {
              gapped_list_ = &notes_[key];
              gapped_list_key_ = key;
              gapped_list_->first_moved = list->items.size();
              gapped_list_->first_gap = "from " + std::to_string(expected - 1) + " to " + std::to_string(pos);
            }
            gapped_list_->gaps++;
          }
          if (gapped_list_ != nullptr) gapped_list_->moved_positions.push_back(pos);
        }
        list->items.emplace_back(value);
        return;
      }
      default:
        stream_element(key, *static_cast<StreamData*>(obj.data.get()), kind, rest, value, bad);
        return;
    }
  }

  template <typename Bad>
  void stream_element(const std::string& key, StreamData& s, char kind, std::string_view rest,
                      std::string_view value, const Bad& bad) {
    switch (kind) {
      case kStreamEntry: {
        StreamFields fields;
        if (rest.size() != 16 || !DecodeFields(value, &fields).ok()) return bad("a stream entry");
        s.entries.emplace(IdFrom(rest.data()), std::move(fields));
        return;
      }
      case kStreamGroup:
        if (value.size() != 16) return bad("a consumer group row");
        s.groups[std::string(rest)].last_delivered = IdFrom(value.data());
        notes_[key].groups_with_row.emplace(rest);
        return;
      case kStreamPending: {
        std::string_view group, consumer;
        if (!GetLengthPrefixed(&rest, &group) || rest.size() != 16 || !GetLengthPrefixed(&value, &consumer) ||
            value.size() != 16) {
          return bad("a pending entry row");
        }
        s.groups[std::string(group)].pending[IdFrom(rest.data())] =
            PendingData{std::string(consumer), GetFixed64BE(value.data()), GetFixed64BE(value.data() + 8)};
        return;
      }
      case kStreamConsumer: {
        std::string_view group;
        if (!GetLengthPrefixed(&rest, &group) || value.size() != 8) return bad("a consumer row");
        s.groups[std::string(group)].consumers[std::string(rest)] = GetFixed64BE(value.data());
        return;
      }
      default:
        return bad("an element row of unknown kind");
    }
  }

  // The rules that need every row of the key. Returns false when the key is to be deleted.
  bool finish(const std::string& key, Object& obj, KeyNotes* notes) {
    const char* type = StructureTypeName(obj.type);
    bool write_meta = notes != nullptr && notes->adopted;
    if (notes != nullptr && notes->adopted) {
      problem(elements_name_, key,
              std::string("element rows without a meta row: kept as a ") + type + ", its meta row written");
    }
    if (notes != nullptr && notes->foreign_rows > 0) {
      problem(elements_name_, key,
              std::to_string(notes->foreign_rows) + " element row(s) of another type than the key's (" +
                  type + "), left by an earlier key of the same name: removed");
    }
    size_t size = SIZE_MAX;  // collections only
    switch (obj.type) {
      case StructureType::kHash:
        size = static_cast<HashData*>(obj.data.get())->fields.size();
        break;
      case StructureType::kSet:
        size = static_cast<SetData*>(obj.data.get())->members.size();
        break;
      case StructureType::kZSet:
        size = static_cast<ZSetData*>(obj.data.get())->scores.size();
        break;
      case StructureType::kList:
        size = static_cast<ListData*>(obj.data.get())->items.size();
        if (notes != nullptr && notes->gaps > 0)
          renumber(key, static_cast<ListData*>(obj.data.get()), *notes);
        break;
      case StructureType::kStream:
        write_meta |= check_stream(key, *static_cast<StreamData*>(obj.data.get()), notes);
        break;
      default:
        break;
    }
    if (size == 0) {
      problem(meta_name_, key, std::string("a ") + type + " without elements: deleted, as an emptied key is");
      fix_->remove(meta_, key);
      return false;
    }
    if (write_meta) fix_->put(meta_, key, EncodeMeta(obj));
    return true;
  }

  void renumber(const std::string& key, ListData* list, const KeyNotes& notes) {
    problem(elements_name_, key,
            "list positions are not contiguous (" +
                (notes.gaps == 1 ? "a gap " : std::to_string(notes.gaps) + " gaps, the first ") +
                notes.first_gap + "): " + std::to_string(notes.moved_positions.size()) +
                (notes.moved_positions.size() == 1 ? " item" : " items") +
                " renumbered to follow on, in order");
    auto row = [&](int64_t pos) {
      std::string rest;
      PutFixed64BE(&rest, static_cast<uint64_t>(pos) ^ (1ull << 63));
      return ElementRowKey(key, kListItem, rest);
    };
    // Removals first: an item's new position may be the old one of an item after it.
    for (int64_t old : notes.moved_positions) fix_->remove(elements_, row(old));
    for (size_t i = notes.first_moved; i < list->items.size(); ++i) {
      fix_->put(elements_, row(list->head + static_cast<int64_t>(i)), list->items[i]);
    }
  }

  // Returns whether the meta row (its last ID) changes.
  bool check_stream(const std::string& key, StreamData& s, const KeyNotes* notes) {
    StreamId needed = s.last_id;
    std::string why;
    auto at_least = [&](StreamId id, const std::string& what) {
      if (id > needed) {
        needed = id;
        why = what;
      }
    };
    if (!s.entries.empty())
      at_least(s.entries.rbegin()->first, "entry " + s.entries.rbegin()->first.ToString());
    for (auto& [name, g] : s.groups) {
      const std::string group = "consumer group '" + name + "'";
      if (notes == nullptr || !notes->groups_with_row.contains(name)) {
        g.last_delivered = g.pending.empty() ? StreamId{} : g.pending.rbegin()->first;
        fix_->put(elements_, ElementRowKey(key, kStreamGroup, name), IdBytes(g.last_delivered));
        problem(elements_name_, key,
                group +
                    " has pending entries or consumers but no group row: written, with last delivered ID " +
                    g.last_delivered.ToString());
      }
      std::map<std::string, uint64_t> missing;  // consumer -> its earliest delivery
      for (const auto& [id, p] : g.pending) {
        if (g.consumers.contains(p.consumer)) continue;
        auto [it, added] = missing.emplace(p.consumer, p.delivery_ms);
        if (!added) it->second = std::min(it->second, p.delivery_ms);
      }
      for (const auto& [consumer, first_seen] : missing) {
        std::string seen;
        PutFixed64BE(&seen, first_seen);
        fix_->put(elements_, ElementRowKey(key, kStreamConsumer, GroupScoped(name, consumer)), seen);
        g.consumers[consumer] = first_seen;
        problem(
            elements_name_, key,
            "consumer '" + consumer + "' of " + group + " has pending entries but no consumer row: written");
      }
      // Only XREADGROUP makes pending entries, and it moves the last delivered ID past them (there is no
      // XGROUP SETID): one below a pending ID lost the read that delivered it.
      if (!g.pending.empty() && g.pending.rbegin()->first > g.last_delivered) {
        const StreamId was = g.last_delivered;
        g.last_delivered = g.pending.rbegin()->first;
        fix_->put(elements_, ElementRowKey(key, kStreamGroup, name), IdBytes(g.last_delivered));
        problem(elements_name_, key,
                "the last delivered ID " + was.ToString() + " of " + group + " is below its pending entry " +
                    g.last_delivered.ToString() +
                    ": raised to it, so what was delivered is not delivered again");
      }
      at_least(g.last_delivered, "the last delivered ID of " + group);
      if (!g.pending.empty()) {
        at_least(g.pending.rbegin()->first,
                 "pending entry " + g.pending.rbegin()->first.ToString() + " of " + group);
      }
    }
    if (needed == s.last_id) return false;
    problem(meta_name_, key,
            "stream last ID " + s.last_id.ToString() + " is below " + why + ": raised to " +
                needed.ToString() + ", so new IDs stay above what consumers were given");
    s.last_id = needed;
    return true;
  }

  Engine* const engine_;
  const std::string meta_name_, elements_name_;
  Keyspace* const meta_;
  Keyspace* const elements_;
  StringMap<Object>* const objects_;
  std::vector<StructureProblem>* const problems_;
  Transaction* const fix_;
  StringMap<KeyNotes> notes_;
  KeyNotes* gapped_list_ = nullptr;
  std::string gapped_list_key_;
  StringSet undecodable_meta_;
};

}  // namespace

Status LoadStructures(Engine* engine, std::string_view db, Keyspace* meta, Keyspace* elements,
                      StringMap<Object>* objects, std::vector<StructureProblem>* problems, Transaction* fix) {
  return Loader(engine, db, meta, elements, objects, problems, fix).run();
}

Status CheckStructures(Engine* engine, std::string_view db, std::vector<StructureProblem>* problems,
                       uint64_t* keys) {
  SP_ASSIGN_OR_RETURN(Keyspace * meta, engine->find_keyspace(db));
  SP_ASSIGN_OR_RETURN(Keyspace * elements, engine->find_keyspace(std::string(db) + ".elements"));
  StringMap<Object> objects;
  Transaction fix;  // what open would commit; a check only reports
  SP_RETURN_IF_ERROR(LoadStructures(engine, db, meta, elements, &objects, problems, &fix));
  *keys = objects.size();
  return Status::OK();
}

}  // namespace savepoint::structures
