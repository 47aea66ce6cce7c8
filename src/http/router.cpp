#include "granite/http/router.hpp"

#include <algorithm>

#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"

namespace granite::http {

namespace {

// "/api/users/" and "/api/users" are the same route, as in the original API.
std::string_view without_trailing_slash(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  path = without_trailing_slash(path);
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.empty()) return out;
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view segment) { return segment.size() > 2 && segment.front() == '{' && segment.back() == '}'; }

// A {name} or {name:noun} segment's name and noun ("" for none).
std::pair<std::string_view, std::string_view> param_of(std::string_view segment) {
  segment = segment.substr(1, segment.size() - 2);
  auto colon = segment.find(':');
  if (colon == std::string_view::npos) return {segment, {}};
  return {segment.substr(0, colon), segment.substr(colon + 1)};
}

// The pattern as shown (metrics, the access log): without the nouns.
std::string shown(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& part : parts)
    out += "/" + (is_param(part) ? "{" + std::string(param_of(part).first) + "}" : part);
  return out;
}

enum class fit { no, yes, bad_escape };

fit matches(const route& r, const std::vector<std::string_view>& path, params* out) {
  const auto& pattern = r.parts;
  if (pattern.size() != path.size()) return fit::no;
  std::string decoded;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (!percent_decode(path[i], decoded)) return fit::bad_escape;
    if (is_param(pattern[i])) {
      if (decoded.empty()) return fit::no;
      if (out) {
        auto [name, noun] = param_of(pattern[i]);
        out->add(name, decoded, noun);
      }
    } else if (pattern[i] != decoded) {
      return fit::no;
    }
  }
  return fit::yes;
}

}  // namespace

void params::add(std::string_view name, std::string value, std::string_view noun) {
  // Only the branch taken is built ("user id" fits in a short string).
  auto id = noun.empty() ? result<std::int64_t>(invalid_argument(std::string(name) + " is not an id"))
                         : parse_id(value, std::string(noun) + " id");
  items_.push_back({name, std::move(value), std::move(id)});
}

std::string_view params::get(std::string_view name) const {
  for (const auto& i : items_)
    if (i.name == name) return i.text;
  return {};
}

const result<std::int64_t>& params::id(std::string_view name) const {
  for (const auto& i : items_)
    if (i.name == name) return i.id;
  static const result<std::int64_t> none = invalid_argument("the route has no id parameter");
  return none;
}

void router::add(verb method, std::string pattern, handler run, std::optional<cache_rule> cache) {
  std::vector<std::string> parts;
  for (auto part : segments(pattern)) parts.emplace_back(part);
  // As shown: "/api/" stays itself (the trailing slash is not part of the
  // route), a pattern with ids loses their nouns.
  if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return is_param(p); })) pattern = shown(parts);
  routes_.push_back(route{method, std::move(pattern), std::move(run), std::move(parts), std::move(cache),
                          routes_.size() + 1});
}

match router::find(const request& req) const {
  match out;
  auto path = segments(req.path);
  verb wanted = req.method == verb::head ? verb::get : req.method;
  std::vector<verb> allowed;
  for (const auto& r : routes_) {
    // Only the route that answers has its params taken (and its ids parsed).
    bool answers = r.method == wanted;
    params values;
    switch (matches(r, path, answers ? &values : nullptr)) {
      case fit::no: continue;
      case fit::bad_escape:
        out.refusal = problem(400, "the path has a malformed percent-escape", req);
        return out;
      case fit::yes: break;
    }
    if (answers) {
      out.found = &r;
      out.values = std::move(values);
      return out;
    }
    allowed.push_back(r.method);
    if (r.method == verb::get) allowed.push_back(verb::head);
  }
  if (allowed.empty()) {
    out.refusal = problem(404, "no route for " + std::string(method_of(req)) + " " + req.path +
                                   "; see the API table in the README",
                          req);
    return out;
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  std::string allow;
  for (verb v : allowed) allow += (allow.empty() ? "" : ", ") + std::string(verb_name(v));
  out.refusal = problem(405, std::string(method_of(req)) + " is not allowed on " + req.path + "; allowed: " + allow,
                        req);
  out.refusal.headers.emplace_back("Allow", allow);
  return out;
}

}  // namespace granite::http
