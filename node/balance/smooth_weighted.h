// Smooth weighted round robin, as nginx does it: weights 5,1,1 give a a b a c a a, spreading a
// heavy backend's turns instead of bunching them (a a a a a b c).
//
// nginx walks its state for each pick under a lock. Here the whole period of the sequence is
// computed once per snapshot, so a pick is one array read at the ticket's position: constant
// time, no shared mutable state.
#pragma once

#include <vector>

#include "balance/balancer.h"

namespace plby::balance {

class SmoothWeighted final : public Balancer {
 public:
  // Longest schedule kept (1 MiB of indices). Pools whose weights, divided by their greatest
  // common divisor, add up to more are scheduled on proportionally scaled weights instead: the
  // shares stay within rounding of the configured ones and the interleaving stays smooth.
  static constexpr size_t kMaxScheduleLength = size_t{1} << 18;

  explicit SmoothWeighted(std::span<const int64_t> weights);
  uint32_t Pick(uint64_t ticket) const override { return schedule_[ticket % schedule_.size()]; }

  // One period of nginx's sequence for `weights`: entry t is the backend nginx picks at step t.
  static std::vector<uint32_t> BuildSchedule(std::span<const int64_t> weights,
                                             size_t max_length = kMaxScheduleLength);

 private:
  std::vector<uint32_t> schedule_;
};

}  // namespace plby::balance
