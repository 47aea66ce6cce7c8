#include "posts.hpp"

#include "../body.hpp"

namespace granite::posts {

namespace {
constexpr features::text_rule text_rule{1, 10000, true};
}  // namespace

result<new_post> read_new_post(const http::request& req) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  auto thread = body->id("thread", true);
  auto text = body->text("text", text_rule, true);
  if (auto refused = body->finish()) return *refused;
  return new_post{*thread, std::move(*text)};
}

result<std::string> read_text(const http::request& req) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  auto text = body->text("text", text_rule, true);
  if (auto refused = body->finish()) return *refused;
  return std::move(*text);
}

void write_post(features::json_text& out, std::string_view id, std::string_view thread, std::string_view text,
                std::string_view user, std::string_view created_at, std::optional<std::string_view> updated_at,
                bool removed, features::audience who) {
  bool tombstone = removed && who == features::audience::everyone;
  out.begin_object();
  out.key("thread").integer_text(thread);
  if (tombstone) {
    out.key("text").null();
    out.key("user").null();
  } else {
    out.key("text").string(text);
    out.key("user").integer_text(user);
  }
  out.key("id").integer_text(id);
  out.key("createdAt").string(created_at);
  if (updated_at) out.key("updatedAt").string_or_null(*updated_at);
  if (removed) out.key("removed").boolean(true);
  out.end_object();
}

namespace {
void write(features::json_text& out, const post& p) {
  write_post(out, std::to_string(p.id), std::to_string(p.thread), p.text, std::to_string(p.user), p.created_at,
             p.updated_at);
}
}  // namespace

std::string to_json(const post& p) {
  std::string body;
  features::json_text out(body);
  write(out, p);
  return body;
}

std::string to_json(const std::vector<post>& posts) {
  std::string body;
  features::json_text out(body);
  out.begin_array();
  for (const auto& p : posts) write(out, p);
  out.end_array();
  return body;
}

}  // namespace granite::posts
