#include "control/control_service.h"

#include <chrono>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "balance/settings.h"
#include "control/algorithm_wire.h"
#include "grpc/grpc_security_constants.h"

namespace plby::control {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

v1::Health ToProto(pool::Health health) {
  switch (health) {
    case pool::Health::kUnknown:
      return v1::HEALTH_UNKNOWN;
    case pool::Health::kHealthy:
      return v1::HEALTH_HEALTHY;
    case pool::Health::kUnhealthy:
      return v1::HEALTH_UNHEALTHY;
  }
  return v1::HEALTH_UNSPECIFIED;
}

void Fill(const BackendStatus& status, v1::Backend* backend) {
  backend->set_address(status.address);
  backend->set_weight(static_cast<uint32_t>(status.weight));
  backend->set_health(ToProto(status.health));
  backend->set_state(status.draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE);
  backend->set_active_connections(status.active_connections);
  backend->set_total_connections(status.total_connections);
  backend->set_unresolved(status.unresolved);
  backend->set_current_weight(status.current_weight);
  backend->set_table_entries(status.table_entries);
}

void Fill(const PoolSummary& summary, v1::PoolSummary* pool) {
  pool->set_name(summary.name);
  // Still filled for older clients; the field is deprecated in favour of `listeners`.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pool->set_listen(summary.listeners.empty() ? "" : summary.listeners.front());
#pragma GCC diagnostic pop
  for (const std::string& listener : summary.listeners) pool->add_listeners(listener);
  pool->set_algorithm(ToWire(summary.balance.algorithm));
  pool->set_slow_start_ms(
      static_cast<uint64_t>(absl::ToInt64Milliseconds(summary.balance.slow_start)));
  if (balance::UsesHash(summary.balance)) {
    pool->set_hash(std::string(balance::HashKeyName(summary.balance.hash)));
  }
  if (balance::UsesTableSize(summary.balance)) {
    pool->set_maglev_table_size(summary.balance.maglev_table_size);
  }
  pool->set_version(summary.version);
  pool->set_backend_count(static_cast<uint32_t>(summary.backend_count));
  if (summary.discovery) {
    pool->set_discover_dns(summary.discovery->dns);
    pool->set_discover_every_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(summary.discovery->every)));
    pool->set_discovery_failures(summary.discovery->status.failures);
    pool->set_discovery_error(summary.discovery->status.last_error);
  }
  pool->set_active_connections(summary.active_connections);
}

template <typename Response>
void FillState(const PoolState& state, Response* response) {
  response->set_pool(state.pool);
  response->set_version(state.version);
  response->set_algorithm(ToWire(state.algorithm));
  for (const std::string& listener : state.listeners) response->add_listeners(listener);
  for (const BackendStatus& backend : state.backends) Fill(backend, response->add_backends());
}

template <typename Response>
grpc::Status Reply(const absl::StatusOr<BackendChange>& change, Response* response) {
  if (!change.ok()) return ToGrpc(change.status());
  response->set_pool(change->pool);
  response->set_version(change->version);
  Fill(change->backend, response->mutable_backend());
  return grpc::Status::OK;
}

// proto3 `optional uint32` as the domain's optional weight.
template <typename Request>
std::optional<int64_t> WeightOf(const Request& request) {
  if (!request.has_weight()) return std::nullopt;
  return static_cast<int64_t>(request.weight());
}

template <typename Request>
std::optional<uint64_t> ExpectedVersionOf(const Request& request) {
  if (!request.has_expected_version()) return std::nullopt;
  return request.expected_version();
}

template <typename Request>
std::optional<absl::Duration> DrainTimeoutOf(const Request& request) {
  if (!request.has_drain_timeout_ms()) return std::nullopt;
  return absl::Milliseconds(static_cast<int64_t>(
      std::min<uint64_t>(request.drain_timeout_ms(), std::numeric_limits<int64_t>::max())));
}

void Fill(const SyncMark& mark, v1::SyncMark* out) {
  out->set_content_hash(mark.content_hash);
  out->set_source(mark.source);
  out->set_synced_unix_ms(static_cast<uint64_t>(absl::ToUnixMillis(mark.at)));
  out->set_by(mark.by);
}

// The caller went away: cancelled, or its deadline passed.
bool Gone(const grpc::ServerContext& context) {
  return context.IsCancelled() || context.deadline() <= std::chrono::system_clock::now();
}

}  // namespace

