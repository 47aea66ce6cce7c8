// GET /metrics as Prometheus scrapes it: on its own listener, the same sums
// whichever worker answers, counts that outlive a killed worker, and text
// that a real Prometheus parser reads.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;

namespace {

class Metrics : public testkit::seeded_suite<Metrics> {
 protected:
  void SetUp() override {
    srv_ = std::make_unique<testkit::server>(testkit::server::options{.database_url = url, .workers = 2});
  }

  std::string scrape(const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto r = testkit::get(srv_->metrics_port(), "/metrics", headers);
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  static double value_of(const std::string& text, const std::string& sample) {
    return testkit::metric_value(text, sample);
  }

  // Requests on fresh connections, so that both workers take some.
  void send(const std::string& method, const std::string& target, int count, int status) {
    for (int i = 0; i < count; ++i) {
      testkit::http_client c(srv_->port());
      ASSERT_EQ(c.request(method, target).status, status) << method << " " << target;
    }
  }

  std::unique_ptr<testkit::server> srv_;
};


const std::string users_ok = R"(http_requests_total{route="/api/users/{id}",method="GET",code="200"})";
const std::string heads_ok = R"(http_requests_total{route="/api/users/{id}",method="HEAD",code="200"})";
const std::string unrouted = R"(http_requests_total{route="none",method="GET",code="404"})";
const std::string users_count = R"(http_request_duration_seconds_count{route="/api/users/{id}"})";

}  // namespace

TEST_F(Metrics, CountsAreExactWhicheverWorkerIsScraped) {
  send("GET", "/api/users/1", 300, 200);
  send("HEAD", "/api/users/2", 20, 200);
  send("GET", "/no/such/route", 50, 404);
  auto workers = srv_->workers();
  ASSERT_EQ(workers.size(), 2u);
  // Both workers served some of them.
  ASSERT_TRUE(testkit::eventually([&] {
    auto log = srv_->log();
    return std::regex_search(log, std::regex(R"(\[worker 0 \d+\] access GET /api/users/1 )")) &&
           std::regex_search(log, std::regex(R"(\[worker 1 \d+\] access GET /api/users/1 )"));
  }));
  // A stopped worker accepts nothing: each scrape below is the other's.
  for (pid_t frozen : workers) {
    ASSERT_EQ(kill(frozen, SIGSTOP), 0);
    for (int i = 0; i < 3; ++i) {
      auto text = scrape();
      EXPECT_EQ(value_of(text, users_ok), 300) << text;
      EXPECT_EQ(value_of(text, heads_ok), 20);
      EXPECT_EQ(value_of(text, unrouted), 50);
      EXPECT_EQ(value_of(text, users_count), 320) << "the histogram counts both methods";
      EXPECT_GT(value_of(text, R"(http_request_duration_seconds_sum{route="/api/users/{id}"})"), 0);
      EXPECT_EQ(value_of(text, R"(http_request_duration_seconds_bucket{route="/api/users/{id}",le="+Inf"})"), 320);
      EXPECT_GT(value_of(text, "http_response_bytes_total"), 300 * 100);
      EXPECT_EQ(value_of(text, "http_requests_in_flight"), 0);
    }
    ASSERT_EQ(kill(frozen, SIGCONT), 0);
  }
}

TEST_F(Metrics, AKilledWorkersCountsSurviveAndItsRestartIsCounted) {
  send("GET", "/api/users/1", 100, 200);
  auto before = srv_->workers();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  ASSERT_TRUE(testkit::eventually(
      [&] {
        auto now = srv_->workers();
        return now.size() == 2u && std::find(now.begin(), now.end(), before[0]) == now.end() &&
               testkit::get(srv_->port(), "/health").status == 200;
      },
      10s));
  std::string text;
  ASSERT_TRUE(testkit::eventually([&] {
    text = scrape();
    return value_of(text, R"(granite_worker_restarts_total{slot="0",cause="signal"})") +
               value_of(text, R"(granite_worker_restarts_total{slot="1",cause="signal"})") ==
           1;
  })) << text;
  EXPECT_EQ(value_of(text, users_ok), 100) << text;
  EXPECT_EQ(value_of(text, R"(granite_worker_restarts_total{slot="0",cause="watchdog"})"), 0);
  // The dead worker's connections are not counted as open.
  EXPECT_LE(value_of(text, "http_connections_open"), 2) << text;
}

TEST_F(Metrics, ConnectionsWaitingForAStoppedWorkerShowInItsAcceptQueue) {
  auto workers = srv_->workers();
  ASSERT_EQ(workers.size(), 2u);
  // Which slot is whose: the leader logs it.
  std::smatch m;
  auto log = srv_->log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("worker slot=(\\d+) pid=" + std::to_string(workers[0]) + " ready")));
  auto slot = m[1].str();
  ASSERT_EQ(kill(workers[0], SIGSTOP), 0);
  // The kernel completes the connections and queues them on the sockets,
  // some on the stopped worker's.
  std::vector<std::unique_ptr<testkit::http_client>> waiting;
  for (int i = 0; i < 40; ++i) waiting.push_back(std::make_unique<testkit::http_client>(srv_->port()));
  std::string text;
  bool seen = testkit::eventually([&] {
    text = scrape();  // answered by the other worker
    return value_of(text, "granite_accept_queue_connections{slot=\"" + slot + "\"}") > 0;
  });
  ASSERT_EQ(kill(workers[0], SIGCONT), 0);
  EXPECT_TRUE(seen) << text;
  EXPECT_GT(value_of(text, "granite_accept_queue_limit{slot=\"" + slot + "\"}"), 0) << text;
}

