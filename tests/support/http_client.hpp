#pragma once

// A deliberately small HTTP/1.1 client over a blocking socket, so that the
// end-to-end tests see exactly the bytes granite sends.
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace granite::testkit {

struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

class http_client {
 public:
  explicit http_client(int port, const std::string& host = "127.0.0.1");
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends one request on this connection and reads the response. Throws
  // std::runtime_error when the connection fails or closes early.
  http_response request(const std::string& method, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {},
                        const std::string& body = "");
  // Sends raw bytes (for malformed requests) and reads one response.
  http_response raw(const std::string& bytes, bool head = false);
  // Sends raw bytes and reads nothing (requests pipelined on the
  // connection); read() then takes their responses one by one.
  void send_raw(const std::string& bytes);
  http_response read() { return read_response(false); }
  // True when the server closes the connection (EOF) within the wait.
  bool closed_by_peer(int wait_ms = 2000);

 private:
  http_response read_response(bool head);
  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection.
http_response get(int port, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});

// The value of one sample ("name{labels}") in a Prometheus text page, or -1
// when the page has no such sample.
double metric_value(const std::string& page, const std::string& sample);

}  // namespace granite::testkit
