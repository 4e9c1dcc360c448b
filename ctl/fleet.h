// Fleets: one DNS name for many nodes (a Kubernetes headless Service has an address per pod).
// plbyctl talks to every address the name resolves to, not just the first as a gRPC channel
// would.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/host_port.h"

namespace plby::ctl {

// The node addresses ("10.0.0.7:9100", "[fd00::7]:9100") that `fleet` stands for, each once,
// in the resolver's order (or the hosts file's, with net::UseHostsFile: PLBY_HOSTS_FILE). An IP
// address stands for itself. When a name has both IPv4 and IPv6 addresses only the IPv4 ones
// count (a dual-stack headless Service names every pod twice, once per family). NOT_FOUND when
// the name has no address.
absl::StatusOr<std::vector<std::string>> ResolveFleet(const net::HostPort& fleet);

// The nodes a command goes to: the fixed `nodes` (--node), then each fleet's addresses, each
// node once; with the name to check each fleet node's certificate against (the fleet's name,
// under mTLS) and the fleets that gave no node (their errors).
struct FleetNodes {
  std::vector<std::string> nodes;
  std::map<std::string, std::string> names;  // node -> the fleet name it was found through
  std::vector<absl::Status> failures;
};
FleetNodes ResolveFleets(const std::vector<std::string>& nodes,
                         const std::vector<net::HostPort>& fleets);

}  // namespace plby::ctl
