// PoolSnapshot: an immutable state of one pool: its backends, how it balances, and the
// balancer built over them. Workers read snapshots without locks; a change (of the backends,
// their health, the balancing settings, or a slow-start ramp's progress) publishes a new one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "balance/balancer.h"
#include "balance/settings.h"
#include "pool/backend.h"

namespace plby::pool {

// How a pool balances: what UpdatePool changes at runtime.
using BalanceSettings = balance::Settings;

// The share of its weight a backend balances with `elapsed` into a slow-start ramp of
// `window`, in balance::kWeightScale units of one weight: 10% at the start, linearly to 100%.
int64_t RampedWeight(int64_t weight, absl::Duration elapsed, absl::Duration window);

class PoolSnapshot {
 public:
  struct Inputs {
    uint64_t version = 1;
    uint64_t generation = 1;
    BalanceSettings balance;
    // When every backend that is not draining is unhealthy, new connections go to all of them
    // anyway instead of none.
    bool fail_open = true;
    int64_t now_ms = 0;  // monotonic, for slow-start ramps
    // The snapshot this one replaces, or null: a backend eligible here and not there starts
    // its slow-start ramp now (recorded in its runtime, so later snapshots continue it), and
    // an expensive balancer (maglev's table) is reused when nothing it depends on changed.
    const PoolSnapshot* previous = nullptr;
  };

  PoolSnapshot(const Inputs& inputs, std::vector<Backend> backends);

  // The version the control API shows: it changes with the backend list and the balance
  // settings only.
  uint64_t version() const { return version_; }
  // Changes with every new snapshot, health changes included: what workers and watchers follow.
  uint64_t generation() const { return generation_; }
  const BalanceSettings& balance() const { return balance_; }
  // The balancer picks by the client's key (balance().hash of its address): read per accept.
  bool needs_key() const { return needs_key_; }
  // Every backend that is resolved and not draining is unhealthy (eligible() then follows the
  // policy).
  bool all_unhealthy() const { return all_unhealthy_; }
  // Every backend of the pool, draining ones included, in list order.
  const std::vector<Backend>& backends() const { return backends_; }
  // Indices into backends() of those that take new connections, in list order.
  const std::vector<uint32_t>& eligible() const { return eligible_; }
  // Per backend: the weight it balances with now (balance::kWeightScale per unit of weight).
  const std::vector<int64_t>& effective_weights() const { return effective_weights_; }
  // Some backend is still ramping up: the snapshot should be rebuilt as the ramp goes on.
  bool ramping() const { return ramping_; }

  // The index into backends() for this pick, or balance::kNoBackend (see balance::Balancer).
  // Only when eligible() is not empty.
  uint32_t Pick(const balance::PickRequest& request) const { return balancer_->Pick(request); }

  // Per backend, maglev's table entries (empty for other algorithms, or without eligible).
  std::vector<uint32_t> TableEntries() const {
    return balancer_ ? balancer_->TableEntries() : std::vector<uint32_t>();
  }

  // The backend whose canonical address is `address`, or nullptr. Linear: for the control path.
  const Backend* Find(absl::string_view address) const;

 private:
  uint64_t version_;
  uint64_t generation_;
  BalanceSettings balance_;
  bool all_unhealthy_ = false;
  bool ramping_ = false;
  bool needs_key_ = false;
  std::vector<Backend> backends_;
  std::vector<std::string> identities_;  // canonical addresses, for the balancer
  std::vector<uint32_t> eligible_;
  std::vector<int64_t> effective_weights_;
  std::unique_ptr<const balance::Balancer> balancer_;  // null when eligible_ is empty
};

}  // namespace plby::pool
