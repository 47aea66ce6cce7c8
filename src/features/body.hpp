#pragma once

// Reading a JSON request body field by field. Every problem is collected so
// that one 400 names them all; a field the route does not know is a problem
// too (a typo must not be silently ignored).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "granite/error.hpp"
#include "granite/http/message.hpp"

namespace granite::features {

struct text_rule {
  std::size_t min_chars = 0;  // Unicode code points
  std::size_t max_chars = 0;
  bool not_blank = false;  // at least one character that is not white space
};

class json_body {
 public:
  // 415 unless the request says application/json (UTF-8), 400 unless the
  // body is one JSON object, without duplicate names, nested at most 32 deep.
  static result<json_body> parse(const http::request& req);

  // A string field within `rule`; nullopt when absent (an error if
  // `required`) or invalid. NUL (U+0000) is refused: PostgreSQL text cannot
  // hold it.
  std::optional<std::string> text(std::string_view name, const text_rule& rule, bool required);
  // A record id: an integer from 1 to 2^63-1.
  std::optional<std::int64_t> id(std::string_view name, bool required);
  // A rule the route checks itself.
  void reject(std::string_view name, std::string message);

  // The collected problems, and each field the route did not ask for; none:
  // the body is acceptable.
  std::optional<error> finish();

 private:
  explicit json_body(nlohmann::json doc) : doc_(std::move(doc)) {}
  const nlohmann::json* field(std::string_view name, bool required);

  nlohmann::json doc_;
  std::vector<std::string> known_;
  std::vector<field_error> errors_;
};

// Unicode code points in valid UTF-8 text.
std::size_t count_chars(std::string_view utf8);

}  // namespace granite::features
