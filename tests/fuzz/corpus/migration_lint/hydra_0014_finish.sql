-- Hydra 1.11 -> 2.x, step 14 (one transaction): the end state.
--  * The temporary defaults of 0002 go: 2.x has no default on nid or
--    hydra_jwk.pk (Hydra 2.x writes both), and pk_deprecated is no longer
--    generated (its sequence goes too). Dropping a default is catalog-only.
--  * Hydra's migration history records 2.x (one representative row, as in
--    schema-2.x.sql; the 1.11 row stays, as Hydra's migrator keeps history).
SET lock_timeout = '5s';

ALTER TABLE hydra_client ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_jwk ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_authentication_session ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_access ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_refresh ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_code ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_oidc ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_pkce ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_obfuscated_authentication_session ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_logout_request ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_jti_blacklist ALTER COLUMN nid DROP DEFAULT;
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ALTER COLUMN nid DROP DEFAULT;

ALTER TABLE hydra_jwk ALTER COLUMN pk DROP DEFAULT;
ALTER TABLE hydra_jwk ALTER COLUMN pk_deprecated DROP DEFAULT;
DROP SEQUENCE hydra_jwk_pk_seq;

INSERT INTO schema_migration (version, version_self) VALUES ('20230809122501000001', 0);
