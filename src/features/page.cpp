#include "page.hpp"

#include <limits>
#include <optional>
#include <string>

#include "granite/text.hpp"

namespace granite::features {

result<page> parse_page(const http::request& req) {
  auto params = http::parse_query(req.query);
  if (!params) return invalid_argument("the query string has a malformed percent-escape");
  page out;
  std::vector<field_error> errors;
  std::optional<std::int64_t> after, before;
  bool seen_limit = false, seen_after = false, seen_before = false, seen_order = false;
  for (const auto& [name, value] : *params) {
    bool* seen = name == "limit"    ? &seen_limit
                 : name == "after"  ? &seen_after
                 : name == "before" ? &seen_before
                 : name == "order"  ? &seen_order
                                    : nullptr;
    if (!seen) continue;
    if (*seen) {
      errors.push_back({name, name + " is given more than once"});
      continue;
    }
    *seen = true;
    std::string shown = value.substr(0, 40);
    if (name == "order") {
      if (value == "asc" || value == "desc")
        out.descending = value == "desc";
      else
        errors.push_back({name, "order must be asc (oldest first) or desc (newest first), got \"" + shown + "\""});
      continue;
    }
    // 0 to 2^63-1: a cursor is an id, and a Link beside the last one may name any.
    auto n = parse_decimal(value);
    if (name == "limit") {
      if (n && *n >= 1 && *n <= max_page_limit)
        out.limit = *n;
      else
        errors.push_back({name, "limit must be an integer from 1 to " + std::to_string(max_page_limit) + ", got \"" +
                                    shown + "\""});
    } else if (!n) {
      errors.push_back({name, name + " must be an id (0 or more, from a Link of the page beside it), got \"" + shown +
                                  "\""});
    } else {
      (name == "after" ? after : before) = *n;
    }
  }
  if (seen_after && seen_before)
    errors.push_back({"before", "a page has one cursor: give after or before, not both"});
  if (!errors.empty()) return invalid_fields(std::move(errors));
  out.from_cursor = (after && *after > 0) || before;  // after=0 is the start of the list
  out.below = before || (out.descending && !after);
  out.cursor = out.below ? before.value_or(std::numeric_limits<std::int64_t>::max()) : after.value_or(0);
  return out;
}

std::string link_to(const http::request& req, const page& p, bool below, std::int64_t id) {
  return "<" + req.path + "?limit=" + std::to_string(p.limit) + (p.descending ? "&order=desc" : "") +
         (below ? "&before=" : "&after=") + std::to_string(id) + ">";
}

std::string page_links(const http::request& req, const page& p, std::size_t count, std::int64_t near_id,
                       std::int64_t far_id, bool more) {
  // Beyond the far end, away from the cursor, while rows lie there; back
  // past the near end when the page did not start the list. Away from the
  // cursor is on in the page's order when it was read the way it is shown.
  bool away_is_next = p.below == p.descending;
  std::string next, prev;
  if (more) (away_is_next ? next : prev) = link_to(req, p, p.below, far_id);
  if (p.from_cursor && count > 0) (away_is_next ? prev : next) = link_to(req, p, !p.below, near_id);
  std::string out;
  if (!next.empty()) out = next + "; rel=\"next\"";
  if (!prev.empty()) out += (out.empty() ? "" : ", ") + prev + "; rel=\"prev\"";
  return out;
}

http::page_span span_of(const page& p, std::size_t count, std::int64_t far_id, std::int64_t next_id) {
  if (!p.below) return {p.cursor, count > 0 ? far_id : p.cursor, next_id, false};
  // Mirrored: ids negated, so that the page lies above its cursor.
  return {-p.cursor, count > 0 ? -far_id : -p.cursor, next_id != 0 ? -next_id : 0, true};
}

}  // namespace granite::features
