-- cutover:no-transaction
SET LOCAL lock_timeout = '5s';
DROP TABLE t;