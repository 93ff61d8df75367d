-- Hydra 1.11 -> 2.x, step 2 (one transaction): every column 2.x adds, as
-- catalog-only changes. Nothing here rewrites or scans a table; each ALTER
-- holds its ACCESS EXCLUSIVE lock for milliseconds (lock_timeout bounds the
-- wait behind a long transaction).
--
--  * nid uuid is added nullable and without a default, then given the
--    network's id as default for rows inserted from now on (SET DEFAULT never
--    touches existing rows). 0003 backfills the existing rows, 0004-0006 make
--    the column NOT NULL without a long lock, 0014 drops the default again
--    (2.x has none: Hydra 2.x always writes nid itself).
--  * Columns with a constant default (registration_access_token_signature,
--    skip_consent) only store the default in the catalog (PostgreSQL 11+).
--  * hydra_jwk: 2.x identifies keys by a uuid `pk`; 1.x's serial `pk` lives on as
--    pk_deprecated. The new pk gets a volatile default for new rows only.
--
-- Columns are added in the order 2.x declares them where 1.x's columns allow.
SET lock_timeout = '5s';

ALTER TABLE hydra_client ADD COLUMN registration_access_token_signature varchar(128) NOT NULL DEFAULT '';
ALTER TABLE hydra_client ADD COLUMN authorization_code_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN authorization_code_grant_id_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN authorization_code_grant_refresh_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN client_credentials_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN implicit_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN implicit_grant_id_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN jwt_bearer_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN password_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN password_grant_refresh_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN refresh_token_grant_id_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN refresh_token_grant_access_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN refresh_token_grant_refresh_token_lifespan bigint;
ALTER TABLE hydra_client ADD COLUMN skip_consent boolean NOT NULL DEFAULT false;
ALTER TABLE hydra_client ADD COLUMN nid uuid;

ALTER TABLE hydra_jwk RENAME COLUMN pk TO pk_deprecated;
ALTER TABLE hydra_jwk ADD COLUMN pk uuid;
ALTER TABLE hydra_jwk ALTER COLUMN pk SET DEFAULT gen_random_uuid();
ALTER TABLE hydra_jwk ADD COLUMN nid uuid;

ALTER TABLE hydra_oauth2_authentication_session ADD COLUMN identity_provider_session_id varchar(40);
ALTER TABLE hydra_oauth2_authentication_session ADD COLUMN nid uuid;

ALTER TABLE hydra_oauth2_access ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_access ADD COLUMN expires_at timestamp;
ALTER TABLE hydra_oauth2_refresh ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_refresh ADD COLUMN expires_at timestamp;
ALTER TABLE hydra_oauth2_code ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_code ADD COLUMN expires_at timestamp;
ALTER TABLE hydra_oauth2_oidc ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_oidc ADD COLUMN expires_at timestamp;
ALTER TABLE hydra_oauth2_pkce ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_pkce ADD COLUMN expires_at timestamp;

ALTER TABLE hydra_oauth2_obfuscated_authentication_session ADD COLUMN nid uuid;

ALTER TABLE hydra_oauth2_logout_request ADD COLUMN expires_at timestamp;
ALTER TABLE hydra_oauth2_logout_request ADD COLUMN requested_at timestamp;
ALTER TABLE hydra_oauth2_logout_request ADD COLUMN nid uuid;

ALTER TABLE hydra_oauth2_jti_blacklist ADD COLUMN nid uuid;

ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ADD COLUMN nid uuid;

-- New rows get the network from now on; 0003 backfills the existing ones.
ALTER TABLE hydra_client ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_jwk ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_authentication_session ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_access ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_refresh ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_code ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_oidc ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_pkce ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_obfuscated_authentication_session ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_logout_request ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_jti_blacklist ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ALTER COLUMN nid SET DEFAULT 'dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79';
