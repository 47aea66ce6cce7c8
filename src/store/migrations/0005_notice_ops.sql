-- Change notices that say what the change was, so that a read cache drops
-- only the pages it can touch (store/notices.hpp):
--   u<op>:<user id>   t<op>:<thread id>   p<op>:<post id>:<thread id>:<user id>
-- <op>: '+' a new record, '=' changed in place, '-' deleted. An UPDATE that
-- moves a record (a new id, a post into another thread or to another author)
-- is a '-' of its old place and a '+' of its new one: to a keyset page, that
-- is what it is. An UPDATE that changes nothing a reader is shown of it
-- (a password hash) still sends its '='; what a reader is shown is the
-- features' business, not the schema's.

CREATE OR REPLACE FUNCTION granite_notice_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT granite_bulk_load() THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || '-:' || OLD.id);
    ELSIF TG_OP = 'INSERT' THEN
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || '+:' || NEW.id);
    ELSIF OLD.id = NEW.id THEN
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || '=:' || NEW.id);
    ELSE
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || '-:' || OLD.id);
      PERFORM pg_notify('granite_cache', TG_ARGV[0] || '+:' || NEW.id);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION granite_notice_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT granite_bulk_load() THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('granite_cache', 'p-:' || OLD.id || ':' || OLD.thread_id || ':' || OLD.user_id);
    ELSIF TG_OP = 'INSERT' THEN
      PERFORM pg_notify('granite_cache', 'p+:' || NEW.id || ':' || NEW.thread_id || ':' || NEW.user_id);
    ELSIF (OLD.id, OLD.thread_id, OLD.user_id) = (NEW.id, NEW.thread_id, NEW.user_id) THEN
      PERFORM pg_notify('granite_cache', 'p=:' || NEW.id || ':' || NEW.thread_id || ':' || NEW.user_id);
    ELSE
      PERFORM pg_notify('granite_cache', 'p-:' || OLD.id || ':' || OLD.thread_id || ':' || OLD.user_id);
      PERFORM pg_notify('granite_cache', 'p+:' || NEW.id || ':' || NEW.thread_id || ':' || NEW.user_id);
    END IF;
  END IF;
  RETURN NULL;
END $$;
