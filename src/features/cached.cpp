#include "granite/features/cached.hpp"

#include "granite/store/notices.hpp"

namespace granite::features {

bool read_notice(std::string_view notice, http::invalidation& out) {
  auto c = store::parse_notice(notice);
  if (!c) return false;
  switch (c->kind) {
    case store::change::of::everything:
      out.everything = true;
      break;
    case store::change::of::user:
      out.add({cached::user, c->id});
      out.add({cached::users, 0});
      out.add({cached::posts_by_user, c->id});
      break;
    case store::change::of::thread:
      out.add({cached::thread, c->id});
      out.add({cached::threads, 0});
      out.add({cached::posts_in_thread, c->id});
      break;
    case store::change::of::post:
      out.add({cached::post, c->id});
      out.add({cached::posts_in_thread, c->thread});
      out.add({cached::posts_by_user, c->user});
      break;
  }
  return true;
}

}  // namespace granite::features
