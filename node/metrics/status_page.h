// The status page: an HTML page with its style sheet and script, all served by the node itself
// (nothing from elsewhere: it works offline, and a Content-Security-Policy that allows only the
// node's own origin holds), that reads status.json every second and shows the pools, their
// backends, weight, health, state, and connection and byte rates computed from the counters'
// growth.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "metrics/report.h"

namespace plby::metrics {

absl::string_view StatusPageHtml();    // served at /
absl::string_view StatusPageStyle();   // /status.css
absl::string_view StatusPageScript();  // /status.js

// What the page reads: the Report as one JSON object.
std::string RenderStatusJson(const Report& report);

}  // namespace plby::metrics
