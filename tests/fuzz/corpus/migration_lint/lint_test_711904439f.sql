-- cutover:no-transaction
BEGIN;
CREATE INDEX CONCURRENTLY i ON users (email);
COMMIT;