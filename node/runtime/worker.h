// Worker: one thread with its own event loop, its own listening socket per frontend (all in the
// frontend's SO_REUSEPORT group) and the connections it accepted. A connection stays on the
// worker that accepted it for its whole life, so the data path takes no locks.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "health/health_checker.h"
#include "log/rate_limit.h"
#include "net/event_loop.h"
#include "net/unique_fd.h"
#include "pool/pool.h"
#include "pool/pool_view.h"
#include "proxy/buffer_pool.h"
#include "proxy/connection.h"
#include "proxy/connection_pool.h"
#include "proxy/idle_clients.h"
#include "proxy/listener.h"
#include "proxy/upstream_pool.h"
#include "stats/counter.h"

namespace plby::runtime {

class Worker final : private proxy::ConnectionObserver, private net::TimerHandler {
 public:
  // A listening socket and the listener it belongs to (its routes and their pools).
  struct Frontend {
    proxy::ListenerSpec* spec;
    net::UniqueFd listener;
  };

  // Called on the worker's thread if its event loop fails: the worker has then closed its
  // connections and listeners and stopped.
  using FailureCallback = std::function<void(const absl::Status&)>;

  struct Options {
    int64_t max_connections = 1 << 20;  // open at once on this worker; more wait to be accepted
    health::HealthChecker* health = nullptr;  // told about passive failures; may be null
    FailureCallback on_failure;
  };

  static absl::StatusOr<std::unique_ptr<Worker>> Create(int index, std::vector<Frontend> frontends,
                                                        Options options);
  ~Worker();

  // Starts the thread. Stop() may be called from any thread; Join() waits for the thread, which
  // closes the connections it still has before it ends.
  void Start();
  void Stop();
  void Join();

  // Thread-safe, for another thread than the worker's: closes the listening sockets (leaving
  // their SO_REUSEPORT groups), so that new connections go elsewhere while the open ones go
  // on. Returns once they are closed; the worker must be running.
  void StopAccepting();

  const stats::WorkerStats& stats() const { return stats_; }

 private:
  class Acceptor;

  Worker(int index, std::unique_ptr<net::EventLoop> loop, Options options);
  // This worker's view of `pool`, made at the first use.
  pool::PoolView* ViewOf(pool::Pool& pool);
  void Run();
  // At the connection limit: stop accepting until a connection closes.
  bool AtCapacity() const { return static_cast<int64_t>(stats_.active.Get()) >= max_connections_; }
  void MuteAcceptors(bool muted);
  // Out of descriptors, or at the connection limit, with a client waiting to be accepted:
  // closes the HTTP client idle the longest (and, for descriptors, an idle backend connection)
  // to make room for it. False when nothing idle was there to close.
  bool MakeRoom(bool for_descriptors);
  void OnConnectionClosed() override;
  void OnClientIdle() override;
  // Housekeeping, once a second: idle timeouts and drain deadlines.
  void OnTimer() override;

  const int index_;
  const int64_t max_connections_;
  std::unique_ptr<net::EventLoop> loop_;
  stats::WorkerStats stats_;
  proxy::BufferPool buffers_;
  proxy::ConnectionPool connections_;
  proxy::IdleClients idle_clients_;
  std::unique_ptr<proxy::RelayBuffer> scratch_;
  // HTTP mode: its buffers, its backend connections, and where request heads are parsed to
  // (as many fields as [server.http] max_headers may allow).
  proxy::HttpBufferPool http_buffers_;
  proxy::UpstreamPool upstreams_;
  std::vector<http::Header> headers_ = std::vector<http::Header>(1000);
  log::LogRateLimit connect_failure_log_{1000};
  log::LogRateLimit accept_failure_log_{1000};
  log::LogRateLimit empty_pool_log_{1000};
  log::LogRateLimit resource_error_log_{1000};
  log::LogRateLimit inspect_log_{1000};
  log::LogRateLimit capacity_log_{1000};
  proxy::WorkerContext context_;
  std::vector<std::unique_ptr<pool::PoolView>> views_;  // one per pool its listeners route to
  std::vector<std::unique_ptr<proxy::Listener>> listeners_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  bool muted_for_capacity_ = false;
  net::Timer housekeeping_{this};
  FailureCallback on_failure_;
  std::thread thread_;
};

}  // namespace plby::runtime
