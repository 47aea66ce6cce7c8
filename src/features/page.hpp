#pragma once

// Keyset pagination for every list route: `?limit=` (default 100, at most
// 1000), a cursor, `?after=<id>` or `?before=<id>` (from a Link of the
// page next to it), and `?order=asc` (the default: oldest first) or
// `order=desc` (newest first). A page holds the `limit` records nearest to
// its cursor on its side (after 0 by default, before every id with
// order=desc), in the order asked: it is read with limit + 1 rows, and the
// extra row only says that more lie beyond. The response carries
// `Link: <...>; rel="next"` toward the records after it in its order while
// there are some, and rel="prev" toward those before it when it has a
// cursor. Ids only grow, so a page boundary never moves: a record that
// exists when the first page is read and is not deleted is seen exactly
// once, whichever way the pages are walked.
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
  // The cursor: the records above it, or (`below`) under it.
  std::int64_t cursor = 0;
  bool below = false;
  bool descending = false;  // order=desc: newest (highest id) first
  bool from_cursor = false;  // after= (not 0) or before= was given: not the list's start
  std::int64_t limit = default_page_limit;
  std::int64_t rows_to_read() const { return limit + 1; }
};

// Other query parameters are ignored, as the original API ignored them all.
result<page> parse_page(const http::request& req);

// `<path?limit=..[&order=desc]&after=id>` (or `before=id` when `below`):
// the target of the page on that side of `id`, in p's order.
std::string link_to(const http::request& req, const page& p, bool below, std::int64_t id);

// The Link header of a page whose rows, nearest to its cursor first, run
// from `near_id` to `far_id` (`count` of them), `more` when rows lie
// beyond: empty when it links nowhere.
std::string page_links(const http::request& req, const page& p, std::size_t count, std::int64_t near_id,
                       std::int64_t far_id, bool more);

// What a page of rows nearest its cursor first spans: http::page_span.
http::page_span span_of(const page& p, std::size_t count, std::int64_t far_id, std::int64_t next_id);

// The JSON array of a page of `count` rows as read, nearest to the cursor
// first, write(out, i) writing row i and id_of(i) its id; written in the
// page's order. The extra row, when there, is not written: it only says
// that the page has a Link beyond. The response carries its span
// (http::page_span) for the read cache.
template <class Write, class IdOf>
http::response json_page(std::size_t count, const page& p, const http::request& req, Write write, IdOf id_of) {
  bool more = count > static_cast<std::size_t>(p.limit);
  if (more) count = static_cast<std::size_t>(p.limit);
  std::string body;
  body.reserve(64 + count * 128);
  json_text out(body);
  out.begin_array();
  bool reversed = p.below != p.descending;  // read one way, shown the other
  for (std::size_t i = 0; i < count; ++i) write(out, reversed ? count - 1 - i : i);
  out.end_array();
  auto res = http::json(200, std::move(body));
  std::int64_t near_id = count > 0 ? id_of(0) : 0, far_id = count > 0 ? id_of(count - 1) : 0;
  auto links = page_links(req, p, count, near_id, far_id, more);
  if (!links.empty()) res.headers.emplace_back("Link", std::move(links));
  res.page = span_of(p, count, far_id, more ? id_of(count) : 0);
  return res;
}

// A page without records: "[]".
inline http::response empty_page(const page& p) {
  auto res = http::json(200, "[]");
  res.page = span_of(p, 0, 0, 0);
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
