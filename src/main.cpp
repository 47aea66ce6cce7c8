// granite: parse and validate the configuration, then run one command.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "granite/cli.hpp"
#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/features/features.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/connection.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/notice_triggers.hpp"
#include "granite/store/roles.hpp"
#include "granite/store/seed.hpp"
#include "granite/supervisor/listen_sockets.hpp"
#include "granite/supervisor/supervisor.hpp"
#include "granite/supervisor/upgrade.hpp"
#include "granite/version.hpp"

namespace {

using namespace granite;

// Migrations, seeds and `notices` hold a session (an advisory lock, SET
// LOCAL, a transaction of their own): never through a transaction pooler.
store::connect_options connect_options(const config::config& cfg, const char* role) {
  return {cfg.session_url(), cfg.database.statement_timeout_ms, cfg.database.connect_timeout_s,
          std::string("granite ") + role};
}

void migrate_now(const config::config& cfg, const char* role) {
  store::connection c(connect_options(cfg, role));
  auto report = store::migrate(c);
  if (report.applied.empty())
    spdlog::info("database schema is at version {}", report.to);
  else
    spdlog::info("database schema migrated from version {} to {}", report.from, report.to);
}

// The SQL that the features prepare, for tools that run the same statements
// (scripts/bench gives them to pgbench).
std::string statements_json() {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& s : features::statements()) out[s.name] = s.sql;
  return out.dump(2);
}

// Every connection is a descriptor: take all that the hard limit allows
// (systemd's LimitNOFILE= sets it), before the workers inherit it.
void raise_open_files_limit() {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == nofile.rlim_max) return;
  nofile.rlim_cur = nofile.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) spdlog::warn("cannot raise the open files limit");
}

int serve(const config::config& cfg, const supervisor::config_source& source) {
  obs::init_leader(cfg.log.level);
  for (const auto& w : cfg.warnings) spdlog::warn("config: {}", w);
  raise_open_files_limit();
  // The leader's database connection lives only for the migration: it holds
  // none while workers run.
  if (cfg.database.migrate) migrate_now(cfg, "leader");
  auto handed = supervisor::take_inherited_sockets(source.environment);
  std::vector<int> fds = handed.fds;
  if (fds.empty()) {
    fds = supervisor::open_listen_sockets(cfg.listen.host, cfg.listen.port, cfg.listen.backlog, cfg.worker_count());
  } else {
    spdlog::info("using {} inherited listening sockets{}", fds.size(),
                 handed.upgrade_from ? " from leader pid=" + std::to_string(handed.upgrade_from) : std::string());
    while (fds.size() < static_cast<std::size_t>(cfg.worker_count()))
      fds.push_back(supervisor::add_listen_socket(cfg.listen.host, cfg.listen.port, cfg.listen.backlog));
    while (fds.size() > static_cast<std::size_t>(cfg.worker_count())) {
      close(fds.back());
      fds.pop_back();
    }
  }
  return supervisor::run_leader(cfg, source, fds, handed.upgrade_from);
}

int seed(const config::config& cfg, const cli::invocation& inv) {
  obs::init_tool(cfg.log.level);
  auto started = std::chrono::steady_clock::now();
  std::optional<store::seed_data> data;
  std::optional<store::synthetic_spec> spec;
  if (inv.synthetic)
    spec = store::parse_synthetic(*inv.synthetic);
  else
    data = store::read_seed_file(*inv.seed_file);
  std::string source = inv.synthetic ? "--synthetic " + *inv.synthetic : *inv.seed_file;
  store::connection c(connect_options(cfg, "seed"));
  store::migrate(c);
  auto report = spec ? store::load_synthetic(c, *spec, inv.seed_mode) : store::load_seed(c, *data, inv.seed_mode);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (report.skipped)
    spdlog::info("the database already holds data; {} not loaded (--if-empty)", source);
  else
    spdlog::info("seeded {} users, {} threads and {} posts from {} in {} ms", report.users, report.threads,
                 report.posts, source, ms);
  return exit_code::ok;
}

