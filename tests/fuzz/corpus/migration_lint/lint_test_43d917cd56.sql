\set ON_ERROR_STOP on
SET lock_timeout = '5s';
\echo adding index
CREATE INDEX i ON users (email);