-- cutover:no-transaction
-- Backfill in batches of 5000 rows, each committed on its own (a DO block may
-- COMMIT when it does not run inside a transaction block): row locks are held
-- briefly, no table lock beyond ROW EXCLUSIVE.
DO $backfill$
DECLARE
  n int;
BEGIN
  LOOP
    UPDATE hydra_oauth2_access
       SET nid = (SELECT id FROM networks ORDER BY id LIMIT 1), row_id = gen_random_uuid()
     WHERE signature IN (SELECT signature FROM hydra_oauth2_access WHERE nid IS NULL LIMIT 5000);
    GET DIAGNOSTICS n = ROW_COUNT;
    EXIT WHEN n = 0;
    COMMIT;
  END LOOP;
END
$backfill$;
