#include "plan.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "balance/settings.h"
#include "control/algorithm_wire.h"

namespace plby::ctl {
namespace {

std::string WeightText(int64_t weight) { return absl::StrCat("weight ", weight); }

}  // namespace

ObservedPool ObservedFromWire(const v1::PoolSummary& summary,
                              const v1::ListBackendsResponse& list) {
  ObservedPool pool{.name = summary.name(),
                    .version = list.version(),
                    .balance = {},
                    .backends = {},
                    .discover_dns = summary.discover_dns()};
  pool.balance.algorithm =
      control::FromWire(summary.algorithm()).value_or(balance::Algorithm::kWeightedRoundRobin);
  pool.balance.slow_start = absl::Milliseconds(static_cast<int64_t>(summary.slow_start_ms()));
  if (absl::StatusOr<balance::HashKey> hash = balance::ParseHashKey(summary.hash()); hash.ok()) {
    pool.balance.hash = *hash;
  }
  if (summary.maglev_table_size() != 0)
    pool.balance.maglev_table_size = summary.maglev_table_size();
  for (const v1::Backend& backend : list.backends()) {
    pool.backends.push_back({.address = backend.address(),
                             .weight = static_cast<int64_t>(backend.weight()),
                             .draining = backend.state() == v1::BACKEND_STATE_DRAINING});
  }
  return pool;
}

const char* ChangeName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kSetBalance:
      return "set balance";
    case ChangeKind::kAdd:
      return "add";
    case ChangeKind::kSetWeight:
      return "set weight";
    case ChangeKind::kDrain:
      return "drain";
    case ChangeKind::kUndrain:
      return "undrain";
    case ChangeKind::kRemove:
      return "remove";
  }
  return "?";
}

std::vector<PlannedChange> PlanPool(const config::PoolConfig& desired,
                                    const ObservedPool& observed) {
  std::vector<PlannedChange> changes;
  const auto change = [&](ChangeKind kind, std::string backend, std::string from,
                          std::string to) -> PlannedChange& {
    return changes.emplace_back(PlannedChange{.kind = kind,
                                              .pool = desired.name,
                                              .backend = std::move(backend),
                                              .from = std::move(from),
                                              .to = std::move(to),
                                              .weight = 1,
                                              .balance = {}});
  };
  const balance::Settings& want = desired.balance;
  const balance::Settings& have = observed.balance;
  // A node reports the hash and table size only where they decide something, so only there
  // are they compared.
  if (want.algorithm != have.algorithm || want.slow_start != have.slow_start ||
      balance::UsesHash(want) != balance::UsesHash(have) ||
      (balance::UsesHash(want) && want.hash != have.hash) ||
      (balance::UsesTableSize(want) && want.maglev_table_size != have.maglev_table_size)) {
    change(ChangeKind::kSetBalance, "", balance::Summary(observed.balance),
           balance::Summary(desired.balance))
        .balance = desired.balance;
  }
  if (desired.discover || !observed.discover_dns.empty()) return changes;  // DNS's backends
  std::map<std::string, const ObservedPool::Backend*> on_node;
  for (const ObservedPool::Backend& backend : observed.backends) {
    on_node[backend.address] = &backend;
  }
  std::map<std::string, bool> in_file;
  std::vector<PlannedChange> updates;
  for (const config::BackendConfig& backend : desired.backends) {
    const std::string address = backend.address.ToString();
    in_file[address] = true;
    const auto found = on_node.find(address);
    if (found == on_node.end()) {
      change(ChangeKind::kAdd, address, "", WeightText(backend.weight)).weight = backend.weight;
      if (backend.draining.value_or(false))
        change(ChangeKind::kDrain, address, "active", "draining");
      continue;
    }
    const ObservedPool::Backend& now = *found->second;
    if (now.weight != backend.weight) {
      updates.push_back({.kind = ChangeKind::kSetWeight,
                         .pool = desired.name,
                         .backend = address,
                         .from = WeightText(now.weight),
                         .to = WeightText(backend.weight),
                         .weight = backend.weight,
                         .balance = {}});
    }
    if (backend.draining && *backend.draining != now.draining) {
      updates.push_back({.kind = *backend.draining ? ChangeKind::kDrain : ChangeKind::kUndrain,
                         .pool = desired.name,
                         .backend = address,
                         .from = now.draining ? "draining" : "active",
                         .to = *backend.draining ? "draining" : "active",
                         .weight = 1,
                         .balance = {}});
    }
  }
  changes.insert(changes.end(), updates.begin(), updates.end());
  for (const ObservedPool::Backend& backend : observed.backends) {
    if (in_file.contains(backend.address)) continue;
    change(ChangeKind::kRemove, backend.address,
           absl::StrCat(WeightText(backend.weight), backend.draining ? ", draining" : ""), "");
  }
  return changes;
}

}  // namespace plby::ctl
