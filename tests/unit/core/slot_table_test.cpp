// SlotTable: connection ids [loop 8][serial 32][slot 24]; a freed slot is reused, and the
// old id then misses instead of reaching the new occupant.

#include <gtest/gtest.h>

#include <deque>

#include "core/slot_table.hpp"

namespace wirehub {
namespace {

struct Item {
  std::uint64_t id_ = 0;
  std::uint64_t id() const { return id_; }
};
using Table = SlotTable<Item>;

// A new item attached to t on loop, kept in store (whose elements never move).
Item& add(Table& t, std::deque<Item>& store, std::size_t loop = 0) {
  Item& i = store.emplace_back(Item{t.reserve(loop)});
  t.attach(i);
  return i;
}

TEST(SlotTable, IdsNameTheLoopAndTheSlotAndAStaleIdMisses) {
  Table t;
  std::deque<Item> store;
  Item& a = add(t, store, 3);
  Item& b = add(t, store, 3);
  EXPECT_EQ(Table::loop_of(a.id()), 3u);
  EXPECT_EQ(Table::slot_of(a.id()), 0u);
  EXPECT_EQ(Table::slot_of(b.id()), 1u);
  EXPECT_EQ(t.find(a.id()), &a);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.detach(a));
  EXPECT_FALSE(t.detach(a));
  EXPECT_EQ(t.find(a.id()), nullptr);
  Item& c = add(t, store, 3);
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
  std::deque<Item> store;
  for (int i = 0; i < 4; ++i) add(t, store);
  t.detach(store[1]);
  t.detach(store[3]);
  EXPECT_EQ(Table::slot_of(add(t, store).id()), 3u);
  EXPECT_EQ(Table::slot_of(add(t, store).id()), 1u);
  EXPECT_EQ(Table::slot_of(add(t, store).id()), 4u);
  EXPECT_EQ(t.size(), 5u);
}

}  // namespace
}  // namespace wirehub
