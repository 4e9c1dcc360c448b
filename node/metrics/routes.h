// What the metrics listener serves: /metrics (Prometheus), / (the status page) and
// /status.json (what the page reads).
#pragma once

#include <string>

#include "control/control_plane.h"
#include "metrics/http_server.h"

namespace plby::metrics {

HttpResponse Route(const control::ControlPlane& plane, const std::string& path);

}  // namespace plby::metrics
