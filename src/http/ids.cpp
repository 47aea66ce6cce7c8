#include "granite/http/ids.hpp"

#include <limits>
#include <string>

namespace granite::http {

result<std::int64_t> parse_id(std::string_view text, std::string_view what) {
  auto refuse = [&](std::string_view why) {
    std::string shown(text.substr(0, 40));
    if (text.size() > 40) shown += "...";
    return invalid_argument(std::string(what) + " must be " + std::string(why) + ", got \"" + shown + "\"");
  };
  if (text.empty()) return refuse("a positive integer");
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  std::int64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return refuse("a positive integer in decimal digits");
    int digit = ch - '0';
    if (value > (max - digit) / 10) return refuse("at most 9223372036854775807");
    value = value * 10 + digit;
  }
  if (value == 0) return refuse("a positive integer");
  return value;
}

result<std::optional<std::string>> idempotency_key(const request& req) {
  if (req.idempotency_keys == 0) return std::optional<std::string>();
  auto refuse = [](std::string why) {
    return invalid_fields({{"Idempotency-Key", "the Idempotency-Key header " + why}});
  };
  if (req.idempotency_keys > 1) return refuse("is sent more than once");
  std::string_view v = req.idempotency_key;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::string key;
  if (!v.empty() && v.front() == '"') {
    std::size_t i = 1;
    for (;; ++i) {
      if (i >= v.size()) return refuse("is a string without its closing quote");
      char c = v[i];
      if (c == '"') break;
      if (c == '\\') {
        if (++i >= v.size() || (v[i] != '"' && v[i] != '\\'))
          return refuse("escapes something other than \\\" or \\\\");
        c = v[i];
      } else if (c < 0x20 || c > 0x7e) {
        return refuse("may hold only printable ASCII");
      }
      key += c;
    }
    if (i + 1 != v.size()) return refuse("has more after its string (parameters are not taken)");
  } else {
    for (char c : v)
      if (c <= 0x20 || c > 0x7e || c == '"' || c == '\\' || c == ',')
        return refuse("must be a quoted string, or one word of printable ASCII");
    key = std::string(v);
  }
  if (key.empty()) return refuse("is empty");
  if (key.size() > 255) return refuse("is longer than 255 characters");
  return std::optional<std::string>(std::move(key));
}

result<std::uint64_t> presented_position(std::string_view header, std::string_view cookies) {
  if (!header.empty()) {
    auto at = parse_lsn(trim_ows(header));
    if (!at)
      return invalid_argument(std::string(position_header) +
                              " must be a position in the log as a write's answer gave it, such as 0/16B3F28");
    return *at;
  }
  // "name=value; name=value" (RFC 6265 §4.2.1).
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    auto pair = trim_ows(cookies.substr(0, end));
    cookies = end == std::string_view::npos ? std::string_view() : cookies.substr(end + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != position_cookie) continue;
    auto value = trim_ows(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (auto at = parse_lsn(value)) return *at;
  }
  return std::uint64_t{0};
}

}  // namespace granite::http
