// PoolSnapshot: an immutable, versioned state of one pool: its backends and the balancer built
// for them. Workers read snapshots without locks; a change publishes a new one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/balancer.h"
#include "pool/backend.h"

namespace plby::pool {

class PoolSnapshot {
 public:
  PoolSnapshot(uint64_t version, balance::Algorithm algorithm, std::vector<Backend> backends);

  uint64_t version() const { return version_; }
  const std::vector<Backend>& backends() const { return backends_; }
  bool empty() const { return backends_.empty(); }

  // The backend index for the connection holding `ticket` (see Balancer::Pick). Not empty().
  uint32_t Pick(uint64_t ticket) const { return balancer_->Pick(ticket); }

 private:
  uint64_t version_;
  std::vector<Backend> backends_;
  std::unique_ptr<const balance::Balancer> balancer_;  // null when empty
};

}  // namespace plby::pool
