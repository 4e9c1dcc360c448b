#include "sync.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/algorithm_wire.h"

namespace plby::ctl {
namespace {

using Stub = v1::Control::Stub;

// What one attempt read from the node.
struct NodeView {
  v1::GetStatusResponse status;
  std::vector<ObservedPool> pools;  // one per desired pool, in the file's order
};

// Reads the node: its status (pools, sync mark), then each pool the file names. A pool whose
// version moved between the two reads is ABORTED, like a change that met another writer.
absl::StatusOr<NodeView> Read(const DesiredPools& desired, NodeClient& client) {
  NodeView view;
  if (absl::Status status = client.Call(&Stub::GetStatus, v1::GetStatusRequest(), &view.status);
      !status.ok()) {
    return status;
  }
  std::map<std::string, const v1::PoolSummary*> summaries;
  for (const v1::PoolSummary& pool : view.status.pools()) summaries[pool.name()] = &pool;
  for (const config::PoolConfig& pool : desired.pools) {
    const auto found = summaries.find(pool.name);
    if (found == summaries.end()) {
      std::vector<std::string> names;
      for (const auto& [name, summary] : summaries) names.push_back(name);
      return absl::NotFoundError(absl::StrCat(
          desired.source, ":", pool.line, ": pool \"", pool.name, "\" is not on this node (",
          names.empty() ? "it has none" : absl::StrCat("it has: ", absl::StrJoin(names, ", ")),
          "); pools are defined by the node's config"));
    }
    v1::ListBackendsRequest request;
    request.set_pool(pool.name);
    v1::ListBackendsResponse list;
    if (absl::Status status = client.Call(&Stub::ListBackends, request, &list); !status.ok()) {
      return status;
    }
    if (list.version() != found->second->version()) {
      return absl::AbortedError(absl::StrCat("pool \"", pool.name, "\" changed while it was read (",
                                             found->second->version(), " -> ", list.version(),
                                             ")"));
    }
    view.pools.push_back(ObservedFromWire(*found->second, list));
  }
  return view;
}

template <typename Request>
void SetDrainTimeout(const SyncOptions& options, Request& request) {
  if (options.drain_timeout) {
    request.set_drain_timeout_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(*options.drain_timeout)));
  }
}

// Makes one planned change against `version` (the pool's, as last seen); on success `version`
// is the pool's version after it.
absl::Status Make(const PlannedChange& change, const SyncOptions& options, NodeClient& client,
                  uint64_t& version) {
  switch (change.kind) {
    case ChangeKind::kSetBalance: {
      v1::UpdatePoolRequest request;
      request.set_pool(change.pool);
      request.set_algorithm(control::ToWire(change.balance.algorithm));
      request.set_slow_start_ms(
          static_cast<uint64_t>(absl::ToInt64Milliseconds(change.balance.slow_start)));
      request.set_hash(std::string(balance::HashKeyName(change.balance.hash)));
      request.set_maglev_table_size(change.balance.maglev_table_size);
      request.set_expected_version(version);
      v1::UpdatePoolResponse response;
      absl::Status status = client.Call(&Stub::UpdatePool, request, &response);
      if (status.ok()) version = response.pool().version();
      return status;
    }
    case ChangeKind::kAdd: {
      v1::AddBackendRequest request;
      request.set_pool(change.pool);
      request.set_address(change.backend);
      request.set_weight(static_cast<uint32_t>(change.weight));
      request.set_expected_version(version);
      v1::AddBackendResponse response;
      absl::Status status = client.Call(&Stub::AddBackend, request, &response);
      if (status.ok()) version = response.version();
      return status;
    }
    case ChangeKind::kSetWeight:
    case ChangeKind::kDrain:
    case ChangeKind::kUndrain: {
      v1::UpdateBackendRequest request;
      request.set_pool(change.pool);
      request.set_address(change.backend);
      if (change.kind == ChangeKind::kSetWeight) {
        request.set_weight(static_cast<uint32_t>(change.weight));
      } else {
        request.set_draining(change.kind == ChangeKind::kDrain);
        if (change.kind == ChangeKind::kDrain) SetDrainTimeout(options, request);
      }
      request.set_expected_version(version);
      v1::UpdateBackendResponse response;
      absl::Status status = client.Call(&Stub::UpdateBackend, request, &response);
      if (status.ok()) version = response.version();
      return status;
    }
    case ChangeKind::kRemove: {
      v1::RemoveBackendRequest request;
      request.set_pool(change.pool);
      request.set_address(change.backend);
      request.set_expected_version(version);
      SetDrainTimeout(options, request);
      v1::RemoveBackendResponse response;
      absl::Status status = client.Call(&Stub::RemoveBackend, request, &response);
      if (status.ok()) version = response.version();
      return status;
    }
  }
  return absl::InternalError("unknown change");
}

}  // namespace

