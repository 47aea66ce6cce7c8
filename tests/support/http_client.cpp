#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace granite::testkit {

namespace {
std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}
}  // namespace

std::string http_response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

http_client::http_client(int port, const std::string& host) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  timeval tv{10, 0};  // no test waits forever on a silent server
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect: " + std::string(std::strerror(err)));
  }
}

http_client::~http_client() {
  if (fd_ >= 0) close(fd_);
}

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   const std::string& body) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;
  return raw(out, method == "HEAD");
}

http_response http_client::raw(const std::string& bytes, bool head) {
  send_raw(bytes);
  return read_response(head);
}

void http_client::send_raw(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;  // a signal to the test process is no failure of the server
    if (n <= 0) throw std::runtime_error("send: " + std::string(std::strerror(errno)));
    sent += static_cast<std::size_t>(n);
  }
}

http_response http_client::read_response(bool head) {
  auto fill = [&] {
    char chunk[16384];
    ssize_t n;
    do n = recv(fd_, chunk, sizeof chunk, 0);
    while (n < 0 && errno == EINTR);  // a signal to the test process is no failure of the server
    if (n == 0) throw std::runtime_error("connection closed by the server");
    if (n < 0) throw std::runtime_error("recv: " + std::string(std::strerror(errno)));
    buffer_.append(chunk, static_cast<std::size_t>(n));
  };
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) fill();
  std::string head_text = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);

  http_response r;
  auto line_end = head_text.find("\r\n");
  std::string status_line = head_text.substr(0, line_end);
  if (status_line.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("bad status line: " + status_line);
  r.status = std::stoi(status_line.substr(9, 3));
  std::size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
  while (pos < head_text.size()) {
    auto next = head_text.find("\r\n", pos);
    if (next == std::string::npos) next = head_text.size();
    std::string line = head_text.substr(pos, next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = value;
    }
    pos = next + 2;
  }
  std::size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  if (!head && r.status != 204 && r.status != 304) {
    while (buffer_.size() < length) fill();
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  }
  return r;
}

bool http_client::closed_by_peer(int wait_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, wait_ms) <= 0) return false;
  char c;
  return recv(fd_, &c, 1, MSG_PEEK) == 0;
}

http_response get(int port, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  http_client c(port);
  return c.request("GET", target, headers);
}

double metric_value(const std::string& page, const std::string& sample) {
  auto at = page.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page.substr(at + sample.size() + 2));
}

}  // namespace granite::testkit
