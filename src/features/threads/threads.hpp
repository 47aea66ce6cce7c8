#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"

namespace granite::threads {

struct thread {
  std::int64_t id;
  std::string title;
  std::int64_t created_by;
};

// Logic (threads.cpp)
result<thread> find(store::connection& c, std::int64_t id);
std::vector<thread> list(store::connection& c, const features::page& p);
// {"id","title","createdBy"}: the original API's fields, in its order.
std::string to_json(const thread& t);
std::string to_json(const std::vector<thread>& threads);

// SQL (threads_store.cpp). The *_owned writes touch only a thread of `owner`.
std::span<const store::statement> statements();
std::optional<thread> select_by_id(store::connection& c, std::int64_t id);
std::vector<thread> select_page(store::connection& c, std::int64_t after, std::int64_t rows);
std::optional<std::int64_t> select_owner(store::connection& c, std::int64_t id);
// unauthenticated when the account was deleted meanwhile.
result<thread> insert(store::connection& c, const std::string& title, std::int64_t owner);
std::optional<thread> update_owned(store::connection& c, std::int64_t id, std::int64_t owner, const std::string& title);
std::optional<thread> delete_owned(store::connection& c, std::int64_t id, std::int64_t owner);

// HTTP (threads_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::threads
