#pragma once

// JSON written straight from the database's text into a response body, byte
// for byte what nlohmann::json's dump() writes for the same values (compact,
// UTF-8 kept, the same escapes), without a document per row: the read
// routes' responses and their ETags stay what they were.
#include <cstdint>
#include <string>
#include <string_view>

namespace granite::features {

class json_text {
 public:
  explicit json_text(std::string& out) : out_(out) {}

  json_text& begin_object();
  json_text& end_object();
  json_text& begin_array();
  json_text& end_array();
  // A member's name, one of granite's own (letters, digits, _: written as
  // it is); its value follows.
  json_text& key(std::string_view name);
  json_text& string(std::string_view value);
  // `value` as a string, or null when it is empty.
  json_text& string_or_null(std::string_view value);
  json_text& null();
  json_text& boolean(bool value);
  // An integer as PostgreSQL writes it (decimal digits, maybe a sign).
  json_text& integer_text(std::string_view digits);
  json_text& integer(std::int64_t value);

 private:
  void separate();

  std::string& out_;
  bool first_ = true;  // the next value is the first of its object or array
  bool after_key_ = false;
};

// `text` as a JSON string, quotes included, appended to `out`.
void append_json_string(std::string& out, std::string_view text);

}  // namespace granite::features
