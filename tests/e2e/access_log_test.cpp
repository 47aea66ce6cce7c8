// The access log as operators run it: to a file that logrotate moves away
// (SIGUSR1), as JSON lines, with the client's address behind a trusted
// load balancer, and on a disk that is full.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class AccessLog : public testkit::seeded_suite<AccessLog> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("granite-access-e2e-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<testkit::server> serve(std::vector<std::string> args, int workers = 2) {
    return std::make_unique<testkit::server>(
        testkit::server::options{.database_url = url, .workers = workers, .extra_args = std::move(args)});
  }

  static std::vector<std::string> lines_of(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  // The JSON lines of a file; a line that does not parse fails the test.
  static std::vector<nlohmann::json> records_of(const fs::path& path) {
    std::vector<nlohmann::json> out;
    for (const auto& line : lines_of(path)) {
      try {
        out.push_back(nlohmann::json::parse(line));
      } catch (const std::exception& e) {
        ADD_FAILURE() << "a torn or invalid line in " << path << ": " << line;
      }
    }
    return out;
  }

  static int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
  }

  // Requests on fresh connections (spread over the workers), each with an
  // id of its own: "<prefix>-<i>".
  void send(int port, const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      auto r = testkit::get(port, "/api/users/" + std::to_string(1 + i % 3),
                            {{"X-Request-Id", prefix + "-" + std::to_string(i)}});
      ASSERT_EQ(r.status, 200);
    }
  }

  fs::path dir_;
};


}  // namespace

TEST_F(AccessLog, Usr1AfterARotationLosesAndTearsNoLine) {
  auto file = dir_ / "access.log";
  auto rotated = dir_ / "access.log.1";
  auto srv = serve({"--set", "log.access_file=" + file.string(), "--set", "log.format=json"});
  send(srv->port(), "before", 300);
  fs::rename(file, rotated);  // what logrotate does
  send(srv->port(), "between", 200);
  ASSERT_EQ(kill(srv->pid(), SIGUSR1), 0);
  // Each worker says when it has opened the file again.
  ASSERT_TRUE(testkit::eventually([&] { return count_of(srv->log(), "access log " + file.string() + " opened") == 2; }))
      << srv->log();
  send(srv->port(), "after", 200);
  ASSERT_EQ(srv->stop(SIGINT, 10s), 0);  // the workers write what is buffered as they exit

  std::map<std::string, int> seen;  // request id -> lines
  std::set<int> workers;
  for (const auto& r : records_of(rotated)) {
    auto id = r["request_id"].get<std::string>();
    EXPECT_NE(id.rfind("after-", 0), 0u) << "a request after the reopen went to the old file";
    ++seen[id];
  }
  for (const auto& r : records_of(file)) {
    auto id = r["request_id"].get<std::string>();
    EXPECT_NE(id.rfind("before-", 0), 0u) << "a request before the rotation went to the new file";
    ++seen[id];
    workers.insert(r["worker"].get<int>());
  }
  for (const auto& [prefix, count] : std::map<std::string, int>{{"before", 300}, {"between", 200}, {"after", 200}})
    for (int i = 0; i < count; ++i)
      EXPECT_EQ(seen[prefix + "-" + std::to_string(i)], 1) << prefix << "-" << i << " is not logged exactly once";
  EXPECT_EQ(workers.size(), 2u) << "both workers wrote to the new file";
  EXPECT_EQ(srv->log().find("could not be written"), std::string::npos) << srv->log();
}

TEST_F(AccessLog, JsonLinesSayWhatWasAskedAndEscapeWhatTheClientSent) {
  auto file = dir_ / "access.log";
  auto srv = serve({"--set", "log.access_file=" + file.string(), "--set", "log.format=json", "--set",
                    "log.flush_ms=50"},
                   1);
  // A quote, a backslash and a byte that is not UTF-8 in the target; a trace
  // id that tries to close the string and add a field.
  std::string target = "/api/users/2?x=\"a\\b\"&y=\xff";
  std::string trace = "Root=1-5759e988-bd862e3fe1be46a994272793\", \"forged\": \"yes";
  testkit::http_client c(srv->port());
  auto ask = [&](int i) {
    return c.request("GET", target, {{"X-Amzn-Trace-Id", trace}, {"X-Request-Id", "json-" + std::to_string(i)}});
  };
  // A miss that fills the cache, then a hit: asked again until the worker
  // counts one (right after the start, the change feed's first batch may
  // still empty the cache between the two).
  EXPECT_EQ(ask(0).status, 200);
  std::string hit;
  for (int i = 1; i <= 10 && hit.empty(); ++i) {
    auto hits = testkit::cache_stats(c)["hits"].get<long>();
    EXPECT_EQ(ask(i).status, 200);
    if (testkit::cache_stats(c)["hits"].get<long>() > hits) hit = "json-" + std::to_string(i);
  }
  ASSERT_FALSE(hit.empty()) << "no hit in 10 asks";
  EXPECT_EQ(c.request("GET", "/api/nothing/here", {{"X-Request-Id", "json-404"}}).status, 404);
  std::map<std::string, nlohmann::json> by_id;  // (the start's health checks are logged too)
  ASSERT_TRUE(testkit::eventually([&] {
    by_id.clear();
    for (const auto& r : records_of(file)) by_id[r["request_id"]] = r;
    return by_id.count("json-0") && by_id.count(hit) && by_id.count("json-404");
  }));
  auto miss = by_id["json-0"];
  EXPECT_EQ(miss["method"], "GET");
  EXPECT_EQ(miss["target"], "/api/users/2?x=\"a\\b\"&y=\xc3\xbf");  // the byte 0xff as U+00FF
  EXPECT_EQ(miss["route"], "/api/users/{id}");
  EXPECT_EQ(miss["status"], 200);
  EXPECT_EQ(miss["cache"], "miss");
  EXPECT_EQ(miss["client"], "127.0.0.1");
  EXPECT_EQ(miss["trace_id"], trace);
  EXPECT_FALSE(miss.contains("forged"));
  EXPECT_EQ(miss["worker"], 0);
  EXPECT_GT(miss["bytes"].get<int>(), 10);
  EXPECT_GE(miss["duration_us"].get<int>(), 0);
  EXPECT_EQ(by_id[hit]["cache"], "hit");
  EXPECT_EQ(by_id[hit]["route"], "/api/users/{id}");
  EXPECT_EQ(by_id["json-404"]["status"], 404);
  EXPECT_TRUE(by_id["json-404"]["route"].is_null());
  EXPECT_TRUE(by_id["json-404"]["cache"].is_null());
  EXPECT_TRUE(by_id["json-404"]["trace_id"].is_null());
}

