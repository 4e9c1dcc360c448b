// What the metrics listener serves: /metrics (Prometheus), / (the status page), and what the
// page reads: /status.json (now) and /history.json (the last five minutes).
#pragma once

#include <string>

#include "control/control_plane.h"
#include "metrics/history.h"
#include "metrics/http_server.h"

namespace plby::metrics {

HttpResponse Route(const control::ControlPlane& plane, const TrafficHistory& history,
                   const std::string& path);

}  // namespace plby::metrics
