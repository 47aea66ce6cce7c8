#include "../json_text.hpp"
#include "granite/config/config.hpp"
#include "granite/http/bulkhead.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

http::response no_store(http::response r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// What checking a password found, with the new hash when its cost changed.
struct checked {
  password_check check;
  std::optional<std::string> rehash;
};

// The network a client signs in from: its IPv4 /24, its IPv6 /64.
std::string network_of(const ip_address& a) {
  return a.is_v4() ? a.masked(120).text() + "/24" : a.masked(64).text() + "/64";
}

struct sign_in_rules {
  argon2_cost cost;
  int ttl_s;
  account_limit limit;
};

// Read the account and count the attempt (refused when the username is
// blocked), check the password in the CPU bulkhead, then record the session,
// only if the hash checked is still the account's.
task<http::response> sign_in(const http::request& req, const sign_in_rules& rules, http::services& s) {
  if (auto refused = refuse_too_many_attempts(req, s)) co_return std::move(*refused);
  auto fields = read_sign_in(req);
  if (!fields) co_return http::problem(fields.err(), req);
  auto network = network_of(req.client);
  bool limited = rules.limit.free_failures > 0;
  // Awaited as a local: co_await of the conditional expression itself had
  // the build of GCC 12 here free the awaiter's batch twice.
  auto asking = limited ? s.db.write(start_sign_in(fields->username, network, rules.limit))
                        : s.db.read(start_sign_in(fields->username, network, rules.limit).current());
  auto account = co_await asking;
  if (!account.ok()) co_return http::problem(account.as_error(), req);
  if (limited && account[1].size() == 0) {
    s.attempts.count_blocked();
    co_return too_many(static_cast<int>(account[2].integer(0, 0)), "too many failed sign-ins for this username",
                       req);
  }
  const store::rows& found = account[0];
  std::optional<std::string> stored;
  if (found.size() > 0 && !found.null(0, 1)) stored = std::string(found.text(0, 1));
  auto result = co_await s.cpu.run([&]() -> checked {
    auto check = check_password(stored, fields->password, rules.cost);
    if (check == password_check::right_but_rehash) return {check, hash_password(fields->password, rules.cost)};
    return {check, std::nullopt};
  });
  if (!result.value) {
    std::string what = result.refused == http::bulkhead::refusal::full ? "too many requests are waiting for "
                                                                       : "waited too long for ";
    co_return http::problem(unavailable(what + s.cpu.name() + "; retry shortly"), req);
  }
  // A wrong password was counted before the check.
  if (result.value->check == password_check::wrong)
    co_return http::problem(unauthenticated("wrong username or password"), req);
  auto token = new_token();
  // A rehash moves the account to the configured cost.
  const auto& rehash = result.value->rehash;
  auto batch = record_sign_in(token.digest, found.integer(0, 0), rules.ttl_s, *stored, rehash);
  add_successful_sign_in(batch, fields->username, found.integer(0, 0), network, token.digest);
  auto recorded = co_await s.db.write(std::move(batch));
  bool deleted = !recorded.ok() && recorded.failed().what == store::failure::kind::foreign_key;
  if (!recorded.ok() && !deleted) co_return http::problem(recorded.as_error(), req);
  // The password was changed, or the account deleted, since it was read:
  // the password checked is no longer the account's.
  if (deleted || recorded[session_row(rehash)].size() == 0)
    co_return http::problem(unauthenticated("wrong username or password"), req);
  std::string body;
  features::json_text out(body);
  out.begin_object().key("token").string(token.text);
  out.key("expiresAt").string(recorded[session_row(rehash)].text(0, 0)).end_object();
  auto res = no_store(http::json(201, std::move(body)));
  res.headers.emplace_back("Location", "/api/sessions/current");
  co_return res;
}

task<http::response> current(const http::request& req, const http::params&, http::services& s) {
  auto digest = bearer_digest(req);
  if (!digest) co_return http::problem(digest.err(), req);
  auto session = co_await s.db.read(select_session(*digest).current());
  if (!session.ok()) co_return http::problem(session.as_error(), req);
  if (session[0].size() == 0)
    co_return http::problem(token_refused(), req);
  auto account = co_await s.db.read(select_by_id(session[0].integer(0, 0)).current());
  if (!account.ok()) co_return http::problem(account.as_error(), req);
  if (account[0].size() == 0) co_return http::problem(unauthenticated("the session has just ended"), req);
  std::string body;
  features::json_text out(body);
  out.begin_object().key("user");
  write_row(out, account[0], 0);
  out.key("expiresAt").string(session[0].text(0, 1)).end_object();
  co_return no_store(http::json(200, std::move(body)));
}

task<http::response> sign_out(const http::request& req, const http::params&, http::services& s) {
  auto digest = bearer_digest(req);
  if (!digest) co_return http::problem(digest.err(), req);
  auto a = co_await s.db.write(delete_session(*digest));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].affected() == 0)
    co_return http::problem(token_refused(), req);
  co_return http::no_content();
}

}  // namespace

void register_session_routes(http::router& router, const features::deps& d) {
  sign_in_rules rules{cost_of(d.config), d.config.auth.session_ttl_s,
                      {d.config.auth.account_free_failures, d.config.auth.account_block_max_s}};
  router.add(http::verb::post, "/api/sessions",
             http::async_handler([rules](const http::request& req, const http::params&, http::services& s) {
               return sign_in(req, rules, s);
             }));
  router.add(http::verb::get, "/api/sessions/current", http::async_handler(current));
  router.add(http::verb::delete_, "/api/sessions/current", http::async_handler(sign_out));
}

}  // namespace granite::users
