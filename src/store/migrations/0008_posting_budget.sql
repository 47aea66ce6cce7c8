-- A budget of new posts and threads per account (posting.budget in a
-- window of posting.window_s seconds), kept in the database so that it holds
-- for the whole fleet: an account's requests reach any instance. The insert
-- of a post or a thread asks it in its own statement, so a refusal costs no
-- round trip and aborts the insert's transaction (nothing of it is kept,
-- not even under an Idempotency-Key). It reads the account's newest posts
-- and threads by the (author, id) indexes, at most `budget` of each, and
-- takes no lock: concurrent inserts by one account may each see the other
-- not yet committed, so the budget can be passed by as many as the account
-- has in flight at once.
--
-- Over budget it raises SQLSTATE GR429 with, as its DETAIL, the whole
-- seconds until enough of them have left the window.
CREATE FUNCTION granite_within_posting_budget(account bigint, budget int, window_s int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  since timestamptz := now() - make_interval(secs => window_s);
  made timestamptz[];
  frees timestamptz;
BEGIN
  IF budget <= 0 THEN
    RETURN true;
  END IF;
  SELECT coalesce(array_agg(created_at ORDER BY created_at), '{}') INTO made FROM (
    (SELECT created_at FROM posts WHERE user_id = account ORDER BY id DESC LIMIT budget)
    UNION ALL
    (SELECT created_at FROM threads WHERE created_by = account ORDER BY id DESC LIMIT budget)
  ) recent WHERE created_at > since;
  IF cardinality(made) < budget THEN
    RETURN true;
  END IF;
  -- The one whose leaving brings the count under the budget.
  frees := made[cardinality(made) - budget + 1] + make_interval(secs => window_s);
  RAISE EXCEPTION USING ERRCODE = 'GR429',
    MESSAGE = format('the account has made %s posts and threads in the last %s s', cardinality(made), window_s),
    DETAIL = greatest(1, ceil(extract(epoch FROM frees - now())))::bigint::text;
END
$$;
