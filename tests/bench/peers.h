// The processes a benchmark run stands up: the backends (an nginx HTTP server, an iperf3
// server, an echo server) and the proxies compared in front of them (plby-node, HAProxy, nginx
// stream), each configured the same way and listening on its own free ports.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness.h"

namespace plby::bench {

// A port that was free a moment ago (bind to 0, read it, close).
uint16_t FreePort();

struct Backends {
  std::unique_ptr<testing::Process> http;  // nginx, two ports, a small body
  std::unique_ptr<testing::Process> bulk;  // iperf3 -s
  std::unique_ptr<testing::Process> idle;  // plby-testpeer echo, holds idle connections
  uint16_t http_ports[2] = {0, 0};
  uint16_t bulk_port = 0;
  uint16_t idle_port = 0;
};
absl::StatusOr<Backends> StartBackends(const testing::TempDir& dir);

enum class System { kDirect, kPlby, kHaproxy, kNginx };
std::string SystemName(System system);

// A proxy in front of the backends: one listener per workload.
struct Proxy {
  System system = System::kDirect;
  int threads = 1;
  std::unique_ptr<testing::Process> process;
  uint16_t http_port = 0;
  uint16_t bulk_port = 0;
  uint16_t idle_port = 0;
  uint16_t control_port = 0;  // plby only
  // The processes that carry the connections, whose memory and CPU time count (nginx: its
  // workers, not the master). None for the direct "proxy".
  std::vector<pid_t> WorkingPids() const;
};

struct ProxyOptions {
  int threads = 1;
  // plby only: how many backends the HTTP pool lists. Past 2 they are 127.0.X.Y addresses of
  // the same nginx (which listens on every address), to show that picking does not slow down
  // with the pool's size.
  int plby_http_backends = 2;
  bool plby_health_checks = true;
  // plby only: the HTTP pool's algorithm, and (for maglev) its hash. wrk connects from one
  // address, so maglev hashes the source port too to spread its connections.
  std::string plby_algorithm = "WRR";
};

// The direct "proxy" is the backends themselves (the ceiling).
absl::StatusOr<Proxy> StartProxy(System system, const ProxyOptions& options,
                                 const Backends& backends, const testing::TempDir& dir);

// Resident memory of `pids`, summed, in KiB.
int64_t ResidentKiB(const std::vector<pid_t>& pids);
// CPU time (user and system) that `pids` have used so far, summed, in seconds.
double CpuSeconds(const std::vector<pid_t>& pids);

}  // namespace plby::bench
