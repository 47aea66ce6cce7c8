#include "idempotency.hpp"

#include <sodium.h>

#include "granite/http/ids.hpp"

namespace granite::features {

namespace {

// What makes two requests the same: the method, the target, the body, and
// the If-Match of a conditional write (a request without one hashes as it
// did before If-Match was read).
std::string request_sha256(const http::request& req, std::string_view body) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  auto add = [&st](std::string_view part) {
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  add(http::method_of(req));
  add(" ");
  add(req.target);
  add("\n");
  add(body);
  if (req.if_match.present) {
    add("\nIf-Match:");
    if (req.if_match.any) add(" *");
    for (const auto& tag : req.if_match.tags) add(" " + tag);
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace

task<result<written>> write(http::services& s, const http::request& req, std::int64_t user, store::batch b,
                            std::optional<std::string> body) {
  auto key = http::idempotency_key(req);
  if (!key) co_return key.err();
  if (!*key) {
    auto a = co_await s.db.write(std::move(b));
    co_return written{std::move(a)};
  }
  store::kept_key k{user, std::move(**key), request_sha256(req, body ? *body : req.body),
                     s.idempotency_ttl_s};
  std::size_t statements = b.size();
  b.keep_under(k);
  auto a = co_await s.db.write(std::move(b));
  if (a.ok()) s.count(http::key_outcome::applied);
  if (!a.ok() && a.failed().what == store::failure::kind::in_use) s.count(http::key_outcome::in_use);
  if (a.ok() || a.failed().what != store::failure::kind::unique || a.failed().constraint != "idempotency_keys_pkey")
    co_return written{std::move(a)};
  // The key is kept: this request was made before.
  auto read = co_await s.db.write(store::read_kept(user, k.key));
  if (!read.ok()) co_return written{std::move(read)};
  auto kept = store::kept_of(read, statements);
  if (!kept) co_return unavailable("the idempotency key expired as the request came; retry shortly");
  if (kept->request_sha256 != k.request_sha256) {
    s.count(http::key_outcome::reused);
    co_return unprocessable("the idempotency key was used for another request (another method, path or body)");
  }
  s.count(http::key_outcome::replayed);
  co_return written{std::move(kept->replayed), true, read.position()};
}

http::response answered(http::response r, const written& w) {
  if (w.replayed) r.headers.emplace_back("Idempotent-Replayed", "true");
  r.position = std::max(w.position, w.a.position());
  return r;
}

}  // namespace granite::features
