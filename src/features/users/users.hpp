#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "granite/error.hpp"
#include "granite/features/features.hpp"

namespace granite::users {

struct user {
  std::int64_t id;
  std::string username;
  std::string name;
  std::string bio;
};

// Logic (users.cpp)
result<user> find(store::connection& c, std::int64_t id);
std::vector<user> list(store::connection& c);
// {"id","username","name","bio"}: the original API's fields, in its order.
std::string to_json(const user& u);
std::string to_json(const std::vector<user>& users);

// SQL (users_store.cpp)
void prepare(store::connection& c);
std::optional<user> select_by_id(store::connection& c, std::int64_t id);
std::vector<user> select_all(store::connection& c);

// HTTP (users_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::users
