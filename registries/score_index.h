// ScoreIndex: a sorted set's members in (score, member bytes) order, with order statistics, as an in-memory
// B+tree. Leaves hold up to kLeafCap keys in arrays and are linked in order; an inner node holds its
// children, the number of keys under each (for rank and select), and separators: key i is the least key
// child i may hold (i >= 1). Separators go stale when keys are removed, which is harmless: they stay bounds.
//
// Why not a red-black tree: a key there is a node of its own, so a search or a step to a neighbour is a
// cache miss per level, and a leaderboard of a million members is 20 levels deep. Here the inner levels are
// a few KiB each and stay cached; a search ends with one leaf, and a small score change (ZINCRBY) moves the
// key within its leaf without touching any count.
//
// Leaves split when full; a leaf that runs low is merged with a sibling when both fit in one leaf, and an
// empty node is unlinked. Inner nodes split when full and are never merged (there are few of them).
//
// A `member` argument must not point into the index (an iterator's member()): a change moves those strings.
//
// Thread-safety: none; the owner serialises access (Structures: the key's stripe lock).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace savepoint::structures {

template <int kLeafCap = 32, int kInnerCap = 32>  // tests use tiny nodes to split and merge a lot
class BasicScoreIndex {
  static_assert(kLeafCap >= 4 && kInnerCap >= 4, "nodes need room to split");

  struct Leaf;

 public:
  BasicScoreIndex() : root_(new Leaf), head_(static_cast<Leaf*>(root_)), tail_(head_) {}
  ~BasicScoreIndex() { Free(root_); }
  BasicScoreIndex(const BasicScoreIndex&) = delete;
  BasicScoreIndex& operator=(const BasicScoreIndex&) = delete;

  size_t size() const { return size_; }

  // A position in key order; end() is one past the last key. Invalidated by any change.
  class iterator {
   public:
    double score() const { return leaf_->scores[i_]; }
    const std::string& member() const { return leaf_->members[i_]; }
    iterator& operator++() {
      if (++i_ == leaf_->n) {
        leaf_ = leaf_->next;
        i_ = 0;
      }
      return *this;
    }
    // REQUIRES: not begin().
    iterator& operator--() {
      if (leaf_ == nullptr) {
        leaf_ = owner_->tail_;
        i_ = leaf_->n;
      } else if (i_ == 0) {
        leaf_ = leaf_->prev;
        i_ = leaf_->n;
      }
      --i_;
      return *this;
    }
    bool operator==(const iterator& o) const { return leaf_ == o.leaf_ && i_ == o.i_; }

   private:
    friend class BasicScoreIndex;
    iterator(const BasicScoreIndex* owner, const Leaf* leaf, int i) : owner_(owner), leaf_(leaf), i_(i) {
      if (leaf_ != nullptr && i_ == leaf_->n) {  // past a leaf's end: the next leaf's first key
        leaf_ = leaf_->next;
        i_ = 0;
      }
    }
    const BasicScoreIndex* owner_;
    const Leaf* leaf_;  // nullptr: end()
    int i_;
  };

  iterator begin() const { return iterator(this, size_ == 0 ? nullptr : head_, 0); }
  iterator end() const { return iterator(this, nullptr, 0); }

  // The key at `rank` (0-based); end() when rank >= size().
  iterator at(size_t rank) const {
    if (rank >= size_) return end();
    const Node* node = root_;
    while (!node->leaf) {
      const auto* in = static_cast<const Inner*>(node);
      int c = 0;
      while (rank >= in->counts[c]) rank -= in->counts[c++];
      node = in->children[c];
    }
    return iterator(this, static_cast<const Leaf*>(node), static_cast<int>(rank));
  }

  // The first key not ordering before (score, member).
  iterator lower_bound(double score, std::string_view member) const {
    const Node* node = root_;
    while (!node->leaf) {
      const auto* in = static_cast<const Inner*>(node);
      node = in->children[in->route(score, member)];
      PrefetchScores(node);
    }
    const auto* leaf = static_cast<const Leaf*>(node);
    return iterator(this, leaf, leaf->lower_bound(score, member));
  }

