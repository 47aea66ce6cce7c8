-- Failed sign-ins per username, for every instance of the fleet: whether
-- the account exists or not, so that a refusal tells nothing about which
-- usernames exist. Rows older than a day are pruned as failures come.
CREATE TABLE sign_in_failures (
  username      text PRIMARY KEY,  -- lower-cased, as sign-in compares it
  failures      integer NOT NULL,
  last_failure  timestamptz NOT NULL,
  blocked_until timestamptz
);
CREATE INDEX sign_in_failures_last_idx ON sign_in_failures (last_failure);

-- The networks (an IPv4 /24, an IPv6 /64) an account last signed in from:
-- a block for failed sign-ins never applies there, so that nobody can keep
-- the owner out of their own networks. At most five per account, each for
-- 90 days after its last sign-in.
CREATE TABLE sign_in_networks (
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  network      text NOT NULL,
  last_sign_in timestamptz NOT NULL,
  PRIMARY KEY (user_id, network)
);
