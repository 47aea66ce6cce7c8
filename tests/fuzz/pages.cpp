// Ids in paths and the pagination parameters of the list routes, as the
// features read them behind the real router.
//
// Input: the method (first byte), the last id of a page (8 bytes), then the
// request target.
// Properties:
// - an id segment is taken exactly when it is decimal digits for 1 to
//   2^63-1 (leading zeros allowed), and the router parsed it into that
//   number;
// - ?limit=, ?after=, ?before= and ?order= are taken exactly when each is
//   given at most once, limit is 1 to 1000, after and before 0 to 2^63-1
//   in decimal digits, not both, and order asc or desc; the page then holds
//   those values (defaults 100, after 0 ascending, before 2^63-1
//   descending);
// - a Link to the page on either side of any id reads back as the same
//   limit and order, and that id as its cursor on that side.
#include <charconv>
#include <limits>
#include <string>

#include "features/page.hpp"
#include "fuzz.hpp"
#include "granite/config/config.hpp"
#include "granite/features/features.hpp"
#include "granite/http/router.hpp"

namespace {

using namespace granite;

const http::router& routes() {
  static const config::config cfg{};
  static const http::router r = [] {
    http::router out;
    features::register_routes(out, features::deps{cfg});
    return out;
  }();
  return r;
}

// The number that decimal `text` stands for, if it is one from 0 to 2^63-1.
std::optional<std::int64_t> decimal(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The id the router parsed for a {name:noun} segment, against the segment
// it matched.
void check_id(const http::params& values, std::string_view name, const std::string& shown) {
  const auto& got = values.id(name);
  auto segment = values.get(name);
  GRANITE_FUZZ_CHECK(!segment.empty(), shown);
  auto expected = decimal(segment);
  if (expected && *expected == 0) expected.reset();
  GRANITE_FUZZ_CHECK(static_cast<bool>(got) == expected.has_value(), shown);
  if (expected) GRANITE_FUZZ_CHECK(*got == *expected, shown);
}

// What parse_page should make of a query, from its decoded parameters.
std::optional<features::page> expected_page(std::string_view query) {
  auto params = http::parse_query(query);
  if (!params) return std::nullopt;
  features::page out;
  int limits = 0, afters = 0, befores = 0, orders = 0;
  std::optional<std::int64_t> before;
  for (const auto& [name, value] : *params) {
    if (name == "limit") {
      auto n = decimal(value);
      if (++limits > 1 || !n || *n < 1 || *n > features::max_page_limit) return std::nullopt;
      out.limit = *n;
    } else if (name == "after") {
      auto n = decimal(value);
      if (++afters > 1 || !n) return std::nullopt;
      out.cursor = *n;
    } else if (name == "before") {
      auto n = decimal(value);
      if (++befores > 1 || !n) return std::nullopt;
      before = *n;
    } else if (name == "order") {
      if (++orders > 1 || (value != "asc" && value != "desc")) return std::nullopt;
      out.descending = value == "desc";
    }
  }
  if (afters && befores) return std::nullopt;
  out.below = befores || (out.descending && !afters);
  if (out.below) out.cursor = before.value_or(std::numeric_limits<std::int64_t>::max());
  return out;
}

void check_page(const http::request& req, std::int64_t last_id, const std::string& shown) {
  auto got = features::parse_page(req);
  auto expected = expected_page(req.query);
  GRANITE_FUZZ_CHECK(static_cast<bool>(got) == expected.has_value(), shown);
  if (!expected) return;
  GRANITE_FUZZ_CHECK(got->limit == expected->limit && got->below == expected->below &&
                         got->descending == expected->descending && got->cursor == expected->cursor,
                     shown);

  for (bool below : {false, true}) {
    auto link = features::link_to(req, *got, below, last_id);
    GRANITE_FUZZ_CHECK(link.starts_with('<') && link.ends_with('>'), link);
    http::request next;
    next.target = link.substr(1, link.size() - 2);
    http::split_target(next.target, next.path, next.query);
    GRANITE_FUZZ_CHECK(next.path == req.path, link + " for " + shown);
    auto again = features::parse_page(next);
    GRANITE_FUZZ_CHECK(again && again->limit == got->limit && again->descending == got->descending &&
                           again->below == below && again->cursor == last_id && again->from_cursor,
                       link + " for " + shown);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  granite::fuzz::input in(data, size);
  const http::verb methods[] = {http::verb::get, http::verb::head, http::verb::patch, http::verb::delete_};
  http::request req;
  req.method = methods[in.byte() % std::size(methods)];
  std::uint64_t raw = 0;
  for (int i = 0; i < 8; ++i) raw = raw << 8 | in.byte();
  auto last_id = static_cast<std::int64_t>(raw >> 1);
  if (last_id == 0) last_id = 1;
  req.target = std::string(in.rest());
  http::split_target(req.target, req.path, req.query);
  auto shown = granite::fuzz::shown(req.target);

  auto m = routes().find(req);
  if (!m.found) {
    int s = m.refusal.status;
    GRANITE_FUZZ_CHECK(s == 400 || s == 404 || s == 405, std::to_string(s) + " for " + shown);
    return 0;
  }
  bool has_id = false, ids_taken = true;
  for (const auto& part : m.found->parts) {
    if (!part.starts_with('{')) continue;
    has_id = true;
    // Every {param} of the API is an id: "{name:noun}".
    auto colon = part.find(':');
    GRANITE_FUZZ_CHECK(colon != std::string::npos, part);
    auto name = std::string_view(part).substr(1, colon - 1);
    check_id(m.values, name, shown);
    ids_taken = ids_taken && m.values.id(name);
  }
  if (!ids_taken) return 0;  // 400 before any page is read
  // The list routes: every page, and the posts of a thread or a user.
  const auto& pattern = m.found->pattern;
  bool list = !has_id || pattern.find("/in-thread/") != std::string::npos || pattern.find("/by-user/") != std::string::npos;
  if (req.method == http::verb::get && list)
    check_page(req, last_id, shown);
  return 0;
}
