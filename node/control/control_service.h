// ControlService: the plby.v1.Control gRPC service, a thin layer over ControlPlane: each handler
// checks the caller, reads its request, calls one ControlPlane method and maps the result
// (absl::Status codes are gRPC's codes) back.
#pragma once

#include "control/control_plane.h"
#include "plby/v1/control.grpc.pb.h"

namespace plby::control {

class ControlService final : public plby::v1::Control::Service {
 public:
  // With `require_client_certificate`, every call must come over TLS with a verified client
  // certificate, or it fails with UNAUTHENTICATED.
  ControlService(ControlPlane& plane, bool require_client_certificate)
      : plane_(plane), require_client_certificate_(require_client_certificate) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status ListPools(grpc::ServerContext* context, const v1::ListPoolsRequest* request,
                         v1::ListPoolsResponse* response) override;
  grpc::Status ListBackends(grpc::ServerContext* context, const v1::ListBackendsRequest* request,
                            v1::ListBackendsResponse* response) override;
  grpc::Status AddBackend(grpc::ServerContext* context, const v1::AddBackendRequest* request,
                          v1::AddBackendResponse* response) override;
  grpc::Status RemoveBackend(grpc::ServerContext* context, const v1::RemoveBackendRequest* request,
                             v1::RemoveBackendResponse* response) override;
  grpc::Status UpdateBackend(grpc::ServerContext* context, const v1::UpdateBackendRequest* request,
                             v1::UpdateBackendResponse* response) override;
  grpc::Status WatchBackends(grpc::ServerContext* context, const v1::WatchBackendsRequest* request,
                             grpc::ServerWriter<v1::WatchBackendsResponse>* writer) override;

 private:
  grpc::Status Authorize(const grpc::ServerContext& context) const;

  ControlPlane& plane_;
  const bool require_client_certificate_;
};

}  // namespace plby::control
