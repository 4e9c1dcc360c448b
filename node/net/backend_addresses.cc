#include "net/backend_addresses.h"

#include "absl/strings/str_cat.h"
#include "text/quote.h"

namespace plby::net {

void BackendAddresses::Add(size_t index, const HostPort& address, const SocketAddress* resolved) {
  by_name_.emplace(address.ToString(), index);
  if (resolved != nullptr) by_address_.emplace(*resolved, index);
}

std::optional<size_t> BackendAddresses::Find(const HostPort& address,
                                             const SocketAddress* resolved) const {
  if (const auto it = by_name_.find(address.ToString()); it != by_name_.end()) return it->second;
  if (resolved != nullptr) return FindResolved(*resolved);
  return std::nullopt;
}

std::optional<size_t> BackendAddresses::FindResolved(const SocketAddress& resolved) const {
  if (const auto it = by_address_.find(resolved); it != by_address_.end()) return it->second;
  return std::nullopt;
}

std::string BackendAddresses::AlreadyResolvedMessage(const SocketAddress& resolved,
                                                     absl::string_view taken_by) {
  return absl::StrCat("it resolves to ", resolved.ToString(), ", which the pool already has as ",
                      text::Quote(taken_by));
}

}  // namespace plby::net
