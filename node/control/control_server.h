// ControlServer: the node's gRPC server: the plby.v1.Control service, grpc.health.v1.Health
// (for Kubernetes probes) and server reflection (for grpcurl), plaintext on loopback or mTLS.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "net/socket_address.h"

namespace grpc {
class Server;
}

namespace plby::control {

class ControlServer {
 public:
  // Binds `config.listen_address` (refusing an address in use) and starts serving `plane`.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(const config::ControlConfig& config,
                                                              ControlPlane& plane);
  ~ControlServer();

  // The address actually bound (the kernel's port when the config said 0).
  const net::SocketAddress& address() const { return address_; }
  // The plaintext health-only listener (control.health_listen), when there is one.
  const std::optional<net::SocketAddress>& health_address() const { return health_address_; }
  bool tls() const { return tls_; }

  // What the health service reports: SERVING, or NOT_SERVING once the node is stopping.
  void SetServing(bool serving);

  // Reports NOT_SERVING to health checks, ends open calls (watch streams included) within
  // `grace`, and stops. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  ControlServer() = default;
  // Starts the plaintext health-only server on config.health_listen; returns its address.
  absl::StatusOr<net::SocketAddress> StartHealthOnly(const config::ControlConfig& config);

  net::SocketAddress address_;
  bool tls_ = false;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<net::SocketAddress> health_address_;
  std::unique_ptr<grpc::Server> health_server_;  // serves no Control calls at all
};

}  // namespace plby::control
