// Report: everything the metrics listener shows, read at once from the control plane (which
// sums the workers' counters): the node, each pool and each backend.
#pragma once

#include <vector>

#include "control/control_plane.h"

namespace plby::metrics {

struct PoolReport {
  control::PoolSummary summary;  // name, listen address, algorithm, version
  control::PoolState state;      // the backends, with their counters
};

struct Report {
  control::NodeStatus node;
  std::vector<PoolReport> pools;
};

Report Collect(const control::ControlPlane& plane);

}  // namespace plby::metrics
