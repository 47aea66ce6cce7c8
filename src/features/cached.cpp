#include "granite/features/cached.hpp"

#include "granite/store/changes.hpp"

namespace granite::features {

namespace {

http::list_change list_change_of(store::change::op how) {
  switch (how) {
    case store::change::op::insert: return http::list_change::insert;
    case store::change::op::update: return http::list_change::update;
    case store::change::op::remove: return http::list_change::remove;
    case store::change::op::any: break;
  }
  return http::list_change::any;
}

}  // namespace

http::invalidation drops_of(const store::change& c) {
  http::invalidation out;
  auto how = list_change_of(c.how);
  // A parent's pages of children: a page, or 404 once the parent is gone.
  bool parent_may_vanish = how != http::list_change::update;
  switch (c.kind) {
    case store::change::of::everything:
      out.everything = true;
      break;
    case store::change::of::user:
      out.add({{cached::user, c.id}});
      out.add({{cached::users, 0}, how, c.id});
      if (parent_may_vanish) out.add({{cached::posts_by_user, c.id}});
      break;
    case store::change::of::thread:
      out.add({{cached::thread, c.id}});
      out.add({{cached::threads, 0}, how, c.id});
      if (parent_may_vanish) out.add({{cached::posts_in_thread, c.id}});
      break;
    case store::change::of::post:
      out.add({{cached::post, c.id}});
      out.add({{cached::posts_in_thread, c.thread}, how, c.id});
      out.add({{cached::posts_by_user, c.user}, how, c.id});
      break;
  }
  return out;
}

bool read_notice(std::string_view notice, http::invalidation& out) {
  auto c = store::parse_notice(notice);
  if (!c) return false;
  out = drops_of(*c);
  return true;
}

}  // namespace granite::features
