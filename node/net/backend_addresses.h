// BackendAddresses: the one-address-one-backend rule of a pool. Two entries are the same
// backend when they are written the same (canonically: "LOCALHOST:80" is "localhost:80") or
// resolve to the same socket address ("localhost:80" is "127.0.0.1:80"). The config, the state
// file, the control API and a name resolved later all ask this class, so that what one of
// them accepts, the others accept too.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "net/host_port.h"
#include "net/socket_address.h"

namespace plby::net {

class BackendAddresses {
 public:
  // Remembers entry `index` at `address`, resolved to `resolved` (null while unresolved).
  void Add(size_t index, const HostPort& address, const SocketAddress* resolved);

  // The index of the entry that `address` (resolved to `resolved`, or null) would duplicate,
  // or nullopt when it is a new backend.
  std::optional<size_t> Find(const HostPort& address, const SocketAddress* resolved) const;
  // The index of the resolved entry at `resolved`, or nullopt.
  std::optional<size_t> FindResolved(const SocketAddress& resolved) const;

  // Why a backend that resolves to `resolved` cannot join: the pool has it as `taken_by`.
  static std::string AlreadyResolvedMessage(const SocketAddress& resolved,
                                            absl::string_view taken_by);

 private:
  absl::flat_hash_map<std::string, size_t> by_name_;
  absl::flat_hash_map<SocketAddress, size_t> by_address_;
};

}  // namespace plby::net
