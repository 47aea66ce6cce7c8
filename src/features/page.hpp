#pragma once

// Keyset pagination for every list route: `?limit=` (default 100, at most
// 1000) and `?after=<id>` (the last id of the previous page). A page is read
// with limit + 1 rows; the extra row only says that more remain, and then
// the response carries `Link: <...>; rel="next"`. Ids only grow, so a page
// boundary never moves: a record that exists when the first page is read
// and is not deleted is seen exactly once.
#include <cstdint>
#include <string>

#include "granite/error.hpp"
#include "granite/http/message.hpp"
#include "granite/store/async.hpp"
#include "json_text.hpp"

namespace granite::features {

inline constexpr std::int64_t default_page_limit = 100;
inline constexpr std::int64_t max_page_limit = 1000;

struct page {
  std::int64_t after = 0;
  std::int64_t limit = default_page_limit;
  std::int64_t rows_to_read() const { return limit + 1; }
};

// Other query parameters are ignored, as the original API ignored them all.
result<page> parse_page(const http::request& req);

// `<path?limit=..&after=last_id>; rel="next"`
std::string next_link(const http::request& req, const page& p, std::int64_t last_id);

// The JSON array of a page of `count` rows, write(out, i) writing row i;
// the extra row, when there, is not written and becomes the Link header,
// after the id of the last row written (id_of(i)). The response carries its
// span (http::page_span) for the read cache.
template <class Write, class IdOf>
http::response json_page(std::size_t count, const page& p, const http::request& req, Write write, IdOf id_of) {
  bool more = count > static_cast<std::size_t>(p.limit);
  if (more) count = static_cast<std::size_t>(p.limit);
  std::string body;
  body.reserve(64 + count * 128);
  json_text out(body);
  out.begin_array();
  for (std::size_t i = 0; i < count; ++i) write(out, i);
  out.end_array();
  auto res = http::json(200, std::move(body));
  http::page_span span{p.after, count > 0 ? id_of(count - 1) : p.after, 0};
  if (more) {
    span.next = id_of(count);
    res.headers.emplace_back("Link", next_link(req, p, span.last));
  }
  res.page = span;
  return res;
}

// A page without records: "[]".
inline http::response empty_page(const page& p) {
  auto res = http::json(200, "[]");
  res.page = http::page_span{p.after, p.after, 0};
  return res;
}

// The same for a statement's rows, the id in their first column.
inline http::response json_page(const store::rows& r, const page& p, const http::request& req,
                                void (*write_row)(json_text&, const store::rows&, std::size_t)) {
  return json_page(
      r.size(), p, req, [&](json_text& out, std::size_t i) { write_row(out, r, i); },
      [&](std::size_t i) { return r.integer(i, 0); });
}

}  // namespace granite::features
