#include "balance/client_key.h"

#include <cstring>

#include "balance/hash.h"

namespace plby::balance {

uint64_t ClientKey(const net::SocketAddress& client, const HashKey& hash) {
  const auto [bytes, size] = client.AddressBytes();
  uint8_t key[18] = {};
  std::memcpy(key, bytes, size);
  size_t length = size;
  if (hash.source == HashKey::Source::kSourceIpPort) {
    const uint16_t port = client.port();
    key[length++] = static_cast<uint8_t>(port >> 8);
    key[length++] = static_cast<uint8_t>(port & 0xff);
  }
  return StableHash(std::span<const uint8_t>(key, length));
}

uint64_t ValueKey(absl::string_view value) {
  return StableHash(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
}

}  // namespace plby::balance
