#include "threads.hpp"

#include "../json.hpp"

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

std::vector<thread> list(store::connection& c, const features::page& p) {
  return select_page(c, p.after, p.rows_to_read());
}

std::string to_json(const thread& t) { return object(t).dump(); }

std::string to_json(const std::vector<thread>& threads) { return features::json_array(threads, object); }

}  // namespace granite::threads
