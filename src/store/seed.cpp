#include <pqxx/pqxx>
#include <set>
#include <unordered_set>

#include "granite/store/connection.hpp"
#include "granite/store/seed.hpp"
#include "granite/text.hpp"
#include "seed_load.hpp"

namespace granite::store {

namespace {

// A PostgreSQL array literal of ids, for "= ANY($1::bigint[])".
std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (auto id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& v : values) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

template <class T>
std::unordered_set<T> existing(pqxx::work& tx, const char* sql, const std::string& array) {
  std::unordered_set<T> out;
  auto rows = tx.exec_params(sql, array);
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) out.insert(rows[i][0].template as<T>());
  return out;
}

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw seed_error(where + ": " + what); }

std::string at(const char* section, std::size_t i, const char* field) {
  return std::string(section) + "[" + std::to_string(i) + "]." + field;
}

constexpr const char* hint = " (seed --replace empties the database first)";

// Refuses ids and usernames that the database already holds.
void check_conflicts(pqxx::work& tx, const seed_data& d) {
  std::vector<std::int64_t> ids;
  std::vector<std::string> names;
  for (const auto& u : d.users) {
    ids.push_back(u.id);
    names.push_back(ascii_lower(u.username));
  }
  auto taken_ids = existing<std::int64_t>(tx, "SELECT id FROM users WHERE id = ANY($1::bigint[])", id_array(ids));
  auto taken_names = existing<std::string>(
      tx, "SELECT lower(username) FROM users WHERE lower(username) = ANY($1::text[])", text_array(names));
  for (std::size_t i = 0; i < d.users.size(); ++i) {
    if (taken_ids.count(d.users[i].id))
      fail(at("users", i, "id"), std::to_string(d.users[i].id) + " already exists in the database" + hint);
    if (taken_names.count(ascii_lower(d.users[i].username)))
      fail(at("users", i, "username"), "\"" + d.users[i].username + "\" already exists in the database" + hint);
  }

  ids.clear();
  for (const auto& t : d.threads) ids.push_back(t.id);
  auto taken_threads =
      existing<std::int64_t>(tx, "SELECT id FROM threads WHERE id = ANY($1::bigint[])", id_array(ids));
  for (std::size_t i = 0; i < d.threads.size(); ++i)
    if (taken_threads.count(d.threads[i].id))
      fail(at("threads", i, "id"), std::to_string(d.threads[i].id) + " already exists in the database" + hint);

  ids.clear();
  for (const auto& p : d.posts)
    if (p.id) ids.push_back(*p.id);
  auto taken_posts = existing<std::int64_t>(tx, "SELECT id FROM posts WHERE id = ANY($1::bigint[])", id_array(ids));
  for (std::size_t i = 0; i < d.posts.size(); ++i)
    if (d.posts[i].id && taken_posts.count(*d.posts[i].id))
      fail(at("posts", i, "id"), std::to_string(*d.posts[i].id) + " already exists in the database" + hint);
}

// Every reference must name a record of the file or of the database.
void check_references(pqxx::work& tx, const seed_data& d) {
  std::unordered_set<std::int64_t> users, threads;
  for (const auto& u : d.users) users.insert(u.id);
  for (const auto& t : d.threads) threads.insert(t.id);

  std::set<std::int64_t> outside_users, outside_threads;
  for (const auto& t : d.threads)
    if (!users.count(t.created_by)) outside_users.insert(t.created_by);
  for (const auto& p : d.posts) {
    if (!users.count(p.user)) outside_users.insert(p.user);
    if (!threads.count(p.thread)) outside_threads.insert(p.thread);
  }
  auto db_users = existing<std::int64_t>(tx, "SELECT id FROM users WHERE id = ANY($1::bigint[])",
                                         id_array({outside_users.begin(), outside_users.end()}));
  auto db_threads = existing<std::int64_t>(tx, "SELECT id FROM threads WHERE id = ANY($1::bigint[])",
                                           id_array({outside_threads.begin(), outside_threads.end()}));
  users.insert(db_users.begin(), db_users.end());
  threads.insert(db_threads.begin(), db_threads.end());

  constexpr const char* nowhere = " (neither in the file nor in the database)";
  for (std::size_t i = 0; i < d.threads.size(); ++i)
    if (!users.count(d.threads[i].created_by))
      fail(at("threads", i, "createdBy"), "user " + std::to_string(d.threads[i].created_by) + " does not exist" + nowhere);
  for (std::size_t i = 0; i < d.posts.size(); ++i) {
    if (!threads.count(d.posts[i].thread))
      fail(at("posts", i, "thread"), "thread " + std::to_string(d.posts[i].thread) + " does not exist" + nowhere);
    if (!users.count(d.posts[i].user))
      fail(at("posts", i, "user"), "user " + std::to_string(d.posts[i].user) + " does not exist" + nowhere);
  }
}

}  // namespace

namespace detail {

bool holds_data(pqxx::work& tx) {
  return tx.exec("SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM threads) OR EXISTS (SELECT 1 FROM posts)")
      [0][0]
          .as<bool>();
}

bool begin_load(pqxx::work& tx, seed_mode mode, const char* lock_mode) {
  tx.exec("SET LOCAL statement_timeout = 0");
  tx.exec("SET LOCAL granite.bulk_load = 'on'");
  tx.exec(std::string("LOCK TABLE users, threads, posts IN ") + lock_mode + " MODE");
  if (mode == seed_mode::if_empty && holds_data(tx)) return false;
  if (mode == seed_mode::replace)
    tx.exec("TRUNCATE idempotency_keys, sign_in_networks, sign_in_failures, sessions, moderation_log, moderators, "
            "posts, threads, users RESTART IDENTITY");
  return true;
}

void finish_load(pqxx::work& tx) {
  for (std::string table : {"users", "threads", "posts"})
    tx.exec("SELECT setval(pg_get_serial_sequence('" + table + "', 'id'), coalesce(max(id), 0) + 1, false) FROM " +
            table);
  tx.exec("NOTIFY granite_cache, '*'");
}

}  // namespace detail

seed_report load_seed(connection& c, const seed_data& d, seed_mode mode) {
  seed_report report;
  pqxx::work tx(c.raw());
  // Nobody writes while the checks and the inserts run, so what was checked
  // is what gets loaded.
  if (!detail::begin_load(tx, mode, "SHARE ROW EXCLUSIVE")) {
    report.skipped = true;
    return report;
  }

  check_conflicts(tx, d);
  check_references(tx, d);

  for (const auto& u : d.users)
    tx.exec_params("INSERT INTO users (id, username, name, bio) VALUES ($1, $2, $3, $4)", u.id, u.username, u.name,
                   u.bio);
  for (const auto& t : d.threads)
    tx.exec_params("INSERT INTO threads (id, title, created_by) VALUES ($1, $2, $3)", t.id, t.title, t.created_by);
  for (const auto& p : d.posts) {
    if (p.id)
      tx.exec_params("INSERT INTO posts (id, thread_id, user_id, text) VALUES ($1, $2, $3, $4)", *p.id, p.thread,
                     p.user, p.text);
    else
      tx.exec_params("INSERT INTO posts (thread_id, user_id, text) VALUES ($1, $2, $3)", p.thread, p.user, p.text);
  }
  detail::finish_load(tx);
  tx.commit();
  report.users = d.users.size();
  report.threads = d.threads.size();
  report.posts = d.posts.size();
  return report;
}

}  // namespace granite::store
