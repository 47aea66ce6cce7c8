#pragma once

// Dispatching a request to its route's handler. A plain handler answers on
// the event loop. The steps of the others run where each says (a database
// thread with its connection, the CPU bulkhead), and the response comes back
// through `reply`, which may be called on any thread. A full pool is
// answered 503 at once; a handler that throws, 500 (or 503 when the database
// is the cause).
#include <functional>
#include <memory>

#include "granite/http/router.hpp"

namespace granite::store {
class pool;
}

namespace granite::http {

class bulkhead;

struct step_pools {
  store::pool& db;
  bulkhead& cpu;  // CPU-heavy steps (password hashing)
};

using reply_fn = std::function<void(response)>;

// A plain handler's response, a thrown exception included.
response answer_plain(const plain_handler& run, const request& req, const params& values);

// Runs a database or staged handler.
void dispatch(const route& r, params values, std::shared_ptr<const request> req, step_pools pools, reply_fn reply);

}  // namespace granite::http
