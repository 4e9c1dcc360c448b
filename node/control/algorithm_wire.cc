#include "control/algorithm_wire.h"

#include <utility>

namespace plby::control {
namespace {

constexpr std::pair<balance::Algorithm, v1::Algorithm> kWire[] = {
    {balance::Algorithm::kRoundRobin, v1::ALGORITHM_ROUND_ROBIN},
    {balance::Algorithm::kWeightedRoundRobin, v1::ALGORITHM_WEIGHTED_ROUND_ROBIN},
    {balance::Algorithm::kLeastConnections, v1::ALGORITHM_LEAST_CONNECTIONS},
    {balance::Algorithm::kPowerOfTwo, v1::ALGORITHM_POWER_OF_TWO},
    {balance::Algorithm::kRandom, v1::ALGORITHM_RANDOM},
    {balance::Algorithm::kMaglev, v1::ALGORITHM_MAGLEV},
};

}  // namespace

v1::Algorithm ToWire(balance::Algorithm algorithm) {
  for (const auto& [ours, wire] : kWire) {
    if (ours == algorithm) return wire;
  }
  return v1::ALGORITHM_UNSPECIFIED;
}

std::optional<balance::Algorithm> FromWire(v1::Algorithm algorithm) {
  for (const auto& [ours, wire] : kWire) {
    if (wire == algorithm) return ours;
  }
  return std::nullopt;
}

}  // namespace plby::control
