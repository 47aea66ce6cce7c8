#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "granite/error.hpp"
#include "granite/http/attempts.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/message.hpp"
#include "granite/task.hpp"

namespace granite::store {
class database;
}

namespace granite::http {

// Values captured by the {name} segments of a route pattern, percent-
// decoded. A {name:noun} segment is a record's id, parsed once, when the
// route is matched (parse_id: decimal digits, 1 .. 2^63-1), into a number
// or the error that names it "<noun> id"; the handler decides when to
// answer that error, so that its other checks keep their order.
class params {
 public:
  void add(std::string_view name, std::string value, std::string_view noun = {});
  std::string_view get(std::string_view name) const;
  // The id a {name:noun} segment holds, or why it holds none (an
  // invalid_argument; also for a name the route does not have).
  const result<std::int64_t>& id(std::string_view name) const;

 private:
  struct item {
    std::string_view name;
    std::string text;
    result<std::int64_t> id;
  };
  std::vector<item> items_;
};

class bulkhead;

// What became of a write sent with an Idempotency-Key, for the metrics:
// applied (and kept), answered from its key, refused because the key was
// used for another request (422) or is in use (409).
enum class key_outcome { applied = 0, replayed = 1, reused = 2, in_use = 3 };

// What a handler that waits may use: the worker's database, its CPU
// bulkhead (password hashing), the instance's limit on sign-in attempts,
// how long an Idempotency-Key keeps a write (http.idempotency_ttl_s), and
// where keyed writes are counted (null: nowhere; one cell per key_outcome).
struct services {
  store::database& db;
  bulkhead& cpu;
  attempt_limit attempts{};
  int idempotency_ttl_s = 86400;
  bool require_if_match = false;  // http.require_if_match: a PATCH or DELETE of a record without If-Match is 428
  std::atomic<std::uint64_t>* key_outcomes = nullptr;
  void count(key_outcome o) {
    if (key_outcomes) key_outcomes[static_cast<int>(o)].fetch_add(1, std::memory_order_relaxed);
  }
};

// A handler that needs nothing but the request answers at once, on the event
// loop. One that waits is a coroutine on the loop: it reads as straight-line
// code (validate, co_await the database or the bulkhead, answer), and the
// loop resumes it when what it awaits is in. The request and the params live
// until it has answered.
using plain_handler = std::function<response(const request&, const params&)>;
using async_handler = std::function<task<response>(const request&, const params&, services&)>;

using handler = std::variant<plain_handler, async_handler>;

// A read whose 200 responses the worker's cache may keep: what they show
// (the record named by the {param} segment, or the whole list when there is
// no param).
struct cache_rule {
  cache_kind kind;
  std::string param;
};

struct route {
  verb method;
  std::string pattern;  // "/api/users/{id}": as added, without the nouns of its ids
  handler run;
  std::vector<std::string> parts;  // the pattern's segments as added ("{id:user}"), split once
  std::optional<cache_rule> cache;
  std::size_t index = 0;  // 1, 2, ... in the order added (the metrics' route; 0: none)
};

struct match {
  const route* found = nullptr;  // null: `refusal` says why
  params values;
  response refusal;
};

class router {
 public:
  // HEAD is answered wherever GET is. `pattern` is literal segments and
  // {name} or {name:noun} (an id) segments: "/api/users/{id:user}".
  void add(verb method, std::string pattern, handler run, std::optional<cache_rule> cache = std::nullopt);
  match find(const request& req) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

}  // namespace granite::http
