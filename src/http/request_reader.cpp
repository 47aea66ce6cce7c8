#include "request_reader.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include "granite/http/problem.hpp"
#include "granite/http/session.hpp"

namespace granite::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {
std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }
}  // namespace

request_reader::request_reader(request& req, request_head& head) : req_(req), head_(head) {
  req_.target.clear();
  req_.content_type.clear();
  req_.authorization.clear();
  req_.accept.clear();
  req_.request_id.clear();
  req_.body.clear();
  head_.if_none_match.clear();
  head_.forwarded_for.clear();
  head_.trace_id.clear();
  head_.expect_continue = false;
}

void request_reader::on_request_impl(bhttp::verb, string_view method, string_view target, int version, error_code&) {
  req_.method = parse_verb(view(method));
  head_.method.assign(method.data(), method.size());
  req_.target.assign(target.data(), target.size());
  head_.version = version;
}

void request_reader::on_field_impl(bhttp::field name, string_view name_text, string_view value, error_code&) {
  auto keep_first = [&](std::string& into, bool& seen) {
    if (!seen) into.assign(value.data(), value.size());
    seen = true;
  };
  switch (name) {
    case bhttp::field::content_type: return keep_first(req_.content_type, seen_content_type_);
    case bhttp::field::authorization: return keep_first(req_.authorization, seen_authorization_);
    case bhttp::field::accept: return keep_first(req_.accept, seen_accept_);
    case bhttp::field::if_none_match:
      if (!head_.if_none_match.empty()) head_.if_none_match += ", ";
      head_.if_none_match.append(value.data(), value.size());
      return;
    case bhttp::field::expect:
      if (!seen_expect_) head_.expect_continue = beast::iequals(value, "100-continue");
      seen_expect_ = true;
      return;
    default:
      if (beast::iequals(name_text, "x-request-id")) return keep_first(req_.request_id, seen_request_id_);
      if (beast::iequals(name_text, "x-forwarded-for")) {
        if (!head_.forwarded_for.empty()) head_.forwarded_for += ", ";
        head_.forwarded_for.append(value.data(), value.size());
        return;
      }
      if (beast::iequals(name_text, "x-amzn-trace-id")) keep_first(head_.trace_id, seen_trace_id_);
  }
}

void request_reader::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  if (length) req_.body.reserve(static_cast<std::size_t>(*length));
}

std::size_t request_reader::on_body_impl(string_view s, error_code&) {
  req_.body.append(s.data(), s.size());
  return s.size();
}

bool plain_request_id(std::string_view given) {
  if (given.empty() || given.size() > 128) return false;
  for (char ch : given) {
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_' || ch == '.' || ch == ':';
    if (!plain) return false;
  }
  return true;
}

response unreadable(beast::error_code ec, bool late, bool in_body, const limits& limit, const request& req) {
  if (late) {
    const char* what = in_body ? "body" : "header";
    auto after = in_body ? limit.body_timeout : limit.header_timeout;
    return problem(408, std::string("the request ") + what + " did not arrive within " + std::to_string(after.count()) +
                            " s (http." + what + "_timeout_s)",
                   req);
  }
  if (ec == bhttp::error::header_limit)
    return problem(431, "the request header is larger than " + std::to_string(limit.header_bytes) +
                            " bytes (http.header_limit_bytes)",
                   req);
  if (ec == bhttp::error::body_limit)
    return problem(413, "the request body is larger than " + std::to_string(limit.body_bytes) +
                            " bytes (http.body_limit_bytes)",
                   req);
  return problem(400, "malformed HTTP request: " + ec.message(), req);
}

}  // namespace granite::http
