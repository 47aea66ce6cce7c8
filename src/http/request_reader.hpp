#pragma once

// Reading requests: Beast's parser (its grammar, its header and body limits)
// writing into a session's request and head, whose strings keep their
// capacity from one request to the next, so that reading a request
// allocates nothing once they have grown. Private to http/: it brings Beast.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "granite/http/message.hpp"
#include "request_head.hpp"

namespace granite::http {

struct limits;

// The longest chunk-size line of a chunked body, its extensions included
// (400 beyond). The extensions also count against the body's limit, and
// the trailer section against the header's.
inline constexpr std::size_t chunk_line_limit = 4096;

// Why a header that parsed is refused anyway, with the status to answer.
struct refusal {
  int status = 0;  // 0: none
  std::string detail;
};

// The first of repeated fields counts, as with Beast's own fields (but
// If-None-Match, Accept-Encoding and X-Forwarded-For, whose lists add up). Beyond Beast's grammar, at the end of
// the header (RFC 9112, RFC 9110): an Expect other than 100-continue is
// 417; an HTTP/1.1 request needs exactly one Host field, with a host in it;
// a Transfer-Encoding must end in chunked, have it once, and come in
// HTTP/1.1 (400), and granite decodes no other transfer coding (501). A
// value folded over two lines (obs-fold) is refused when it comes (400).
// Trailer fields are read and ignored. A chunked body's framing is bounded
// too (chunk_line_limit).
class request_reader final : public boost::beast::http::basic_parser<true> {
 public:
  request_reader(request& req, request_head& head);
  const refusal& refused() const { return refused_; }
  // The most bytes the header may have, its start line included. Beast's
  // own limit bounds the start line and the fields each when they arrive
  // together, the whole header when they arrive in pieces; this one bounds
  // the whole header however it arrives.
  void limit_header(std::size_t bytes) {
    header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(bytes, UINT32_MAX)));
    header_room_ = bytes;
    header_limit_bytes_ = bytes;
  }
  // The most bytes the body may have: its data, and the extensions of its
  // chunks when it is chunked.
  void limit_body(std::uint64_t bytes) {
    body_limit(bytes);
    body_limit_bytes_ = bytes;
  }
  // put(), remembering where the bytes are: a value Beast unfolded from
  // obs-fold lies elsewhere, and is refused (RFC 9112 §5.2). Until the
  // header is in, Beast sees no more of the bytes than the header has room
  // for.
  std::size_t feed(boost::asio::const_buffer bytes, boost::beast::error_code& ec);

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;
  void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                       error_code&) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field name, string_view name_text, string_view value, error_code&) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override;
  std::size_t on_body_impl(string_view s, error_code&) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t, string_view s, error_code& ec) override { return on_body_impl(s, ec); }
  void on_finish_impl(error_code& ec) override;

  request& req_;
  request_head& head_;
  void refuse(int status, std::string detail, error_code& ec);
  void check_held(std::string_view held, error_code& ec);
  void refuse_chunk_line(error_code& ec);
  void refuse_trailer(error_code& ec);
  std::size_t line_ending_at(const char* end) const;

  bool seen_content_type_ = false, seen_authorization_ = false, seen_request_id_ = false, seen_expect_ = false,
       seen_trace_id_ = false, seen_position_ = false, seen_accept_ = false, seen_transfer_encoding_ = false;
  bool unmet_expectation_ = false;  // an Expect member other than 100-continue
  bool folded(string_view name, string_view value) const;

  boost::asio::const_buffer input_;
  std::size_t header_room_ = SIZE_MAX;  // what the header left of its limit, for the trailer section
  std::size_t header_limit_bytes_ = SIZE_MAX;
  std::uint64_t body_limit_bytes_ = UINT64_MAX;
  std::uint64_t extension_bytes_ = 0;  // of every chunk so far
  std::size_t trailer_bytes_ = 0;      // the last chunk's line and the trailer fields, CRLFs included
  bool header_done_ = false;  // what follows are trailer fields
  int hosts_ = 0;
  bool host_valid_ = true;
  std::string transfer_encoding_;  // every Transfer-Encoding field, joined by ", "
  refusal refused_;
};

// A client's X-Request-Id is kept when it is a plain token: letters, digits
// and -_.: up to 128.
bool plain_request_id(std::string_view given);

// The answer to a request that could not be read: 408 when its deadline cut
// it off (`late`, in the header or the body), 431 or 413 past a limit, the
// reader's own refusal, 400 for anything else the parser refused.
response unreadable(boost::beast::error_code ec, bool late, bool in_body, const limits& limit, const refusal& why,
                    const request& req);

}  // namespace granite::http