  // How many keys order before (score, member): the rank of a key present.
  size_t rank(double score, std::string_view member) const {
    size_t before = 0;
    const Node* node = root_;
    while (!node->leaf) {
      const auto* in = static_cast<const Inner*>(node);
      const int c = in->route(score, member);
      for (int i = 0; i < c; ++i) before += in->counts[i];
      node = in->children[c];
      PrefetchScores(node);
    }
    return before + static_cast<size_t>(static_cast<const Leaf*>(node)->lower_bound(score, member));
  }

  // REQUIRES: no key has this member (a member is in the index at most once).
  void insert(double score, std::string_view member) {
    if (root_->n == (root_->leaf ? kLeafCap : kInnerCap)) {
      auto* root = new Inner;
      root->n = 1;
      root->children[0] = root_;
      root->counts[0] = size_;
      root_ = root;
      SplitChild(root, 0);
    }
    Node* node = root_;
    while (!node->leaf) {
      auto* in = static_cast<Inner*>(node);
      int c = in->route(score, member);
      Node* child = in->children[c];
      if (child->n == (child->leaf ? kLeafCap : kInnerCap)) {
        SplitChild(in, c);
        if (!Less(score, member, in->sep_scores[c + 1], in->sep_members[c + 1])) ++c;
      }
      in->counts[c]++;
      node = in->children[c];
      PrefetchScores(node);
    }
    auto* leaf = static_cast<Leaf*>(node);
    leaf->insert_at(leaf->lower_bound(score, member), score, member);
    ++size_;
  }

  // Removes (score, member); false (changing nothing) when absent.
  bool erase(double score, std::string_view member) {
    Path path;
    Leaf* leaf = Descend(score, member, &path);
    const int i = leaf->lower_bound(score, member);
    if (i == leaf->n || leaf->scores[i] != score || leaf->members[i] != member) return false;
    leaf->erase_at(i);
    for (int d = 0; d < path.depth; ++d) path.steps[d].node->counts[path.steps[d].child]--;
    --size_;
    Rebalance(leaf, &path);
    return true;
  }

  // Changes the score of a key present from `old_score` to `new_score`. When the new key still routes to
  // the same leaf (the usual case for a small change) it moves within the leaf and no count changes.
  void update(double old_score, double new_score, std::string_view member) {
    Path path;
    Leaf* leaf = Descend(old_score, member, &path);
    const int i = leaf->lower_bound(old_score, member);
    if (i < leaf->n && leaf->scores[i] == old_score && leaf->members[i] == member &&
        path.admits(new_score, member)) {
      leaf->scores[i] = new_score;
      // Slide the key to its place among the others (they stay sorted; one of the two loops runs).
      for (int j = i; j + 1 < leaf->n && Less(leaf->scores[j + 1], leaf->members[j + 1], new_score, member); ++j) {
        leaf->swap(j, j + 1);
      }
      for (int j = i; j > 0 && Less(new_score, member, leaf->scores[j - 1], leaf->members[j - 1]); --j) {
        leaf->swap(j, j - 1);
      }
      return;
    }
    erase(old_score, member);
    insert(new_score, member);
  }

 private:
  static bool Less(double s1, std::string_view m1, double s2, std::string_view m2) {
    return s1 < s2 || (s1 == s2 && m1 < m2);
  }

  struct Node {
    explicit Node(bool is_leaf) : leaf(is_leaf) {}
    const bool leaf;
    int n = 0;  // keys (leaf) or children (inner)
  };

  // Both kinds of node start with their scores (see PrefetchScores).
  struct Leaf : Node {
    Leaf() : Node(true) {}
    double scores[kLeafCap];
    Leaf* prev = nullptr;
    Leaf* next = nullptr;
    std::string members[kLeafCap];

