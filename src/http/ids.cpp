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

}  // namespace granite::http
