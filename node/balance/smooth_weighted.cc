#include "balance/smooth_weighted.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace plby::balance {
namespace {

// Divides out the common factor (2,2,4 schedules like 1,1,2), then scales down weights whose
// total would make the schedule longer than `max_length`.
std::vector<int64_t> Reduce(std::span<const int64_t> weights, size_t max_length) {
  int64_t divisor = 0;
  for (int64_t w : weights) divisor = std::gcd(divisor, w);
  std::vector<int64_t> reduced(weights.begin(), weights.end());
  int64_t total = 0;
  for (int64_t& w : reduced) {
    w /= divisor;
    total += w;
  }
  if (static_cast<size_t>(total) <= max_length) return reduced;
  const double scale = static_cast<double>(max_length) / static_cast<double>(total);
  for (int64_t& w : reduced) {
    w = std::max<int64_t>(1, std::llround(static_cast<double>(w) * scale));
  }
  return reduced;
}

}  // namespace

std::vector<uint32_t> SmoothWeighted::BuildSchedule(std::span<const int64_t> weights,
                                                    size_t max_length) {
  const std::vector<int64_t> reduced = Reduce(weights, max_length);
  const int64_t total = std::accumulate(reduced.begin(), reduced.end(), int64_t{0});

  // nginx: at each step every backend's current weight grows by its weight, the largest current
  // weight wins (the first in list order on a tie) and loses `total`. Backends that share a
  // weight always take their turns in list order, so they are simulated as one class whose next
  // member is known: a step costs one comparison per distinct weight, not per backend.
  struct WeightClass {
    int64_t weight;
    std::vector<uint32_t> members;  // in list order
    int64_t picks = 0;
  };
  std::map<int64_t, WeightClass> by_weight;
  for (uint32_t i = 0; i < reduced.size(); ++i) {
    WeightClass& c = by_weight[reduced[i]];
    c.weight = reduced[i];
    c.members.push_back(i);
  }
  std::vector<WeightClass> classes;
  for (auto& [weight, c] : by_weight) classes.push_back(std::move(c));

  std::vector<uint32_t> schedule;
  schedule.reserve(static_cast<size_t>(total));
  for (int64_t step = 1; step <= total; ++step) {
    WeightClass* best = nullptr;
    int64_t best_current = 0;
    uint32_t best_member = 0;
    for (WeightClass& c : classes) {
      const int64_t size = static_cast<int64_t>(c.members.size());
      // The next member has been picked picks/size times; its current weight is
      // step*weight - total*(times picked).
      const int64_t current = step * c.weight - total * (c.picks / size);
      const uint32_t member = c.members[static_cast<size_t>(c.picks % size)];
      if (best == nullptr || current > best_current ||
          (current == best_current && member < best_member)) {
        best = &c;
        best_current = current;
        best_member = member;
      }
    }
    ++best->picks;
    schedule.push_back(best_member);
  }
  return schedule;
}

SmoothWeighted::SmoothWeighted(std::span<const Candidate> candidates)
    : eligible_(candidates), schedule_(BuildSchedule(EligibleWeights(candidates))) {}

}  // namespace plby::balance
