#include "versions.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "granite/http/cache.hpp"
#include "granite/http/problem.hpp"

namespace granite::features {

namespace {

constexpr std::string_view format_mark = "r1.";

// Floor division: the calendar of an instant before 1970 counts back.
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
// Hinnant's civil_from_days).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  std::int64_t era = floor_div(z, 146097);
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

// The version a tag of granite's names, either variant's; none for any
// other tag.
std::optional<std::int64_t> version_in(std::string_view tag) {
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
  tag = tag.substr(1, tag.size() - 2);
  if (tag.ends_with(http::gzip_etag_suffix)) tag.remove_suffix(http::gzip_etag_suffix.size());
  if (!tag.starts_with(format_mark)) return std::nullopt;
  tag.remove_prefix(format_mark.size());
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(tag.data(), tag.data() + tag.size(), v);
  if (ec != std::errc() || end != tag.data() + tag.size() || tag.empty() || tag.front() == '+') return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::int64_t> version_of(const store::rows& r, std::size_t row, int column) {
  if (column >= r.columns()) return std::nullopt;
  return r.null(row, column) ? never_changed : r.integer(row, column);
}

instant_text updated_at_of(std::int64_t version_us) {
  std::int64_t seconds = floor_div(version_us, 1000000);
  auto ms = static_cast<unsigned>((version_us - seconds * 1000000) / 1000);
  std::int64_t days = floor_div(seconds, 86400);
  auto of_day = static_cast<unsigned>(seconds - days * 86400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  instant_text out;
  if (y < 0 || y > 9999) {  // beyond what four digits hold: rare enough for snprintf
    int n = std::snprintf(out.bytes.data(), out.bytes.size(), "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
                          static_cast<long long>(y), m, d, of_day / 3600, of_day / 60 % 60, of_day % 60, ms);
    out.size = static_cast<std::size_t>(n);
    return out;
  }
  constexpr std::string_view shape = "0000-00-00T00:00:00.000Z";
  std::copy(shape.begin(), shape.end(), out.bytes.begin());
  out.size = shape.size();
  auto put = [&out](std::size_t at, unsigned value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      out.bytes[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
  };
  put(0, static_cast<unsigned>(y), 4);
  put(5, m, 2);
  put(8, d, 2);
  put(11, of_day / 3600, 2);
  put(14, of_day / 60 % 60, 2);
  put(17, of_day % 60, 2);
  put(20, ms, 3);
  return out;
}

instant_text updated_at_in(const store::rows& r, std::size_t row, int column) {
  auto version = version_of(r, row, column);
  if (!version) return instant_text{.known = false};
  if (*version == never_changed) return {};
  return updated_at_of(*version);
}

std::string etag_of_version(std::int64_t version_us) {
  return "\"" + std::string(format_mark) + std::to_string(version_us) + "\"";
}

std::optional<std::string> versions_param(const http::request& req) {
  if (!req.if_match.present || req.if_match.any) return std::nullopt;
  std::string out = "{";
  for (const auto& tag : req.if_match.tags) {
    auto v = version_in(tag);
    if (!v) continue;
    if (out.size() > 1) out += ',';
    out += std::to_string(*v);
  }
  return out + "}";
}

std::optional<http::response> refuse_unconditional(const http::request& req, bool required) {
  if (!required || req.if_match.present) return std::nullopt;
  return http::problem(error{error::code::precondition_required,
                             "this server takes a PATCH or DELETE only with If-Match: send the ETag of the record as "
                             "you last read it (or *)"},
                       req);
}

http::response changed_since(std::string_view what, std::int64_t version, const http::request& req) {
  auto r = http::problem(error{error::code::precondition_failed,
                               "the " + std::string(what) +
                                   " has changed since the version If-Match names; read it again (this answer "
                                   "carries its current ETag)"},
                         req);
  r.etag = etag_of_version(version);
  return r;
}

http::response with_version(http::response r, const store::rows& rows, std::size_t row, int column) {
  if (auto v = version_of(rows, row, column)) r.etag = etag_of_version(*v);
  return r;
}

}  // namespace granite::features
