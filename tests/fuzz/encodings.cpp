// Accept-Encoding against a kept response with a gzip variant
// (http::prefers_gzip, http::choose_variant).
//
// Input: the field value.
// Property: gzip is chosen exactly when RFC 9110 §12.5.3 says the client
// takes it at least as much as the identity, read here by regular
// expressions: the list's elements (§5.6.1), each a coding (a token) with
// parameters (`;` name `=` value, `q` carrying a weight: "0" to "1" with up
// to three decimals, §12.4.2); an element that breaks that grammar counts
// for nothing. "gzip" and "x-gzip" are gzip; "*" stands for every coding
// not named; the identity, unnamed, ranks below every coding named. The
// variant chosen is then the gzip bytes with their ETag, or the identity
// bytes with theirs.
#include <algorithm>
#include <regex>
#include <string>

#include "fuzz.hpp"
#include "granite/http/cache.hpp"
#include "granite/text.hpp"
#include "http/encoding.hpp"

namespace {

using namespace granite;

// The weight an element gives its coding (thousandths), or -1 when the
// element breaks the grammar; `coding` is set to its name, lower-cased.
int element_weight(const std::string& element, std::string& coding) {
#define TOKEN "[-!#$%&'*+.^_`|~0-9A-Za-z]+"
  static const std::regex whole("^[ \\t]*(" TOKEN ")[ \\t]*((?:;[^;]*)*)$");
  static const std::regex param("^[ \\t]*(" TOKEN ")[ \\t]*=[ \\t]*([\\s\\S]*?)[ \\t]*$");
#undef TOKEN
  static const std::regex weight("^(0(\\.[0-9]{0,3})?|1(\\.0{0,3})?)$");
  std::smatch m;
  if (!std::regex_match(element, m, whole)) return -1;
  coding = ascii_lower(m[1].str());
  std::string params = m[2];
  int q = 1000;
  std::size_t at = 0;
  while (at < params.size()) {  // each ";..." in turn
    auto next = params.find(';', at + 1);
    std::string one = params.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    at = next == std::string::npos ? params.size() : next;
    std::smatch p;
    if (!std::regex_match(one, p, param)) return -1;
    if (ascii_lower(p[1].str()) != "q") continue;
    std::string v = p[2];
    if (!std::regex_match(v, weight)) return -1;
    q = (v[0] - '0') * 1000;
    for (std::size_t i = 2, scale = 100; i < v.size(); ++i, scale /= 10) q += (v[i] - '0') * static_cast<int>(scale);
  }
  return q;
}

bool takes_gzip(const std::string& value) {
  int gzip = -1, identity = -1, any = -1;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    std::string element = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? value.size() + 1 : comma + 1;
    if (element.find_first_not_of(" \t") == std::string::npos) continue;  // an empty element
    std::string coding;
    int q = element_weight(element, coding);
    if (q < 0) continue;
    if (coding == "gzip" || coding == "x-gzip") gzip = std::max(gzip, q);
    else if (coding == "identity") identity = std::max(identity, q);
    else if (coding == "*") any = std::max(any, q);
  }
  int g = gzip >= 0 ? gzip : std::max(any, 0);
  int id = identity >= 0 ? identity : any >= 0 ? any : 0;
  return g > 0 && g >= id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 512) return 0;  // std::regex recurses per character
  std::string value(reinterpret_cast<const char*>(data), size);
  static const auto kept = [] {
    http::response r = http::json(200, std::string(2048, 'a'));
    return http::kept_response(std::move(r), nullptr, true);
  }();
  bool expected = takes_gzip(value);
  GRANITE_FUZZ_CHECK(http::prefers_gzip(value) == expected,
                     granite::fuzz::shown(value) + (expected ? " takes gzip" : " does not take gzip"));
  auto v = http::choose_variant(*kept, value);
  GRANITE_FUZZ_CHECK(v.gzip == expected && v.body == (expected ? kept->gzip : kept->body) &&
                         v.etag == (expected ? kept->gzip_etag : kept->etag),
                     granite::fuzz::shown(value));
  return 0;
}
