#include "page.hpp"

#include <string>

#include "granite/text.hpp"

namespace granite::features {


result<page> parse_page(const http::request& req) {
  auto params = http::parse_query(req.query);
  if (!params) return invalid_argument("the query string has a malformed percent-escape");
  page out;
  std::vector<field_error> errors;
  bool seen_limit = false, seen_after = false;
  for (const auto& [name, value] : *params) {
    bool is_limit = name == "limit";
    if (!is_limit && name != "after") continue;
    bool& seen = is_limit ? seen_limit : seen_after;
    if (seen) {
      errors.push_back({name, name + " is given more than once"});
      continue;
    }
    seen = true;
    // 0 to 2^63-1: `after` is an id, and the Link after the last one may name any.
    auto n = parse_decimal(value);
    std::string shown = value.substr(0, 40);
    if (is_limit) {
      if (n && *n >= 1 && *n <= max_page_limit)
        out.limit = *n;
      else
        errors.push_back({name, "limit must be an integer from 1 to " + std::to_string(max_page_limit) + ", got \"" +
                                    shown + "\""});
    } else {
      if (n)
        out.after = *n;
      else
        errors.push_back({name, "after must be an id (0 or more, from the previous page's Link), got \"" + shown + "\""});
    }
  }
  if (!errors.empty()) return invalid_fields(std::move(errors));
  return out;
}

std::string next_link(const http::request& req, const page& p, std::int64_t last_id) {
  return "<" + req.path + "?limit=" + std::to_string(p.limit) + "&after=" + std::to_string(last_id) + ">; rel=\"next\"";
}

}  // namespace granite::features
