-- cutover:no-transaction
-- Hydra 1.11 -> 2.x, step 11 (statement by statement): validate the foreign
-- keys added NOT VALID in 0008, 0009 and 0010. Each scan runs under SHARE
-- UPDATE EXCLUSIVE on the referencing table and ROW SHARE on the referenced
-- one: reads and writes go on. Each statement commits on its own.
--
-- Safe to run again after a partial failure: validating a valid constraint
-- changes nothing.
SET lock_timeout = '5s';

ALTER TABLE hydra_oauth2_flow VALIDATE CONSTRAINT hydra_oauth2_flow_nid_fk;
ALTER TABLE hydra_oauth2_flow VALIDATE CONSTRAINT hydra_oauth2_flow_client_id_fk;
ALTER TABLE hydra_oauth2_flow VALIDATE CONSTRAINT hydra_oauth2_flow_login_session_id_fk;

ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_client_id_fk;
ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_challenge_id_fk;

ALTER TABLE hydra_oauth2_refresh VALIDATE CONSTRAINT hydra_oauth2_refresh_client_id_fk;
ALTER TABLE hydra_oauth2_refresh VALIDATE CONSTRAINT hydra_oauth2_refresh_challenge_id_fk;

ALTER TABLE hydra_oauth2_code VALIDATE CONSTRAINT hydra_oauth2_code_client_id_fk;
ALTER TABLE hydra_oauth2_code VALIDATE CONSTRAINT hydra_oauth2_code_challenge_id_fk;

ALTER TABLE hydra_oauth2_oidc VALIDATE CONSTRAINT hydra_oauth2_oidc_client_id_fk;
ALTER TABLE hydra_oauth2_oidc VALIDATE CONSTRAINT hydra_oauth2_oidc_challenge_id_fk;

ALTER TABLE hydra_oauth2_pkce VALIDATE CONSTRAINT hydra_oauth2_pkce_client_id_fk;
ALTER TABLE hydra_oauth2_pkce VALIDATE CONSTRAINT hydra_oauth2_pkce_challenge_id_fk;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session
  VALIDATE CONSTRAINT hydra_oauth2_obfuscated_authentication_session_client_id_fk;
ALTER TABLE hydra_oauth2_logout_request VALIDATE CONSTRAINT hydra_oauth2_logout_request_client_id_fk;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer VALIDATE CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_key_fk;
