SET lock_timeout = '5s';
RESET lock_timeout;
DROP TABLE t;