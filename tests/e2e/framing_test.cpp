// HTTP/1.1 message framing as RFC 9112 (and RFC 9110 for Expect) asks of a
// server, rule by rule, on the real binary: what is refused is refused with
// its status and the connection closed, so that no byte after a refused
// header is ever read as a request of its own (the shape of request
// smuggling behind a proxy that frames the message differently).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

class Framing : public testkit::forum_suite<Framing> {};

// A request that smuggles a second one behind its body, were the body
// framed otherwise: whatever answers, that second request must never be.
const std::string smuggled = "GET /api/users/2 HTTP/1.1\r\nHost: granite\r\n\r\n";

struct refused_case {
  const char* rule;  // where RFC 9112 (or 9110) says so
  std::string bytes;
  int status;
};

// Sends the bytes with a request pipelined behind them: exactly one answer,
// with the status, then the connection closes.
void expect_refused(int port, const refused_case& c) {
  testkit::http_client client(port);
  auto r = client.raw(c.bytes + smuggled);
  EXPECT_EQ(r.status, c.status) << c.rule << "\n" << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << c.rule;
  if (c.bytes.find(" HTTP/1.0\r\n") == std::string::npos) {
    EXPECT_EQ(r.header("Connection"), "close") << c.rule;
  }
  EXPECT_TRUE(client.closed_by_peer()) << c.rule << ": the connection stayed open after the refusal";
}

