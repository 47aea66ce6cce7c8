#include "../owned.hpp"
#include "threads.hpp"

namespace granite::threads {

namespace {

using http::done;
using http::outcome;

constexpr features::text_rule title_rule{1, 200, true};

outcome start_thread(const http::request& req, const http::params&) {
  if (auto refused = users::refuse_anonymous(req)) return done(std::move(*refused));
  auto body = features::json_body::parse(req);
  if (!body) return done(http::problem(body.err(), req));
  auto title = body->text("title", title_rule, true);
  if (auto refused = body->finish()) return done(http::problem(*refused, req));
  return users::signed_in(req, [title = std::move(*title)](const http::request& r, std::int64_t me, store::connection& c) {
    auto created = insert(c, title, me);
    if (!created) return done(http::problem(created.err(), r));
    return done(features::with_notice(http::created("/api/threads/" + std::to_string(created->id), to_json(*created)),
                                      store::thread_changed(created->id)));
  });
}

outcome retitle(const http::request& req, const http::params& p) {
  return features::patch_owned_text(
      req, p, "thread", "title", title_rule, update_owned, select_owner, [](const thread& t) { return to_json(t); },
      [](const thread& t) { return store::thread_changed(t.id); });
}

outcome delete_thread(const http::request& req, const http::params& p) {
  // Its posts go with it: this worker's cache is flushed.
  return features::delete_owned_record(req, p, "thread", delete_owned, select_owner,
                                       [](const thread&) { return store::anything_changed(); });
}

}  // namespace

void register_routes(http::router& router, const features::deps&) {
  router.add(http::verb::get, "/api/threads",
             http::db_handler([](const http::request& req, const http::params&, store::connection& c) {
               auto page = features::parse_page(req);
               if (!page) return http::problem(page.err(), req);
               return features::json_page(list(c, *page), *page, req,
                                          [](const std::vector<thread>& all) { return to_json(all); });
             }),
             http::cache_rule{features::cached::threads, ""});
  router.add(http::verb::post, "/api/threads", http::staged_handler(start_thread));
  router.add(http::verb::get, "/api/threads/{id}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "id", "thread id", [&](std::int64_t id) {
                 return find(c, id).map([](const thread& t) { return to_json(t); });
               });
             }),
             http::cache_rule{features::cached::thread, "id"});
  router.add(http::verb::patch, "/api/threads/{id}", http::staged_handler(retitle));
  router.add(http::verb::delete_, "/api/threads/{id}", http::staged_handler(delete_thread));
}

}  // namespace granite::threads
