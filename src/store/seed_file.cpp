#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "granite/store/seed.hpp"
#include "granite/text.hpp"

namespace granite::store {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw seed_error(where + ": " + what); }

std::string shown(const json& v) {
  auto text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Reads the fields of one record, refusing unknown and missing ones.
class record {
 public:
  record(const json& value, std::string where, std::set<std::string> allowed)
      : value_(value), where_(std::move(where)) {
    if (!value_.is_object()) fail(where_, "must be an object, got " + shown(value_));
    for (const auto& [key, _] : value_.items())
      if (!allowed.count(key)) fail(where_, "unknown field \"" + key + "\"");
  }

  bool has(const char* key) const { return value_.contains(key); }

  std::int64_t id(const char* key) const {
    const json& v = field(key);
    if (!v.is_number_integer()) fail(at(key), "must be a positive integer, got " + shown(v));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())
      fail(at(key), "must be at most 9223372036854775807, got " + shown(v));
    auto n = v.get<std::int64_t>();
    if (n < 1) fail(at(key), "must be a positive integer, got " + shown(v));
    return n;
  }

  std::string text(const char* key, bool may_be_empty = true) const {
    const json& v = field(key);
    if (!v.is_string()) fail(at(key), "must be a string, got " + shown(v));
    auto s = v.get<std::string>();
    // PostgreSQL text cannot hold NUL; refusing beats silently truncating.
    if (s.find('\0') != std::string::npos) fail(at(key), "contains a NUL character (\\u0000)");
    if (!may_be_empty && s.empty()) fail(at(key), "must not be empty");
    return s;
  }

  std::string at(const char* key) const { return where_ + "." + key; }
  const std::string& where() const { return where_; }

 private:
  const json& field(const char* key) const {
    auto it = value_.find(key);
    if (it == value_.end()) fail(where_, "missing field \"" + std::string(key) + "\"");
    return *it;
  }

  const json& value_;
  std::string where_;
};

const json& section(const json& doc, const char* name) {
  static const json empty = json::array();
  auto it = doc.find(name);
  if (it == doc.end()) return empty;
  if (!it->is_array()) fail(name, "must be an array, got " + shown(*it));
  return *it;
}

std::string line_and_column(std::string_view text, std::size_t byte) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

seed_data parse_seed(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string why = e.what();
    if (auto colon = why.rfind(": "); colon != std::string::npos) why = why.substr(colon + 2);
    throw seed_error("not valid JSON at " + line_and_column(text, e.byte) + ": " + why);
  } catch (const json::exception& e) {  // a number beyond a double's range (1e400)
    std::string why = e.what();
    if (auto bracket = why.find("] "); bracket != std::string::npos) why = why.substr(bracket + 2);
    throw seed_error("not valid JSON: " + why);
  }
  if (!doc.is_object()) throw seed_error("the file must hold a JSON object with users, threads and posts");
  for (const auto& [key, _] : doc.items())
    if (key != "users" && key != "threads" && key != "posts")
      throw seed_error("unknown top-level field \"" + key + "\" (expected users, threads, posts)");

  seed_data out;
  std::unordered_map<std::int64_t, std::size_t> user_at, thread_at, post_at;
  std::unordered_map<std::string, std::size_t> username_at;

  const json& users = section(doc, "users");
  for (std::size_t i = 0; i < users.size(); ++i) {
    record r(users[i], "users[" + std::to_string(i) + "]", {"id", "username", "name", "bio"});
    seed_user u{r.id("id"), r.text("username", false), r.has("name") ? r.text("name") : "",
                r.has("bio") ? r.text("bio") : ""};
    if (auto [it, fresh] = user_at.emplace(u.id, i); !fresh)
      fail(r.at("id"), std::to_string(u.id) + " is also the id of users[" + std::to_string(it->second) + "]");
    if (auto [it, fresh] = username_at.emplace(ascii_lower(u.username), i); !fresh)
      fail(r.at("username"), "\"" + u.username + "\" is also the username of users[" + std::to_string(it->second) +
                                 "] (usernames are unique regardless of case)");
    out.users.push_back(std::move(u));
  }

  const json& threads = section(doc, "threads");
  for (std::size_t i = 0; i < threads.size(); ++i) {
    record r(threads[i], "threads[" + std::to_string(i) + "]", {"id", "title", "createdBy"});
    seed_thread t{r.id("id"), r.text("title"), r.id("createdBy")};
    if (auto [it, fresh] = thread_at.emplace(t.id, i); !fresh)
      fail(r.at("id"), std::to_string(t.id) + " is also the id of threads[" + std::to_string(it->second) + "]");
    out.threads.push_back(std::move(t));
  }

  const json& posts = section(doc, "posts");
  std::optional<bool> posts_have_ids;
  for (std::size_t i = 0; i < posts.size(); ++i) {
    record r(posts[i], "posts[" + std::to_string(i) + "]", {"id", "thread", "text", "user"});
    seed_post p{std::nullopt, r.id("thread"), r.text("text"), r.id("user")};
    if (!posts_have_ids) posts_have_ids = r.has("id");
    if (r.has("id") != *posts_have_ids)
      fail(r.where(), "either every post has an \"id\" or none does (posts[0] " +
                          std::string(*posts_have_ids ? "has" : "has none") + ")");
    if (r.has("id")) {
      p.id = r.id("id");
      if (auto [it, fresh] = post_at.emplace(*p.id, i); !fresh)
        fail(r.at("id"), std::to_string(*p.id) + " is also the id of posts[" + std::to_string(it->second) + "]");
    }
    out.posts.push_back(std::move(p));
  }
  return out;
}

seed_data read_seed_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw seed_error("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_seed(text.str());
  } catch (const seed_error& e) {
    throw seed_error(path + ": " + e.what());
  }
}

}  // namespace granite::store
