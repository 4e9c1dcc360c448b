// PoolRegistry: every pool of the node, by name. The set of pools is fixed at start (from
// config.toml); their backends change through Pool::Update.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"
#include "pool/change_feed.h"
#include "pool/pool.h"
#include "state/state_file.h"

namespace plby::pool {

class PoolRegistry {
 public:
  // One pool per pool of the config ([[pool]] tables and servers' inline pools), in file order. A
  // pool listed in `saved` (the state file) takes its backends and version from there, over its
  // seed in the config; the others start from their seed at version 1. `workers` is how many worker
  // threads count connections.
  //
  // What was saved never stops the start (the control API accepted it): a saved name that does
  // not resolve now, or resolves to an address the pool may not have (one of `own`, another
  // backend of the pool, not unicast), starts unresolved: it takes no traffic and is retried
  // (see discovery::BackendResolver). A saved literal address the API would refuse now (one of
  // `own`, or an address another saved entry already has) is left out. `notes` receives a line
  // for each of these, and for saved pools the config no longer has.
  static absl::StatusOr<std::unique_ptr<PoolRegistry>> Create(const config::Config& config,
                                                              int workers,
                                                              const state::State* saved,
                                                              const net::OwnListeners& own,
                                                              std::vector<std::string>* notes);

  // From the config alone (tests, --check-config).
  static std::unique_ptr<PoolRegistry> FromConfig(const config::Config& config, int workers);

  // nullptr when there is no pool of that name.
  Pool* Find(absl::string_view name) const;
  const std::vector<std::unique_ptr<Pool>>& pools() const { return pools_; }

  // Told about every change of every pool.
  ChangeFeed& changes() { return changes_; }

  // Whether `name` started from the state file (not from its seed in the config).
  bool FromSavedState(absl::string_view name) const;
  // What the state file should hold now, before any change: the pools that started from it,
  // as they run (without the entries left out at start, so that the next save drops those
  // from the file too). Saved pools the config no longer defines are not kept.
  state::State StateToKeep() const;

  // Runtime state (counters, health) for a backend joining a pool.
  std::shared_ptr<BackendRuntime> NewBackendRuntime() const {
    return std::make_shared<BackendRuntime>(workers_);
  }

 private:
  explicit PoolRegistry(int workers) : workers_(workers) {}

  const int workers_;
  ChangeFeed changes_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::vector<std::string> from_saved_state_;  // names of the pools that started from it
};

}  // namespace plby::pool
