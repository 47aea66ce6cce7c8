#pragma once

// What a request read whole is answered with, between a connection and the
// routes: the read cache's page when it holds one the client may have, the
// route's answer otherwise (at once, or from a coroutine on the loop), a
// cacheable 200 kept as it leaves, conditional requests (If-None-Match:
// 304), and a write's position and changes. It formats the status line and
// headers and holds the body until the connection has written them. One
// per connection, reused from one request to the next. Private to http/;
// brings no Asio.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "granite/http/cache.hpp"
#include "granite/http/router.hpp"
#include "granite/obs/access_log.hpp"
#include "request_head.hpp"
#include "response_head.hpp"

namespace granite::http {

struct server_context;

class responder {
 public:
  // Told once a response is ready in head() and body(): within answer() or
  // refuse(), or later on the loop, after a route that waits.
  class listener {
   public:
    virtual void ready() = 0;

   protected:
    ~listener() = default;
  };

  explicit responder(server_context& ctx) : ctx_(ctx) {}

  // Answers a request read whole. `req` and `head` stay as they are, and
  // `whom` alive, until `whom` is told.
  void answer(request& req, const request_head& head, std::shared_ptr<listener> whom);
  // A request that could not be read: `why`, ready on return.
  void refuse(response why);

  // The response ready: its status line and headers, to which the
  // connection adds the last ones (response_head::finish), and its body.
  response_head& head() { return out_; }
  std::string_view body() const { return body_view_; }
  // What answered it: the route (null: none), and the cache's part.
  const route* matched() const { return route_; }
  obs::access_record::cache_use cache_use() const { return cache_use_; }
  // Written: what the body held is let go.
  void written();

 private:
  struct pending_fill {
    cache_group group;
    std::uint64_t since;
  };

  // A new request (null for one that could not be read): what the last
  // one left is forgotten.
  void begin(request* req, const request_head* head);
  void want_fill(const cache_rule& rule, const params& values);
  void respond(response r);
  void send_cached(std::shared_ptr<const cached_response> kept);

  server_context& ctx_;
  request* req_ = nullptr;
  const request_head* head_ = nullptr;
  bool head_only_ = false;  // HEAD: the headers of the GET, no body
  params params_;  // the route's {params}, kept until the answer
  const route* route_ = nullptr;
  obs::access_record::cache_use cache_use_ = obs::access_record::cache_use::none;
  std::optional<pending_fill> fill_;
  response_head out_;  // reused: its buffer keeps its capacity
  std::string body_;   // the body, unless it is a kept one
  std::shared_ptr<const cached_response> cached_;
  std::string_view body_view_;
};

}  // namespace granite::http
