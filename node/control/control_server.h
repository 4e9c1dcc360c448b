// ControlServer: the node's gRPC server: the plby.v1.Control service, grpc.health.v1.Health
// (for Kubernetes probes) and server reflection (for grpcurl), plaintext on loopback or mTLS.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "net/socket_address.h"
#include "tls/certificates.h"

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

  // The health service name that Kubernetes' readiness probe asks for: SERVING while the node
  // serves and every pool has a backend that is not draining (ControlPlane::
  // EveryPoolHasBackends), so that a new pod joins the traffic Service only once it has a
  // pool. The whole server ("") stays SERVING meanwhile: liveness must not restart it for that.
  static constexpr char kTrafficService[] = "plby.traffic";

  // What the health service reports: SERVING, or NOT_SERVING (for every name) once the node is
  // stopping.
  void SetServing(bool serving);

  // Reports NOT_SERVING to health checks, ends open calls (watch streams included) within
  // `grace`, and stops. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  explicit ControlServer(ControlPlane& plane);  // defined where grpc::Server is complete
  // Sets both servers' health statuses from serving_ and the plane's pools.
  void PublishHealth();
  void PublishHealthLocked();  // health_mutex_ held
  // Starts the plaintext health-only server on config.health_listen; returns its address.
  absl::StatusOr<net::SocketAddress> StartHealthOnly(const config::ControlConfig& config);

  ControlPlane& plane_;
  std::mutex health_mutex_;  // SetServing (main thread) against changes (gRPC threads)
  bool serving_ = true;
  net::SocketAddress address_;
  bool tls_ = false;
  std::unique_ptr<tls::ClientCertificateVerifier> client_verifier_;  // with mTLS
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<net::SocketAddress> health_address_;
  std::unique_ptr<grpc::Server> health_server_;  // serves no Control calls at all
};

}  // namespace plby::control
