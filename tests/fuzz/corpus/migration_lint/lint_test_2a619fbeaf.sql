SET lock_timeout = '5s';
CREATE TABLE f (c int REFERENCES clients (id));
ALTER TABLE other ADD COLUMN x int;