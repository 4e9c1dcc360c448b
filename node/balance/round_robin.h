// Plain round robin: each eligible backend in list order, weights ignored.
#pragma once

#include <vector>

#include "balance/balancer.h"
#include "balance/eligible_set.h"
#include "balance/smooth_weighted.h"

namespace plby::balance {

class RoundRobin final : public Balancer {
 public:
  // While slow start ramps a backend up, it takes fewer turns: every backend counts as weight
  // 1 scaled by its ramp, in hundredths (a backend at 10% of its ramp gets a tenth of a full
  // turn; hundredths keep the schedule at most 100 entries per backend and its build cheap:
  // a ramp moves in steps of 4.5%), in the order smooth weighted round robin gives. Otherwise
  // a pick is the ticket modulo the count.
  explicit RoundRobin(std::span<const Candidate> candidates) : eligible_(candidates) {
    std::vector<int64_t> ramped;
    bool ramping = false;
    for (const Candidate& candidate : candidates) {
      if (!candidate.eligible) continue;
      const int64_t full = candidate.weight * kWeightScale;
      ramping |= candidate.effective_weight < full;
      // The share of its own weight it has reached, in hundredths (at least 1).
      ramped.push_back(std::max<int64_t>(1, candidate.effective_weight * 100 / full));
    }
    if (ramping) schedule_ = SmoothWeighted::BuildSchedule(ramped);
  }
  uint32_t Pick(const PickRequest& request) const override {
    if (!request.tried.empty()) return eligible_.NextAfterLastTried(request.tried);
    if (!schedule_.empty()) return eligible_.at(schedule_[request.ticket % schedule_.size()]);
    return eligible_.at(request.ticket % eligible_.size());
  }

 private:
  EligibleSet eligible_;
  std::vector<uint32_t> schedule_;  // positions in eligible_, only while a backend ramps up
};

}  // namespace plby::balance
