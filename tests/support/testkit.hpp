#pragma once

// Test helpers: a scratch database per test process, the real granite binary
// as a child process, and what they need. Everything runs against the
// PostgreSQL that scripts/test starts with pg_virtualenv (libpq defaults).
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "granite/store/connection.hpp"

namespace granite::testkit {

// A database of its own (UTF-8), dropped when the object goes.
class scratch_database {
 public:
  explicit scratch_database(const std::string& encoding = "UTF8");
  ~scratch_database();
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  // A libpq keyword string naming this database; libpq's defaults (PGHOST,
  // PGPORT, PGUSER, PGPASSWORD) supply the rest.
  const std::string& url() const { return url_; }
  std::unique_ptr<store::connection> connect() const;
  // Runs SQL and returns the first column of the first row ("" when none).
  std::string query(const std::string& sql) const;
  // Loads tests/data/forum.json with `granite seed` (the test fails if it
  // cannot) and returns url().
  std::string seeded() const;

 private:
  std::string name_;
  std::string url_;
};

struct run_result {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs build/granite with arguments and extra environment; waits for it.
run_result run_granite(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});
// The same for any program (found on PATH when `path` has no slash).
run_result run_program(const std::string& path, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {});

// A free TCP port on loopback (bound and released), outside the kernel's
// ephemeral range so that no outgoing connection takes it before it is used.
int free_port();

// `granite serve` as a child process with its stderr kept in a file.
class server {
 public:
  struct options {
    std::string database_url{};
    int workers = 2;
    std::vector<std::string> extra_args{};
    std::map<std::string, std::string> env{};
    bool wait_ready = true;
  };
  explicit server(options o);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // metrics.listen, on loopback
  pid_t pid() const { return pid_; }
  std::string log() const;
  // The leader's live workers (its children but the change feed).
  std::vector<pid_t> workers() const;
  // The instance's change feed process; -1: none.
  pid_t feed() const;
  // Waits until /health answers 200, every worker reported ready and the
  // read cache is in use (unless it is off).
  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Sends sig and waits for the leader to exit; returns its waitpid status,
  // or -1 if it did not exit in time.
  int stop(int sig, std::chrono::milliseconds timeout);
  // Waits for the leader to exit by itself.
  int wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }

 private:
  int port_;
  int metrics_port_;
  pid_t pid_ = -1;
  int workers_;
  std::string log_path_;
};

// Waits until pred() holds or the timeout passes; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    struct timespec ts {0, 10'000'000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

bool process_alive(pid_t pid);  // exists and is not a zombie

// Live (non-zombie) processes of a process group. Zombies are left out: an
// orphaned one waits only for init to reap it.
std::vector<pid_t> live_group_members(pid_t pgid);

// The path of a file in the source tree.
std::string source_path(const std::string& relative);

// The bytes a gzip member inflates to (its trailer gives their size); fails
// the test when it does not inflate.
std::string gunzip(const std::string& gz);
// A fresh path under /tmp, unique to this process and call.
std::string temp_path(const std::string& stem);

}  // namespace granite::testkit

namespace granite::testkit {

// A PostgreSQL cluster of the test's own (initdb in a temporary directory,
// TCP on a free loopback port), that the test may stop and start: for
// database outages and failovers. Runs as the postgres user when the test
// runs as root. `settings` ("name=value") apply at every start.
class own_postgres {
 public:
  explicit own_postgres(std::vector<std::string> settings = {});
  // A streaming standby of `primary` (pg_basebackup -R), started.
  struct standby_of {
    const own_postgres& primary;
  };
  own_postgres(standby_of from, std::vector<std::string> settings = {});
  ~own_postgres();
  own_postgres(const own_postgres&) = delete;
  own_postgres& operator=(const own_postgres&) = delete;

  // `once`: settings for this start only.
  void start(const std::vector<std::string>& once = {});
  void stop();   // fast shutdown: sessions are cut off
  void crash();  // immediate shutdown: as a host that dies
  void promote();  // a standby becomes a primary (returns once it is)
  // Stops (SIGSTOP) or resumes every process of the cluster: a server that
  // hangs with its connections open, as behind a network partition.
  void freeze(bool frozen);
  // From now on a TCP connection must give the role's password (SCRAM);
  // the test's own queries go through the Unix socket, which still trusts.
  void require_passwords(const std::string& password);
  int port() const { return port_; }
  const std::string& url() const { return url_; }
  // As scratch_database::seeded().
  std::string seeded() const;
  // The first column of the first row (empty for none or NULL), on a
  // connection of its own to the granite database.
  std::string query(const std::string& sql) const;

 private:
  std::string dir_, bin_, url_;
  int port_;
  std::vector<std::string> settings_;
};

// Debian's PgBouncer in front of an own_postgres, in transaction pooling
// with `pool_size` server connections: each transaction may run on any of
// them. Runs as the postgres user when the test runs as root.
class own_pgbouncer {
 public:
  own_pgbouncer(const own_postgres& pg, int pool_size);
  ~own_pgbouncer();
  own_pgbouncer(const own_pgbouncer&) = delete;
  own_pgbouncer& operator=(const own_pgbouncer&) = delete;

  static bool installed();
  const std::string& url() const { return url_; }
  std::string log() const;

 private:
  std::string dir_, url_;
};

}  // namespace granite::testkit
