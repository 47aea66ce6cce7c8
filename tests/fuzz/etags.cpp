// If-None-Match against the ETag of a cached response (http::etag_matches),
// and the same value as If-Match (http::parse_if_match, then the versions a
// conditional write compares: features::versions_param).
//
// Input: a flag byte, then the field value; with the flag's low bit set,
// each '@' in the value becomes the response's ETag, so that lists that
// hold it are common.
// Property: the value matches exactly when the grammar of RFC 9110 §13.1.2
// says so, read here by a regular expression: "*", or a list (§5.6.1, empty
// elements allowed) of entity-tags, [W/] DQUOTE *etagc DQUOTE, one of which
// is the ETag (weak comparison: W/ is ignored). A value that breaks the
// grammar matches nothing: the full response is always a safe answer.
// As If-Match, the same grammar: "*" takes any version, a list gives its
// strong tags in order (W/ ones never match: strong comparison), and a
// value that breaks it is refused; of the strong tags, exactly those of
// granite's form ("r1.<a 64-bit integer>", maybe -gzip) name versions.
#include <algorithm>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "features/versions.hpp"
#include "fuzz.hpp"
#include "granite/http/cache.hpp"

namespace {

using namespace granite;

// Bytes from 0x80 (obs-text, allowed in an entity-tag) as 'o', so that the
// expression sees ASCII only; the positions stay the same.
std::string ascii(std::string_view value) {
  std::string out(value);
  for (auto& ch : out)
    if (static_cast<unsigned char>(ch) >= 0x80) ch = 'o';
  return out;
}

// The value as the grammar reads it: "*", or the list's entity-tags (each
// with whether it is weak); nullopt when it is neither.
struct read_value {
  bool star = false;
  std::vector<std::pair<std::string, bool>> tags;
};
std::optional<read_value> grammar_read(std::string_view value) {
  // One element: OWS, then optionally an entity-tag and OWS; each space has
  // one place in the expression, so that it never backtracks far.
#define ELEMENT R"([ \t]*(?:(?:W/)?"[!#-~]*"[ \t]*)?)"
  static const std::regex list("^(?:" ELEMENT ",)*" ELEMENT "$");
#undef ELEMENT
  static const std::regex star(R"(^[ \t]*\*[ \t]*$)");
  static const std::regex tag(R"((W/)?("[!#-~]*"))");
  auto mapped = ascii(value);
  read_value out;
  if (std::regex_match(mapped, star)) {
    out.star = true;
    return out;
  }
  if (!std::regex_match(mapped, list)) return std::nullopt;
  for (std::sregex_iterator it(mapped.begin(), mapped.end(), tag), end; it != end; ++it)
    out.tags.emplace_back(value.substr(static_cast<std::size_t>(it->position(2)), static_cast<std::size_t>(it->length(2))),
                          (*it)[1].matched);
  return out;
}

bool grammar_matches(std::string_view value, std::string_view etag) {
  auto read = grammar_read(value);
  if (!read) return false;
  return read->star || std::any_of(read->tags.begin(), read->tags.end(), [&](const auto& t) { return t.first == etag; });
}

// What If-Match should read of `value`: nullopt when it breaks the grammar.
std::optional<http::if_match> grammar_if_match(std::string_view value) {
  auto read = grammar_read(value);
  if (!read) return std::nullopt;
  http::if_match out;
  out.present = true;
  out.any = read->star;
  for (const auto& [tag, weak] : read->tags)
    if (!weak) out.tags.push_back(tag);
  return out;
}

// The versions parameter those tags should give.
std::string grammar_versions(const std::vector<std::string>& tags) {
  static const std::regex ours(R"("r1\.(-?[0-9]+)(?:-gzip)?")");
  std::string out = "{";
  for (const auto& t : tags) {
    std::smatch m;
    if (!std::regex_match(t, m, ours)) continue;
    long long v = 0;
    try {
      v = std::stoll(m[1].str());
    } catch (const std::out_of_range&) {
      continue;
    }
    if (out.size() > 1) out += ',';
    out += std::to_string(v);
  }
  return out + "}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Longer values only repeat the grammar; std::regex recurses per character.
  if (size > 512) return 0;
  static const std::string etag = http::etag_of("granite");
  granite::fuzz::input in(data, size);
  bool substitute = in.byte() & 1;
  std::string value(in.rest());
  if (substitute)
    for (auto at = value.find('@'); at != std::string::npos; at = value.find('@', at + etag.size()))
      value.replace(at, 1, etag);
  bool expected = grammar_matches(value, etag);
  GRANITE_FUZZ_CHECK(http::etag_matches(value, etag) == expected,
                     granite::fuzz::shown(value) + (expected ? " should match " : " should not match ") + etag);

  auto parsed = http::parse_if_match(value);
  auto should = grammar_if_match(value);
  GRANITE_FUZZ_CHECK(parsed.ok() == should.has_value(),
                     granite::fuzz::shown(value) + (should ? " is a valid If-Match" : " breaks If-Match's grammar"));
  if (!parsed || !should) return 0;
  GRANITE_FUZZ_CHECK(parsed->any == should->any && parsed->tags == should->tags,
                     granite::fuzz::shown(value) + ": If-Match read other tags than the grammar gives");
  http::request req;
  req.if_match = *parsed;
  auto versions = features::versions_param(req);
  GRANITE_FUZZ_CHECK(versions.has_value() == !should->any, granite::fuzz::shown(value) + ": * takes any version");
  if (versions)
    GRANITE_FUZZ_CHECK(*versions == grammar_versions(should->tags),
                       granite::fuzz::shown(value) + " named versions " + *versions + ", not " +
                           grammar_versions(should->tags));
  return 0;
}
