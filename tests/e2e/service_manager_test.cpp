// What systemd's Type=notify sees: granite sends READY=1 only once every
// worker serves, RELOADING=1 .. READY=1 around a SIGHUP, STOPPING=1 at
// SIGTERM, and a new binary started by SIGUSR2 names itself MAINPID.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;

namespace {

// A datagram socket standing in for systemd's notification socket.
class notify_socket {
 public:
  explicit notify_socket(bool abstract) {
    static int serial = 0;
    name_ = (abstract ? "@" : "/tmp/") + std::string("granite-notify-") + std::to_string(getpid()) + "-" +
            std::to_string(serial++);
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    if (abstract) addr.sun_path[0] = '\0';
    else unlink(name_.c_str());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), length), 0) << std::strerror(errno);
  }
  ~notify_socket() {
    close(fd_);
    if (name_[0] == '/') unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }

  // The next datagram, or nothing within the timeout.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 20s) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    auto n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_;
};

bool has_line(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

// The workers that answer new connections, by their own pids.
std::set<pid_t> answering_workers(int port, int connections) {
  std::set<pid_t> seen;
  for (int i = 0; i < connections; ++i) {
    auto r = testkit::get(port, "/health/cache");
    if (r.status == 200) seen.insert(nlohmann::json::parse(r.body).at("worker").get<pid_t>());
  }
  return seen;
}

std::set<pid_t> as_set(const std::vector<pid_t>& pids) { return {pids.begin(), pids.end()}; }

}  // namespace

TEST(ServiceManager, ReadyOnlyOnceEveryWorkerServesThenReloadingAndStopping) {
  testkit::scratch_database db;
  notify_socket systemd(false);
  testkit::server srv({.database_url = db.seeded(),
                       .extra_args = {"--set", "drain.delay_s=1"},
                       .env = {{"NOTIFY_SOCKET", systemd.name()}},
                       .wait_ready = false});

  auto ready = systemd.next();
  ASSERT_TRUE(ready) << "no READY=1 within 20 s\n" << srv.log();
  // The first word systemd hears is READY=1, and at that moment every
  // worker already serves: `systemctl start` returns into a working service.
  EXPECT_TRUE(has_line(*ready, "READY=1")) << *ready;
  EXPECT_TRUE(has_line(*ready, "MAINPID=" + std::to_string(srv.pid()))) << *ready;
  EXPECT_NE(ready->find("STATUS=serving on 127.0.0.1:" + std::to_string(srv.port()) + " with 2 workers"),
            std::string::npos)
      << *ready;
  EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);
  EXPECT_EQ(answering_workers(srv.port(), 40), as_set(srv.workers()));

  auto before = srv.workers();
  ASSERT_EQ(kill(srv.pid(), SIGHUP), 0);
  auto reloading = systemd.next();
  ASSERT_TRUE(reloading) << srv.log();
  EXPECT_TRUE(has_line(*reloading, "RELOADING=1")) << *reloading;
  auto reloaded = systemd.next();
  ASSERT_TRUE(reloaded) << srv.log();
  EXPECT_TRUE(has_line(*reloaded, "READY=1")) << *reloaded;
  // Ready again only once every slot has its replacement serving and the old
  // workers are gone.
  auto after = as_set(srv.workers());
  EXPECT_EQ(after.size(), 2u);
  for (pid_t old : before) EXPECT_EQ(after.count(old), 0u) << "worker " << old << " still runs";
  EXPECT_EQ(answering_workers(srv.port(), 40), after);

  ASSERT_EQ(kill(srv.pid(), SIGTERM), 0);
  auto stopping = systemd.next(5s);
  ASSERT_TRUE(stopping) << srv.log();
  EXPECT_TRUE(has_line(*stopping, "STOPPING=1")) << *stopping;
  int status = srv.wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << srv.log();
  EXPECT_FALSE(systemd.next(200ms)) << "nothing more after STOPPING=1";
}

TEST(ServiceManager, AnUpgradedBinaryBecomesTheMainProcessOnceItServes) {
  testkit::scratch_database db;
  notify_socket systemd(true);  // systemd's own socket is abstract in some setups
  testkit::server srv({.database_url = db.seeded(), .env = {{"NOTIFY_SOCKET", systemd.name()}}, .wait_ready = false});
  auto ready = systemd.next();
  ASSERT_TRUE(ready && has_line(*ready, "MAINPID=" + std::to_string(srv.pid()))) << srv.log();

  ASSERT_EQ(kill(srv.pid(), SIGUSR2), 0);
  auto handed = systemd.next();
  ASSERT_TRUE(handed) << srv.log();
  EXPECT_TRUE(has_line(*handed, "READY=1")) << *handed;
  auto at = handed->find("MAINPID=");
  ASSERT_NE(at, std::string::npos) << *handed;
  pid_t successor = std::stoi(handed->substr(at + 8));
  EXPECT_NE(successor, srv.pid());
  EXPECT_TRUE(testkit::process_alive(successor));
  // The old leader retires without a word to systemd: STOPPING=1 from it
  // would stop the service it just handed over.
  int status = srv.wait_exit(20s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << srv.log();
  EXPECT_FALSE(systemd.next(300ms));
  EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);

  kill(successor, SIGINT);
  auto stopping = systemd.next(5s);
  EXPECT_TRUE(stopping && has_line(*stopping, "STOPPING=1"));
  EXPECT_TRUE(testkit::eventually([&] { return !testkit::process_alive(successor); }, 10s));
}

TEST(ServiceManager, AnUnreachableNotifySocketIsLoggedAndServingGoesOn) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .env = {{"NOTIFY_SOCKET", "/nonexistent/notify"}}});
  EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);
  EXPECT_TRUE(testkit::eventually(
      [&] { return srv.log().find("cannot tell the service manager 'READY=1") != std::string::npos; }));
}
