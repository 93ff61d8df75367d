-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 7 (statement by statement): every index 2.x has
-- and 1.11 has not, built CONCURRENTLY: reads and writes go on during each
-- build (which waits for older transactions, scans the table twice and
-- takes no lock that blocks DML).
--
--  * Unique indexes that become primary keys or unique constraints in 0008
--    (attached with USING INDEX, instant) are named *_uq here; attaching
--    renames them to the constraint's name.
--  * Where 2.x reuses a 1.11 index name for a different definition
--    (<token>_requested_at_idx on (requested_at) -> (requested_at, nid), ...),
--    the new index is built as *_nid_idx and takes over the name in 0012.
--  * The rest get their 2.x names right away.
--
-- A build that fails leaves an INVALID index behind, which IF NOT EXISTS
-- would then skip: before running this file again after a failure, drop
-- invalid indexes (SELECT indexrelid::regclass FROM pg_index WHERE NOT
-- indisvalid; DROP INDEX CONCURRENTLY ...).
SET lock_timeout = '5s';

-- Future keys (0008).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_client_id_nid_uq ON hydra_client (id, nid);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_jwk_pk_uq ON hydra_jwk (pk);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_obfuscated_authentication_session_pk_uq
  ON hydra_oauth2_obfuscated_authentication_session (subject, client_id, nid);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_jti_blacklist_pk_uq
  ON hydra_oauth2_jti_blacklist (signature, nid);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_trusted_jwt_bearer_issuer_nid_uq
  ON hydra_oauth2_trusted_jwt_bearer_issuer (issuer, subject, key_id, nid);

-- Unique indexes that stay indexes (the first one is what the trust grants'
-- new foreign key references).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_jwk_sid_kid_nid_key ON hydra_jwk (sid, kid, nid);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_obfuscated_authentication_session_so_nid_idx
  ON hydra_oauth2_obfuscated_authentication_session (client_id, subject_obfuscated, nid);

-- Lookups.
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_jwk_nid_sid_created_at_idx ON hydra_jwk (nid, sid, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_authentication_session_subject_nid_idx
  ON hydra_oauth2_authentication_session (subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_logout_request_client_id_nid_idx
  ON hydra_oauth2_logout_request (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_jti_blacklist_expires_at_idx
  ON hydra_oauth2_jti_blacklist (expires_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_trusted_jwt_bearer_issuer_nid_idx
  ON hydra_oauth2_trusted_jwt_bearer_issuer (id, nid);

CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_requested_at_nid_idx ON hydra_oauth2_access (requested_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_client_id_nid_idx ON hydra_oauth2_access (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_client_id_subject_nid_idx ON hydra_oauth2_access (client_id, subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_access_request_id_nid_idx ON hydra_oauth2_access (request_id, nid);

CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_refresh_requested_at_nid_idx ON hydra_oauth2_refresh (requested_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_refresh_client_id_nid_idx ON hydra_oauth2_refresh (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_refresh_client_id_subject_nid_idx ON hydra_oauth2_refresh (client_id, subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_refresh_request_id_nid_idx ON hydra_oauth2_refresh (request_id, nid);

CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_code_requested_at_nid_idx ON hydra_oauth2_code (requested_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_code_client_id_nid_idx ON hydra_oauth2_code (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_code_client_id_subject_nid_idx ON hydra_oauth2_code (client_id, subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_code_request_id_nid_idx ON hydra_oauth2_code (request_id, nid);

CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_oidc_requested_at_nid_idx ON hydra_oauth2_oidc (requested_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_oidc_client_id_nid_idx ON hydra_oauth2_oidc (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_oidc_client_id_subject_nid_idx ON hydra_oauth2_oidc (client_id, subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_oidc_request_id_nid_idx ON hydra_oauth2_oidc (request_id, nid);

CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_pkce_requested_at_nid_idx ON hydra_oauth2_pkce (requested_at, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_pkce_client_id_nid_idx ON hydra_oauth2_pkce (client_id, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_pkce_client_id_subject_nid_idx ON hydra_oauth2_pkce (client_id, subject, nid);
CREATE INDEX CONCURRENTLY IF NOT EXISTS hydra_oauth2_pkce_request_id_nid_idx ON hydra_oauth2_pkce (request_id, nid);
