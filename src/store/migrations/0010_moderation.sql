-- Moderation: who moderates, what they removed or locked, and what they did.

-- Moderators, named by `granite grant moderator USERNAME` and `granite
-- revoke moderator USERNAME`: there is no route that makes one. A table of
-- its own rather than a column of users: a grant changes nothing a client
-- holds (no user's version moves, no page of users is dropped), and the
-- change stream, which publishes users, threads and posts only, does not
-- carry it.
CREATE TABLE moderators (
  user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now()
);

-- Soft removal: the record stays where it is, and everyone but moderators
-- sees a tombstone (its author and text hidden). A locked thread takes no
-- new posts. Nullable and without a default, so adding them rewrites no
-- table, and a record never moderated sends a NULL. Each is an UPDATE of the
-- record, so its version moves (granite_touch) and its change reaches every
-- instance's cache as any edit does.
ALTER TABLE posts ADD COLUMN removed_at timestamptz;
ALTER TABLE threads ADD COLUMN removed_at timestamptz, ADD COLUMN locked_at timestamptz;

-- Every moderator action that changed something, with who, what, when and
-- why. No foreign keys: the log outlives the accounts and records it names
-- (an author may still delete a removed post; an account may be deleted).
CREATE TABLE moderation_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  moderator_id bigint NOT NULL,
  action       text NOT NULL CHECK (action IN ('remove', 'restore', 'lock', 'unlock')),
  post_id      bigint,
  thread_id    bigint,
  reason       text CHECK (char_length(reason) BETWEEN 1 AND 500),
  CHECK ((post_id IS NULL) <> (thread_id IS NULL)),
  CHECK (post_id IS NULL OR action IN ('remove', 'restore'))
);
