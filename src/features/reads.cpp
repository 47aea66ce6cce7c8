#include "reads.hpp"

#include <string>

#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "page.hpp"
#include "versions.hpp"

namespace granite::features {

task<http::response> record_by_id(std::string_view what, store::batch (*select)(std::int64_t id), row_writer write,
                                  int version_column, const http::request& req, const http::params& p,
                                  http::services& s) {
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto a = co_await s.db.read(select(*id).at_least(req.position));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() == 0) co_return http::problem(not_found("no " + std::string(what) + " with id " + std::to_string(*id)), req);
  std::string body;
  json_text out(body);
  write(out, a[0], 0);
  co_return with_version(http::json(200, std::move(body)), a[0], 0, version_column);
}

task<http::response> record_page(store::batch (*select)(const page& p), row_writer write,
                                 const http::request& req, http::services& s) {
  auto page = parse_page(req);
  if (!page) co_return http::problem(page.err(), req);
  auto a = co_await s.db.read(select(*page).at_least(req.position));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  co_return json_page(a[0], *page, req, write);
}

}  // namespace granite::features
