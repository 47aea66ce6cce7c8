#include "../owned.hpp"
#include "posts.hpp"

namespace granite::posts {

namespace {

using http::done;
using http::outcome;

constexpr features::text_rule text_rule{1, 10000, true};

store::change notice_of(const post& p) { return store::post_changed(p.id, p.thread, p.user); }

// A list of posts under a parent ({threadId} or {userId}), a page at a time.
template <class Select>
http::db_handler children(std::string param, std::string what, Select select) {
  return [param, what, select](const http::request& req, const http::params& p, store::connection& c) {
    auto page = features::parse_page(req);
    if (!page) return http::problem(page.err(), req);
    auto id = http::parse_id(p.get(param), what);
    if (!id) return http::problem(id.err(), req);
    auto found = select(c, *id, *page);
    if (!found) return http::problem(found.err(), req);
    return features::json_page(std::move(found).value(), *page, req,
                               [](const std::vector<post>& all) { return to_json(all); });
  };
}

// The author is whoever signed in; the body names only the thread and text.
outcome write_post(const http::request& req, const http::params&) {
  if (auto refused = users::refuse_anonymous(req)) return done(std::move(*refused));
  auto body = features::json_body::parse(req);
  if (!body) return done(http::problem(body.err(), req));
  auto thread = body->id("thread", true);
  auto text = body->text("text", text_rule, true);
  if (auto refused = body->finish()) return done(http::problem(*refused, req));
  return users::signed_in(req, [thread = *thread, text = std::move(*text)](const http::request& r, std::int64_t me,
                                                                         store::connection& c) {
    auto created = insert(c, thread, me, text);
    if (!created) return done(http::problem(created.err(), r));
    return done(features::with_notice(http::created("/api/posts/" + std::to_string(created->id), to_json(*created)),
                                      notice_of(*created)));
  });
}

outcome edit_post(const http::request& req, const http::params& p) {
  return features::patch_owned_text(req, p, "post", "text", text_rule, update_owned, select_owner,
                                    [](const post& edited) { return to_json(edited); }, notice_of);
}

outcome delete_post(const http::request& req, const http::params& p) {
  return features::delete_owned_record(req, p, "post", delete_owned, select_owner, notice_of);
}

}  // namespace

void register_routes(http::router& router, const features::deps&) {
  router.add(http::verb::post, "/api/posts", http::staged_handler(write_post));
  router.add(http::verb::get, "/api/posts/{id}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "id", "post id", [&](std::int64_t id) {
                 return find(c, id).map([](const post& found) { return to_json(found); });
               });
             }),
             http::cache_rule{features::cached::post, "id"});
  router.add(http::verb::patch, "/api/posts/{id}", http::staged_handler(edit_post));
  router.add(http::verb::delete_, "/api/posts/{id}", http::staged_handler(delete_post));
  router.add(http::verb::get, "/api/posts/in-thread/{threadId}", children("threadId", "thread id", in_thread),
             http::cache_rule{features::cached::posts_in_thread, "threadId"});
  router.add(http::verb::get, "/api/posts/by-user/{userId}", children("userId", "user id", by_user),
             http::cache_rule{features::cached::posts_by_user, "userId"});
}

}  // namespace granite::posts
