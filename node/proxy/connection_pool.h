// ConnectionPool: the Connection objects of one worker, allocated in chunks and reused, so that
// accepting a connection allocates nothing once the pool has grown to the load. Not thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "proxy/connection.h"

namespace plby::proxy {

class ConnectionPool {
 public:
  Connection* Acquire();
  // Takes back a connection that has closed.
  void Release(Connection* connection) { free_.push_back(connection); }
  // Closes every open connection (worker shutdown).
  void AbortAll();
  // Calls `fn` on every connection in use (open, or closed and not yet taken back).
  template <typename Fn>
  void ForEach(Fn&& fn) {
    for (const auto& chunk : chunks_) {
      for (size_t i = 0; i < kChunkSize; ++i) fn(chunk[i]);
    }
  }

 private:
  static constexpr size_t kChunkSize = 256;
  std::vector<std::unique_ptr<Connection[]>> chunks_;
  std::vector<Connection*> free_;
};

}  // namespace plby::proxy
