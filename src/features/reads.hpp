#pragma once

// The reads every feature has, the same for users, threads and posts: one
// record by the id in the path, and a page of records by the keyset cursor.
#include <cstdint>
#include <string_view>

#include "granite/http/router.hpp"
#include "granite/store/async.hpp"
#include "granite/task.hpp"
#include "json_text.hpp"
#include "page.hpp"

namespace granite::features {

// How a feature writes one of its rows as JSON.
using row_writer = void (*)(json_text& out, const store::rows& r, std::size_t row);

// GET /api/<records>/{id}: 400 for a malformed id (before any database
// work), 404 "no <what> with id N" when `select` ($1 the id) finds no row;
// the record's ETag is made of the version in its row's `version_column`.
task<http::response> record_by_id(std::string_view what, store::batch (*select)(std::int64_t id), row_writer write,
                                  int version_column, const http::request& req, const http::params& p,
                                  http::services& s);

// GET /api/<records>?limit=&after=|before=&order=: `select` gives the page's
// rows nearest its cursor first, one more than the page when there are
// more.
task<http::response> record_page(store::batch (*select)(const page& p), row_writer write,
                                 const http::request& req, http::services& s);

}  // namespace granite::features
