#pragma once

// Records that only their owner may change (threads, posts): a write is
// limited to the caller's own row in SQL; when it touches nothing, the
// owner tells whether the record is missing (404) or someone else's (403).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "body.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"

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

}  // namespace granite::features
