-- Hydra 1.11 -> 2.x, step 6 (one transaction): nid (and hydra_jwk.pk) NOT
-- NULL. PostgreSQL 12+ sees the CHECK (... IS NOT NULL) validated in 0005 and
-- skips the full-table scan SET NOT NULL would otherwise do under ACCESS
-- EXCLUSIVE, so every statement here is catalog-only. The checks have done
-- their job and go (2.x does not have them).
SET lock_timeout = '5s';

ALTER TABLE hydra_client ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_client DROP CONSTRAINT hydra_client_nid_not_null;

ALTER TABLE hydra_jwk ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_jwk DROP CONSTRAINT hydra_jwk_nid_not_null;
ALTER TABLE hydra_jwk ALTER COLUMN pk SET NOT NULL;
ALTER TABLE hydra_jwk DROP CONSTRAINT hydra_jwk_pk_not_null;

ALTER TABLE hydra_oauth2_authentication_session ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_authentication_session DROP CONSTRAINT hydra_oauth2_authentication_session_nid_not_null;

ALTER TABLE hydra_oauth2_access ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_access DROP CONSTRAINT hydra_oauth2_access_nid_not_null;

ALTER TABLE hydra_oauth2_refresh ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_refresh DROP CONSTRAINT hydra_oauth2_refresh_nid_not_null;

ALTER TABLE hydra_oauth2_code ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_code DROP CONSTRAINT hydra_oauth2_code_nid_not_null;

ALTER TABLE hydra_oauth2_oidc ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_oidc DROP CONSTRAINT hydra_oauth2_oidc_nid_not_null;

ALTER TABLE hydra_oauth2_pkce ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_pkce DROP CONSTRAINT hydra_oauth2_pkce_nid_not_null;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session DROP CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_not_null;

ALTER TABLE hydra_oauth2_logout_request ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_logout_request DROP CONSTRAINT hydra_oauth2_logout_request_nid_not_null;

ALTER TABLE hydra_oauth2_jti_blacklist ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_jti_blacklist DROP CONSTRAINT hydra_oauth2_jti_blacklist_nid_not_null;

ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer DROP CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_not_null;
