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

}  // namespace granite
