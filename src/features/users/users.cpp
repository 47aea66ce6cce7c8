#include "users.hpp"

#include "../body.hpp"
#include "../json.hpp"

namespace granite::users {

namespace {

nlohmann::ordered_json object(const user& u) {
  return {{"id", u.id}, {"username", u.username}, {"name", u.name}, {"bio", u.bio}};
}

constexpr features::text_rule username_rule{3, 32};
constexpr features::text_rule name_rule{0, 100};
constexpr features::text_rule bio_rule{0, 1000};
constexpr features::text_rule password_rule{10, 256};

bool plain_username(const std::string& name) {
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

}  // namespace

result<user> find(store::connection& c, std::int64_t id) {
  if (auto u = select_by_id(c, id)) return std::move(*u);
  return not_found("no user with id " + std::to_string(id));
}

std::vector<user> list(store::connection& c, const features::page& p) {
  return select_page(c, p.after, p.rows_to_read());
}

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

std::string to_json(const user& u) { return object(u).dump(); }

std::string to_json(const std::vector<user>& users) { return features::json_array(users, object); }

}  // namespace granite::users
