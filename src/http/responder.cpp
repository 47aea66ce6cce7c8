#include "responder.hpp"

#include "dispatch.hpp"
#include "encoding.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "granite/http/session.hpp"
#include "granite/text.hpp"

namespace granite::http {

void responder::begin(request* req, const request_head* head) {
  req_ = req;
  head_ = head;
  head_only_ = req && req->method == verb::head;
  route_ = nullptr;
  cache_use_ = obs::access_record::cache_use::none;
  fill_.reset();
}

void responder::answer(request& req, const request_head& head, std::shared_ptr<listener> whom) {
  begin(&req, &head);
  auto at_once = [&](response r) {
    respond(std::move(r));
    whom->ready();
  };
  bool read = req.method == verb::get || req.method == verb::head;
  auto position = presented_position(head.position, head.cookie);
  if (!position) return at_once(problem(position.err(), req));
  req.position = *position;
  // A position the instance's cache may not have caught up with yet (a
  // write through another instance): the read goes to the database.
  if (read && (req.position == 0 || ctx_.cache.holds_position(req.position))) {
    if (auto hit = ctx_.cache.find(req.target)) {
      route_ = hit->from;
      cache_use_ = obs::access_record::cache_use::hit;
      send_cached(std::move(hit));
      return whom->ready();
    }
  }
  auto m = ctx_.routes.find(req);
  if (!m.found) return at_once(std::move(m.refusal));
  route_ = m.found;
  // A malformed key is refused before anything is done, on every write
  // (the routes that keep no write under a key take none).
  if (!read && req.idempotency_keys > 0)
    if (auto key = idempotency_key(req); !key) return at_once(problem(key.err(), req));
  // Conditional writes: the handler compares the tags with the record's
  // version inside its statement.
  req.if_match = {};
  if ((req.method == verb::patch || req.method == verb::delete_) && head.if_match_sent) {
    auto tags = parse_if_match(head.if_match);
    if (!tags) return at_once(problem(tags.err(), req));
    req.if_match = std::move(*tags);
  }
  if (read && m.found->cache) {
    cache_use_ = obs::access_record::cache_use::miss;
    ctx_.cache.count_miss();
    want_fill(*m.found->cache, m.values);
  }
  if (auto* run = std::get_if<plain_handler>(&m.found->run)) return at_once(answer_plain(*run, req, m.values));
  // The request and its params stay here, unchanged, until the answer;
  // `whom` keeps this responder alive until then.
  params_ = std::move(m.values);
  dispatch(std::get<async_handler>(m.found->run), req, params_, ctx_.svc,
           [this, whom = std::move(whom)](response r) {
             respond(std::move(r));
             whom->ready();
           });
}

void responder::refuse(response why) {
  begin(nullptr, nullptr);
  respond(std::move(why));
}

void responder::written() {
  cached_.reset();
  body_view_ = {};
}

// A cacheable read: its 200 will carry an ETag and be kept, unless a
// change notice for what it shows arrives before it is answered.
void responder::want_fill(const cache_rule& rule, const params& values) {
  std::int64_t id = 0;
  if (!rule.param.empty()) {
    const auto& parsed = values.id(rule.param);
    if (!parsed) return;  // the route answers 400
    id = *parsed;
  }
  fill_ = pending_fill{{rule.kind, id}, ctx_.cache.epoch()};
}

void responder::respond(response r) {
  if (r.position) {
    // Before the write's notices: a worker that reads them finds the
    // floor past the write.
    ctx_.cache.raise_floor(r.position);
    auto at = format_lsn(r.position);
    r.headers.emplace_back(position_header, at);
    r.headers.emplace_back("Set-Cookie", std::string(position_cookie) + "=" + at + "; Path=/; Max-Age=" +
                                             std::to_string(position_cookie_max_age_s) + "; SameSite=Lax");
  }
  for (const auto& c : r.changes) ctx_.cache.apply_own_change(c.notice, c.drops);
  if (fill_ && r.status == 200) {
    // Compressed when it may be kept (once, for every later hit), or for
    // this client when it takes gzip.
    bool compress = ctx_.cache.may_keep(r.body.size()) || prefers_gzip(head_->accept_encoding);
    auto kept = kept_response(std::move(r), route_, compress);
    ctx_.cache.fill(req_->target, fill_->group, kept, fill_->since);
    return send_cached(std::move(kept));
  }
  out_.start(r.status);
  if (!r.content_type.empty()) out_.header("Content-Type", r.content_type);
  if (!r.etag.empty()) out_.header("ETag", r.etag);
  for (const auto& [name, value] : r.headers) out_.header(name, value);
  bool bodiless = r.status == 204 || r.status == 304 || r.status < 200;
  if (!bodiless) out_.content_length(r.body.size());  // a HEAD's is that of the GET
  body_ = std::move(r.body);
  if (head_only_ || bodiless) body_.clear();
  body_view_ = body_;
}

// A kept response, or one about to be kept, in the variant the client
// takes: 304 when it has that one.
void responder::send_cached(std::shared_ptr<const cached_response> kept) {
  auto v = choose_variant(*kept, head_->accept_encoding);
  bool not_modified = !head_->if_none_match.empty() && etag_matches(head_->if_none_match, v.etag);
  out_.start(not_modified ? 304 : 200);
  if (!not_modified) {
    out_.header("Content-Type", json_type);
    if (v.gzip) out_.header("Content-Encoding", "gzip");
    out_.content_length(v.body.size());
    out_.raw(kept->headers);
  }
  out_.header("ETag", v.etag);
  if (kept->varies) out_.header("Vary", "Accept-Encoding");
  body_view_ = not_modified || head_only_ ? std::string_view() : v.body;
  cached_ = std::move(kept);
}

}  // namespace granite::http
