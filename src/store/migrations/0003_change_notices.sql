-- Change notices for the read caches. Every worker of every granite instance
-- on this database LISTENs on the channel granite_cache; each change of a
-- user, thread or post, from granite or from anyone else, notifies the
-- records it touches when its transaction commits:
--   u:<user id>                       a user
--   t:<thread id>                     a thread
--   p:<post id>:<thread id>:<user id> a post
--   *                                 anything (TRUNCATE, bulk loads)
-- A bulk load (granite seed) sets granite.bulk_load to 'on' for its
-- transaction, skips the per-row notices and sends one '*' instead.

CREATE FUNCTION granite_bulk_load() RETURNS boolean
  LANGUAGE sql STABLE
  RETURN coalesce(current_setting('granite.bulk_load', true), '') = 'on';

-- A user ('u') or a thread ('t'): the kind is the trigger's argument.
CREATE FUNCTION granite_notice_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT granite_bulk_load() THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || ':' || OLD.id);
    ELSE
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || ':' || NEW.id);
      IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
        PERFORM pg_notify('granite_cache', TG_ARGV[0] || ':' || OLD.id);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION granite_notice_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT granite_bulk_load() THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('granite_cache', 'p:' || OLD.id || ':' || OLD.thread_id || ':' || OLD.user_id);
    ELSE
      PERFORM pg_notify('granite_cache', 'p:' || NEW.id || ':' || NEW.thread_id || ':' || NEW.user_id);
      IF TG_OP = 'UPDATE' AND (OLD.id, OLD.thread_id, OLD.user_id) IS DISTINCT FROM (NEW.id, NEW.thread_id, NEW.user_id) THEN
        PERFORM pg_notify('granite_cache', 'p:' || OLD.id || ':' || OLD.thread_id || ':' || OLD.user_id);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION granite_notice_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('granite_cache', '*');
  RETURN NULL;
END $$;

CREATE TRIGGER users_notice AFTER INSERT OR UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION granite_notice_record('u');
CREATE TRIGGER threads_notice AFTER INSERT OR UPDATE OR DELETE ON threads
  FOR EACH ROW EXECUTE FUNCTION granite_notice_record('t');
CREATE TRIGGER posts_notice AFTER INSERT OR UPDATE OR DELETE ON posts
  FOR EACH ROW EXECUTE FUNCTION granite_notice_post();
CREATE TRIGGER users_truncate_notice AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION granite_notice_all();
CREATE TRIGGER threads_truncate_notice AFTER TRUNCATE ON threads
  FOR EACH STATEMENT EXECUTE FUNCTION granite_notice_all();
CREATE TRIGGER posts_truncate_notice AFTER TRUNCATE ON posts
  FOR EACH STATEMENT EXECUTE FUNCTION granite_notice_all();
