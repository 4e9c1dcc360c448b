// Reconciler: plbyctl reconcile, the controller that keeps a fleet at a file of desired pools.
// Level-triggered: each round re-resolves the fleet, reads every node and applies where it
// differs, working only from what the nodes report (never from remembered events). Rounds run
// every --every, and at once when the file changes. A file that turns bad is refused loudly and
// the last good one keeps being enforced.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "channels.h"
#include "desired_pools.h"
#include "fleet.h"
#include "metrics/http_server.h"
#include "net/file_watch.h"
#include "net/host_port.h"

namespace plby::ctl {

struct ReconcileOptions {
  std::string file;
  std::vector<net::HostPort> fleets;  // re-resolved every round
  std::vector<std::string> nodes;     // fixed --node addresses
  absl::Duration every = absl::Seconds(10);
  int concurrency = 16;
  absl::Duration timeout = absl::Seconds(5);  // per node and round
  std::optional<absl::Duration> drain_timeout;
};

class Reconciler {
 public:
  Reconciler(ReconcileOptions options, const ChannelFactory& channels, DesiredPools desired,
             net::FileWatch watch);

  // Rounds until Stop(); a round under way finishes its nodes first (each within --timeout).
  void Run();
  // From any thread (the signal handler's).
  void Stop();

  // /metrics, and /healthz: 200 while rounds make progress; 503 once stopping, or when no
  // round has made progress for 3 x (--every + --timeout).
  metrics::HttpResponse Serve(const std::string& path) const;

 private:
  // What the metrics show, from the last round and in all.
  struct Counts {
    uint64_t rounds = 0;
    uint64_t changes = 0;
    uint64_t file_errors = 0;
    size_t in_sync = 0;                        // last round: matched already
    size_t drifted = 0;                        // last round: needed changes (and got them)
    size_t unreachable = 0;                    // last round: could not be reached
    size_t failed = 0;                         // last round: refused or still changing
    std::optional<absl::Time> last_full_sync;  // the end of the last round with every node in sync
    absl::Duration last_round;
    std::string content_hash;
    std::string source;
  };

  void Round();
  // Reads the file again: the new content if it changed, or the old one kept when the new one
  // is bad (logged and counted once per distinct error).
  void Reload(absl::string_view why);
  FleetNodes Nodes() const;

  const ReconcileOptions options_;
  const ChannelFactory& channels_;
  DesiredPools desired_;
  std::string last_refusal_;  // why the file on disk was last refused; empty: it was not
  net::FileWatch watch_;
  std::atomic<bool> stopping_{false};
  // When a round last started or a node of it finished (Unix ms): /healthz tells a stuck loop.
  std::atomic<int64_t> progress_ms_{absl::ToUnixMillis(absl::Now())};
  mutable std::mutex counts_mutex_;
  Counts counts_;  // guarded by counts_mutex_
};

}  // namespace plby::ctl
