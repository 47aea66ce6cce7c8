#include "support/forum.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

namespace granite::testkit {

namespace {
std::int64_t created_id(const http_response& r, const std::string& what) {
  EXPECT_EQ(r.status, 201) << what << ": " << r.body;
  if (r.status != 201) return 0;
  return nlohmann::json::parse(r.body)["id"].get<std::int64_t>();
}
}  // namespace

namespace {
std::vector<std::pair<std::string, std::string>> headers_of(const std::string& body, const std::string& token,
                                                            const std::string& content_type) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!body.empty() && !content_type.empty()) headers.emplace_back("Content-Type", content_type);
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return headers;
}
}  // namespace

http_response forum_client::call(const std::string& method, const std::string& target, const std::string& body,
                                 const std::string& token, const std::string& content_type) const {
  http_client c(port_);
  return c.request(method, target, headers_of(body, token, content_type), body);
}

http_response forum_client::call_with(const std::vector<std::pair<std::string, std::string>>& more,
                                      const std::string& method, const std::string& target, const std::string& body,
                                      const std::string& token) const {
  auto headers = headers_of(body, token, "application/json");
  headers.insert(headers.end(), more.begin(), more.end());
  http_client c(port_);
  return c.request(method, target, headers, body);
}

// Sign-up and sign-in hash a password at idle priority: on a machine busy
// with other tests the hashing queue may shed them with a 503 and a
// Retry-After, as it is built to. These helpers set up accounts for tests of
// something else, so they do what a client does: wait as told and retry, a
// bounded number of times.
http_response forum_client::hashed(const std::string& target, const std::string& body) const {
  http_response r;
  for (int attempt = 0; attempt < 4; ++attempt) {
    r = call("POST", target, body);
    if (r.status != 503) break;
    auto after = std::clamp(std::atoi(r.header("Retry-After").c_str()), 1, 2);
    std::this_thread::sleep_for(std::chrono::seconds(after));
  }
  return r;
}

std::int64_t forum_client::sign_up(const std::string& username, const std::string& password) const {
  nlohmann::json body = {{"username", username}, {"password", password}};
  return created_id(hashed("/api/users", body.dump()), "sign-up of " + username);
}

std::string forum_client::sign_in(const std::string& username, const std::string& password) const {
  nlohmann::json body = {{"username", username}, {"password", password}};
  auto r = hashed("/api/sessions", body.dump());
  EXPECT_EQ(r.status, 201) << "sign-in of " << username << ": " << r.body;
  if (r.status != 201) return "";
  return nlohmann::json::parse(r.body)["token"].get<std::string>();
}

forum_client::account forum_client::member(const std::string& username) const {
  auto id = sign_up(username);
  return {id, sign_in(username)};
}

std::int64_t forum_client::start_thread(const std::string& token, const std::string& title) const {
  nlohmann::json body = {{"title", title}};
  return created_id(call("POST", "/api/threads", body.dump(), token), "thread " + title);
}

std::int64_t forum_client::write_post(const std::string& token, std::int64_t thread, const std::string& text) const {
  nlohmann::json body = {{"thread", thread}, {"text", text}};
  return created_id(call("POST", "/api/posts", body.dump(), token), "post in thread " + std::to_string(thread));
}

std::string field_errors(const http_response& r) {
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("errors")) return "(no errors list) " + r.body;
  std::vector<std::string> lines;
  for (const auto& e : doc["errors"]) lines.push_back(e["field"].get<std::string>() + ": " + e["message"].get<std::string>());
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

nlohmann::json cache_stats(http_client& c) {
  auto r = c.request("GET", "/health/cache");
  EXPECT_EQ(r.status, 200) << r.body;
  return nlohmann::json::parse(r.body);
}

std::vector<std::unique_ptr<http_client>> one_per_worker(int port, std::size_t workers) {
  std::vector<std::unique_ptr<http_client>> out;
  std::set<long> seen;
  for (int attempt = 0; attempt < 200 && out.size() < workers; ++attempt) {
    auto c = std::make_unique<http_client>(port);
    long pid = cache_stats(*c)["worker"];
    if (seen.insert(pid).second) out.push_back(std::move(c));
  }
  EXPECT_EQ(out.size(), workers) << "could not reach every worker";
  return out;
}

}  // namespace granite::testkit
