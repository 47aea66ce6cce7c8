#pragma once

// The change notices of migration 0003, as a write's response carries them
// (http::response::invalidate) so that the writing worker's own cache drops
// what the write changed before the client sees the answer. Every other
// worker gets the same notices from the database's triggers.
#include <cstdint>
#include <string>

#include "granite/http/message.hpp"

namespace granite::features {

inline std::string user_notice(std::int64_t id) { return "u:" + std::to_string(id); }
inline std::string thread_notice(std::int64_t id) { return "t:" + std::to_string(id); }
inline std::string post_notice(std::int64_t id, std::int64_t thread, std::int64_t user) {
  return "p:" + std::to_string(id) + ":" + std::to_string(thread) + ":" + std::to_string(user);
}
// A delete that cascades (a user, a thread) touches records the writer does
// not list: its own cache is flushed.
inline std::string everything_notice() { return "*"; }

inline http::response with_notice(http::response r, std::string notice) {
  r.invalidate.push_back(std::move(notice));
  return r;
}

}  // namespace granite::features