absl::StatusOr<Caller> ControlService::Authorize(const grpc::ServerContext& context) const {
  Caller caller{.peer = context.peer(), .identity = ""};
  if (client_verifier_ == nullptr) return caller;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const auto property = [&](const char* name) {
    std::string value;
    if (auth != nullptr) {
      for (const grpc::string_ref& part : auth->FindPropertyValues(name)) {
        value.append(part.data(), part.size());
      }
    }
    return value;
  };
  const std::string leaf = property(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  caller.identity = property(GRPC_X509_SUBJECT_PROPERTY_NAME);
  const absl::Status verified =
      leaf.empty()
          ? absl::UnauthenticatedError(
                "no client certificate was presented: this node's control service takes calls "
                "only from clients with a certificate signed by its control.tls_client_ca "
                "(plbyctl --cert and --key)")
          : client_verifier_->Verify(leaf, property(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME));
  if (verified.ok()) return caller;
  plane_.audit().RecordUnauthenticated(caller, verified.message());
  return verified;
}

grpc::Status ControlService::GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                                       v1::GetStatusResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  const NodeStatus status = plane_.Status();
  response->set_node_version(status.version);
  response->set_uptime_seconds(static_cast<uint64_t>(absl::ToInt64Seconds(status.uptime)));
  response->set_workers(static_cast<uint32_t>(status.workers));
  response->set_accepted_connections(status.accepted_connections);
  response->set_active_connections(status.active_connections);
  for (const PoolSummary& pool : status.pools) Fill(pool, response->add_pools());
  if (status.sync) Fill(*status.sync, response->mutable_sync());
  response->set_ready_after_sync(status.ready_after_sync);
  return grpc::Status::OK;
}

grpc::Status ControlService::MarkSynced(grpc::ServerContext* context,
                                        const v1::MarkSyncedRequest* request,
                                        v1::MarkSyncedResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  MarkSyncedArgs args{
      .content_hash = request->content_hash(),
      .source = request->source(),
      .pool_versions = {request->pool_versions().begin(), request->pool_versions().end()},
      .caller = *caller};
  const absl::StatusOr<std::pair<SyncMark, bool>> marked = plane_.MarkSynced(args);
  if (!marked.ok()) return ToGrpc(marked.status());
  Fill(marked->first, response->mutable_mark());
  response->set_unchanged(!marked->second);
  return grpc::Status::OK;
}

namespace {

void FillCertificates(const std::vector<CertificateStatus>& certificates,
                      v1::CertificatesResponse* response) {
  for (const CertificateStatus& certificate : certificates) {
    v1::CertificateInfo* info = response->add_certificates();
    info->set_listener(certificate.listener);
    info->set_file(certificate.file);
    for (const std::string& name : certificate.names) info->add_names(name);
    info->set_not_after_unix(absl::ToUnixSeconds(certificate.not_after));
    info->set_fingerprint_sha256(certificate.fingerprint);
    info->set_is_default(certificate.is_default);
  }
}

}  // namespace

grpc::Status ControlService::ListCertificates(grpc::ServerContext* context,
                                              const v1::ListCertificatesRequest*,
                                              v1::CertificatesResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  FillCertificates(plane_.Certificates(), response);
  return grpc::Status::OK;
}

grpc::Status ControlService::ReloadCertificates(grpc::ServerContext* context,
                                                const v1::ReloadCertificatesRequest*,
                                                v1::CertificatesResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  for (const CertificateReloadStatus& reload : plane_.ReloadCertificates()) {
    v1::CertificateReload* out = response->add_reloads();
    out->set_listener(reload.listener);
    out->set_changed(reload.changed);
    out->set_error(reload.error);
  }
  FillCertificates(plane_.Certificates(), response);
  return grpc::Status::OK;
}

grpc::Status ControlService::ListPools(grpc::ServerContext* context, const v1::ListPoolsRequest*,
                                       v1::ListPoolsResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  for (const PoolSummary& pool : plane_.ListPools()) Fill(pool, response->add_pools());
  return grpc::Status::OK;
}

grpc::Status ControlService::ListBackends(grpc::ServerContext* context,
                                          const v1::ListBackendsRequest* request,
                                          v1::ListBackendsResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<PoolState> state = plane_.ListBackends(request->pool());
  if (!state.ok()) return ToGrpc(state.status());
  FillState(*state, response);
  return grpc::Status::OK;
}

