-- Hydra 1.11 -> 2.x, step 8 (one transaction): the new keys, and every
-- reference to a client (or a JSON Web Key) made per network.
--
--  * Primary keys and unique constraints are attached to the unique indexes
--    built concurrently in 0007 (USING INDEX: no build, no scan, since the
--    columns are NOT NULL already). The old constraint goes in the same
--    transaction, so no moment is without a key. hydra_client's serial pk
--    column goes with its constraint and sequence.
--  * Foreign keys to hydra_client (id) become (client_id, nid) -> (id, nid)
--    and the trust grants' key reference gains nid: the old one is dropped
--    and the new one added NOT VALID in the same transaction (no check of
--    existing rows, which the old key already held to the same client; 0011
--    validates them without blocking writes). Names stay as 2.x has them.
-- Everything here is catalog-only; the locks (ACCESS EXCLUSIVE for the keys,
-- SHARE ROW EXCLUSIVE for the foreign keys) last milliseconds.
SET lock_timeout = '5s';

ALTER TABLE hydra_client DROP COLUMN pk;
-- Hydra 1.11 declares this key column NOT NULL (schema-1.11.sql): the key adds no scan.
-- cutover:allow set-not-null-without-check
ALTER TABLE hydra_client ADD CONSTRAINT hydra_client_pkey PRIMARY KEY USING INDEX hydra_client_id_nid_uq;

ALTER TABLE hydra_jwk DROP CONSTRAINT hydra_jwk_pkey;
ALTER TABLE hydra_jwk ALTER COLUMN pk_deprecated DROP NOT NULL;
ALTER TABLE hydra_jwk ADD CONSTRAINT hydra_jwk_pkey PRIMARY KEY USING INDEX hydra_jwk_pk_uq;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session
  DROP CONSTRAINT hydra_oauth2_obfuscated_authentication_session_pkey;
-- Hydra 1.11 declares these key columns NOT NULL (schema-1.11.sql): the key adds no scan.
-- cutover:allow set-not-null-without-check
ALTER TABLE hydra_oauth2_obfuscated_authentication_session
  ADD CONSTRAINT hydra_oauth2_obfuscated_authentication_session_pkey
  PRIMARY KEY USING INDEX hydra_oauth2_obfuscated_authentication_session_pk_uq;

ALTER TABLE hydra_oauth2_jti_blacklist DROP CONSTRAINT hydra_oauth2_jti_blacklist_pkey;
-- Hydra 1.11 declares this key column NOT NULL (schema-1.11.sql): the key adds no scan.
-- cutover:allow set-not-null-without-check
ALTER TABLE hydra_oauth2_jti_blacklist
  ADD CONSTRAINT hydra_oauth2_jti_blacklist_pkey PRIMARY KEY USING INDEX hydra_oauth2_jti_blacklist_pk_uq;

-- (PostgreSQL's generated names, truncated to 63 bytes, as schema-2.x.sql gets them.)
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer
  DROP CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issue_issuer_subject_key_id_key;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer
  ADD CONSTRAINT hydra_oauth2_trusted_jwt_bearer_i_issuer_subject_key_id_nid_key
  UNIQUE USING INDEX hydra_oauth2_trusted_jwt_bearer_issuer_nid_uq;

ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer DROP CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_key_fk;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ADD CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_key_fk
  FOREIGN KEY (key_set, key_id, nid) REFERENCES hydra_jwk (sid, kid, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_access DROP CONSTRAINT hydra_oauth2_access_client_id_fk;
ALTER TABLE hydra_oauth2_access ADD CONSTRAINT hydra_oauth2_access_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_refresh DROP CONSTRAINT hydra_oauth2_refresh_client_id_fk;
ALTER TABLE hydra_oauth2_refresh ADD CONSTRAINT hydra_oauth2_refresh_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_code DROP CONSTRAINT hydra_oauth2_code_client_id_fk;
ALTER TABLE hydra_oauth2_code ADD CONSTRAINT hydra_oauth2_code_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_oidc DROP CONSTRAINT hydra_oauth2_oidc_client_id_fk;
ALTER TABLE hydra_oauth2_oidc ADD CONSTRAINT hydra_oauth2_oidc_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_pkce DROP CONSTRAINT hydra_oauth2_pkce_client_id_fk;
ALTER TABLE hydra_oauth2_pkce ADD CONSTRAINT hydra_oauth2_pkce_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session DROP CONSTRAINT hydra_oauth2_obfuscated_authentication_session_client_id_fk;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session ADD CONSTRAINT hydra_oauth2_obfuscated_authentication_session_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;

ALTER TABLE hydra_oauth2_logout_request DROP CONSTRAINT hydra_oauth2_logout_request_client_id_fk;
ALTER TABLE hydra_oauth2_logout_request ADD CONSTRAINT hydra_oauth2_logout_request_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;
