#include <charconv>
#include <pqxx/pqxx>
#include <vector>

#include "granite/store/connection.hpp"
#include "granite/store/seed.hpp"
#include "seed_load.hpp"

namespace granite::store {

namespace {

struct secondary_index {
  std::string table, name, definition;
  bool identity;  // the table's replica identity (migration 0006): made so again
};

// The indexes of the forum's tables that back no constraint: dropped before
// the load and built again after it, each in one sort.
std::vector<secondary_index> secondary_indexes(pqxx::work& tx) {
  std::vector<secondary_index> out;
  auto rows = tx.exec(
      "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
      "i.indisreplident FROM pg_index i "
      "WHERE i.indrelid IN ('users'::regclass, 'threads'::regclass, 'posts'::regclass) "
      "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 2");
  for (const auto& r : rows)
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<bool>()});
  return out;
}

struct foreign_key {
  std::string table, name, definition;
};

// The foreign keys of the tables being filled, to be added again (and
// validated in one pass each) after the load.
std::vector<foreign_key> foreign_keys(pqxx::work& tx) {
  std::vector<foreign_key> out;
  auto rows = tx.exec(
      "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
      "WHERE contype = 'f' AND conrelid IN ('users'::regclass, 'threads'::regclass, 'posts'::regclass) ORDER BY 1, 2");
  for (const auto& r : rows) out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  return out;
}

}  // namespace

synthetic_spec parse_synthetic(std::string_view spec) {
  synthetic_spec out;
  bool seen[3] = {false, false, false};
  if (spec.empty()) throw seed_error("--synthetic: give counts, e.g. users=100000,threads=200000,posts=2000000");
  for (bool more = true; more;) {
    auto comma = spec.find(',');
    auto part = spec.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) spec.remove_prefix(comma + 1);
    auto eq = part.find('=');
    auto name = part.substr(0, eq);
    int which = name == "users" ? 0 : name == "threads" ? 1 : name == "posts" ? 2 : -1;
    std::string shown(part);
    if (which < 0 || eq == std::string_view::npos)
      throw seed_error("--synthetic: \"" + shown + "\" is not users=N, threads=N or posts=N");
    if (seen[which]) throw seed_error("--synthetic: " + std::string(name) + " is given more than once");
    seen[which] = true;
    auto value = part.substr(eq + 1);
    std::int64_t n = -1;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 0 || n > synthetic_limit)
      throw seed_error("--synthetic: " + std::string(name) + " must be a count from 0 to " +
                       std::to_string(synthetic_limit) + ", got \"" + std::string(value) + "\"");
    (which == 0 ? out.users : which == 1 ? out.threads : out.posts) = n;
  }
  if (out.threads > 0 && out.users == 0) throw seed_error("--synthetic: threads need users to start them");
  if (out.posts > 0 && (out.threads == 0 || out.users == 0))
    throw seed_error("--synthetic: posts need threads and users");
  return out;
}

seed_report load_synthetic(connection& c, const synthetic_spec& s, seed_mode mode) {
  seed_report report;
  pqxx::work tx(c.raw());
  tx.exec("SET LOCAL maintenance_work_mem = '256MB'");
  if (!detail::begin_load(tx, mode, "ACCESS EXCLUSIVE")) {
    report.skipped = true;
    return report;
  }
  if (mode == seed_mode::add && detail::holds_data(tx))
    throw seed_error("synthetic data goes into an empty database; the database holds data (seed --replace empties it "
                     "first)");

  // Checked and indexed once at the end rather than row by row; the change
  // notices are one '*' rather than one per row. Nobody sees the tables
  // meanwhile (the lock), and a failure rolls all of it back.
  auto indexes = secondary_indexes(tx);
  auto keys = foreign_keys(tx);
  for (const auto& i : indexes) tx.exec("DROP INDEX " + i.name);
  for (const auto& k : keys) tx.exec("ALTER TABLE " + k.table + " DROP CONSTRAINT " + k.name);
  for (const char* table : {"users", "threads", "posts"})
    tx.exec(std::string("ALTER TABLE ") + table + " DISABLE TRIGGER USER");
  tx.exec_params(
      "INSERT INTO users (id, username, name, bio) "
      "SELECT i, 'user' || i, 'User ' || i, 'Synthetic user number ' || i || '.' FROM generate_series(1, $1::bigint) i",
      s.users);
  tx.exec_params(
      "INSERT INTO threads (id, title, created_by) "
      "SELECT i, 'Thread ' || i, 1 + (i * 7919) % $2::bigint FROM generate_series(1, $1::bigint) i",
      s.threads, s.users);
  tx.exec_params(
      "INSERT INTO posts (id, thread_id, user_id, text) "
      "SELECT i, 1 + (i / 2) % CASE WHEN i % 2 = 0 THEN least($2::bigint, 1000) ELSE $2::bigint END, "
      "1 + (i * 31) % $3::bigint, 'Post ' || i || ': ' || repeat('lorem ipsum dolor ', 1 + (i % 8)::int) "
      "FROM generate_series(1, $1::bigint) i",
      s.posts, s.threads, s.users);
  for (const auto& i : indexes) {
    tx.exec(i.definition);
    if (i.identity) tx.exec("ALTER TABLE " + i.table + " REPLICA IDENTITY USING INDEX " + i.name);
  }
  for (const auto& k : keys) tx.exec("ALTER TABLE " + k.table + " ADD CONSTRAINT " + k.name + " " + k.definition);
  for (const char* table : {"users", "threads", "posts"})
    tx.exec(std::string("ALTER TABLE ") + table + " ENABLE TRIGGER USER");
  detail::finish_load(tx);
  tx.commit();
  // Statistics for the new sizes, so that the first queries get good plans.
  pqxx::nontransaction(c.raw()).exec("ANALYZE users, threads, posts");
  report.users = static_cast<std::size_t>(s.users);
  report.threads = static_cast<std::size_t>(s.threads);
  report.posts = static_cast<std::size_t>(s.posts);
  return report;
}

}  // namespace granite::store
