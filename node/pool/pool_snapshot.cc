#include "pool/pool_snapshot.h"

namespace plby::pool {

PoolSnapshot::PoolSnapshot(uint64_t version, uint64_t generation, balance::Algorithm algorithm,
                           std::vector<Backend> backends, bool fail_open)
    : version_(version), generation_(generation), backends_(std::move(backends)) {
  std::vector<uint32_t> active;  // resolved and not draining
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    if (backends_[i].draining || !backends_[i].unresolved.empty()) continue;
    active.push_back(i);
    if (backends_[i].runtime->health() != Health::kUnhealthy) eligible_.push_back(i);
  }
  if (eligible_.empty() && !active.empty()) {
    all_unhealthy_ = true;
    if (fail_open) eligible_ = std::move(active);
  }
  std::vector<int64_t> weights;
  for (uint32_t i : eligible_) weights.push_back(backends_[i].weight);
  if (!eligible_.empty()) balancer_ = balance::MakeBalancer(algorithm, weights);
}

const Backend* PoolSnapshot::Find(absl::string_view address) const {
  for (const Backend& backend : backends_) {
    if (backend.address.ToString() == address) return &backend;
  }
  return nullptr;
}

}  // namespace plby::pool
