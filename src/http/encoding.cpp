#include "encoding.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <memory>

#include "granite/http/cache.hpp"
#include "granite/text.hpp"

namespace granite::http {

namespace {

struct free_compressor {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

using boost::beast::iequals;

bool token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           extra.find(c) != std::string_view::npos;
  });
}

// A weight (RFC 9110 §12.4.2) in thousandths: "0", "0.5", "1.000"; -1 when
// it is none.
int weight(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.') return -1;
  int scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return -1;
    q += (v[i] - '0') * scale;
  }
  return q > 1000 ? -1 : q;
}

// The next element of a comma-separated list, trimmed.
std::string_view next_part(std::string_view& rest, char separator) {
  auto at = rest.find(separator);
  auto part = trim_ows(rest.substr(0, at));
  rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
  return part;
}

// The weight that an element's parameters (what follows its coding: "" or
// ";q=0.5;...") give it: 1000 without "q", -1 when one of them is not
// `name=value`.
int weight_of(std::string_view params) {
  int q = 1000;
  while (!params.empty()) {  // it starts with ';'
    auto end = params.find(';', 1);
    auto param = trim_ows(params.substr(1, end == std::string_view::npos ? end : end - 1));
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
    auto eq = param.find('=');
    if (eq == std::string_view::npos) return -1;
    auto name = trim_ows(param.substr(0, eq));
    if (!token(name)) return -1;
    if (iequals(name, "q") && (q = weight(trim_ows(param.substr(eq + 1)))) < 0) return -1;
  }
  return q;
}

}  // namespace

std::string gzip_of(std::string_view body) {
  if (body.size() < smallest_gzip_body) return {};
  thread_local std::unique_ptr<libdeflate_compressor, free_compressor> compressor(libdeflate_alloc_compressor(1));
  if (!compressor) return {};
  std::string out(libdeflate_gzip_compress_bound(compressor.get(), body.size()), '\0');
  auto n = libdeflate_gzip_compress(compressor.get(), body.data(), body.size(), out.data(), out.size());
  if (n == 0 || n > body.size() - body.size() / 8) return {};
  out.resize(n);
  out.shrink_to_fit();
  return out;
}

bool prefers_gzip(std::string_view accept_encoding) {
  int gzip = -1, identity = -1, any = -1;
  while (!accept_encoding.empty()) {
    auto element = next_part(accept_encoding, ',');
    auto semicolon = element.find(';');
    auto coding = trim_ows(element.substr(0, semicolon));
    if (!token(coding)) continue;
    int q = weight_of(semicolon == std::string_view::npos ? std::string_view() : element.substr(semicolon));
    if (q < 0) continue;
    int* slot = iequals(coding, "gzip") || iequals(coding, "x-gzip") ? &gzip
                : iequals(coding, "identity")                         ? &identity
                : coding == "*"                                       ? &any
                                                                      : nullptr;
    if (slot) *slot = std::max(*slot, q);
  }
  int g = gzip >= 0 ? gzip : std::max(any, 0);
  // Unnamed, the identity is acceptable but ranks below any coding named.
  int id = identity >= 0 ? identity : any >= 0 ? any : 0;
  return g > 0 && g >= id;
}

variant choose_variant(const cached_response& kept, std::string_view accept_encoding) {
  if (!kept.gzip.empty() && prefers_gzip(accept_encoding)) return {kept.gzip, kept.gzip_etag, true};
  return {kept.body, kept.etag, false};
}

}  // namespace granite::http
