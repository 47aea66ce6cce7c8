#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"

namespace granite::posts {

struct post {
  std::int64_t id;
  std::int64_t thread;
  std::string text;
  std::int64_t user;
  std::string created_at;  // RFC 3339, UTC
};

// Logic (posts.cpp). Lists are in creation order, a page at a time; a
// missing thread or user is not_found (an existing one without posts is an
// empty list).
result<post> find(store::connection& c, std::int64_t id);
result<std::vector<post>> in_thread(store::connection& c, std::int64_t thread_id, const features::page& p);
result<std::vector<post>> by_user(store::connection& c, std::int64_t user_id, const features::page& p);
// {"thread","text","user"} as the original API, then "id" and "createdAt".
std::string to_json(const post& p);
std::string to_json(const std::vector<post>& posts);

// SQL (posts_store.cpp): nullopt when the thread or user does not exist.
// The *_owned writes touch only a post of `owner`.
std::span<const store::statement> statements();
std::optional<post> select_by_id(store::connection& c, std::int64_t id);
std::optional<std::vector<post>> select_in_thread(store::connection& c, std::int64_t thread_id, std::int64_t after,
                                                  std::int64_t rows);
std::optional<std::vector<post>> select_by_user(store::connection& c, std::int64_t user_id, std::int64_t after,
                                                std::int64_t rows);
std::optional<std::int64_t> select_owner(store::connection& c, std::int64_t id);
// invalid_argument when the thread does not exist, unauthenticated when the
// account was deleted meanwhile.
result<post> insert(store::connection& c, std::int64_t thread_id, std::int64_t owner, const std::string& text);
std::optional<post> update_owned(store::connection& c, std::int64_t id, std::int64_t owner, const std::string& text);
std::optional<post> delete_owned(store::connection& c, std::int64_t id, std::int64_t owner);

// HTTP (posts_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::posts
