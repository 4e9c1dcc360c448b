// WorkerContext: what the connections and HTTP sessions of one worker share. Only that worker's
// thread touches it.
#pragma once

#include <span>
#include <string>

#include "health/health_checker.h"
#include "http/parser.h"
#include "log/rate_limit.h"
#include "net/event_loop.h"
#include "proxy/buffer_pool.h"
#include "proxy/idle_clients.h"
#include "stats/counter.h"

namespace plby::proxy {

class ConnectionPool;
class UpstreamPool;

// Told when a connection of the worker closes or goes idle (the worker resumes accepting when it
// was at its connection limit).
class ConnectionObserver {
 public:
  virtual void OnConnectionClosed() = 0;
  // A client joined IdleClients: one waiting to be accepted may take its place.
  virtual void OnClientIdle() = 0;

 protected:
  ~ConnectionObserver() = default;
};

// What the connections of one worker share. Only that worker's thread touches it.
struct WorkerContext {
  int worker_index = 0;  // which block of the per-backend counters is ours
  net::EventLoop* loop = nullptr;
  BufferPool* buffers = nullptr;
  ConnectionPool* connections = nullptr;
  std::span<char> scratch;  // where a read lands before it is written on
  stats::WorkerStats* stats = nullptr;
  log::LogRateLimit* connect_failure_log = nullptr;
  log::LogRateLimit* resource_error_log = nullptr;
  log::LogRateLimit* empty_pool_log = nullptr;
  log::LogRateLimit* inspect_log = nullptr;  // clients refused while being inspected
  health::HealthChecker* health = nullptr;   // for passive marks; may be null
  ConnectionObserver* observer = nullptr;
  IdleClients* idle_clients = nullptr;  // HTTP clients between requests, longest idle first
  // HTTP mode.
  HttpBufferPool* http_buffers = nullptr;
  UpstreamPool* upstreams = nullptr;
  std::span<http::Header> headers;  // where a head's fields are parsed to
  std::string host_scratch;         // a request's normalized Host
  std::string target_scratch;       // a request's rewritten target, when it needs building
};

}  // namespace plby::proxy
