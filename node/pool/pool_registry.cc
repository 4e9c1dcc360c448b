#include "pool/pool_registry.h"

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"

namespace plby::pool {
namespace {

PoolSettings SettingsOf(const config::ServerConfig& server) {
  return {.name = server.name,
          .algorithm = server.algorithm,
          .connect_timeout = server.connect_timeout,
          .idle_timeout = server.idle_timeout,
          .health = server.health};
}

}  // namespace

absl::StatusOr<std::unique_ptr<PoolRegistry>> PoolRegistry::Create(
    const config::Config& config, int workers, const state::State* saved,
    std::vector<std::string>* notes) {
  std::unique_ptr<PoolRegistry> registry = absl::WrapUnique(new PoolRegistry(workers));
  for (const config::ServerConfig& server : config.servers) {
    std::vector<Backend> backends;
    uint64_t version = 1;
    const state::PoolRecord* record = saved != nullptr ? saved->Find(server.name) : nullptr;
    if (record == nullptr) {
      for (const config::BackendConfig& backend : server.backends) {
        backends.push_back({.address = backend.address,
                            .socket_address = backend.resolved,
                            .weight = backend.weight,
                            .draining = false,
                            .runtime = registry->NewBackendRuntime()});
      }
    } else {
      version = record->version;
      if (record->backends.size() > kMaxBackendsPerPool) {
        return absl::FailedPreconditionError(absl::StrCat(
            "pool \"", server.name, "\" (from the state file) has ", record->backends.size(),
            " backends, more than the ", kMaxBackendsPerPool, " a pool may hold"));
      }
      for (const state::BackendRecord& saved_backend : record->backends) {
        // The address was checked when the state file was read.
        const net::HostPort address =
            *net::ParseHostPort(saved_backend.address, net::PortZero::kRefuse);
        absl::StatusOr<net::SocketAddress> resolved = net::SocketAddress::Resolve(address);
        if (!resolved.ok()) {
          return absl::Status(resolved.status().code(),
                              absl::StrCat("pool \"", server.name, "\" (from the state file): ",
                                           resolved.status().message()));
        }
        for (const config::ServerConfig& listener : config.servers) {
          if (net::WouldReachListener(*resolved, listener.listen_address)) {
            return absl::FailedPreconditionError(
                absl::StrCat("pool \"", server.name, "\" (from the state file): backend \"",
                             address.ToString(), "\" is now this node's own listener \"",
                             listener.listen.ToString(), "\"; fix config.toml or the state file"));
          }
        }
        for (const Backend& earlier : backends) {
          if (earlier.socket_address == *resolved) {
            return absl::FailedPreconditionError(absl::StrCat(
                "pool \"", server.name, "\" (from the state file): \"", address.ToString(),
                "\" and \"", earlier.address.ToString(), "\" are the same backend now"));
          }
        }
        backends.push_back({.address = address,
                            .socket_address = *resolved,
                            .weight = saved_backend.weight,
                            .draining = saved_backend.draining,
                            .runtime = registry->NewBackendRuntime()});
      }
    }
    registry->pools_.push_back(std::make_unique<Pool>(SettingsOf(server), std::move(backends),
                                                      &registry->changes_, workers, version));
  }
  if (saved != nullptr && notes != nullptr) {
    for (const state::PoolRecord& record : saved->pools) {
      if (registry->Find(record.name) == nullptr) {
        notes->push_back(absl::StrCat("the state file lists pool \"", record.name,
                                      "\", which the config no longer defines: ignored, and "
                                      "dropped from the state file at the next change"));
      }
    }
  }
  return registry;
}

std::unique_ptr<PoolRegistry> PoolRegistry::FromConfig(const config::Config& config, int workers) {
  // Without saved state nothing needs resolving again, so this cannot fail.
  return *Create(config, workers, nullptr, nullptr);
}

Pool* PoolRegistry::Find(absl::string_view name) const {
  for (const auto& pool : pools_) {
    if (pool->name() == name) return pool.get();
  }
  return nullptr;
}

}  // namespace plby::pool
