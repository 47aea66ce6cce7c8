#pragma once

// A coroutine that returns a T: what a handler that waits (on the database,
// on the CPU bulkhead) reads as straight-line code. Lazy: it runs when
// awaited, or when start() drives it. Everything it awaits resumes it on the
// worker's event loop, so it needs no locks. Its parameters are copied into
// its frame: pass what must outlive the first suspension by value, or by
// reference only to what its caller keeps alive until it completes.
#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <utility>

namespace granite {

template <class T>
class task {
 public:
  struct promise_type {
    std::optional<T> value;
    std::exception_ptr error;
    std::coroutine_handle<> continuation;

    task get_return_object() { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    auto final_suspend() noexcept {
      struct to_continuation {
        bool await_ready() noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          auto next = h.promise().continuation;
          return next ? next : std::noop_coroutine();
        }
        void await_resume() noexcept {}
      };
      return to_continuation{};
    }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
    void unhandled_exception() { error = std::current_exception(); }
  };

  task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  // Awaiting a task runs it; the awaiting coroutine resumes when it ends.
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() {
    auto& p = h_.promise();
    if (p.error) std::rethrow_exception(p.error);
    return std::move(*p.value);
  }

 private:
  explicit task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

namespace detail {
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};
template <class T>
detached drive(task<T> t, std::function<void(T)> done, std::function<void(std::exception_ptr)> failed) {
  std::exception_ptr error;
  std::optional<T> value;
  try {
    value.emplace(co_await std::move(t));
  } catch (...) {
    error = std::current_exception();
  }
  if (error)
    failed(error);
  else
    done(std::move(*value));
}
}  // namespace detail

// Runs `t` now, until it first waits; `done` gets its value, `failed` what it
// threw, on whichever thread resumed it last (the event loop).
template <class T>
void start(task<T> t, std::function<void(T)> done, std::function<void(std::exception_ptr)> failed) {
  detail::drive(std::move(t), std::move(done), std::move(failed));
}

}  // namespace granite
