#pragma once

// Small text helpers shared across modules.
#include <charconv>
#include <cstdio>
#include <cstdint>
#include <optional>
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

// The number that `text`, decimal digits and nothing else, stands for, if
// it is one from 0 to 2^63-1 (leading zeros allowed).
inline std::optional<std::int64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Whether `text` is UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF).
inline bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    auto second = static_cast<unsigned char>(text[i + 1]);
    unsigned char low = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    unsigned char high = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    if (second < low || second > high) return false;
    for (std::size_t k = 2; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// `text` fit for a log line or a terminal: printable ASCII and valid UTF-8
// as they are, every other byte (control characters, escape sequences,
// broken UTF-8) as \xNN.
inline std::string printable(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    bool shown = n == 1 ? (b >= 0x20 && b < 0x7F) : n > 0 && i + n <= text.size() && valid_utf8(text.substr(i, n));
    if (shown) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\\x";
      out += digits[b >> 4];
      out += digits[b & 0xF];
      ++i;
    }
  }
  return out;
}

// Percent-decodes `in` into `out` ('+' becomes a space where asked: in a
// query); false when an escape is malformed.
inline bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false) {
  auto hex = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (in[i] != '%') {
      out += in[i];
    } else {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return true;
}

// A position in PostgreSQL's write-ahead log as PostgreSQL writes it
// ("0/16B3F28": the high and low 32 bits in upper-case hex), and back
// (nullopt for anything else).
inline std::string format_lsn(std::uint64_t at) {
  char text[24];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(at >> 32), static_cast<unsigned>(at));
  return text;
}
inline std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8)
    return std::nullopt;
  std::uint64_t out = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == slash) continue;
    char ch = text[i];
    int digit = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
    if (digit < 0) return std::nullopt;
    if (i < slash) out += static_cast<std::uint64_t>(digit) << (4 * (slash - 1 - i) + 32);
    else out += static_cast<std::uint64_t>(digit) << (4 * (text.size() - 1 - i));
  }
  return out;
}

}  // namespace granite
