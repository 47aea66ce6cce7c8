#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace granite {

// One rejected field of a request body or query: `field` names it as the
// client spelled it ("username", "limit"); empty for the body as a whole.
struct field_error {
  std::string field;
  std::string message;
};

// A domain failure. Features return these; only http/ decides which status
// and problem+json body each code becomes.
struct error {
  enum class code {
    invalid_argument,        // 400
    unauthenticated,         // 401: no valid session token
    forbidden,               // 403: someone else's record
    not_found,               // 404
    conflict,                // 409
    precondition_failed,     // 412: If-Match names no current version of the record
    unsupported_media_type,  // 415
    unprocessable,           // 422: well-formed, but at odds with what was done before
    precondition_required,   // 428: a write that must be conditional (If-Match) is not
    too_many_requests,       // 429: a budget used up; retry_after_s says when to come back
    unavailable,             // 503, retry shortly
    internal,                // 500
  };
  code kind;
  std::string message;
  std::vector<field_error> fields{};  // invalid_argument: each bad field
  // The client may try again in this many seconds (Retry-After); 503 has
  // it always.
  int retry_after_s = 0;
};

inline error not_found(std::string message) { return {error::code::not_found, std::move(message)}; }
inline error invalid_argument(std::string message) {
  return {error::code::invalid_argument, std::move(message)};
}
inline error invalid_fields(std::vector<field_error> fields) {
  std::string message = fields.size() == 1 ? "a field is invalid: " + fields[0].message
                                           : std::to_string(fields.size()) + " fields are invalid; see errors";
  return {error::code::invalid_argument, std::move(message), std::move(fields)};
}
inline error unauthenticated(std::string message) { return {error::code::unauthenticated, std::move(message)}; }
inline error forbidden(std::string message) { return {error::code::forbidden, std::move(message)}; }
inline error conflict(std::string message) { return {error::code::conflict, std::move(message)}; }
inline error unprocessable(std::string message) { return {error::code::unprocessable, std::move(message)}; }
inline error unavailable(std::string message) { return {error::code::unavailable, std::move(message)}; }

// Either a value or an error.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const granite::error& err() const { return std::get<1>(v_); }

  // The value passed through f, or the same error.
  template <class F>
  auto map(F f) const -> result<decltype(f(std::declval<const T&>()))> {
    if (ok()) return f(value());
    return err();
  }

 private:
  std::variant<T, granite::error> v_;
};

}  // namespace granite
