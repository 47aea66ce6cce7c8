// Which connection a batch goes to (store/placement.hpp), and when a
// connection is tried again (store/reconnect.hpp): the rules behind the
// README's table of what a slow statement can delay, shown on connections
// described by hand.
#include <gtest/gtest.h>

#include <vector>

#include "store/placement.hpp"
#include "store/reconnect.hpp"

namespace granite::store {
namespace {

using L = database::lane;

link_state idle_link() { return {true, false, 0}; }
link_state busy(std::size_t n) { return {true, false, n}; }
link_state stalled(std::size_t n = 1) { return {true, true, n}; }
link_state down() { return {false, false, 0}; }

std::optional<placement> place(L lane, std::vector<link_state> reads, std::vector<link_state> writes) {
  return place_batch(lane, reads, writes);
}

void expect_at(const std::optional<placement>& p, L lane, std::size_t index) {
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->lane, lane);
  EXPECT_EQ(p->index, index);
}

TEST(Placement, ReadGoesToTheIdleReadConnection) { expect_at(place(L::read, {idle_link()}, {idle_link()}), L::read, 0); }

TEST(Placement, ReadThatWouldQueueTakesAnIdleWriteConnection) {
  expect_at(place(L::read, {busy(1)}, {idle_link()}), L::write, 0);
}

TEST(Placement, ReadQueuesOnItsLaneWhenNoWriteConnectionIsIdle) {
  expect_at(place(L::read, {busy(2)}, {busy(1)}), L::read, 0);
}

TEST(Placement, ReadTakesTheLeastBusyReadConnection) {
  expect_at(place(L::read, {busy(3), busy(1), busy(2)}, {busy(1)}), L::read, 1);
}

TEST(Placement, NothingIsSentBehindAStalledConnection) {
  // A slow statement on the only read connection: reads move to the write
  // connection while it is idle, and wait in granite otherwise.
  expect_at(place(L::read, {stalled()}, {idle_link()}), L::write, 0);
  EXPECT_FALSE(place(L::read, {stalled()}, {busy(1)}).has_value());
  expect_at(place(L::read, {stalled(), busy(4)}, {busy(1)}), L::read, 1);
}

TEST(Placement, WriteNeverGoesToAReadConnection) {
  EXPECT_FALSE(place(L::write, {idle_link()}, {down()}).has_value());
  EXPECT_FALSE(place(L::write, {idle_link()}, {stalled()}).has_value());
  expect_at(place(L::write, {idle_link()}, {busy(5)}), L::write, 0);
}

TEST(Placement, WriteWaitsInGraniteBehindAStalledWrite) {
  // A write waiting on a lock delays only the writes behind it, and those
  // wait where their deadline holds, not on the connection.
  EXPECT_FALSE(place(L::write, {idle_link()}, {stalled(1)}).has_value());
  expect_at(place(L::write, {}, {stalled(1), busy(3)}), L::write, 1);
}

TEST(Placement, WithNoReadConnectionUpReadsUseTheWriteLane) {
  expect_at(place(L::read, {down(), down()}, {busy(2)}), L::write, 0);
  EXPECT_FALSE(place(L::read, {down()}, {stalled()}).has_value());
  EXPECT_FALSE(place(L::read, {down()}, {down()}).has_value());
}

TEST(Placement, AReadConnectionThatIsUpButStalledKeepsReadsOffBusyWrites) {
  // Reads do not pile onto a busy write connection just because their own
  // is stalled: they wait for either to free up.
  EXPECT_FALSE(place(L::read, {stalled()}, {busy(1)}).has_value());
}

TEST(Reconnector, BacksOffFromFirstToMostAndResetsOnSuccess) {
  reconnector r{std::chrono::milliseconds(50), std::chrono::milliseconds(500)};
  reconnector::clock::time_point t{std::chrono::seconds(100)};
  EXPECT_FALSE(r.down());
  auto v = r.failed(t);
  EXPECT_TRUE(v.outage_began);
  EXPECT_EQ(v.next - t, std::chrono::milliseconds(50));
  std::vector<long> waits;
  for (int i = 0; i < 6; ++i) {
    auto n = r.failed(t);
    EXPECT_FALSE(n.outage_began);
    waits.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(n.next - t).count());
  }
  EXPECT_EQ(waits, (std::vector<long>{100, 200, 400, 500, 500, 500}));
  EXPECT_EQ(r.last_failure(), t);
  EXPECT_TRUE(r.succeeded());   // the outage ended
  EXPECT_FALSE(r.succeeded());  // and was reported once
  EXPECT_TRUE(r.failed(t).outage_began);
  EXPECT_EQ(r.backoff(), std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace granite::store
