// ControlService: the plby.v1.Control gRPC service, a thin layer over ControlPlane: each handler
// checks the caller, reads its request, calls one ControlPlane method and maps the result
// (absl::Status codes are gRPC's codes) back.
#pragma once

#include "control/control_plane.h"
#include "plby/v1/control.grpc.pb.h"
#include "tls/certificates.h"

namespace plby::control {

class ControlService final : public plby::v1::Control::Service {
 public:
  // With `client_verifier` (mTLS), every call must come over TLS with a client certificate
  // that it verifies, or it fails with UNAUTHENTICATED saying why (and the refusal is logged
  // with the peer). The TLS handshake itself lets any certificate through, so that this is
  // where a bad one is refused: a handshake failure could name neither the peer nor the reason.
  ControlService(ControlPlane& plane, const tls::ClientCertificateVerifier* client_verifier)
      : plane_(plane), client_verifier_(client_verifier) {}

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
  grpc::Status UpdatePool(grpc::ServerContext* context, const v1::UpdatePoolRequest* request,
                          v1::UpdatePoolResponse* response) override;
  grpc::Status WatchBackends(grpc::ServerContext* context, const v1::WatchBackendsRequest* request,
                             grpc::ServerWriter<v1::WatchBackendsResponse>* writer) override;
  grpc::Status MarkSynced(grpc::ServerContext* context, const v1::MarkSyncedRequest* request,
                          v1::MarkSyncedResponse* response) override;
  grpc::Status ListCertificates(grpc::ServerContext* context,
                                const v1::ListCertificatesRequest* request,
                                v1::CertificatesResponse* response) override;
  grpc::Status ReloadCertificates(grpc::ServerContext* context,
                                  const v1::ReloadCertificatesRequest* request,
                                  v1::CertificatesResponse* response) override;

 private:
  // The caller, once its certificate (under mTLS) is verified; else UNAUTHENTICATED.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContext& context) const;

  ControlPlane& plane_;
  const tls::ClientCertificateVerifier* const client_verifier_;  // null: plaintext
};

}  // namespace plby::control
