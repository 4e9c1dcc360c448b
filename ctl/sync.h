// Sync: make one node's pools what a file of desired pools says (apply), or only say what that
// would change (diff). Level-triggered: every attempt starts from what the node reports now.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "desired_pools.h"
#include "node_client.h"
#include "plan.h"

namespace plby::ctl {

enum class SyncMode { kDiff, kApply };

struct SyncOptions {
  SyncMode mode = SyncMode::kDiff;
  std::optional<absl::Duration> drain_timeout;  // removes and drains: then close what is left
  // A change that meets another writer (ABORTED: the pool moved on since it was read) makes
  // the node be read again and re-planned, up to this many attempts in all.
  int max_attempts = 5;
};

struct SyncedChange {
  PlannedChange change;
  bool applied = false;  // diff: never
};

struct NodeSync {
  std::string node;
  absl::Status error;  // OK: the node matches the file now (apply), or was read (diff)
  // diff: what apply would change. apply: what it changed (applied), and on an error the rest
  // of the plan it was working through.
  std::vector<SyncedChange> changes;
  std::string mark_before;   // the node's content hash before; empty: none since it started
  bool mark_needed = false;  // the node was not marked with the file's hash
  bool marked = false;       // apply recorded the file's hash on the node
  int attempts = 0;
  // Why an attempt was re-planned ("pool web changed while it was applied: ...").
  std::vector<std::string> notes;

  // Whether the node already matched the file, mark included (nothing to do).
  bool in_sync() const { return changes.empty() && !mark_needed; }
  // Whether the node was marked with this file and its pools still drifted from it: then the
  // changes revert someone else's (an imperative `backends set`, say).
  bool reverts_drift() const { return !changes.empty() && !mark_needed; }
};

// The nodes of a diff or apply, by outcome.
struct SyncCounts {
  size_t in_sync = 0;  // matched the file already
  size_t changed = 0;  // apply: changed now; diff: would change
  size_t failed = 0;
};
SyncCounts CountSyncs(const std::vector<NodeSync>& nodes);

NodeSync SyncNode(const DesiredPools& desired, const std::string& node, NodeClient& client,
                  const SyncOptions& options);

}  // namespace plby::ctl
