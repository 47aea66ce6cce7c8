#include "dispatch.hpp"

#include <spdlog/spdlog.h>

#include "granite/http/bulkhead.hpp"
#include "granite/http/problem.hpp"
#include "granite/store/pool.hpp"

namespace granite::http {

namespace {

response unavailable(std::string detail, const request& req) {
  return problem(granite::unavailable(std::move(detail)), req);
}

response internal(const char* where, const std::exception& e, const request& req) {
  spdlog::error("{} failed for {} {} rid={}: {}", where, verb_name(req.method), req.target, req.request_id, e.what());
  return problem(error{error::code::internal, "an internal error occurred; the request id identifies it in granite's log"},
                 req);
}

// Runs a database step on a pool thread; every failure becomes a response.
outcome run_db_step(const db_step& step, const request& req, store::connection* c) {
  if (!c) return done(unavailable("the database is unreachable; retry shortly", req));
  try {
    return step(req, *c);
  } catch (const std::exception& e) {
    auto failure = store::database_failure(e);
    if (!failure) return done(internal("handler", e, req));
    if (failure->kind == error::code::internal) return done(internal("query", e, req));
    return done(problem(*failure, req));
  }
}

template <class Step>
outcome guarded(const Step& step, const request& req) {
  try {
    return step();
  } catch (const std::exception& e) {
    return done(internal("handler", e, req));
  }
}

// Takes a request's work one step further: a response goes to `reply`; a
// step goes to the pool it names, and what it returns comes back here.
void advance(outcome o, const std::shared_ptr<const request>& req, step_pools pools, const reply_fn& reply) {
  if (auto* r = std::get_if<response>(&o.next)) return reply(std::move(*r));
  if (auto* step = std::get_if<db_step>(&o.next)) {
    bool queued = pools.db.submit([req, pools, reply, step = std::move(*step)](store::connection* c) {
      advance(run_db_step(step, *req, c), req, pools, reply);
    });
    if (!queued) reply(unavailable("too many requests are waiting for the database; retry shortly", *req));
    return;
  }
  bool queued = pools.cpu.submit([req, pools, reply, step = std::move(std::get<cpu_step>(o.next))](bool expired) {
    if (expired) return reply(unavailable("waited too long for " + pools.cpu.name() + "; retry shortly", *req));
    advance(guarded([&] { return step(*req); }, *req), req, pools, reply);
  });
  if (!queued) reply(unavailable("too many requests are waiting for " + pools.cpu.name() + "; retry shortly", *req));
}

}  // namespace

response answer_plain(const plain_handler& run, const request& req, const params& values) {
  try {
    return run(req, values);
  } catch (const std::exception& e) {
    return internal("handler", e, req);
  }
}

void dispatch(const route& r, params values, std::shared_ptr<const request> req, step_pools pools, reply_fn reply) {
  if (auto* run = std::get_if<db_handler>(&r.run))
    return advance(on_database([run, values = std::move(values)](const request& q, store::connection& c) {
                     return done((*run)(q, values, c));
                   }),
                   req, pools, reply);
  const auto& staged = std::get<staged_handler>(r.run);
  advance(guarded([&] { return staged(*req, values); }, *req), req, pools, reply);
}

}  // namespace granite::http
