#include "support/testkit.hpp"

#include <arpa/inet.h>
#include <libdeflate.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <thread>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace granite::testkit {

namespace {

// The database pg_virtualenv created, from which scratch databases are made.
std::string admin_url() {
  if (!std::getenv("PGHOST") && !std::getenv("DATABASE_URL_ADMIN"))
    throw std::runtime_error(
        "no PostgreSQL to test against: run the tests through scripts/test (it starts one with pg_virtualenv)");
  const char* admin = std::getenv("DATABASE_URL_ADMIN");
  return admin ? admin : "";
}

}  // namespace

std::string temp_path(const std::string& stem) {
  static std::atomic<int> n{0};
  return "/tmp/granite-test-" + std::to_string(getpid()) + "-" + std::to_string(n++) + "-" + stem;
}

scratch_database::scratch_database(const std::string& encoding) {
  std::random_device rd;
  name_ = "granite_test_" + std::to_string(getpid()) + "_" + std::to_string(rd() % 1000000);
  url_ = "dbname=" + name_;
  pqxx::connection admin(admin_url());
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + name_ + " ENCODING '" + encoding + "' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
}

// WITH (FORCE) ends the database's sessions but not a walsender streaming
// from it (a granite still holding the change stream): that one is ended
// first, and the drop tried again should the stream be taken anew meanwhile.
scratch_database::~scratch_database() {
  std::string why;
  for (int attempt = 0; attempt < 10; ++attempt) {
    try {
      pqxx::connection admin(admin_url());
      pqxx::nontransaction tx(admin);
      tx.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '" + name_ +
              "' AND active_pid IS NOT NULL");
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      return;
    } catch (const std::exception& e) {
      why = e.what();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), why.c_str());
}

std::unique_ptr<store::connection> scratch_database::connect() const {
  return std::make_unique<store::connection>(store::connect_options{url_, 0, 5, "granite test"});
}

