#include "granite/http/message.hpp"

#include <array>

namespace granite::http {

namespace {
constexpr std::array<std::pair<verb, std::string_view>, 7> verbs = {{
    {verb::get, "GET"},
    {verb::head, "HEAD"},
    {verb::post, "POST"},
    {verb::put, "PUT"},
    {verb::patch, "PATCH"},
    {verb::delete_, "DELETE"},
    {verb::options, "OPTIONS"},
}};
}  // namespace

verb parse_verb(std::string_view name) {
  for (const auto& [v, text] : verbs)
    if (text == name) return v;
  return verb::other;
}

std::string_view verb_name(verb v) {
  for (const auto& [candidate, text] : verbs)
    if (candidate == v) return text;
  return "OTHER";
}

namespace {
response with(int status, std::string_view type, std::string body) {
  response r;
  r.status = status;
  r.content_type = type;
  r.body = std::move(body);
  return r;
}
}  // namespace

response text(int status, std::string body) { return with(status, text_type, std::move(body)); }
response json(int status, std::string body) { return with(status, json_type, std::move(body)); }

response created(std::string location, std::string json_body) {
  auto out = json(201, std::move(json_body));
  out.headers.emplace_back("Location", std::move(location));
  return out;
}
response no_content() { return with(204, {}, {}); }

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string name, value;
    if (!percent_decode(pair.substr(0, eq), name, true)) return std::nullopt;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true)) return std::nullopt;
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

void split_target(std::string_view target, std::string& path, std::string& query) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto authority = target.find("//") + 2;
    auto slash = target.find_first_of("/?", authority);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    if (target.starts_with('?')) {
      path = "/";
      query = target.substr(1);
      return;
    }
  }
  auto q = target.find('?');
  auto end = std::min(q, target.find('#'));
  path = target.substr(0, end);
  query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (auto hash = query.find('#'); hash != std::string::npos) query.resize(hash);
}

}  // namespace granite::http
