-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 5 (statement by statement): validate what 0004
-- added. VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE
-- (reads and writes go on) and, for a foreign key, takes only ROW SHARE on
-- networks. Each statement commits on its own, so no lock outlives its scan.
--
-- Safe to run again after a partial failure: validating a valid constraint
-- changes nothing.
SET lock_timeout = '5s';

ALTER TABLE hydra_client VALIDATE CONSTRAINT hydra_client_nid_not_null;
ALTER TABLE hydra_client VALIDATE CONSTRAINT hydra_client_nid_fk;

ALTER TABLE hydra_jwk VALIDATE CONSTRAINT hydra_jwk_nid_not_null;
ALTER TABLE hydra_jwk VALIDATE CONSTRAINT hydra_jwk_pk_not_null;
ALTER TABLE hydra_jwk VALIDATE CONSTRAINT hydra_jwk_nid_fk;

ALTER TABLE hydra_oauth2_authentication_session VALIDATE CONSTRAINT hydra_oauth2_authentication_session_nid_not_null;
ALTER TABLE hydra_oauth2_authentication_session VALIDATE CONSTRAINT hydra_oauth2_authentication_session_nid_fk;

ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_nid_not_null;
ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_nid_fk;

ALTER TABLE hydra_oauth2_refresh VALIDATE CONSTRAINT hydra_oauth2_refresh_nid_not_null;
ALTER TABLE hydra_oauth2_refresh VALIDATE CONSTRAINT hydra_oauth2_refresh_nid_fk;

ALTER TABLE hydra_oauth2_code VALIDATE CONSTRAINT hydra_oauth2_code_nid_not_null;
ALTER TABLE hydra_oauth2_code VALIDATE CONSTRAINT hydra_oauth2_code_nid_fk;

ALTER TABLE hydra_oauth2_oidc VALIDATE CONSTRAINT hydra_oauth2_oidc_nid_not_null;
ALTER TABLE hydra_oauth2_oidc VALIDATE CONSTRAINT hydra_oauth2_oidc_nid_fk;

ALTER TABLE hydra_oauth2_pkce VALIDATE CONSTRAINT hydra_oauth2_pkce_nid_not_null;
ALTER TABLE hydra_oauth2_pkce VALIDATE CONSTRAINT hydra_oauth2_pkce_nid_fk;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session VALIDATE CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_not_null;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session VALIDATE CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_fk;

ALTER TABLE hydra_oauth2_logout_request VALIDATE CONSTRAINT hydra_oauth2_logout_request_nid_not_null;
ALTER TABLE hydra_oauth2_logout_request VALIDATE CONSTRAINT hydra_oauth2_logout_request_nid_fk;

ALTER TABLE hydra_oauth2_jti_blacklist VALIDATE CONSTRAINT hydra_oauth2_jti_blacklist_nid_not_null;
ALTER TABLE hydra_oauth2_jti_blacklist VALIDATE CONSTRAINT hydra_oauth2_jti_blacklist_nid_fk;

ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer VALIDATE CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_not_null;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer VALIDATE CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_fk;
