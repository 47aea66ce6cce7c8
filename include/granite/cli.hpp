#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "granite/config/config.hpp"
#include "granite/store/seed.hpp"

namespace granite::cli {

class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct invocation {
  // serve, migrate, seed, notices, grant, revoke, moderators, check-config, version, statements, help
  std::string command;
  std::optional<bool> notices_on;  // notices on|off; none: say how they stand
  bool force = false;              // notices off --force
  std::string username;            // grant moderator USERNAME, revoke moderator USERNAME
  config::overrides overrides;
  std::optional<std::string> seed_file;
  std::optional<std::string> synthetic;  // seed --synthetic users=N,threads=N,posts=N
  store::seed_mode seed_mode = store::seed_mode::add;
  std::vector<std::string> args{};  // as given, for a binary upgrade to run again
};

// Parses argv (without argv[0]). Throws usage_error with a one-line reason.
invocation parse(const std::vector<std::string>& args);

const char* usage();

}  // namespace granite::cli
