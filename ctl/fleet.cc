#include "fleet.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/socket_address.h"

namespace plby::ctl {

absl::StatusOr<std::vector<std::string>> ResolveFleet(const net::HostPort& fleet) {
  if (fleet.kind != net::HostPort::Kind::kName) return std::vector<std::string>{fleet.ToString()};
  absl::StatusOr<std::vector<net::SocketAddress>> addresses = net::SocketAddress::ResolveAll(fleet);
  if (!addresses.ok()) {
    return absl::NotFoundError(
        absl::StrCat("--fleet ", fleet.ToString(), ": ", addresses.status().message()));
  }
  std::vector<std::string> nodes;
  for (const net::SocketAddress& address : *addresses) nodes.push_back(address.ToString());
  // A dual-stack headless Service gives every pod an IPv4 and an IPv6 address: counting both
  // would reach each node twice (and a second `backends add` would fail). IPv4 wins.
  const auto is_ipv6 = [](const std::string& node) { return absl::StartsWith(node, "["); };
  if (!std::all_of(nodes.begin(), nodes.end(), is_ipv6)) {
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(), is_ipv6), nodes.end());
  }
  return nodes;
}

FleetNodes ResolveFleets(const std::vector<std::string>& nodes,
                         const std::vector<net::HostPort>& fleets) {
  FleetNodes out{.nodes = nodes, .names = {}, .failures = {}};
  for (const net::HostPort& fleet : fleets) {
    absl::StatusOr<std::vector<std::string>> resolved = ResolveFleet(fleet);
    if (!resolved.ok()) {
      out.failures.push_back(resolved.status());
      continue;
    }
    for (std::string& node : *resolved) {
      if (std::find(out.nodes.begin(), out.nodes.end(), node) != out.nodes.end()) continue;
      if (fleet.kind == net::HostPort::Kind::kName) out.names[node] = fleet.host;
      out.nodes.push_back(std::move(node));
    }
  }
  return out;
}

}  // namespace plby::ctl
