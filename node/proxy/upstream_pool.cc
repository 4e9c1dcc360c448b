#include "proxy/upstream_pool.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace plby::proxy {

void UpstreamConnection::OnEvents(uint32_t events) {
  if (!transport.fd.valid()) return;  // closed earlier in this batch of events
  if (user_ != nullptr) {
    user_->OnUpstreamEvents(events);
  } else {
    owner_->OnIdleEvents(this, events);
  }
}

void UpstreamConnection::OnTimer() {
  // Idle for the pool's keepalive_timeout: plby closes first (see config::kDefaultKeepalive...).
  owner_->RemoveIdle(this);
  owner_->Close(this);
}

// After the worker's loop has stopped: what is retired is freed with the pool.
UpstreamPool::~UpstreamPool() { CloseAll(); }

bool UpstreamPool::HasUnreadBytes(const Transport& transport) {
  if (transport.tls.valid() && transport.tls.pending() > 0) return true;
  // A plaintext socket whose last read came up short was empty then, and whatever arrived
  // since raises an edge of its own (which closes it): no system call needed to know.
  if (!transport.readable) return false;
  char byte;
  const ssize_t n = ::recv(transport.fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // A byte, or the end (0): either way the connection is not what the next exchange needs.
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

void UpstreamPool::Retire(UpstreamConnection* connection) {
  retired_.emplace_back(connection);
  if (!deferred_) {
    deferred_ = true;
    loop_->Defer(this);
  }
}

void UpstreamPool::RunDeferred() {
  deferred_ = false;
  for (std::unique_ptr<UpstreamConnection>& connection : retired_) {
    free_.push_back(std::move(connection));
  }
  retired_.clear();
}

UpstreamConnection* UpstreamPool::TakeIdle(const pool::BackendRuntime* runtime,
                                           UpstreamUser* user) {
  const auto it = idle_.find(runtime);
  if (it == idle_.end()) return nullptr;
  std::vector<UpstreamConnection*>& list = it->second;
  while (!list.empty()) {
    UpstreamConnection* connection = list.back();
    list.pop_back();
    --idle_count_;
    loop_->CancelTimer(connection->idle_timer_);
    if (connection->transport.peer_closed) {  // closed by the backend, its event not yet seen
      Close(connection);
      continue;
    }
    connection->user_ = user;
    return connection;
  }
  return nullptr;
}

UpstreamConnection* UpstreamPool::New(std::shared_ptr<pool::BackendRuntime> runtime,
                                      pool::Pool* pool, UpstreamUser* user) {
  std::unique_ptr<UpstreamConnection> connection;
  if (free_.empty()) {
    connection = std::make_unique<UpstreamConnection>();
  } else {
    connection = std::move(free_.back());
    free_.pop_back();
  }
  UpstreamConnection* raw = connection.release();
  raw->transport = {};
  raw->runtime = std::move(runtime);
  raw->pool = pool;
  raw->exchanges = 0;
  raw->owner_ = this;
  raw->user_ = user;
  raw->worker_index_ = worker_index_;
  return raw;
}

void UpstreamPool::GiveBack(UpstreamConnection* connection) {
  const pool::PoolSettings& settings = connection->pool->settings();
  std::vector<UpstreamConnection*>& list = idle_[connection->runtime.get()];
  if (connection->transport.peer_closed || HasUnreadBytes(connection->transport) ||
      settings.keepalive <= 0 || settings.send_proxy != config::ProxyProtocol::kNone ||
      list.size() >= static_cast<size_t>(settings.keepalive) ||
      connection->runtime->close_deadline_ms() != 0) {
    Close(connection);
    return;
  }
  ++connection->exchanges;
  connection->user_ = nullptr;
  list.push_back(connection);
  ++idle_count_;
  loop_->ArmTimer(connection->idle_timer_, absl::ToInt64Milliseconds(settings.keepalive_timeout));
}

void UpstreamPool::Close(UpstreamConnection* connection) {
  loop_->CancelTimer(connection->idle_timer_);
  connection->transport = {};  // closing the socket takes it out of epoll
  if (connection->runtime) connection->runtime->worker(worker_index_).active.Subtract();
  connection->runtime.reset();
  connection->user_ = nullptr;
  Retire(connection);
}

void UpstreamPool::Detach(UpstreamConnection* connection) {
  loop_->CancelTimer(connection->idle_timer_);
  connection->transport = {};
  connection->runtime.reset();
  connection->user_ = nullptr;
  Retire(connection);
}

void UpstreamPool::OnIdleEvents(UpstreamConnection* connection, uint32_t events) {
  // An idle connection has nothing to say: any event is the backend closing it (or sending
  // what nobody asked for, which makes it unusable just the same).
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && RemoveIdle(connection)) {
    Close(connection);
  }
}

bool UpstreamPool::RemoveIdle(UpstreamConnection* connection) {
  const auto it = idle_.find(connection->runtime.get());
  if (it == idle_.end()) return false;
  std::vector<UpstreamConnection*>& list = it->second;
  const auto found = std::find(list.begin(), list.end(), connection);
  if (found == list.end()) return false;
  list.erase(found);
  --idle_count_;
  return true;
}

void UpstreamPool::Sweep(int64_t now_ms) {
  if (idle_count_ == 0) return;
  for (auto& [runtime, list] : idle_) {
    if (list.empty()) continue;
    bool keep = runtime->close_deadline_ms() == 0 || now_ms < runtime->close_deadline_ms();
    if (keep) {
      // Still in its pool, and taking requests?
      const pool::Pool* pool = list.front()->pool;
      const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool->snapshot();
      keep = false;
      for (const pool::Backend& backend : snapshot->backends()) {
        if (backend.runtime.get() == runtime) {
          keep = !backend.draining;
          break;
        }
      }
    }
    if (keep) continue;
    for (UpstreamConnection* connection : list) {
      --idle_count_;
      Close(connection);
    }
    list.clear();
  }
  absl::erase_if(idle_, [](const auto& entry) { return entry.second.empty(); });
}

bool UpstreamPool::CloseOneIdle() {
  for (auto& [runtime, list] : idle_) {
    if (list.empty()) continue;
    UpstreamConnection* connection = list.front();  // TakeIdle takes from the back
    list.erase(list.begin());
    --idle_count_;
    Close(connection);
    return true;
  }
  return false;
}

void UpstreamPool::CloseAll() {
  for (auto& [runtime, list] : idle_) {
    for (UpstreamConnection* connection : list) Close(connection);
  }
  idle_.clear();
  idle_count_ = 0;
}

}  // namespace plby::proxy
