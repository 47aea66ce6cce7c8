#include "moderation.hpp"

#include <optional>
#include <string>

#include "body.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "notices.hpp"
#include "page.hpp"
#include "users/sessions.hpp"
#include "versions.hpp"

namespace granite::features {

namespace {

constexpr store::statement is_moderator{"moderators_has",
                                        "SELECT EXISTS (SELECT FROM moderators WHERE user_id = $1)"};
#define GRANITE_LOG_COLUMNS "id, rfc3339(at), moderator_id, action, post_id, thread_id, reason"
constexpr store::statement log_page{
    "moderation_log_page", "SELECT " GRANITE_LOG_COLUMNS " FROM moderation_log WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement log_below{
    "moderation_log_below",
    "SELECT " GRANITE_LOG_COLUMNS " FROM moderation_log WHERE id < $1 ORDER BY id DESC LIMIT $2"};
#undef GRANITE_LOG_COLUMNS
constexpr store::statement all[] = {is_moderator, log_page, log_below};

constexpr text_rule reason_rule{1, 500, true};

// Moderators' answers hold what others may not see: no cache keeps them.
http::response private_to_moderators(http::response r) {
  r.headers.emplace_back("Cache-Control", "private, no-store");
  return r;
}

error not_a_moderator() {
  return forbidden("only moderators may do this (an operator names them: granite grant moderator USERNAME)");
}

// The reads of `b` on behalf of `me`, who must be a moderator: the check
// of the role is sent after them in the same batch (one round trip), on
// the primary, so that a revocation counts at once.
task<result<store::answer>> moderator_read(std::int64_t me, store::batch b, http::services& s) {
  std::size_t check = b.size();
  b.add(is_moderator, me);
  auto a = co_await s.db.read(std::move(b.current()));
  if (!a.ok()) co_return a.as_error();
  if (a[check].text(0, 0) != "t") co_return not_a_moderator();
  co_return std::move(a);
}

// The record of `r`'s first row, whole, with its version's ETag.
http::response whole(const moderated_kind& kind, const store::rows& r) {
  std::string body;
  json_text out(body);
  kind.write_whole(out, r, 0);
  return private_to_moderators(with_version(http::json(200, std::move(body)), r, 0, kind.version_column));
}

// The record whole, for the moderator `me`.
task<http::response> as_it_is(const moderated_kind& kind, std::int64_t me, std::int64_t id, const http::request& req,
                              http::services& s) {
  auto a = co_await moderator_read(me, kind.select(id), s);
  if (!a) co_return http::problem(a.err(), req);
  if ((*a)[0].size() == 0)
    co_return http::problem(not_found("no " + std::string(kind.what) + " with id " + std::to_string(id)), req);
  co_return whole(kind, (*a)[0]);
}

void write_entry(json_text& out, const store::rows& r, std::size_t row) {
  out.begin_object();
  out.key("id").integer_text(r.text(row, 0));
  out.key("at").string(r.text(row, 1));
  out.key("moderator").integer_text(r.text(row, 2));
  out.key("action").string(r.text(row, 3));
  out.key("post");
  r.null(row, 4) ? out.null() : out.integer_text(r.text(row, 4));
  out.key("thread");
  r.null(row, 5) ? out.null() : out.integer_text(r.text(row, 5));
  out.key("reason");
  r.null(row, 6) ? out.null() : out.string(r.text(row, 6));
  out.end_object();
}

task<http::response> read_log(const http::request& req, const http::params&, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  auto page = parse_page(req);
  if (!page) co_return http::problem(page.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  auto a = co_await moderator_read(
      *me, store::batch().add(page->below ? log_below : log_page, page->cursor, page->rows_to_read()), s);
  if (!a) co_return http::problem(a.err(), req);
  co_return private_to_moderators(json_page((*a)[0], *page, req, write_entry));
}

}  // namespace

result<std::optional<std::string>> read_reason(const http::request& req) {
  if (req.body.empty()) return std::optional<std::string>();
  auto body = json_body::parse(req);
  if (!body) return body.err();
  auto reason = body->text("reason", reason_rule, false);
  if (auto refused = body->finish()) return *refused;
  return reason;
}

bool marked(const store::rows& r, std::size_t row, int column) {
  return column < static_cast<int>(r.columns()) && !r.null(row, column);
}

task<http::response> moderate(const moderated_kind& kind, const store::statement& action, const http::request& req,
                              const http::params& p, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto reason = read_reason(req);
  if (!reason) co_return http::problem(reason.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  // The check of the role, the change and its log entry are one statement.
  auto a = co_await s.db.write(store::batch().add(action, *id, *me, *reason));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() > 0) {
    auto r = whole(kind, a[0]);
    r.position = a.position();
    co_return with_notice(std::move(r), store::made_as(kind.notice_of(a[0], 0), store::change::op::update));
  }
  // Nothing changed: not a moderator, no such record, or in that state already.
  co_return co_await as_it_is(kind, *me, *id, req, s);
}

task<http::response> read_whole(const moderated_kind& kind, const http::request& req, const http::params& p,
                                http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  co_return co_await as_it_is(kind, *me, *id, req, s);
}

std::span<const store::statement> moderation_statements() { return all; }

void register_moderation_routes(http::router& router) {
  router.add(http::verb::get, "/api/moderation/log", http::async_handler(read_log));
}

}  // namespace granite::features
