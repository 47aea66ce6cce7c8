// The request reader as a session drives it: bytes in, requests out (or the
// one refusal that ends the connection), within limits the input chooses.
//
// Input: header limit, body limit, a seed for how the bytes arrive, then the
// bytes of the connection.
// Properties:
// - the same bytes read the same whether they arrive at once or in pieces
//   of any size (Beast keeps state between pieces; so does the obs-fold
//   check, which looks at where a value lies): the same requests, and a
//   refusal one way is a refusal the other. Its status may differ: when the
//   header is incomplete, Beast only looks for its end in the next bytes,
//   so a bad line ending seen at once (400) is, in pieces, refused at the
//   header limit (431) or the end of the stream (400);
// - a request's body is within the body limit;
// - what a chunked body's framing holds back (a chunk-size line, the
//   trailer section) stays within the chunk-line and header limits;
// - a refusal answers 400, 413, 417, 431 or 501;
// - what the session makes of a request (its path and query, the client
//   behind trusted proxies, its request id, If-None-Match, its
//   Idempotency-Key) never fails, and a key it takes is 1 to 255 printable
//   ASCII characters.
#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/session.hpp"
#include "http/observe.hpp"
#include "http/request_reader.hpp"

namespace {

using namespace granite;
namespace bhttp = boost::beast::http;

constexpr int most_requests = 32;

struct setup {
  http::limits limit{};
  std::uint32_t seed = 0;
};

// Sizes of the pieces the bytes arrive in: 1 to 64, from a seed.
class arrivals {
 public:
  explicit arrivals(std::uint32_t seed) : state_(seed | 1) {}
  std::size_t next() {
    state_ = state_ * 1103515245u + 12345u;
    return 1 + (state_ >> 16) % 64;
  }

 private:
  std::uint32_t state_;
};

// One request as the session would see it, or the refusal.
std::string describe(const http::request& req, const http::request_head& head, bool keep_alive) {
  std::string out = req.method_name + " " + req.target + " HTTP/" + std::to_string(head.version) +
                    (keep_alive ? " keep-alive" : " close") + (head.expect_continue ? " expect" : "") + "\n";
  out += "type=" + req.content_type + "\nauth=" + req.authorization + "\naccept=" + req.accept +
         "\nid=" + req.request_id + "\ninm=" + head.if_none_match + "\nxff=" + head.forwarded_for +
         "\ntrace=" + head.trace_id + "\nbody=" + req.body + "\n";

  // What on_request() makes of it.
  std::string path, query;
  http::split_target(req.target, path, query);
  auto params = http::parse_query(query);
  out += "path=" + path + " query=" + (params ? std::to_string(params->size()) : "malformed");
  static const std::vector<ip_network> trusted{*ip_network::parse("10.0.0.0/8"), *ip_network::parse("::1/128")};
  static const ip_address peer = *ip_address::parse("10.1.2.3");
  ip_address client;
  std::string client_text;
  http::find_client(client, client_text, peer, peer.text(), head.forwarded_for, trusted);
  out += " client=" + client_text + (http::plain_request_id(req.request_id) ? " plain-id" : "");
  static const std::string etag = http::etag_of("granite");
  out += http::etag_matches(head.if_none_match, etag) ? " etag-matches\n" : "\n";
  // Its Idempotency-Key: none, a key of 1 to 255 printable ASCII
  // characters, or a refusal of the field.
  auto key = http::idempotency_key(req);
  if (key && *key)
    GRANITE_FUZZ_CHECK(!(*key)->empty() && (*key)->size() <= 255 &&
                           std::all_of((*key)->begin(), (*key)->end(), [](char c) { return c >= 0x20 && c <= 0x7e; }),
                       "key " + **key);
  GRANITE_FUZZ_CHECK(key || key.err().fields.size() == 1, "a refused key names its field");
  out += "key=" + (key ? (*key ? **key : std::string("none")) : "refused: " + key.err().message) + "\n";
  return out;
}

std::string refusal(boost::beast::error_code ec, const http::refusal& why, const http::limits& limit,
                    const http::request& req) {
  auto res = http::unreadable(ec, false, false, limit, why, req);
  int s = res.status;
  GRANITE_FUZZ_CHECK(s == 400 || s == 413 || s == 417 || s == 431 || s == 501,
                     "status " + std::to_string(s) + " for " + ec.message());
  return "refused " + std::to_string(s) + ": " + res.body + "\n";
}

// Reads the connection's bytes as session.cpp does: feed what has arrived,
// keep what the parser did not use, start the next request on the rest.
std::string read_connection(std::string_view bytes, const setup& how, bool in_pieces) {
  arrivals sizes(how.seed);
  std::string out, buffer;
  http::request req;
  http::request_head head;
  std::optional<http::request_reader> reader;
  auto next_request = [&] {
    reader.emplace(req, head);
    reader->limit_header(how.limit.header_bytes);
    reader->limit_body(how.limit.body_bytes);
    reader->eager(true);
  };
  next_request();
  for (int requests = 0; requests < most_requests;) {
    bool done = false;
    while (!buffer.empty()) {
      boost::beast::error_code ec;
      auto used = reader->feed(boost::asio::buffer(buffer.data(), buffer.size()), ec);
      buffer.erase(0, used);
      if (ec == bhttp::error::need_more) {
        // A chunked body's framing is held within its limits, never more.
        if (reader->is_header_done() && reader->chunked())
          GRANITE_FUZZ_CHECK(buffer.size() <= 2 + std::max<std::size_t>(http::chunk_line_limit, how.limit.header_bytes),
                             "held " + std::to_string(buffer.size()) + " bytes of a chunked body");
        break;
      }
      if (ec) return out + refusal(ec, reader->refused(), how.limit, req);
      if (reader->is_done()) {
        GRANITE_FUZZ_CHECK(req.body.size() <= how.limit.body_bytes, std::to_string(req.body.size()));
        out += describe(req, head, reader->keep_alive());
        if (!reader->keep_alive() || ++requests == most_requests) return out;
        done = true;
        break;
      }
      if (used == 0) break;
    }
    if (done) {
      next_request();
      continue;
    }
    if (bytes.empty()) {  // the client closed its side
      if (!reader->got_some()) return out;
      boost::beast::error_code ec;
      reader->put_eof(ec);
      if (!ec && reader->is_done()) return out + describe(req, head, false);
      return out + refusal(ec ? ec : boost::beast::error_code(bhttp::error::partial_message), reader->refused(),
                           how.limit, req);
    }
    auto n = in_pieces ? std::min(sizes.next(), bytes.size()) : bytes.size();
    buffer.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  granite::fuzz::input in(data, size);
  setup how;
  how.limit.header_bytes = 64 + std::size_t{in.byte()} * 32;  // 64 .. 8224
  how.limit.body_bytes = std::size_t{in.byte()} * 16;         // 0 .. 4080
  how.seed = in.byte() | (std::uint32_t{in.byte()} << 8);
  auto bytes = in.rest();
  auto whole = read_connection(bytes, how, false);
  auto pieces = read_connection(bytes, how, true);
  auto requests = [](const std::string& read) { return read.substr(0, read.find("refused ")); };
  auto refused = [](const std::string& read) { return read.find("refused ") != std::string::npos; };
  GRANITE_FUZZ_CHECK(requests(whole) == requests(pieces) && refused(whole) == refused(pieces),
                     "input: " + granite::fuzz::shown(bytes) + "\n--- at once:\n" + whole + "--- in pieces:\n" + pieces);
  return 0;
}
