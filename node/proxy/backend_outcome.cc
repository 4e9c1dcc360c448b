#include "proxy/backend_outcome.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "net/socket_ops.h"

namespace plby::proxy {

int StartBackendConnect(const net::SocketAddress& address, net::UniqueFd& fd) {
  net::UniqueFd socket_fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_fd) return errno;
  net::SetNoDelay(socket_fd.get());
  if (connect(socket_fd.get(), address.sockaddr_ptr(), address.length()) != 0 &&
      errno != EINPROGRESS) {
    return errno;
  }
  fd = std::move(socket_fd);
  return 0;
}

void NotePassiveFailure(WorkerContext& context, pool::Pool& pool, const pool::Backend& backend) {
  const config::HealthCheckConfig& health = pool.settings().health;
  // Whether or not there are active checks: without, a cooldown brings the backend back.
  if (health.passive_failures == 0 || context.health == nullptr) return;
  const uint32_t failures = backend.runtime->AddPassiveFailure();
  // Reported once, when the streak reaches the threshold: a failure path, never per byte.
  if (failures == static_cast<uint32_t>(health.passive_failures)) {
    context.health->ReportPassiveFailures(&pool, backend, failures);
  }
}

void NoteConnectFailure(WorkerContext& context, pool::Pool& pool, const pool::Backend& backend,
                        int error, absl::string_view detail) {
  context.stats->connect_failures.Add();
  backend.runtime->worker(context.worker_index).connect_failures.Add();
  NotePassiveFailure(context, pool, backend);
  uint64_t suppressed = 0;
  if (log::Enabled(log::Level::kWarn) &&
      context.connect_failure_log->Allow(context.loop->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "backend connect failed pool=", pool.name(),
             " backend=", backend.address.ToString(), " error=\"",
             detail.empty() ? absl::string_view(std::strerror(error)) : detail, "\"",
             log::SuppressedSuffix(suppressed));
  }
}

}  // namespace plby::proxy
