#pragma once

// A write's response carries the changes it made (http::response::changes:
// the notice's text of store/changes.hpp, and what it drops), so that
// the writing worker's own cache drops them before the client sees the
// answer, and puts them in the instance's ring for its other workers. Every
// other instance gets the same changes from the database (its change feed).
#include "granite/features/cached.hpp"
#include "granite/http/message.hpp"
#include "granite/store/changes.hpp"

namespace granite::features {

inline http::response with_notice(http::response r, const store::change& c) {
  r.changes.push_back({store::format_notice(c), drops_of(c)});
  return r;
}

}  // namespace granite::features