std::string scratch_database::query(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

namespace {
void seed_forum(const std::string& url) {
  auto r = run_granite({"seed", "--file", source_path("tests/data/forum.json")}, {{"DATABASE_URL", url}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}
}  // namespace

std::string scratch_database::seeded() const {
  seed_forum(url_);
  return url_;
}

run_result run_granite(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return run_program(GRANITE_BINARY, args, env);
}

run_result run_program(const std::string& path, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env) {
  auto out = temp_path("out"), err = temp_path("err");
  pid_t pid = spawn(path, args, env, out, err);
  int status = 0;
  waitpid(pid, &status, 0);
  run_result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_text(out), read_text(err)};
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

namespace {

// Binds a TCP socket to `port` on loopback (0: one the kernel picks) and
// lets it go: the port it had, or -1 when the bind failed.
int bind_and_release(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : -1;
}

}  // namespace

int free_port() {
  // Not one of the kernel's ephemeral ports: between this check and the
  // server binding the port, any connect() on the machine (the tests beside
  // this one open thousands) may take an ephemeral port as its local end,
  // and the server's bind then fails with EADDRINUSE. A port outside that
  // range is taken only by another test drawing the same one in that window.
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  const int first = 10000;
  const int below = std::max(0, low - first), above = std::max(0, 65535 - high);
  static thread_local std::mt19937 rng{std::random_device{}()};
  if (below + above > 0) {
    std::uniform_int_distribution<int> pick(0, below + above - 1);
    for (int attempt = 0; attempt < 100; ++attempt) {
      int n = pick(rng);
      int port = n < below ? first + n : high + 1 + (n - below);
      if (bind_and_release(port) == port) return port;
    }
  }
  // No room outside the range (or none of it free): a port the kernel picks.
  return bind_and_release(0);
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  auto close_paren = content.rfind(')');
  return close_paren != std::string::npos && content.size() > close_paren + 2 && content[close_paren + 2] != 'Z';
}

std::vector<pid_t> live_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string content;
    if (!std::getline(stat, content)) continue;
    auto close_paren = content.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream fields(content.substr(close_paren + 2));
    std::string state;
    pid_t ppid = 0, group = 0;
    fields >> state >> ppid >> group;
    if (group == pgid && state != "Z") out.push_back(std::stoi(name));
  }
  return out;
}

std::string source_path(const std::string& relative) { return std::string(GRANITE_SOURCE_DIR) + "/" + relative; }

std::string gunzip(const std::string& gz) {
  std::size_t size = 0;  // ISIZE: the last 4 bytes, little-endian
  for (std::size_t i = 0; i < 4 && gz.size() >= 4; ++i)
    size |= static_cast<std::size_t>(static_cast<unsigned char>(gz[gz.size() - 4 + i])) << (8 * i);
  auto* d = libdeflate_alloc_decompressor();
  std::string out(size, '\0');
  std::size_t n = 0;
  auto result = libdeflate_gzip_decompress(d, gz.data(), gz.size(), out.data(), out.size(), &n);
  libdeflate_free_decompressor(d);
  EXPECT_EQ(result, LIBDEFLATE_SUCCESS);
  out.resize(n);
  return out;
}

server::server(options o)
    : port_(free_port()), metrics_port_(free_port()), workers_(o.workers), log_path_(temp_path("server.log")) {
  // A metrics port of its own: tests run side by side.
  std::vector<std::string> args = {"serve",
                                   "--port",
                                   std::to_string(port_),
                                   "--workers",
                                   std::to_string(o.workers),
                                   "--set",
                                   "listen.host=127.0.0.1",
                                   "--set",
                                   "metrics.listen=127.0.0.1:" + std::to_string(metrics_port_),
                                   // Every test client is 127.0.0.1, and tests try wrong
                                   // passwords on purpose: the sign-in limits are off unless a
                                   // test sets them (after this, so that it wins).
                                   "--set",
                                   "auth.attempts_per_minute=0",
                                   "--set",
                                   "auth.account_free_failures=0"};
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  auto env = o.env;
  env.emplace("DATABASE_URL", o.database_url);
  pid_ = spawn(GRANITE_BINARY, args, env, "/dev/null", log_path_);
  if (o.wait_ready && !wait_ready()) ADD_FAILURE() << "granite did not become ready; its log:\n" << log();
}

server::~server() {
  if (pid_ > 0) {
    if (stop(SIGINT, std::chrono::seconds(6)) == -1) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // A failed test shows what granite logged of its warnings and errors:
  // often the only trace of why an answer was what it was.
  if (::testing::Test::HasFailure()) {
    std::istringstream lines(log());
    std::string line, shown;
    int kept = 0;
    while (std::getline(lines, line))
      if ((line.find(" warning [") != std::string::npos || line.find(" error [") != std::string::npos ||
           line.find(" critical [") != std::string::npos) &&
          ++kept <= 200)
        shown += line + "\n";
    if (kept > 0)
      std::cout << "granite's warnings and errors (" << kept << (kept > 200 ? ", the first 200" : "")
                << "):\n" << shown;
  }
  unlink(log_path_.c_str());
}

std::string server::log() const { return read_text(log_path_); }

namespace {
// The leader's live children, and whether each is the change feed (its
// process name says so).
std::vector<std::pair<pid_t, bool>> children_of(pid_t leader) {
  std::vector<std::pair<pid_t, bool>> out;
  std::ifstream children("/proc/" + std::to_string(leader) + "/task/" + std::to_string(leader) + "/children");
  pid_t child;
  while (children >> child) {
    if (!process_alive(child)) continue;
    auto name = read_text("/proc/" + std::to_string(child) + "/comm");
    out.emplace_back(child, name.starts_with("granite-changes"));
  }
  return out;
}
}  // namespace

std::vector<pid_t> server::workers() const {
  std::vector<pid_t> out;
  for (auto [pid, feed] : children_of(pid_))
    if (!feed) out.push_back(pid);
  return out;
}

pid_t server::feed() const {
  for (auto [pid, feed] : children_of(pid_))
    if (feed) return pid;
  return -1;
}

bool server::wait_ready(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        if (pid_ <= 0 || !process_alive(pid_)) return false;
        if (log().find("all " + std::to_string(workers_) + " workers ready") == std::string::npos) return false;
        try {
          if (get(port_, "/health").status != 200) return false;
          // The read cache in use: the change feed has proven the
          // instance's notices current (or the cache is off).
          auto cache = get(port_, "/health/cache");
          return cache.status == 200 && (cache.body.find("\"enabled\":false") != std::string::npos ||
                                         cache.body.find("\"listening\":true") != std::string::npos);
        } catch (const std::exception&) {
          return false;
        }
      },
      timeout);
}

