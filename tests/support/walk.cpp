#include "support/walk.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "support/forum.hpp"

namespace granite::testkit {

using nlohmann::json;

// A random walk of writes through the forum's API, as the members it signs
// up: posts, threads and users created, edited and deleted, with ids and
// owners remembered so that most edits and deletes are real ones; and a
// moderator of its own removing, restoring, locking and unlocking them.
namespace {

class random_writer {
 public:
  random_writer(const std::string& database_url, int port, std::uint64_t seed) : api_(port), rng_(seed) {
    moderator_ = api_.member("walk_moderator_" + std::to_string(seed % 1000000));
    auto granted = run_granite({"grant", "moderator", "walk_moderator_" + std::to_string(seed % 1000000)},
                               {{"DATABASE_URL", database_url}});
    EXPECT_EQ(granted.exit_code, 0) << granted.err;
    for (int i = 0; i < 3; ++i) sign_up();
  }

  // One write; returns what it was, for the failure messages.
  std::string step() {
    int dice = pick(0, 99);
    auto& me = members_[static_cast<std::size_t>(pick(0, static_cast<int>(members_.size()) - 1))];
    if (dice < 28 && !threads_.empty()) return create_post(me);
    if (dice < 40) return edit(me, "/api/posts/", posts_, json{{"text", "edited " + std::to_string(++n_)}});
    if (dice < 50) return remove(me, "/api/posts/", posts_);
    if (dice < 58) return create_thread(me);
    if (dice < 65) return edit(me, "/api/threads/", threads_, json{{"title", "retitled " + std::to_string(++n_)}});
    if (dice < 68) return remove(me, "/api/threads/", threads_);
    if (dice < 75) return moderate("/api/posts/", posts_, {"/remove", "/restore"});
    if (dice < 80) return moderate("/api/threads/", threads_, {"/remove", "/restore", "/lock", "/unlock"});
    if (dice < 90) return rename(me);
    if (dice < 96 && members_.size() < 7) return sign_up();
    if (members_.size() > 2) return leave(me);
    return create_thread(me);
  }

  // A read of a random page or record; the ids of the walk, those gone
  // included, and a few that never were.
  std::string random_read() {
    static const char* lists[] = {"/api/users", "/api/threads", "/api/posts/in-thread/", "/api/posts/by-user/"};
    int what = pick(0, 6);
    if (what >= 4) {
      static const char* records[] = {"/api/users/", "/api/threads/", "/api/posts/"};
      return records[what - 4] + std::to_string(any_id());
    }
    std::string target = lists[what];
    if (what == 2) target += std::to_string(any_id(thread_ids_));
    if (what == 3) target += std::to_string(any_id(user_ids_));
    // Oldest or newest first, from the start or from a cursor on either side.
    int shape = pick(0, 7);
    if (shape == 0) return target;  // the default page
    if (shape == 1) return target + "?order=desc";
    target += "?limit=" + std::to_string(pick(1, 4));
    if (shape >= 5) target += "&order=desc";
    if (shape == 3 || shape == 5) target += "&after=" + std::to_string(pick(0, 3) ? any_id() : 0);
    if (shape == 4 || shape == 6) target += "&before=" + std::to_string(any_id());
    return target;
  }

 private:
  struct owned {
    std::int64_t id;
    std::int64_t owner;
  };

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::int64_t any_id(const std::vector<std::int64_t>& ids) {
    if (ids.empty() || pick(0, 9) == 0) return pick(1, static_cast<int>(max_id_) + 2);
    return ids[static_cast<std::size_t>(pick(0, static_cast<int>(ids.size()) - 1))];
  }
  std::int64_t any_id() { return any_id(pick(0, 1) ? post_ids_ : user_ids_); }
  void seen(std::vector<std::int64_t>& ids, std::int64_t id) {
    ids.push_back(id);
    max_id_ = std::max(max_id_, id);
  }

