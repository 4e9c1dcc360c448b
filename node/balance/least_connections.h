// Least connections (HAProxy's leastconn): the eligible backend with the fewest connections
// per unit of effective weight; among several with as few, the ticket's turn in list order.
// Two passes over the eligible backends.
#pragma once

#include "balance/balancer.h"
#include "balance/eligible_set.h"

namespace plby::balance {

// Whether `a` has fewer connections per unit of weight than `b`, without dividing:
// load_a / weight_a < load_b / weight_b.
inline bool LessLoaded(const Candidate& a, const Candidate& b) {
  const int64_t load_a = a.load->load(std::memory_order_relaxed);
  const int64_t load_b = b.load->load(std::memory_order_relaxed);
  return static_cast<__int128>(load_a) * b.effective_weight <
         static_cast<__int128>(load_b) * a.effective_weight;
}

class LeastConnections final : public Balancer {
 public:
  explicit LeastConnections(std::span<const Candidate> candidates)
      : candidates_(candidates.begin(), candidates.end()), eligible_(candidates) {}

  uint32_t Pick(const PickRequest& request) const override {
    // First the least load, and how many share it; then the ticket's turn among those.
    uint32_t best = kNoBackend;
    uint64_t ties = 0;
    for (size_t i = 0; i < eligible_.size(); ++i) {
      const uint32_t candidate = eligible_.at(i);
      if (WasTried(request.tried, candidate)) continue;
      if (best == kNoBackend || LessLoaded(candidates_[candidate], candidates_[best])) {
        best = candidate;
        ties = 1;
      } else if (!LessLoaded(candidates_[best], candidates_[candidate])) {
        ++ties;
      }
    }
    if (ties <= 1) return best;
    uint64_t turn = request.ticket % ties;
    for (size_t i = 0; i < eligible_.size(); ++i) {
      const uint32_t candidate = eligible_.at(i);
      if (WasTried(request.tried, candidate) ||
          LessLoaded(candidates_[best], candidates_[candidate])) {
        continue;
      }
      if (turn-- == 0) return candidate;
    }
    return best;  // the counts moved meanwhile (other workers): the least seen
  }

 private:
  std::vector<Candidate> candidates_;
  EligibleSet eligible_;
};

}  // namespace plby::balance
