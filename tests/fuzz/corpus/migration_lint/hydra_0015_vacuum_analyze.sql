-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 15 (statement by statement): the backfill of 0003
-- left one dead row version behind per row; reclaim them and give the
-- planner statistics for the new columns and hydra_oauth2_flow before green
-- takes traffic, rather than leaving it to autovacuum at peak time. VACUUM
-- takes SHARE UPDATE EXCLUSIVE (reads and writes go on) and cannot run in a
-- transaction block. Running it again is harmless.
SET lock_timeout = '5s';

VACUUM (ANALYZE) hydra_client;
VACUUM (ANALYZE) hydra_jwk;
VACUUM (ANALYZE) hydra_oauth2_authentication_session;
VACUUM (ANALYZE) hydra_oauth2_access;
VACUUM (ANALYZE) hydra_oauth2_refresh;
VACUUM (ANALYZE) hydra_oauth2_code;
VACUUM (ANALYZE) hydra_oauth2_oidc;
VACUUM (ANALYZE) hydra_oauth2_pkce;
VACUUM (ANALYZE) hydra_oauth2_obfuscated_authentication_session;
VACUUM (ANALYZE) hydra_oauth2_logout_request;
VACUUM (ANALYZE) hydra_oauth2_jti_blacklist;
VACUUM (ANALYZE) hydra_oauth2_trusted_jwt_bearer_issuer;
VACUUM (ANALYZE) hydra_oauth2_flow;
