// Calls to the standard services every plby node serves, grpc.health.v1.Health and server
// reflection, made with gRPC's generic stub and hand-encoded protobuf bytes: the test needs no
// generated code for them (and so cannot clash with the copies inside the gRPC libraries).
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace plby::testing {

// grpc.health.v1.Health/Check for `service` ("" is the whole server). Returns the serving
// status number: 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN.
absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service = "");

// Asks server reflection (v1alpha) to list the services; returns the raw response bytes, in
// which every service name appears as a string.
absl::StatusOr<std::string> ListServicesByReflection(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace plby::testing
