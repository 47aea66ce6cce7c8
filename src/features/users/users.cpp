#include "users.hpp"

#include "../body.hpp"

namespace granite::users {

namespace {

constexpr features::text_rule username_rule{3, 32};
constexpr features::text_rule name_rule{0, 100};
constexpr features::text_rule bio_rule{0, 1000};
constexpr features::text_rule password_rule{10, 256};
constexpr features::text_rule sign_in_rule{1, 256};

bool plain_username(const std::string& name) {
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

}  // namespace

result<account_fields> read_account(const http::request& req, bool creating) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  account_fields f;
  f.username = body->text("username", username_rule, creating);
  if (f.username && !plain_username(*f.username)) {
    body->reject("username", "username may hold only a-z, 0-9 and _");
    f.username.reset();
  }
  f.name = body->text("name", name_rule, false);
  f.bio = body->text("bio", bio_rule, false);
  f.password = body->text("password", password_rule, creating);
  if (auto refused = body->finish()) return *refused;
  return f;
}

result<sign_in_fields> read_sign_in(const http::request& req) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  auto username = body->text("username", sign_in_rule, true);
  auto password = body->text("password", sign_in_rule, true);
  if (auto refused = body->finish()) return *refused;
  return sign_in_fields{std::move(*username), std::move(*password)};
}

void write_user(features::json_text& out, std::string_view id, std::string_view username, std::string_view name,
                std::string_view bio, std::optional<std::string_view> updated_at) {
  out.begin_object();
  out.key("id").integer_text(id);
  out.key("username").string(username);
  out.key("name").string(name);
  out.key("bio").string(bio);
  if (updated_at) out.key("updatedAt").string_or_null(*updated_at);
  out.end_object();
}

std::string to_json(const user& u) {
  std::string body;
  features::json_text out(body);
  write_user(out, std::to_string(u.id), u.username, u.name, u.bio, u.updated_at);
  return body;
}

}  // namespace granite::users
