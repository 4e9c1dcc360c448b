// Durations as operators write them in config.toml: "250ms", "3s", "2m", "1h".
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plby::config {

// A whole number followed by a unit (ms, s, m or h), nothing else.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

}  // namespace plby::config
