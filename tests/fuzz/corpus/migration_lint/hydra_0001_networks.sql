-- Hydra 1.11 -> 2.x, step 1 (one transaction).
-- The `networks` table and its single row: every Hydra table gets a `nid`
-- referencing it. The row's id is fixed, dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79
-- (md5 of 'cutover:hydra:default-network'), so that 0002 can use it as a
-- constant column default and anyone can recognise a migrated green.
--
-- Refuses to run on anything but a Hydra 1.11 schema (a second run of the
-- set stops here, changing nothing).
SET lock_timeout = '5s';

DO $guard$
BEGIN
  IF to_regclass('networks') IS NOT NULL OR to_regclass('hydra_oauth2_flow') IS NOT NULL THEN
    RAISE EXCEPTION 'this database was already migrated to Hydra 2.x (networks or hydra_oauth2_flow exists)';
  END IF;
  IF to_regclass('hydra_oauth2_consent_request') IS NULL THEN
    RAISE EXCEPTION 'not a Hydra 1.11 schema: hydra_oauth2_consent_request does not exist';
  END IF;
END
$guard$;

CREATE TABLE networks (
  id         uuid      PRIMARY KEY,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL
);
INSERT INTO networks (id, created_at, updated_at)
VALUES ('dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79', now(), now());
