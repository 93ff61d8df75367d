CREATE TABLE t (id int);
ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();