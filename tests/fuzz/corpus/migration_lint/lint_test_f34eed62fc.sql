SET lock_timeout = '5s';
CREATE TABLE (;
SELECT 1;
CREATE INDEX i ON users (email);