    int lower_bound(double score, std::string_view member) const {
      int lo = 0, hi = this->n;
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (Less(scores[mid], members[mid], score, member)) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return lo;
    }
    void insert_at(int i, double score, std::string_view member) {
      for (int j = this->n; j > i; --j) move_from(j, j - 1);
      scores[i] = score;
      members[i].assign(member);
      ++this->n;
    }
    void erase_at(int i) {
      for (int j = i; j + 1 < this->n; ++j) move_from(j, j + 1);
      --this->n;
      members[this->n].clear();
      members[this->n].shrink_to_fit();
    }
    void move_from(int to, int from) {
      scores[to] = scores[from];
      members[to] = std::move(members[from]);
    }
    void swap(int a, int b) {
      std::swap(scores[a], scores[b]);
      members[a].swap(members[b]);
    }
  };

  struct Inner : Node {
    Inner() : Node(false) {}
    double sep_scores[kInnerCap];  // [0] unused
    Node* children[kInnerCap];
    uint64_t counts[kInnerCap];  // keys under each child
    std::string sep_members[kInnerCap];

    // The child whose range holds (score, member): the number of separators at or below it, minus one.
    int route(double score, std::string_view member) const {
      int lo = 1, hi = this->n;  // the first separator above the key, in [1, n]
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (Less(score, member, sep_scores[mid], sep_members[mid])) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      return lo - 1;
    }
    // Makes room at child position i (shifting i.. right).
    void open_at(int i) {
      for (int j = this->n; j > i; --j) move_from(j, j - 1);
      ++this->n;
    }
    // Removes child position i; the separator of position i goes with it (for i = 0, the next child's, which
    // position 0 does not need).
    void close_at(int i) {
      for (int j = i; j + 1 < this->n; ++j) move_from(j, j + 1);
      --this->n;
      sep_members[this->n].clear();
    }
    void move_from(int to, int from) {
      counts[to] = counts[from];
      children[to] = children[from];
      sep_scores[to] = sep_scores[from];
      sep_members[to] = std::move(sep_members[from]);
    }
  };

  // The inner nodes from the root to a leaf, each with the child taken, and the leaf's key range.
  struct Path {
    struct Step {
      Inner* node;
      int child;
    };
    // The root splits only when full, so depth d takes at least 2^(d-1) leaf splits: 64 is never reached.
    Step steps[64];
    int depth = 0;
    // The tightest separators met: every key routed to the leaf is in [low, high).
    const Inner* low = nullptr;
    int low_i = 0;
    const Inner* high = nullptr;
    int high_i = 0;

    bool admits(double score, std::string_view member) const {
      if (low != nullptr && Less(score, member, low->sep_scores[low_i], low->sep_members[low_i])) return false;
      return high == nullptr || Less(score, member, high->sep_scores[high_i], high->sep_members[high_i]);
    }
  };

  // Starts fetching the scores of `node`, which a search of it reads first, all at once: the binary search
  // then finds them arriving instead of waiting for each line in turn.
  static void PrefetchScores(const Node* node) {
    const char* p = reinterpret_cast<const char*>(node);
    constexpr int kLines = (8 + 8 * std::max(kLeafCap, kInnerCap) + 63) / 64;
    for (int i = 0; i < kLines; ++i) __builtin_prefetch(p + 64 * i);
  }

  Leaf* Descend(double score, std::string_view member, Path* path) const {
    Node* node = root_;
    while (!node->leaf) {
      auto* in = static_cast<Inner*>(node);
      const int c = in->route(score, member);
      if (path->depth == 64) std::abort();
      path->steps[path->depth++] = {in, c};
      if (c > 0) {
        path->low = in;
        path->low_i = c;
      }
      if (c + 1 < in->n) {
        path->high = in;
        path->high_i = c + 1;
      }
      node = in->children[c];
      PrefetchScores(node);
    }
    return static_cast<Leaf*>(node);
  }

