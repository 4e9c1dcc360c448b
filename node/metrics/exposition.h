// The Prometheus text exposition format (version 0.0.4): families of samples, written in order.
// Shared by the node's /metrics and plbyctl reconcile's.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace plby::metrics {

inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A label value with \, " and newlines escaped, as the format requires.
std::string LabelValue(absl::string_view value);

class ExpositionWriter {
 public:
  // Starts a metric family: its HELP and TYPE lines. Every sample of it must follow at once.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  // `labels` is the text between the braces (name="value",...), already escaped; may be empty.
  void Sample(absl::string_view name, absl::string_view labels, uint64_t value);
  // Fixed-point: StrCat's %g would print a long uptime as 1.23457e+06, losing seconds.
  void Sample(absl::string_view name, absl::string_view labels, double value);
  std::string Take() { return std::move(out_); }

 private:
  void Line(absl::string_view name, absl::string_view labels, absl::string_view value);

  std::string out_;
};

}  // namespace plby::metrics
