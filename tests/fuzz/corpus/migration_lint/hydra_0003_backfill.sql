-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 3 (statement by statement): fill nid on every
-- existing row (and hydra_jwk's new uuid pk).
--
-- Batches of 1024 heap blocks (8 MB) per table, each committed on its own
-- (a DO block may COMMIT when it does not run inside a transaction block):
-- a batch is a TID range scan, so every batch costs the same however far
-- into the table it is, row locks are held for one batch only, and no table
-- lock beyond ROW EXCLUSIVE is taken. Rows inserted meanwhile already carry
-- the default set in 0002. A row updated by someone else during the backfill
-- may move (with nid still NULL) into a range already done or past the end:
-- one last sweep per table catches those (a full scan, updating few rows).
--
-- On green nothing but replayed revocations writes during MIGRATING, so one
-- plain UPDATE per table would do as well; the batches are how the same
-- migration stays harmless on a database that serves traffic.
--
-- Safe to run again after a partial failure: only NULLs are filled.
DO $backfill$
DECLARE
  net uuid;
  t text;
  blocks bigint;
  b bigint := 0;
  step constant bigint := 1024;
BEGIN
  SELECT id INTO STRICT net FROM networks;
  FOREACH t IN ARRAY ARRAY[
      'hydra_client', 'hydra_jwk', 'hydra_oauth2_authentication_session',
      'hydra_oauth2_access', 'hydra_oauth2_refresh', 'hydra_oauth2_code', 'hydra_oauth2_oidc',
      'hydra_oauth2_pkce', 'hydra_oauth2_obfuscated_authentication_session',
      'hydra_oauth2_logout_request', 'hydra_oauth2_jti_blacklist',
      'hydra_oauth2_trusted_jwt_bearer_issuer'] LOOP
    blocks := pg_relation_size(t::regclass) / current_setting('block_size')::bigint;
    b := 0;
    WHILE b < blocks LOOP
      EXECUTE format('UPDATE %I SET nid = $1 WHERE ctid >= $2 AND ctid < $3 AND nid IS NULL', t)
        USING net, format('(%s,0)', b)::tid, format('(%s,0)', b + step)::tid;
      COMMIT;
      b := b + step;
    END LOOP;
    EXECUTE format('UPDATE %I SET nid = $1 WHERE nid IS NULL', t) USING net;
    COMMIT;
  END LOOP;
  -- A handful of keys: one statement.
  UPDATE hydra_jwk SET pk = gen_random_uuid() WHERE pk IS NULL;
  COMMIT;
END
$backfill$;
