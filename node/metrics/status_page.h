// The status page: a self-contained HTML page (no external scripts, styles or fonts: it works
// offline) that reads status.json every second and shows the pools, their backends, weight,
// health, state, and connection and byte rates computed from the counters' growth.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "metrics/report.h"

namespace plby::metrics {

absl::string_view StatusPageHtml();

// What the page reads: the Report as one JSON object.
std::string RenderStatusJson(const Report& report);

}  // namespace plby::metrics
