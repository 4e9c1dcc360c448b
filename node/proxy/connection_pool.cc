#include "proxy/connection_pool.h"

namespace plby::proxy {

Connection* ConnectionPool::Acquire() {
  if (free_.empty()) {
    chunks_.push_back(std::make_unique<Connection[]>(kChunkSize));
    Connection* chunk = chunks_.back().get();
    // Hand out the chunk from its start: reversed, so that pop_back() yields chunk[0] first.
    for (size_t i = kChunkSize; i > 0; --i) free_.push_back(&chunk[i - 1]);
  }
  Connection* connection = free_.back();
  free_.pop_back();
  return connection;
}

void ConnectionPool::AbortAll() {
  for (const auto& chunk : chunks_) {
    for (size_t i = 0; i < kChunkSize; ++i) chunk[i].Abort();
  }
}

}  // namespace plby::proxy
