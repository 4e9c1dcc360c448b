#include "node_calls.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/algorithm_wire.h"
#include "node_client.h"

namespace plby::ctl {
namespace {

using Clock = std::chrono::system_clock;

// The calls of one command on one node, and the pool it is about.
class Calls : public NodeClient {
 public:
  using NodeClient::NodeClient;

  // The pool the command is about: --pool, or the node's only pool.
  absl::StatusOr<std::string> PoolFor(const Invocation& invocation) {
    if (!invocation.pool.empty()) return invocation.pool;
    v1::ListPoolsResponse pools;
    if (absl::Status status = Call(&v1::Control::Stub::ListPools, v1::ListPoolsRequest(), &pools);
        !status.ok()) {
      return status;
    }
    if (pools.pools_size() == 1) return pools.pools(0).name();
    std::vector<std::string> names;
    for (const v1::PoolSummary& pool : pools.pools()) names.push_back(pool.name());
    return absl::FailedPreconditionError(pools.pools_size() == 0
                                             ? std::string("the node has no pools")
                                             : absl::StrCat("the node has ", pools.pools_size(),
                                                            " pools (", absl::StrJoin(names, ", "),
                                                            "): choose one with --pool"));
  }
};

template <typename Request>
void SetExpectedVersion(const Invocation& invocation, Request& request) {
  if (invocation.expected_version) request.set_expected_version(*invocation.expected_version);
}

template <typename Request>
void SetDrainTimeout(const Invocation& invocation, Request& request) {
  if (invocation.drain_timeout) {
    request.set_drain_timeout_ms(
        static_cast<uint64_t>(absl::ToInt64Milliseconds(*invocation.drain_timeout)));
  }
}

template <typename Response>
void TakeChange(const Response& response, NodeResult& result) {
  result.pool = response.pool();
  result.version = response.version();
  result.backend = response.backend();
}

absl::Status Run(const Invocation& invocation, Calls& calls, NodeResult& result) {
  if (invocation.command == Command::kStatus) {
    return calls.Call(&v1::Control::Stub::GetStatus, v1::GetStatusRequest(), &result.status);
  }
  if (invocation.command == Command::kPoolsList) {
    v1::ListPoolsResponse response;
    absl::Status status =
        calls.Call(&v1::Control::Stub::ListPools, v1::ListPoolsRequest(), &response);
    result.pools.assign(response.pools().begin(), response.pools().end());
    return status;
  }
  if (invocation.command == Command::kCertsList) {
    return calls.Call(&v1::Control::Stub::ListCertificates, v1::ListCertificatesRequest(),
                      &result.certificates);
  }
  if (invocation.command == Command::kCertsReload) {
    absl::Status status = calls.Call(&v1::Control::Stub::ReloadCertificates,
                                     v1::ReloadCertificatesRequest(), &result.certificates);
    if (!status.ok()) return status;
    std::vector<std::string> refused;
    for (const v1::CertificateReload& reload : result.certificates.reloads()) {
      if (!reload.error().empty()) {
        refused.push_back(absl::StrCat("listener ", reload.listener(), ": ", reload.error()));
      }
    }
    if (refused.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("certificates refused, the ones loaded before stay in use: ",
                     absl::StrJoin(refused, "; ")));
  }
  absl::StatusOr<std::string> pool = calls.PoolFor(invocation);
  if (!pool.ok()) return pool.status();
  result.pool = *pool;
  switch (invocation.command) {
    case Command::kBackendsList: {
      v1::ListBackendsRequest request;
      request.set_pool(*pool);
      v1::ListBackendsResponse response;
      absl::Status status = calls.Call(&v1::Control::Stub::ListBackends, request, &response);
      result.version = response.version();
      result.algorithm = response.algorithm();
      result.listeners.assign(response.listeners().begin(), response.listeners().end());
      result.backends.assign(response.backends().begin(), response.backends().end());
      return status;
    }
    case Command::kBackendsAdd: {
      v1::AddBackendRequest request;
      request.set_pool(*pool);
      request.set_address(invocation.address);
      if (invocation.weight) request.set_weight(static_cast<uint32_t>(*invocation.weight));
      request.set_if_absent(invocation.if_absent);
      SetExpectedVersion(invocation, request);
      v1::AddBackendResponse response;
      absl::Status status = calls.Call(&v1::Control::Stub::AddBackend, request, &response);
      TakeChange(response, result);
      result.unchanged = response.unchanged();
      return status;
    }
    case Command::kBackendsRemove: {
      v1::RemoveBackendRequest request;
      request.set_pool(*pool);
      request.set_address(invocation.address);
      SetExpectedVersion(invocation, request);
      SetDrainTimeout(invocation, request);
      v1::RemoveBackendResponse response;
      absl::Status status = calls.Call(&v1::Control::Stub::RemoveBackend, request, &response);
      TakeChange(response, result);
      return status;
    }
    case Command::kBackendsSet:
    case Command::kBackendsDrain:
    case Command::kBackendsUndrain: {
      v1::UpdateBackendRequest request;
      request.set_pool(*pool);
      request.set_address(invocation.address);
      if (invocation.command == Command::kBackendsSet) {
        request.set_weight(static_cast<uint32_t>(*invocation.weight));
      } else {
        request.set_draining(invocation.command == Command::kBackendsDrain);
        SetDrainTimeout(invocation, request);
      }
      SetExpectedVersion(invocation, request);
      v1::UpdateBackendResponse response;
      absl::Status status = calls.Call(&v1::Control::Stub::UpdateBackend, request, &response);
      TakeChange(response, result);
      return status;
    }
    case Command::kPoolsSet: {
      v1::UpdatePoolRequest request;
      request.set_pool(*pool);
      if (invocation.algorithm) request.set_algorithm(control::ToWire(*invocation.algorithm));
      if (invocation.slow_start) {
        request.set_slow_start_ms(
            static_cast<uint64_t>(absl::ToInt64Milliseconds(*invocation.slow_start)));
      }
      if (invocation.hash) request.set_hash(std::string(balance::HashKeyName(*invocation.hash)));
      if (invocation.maglev_table_size)
        request.set_maglev_table_size(*invocation.maglev_table_size);
      SetExpectedVersion(invocation, request);
      v1::UpdatePoolResponse response;
      absl::Status status = calls.Call(&v1::Control::Stub::UpdatePool, request, &response);
      result.version = response.pool().version();
      result.unchanged = response.unchanged();
      result.pools = {response.pool()};
      return status;
    }
    case Command::kStatus:
    case Command::kPoolsList:
    case Command::kCertsList:
    case Command::kCertsReload:
    case Command::kBackendsWatch:
    case Command::kDiff:
    case Command::kApply:
    case Command::kReconcile:
      break;
  }
  return absl::InternalError("not a one-shot command");
}

}  // namespace

NodeResult RunOnNode(const Invocation& invocation, const std::string& node,
                     const std::shared_ptr<grpc::Channel>& channel) {
  NodeResult result;
  result.node = node;
  Calls calls(channel, invocation.timeout);
  result.error = Run(invocation, calls, result);
  return result;
}

void WatchStop::StopAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
  stopped_changed_.notify_all();
}

