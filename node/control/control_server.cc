#include "control/control_server.h"

#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "net/socket_ops.h"

namespace plby::control {
namespace {

// gRPC's own messages (a failed TLS handshake, say) go through the node's log, in its format.
void ForwardGrpcLog(gpr_log_func_args* args) {
  const absl::string_view file = args->file != nullptr ? args->file : "";
  const absl::string_view base = file.substr(file.rfind('/') + 1);
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      PLBY_LOG(kDebug, "grpc: ", args->message, " (", base, ":", args->line, ")");
      break;
    case GPR_LOG_SEVERITY_INFO:
      PLBY_LOG(kInfo, "grpc: ", args->message, " (", base, ":", args->line, ")");
      break;
    case GPR_LOG_SEVERITY_ERROR:
      PLBY_LOG(kWarn, "grpc: ", args->message, " (", base, ":", args->line, ")");
      break;
  }
}

std::shared_ptr<grpc::ServerCredentials> CredentialsFor(const config::ControlConfig& config) {
  if (!config.tls) return grpc::InsecureServerCredentials();
  // A client certificate is asked for but not verified in the handshake (the client still
  // proves it holds the certificate's key): the Control service verifies it on every call
  // against the client CA and refuses it with UNAUTHENTICATED and the reason, which a failed
  // handshake could not give. Health and reflection answer over TLS without one, for probes.
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.pem_root_certs = config.tls->client_ca_pem;
  options.pem_key_cert_pairs.push_back({config.tls->key_pem, config.tls->cert_pem});
  return grpc::SslServerCredentials(options);
}

// Threads of the control service: every call holds one while it runs (a watch for as long as
// it lasts), so they are bounded; calls past the bound get RESOURCE_EXHAUSTED from gRPC. Room
// is left beside the most watches for the short calls.
constexpr int kMaxControlThreads = 2 * kMaxWatches + 32;

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(
    const config::ControlConfig& config, ControlPlane& plane) {
  const net::SocketAddress& address = config.listen_address;
  if (address.port() != 0) {
    if (absl::Status free = net::CheckNobodyListens(address); !free.ok()) {
      return absl::Status(free.code(), absl::StrCat("control service: ", free.message()));
    }
  }
  std::unique_ptr<ControlServer> server = absl::WrapUnique(new ControlServer(plane));
  server->tls_ = config.tls.has_value();
  if (config.tls) {
    absl::StatusOr<std::unique_ptr<tls::ClientCertificateVerifier>> verifier =
        tls::ClientCertificateVerifier::Create(config.tls->client_ca_pem);
    if (!verifier.ok()) {
      return absl::Status(verifier.status().code(),
                          absl::StrCat("control.tls_client_ca ", config.tls->client_ca_file, ": ",
                                       verifier.status().message()));
    }
    server->client_verifier_ = *std::move(verifier);
  }
  server->service_ = std::make_unique<ControlService>(plane, server->client_verifier_.get());

  gpr_set_log_function(ForwardGrpcLog);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second node share the port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("plby-control");
  quota.SetMaxThreads(kMaxControlThreads);
  builder.SetResourceQuota(quota);
  int bound_port = 0;
  builder.AddListeningPort(address.ToString(), CredentialsFor(config), &bound_port);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || bound_port == 0) {
    return absl::UnavailableError(absl::StrCat("control service: cannot listen on ",
                                               address.ToString(),
                                               " (gRPC refused it; see its message above)"));
  }
  server->address_ = address;
  server->address_.set_port(static_cast<uint16_t>(bound_port));
  if (config.health_listen) {
    absl::StatusOr<net::SocketAddress> health = server->StartHealthOnly(config);
    if (!health.ok()) return health.status();
    server->health_address_ = *health;
  }
  // The listener first: a change made between the two (a fleet-wide add can reach a pod the
  // moment it listens) then publishes itself, and the first publish covers any before.
  plane.SetChangeListener([raw = server.get()] { raw->PublishHealth(); });
  server->PublishHealth();
  return server;
}

absl::StatusOr<net::SocketAddress> ControlServer::StartHealthOnly(
    const config::ControlConfig& config) {
  net::SocketAddress address = config.health_listen_address;
  if (address.port() != 0) {
    if (absl::Status free = net::CheckNobodyListens(address); !free.ok()) {
      return absl::Status(free.code(), absl::StrCat("health service: ", free.message()));
    }
  }
  // A server of its own with no service registered: it gets the default health service (and
  // reflection), never the Control service, so plaintext here cannot change anything.
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int bound_port = 0;
  builder.AddListeningPort(address.ToString(), grpc::InsecureServerCredentials(), &bound_port);
  health_server_ = builder.BuildAndStart();
  if (health_server_ == nullptr || bound_port == 0) {
    return absl::UnavailableError(absl::StrCat("health service: cannot listen on ",
                                               address.ToString(),
                                               " (gRPC refused it; see its message above)"));
  }
  address.set_port(static_cast<uint16_t>(bound_port));
  return address;
}

ControlServer::ControlServer(ControlPlane& plane) : plane_(plane) {}

ControlServer::~ControlServer() { Shutdown(absl::ZeroDuration()); }

void ControlServer::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(health_mutex_);
  serving_ = serving;
  PublishHealthLocked();
}

void ControlServer::PublishHealth() {
  std::lock_guard<std::mutex> lock(health_mutex_);
  PublishHealthLocked();
}

void ControlServer::PublishHealthLocked() {
  if (server_ == nullptr) return;
  const bool ready = serving_ && plane_.ReadyForTraffic();
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
      health->SetServingStatus("", serving_);
      health->SetServingStatus(kTrafficService, ready);
    }
  }
}

void ControlServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  plane_.SetChangeListener({});  // no change reaches this server from here on
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
  server_.reset();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
    health_server_.reset();
  }
}

}  // namespace plby::control
