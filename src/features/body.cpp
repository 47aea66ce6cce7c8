#include "body.hpp"

#include "granite/text.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace granite::features {

namespace {

constexpr int max_depth = 32;

// application/json, optionally with charset=utf-8; merge-patch+json is the
// same thing for PATCH.
std::optional<error> check_media_type(std::string_view header) {
  auto refuse = [&](std::string why) {
    return error{error::code::unsupported_media_type, std::move(why)};
  };
  if (header.empty()) return refuse("the body must be application/json; the request has no Content-Type");
  auto semi = header.find(';');
  auto type = ascii_lower(trim_ows(header.substr(0, semi)));
  if (type != "application/json" && type != "application/merge-patch+json")
    return refuse("the body must be application/json, not " + std::string(trim_ows(header.substr(0, semi))));
  while (semi != std::string_view::npos) {
    header.remove_prefix(semi + 1);
    semi = header.find(';');
    auto param = trim_ows(header.substr(0, semi));
    auto eq = param.find('=');
    if (eq == std::string_view::npos || ascii_lower(trim_ows(param.substr(0, eq))) != "charset") continue;
    auto charset = ascii_lower(trim_ows(param.substr(eq + 1)));
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') charset = charset.substr(1, charset.size() - 2);
    if (charset != "utf-8" && charset != "utf8")
      return refuse("JSON bodies must be UTF-8, not charset=" + std::string(trim_ows(param.substr(eq + 1))));
  }
  return std::nullopt;
}

std::string type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    // An integer beyond 64 bits is read as a floating-point number.
    case nlohmann::json::value_t::number_float:
      return std::abs(v.get<double>()) >= 0x1p63 ? "a number out of range" : "a fractional number";
    default: return "a number";
  }
}

}  // namespace

std::size_t count_chars(std::string_view utf8) {
  return static_cast<std::size_t>(
      std::count_if(utf8.begin(), utf8.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

result<json_body> json_body::parse(const http::request& req) {
  if (auto refused = check_media_type(req.content_type)) return *refused;
  if (req.body.empty()) return invalid_argument("the body is empty; expected a JSON object");
  bool too_deep = false;
  std::string duplicate;
  std::set<std::string> names;
  auto watch = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    // `depth` counts the containers around the event: the 33rd nested
    // object or array starts at depth 32.
    bool opens = event == nlohmann::json::parse_event_t::object_start ||
                 event == nlohmann::json::parse_event_t::array_start;
    if (too_deep || (opens && depth >= max_depth)) {
      too_deep = true;
      return false;
    }
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(req.body, watch);
  } catch (const nlohmann::json::exception& e) {  // syntax, UTF-8, a number out of range
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return invalid_argument("the body is not valid JSON: " + what);
  }
  if (too_deep) return invalid_argument("the body nests deeper than " + std::to_string(max_depth) + " levels");
  if (!doc.is_object()) return invalid_argument("the body must be a JSON object, not " + type_name(doc));
  if (!duplicate.empty()) return invalid_fields({{duplicate, duplicate + " is given more than once"}});
  return json_body(std::move(doc));
}

const nlohmann::json* json_body::field(std::string_view name, bool required) {
  known_.emplace_back(name);
  auto it = doc_.find(name);
  if (it == doc_.end()) {
    if (required) reject(name, std::string(name) + " is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> json_body::text(std::string_view name, const text_rule& rule, bool required) {
  const auto* v = field(name, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    reject(name, std::string(name) + " must be a string, not " + type_name(*v));
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  auto chars = count_chars(s);
  auto range = rule.min_chars == 0 ? "at most " + std::to_string(rule.max_chars) + " characters"
                                   : std::to_string(rule.min_chars) + " to " + std::to_string(rule.max_chars) + " characters";
  if (chars < rule.min_chars || chars > rule.max_chars) {
    reject(name, std::string(name) + " must be " + range + ", got " + std::to_string(chars));
    return std::nullopt;
  }
  if (s.find('\0') != std::string::npos) {
    reject(name, std::string(name) + " must not contain NUL (U+0000)");
    return std::nullopt;
  }
  if (rule.not_blank && s.find_first_not_of(" \t\r\n\f\v") == std::string::npos) {
    reject(name, std::string(name) + " must not be blank");
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> json_body::id(std::string_view name, bool required) {
  const auto* v = field(name, required);
  if (!v) return std::nullopt;
  bool fits = (v->is_number_integer() && v->get<std::int64_t>() >= 1) ||
              (v->is_number_unsigned() && v->get<std::uint64_t>() >= 1 &&
               v->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  if (!fits) {
    reject(name, std::string(name) + " must be an id (an integer from 1 to 9223372036854775807), not " +
                     (v->is_number_integer() || v->is_number_unsigned() ? v->dump() : type_name(*v)));
    return std::nullopt;
  }
  return v->get<std::int64_t>();
}

void json_body::reject(std::string_view name, std::string message) {
  errors_.push_back({std::string(name), std::move(message)});
}

std::optional<error> json_body::finish() {
  for (const auto& [name, value] : doc_.items()) {
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
    std::string allowed;
    for (const auto& k : known_) allowed += (allowed.empty() ? "" : ", ") + k;
    reject(name, "unknown field " + name + "; this route accepts " + allowed);
  }
  if (errors_.empty()) return std::nullopt;
  return invalid_fields(std::move(errors_));
}

}  // namespace granite::features