int server::wait_exit(std::chrono::milliseconds timeout) {
  int status = -1;
  bool exited = eventually(
      [&] {
        int s = 0;
        if (waitpid(pid_, &s, WNOHANG) == pid_) {
          status = s;
          return true;
        }
        return false;
      },
      timeout);
  if (!exited) return -1;
  pid_ = -1;
  return status;
}

int server::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  return wait_exit(timeout);
}

}  // namespace granite::testkit

namespace granite::testkit {

namespace {

int run_shell(const std::string& command) {
  std::string line = geteuid() == 0 ? "runuser -u postgres -- " + command : command;
  return std::system(line.c_str());
}

std::string newest_pg_bin() {
  std::string best;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql"))
    if (std::filesystem::exists(entry.path() / "bin/initdb") && entry.path().string() > best)
      best = entry.path().string();
  if (best.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql");
  return best + "/bin";
}

}  // namespace

own_postgres::own_postgres(std::vector<std::string> settings) : port_(free_port()), settings_(std::move(settings)) {
  dir_ = temp_path("pg");
  bin_ = newest_pg_bin();
  std::filesystem::create_directories(dir_);
  if (geteuid() == 0) std::system(("chown postgres: " + dir_).c_str());
  if (run_shell(bin_ + "/initdb -D " + dir_ + "/data -U granite --auth=trust -E UTF8 --locale=C.UTF-8 >" + dir_ +
                "/initdb.log 2>&1") != 0)
    throw std::runtime_error("initdb failed: " + read_text(dir_ + "/initdb.log"));
  start();
  url_ = "host=127.0.0.1 port=" + std::to_string(port_) + " user=granite dbname=granite";
  pqxx::connection admin("host=127.0.0.1 port=" + std::to_string(port_) + " user=granite dbname=postgres");
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE granite");
}

own_postgres::own_postgres(standby_of from, std::vector<std::string> settings)
    : port_(free_port()), settings_(std::move(settings)) {
  dir_ = temp_path("pg");
  bin_ = newest_pg_bin();
  std::filesystem::create_directories(dir_);
  if (geteuid() == 0) std::system(("chown postgres: " + dir_).c_str());
  if (run_shell(bin_ + "/pg_basebackup -h 127.0.0.1 -p " + std::to_string(from.primary.port()) +
                " -U granite -R -X stream -c fast -D " + dir_ + "/data >" + dir_ + "/basebackup.log 2>&1") != 0)
    throw std::runtime_error("pg_basebackup failed: " + read_text(dir_ + "/basebackup.log"));
  start();
  url_ = "host=127.0.0.1 port=" + std::to_string(port_) + " user=granite dbname=granite";
}

std::string own_postgres::seeded() const {
  seed_forum(url_);
  return url_;
}

own_postgres::~own_postgres() {
  run_shell(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1");
  std::filesystem::remove_all(dir_);
}

void own_postgres::start(const std::vector<std::string>& once) {
  std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_;
  std::vector<std::string> all = settings_;
  all.insert(all.end(), once.begin(), once.end());
  for (const auto& s : all) options += " -c " + s;
  if (run_shell(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -o '" + options + "' start >/dev/null") != 0)
    throw std::runtime_error("pg_ctl start failed: " + read_text(dir_ + "/log"));
}

void own_postgres::stop() {
  if (run_shell(bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop >/dev/null") != 0)
    throw std::runtime_error("pg_ctl stop failed");
}

void own_postgres::crash() {
  if (run_shell(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null") != 0)
    throw std::runtime_error("pg_ctl stop -m immediate failed");
}

void own_postgres::freeze(bool frozen) {
  // The postmaster's pid is the first line of postmaster.pid; its children
  // are every backend and background process.
  auto pid = read_text(dir_ + "/data/postmaster.pid");
  pid = pid.substr(0, pid.find('\n'));
  std::string sig = frozen ? "STOP" : "CONT";
  if (run_shell("kill -" + sig + " " + pid + " $(pgrep -P " + pid + ")") != 0)
    throw std::runtime_error("cannot send SIG" + sig + " to the cluster's processes");
}

void own_postgres::promote() {
  if (run_shell(bin_ + "/pg_ctl -D " + dir_ + "/data -w promote >/dev/null") != 0)
    throw std::runtime_error("pg_ctl promote failed: " + read_text(dir_ + "/log"));
}

bool own_pgbouncer::installed() { return std::filesystem::exists("/usr/sbin/pgbouncer"); }

own_pgbouncer::own_pgbouncer(const own_postgres& pg, int pool_size) {
  int port = free_port();
  dir_ = temp_path("pgbouncer");
  std::filesystem::create_directories(dir_);
  {
    std::ofstream users(dir_ + "/users.txt");
    users << "\"granite\" \"\"\n";
    std::ofstream ini(dir_ + "/pgbouncer.ini");
    ini << "[databases]\ngranite = host=127.0.0.1 port=" << pg.port() << " dbname=granite\n"
        << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << port << "\nunix_socket_dir =\n"
        << "auth_type = trust\nauth_file = " << dir_ << "/users.txt\npool_mode = transaction\n"
        << "default_pool_size = " << pool_size << "\nmax_client_conn = 500\n"
        << "logfile = " << dir_ << "/pgbouncer.log\npidfile = " << dir_ << "/pgbouncer.pid\n";
  }
  if (geteuid() == 0) std::system(("chown -R postgres: " + dir_).c_str());
  if (run_shell("/usr/sbin/pgbouncer -d " + dir_ + "/pgbouncer.ini >" + dir_ + "/start.log 2>&1") != 0)
    throw std::runtime_error("pgbouncer did not start: " + read_text(dir_ + "/start.log") + log());
  url_ = "host=127.0.0.1 port=" + std::to_string(port) + " user=granite dbname=granite";
  if (!eventually([&] {
        try {
          pqxx::connection c(url_);
          return true;
        } catch (const std::exception&) {
          return false;
        }
      }))
    throw std::runtime_error("pgbouncer does not answer: " + log());
}

own_pgbouncer::~own_pgbouncer() {
  auto pid = read_text(dir_ + "/pgbouncer.pid");
  if (!pid.empty()) {
    pid_t p = std::stoi(pid);
    kill(p, SIGTERM);
    eventually([&] { return !process_alive(p); });
  }
  std::filesystem::remove_all(dir_);
}

std::string own_pgbouncer::log() const { return read_text(dir_ + "/pgbouncer.log"); }

void own_postgres::require_passwords(const std::string& password) {
  query("ALTER ROLE granite PASSWORD '" + password + "'");
  std::string hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
                    "host replication all 127.0.0.1/32 scram-sha-256\n";
  std::ofstream(dir_ + "/data/pg_hba.conf") << hba;
  query("SELECT pg_reload_conf()");
}

std::string own_postgres::query(const std::string& sql) const {
  pqxx::connection c("host=" + dir_ + " port=" + std::to_string(port_) + " user=granite dbname=granite");
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
}

}  // namespace granite::testkit
