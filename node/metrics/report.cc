#include "metrics/report.h"

namespace plby::metrics {

Report Collect(const control::ControlPlane& plane) {
  Report report;
  report.node = plane.Status();
  for (const control::PoolSummary& summary : report.node.pools) {
    absl::StatusOr<control::PoolState> state = plane.ListBackends(summary.name);
    // Pools are never removed while the node runs, so the pool just listed is there.
    if (state.ok()) report.pools.push_back({summary, *std::move(state)});
  }
  return report;
}

}  // namespace plby::metrics
