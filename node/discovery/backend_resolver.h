// BackendResolver: retries, in the background, the names of backends that did not resolve to a
// usable address when the node started (a name saved in the state file that the resolver did
// not know at that moment, say), and gives each backend its address once it does. Until then
// such a backend takes no traffic and shows as unresolved.
//
// It runs on a thread of its own, because a name lookup blocks (getaddrinfo) and must never
// hold up a worker or the health checks, and only while some backend is unresolved. A name that
// resolves is not looked up again (as for the names of config.toml, resolved once at start).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "net/own_listeners.h"
#include "pool/pool_registry.h"

namespace plby::discovery {

class BackendResolver {
 public:
  // Tries again after 1 s, then twice as long each time, up to this.
  static constexpr absl::Duration kFirstRetry = absl::Seconds(1);
  static constexpr absl::Duration kLongestRetry = absl::Seconds(30);

  // `own`: the node's listeners as bound, which no backend may reach. `resolved` runs (on the
  // resolver's thread) after a backend got its address: readiness may follow.
  BackendResolver(pool::PoolRegistry& pools, net::OwnListeners own,
                  std::function<void()> resolved = {});
  ~BackendResolver();
  BackendResolver(const BackendResolver&) = delete;
  BackendResolver& operator=(const BackendResolver&) = delete;

  // Starts the thread when some backend is unresolved.
  void Start();
  // Stops it; a lookup under way is let finish. Idempotent.
  void Stop();

 private:
  struct Retry {
    int64_t due_ms = 0;
    absl::Duration delay = kFirstRetry;
  };

  void Run();
  // One round: tries every unresolved backend that is due; returns whether any is left.
  bool TryDue(int64_t now_ms);
  // Sleeps until `deadline_ms` or Stop(); false when stopping.
  bool SleepUntil(int64_t deadline_ms);

  pool::PoolRegistry& pools_;
  const net::OwnListeners own_;
  const std::function<void()> resolved_;
  std::map<const pool::BackendRuntime*, Retry> retries_;  // the thread's only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace plby::discovery
