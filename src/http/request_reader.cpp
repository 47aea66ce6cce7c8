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

// The members of a list field's value, in order (empty elements skipped,
// as the list syntax allows, RFC 9110 §5.6.1).
std::vector<std::string_view> list_members(std::string_view list) {
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
  auto all = list_members(list);
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
  req_.idempotency_key.clear();
  req_.idempotency_keys = 0;
  req_.request_id.clear();
  req_.body.clear();
  head_.if_none_match.clear();
  head_.if_match.clear();
  head_.if_match_sent = false;
  head_.accept_encoding.clear();
  head_.forwarded_for.clear();
  head_.trace_id.clear();
  head_.position.clear();
  head_.cookie.clear();
  head_.expect_continue = false;
}

std::size_t request_reader::feed(boost::asio::const_buffer bytes, error_code& ec) {
  if (is_header_done()) {
    input_ = bytes;
    auto used = put(bytes, ec);
    if (ec == bhttp::error::need_more && chunked())
      check_held({static_cast<const char*>(bytes.data()) + used, bytes.size() - used}, ec);
    return used;
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
  req_.method_name.assign(method.data(), method.size());
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
  if (header_done_) {  // a trailer field: nothing granite reads may come that late, but it is counted
    auto end = static_cast<const char*>(input_.data()) + input_.size();
    auto eol = std::find(value.data() + value.size(), end, '\r');
    trailer_bytes_ += static_cast<std::size_t>(eol - name_text.data()) + 2;
    return;
  }
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
    case bhttp::field::if_match:
      head_.if_match_sent = true;
      return join(head_.if_match, value);
    case bhttp::field::accept_encoding: return join(head_.accept_encoding, value);
    case bhttp::field::cookie:
      // Cookie fields are joined by "; " (RFC 6265 §5.4).
      if (!head_.cookie.empty()) head_.cookie += "; ";
      head_.cookie.append(value.data(), value.size());
      return;
    case bhttp::field::expect:
      // Every member of every Expect field counts: one granite cannot meet
      // is 417, wherever it stands.
      seen_expect_ = true;
      for (auto member : list_members(view(value)))
        (beast::iequals(member, "100-continue") ? head_.expect_continue : unmet_expectation_) = true;
      return;
    case bhttp::field::host:
      ++hosts_;
      host_valid_ = host_valid_ && valid_host(view(value));
      return;
    case bhttp::field::transfer_encoding:
      if (seen_transfer_encoding_) transfer_encoding_ += ", ";
      transfer_encoding_.append(value.data(), value.size());
      seen_transfer_encoding_ = true;
      return;
    default:
      if (beast::iequals(name_text, "x-request-id")) return keep_first(req_.request_id, seen_request_id_);
      if (beast::iequals(name_text, "idempotency-key")) {
        if (req_.idempotency_keys++ == 0) req_.idempotency_key.assign(value.data(), value.size());
        return;
      }
      if (beast::iequals(name_text, "x-forwarded-for")) return join(head_.forwarded_for, value);
      if (beast::iequals(name_text, "x-amzn-trace-id")) return keep_first(head_.trace_id, seen_trace_id_);
      if (beast::iequals(name_text, "granite-position")) keep_first(head_.position, seen_position_);
  }
}

// Checked once the whole header is in, before a body is read: the
// expectation first (RFC 9110 §10.1.1), then the host and the framing.
void request_reader::on_header_impl(error_code& ec) {
  header_done_ = true;
  if (seen_expect_ && (unmet_expectation_ || !head_.expect_continue))
    return refuse(417, "granite meets no expectation but 100-continue", ec);
  if (hosts_ > 1) return refuse(400, "the request has more than one Host field", ec);
  if (head_.version >= 11 && hosts_ == 0) return refuse(400, "an HTTP/1.1 request needs a Host field", ec);
  if (!host_valid_) return refuse(400, "the Host field holds no host", ec);
  // Present, even empty: a Transfer-Encoding frames the message or refuses it.
  if (seen_transfer_encoding_) {
    auto why = check_transfer_encoding(transfer_encoding_, head_.version);
    if (why.status) return refuse(why.status, std::move(why.detail), ec);
  }
}

// What Beast holds back of a chunked body until more comes: a chunk-size
// line it takes only whole, or the last chunk's line with the trailer
// section, which it takes only whole. Unbounded, one endless line would
// grow the buffer for as long as the body timeout allows. The same limits
// apply to what arrives whole (on_chunk_header_impl, on_finish_impl), so
// that bytes read the same however they arrive.
void request_reader::check_held(std::string_view held, error_code& ec) {
  auto line = held.starts_with("\r\n") ? held.substr(2) : held;  // the end of the previous chunk's data
  auto eol = line.find("\r\n");
  if (eol == std::string_view::npos && line.size() > chunk_line_limit) return refuse_chunk_line(ec);
  // A complete line still held is the last chunk's: the trailer follows.
  if (eol != std::string_view::npos && line.size() > header_room_) return refuse_trailer(ec);
}

void request_reader::refuse_chunk_line(error_code& ec) {
  refuse(400, "a chunk-size line is longer than " + std::to_string(chunk_line_limit) + " bytes, its extensions included",
         ec);
}

void request_reader::refuse_trailer(error_code& ec) {
  refuse(431, "the header and the trailer section are larger than " + std::to_string(header_limit_bytes_) +
                  " bytes together (http.header_limit_bytes)", ec);
}

// The length of the line of the input that ends at `end` (its CRLF left out).
std::size_t request_reader::line_ending_at(const char* end) const {
  auto begin = static_cast<const char*>(input_.data());
  auto start = end;
  while (start > begin && start[-1] != '\n') --start;
  return static_cast<std::size_t>(end - start);
}

void request_reader::on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) {
  auto line = line_ending_at(extensions.data() + extensions.size());
  if (line > chunk_line_limit) return refuse_chunk_line(ec);
  if (size == 0) trailer_bytes_ = line + 2;  // the last chunk's line begins the trailer section
  extension_bytes_ += extensions.size();
  if (req_.body.size() + size + extension_bytes_ > body_limit_bytes_)
    refuse(413, "the request body, its chunk extensions included, is larger than " +
                    std::to_string(body_limit_bytes_) + " bytes (http.body_limit_bytes)", ec);
}

void request_reader::on_finish_impl(error_code& ec) {
  if (trailer_bytes_ > 0 && trailer_bytes_ + 2 > header_room_) refuse_trailer(ec);  // + the final CRLF
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
