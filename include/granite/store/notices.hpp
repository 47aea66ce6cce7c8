#pragma once

// The change notices of the read caches, in one place: the triggers of
// migration 0003 send them on the channel `granite_cache` when a change of a
// user, thread or post commits, and a writing worker builds the same text for
// its own write. Every reader parses them here.
//
//   u:<user id>                        a user
//   t:<thread id>                      a thread
//   p:<post id>:<thread id>:<user id>  a post
//   *                                  anything (TRUNCATE, bulk loads)
//
// Ids are decimal digits, 1 to 2^63-1.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace granite::store {

inline constexpr std::string_view notice_channel = "granite_cache";

struct change {
  enum class of : std::uint8_t { everything, user, thread, post };
  of kind = of::everything;
  std::int64_t id = 0;      // the user, thread or post
  std::int64_t thread = 0;  // a post's thread
  std::int64_t user = 0;    // a post's author
  bool operator==(const change&) const = default;
};

inline change user_changed(std::int64_t id) { return {change::of::user, id}; }
inline change thread_changed(std::int64_t id) { return {change::of::thread, id}; }
inline change post_changed(std::int64_t id, std::int64_t thread, std::int64_t user) {
  return {change::of::post, id, thread, user};
}
// A delete that cascades (a user, a thread) touches records the writer does
// not list.
inline change anything_changed() { return {}; }

// The notice's text, as the triggers send it.
std::string format_notice(const change& c);
// nullopt when the text is not a notice of this format.
std::optional<change> parse_notice(std::string_view text);

}  // namespace granite::store
