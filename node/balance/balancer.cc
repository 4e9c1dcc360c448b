#include "balance/balancer.h"

#include "balance/round_robin.h"
#include "balance/smooth_weighted.h"

namespace plby::balance {

std::unique_ptr<const Balancer> MakeBalancer(Algorithm algorithm,
                                             std::span<const int64_t> weights) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return std::make_unique<RoundRobin>(static_cast<uint32_t>(weights.size()));
    case Algorithm::kWeightedRoundRobin:
      return std::make_unique<SmoothWeighted>(weights);
  }
  return nullptr;
}

}  // namespace plby::balance
