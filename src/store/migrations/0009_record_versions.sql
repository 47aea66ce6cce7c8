-- When a user, thread or post last changed: NULL until its first change
-- after its creation (its API field updatedAt is then null, and its version
-- 0). Nullable and without a default, so adding it rewrites no table, and
-- a page of records never changed costs nothing to compute or send.
ALTER TABLE users ADD COLUMN updated_at timestamptz;
ALTER TABLE threads ADD COLUMN updated_at timestamptz;
ALTER TABLE posts ADD COLUMN updated_at timestamptz;

-- Set by a trigger, not by granite's statements, so that every writer moves
-- it: an instance of an older release during a rolling upgrade, an operator
-- in psql. Only a change of what the API shows moves it: not an update that
-- changes nothing, nor a user's password hash (a new password, or a rehash
-- at sign-in, changes nothing a client holds). Each change moves it forward
-- by at least a millisecond, so that updatedAt (shown to the millisecond)
-- differs after every change, whatever the clock does.
CREATE FUNCTION granite_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := greatest(now(), coalesce(OLD.updated_at, OLD.created_at) + interval '1 millisecond');
  RETURN NEW;
END $$;

CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW
  WHEN ((OLD.username, OLD.name, OLD.bio) IS DISTINCT FROM (NEW.username, NEW.name, NEW.bio))
  EXECUTE FUNCTION granite_touch();
CREATE TRIGGER threads_touch BEFORE UPDATE ON threads
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION granite_touch();
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION granite_touch();

-- A record's version, its ETag's substance: its last change in
-- microseconds since 1970, NULL (version 0) while it is as it was made. A
-- PATCH or DELETE with If-Match compares coalesce(granite_version(...), 0)
-- inside its own statement, so a change committed meanwhile makes it touch
-- nothing (412) instead of being overwritten. Every page computes it for
-- each of its rows, and the NULL of a row never changed passes through
-- without a computation; date_part's float8 costs a fraction of extract's
-- numeric, and rounds back to the exact microsecond while the error of a
-- double at this magnitude stays under half of one (through 2049); the
-- reads and the writes use this one expression, so the version is the same
-- wherever it is asked.
CREATE FUNCTION granite_version(updated_at timestamptz) RETURNS bigint
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN round(date_part('epoch', updated_at) * 1000000)::bigint;
