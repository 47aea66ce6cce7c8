#pragma once

// Roles, given and taken on the command line only (`granite grant
// moderator USERNAME`, `granite revoke moderator USERNAME`): no route makes
// anyone a moderator, so a stolen session cannot raise itself. The role
// counts from the next request: granite asks the primary at each moderator
// action.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace granite::store {

class connection;

struct role_change {
  std::optional<std::int64_t> user;  // none: no account has that username
  bool changed = false;              // false: it had (grant) or lacked (revoke) the role already
};

// The username as a client signs in with it: regardless of case.
role_change grant_moderator(connection& c, const std::string& username);
role_change revoke_moderator(connection& c, const std::string& username);

// The moderators, with their usernames, oldest grant first.
std::vector<std::string> moderators(connection& c);

}  // namespace granite::store
