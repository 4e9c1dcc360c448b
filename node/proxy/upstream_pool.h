// UpstreamPool: one worker's HTTP backend connections (the "HTTP upstream connection pool", not
// to be confused with a backend pool or the slab of Connection objects). An HTTP session leases
// a connection for one exchange and gives it back when the exchange ended cleanly; idle ones
// are kept per backend, up to the pool's `keepalive`, and closed after `keepalive_timeout`,
// when the backend closes them, or when the backend is drained or removed. Only the worker's
// thread touches it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "net/event_loop.h"
#include "pool/backend.h"
#include "pool/pool.h"
#include "proxy/transport.h"

namespace plby::proxy {

class UpstreamPool;

// Told about the events of the connection it leased.
class UpstreamUser {
 public:
  virtual void OnUpstreamEvents(uint32_t events) = 0;

 protected:
  ~UpstreamUser() = default;
};

// One backend connection: leased by a session, or idle in the pool.
class UpstreamConnection final : public net::EventHandler, public net::TimerHandler {
 public:
  void OnEvents(uint32_t events) override;
  void OnTimer() override;

  Transport transport;
  // The backend it is to; shared with the pool's snapshots, so its counters outlive them.
  std::shared_ptr<pool::BackendRuntime> runtime;
  pool::Pool* pool = nullptr;
  uint64_t exchanges = 0;  // exchanges completed on it (0: fresh)

 private:
  friend class UpstreamPool;
  UpstreamPool* owner_ = nullptr;
  UpstreamUser* user_ = nullptr;  // null while idle
  net::Timer idle_timer_{this};
  int worker_index_ = 0;
};

class UpstreamPool final : private net::DeferredTask {
 public:
  UpstreamPool(net::EventLoop* loop, int worker_index) : loop_(loop), worker_index_(worker_index) {}
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `runtime`'s backend that is still open, leased to `user`; or null.
  UpstreamConnection* TakeIdle(const pool::BackendRuntime* runtime, UpstreamUser* user);
  // A new (unconnected) connection object for `user`; the caller connects its transport and
  // registers it with the loop (the connection is the handler).
  UpstreamConnection* New(std::shared_ptr<pool::BackendRuntime> runtime, pool::Pool* pool,
                          UpstreamUser* user);
  // Takes back a leased connection after a clean exchange, to be reused: kept idle if its
  // pool keeps any and there is room, else closed.
  void GiveBack(UpstreamConnection* connection);
  // Frees a leased connection's object whose transport the caller took (a WebSocket tunnel
  // relays it from now on, and counts it as open until it closes).
  void Detach(UpstreamConnection* connection);
  // Closes a leased (or idle) connection and frees the object.
  void Close(UpstreamConnection* connection);
  // Closes idle connections whose backend was drained or removed, or whose drain deadline
  // passed. About once a second, from the worker.
  void Sweep(int64_t now_ms);
  // Closes every idle connection (worker shutdown).
  void CloseAll();
  // Closes one idle connection, the least recently used of some backend's, to give its
  // descriptor back (the worker is out of them). False when none is idle.
  bool CloseOneIdle();

  size_t idle_count() const { return idle_count_; }

 private:
  friend class UpstreamConnection;
  void OnIdleEvents(UpstreamConnection* connection, uint32_t events);
  bool RemoveIdle(UpstreamConnection* connection);  // false: it was not idle
  // Takes back a closed connection's object: reused only after the current batch of events,
  // which may still hold events for its old socket (as for Connection).
  void Retire(UpstreamConnection* connection);
  void RunDeferred() override;
  // Bytes the backend sent that no exchange asked for (or its close): not reusable then.
  static bool HasUnreadBytes(const Transport& transport);

  net::EventLoop* loop_;
  int worker_index_;
  // Per backend, its idle connections, the most recently used last (it is taken first: its
  // backend is least likely to have timed it out).
  absl::flat_hash_map<const pool::BackendRuntime*, std::vector<UpstreamConnection*>> idle_;
  size_t idle_count_ = 0;
  std::vector<std::unique_ptr<UpstreamConnection>> free_;
  std::vector<std::unique_ptr<UpstreamConnection>> retired_;  // free after this batch
  bool deferred_ = false;
};

}  // namespace plby::proxy
