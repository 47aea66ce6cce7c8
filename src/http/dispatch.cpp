#include "dispatch.hpp"

#include "granite/http/problem.hpp"

namespace granite::http {

namespace {

response internal(const std::exception_ptr& e, const request& req) {
  std::string what = "an unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
  }
  return problem(error{error::code::internal, "the handler threw " + what}, req);
}

}  // namespace

response answer_plain(const plain_handler& run, const request& req, const params& values) {
  try {
    return run(req, values);
  } catch (...) {
    return internal(std::current_exception(), req);
  }
}

void dispatch(const async_handler& run, const request& req, const params& values, services& s, reply_fn reply) {
  std::optional<task<response>> t;
  try {
    t.emplace(run(req, values, s));
  } catch (...) {
    return reply(internal(std::current_exception(), req));
  }
  start(std::move(*t), reply, [reply, &req](std::exception_ptr e) { reply(internal(e, req)); });
}

}  // namespace granite::http
