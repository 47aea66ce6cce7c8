#include "kept.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "results.hpp"

namespace granite::store {

const statement claim_key{"granite_claim_key", "SELECT granite_claim_idempotency_key($1, $2, $3)"};
const statement kept_read{
    "granite_kept",
    "SELECT encode(k.request_sha256, 'hex'), r.record FROM idempotency_keys k "
    "LEFT JOIN LATERAL jsonb_array_elements_text(k.response_rows) WITH ORDINALITY AS r(record, n) ON true "
    "WHERE k.user_id = $1 AND k.key = $2 AND k.expires_at > now() ORDER BY r.n"};

namespace {

// The highest $n of a statement: how many parameters it takes.
int parameter_count(std::string_view sql) {
  int most = 0;
  for (std::size_t i = sql.find('$'); i != std::string_view::npos; i = sql.find('$', i + 1)) {
    int n = 0;
    auto [end, ec] = std::from_chars(sql.data() + i + 1, sql.data() + sql.size(), n);
    if (ec == std::errc()) most = std::max(most, n);
  }
  return most;
}

std::string keeping_sql(std::string_view write) {
  int n = parameter_count(write);
  auto p = [n](int k) { return "$" + std::to_string(n + k); };
  // The key's row is written only when the write returned rows; a
  // data-modifying WITH runs whether or not the outer query reads it.
  return "WITH granite_write AS (" + std::string(write) +
         "), granite_kept AS (INSERT INTO idempotency_keys (user_id, key, request_sha256, response_rows, expires_at) "
         "SELECT " + p(1) + ", " + p(2) + ", decode(" + p(3) + ", 'hex'), jsonb_agg(granite_write::text), now() + "
         "make_interval(secs => " + p(4) + ") FROM granite_write HAVING count(*) > 0) SELECT * FROM granite_write";
}

}  // namespace

const statement& keeping(const statement& write) {
  struct made {
    std::string name, sql;
    statement s;
  };
  static std::mutex m;
  static std::map<const statement*, std::unique_ptr<made>> all;
  std::lock_guard lock(m);
  auto& slot = all[&write];
  if (!slot) {
    slot = std::make_unique<made>();
    slot->name = std::string(write.name) + "_kept";
    slot->sql = keeping_sql(write.sql);
    slot->s = {slot->name.c_str(), slot->sql.c_str()};
  }
  return slot->s;
}

// As PostgreSQL's record_in reads it: a field is NULL when nothing stands
// between its separators; otherwise double quotes group, a doubled quote
// inside them is one, and a backslash takes the next character as it is.
std::optional<std::vector<std::optional<std::string>>> record_fields(std::string_view text) {
  if (text.empty() || text.front() != '(') return std::nullopt;
  std::vector<std::optional<std::string>> out;
  std::size_t i = 1, n = text.size();
  for (;;) {
    if (i >= n) return std::nullopt;
    if (text[i] == ',' || text[i] == ')') {
      out.emplace_back(std::nullopt);
    } else {
      std::string v;
      bool quoted = false;
      while (i < n && (quoted || (text[i] != ',' && text[i] != ')'))) {
        char c = text[i++];
        if (c == '\\') {
          if (i >= n) return std::nullopt;
          v += text[i++];
        } else if (c == '"') {
          if (quoted && i < n && text[i] == '"') {
            v += '"';
            ++i;
          } else {
            quoted = !quoted;
          }
        } else {
          v += c;
        }
      }
      if (i >= n) return std::nullopt;
      out.emplace_back(std::move(v));
    }
    if (text[i++] == ')') return i == n ? std::optional(std::move(out)) : std::nullopt;
  }
}

batch read_kept(std::int64_t user, const std::string& key) { return batch().add(kept_read, user, key); }

std::optional<kept_write> kept_of(const answer& read, std::size_t statements) {
  const rows& found = read[0];
  if (found.size() == 0) return std::nullopt;
  kept_write out{std::string(found.text(0, 0)), {}};
  std::vector<std::vector<std::optional<std::string>>> records;
  for (std::size_t r = 0; r < found.size(); ++r) {
    if (found.null(r, 1)) continue;
    auto fields = record_fields(found.text(r, 1));
    if (!fields) throw std::runtime_error("an idempotency key keeps a row that is no record: " +
                                          std::string(found.text(r, 1)));
    records.push_back(std::move(*fields));
  }
  int columns = records.empty() ? 0 : static_cast<int>(records[0].size());
  PGresult* made = PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK);
  if (!made) throw std::bad_alloc();
  rows kept = wrap_result(made);
  std::vector<PGresAttDesc> attributes(static_cast<std::size_t>(columns));
  char unnamed[] = "?column?";
  for (auto& a : attributes) a = {unnamed, 0, 0, 0, 25 /* text */, -1, -1};
  bool ok = PQsetResultAttrs(made, columns, attributes.data()) == 1;
  for (std::size_t r = 0; ok && r < records.size(); ++r) {
    if (static_cast<int>(records[r].size()) != columns)
      throw std::runtime_error("an idempotency key keeps rows of two shapes");
    for (int c = 0; ok && c < columns; ++c) {
      const auto& v = records[r][static_cast<std::size_t>(c)];
      ok = PQsetvalue(made, static_cast<int>(r), c, v ? const_cast<char*>(v->data()) : nullptr,
                      v ? static_cast<int>(v->size()) : -1) == 1;
    }
  }
  if (!ok) throw std::bad_alloc();
  std::vector<rows> all(std::max<std::size_t>(statements, 1));
  all[0] = std::move(kept);
  out.replayed = answer(std::move(all));
  return out;
}

}  // namespace granite::store
