#include "pool/pool_registry.h"

#include <algorithm>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "net/backend_addresses.h"
#include "text/quote.h"

namespace plby::pool {
namespace {

PoolSettings SettingsOf(const config::PoolConfig& pool) {
  return {.name = pool.name,
          .balance = pool.balance,
          .connect_timeout = pool.connect_timeout,
          .idle_timeout = pool.idle_timeout,
          .health = pool.health,
          .discover = pool.discover,
          .send_proxy = pool.send_proxy,
          .tls = nullptr,  // loaded by Create
          .keepalive = pool.keepalive,
          .keepalive_timeout = pool.keepalive_timeout,
          .retry_budget_percent = pool.retry_budget_percent};
}

}  // namespace

absl::StatusOr<std::unique_ptr<PoolRegistry>> PoolRegistry::Create(
    const config::Config& config, int workers, const state::State* saved,
    const net::OwnListeners& own, std::vector<std::string>* notes) {
  std::unique_ptr<PoolRegistry> registry = absl::WrapUnique(new PoolRegistry(workers));
  const auto note = [&](std::string text) {
    if (notes != nullptr) notes->push_back(std::move(text));
  };
  const net::LocalAddresses local = net::LocalAddresses::Read();
  for (const config::PoolConfig& server : config.pools) {
    std::vector<Backend> backends;
    uint64_t version = 1;
    const state::PoolRecord* record = saved != nullptr ? saved->Find(server.name) : nullptr;
    if (record == nullptr) {
      for (const config::BackendConfig& backend : server.backends) {
        backends.push_back({.address = backend.address,
                            .socket_address = backend.resolved,
                            .weight = backend.weight,
                            .draining = backend.draining.value_or(false),
                            .unresolved = "",
                            .runtime = registry->NewBackendRuntime()});
      }
    } else {
      registry->from_saved_state_.push_back(server.name);
      version = record->version;
      if (record->backends.size() > kMaxBackendsPerPool) {
        return absl::FailedPreconditionError(absl::StrCat(
            "pool \"", server.name, "\" (from the state file) has ", record->backends.size(),
            " backends, more than the ", kMaxBackendsPerPool, " a pool may hold"));
      }
      // The backends so far, for the one-address-one-backend rule.
      net::BackendAddresses taken;
      for (const state::BackendRecord& saved_backend : record->backends) {
        // The address was checked when the state file was read.
        const net::HostPort address =
            *net::ParseHostPort(saved_backend.address, net::AddressUse::kConnect);
        const std::string name = address.ToString();
        absl::StatusOr<net::SocketAddress> resolved = own.ResolveBackend(address, local);
        if (resolved.ok()) {
          if (const std::optional<size_t> other = taken.Find(address, &*resolved)) {
            resolved = absl::AlreadyExistsError(net::BackendAddresses::AlreadyResolvedMessage(
                *resolved, backends[*other].address.ToString()));
          }
        }
        // What a name (or an interface, for a zone) resolves to can change; a literal
        // address is what it is.
        const bool may_change = address.kind == net::HostPort::Kind::kName || !address.zone.empty();
        if (!resolved.ok() && !may_change) {
          note(absl::StrCat("pool ", text::Quote(server.name), " (from the state file): backend ",
                            text::Quote(name), " is left out: ", resolved.status().message(),
                            "; the next change saved drops it from the file"));
          continue;
        }
        Backend backend{.address = address,
                        .socket_address = {},
                        .weight = saved_backend.weight,
                        .draining = saved_backend.draining,
                        .unresolved = "",
                        .runtime = registry->NewBackendRuntime()};
        if (resolved.ok()) {
          backend.socket_address = *resolved;
        } else {
          backend.unresolved = std::string(resolved.status().message());
          note(absl::StrCat("pool ", text::Quote(server.name), " (from the state file): backend ",
                            text::Quote(name), " starts unresolved (", backend.unresolved,
                            "): it takes no traffic until its name resolves, which is retried"));
        }
        taken.Add(backends.size(), backend.address,
                  backend.unresolved.empty() ? &backend.socket_address : nullptr);
        backends.push_back(std::move(backend));
      }
    }
    PoolSettings settings = SettingsOf(server);
    if (server.tls) {
      // A copy for each worker and one for the health checker (OpenSSL 3.0 contends on a
      // context shared by threads).
      absl::StatusOr<std::shared_ptr<const tls::ClientContext>> tls =
          tls::ClientContext::Load(*server.tls, workers + 1);
      if (!tls.ok()) {
        return absl::Status(tls.status().code(), absl::StrCat("pool ", text::Quote(server.name),
                                                              ": ", tls.status().message()));
      }
      settings.tls = *std::move(tls);
    }
    if (record != nullptr && record->balance) {
      // Set through the control service, which the state file keeps over the config.
      settings.balance = *record->balance;
      settings.balance_set = true;
      if (*record->balance != server.balance) {
        note(absl::StrCat("pool ", text::Quote(server.name), " balances with ",
                          balance::Summary(*record->balance),
                          " as the control service set it (the state file), not with ",
                          balance::Summary(server.balance), " as the config says"));
      }
    }
    registry->pools_.push_back(std::make_unique<Pool>(std::move(settings), std::move(backends),
                                                      &registry->changes_, workers, version));
  }
  if (saved != nullptr) {
    for (const std::string& warning : saved->warnings) note(warning);
    for (const state::PoolRecord& record : saved->pools) {
      if (registry->Find(record.name) == nullptr) {
        note(absl::StrCat("the state file lists pool ", text::Quote(record.name),
                          ", which the config no longer defines: ignored, and dropped from the "
                          "state file at the next change"));
      }
    }
  }
  return registry;
}

std::unique_ptr<PoolRegistry> PoolRegistry::FromConfig(const config::Config& config, int workers) {
  // Without saved state nothing needs resolving again, so this cannot fail.
  return *Create(config, workers, nullptr, net::OwnListeners(), nullptr);
}

bool PoolRegistry::FromSavedState(absl::string_view name) const {
  return std::find(from_saved_state_.begin(), from_saved_state_.end(), name) !=
         from_saved_state_.end();
}

state::State PoolRegistry::StateToKeep() const {
  state::State kept;
  for (const std::string& name : from_saved_state_) {
    const Pool& pool = *Find(name);
    const std::shared_ptr<const PoolSnapshot> snapshot = pool.snapshot();
    kept.pools.push_back(SavedRecord(name, {.version = snapshot->version(),
                                            .backends = snapshot->backends(),
                                            .balance = snapshot->balance(),
                                            .balance_set = pool.balance_set()}));
  }
  return kept;
}

Pool* PoolRegistry::Find(absl::string_view name) const {
  for (const auto& pool : pools_) {
    if (pool->name() == name) return pool.get();
  }
  return nullptr;
}

}  // namespace plby::pool
