-- cutover:no-transaction
-- Index builds that do not block writes: CONCURRENTLY cannot run inside a
-- transaction block, so this file runs statement by statement.
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_nid_idx ON hydra_oauth2_access (nid);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_request_nid_uq
  ON hydra_oauth2_access (request_id, nid);
