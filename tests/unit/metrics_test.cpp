// The instance's metrics memory: gauge cells claimed by a process and
// emptied with it; the status and duration tables.
#include "granite/shm/metrics.hpp"

#include <gtest/gtest.h>

using namespace granite::shm;

TEST(MetricsMemory, AProcessesGaugesGoWithIt) {
  metrics_memory m(8);
  EXPECT_EQ(m.slots_used(), 0u);
  auto* a = m.claim(2, 100);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(m.slots_used(), 3u) << "a scrape reads slots 0 to 2";
  a->connections.fetch_add(5);
  a->in_flight.fetch_add(2);
  // Its successor (a reload's new worker) has a cell of its own.
  auto* b = m.claim(2, 101);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  b->connections.fetch_add(1);
  m.release(2, 100);  // the old one is reaped, whatever it left
  EXPECT_EQ(a->connections.load(), 0);
  EXPECT_EQ(a->in_flight.load(), 0);
  EXPECT_EQ(a->owner.load(), 0);
  EXPECT_EQ(b->connections.load(), 1) << "the successor's gauges stay";
  // A slot has a few cells; beyond them a worker goes without gauges.
  for (pid_t pid = 200; pid < 200 + static_cast<pid_t>(gauge_cells) - 1; ++pid) EXPECT_NE(m.claim(2, pid), nullptr);
  EXPECT_EQ(m.claim(2, 300), nullptr);
  EXPECT_EQ(m.claim(8, 400), nullptr) << "no such slot";
  // Counters are per slot and survive every claim and release.
  m.slot(2).requests[1][0][status_slot(200)].fetch_add(7);
  m.release(2, 101);
  EXPECT_EQ(m.slot(2).requests[1][0][status_slot(200)].load(), 7u);
}

TEST(MetricsMemory, StatusesAndDurationsFindTheirCells) {
  EXPECT_EQ(metric_statuses[status_slot(404)], 404);
  EXPECT_EQ(metric_statuses[status_slot(503)], 503);
  EXPECT_EQ(status_slot(299), metric_statuses.size()) << "any other status: the last cell";
  EXPECT_EQ(duration_bucket(0), 0u);
  EXPECT_EQ(duration_bucket(50), 0u) << "le is inclusive";
  EXPECT_EQ(duration_bucket(51), 1u);
  EXPECT_EQ(duration_bucket(10'000'000), duration_bounds_us.size() - 1);
  EXPECT_EQ(duration_bucket(10'000'001), duration_bounds_us.size()) << "+Inf";
}