  // Splits full child c of `parent` (which has room) in two halves; the new right half becomes child c + 1.
  void SplitChild(Inner* parent, int c) {
    Node* child = parent->children[c];
    parent->open_at(c + 1);
    if (child->leaf) {
      auto* left = static_cast<Leaf*>(child);
      auto* right = new Leaf;
      const int half = left->n / 2;
      for (int j = half; j < left->n; ++j) {
        right->scores[j - half] = left->scores[j];
        right->members[j - half] = std::move(left->members[j]);
      }
      right->n = left->n - half;
      left->n = half;
      right->prev = left;
      right->next = left->next;
      (left->next != nullptr ? left->next->prev : tail_) = right;
      left->next = right;
      parent->children[c + 1] = right;
      parent->counts[c] = static_cast<uint64_t>(left->n);
      parent->counts[c + 1] = static_cast<uint64_t>(right->n);
      parent->sep_scores[c + 1] = right->scores[0];
      parent->sep_members[c + 1] = right->members[0];
      return;
    }
    auto* left = static_cast<Inner*>(child);
    auto* right = new Inner;
    const int half = left->n / 2;
    uint64_t moved = 0;
    for (int j = half; j < left->n; ++j) {
      right->counts[j - half] = left->counts[j];
      right->children[j - half] = left->children[j];
      right->sep_scores[j - half] = left->sep_scores[j];
      right->sep_members[j - half] = std::move(left->sep_members[j]);
      moved += left->counts[j];
    }
    right->n = left->n - half;
    left->n = half;
    parent->children[c + 1] = right;
    parent->counts[c + 1] = moved;
    parent->counts[c] -= moved;
    // Right's first child needs no separator: the one it had bounds right as a whole.
    parent->sep_scores[c + 1] = right->sep_scores[0];
    parent->sep_members[c + 1] = std::move(right->sep_members[0]);
  }

  // After an erase from `leaf` at the end of `path`: unlinks an empty leaf (and inner nodes left empty),
  // merges a leaf running low into a sibling when both fit, and shortens the tree while its root has one
  // child.
  void Rebalance(Leaf* leaf, Path* path) {
    if (path->depth == 0) return;  // the root leaf may be empty or small
    auto [parent, c] = path->steps[path->depth - 1];
    if (leaf->n == 0) {
      Unlink(leaf);
      delete leaf;
      RemoveChild(path, path->depth - 1);
    } else if (leaf->n < kLeafCap / 4) {
      if (c + 1 < parent->n && leaf->n + parent->children[c + 1]->n <= kLeafCap / 2) {
        MergeLeaves(parent, c);
      } else if (c > 0 && parent->children[c - 1]->n + leaf->n <= kLeafCap / 2) {
        MergeLeaves(parent, c - 1);
      }
    }
    while (!root_->leaf && root_->n == 1) {
      auto* old = static_cast<Inner*>(root_);
      root_ = old->children[0];
      old->n = 0;
      delete old;
    }
  }

  // Moves leaf child c + 1 of `parent` into leaf child c and removes it.
  void MergeLeaves(Inner* parent, int c) {
    auto* left = static_cast<Leaf*>(parent->children[c]);
    auto* right = static_cast<Leaf*>(parent->children[c + 1]);
    for (int j = 0; j < right->n; ++j) {
      left->scores[left->n + j] = right->scores[j];
      left->members[left->n + j] = std::move(right->members[j]);
    }
    left->n += right->n;
    parent->counts[c] += parent->counts[c + 1];
    Unlink(right);
    delete right;
    parent->close_at(c + 1);
  }

  // Removes the child taken at path step d, and the node of that step too if it is left without children
  // (an empty root becomes an empty leaf).
  void RemoveChild(Path* path, int d) {
    auto [node, c] = path->steps[d];
    node->close_at(c);
    if (node->n > 0) return;
    delete node;
    if (d > 0) {
      RemoveChild(path, d - 1);
    } else {
      root_ = head_ = tail_ = new Leaf;
    }
  }

  void Unlink(Leaf* leaf) {
    (leaf->prev != nullptr ? leaf->prev->next : head_) = leaf->next;
    (leaf->next != nullptr ? leaf->next->prev : tail_) = leaf->prev;
  }

  static void Free(Node* node) {
    if (!node->leaf) {
      auto* in = static_cast<Inner*>(node);
      for (int i = 0; i < in->n; ++i) Free(in->children[i]);
      delete in;
    } else {
      delete static_cast<Leaf*>(node);
    }
  }

  Node* root_;
  Leaf* head_;  // the first leaf (the root leaf when the index is one leaf)
  Leaf* tail_;
  size_t size_ = 0;
};

using ScoreIndex = BasicScoreIndex<>;

}  // namespace savepoint::structures
