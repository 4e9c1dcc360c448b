#include "pool/pool_registry.h"

#include "absl/memory/memory.h"

namespace plby::pool {

std::unique_ptr<PoolRegistry> PoolRegistry::FromConfig(const config::Config& config, int workers) {
  std::unique_ptr<PoolRegistry> registry = absl::WrapUnique(new PoolRegistry(workers));
  for (const config::ServerConfig& server : config.servers) {
    std::vector<Backend> backends;
    backends.reserve(server.backends.size());
    for (const config::BackendConfig& backend : server.backends) {
      backends.push_back({.address = backend.address,
                          .socket_address = backend.resolved,
                          .weight = backend.weight,
                          .draining = false,
                          .runtime = registry->NewBackendRuntime()});
    }
    registry->pools_.push_back(
        std::make_unique<Pool>(PoolSettings{server.name, server.algorithm, server.connect_timeout},
                               std::move(backends), &registry->changes_));
  }
  return registry;
}

Pool* PoolRegistry::Find(absl::string_view name) const {
  for (const auto& pool : pools_) {
    if (pool->name() == name) return pool.get();
  }
  return nullptr;
}

}  // namespace plby::pool
