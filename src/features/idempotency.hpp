#pragma once

// Writes a client may repeat safely: the Idempotency-Key request header of
// the IETF httpapi draft, on sign-up and on the writes of a signed-in user
// (POST of a thread or a post, PATCH and DELETE of threads, posts and
// accounts).
//
// The key is the user's (sign-up's belong to user 0: nobody is signed in
// yet): it, the user, a digest of the request (method,
// target and body) and the rows the response is made of are written in the
// same transaction as the write (store::batch::keep_under), so a write and
// its key commit together or not at all, on whichever instance. Then:
// - a repeat of the same request gets the first response, rendered again
//   from the kept rows, with Idempotent-Replayed: true, and applies nothing;
// - the key with another request is 422;
// - a repeat while the first is still running is 409, with Retry-After;
// - a write that changed nothing (a 403, a 404, a conflict) keeps nothing:
//   its repeat runs again.
// A key is kept http.idempotency_ttl_s seconds.
#include <cstdint>
#include <optional>
#include <string>

#include "granite/error.hpp"
#include "granite/http/router.hpp"
#include "granite/store/async.hpp"
#include "granite/task.hpp"

namespace granite::features {

struct written {
  store::answer a;        // the write's answer, or the kept one
  bool replayed = false;  // kept from the first request of the key
  std::uint64_t position = 0;  // past its commit (the answer's, or of the read that found it kept)
};

// Sends the write batch of `user`, kept under the request's key when it
// has one (its first statement returns the rows the response is made of).
// Errors: the key used for another request (422), a request of the key
// still running (409). A failure of the database is the answer's.
//
// Two requests are the same when their method, target, `body` and If-Match
// are:
// the request's body, unless it holds a secret, which no digest kept in
// the database may be made of (a fast hash of a password can be guessed
// back). The handler then gives what identifies the body without it.
task<result<written>> write(http::services& s, const http::request& req, std::int64_t user, store::batch b,
                            std::optional<std::string> body = std::nullopt);

// `r`, marked as a replay when it is one.
http::response answered(http::response r, const written& w);

}  // namespace granite::features
