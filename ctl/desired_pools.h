// DesiredPools: what `plbyctl diff`, `apply` and `reconcile` make the nodes' pools: the [[pool]]
// tables of a file in the node's own config syntax (so one file can seed nodes and drive
// apply), checked in full before any node is contacted.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace plby::ctl {

struct DesiredPools {
  std::string source;        // the file's name, as given
  std::string content_hash;  // "sha256:" and the digest of its bytes, recorded on each node
  // Every pool the file defines ([[pool]] tables, and servers' inline pools), in file order.
  std::vector<config::PoolConfig> pools;
  // The parser's warnings, and what apply leaves as it is (see LoadDesiredPools).
  std::vector<std::string> notes;
};

// Reads and checks `path` as the node would read its config, except that servers are optional
// and host names are not resolved (the nodes resolve them). Errors (INVALID_ARGUMENT, or
// NOT_FOUND for an unreadable file) carry "file:line:column" for each problem. A pool whose
// timeouts or [pool.health] are not the defaults gets a note: those are start settings, which
// apply does not change on a running node.
absl::StatusOr<DesiredPools> LoadDesiredPools(const std::string& path);
absl::StatusOr<DesiredPools> ParseDesiredPools(absl::string_view text, const std::string& source);

}  // namespace plby::ctl
