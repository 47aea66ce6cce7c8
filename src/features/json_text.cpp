#include "json_text.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace granite::features {

namespace {

// Whether any of the 8 bytes of `w` must be escaped in a JSON string: a
// control character (below 0x20), a quote or a backslash. Exact for the
// word as a whole (which byte, the caller finds out byte by byte).
bool needs_escape(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  auto below_space = (w - 0x20 * ones) & ~w & highs;
  return (below_space | has_zero(w ^ ('"' * ones)) | has_zero(w ^ ('\\' * ones))) != 0;
}

bool needs_escape(unsigned char ch) { return ch < 0x20 || ch == '"' || ch == '\\'; }

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  const char* p = text.data();
  const char* end = p + text.size();
  const char* plain = p;  // start of the run of bytes copied as they are
  while (p < end) {
    // Clean text (most of it) is skipped a word at a time.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (!needs_escape(w)) {
        p += 8;
        continue;
      }
    }
    auto ch = static_cast<unsigned char>(*p);
    if (!needs_escape(ch)) {
      ++p;
      continue;
    }
    out.append(plain, p);
    plain = ++p;
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[ch >> 4];
        out += hex[ch & 0xf];
    }
  }
  out.append(plain, end);
  out += '"';
}

void json_text::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) out_ += ',';
  first_ = false;
}

json_text& json_text::begin_object() {
  separate();
  out_ += '{';
  first_ = true;
  return *this;
}

json_text& json_text::end_object() {
  out_ += '}';
  first_ = false;
  return *this;
}

json_text& json_text::begin_array() {
  separate();
  out_ += '[';
  first_ = true;
  return *this;
}

json_text& json_text::end_array() {
  out_ += ']';
  first_ = false;
  return *this;
}

json_text& json_text::key(std::string_view name) {
  separate();
  out_ += '"';
  out_ += name;  // a name of granite's own: nothing in it to escape
  out_ += "\":";
  after_key_ = true;
  return *this;
}

json_text& json_text::string(std::string_view value) {
  separate();
  append_json_string(out_, value);
  return *this;
}

json_text& json_text::string_or_null(std::string_view value) {
  if (!value.empty()) return string(value);
  return null();
}

json_text& json_text::null() {
  separate();
  out_ += "null";
  return *this;
}

json_text& json_text::boolean(bool value) {
  separate();
  out_ += value ? "true" : "false";
  return *this;
}

json_text& json_text::integer_text(std::string_view digits) {
  separate();
  out_ += digits;
  return *this;
}

json_text& json_text::integer(std::int64_t value) {
  separate();
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
  return *this;
}

}  // namespace granite::features
