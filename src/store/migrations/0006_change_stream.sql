-- The change stream (store/change_feed.hpp): the read caches follow the
-- changes of users, threads and posts through logical replication, decoded
-- once for the fleet, instead of a NOTIFY in every writing transaction.
--
-- The publication sends only the columns a change needs: the ids. A delete,
-- or an update that moves a post, also sends the old row's replica identity:
-- for a post, its thread and author as well as its id, so that the caches
-- drop the pages of the thread and the author it left. The identity is a
-- unique index on (thread_id, id, user_id), which also serves the posts of
-- a thread in id order, so it replaces posts_thread_idx rather than adding
-- to what every insert maintains.
--
-- The triggers of migrations 0003 and 0005 stay for now: instances of
-- earlier releases, and instances where the stream cannot be had
-- (cache.changes), follow them.

CREATE UNIQUE INDEX posts_thread_key ON posts (thread_id, id, user_id);
DROP INDEX posts_thread_idx;
ALTER TABLE posts REPLICA IDENTITY USING INDEX posts_thread_key;

-- Column lists need PostgreSQL 15; before it, whole rows are sent (the
-- decoder reads the columns it needs by name).
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 150000 THEN
    EXECUTE 'CREATE PUBLICATION granite_changes FOR TABLE users (id), threads (id), posts (id, thread_id, user_id)';
  ELSE
    EXECUTE 'CREATE PUBLICATION granite_changes FOR TABLE users, threads, posts';
  END IF;
END $$;
