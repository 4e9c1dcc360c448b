// PoolSnapshot: an immutable, versioned state of one pool: its backends and the balancer built
// over those that take new connections. Workers read snapshots without locks; a change
// publishes a new one.
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
  PoolSnapshot(uint64_t version, balance::Algorithm algorithm, std::vector<Backend> backends);

  uint64_t version() const { return version_; }
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
  std::vector<Backend> backends_;
  std::vector<uint32_t> eligible_;
  std::unique_ptr<const balance::Balancer> balancer_;  // null when eligible_ is empty
};

}  // namespace plby::pool
