-- Hydra-style online migration, step 1 (runs as one transaction: psql -1).
-- Every statement here takes its lock briefly: no rewrite, no scan.
SET lock_timeout = '5s';

-- A new table: its indexes and constraints need no care, nobody reads it yet.
CREATE TABLE hydra_oauth2_trusted_jwt_bearer_issuer (
  id         varchar(36) PRIMARY KEY,
  issuer     varchar(255) NOT NULL,
  subject    varchar(255) NOT NULL,
  scope      text NOT NULL,
  key_set    varchar(255) NOT NULL,
  key_id     varchar(255) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL DEFAULT now(),
  nid        uuid
);
CREATE UNIQUE INDEX hydra_oauth2_trusted_jwt_bearer_issuer_nid_uq
  ON hydra_oauth2_trusted_jwt_bearer_issuer (nid, issuer, subject, key_id);
ALTER TABLE hydra_oauth2_trusted_jwt_bearer_issuer
  ADD CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_fk FOREIGN KEY (nid) REFERENCES networks (id);

-- Existing tables: columns without default, with a constant or STABLE
-- default (stored once in the catalog, PostgreSQL 11+), and a volatile
-- default set for new rows only (SET DEFAULT never touches existing rows;
-- 0003 backfills the old ones in batches).
ALTER TABLE hydra_oauth2_access ADD COLUMN nid uuid;
ALTER TABLE hydra_oauth2_access ADD COLUMN migrated_at timestamptz DEFAULT now();
ALTER TABLE hydra_oauth2_access ADD COLUMN expires_at timestamptz DEFAULT CURRENT_TIMESTAMP + interval '1 hour';
ALTER TABLE hydra_oauth2_access ADD COLUMN format_version int NOT NULL DEFAULT 2;
ALTER TABLE hydra_oauth2_access ADD COLUMN row_id uuid;
ALTER TABLE hydra_oauth2_access ALTER COLUMN row_id SET DEFAULT gen_random_uuid();

-- Constraints on existing tables: NOT VALID now, validated in 0004.
ALTER TABLE hydra_oauth2_access
  ADD CONSTRAINT hydra_oauth2_access_nid_fk FOREIGN KEY (nid) REFERENCES networks (id) NOT VALID;
ALTER TABLE hydra_oauth2_access
  ADD CONSTRAINT hydra_oauth2_access_nid_not_null CHECK (nid IS NOT NULL) NOT VALID;

-- Views and functions name their columns.
CREATE OR REPLACE VIEW hydra_active_access AS
  SELECT signature, request_id, client_id, subject, requested_at
  FROM hydra_oauth2_access WHERE active;
CREATE OR REPLACE FUNCTION hydra_count_active(p_client text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  n bigint;
BEGIN
  -- SELECT * would tie this body to the table's columns; count(*) does not.
  SELECT count(*) INTO n FROM hydra_oauth2_access WHERE client_id = p_client AND active;
  RETURN n;
END
$$;