  std::string sign_up() {
    auto name = "walker_" + std::to_string(++n_);
    auto m = api_.member(name);
    members_.push_back(m);
    seen(user_ids_, m.id);
    return "sign up " + std::to_string(m.id);
  }
  std::string create_post(const testkit::forum_client::account& me) {
    auto thread = threads_[static_cast<std::size_t>(pick(0, static_cast<int>(threads_.size()) - 1))].id;
    auto r = api_.call("POST", "/api/posts", json{{"thread", thread}, {"text", "post " + std::to_string(++n_)}}.dump(),
                       me.token);
    if (r.status != 201) return "post into " + std::to_string(thread) + ": " + std::to_string(r.status);
    auto id = json::parse(r.body)["id"].get<std::int64_t>();
    posts_.push_back({id, me.id});
    seen(post_ids_, id);
    return "post " + std::to_string(id) + " into " + std::to_string(thread);
  }
  std::string create_thread(const testkit::forum_client::account& me) {
    auto id = api_.start_thread(me.token, "thread " + std::to_string(++n_));
    threads_.push_back({id, me.id});
    seen(thread_ids_, id);
    return "thread " + std::to_string(id);
  }
  // PATCH of one of my records, or (one time in five) of anyone's.
  std::string edit(const testkit::forum_client::account& me, const std::string& path, std::vector<owned>& records,
                   const json& body) {
    if (records.empty()) return "nothing to edit";
    auto& r = records[static_cast<std::size_t>(pick(0, static_cast<int>(records.size()) - 1))];
    auto status = api_.call("PATCH", path + std::to_string(r.id), body.dump(), mine(me, r)).status;
    return "PATCH " + path + std::to_string(r.id) + ": " + std::to_string(status);
  }
  std::string remove(const testkit::forum_client::account& me, const std::string& path, std::vector<owned>& records) {
    if (records.empty()) return "nothing to delete";
    auto i = static_cast<std::size_t>(pick(0, static_cast<int>(records.size()) - 1));
    auto id = records[i].id;
    auto status = api_.call("DELETE", path + std::to_string(id), "", mine(me, records[i])).status;
    // A thread's posts go with it; the walk keeps their ids (a write to a
    // gone post is a 404, a fine step too).
    if (status == 204) records.erase(records.begin() + static_cast<std::ptrdiff_t>(i));
    return "DELETE " + path + std::to_string(id) + ": " + std::to_string(status);
  }
  // A moderator action on one of the records, then the moderator's own
  // read of it whole (which no cache may keep for others).
  std::string moderate(const std::string& path, const std::vector<owned>& records, std::vector<const char*> actions) {
    if (records.empty()) return "nothing to moderate";
    auto id = std::to_string(records[static_cast<std::size_t>(pick(0, static_cast<int>(records.size()) - 1))].id);
    auto action = actions[static_cast<std::size_t>(pick(0, static_cast<int>(actions.size()) - 1))];
    auto status = api_.call("POST", path + id + action, "", moderator_.token).status;
    auto kind = path == "/api/posts/" ? "posts/" : "threads/";
    api_.call("GET", std::string("/api/moderation/") + kind + id, "", moderator_.token);
    return "POST " + path + id + action + ": " + std::to_string(status);
  }
  std::string rename(const testkit::forum_client::account& me) {
    auto body = json{{"name", "name " + std::to_string(++n_)}, {"bio", "bio " + std::to_string(n_)}};
    auto status = api_.call("PATCH", "/api/users/" + std::to_string(me.id), body.dump(), me.token).status;
    return "PATCH /api/users/" + std::to_string(me.id) + ": " + std::to_string(status);
  }
  // A member deletes their account: their threads and posts go with it.
  std::string leave(const testkit::forum_client::account& me) {
    auto id = me.id;
    auto status = api_.call("DELETE", "/api/users/" + std::to_string(id), "", me.token).status;
    if (status != 204) return "DELETE /api/users/" + std::to_string(id) + ": " + std::to_string(status);
    std::erase_if(members_, [&](const auto& m) { return m.id == id; });
    std::erase_if(threads_, [&](const owned& t) { return t.owner == id; });
    std::erase_if(posts_, [&](const owned& p) { return p.owner == id; });
    return "DELETE /api/users/" + std::to_string(id);
  }
  // The owner's token one time in five is not used: a 403 is a step too.
  std::string mine(const testkit::forum_client::account& me, const owned& r) {
    if (r.owner == me.id || pick(0, 4) == 0) return me.token;
    for (const auto& m : members_)
      if (m.id == r.owner) return m.token;
    return me.token;
  }

