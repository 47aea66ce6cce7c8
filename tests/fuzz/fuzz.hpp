#pragma once

// What the fuzz targets share: a failed property aborts with what was seen
// (libFuzzer then keeps the input), and the input is taken apart from the
// front.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace granite::fuzz {

[[noreturn]] inline void failed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

#define GRANITE_FUZZ_CHECK(condition, detail) \
  do {                                        \
    if (!(condition)) ::granite::fuzz::failed(#condition, (detail)); \
  } while (0)

class input {
 public:
  input(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  // The next byte, 0 once the input is used up.
  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the next `separator` (which is dropped), or everything.
  std::string_view until(std::string_view separator) {
    auto at = rest_.find(separator);
    auto part = rest_.substr(0, at);
    rest_ = at == std::string_view::npos ? std::string_view() : rest_.substr(at + separator.size());
    return part;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// Shown in a failure: the bytes with the unprintable ones escaped.
inline std::string shown(std::string_view bytes) {
  std::string out;
  for (unsigned char ch : bytes) {
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      out += static_cast<char>(ch);
    } else {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02x", ch);
      out += esc;
    }
  }
  return out;
}

}  // namespace granite::fuzz
