#pragma once

// Keyset pagination for every list route: `?limit=` (default 100, at most
// 1000) and `?after=<id>` (the last id of the previous page). A page is read
// with limit + 1 rows; the extra row only says that more remain, and then
// the response carries `Link: <...>; rel="next"`. Ids only grow, so a page
// boundary never moves: a record that exists when the first page is read
// and is not deleted is seen exactly once.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "granite/error.hpp"
#include "granite/http/message.hpp"

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

// The JSON array of a page; the extra row, when there, is dropped and
// becomes the Link header.
template <class T, class ToJson>
http::response json_page(std::vector<T> rows, const page& p, const http::request& req, ToJson to_json) {
  std::optional<std::int64_t> last;
  if (static_cast<std::int64_t>(rows.size()) > p.limit) {
    rows.resize(static_cast<std::size_t>(p.limit));
    last = rows.back().id;
  }
  auto res = http::json(200, to_json(rows));
  if (last) res.headers.emplace_back("Link", next_link(req, p, *last));
  return res;
}

}  // namespace granite::features
