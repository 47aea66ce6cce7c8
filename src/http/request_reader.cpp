#include "request_reader.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <vector>
#include <algorithm>
#include <functional>

#include "granite/http/problem.hpp"
#include "granite/http/session.hpp"
#include "granite/text.hpp"

namespace granite::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {
std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

// A Host field's value: uri-host [ ":" port ] (RFC 3986), or empty.
bool valid_host(std::string_view v) {
  for (char ch : v) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              std::string_view("-._~%!$&'()*+,;=:[]").find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// The transfer codings of a Transfer-Encoding list, in order (empty
// elements skipped, as the list syntax allows).
std::vector<std::string_view> codings(std::string_view list) {
  std::vector<std::string_view> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim_ows(list.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

// What is wrong with a request's Transfer-Encoding, if anything.
refusal check_transfer_encoding(std::string_view list, int version) {
  if (version < 11) return {400, "an HTTP/1.0 request cannot have a Transfer-Encoding"};
  auto all = codings(list);
  auto chunked = [](std::string_view c) { return beast::iequals(c, "chunked"); };
  if (all.empty() || !chunked(all.back()))
    return {400, "the request's Transfer-Encoding does not end in chunked: its length is unknown"};
  if (std::count_if(all.begin(), all.end(), chunked) > 1) return {400, "the request is chunked more than once"};
  if (all.size() > 1) return {501, "granite decodes no transfer coding but chunked"};
  return {};
}
}  // namespace

request_reader::request_reader(request& req, request_head& head) : req_(req), head_(head) {
  req_.target.clear();
  req_.content_type.clear();
  req_.authorization.clear();
  req_.accept.clear();
  req_.request_id.clear();
  req_.body.clear();
  head_.if_none_match.clear();
  head_.accept_encoding.clear();
  head_.forwarded_for.clear();
  head_.trace_id.clear();
  head_.expect_continue = false;
}

std::size_t request_reader::feed(boost::asio::const_buffer bytes, error_code& ec) {
  if (is_header_done()) {
    input_ = bytes;
    return put(bytes, ec);
  }
  bool eager_body = eager();
  eager(false);  // stop at the header's end, to count it
  input_ = boost::asio::buffer(bytes, header_room_);
  auto used = put(input_, ec);
  bool filled = input_.size() == header_room_;
  header_room_ -= used;
  eager(eager_body);
  if (ec == bhttp::error::need_more && filled) ec = bhttp::error::header_limit;
  return used;
}

void request_reader::on_request_impl(bhttp::verb, string_view method, string_view target, int version, error_code&) {
  req_.method = parse_verb(view(method));
  head_.method.assign(method.data(), method.size());
  req_.target.assign(target.data(), target.size());
  head_.version = version;
}

// Beast unfolds an obs-fold into a buffer of its own: the value is then not
// within the bytes given, or (a fold right after the colon) a line ends
// between the name and the value.
bool request_reader::folded(string_view name, string_view value) const {
  auto begin = static_cast<const char*>(input_.data());
  auto end = begin + input_.size();
  std::less<const char*> before;
  if (before(value.data(), begin) || before(end, value.data() + value.size())) return true;
  std::string_view between(name.data() + name.size(), static_cast<std::size_t>(value.data() - (name.data() + name.size())));
  return between.find_first_of("\r\n") != std::string_view::npos;
}

void request_reader::on_field_impl(bhttp::field name, string_view name_text, string_view value, error_code& ec) {
  if (folded(name_text, value)) return refuse(400, "a field value is folded over two lines (obs-fold)", ec);
  if (header_done_) return;  // a trailer field: nothing granite reads may come that late
  auto keep_first = [&](std::string& into, bool& seen) {
    if (!seen) into.assign(value.data(), value.size());
    seen = true;
  };
  // A list field sent more than once is one list (RFC 9110 §5.3).
  auto join = [](std::string& into, string_view more) {
    if (!into.empty()) into += ", ";
    into.append(more.data(), more.size());
  };
  switch (name) {
    case bhttp::field::content_type: return keep_first(req_.content_type, seen_content_type_);
    case bhttp::field::authorization: return keep_first(req_.authorization, seen_authorization_);
    case bhttp::field::accept: return keep_first(req_.accept, seen_accept_);
    case bhttp::field::if_none_match: return join(head_.if_none_match, value);
    case bhttp::field::accept_encoding: return join(head_.accept_encoding, value);
    case bhttp::field::expect:
      if (!seen_expect_) head_.expect_continue = beast::iequals(value, "100-continue");
      seen_expect_ = true;
      return;
    case bhttp::field::host:
      ++hosts_;
      host_valid_ = host_valid_ && valid_host(view(value));
      return;
    case bhttp::field::transfer_encoding:
      if (!transfer_encoding_.empty()) transfer_encoding_ += ", ";
      transfer_encoding_.append(value.data(), value.size());
      return;
    default:
      if (beast::iequals(name_text, "x-request-id")) return keep_first(req_.request_id, seen_request_id_);
      if (beast::iequals(name_text, "x-forwarded-for")) return join(head_.forwarded_for, value);
      if (beast::iequals(name_text, "x-amzn-trace-id")) keep_first(head_.trace_id, seen_trace_id_);
  }
}

// Checked once the whole header is in, before a body is read: the
// expectation first (RFC 9110 §10.1.1), then the host and the framing.
void request_reader::on_header_impl(error_code& ec) {
  header_done_ = true;
  if (seen_expect_ && !head_.expect_continue)
    return refuse(417, "granite meets no expectation but 100-continue", ec);
  if (hosts_ > 1) return refuse(400, "the request has more than one Host field", ec);
  if (head_.version >= 11 && hosts_ == 0) return refuse(400, "an HTTP/1.1 request needs a Host field", ec);
  if (!host_valid_) return refuse(400, "the Host field holds no host", ec);
  if (!transfer_encoding_.empty()) {
    auto why = check_transfer_encoding(transfer_encoding_, head_.version);
    if (why.status) return refuse(why.status, std::move(why.detail), ec);
  }
}

void request_reader::refuse(int status, std::string detail, error_code& ec) {
  refused_ = {status, std::move(detail)};
  ec = bhttp::error::bad_field;
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

response unreadable(beast::error_code ec, bool late, bool in_body, const limits& limit, const refusal& why,
                    const request& req) {
  if (why.status) return problem(why.status, why.detail, req);
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
