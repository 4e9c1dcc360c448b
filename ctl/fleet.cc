#include "fleet.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/socket_address.h"

namespace plby::ctl {
namespace {

std::string NodeAddress(absl::string_view ip, uint16_t port) {
  const bool v6 = ip.find(':') != absl::string_view::npos;
  return absl::StrCat(v6 ? "[" : "", ip, v6 ? "]" : "", ":", port);
}

bool IsIpAddress(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

void AddOnce(std::vector<std::string>& nodes, std::string node) {
  if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(std::move(node));
}

absl::StatusOr<std::vector<std::string>> FromHostsFile(const net::HostPort& fleet,
                                                       const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("PLBY_HOSTS_FILE \"", path, "\": cannot read it"));
  }
  std::vector<std::string> nodes;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    absl::string_view content = line;
    content = content.substr(0, content.find('#'));
    const std::vector<absl::string_view> fields =
        absl::StrSplit(content, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2) continue;
    const std::string ip(fields[0]);
    if (!IsIpAddress(ip)) {
      return absl::InvalidArgumentError(absl::StrCat("PLBY_HOSTS_FILE \"", path, "\" line ", number,
                                                     ": \"", ip, "\" is not an IP address"));
    }
    for (size_t i = 1; i < fields.size(); ++i) {
      if (absl::AsciiStrToLower(fields[i]) == fleet.host)
        AddOnce(nodes, NodeAddress(ip, fleet.port));
    }
  }
  if (nodes.empty()) {
    return absl::NotFoundError(absl::StrCat("--fleet ", fleet.ToString(), ": no line of ", path,
                                            " (PLBY_HOSTS_FILE) names ", fleet.host));
  }
  return nodes;
}

absl::StatusOr<std::vector<std::string>> FromResolver(const net::HostPort& fleet) {
  absl::StatusOr<std::vector<net::SocketAddress>> addresses = net::SocketAddress::ResolveAll(fleet);
  if (!addresses.ok()) {
    return absl::NotFoundError(
        absl::StrCat("--fleet ", fleet.ToString(), ": ", addresses.status().message()));
  }
  std::vector<std::string> nodes;
  for (const net::SocketAddress& address : *addresses) nodes.push_back(address.ToString());
  return nodes;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveFleet(const net::HostPort& fleet,
                                                      const std::string& hosts_file) {
  if (fleet.kind != net::HostPort::Kind::kName) return std::vector<std::string>{fleet.ToString()};
  absl::StatusOr<std::vector<std::string>> nodes =
      hosts_file.empty() ? FromResolver(fleet) : FromHostsFile(fleet, hosts_file);
  if (!nodes.ok()) return nodes;
  // A dual-stack headless Service gives every pod an IPv4 and an IPv6 address: counting both
  // would reach each node twice (and a second `backends add` would fail). IPv4 wins.
  const auto is_ipv6 = [](const std::string& node) { return absl::StartsWith(node, "["); };
  if (!std::all_of(nodes->begin(), nodes->end(), is_ipv6)) {
    nodes->erase(std::remove_if(nodes->begin(), nodes->end(), is_ipv6), nodes->end());
  }
  return nodes;
}

}  // namespace plby::ctl
