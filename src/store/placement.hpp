#pragma once

// Which connection a batch goes to: a rule over what each connection is
// doing at this moment, apart from the connections themselves so that it is
// tested alone (tests/unit/placement_test.cpp). The README's table of what a
// slow statement can delay follows from it.
#include <cstddef>
#include <optional>
#include <span>

#include "granite/store/async.hpp"

namespace granite::store {

// A connection as the rule sees it.
struct link_state {
  bool ready = false;           // connected, and may be sent to
  bool stalled = false;         // busy with no answer for a while: a slow statement or a lock
  std::size_t outstanding = 0;  // batches sent and not yet answered
};

struct placement {
  database::lane lane;
  std::size_t index;  // in that lane's connections
};

// The connection a batch of `lane` goes to now, or none (it waits in
// granite, where its wait is bounded by its deadline):
// - a lane's ready connection that is not stalled, with the fewest batches
//   in flight (nothing is sent behind a stalled one);
// - a read that would queue behind another goes to an idle write connection
//   instead, and with no read connection up, to a write connection;
// - a write never goes to a read connection: reads never wait behind writes.
std::optional<placement> place_batch(database::lane lane, std::span<const link_state> reads,
                                     std::span<const link_state> writes);

}  // namespace granite::store
