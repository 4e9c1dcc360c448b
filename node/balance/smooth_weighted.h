// Smooth weighted round robin, as nginx does it: weights 5,1,1 give a a b a c a a, spreading a
// heavy backend's turns instead of bunching them (a a a a a b c).
//
// nginx walks its state for each pick under a lock. Here the whole period of the sequence is
// computed once per snapshot, so a pick is one array read at the ticket's position: constant
// time, no shared mutable state.
#pragma once

#include <vector>

#include "balance/balancer.h"
#include "balance/eligible_set.h"

namespace plby::balance {

class SmoothWeighted final : public Balancer {
 public:
  // Longest schedule kept (1 MiB of indices). Pools whose weights, divided by their greatest
  // common divisor, add up to more are scheduled on proportionally scaled weights instead: the
  // shares stay within rounding of the configured ones and the interleaving stays smooth.
  static constexpr size_t kMaxScheduleLength = size_t{1} << 18;

  // Over the eligible candidates' effective weights; a retry takes the next in list order.
  explicit SmoothWeighted(std::span<const Candidate> candidates);
  uint32_t Pick(const PickRequest& request) const override {
    if (!request.tried.empty()) return eligible_.NextAfterLastTried(request.tried);
    return eligible_.at(schedule_[request.ticket % schedule_.size()]);
  }

  // One period of nginx's sequence for `weights`: entry t is the backend nginx picks at step t.
  static std::vector<uint32_t> BuildSchedule(std::span<const int64_t> weights,
                                             size_t max_length = kMaxScheduleLength);

 private:
  EligibleSet eligible_;
  std::vector<uint32_t> schedule_;  // positions in eligible_
};

}  // namespace plby::balance
