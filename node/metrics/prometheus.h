// The Prometheus text exposition format (version 0.0.4) of a Report: `plby_` names, base units,
// counters ending in `_total`, backends labelled with their pool and address.
#pragma once

#include <string>

#include "metrics/exposition.h"
#include "metrics/report.h"

namespace plby::metrics {

std::string RenderPrometheus(const Report& report);

}  // namespace plby::metrics
