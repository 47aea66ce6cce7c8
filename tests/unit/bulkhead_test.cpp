#include "granite/http/bulkhead.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

using granite::http::bulkhead;
using namespace std::chrono_literals;

TEST(Bulkhead, RefusesWhatDoesNotFitItsQueue) {
  bulkhead b({"test", 1, 2, 5s, bulkhead::priority::normal, 100});
  b.start();
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> ran{0};
  std::promise<void> running;
  ASSERT_TRUE(b.submit([&, gate](bool) {
    running.set_value();
    gate.wait();
    ++ran;
  }));
  running.get_future().wait();  // the thread is busy: what follows queues
  EXPECT_TRUE(b.submit([&](bool) { ++ran; }));
  EXPECT_TRUE(b.submit([&](bool) { ++ran; }));
  EXPECT_FALSE(b.submit([&](bool) { ++ran; })) << "a third waiting job is over the limit of 2";
  auto seen = b.snapshot();
  EXPECT_EQ(seen.queued, 2u);
  EXPECT_EQ(seen.full, 1u);
  EXPECT_EQ(seen.ran, 0u) << "the first job is still running";
  release.set_value();
  b.stop();
  EXPECT_GE(ran.load(), 1);
  auto after = b.snapshot();
  EXPECT_EQ(after.queued, 0u);
  EXPECT_EQ(after.ran + after.expired, 3u) << "each job admitted either ran or was told it would not";
  EXPECT_FALSE(b.submit([](bool) {})) << "a stopped bulkhead takes nothing";
}

TEST(Bulkhead, AJobThatWaitedTooLongIsToldSo) {
  bulkhead b({"test", 1, 4, 50ms, bulkhead::priority::normal, 100});
  b.start();
  std::promise<bool> first, second;
  ASSERT_TRUE(b.submit([&](bool expired) {
    std::this_thread::sleep_for(150ms);
    first.set_value(expired);
  }));
  ASSERT_TRUE(b.submit([&](bool expired) { second.set_value(expired); }));
  EXPECT_FALSE(first.get_future().get());
  EXPECT_TRUE(second.get_future().get()) << "it waited 150 ms behind the first, over max_wait";
  b.stop();
  auto seen = b.snapshot();
  EXPECT_EQ(seen.ran, 1u);
  EXPECT_EQ(seen.expired, 1u);
  EXPECT_GE(seen.busy_us, 140'000u) << "the first job's 150 ms on the thread";
  EXPECT_EQ(seen.full, 0u);
}

TEST(Bulkhead, EachThreadKeepsAtMostItsShareOfACpuBusy) {
  bulkhead b({"test", 1, 4, 5s, bulkhead::priority::normal, 25, 0ms});
  b.start();
  std::promise<std::chrono::steady_clock::time_point> first_done, second_start;
  ASSERT_TRUE(b.submit([&](bool) {
    std::this_thread::sleep_for(40ms);
    first_done.set_value(std::chrono::steady_clock::now());
  }));
  ASSERT_TRUE(b.submit([&](bool) { second_start.set_value(std::chrono::steady_clock::now()); }));
  auto gap = second_start.get_future().get() - first_done.get_future().get();
  // 40 ms busy at 25 % is followed by 120 ms of rest.
  EXPECT_GE(gap, 110ms);
  b.stop();
}

TEST(Bulkhead, ABurstRunsAtFullSpeedThenIsPaced) {
  bulkhead b({"test", 1, 8, 5s, bulkhead::priority::normal, 25, 100ms});
  b.start();
  std::vector<std::promise<std::chrono::steady_clock::time_point>> done(5);
  for (auto& d : done)
    ASSERT_TRUE(b.submit([&d](bool) {
      std::this_thread::sleep_for(40ms);
      d.set_value(std::chrono::steady_clock::now());
    }));
  std::vector<std::chrono::steady_clock::time_point> at;
  for (auto& d : done) at.push_back(d.get_future().get());
  // 100 ms of credit, refilled by 10 ms during each 40 ms job: 60, 30, 0,
  // then -30 after the fourth, which 120 ms of rest (at 25 %) repay.
  for (int i = 1; i < 4; ++i) EXPECT_LT(at[i] - at[i - 1], 120ms) << i;  // 40 ms, with room for a busy machine
  EXPECT_GE(at[4] - at[3], 40ms + 110ms);
  b.stop();
}

TEST(Bulkhead, StoppingDropsQueuedJobsWithoutRunningThem) {
  bulkhead b({"test", 1, 8, 5s, bulkhead::priority::idle, 100});
  b.start();
  std::promise<void> running;
  std::atomic<int> ran{0}, told{0};
  ASSERT_TRUE(b.submit([&](bool) {
    running.set_value();
    std::this_thread::sleep_for(50ms);
  }));
  running.get_future().wait();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b.submit([&](bool expired) { ++(expired ? told : ran); }));
  b.stop();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(told.load(), 5) << "each dropped job is told it will not run (a coroutine awaiting it resumes)";
}