TEST_F(AccessLog, AForgedForwardedForIsIgnoredUnlessThePeerIsTrusted) {
  auto untrusting_file = dir_ / "untrusting.log";
  auto trusting_file = dir_ / "trusting.log";
  auto untrusting = serve({"--set", "log.access_file=" + untrusting_file.string(), "--set", "log.format=json", "--set",
                           "log.flush_ms=50"},
                          1);
  // Loopback stands for the load balancer's subnet.
  auto trusting = serve({"--set", "log.access_file=" + trusting_file.string(), "--set", "log.format=json", "--set",
                         "log.flush_ms=50", "--set", "http.trusted_proxies=10.0.0.0/8, 127.0.0.0/8"},
                        1);
  std::vector<std::pair<std::string, std::string>> forged{{"X-Forwarded-For", "6.6.6.6, 198.51.100.23"},
                                                          {"X-Request-Id", "xff-1"}};
  EXPECT_EQ(testkit::get(untrusting->port(), "/api/users/1", forged).status, 200);
  EXPECT_EQ(testkit::get(trusting->port(), "/api/users/1", forged).status, 200);
  // Only the right-most entry is what the trusted proxy saw; a client that
  // sends a trusted address first gains nothing.
  EXPECT_EQ(testkit::get(trusting->port(), "/api/users/1",
                         {{"X-Forwarded-For", "10.1.1.1"}, {"X-Forwarded-For", "203.0.113.9"},
                          {"X-Request-Id", "xff-2"}})
                .status,
            200);
  auto client_of = [](const fs::path& file, const std::string& id) {
    std::string out;
    testkit::eventually([&] {
      for (const auto& r : records_of(file))
        if (r["request_id"] == id) out = r["client"];
      return !out.empty();
    });
    return out;
  };
  EXPECT_EQ(client_of(untrusting_file, "xff-1"), "127.0.0.1");
  EXPECT_EQ(client_of(trusting_file, "xff-1"), "198.51.100.23");
  EXPECT_EQ(client_of(trusting_file, "xff-2"), "203.0.113.9");
}

TEST_F(AccessLog, ALogThatCannotBeWrittenDoesNotStopServing) {
  // A full disk, and a directory that is not there.
  for (std::string path : {std::string("/dev/full"), (dir_ / "missing" / "access.log").string()}) {
    auto srv = serve({"--set", "log.access_file=" + path, "--set", "log.flush_ms=50"});
    send(srv->port(), "unwritten", 100);
    EXPECT_TRUE(testkit::eventually([&] { return srv->log().find("access log " + path + ": cannot") != std::string::npos; }))
        << srv->log();
    send(srv->port(), "still", 100);
    EXPECT_EQ(srv->workers().size(), 2u);
    ASSERT_EQ(srv->stop(SIGINT, 10s), 0);
    // What was lost is said, with its count.
    EXPECT_NE(srv->log().find("lines could not be written and were dropped"), std::string::npos) << srv->log();
  }
}

TEST_F(AccessLog, CtrlCToTheWholeProcessGroupLosesNoLine) {
  // A terminal's Ctrl-C reaches the leader and every worker, and the leader
  // passes it on: a worker must finish its exit (its last lines) whatever
  // comes after the first.
  auto file = dir_ / "access.log";
  auto srv = serve({"--set", "log.access_file=" + file.string(), "--set", "log.flush_ms=60000"});
  send(srv->port(), "ctrl-c", 100);
  ASSERT_EQ(kill(-srv->pid(), SIGINT), 0);
  ASSERT_NE(srv->wait_exit(10s), -1);
  int lines = 0;
  for (const auto& line : lines_of(file)) lines += line.find(" rid=ctrl-c-") != std::string::npos;
  EXPECT_EQ(lines, 100) << srv->log();
  EXPECT_EQ(srv->log().find("killed by signal"), std::string::npos) << srv->log();
}
