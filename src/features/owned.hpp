#pragma once

// Records that only their owner may change (threads, posts): a write is
// limited to the caller's own row in SQL (and an edit to a row no
// moderator removed), and with If-Match to the versions it names
// (features/versions.hpp); when it touches nothing, the owner, the removal
// and the version tell whether the record is missing (404), someone else's
// (403), removed (409, an edit) or changed since (412). The owner may still
// delete a removed record. PATCH and DELETE of such records are the
// same for every feature: the feature gives its statements to
// patch_owned_text and delete_owned_record.
#include <cstdint>
#include <string>
#include <string_view>

#include "granite/error.hpp"
#include "json_text.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "granite/http/router.hpp"
#include "notices.hpp"
#include "users/sessions.hpp"

namespace granite::features {

// What a feature's owned records are: their name ("post"), the statement
// that tells a record's owner, version and removal ($1 the id), how a changed row
// becomes its JSON and its change notice, and the column of its rows that
// holds their version.
struct owned_kind {
  std::string_view what;
  const store::statement& owner_of;
  void (*write_json)(json_text& out, const store::rows& r, std::size_t row);
  store::change (*notice_of)(const store::rows& r, std::size_t row);
  int version_column;
};

// A write of `me` that touched nothing: the record is missing, someone
// else's, removed (when `editing`), or changed since the version the
// request named.
task<http::response> refused_write(const owned_kind& kind, std::int64_t id, std::int64_t me, bool editing,
                                   const http::request& req, http::services& s);

// PATCH /api/<records>/{id} of the record's one text field, for its owner:
// `read` takes the text from the body, and `update` ($1 id, $2 owner, $3 the
// text, $4 the versions If-Match names) changes only the owner's row and
// returns it.
task<http::response> patch_owned_text(const owned_kind& kind, result<std::string> (*read)(const http::request&),
                                      const store::statement& update, const http::request& req,
                                      const http::params& p, http::services& s);

// DELETE /api/<records>/{id}, for its owner: `remove` ($1 id, $2 owner, $3
// the versions If-Match names) deletes only the owner's row and returns it.
task<http::response> delete_owned_record(const owned_kind& kind, const store::statement& remove,
                                         store::change (*notice_of)(const store::rows&, std::size_t),
                                         const http::request& req, const http::params& p, http::services& s);

}  // namespace granite::features
