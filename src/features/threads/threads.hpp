#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
std::vector<thread> list(store::connection& c);
// {"id","title","createdBy"}: the original API's fields, in its order.
std::string to_json(const thread& t);
std::string to_json(const std::vector<thread>& threads);

// SQL (threads_store.cpp)
void prepare(store::connection& c);
std::optional<thread> select_by_id(store::connection& c, std::int64_t id);
std::vector<thread> select_all(store::connection& c);

// HTTP (threads_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::threads
