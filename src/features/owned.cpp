#include "owned.hpp"

#include "idempotency.hpp"
#include "versions.hpp"

namespace granite::features {

namespace {
http::response changed(const owned_kind& kind, const store::rows& r, int status) {
  std::string body;
  json_text out(body);
  kind.write_json(out, r, 0);
  return with_version(
      with_notice(http::json(status, std::move(body)), store::made_as(kind.notice_of(r, 0), store::change::op::update)),
      r, 0, kind.version_column);
}
}  // namespace

task<http::response> refused_write(const owned_kind& kind, std::int64_t id, std::int64_t me, bool editing,
                                   const http::request& req, http::services& s) {
  auto owner = co_await s.db.read(store::batch().add(kind.owner_of, id).current());
  if (!owner.ok()) co_return http::problem(owner.as_error(), req);
  std::string what(kind.what);
  const auto& r = owner[0];
  if (r.size() == 0) co_return http::problem(not_found("no " + what + " with id " + std::to_string(id)), req);
  if (r.integer(0, 0) != me) co_return http::problem(forbidden("this " + what + " belongs to someone else"), req);
  if (editing && r.text(0, 2) == "t")
    co_return http::problem(conflict("this " + what + " was removed by a moderator: it can no longer be edited"), req);
  // Theirs, and there: only the version can have kept the write from it.
  co_return changed_since(kind.what, version_of(r, 0, 1).value_or(never_changed), req);
}

task<http::response> patch_owned_text(const owned_kind& kind, result<std::string> (*read)(const http::request&),
                                      const store::statement& update, const http::request& req,
                                      const http::params& p, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  if (auto refused = refuse_unconditional(req, s.require_if_match)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto value = read(req);
  if (!value) co_return http::problem(value.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  auto w = co_await write(s, req, *me, store::batch().add(update, *id, *me, *value, versions_param(req)));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() > 0) co_return answered(changed(kind, a[0], 200), *w);
  co_return co_await refused_write(kind, *id, *me, true, req, s);
}

task<http::response> delete_owned_record(const owned_kind& kind, const store::statement& remove,
                                         store::change (*notice_of)(const store::rows&, std::size_t),
                                         const http::request& req, const http::params& p, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  if (auto refused = refuse_unconditional(req, s.require_if_match)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  auto w = co_await write(s, req, *me, store::batch().add(remove, *id, *me, versions_param(req)));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() > 0)
    co_return answered(with_notice(http::no_content(), store::made_as(notice_of(a[0], 0), store::change::op::remove)),
                       *w);
  co_return co_await refused_write(kind, *id, *me, false, req, s);
}

}  // namespace granite::features