// granite notices [on|off [--force]]: the change-notice triggers
// (store/notice_triggers.hpp).
int notices(const config::config& cfg, const cli::invocation& inv) {
  obs::init_tool(cfg.log.level);
  store::connection c(connect_options(cfg, "notices"));
  store::require_current_schema(c);
  auto state = store::notices_of(c);
  auto followers = [&] {
    std::string out;
    for (const auto& f : state.followers) out += "\n  " + f;
    return out;
  };
  if (!inv.notices_on) {
    std::cout << "change-notice triggers: "
              << (state.enabled == store::notice_trigger_count ? "on" : state.enabled == 0 ? "off" : "partly on")
              << " (" << state.enabled << " of " << store::notice_trigger_count << " enabled)\n";
    std::cout << "sessions following them: " << state.followers.size() << followers() << "\n";
    return exit_code::ok;
  }
  if (!*inv.notices_on && !state.followers.empty() && !inv.force) {
    spdlog::error("not turning the notices off: {} sessions follow them, and their instances' caches would go "
                  "stale (stop them, or set cache.changes to auto or stream where the database streams; --force "
                  "turns them off anyway):{}",
                  state.followers.size(), followers());
    return exit_code::unavailable;
  }
  store::set_notices(c, *inv.notices_on);
  spdlog::info(*inv.notices_on ? "change-notice triggers on: every change notifies in its own transaction again"
                               : "change-notice triggers off: writers no longer take the notification lock at commit");
  return exit_code::ok;
}

// granite grant|revoke moderator USERNAME, granite moderators
// (store/roles.hpp).
int roles(const config::config& cfg, const cli::invocation& inv) {
  obs::init_tool(cfg.log.level);
  store::connection c(connect_options(cfg, "roles"));
  store::require_current_schema(c);
  if (inv.command == "moderators") {
    auto all = store::moderators(c);
    std::cout << all.size() << (all.size() == 1 ? " moderator" : " moderators") << "\n";
    for (const auto& m : all) std::cout << "  " << m << "\n";
    return exit_code::ok;
  }
  bool grant = inv.command == "grant";
  auto done = grant ? store::grant_moderator(c, inv.username) : store::revoke_moderator(c, inv.username);
  if (!done.user) {
    spdlog::error("no account has the username \"{}\"", inv.username);
    return exit_code::no_user;
  }
  if (!done.changed)
    spdlog::info("{} (user {}) {} a moderator already", inv.username, *done.user, grant ? "is" : "is not");
  else
    spdlog::info("{} (user {}) {} a moderator", inv.username, *done.user, grant ? "is now" : "is no longer");
  return exit_code::ok;
}

int run(const cli::invocation& inv) {
  if (inv.command == "help") {
    std::cout << cli::usage();
    return exit_code::ok;
  }
  if (inv.command == "version") {
    std::cout << "granite " << granite::version << " (schema " << store::latest_schema_version() << ")\n";
    return exit_code::ok;
  }
  if (inv.command == "statements") {
    std::cout << statements_json() << "\n";
    return exit_code::ok;
  }

  config::config cfg;
  const supervisor::config_source source{inv.overrides, config::process_environment(),
                                         supervisor::current_executable(), inv.args};
  try {
    cfg = config::load(source.flags, source.environment);
  } catch (const config::config_error& e) {
    std::cerr << "granite: " << e.what() << "\n";
    return exit_code::config;
  }

  try {
    if (inv.command == "check-config") {
      for (const auto& w : cfg.warnings) std::cerr << "granite: config: " << w << "\n";
      std::cout << config::to_json(cfg) << "\n";
      std::cerr << "granite: configuration is valid (" << cfg.worker_count() << " workers)\n";
      return exit_code::ok;
    }
    if (inv.command == "migrate") {
      obs::init_tool(cfg.log.level);
      migrate_now(cfg, "migrate");
      return exit_code::ok;
    }
    if (inv.command == "seed") return seed(cfg, inv);
    if (inv.command == "notices") return notices(cfg, inv);
    if (inv.command == "grant" || inv.command == "revoke" || inv.command == "moderators") return roles(cfg, inv);
    return serve(cfg, source);
  } catch (const store::seed_error& e) {
    spdlog::error("seed refused, nothing was loaded: {}", e.what());
    return exit_code::data_error;
  } catch (const store::unavailable& e) {
    spdlog::error("{}", e.what());
    return exit_code::unavailable;
  } catch (const store::schema_error& e) {
    spdlog::error("{}", e.what());
    return exit_code::config;
  } catch (const supervisor::listen_error& e) {
    spdlog::error("{}", e.what());
    return exit_code::os_error;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return exit_code::software;
  }
}

}  // namespace

int main(int argc, char** argv) {
  granite::cli::invocation inv;
  try {
    inv = granite::cli::parse(std::vector<std::string>(argv + 1, argv + argc));
    inv.args.assign(argv + 1, argv + argc);
  } catch (const granite::cli::usage_error& e) {
    std::cerr << "granite: " << e.what() << "\n\n" << granite::cli::usage();
    return granite::exit_code::usage;
  }
  return run(inv);
}
