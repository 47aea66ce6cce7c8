#include "users.hpp"

#include "../json.hpp"

namespace granite::users {

namespace {
nlohmann::ordered_json object(const user& u) {
  return {{"id", u.id}, {"username", u.username}, {"name", u.name}, {"bio", u.bio}};
}
}  // namespace

result<user> find(store::connection& c, std::int64_t id) {
  if (auto u = select_by_id(c, id)) return std::move(*u);
  return not_found("no user with id " + std::to_string(id));
}

std::vector<user> list(store::connection& c) { return select_all(c); }

std::string to_json(const user& u) { return object(u).dump(); }

std::string to_json(const std::vector<user>& users) { return features::json_array(users, object); }

}  // namespace granite::users
