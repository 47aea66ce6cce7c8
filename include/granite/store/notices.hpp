#pragma once

// The change notices of the read caches, in one place: the triggers of
// migration 0005 send them on the channel `granite_cache` when a change of a
// user, thread or post commits, and a writing worker builds the same text for
// its own write. Every reader parses them here.
//
//   u<op>:<user id>                        a user
//   t<op>:<thread id>                      a thread
//   p<op>:<post id>:<thread id>:<user id>  a post
//   *                                      anything (TRUNCATE, bulk loads)
//
// <op> is '+' for a new record, '=' for a record changed in place, '-' for
// a record deleted; a change that moves a record (a new id, a post into
// another thread) is a '-' of its old place and a '+' of its new one. The
// readers drop only the cached pages such a change can touch
// (features/cached.hpp). Without <op> ("u:5", as migration 0003's triggers
// sent) a change may be any of them.
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
  enum class op : std::uint8_t { any, insert, update, remove };
  of kind = of::everything;
  op how = op::any;
  std::int64_t id = 0;      // the user, thread or post
  std::int64_t thread = 0;  // a post's thread
  std::int64_t user = 0;    // a post's author
  bool operator==(const change&) const = default;
};

inline change user_changed(std::int64_t id, change::op how = change::op::any) {
  return {change::of::user, how, id};
}
inline change thread_changed(std::int64_t id, change::op how = change::op::any) {
  return {change::of::thread, how, id};
}
inline change post_changed(std::int64_t id, std::int64_t thread, std::int64_t user,
                           change::op how = change::op::any) {
  return {change::of::post, how, id, thread, user};
}
// The same change, made as `how`.
inline change made_as(change c, change::op how) {
  if (c.kind != change::of::everything) c.how = how;
  return c;
}
// A delete that cascades (a user, a thread) touches records the writer does
// not list.
inline change anything_changed() { return {}; }

// The notice's text, as the triggers send it.
std::string format_notice(const change& c);
// nullopt when the text is not a notice of this format.
std::optional<change> parse_notice(std::string_view text);

}  // namespace granite::store
