#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "granite/error.hpp"
#include "granite/features/features.hpp"

namespace granite::posts {

struct post {
  std::int64_t id;
  std::int64_t thread;
  std::string text;
  std::int64_t user;
};

// Logic (posts.cpp). Lists are in creation order; a missing thread or user
// is not_found (an existing one without posts is an empty list).
result<std::vector<post>> in_thread(store::connection& c, std::int64_t thread_id);
result<std::vector<post>> by_user(store::connection& c, std::int64_t user_id);
// {"thread","text","user"} as the original API, then "id".
std::string to_json(const std::vector<post>& posts);

// SQL (posts_store.cpp): nullopt when the thread or user does not exist.
void prepare(store::connection& c);
std::optional<std::vector<post>> select_in_thread(store::connection& c, std::int64_t thread_id);
std::optional<std::vector<post>> select_by_user(store::connection& c, std::int64_t user_id);

// HTTP (posts_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::posts
