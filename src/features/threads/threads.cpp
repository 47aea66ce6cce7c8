#include "threads.hpp"

#include "../body.hpp"

namespace granite::threads {

result<std::string> read_title(const http::request& req) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  auto title = body->text("title", {1, 200, true}, true);
  if (auto refused = body->finish()) return *refused;
  return std::move(*title);
}

void write_thread(features::json_text& out, std::string_view id, std::string_view title, std::string_view created_by,
                  std::optional<std::string_view> updated_at, moderated m, features::audience who) {
  bool tombstone = m.removed && who == features::audience::everyone;
  out.begin_object();
  out.key("id").integer_text(id);
  if (tombstone) {
    out.key("title").null();
    out.key("createdBy").null();
  } else {
    out.key("title").string(title);
    out.key("createdBy").integer_text(created_by);
  }
  if (updated_at) out.key("updatedAt").string_or_null(*updated_at);
  if (m.removed) out.key("removed").boolean(true);
  if (m.locked) out.key("locked").boolean(true);
  out.end_object();
}

std::string to_json(const thread& t) {
  std::string body;
  features::json_text out(body);
  write_thread(out, std::to_string(t.id), t.title, std::to_string(t.created_by), t.updated_at);
  return body;
}

}  // namespace granite::threads
