#pragma once

// A write's response carries the change notices of what it changed
// (http::response::invalidate, in the format of store/notices.hpp), so that
// the writing worker's own cache drops them before the client sees the
// answer. Every other worker gets the same notices from the database's
// triggers.
#include "granite/features/cached.hpp"
#include "granite/http/message.hpp"
#include "granite/store/notices.hpp"

namespace granite::features {

inline http::response with_notice(http::response r, const store::change& c) {
  r.invalidate.push_back(store::format_notice(c));
  return r;
}

}  // namespace granite::features
