// BufferPool: the relay buffers of one worker (HttpBufferPool: its HTTP buffers). A connection
// holds a buffer only while bytes it has read wait for the other side to take them; an idle
// connection holds none. Not thread-safe: each worker has its own pool.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace plby::proxy {

// The most one read takes from a socket, and so the most a connection holds per direction.
// Below one loopback segment (MTU 65536, MSS 65483 with timestamps): a 64 KiB write leaves as
// a full segment plus a 53-byte runt, sent at once under TCP_NODELAY, and that cut bulk
// throughput on loopback from about 19 to 11-12 Gbit/s (docs/benchmarks.md).
inline constexpr size_t kRelayChunkBytes = 60 * 1024;

struct RelayBuffer {
  std::array<char, kRelayChunkBytes> bytes;
};

// HTTP mode: a request head of up to 64 KiB (the most [server.http] max_head_bytes allows) and
// what plby adds to it as it forwards (X-Forwarded-*, add_request_headers).
inline constexpr size_t kHttpBufferBytes = 72 * 1024;

struct HttpBuffer {
  std::array<char, kHttpBufferBytes> bytes;
};

template <typename Buffer>
class BasicBufferPool {
 public:
  // Buffers kept for reuse beyond this many are freed, so a burst does not pin memory forever.
  static constexpr size_t kMaxIdleBuffers = 64;

  std::unique_ptr<Buffer> Acquire() {
    if (idle_.empty()) return std::make_unique_for_overwrite<Buffer>();
    std::unique_ptr<Buffer> buffer = std::move(idle_.back());
    idle_.pop_back();
    return buffer;
  }

  void Release(std::unique_ptr<Buffer> buffer) {
    if (buffer && idle_.size() < kMaxIdleBuffers) idle_.push_back(std::move(buffer));
  }

 private:
  std::vector<std::unique_ptr<Buffer>> idle_;
};

using BufferPool = BasicBufferPool<RelayBuffer>;
using HttpBufferPool = BasicBufferPool<HttpBuffer>;

}  // namespace plby::proxy
