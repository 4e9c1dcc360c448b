// The balancing algorithms as the control API's enum: one table, used by the node's service
// and by plbyctl.
#pragma once

#include <optional>

#include "balance/algorithm.h"
#include "plby/v1/control.pb.h"

namespace plby::control {

v1::Algorithm ToWire(balance::Algorithm algorithm);
// nullopt for ALGORITHM_UNSPECIFIED and values this build does not know.
std::optional<balance::Algorithm> FromWire(v1::Algorithm algorithm);

}  // namespace plby::control
