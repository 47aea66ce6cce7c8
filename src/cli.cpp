#include "granite/cli.hpp"

#include <algorithm>

namespace granite::cli {

const char* usage() {
  return R"(usage: granite <command> [options]

commands:
  serve          run the leader and its workers (migrates first unless database.migrate is false)
  migrate        apply the database migrations and exit
  seed --file F  load a forum in the original db.json shape, all or nothing
  seed --synthetic users=N,threads=N,posts=N
                 generate a forum of that size inside PostgreSQL (benchmarks)
                 --replace   empty users, threads, posts and sessions first
                 --if-empty  do nothing when the database already holds data
  notices        say whether the change-notice triggers are on, and who follows them
  notices off    turn them off once every instance follows the change stream (writers then
                 commit without the database-wide notification lock); refused while any
                 instance follows the notices, unless --force
  notices on     turn them back on (an instance on cache.changes=notify, a rollback)
  grant moderator USERNAME
                 make the account a moderator (remove and restore posts and threads, lock and
                 unlock threads, read the moderation log); from its next request
  revoke moderator USERNAME
                 take the role back
  moderators     list the moderators
  check-config   validate the configuration and print it as JSON
  version        print the version and the schema version
  statements     print the prepared SQL statements as JSON, {name: SQL} (for tools: scripts/bench)
  help           print this text

options (any command):
  --config F        configuration file (default: built-in defaults; env GRANITE_CONFIG)
  --port N          listen.port
  --workers N       workers (0: one per online CPU)
  --set KEY=VALUE   any configuration key, e.g. --set log.level=debug

The database comes from DATABASE_URL (a libpq URI or keyword string); when it
is empty, libpq's own defaults apply (PGHOST, PGPORT, PGUSER, PGDATABASE ...).
)";
}

invocation parse(const std::vector<std::string>& args) {
  invocation out;
  bool role = false;  // grant|revoke named the role
  auto value_of = [&](std::size_t& i, const std::string& flag) -> std::string {
    if (i + 1 >= args.size()) throw usage_error(flag + " needs a value");
    return args[++i];
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out.command = "help";
      return out;
    }
    if (a == "--version") {
      out.command = "version";
      return out;
    }
    if (a == "--config") {
      out.overrides.file = value_of(i, a);
    } else if (a == "--port") {
      out.overrides.set.push_back({"listen.port", value_of(i, a), a});
    } else if (a == "--workers") {
      out.overrides.set.push_back({"workers", value_of(i, a), a});
    } else if (a == "--set") {
      auto kv = value_of(i, a);
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw usage_error("--set takes KEY=VALUE, got \"" + kv + "\"");
      out.overrides.set.push_back({kv.substr(0, eq), kv.substr(eq + 1), "--set " + kv});
    } else if (a == "--file") {
      out.seed_file = value_of(i, a);
    } else if (a == "--synthetic") {
      out.synthetic = value_of(i, a);
    } else if (a == "--replace" || a == "--if-empty") {
      auto mode = a == "--replace" ? store::seed_mode::replace : store::seed_mode::if_empty;
      if (out.seed_mode != store::seed_mode::add && out.seed_mode != mode)
        throw usage_error("--replace and --if-empty exclude each other");
      out.seed_mode = mode;
    } else if (a == "--force") {
      out.force = true;
    } else if (a.starts_with("-")) {
      throw usage_error("unknown option " + a);
    } else if (out.command.empty()) {
      out.command = a;
    } else if (out.command == "notices" && !out.notices_on && (a == "on" || a == "off")) {
      out.notices_on = a == "on";
    } else if ((out.command == "grant" || out.command == "revoke") && !role) {
      if (a != "moderator") throw usage_error(out.command + " knows one role, moderator; got \"" + a + "\"");
      role = true;
    } else if ((out.command == "grant" || out.command == "revoke") && out.username.empty()) {
      if (a.empty()) throw usage_error(out.command + " moderator needs a username");
      out.username = a;
    } else {
      throw usage_error("unexpected argument \"" + a + "\"");
    }
  }
  static const std::vector<std::string> commands = {"serve", "migrate", "seed", "notices", "grant", "revoke",
                                                     "moderators", "check-config", "version", "statements", "help"};
  if (out.command.empty()) throw usage_error("no command given");
  if (std::find(commands.begin(), commands.end(), out.command) == commands.end())
    throw usage_error("unknown command \"" + out.command + "\"");
  if (out.command == "seed" && !out.seed_file && !out.synthetic)
    throw usage_error("seed needs --file F or --synthetic users=N,threads=N,posts=N");
  if (out.seed_file && out.synthetic) throw usage_error("--file and --synthetic exclude each other");
  if (out.command != "seed" && (out.seed_file || out.synthetic || out.seed_mode != store::seed_mode::add))
    throw usage_error("--file, --synthetic, --replace and --if-empty belong to the seed command");
  if ((out.command == "grant" || out.command == "revoke") && out.username.empty())
    throw usage_error(out.command + " needs a role and a username: granite " + out.command + " moderator USERNAME");
  if (out.force && !(out.command == "notices" && out.notices_on == false))
    throw usage_error("--force belongs to notices off");
  return out;
}

}  // namespace granite::cli
