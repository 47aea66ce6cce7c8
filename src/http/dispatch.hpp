#pragma once

// Dispatching a request to its route's handler. A plain handler answers on
// the event loop at once. An async one is a coroutine on the loop, started
// here; `reply` gets its response when it ends, on the loop. A handler that
// throws is answered 500, with the request id in the log.
#include <functional>

#include "granite/http/router.hpp"

namespace granite::http {

using reply_fn = std::function<void(response)>;

response answer_plain(const plain_handler& run, const request& req, const params& values);

// `req` and `values` must live until `reply` has been called.
void dispatch(const async_handler& run, const request& req, const params& values, services& s, reply_fn reply);

}  // namespace granite::http
