CREATE INDEX i ON users (email);
VACUUM users;
DROP TABLE old;