#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "granite/http/cache.hpp"
#include "granite/http/message.hpp"

namespace granite::store {
class connection;
}

namespace granite::http {

// Values captured by {name} segments of a route pattern, percent-decoded.
class params {
 public:
  void add(std::string_view name, std::string value) { items_.emplace_back(name, std::move(value)); }
  std::string_view get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string_view, std::string>> items_;
};

// A handler that needs no database runs on the event loop; one that does runs
// on a database thread with a connection of its own.
using plain_handler = std::function<response(const request&, const params&)>;
using db_handler = std::function<response(const request&, const params&, store::connection&)>;

// A route whose work crosses pools (sign-in: read the user on a database
// thread, verify the password in the CPU bulkhead, write the session on a
// database thread) returns an outcome from each step: the response, or the
// next step and where it runs. Steps capture what they need by value; the
// request stays with the session and is passed to each step.
struct outcome;
using db_step = std::function<outcome(const request&, store::connection&)>;
using cpu_step = std::function<outcome(const request&)>;
struct outcome {
  std::variant<response, db_step, cpu_step> next;
};
inline outcome done(response r) { return {std::move(r)}; }
inline outcome on_database(db_step s) { return {std::move(s)}; }
inline outcome on_cpu(cpu_step s) { return {std::move(s)}; }
// The first step runs on the event loop: it should only parse and validate.
using staged_handler = std::function<outcome(const request&, const params&)>;

using handler = std::variant<plain_handler, db_handler, staged_handler>;

// A read whose 200 responses the worker's cache may keep: what they show
// (the record named by the {param} segment, or the whole list when there is
// no param).
struct cache_rule {
  cache_kind kind;
  std::string param;
};

struct route {
  verb method;
  std::string pattern;  // "/api/users/{id}"
  handler run;
  std::vector<std::string> parts;  // the pattern's segments, split once
  std::optional<cache_rule> cache;
};

struct match {
  const route* found = nullptr;  // null: `refusal` says why
  params values;
  response refusal;
};

class router {
 public:
  // HEAD is answered wherever GET is.
  void add(verb method, std::string pattern, handler run, std::optional<cache_rule> cache = std::nullopt);
  match find(const request& req) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

}  // namespace granite::http
