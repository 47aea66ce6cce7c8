#include "../idempotency.hpp"
#include "../moderation.hpp"
#include "../owned.hpp"
#include "../reads.hpp"
#include "../versions.hpp"
#include "posts.hpp"

namespace granite::posts {

namespace {

const features::owned_kind kind{"post", select_owner(), write_row, notice_of, version_column};
const features::moderated_kind moderated{"post", select_by_id, write_row_whole, notice_of, version_column};

// A new post that the thread refused: it is removed, or locked.
task<http::response> refused_post(std::int64_t thread, const http::request& req, http::services& s) {
  auto a = co_await s.db.read(select_thread_state(thread).current());
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  const store::rows& r = a[0];
  auto which = "thread " + std::to_string(thread);
  if (r.size() == 0)
    co_return http::problem(invalid_fields({{"thread", "no thread with id " + std::to_string(thread)}}), req);
  if (r.text(0, 0) == "t")
    co_return http::problem(conflict(which + " was removed by a moderator: it takes no new posts"), req);
  co_return http::problem(conflict(which + " is locked: only moderators may post in it"), req);
}

// A page of the posts under a parent ({threadId} or {userId}).
task<http::response> children(const http::request& req, const http::params& p, http::services& s,
                              std::string_view param, std::string_view parent,
                              store::batch (*select)(std::int64_t, const features::page&)) {
  auto page = features::parse_page(req);
  if (!page) co_return http::problem(page.err(), req);
  const auto& id = p.id(param);
  if (!id) co_return http::problem(id.err(), req);
  auto a = co_await s.db.read(select(*id, *page).at_least(req.position));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  const store::rows& r = a[0];
  if (r.size() == 0)
    co_return http::problem(not_found("no " + std::string(parent) + " with id " + std::to_string(*id)), req);
  if (r.null(0, 0)) co_return features::empty_page(*page);  // the parent, without posts (on this page)
  co_return features::json_page(r, *page, req, write_row);
}

task<http::response> in_thread(const http::request& req, const http::params& p, http::services& s) {
  return children(req, p, s, "threadId", "thread", select_in_thread);
}

task<http::response> by_user(const http::request& req, const http::params& p, http::services& s) {
  return children(req, p, s, "userId", "user", select_by_user);
}

task<http::response> get_post(const http::request& req, const http::params& p, http::services& s) {
  return features::record_by_id("post", select_by_id, write_row, version_column, req, p, s);
}

// The author is whoever signed in; the body names only the thread and text.
task<http::response> create_post(const http::request& req, features::posting_budget budget, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  auto fields = read_new_post(req);
  if (!fields) co_return http::problem(fields.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  auto w = co_await features::write(s, req, *me, insert(fields->thread, *me, fields->text, budget));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok() && a.failed().what == store::failure::kind::foreign_key) {
    if (a.failed().constraint == "posts_thread_id_fkey")
      co_return http::problem(invalid_fields({{"thread", "no thread with id " + std::to_string(fields->thread)}}), req);
    co_return http::problem(unauthenticated("the signed-in account no longer exists"), req);
  }
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() == 0) co_return co_await refused_post(fields->thread, req, s);
  std::string json;
  features::json_text out(json);
  write_row(out, a[0], 0);
  co_return features::answered(
      features::with_version(
          features::with_notice(http::created("/api/posts/" + std::string(a[0].text(0, 0)), std::move(json)),
                                store::made_as(notice_of(a[0], 0), store::change::op::insert)),
          a[0], 0, version_column),
      *w);
}

task<http::response> edit_post(const http::request& req, const http::params& p, http::services& s) {
  return features::patch_owned_text(kind, read_text, update_owned(), req, p, s);
}

task<http::response> delete_post(const http::request& req, const http::params& p, http::services& s) {
  return features::delete_owned_record(kind, delete_owned(), notice_of, req, p, s);
}

task<http::response> remove_post(const http::request& req, const http::params& p, http::services& s) {
  return features::moderate(moderated, remove(), req, p, s);
}

task<http::response> restore_post(const http::request& req, const http::params& p, http::services& s) {
  return features::moderate(moderated, restore(), req, p, s);
}

task<http::response> whole_post(const http::request& req, const http::params& p, http::services& s) {
  return features::read_whole(moderated, req, p, s);
}

}  // namespace

void register_routes(http::router& router, const features::deps& d) {
  auto budget = features::posting_budget_of(d.config);
  router.add(http::verb::post, "/api/posts",
             http::async_handler([budget](const http::request& req, const http::params&, http::services& s) {
               return create_post(req, budget, s);
             }));
  router.add(http::verb::get, "/api/posts/{id:post}", http::async_handler(get_post),
             http::cache_rule{features::cached::post, "id"});
  router.add(http::verb::patch, "/api/posts/{id:post}", http::async_handler(edit_post));
  router.add(http::verb::delete_, "/api/posts/{id:post}", http::async_handler(delete_post));
  router.add(http::verb::post, "/api/posts/{id:post}/remove", http::async_handler(remove_post));
  router.add(http::verb::post, "/api/posts/{id:post}/restore", http::async_handler(restore_post));
  router.add(http::verb::get, "/api/moderation/posts/{id:post}", http::async_handler(whole_post));
  router.add(http::verb::get, "/api/posts/in-thread/{threadId:thread}", http::async_handler(in_thread),
             http::cache_rule{features::cached::posts_in_thread, "threadId"});
  router.add(http::verb::get, "/api/posts/by-user/{userId:user}", http::async_handler(by_user),
             http::cache_rule{features::cached::posts_by_user, "userId"});
}

}  // namespace granite::posts