grpc::Status ControlService::AddBackend(grpc::ServerContext* context,
                                        const v1::AddBackendRequest* request,
                                        v1::AddBackendResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  const absl::StatusOr<BackendChange> change =
      plane_.AddBackend({.pool = request->pool(),
                         .address = request->address(),
                         .weight = WeightOf(*request),
                         .expected_version = ExpectedVersionOf(*request),
                         .if_absent = request->if_absent(),
                         .caller = *caller},
                        [context] { return Gone(*context); });
  if (change.ok()) response->set_unchanged(!change->changed);
  return Reply(change, response);
}

grpc::Status ControlService::RemoveBackend(grpc::ServerContext* context,
                                           const v1::RemoveBackendRequest* request,
                                           v1::RemoveBackendResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return Reply(plane_.RemoveBackend({.pool = request->pool(),
                                     .address = request->address(),
                                     .expected_version = ExpectedVersionOf(*request),
                                     .drain_timeout = DrainTimeoutOf(*request),
                                     .caller = *caller},
                                    [context] { return Gone(*context); }),
               response);
}

grpc::Status ControlService::UpdateBackend(grpc::ServerContext* context,
                                           const v1::UpdateBackendRequest* request,
                                           v1::UpdateBackendResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return Reply(plane_.UpdateBackend(
                   {.pool = request->pool(),
                    .address = request->address(),
                    .weight = WeightOf(*request),
                    .draining = request->has_draining() ? std::optional<bool>(request->draining())
                                                        : std::nullopt,
                    .expected_version = ExpectedVersionOf(*request),
                    .drain_timeout = DrainTimeoutOf(*request),
                    .caller = *caller},
                   [context] { return Gone(*context); }),
               response);
}

namespace {

// The request's settings in the plane's terms, or INVALID_ARGUMENT naming a value this node
// does not know.
absl::StatusOr<UpdatePoolArgs> UpdatePoolArgsOf(const v1::UpdatePoolRequest& request) {
  UpdatePoolArgs args{.pool = request.pool()};
  if (request.algorithm() != v1::ALGORITHM_UNSPECIFIED) {
    args.algorithm = FromWire(request.algorithm());
    if (!args.algorithm) {
      std::vector<std::string> valid;
      for (const balance::AlgorithmInfo& info : balance::Algorithms()) {
        valid.push_back(v1::Algorithm_Name(ToWire(info.algorithm)));
      }
      return absl::InvalidArgumentError(absl::StrCat("unknown algorithm value ",
                                                     static_cast<int>(request.algorithm()),
                                                     " (valid: ", absl::StrJoin(valid, ", "), ")"));
    }
  }
  if (request.has_slow_start_ms()) {
    const uint64_t most = static_cast<uint64_t>(absl::ToInt64Milliseconds(balance::kMaxSlowStart));
    if (request.slow_start_ms() > most) {
      return absl::InvalidArgumentError(
          absl::StrCat("slow_start_ms ", request.slow_start_ms(),
                       " is out of range (valid: 0, which is off, to ", most, ")"));
    }
    args.slow_start = absl::Milliseconds(static_cast<int64_t>(request.slow_start_ms()));
  }
  if (request.has_hash()) {
    absl::StatusOr<balance::HashKey> hash = balance::ParseHashKey(request.hash());
    if (!hash.ok()) return hash.status();
    args.hash = *hash;
  }
  if (request.has_maglev_table_size()) args.maglev_table_size = request.maglev_table_size();
  if (request.has_expected_version()) args.expected_version = request.expected_version();
  return args;
}

}  // namespace

grpc::Status ControlService::UpdatePool(grpc::ServerContext* context,
                                        const v1::UpdatePoolRequest* request,
                                        v1::UpdatePoolResponse* response) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<UpdatePoolArgs> args = UpdatePoolArgsOf(*request);
  if (!args.ok()) return ToGrpc(args.status());
  args->caller = *caller;
  const absl::StatusOr<PoolChange> change =
      plane_.UpdatePool(*args, [context] { return Gone(*context); });
  if (!change.ok()) return ToGrpc(change.status());
  Fill(change->summary, response->mutable_pool());
  response->set_unchanged(!change->changed);
  return grpc::Status::OK;
}

grpc::Status ControlService::WatchBackends(grpc::ServerContext* context,
                                           const v1::WatchBackendsRequest* request,
                                           grpc::ServerWriter<v1::WatchBackendsResponse>* writer) {
  const absl::StatusOr<Caller> caller = Authorize(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  const absl::Status status = plane_.Watch(
      request->pool(),
      [&](const PoolState& state) {
        v1::WatchBackendsResponse message;
        FillState(state, &message);
        return writer->Write(message);
      },
      [&] { return context->IsCancelled(); });
  return ToGrpc(status);
}

}  // namespace plby::control
