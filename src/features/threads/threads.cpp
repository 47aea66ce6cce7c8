#include "threads.hpp"

#include <nlohmann/json.hpp>

namespace granite::threads {

namespace {
nlohmann::ordered_json object(const thread& t) {
  return {{"id", t.id}, {"title", t.title}, {"createdBy", t.created_by}};
}
}  // namespace

result<thread> find(store::connection& c, std::int64_t id) {
  if (auto t = select_by_id(c, id)) return std::move(*t);
  return not_found("no thread with id " + std::to_string(id));
}

std::vector<thread> list(store::connection& c) { return select_all(c); }

std::string to_json(const thread& t) { return object(t).dump(); }

std::string to_json(const std::vector<thread>& threads) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& t : threads) out.push_back(object(t));
  return out.dump();
}

}  // namespace granite::threads
