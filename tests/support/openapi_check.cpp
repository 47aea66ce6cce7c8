#include "support/openapi_check.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

#include "support/process.hpp"
#include "support/testkit.hpp"

namespace granite::testkit {

namespace {

std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    auto slash = path.find('/', i + 1);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(i + 1, slash - i - 1));
    i = slash;
  }
  if (!out.empty() && out.back().empty() && out.size() > 1) out.pop_back();  // a trailing slash
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Characters, as JSON Schema counts a string's length: UTF-8 lead bytes.
std::size_t code_points(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

openapi_check::openapi_check()
    : doc_(nlohmann::json::parse(read_text(source_path("src/features/openapi.json")))) {}

const nlohmann::json& openapi_check::resolve(const nlohmann::json& node) const {
  const nlohmann::json* at = &node;
  while (at->is_object() && at->contains("$ref")) {
    auto ref = (*at)["$ref"].get<std::string>();  // "#/components/schemas/Post"
    at = &doc_.at(nlohmann::json::json_pointer(ref.substr(1)));
  }
  return *at;
}

void openapi_check::check(const nlohmann::json& schema_node, const nlohmann::json& value, const std::string& where,
                          std::string& out) const {
  const auto& schema = resolve(schema_node);
  auto fail = [&](const std::string& why) { out += where + ": " + why + "\n"; };
  if (schema.contains("enum") &&
      std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end())
    fail(value.dump() + " is not one of " + schema["enum"].dump());
  if (!schema.contains("type")) return;
  // One type, or a list of them (["string", "null"]): the value's own.
  auto is = [&value](const std::string& t) {
    return t == "object"    ? value.is_object()
           : t == "array"   ? value.is_array()
           : t == "string"  ? value.is_string()
           : t == "integer" ? value.is_number_integer()
           : t == "number"  ? value.is_number()
           : t == "boolean" ? value.is_boolean()
           : t == "null"    ? value.is_null()
                            : false;
  };
  std::string type;
  for (const auto& t : schema["type"].is_array() ? schema["type"] : nlohmann::json::array({schema["type"]}))
    if (is(t.get<std::string>())) type = t.get<std::string>();
  if (type.empty()) return fail(value.dump() + " is not of type " + schema["type"].dump());
  if (type == "integer" && schema.contains("minimum") && value.get<std::int64_t>() < schema["minimum"].get<std::int64_t>())
    fail(value.dump() + " is below " + schema["minimum"].dump());
  if (type == "string") {
    auto s = value.get<std::string>();
    if (schema.contains("minLength") && code_points(s) < schema["minLength"].get<std::size_t>())
      fail("shorter than " + schema["minLength"].dump());
    if (schema.contains("maxLength") && code_points(s) > schema["maxLength"].get<std::size_t>())
      fail("longer than " + schema["maxLength"].dump());
    if (schema.contains("pattern") && !std::regex_search(s, std::regex(schema["pattern"].get<std::string>())))
      fail(value.dump() + " does not match " + schema["pattern"].dump());
    static const std::regex date_time(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$)");
    if (schema.value("format", "") == "date-time" && !std::regex_match(s, date_time))
      fail(value.dump() + " is not an RFC 3339 date-time");
  }
  if (type == "array" && schema.contains("items"))
    for (std::size_t i = 0; i < value.size(); ++i) check(schema["items"], value[i], where + "[" + std::to_string(i) + "]", out);
  if (type == "object") {
    for (const auto& name : schema.value("required", nlohmann::json::array()))
      if (!value.contains(name.get<std::string>())) fail("lacks the required " + name.dump());
    const auto& props = schema.contains("properties") ? schema["properties"] : nlohmann::json::object();
    for (const auto& [name, item] : value.items()) {
      if (props.contains(name)) check(props[name], item, where + "." + name, out);
      else if (schema.contains("additionalProperties") && schema["additionalProperties"] == false)
        fail("has " + name + ", which the schema does not allow");
    }
  }
}

std::string openapi_check::schema_problems(const nlohmann::json& schema, const nlohmann::json& value) const {
  std::string out;
  check(schema, value, "body", out);
  return out;
}

std::string openapi_check::problems(const std::string& method, const std::string& target,
                                    const http_response& r) const {
  auto path = target.substr(0, target.find('?'));
  auto parts = segments(path);
  // The template with these segments, literal ones preferred.
  const nlohmann::json* item = nullptr;
  std::string matched;
  int best = -1;
  for (const auto& [tmpl, it] : doc_["paths"].items()) {
    auto want = segments(tmpl);
    if (want.size() != parts.size()) continue;
    int literal = 0;
    bool fits = true;
    for (std::size_t i = 0; i < want.size() && fits; ++i) {
      if (want[i].starts_with("{")) continue;
      fits = want[i] == parts[i];
      ++literal;
    }
    if (fits && literal > best) best = literal, item = &it, matched = tmpl;
  }
  std::string op_name = method + " " + matched;
  if (!item) return method + " " + target + ": no path of the document matches";
  auto verb = lower(method == "HEAD" ? std::string("GET") : method);
  if (!item->contains(verb)) return op_name + ": not documented";
  const auto& responses = (*item)[verb]["responses"];
  auto status = std::to_string(r.status);
  if (!responses.contains(status)) return op_name + ": status " + status + " is not documented";
  const auto& response = resolve(responses[status]);

  std::string out;
  auto type = r.header("Content-Type").substr(0, r.header("Content-Type").find(';'));
  if (response.contains("content") && method != "HEAD") {
    if (!response["content"].contains(type)) {
      out += op_name + " " + status + ": Content-Type " + type + " is not documented\n";
    } else if (type.find("json") != std::string::npos) {
      auto body = nlohmann::json::parse(r.body, nullptr, false);
      if (body.is_discarded()) out += op_name + " " + status + ": the body is not JSON\n";
      else check(response["content"][type]["schema"], body, op_name + " " + status + " body", out);
    }
  } else if (!response.contains("content") && !r.body.empty()) {
    out += op_name + " " + status + ": a body where none is documented\n";
  }
  const auto& headers = response.contains("headers") ? response["headers"] : nlohmann::json::object();
  for (const auto& [name, h] : headers.items()) {
    auto sent = r.header(name);
    if (sent.empty() || name == "Set-Cookie") continue;
    const auto& schema = resolve(resolve(h)["schema"]);
    nlohmann::json value = sent;
    if (schema.value("type", "") == "integer") value = std::stoll(sent);
    check(schema, value, op_name + " " + status + " header " + name, out);
  }
  // The validators granite sends must be documented where it sends them.
  if (!r.header("ETag").empty() && !headers.contains("ETag") && r.status != 304)
    out += op_name + " " + status + ": carries an ETag the document does not name\n";
  return out;
}

}  // namespace granite::testkit