std::string sign_in_body() {
  return nlohmann::json{{"username", "nobody_here"}, {"password", "not the password"}}.dump();
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

TEST_F(Framing, TransferEncodingsGraniteCannotFrameAreRefusedAndTheConnectionClosed) {
  auto post = [](const std::string& te) {
    return "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\nTransfer-Encoding: " +
           te + "\r\n\r\n0\r\n\r\n";
  };
  for (const auto& c : std::vector<refused_case>{
           {"9112 6.3: a coding that is not chunked", post("xchunked"), 400},
           {"9112 6.3: chunked not the final coding", post("chunked, identity"), 400},
           {"9112 6.3: no chunked at all", post("gzip"), 400},
           {"9112 6.1: chunked twice", post("chunked, chunked"), 400},
           {"9112 6.1: codings granite does not decode", post("gzip, chunked"), 501},
           {"9112 6.1: codings split over two fields, the last not chunked",
            "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
            "identity\r\n\r\n0\r\n\r\n",
            400},
           {"9112 6.1: Transfer-Encoding in HTTP/1.0",
            "POST /api/sessions HTTP/1.0\r\nHost: granite\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
           {"9112 6.3: an empty Transfer-Encoding is no chunked",
            "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n", 400},
           {"9112 6.3: an empty Transfer-Encoding with a Content-Length",
            "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\n"
            "0\r\n\r\n",
            400},
           {"9112 6.3: Transfer-Encoding and Content-Length",
            "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            "0\r\n\r\n",
            400},
       })
    expect_refused(srv->port(), c);
}

TEST_F(Framing, ContentLengthIsDigitsAndOneValue) {
  auto post = [](const std::string& cl) {
    return "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\nContent-Length: " + cl +
           "\r\n\r\n{}";
  };
  for (const auto& c : std::vector<refused_case>{
           {"9110 8.6: a sign", post("+2"), 400},
           {"9110 8.6: a negative length", post("-2"), 400},
           {"9110 8.6: space inside the value", post("2 2"), 400},
           {"9110 8.6: hexadecimal", post("0x2"), 400},
           {"9112 6.3: two different values", post("2\r\nContent-Length: 3"), 400},
           {"9112 6.3: a list of different values", post("2, 3"), 400},
       })
    expect_refused(srv->port(), c);
  // Whitespace around the value is not part of it (RFC 9112 5.1).
  testkit::http_client client(srv->port());
  auto body = sign_in_body();
  auto r = client.raw("POST /api/sessions HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\n"
                      "Content-Length:   " + std::to_string(body.size()) + "  \r\n\r\n" + body);
  EXPECT_EQ(r.status, 401) << r.body;
}

TEST_F(Framing, AnHttp11RequestHasExactlyOneHostWithAHostInIt) {
  for (const auto& c : std::vector<refused_case>{
           {"9112 3.2: no Host in HTTP/1.1", "GET /api/users/1 HTTP/1.1\r\n\r\n", 400},
           {"9112 3.2: two Host fields", "GET /api/users/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
           {"9112 3.2: two Host fields in HTTP/1.0", "GET /api/users/1 HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400},
           {"9112 3.2: a Host that is no host", "GET /api/users/1 HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
           {"9112 3.2: a Host with a space", "GET /api/users/1 HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
       })
    expect_refused(srv->port(), c);
  for (const char* fine : {"GET /api/users/1 HTTP/1.1\r\nHost: granite.example:8080\r\n\r\n",
                           "GET /api/users/1 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n",
                           "GET /api/users/1 HTTP/1.1\r\nHost:\r\n\r\n",  // an empty authority
                           "GET /api/users/1 HTTP/1.0\r\n\r\n"}) {
    testkit::http_client client(srv->port());
    EXPECT_EQ(client.raw(fine).status, 200) << fine;
  }
}

TEST_F(Framing, FieldLinesAreStrict) {
  for (const auto& c : std::vector<refused_case>{
           {"9112 5.1: whitespace between a field name and the colon",
            "GET /api/users/1 HTTP/1.1\r\nHost : granite\r\n\r\n", 400},
           {"9112 5.2: obs-fold (a line folded onto the next)",
            "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nX-Folded: a\r\n b\r\n\r\n", 400},
           {"9112 5.2: obs-fold right after the colon",
            "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nX-Folded:\r\n\tb\r\n\r\n", 400},
           {"9112 5.2: obs-fold in the Host field", "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\n .example\r\n\r\n",
            400},
           {"9112 2.2: whitespace before the first field",
            "GET /api/users/1 HTTP/1.1\r\n Host: granite\r\n\r\n", 400},
           {"9112 2.2: a CR without LF", "GET /api/users/1 HTTP/1.1\r\nHost: granite\rX-A: b\r\n\r\n", 400},
           {"9112 2.2: a bare LF", "GET /api/users/1 HTTP/1.1\nHost: granite\n\n", 400},
           {"9110 5.5: NUL in a value",
            std::string("GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nX-A: a") + '\0' + "b\r\n\r\n", 400},
           {"9110 5.1: a field name that is no token", "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nX(A): b\r\n\r\n",
            400},
           {"9112 3: a request line with two spaces", "GET  /api/users/1 HTTP/1.1\r\nHost: granite\r\n\r\n", 400},
       })
    expect_refused(srv->port(), c);
}

TEST_F(Framing, ChunkedBodiesAreReadByTheGrammar) {
  auto body = sign_in_body();
  auto chunked = [](const std::string& chunks) {
    return "POST /api/sessions HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n" +
           chunks;
  };
  // Read whole: the credentials are checked (401), so the body arrived.
  for (const auto& [what, chunks] : std::vector<std::pair<const char*, std::string>>{
           {"one chunk", hex(body.size()) + "\r\n" + body + "\r\n0\r\n\r\n"},
           {"9112 7.1.1: chunk extensions are ignored",
            hex(body.size()) + ";name=value;flag\r\n" + body + "\r\n0;last=\"yes\"\r\n\r\n"},
           {"9112 7.1.2: trailer fields are read", hex(body.size()) + "\r\n" + body + "\r\n0\r\nX-Trailer: 1\r\n\r\n"},
           {"upper-case hex", hex(5) + "\r\n" + body.substr(0, 5) + "\r\n" + "1E\r\n" + body.substr(5, 30) + "\r\n" +
                                  hex(body.size() - 35) + "\r\n" + body.substr(35) + "\r\n0\r\n\r\n"},
       }) {
    testkit::http_client client(srv->port());
    auto r = client.raw(chunked(chunks));
    EXPECT_EQ(r.status, 401) << what << "\n" << r.body;
  }
  for (const auto& c : std::vector<refused_case>{
           {"9112 7.1: a chunk size that is not hex", chunked("zz\r\n" + body + "\r\n0\r\n\r\n"), 400},
           {"9112 7.1: a chunk size that overflows 64 bits", chunked("1ffffffffffffffff\r\nx\r\n0\r\n\r\n"), 400},
           {"9112 7.1: a chunk larger than the body limit", chunked("ffffffff\r\nx\r\n0\r\n\r\n"), 413},
           {"9112 7.1: chunk data longer than its size", chunked("2\r\nabc\r\n0\r\n\r\n"), 400},
           {"9112 7.1: a chunk size with a sign", chunked("+2\r\nab\r\n0\r\n\r\n"), 400},
           {"9112 7.1.1: a malformed chunk extension", chunked("2;=\r\nab\r\n0\r\n\r\n"), 400},
       })
    expect_refused(srv->port(), c);
}

TEST_F(Framing, TrailerFieldsChangeNothingGraniteReads) {
  // A token in a trailer is no token: the request is anonymous.
  auto me = api->member("trailing");
  std::string body = R"({"title":"from a trailer"})";
  testkit::http_client client(srv->port());
  auto r = client.raw("POST /api/threads HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n" +
                      hex(body.size()) + "\r\n" + body + "\r\n0\r\nAuthorization: Bearer " + me.token + "\r\n\r\n");
  EXPECT_EQ(r.status, 401) << r.body;
}

TEST_F(Framing, AnExpectationOtherThan100ContinueIs417BeforeAnythingElse) {
  for (const auto& c : std::vector<refused_case>{
           {"9110 10.1.1: an unknown expectation", "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nExpect: x\r\n\r\n",
            417},
           // Before the route's own checks: no Authorization would be 401.
           {"9110 10.1.1: before any other check",
            "POST /api/threads HTTP/1.1\r\nHost: granite\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417},
           {"9110 10.1.1: before the Host check", "GET /api/users/1 HTTP/1.1\r\nExpect: nothing\r\n\r\n", 417},
           {"9110 10.1.1: a second Expect field after 100-continue",
            "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n", 417},
           {"9110 10.1.1: a list with a member granite cannot meet",
            "GET /api/users/1 HTTP/1.1\r\nHost: granite\r\nExpect: 100-continue, x\r\n\r\n", 417},
       })
    expect_refused(srv->port(), c);
  // 100-continue is met: the client is told to send its body.
  testkit::http_client client(srv->port());
  auto body = sign_in_body();
  client.send_raw("POST /api/sessions HTTP/1.1\r\nHost: granite\r\nContent-Type: application/json\r\n"
                  "Expect: 100-Continue\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(client.read().status, 100);
  client.send_raw(body);
  EXPECT_EQ(client.read().status, 401);
}
