// The measurements: wrk for HTTP requests (keep-alive and a new connection each), iperf3 for
// bulk throughput, idle connections for memory, and callgrind for instructions per request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "peers.h"

namespace plby::bench {

struct HttpResult {
  double requests = 0;  // completed during the run
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// wrk, one thread, 50 connections, for `duration`. `new_connections`: "Connection: close" on
// every request, so each is a new TCP connection.
absl::StatusOr<HttpResult> RunWrk(uint16_t port, absl::Duration duration, bool new_connections);

// iperf3 through `port` for `duration`: client to server, or (`reverse`) server to client.
absl::StatusOr<double> RunIperf(uint16_t port, absl::Duration duration, bool reverse);

// Opens `connections` idle connections through `port` (each proven end to end by an echoed
// byte) and returns how much the proxy's resident memory grew per connection, in bytes.
absl::StatusOr<double> IdleBytesPerConnection(const Proxy& proxy, int connections);

// Changes a plby pool 100 times a second through its control service, for as long as it lives.
class PoolChurn {
 public:
  PoolChurn(uint16_t control_port, const std::string& pool, const std::string& backend);
  ~PoolChurn();
  int64_t updates() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Instructions that plby-node's workers execute per relayed request, counted by callgrind
// (repeatable on a noisy machine): the difference between two runs of `small` and `large`
// requests, so that start-up and shutdown cancel out. `keep_alive`: all requests on one
// connection; otherwise one connection per request. `http_backends` and `algorithm` as in
// ProxyOptions.
absl::StatusOr<double> InstructionsPerRequest(const Backends& backends, const testing::TempDir& dir,
                                              bool keep_alive, int http_backends,
                                              const std::string& algorithm = "WRR");

}  // namespace plby::bench
