// The JSON body of every route that takes one, against the OpenAPI document
// granite serves (src/features/openapi.json).
//
// Input: the route (first byte), the Content-Type (second byte), the body.
// Properties:
// - a moderator action takes an empty body as none, of any media type;
// - a route accepts a body exactly when its schema in the OpenAPI document
//   does (with application/json), and what it takes is what the body holds;
// - another media type is refused with 415.
//
// The schemas are read as JSON Schema with two rules of granite's that
// apply to every body: "integer" is a JSON integer (1, not 1.0), and no
// text holds U+0000 (PostgreSQL text cannot). Duplicate names are refused
// too: a JSON text with them has no one meaning.
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "features/body.hpp"
#include "features/moderation.hpp"
#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "features/users/users.hpp"
#include "fuzz.hpp"
#include "granite/features/features.hpp"

namespace {

using namespace granite;
using nlohmann::json;
using granite::fuzz::shown;

// What a route took from the body, as JSON; refused: the error.
struct taken {
  std::optional<json> fields;
  std::optional<error> refused;
};

template <class T, class Show>
taken take(result<T> r, Show show) {
  if (!r) return {std::nullopt, r.err()};
  return {show(*r), std::nullopt};
}

json account(const users::account_fields& f) {
  json out = json::object();
  if (f.username) out["username"] = *f.username;
  if (f.name) out["name"] = *f.name;
  if (f.bio) out["bio"] = *f.bio;
  if (f.password) out["password"] = *f.password;
  return out;
}

// POST and PATCH of a thread take the same body.
taken title(const http::request& r) {
  return take(threads::read_title(r), [](const std::string& t) { return json{{"title", t}}; });
}

struct route {
  const char* method;
  const char* path;
  taken (*read)(const http::request&);
  bool may_be_empty = false;  // an empty body is taken as {}, whatever its media type
};

const route routes[] = {
    {"post", "/api/users", [](const http::request& r) { return take(users::read_account(r, true), account); }},
    {"patch", "/api/users/{id}", [](const http::request& r) { return take(users::read_account(r, false), account); }},
    {"post", "/api/sessions",
     [](const http::request& r) {
       return take(users::read_sign_in(r),
                   [](const users::sign_in_fields& f) { return json{{"username", f.username}, {"password", f.password}}; });
     }},
    {"post", "/api/threads", title},
    {"patch", "/api/threads/{id}", title},
    {"post", "/api/posts",
     [](const http::request& r) {
       return take(posts::read_new_post(r),
                   [](const posts::new_post& p) { return json{{"thread", p.thread}, {"text", p.text}}; });
     }},
    {"patch", "/api/posts/{id}",
     [](const http::request& r) { return take(posts::read_text(r), [](const std::string& t) { return json{{"text", t}}; }); }},
    {"post", "/api/posts/{id}/remove",
     [](const http::request& r) {
       return take(features::read_reason(r), [](const std::optional<std::string>& reason) {
         return reason ? json{{"reason", *reason}} : json::object();
       });
     },
     true},
};

const json& openapi() {
  static const json doc = json::parse(features::openapi_json);
  return doc;
}

// The schema of a route's body, its $ref followed.
const json& schema_of(const route& r) {
  const json& body = openapi().at("paths").at(r.path).at(r.method).at("requestBody");
  std::string ref = body.at("content").at("application/json").at("schema").at("$ref");
  return openapi().at("components").at("schemas").at(ref.substr(ref.rfind('/') + 1));
}

bool matches_pattern(const std::string& text, const std::string& pattern) {
  static std::map<std::string, std::regex> compiled;
  auto it = compiled.find(pattern);
  if (it == compiled.end()) it = compiled.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
  return std::regex_search(text, it->second);
}

// Whether `value` is valid against one property's schema.
bool valid_value(const json& value, const json& schema) {
  std::string type = schema.at("type");
  if (type == "string") {
    if (!value.is_string()) return false;
    const auto& s = value.get_ref<const std::string&>();
    auto chars = features::count_chars(s);
    if (schema.contains("minLength") && chars < schema["minLength"].get<std::size_t>()) return false;
    if (schema.contains("maxLength") && chars > schema["maxLength"].get<std::size_t>()) return false;
    if (schema.contains("pattern") && !matches_pattern(s, schema["pattern"])) return false;
    return s.find('\0') == std::string::npos;
  }
  if (type == "integer") {
    if (value.is_number_unsigned()) {
      if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return false;  // format int64
    } else if (!value.is_number_integer()) {
      return false;
    }
    return !schema.contains("minimum") || value.get<std::int64_t>() >= schema["minimum"].get<std::int64_t>();
  }
  GRANITE_FUZZ_CHECK(false, "the oracle knows no type " + type);
}

// Whether a body (already parsed) is valid against an object schema.
bool valid_object(const json& doc, const json& schema) {
  if (!doc.is_object()) return false;
  for (const auto& name : schema.value("required", json::array()))
    if (!doc.contains(name.get<std::string>())) return false;
  const json& properties = schema.at("properties");
  for (const auto& [name, value] : doc.items()) {
    if (!properties.contains(name)) {
      GRANITE_FUZZ_CHECK(schema.at("additionalProperties") == false, name);
      return false;
    }
    if (!valid_value(value, properties[name])) return false;
  }
  return true;
}

// The body as the oracle reads it: JSON, without duplicate names.
std::optional<json> parse_strictly(const std::string& body) {
  bool duplicate = false;
  std::vector<std::set<std::string>> names;
  auto watch = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) names.emplace_back();
    if (event == json::parse_event_t::object_end) names.pop_back();
    if (event == json::parse_event_t::key && !names.back().insert(parsed.get<std::string>()).second) duplicate = true;
    return true;
  };
  json doc = json::parse(body, watch, false);
  if (doc.is_discarded() || duplicate) return std::nullopt;
  return doc;
}

const char* const media_types[] = {
    "application/json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "Application/JSON ;  CHARSET=\"UTF-8\"",
    "application/json; charset=utf-8; profile=x",
    // Refused: 415.
    "text/plain",
    "application/json; charset=latin1",
    "",
    "application/jsonx",
};
constexpr std::size_t accepted_media_types = 5;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  granite::fuzz::input in(data, size);
  const route& r = routes[in.byte() % std::size(routes)];
  auto media = in.byte() % std::size(media_types);
  http::request req;
  req.content_type = media_types[media];
  req.body = std::string(in.rest());
  auto got = r.read(req);
  std::string where = std::string(r.method) + " " + r.path + " with " + req.content_type + ": " + shown(req.body);

  if (r.may_be_empty && req.body.empty()) {
    GRANITE_FUZZ_CHECK(got.fields == json::object(), where + " was not taken as {}");
    return 0;
  }
  if (media >= accepted_media_types) {
    GRANITE_FUZZ_CHECK(got.refused && got.refused->kind == error::code::unsupported_media_type, where);
    return 0;
  }
  auto doc = parse_strictly(req.body);
  bool valid = doc && valid_object(*doc, schema_of(r));
  GRANITE_FUZZ_CHECK(valid == got.fields.has_value(),
                     where + (got.refused ? "\nrefused: " + got.refused->message : "\naccepted") +
                         "\nthe schema " + (valid ? "accepts it" : "refuses it"));
  if (valid) GRANITE_FUZZ_CHECK(*got.fields == *doc, where + "\ntook " + got.fields->dump());
  return 0;
}
