#include "pool/pool_snapshot.h"

namespace plby::pool {

PoolSnapshot::PoolSnapshot(uint64_t version, balance::Algorithm algorithm,
                           std::vector<Backend> backends)
    : version_(version), backends_(std::move(backends)) {
  std::vector<int64_t> weights;
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    if (backends_[i].draining) continue;
    eligible_.push_back(i);
    weights.push_back(backends_[i].weight);
  }
  if (!eligible_.empty()) balancer_ = balance::MakeBalancer(algorithm, weights);
}

const Backend* PoolSnapshot::Find(absl::string_view address) const {
  for (const Backend& backend : backends_) {
    if (backend.address.ToString() == address) return &backend;
  }
  return nullptr;
}

}  // namespace plby::pool
