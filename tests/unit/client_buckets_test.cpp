#include "granite/shm/client_buckets.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

using granite::shm::client_buckets;
using namespace std::chrono_literals;

namespace {
client_buckets::key key_of(int n) {
  client_buckets::key k{};
  k[14] = static_cast<std::uint8_t>(n >> 8);
  k[15] = static_cast<std::uint8_t>(n);
  return k;
}
}  // namespace

TEST(ClientBuckets, ABurstThenOneAttemptPerRefill) {
  client_buckets b;
  auto t = client_buckets::clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.take(key_of(1), 0.5, 3, t), 0s) << i;
  auto wait = b.take(key_of(1), 0.5, 3, t);
  EXPECT_GT(wait, 1900ms);
  EXPECT_LE(wait, 2s);
  EXPECT_GT(b.take(key_of(1), 0.5, 3, t + 1s), 0s) << "half a token is not one";
  EXPECT_EQ(b.take(key_of(1), 0.5, 3, t + 2s), 0s) << "refilled";
  EXPECT_EQ(b.take(key_of(2), 0.5, 3, t), 0s) << "another client has its own bucket";
}

TEST(ClientBuckets, EveryProcessDrawsOnTheSameBuckets) {
  client_buckets b;
  auto t = client_buckets::clock::now();
  pid_t child = fork();
  if (child == 0) _exit(b.take(key_of(7), 0.01, 2, t) == 0s && b.take(key_of(7), 0.01, 2, t) == 0s ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GT(b.take(key_of(7), 0.01, 2, t), 0s) << "the child used the bucket up";
}

TEST(ClientBuckets, ManyClientsAreBoundedAndTheLongestIdleMakeRoom) {
  client_buckets b;
  auto t = client_buckets::clock::now();
  EXPECT_EQ(b.take(key_of(0), 0.001, 1, t), 0s);
  EXPECT_GT(b.take(key_of(0), 0.001, 1, t), 0s);
  // Many more clients than places, each tried later than client 0.
  for (int i = 1; i <= 20000; ++i) b.take(key_of(i), 0.001, 1, t + std::chrono::milliseconds(i));
  // Client 0 had tried longest ago: its place went to another, and it
  // starts again with a full bucket.
  EXPECT_EQ(b.take(key_of(0), 0.001, 1, t + 30s), 0s);
}
