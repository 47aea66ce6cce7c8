-- Accounts, sign-in sessions and what deleting a record does.

-- NULL: the account has no password and cannot sign in (users loaded from a
-- seed file). An Argon2id string from libsodium otherwise.
ALTER TABLE users ADD COLUMN password_hash text;

-- A sign-in. The token itself is never stored: only its SHA-256.
CREATE TABLE sessions (
  token_sha256 bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id, expires_at);

-- Deleting a thread deletes its posts, whoever wrote them. Deleting a user
-- deletes their sessions, their posts and their threads (with every post in
-- those threads).
ALTER TABLE threads
  DROP CONSTRAINT threads_created_by_fkey,
  ADD CONSTRAINT threads_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE posts
  DROP CONSTRAINT posts_thread_id_fkey,
  ADD CONSTRAINT posts_thread_id_fkey FOREIGN KEY (thread_id) REFERENCES threads (id) ON DELETE CASCADE,
  DROP CONSTRAINT posts_user_id_fkey,
  ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

-- Timestamps in the API: RFC 3339, UTC, milliseconds ("2026-11-26T16:22:40.123Z").
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
