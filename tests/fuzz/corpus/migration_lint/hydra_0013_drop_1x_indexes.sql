-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 13 (statement by statement): the 1.11 indexes 2.x
-- does not have, dropped CONCURRENTLY (no lock that blocks reads or writes).
-- hydra_client_idx_id_uq and hydra_jwk_idx_id_uq backed the 1.11 foreign
-- keys, all replaced by 0008 or dropped with their tables by 0012.
--
-- Every name here is one 2.x does not use, so running this file again (after
-- a partial failure, or at all) drops nothing else.
SET lock_timeout = '5s';

DROP INDEX CONCURRENTLY IF EXISTS hydra_client_idx_id_uq;
DROP INDEX CONCURRENTLY IF EXISTS hydra_jwk_idx_id_uq;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_authentication_session_sub_idx;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_obfuscated_authentication_session_so_idx;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_logout_request_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_jti_blacklist_expiry;

DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_access_requested_at_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_access_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_access_request_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_access_client_id_subject_idx;

DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_refresh_requested_at_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_refresh_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_refresh_request_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_refresh_client_id_subject_idx;

DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_code_requested_at_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_code_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_code_request_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_code_client_id_subject_idx;

DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_oidc_requested_at_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_oidc_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_oidc_request_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_oidc_client_id_subject_idx;

DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_pkce_requested_at_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_pkce_client_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_pkce_request_id_idx_v1;
DROP INDEX CONCURRENTLY IF EXISTS hydra_oauth2_pkce_client_id_subject_idx;
