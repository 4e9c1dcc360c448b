#include "reconciler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fan_out.h"
#include "fleet.h"
#include "log/log.h"
#include "metrics/exposition.h"
#include "node_client.h"
#include "sync.h"
#include "text/quote.h"

namespace plby::ctl {
namespace {

bool Unreachable(const absl::Status& error) {
  return error.code() == absl::StatusCode::kUnavailable ||
         error.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

Reconciler::Reconciler(ReconcileOptions options, const ChannelFactory& channels,
                       DesiredPools desired, net::FileWatch watch)
    : options_(std::move(options)),
      channels_(channels),
      desired_(std::move(desired)),
      watch_(std::move(watch)) {
  counts_.content_hash = desired_.content_hash;
  counts_.source = desired_.source;
}

void Reconciler::Stop() {
  stopping_.store(true);
  watch_.Wake();
}

void Reconciler::Run() {
  PLBY_LOG(kInfo, "reconcile started file=", text::Quote(desired_.source),
           " content_hash=", desired_.content_hash,
           " every=", absl::FormatDuration(options_.every));
  while (!stopping_.load()) {
    // Level-triggered, the file too: read again at every round, and at once when the
    // directory changes (the watch only makes it sooner).
    Reload("at a round");
    Round();
    // Until the next round is due, or the file changes (then at once).
    const absl::Time due = absl::Now() + options_.every;
    while (!stopping_.load()) {
      const absl::Duration left = due - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      if (watch_.Wait(left) && !stopping_.load()) {
        const std::string before = desired_.content_hash;
        Reload("its directory changed");
        if (desired_.content_hash != before) break;  // a new file: a round now
      }
    }
  }
  PLBY_LOG(kInfo, "reconcile stopped");
}

void Reconciler::Reload(absl::string_view why) {
  absl::StatusOr<DesiredPools> loaded = LoadDesiredPools(options_.file);
  if (!loaded.ok()) {
    // Once per bad content, not once per round.
    if (loaded.status().message() == last_refusal_) return;
    last_refusal_ = std::string(loaded.status().message());
    {
      std::lock_guard<std::mutex> lock(counts_mutex_);
      ++counts_.file_errors;
    }
    PLBY_LOG(kError, "file ", text::Quote(options_.file),
             " refused; still enforcing the last good one, ", desired_.content_hash, ": ",
             loaded.status().message());
    return;
  }
  last_refusal_.clear();
  if (loaded->content_hash == desired_.content_hash) return;
  PLBY_LOG(kInfo, "file ", text::Quote(options_.file), " changed (noticed: ", why, "): now ",
           loaded->content_hash, " (was ", desired_.content_hash, ")");
  for (const std::string& note : loaded->notes) PLBY_LOG(kWarn, "file note: ", note);
  desired_ = *std::move(loaded);
  std::lock_guard<std::mutex> lock(counts_mutex_);
  counts_.content_hash = desired_.content_hash;
  counts_.source = desired_.source;
}

FleetNodes Reconciler::Nodes() const {
  FleetNodes found = ResolveFleets(options_.nodes, options_.fleets);
  for (const absl::Status& failure : found.failures) {
    // Logged, and counted as unreachable: the nodes it had are not forgotten as "fine".
    PLBY_LOG(kWarn, "fleet gives no node this round: ", failure.message());
  }
  return found;
}

void Reconciler::Round() {
  const absl::Time started = absl::Now();
  const FleetNodes fleet = Nodes();
  const std::vector<std::string>& nodes = fleet.nodes;
  std::vector<NodeSync> results(nodes.size());
  const SyncOptions sync_options{
      .mode = SyncMode::kApply, .drain_timeout = options_.drain_timeout, .max_attempts = 5};
  progress_ms_.store(absl::ToUnixMillis(absl::Now()));
  ForEachNode(nodes.size(), options_.concurrency, [&](size_t i) {
    if (stopping_.load()) {
      results[i].node = nodes[i];
      results[i].error = absl::CancelledError("stopping");
      return;
    }
    // A node found through a fleet has its certificate checked against the fleet's name.
    const auto name = fleet.names.find(nodes[i]);
    NodeClient client(channels_.ChannelTo(nodes[i], name == fleet.names.end() ? "" : name->second),
                      options_.timeout);
    results[i] = SyncNode(desired_, nodes[i], client, sync_options);
    progress_ms_.store(absl::ToUnixMillis(absl::Now()));
  });

  Counts round;
  round.unreachable = fleet.failures.size();  // a fleet that gave no node
  for (const NodeSync& result : results) {
    for (const std::string& note : result.notes) {
      PLBY_LOG(kInfo, "node=", result.node, " ", note);
    }
    for (const SyncedChange& synced : result.changes) {
      if (!synced.applied) continue;
      ++round.changes;
      const PlannedChange& change = synced.change;
      PLBY_LOG(
          kInfo, result.reverts_drift() ? "reverted " : "changed ", "node=", result.node,
          " pool=", text::Quote(change.pool), " change=", text::Quote(ChangeName(change.kind)),
          change.backend.empty() ? "" : absl::StrCat(" backend=", change.backend),
          " from=", text::Quote(change.from), " to=", text::Quote(change.to),
          result.reverts_drift() ? " (the node had drifted from the file it was synced to)" : "");
    }
    if (result.error.ok()) {
      if (result.in_sync()) {
        ++round.in_sync;
      } else {
        ++round.drifted;
        if (result.marked) {
          PLBY_LOG(kInfo, "synced node=", result.node, " content_hash=", desired_.content_hash,
                   " changes=", result.changes.size());
        }
      }
    } else if (result.error.code() == absl::StatusCode::kCancelled) {
      continue;  // not reached before the stop
    } else if (Unreachable(result.error)) {
      ++round.unreachable;
      PLBY_LOG(kWarn, "unreachable node=", result.node, " ",
               absl::StatusCodeToString(result.error.code()), ": ", result.error.message());
    } else {
      ++round.failed;
      PLBY_LOG(kWarn, "failed node=", result.node, " ",
               absl::StatusCodeToString(result.error.code()), ": ", result.error.message());
    }
  }
  const absl::Duration took = absl::Now() - started;
  PLBY_LOG(kInfo, "round nodes=", nodes.size(), " in_sync=", round.in_sync,
           " changed=", round.drifted, " unreachable=", round.unreachable, " failed=", round.failed,
           " took=", absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1))));
  std::lock_guard<std::mutex> lock(counts_mutex_);
  ++counts_.rounds;
  counts_.changes += round.changes;
  counts_.in_sync = round.in_sync;
  counts_.drifted = round.drifted;
  counts_.unreachable = round.unreachable;
  counts_.failed = round.failed;
  counts_.last_round = took;
  if (!nodes.empty() && round.unreachable == 0 && round.failed == 0 && !stopping_.load()) {
    counts_.last_full_sync = absl::Now();
  }
}

