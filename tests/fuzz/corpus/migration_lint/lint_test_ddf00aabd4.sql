ALTER TABLE users ADD COLUMN a int;
SET lock_timeout = '5s';