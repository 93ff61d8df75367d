-- Hydra 1.11 -> 2.x, step 4 (one transaction): the constraints that will
-- prove nid (and hydra_jwk.pk) NOT NULL and nid a valid network, added NOT
-- VALID: instant, only rows written from now on are checked. 0005 validates
-- them in later transactions, without blocking writes.
--
-- They come after the backfill on purpose: a NOT VALID CHECK is enforced on
-- every new row version, so added before the backfill it would make any
-- UPDATE of a not-yet-backfilled row fail; the foreign keys would make every
-- backfilled row pay a lookup in networks.
SET lock_timeout = '5s';

ALTER TABLE hydra_client ADD CONSTRAINT hydra_client_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_jwk ADD CONSTRAINT hydra_jwk_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_jwk ADD CONSTRAINT hydra_jwk_pk_not_null CHECK (pk IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_authentication_session
  ADD CONSTRAINT hydra_oauth2_authentication_session_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_access ADD CONSTRAINT hydra_oauth2_access_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_refresh ADD CONSTRAINT hydra_oauth2_refresh_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_code ADD CONSTRAINT hydra_oauth2_code_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_oidc ADD CONSTRAINT hydra_oauth2_oidc_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_pkce ADD CONSTRAINT hydra_oauth2_pkce_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session
  ADD CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_logout_request
  ADD CONSTRAINT hydra_oauth2_logout_request_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_jti_blacklist
  ADD CONSTRAINT hydra_oauth2_jti_blacklist_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer
  ADD CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;

-- nid -> networks, named as 2.x names them.
ALTER TABLE hydra_client ADD CONSTRAINT hydra_client_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_jwk ADD CONSTRAINT hydra_jwk_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_authentication_session ADD CONSTRAINT hydra_oauth2_authentication_session_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_access ADD CONSTRAINT hydra_oauth2_access_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_refresh ADD CONSTRAINT hydra_oauth2_refresh_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_code ADD CONSTRAINT hydra_oauth2_code_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_oidc ADD CONSTRAINT hydra_oauth2_oidc_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_pkce ADD CONSTRAINT hydra_oauth2_pkce_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session
  ADD CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_logout_request ADD CONSTRAINT hydra_oauth2_logout_request_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_jti_blacklist ADD CONSTRAINT hydra_oauth2_jti_blacklist_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ADD CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
