#include "pool/pool_snapshot.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"

namespace plby::pool {

int64_t RampedWeight(int64_t weight, absl::Duration elapsed, absl::Duration window) {
  const int64_t full = weight * balance::kWeightScale;
  if (window <= absl::ZeroDuration() || elapsed >= window) return full;
  const double progress = std::max(0.0, absl::FDivDuration(elapsed, window));
  const auto ramped = static_cast<int64_t>(static_cast<double>(full) * (0.1 + 0.9 * progress));
  return std::clamp<int64_t>(ramped, 1, full);
}

PoolSnapshot::PoolSnapshot(const Inputs& inputs, std::vector<Backend> backends)
    : version_(inputs.version),
      generation_(inputs.generation),
      balance_(inputs.balance),
      needs_key_(balance::Describe(inputs.balance.algorithm).needs_key),
      backends_(std::move(backends)) {
  std::vector<uint32_t> active;  // resolved and not draining
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    if (backends_[i].draining || !backends_[i].unresolved.empty()) continue;
    active.push_back(i);
    if (backends_[i].runtime->health() != Health::kUnhealthy) eligible_.push_back(i);
  }
  if (eligible_.empty() && !active.empty()) {
    all_unhealthy_ = true;
    if (inputs.fail_open) eligible_ = std::move(active);
  }

  const absl::Duration window =
      balance::Describe(balance_.algorithm).slow_start ? balance_.slow_start : absl::ZeroDuration();
  absl::flat_hash_set<const BackendRuntime*> eligible_before;
  if (inputs.previous != nullptr && window > absl::ZeroDuration()) {
    for (uint32_t i : inputs.previous->eligible()) {
      eligible_before.insert(inputs.previous->backends()[i].runtime.get());
    }
  }
  std::vector<bool> is_eligible(backends_.size(), false);
  for (uint32_t i : eligible_) is_eligible[i] = true;
  // A ramp that has ended, under this window or under the one in force until now, is over for
  // good: a window made longer later must not throttle the backend again.
  const absl::Duration previous_window =
      inputs.previous != nullptr &&
              balance::Describe(inputs.previous->balance_.algorithm).slow_start
          ? inputs.previous->balance_.slow_start
          : absl::ZeroDuration();
  effective_weights_.resize(backends_.size());
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    BackendRuntime& runtime = *backends_[i].runtime;
    int64_t start = runtime.ramp_start_ms();
    if (window > absl::ZeroDuration() && is_eligible[i] && inputs.previous != nullptr &&
        !eligible_before.contains(&runtime)) {
      start = inputs.now_ms;
      runtime.set_ramp_start_ms(start);
    } else if (start != 0) {
      const absl::Duration elapsed = absl::Milliseconds(inputs.now_ms - start);
      if (elapsed >= window ||
          (previous_window > absl::ZeroDuration() && elapsed >= previous_window)) {
        runtime.set_ramp_start_ms(0);
        start = 0;
      } else if (previous_window > absl::ZeroDuration() && previous_window != window) {
        // The window changed mid-ramp: the ramp keeps the progress it made (a longer window
        // slows the rest of it down instead of taking the backend back).
        start = inputs.now_ms -
                absl::ToInt64Milliseconds(elapsed * absl::FDivDuration(window, previous_window));
        runtime.set_ramp_start_ms(start);
      }
    }
    effective_weights_[i] =
        start == 0
            ? backends_[i].weight * balance::kWeightScale
            : RampedWeight(backends_[i].weight, absl::Milliseconds(inputs.now_ms - start), window);
    if (is_eligible[i] && effective_weights_[i] < backends_[i].weight * balance::kWeightScale) {
      ramping_ = true;
    }
  }
  if (eligible_.empty()) return;

  // Only key-based algorithms order backends by address: the others need no string per backend
  // (a health change of a pool of 65,536 rebuilds this).
  if (needs_key_) {
    identities_.reserve(backends_.size());
    for (const Backend& backend : backends_) identities_.push_back(backend.address.ToString());
  }
  std::vector<balance::Candidate> candidates(backends_.size());
  for (uint32_t i = 0; i < backends_.size(); ++i) {
    candidates[i] = {.identity = identities_.empty() ? absl::string_view() : identities_[i],
                     .weight = backends_[i].weight,
                     .effective_weight = effective_weights_[i],
                     .eligible = is_eligible[i],
                     .load = &backends_[i].runtime->load()};
  }
  const balance::Balancer* previous_balancer =
      inputs.previous != nullptr && inputs.previous->balance_.algorithm == balance_.algorithm
          ? inputs.previous->balancer_.get()
          : nullptr;
  balancer_ = balance::MakeBalancer(
      balance_.algorithm,
      {.candidates = candidates, .maglev_table_size = balance_.maglev_table_size},
      previous_balancer);
}

const Backend* PoolSnapshot::Find(absl::string_view address) const {
  for (const Backend& backend : backends_) {
    if (backend.address.ToString() == address) return &backend;
  }
  return nullptr;
}

}  // namespace plby::pool
