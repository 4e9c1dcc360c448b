// Deterministic byte streams and digests shared by plby-testpeer and the integration tests, so
// that both ends can check a transfer byte for byte without shipping the bytes around.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace plby::testing {

// splitmix64: a fast, well-mixed stream of bytes for a seed.
class PatternStream {
 public:
  explicit PatternStream(uint64_t seed) : state_(seed) {}
  void Fill(char* out, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      if (available_ == 0) {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        word_ = z ^ (z >> 31);
        available_ = 8;
      }
      out[i] = static_cast<char>(word_ & 0xff);
      word_ >>= 8;
      --available_;
    }
  }
  std::string Take(size_t size) {
    std::string bytes(size, '\0');
    Fill(bytes.data(), size);
    return bytes;
  }

 private:
  uint64_t state_;
  uint64_t word_ = 0;
  int available_ = 0;
};

// FNV-1a, 64 bit, over a stream fed in pieces.
class Digest {
 public:
  void Update(const char* data, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      hash_ ^= static_cast<unsigned char>(data[i]);
      hash_ *= 0x100000001b3ULL;
    }
    bytes_ += size;
  }
  uint64_t hash() const { return hash_; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  uint64_t bytes_ = 0;
};

}  // namespace plby::testing