bool WatchStop::stopped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopped_;
}

bool WatchStop::WaitUntil(Clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return stopped_changed_.wait_until(lock, deadline, [this] { return stopped_; });
}

// Makes a watch's context known to a WatchStop for as long as it lives.
class WatchRegistration {
 public:
  WatchRegistration(WatchStop& stop, grpc::ClientContext* context)
      : stop_(stop), context_(context) {
    std::lock_guard<std::mutex> lock(stop_.mutex_);
    if (stop_.stopped_) context_->TryCancel();
    stop_.active_.push_back(context_);
  }
  ~WatchRegistration() {
    std::lock_guard<std::mutex> lock(stop_.mutex_);
    std::erase(stop_.active_, context_);
  }

 private:
  WatchStop& stop_;
  grpc::ClientContext* context_;
};

absl::Status WatchNode(const Invocation& invocation, const std::string&,
                       const std::shared_ptr<grpc::Channel>& channel, WatchStop& stop,
                       const std::function<void(const v1::WatchBackendsResponse&)>& on_update,
                       const std::function<void(const std::string&)>& on_note) {
  const Clock::time_point started = Clock::now();
  const std::optional<Clock::time_point> end =
      invocation.watch_duration
          ? std::optional(started + absl::ToChronoMilliseconds(*invocation.watch_duration))
          : std::nullopt;
  // A node that cannot even be connected to within --timeout (or the watch's duration, if
  // shorter) is a failure, not a quiet watch.
  const Clock::time_point connect_by =
      std::min(started + absl::ToChronoMilliseconds(invocation.timeout),
               end.value_or(Clock::time_point::max()));
  if (!WaitForConnected(*channel, connect_by, [&stop] { return stop.stopped(); })) {
    if (stop.stopped()) return absl::OkStatus();
    const bool by_duration = end && *end <= connect_by;
    return absl::DeadlineExceededError(absl::StrCat(
        "could not connect within ",
        absl::FormatDuration(by_duration ? *invocation.watch_duration : invocation.timeout),
        by_duration ? " (--duration)" : " (--timeout)"));
  }
  std::unique_ptr<v1::Control::Stub> stub = v1::Control::NewStub(channel);
  int64_t updates = 0;
  absl::Duration delay = kFirstReconnectDelay;
  while (true) {
    grpc::ClientContext context;
    if (end) context.set_deadline(*end);
    WatchRegistration registration(stop, &context);
    v1::WatchBackendsRequest request;
    request.set_pool(invocation.pool);
    std::unique_ptr<grpc::ClientReader<v1::WatchBackendsResponse>> stream =
        stub->WatchBackends(&context, request);
    v1::WatchBackendsResponse update;
    int64_t this_stream = 0;
    while (stream->Read(&update)) {
      if (this_stream == 0 && updates > 0) on_note("watch resumed");
      on_update(update);
      ++updates;
      ++this_stream;
      if (invocation.watch_count && updates >= *invocation.watch_count) {
        context.TryCancel();
        while (stream->Read(&update)) {
        }
        stream->Finish();
        return absl::OkStatus();
      }
    }
    const grpc::Status status = stream->Finish();
    if (stop.stopped()) return absl::OkStatus();  // Ctrl-C
    // Reaching --duration is the normal end of a timed watch.
    if (end && Clock::now() >= *end) return absl::OkStatus();
    const absl::Status broken =
        status.ok() ? absl::UnavailableError("the node ended the watch")
                    : absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                   status.error_message());
    // Refusals say something about the request (an unknown pool, too many watches): no retry.
    if (broken.code() != absl::StatusCode::kUnavailable &&
        broken.code() != absl::StatusCode::kCancelled) {
      return broken;
    }
    if (this_stream > 0) delay = kFirstReconnectDelay;  // it was up: start the backoff afresh
    on_note(absl::StrCat("watch interrupted (", absl::StatusCodeToString(broken.code()), ": ",
                         broken.message(), "); reconnecting in ", absl::FormatDuration(delay)));
    const Clock::time_point retry_at = std::min(Clock::now() + absl::ToChronoMilliseconds(delay),
                                                end.value_or(Clock::time_point::max()));
    if (stop.WaitUntil(retry_at)) return absl::OkStatus();
    delay = std::min(delay * 2, kLongestReconnectDelay);
    if (!WaitForConnected(*channel, end.value_or(Clock::time_point::max()),
                          [&stop] { return stop.stopped(); })) {
      return absl::OkStatus();  // stopped, or the duration ran out while the node was away
    }
  }
}

}  // namespace plby::ctl
