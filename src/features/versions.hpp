#pragma once

// A record's version: when it last changed, in microseconds since 1970
// (SQL's granite_version(), 0009_record_versions.sql), or 0 (NULL in its
// row) while it is as it was made. A column of every row of users, threads
// and posts. Of it are made the record's updatedAt (null at 0) and its
// ETag, and a PATCH or DELETE with If-Match compares it inside its own
// statement: a change committed meanwhile makes the write touch nothing,
// and the answer is 412 instead of a lost update.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "granite/http/message.hpp"
#include "granite/http/router.hpp"
#include "granite/store/async.hpp"

// The condition every conditional write adds to its WHERE, one text of it
// for every feature: only a row at one of the versions that parameter `n`
// ("$4", a bigint[]: versions_param) names, or any row when it is NULL. A
// row never changed is at version 0. `updated_at` names the row's column.
#define GRANITE_AT_VERSION(updated_at, n) \
  " AND (" n "::bigint[] IS NULL OR coalesce(granite_version(" updated_at "), 0) = ANY(" n "::bigint[]))"

namespace granite::features {

// The version of a record that has not changed since it was made: its row
// carries NULL, which costs a page nothing to compute or send.
constexpr std::int64_t never_changed = 0;

// The version in `column` of row `row` (never_changed for NULL); none when
// the rows have no such column (rows kept under an Idempotency-Key by a
// release before versions).
std::optional<std::int64_t> version_of(const store::rows& r, std::size_t row, int column);

// RFC 3339 in UTC to the millisecond, as SQL's rfc3339() writes createdAt,
// in place: once for every record of every page, so no allocation.
struct instant_text {
  std::array<char, 40> bytes{};
  std::size_t size = 0;  // 0: none
  bool known = true;     // false: the rows had no version at all
  std::string_view view() const { return {bytes.data(), size}; }
  // As a record writer takes its updatedAt: empty (null) when there is
  // none, nothing (left out) when it is not known.
  std::optional<std::string_view> shown() const {
    return known ? std::optional<std::string_view>(view()) : std::nullopt;
  }
};
instant_text updated_at_of(std::int64_t version_us);
// The updatedAt of the record in row `row`: none (null in its JSON) while
// it is unchanged; not known (left out) when the rows have no version.
instant_text updated_at_in(const store::rows& r, std::size_t row, int column);

// The record's strong ETag: "r1.<version>". "r1" names the format of the
// records' JSON: raise it when that changes, so that no client keeps bytes
// of the old format by a 304. The gzip variant's tag is made of it
// (http::gzip_etag_of) and names the same version.
std::string etag_of_version(std::int64_t version_us);

// The versions the request's If-Match names (by either variant's tag), as
// the $n::bigint[] parameter of a conditional write ("{1,2}"; "{}" when it
// names none of granite's); nullopt when any version will do (no If-Match,
// or *).
std::optional<std::string> versions_param(const http::request& req);

// 428 when If-Match is `required` (http.require_if_match) and the request
// has none.
std::optional<http::response> refuse_unconditional(const http::request& req, bool required);

// 412 for a `what` ("post") whose current version is `version`, carrying
// its ETag.
http::response changed_since(std::string_view what, std::int64_t version, const http::request& req);

// `r`, the answer that carries the record in row `row`, with its ETag.
http::response with_version(http::response r, const store::rows& rows, std::size_t row, int column);

}  // namespace granite::features
