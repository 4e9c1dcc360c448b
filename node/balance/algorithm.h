// The balancing algorithms a pool can use, and the weights they accept.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plby::balance {

enum class Algorithm {
  kRoundRobin,          // "RR": each backend in turn; weights are ignored
  kWeightedRoundRobin,  // "WRR": nginx's smooth weighted round robin
};

// "RR" or "WRR", case-insensitively; anything else is refused with the valid list.
absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view text);
absl::string_view AlgorithmName(Algorithm algorithm);

// HAProxy's range: operators know it, and it keeps smooth schedules small.
inline constexpr int64_t kMinWeight = 1;
inline constexpr int64_t kMaxWeight = 256;

// OK when `weight` is within [kMinWeight, kMaxWeight]; otherwise an error naming the value.
absl::Status ValidateWeight(int64_t weight);

}  // namespace plby::balance
