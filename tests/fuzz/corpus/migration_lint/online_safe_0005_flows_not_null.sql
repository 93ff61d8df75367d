SET lock_timeout = '5s';
-- PostgreSQL 12+ sees the validated CHECK and skips the scan.
ALTER TABLE hydra_oauth2_access ALTER COLUMN nid SET NOT NULL;
ALTER TABLE hydra_oauth2_access DROP CONSTRAINT hydra_oauth2_access_nid_not_null;
-- A unique constraint on the index built concurrently in 0002.
ALTER TABLE hydra_oauth2_access
  ADD CONSTRAINT hydra_oauth2_access_request_nid_key UNIQUE USING INDEX hydra_oauth2_access_request_nid_uq;
-- Binary-coercible type changes (the columns' types are known from 0001).
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ALTER COLUMN issuer TYPE varchar(1024);
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer ALTER COLUMN subject TYPE text;
