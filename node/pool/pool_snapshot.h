// PoolSnapshot: an immutable state of one pool: its backends and the balancer built over those
// that take new connections (not draining, not unhealthy, not unresolved). Workers read snapshots
// without locks; a change, of the backends or of their health, publishes a new one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "balance/balancer.h"
#include "pool/backend.h"

namespace plby::pool {

class PoolSnapshot {
 public:
  // `fail_open`: when every backend that is not draining is unhealthy, new connections go to
  // all of them anyway instead of none.
  PoolSnapshot(uint64_t version, uint64_t generation, balance::Algorithm algorithm,
               std::vector<Backend> backends, bool fail_open);

  // The version the control API shows: it changes with the backend list only.
  uint64_t version() const { return version_; }
  // Changes with every new snapshot, health changes included: what workers and watchers follow.
  uint64_t generation() const { return generation_; }
  // Every backend that is resolved and not draining is unhealthy (eligible() then follows the
  // policy).
  bool all_unhealthy() const { return all_unhealthy_; }
  // Every backend of the pool, draining ones included, in list order.
  const std::vector<Backend>& backends() const { return backends_; }
  // Indices into backends() of those that take new connections, in list order.
  const std::vector<uint32_t>& eligible() const { return eligible_; }

  // The position in eligible() of the backend for the connection holding `ticket` (see
  // Balancer::Pick). Only when eligible() is not empty.
  uint32_t Pick(uint64_t ticket) const { return balancer_->Pick(ticket); }

  // The backend whose canonical address is `address`, or nullptr. Linear: for the control path.
  const Backend* Find(absl::string_view address) const;

 private:
  uint64_t version_;
  uint64_t generation_;
  bool all_unhealthy_ = false;
  std::vector<Backend> backends_;
  std::vector<uint32_t> eligible_;
  std::unique_ptr<const balance::Balancer> balancer_;  // null when eligible_ is empty
};

}  // namespace plby::pool