  testkit::forum_client api_;
  std::mt19937_64 rng_;
  testkit::forum_client::account moderator_;
  std::vector<testkit::forum_client::account> members_;
  std::vector<owned> threads_, posts_;
  std::vector<std::int64_t> user_ids_, thread_ids_, post_ids_;  // every id the walk made, gone ones too
  std::int64_t max_id_ = 10;
  int n_ = 0;
};

}  // namespace

// What a reader is told, in full: the status, the body, the Link and the
// ETag. A problem's requestId is the request's own, not the answer's.
std::string shown(const http_response& r) {
  auto body = r.body;
  if (r.header("content-type") == "application/problem+json") {
    auto problem = json::parse(body);
    problem.erase("requestId");
    body = problem.dump();
  }
  return std::to_string(r.status) + " link=" + r.header("link") + " etag=" + r.header("etag") + "\n" + body;
}

// A record marked removed that still shows its author or its text: what
// removal must hide from everyone but moderators (the walk reads as nobody).
std::string removed_content_in(const http_response& r) {
  if (r.status != 200 || r.header("content-type") != "application/json") return "";
  auto doc = json::parse(r.body);
  std::string out;
  auto check = [&](const json& record) {
    if (!record.is_object() || !record.contains("removed")) return;
    for (const char* hidden : {"text", "user", "title", "createdBy"})
      if (record.contains(hidden) && !record[hidden].is_null()) out += record.dump() + " ";
  };
  if (doc.is_array())
    for (const auto& record : doc) check(record);
  else
    check(doc);
  return out;
}

// `steps` writes through `writer`'s port; after each, the targets read so
// far (up to 400) in part and a few new ones, through every connection in
// `cached` and through `reference`, which must agree. `settle` is how long a
// connection of another instance than the writer's may take to agree (its
// notices come through PostgreSQL); 0: at once.
walk_result random_walk(const std::string& database_url, int writer, std::vector<std::unique_ptr<http_client>>& cached,
                        http_client& reference, std::size_t same_instance, int steps,
                        std::chrono::milliseconds settle) {
  std::uint64_t seed = std::random_device{}();
  std::cout << "[ walk     ] seed " << seed << "\n";
  random_writer w(database_url, writer, seed);
  std::mt19937_64 rng(seed ^ 0x5eed);
  std::vector<std::string> hot;
  walk_result out;
  for (int step = 0; step < steps && out.mismatches < 5; ++step) {
    auto what = w.step();
    std::vector<std::string> reads;
    for (int i = 0; i < 6 && !hot.empty(); ++i)
      reads.push_back(hot[std::uniform_int_distribution<std::size_t>(0, hot.size() - 1)(rng)]);
    for (int i = 0; i < 3; ++i) {
      reads.push_back(w.random_read());
      if (hot.size() < 400) hot.push_back(reads.back());
    }
    for (const auto& target : reads) {
      auto answer = reference.request("GET", target);
      if (auto leak = removed_content_in(answer); !leak.empty()) {
        ++out.leaks;
        ADD_FAILURE() << "step " << step << " (" << what << "), GET " << target << " shows removed content: " << leak;
      }
      if (answer.body.find("\"removed\":true") != std::string::npos) ++out.tombstones;
      auto expected = shown(answer);
      for (std::size_t i = 0; i < cached.size(); ++i) {
        ++out.reads;
        auto got = shown(cached[i]->request("GET", target));
        if (got != expected && i >= same_instance) {
          ++out.late;
          testkit::eventually([&] { return shown(cached[i]->request("GET", target)) == expected; }, settle);
          got = shown(cached[i]->request("GET", target));
        }
        if (got == expected) continue;
        ++out.mismatches;
        ADD_FAILURE() << "step " << step << " (" << what << "), connection " << i << ", GET " << target
                      << "\ncached:\n" << got << "\nwithout a cache:\n" << expected;
      }
    }
    out.steps = step + 1;
  }
  return out;
}


}  // namespace granite::testkit