SyncCounts CountSyncs(const std::vector<NodeSync>& nodes) {
  SyncCounts counts;
  for (const NodeSync& node : nodes) {
    if (!node.error.ok()) {
      ++counts.failed;
    } else if (node.in_sync()) {
      ++counts.in_sync;
    } else {
      ++counts.changed;
    }
  }
  return counts;
}

NodeSync SyncNode(const DesiredPools& desired, const std::string& node, NodeClient& client,
                  const SyncOptions& options) {
  NodeSync sync;
  sync.node = node;
  std::vector<SyncedChange> applied;  // over every attempt
  while (true) {
    ++sync.attempts;
    absl::StatusOr<NodeView> view = Read(desired, client);
    std::vector<PlannedChange> plan;
    std::map<std::string, uint64_t> versions;
    absl::Status outcome = view.status();
    if (view.ok()) {
      if (sync.attempts == 1) {
        sync.mark_before = view->status.has_sync() ? view->status.sync().content_hash() : "";
        sync.mark_needed = sync.mark_before != desired.content_hash;
      }
      for (size_t i = 0; i < desired.pools.size(); ++i) {
        std::vector<PlannedChange> changes = PlanPool(desired.pools[i], view->pools[i]);
        plan.insert(plan.end(), changes.begin(), changes.end());
        versions[view->pools[i].name] = view->pools[i].version;
      }
      const bool marked_now =
          view->status.has_sync() && view->status.sync().content_hash() == desired.content_hash;
      if (options.mode == SyncMode::kDiff || (plan.empty() && marked_now)) {
        for (PlannedChange& change : plan) sync.changes.push_back({std::move(change), false});
        sync.changes.insert(sync.changes.begin(), applied.begin(), applied.end());
        return sync;
      }
      for (size_t i = 0; i < plan.size() && outcome.ok(); ++i) {
        outcome = Make(plan[i], options, client, versions[plan[i].pool]);
        if (outcome.ok()) {
          applied.push_back({plan[i], true});
        } else if (outcome.code() != absl::StatusCode::kAborted) {
          // Not another writer: the node refused it. What is left of the plan is reported.
          for (size_t j = i; j < plan.size(); ++j) applied.push_back({plan[j], false});
          outcome = absl::Status(outcome.code(),
                                 absl::StrCat(ChangeName(plan[i].kind), " ", plan[i].backend,
                                              plan[i].backend.empty() ? "" : " ", "in pool \"",
                                              plan[i].pool, "\": ", outcome.message()));
        }
      }
      if (outcome.ok()) {
        v1::MarkSyncedRequest request;
        request.set_content_hash(desired.content_hash);
        request.set_source(desired.source);
        for (const auto& [name, version] : versions)
          (*request.mutable_pool_versions())[name] = version;
        v1::MarkSyncedResponse response;
        outcome = client.Call(&Stub::MarkSynced, request, &response);
        if (outcome.ok()) {
          sync.marked = true;
          sync.changes = std::move(applied);
          return sync;
        }
      }
    }
    if (outcome.code() != absl::StatusCode::kAborted || sync.attempts >= options.max_attempts) {
      sync.changes = std::move(applied);
      sync.error = outcome.code() == absl::StatusCode::kAborted
                       ? absl::AbortedError(absl::StrCat(
                             "the pools kept changing while they were applied (", sync.attempts,
                             " attempts; last: ", outcome.message(), ")"))
                       : outcome;
      return sync;
    }
    sync.notes.push_back(absl::StrCat("attempt ", sync.attempts, " met another writer (",
                                      outcome.message(), "): read again and re-planned"));
  }
}

}  // namespace plby::ctl
