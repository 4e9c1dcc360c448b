// Weighted random, and the power of two choices over it.
#pragma once

#include <vector>

#include "balance/alias_table.h"
#include "balance/balancer.h"
#include "balance/eligible_set.h"
#include "balance/hash.h"
#include "balance/least_connections.h"

namespace plby::balance {

// Draws eligible candidates with probability proportional to effective weight. The ticket
// seeds the draws, so no random state is shared between workers (or locked).
class WeightedDraw {
 public:
  explicit WeightedDraw(std::span<const Candidate> candidates);

  // Draw number `n` for `ticket`, neither in `tried` nor `excluded`: up to kDraws weighted
  // draws, then (when what was drawn was all tried already) the first one left in list order
  // from a random position, so that the time stays bounded.
  uint32_t Untried(uint64_t ticket, uint64_t n, std::span<const uint32_t> tried,
                   uint32_t excluded = kNoBackend) const {
    for (uint64_t attempt = 0; attempt < kDraws; ++attempt) {
      const uint32_t candidate = eligible_.at(table_.Draw(Mix(ticket, n * kDraws + attempt)));
      if (candidate != excluded && !WasTried(tried, candidate)) return candidate;
    }
    return eligible_.FirstUntriedFrom(Mix(ticket, ~n) % eligible_.size(), tried, excluded);
  }

 private:
  static constexpr uint64_t kDraws = 4;

  EligibleSet eligible_;
  AliasTable table_;
};

class WeightedRandom final : public Balancer {
 public:
  explicit WeightedRandom(std::span<const Candidate> candidates) : draw_(candidates) {}
  uint32_t Pick(const PickRequest& request) const override {
    return draw_.Untried(request.ticket, request.tried.size(), request.tried);
  }

 private:
  WeightedDraw draw_;
};

class PowerOfTwo final : public Balancer {
 public:
  explicit PowerOfTwo(std::span<const Candidate> candidates)
      : candidates_(candidates.begin(), candidates.end()), draw_(candidates) {}

  uint32_t Pick(const PickRequest& request) const override {
    const uint64_t round = request.tried.size() * 2;
    const uint32_t first = draw_.Untried(request.ticket, round, request.tried);
    if (first == kNoBackend) return first;
    const uint32_t second = draw_.Untried(request.ticket, round + 1, request.tried, first);
    if (second == kNoBackend) return first;  // the only one left
    return LessLoaded(candidates_[second], candidates_[first]) ? second : first;
  }

 private:
  std::vector<Candidate> candidates_;
  WeightedDraw draw_;
};

}  // namespace plby::balance
