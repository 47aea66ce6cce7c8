#pragma once

// What both kinds of seed (a file, a synthetic forum) do around their
// inserts, inside their one transaction.
#include <pqxx/transaction>

#include "granite/store/seed.hpp"

namespace granite::store::detail {

// No statement timeout; one change notice for the whole load instead of one
// per row (migration 0003); the forum's tables locked in `lock_mode`; then
// the mode: false when --if-empty finds data (nothing to do), and --replace
// empties the tables.
bool begin_load(pqxx::work& tx, seed_mode mode, const char* lock_mode);
bool holds_data(pqxx::work& tx);
// Moves the id sequences past the largest ids, so that later inserts
// without an id never collide with a seeded one, and tells the read caches.
void finish_load(pqxx::work& tx);

}  // namespace granite::store::detail
