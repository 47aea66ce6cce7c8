#include "../idempotency.hpp"
#include "../moderation.hpp"
#include "../owned.hpp"
#include "../reads.hpp"
#include "../versions.hpp"
#include "threads.hpp"

namespace granite::threads {

namespace {

store::change notice_of(const store::rows& r, std::size_t row) { return store::thread_changed(r.integer(row, 0)); }
// Its posts go with it: this worker's cache is flushed.
store::change deleted(const store::rows&, std::size_t) { return store::anything_changed(); }

const features::owned_kind kind{"thread", select_owner(), write_row, notice_of, version_column};
const features::moderated_kind moderated{"thread", select_by_id, write_row_whole, notice_of, version_column};

// POST /api/threads/{id}/<action>: the moderator actions on a thread.
template <const store::statement& (*action)()>
task<http::response> moderate(const http::request& req, const http::params& p, http::services& s) {
  return features::moderate(moderated, action(), req, p, s);
}

task<http::response> whole_thread(const http::request& req, const http::params& p, http::services& s) {
  return features::read_whole(moderated, req, p, s);
}

task<http::response> get_threads(const http::request& req, const http::params&, http::services& s) {
  return features::record_page(select_page, write_row, req, s);
}

task<http::response> get_thread(const http::request& req, const http::params& p, http::services& s) {
  return features::record_by_id("thread", select_by_id, write_row, version_column, req, p, s);
}

task<http::response> start_thread(const http::request& req, features::posting_budget budget, http::services& s) {
  if (auto refused = users::refuse_anonymous(req)) co_return std::move(*refused);
  auto title = read_title(req);
  if (!title) co_return http::problem(title.err(), req);
  auto me = co_await users::authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  auto w = co_await features::write(s, req, *me, insert(*title, *me, budget));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok() && a.failed().what == store::failure::kind::foreign_key)
    co_return http::problem(unauthenticated("the signed-in account no longer exists"), req);
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  std::string json;
  features::json_text out(json);
  write_row(out, a[0], 0);
  auto id = a[0].integer(0, 0);
  co_return features::answered(
      features::with_version(features::with_notice(http::created("/api/threads/" + std::to_string(id), std::move(json)),
                                                   store::thread_changed(id, store::change::op::insert)),
                             a[0], 0, version_column),
      *w);
}

task<http::response> retitle(const http::request& req, const http::params& p, http::services& s) {
  return features::patch_owned_text(kind, read_title, update_owned(), req, p, s);
}

task<http::response> delete_thread(const http::request& req, const http::params& p, http::services& s) {
  return features::delete_owned_record(kind, delete_owned(), deleted, req, p, s);
}

}  // namespace

void register_routes(http::router& router, const features::deps& d) {
  router.add(http::verb::get, "/api/threads", http::async_handler(get_threads),
             http::cache_rule{features::cached::threads, ""});
  auto budget = features::posting_budget_of(d.config);
  router.add(http::verb::post, "/api/threads",
             http::async_handler([budget](const http::request& req, const http::params&, http::services& s) {
               return start_thread(req, budget, s);
             }));
  router.add(http::verb::get, "/api/threads/{id:thread}", http::async_handler(get_thread),
             http::cache_rule{features::cached::thread, "id"});
  router.add(http::verb::patch, "/api/threads/{id:thread}", http::async_handler(retitle));
  router.add(http::verb::delete_, "/api/threads/{id:thread}", http::async_handler(delete_thread));
  router.add(http::verb::post, "/api/threads/{id:thread}/remove", http::async_handler(moderate<remove>));
  router.add(http::verb::post, "/api/threads/{id:thread}/restore", http::async_handler(moderate<restore>));
  router.add(http::verb::post, "/api/threads/{id:thread}/lock", http::async_handler(moderate<lock>));
  router.add(http::verb::post, "/api/threads/{id:thread}/unlock", http::async_handler(moderate<unlock>));
  router.add(http::verb::get, "/api/moderation/threads/{id:thread}", http::async_handler(whole_thread));
}

}  // namespace granite::threads
