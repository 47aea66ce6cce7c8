#pragma once

// Records that only their owner may change (threads, posts): a write is
// limited to the caller's own row in SQL; when it touches nothing, the
// owner tells whether the record is missing (404) or someone else's (403).
// PATCH and DELETE of such records are the same for every feature: the
// feature gives its statements to patch_owned_text and delete_owned_record.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "body.hpp"
#include "notices.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "users/sessions.hpp"

namespace granite::features {

inline http::response refused_write(std::optional<std::int64_t> owner, std::string_view what, std::int64_t id,
                                    const http::request& req) {
  if (owner) return http::problem(forbidden("this " + std::string(what) + " belongs to someone else"), req);
  return http::problem(not_found("no " + std::string(what) + " with id " + std::to_string(id)), req);
}

// The id and the one text field of PATCH /api/<records>/{id}.
struct text_change {
  std::int64_t id;
  std::string value;
};
inline result<text_change> read_text_change(const http::request& req, const http::params& p, std::string_view what,
                                            std::string_view field, const text_rule& rule) {
  auto id = http::parse_id(p.get("id"), std::string(what) + " id");
  if (!id) return id.err();
  auto body = json_body::parse(req);
  if (!body) return body.err();
  auto value = body->text(field, rule, true);
  if (auto refused = body->finish()) return *refused;
  return text_change{*id, std::move(*value)};
}

// PATCH /api/<records>/{id} of the record's one text field, for its owner:
// update(connection, id, owner, value) changes only the owner's row and
// returns it (nullopt when none matched); owner(connection, id) says whose
// the record is; to_json writes the changed record and notice_of gives its
// change notice.
template <class Update, class Owner, class ToJson, class Notice>
http::outcome patch_owned_text(const http::request& req, const http::params& p, std::string_view what,
                               std::string_view field, const text_rule& rule, Update update, Owner owner,
                               ToJson to_json, Notice notice_of) {
  if (auto refused = users::refuse_anonymous(req)) return http::done(std::move(*refused));
  auto change = read_text_change(req, p, what, field, rule);
  if (!change) return http::done(http::problem(change.err(), req));
  return users::signed_in(req, [ch = std::move(*change), what = std::string(what), update, owner, to_json, notice_of](
                                   const http::request& r, std::int64_t me, store::connection& c) {
    if (auto changed = update(c, ch.id, me, ch.value))
      return http::done(with_notice(http::json(200, to_json(*changed)), notice_of(*changed)));
    return http::done(refused_write(owner(c, ch.id), what, ch.id, r));
  });
}

// DELETE /api/<records>/{id}, for its owner: remove(connection, id, owner)
// deletes only the owner's row and returns it (nullopt when none matched);
// notice_of gives its change notice.
template <class Remove, class Owner, class Notice>
http::outcome delete_owned_record(const http::request& req, const http::params& p, std::string_view what,
                                  Remove remove, Owner owner, Notice notice_of) {
  if (auto refused = users::refuse_anonymous(req)) return http::done(std::move(*refused));
  auto id = http::parse_id(p.get("id"), std::string(what) + " id");
  if (!id) return http::done(http::problem(id.err(), req));
  return users::signed_in(req, [id = *id, what = std::string(what), remove, owner, notice_of](
                                   const http::request& r, std::int64_t me, store::connection& c) {
    if (auto removed = remove(c, id, me)) return http::done(with_notice(http::no_content(), notice_of(*removed)));
    return http::done(refused_write(owner(c, id), what, id, r));
  });
}

}  // namespace granite::features