metrics::HttpResponse Reconciler::Serve(const std::string& path) const {
  if (path == "/healthz") {
    if (stopping_.load()) {
      return {.status = 503, .content_type = "text/plain", .body = "stopping\n"};
    }
    // Alive while rounds go on: a node finishes within --timeout, and a round starts at least
    // every --every. Past three times that with no progress, the loop is stuck.
    const absl::Duration quiet =
        absl::Now() - absl::FromUnixMillis(progress_ms_.load(std::memory_order_relaxed));
    if (quiet > 3 * (options_.every + options_.timeout)) {
      return {
          .status = 503,
          .content_type = "text/plain",
          .body = absl::StrCat("stuck: no round has made progress for ",
                               absl::FormatDuration(absl::Trunc(quiet, absl::Seconds(1))), "\n")};
    }
    return {.status = 200, .content_type = "text/plain", .body = "ok\n"};
  }
  if (path != "/metrics") {
    return {.status = 404, .content_type = "text/plain", .body = "not found: /metrics, /healthz\n"};
  }
  Counts counts;
  {
    std::lock_guard<std::mutex> lock(counts_mutex_);
    counts = counts_;
  }
  metrics::ExpositionWriter out;
  out.Family("plbyctl_reconcile_rounds_total", "counter", "Reconcile rounds completed.");
  out.Sample("plbyctl_reconcile_rounds_total", "", counts.rounds);
  out.Family("plbyctl_reconcile_nodes", "gauge",
             "Nodes of the last round: in_sync (matched already), drifted (changed to match), "
             "unreachable, failed (refused a change, or kept changing).");
  for (const auto& [state, count] :
       {std::pair{"in_sync", counts.in_sync}, std::pair{"drifted", counts.drifted},
        std::pair{"unreachable", counts.unreachable}, std::pair{"failed", counts.failed}}) {
    out.Sample("plbyctl_reconcile_nodes", absl::StrCat("state=\"", state, "\""),
               static_cast<uint64_t>(count));
  }
  out.Family("plbyctl_reconcile_changes_total", "counter", "Changes made on nodes.");
  out.Sample("plbyctl_reconcile_changes_total", "", counts.changes);
  out.Family("plbyctl_reconcile_last_full_sync_timestamp_seconds", "gauge",
             "When a round last ended with every node in sync (Unix time); 0: never.");
  out.Sample("plbyctl_reconcile_last_full_sync_timestamp_seconds", "",
             counts.last_full_sync
                 ? absl::ToDoubleSeconds(*counts.last_full_sync - absl::UnixEpoch())
                 : 0.0);
  out.Family("plbyctl_reconcile_round_duration_seconds", "gauge", "How long the last round took.");
  out.Sample("plbyctl_reconcile_round_duration_seconds", "",
             absl::ToDoubleSeconds(counts.last_round));
  out.Family("plbyctl_reconcile_file_errors_total", "counter",
             "Edits of the file that were refused (the last good one stays enforced).");
  out.Sample("plbyctl_reconcile_file_errors_total", "", counts.file_errors);
  out.Family("plbyctl_reconcile_file_info", "gauge",
             "The file being enforced, its content hash as a label; always 1.");
  out.Sample("plbyctl_reconcile_file_info",
             absl::StrCat("content_hash=\"", metrics::LabelValue(counts.content_hash),
                          "\",source=\"", metrics::LabelValue(counts.source), "\""),
             uint64_t{1});
  return {.status = 200, .content_type = metrics::kPrometheusContentType, .body = out.Take()};
}

}  // namespace plby::ctl
