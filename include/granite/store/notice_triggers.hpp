#pragma once

// The triggers of migrations 0003 and 0005, which NOTIFY every change of a
// user, thread or post in the writer's own transaction (store/changes.hpp).
// Instances that follow the change stream do not need them, and every
// notifying commit takes a database-wide lock that makes the fleet's
// writers commit one at a time; instances that follow the notices
// (cache.changes = notify, or a release before the stream) cannot do
// without them. `granite notices off` turns them off once no instance
// follows them; `granite notices on` turns them back on.
#include <string>
#include <vector>

namespace granite::store {

class connection;

// The notice triggers there are, and how many of them are enabled (one row,
// one column): the command's status and the notify feed's probe ask alike.
inline constexpr int notice_trigger_count = 6;
inline constexpr const char* enabled_notice_triggers_sql =
    "SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('users'::regclass, 'threads'::regclass, 'posts'::regclass) "
    "AND tgname LIKE '%notice' AND tgenabled <> 'D'";

struct notice_state {
  int enabled = 0;  // of the notice_trigger_count triggers
  // The sessions that follow the notices now, as pg_stat_activity names
  // them: this release's feeds in notify mode, and earlier releases'
  // workers ("granite worker N reads and notices", "granite worker N notices").
  std::vector<std::string> followers;
};

notice_state notices_of(connection& c);
// Enables or disables every notice trigger in one transaction.
void set_notices(connection& c, bool on);

}  // namespace granite::store
