#include "pool/snapshot_cell.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace plby::pool {
namespace {

// What a reader must see of each published value: both halves written before it was stored.
struct Published {
  int number;
  int twice;
};

TEST(SnapshotCellTest, ReadersSeeWholeValuesInOrderWhileAWriterReplacesThem) {
  constexpr int kStores = 20000;
  SnapshotCell<const Published> cell(std::make_shared<const Published>(Published{0, 0}));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> backwards{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (!done.load(std::memory_order_acquire)) {
        std::shared_ptr<const Published> seen = cell.Load();
        if (seen == nullptr || seen->twice != 2 * seen->number)
          ++torn;
        else if (seen->number < last)
          ++backwards;
        else
          last = seen->number;
      }
    });
  }
  for (int i = 1; i <= kStores; ++i)
    cell.Store(std::make_shared<const Published>(Published{i, 2 * i}));
  done.store(true, std::memory_order_release);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(cell.Load()->number, kStores);
}

TEST(SnapshotCellTest, AReplacedValueIsFreedOnceItsLastReaderLetsGo) {
  SnapshotCell<const int> cell(std::make_shared<const int>(1));
  std::shared_ptr<const int> held = cell.Load();
  std::weak_ptr<const int> first = held;
  cell.Store(std::make_shared<const int>(2));
  EXPECT_FALSE(first.expired()) << "a reader still holds it";
  EXPECT_EQ(*held, 1);
  held.reset();
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(*cell.Load(), 2);
}

TEST(SnapshotCellTest, StartsEmptyUntilSet) {
  SnapshotCell<const int> cell;
  EXPECT_EQ(cell.Load(), nullptr);
  cell.Store(std::make_shared<const int>(7));
  EXPECT_EQ(*cell.Load(), 7);
}

}  // namespace
}  // namespace plby::pool
