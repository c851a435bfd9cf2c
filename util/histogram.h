// Latency histograms in HdrHistogram's layout: one bucket per value below 2^kSubBits, then 2^kSubBits buckets
// per power of two, so a reported percentile is within 1/64 (1.6%) of the true sample at any magnitude.
// Percentiles come from the buckets, never from averages.
//
// Histogram is a plain value (one thread, or merged per-thread copies); ConcurrentHistogram takes samples
// from many threads at once with relaxed atomic increments (a few nanoseconds a sample).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace savepoint {

namespace histogram_internal {
inline constexpr int kSubBits = 6;
inline constexpr uint64_t kSub = 1ull << kSubBits;
inline constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

inline size_t Index(uint64_t v) {
  if (v < kSub) return static_cast<size_t>(v);
  const int shift = std::bit_width(v) - 1 - kSubBits;  // keeps kSubBits + 1 significant bits
  return static_cast<size_t>(shift + 1) * kSub + static_cast<size_t>((v >> shift) - kSub);
}
inline uint64_t BucketTop(size_t i) {
  if (i < kSub) return i;
  const size_t shift = i / kSub - 1;
  const uint64_t mantissa = kSub + i % kSub;
  return ((mantissa + 1) << shift) - 1;
}
}  // namespace histogram_internal

class Histogram {
 public:
  void record(uint64_t value) {
    counts_[histogram_internal::Index(value)]++;
    count_++;
    max_ = std::max(max_, value);
  }
  void merge(const Histogram& other) {
    for (size_t i = 0; i < counts_.size(); i++) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The smallest bucket top at or below which a fraction `q` of the samples lie (never above the maximum).
  uint64_t percentile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); i++) {
      seen += counts_[i];
      if (seen >= rank) return std::min(histogram_internal::BucketTop(i), max_);
    }
    return max_;
  }

 private:
  friend class ConcurrentHistogram;
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(histogram_internal::kBuckets);
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

class ConcurrentHistogram {
 public:
  void record(uint64_t value) {
    counts_[histogram_internal::Index(value)].fetch_add(1, std::memory_order_relaxed);
    uint64_t m = max_.load(std::memory_order_relaxed);
    while (value > m && !max_.compare_exchange_weak(m, value, std::memory_order_relaxed)) {
    }
  }
  // A consistent-enough copy for reporting (samples racing with the copy may or may not be in it).
  Histogram snapshot() const {
    Histogram h;
    for (size_t i = 0; i < histogram_internal::kBuckets; i++) {
      h.counts_[i] = counts_[i].load(std::memory_order_relaxed);
      h.count_ += h.counts_[i];
    }
    h.max_ = max_.load(std::memory_order_relaxed);
    return h;
  }

 private:
  std::array<std::atomic<uint64_t>, histogram_internal::kBuckets> counts_{};
  std::atomic<uint64_t> max_{0};
};

}  // namespace savepoint
