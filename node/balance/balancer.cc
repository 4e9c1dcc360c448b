#include "balance/balancer.h"

namespace plby::balance {

std::unique_ptr<const Balancer> MakeBalancer(Algorithm algorithm, const BalancerInput& input,
                                             const Balancer* previous) {
  return Describe(algorithm).make(input, previous);
}

}  // namespace plby::balance
