// Careless and hostile clients: every limit answered, and slow clients never
// crowd out the others.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <sstream>
#include <iterator>
#include <fstream>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct Limits : ::testing::Test {
  static inline std::unique_ptr<testkit::scratch_database> db;
  static void SetUpTestSuite() {
    db = std::make_unique<testkit::scratch_database>();
    db->seeded();
    // A thousand sockets need more than the usual 1024 descriptors.
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  static void TearDownTestSuite() { db.reset(); }

  testkit::server start(std::vector<std::string> settings, int workers = 2) {
    std::vector<std::string> args;
    for (auto& s : settings) {
      args.push_back("--set");
      args.push_back(s);
    }
    return testkit::server({.database_url = db->url(), .workers = workers, .extra_args = args});
  }
};

// A raw connection for byte-level misbehaviour.
int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether a new connection is answered 200 (not closed at once).
bool served(int port) {
  try {
    return testkit::get(port, "/").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

// Everything the server sends until it closes (or `wait` passes).
std::string read_until_closed(int fd, std::chrono::milliseconds wait) {
  std::string out;
  auto until = clock_type::now() + wait;
  while (clock_type::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out + (n == 0 ? "<closed>" : "<reset>");
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

TEST_F(Limits, HeaderArrivingTooSlowlyIs408) {
  auto srv = start({"http.header_timeout_s=1"});
  int fd = connect_to(srv.port());
  ASSERT_GE(fd, 0);
  send(fd, "GET /api/users/1 HTTP/1.1\r\nHost: x\r\n", 35, MSG_NOSIGNAL);  // no blank line: never ends
  auto got = read_until_closed(fd, 4s);
  close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_NE(got.find("http.header_timeout_s"), std::string::npos) << got;
  EXPECT_NE(got.find("<closed>"), std::string::npos) << got;
}

TEST_F(Limits, BodyArrivingTooSlowlyIs408) {
  auto srv = start({"http.body_timeout_s=1"});
  int fd = connect_to(srv.port());
  std::string head = "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  auto got = read_until_closed(fd, 4s);
  close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_NE(got.find("http.body_timeout_s"), std::string::npos) << got;
}

TEST_F(Limits, SilentNewConnectionIsClosedAfterTheHeaderTimeout) {
  auto srv = start({"http.header_timeout_s=1"});
  int fd = connect_to(srv.port());
  auto t0 = clock_type::now();
  auto got = read_until_closed(fd, 4s);
  close(fd);
  EXPECT_EQ(got, "<closed>");
  EXPECT_LT(clock_type::now() - t0, 3s);
}

TEST_F(Limits, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto srv = start({"http.idle_timeout_s=1"});
  testkit::http_client c(srv.port());
  ASSERT_EQ(c.request("GET", "/api/users/1").status, 200);
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(Limits, MaxRequestsPerConnectionClosesAfterTheLast) {
  auto srv = start({"http.max_requests_per_connection=3"});
  testkit::http_client c(srv.port());
  EXPECT_EQ(c.request("GET", "/").header("Connection"), "");
  EXPECT_EQ(c.request("GET", "/").header("Connection"), "");
  auto third = c.request("GET", "/");
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.header("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
}

// The last response a connection may carry is not cut short by a reset
// when the client has already pipelined more requests behind it: closed with
// those unread, the socket would send a reset at once and drop the part of
// the responses still waiting in it for a slow reader. granite shuts its
// sending side and reads what still comes until the client closes.
TEST_F(Limits, TheLastResponseSurvivesRequestsPipelinedBeyondIt) {
  db->query("UPDATE posts SET text = repeat('x', 200000) WHERE id = 1");
  auto srv = start({"http.max_requests_per_connection=5"}, 1);
  auto whole = testkit::get(srv.port(), "/api/posts/1");
  ASSERT_EQ(whole.status, 200);
  for (int round = 0; round < 2; ++round) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;  // a slow reader: most of the five answers wait in granite's socket
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(srv.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string requests;
    for (int i = 0; i < 200; ++i) requests += "GET /api/posts/1 HTTP/1.1\r\nHost: granite\r\n\r\n";
    ASSERT_EQ(send(fd, requests.data(), requests.size(), MSG_NOSIGNAL), static_cast<ssize_t>(requests.size()));
    std::this_thread::sleep_for(300ms);  // granite answers five and closes meanwhile
    auto got = read_until_closed(fd, 10s);
    close(fd);
    std::size_t answers = 0;
    for (auto at = got.find("HTTP/1.1 200 OK"); at != std::string::npos; at = got.find("HTTP/1.1 200 OK", at + 1))
      ++answers;
    EXPECT_EQ(answers, 5u) << "round " << round;
    EXPECT_GE(got.size(), 5 * whole.body.size()) << "round " << round;
    EXPECT_TRUE(got.ends_with("<closed>")) << "round " << round << ": "
                                           << got.substr(got.size() - std::min<std::size_t>(got.size(), 80));
  }
}

TEST_F(Limits, ConnectionsBeyondTheMaximumAreClosedAtOnce) {
  auto srv = start({"http.max_connections=5"}, 1);
  std::vector<std::unique_ptr<testkit::http_client>> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(std::make_unique<testkit::http_client>(srv.port()));
    ASSERT_EQ(held.back()->request("GET", "/").status, 200);
  }
  int extra = connect_to(srv.port());
  auto t0 = clock_type::now();
  auto got = read_until_closed(extra, 3s);
  close(extra);
  EXPECT_EQ(got, "<closed>");
  EXPECT_LT(clock_type::now() - t0, 1s) << "the excess connection was queued, not closed";
  EXPECT_TRUE(testkit::eventually([&] { return srv.log().find("(http.max_connections)") != std::string::npos; }));
  held.pop_back();  // one goes; a new one is served again
  EXPECT_TRUE(testkit::eventually([&] { return served(srv.port()); }, 2s));
  for (auto& c : held) EXPECT_EQ(c->request("GET", "/api/users/1").status, 200);
}

// A connection answered for the last time (Connection: close) lingers
// until the client closes it, reading what still comes: it holds a
// descriptor all that while, so it counts against http.max_connections.
// Clients that read their answers and never close cannot take more
// descriptors than the limit: the excess is closed at once, unanswered.
TEST_F(Limits, LingeringClosesCountAgainstTheMaximum) {
  auto srv = start({"http.max_connections=5"}, 1);
  std::vector<int> held;
  int answered = 0, closed_unanswered = 0;
  for (int i = 0; i < 12; ++i) {
    int fd = connect_to(srv.port());
    ASSERT_GE(fd, 0);
    held.push_back(fd);  // never closed by the client until the end
    const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    auto got = read_until_closed(fd, 2s);  // the server shuts its side after the answer
    if (got.rfind("HTTP/1.1 200 ", 0) == 0)
      ++answered;
    else if (got == "<closed>" || got == "<reset>")
      ++closed_unanswered;
  }
  EXPECT_EQ(answered, 5) << "lingering connections were not counted";
  EXPECT_EQ(closed_unanswered, 7);
  for (int fd : held) close(fd);
  // Once their clients close them, new connections are served again.
  EXPECT_TRUE(testkit::eventually([&] { return served(srv.port()); }, 3s));
}

// What a chunked body's framing makes the worker hold is bounded, not just
// timed: a chunk-size line that never ends (an endless extension) is 400 past
// chunk_line_limit, a trailer section that never ends is 431 past what the
// header left of http.header_limit_bytes, and chunk extensions count against
// http.body_limit_bytes. Each answer comes at once, long before the body
// timeout, and the connection closes.
TEST_F(Limits, AChunkedBodysFramingIsBoundedNotJustTimed) {
  auto srv = start({"http.body_timeout_s=30", "http.body_limit_bytes=65536"}, 1);
  const std::string head =
      "POST /api/threads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct endless_case {
    const char* what;
    std::string start;  // then the filler, 4 KiB at a time, up to 256 KiB
    std::string filler;
    int status;
    const char* detail;
  };
  std::string extension(4000, 'e');
  for (const auto& c : std::vector<endless_case>{
           {"an endless chunk extension", head + "5;name=", std::string(4096, 'v'), 400, "chunk-size line"},
           {"an endless trailer field", head + "2\r\nhi\r\n0\r\nX-Trailer: ", std::string(4096, 't'), 431,
            "trailer section"},
           {"endless trailer fields", head + "2\r\nhi\r\n0\r\n", "X-Trailer: " + std::string(100, 't') + "\r\n", 431,
            "trailer section"},
           {"chunk extensions past the body limit", head, "1;" + extension + "\r\nx\r\n", 413, "chunk extensions"},
       }) {
    int fd = connect_to(srv.port());
    ASSERT_GE(fd, 0);
    auto t0 = clock_type::now();
    send(fd, c.start.data(), c.start.size(), MSG_NOSIGNAL);
    std::size_t sent = 0;
    while (sent < 256 * 1024) {
      if (send(fd, c.filler.data(), c.filler.size(), MSG_NOSIGNAL) < 0) break;  // the server closed: answered
      sent += c.filler.size();
    }
    auto got = read_until_closed(fd, 5s);
    close(fd);
    EXPECT_EQ(got.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0), 0u) << c.what << ": " << got;
    EXPECT_NE(got.find(c.detail), std::string::npos) << c.what << ": " << got;
    EXPECT_NE(got.find("<closed>"), std::string::npos) << c.what << ": " << got;
    EXPECT_LT(clock_type::now() - t0, 10s) << c.what << ": answered by the body timeout, not by a limit";
  }
}

TEST_F(Limits, AThousandSlowClientsDoNotCrowdOutTheOthers) {
  auto srv = start({"http.header_timeout_s=3"});
  // 500 connections that say nothing, 500 that send a header a byte at a time.
  std::vector<int> idle, trickle;
  for (int i = 0; i < 500; ++i) idle.push_back(connect_to(srv.port()));
  for (int i = 0; i < 500; ++i) trickle.push_back(connect_to(srv.port()));
  ASSERT_EQ(std::count(idle.begin(), idle.end(), -1) + std::count(trickle.begin(), trickle.end(), -1), 0);
  std::atomic<bool> trickling{true};
  std::thread slow([&] {
    const std::string header = "GET /api/users/1 HTTP/1.1\r\nHost: slow\r\nX-Padding: ";
    for (std::size_t i = 0; trickling; ++i) {
      char byte = i < header.size() ? header[i] : 'a';
      for (int fd : trickle) send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(100ms);
    }
  });

  // Meanwhile, ordinary clients are served promptly.
  std::vector<double> ms;
  auto until = clock_type::now() + 2s;
  while (clock_type::now() < until) {
    auto t0 = clock_type::now();
    auto r = testkit::get(srv.port(), "/api/users/1");
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    ASSERT_EQ(r.status, 200);
    std::this_thread::sleep_for(2ms);
  }
  std::sort(ms.begin(), ms.end());
  EXPECT_GT(ms.size(), 20u);
  EXPECT_LT(ms.back(), 1000.0) << "an ordinary request waited " << ms.back() << " ms";

  // After the header timeout, the tricklers get 408 and the silent ones are closed.
  std::this_thread::sleep_for(2s);
  trickling = false;
  slow.join();
  int answered_408 = 0, closed_idle = 0;
  for (int fd : trickle) {
    auto got = read_until_closed(fd, 100ms);
    answered_408 += got.rfind("HTTP/1.1 408 ", 0) == 0;
    close(fd);
  }
  for (int fd : idle) {
    closed_idle += read_until_closed(fd, 100ms) == "<closed>";
    close(fd);
  }
  EXPECT_EQ(answered_408, 500);
  EXPECT_EQ(closed_idle, 500);
  EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);
  std::printf("slowloris: 1000 slow connections; %zu ordinary requests, median %.2f ms, slowest %.2f ms\n",
              ms.size(), ms[ms.size() / 2], ms.back());
}

// Password hashing has a bulkhead of its own: a storm of sign-ups fills its
// queue and the excess is refused at once with 503 and Retry-After, while
// the read routes keep answering.
TEST_F(Limits, ASignUpStormIsBoundedByTheHashingBulkhead) {
  // nice 19 rather than SCHED_IDLE: hashing must progress even while this
  // test's own reader (and whatever else CI runs) keeps the CPUs busy.
  // No CPU cap either: this is about the queue (the cap has unit tests).
  auto srv = start({"auth.hash_threads=1", "auth.hash_queue_limit=2", "auth.argon2_memory_kib=131072",
                    "auth.argon2_ops_limit=3", "auth.hash_priority=low", "auth.hash_cpu_percent=100"},
                   1);
  constexpr int storm = 16;
  std::vector<testkit::http_response> answers(storm);
  std::vector<std::thread> clients;
  std::atomic<bool> storming{true};
  for (int i = 0; i < storm; ++i)
    clients.emplace_back([&, i] {
      testkit::http_client c(srv.port());
      nlohmann::json body = {{"username", "storm_" + std::to_string(i)}, {"password", "0123456789"}};
      answers[static_cast<std::size_t>(i)] =
          c.request("POST", "/api/users", {{"Content-Type", "application/json"}}, body.dump());
    });
  int reads = 0, read_failures = 0;
  auto slowest = clock_type::duration::zero();
  // Reads throughout, paced: this test is about the queue, and a reader that
  // kept both CPUs busy would leave a nice-19 hash no time at all.
  std::thread reader([&] {
    while (storming) {
      auto t0 = clock_type::now();
      if (testkit::get(srv.port(), "/api/users/1").status != 200) ++read_failures;
      slowest = std::max(slowest, clock_type::now() - t0);
      ++reads;
      std::this_thread::sleep_for(2ms);
    }
  });
  for (auto& c : clients) c.join();
  storming = false;
  reader.join();

  int created = 0, refused = 0, queue_full = 0;
  for (const auto& a : answers) {
    if (a.status == 201) ++created;
    if (a.status != 503) continue;
    ++refused;
    EXPECT_EQ(a.header("Retry-After"), "1");
    if (a.body.find("too many requests are waiting for password hashing") != std::string::npos) ++queue_full;
    else EXPECT_NE(a.body.find("waited too long for password hashing"), std::string::npos) << a.body;
  }
  EXPECT_GE(queue_full, 1) << "16 at once against a queue of 2";
  auto slowest_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count();
  std::printf("sign-up storm of %d: %d created, %d refused; %d reads during it, slowest %lld ms\n", storm, created,
              refused, reads, static_cast<long long>(slowest_ms));
  EXPECT_EQ(created + refused, storm);
  EXPECT_GE(created, 1);
  EXPECT_GE(refused, 1);
  EXPECT_EQ(read_failures, 0);
  EXPECT_GT(reads, 0);
  // A read never waits behind a hash (each takes ~100 ms or more here).
  EXPECT_LT(slowest_ms, 1000);
  // Every refused account really was not created.
  EXPECT_EQ(db->query("SELECT count(*) FROM users WHERE username LIKE 'storm\\_%'"), std::to_string(created));
  // /metrics tells the same story: each refusal by its reason, and one hash
  // per account created besides the worker's warm-up hash at its start.
  std::string page;
  auto metric = [&](const std::string& sample) { return testkit::metric_value(page, sample); };
  EXPECT_TRUE(testkit::eventually([&] {
    page = testkit::get(srv.metrics_port(), "/metrics").body;
    return metric("granite_hashing_duration_seconds_count") == created + 1;
  })) << page;
  EXPECT_EQ(metric(R"(granite_hashing_refused_total{reason="full"})"), queue_full) << page;
  EXPECT_EQ(metric(R"(granite_hashing_refused_total{reason="expired"})"), refused - queue_full) << page;
  EXPECT_GT(metric("granite_hashing_duration_seconds_sum"), 0.05 * created) << "each hash takes ~100 ms or more here";
  EXPECT_EQ(metric("granite_hashing_queued"), 0);
}

namespace {
// (scheduling policy, nice) of every thread of a process, from /proc.
std::vector<std::pair<int, int>> thread_priorities(pid_t pid) {
  std::vector<std::pair<int, int>> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3 on
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    if (f.size() >= 39) out.emplace_back(std::stoi(f[38]), std::stoi(f[16]));  // fields 41 and 19
  }
  return out;
}
}  // namespace

TEST_F(Limits, HashingThreadsRunAtTheLowestPriority) {
  constexpr int sched_idle = 5;
  for (std::string mode : {"idle", "low"}) {
    auto srv = start({"auth.hash_threads=2", "auth.hash_priority=" + mode}, 1);
    auto workers = srv.workers();
    ASSERT_EQ(workers.size(), 1u);
    std::vector<std::pair<int, int>> seen;
    ASSERT_TRUE(testkit::eventually([&] {
      seen = thread_priorities(workers[0]);
      auto lowered = std::count_if(seen.begin(), seen.end(), [&](auto p) {
        return mode == "idle" ? p.first == sched_idle : (p.first == 0 && p.second == 19);
      });
      return lowered == 2;
    })) << mode << ": the two hashing threads are not lowered";
    // Everything else (the event loop, the database connections' openers, the logger) keeps its priority.
    auto normal = std::count_if(seen.begin(), seen.end(), [](auto p) { return p.first == 0 && p.second == 0; });
    EXPECT_EQ(static_cast<std::size_t>(normal), seen.size() - 2) << mode;
  }
}
