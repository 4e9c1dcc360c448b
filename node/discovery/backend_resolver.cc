#include "discovery/backend_resolver.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "net/event_loop.h"

namespace plby::discovery {

BackendResolver::BackendResolver(pool::PoolRegistry& pools, net::OwnListeners own,
                                 std::function<void()> resolved)
    : pools_(pools), own_(std::move(own)), resolved_(std::move(resolved)) {}

BackendResolver::~BackendResolver() { Stop(); }

void BackendResolver::Start() {
  bool any = false;
  for (const auto& pool : pools_.pools()) {
    for (const pool::Backend& backend : pool->snapshot()->backends()) {
      any = any || !backend.unresolved.empty();
    }
  }
  if (!any) return;
  thread_ = std::thread([this] { Run(); });
}

void BackendResolver::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BackendResolver::SleepUntil(int64_t deadline_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  const int64_t wait_ms = std::max<int64_t>(0, deadline_ms - net::MonotonicMs());
  wake_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stopping_; });
  return !stopping_;
}

void BackendResolver::Run() {
  int64_t next_ms = net::MonotonicMs() + absl::ToInt64Milliseconds(kFirstRetry);
  while (SleepUntil(next_ms)) {
    if (!TryDue(net::MonotonicMs())) {
      PLBY_LOG(kInfo, "every backend is resolved: no name is retried any more");
      return;
    }
    next_ms = INT64_MAX;
    for (const auto& [runtime, retry] : retries_) next_ms = std::min(next_ms, retry.due_ms);
  }
}

bool BackendResolver::TryDue(int64_t now_ms) {
  // The interface list is read once a round: a wildcard listener is reached through any of
  // them, and they can change while the node runs.
  const net::LocalAddresses local = net::LocalAddresses::Read();
  std::map<const pool::BackendRuntime*, Retry> still;
  for (const auto& pool : pools_.pools()) {
    for (const pool::Backend& backend : pool->snapshot()->backends()) {
      if (backend.unresolved.empty()) continue;
      const pool::BackendRuntime* runtime = backend.runtime.get();
      const auto known = retries_.find(runtime);
      Retry retry = known != retries_.end() ? known->second : Retry{.due_ms = now_ms};
      if (retry.due_ms <= now_ms) {
        const std::string name = backend.address.ToString();
        const absl::StatusOr<net::SocketAddress> address =
            own_.ResolveBackend(backend.address, local);
        const pool::Pool::Resolution result = pool->RecordResolution(runtime, address);
        switch (result.outcome) {
          case pool::Pool::Resolution::Outcome::kGone:
            continue;
          case pool::Pool::Resolution::Outcome::kResolved:
            PLBY_LOG(kInfo, "backend ", name, " of pool ", pool->name(), " resolved to ",
                     address->ToString(), ": it takes traffic now");
            if (resolved_) resolved_();
            continue;
          case pool::Pool::Resolution::Outcome::kUnresolved:
            if (result.reason_changed) {
              PLBY_LOG(kWarn, "backend ", name, " of pool ", pool->name(), " is still unresolved (",
                       result.reason, "); retried");
            }
            break;
        }
        retry.due_ms = now_ms + absl::ToInt64Milliseconds(retry.delay);
        retry.delay = std::min(retry.delay * 2, kLongestRetry);
      }
      still[runtime] = retry;
    }
  }
  retries_ = std::move(still);
  return !retries_.empty();
}

}  // namespace plby::discovery
