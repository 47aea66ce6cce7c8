#include <sodium.h>

#include <mutex>
#include <stdexcept>

#include "granite/config/config.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

void require_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot be initialised");
}

constexpr std::size_t token_bytes = 32;
constexpr std::size_t token_chars = 43;  // base64url of 32 bytes, no padding

// A hash of a random password at the configured cost, made once per
// process: checking it costs what checking a real one does.
const std::string& decoy(const argon2_cost& cost) {
  static std::once_flag once;
  static std::string hash;
  std::call_once(once, [&] {
    unsigned char random[16];
    randombytes_buf(random, sizeof random);
    char hex[sizeof random * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, random, sizeof random);
    hash = hash_password(hex, cost);
  });
  return hash;
}

}  // namespace

argon2_cost cost_of(const config::config& cfg) {
  return {static_cast<unsigned long long>(cfg.auth.argon2_ops_limit),
          static_cast<std::size_t>(cfg.auth.argon2_memory_kib) * 1024};
}

std::string hash_password(const std::string& password, const argon2_cost& cost) {
  require_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops, cost.memory_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("Argon2id could not allocate its memory (auth.argon2_memory_kib)");
  return out;
}

password_check check_password(const std::optional<std::string>& stored, const std::string& password,
                              const argon2_cost& cost) {
  require_sodium();
  bool real = stored.has_value() && stored->size() < crypto_pwhash_STRBYTES;
  const std::string& against = real ? *stored : decoy(cost);
  bool matches = crypto_pwhash_str_verify(against.c_str(), password.data(), password.size()) == 0;
  if (!real || !matches) return password_check::wrong;
  return crypto_pwhash_str_needs_rehash(against.c_str(), cost.ops, cost.memory_bytes) == 0
             ? password_check::right
             : password_check::right_but_rehash;
}

token new_token() {
  require_sodium();
  unsigned char random[token_bytes];
  randombytes_buf(random, sizeof random);
  char text[token_chars + 1];
  sodium_bin2base64(text, sizeof text, random, sizeof random, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  token out{text, {}};
  out.digest = *digest_of(out.text);
  return out;
}

std::optional<std::string> digest_of(std::string_view token_text) {
  if (token_text.size() != token_chars) return std::nullopt;
  for (char ch : token_text) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    if (!ok) return std::nullopt;
  }
  require_sodium();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token_text.data()), token_text.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex);
}

}  // namespace granite::users
