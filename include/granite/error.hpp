#pragma once

#include <string>
#include <utility>
#include <variant>

namespace granite {

// A domain failure. Features return these; only http/ decides which status
// and problem+json body each code becomes.
struct error {
  enum class code { invalid_argument, not_found, conflict, unavailable, internal };
  code kind;
  std::string message;
};

inline error not_found(std::string message) { return {error::code::not_found, std::move(message)}; }
inline error invalid_argument(std::string message) {
  return {error::code::invalid_argument, std::move(message)};
}

// Either a value or an error.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
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