TEST_F(Metrics, TheDatabaseAndTheReadCacheAreCountedForTheInstance) {
  // Until its change feed is up a worker's cache is not in use, and its
  // reads are neither hits nor misses: the reads wait for both.
  ASSERT_TRUE(testkit::eventually([&] { return value_of(scrape(), "granite_cache_listening") == 2; })) << scrape();
  send("GET", "/api/users/1", 200, 200);  // one miss per worker at most, then hits
  send("GET", "/api/users/999999", 10, 404);  // misses that ask the database
  // Reads of routes that are not cached are neither hits nor misses.
  send("GET", "/health", 20, 200);
  send("GET", "/no/such/route", 20, 404);
  std::string text;
  // Each worker copies its own counts into the instance's cells four times a second.
  // Whether its cache is in use is a gauge of that moment: a feed that
  // lags on a loaded machine lets a worker's trust in its ring lapse for a
  // while (its reads bypass the cache meanwhile).
  ASSERT_TRUE(testkit::eventually([&] {
    text = scrape();
    return value_of(text, "granite_cache_hits_total") + value_of(text, "granite_cache_misses_total") == 210 &&
           value_of(text, "granite_database_batches_total") >= 11 && value_of(text, "granite_cache_listening") == 2;
  })) << text;
  EXPECT_GE(value_of(text, "granite_cache_hits_total"), 198);
  EXPECT_LE(value_of(text, "granite_cache_misses_total"), 12) << "the 10 unknown users and a first read per worker";
  EXPECT_GE(value_of(text, "granite_cache_fills_total"), 1);
  EXPECT_GE(value_of(text, "granite_database_batches_total"), 11);
  EXPECT_EQ(value_of(text, "granite_database_refused_total"), 0);
  EXPECT_EQ(value_of(text, "granite_database_connections"), 4) << "2 workers x (1 read + 1 write)";
  EXPECT_EQ(value_of(text, "granite_database_connections_wanted"), 4);
  EXPECT_EQ(value_of(text, "granite_database_waiting"), 0);
  EXPECT_EQ(value_of(text, "granite_cache_listening"), 2);
  EXPECT_GE(value_of(text, "granite_cache_entries"), 1);
  EXPECT_GT(value_of(text, "granite_cache_bytes"), 0);
  // Scrapes are no reads of the public cache.
  auto misses = value_of(text, "granite_cache_misses_total");
  for (int i = 0; i < 5; ++i) scrape();
  std::this_thread::sleep_for(600ms);  // two of the workers' copies
  EXPECT_EQ(value_of(scrape(), "granite_cache_misses_total"), misses);
}

TEST_F(Metrics, KeyedWritesAreCountedByOutcome) {
  testkit::forum_client api(srv_->port());
  auto me = api.member("metrics_keys");
  std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", "\"m-1\""}};
  auto body = R"({"thread":1,"text":"counted"})";
  EXPECT_EQ(api.call_with(key, "POST", "/api/posts", body, me.token).status, 201);
  EXPECT_EQ(api.call_with(key, "POST", "/api/posts", body, me.token).status, 201);
  EXPECT_EQ(api.call_with(key, "POST", "/api/posts", R"({"thread":1,"text":"other"})", me.token).status, 422);
  EXPECT_EQ(api.call("POST", "/api/posts", body, me.token).status, 201);  // no key: not counted
  auto sample = [](const std::string& outcome) { return "granite_idempotency_total{outcome=\"" + outcome + "\"}"; };
  std::string text;
  ASSERT_TRUE(testkit::eventually([&] {
    text = scrape();
    return value_of(text, sample("applied")) + value_of(text, sample("replayed")) + value_of(text, sample("reused")) ==
           3;
  })) << text;
  EXPECT_EQ(value_of(text, sample("applied")), 1);
  EXPECT_EQ(value_of(text, sample("replayed")), 1);
  EXPECT_EQ(value_of(text, sample("reused")), 1);
  EXPECT_EQ(value_of(text, sample("in_use")), 0);
}

