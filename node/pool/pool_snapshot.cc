#include "pool/pool_snapshot.h"

namespace plby::pool {

PoolSnapshot::PoolSnapshot(uint64_t version, balance::Algorithm algorithm,
                           std::vector<Backend> backends)
    : version_(version), backends_(std::move(backends)) {
  if (backends_.empty()) return;
  std::vector<int64_t> weights;
  weights.reserve(backends_.size());
  for (const Backend& backend : backends_) weights.push_back(backend.weight);
  balancer_ = balance::MakeBalancer(algorithm, weights);
}

}  // namespace plby::pool
