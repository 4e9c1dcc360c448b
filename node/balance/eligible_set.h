// EligibleSet: the eligible candidates of a balancer in list order, and the retry walk that
// several algorithms share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "balance/balancer.h"

namespace plby::balance {

inline bool WasTried(std::span<const uint32_t> tried, uint32_t candidate) {
  return std::find(tried.begin(), tried.end(), candidate) != tried.end();
}

// The effective weights of the eligible candidates, in list order.
inline std::vector<int64_t> EligibleWeights(std::span<const Candidate> candidates) {
  std::vector<int64_t> weights;
  for (const Candidate& candidate : candidates) {
    if (candidate.eligible) weights.push_back(candidate.effective_weight);
  }
  return weights;
}

class EligibleSet {
 public:
  explicit EligibleSet(std::span<const Candidate> candidates) : position_(candidates.size()) {
    for (uint32_t i = 0; i < candidates.size(); ++i) {
      position_[i] = candidates[i].eligible ? static_cast<uint32_t>(eligible_.size()) : kNoBackend;
      if (candidates[i].eligible) eligible_.push_back(i);
    }
  }

  size_t size() const { return eligible_.size(); }
  uint32_t at(size_t position) const { return eligible_[position]; }
  bool contains(uint32_t candidate) const { return position_[candidate] != kNoBackend; }

  // The first eligible candidate at or after `position` in list order (wrapping around) that
  // is neither in `tried` nor `excluded`; kNoBackend when there is none.
  uint32_t FirstUntriedFrom(size_t position, std::span<const uint32_t> tried,
                            uint32_t excluded = kNoBackend) const {
    for (size_t step = 0; step < eligible_.size(); ++step) {
      const uint32_t candidate = eligible_[(position + step) % eligible_.size()];
      if (candidate != excluded && !WasTried(tried, candidate)) return candidate;
    }
    return kNoBackend;
  }

  // A retry in list order: the first untried one after the last tried.
  uint32_t NextAfterLastTried(std::span<const uint32_t> tried) const {
    const uint32_t last = position_[tried.back()];
    return FirstUntriedFrom(last == kNoBackend ? 0 : last + 1, tried);
  }

 private:
  std::vector<uint32_t> eligible_;  // candidate indices
  std::vector<uint32_t> position_;  // per candidate: its index in eligible_, or kNoBackend
};

}  // namespace plby::balance