TEST_F(Metrics, TheDrainShowsWhileItLasts) {
  auto text = scrape();
  EXPECT_EQ(value_of(text, "granite_draining"), 0) << text;
  EXPECT_EQ(value_of(text, R"(granite_workers{state="serving"})"), 2);
  EXPECT_EQ(value_of(text, R"(granite_workers{state="draining"})"), 0);
  srv_.reset();
  srv_ = std::make_unique<testkit::server>(testkit::server::options{
      .database_url = url, .workers = 2, .extra_args = {"--set", "drain.delay_s=5"}});
  ASSERT_EQ(kill(srv_->pid(), SIGTERM), 0);
  // The metrics listener keeps answering through the drain's delay.
  ASSERT_TRUE(testkit::eventually([&] {
    text = scrape();
    return value_of(text, "granite_draining") == 1 && value_of(text, R"(granite_workers{state="draining"})") == 2;
  })) << text;
  EXPECT_EQ(value_of(text, R"(granite_workers{state="serving"})"), 0);
  EXPECT_EQ(testkit::get(srv_->port(), "/health").status, 503);
}

// The CloudWatch agent's configuration (packer/) names metrics that exist,
// that are no histograms (the agent drops those), with the labels its
// dimensions use.
TEST_F(Metrics, WhatTheCloudWatchAgentIsToldToSendIsServed) {
  send("GET", "/api/users/1", 5, 200);
  auto file = "/tmp/granite-metrics-" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream out(file);
    out << scrape();
  }
  auto checked = testkit::run_program("/usr/bin/python3", {testkit::source_path("tests/deploy/cloudwatch_check.py"),
                                                           testkit::source_path("packer/cloudwatch-agent.json"),
                                                           testkit::source_path("packer/cloudwatch-prometheus.yaml"),
                                                           "--page", file});
  unlink(file.c_str());
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
}

TEST_F(Metrics, ThePublicPortDoesNotServeThem) {
  EXPECT_EQ(testkit::get(srv_->port(), "/metrics").status, 404);
  EXPECT_EQ(testkit::get(srv_->metrics_port(), "/api/users/1").status, 404);
}

TEST_F(Metrics, APrometheusParserReadsBothFormats) {
  send("GET", "/api/users/1", 10, 200);
  auto file = "/tmp/granite-metrics-" + std::to_string(getpid()) + ".txt";
  struct format {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string content_type;
    std::string parser;
  };
  for (const auto& f : {format{{}, "text/plain; version=0.0.4; charset=utf-8", "prometheus_client.parser"},
                        format{{{"Accept", "application/openmetrics-text; version=1.0.0"}},
                               "application/openmetrics-text; version=1.0.0; charset=utf-8",
                               "prometheus_client.openmetrics.parser"}}) {
    auto r = testkit::get(srv_->metrics_port(), "/metrics", f.headers);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), f.content_type);
    {
      std::ofstream out(file);
      out << r.body;
    }
    // Every family and sample, as the parser reads them.
    auto parsed = testkit::run_program(
        "/usr/bin/python3", {"-c",  // Debian's, with python3-prometheus-client
                    "import sys; from " + f.parser +
                        " import text_string_to_metric_families as p; "
                        "[print(m.name, m.type, s.name, s.labels, float(s.value)) for m in p(open(sys.argv[1]).read()) "
                        "for s in m.samples]",
                    file});
    ASSERT_EQ(parsed.exit_code, 0) << f.parser << ":\n" << parsed.err << "\n" << r.body;
    EXPECT_NE(parsed.out.find("http_requests counter http_requests_total {'route': '/api/users/{id}', 'method': "
                              "'GET', 'code': '200'} 10.0"),
              std::string::npos)
        << parsed.out;
    EXPECT_NE(parsed.out.find("http_request_duration_seconds histogram"), std::string::npos) << parsed.out;
    // A gauge in the text format, an info family in OpenMetrics: the sample is the same.
    EXPECT_NE(parsed.out.find(" granite_build_info {'version': '" GRANITE_VERSION "'} 1.0"),
              std::string::npos)
        << parsed.out;
  }
  unlink(file.c_str());
}
