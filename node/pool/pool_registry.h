// PoolRegistry: every pool of the node, by name. The set of pools is fixed at start (from
// config.toml); their backends change through Pool::Update.
#pragma once

#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "pool/change_feed.h"
#include "pool/pool.h"

namespace plby::pool {

class PoolRegistry {
 public:
  // One pool per [[server]], in file order, seeded with its backends. `workers` is how many
  // worker threads count connections per backend.
  static std::unique_ptr<PoolRegistry> FromConfig(const config::Config& config, int workers);

  // nullptr when there is no pool of that name.
  Pool* Find(absl::string_view name) const;
  const std::vector<std::unique_ptr<Pool>>& pools() const { return pools_; }

  // Told about every change of every pool.
  ChangeFeed& changes() { return changes_; }

  // Runtime state (counters) for a backend joining a pool.
  std::shared_ptr<BackendRuntime> NewBackendRuntime() const {
    return std::make_shared<BackendRuntime>(workers_);
  }

 private:
  explicit PoolRegistry(int workers) : workers_(workers) {}

  const int workers_;
  ChangeFeed changes_;
  std::vector<std::unique_ptr<Pool>> pools_;
};

}  // namespace plby::pool
