// Candidates for balancer tests: backends "10.0.0.N:80" with the given weights, each with a
// load counter the test can set.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "balance/balancer.h"

namespace plby::balance {

class TestPool {
 public:
  explicit TestPool(const std::vector<int64_t>& weights, uint32_t first_host = 1) {
    for (size_t i = 0; i < weights.size(); ++i) {
      Add(absl::StrCat("10.0.", (first_host + i) / 250, ".", (first_host + i) % 250, ":80"),
          weights[i]);
    }
  }
  TestPool() = default;

  void Add(std::string identity, int64_t weight) {
    identities_.push_back(std::move(identity));
    loads_.emplace_back(0);
    candidates_.push_back({.identity = "",
                           .weight = weight,
                           .effective_weight = weight * kWeightScale,
                           .eligible = true,
                           .load = &loads_.back()});
    // identities_ is a deque: earlier views stay valid.
    for (size_t i = 0; i < candidates_.size(); ++i) candidates_[i].identity = identities_[i];
  }

  std::vector<Candidate>& candidates() { return candidates_; }
  void set_load(size_t i, int64_t load) { loads_[i].store(load); }
  int64_t load(size_t i) const { return loads_[i].load(); }

  std::unique_ptr<const Balancer> Make(Algorithm algorithm, const Balancer* previous = nullptr,
                                       uint64_t table_size = kDefaultMaglevTableSize) const {
    return MakeBalancer(algorithm, {.candidates = candidates_, .maglev_table_size = table_size},
                        previous);
  }

 private:
  std::deque<std::string> identities_;
  std::deque<std::atomic<int64_t>> loads_;
  std::vector<Candidate> candidates_;
};

inline PickRequest Request(uint64_t ticket, uint64_t key = 0,
                           std::span<const uint32_t> tried = {}) {
  return {.ticket = ticket, .key = key, .tried = tried};
}

// `count` first picks, tickets from..from+count-1.
inline std::vector<uint32_t> Picks(const Balancer& balancer, uint64_t from, size_t count) {
  std::vector<uint32_t> picks;
  for (uint64_t t = from; t < from + count; ++t) picks.push_back(balancer.Pick(Request(t)));
  return picks;
}

inline std::map<uint32_t, int> Count(const std::vector<uint32_t>& picks) {
  std::map<uint32_t, int> counts;
  for (uint32_t pick : picks) ++counts[pick];
  return counts;
}

}  // namespace plby::balance
