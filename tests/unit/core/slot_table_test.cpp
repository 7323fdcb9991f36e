// SlotTable: connection ids [loop 8][serial 32][slot 24]; a freed slot is reused, and the
// old id then misses instead of reaching the new occupant.

#include <gtest/gtest.h>

#include "core/slot_table.hpp"

namespace wirehub {
namespace {

struct Item {
  std::uint64_t id_ = 0;
  std::uint64_t id() const { return id_; }
};
using Table = SlotTable<Item>;

TEST(SlotTable, IdsNameTheLoopAndTheSlotAndAStaleIdMisses) {
  Table t;
  Item a{t.reserve(3)};
  t.attach(a);
  Item b{t.reserve(3)};
  t.attach(b);
  EXPECT_EQ(Table::loop_of(a.id()), 3u);
  EXPECT_EQ(Table::slot_of(a.id()), 0u);
  EXPECT_EQ(Table::slot_of(b.id()), 1u);
  EXPECT_EQ(t.find(a.id()), &a);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.detach(a));
  EXPECT_FALSE(t.detach(a));
  EXPECT_EQ(t.find(a.id()), nullptr);
  Item c{t.reserve(3)};
  t.attach(c);
  EXPECT_EQ(Table::slot_of(c.id()), 0u);  // the freed slot is reused...
  EXPECT_NE(c.id(), a.id());              // ...under a new serial
  EXPECT_EQ(t.find(a.id()), nullptr);
  EXPECT_EQ(t.find(c.id()), &c);
  EXPECT_EQ(t.at_slot(0), &c);
  EXPECT_EQ(t.at_slot(7), nullptr);
  int n = 0;
  t.for_each([&](Item&) { ++n; });
  EXPECT_EQ(n, 2);
}

TEST(SlotTable, FreedSlotsAreReusedLastFreedFirst) {
  Table t;
  std::vector<Item> items(4);
  for (Item& i : items) {
    i.id_ = t.reserve(0);
    t.attach(i);
  }
  t.detach(items[1]);
  t.detach(items[3]);
  Item x{t.reserve(0)};
  t.attach(x);
  Item y{t.reserve(0)};
  t.attach(y);
  Item z{t.reserve(0)};
  t.attach(z);
  EXPECT_EQ(Table::slot_of(x.id()), 3u);
  EXPECT_EQ(Table::slot_of(y.id()), 1u);
  EXPECT_EQ(Table::slot_of(z.id()), 4u);
  EXPECT_EQ(t.size(), 5u);
}

}  // namespace
}  // namespace wirehub
