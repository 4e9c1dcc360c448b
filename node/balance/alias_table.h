// AliasTable: draws a position with probability proportional to its weight in constant time
// (Vose's alias method): one column chosen uniformly, then that column or its alias by one
// comparison.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace plby::balance {

class AliasTable {
 public:
  // `weights`: positive, at least one.
  explicit AliasTable(std::span<const int64_t> weights);

  // The position drawn by the 64 random bits `random`.
  uint32_t Draw(uint64_t random) const {
    const uint32_t column =
        static_cast<uint32_t>(((random >> 32) * static_cast<uint64_t>(columns_.size())) >> 32);
    const Column& c = columns_[column];
    return static_cast<uint32_t>(random & 0xffffffffu) < c.keep ? column : c.alias;
  }

 private:
  struct Column {
    uint32_t keep;   // out of 2^32: the chance this column stays itself
    uint32_t alias;  // what it becomes otherwise
  };
  std::vector<Column> columns_;
};

}  // namespace plby::balance
