#include "posts.hpp"

#include "../json.hpp"

namespace granite::posts {

namespace {
nlohmann::ordered_json object(const post& p) {
  return {{"thread", p.thread}, {"text", p.text}, {"user", p.user}, {"id", p.id}, {"createdAt", p.created_at}};
}
}  // namespace

result<post> find(store::connection& c, std::int64_t id) {
  if (auto found = select_by_id(c, id)) return std::move(*found);
  return not_found("no post with id " + std::to_string(id));
}

result<std::vector<post>> in_thread(store::connection& c, std::int64_t thread_id, const features::page& p) {
  if (auto found = select_in_thread(c, thread_id, p.after, p.rows_to_read())) return std::move(*found);
  return not_found("no thread with id " + std::to_string(thread_id));
}

result<std::vector<post>> by_user(store::connection& c, std::int64_t user_id, const features::page& p) {
  if (auto found = select_by_user(c, user_id, p.after, p.rows_to_read())) return std::move(*found);
  return not_found("no user with id " + std::to_string(user_id));
}

std::string to_json(const post& p) { return object(p).dump(); }

std::string to_json(const std::vector<post>& posts) { return features::json_array(posts, object); }

}  // namespace granite::posts
