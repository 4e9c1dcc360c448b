// The key a key-based algorithm (maglev) hashes for a client: StableHash (balance/hash.h) of
// the client's IP address bytes (4 for IPv4, an IPv4-mapped IPv6 address counting as IPv4; 16
// for IPv6), followed for source_ip_port by its port in network byte order.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "balance/algorithm.h"
#include "net/socket_address.h"

namespace plby::balance {

// A request-based hash (header, cookie) is the source address's here: see HashKey.
uint64_t ClientKey(const net::SocketAddress& client, const HashKey& hash);

// The key of an HTTP request's field or cookie value: StableHash of its bytes.
uint64_t ValueKey(absl::string_view value);

}  // namespace plby::balance
