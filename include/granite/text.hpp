#pragma once

// Small text helpers shared across modules.
#include <string>
#include <string_view>

namespace granite {

// ASCII lower case (header names, media types, usernames compared without
// case); other bytes, UTF-8 included, are kept as they are.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (auto& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

// Without the spaces and tabs around it (HTTP's optional whitespace, OWS).
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace granite
