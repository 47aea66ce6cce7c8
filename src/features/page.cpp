#include "page.hpp"

#include <charconv>
#include <string>

namespace granite::features {

namespace {
// Decimal digits for 0 to 2^63-1 (an id: the Link after the last one may
// name any).
std::optional<std::int64_t> parse_count(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}
}  // namespace

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
    auto n = parse_count(value);
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
