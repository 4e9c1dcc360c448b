// plby's stable hash, fixed and documented so that every node, every version and any outside
// tool compute the same values (std::hash promises none of that): 64-bit FNV-1a over the bytes,
// starting from its offset basis XOR the seed, then MurmurHash3's fmix64 finalizer so that
// every input bit moves every output bit.
#pragma once

#include <cstdint>
#include <span>

#include "absl/strings/string_view.h"

namespace plby::balance {

constexpr uint64_t Finalize(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

constexpr uint64_t StableHash(std::span<const uint8_t> bytes, uint64_t seed = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (uint8_t byte : bytes) {
    h ^= byte;
    h *= 0x100000001b3ULL;
  }
  return Finalize(h);
}

inline uint64_t StableHash(absl::string_view text, uint64_t seed = 0) {
  return StableHash(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), seed);
}

// Two values into one, for random draws from a ticket and for a key's probe sequence.
constexpr uint64_t Mix(uint64_t a, uint64_t b) {
  return Finalize(a ^ Finalize(b + 0x9e3779b97f4a7c15ULL));
}

}  // namespace plby::balance
