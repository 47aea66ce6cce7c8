// The seed file's parsing (granite seed FILE, and --seed at start).
//
// Properties:
// - any text either parses or is refused with a seed_error (no other
//   exception, no crash);
// - what parses keeps the rules the file alone decides: ids from 1, unique
//   per kind, usernames present and unique regardless of case, no NUL in any
//   text, posts numbered all or none;
// - what parses, written back in the same shape, parses to the same data.
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "fuzz.hpp"
#include "granite/store/seed.hpp"
#include "granite/text.hpp"

namespace {

using namespace granite;
using nlohmann::json;

json written(const store::seed_data& d) {
  json out = {{"users", json::array()}, {"threads", json::array()}, {"posts", json::array()}};
  for (const auto& u : d.users) out["users"].push_back({{"id", u.id}, {"username", u.username}, {"name", u.name}, {"bio", u.bio}});
  for (const auto& t : d.threads) out["threads"].push_back({{"id", t.id}, {"title", t.title}, {"createdBy", t.created_by}});
  for (const auto& p : d.posts) {
    json post = {{"thread", p.thread}, {"text", p.text}, {"user", p.user}};
    if (p.id) post["id"] = *p.id;
    out["posts"].push_back(post);
  }
  return out;
}

void check_rules(const store::seed_data& d, const std::string& text) {
  auto no_nul = [&](const std::string& s) { GRANITE_FUZZ_CHECK(s.find('\0') == std::string::npos, text); };
  std::set<std::int64_t> ids;
  std::set<std::string> names;
  for (const auto& u : d.users) {
    GRANITE_FUZZ_CHECK(u.id >= 1 && ids.insert(u.id).second, text);
    GRANITE_FUZZ_CHECK(!u.username.empty() && names.insert(ascii_lower(u.username)).second, text);
    no_nul(u.username), no_nul(u.name), no_nul(u.bio);
  }
  ids.clear();
  for (const auto& t : d.threads) {
    GRANITE_FUZZ_CHECK(t.id >= 1 && ids.insert(t.id).second && t.created_by >= 1, text);
    no_nul(t.title);
  }
  ids.clear();
  for (const auto& p : d.posts) {
    GRANITE_FUZZ_CHECK(p.id.has_value() == d.posts.front().id.has_value(), text);
    GRANITE_FUZZ_CHECK(!p.id || (*p.id >= 1 && ids.insert(*p.id).second), text);
    GRANITE_FUZZ_CHECK(p.thread >= 1 && p.user >= 1, text);
    no_nul(p.text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  store::seed_data parsed;
  try {
    parsed = store::parse_seed(text);
  } catch (const store::seed_error& e) {
    GRANITE_FUZZ_CHECK(e.what()[0] != '\0', text);  // a refusal says why
    return 0;
  }
  check_rules(parsed, granite::fuzz::shown(text));
  auto again = written(parsed).dump();
  store::seed_data reparsed;
  try {
    reparsed = store::parse_seed(again);
  } catch (const store::seed_error& e) {
    granite::fuzz::failed("written back, the seed is refused", std::string(e.what()) + "\n" + again);
  }
  GRANITE_FUZZ_CHECK(written(reparsed) == written(parsed), again);
  return 0;
}
