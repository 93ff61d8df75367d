-- Validation scans the table under SHARE UPDATE EXCLUSIVE: reads and writes go on.
-- It runs in a later transaction than the NOT VALID constraints of 0001, after the backfill of 0003.
SET lock_timeout = '5s';
ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_nid_fk;
ALTER TABLE hydra_oauth2_access VALIDATE CONSTRAINT hydra_oauth2_access_nid_not_null;
