// PoolRegistry: every pool of the node, by name. The set of pools is fixed at start (from
// config.toml); their backends change through Pool::Publish.
#pragma once

#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "pool/pool.h"

namespace plby::pool {

class PoolRegistry {
 public:
  // One pool per [[server]], in file order, seeded with its backends.
  static std::unique_ptr<PoolRegistry> FromConfig(const config::Config& config);

  // nullptr when there is no pool of that name.
  Pool* Find(absl::string_view name) const;
  const std::vector<std::unique_ptr<Pool>>& pools() const { return pools_; }

 private:
  std::vector<std::unique_ptr<Pool>> pools_;
};

}  // namespace plby::pool
