-- Writes kept under an Idempotency-Key (features/idempotency.hpp). A keyed
-- POST, PATCH or DELETE writes its key, its user, a digest of its request
-- and the rows its response is made of in the same transaction as its
-- change: a repeat, on any instance, is answered with the first response
-- and applies nothing. A key is kept http.idempotency_ttl_s seconds.
--
-- No foreign key to users: deleting an account is itself a keyed write.
CREATE TABLE idempotency_keys (
  user_id        bigint NOT NULL,
  key            text NOT NULL,
  request_sha256 bytea NOT NULL,
  -- The rows of the write's first statement, each as its record's text.
  response_rows  jsonb NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- The first statement of a keyed write's transaction.
--
-- A key whose request is still running (its transaction holds the key's
-- advisory lock) is refused with SQLSTATE 55P03, or waited for when
-- p_wait: granite sends a keyed write again after its connection was cut,
-- and the first transaction may still be ending on the server. A key that
-- is kept and not expired is a unique violation of idempotency_keys_pkey:
-- the write is not applied again, and granite reads what the key keeps.
-- Otherwise the write goes on and keeps its rows under the key (the
-- statement that does is made by store/kept.cpp).
--
-- Keys expire as new ones come: each claim deletes a few expired keys
-- nobody else is deleting, and the one it claims when that one expired.
CREATE FUNCTION granite_claim_idempotency_key(p_user bigint, p_key text, p_wait boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  lock_key integer := hashtext(p_user::text || ':' || p_key);
BEGIN
  -- 1735549294: "gran"; the two-integer advisory keys are a space apart
  -- from the one-bigint keys of migrations and the change stream.
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock(1735549294, lock_key);
  ELSIF NOT pg_try_advisory_xact_lock(1735549294, lock_key) THEN
    RAISE EXCEPTION 'the idempotency key is in use by a request still running'
      USING ERRCODE = 'lock_not_available';
  END IF;
  DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT 8
    FOR UPDATE SKIP LOCKED));
  DELETE FROM idempotency_keys WHERE user_id = p_user AND key = p_key AND expires_at <= now();
  IF EXISTS (SELECT 1 FROM idempotency_keys WHERE user_id = p_user AND key = p_key) THEN
    RAISE EXCEPTION 'the idempotency key was used'
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'idempotency_keys_pkey';
  END IF;
END
$$;
