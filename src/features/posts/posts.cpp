#include "posts.hpp"

#include "../json.hpp"

namespace granite::posts {

result<std::vector<post>> in_thread(store::connection& c, std::int64_t thread_id) {
  if (auto found = select_in_thread(c, thread_id)) return std::move(*found);
  return not_found("no thread with id " + std::to_string(thread_id));
}

result<std::vector<post>> by_user(store::connection& c, std::int64_t user_id) {
  if (auto found = select_by_user(c, user_id)) return std::move(*found);
  return not_found("no user with id " + std::to_string(user_id));
}

std::string to_json(const std::vector<post>& posts) {
  return features::json_array(posts, [](const post& p) -> nlohmann::ordered_json {
    return {{"thread", p.thread}, {"text", p.text}, {"user", p.user}, {"id", p.id}};
  });
}

}  // namespace granite::posts
